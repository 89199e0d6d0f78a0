"""What the collector's ingestion exposes on ``/metrics``: events stored, duplicates,
declarations, rejected records, batch times and lag per partition."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from choreo.collector.consumed import IngestResult

#: Buckets for the time one batch takes to store.
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class IngestMetrics:
    """What the collector's ingestion exposes on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.stored = Counter(
            "choreo_collector_events_stored_total",
            "Asset events stored for the first time.",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "choreo_collector_duplicate_events_total",
            "Asset events read again whose event_id was already stored.",
            registry=self.registry,
        )
        self.declarations = Counter(
            "choreo_collector_declarations_total",
            "Declarations applied (withdrawals by tombstone included).",
            registry=self.registry,
        )
        self.rejected = Counter(
            "choreo_collector_rejected_total",
            "Records that could not be used, kept in choreo_rejected.",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "choreo_collector_batch_seconds",
            "Time to store one batch, in one transaction.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "choreo_collector_lag",
            "Records not yet stored, per topic partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.last_batch = Gauge(
            "choreo_collector_last_batch_timestamp_seconds",
            "Unix time the last batch was stored.",
            registry=self.registry,
        )

    def observe(self, result: IngestResult, seconds: float) -> None:
        """Count one stored batch."""
        self.stored.inc(result.stored)
        self.duplicates.inc(result.duplicates)
        self.declarations.inc(result.declared + result.retired)
        self.rejected.inc(result.rejected)
        self.batch_seconds.observe(seconds)
        self.last_batch.set(time.time())
