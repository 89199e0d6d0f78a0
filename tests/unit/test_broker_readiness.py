"""The wait for a broker child process, against loopback sockets that are no broker."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from choreo.broker_readiness import broker_address, wait_until_ready


class NotReadyError(Exception):
    """The caller's error in these tests."""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_process_that_exited_is_reported_as_such(closed_port: int) -> None:
    """The caller's check that its process is alive runs first: an exit is not a timeout."""

    def exited() -> None:
        raise NotReadyError("it exited with status 1")

    with pytest.raises(NotReadyError, match="exited with status 1"):
        wait_until_ready(
            "127.0.0.1", closed_port, timeout=5, check_alive=exited, failed=NotReadyError
        )


def test_nothing_listening_within_the_timeout_fails_with_the_callers_error(
    closed_port: int,
) -> None:
    """A port nobody opens is reported through ``failed`` once the timeout has passed."""
    with pytest.raises(NotReadyError, match=r"did not listen within 0\.2s"):
        wait_until_ready(
            "127.0.0.1", closed_port, timeout=0.2, check_alive=lambda: None, failed=NotReadyError
        )


def test_a_listener_that_never_answers_kafka_fails_after_checking_the_process(
    silent_port: int,
) -> None:
    """Listening is not ready: without an answer to a metadata request the wait fails, and the
    process is checked once more first, so an exit meanwhile is reported as the cause."""
    checks: list[None] = []
    with pytest.raises(NotReadyError, match="did not answer a Kafka metadata request"):
        wait_until_ready(
            "127.0.0.1",
            silent_port,
            timeout=0.5,
            check_alive=lambda: checks.append(None),
            failed=NotReadyError,
        )
    assert len(checks) == 2


@pytest.mark.parametrize(
    ("host", "address"), [("127.0.0.1", "127.0.0.1:9092"), ("::1", "[::1]:9092")]
)
def test_broker_address_brackets_ipv6_literals(host: str, address: str) -> None:
    """``bootstrap.servers`` takes an IPv6 literal in brackets."""
    assert broker_address(host, 9092) == address
