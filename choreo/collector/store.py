"""Writing what the collector reads into SQL, one transaction per batch.

The rows a batch produces (``choreo.collector.batch_rows``: events, their inputs, the observed
and declared graph, the latest version of each asset partition, rejected records) and the offsets
that move past the batch are written in the same transaction. The database is therefore the one
record of how far the collector has read: after a crash it resumes at the stored offsets, so
nothing is lost, and a record read twice (a rebalance, a second replica) changes nothing, because
an event is keyed by its ``event_id`` and everything derived from it is written only by the
transaction whose insert of the event succeeded.

SQLite (a file, the default) and PostgreSQL take the same statements
(``choreo.collector.statements``), except where a batch learns which of its events are new:
PostgreSQL says so itself (``RETURNING``), as replicas may insert the same event at once; SQLite
has one writer, so the batch looks them up under its write lock. Rows are written in key order,
table by table, so replicas writing to one PostgreSQL database take their locks in the same order
and cannot deadlock each other.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import structlog
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError

from choreo.collector.batch_rows import (
    EVENT_COLUMNS,
    BatchPlan,
    DerivedRows,
    EventRow,
    declaration_row,
    log_rejected,
    rejected_rows,
)
from choreo.collector.consumed import Consumed, IngestResult, Rejected, Retired
from choreo.collector.millis import to_millis
from choreo.collector.statements import Statements
from choreo.collector.tables import metadata, offsets
from choreo.errors import ConfigError, UnreachableError
from choreo.events import AssetDeclared

log = structlog.get_logger(__name__)

DEFAULT_URL = "sqlite:///.choreo/collector.db"
#: Page cache per SQLite connection, in KiB.
SQLITE_CACHE_KIB = 65_536
#: Pages written to the WAL before they are copied into the database file. A batch dirties
#: about two pages per event (its ids land at random places of four indexes), so SQLite's
#: default of 1,000 would copy after every batch; this copies every few batches instead, and
#: a page rewritten meanwhile is copied once.
SQLITE_CHECKPOINT_PAGES = 10_000
#: What the WAL file is truncated back to after a checkpoint.
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024
#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
#: Attempts at one batch when PostgreSQL reports a deadlock or a serialisation failure; the
#: transaction is whole, so running it again is safe.
TRANSIENT_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.05
#: Event ids looked up per query: well under SQLite's limit of 32,766 parameters.
SQLITE_LOOKUP_CHUNK = 5_000
#: PostgreSQL SQLSTATEs that mean "run the transaction again": deadlock, serialisation failure.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
#: Any constant: the PostgreSQL advisory lock that serialises replicas creating the tables.
_CREATE_LOCK = 0x63686F72
#: Where an event row holds its ``event_id``.
_ID = EVENT_COLUMNS.index("event_id")


class StoreUnavailableError(UnreachableError):
    """The collector's database could not be reached or kept refusing the transaction."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers never block the writer; NORMAL sync is crash-safe in WAL mode (a power cut
    may roll back the last commits, offsets with them, so they are read again: still exact)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Every batch inserts into four indexes of the events table at random places (event and
        # correlation ids): a page cache bigger than the 2 MiB default keeps them from disk.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
    finally:
        cursor.close()


def _is_transient(exc: DBAPIError) -> bool:
    """A PostgreSQL deadlock or serialisation failure: running the transaction again works.
    (SQLite's "database is locked" comes after its busy timeout has already waited.)"""
    return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES


class Store:
    """The collector's database: SQLite by default, PostgreSQL by URL.

    Args:
        url: A SQLAlchemy URL, e.g. ``sqlite:///.choreo/collector.db`` (its directory is created)
            or ``postgresql+psycopg://user:password@host/db``.

    Raises:
        ConfigError: The URL is malformed or names a database choreo does not support.
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError subclasses
            raise ConfigError(f"invalid collector database URL {url!r}: {exc}") from exc
        dialect = parsed.get_backend_name()
        if dialect not in {"sqlite", "postgresql"}:
            raise ConfigError(
                f"collector database {parsed.render_as_string(hide_password=True)} is not "
                "supported: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            )
        self.url = parsed.render_as_string(hide_password=True)
        """The URL with any password hidden, for messages."""
        self.dialect = dialect
        try:
            if dialect == "sqlite":
                self._engine = self._sqlite_engine(url, parsed.database)
            else:
                self._engine = create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            raise ConfigError(
                f"the driver for {self.url} is not installed: {exc} "
                "(PostgreSQL needs: pip install 'psycopg[binary]')"
            ) from exc
        self._statements = Statements(self._engine)
        # A value the database refuses: SQLAlchemy's wrapping, or the driver's own error where
        # the driver is used directly (psycopg's executemany with returning).
        driver = self._engine.dialect.loaded_dbapi
        self._refusals: tuple[type[Exception], ...] = (DataError, driver.DataError)

    @staticmethod
    def _sqlite_engine(url: str, database: str | None) -> Engine:
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the directory of the collector database {database}: {exc}"
                ) from exc
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for readers of the tables in ``choreo.collector.tables``."""
        return self._engine

    def create(self) -> None:
        """Create the tables that do not exist yet; safe to call from replicas at once.

        Raises:
            StoreUnavailableError: The database cannot be reached.
        """
        try:
            with self._engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
                metadata.create_all(conn)
        except (OperationalError, InterfaceError) as exc:
            raise self._unavailable(exc) from exc

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """The next offset to read of every ``(topic, partition)`` ``group`` has stored.

        Raises:
            StoreUnavailableError: The database cannot be reached.
        """
        query = select(offsets.c.topic, offsets.c.partition, offsets.c.next_offset).where(
            offsets.c.consumer_group == group
        )
        try:
            with self._engine.connect() as conn:
                return {(t, p): o for t, p, o in conn.execute(query)}
        except (OperationalError, InterfaceError) as exc:
            raise self._unavailable(exc) from exc

    def ingest(self, batch: Sequence[Consumed], group: str) -> IngestResult:
        """Store a batch and the offsets past it, all in one transaction.

        Should the database refuse a value all the same, the batch is stored in halves, each in
        its own transaction with its own offsets (so still exactly once), down to the record
        it refuses, which is then kept as rejected: one bad value never stops the collector.

        Args:
            batch: Records in the order they were read.
            group: The consumer group whose offsets advance.

        Raises:
            StoreUnavailableError: The database cannot be reached, stayed locked by another
                writer past the busy timeout, or kept reporting deadlocks. Nothing of the batch
                is stored then.
        """
        if not batch:
            return IngestResult()
        try:
            return self._ingest(batch, group)
        except Exception as exc:
            if not isinstance(exc, self._refusals):
                raise
            if len(batch) > 1:
                middle = len(batch) // 2
                return self.ingest(batch[:middle], group) + self.ingest(batch[middle:], group)
            item = batch[0]
            reason = f"the database refused it: {getattr(exc, 'orig', None) or exc}"
            log_rejected(item, reason)
            return self._ingest([replace(item, content=Rejected(reason))], group)

    def _ingest(self, batch: Sequence[Consumed], group: str) -> IngestResult:
        plan = BatchPlan(batch, to_millis(datetime.now(UTC)))
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    return self._write(conn, plan, group)
            except DBAPIError as exc:
                if attempt < TRANSIENT_ATTEMPTS and _is_transient(exc):
                    log.warning("store.retrying", attempt=attempt, error=str(exc.orig))
                    time.sleep(RETRY_PAUSE_SECONDS * attempt)
                    continue
                if isinstance(exc, OperationalError | InterfaceError):
                    raise self._unavailable(exc) from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _write(self, conn: Connection, plan: BatchPlan, group: str) -> IngestResult:
        s = self._statements
        # First: on SQLite this write takes the database's write lock, which _store_events
        # relies on. On PostgreSQL it locks only this group's rows of the batch's partitions.
        conn.execute(
            s.offsets,
            [
                {"consumer_group": group, "topic": t, "partition": p, "next_offset": o}
                for (t, p), o in sorted(plan.offsets.items())
            ],
        )
        stored_ids = self._store_events(conn, plan.event_rows())
        stored = [plan.events[event_id] for event_id in sorted(stored_ids)]
        derived = DerivedRows(stored, plan)
        s.event_inputs.run(conn, derived.inputs)
        if derived.first_seen:
            conn.execute(
                s.assets_seen,
                [{"asset": a, "first_seen_ms": at} for a, at in sorted(derived.first_seen.items())],
            )
        self._write_declarations(conn, plan.declarations)
        if derived.edges:
            conn.execute(
                s.observed_edges,
                [
                    {
                        "downstream": down,
                        "upstream": up,
                        "events": count,
                        "first_seen_ms": first,
                        "last_seen_ms": last,
                    }
                    for (down, up), (count, first, last) in sorted(derived.edges.items())
                ],
            )
        latest_rows = derived.latest_rows()
        if latest_rows:
            conn.execute(s.latest, latest_rows)
        if plan.rejected:
            conn.execute(s.rejected, rejected_rows(plan.rejected, plan.now_ms))
        return IngestResult(
            stored=len(stored_ids),
            duplicates=len(plan.events) - len(stored_ids) + plan.batch_duplicates,
            declared=plan.declared,
            retired=plan.retired,
            rejected=len(plan.rejected),
        )

    def _store_events(self, conn: Connection, rows: list[EventRow]) -> set[str]:
        """Insert the events not stored yet; return the ids this transaction stored."""
        if not rows:
            return set()
        s = self._statements
        if self.dialect == "postgresql":
            # Replicas may insert the same event at once: the database says who won.
            return s.events_returning.returned(conn, rows)
        # SQLite has one writer at a time and this transaction already holds the write lock,
        # so what is stored cannot change between this look-up and the insert.
        ids = [row[_ID] for row in rows]
        known: set[str] = set()
        for start in range(0, len(ids), SQLITE_LOOKUP_CHUNK):
            chunk = ids[start : start + SQLITE_LOOKUP_CHUNK]
            known.update(conn.scalars(s.known_events, {"ids": chunk}))
        new = [row for row in rows if row[_ID] not in known] if known else rows
        s.events.run(conn, new)
        return {row[_ID] for row in new}

    def _write_declarations(
        self, conn: Connection, declarations: Mapping[str, AssetDeclared | Retired]
    ) -> None:
        if not declarations:
            return
        s = self._statements
        ordered = sorted(declarations.items())
        conn.execute(s.declare, [declaration_row(a, d) for a, d in ordered])
        conn.execute(s.undeclare_edges, [{"b_asset": a} for a, _ in ordered])
        edges = sorted(
            {
                (asset, upstream)
                for asset, d in ordered
                if isinstance(d, AssetDeclared)
                for upstream in d.inputs
            }
        )
        if edges:
            conn.execute(s.declared_edges, [{"downstream": d, "upstream": u} for d, u in edges])

    def _unavailable(self, exc: DBAPIError) -> StoreUnavailableError:
        return StoreUnavailableError(f"collector database {self.url} failed: {exc.orig}")

    def close(self) -> None:
        """Close the connections of the pool."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
