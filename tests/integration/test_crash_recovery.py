"""A service killed mid-stream loses nothing and downstream acts on each output once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

from choreo import Emitter, Service
from choreo.settings import Settings

from .services_support import collect, running

EVENTS = 200

SERVICE = textwrap.dedent(
    """
    import time
    from choreo import Service

    svc = Service("svc-crashy")

    @svc.asset("t.crashy", inputs=["t.source"], partitioned=True)
    def crashy(ctx, source):
        time.sleep(0.02)  # long enough that the kill lands between runs and acknowledgements
        return ctx.output(location=f"mem://crashy/{ctx.partition}", source=source.version)
    """
)


def start(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``choreo run`` the crashy service as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "choreo", "run", str(path), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_mid_stream_loses_nothing_and_downstream_acts_once(
    settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL during 200 inputs, restart: every input has its output, none acted on twice."""
    path = tmp_path / "crashy.py"
    path.write_text(SERVICE)
    acted: list[tuple[str | None, str]] = []
    lock = threading.Lock()
    downstream = Service("svc-downstream")

    @downstream.asset("t.downstream", inputs=["t.crashy"], partitioned=True)
    def after(ctx, crashy):  # type: ignore[no-untyped-def]
        with lock:
            acted.append((ctx.partition, str(crashy.event_id)))
        return ctx.output()

    env = {**cli_env, "CHOREO_KAFKA__SESSION_TIMEOUT_MS": "6000"}
    partitions = [f"p{i:03d}" for i in range(EVENTS)]
    with running(downstream, settings):
        first = start(path, env)
        try:
            with Emitter(settings) as emitter:
                for p in partitions:
                    emitter.updated("t.source", partition=p, version=f"v-{p}")
            collect(settings, "t.crashy", until=lambda ev: len(ev) >= EVENTS // 4, timeout=60)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            before_restart = collect(
                settings, "t.crashy", until=lambda ev: len(ev) >= EVENTS, timeout=3
            )
            assert len({e.partition for e in before_restart}) < EVENTS  # killed mid-stream
        finally:
            if first.poll() is None:
                first.kill()
        second = start(path, env)
        try:
            outputs = collect(
                settings,
                "t.crashy",
                until=lambda ev: len({e.partition for e in ev}) >= EVENTS,
                timeout=120,
            )
            collect(settings, "t.downstream", until=lambda ev: len(ev) >= EVENTS, timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0  # SIGTERM: finish, commit, leave the group
    assert sorted({e.partition or "" for e in outputs}) == partitions  # lost = 0
    ids_per_partition = Counter((e.partition, e.event_id) for e in outputs)
    assert len(ids_per_partition) == EVENTS  # a rerun re-announced the same event id
    assert len(acted) == EVENTS
    assert len(set(acted)) == EVENTS  # downstream acted on each output once
