"""Running services in-process against the test broker, and reading what they announced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from choreo import AssetEvent, Service
from choreo.kafka.runner import RunnerOptions, ServiceRunner
from choreo.kafka.tail import AssetTail
from choreo.settings import Settings

#: Short group timings: with the embedded broker a join waits about one session timeout.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
#: How long a test waits for something the broker or a service should soon do.
WAIT_SECONDS = 60.0


@contextmanager
def running(
    service: Service,
    settings: Settings,
    *,
    instance: str = "test-1",
    metrics_port: int | None = None,
    shutdown_grace_seconds: float = 5,
) -> Iterator[ServiceRunner]:
    """Run ``service`` in a thread for the duration of the block; re-raise its failure.

    ``shutdown_grace_seconds`` is how long in-flight runs are waited for on a revocation or at
    the end before the runner writes what it has and commits."""
    runner = ServiceRunner(
        service,
        settings,
        RunnerOptions(
            instance=instance,
            metrics_port=metrics_port,
            metrics_host="127.0.0.1",
            shutdown_grace_seconds=shutdown_grace_seconds,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        ),
    )
    failure: list[BaseException] = []

    def target() -> None:
        try:
            runner.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"service-{service.name}", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(30)
    if failure:
        raise failure[0]


def collect(
    settings: Settings,
    asset: str,
    *,
    until: Callable[[list[AssetEvent]], bool],
    timeout: float = 40.0,
) -> list[AssetEvent]:
    """Events of ``asset`` from the beginning until ``until(events)`` holds or time runs out."""
    tail = AssetTail(settings, assets=[asset], from_beginning=True)
    events: list[AssetEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(events):
            for record in tail.records(idle_timeout=0.5):
                if record.event is not None:
                    events.append(record.event)
                if until(events) or time.monotonic() >= deadline:
                    break
    finally:
        tail.close()
    return events


def at_least(n: int) -> Callable[[list[AssetEvent]], bool]:
    """A ``collect`` condition: ``n`` events or more."""
    return lambda events: len(events) >= n


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Return once ``condition()`` holds; fail saying ``what`` did not happen in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)
