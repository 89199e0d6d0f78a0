"""Writing what the collector reads into SQL, one transaction per batch.

The rows a batch produces (events, their inputs, the observed and declared graph, the latest
version of each asset partition, rejected records) and the offsets that move past the batch are
written in the same transaction. The database is therefore the one record of how far the
collector has read: after a crash it resumes at the stored offsets, so nothing is lost, and a
record read twice (a rebalance, a second replica) changes nothing, because an event is keyed by
its ``event_id`` and everything derived from it is written only by the transaction whose insert
of the event succeeded.

SQLite (a file, the default) and PostgreSQL take the same statements (``INSERT … ON CONFLICT``
exists in both), except where a batch learns which of its events are new: PostgreSQL says so
itself (``RETURNING``), as replicas may insert the same event at once; SQLite has one writer,
so the batch looks them up under its write lock. Rows are written in key order, table by table,
so replicas writing to one PostgreSQL database take their locks in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from choreo.collector.tables import (
    NO_PARTITION,
    REJECTED_VALUE_MAX,
    assets,
    declared_edges,
    event_inputs,
    events,
    latest,
    metadata,
    observed_edges,
    offsets,
    rejected,
)
from choreo.errors import ConfigError, UnreachableError
from choreo.events import AssetDeclared, AssetEvent, EventKind

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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_MS = timedelta(milliseconds=1)


class StoreUnavailableError(UnreachableError):
    """The collector's database could not be reached or kept refusing the transaction."""


@dataclass(frozen=True, slots=True)
class Retired:
    """A tombstone on the declarations topic: the asset's declaration was withdrawn."""

    asset: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the collector could not use, and why."""

    reason: str


Content = AssetEvent | AssetDeclared | Retired | Rejected
"""What one consumed record turned out to be."""


@dataclass(frozen=True, slots=True)
class Consumed:
    """One record read from Kafka: where it was, what it held, and its bytes (kept with the
    reason when it cannot be stored)."""

    topic: str
    partition: int
    offset: int
    content: Content
    key: bytes | None = None
    value: bytes | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing one batch (or, summed, many) did."""

    stored: int = 0
    """Events stored for the first time."""
    duplicates: int = 0
    """Events whose ``event_id`` was already stored (or came twice in the batch)."""
    declared: int = 0
    """Declarations applied."""
    retired: int = 0
    """Declarations withdrawn by a tombstone."""
    rejected: int = 0
    """Records that could not be used, kept in ``choreo_rejected``."""

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(IngestResult))
        )


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding)."""
    return (value - _EPOCH) // _MS


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


def _limit(column: str, table: Table = events) -> int:
    length = getattr(table.c[column].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{table.name}.{column} has no length")
    return length


# The longest texts the bounded columns take (PostgreSQL refuses longer ones; SQLite would keep
# them): a record with a longer one is rejected rather than failing its whole batch for ever.
# Asset and partition keys are validated shorter than their columns already.
_VERSION_MAX = _limit("version")
_NAME_MAX = _limit("producer_service")
_ERROR_TYPE_MAX = _limit("error_type")
_TRIGGER_MAX = _limit("trigger", assets)
if {_limit(c) for c in ("producer_instance", "code_version", "run_id")} | {
    _limit(c, assets) for c in ("service", "owner", "code_version")
} != {_NAME_MAX} or _limit("version", event_inputs) != _VERSION_MAX:
    raise TypeError("collector column lengths changed: update unstorable()")


def unstorable(record: AssetEvent | AssetDeclared) -> str | None:
    """Why ``record`` cannot be stored as it is, or ``None`` when it can: a text longer than
    its column, or one holding a NUL character (PostgreSQL refuses both; SQLite would keep them,
    and the two stores keep the same records)."""
    texts: list[tuple[str, str | None, int | None]]
    if isinstance(record, AssetEvent):
        producer, error = record.producer, record.error
        texts = [
            ("version", record.version, _VERSION_MAX),
            ("producer.service", producer.service, _NAME_MAX),
            ("producer.instance", producer.instance, _NAME_MAX),
            ("producer.code_version", producer.code_version, _NAME_MAX),
            ("run_id", record.run_id, _NAME_MAX),
            ("location", record.location, None),
            ("error.type", None if error is None else error.type, _ERROR_TYPE_MAX),
            ("error.message", None if error is None else error.message, None),
        ]
        texts.extend(
            (f"inputs[{i}].version", v.version, _VERSION_MAX) for i, v in enumerate(record.inputs)
        )
    else:
        texts = [
            ("service", record.service, _NAME_MAX),
            ("owner", record.owner, _NAME_MAX),
            ("description", record.description, None),
            ("code_version", record.code_version, _NAME_MAX),
            ("trigger", record.trigger, _TRIGGER_MAX),
        ]
    for name, value, limit in texts:
        if value is None:
            continue
        if limit is not None and len(value) > limit:
            return f"{name} is {len(value)} characters; the collector stores at most {limit}"
        if "\x00" in value:
            return f"{name} holds a NUL character, which the collector cannot store"
    return None


EventRow = tuple[Any, ...]
"""A row of ``choreo_events``: the values of ``_EVENT_COLUMNS``, in that order."""
_EVENT_COLUMNS = (
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
_INPUT_COLUMNS = ("event_id", "position", "asset", "partition", "version", "input_event_id")


class _Plan:
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
                log.warning(
                    "record.rejected",
                    topic=item.topic,
                    partition=item.partition,
                    offset=item.offset,
                    error=reason,
                )
            if isinstance(content, AssetEvent):
                event_id = str(content.event_id)
                if event_id in self.events:
                    self.batch_duplicates += 1
                else:
                    self.events[event_id] = (content, self._event_row(event_id, item, content))
            elif isinstance(content, AssetDeclared):
                self.declarations[content.asset] = content  # the last one of an asset wins
                self.declared += 1
                at = epoch_ms(content.declared_at)
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
            (e.occurred_at - _EPOCH) // _MS,
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


class _Derived:
    """The rows derived from the events this transaction stored first, and from declarations."""

    def __init__(self, stored: Iterable[tuple[AssetEvent, EventRow]], plan: _Plan) -> None:
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


def _declaration_row(asset: str, declaration: AssetDeclared | Retired) -> dict[str, Any]:
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
            "declared_at_ms": epoch_ms(declaration.declared_at),
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


class _Bulk:
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


class _Statements:
    """The statements of one dialect, built once (SQLAlchemy then caches their compilation)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert

        new_events = insert(events).on_conflict_do_nothing(index_elements=["event_id"])
        self.events = _Bulk(new_events, _EVENT_COLUMNS, dialect)
        self.events_returning = _Bulk(
            new_events.returning(events.c.event_id), _EVENT_COLUMNS, dialect
        )
        self.known_events = select(events.c.event_id).where(
            events.c.event_id.in_(bindparam("ids", expanding=True))
        )
        self.event_inputs = _Bulk(insert(event_inputs), _INPUT_COLUMNS, dialect)

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
        self._statements = _Statements(self._engine)
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
            log.warning(
                "record.rejected",
                topic=item.topic,
                partition=item.partition,
                offset=item.offset,
                error=reason,
            )
            return self._ingest([replace(item, content=Rejected(reason))], group)

    def _ingest(self, batch: Sequence[Consumed], group: str) -> IngestResult:
        plan = _Plan(batch, epoch_ms(datetime.now(UTC)))
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

    def _write(self, conn: Connection, plan: _Plan, group: str) -> IngestResult:
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
        derived = _Derived(stored, plan)
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
            conn.execute(s.rejected, self._rejected_rows(plan.rejected, plan.now_ms))
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
        conn.execute(s.declare, [_declaration_row(a, d) for a, d in ordered])
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

    @staticmethod
    @staticmethod
    def _rejected_rows(
        found: Mapping[tuple[str, int, int], tuple[Consumed, str]], now_ms: int
    ) -> list[dict[str, Any]]:
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

    def _unavailable(self, exc: DBAPIError) -> StoreUnavailableError:
        return StoreUnavailableError(f"collector database {self.url} failed: {exc.orig}")

    def close(self) -> None:
        """Close the connections of the pool."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
