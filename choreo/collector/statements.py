"""The statements the store runs, built once per dialect.

SQLite and PostgreSQL take the same statements (``INSERT … ON CONFLICT`` exists in both); only
the ``insert`` construct differs. The two tables that get a row per event (or more) are written
through ``BulkInsert``, which hands rows to the driver's own ``executemany`` without SQLAlchemy's
per-row processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from choreo.collector.batch_rows import EVENT_COLUMNS, INPUT_COLUMNS
from choreo.collector.tables import (
    assets,
    declared_edges,
    event_inputs,
    events,
    latest,
    observed_edges,
    offsets,
    rejected,
)


def _newer(
    new_at: ColumnElement[Any],
    new_id: ColumnElement[Any],
    old_at: ColumnElement[Any],
    old_id: ColumnElement[Any],
) -> ColumnElement[bool]:
    """``(new_at, new_id) > (old_at, old_id)``, spelt out so both dialects read it the same."""
    return or_(new_at > old_at, and_(new_at == old_at, new_id > old_id))


def _earlier(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((new < old, new), else_=old)


def _later(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((new > old, new), else_=old)


class BulkInsert:
    """An INSERT of some columns compiled once and run as the driver's own ``executemany``.

    For the two tables that get a row per event (or more), SQLAlchemy's per-row parameter
    processing costs more than SQLite's insert itself; their rows hold only strings, integers
    and ``None``, which need no processing, so they go to the driver as tuples.
    """

    def __init__(self, statement: Insert, columns: Sequence[str], dialect: Dialect) -> None:
        compiled = statement.values({c: bindparam(c) for c in columns}).compile(dialect=dialect)
        self.sql = str(compiled)
        self._columns = tuple(columns)
        # SQLite's qmark paramstyle takes the tuples as they are, psycopg's pyformat dicts.
        self._named = not compiled.positiontup
        if not self._named and tuple(compiled.positiontup or ()) != self._columns:
            raise AssertionError(f"unexpected parameter order in {self.sql}")

    def _parameters(self, rows: Sequence[tuple[Any, ...]]) -> Sequence[Any]:
        columns = self._columns
        return [dict(zip(columns, row, strict=True)) for row in rows] if self._named else rows

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, self._parameters(rows))

    def returned(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> set[Any]:
        """Run with psycopg's ``executemany(returning=True)``; the first column of every row
        the statement returned. (One short statement, pipelined: psycopg parses it once, where a
        long multi-row ``VALUES`` would be parsed again for every batch.)"""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, self._parameters(rows), returning=True)
            returned: set[Any] = set()
            while True:
                returned.update(row[0] for row in cursor.fetchall())
                if not cursor.nextset():
                    return returned
        finally:
            cursor.close()


class Statements:
    """The statements of one dialect, built once (SQLAlchemy then caches their compilation)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert

        new_events = insert(events).on_conflict_do_nothing(index_elements=["event_id"])
        self.events = BulkInsert(new_events, EVENT_COLUMNS, dialect)
        self.events_returning = BulkInsert(
            new_events.returning(events.c.event_id), EVENT_COLUMNS, dialect
        )
        self.known_events = select(events.c.event_id).where(
            events.c.event_id.in_(bindparam("ids", expanding=True))
        )
        self.event_inputs = BulkInsert(insert(event_inputs), INPUT_COLUMNS, dialect)

        seen = insert(assets)
        self.assets_seen = seen.on_conflict_do_update(
            index_elements=["asset"],
            set_={"first_seen_ms": seen.excluded.first_seen_ms},
            where=seen.excluded.first_seen_ms < assets.c.first_seen_ms,
        )
        # Executed with the declared columns as parameters, which become its SET clause.
        self.declare = update(assets).where(assets.c.asset == bindparam("b_asset"))
        self.undeclare_edges = delete(declared_edges).where(
            declared_edges.c.downstream == bindparam("b_asset")
        )
        self.declared_edges = insert(declared_edges).on_conflict_do_nothing()

        edge = insert(observed_edges)
        self.observed_edges = edge.on_conflict_do_update(
            index_elements=["downstream", "upstream"],
            set_={
                "events": observed_edges.c.events + edge.excluded.events,
                "first_seen_ms": _earlier(
                    edge.excluded.first_seen_ms, observed_edges.c.first_seen_ms
                ),
                "last_seen_ms": _later(edge.excluded.last_seen_ms, observed_edges.c.last_seen_ms),
            },
        )

        new = insert(latest)
        x, old = new.excluded, latest.c
        newer = _newer(x.occurred_at_ms, x.event_id, old.occurred_at_ms, old.event_id)
        newer_updated = and_(
            x.updated_at_ms.is_not(None),
            or_(
                old.updated_at_ms.is_(None),
                _newer(
                    x.updated_at_ms, x.updated_event_id, old.updated_at_ms, old.updated_event_id
                ),
            ),
        )
        self.latest = new.on_conflict_do_update(
            index_elements=["asset", "partition"],
            set_={
                **{
                    name: case((newer, x[name]), else_=old[name])
                    for name in ("event_id", "kind", "version", "occurred_at_ms")
                },
                **{
                    name: case((newer_updated, x[name]), else_=old[name])
                    for name in ("updated_event_id", "updated_at_ms")
                },
            },
            where=or_(newer, newer_updated),
        )

        self.rejected = insert(rejected).on_conflict_do_nothing()

        offset = insert(offsets)
        self.offsets = offset.on_conflict_do_update(
            index_elements=["consumer_group", "topic", "partition"],
            set_={"next_offset": offset.excluded.next_offset},
        )
