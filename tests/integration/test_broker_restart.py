"""Apache Kafka stopped (SIGTERM or SIGKILL) mid-cascade and started again on the same data:
services and the collector reconnect by themselves, and nothing acknowledged is lost or doubled."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from choreo import Emitter, Service
from choreo.apache_kafka import ApacheKafka
from choreo.collector.ingest import Collector
from choreo.collector.store import Store
from choreo.collector.tables import events as events_table
from choreo.settings import Settings

from .services_support import SESSION_TIMEOUT_MS, at_least, collect, running

BEFORE, AFTER = 60, 60
#: Grace for in-flight runs on a revocation, shorter than a broker restart takes.
GRACE_SECONDS = 4


@contextmanager
def collecting(settings: Settings, store: Store) -> Iterator[Collector]:
    """Run a collector in a thread for the duration of the block."""
    collector = Collector(settings, store)
    thread = threading.Thread(target=collector.run, name="collector", daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.stop()
        thread.join(60)


def stored_ids(store: Store) -> list[str]:
    """Every event id the collector stored."""
    with store.engine.connect() as connection:
        return [row[0] for row in connection.execute(select(events_table.c.event_id))]


@pytest.mark.apache_kafka
@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_cascade_loses_and_doubles_nothing(tmp_path: Path, hard: bool) -> None:
    """Restart Kafka mid-cascade: each acknowledged input is built once downstream, stored once."""
    acted: list[str | None] = []
    lock = threading.Lock()
    first, second = Service("svc-restart-b"), Service("svc-restart-c")

    @first.asset("t.b", inputs=["t.raw"], partitioned=True)
    def build_b(ctx, raw):  # type: ignore[no-untyped-def]
        return ctx.output(source=raw.version)

    @second.asset("t.c", inputs=["t.b"], partitioned=True)
    def build_c(ctx, b):  # type: ignore[no-untyped-def]
        with lock:
            acted.append(ctx.partition)
        return ctx.output(source=b.version)

    with ApacheKafka(tmp_path / "kafka") as kafka:
        settings = Settings(bootstrap_servers=kafka.bootstrap_servers, topic_prefix="r.")
        store = Store(f"sqlite:///{tmp_path / 'collector.db'}")
        store.create()
        sent = []
        with collecting(settings, store), running(first, settings), running(second, settings):
            with Emitter(settings) as emitter:
                sent += [
                    emitter.updated("t.raw", partition=f"p{i:03d}", version="v1")
                    for i in range(BEFORE)
                ]
            collect(settings, "t.c", until=lambda ev: len(ev) >= BEFORE // 3, timeout=60)
            kafka.restart(hard=hard)  # in the middle of the cascade
            with Emitter(settings, timeout=30) as emitter:
                sent += [
                    emitter.updated("t.raw", partition=f"p{i:03d}", version="v1")
                    for i in range(BEFORE, BEFORE + AFTER)
                ]
            total = BEFORE + AFTER
            outputs = collect(
                settings,
                "t.c",
                until=lambda ev: len({e.partition for e in ev}) >= total,
                timeout=120,
            )
            b_events = collect(settings, "t.b", until=lambda ev: len(ev) >= total, timeout=10)
            deadline = time.monotonic() + 60
            wanted = {str(e.event_id) for e in sent + outputs + b_events}
            while not wanted <= set(stored_ids(store)) and time.monotonic() < deadline:
                time.sleep(0.5)
    partitions = sorted(f"p{i:03d}" for i in range(total))
    assert sorted({e.partition or "" for e in outputs}) == partitions  # nothing lost
    assert sorted(p or "" for p in acted) == partitions  # downstream acted on each once
    ids = stored_ids(store)
    assert wanted <= set(ids)  # the collector stored every acknowledged event
    assert Counter(ids).most_common(1)[0][1] == 1  # and none twice


def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.apache_kafka
def test_output_acknowledged_while_partitions_are_lost_is_recorded_not_run_again(
    tmp_path: Path,
) -> None:
    """An output the broker acknowledges only after the group dropped the service (the broker
    was down past the session timeout) is recorded before the partitions go: it never reruns."""
    calls: list[str | None] = []
    entered, release = threading.Event(), threading.Event()
    svc = Service("svc-lost")

    @svc.asset("t.out", inputs=["t.in"], partitioned=True)
    def out(ctx, source):  # type: ignore[no-untyped-def]
        calls.append(ctx.partition)
        entered.set()
        release.wait(60)
        return ctx.output(source=source.version)

    with ApacheKafka(tmp_path / "kafka") as kafka:
        settings = Settings(
            bootstrap_servers=kafka.bootstrap_servers,
            topic_prefix="l.",
            kafka={"reconnect.backoff.max.ms": "1000"},  # back within a second of the broker
        )
        # The broker stays down past the session timeout, so the group drops the service; the
        # grace given to in-flight runs ends before the broker is back (it takes seconds to
        # start), so the acknowledgement arrives while the runner makes its state durable.
        with running(svc, settings, shutdown_grace_seconds=GRACE_SECONDS) as runner:
            with Emitter(settings) as emitter:
                emitter.updated("t.in", partition="p1", version="v1")
            assert entered.wait(60)
            kafka.kill()
            release.set()  # the output is produced while the broker is down
            time.sleep(SESSION_TIMEOUT_MS / 1000 + 0.5)
            kafka.start()
            assert eventually(lambda: not runner.assigned_indices, timeout=30)  # they were lost
            assert eventually(lambda: bool(runner.assigned_indices), timeout=60)  # and came back
            time.sleep(3)  # restored, and every chance to run again
            events = collect(settings, "t.out", until=at_least(2), timeout=5)
    assert calls == ["p1"]
    assert [e.partition for e in events] == ["p1"]
