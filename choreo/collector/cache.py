"""What the collector's readers keep in memory: the graph, and every asset's judged partitions.

Walking the graph or listing assets by status must not scan tables on every request. The graph
(assets and edges: rows that change when a service is deployed or a new dependency is seen) is
reloaded only when a cheap fingerprint of its tables changes. The status snapshot (every
partition judged, summed up per asset) is rebuilt when the collector has ingested something since
(its consumed offsets moved) or the graph changed, at most once every ``refresh_seconds``, and at
least every ``max_age_seconds`` in case something else writes the tables. Lateness is not in the
snapshot: it depends on the clock, and is applied when a question is answered. Once built, the
snapshot is rebuilt in the background while the held one answers, so a rebuild (about a second
at a million events) never holds up a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from choreo.collector import rows
from choreo.collector.graph import LineageGraph
from choreo.collector.status import AssetRollup, rollups_from_rows

log = structlog.get_logger(__name__)

DEFAULT_REFRESH_SECONDS = 1.0
DEFAULT_MAX_AGE_SECONDS = 60.0


@dataclass(slots=True)
class StatusSnapshot:
    """Every asset of one graph, its partitions judged and summed up."""

    graph: LineageGraph
    rollups: Mapping[str, AssetRollup]
    token: tuple[Any, ...]
    built_at: float
    checked_at: float = field(default=0.0)


class LineageCache:
    """The graph and the status snapshot, each reloaded only when its tables changed.

    Safe to share between threads (the HTTP server answers requests on a pool): a reload holds a
    lock, and readers get immutable values.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._refresh = refresh_seconds
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._graph_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._graph: LineageGraph | None = None
        self._graph_token: tuple[Any, ...] = ()
        self._graph_checked = 0.0
        self._snapshot: StatusSnapshot | None = None
        self._rebuilding = False
        self._generation = 0

    def invalidate(self) -> None:
        """Forget both; the next question reloads them."""
        with self._graph_lock, self._snapshot_lock:
            self._graph = None
            self._snapshot = None
            self._generation += 1

    def graph(self, *, recheck: bool = False) -> LineageGraph:
        """The graph, reloaded if its tables changed (checked at most every ``refresh_seconds``,
        or now with ``recheck``)."""
        with self._graph_lock:
            now = self._monotonic()
            if self._graph is None or recheck or now - self._graph_checked >= self._refresh:
                with self._engine.connect() as conn:
                    token = rows.graph_token(conn)
                    if self._graph is None or token != self._graph_token:
                        self._graph = rows.load_graph(conn)
                        self._graph_token = token
                self._graph_checked = now
            return self._graph

    def snapshot(self) -> StatusSnapshot:
        """Every asset's judged partitions, rebuilt if the collector ingested since.

        Once there is a snapshot, checking and rebuilding happen on a background thread while
        questions are answered from the one held, so no request waits for a rebuild; with
        ``refresh_seconds=0`` (exact answers asked for) they happen inline instead.
        """
        with self._snapshot_lock:
            now = self._monotonic()
            current = self._snapshot
            if current is not None and now - current.checked_at < self._refresh:
                return current
            if current is None or self._refresh <= 0:
                self._snapshot = self._fresh(current, now)
                return self._snapshot
            current.checked_at = now
            if not self._rebuilding:
                self._rebuilding = True
                threading.Thread(
                    target=self._rebuild_in_background,
                    args=(current, self._generation),
                    name="choreo-lineage-snapshot",
                    daemon=True,
                ).start()
            return current

    def _rebuild_in_background(self, current: StatusSnapshot, generation: int) -> None:
        try:
            fresh = self._fresh(current, self._monotonic())
        except Exception:  # keep answering from the held snapshot; log it, retry later
            log.exception("collector.snapshot.rebuild_failed")
            fresh = current
        with self._snapshot_lock:
            if generation == self._generation:
                self._snapshot = fresh
            self._rebuilding = False

    def _fresh(self, current: StatusSnapshot | None, now: float) -> StatusSnapshot:
        """``current`` if nothing changed since it was built, else a new snapshot."""
        graph = self.graph()
        with self._engine.connect() as conn:
            token = rows.ingest_token(conn)
            if (
                current is not None
                and graph is current.graph
                and token == current.token
                and now - current.built_at < self._max_age
            ):
                current.checked_at = now
                return current
            heads = rows.scan_heads(conn)
            failed = rows.scan_failed(conn)
            stale = rows.scan_stale(conn)
        records = (graph.record(key) for key in graph.assets())
        rollups = rollups_from_rows(records, heads, failed, stale)
        return StatusSnapshot(graph, rollups, token, now, now)
