"""What a service replica's ``/healthz`` says."""

from __future__ import annotations

from choreo import Service
from choreo.kafka.telemetry import HEALTHY_POLL_SECONDS, health

SESSION_TIMEOUT_MS = 45_000


def replica_health(*, started: bool = True, poll: float = 0.1, turn: float = 0.1) -> bool:
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
    assert replica_health()


def test_a_replica_not_started_yet_is_not_healthy() -> None:
    assert not replica_health(started=False)


def test_a_poll_thread_stuck_past_the_session_timeout_is_not_healthy() -> None:
    limit = max(HEALTHY_POLL_SECONDS, SESSION_TIMEOUT_MS / 1000)
    assert replica_health(poll=limit - 1)
    assert not replica_health(poll=limit + 1)


def test_a_loop_stuck_past_the_session_timeout_is_not_healthy() -> None:
    """The poll thread keeps the group even when the loop is stuck, so the loop counts too."""
    limit = max(HEALTHY_POLL_SECONDS, SESSION_TIMEOUT_MS / 1000)
    assert replica_health(turn=limit - 1)
    assert not replica_health(turn=limit + 1)
