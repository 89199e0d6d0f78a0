"""What the collector's readers keep in memory: the graph, and every asset's judged partitions.

Walking the graph or listing assets by status must not scan tables on every request. The graph
(assets and edges: rows that change when a service is deployed or a new dependency is seen) is
reloaded only when a cheap fingerprint of its tables changes. The status snapshot (every
partition judged, summed up per asset) is rebuilt when the collector has ingested something since
(its consumed offsets moved) or the graph changed, at most once every ``refresh_seconds``, and at
least every ``max_age_seconds`` in case something else writes the tables. Lateness is not in the
snapshot: it depends on the clock, and is applied when a question is answered. Once built, the
snapshot is rebuilt in the background while the held one answers, so a rebuild (about a second
at a million events) never holds up a request. The rebuild lets the database do the judging
(``scan_*``: the failed, never-built and stale partitions come back, not an object per
partition), so it spends its time in SQLite, which does not hold Python's GIL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, and_, literal, or_, select

from choreo.collector import rows, tables
from choreo.collector.graph import LineageGraph
from choreo.collector.status import (
    AssetRollup,
    FailedRow,
    HeadRow,
    StaleRow,
    rollups_from_rows,
)

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


def scan_heads(conn: Connection) -> list[HeadRow]:
    """Every partition's head: asset, partition, kind, time, and its newest update's id, time
    and version, as plain tuples (for a snapshot of every asset)."""
    latest, updated = tables.latest, tables.events.alias("updated_event")
    statement = select(
        latest.c.asset,
        latest.c.partition,
        latest.c.kind,
        latest.c.occurred_at_ms,
        latest.c.updated_event_id,
        latest.c.updated_at_ms,
        rows.updated_version(latest, updated),
    ).outerjoin(
        updated,
        and_(updated.c.event_id == latest.c.updated_event_id, latest.c.kind != literal("UPDATED")),
    )
    none = tables.NO_PARTITION
    return [
        (asset, None if partition == none else partition, kind, at, updated_id, updated_at, version)
        for asset, partition, kind, at, updated_id, updated_at, version in conn.execute(statement)
    ]


def scan_failed(conn: Connection) -> list[FailedRow]:
    """Every partition whose newest event failed, with its error."""
    latest, events = tables.latest, tables.events
    statement = (
        select(
            latest.c.asset,
            latest.c.partition,
            latest.c.occurred_at_ms,
            events.c.error_type,
            events.c.error_message,
        )
        .outerjoin(events, events.c.event_id == latest.c.event_id)
        .where(latest.c.kind == "FAILED")
    )
    found: list[FailedRow] = []
    for asset, partition, at, error_type, message in conn.execute(statement):
        error = None if error_type is None else f"{error_type}: {message or ''}".rstrip(": ")
        found.append((asset, rows.partition_of(partition), at, error))
    return found


def scan_stale(conn: Connection) -> list[StaleRow]:
    """Every consumed input that has moved on: among the inputs of each partition's newest
    update (unless the partition failed since), those whose own partition's newest update is
    another event with another version. The database compares; only stale inputs come back.

    Driven by ``IN (newest updates)`` so that SQLite walks the inputs' primary key for each
    update rather than every input row ever stored.
    """
    latest, inputs = tables.latest, tables.event_inputs
    head = latest.alias("input_head")
    updated = tables.events.alias("updated_event")
    current = rows.updated_version(head, updated)
    newest_updates = select(latest.c.updated_event_id).where(latest.c.kind != "FAILED")
    statement = (
        select(
            inputs.c.event_id,
            inputs.c.position,
            inputs.c.asset,
            inputs.c.partition,
            inputs.c.version,
            current,
        )
        .select_from(inputs)
        .join(head, and_(head.c.asset == inputs.c.asset, head.c.partition == inputs.c.partition))
        .outerjoin(
            updated,
            and_(updated.c.event_id == head.c.updated_event_id, head.c.kind != literal("UPDATED")),
        )
        .where(
            inputs.c.event_id.in_(newest_updates),
            head.c.updated_event_id.is_not(None),
            or_(
                inputs.c.input_event_id.is_(None),
                head.c.updated_event_id != inputs.c.input_event_id,
            ),
            current != inputs.c.version,
        )
    )
    return [
        (event_id, position, in_asset, rows.partition_of(in_part), used, now)
        for event_id, position, in_asset, in_part, used, now in conn.execute(statement)
    ]


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
            heads = scan_heads(conn)
            failed = scan_failed(conn)
            stale = scan_stale(conn)
        records = (graph.record(key) for key in graph.assets())
        rollups = rollups_from_rows(records, heads, failed, stale)
        return StatusSnapshot(graph, rollups, token, now, now)
