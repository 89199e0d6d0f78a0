"""``choreo dev``: the whole choreography on one laptop, in one command.

It starts the embedded broker (unless a broker is configured), creates the topics, runs every
service found in a folder as its own ``choreo run`` process, optionally lands the example's raw
data once, and prints each announcement as it happens, until it is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog

from choreo.embedded_broker import EmbeddedBroker
from choreo.errors import ConfigError
from choreo.events import AssetEvent, EventKind
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.tail import AssetTail
from choreo.loader import services_in
from choreo.service import Service
from choreo.settings import Settings

log = structlog.get_logger(__name__)

#: How long stopping waits for services to finish in-flight runs before killing them.
STOP_GRACE_SECONDS = 30.0


@dataclass
class DevOptions:
    """What ``choreo dev`` runs and how."""

    folder: Path
    ingest: bool = True
    port: int = 9092
    logs: Path = field(default_factory=lambda: Path(".choreo/logs"))
    duration: float | None = None
    collector: bool = True
    collector_port: int = 8350
    collector_db: str = "sqlite:///.choreo/collector.db"


def describe(event: AssetEvent) -> str:
    """One line per announcement: what was rebuilt, from which input versions, by whom."""
    target = f"{event.asset}[{event.partition}]" if event.partition else event.asset
    when = event.occurred_at.strftime("%H:%M:%S.%f")[:-3]
    line = f"{when}  {event.kind.value:<8} {target}  version={event.version}"
    if event.inputs:
        used = ", ".join(
            f"{i.asset}{'[' + i.partition + ']' if i.partition else ''}={i.version}"
            for i in event.inputs
        )
        line += f"  from {used}"
    if event.kind is EventKind.FAILED and event.error is not None:
        line += f"  error {event.error.type}: {event.error.message}"
    return f"{line}  by {event.producer.service}"


class DevSession:
    """The broker, the service processes and the live view, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        options: DevOptions,
        *,
        broker_configured: bool,
        out: Callable[[str], None],
        err: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.options = options
        self._broker_configured = broker_configured
        self._out, self._err = out, err
        self._broker: EmbeddedBroker | None = None
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self.interrupted = False

    def stop(self, *, interrupted: bool = False) -> None:
        """Ask the session to wind down (thread- and signal-safe); Ctrl-C sets ``interrupted``."""
        self.interrupted = self.interrupted or interrupted
        self._stop.set()

    def run(self) -> None:
        """Start everything, show events until stopped, then stop everything."""
        found = services_in(self.options.folder)
        if not found:
            raise ConfigError(f"no choreo services found in {self.options.folder}")
        try:
            if not self._broker_configured:
                self._broker = EmbeddedBroker(port=self.options.port).start()
                self.settings = self.settings.model_copy(
                    update={"bootstrap_servers": self._broker.bootstrap_servers}
                )
                self._err(f"broker: {self._broker.bootstrap_servers} (embedded, memory only)")
            assets = sorted(
                {a for _, s in found for a in s.assets}
                | {i.key for _, s in found for d in s.assets.values() for i in d.inputs}
            )
            TopicAdmin(self.settings).ensure(assets)
            tail = AssetTail(self.settings, pattern=".", from_beginning=False)
            try:
                if self.options.collector:
                    self._start_collector()
                self._start_services(found)
                if self.options.ingest:
                    self._run_ingest()
                self._show(tail)
            finally:
                tail.close()
        finally:
            self._stop_services()
            if self._broker is not None:
                self._broker.stop()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CHOREO_BOOTSTRAP_SERVERS"] = self.settings.bootstrap_servers
        env["CHOREO_TOPIC_PREFIX"] = self.settings.topic_prefix
        root = str(self.options.folder.resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        return env

    def _start_services(self, found: list[tuple[Path, Service]]) -> None:
        self.options.logs.mkdir(parents=True, exist_ok=True)
        for path, service in found:
            name = service.name
            log_path = self.options.logs / f"{name}.log"
            with log_path.open("ab") as sink:
                self._children[name] = subprocess.Popen(  # noqa: S603 - our own CLI
                    [sys.executable, "-m", "choreo", "run", str(path)],
                    env=self._env(),
                    stdout=sink,
                    stderr=sink,
                )
            self._err(f"service: {name} ({path}, pid {self._children[name].pid}, log {log_path})")

    def _start_collector(self) -> None:
        """The lineage collector, with its web page, as one more child process."""
        self.options.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.options.logs / "collector.log"
        port = str(self.options.collector_port)
        with log_path.open("ab") as sink:
            self._children["collector"] = subprocess.Popen(  # noqa: S603 - our own CLI
                [
                    sys.executable,
                    "-m",
                    "choreo",
                    "collector",
                    "--db",
                    self.options.collector_db,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                ],
                env=self._env(),
                stdout=sink,
                stderr=sink,
            )
        self._err(f"collector: http://127.0.0.1:{port}/ (lineage graph; log {log_path})")

    def _run_ingest(self) -> None:
        for script in sorted(self.options.folder.rglob("ingest.py")):
            self._err(f"ingest: python {script}")
            result = subprocess.run(  # noqa: S603 - the example's own script
                [sys.executable, str(script)],
                env=self._env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                self._err(
                    f"ingest {script} failed ({result.returncode}): {result.stderr.strip()[-500:]}"
                )

    def _show(self, tail: AssetTail) -> None:
        self._err("watching announcements; Ctrl-C stops everything")
        deadline = (
            None if self.options.duration is None else time.monotonic() + self.options.duration
        )
        while not self._stop.is_set():
            for record in tail.records(idle_timeout=0.5):
                if record.event is not None:
                    self._out(describe(record.event))
                else:
                    self._err(f"undecodable record {record.where}: {record.error}")
                if self._stop.is_set():
                    break
            self._check_children()
            if deadline is not None and time.monotonic() >= deadline:
                break

    def _check_children(self) -> None:
        for name, child in list(self._children.items()):
            code = child.poll()
            if code is not None:
                self._err(
                    f"service {name} exited with code {code}; see "
                    f"{self.options.logs / (name + '.log')}"
                )
                del self._children[name]

    def _stop_services(self) -> None:
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in self._children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._err(f"service {name} did not stop in time; killing it")
                child.kill()
                child.wait()
        self._children.clear()


def install_stop_handlers(session: DevSession) -> None:
    """SIGTERM and SIGINT stop the session cleanly."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        session.stop(interrupted=signum == signal.SIGINT)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
