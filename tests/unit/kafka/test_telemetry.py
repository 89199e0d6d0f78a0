"""Telemetry gathers counts per turn of the loop and hands them to the metrics in one go."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from choreo.kafka.telemetry import Telemetry
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
