"""Services on a real broker: cascades, triggers, replicas, failures, dead letters, backfills."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from choreo import Emitter, EventKind, Service
from choreo.events.topics import asset_topic, dlq_topic
from choreo.kafka.declarations import read_declarations
from choreo.settings import Settings

from .services_support import at_least, collect, running, wait_until

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def chain() -> tuple[Service, Service, Service]:
    """t.raw → t.b → t.c → t.d, each built by its own service."""
    first, second, third = Service("svc-b"), Service("svc-c"), Service("svc-d")

    @first.asset("t.b", inputs=["t.raw"], partitioned=True)
    def build_b(ctx, raw):  # type: ignore[no-untyped-def]
        return ctx.output(location=f"mem://b/{ctx.partition}", from_version=raw.version)

    @second.asset("t.c", inputs=["t.b"], partitioned=True)
    def build_c(ctx, b):  # type: ignore[no-untyped-def]
        return ctx.output(location=f"mem://c/{ctx.partition}", from_version=b.version)

    @third.asset("t.d", inputs=["t.c"], partitioned=True)
    def build_d(ctx, c):  # type: ignore[no-untyped-def]
        return ctx.output(location=f"mem://d/{ctx.partition}", from_version=c.version)

    return first, second, third


def test_three_service_chain_cascades_with_exact_inputs(settings: Settings) -> None:
    """One emitted event cascades through three services; each output names its exact input."""
    first, second, third = chain()
    with running(first, settings), running(second, settings), running(third, settings):
        with Emitter(settings) as emitter:
            raw = emitter.updated("t.raw", partition="2026-11-20", version="r1")
        [d] = collect(settings, "t.d", until=at_least(1))
    [c] = collect(settings, "t.c", until=at_least(1), timeout=5)
    [b] = collect(settings, "t.b", until=at_least(1), timeout=5)
    for event, upstream in ((b, raw), (c, b), (d, c)):
        assert event.kind is EventKind.UPDATED
        assert event.partition == "2026-11-20"
        [used] = event.inputs
        assert (used.asset, used.partition, used.version, used.event_id) == (
            upstream.asset,
            upstream.partition,
            upstream.version,
            upstream.event_id,
        )
        assert event.metadata["from_version"] == upstream.version
        assert event.correlation_id == raw.event_id


def test_all_updated_waits_for_both_eager_does_not(settings: Settings) -> None:
    """eager reruns when either input changes; all_updated only when both did; missing blocks."""
    svc = Service("svc-join")

    @svc.asset("t.eager", inputs=["t.x", "t.y"], partitioned=True)
    def eager(ctx, x, y):  # type: ignore[no-untyped-def]
        return ctx.output(pair=f"{x.version}+{y.version}")

    @svc.asset("t.all", inputs=["t.x", "t.y"], partitioned=True, trigger="all_updated")
    def all_updated(ctx, x, y):  # type: ignore[no-untyped-def]
        return ctx.output(pair=f"{x.version}+{y.version}")

    with running(svc, settings), Emitter(settings) as emitter:
        emitter.updated("t.x", partition="p", version="x1")
        assert collect(settings, "t.eager", until=at_least(1), timeout=8) == []  # y missing
        emitter.updated("t.y", partition="p", version="y1")
        collect(settings, "t.all", until=at_least(1))
        emitter.updated("t.x", partition="p", version="x2")
        eager_events = collect(settings, "t.eager", until=at_least(2))
        assert len(collect(settings, "t.all", until=at_least(2), timeout=5)) == 1
        emitter.updated("t.y", partition="p", version="y2")
        all_events = collect(settings, "t.all", until=at_least(2))
    assert [e.metadata["pair"] for e in eager_events] == ["x1+y1", "x2+y1"]
    assert [e.metadata["pair"] for e in all_events] == ["x1+y1", "x2+y2"]


def test_two_replicas_share_a_partitioned_join(settings: Settings) -> None:
    """Two replicas split the partitions; each output joins the same partition; none runs twice."""
    svc = Service("svc-pair")

    @svc.asset("t.pair", inputs=["t.left", "t.right"], partitioned=True)
    def pair(ctx, left, right):  # type: ignore[no-untyped-def]
        assert left.partition == right.partition == ctx.partition
        return ctx.output(left=left.version, right=right.version)

    days = [f"2026-11-{d:02d}" for d in range(1, 13)]
    with running(svc, settings, instance="r1") as r1, running(svc, settings, instance="r2") as r2:
        wait_until(  # the second replica's join settled before the data arrives
            lambda: bool(r1.assigned_indices) and bool(r2.assigned_indices),
            "both replicas to hold partitions",
        )
        with Emitter(settings) as emitter:
            for day in days:
                emitter.updated("t.left", partition=day, version=f"l-{day}")
                emitter.updated("t.right", partition=day, version=f"r-{day}")
        events = collect(settings, "t.pair", until=at_least(len(days)), timeout=60)
        time.sleep(2)
        events = collect(settings, "t.pair", until=at_least(len(days) + 1), timeout=3)
    assert sorted(e.partition or "" for e in events) == days  # one output per day, no repeat
    for event in events:
        assert event.metadata == {"left": f"l-{event.partition}", "right": f"r-{event.partition}"}
    assert {e.producer.instance for e in events} == {"r1", "r2"}


def test_failing_function_is_retried_then_failed_and_blocks_downstream(
    settings: Settings,
) -> None:
    """A raising function is retried, announced FAILED with the attempt count; downstream waits."""
    attempts: list[int] = []
    upstream, downstream = Service("svc-fails"), Service("svc-after")

    @upstream.asset("t.fragile", inputs=["t.raw"], retries=2, backoff="10ms")
    def fragile(ctx, raw):  # type: ignore[no-untyped-def]
        attempts.append(ctx.attempt)
        raise ValueError("upstream file is corrupt")

    @downstream.asset("t.after", inputs=["t.fragile"])
    def after(ctx, fragile):  # type: ignore[no-untyped-def]
        return ctx.output()

    with running(upstream, settings), running(downstream, settings), Emitter(settings) as e:
        e.updated("t.raw", version="r1")
        [failed] = collect(settings, "t.fragile", until=at_least(1))
        assert collect(settings, "t.after", until=at_least(1), timeout=6) == []
    assert attempts == [1, 2, 3]
    assert failed.kind is EventKind.FAILED
    assert failed.error is not None
    assert (failed.error.type, failed.error.message, failed.error.attempt) == (
        "ValueError",
        "upstream file is corrupt",
        3,
    )


def test_poison_record_goes_to_dlq_and_service_goes_on(settings: Settings) -> None:
    """Bytes that are not an event land in the DLQ with their origin; the next event is built."""
    svc = Service("svc-sturdy")

    @svc.asset("t.sturdy", inputs=["t.raw"])
    def sturdy(ctx, raw):  # type: ignore[no-untyped-def]
        return ctx.output(seen=raw.version)

    topic = asset_topic(settings.topic_prefix, "t.raw")
    with running(svc, settings), Emitter(settings) as emitter:
        emitter.updated("t.raw", version="before")
        producer = Producer(
            {"bootstrap.servers": settings.bootstrap_servers, "partitioner": "murmur2_random"}
        )
        producer.produce(topic, key=b"t.raw", value=b"\xc3\x01garbage that is not avro")
        producer.flush(10)
        emitter.updated("t.raw", version="after")
        events = collect(
            settings,
            "t.sturdy",
            until=lambda ev: any(e.metadata.get("seen") == "after" for e in ev),
        )
    assert events[-1].metadata["seen"] == "after"
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": "dlq-check",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([dlq_topic(settings.topic_prefix, "svc-sturdy")])
    try:
        message = None
        deadline = time.monotonic() + 30
        while message is None and time.monotonic() < deadline:
            candidate = consumer.poll(0.5)
            if candidate is not None and candidate.error() is None:
                message = candidate
    finally:
        consumer.close()
    assert message is not None
    assert message.value() == b"\xc3\x01garbage that is not avro"
    raw = message.headers() or []
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    headers = {
        name: value.decode() if isinstance(value, bytes) else str(value) for name, value in pairs
    }
    assert headers["choreo_dlq_topic"] == topic
    assert headers["choreo_dlq_offset"] == "1"
    assert headers["choreo_dlq_error_type"] == "CodecError"
    assert "fingerprint" in headers["choreo_dlq_error_message"]


def test_backfill_rebuilds_five_partitions_and_downstream(
    settings: Settings, run_cli: RunCli
) -> None:
    """materialize over five days rebuilds those five partitions and, by cascade, downstream."""
    first, second, _third = chain()
    days = [f"2026-11-0{d}" for d in range(1, 6)]
    with running(first, settings), running(second, settings):
        with Emitter(settings) as emitter:
            for day in days:
                emitter.updated("t.raw", partition=day, version=f"r-{day}")
        collect(settings, "t.c", until=at_least(5))
        result = run_cli(
            "materialize", "t.b", "--partitions", "2026-11-01..2026-11-05", "--reason", "fix"
        )
        assert result.returncode == 0, result.stderr
        assert "wrote 5 request(s) for t.b" in result.stdout
        b_events = collect(settings, "t.b", until=at_least(10))
        c_events = collect(settings, "t.c", until=at_least(10))
    assert Counter(e.partition for e in b_events) == dict.fromkeys(days, 2)
    assert Counter(e.partition for e in c_events) == dict.fromkeys(days, 2)
    assert len({e.event_id for e in b_events}) == 10  # requested runs are new runs


def test_materialize_unknown_asset_and_bad_range(run_cli: RunCli) -> None:
    """materialize refuses an undeclared asset (exit 1) and a malformed range (exit 2)."""
    unknown = run_cli("materialize", "t.nobody_owns_this")
    assert unknown.returncode == 1, unknown.stderr
    assert "no service has declared t.nobody_owns_this" in unknown.stderr
    bad = run_cli("materialize", "t.b", "--partitions", "yesterday..today")
    assert bad.returncode == 2
    assert "FIRST..LAST" in bad.stderr


def test_second_owner_of_an_asset_refuses_to_start(settings: Settings) -> None:
    """A service claiming an asset another service declared refuses to start, naming the owner."""
    owner, intruder = Service("svc-owner"), Service("svc-intruder")

    @owner.asset("t.owned")
    def owned(ctx):  # type: ignore[no-untyped-def]
        return ctx.output()

    @intruder.asset("t.owned")
    def stolen(ctx):  # type: ignore[no-untyped-def]
        return ctx.output()

    with running(owner, settings):
        wait_until(
            lambda: "t.owned" in read_declarations(settings, timeout=5), "svc-owner's declaration"
        )
        try:
            with running(intruder, settings):
                pass
        except Exception as exc:  # noqa: BLE001 - the assertion below names what is expected
            message = str(exc)
        else:
            message = ""
    assert "asset t.owned is owned by service svc-owner" in message
