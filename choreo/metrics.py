"""Prometheus metrics, one class per process over an injected ``CollectorRegistry`` (no module
globals, so tests and several services in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Buckets for publish/acknowledge latency: choreo aims at milliseconds per hop.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class EmitterMetrics:
    """What an emitting process exposes: events published and how long acknowledgement took."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.published = Counter(
            "choreo_events_published_total",
            "Asset events acknowledged by the broker.",
            ["asset", "kind"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "choreo_publish_failures_total",
            "Asset events the broker did not acknowledge.",
            ["asset"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "choreo_publish_ack_seconds",
            "Time from produce to broker acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
