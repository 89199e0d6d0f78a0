"""Prometheus metrics, one class per process over an injected ``CollectorRegistry`` (no module
globals, so tests and several services in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


#: Buckets for run durations: from quick SQL to long transformations.
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class ServiceMetrics(EmitterMetrics):
    """What a running service exposes on its ``--metrics-port``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.consumed = Counter(
            "choreo_events_consumed_total",
            "Records read from input and request topics.",
            ["topic"],
            registry=self.registry,
        )
        self.runs = Counter(
            "choreo_runs_total",
            "Runs of asset functions by outcome (succeeded, failed).",
            ["asset", "outcome"],
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "choreo_run_seconds",
            "Duration of runs, all attempts included.",
            ["asset"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "choreo_dead_letters_total",
            "Records sent to the dead-letter topic.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "choreo_consumer_lag",
            "Records not yet consumed, per input topic partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "choreo_last_success_timestamp_seconds",
            "Unix time of the last successful run of each asset.",
            ["asset"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "choreo_runs_in_flight",
            "Runs currently executing.",
            registry=self.registry,
        )
