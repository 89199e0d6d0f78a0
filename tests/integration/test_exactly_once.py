"""Exactly-once mode: outputs, state and offsets committed together in Kafka transactions."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from choreo import AssetEvent, Emitter, Service
from choreo.cli.run import CRASH_FAILPOINT_ENV
from choreo.kafka.emitter import build_event
from choreo.settings import Settings

from .services_support import at_least, collect, running

EVENTS = 5_000
KILLS = 20

SERVICE = textwrap.dedent(
    """
    import time
    from choreo import Service

    svc = Service("svc-eos", exactly_once=True)

    @svc.asset("t.eos_out", inputs=["t.eos_in"], partitioned=True)
    def eos_out(ctx, source):
        time.sleep(0.002)
        return ctx.output(location=f"mem://eos/{ctx.partition}", source=source.version)
    """
)


def test_transactional_service_cascades_and_does_not_rerun_after_restart(
    settings: Settings,
) -> None:
    """An exactly_once service announces its output once, also across a clean restart."""
    svc = Service("svc-txn", exactly_once=True)

    @svc.asset("t.txn", inputs=["t.raw"], partitioned=True)
    def txn(ctx, raw):  # type: ignore[no-untyped-def]
        return ctx.output(source=raw.version)

    with Emitter(settings) as emitter:
        emitter.updated("t.raw", partition="p1", version="r1")
    with running(svc, settings):
        [first] = collect(settings, "t.txn", until=at_least(1))
    with running(svc, settings):
        time.sleep(8)  # joined, restored, and had every chance to rerun
        events = collect(settings, "t.txn", until=at_least(2), timeout=3)
    assert first.metadata == {"source": "r1"}
    assert [e.event_id for e in events] == [first.event_id]


def start(path: Path, env: dict[str, str], failpoint: int | None) -> subprocess.Popen[bytes]:
    """``choreo run`` the transactional service, optionally set to crash before a commit."""
    run_env = dict(env)
    if failpoint is not None:
        run_env[CRASH_FAILPOINT_ENV] = str(failpoint)
    return subprocess.Popen(
        # A stable instance name gives a stable transactional.id: the restarted process fences
        # the killed one and aborts its open transaction at once, instead of after its timeout.
        [
            sys.executable,
            "-m",
            "choreo",
            "run",
            str(path),
            "--log-level",
            "warning",
            "--instance",
            "eos-replica-1",
        ],
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def outputs(settings: Settings, expect: int, timeout: float) -> list[AssetEvent]:
    """What a read_committed reader sees on the output topic (the tail is read_committed)."""
    return collect(settings, "t.eos_out", until=at_least(expect), timeout=timeout)


@pytest.mark.apache_kafka
def test_sigkill_twenty_times_downstream_sees_each_output_once(
    settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """20 SIGKILLs during 5,000 events (some between produce and commit): each output once."""
    path = tmp_path / "eos.py"
    path.write_text(SERVICE)
    env = {**cli_env, "CHOREO_KAFKA__SESSION_TIMEOUT_MS": "6000"}
    partitions = [f"p{i:05d}" for i in range(EVENTS)]
    with Emitter(settings) as emitter:
        for chunk in range(0, EVENTS, 500):
            emitter.emit_many([emitter_event(emitter, p) for p in partitions[chunk : chunk + 500]])
    rng = random.Random(7)
    seen = 0
    for kill in range(KILLS):
        # Every other crash lands exactly between a transaction's produce and its commit.
        failpoint = rng.randint(2, 6) if kill % 2 == 0 else None
        process = start(path, env, failpoint)
        try:
            if failpoint is None:
                progress = outputs(settings, seen + 100, timeout=60)
                seen = max(seen, len(progress))
                time.sleep(rng.uniform(0.0, 0.3))
                os.kill(process.pid, signal.SIGKILL)
            assert process.wait(60) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    final = start(path, env, None)
    try:
        done = outputs(settings, EVENTS, timeout=240)
        time.sleep(3)
        done = outputs(settings, EVENTS + 1, timeout=5)
    finally:
        final.send_signal(signal.SIGTERM)
        final.wait(60)
    assert seen < EVENTS  # the kills happened while work remained
    assert sorted(e.partition or "" for e in done) == partitions  # each output exactly once
    assert Counter(e.event_id for e in done).most_common(1)[0][1] == 1


def emitter_event(emitter: Emitter, partition: str) -> AssetEvent:
    """One input event for ``partition``."""
    return build_event(
        "t.eos_in", producer=emitter.producer_info, partition=partition, version=f"v-{partition}"
    )
