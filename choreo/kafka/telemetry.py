"""What a running service tells the outside: metrics, log lines, the observer hook, lag, health.

All of it happens per input record and per run, on the loop thread, so it is kept cheap: counts
and run durations are gathered in plain Python and handed to the metrics once per turn of the
loop (``publish``; a Prometheus update takes a lock and several calls, and a busy service reads
hundreds of records a turn), metric children are looked up once per asset or topic, the logger
is bound once when the runner starts, and log fields are only built when their level is enabled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException

from choreo.events import AssetEvent
from choreo.metrics import ServiceMetrics
from choreo.runtime.durations import format_duration
from choreo.runtime.effects import StartRun
from choreo.runtime.executor import RunOutcome, Succeeded
from choreo.runtime.triggers import Blocked
from choreo.service import Service

log = structlog.get_logger("choreo.kafka.runner")

#: How often consumer lag is measured for the metrics.
LAG_INTERVAL_SECONDS = 10.0
#: A replica whose poll thread has not polled, or whose loop has not come round, for this long
#: (or a session timeout, if longer) is unhealthy.
HEALTHY_POLL_SECONDS = 30.0

Observer = Callable[[str, dict[str, Any]], None]


class Telemetry:
    """Metrics, logs and the run observer of one service runner."""

    def __init__(self, metrics: ServiceMetrics, observer: Observer | None = None) -> None:
        self.metrics = metrics
        self._observer = observer
        self._log: Any = log
        self._info = True
        self._children: dict[tuple[object, ...], Any] = {}
        self._next_lag = 0.0
        self._counts: dict[tuple[Any, ...], int] = {}
        self._durations: dict[str, list[float]] = {}
        self._succeeded_at: dict[str, float] = {}

    def start(self, **fields: Any) -> None:
        """Bind the logger (with ``fields``) once the process has configured logging."""
        self._log = log.bind(**fields)
        enabled = getattr(self._log, "is_enabled_for", None)
        self._info = enabled(logging.INFO) if enabled is not None else True

    @property
    def log(self) -> Any:
        """The runner's bound logger."""
        return self._log

    def consumed(self, topic: str) -> None:
        """A record was read from ``topic``."""
        self._count(self.metrics.consumed, topic)

    def in_flight(self, runs: int) -> None:
        """``runs`` are in flight now."""
        self.metrics.in_flight.set(runs)

    def publish(self) -> None:
        """Hand what was counted since the last call to the metrics (once per turn of the loop,
        and before the runner stops)."""
        if self._counts:
            counts, self._counts = self._counts, {}
            for (metric, *labels), amount in counts.items():
                self._child(metric, *labels).inc(amount)
        if self._durations:
            durations, self._durations = self._durations, {}
            for asset, seconds in durations.items():
                child = self._child(self.metrics.run_seconds, asset)
                for value in seconds:
                    child.observe(value)
        if self._succeeded_at:
            succeeded, self._succeeded_at = self._succeeded_at, {}
            for asset, at in succeeded.items():
                self._child(self.metrics.last_success, asset).set(at)

    def run_started(self, run: StartRun) -> None:
        """A run was handed to the workers."""
        planned = run.planned
        if self._observer is not None:
            self._observer(
                "run.started", {"asset": run.definition.key, "partition": planned.output_partition}
            )
        if self._info:
            self._log.info(
                "run.started",
                asset=run.definition.key,
                partition=planned.output_partition,
                run_id=run.ctx.run_id,
                correlation_id=str(run.ctx.correlation_id),
                inputs=[f"{v.asset}@{v.partition}={v.version}" for v in planned.input_versions()],
            )

    def run_finished(self, run: StartRun, outcome: RunOutcome, event: AssetEvent) -> None:
        """A run's output event was acknowledged."""
        asset = run.definition.key
        metrics = self.metrics
        succeeded = isinstance(outcome, Succeeded)
        self._count(metrics.runs, asset, "succeeded" if succeeded else "failed")
        self._durations.setdefault(asset, []).append(outcome.seconds)
        self._count(metrics.published, asset, event.kind)  # a StrEnum: its label is its value
        if succeeded:
            self._succeeded_at[asset] = time.time()
        if self._info:
            self._log.info(
                "run.finished",
                asset=asset,
                partition=event.partition,
                run_id=run.ctx.run_id,
                event_id=str(event.event_id),
                kind=event.kind.value,
                correlation_id=str(event.correlation_id),
                attempts=outcome.attempts,
                seconds=round(outcome.seconds, 4),
            )
        if self._observer is not None:
            self._observer("run.finished", {"event": event})

    def blocked(self, asset: str, blocked: Blocked) -> None:
        """An output partition cannot run."""
        if self._info:
            self._log.info(
                "run.blocked",
                asset=asset,
                partition=blocked.output_partition,
                reason=blocked.reason,
            )

    def measure_lag(self, consumer: Consumer | None) -> None:
        """Record each assigned partition's lag, at most every ``LAG_INTERVAL_SECONDS``."""
        if consumer is None or time.monotonic() < self._next_lag:
            return
        self._next_lag = time.monotonic() + LAG_INTERVAL_SECONDS
        try:
            for tp in consumer.position(consumer.assignment()):
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                        max(0, high - tp.offset)
                    )
        except KafkaException as exc:
            self._log.debug("lag.unavailable", error=str(exc))

    def _count(self, metric: Any, *labels: str) -> None:
        key = (metric, *labels)
        self._counts[key] = self._counts.get(key, 0) + 1

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: prometheus-client's lookup is slow."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


def health(
    service: Service,
    *,
    instance: str,
    started: bool,
    seconds_since_poll: float,
    seconds_since_turn: float,
    session_timeout_ms: int,
    indices: Iterable[int],
    runs_in_flight: int,
) -> tuple[bool, dict[str, Any]]:
    """What ``/healthz`` says: healthy once started, polling and coming round its loop, with
    the replica's facts.

    The poll thread keeps the replica in its group even when the loop is stuck (say in a
    function that always ran short on the loop and now never returns), so both are checked.
    """
    limit = max(HEALTHY_POLL_SECONDS, session_timeout_ms / 1000)
    healthy = started and seconds_since_poll < limit and seconds_since_turn < limit
    return healthy, {
        "service": service.name,
        "instance": instance,
        "assigned_indices": sorted(indices),
        "runs_in_flight": runs_in_flight,
        "seconds_since_poll": round(seconds_since_poll, 3),
        "seconds_since_turn": round(seconds_since_turn, 3),
        "freshness": {
            key: format_duration(d.freshness) for key, d in service.assets.items() if d.freshness
        },
    }
