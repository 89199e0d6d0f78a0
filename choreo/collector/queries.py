"""The questions the collector answers, over the tables the ingest writes.

One asset's detail, its events, an event's provenance and its OpenLineage form are read from the
tables on each call. Walks of the graph use the graph held in memory, and answers over every
asset (listing by status, stale assets, impact, the whole graph) use the status snapshot; both
are reloaded when their tables change (see ``cache``), so they trail the tables by at most
``refresh_seconds``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine

from choreo.collector import openlineage, provenance, rows, tables
from choreo.collector.cache import DEFAULT_REFRESH_SECONDS, LineageCache, StatusSnapshot
from choreo.collector.graph import DOWNSTREAM, UPSTREAM, LineageGraph
from choreo.collector.millis import from_millis, to_millis
from choreo.collector.status import (
    judge,
    partition_statuses,
    rollup,
    status_of,
    summarise,
)
from choreo.collector.views import (
    AssetDetail,
    AssetSummary,
    Declaration,
    EventView,
    GraphView,
    ImpactEntry,
    Neighbourhood,
    Page,
    ProvenanceNode,
    Status,
)
from choreo.errors import InvalidInputError, UnknownAssetError, UnknownEventError
from choreo.events.keys import validate_asset_key, validate_partition_key

MAX_LIMIT = 1_000
MAX_OFFSET = 10_000_000
MAX_DEPTH = 50
DEFAULT_DEPTH = 3
DEFAULT_PROVENANCE_DEPTH = 10
DEFAULT_LIMIT = 100
DEFAULT_HISTORY = 20
#: An asset's detail lists at most this many partitions (newest first); the summary counts all.
MAX_PARTITIONS_SHOWN = 1_000
EVENT_KINDS = frozenset({"UPDATED", "FAILED", "CHECKED", "OBSERVED"})


class HasEngine(Protocol):
    """Anything holding the collector's engine, such as its store."""

    @property
    def engine(self) -> Engine: ...


def _now() -> datetime:
    return datetime.now(UTC)


def check_range(name: str, value: int, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else ``InvalidInputError`` naming the range."""
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, not {value}")
    return value


def check_event_id(event_id: str) -> str:
    """The canonical form of an event id (a UUID), or ``InvalidInputError``."""
    try:
        return str(uuid.UUID(event_id))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInputError(f"invalid event id {event_id!r}: expected a UUID") from None


class LineageQueries:
    """Read-only answers about assets, their lineage and their status.

    Args:
        source: the collector's SQLAlchemy engine, or an object with an ``engine`` (its store).
        clock: the current time (aware), for lateness.
        refresh_seconds: how long the in-memory graph and status snapshot may trail the tables.
        namespace: the OpenLineage namespace of exported jobs and datasets.
        producer: the OpenLineage ``producer`` URI of exported events.
    """

    def __init__(
        self,
        source: Engine | HasEngine,
        *,
        clock: Callable[[], datetime] = _now,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        namespace: str = openlineage.DEFAULT_NAMESPACE,
        producer: str = openlineage.DEFAULT_PRODUCER,
    ) -> None:
        self.engine: Engine = source if isinstance(source, Engine) else source.engine
        self._clock = clock
        self._cache = LineageCache(self.engine, refresh_seconds=refresh_seconds)
        self._namespace = namespace
        self._producer = producer

    def refresh(self) -> None:
        """Drop what is held in memory, so the next answer reads the tables afresh."""
        self._cache.invalidate()

    def now(self) -> datetime:
        """The time answers are judged at (lateness), from the clock given."""
        return self._clock()

    def _now_ms(self) -> int:
        return to_millis(self._clock())

    def _graph_with(self, key: str) -> LineageGraph:
        validate_asset_key(key)
        graph = self._cache.graph()
        if key not in graph:
            graph = self._cache.graph(recheck=True)
        if key not in graph:
            raise UnknownAssetError(f"unknown asset {key!r}: no declaration or event names it")
        return graph

    def _summaries(self, snapshot: StatusSnapshot, keys: list[str]) -> list[AssetSummary]:
        now_ms = self._now_ms()
        return [summarise(snapshot.rollups[key], now_ms) for key in keys]

    def assets(
        self,
        status: Status | None = None,
        search: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> Page[AssetSummary]:
        """Assets sorted by key, optionally only those with ``status`` or whose key, service or
        owner contains ``search`` (case-insensitive)."""
        check_range("limit", limit, 0, MAX_LIMIT)
        check_range("offset", offset, 0, MAX_OFFSET)
        snapshot = self._cache.snapshot()
        keys = snapshot.graph.assets()
        if search:
            needle = search.casefold()
            keys = [
                key
                for key in keys
                if needle in key
                or needle in (snapshot.graph.record(key).service or "").casefold()
                or needle in (snapshot.graph.record(key).owner or "").casefold()
            ]
        if status is None:
            return Page(
                items=self._summaries(snapshot, keys[offset : offset + limit]),
                total=len(keys),
                limit=limit,
                offset=offset,
            )
        now_ms = self._now_ms()
        matching = [key for key in keys if status_of(snapshot.rollups[key], now_ms) is status]
        return Page(
            items=self._summaries(snapshot, matching[offset : offset + limit]),
            total=len(matching),
            limit=limit,
            offset=offset,
        )

    def stale(self) -> list[AssetSummary]:
        """Assets with a newer input version than their newest version was built from."""
        snapshot = self._cache.snapshot()
        now_ms = self._now_ms()
        keys = snapshot.graph.assets()
        stale = [key for key in keys if status_of(snapshot.rollups[key], now_ms) is Status.STALE]
        return self._summaries(snapshot, stale)

    def summaries(self) -> list[AssetSummary]:
        """Every asset's summary (what ``/metrics`` exposes)."""
        snapshot = self._cache.snapshot()
        return self._summaries(snapshot, snapshot.graph.assets())

    def graph(self) -> GraphView:
        """The whole graph: every asset with its status, every edge with its kind."""
        snapshot = self._cache.snapshot()
        return snapshot.graph.view(self._summaries(snapshot, snapshot.graph.assets()))

    def upstream(self, key: str, depth: int = DEFAULT_DEPTH) -> Neighbourhood:
        """What ``key`` is built from, to ``depth`` steps."""
        check_range("depth", depth, 0, MAX_DEPTH)
        return self._graph_with(key).neighbourhood(key, UPSTREAM, depth)

    def downstream(self, key: str, depth: int = DEFAULT_DEPTH) -> Neighbourhood:
        """What is built from ``key``, to ``depth`` steps."""
        check_range("depth", depth, 0, MAX_DEPTH)
        return self._graph_with(key).neighbourhood(key, DOWNSTREAM, depth)

    def impact(self, key: str) -> list[ImpactEntry]:
        """Everything downstream of ``key`` at any depth, nearest first, with owners and status:
        who to tell before changing it."""
        graph = self._graph_with(key)
        snapshot = self._cache.snapshot()
        now_ms = self._now_ms()

        def status(asset: str) -> Status:
            state = snapshot.rollups.get(asset)
            return Status.NEVER_BUILT if state is None else status_of(state, now_ms)

        return graph.impact(key, status)

    def asset(
        self, key: str, history_limit: int = DEFAULT_HISTORY, history_offset: int = 0
    ) -> AssetDetail:
        """One asset: status (read now, not from the snapshot), declaration, partitions, and a
        page of its events, newest first."""
        check_range("history_limit", history_limit, 0, MAX_LIMIT)
        check_range("history_offset", history_offset, 0, MAX_OFFSET)
        graph = self._graph_with(key)
        record = graph.record(key)
        with self.engine.connect() as conn:
            partitions = rows.load_partitions(conn, [key])
            pairs = [(c.asset, c.partition) for part in partitions for c in part.consumed]
            heads = rows.load_partition_heads(conn, pairs)
            events = tables.events
            history, total = rows.load_events(
                conn, [events.c.asset == key], history_limit, history_offset
            )
        verdicts = [judge(part, lambda a, p: heads.get((a, p))) for part in partitions]
        state = rollup(record, verdicts)
        now_ms = self._now_ms()
        declaration = None
        if record.service is not None:
            declaration = Declaration(
                service=record.service,
                owner=record.owner,
                description=record.description,
                inputs=graph.declared_inputs(key),
                trigger=record.trigger or "eager",
                partitioned=bool(record.partitioned),
                freshness_seconds=None
                if record.freshness_ms is None
                else record.freshness_ms / 1000,
                code_version=record.code_version,
                declared_at=from_millis(record.declared_at_ms or 0),
            )
        return AssetDetail(
            summary=summarise(state, now_ms),
            declaration=declaration,
            partitions=partition_statuses(state, verdicts, now_ms)[:MAX_PARTITIONS_SHOWN],
            history=Page(items=history, total=total, limit=history_limit, offset=history_offset),
        )

    def events(
        self,
        asset: str,
        *,
        partition: str | None = None,
        kind: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> Page[EventView]:
        """A page of one asset's events, newest first, optionally of one partition or kind."""
        check_range("limit", limit, 0, MAX_LIMIT)
        check_range("offset", offset, 0, MAX_OFFSET)
        self._graph_with(asset)
        events = tables.events
        where: list[ColumnElement[bool]] = [events.c.asset == asset]
        if partition is not None:
            where.append(events.c.partition == validate_partition_key(partition))
        if kind is not None:
            if kind.upper() not in EVENT_KINDS:
                raise InvalidInputError(f"kind must be one of {sorted(EVENT_KINDS)}, not {kind!r}")
            where.append(events.c.kind == kind.upper())
        with self.engine.connect() as conn:
            items, total = rows.load_events(conn, where, limit, offset)
        return Page(items=items, total=total, limit=limit, offset=offset)

    def event(self, event_id: str) -> EventView:
        """One event with its inputs."""
        event_id = check_event_id(event_id)
        with self.engine.connect() as conn:
            found = rows.load_event(conn, event_id)
        if found is None:
            raise UnknownEventError(f"unknown event {event_id}")
        return found

    def provenance(self, event_id: str, depth: int = DEFAULT_PROVENANCE_DEPTH) -> ProvenanceNode:
        """The exact input versions behind one event, and theirs, to ``depth`` levels."""
        event_id = check_event_id(event_id)
        check_range("depth", depth, 0, MAX_DEPTH)
        with self.engine.connect() as conn:
            tree = provenance.provenance(conn, event_id, depth)
        if tree is None:
            raise UnknownEventError(f"unknown event {event_id}")
        return tree

    def openlineage(self, event_id: str) -> dict[str, Any]:
        """One event as an OpenLineage ``RunEvent``."""
        event = self.event(event_id)
        graph = self._cache.graph()
        record = graph.record(event.asset) if event.asset in graph else None
        return openlineage.run_event(
            event, namespace=self._namespace, producer=self._producer, output=record
        )
