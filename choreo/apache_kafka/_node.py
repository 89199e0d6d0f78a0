"""One Apache Kafka KRaft node in a child process: configure, format, start, wait, stop, restart.

The node keeps its ports for its whole life, so after ``kill()`` and ``start()`` the clients of a
test reconnect to the same address and find the same data, as they would after a real broker
crash. ``start()`` returns only once the broker answers a Kafka metadata request.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from choreo.apache_kafka._fetch import DEFAULT_VERSION, checked_version, fetch
from choreo.apache_kafka._tools import (
    JAVA_HINT,
    ApacheKafkaError,
    find_tool,
    last_lines,
    run_tool,
)
from choreo.broker_readiness import broker_address, wait_until_ready

log = structlog.get_logger(__name__)

#: A warm start takes about five seconds; a JVM on a loaded CI machine can take much longer.
START_TIMEOUT_SECONDS = 90.0
#: A single node's controlled shutdown takes a second or two.
STOP_TIMEOUT_SECONDS = 30.0
FORMAT_TIMEOUT_SECONDS = 120.0
#: How much of the broker's log an error message quotes.
TAIL_BYTES = 4000
#: The distribution's defaults (``kafka-server-start.sh``) with a smaller heap: tests are small.
JAVA_OPTIONS = ("-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true")
LOG_FILE = "kafka.log"
LOG4J2_FILE = "log4j2.properties"
#: Everything at INFO to stdout (which is ``kafka.log``), as the distribution's server.log has it.
LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
"""


def render_server_properties(
    data_dir: Path, host: str, port: int, controller_port: int, node_id: int = 1
) -> str:
    """``server.properties`` of a single combined broker and controller node, sized for tests."""
    client, controller = broker_address(host, port), broker_address(host, controller_port)
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{controller}",
        "listeners": f"PLAINTEXT://{client},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "log"),
        # One node: every internal topic must make do with one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # No waiting for more members before a group's first rebalance.
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "3",
        # After a kill the node cannot register again until its previous registration expires
        # (9 s by default); a short broker session makes a restart after kill() quick.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "500",
    }
    return "".join(f"{name}={value}\n" for name, value in settings.items())


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # Kafka avoids these too: they read as options
            return cluster_id


class ApacheKafka:
    """One Apache Kafka KRaft node (broker and controller) keeping its data in ``data_dir``.

    Args:
        data_dir: the node's directory (``server.properties``, ``log/`` data, ``kafka.log``);
            created if missing and never deleted. A directory formatted before is reused.
        port: the client port; ``0`` picks a free one. Kept across restarts.
        version: an Apache Kafka 4.x release on Maven Central.
        host: address to listen on and advertise.
        cache_dir: where fetched jars are kept; ``default_cache_dir()`` if not given.
        start_timeout: seconds ``start()`` waits for the broker to answer.

    Use as a context manager, or call ``start()`` and ``stop()``::

        with ApacheKafka(tmp_path) as kafka:
            settings = Settings(bootstrap_servers=kafka.bootstrap_servers)
    """

    def __init__(
        self,
        data_dir: Path | str,
        port: int = 0,
        version: str = DEFAULT_VERSION,
        *,
        host: str = "127.0.0.1",
        cache_dir: Path | None = None,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.version = checked_version(version)
        self.host = host
        self.cache_dir = cache_dir
        self.start_timeout = start_timeout
        self.controller_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port``, the value for ``bootstrap.servers`` / ``CHOREO_BOOTSTRAP_SERVERS``."""
        return broker_address(self.host, self.port)

    @property
    def log_path(self) -> Path:
        """The broker's log: everything it printed, across restarts."""
        return self.data_dir / LOG_FILE

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Fetch the jars if needed, format the storage if new, start the broker and wait for it.

        Raises:
            ApacheKafkaError: ``java`` or ``mvn`` is missing, a port is taken, or the broker did
                not answer within ``start_timeout`` (the message quotes the end of its log).
        """
        if self._process is not None:
            raise ApacheKafkaError(f"Apache Kafka at {self.bootstrap_servers} is running")
        java = find_tool("java")
        libs = fetch(self.version, self.cache_dir)
        self.port = _claim_port(self.host, self.port)
        self.controller_port = _claim_port(self.host, self.controller_port)
        config = self._configure(java, libs)
        command = [java, *JAVA_OPTIONS, f"-Dlog4j2.configurationFile={self.data_dir / LOG4J2_FILE}"]
        command += ["-cp", str(libs / "*"), "kafka.Kafka", str(config)]
        with self.log_path.open("ab") as output:
            output.write(f"\n=== starting: {' '.join(command)}\n".encode())
            output.flush()
            process = self._process = subprocess.Popen(  # noqa: S603 - our java, argument list
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Its own session: a Ctrl-C meant for us does not reach it; we stop it in order.
                start_new_session=True,
            )
        try:
            wait_until_ready(
                self.host,
                self.port,
                timeout=self.start_timeout,
                check_alive=lambda: self._check_alive(process),
                failed=self._failed,
            )
        except BaseException:
            self.kill()
            raise
        log.info("apache_kafka.started", bootstrap_servers=self.bootstrap_servers)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Shut down cleanly (SIGTERM, then SIGKILL after ``timeout`` seconds). Safe to repeat."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("apache_kafka.kill", pid=process.pid)
            process.kill()
            process.wait()
        log.info("apache_kafka.stopped", bootstrap_servers=self.bootstrap_servers)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would. Safe to repeat."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            log.info("apache_kafka.killed", bootstrap_servers=self.bootstrap_servers)

    def restart(self, *, hard: bool = False) -> Self:
        """Stop (``hard``: kill) and start again with the same directory, ports and data."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_tail(self) -> str:
        """The last lines of the broker's log."""
        try:
            with self.log_path.open("rb") as file:
                file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_BYTES))
                return file.read().decode("utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _configure(self, java: str, libs: Path) -> Path:
        """Write this start's config; format the storage unless it was formatted before."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / LOG4J2_FILE).write_text(LOG4J2_PROPERTIES, encoding="utf-8")
        config = self.data_dir / "server.properties"
        config.write_text(
            render_server_properties(self.data_dir, self.host, self.port, self.controller_port),
            encoding="utf-8",
        )
        if (self.data_dir / "log" / "meta.properties").is_file():
            return config  # formatted before: keep its cluster id and data
        command = [java, "-cp", str(libs / "*"), "kafka.tools.StorageTool", "format"]
        command += ["--cluster-id", new_cluster_id(), "--config", str(config)]
        done = run_tool(command, FORMAT_TIMEOUT_SECONDS)
        if done.returncode != 0:
            raise ApacheKafkaError(
                f"could not format Kafka's storage in {self.data_dir}:\n{last_lines(done.stdout)}"
            )
        return config

    def _check_alive(self, process: subprocess.Popen[bytes]) -> None:
        status = process.poll()
        if status is not None:
            raise self._failed(f"it exited with status {status}")

    def _failed(self, why: str) -> ApacheKafkaError:
        tail = self.log_tail() or "(no output)"
        if "UnsupportedClassVersionError" in tail:
            why += f"; Kafka {self.version} needs Java 17 or newer: {JAVA_HINT}"
        return ApacheKafkaError(
            f"Apache Kafka {self.version} did not start at {self.bootstrap_servers}: {why}. "
            f"The end of {self.log_path}:\n{tail}"
        )


def _claim_port(host: str, port: int) -> int:
    """``port`` if it is free on ``host`` (a free port if ``0``); else a clear error.

    Another process could still take the port before Kafka binds it; Kafka then exits, and
    ``start()`` quotes its "Address already in use" from the log.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Kafka's listeners set SO_REUSEADDR too, so a port left in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ApacheKafkaError(
                f"cannot listen on {broker_address(host, port)}: {exc.strerror}"
            ) from exc
        bound: int = sock.getsockname()[1]
        return bound
