"""A run longer than max.poll.interval.ms does not cost the service its group membership."""

from __future__ import annotations

import time

from choreo import Emitter, Service
from choreo.settings import Settings

from .services_support import at_least, collect, running

POLL_INTERVAL_MS = 7_000
RUN_SECONDS = 10.0


def test_run_longer_than_max_poll_interval_completes_without_rebalance(settings: Settings) -> None:
    """A 10 s run with max.poll.interval.ms=7 s finishes and is announced exactly once."""
    long_settings = settings.model_copy(
        # librdkafka wants max.poll.interval.ms >= session.timeout.ms in every client.
        update={
            "kafka": {"max.poll.interval.ms": str(POLL_INTERVAL_MS), "session.timeout.ms": "6000"}
        }
    )
    svc = Service("svc-slow")

    @svc.asset("t.slow", inputs=["t.raw"])
    def slow(ctx, raw):  # type: ignore[no-untyped-def]
        time.sleep(RUN_SECONDS)  # stands in for a long transformation
        return ctx.output(done=raw.version)

    with running(svc, long_settings) as runner, Emitter(long_settings) as emitter:
        emitter.updated("t.raw", version="r1")
        [event] = collect(long_settings, "t.slow", until=at_least(1), timeout=60)
        time.sleep(1)
        assigned = runner.assigned_indices
        events = collect(long_settings, "t.slow", until=at_least(2), timeout=3)
    assert event.metadata == {"done": "r1"}
    assert len(events) == 1  # not rerun by another member after a lost assignment
    assert assigned  # still holds its partitions
