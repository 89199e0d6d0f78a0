"""Reading the collector's tables into records and views (SQLAlchemy Core, bound parameters only).

Every function takes an open ``Connection`` so a caller can answer one question from one
consistent read, and each loads what it needs in a fixed, small number of statements (``IN``
lists in chunks) rather than a statement per row.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from choreo.collector import tables
from choreo.collector.graph import AssetRecord, LineageGraph
from choreo.collector.millis import from_millis
from choreo.collector.status import ConsumedInput, PartitionRecord
from choreo.collector.views import EventView

#: Values per ``IN (...)`` list: far under SQLite's and PostgreSQL's bound-parameter limits, and
#: small enough that both still use the primary-key index for every value.
CHUNK = 400

#: ``(a, b) IN ((..), (..))`` would be neater, but SQLite answers it with a full scan; an OR of
#: ANDs uses the index for each term. Terms per statement:
KEY_CHUNK = 100

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def matching(columns: Sequence[Any], keys: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
    """``columns`` equal to one of ``keys``, as an OR of ANDs that each use an index."""
    return or_(*(and_(*(c == v for c, v in zip(columns, key, strict=True))) for key in keys))


def partition_of(stored: str) -> str | None:
    """A stored partition as the API shows it: ``None`` for an unpartitioned asset."""
    return None if stored == tables.NO_PARTITION else stored


def stored_partition(partition: str | None) -> str:
    """A partition as the tables store it."""
    return tables.NO_PARTITION if partition is None else partition


def graph_token(conn: Connection) -> tuple[Any, ...]:
    """A cheap fingerprint of the graph's tables: it changes when an asset, declaration or edge
    is added, or a declaration is replaced or retired, so the graph is reloaded only then."""
    a, d, o = tables.assets, tables.declared_edges, tables.observed_edges
    statement = select(
        select(func.count()).select_from(a).scalar_subquery(),
        select(func.count(a.c.declared_at_ms)).scalar_subquery(),
        select(func.sum(a.c.declared_at_ms)).scalar_subquery(),
        select(func.count()).select_from(d).scalar_subquery(),
        select(func.count()).select_from(o).scalar_subquery(),
    )
    return tuple(conn.execute(statement).one())


def ingest_token(conn: Connection) -> tuple[Any, ...]:
    """A cheap fingerprint of what the collector has ingested: its consumed offsets, which it
    writes in the same transaction as the events they carried."""
    o = tables.offsets
    statement = select(func.count(), func.coalesce(func.sum(o.c.next_offset), 0))
    return tuple(conn.execute(statement.select_from(o)).one())


def load_graph(conn: Connection) -> LineageGraph:
    """Every asset and edge, as a graph in memory."""
    a = tables.assets
    columns = (
        a.c.asset,
        a.c.service,
        a.c.owner,
        a.c.description,
        a.c.partitioned,
        a.c.trigger,
        a.c.freshness_ms,
        a.c.code_version,
        a.c.declared_at_ms,
    )
    records = [AssetRecord(*row) for row in conn.execute(select(*columns))]
    d, o = tables.declared_edges, tables.observed_edges
    declared = [(up, down) for up, down in conn.execute(select(d.c.upstream, d.c.downstream))]
    observed = [(up, down) for up, down in conn.execute(select(o.c.upstream, o.c.downstream))]
    return LineageGraph(records, declared, observed)


def updated_version(latest: Any, updated: Any) -> Any:
    """The version of a partition's newest update: its head's, unless the head is no update
    (then ``updated``, the events table joined on ``updated_event_id``)."""
    return case((latest.c.kind == "UPDATED", latest.c.version), else_=updated.c.version)


@functools.cache
def _partition_select() -> Any:
    """The newest event of partitions, with the version of their newest update and the error
    of a failure (built once: aliasing costs more than running it for one asset)."""
    latest, events = tables.latest, tables.events
    updated = events.alias("updated_event")
    failed = events.alias("failed_event")
    return (
        select(
            latest.c.asset,
            latest.c.partition,
            latest.c.event_id,
            latest.c.kind,
            latest.c.version,
            latest.c.occurred_at_ms,
            latest.c.updated_event_id,
            latest.c.updated_at_ms,
            updated_version(latest, updated),
            failed.c.error_type,
            failed.c.error_message,
        )
        .outerjoin(
            updated,
            and_(
                updated.c.event_id == latest.c.updated_event_id,
                latest.c.kind != literal("UPDATED"),
            ),
        )
        .outerjoin(
            failed,
            and_(failed.c.event_id == latest.c.event_id, latest.c.kind == literal("FAILED")),
        )
    )


_PartitionRow = tuple[str, str, str, str, str, int, str | None, int | None, str | None, Any, Any]


def _partition_record(
    row: _PartitionRow, consumed: tuple[ConsumedInput, ...] = ()
) -> PartitionRecord:
    # Positional: attribute access on tens of thousands of rows is measurably slower.
    (asset, partition, event_id, kind, version, at, updated_id, updated_at, updated_version,
     error_type, error_message) = row  # fmt: skip
    error = None
    if error_type is not None:
        error = f"{error_type}: {error_message or ''}".rstrip(": ")
    return PartitionRecord(
        asset,
        None if partition == tables.NO_PARTITION else partition,
        event_id,
        kind,
        version,
        at,
        updated_id,
        updated_at,
        updated_version,
        error,
        consumed,
    )


def consumed_select() -> Any:
    """``SELECT`` of the stored inputs of events: owner, position, what it names, and which
    event that was (add a ``WHERE`` on ``event_inputs.event_id``)."""
    inputs = tables.event_inputs
    return select(
        inputs.c.event_id,
        inputs.c.position,
        inputs.c.asset,
        inputs.c.partition,
        inputs.c.version,
        inputs.c.input_event_id,
    )


def _group_consumed(found: Iterable[Any]) -> dict[str, tuple[ConsumedInput, ...]]:
    """Input rows grouped by event, in input order (sorted here, so the database need not)."""
    grouped: dict[str, list[tuple[int, ConsumedInput]]] = {}
    for event_id, position, asset, partition, version, input_event_id in found:
        grouped.setdefault(event_id, []).append(
            (
                position,
                ConsumedInput(
                    asset,
                    None if partition == tables.NO_PARTITION else partition,
                    version,
                    input_event_id,
                ),
            )
        )
    return {
        event_id: tuple(item for _, item in sorted(items, key=lambda pair: pair[0]))
        for event_id, items in grouped.items()
    }


def load_partitions(conn: Connection, assets: Sequence[str] | None) -> list[PartitionRecord]:
    """The newest event of every partition of ``assets`` (of all assets when ``None``), each
    with the inputs its newest update was built from."""
    latest, inputs = tables.latest, tables.event_inputs
    found: list[Any] = []
    if assets is None:
        found.extend(conn.execute(_partition_select()))
        # Driven from the latest rows into the inputs' primary key (no ORDER BY: sorting here
        # would make the database walk every input row in key order instead).
        consumed = _group_consumed(
            conn.execute(
                consumed_select().where(inputs.c.event_id.in_(select(latest.c.updated_event_id)))
            )
        )
    else:
        for chunk in chunks(assets):
            found.extend(conn.execute(_partition_select().where(latest.c.asset.in_(chunk))))
        updated = [row[6] for row in found if row[6] is not None]
        consumed = {}
        for chunk in chunks(updated):
            consumed.update(
                _group_consumed(conn.execute(consumed_select().where(inputs.c.event_id.in_(chunk))))
            )
    return [_partition_record(row, consumed.get(row[6] or "", ())) for row in found]


def load_partition_heads(
    conn: Connection, pairs: Iterable[tuple[str, str | None]]
) -> dict[tuple[str, str | None], PartitionRecord]:
    """The newest event of each ``(asset, partition)`` given (inputs not loaded): what a stale
    check compares consumed versions with."""
    latest = tables.latest
    keys = sorted({(asset, stored_partition(partition)) for asset, partition in pairs})
    found: dict[tuple[str, str | None], PartitionRecord] = {}
    for chunk in chunks(keys, KEY_CHUNK):
        statement = _partition_select().where(matching((latest.c.asset, latest.c.partition), chunk))
        for row in conn.execute(statement):
            record = _partition_record(row)
            found[record.asset, record.partition] = record
    return found


def event_view(row: Row[Any], inputs: Sequence[Row[Any]]) -> EventView:
    """One ``choreo_events`` row and its ``choreo_event_inputs`` rows as an ``EventView``."""
    error = None
    if row.error_type is not None:
        error = {"type": row.error_type, "message": row.error_message, "attempt": row.error_attempt}
    return EventView(
        event_id=row.event_id,
        kind=row.kind,
        asset=row.asset,
        partition=partition_of(row.partition),
        version=row.version,
        occurred_at=from_millis(row.occurred_at_ms),
        producer_service=row.producer_service,
        producer_instance=row.producer_instance,
        code_version=row.code_version,
        run_id=row.run_id,
        correlation_id=row.correlation_id,
        location=row.location,
        metadata=json.loads(row.metadata_json) if row.metadata_json else {},
        error=error,
        inputs=[
            {
                "asset": item.asset,
                "partition": partition_of(item.partition),
                "version": item.version,
                "event_id": item.input_event_id,
            }
            for item in inputs
        ],
    )


def input_rows(conn: Connection, event_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    """The ``choreo_event_inputs`` rows of each event, in input order."""
    inputs = tables.event_inputs
    found: dict[str, list[Row[Any]]] = {}
    for chunk in chunks(event_ids):
        statement = (
            select(inputs)
            .where(inputs.c.event_id.in_(chunk))
            .order_by(inputs.c.event_id, inputs.c.position)
        )
        for row in conn.execute(statement):
            found.setdefault(row.event_id, []).append(row)
    return found


def event_rows(conn: Connection, event_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The ``choreo_events`` rows of the given ids that exist."""
    events = tables.events
    found: dict[str, Row[Any]] = {}
    for chunk in chunks(event_ids):
        for row in conn.execute(select(events).where(events.c.event_id.in_(chunk))):
            found[row.event_id] = row
    return found


def load_event(conn: Connection, event_id: str) -> EventView | None:
    """One event with its inputs, or ``None``."""
    row = event_rows(conn, [event_id]).get(event_id)
    if row is None:
        return None
    return event_view(row, input_rows(conn, [event_id]).get(event_id, []))


def load_events(
    conn: Connection, where: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[list[EventView], int]:
    """A page of events matching ``where``, newest first, and how many match in all."""
    events = tables.events
    total = conn.execute(select(func.count()).select_from(events).where(*where)).scalar_one()
    statement = (
        select(events)
        .where(*where)
        .order_by(events.c.occurred_at_ms.desc(), events.c.event_id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = conn.execute(statement).all()
    inputs = input_rows(conn, [row.event_id for row in rows])
    return [event_view(row, inputs.get(row.event_id, [])) for row in rows], int(total)
