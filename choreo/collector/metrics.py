"""Per-asset freshness for Prometheus: when each asset was last updated, its status, and how late
it is, read from the lineage queries when Prometheus scrapes.

A custom collector rather than gauges set by hand, so an asset's series appear and disappear with
the asset and its status, and nothing is computed between scrapes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from choreo.collector.views import AssetSummary, Status


class SummarySource(Protocol):
    """What the metrics read: every asset's summary, and the time it was judged at."""

    def summaries(self) -> list[AssetSummary]: ...

    def now(self) -> datetime: ...


def lateness_seconds(summary: AssetSummary, now: datetime) -> float:
    """Seconds past the asset's freshness deadline (0 when on time or without a deadline)."""
    if summary.freshness_seconds is None or summary.last_updated_at is None:
        return 0.0
    age = (now - summary.last_updated_at).total_seconds()
    return max(0.0, age - summary.freshness_seconds)


class AssetMetrics:
    """Registers itself on ``registry`` and answers each scrape from ``source``.

    Series: ``choreo_asset_last_update_timestamp_seconds{asset}``, ``choreo_asset_status{asset,
    status}`` (1, for the current status only), ``choreo_asset_lateness_seconds{asset}`` (assets
    with a declared freshness) and ``choreo_assets{status}`` (how many assets have each status).
    """

    def __init__(self, source: SummarySource, registry: CollectorRegistry) -> None:
        self._source = source
        registry.register(self)

    def describe(self) -> list[Metric]:
        """Nothing up front: the series depend on the assets at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The series for every asset, as of now."""
        summaries = self._source.summaries()
        now = self._source.now()
        updated = GaugeMetricFamily(
            "choreo_asset_last_update_timestamp_seconds",
            "Unix time of the newest UPDATED event of each asset.",
            labels=["asset"],
        )
        status = GaugeMetricFamily(
            "choreo_asset_status",
            "1 for each asset's current status (fresh, stale, failed, late, never_built).",
            labels=["asset", "status"],
        )
        late = GaugeMetricFamily(
            "choreo_asset_lateness_seconds",
            "Seconds past each asset's declared freshness (0 when on time).",
            labels=["asset"],
        )
        counts: Counter[Status] = Counter()
        for summary in summaries:
            counts[summary.status] += 1
            status.add_metric([summary.asset, summary.status.value], 1.0)
            if summary.last_updated_at is not None:
                updated.add_metric([summary.asset], summary.last_updated_at.timestamp())
            if summary.freshness_seconds is not None:
                late.add_metric([summary.asset], lateness_seconds(summary, now))
        totals = GaugeMetricFamily(
            "choreo_assets", "How many assets have each status.", labels=["status"]
        )
        for each in Status:
            totals.add_metric([each.value], float(counts[each]))
        yield from (updated, status, late, totals)
