"""A batch of consumed records reduced to the rows it writes, before any of them meets the
database.

``BatchPlan`` takes the batch apart (events keyed by ``event_id``, the last declaration of each
asset, rejected records, the offsets past the batch); ``DerivedRows`` builds what follows from
the events the transaction stored first (their inputs, first sightings, observed edges, the
latest version of each partition). Every list comes out in key order, so replicas writing to one
PostgreSQL database take their row locks in the same order and cannot deadlock each other.
Event rows are tuples rather than dicts: the store hands them to the driver as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog

from choreo.collector.consumed import Consumed, Rejected, Retired
from choreo.collector.millis import to_millis
from choreo.collector.storable import unstorable
from choreo.collector.tables import NO_PARTITION, REJECTED_VALUE_MAX
from choreo.events import AssetDeclared, AssetEvent, EventKind

log = structlog.get_logger(__name__)


def log_rejected(item: Consumed, reason: str) -> None:
    """Say which record is kept in ``choreo_rejected`` instead of the tables, and why."""
    log.warning(
        "record.rejected",
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        error=reason,
    )


EventRow = tuple[Any, ...]
"""A row of ``choreo_events``: the values of ``EVENT_COLUMNS``, in that order."""
EVENT_COLUMNS = (
    "event_id",
    "kind",
    "asset",
    "partition",
    "version",
    "occurred_at_ms",
    "producer_service",
    "producer_instance",
    "code_version",
    "run_id",
    "correlation_id",
    "location",
    "metadata_json",
    "error_type",
    "error_message",
    "error_attempt",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "ingested_at_ms",
)
_ID, _KIND, _ASSET, _PARTITION, _VERSION, _AT = range(6)
INPUT_COLUMNS = ("event_id", "position", "asset", "partition", "version", "input_event_id")


class BatchPlan:
    """A batch reduced to the rows it writes, before any of them meets the database."""

    def __init__(self, batch: Sequence[Consumed], now_ms: int) -> None:
        self.now_ms = now_ms
        # event_id -> (event, its row): the first of each event_id in the batch.
        self.events: dict[str, tuple[AssetEvent, EventRow]] = {}
        self.batch_duplicates = 0
        self.declarations: dict[str, AssetDeclared | Retired] = {}
        self.declared = self.retired = 0
        # asset -> when a declaration (even one withdrawn later in the batch) first named it
        self.declared_seen: dict[str, int] = {}
        # (topic, partition, offset) -> the record and why it cannot be stored
        self.rejected: dict[tuple[str, int, int], tuple[Consumed, str]] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        for item in batch:
            where = (item.topic, item.partition)
            if item.offset >= self.offsets.get(where, 0):
                self.offsets[where] = item.offset + 1
            content = item.content
            if isinstance(content, AssetEvent | AssetDeclared) and (reason := unstorable(content)):
                content = Rejected(reason)
                log_rejected(item, reason)
            if isinstance(content, AssetEvent):
                event_id = str(content.event_id)
                if event_id in self.events:
                    self.batch_duplicates += 1
                else:
                    self.events[event_id] = (content, self._event_row(event_id, item, content))
            elif isinstance(content, AssetDeclared):
                self.declarations[content.asset] = content  # the last one of an asset wins
                self.declared += 1
                at = to_millis(content.declared_at)
                for asset in (content.asset, *content.inputs):
                    _keep_earliest(self.declared_seen, asset, at)
            elif isinstance(content, Retired):
                self.declarations[content.asset] = content
                self.retired += 1
            else:
                self.rejected[(item.topic, item.partition, item.offset)] = (item, content.reason)

    def _event_row(self, event_id: str, item: Consumed, e: AssetEvent) -> EventRow:
        error, producer, partition, correlation = e.error, e.producer, e.partition, e.correlation_id
        return (
            event_id,
            e.kind.value,
            e.asset,
            NO_PARTITION if partition is None else partition,
            e.version,
            to_millis(e.occurred_at),
            producer.service,
            producer.instance,
            producer.code_version,
            e.run_id,
            None if correlation is None else str(correlation),
            e.location,
            json.dumps(e.metadata) if e.metadata else "{}",  # in the order it was written
            None if error is None else error.type,
            None if error is None else error.message,
            None if error is None else error.attempt,
            item.topic,
            item.partition,
            item.offset,
            self.now_ms,
        )

    def event_rows(self) -> list[EventRow]:
        """Rows for ``choreo_events``, in key order."""
        return [self.events[event_id][1] for event_id in sorted(self.events)]


class DerivedRows:
    """The rows derived from the events this transaction stored first, and from declarations."""

    def __init__(self, stored: Iterable[tuple[AssetEvent, EventRow]], plan: BatchPlan) -> None:
        self.inputs: list[tuple[Any, ...]] = []
        self.first_seen: dict[str, int] = {}
        # (downstream, upstream) -> [events, first_seen_ms, last_seen_ms]
        self.edges: dict[tuple[str, str], list[int]] = {}
        # (asset, partition) -> the row of its newest event, and of its newest UPDATED event
        self.newest: dict[tuple[str, str], EventRow] = {}
        self.newest_updated: dict[tuple[str, str], EventRow] = {}
        for asset, at in plan.declared_seen.items():
            _keep_earliest(self.first_seen, asset, at)
        for e, row in stored:
            self._add_event(e, row)

    def _add_event(self, e: AssetEvent, row: EventRow) -> None:
        event_id, asset, at = row[_ID], row[_ASSET], row[_AT]
        _keep_earliest(self.first_seen, asset, at)
        if e.inputs:
            append = self.inputs.append
            for position, i in enumerate(e.inputs):
                partition, upstream_id = i.partition, i.event_id
                append(
                    (
                        event_id,
                        position,
                        i.asset,
                        NO_PARTITION if partition is None else partition,
                        i.version,
                        None if upstream_id is None else str(upstream_id),
                    )
                )
            for upstream in {i.asset for i in e.inputs}:
                _keep_earliest(self.first_seen, upstream, at)
                edge = self.edges.get((asset, upstream))
                if edge is None:
                    self.edges[(asset, upstream)] = [1, at, at]
                else:
                    edge[0] += 1
                    edge[1] = min(edge[1], at)
                    edge[2] = max(edge[2], at)
        key = (asset, row[_PARTITION])
        _keep_newest(self.newest, key, row)
        if e.kind is EventKind.UPDATED:
            _keep_newest(self.newest_updated, key, row)

    def latest_rows(self) -> list[dict[str, Any]]:
        """Rows for ``choreo_latest``, in key order."""
        rows = []
        for key in sorted(self.newest):
            newest = self.newest[key]
            updated = self.newest_updated.get(key)
            rows.append(
                {
                    "asset": key[0],
                    "partition": key[1],
                    "event_id": newest[_ID],
                    "kind": newest[_KIND],
                    "version": newest[_VERSION],
                    "occurred_at_ms": newest[_AT],
                    "updated_event_id": None if updated is None else updated[_ID],
                    "updated_at_ms": None if updated is None else updated[_AT],
                }
            )
        return rows


def _keep_earliest(first_seen: dict[str, int], asset: str, at: int) -> None:
    known = first_seen.get(asset)
    if known is None or at < known:
        first_seen[asset] = at


def _keep_newest(
    newest: dict[tuple[str, str], EventRow], key: tuple[str, str], row: EventRow
) -> None:
    known = newest.get(key)
    if known is None or (row[_AT], row[_ID]) > (known[_AT], known[_ID]):
        newest[key] = row


def declaration_row(asset: str, declaration: AssetDeclared | Retired) -> dict[str, Any]:
    if isinstance(declaration, Retired):
        values: dict[str, Any] = dict.fromkeys(_DECLARED_COLUMNS)
    else:
        values = {
            "service": declaration.service,
            "owner": declaration.owner,
            "description": declaration.description,
            "partitioned": declaration.partitioned,
            "trigger": declaration.trigger,
            "freshness_ms": declaration.freshness_ms,
            "code_version": declaration.code_version,
            "declared_at_ms": to_millis(declaration.declared_at),
        }
    return {"b_asset": asset, **values}


_DECLARED_COLUMNS = (
    "service",
    "owner",
    "description",
    "partitioned",
    "trigger",
    "freshness_ms",
    "code_version",
    "declared_at_ms",
)


def rejected_rows(
    found: Mapping[tuple[str, int, int], tuple[Consumed, str]], now_ms: int
) -> list[dict[str, Any]]:
    """Rows for ``choreo_rejected``, in key order, each with (the start of) its bytes."""
    return [
        {
            "topic": topic,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "reason": reason,
            "key": item.key,
            "value": None if item.value is None else item.value[:REJECTED_VALUE_MAX],
            "value_size": 0 if item.value is None else len(item.value),
            "rejected_at_ms": now_ms,
        }
        for (topic, partition, offset), (item, reason) in sorted(found.items())
    ]
