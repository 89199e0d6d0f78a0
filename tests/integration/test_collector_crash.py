"""A collector killed again and again while it ingests loses no event and counts none twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from choreo import Emitter, InputVersion
from choreo.collector import tables
from choreo.collector.store import Store
from choreo.events.topics import asset_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.emitter import build_event
from choreo.settings import Settings

from .postgres import (  # noqa: F401 - fixtures, used by name
    postgres_server_fixture,
    postgres_url_fixture,
    store_url_fixture,
)
from .services_support import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS
from .test_collector_ingest import end_offsets

EVENTS = 10_000
CHUNK = 100
#: Pause between chunks, so that the events keep arriving across the kills and restarts.
CHUNK_PAUSE_SECONDS = 0.25
KILLS = 5
#: Small batches: many transactions, so a kill lands inside or between them, never after all.
BATCH_SIZE = 50
ASSETS = ("crash.a", "crash.b", "crash.c")
SOURCE = "crash.source"
WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class Run:
    """How to start the collector command as its own process, ingesting only."""

    url: str
    group_id: str
    env: dict[str, str]
    log: Path

    def start(self) -> subprocess.Popen[bytes]:
        """Start it, its output appended to ``log``."""
        command = [sys.executable, "-m", "choreo", "collector", "--no-serve"]
        options = ["--db", self.url, "--group", self.group_id, "--batch-size", str(BATCH_SIZE)]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [*command, *options, "--log-level", "info"],
                env=self.env,
                stdout=out,
                stderr=out,
            )


def stored_count(store: Store) -> int:
    """Events stored so far (0 before the collector made its tables)."""
    try:
        with store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(tables.events)) or 0)
    except Exception:  # noqa: BLE001 - the tables may not exist yet
        return 0


def produce(settings: Settings, produced: list[str], failure: list[BaseException]) -> None:
    """Announce ``EVENTS`` events, a chunk at a time, each built from one input version."""
    try:
        with Emitter(settings, service="crash-producer") as emitter:
            for start_at in range(0, EVENTS, CHUNK):
                events = [
                    build_event(
                        ASSETS[i % len(ASSETS)],
                        producer=emitter.producer_info,
                        partition=f"p{i % 17}",
                        version=f"v{i}",
                        inputs=[InputVersion(asset=SOURCE, version=f"s{i}")],
                    )
                    for i in range(start_at, start_at + CHUNK)
                ]
                emitter.emit_many(events)
                produced.extend(str(e.event_id) for e in events)
                time.sleep(CHUNK_PAUSE_SECONDS)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        failure.append(exc)


def progressed(store: Store, before: int) -> bool:
    """Whether more than ``before`` events are stored now (or all of them already)."""
    now = stored_count(store)
    return now > before or now == EVENTS


def wait_for(
    condition: Callable[[], bool],
    what: Callable[[], str],
    log: Path,
    timeout: float = WAIT_SECONDS,
) -> None:
    """Return once ``condition()`` holds; fail with ``what()`` and the collector's log."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out waiting for {what()}; collector log:\n{log.read_text()[-5000:]}"
            )
        time.sleep(0.05)


def kill_repeatedly(run: Run, store: Store) -> int:
    """Start the collector and SIGKILL it at a random moment after it stored something, ``KILLS``
    times; return how many kills came before every event was stored."""
    rng = random.Random()
    mid_stream = 0
    for _ in range(KILLS):
        process = run.start()
        try:
            wait_for(
                partial(progressed, store, stored_count(store)),
                lambda: f"the collector to store something ({stored_count(store)} stored)",
                run.log,
            )
            time.sleep(rng.uniform(0.0, 1.0))
            mid_stream += stored_count(store) < EVENTS
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
    return mid_stream


def run_to_the_end(run: Run, store: Store, ends: dict[tuple[str, int], int]) -> None:
    """Start the collector, wait until its stored offsets are ``ends``, stop it with SIGTERM."""
    logged = len(run.log.read_text())
    process = run.start()
    try:
        wait_for(
            lambda: "partitions.assigned" in run.log.read_text()[logged:],
            lambda: "the last collector to be assigned its partitions",
            run.log,
        )
        wait_for(
            lambda: store.committed_offsets(run.group_id) == ends,
            lambda: (
                f"the stored offsets {store.committed_offsets(run.group_id)} to reach the "
                f"topics' ends {ends} ({stored_count(store)} events stored)"
            ),
            run.log,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, run.log.read_text()[-3000:]


def test_sigkill_again_and_again_loses_nothing_and_counts_nothing_twice(
    settings: Settings, cli_env: dict[str, str], store_url: str, group_id: str, tmp_path: Path
) -> None:
    """SIGKILL the collector five times at random moments while 10,000 events arrive: after the
    last restart the stored event ids are exactly the produced ones, each input and edge is
    counted once, and the stored offsets are the topics' end offsets."""
    TopicAdmin(settings).ensure([*ASSETS])
    env = {
        **cli_env,
        "CHOREO_KAFKA__SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "CHOREO_KAFKA__HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_INTERVAL_MS),
    }
    run = Run(store_url, group_id, env, tmp_path / "collector.log")
    store = Store(store_url)
    produced: list[str] = []
    failure: list[BaseException] = []
    producer = threading.Thread(target=produce, args=(settings, produced, failure), daemon=True)
    producer.start()
    try:
        assert kill_repeatedly(run, store) >= 1, "every kill came after the last event was stored"
        producer.join(WAIT_SECONDS)
        assert not failure, failure
        assert len(produced) == EVENTS
        ends = end_offsets(settings, [asset_topic(settings.topic_prefix, a) for a in ASSETS])
        run_to_the_end(run, store, ends)

        with store.engine.connect() as conn:
            stored_ids = list(conn.scalars(select(tables.events.c.event_id)))
            inputs = conn.scalar(select(func.count()).select_from(tables.event_inputs))
            edges = dict(
                conn.execute(
                    select(tables.observed_edges.c.downstream, tables.observed_edges.c.events)
                ).all()
            )
            rejected = conn.scalar(select(func.count()).select_from(tables.rejected))
        assert len(stored_ids) == EVENTS
        assert set(stored_ids) == set(produced)
        assert inputs == EVENTS
        assert edges == {
            asset: len(range(i, EVENTS, len(ASSETS))) for i, asset in enumerate(ASSETS)
        }
        assert rejected == 0
        assert store.committed_offsets(group_id) == ends
    finally:
        producer.join(WAIT_SECONDS)
        store.close()
