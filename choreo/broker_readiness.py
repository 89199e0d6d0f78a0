"""Waiting for a broker started as a child process until clients can use it.

choreo starts two kinds of broker itself: the embedded Tansu broker (``choreo broker``, ``choreo
dev``, the tests) and an Apache Kafka node for the tests (``choreo.apache_kafka``). Both are
ready only once they answer a Kafka metadata request, not when their port accepts connections
(Kafka listens before it can answer), and both can fail the same three ways: the process exits
(a taken port, a missing Java), it never listens, or it listens and never answers. The wait is
kept here once, so the two brokers report those cases alike and a fix reaches both; each caller
says how to tell that its process has exited and how to word its own error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from choreo.errors import BrokerUnavailableError
from choreo.kafka.admin import TopicAdmin
from choreo.settings import Settings

#: Interval between attempts to connect while the broker starts.
POLL_SECONDS = 0.05
#: Connecting on loopback is refused at once while nothing listens; this bounds the rare wait.
CONNECT_TIMEOUT_SECONDS = 1.0
#: The least the metadata probe is given, even when listening took nearly the whole timeout.
MIN_PROBE_SECONDS = 1.0


def broker_address(host: str, port: int) -> str:
    """``host:port`` as clients take it in ``bootstrap.servers``, an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def wait_until_ready(
    host: str,
    port: int,
    *,
    timeout: float,
    check_alive: Callable[[], None],
    failed: Callable[[str], Exception],
) -> None:
    """Return once the broker on ``host:port`` answers a Kafka metadata request.

    Args:
        host: Where the broker listens.
        port: Its client port.
        timeout: Seconds for the whole wait: listening, then answering.
        check_alive: Raises the caller's error if the broker process has exited. It is called
            between attempts and again before a timeout is reported, so a broker that died is
            reported as such rather than as slow.
        failed: The caller's error for a broker that did not come up in time, given why.

    Raises:
        Exception: Whatever ``check_alive`` raises, or the error ``failed`` returns.
    """
    deadline = time.monotonic() + timeout
    while True:
        check_alive()
        if _accepts_connections(host, port):
            break
        if time.monotonic() > deadline:
            raise failed(f"it did not listen within {timeout:g}s")
        time.sleep(POLL_SECONDS)
    # A plain listener on loopback: the user's client options (SASL, TLS) are meant for their
    # real cluster, so none are passed here.
    probe = Settings.model_construct(bootstrap_servers=broker_address(host, port), kafka={})
    probe_seconds = max(MIN_PROBE_SECONDS, deadline - time.monotonic())
    try:
        TopicAdmin(probe, timeout=probe_seconds).check_reachable()
    except BrokerUnavailableError as exc:
        check_alive()
        raise failed(f"it did not answer a Kafka metadata request within {timeout:g}s") from exc


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False
