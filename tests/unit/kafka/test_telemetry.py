"""Telemetry gathers counts per turn of the loop and hands them to the metrics in one go; a
replica's ``/healthz`` says whether it polls and comes round its loop."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from choreo import Service
from choreo.kafka.telemetry import HEALTHY_POLL_SECONDS, Telemetry, health
from choreo.metrics import ServiceMetrics


def _consumed(registry: CollectorRegistry, topic: str) -> float | None:
    return registry.get_sample_value("choreo_events_consumed_total", {"topic": topic})


def test_consumed_records_reach_the_metrics_when_published() -> None:
    """Records counted since the last publish appear in the counter, per topic, only then."""
    registry = CollectorRegistry()
    telemetry = Telemetry(ServiceMetrics(registry))
    for _ in range(3):
        telemetry.consumed("t.a")
    telemetry.consumed("t.b")
    assert _consumed(registry, "t.a") is None
    telemetry.publish()
    assert _consumed(registry, "t.a") == 3.0
    assert _consumed(registry, "t.b") == 1.0


def test_publishing_twice_counts_each_record_once() -> None:
    """A publish hands over only what was counted since the previous one."""
    registry = CollectorRegistry()
    telemetry = Telemetry(ServiceMetrics(registry))
    telemetry.consumed("t.a")
    telemetry.publish()
    telemetry.publish()
    telemetry.consumed("t.a")
    telemetry.publish()
    assert _consumed(registry, "t.a") == 2.0


SESSION_TIMEOUT_MS = 45_000


def _replica_health(*, started: bool = True, poll: float = 0.1, turn: float = 0.1) -> bool:
    service = Service("svc-health")

    @service.asset("t.out", inputs=["t.in"])
    def out(ctx, t_in):  # type: ignore[no-untyped-def]  # pragma: no cover - never run
        return ctx.output()

    healthy, body = health(
        service,
        instance="host:1",
        started=started,
        seconds_since_poll=poll,
        seconds_since_turn=turn,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        indices=[0, 2],
        runs_in_flight=1,
    )
    assert body["seconds_since_poll"] == round(poll, 3)
    assert body["seconds_since_turn"] == round(turn, 3)
    assert body["assigned_indices"] == [0, 2]
    return healthy


def test_a_started_replica_that_polls_and_turns_is_healthy() -> None:
    """Started, polled and came round its loop just now: healthy, with the facts reported."""
    assert _replica_health()


def test_a_replica_not_started_yet_is_not_healthy() -> None:
    """Before its first assignment is restored a replica answers 503."""
    assert not _replica_health(started=False)


def test_a_poll_thread_stuck_past_the_session_timeout_is_not_healthy() -> None:
    """No poll for longer than the session timeout (at least 30 s) fails the check."""
    limit = max(HEALTHY_POLL_SECONDS, SESSION_TIMEOUT_MS / 1000)
    assert _replica_health(poll=limit - 1)
    assert not _replica_health(poll=limit + 1)


def test_a_loop_stuck_past_the_session_timeout_is_not_healthy() -> None:
    """The poll thread keeps the group even when the loop is stuck, so the loop counts too."""
    limit = max(HEALTHY_POLL_SECONDS, SESSION_TIMEOUT_MS / 1000)
    assert _replica_health(turn=limit - 1)
    assert not _replica_health(turn=limit + 1)
