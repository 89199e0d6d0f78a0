"""Announcing with the Emitter and ``choreo emit``, and reading back with ``choreo tail``."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from choreo import AssetEvent, Emitter, InputVersion
from choreo.errors import BrokerUnavailableError, InvalidInputError
from choreo.events import EventKind
from choreo.events.topics import asset_topic
from choreo.kafka.emitter import build_event
from choreo.kafka.tail import AssetTail, TailedRecord
from choreo.settings import Settings

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def read_all(settings: Settings, *assets: str, expect: int) -> list[TailedRecord]:
    """Every record of ``assets`` from the beginning, waiting for ``expect`` of them."""
    tail = AssetTail(settings, assets=assets, from_beginning=True)
    records: list[TailedRecord] = []
    try:
        for record in tail.records(idle_timeout=5):
            records.append(record)
            if len(records) >= expect:
                break
    finally:
        tail.close()
    return records


def decoded(records: list[TailedRecord]) -> list[AssetEvent]:
    """The events of ``records``, failing if any record was not a choreo event."""
    events = [r.event for r in records]
    assert all(e is not None for e in events), [r.error for r in records]
    return [e for e in events if e is not None]


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_emitter_update_is_read_back_exactly(settings: Settings) -> None:
    """An acknowledged update is on the asset's topic with every field as emitted."""
    with Emitter(settings, service="ingest") as emitter:
        sent = emitter.updated(
            "shop.orders",
            partition="2026-11-20",
            location="file:///data/orders/2026-11-20.csv",
            metadata={"rows": 1200, "source": "pos", "ratio": 0.5, "final": True, "note": None},
            inputs=[InputVersion(asset="shop.raw", partition="2026-11-20", version="r1")],
        )
    [record] = read_all(settings, "shop.orders", expect=1)
    assert record.error is None
    assert record.event == sent
    assert record.topic == asset_topic(settings.topic_prefix, "shop.orders")


def test_emitter_batch_and_failure(settings: Settings) -> None:
    """A batch of updates and a failure are all acknowledged and read back in key order."""
    with Emitter(settings) as emitter:
        emitter.emit_many([_event(emitter, "shop.customers", f"v{i}") for i in range(20)])
        failed = emitter.failed("shop.customers", error="source database unreachable")
    events = decoded(read_all(settings, "shop.customers", expect=21))
    assert len(events) == 21
    versions = [e.version for e in events if e.kind is EventKind.UPDATED]
    assert versions == [f"v{i}" for i in range(20)]  # one key, one partition: order kept
    [fail] = [e for e in events if e.kind is EventKind.FAILED]
    assert fail.event_id == failed.event_id
    assert fail.error is not None
    assert fail.error.message == "source database unreachable"


def _event(emitter: Emitter, asset: str, version: str) -> AssetEvent:
    return build_event(asset, producer=emitter.producer_info, version=version)


def test_emitter_reads_settings_from_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Emitter()`` without arguments uses CHOREO_* variables."""
    monkeypatch.setenv("CHOREO_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("CHOREO_TOPIC_PREFIX", settings.topic_prefix)
    with Emitter() as emitter:
        sent = emitter.updated("shop.orders", version="env")
    [event] = decoded(read_all(settings, "shop.orders", expect=1))
    assert event.event_id == sent.event_id


def test_emitter_refuses_bad_key_before_sending(settings: Settings) -> None:
    """A bad asset key raises InvalidInputError naming it, and nothing is written."""
    with Emitter(settings) as emitter, pytest.raises(InvalidInputError, match="Shop Orders"):
        emitter.updated("Shop Orders")


def test_emitter_unreachable_broker_raises_within_timeout() -> None:
    """With no broker, emitting raises BrokerUnavailableError within about the timeout."""
    settings = Settings(bootstrap_servers=f"127.0.0.1:{closed_port()}")
    started = time.monotonic()
    with Emitter(settings, timeout=2) as emitter, pytest.raises(BrokerUnavailableError):
        emitter.updated("shop.orders")
    assert time.monotonic() - started < 10


def test_cli_emit_then_tail_human_and_json(run_cli: RunCli) -> None:
    """`choreo emit` prints the id of an acknowledged event that `choreo tail` shows both ways."""
    emitted = run_cli(
        "emit",
        "shop.orders",
        "--partition",
        "2026-11-20",
        "--location",
        "file:///data/orders/2026-11-20.csv",
        "--meta",
        "rows=1200",
        "--meta",
        "source=pos",
        "--input",
        "shop.raw@2026-11-20=r7",
    )
    assert emitted.returncode == 0, emitted.stderr
    event_id = emitted.stdout.strip()
    human = run_cli("tail", "shop.orders", "--from-beginning", "--max", "1")
    assert human.returncode == 0, human.stderr
    assert "shop.orders[2026-11-20]" in human.stdout
    assert "rows=1200 source=pos" in human.stdout
    assert "inputs=shop.raw@2026-11-20=r7" in human.stdout
    assert event_id in human.stdout
    as_json = run_cli("tail", "shop.orders", "--from-beginning", "--max", "1", "--json")
    assert as_json.returncode == 0, as_json.stderr
    [line] = as_json.stdout.splitlines()
    body = json.loads(line)
    assert body["event_id"] == event_id
    assert body["metadata"] == {"rows": 1200, "source": "pos"}
    assert body["kafka"]["offset"] == 0


def test_cli_emit_json_and_failed(run_cli: RunCli) -> None:
    """`--json` prints the whole event; `--failed --error` announces a FAILED event."""
    result = run_cli("emit", "shop.orders", "--failed", "--error", "disk full", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["kind"] == "FAILED"
    assert body["error"]["message"] == "disk full"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["emit", "Shop Orders"], "invalid asset key 'Shop Orders'"),
        (["emit", ""], "asset key is empty"),
        (["emit", "shop.orders", "--meta", "rows"], "--meta 'rows' is not KEY=VALUE"),
        (["emit", "shop.orders", "--input", "shop.raw"], "--input 'shop.raw' does not parse"),
        (["emit", "shop.orders", "--partition", "a b"], "invalid partition key 'a b'"),
        (["emit", "shop.orders", "--failed"], "--failed needs --error"),
        (["tail"], "name at least one ASSET"),
        (["tail", "Shop"], "invalid asset key 'Shop'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(run_cli: RunCli, args: list[str], message: str) -> None:
    """Malformed input exits 2 with one line on stderr naming the problem, no traceback."""
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["emit", "shop.orders"], ["tail", "shop.orders"]])
def test_cli_unreachable_broker_exits_4(run_cli: RunCli, command: list[str]) -> None:
    """With no broker, emit and tail exit 4 within the timeout with one line on stderr."""
    started = time.monotonic()
    result = run_cli(
        *command,
        "--timeout",
        "2",
        env={"CHOREO_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"},
    )
    assert result.returncode == 4, result.stderr
    assert "cannot reach Kafka" in result.stderr or "did not acknowledge" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 20


def test_cli_unanswering_registry_exits_4(run_cli: RunCli) -> None:
    """A schema registry URL that does not answer exits 4 naming the registry."""
    result = run_cli(
        "emit",
        "shop.orders",
        "--timeout",
        "2",
        env={"CHOREO_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{closed_port()}"},
    )
    assert result.returncode == 4, result.stderr
    assert "registry" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_tail_reports_undecodable_records_and_goes_on(settings: Settings, run_cli: RunCli) -> None:
    """Bytes that are not choreo events are reported with topic/partition/offset; tail goes on."""
    topic = asset_topic(settings.topic_prefix, "shop.orders")
    with Emitter(settings) as emitter:
        emitter.updated("shop.orders", version="before")
    producer = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "partitioner": "murmur2_random"}
    )
    producer.produce(topic, key=b"shop.orders", value=b"\x00\x01not avro at all")
    producer.produce(topic, key=b"shop.orders", value=b"")
    producer.flush(10)
    with Emitter(settings) as emitter:
        emitter.updated("shop.orders", version="after")
    result = run_cli("tail", "shop.orders", "--from-beginning", "--max", "2", "--idle", "5")
    assert result.returncode == 1, result.stderr
    assert "version=before" in result.stdout
    assert "version=after" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert f"{topic}[" in errors[0]
    assert "@1:" in errors[0]
    assert "@2:" in errors[1]
    assert "Traceback" not in result.stderr


def test_tail_pattern_follows_assets_created_later(settings: Settings) -> None:
    """A pattern tail picks up an asset topic created after it started."""
    tail = AssetTail(settings, pattern=r"^shop\.", from_beginning=True)
    try:
        with Emitter(settings) as emitter:
            emitter.updated("shop.late_arrival", version="v1")
            emitter.updated("other.asset", version="v1")
        seen = [r.event.asset for r in tail.records(idle_timeout=6) if r.event is not None]
    finally:
        tail.close()
    assert seen == ["shop.late_arrival"]
