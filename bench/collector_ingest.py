"""How fast the collector stores events, into SQLite and PostgreSQL, beside a bare insert.

Workload: N events (default 50,000) over 20 assets and 30 partitions, each built from one or two
input versions and carrying a location and three metadata values (the shape services announce),
prepared up front as the records the collector's consumer hands its store.

- choreo: ``Store.ingest`` in batches of B (default: the collector's, 5,000), one transaction
  each: the duplicate check, the events, their inputs, assets, observed edges, the latest
  version of each partition and the offsets.
- baseline: the same events as rows of the events table's columns, inserted by the database
  driver's own ``executemany`` into a bare table with only a primary key, one transaction per
  batch, rows prepared before the clock starts. The ratio is what the collector costs over
  storing the events alone.
- schema only (SQLite): the same events and their inputs, by raw ``executemany`` into choreo's
  own two tables with all their indexes and the store's SQLite settings: what the tables cost
  without any of choreo's code.

Each side gets a fresh database per round, alternating, after a short warm-up round; the figure
is the median of R rounds, in events per wall-clock second, with this process's CPU time per
event beside it (the machine may be shared). The prepared workload is frozen out of the garbage
collector's sight (``gc.freeze``): a collector only ever holds one batch. SQLite runs in WAL mode
with ``synchronous=NORMAL`` on every side. PostgreSQL is ``$CHOREO_BENCH_POSTGRES_URL``, or a
server started from Debian's binaries by the integration tests' helper; without either, it is
skipped.

With ``--kafka`` it also measures the whole collector (consume, decode, store into SQLite) from
the embedded broker, beside a consumer that only reads and decodes the same records.

Run: ``PYTHONPATH=. python bench/collector_ingest.py [--events N] [--batch B] [--rounds R]
[--kafka] [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, create_engine

from choreo import Settings
from choreo.codec import AvroCodec
from choreo.collector import tables
from choreo.collector.consumed import Consumed
from choreo.collector.ingest import DEFAULT_BATCH_SIZE, Collector, CollectorOptions
from choreo.collector.millis import to_millis
from choreo.collector.store import SQLITE_CACHE_KIB, SQLITE_CHECKPOINT_PAGES, Store
from choreo.events import AssetEvent, InputVersion, ProducerInfo
from choreo.events.topics import asset_topic
from choreo.logs import configure_logging

POSTGRES_ENV = "CHOREO_BENCH_POSTGRES_URL"
BOOTSTRAP_ENV = "CHOREO_BENCH_BOOTSTRAP_SERVERS"
TARGET_SQLITE = 20_000
DEFAULT_EVENTS = 50_000
QUICK_EVENTS = 10_000
DEFAULT_ROUNDS = 3
WARM_UP_EVENTS = 2_000
ASSETS = 20
PARTITIONS = 30
GROUP = "bench"
COLUMNS = [c.name for c in tables.events.columns]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Figure:
    """One round of one side: events stored, wall seconds and CPU seconds."""

    events: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.events * 1e6


def workload(count: int) -> list[Consumed]:
    """``count`` events as consumed records, spread over the assets' topics and partitions."""
    producer = ProducerInfo(service="bench", instance="bench-1", code_version="1")
    records = []
    offsets: dict[tuple[str, int], int] = {}
    for i in range(count):
        asset = f"shop.asset_{i % ASSETS:02d}"
        upstream = f"shop.asset_{(i + 1) % ASSETS:02d}"
        partition = f"2026-11-{1 + i % PARTITIONS:02d}"
        inputs = [InputVersion(asset=upstream, partition=partition, version=f"u{i}")]
        if i % 2:
            inputs.append(InputVersion(asset="shop.customers", version="c1"))
        event = AssetEvent(
            asset=asset,
            partition=partition,
            version=f"v{i}",
            occurred_at=T0 + timedelta(milliseconds=i),
            producer=producer,
            run_id=f"run-{i}",
            correlation_id=uuid.uuid4(),
            inputs=tuple(inputs),
            location=f"s3://warehouse/{asset}/{partition}",
            metadata={"rows": i, "bytes": i * 100, "source": "bench"},
        )
        where = (asset_topic("choreo.", asset), i % 3)
        offset = offsets.get(where, 0)
        offsets[where] = offset + 1
        records.append(Consumed(*where, offset, event))
    return records


def row_of(record: Consumed) -> tuple[Any, ...]:
    """The baseline's row: the events table's columns, as the store would fill them."""
    e = record.content
    if not isinstance(e, AssetEvent):
        raise TypeError("the workload holds events only")
    values = {
        "event_id": str(e.event_id),
        "kind": e.kind.value,
        "asset": e.asset,
        "partition": e.partition or "",
        "version": e.version,
        "occurred_at_ms": to_millis(e.occurred_at),
        "producer_service": e.producer.service,
        "producer_instance": e.producer.instance,
        "code_version": e.producer.code_version,
        "run_id": e.run_id,
        "correlation_id": str(e.correlation_id),
        "location": e.location,
        "metadata_json": "{}",
        "error_type": None,
        "error_message": None,
        "error_attempt": None,
        "topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.offset,
        "ingested_at_ms": 0,
    }
    return tuple(values[name] for name in COLUMNS)


def bare_table() -> Table:
    """A table with the events table's columns and nothing but its primary key."""
    return Table(
        "bench_bare_events",
        MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key) for c in tables.events.columns),
    )


def timed(action: Callable[[], int]) -> Figure:
    wall, cpu = time.perf_counter(), time.process_time()
    events = action()
    return Figure(events, time.perf_counter() - wall, time.process_time() - cpu)


def run_choreo(url: str, records: Sequence[Consumed], batch: int) -> Figure:
    with Store(url) as store:
        store.create()

        def ingest() -> int:
            stored = 0
            for start in range(0, len(records), batch):
                stored += store.ingest(records[start : start + batch], GROUP).stored
            return stored

        figure = timed(ingest)
    if figure.events != len(records):
        raise SystemExit(f"choreo stored {figure.events} of {len(records)} events")
    return figure


def run_sqlite_baseline(path: Path, rows: Sequence[tuple[Any, ...]], batch: int) -> Figure:
    engine = create_engine(f"sqlite:///{path}")
    bare_table().metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO bench_bare_events VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608

    def insert() -> int:
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN")
            conn.executemany(sql, rows[start : start + batch])
            conn.execute("COMMIT")
        return len(rows)

    try:
        return timed(insert)
    finally:
        conn.close()


def input_rows(records: Sequence[Consumed]) -> list[list[tuple[Any, ...]]]:
    """Each record's rows of the event inputs table, for the schema-only measurement."""
    rows = []
    for record in records:
        e = record.content
        if not isinstance(e, AssetEvent):
            raise TypeError("the workload holds events only")
        rows.append(
            [
                (str(e.event_id), i, v.asset, v.partition or "", v.version, None)
                for i, v in enumerate(e.inputs)
            ]
        )
    return rows


def run_sqlite_schema(
    path: Path, rows: Sequence[tuple[Any, ...]], inputs: Sequence[list[tuple[Any, ...]]], batch: int
) -> Figure:
    """The events and their inputs, by raw executemany into choreo's own two tables (with all
    their indexes) and the store's SQLite settings: what the schema costs without choreo."""
    with Store(f"sqlite:///{path}") as store:
        store.create()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"cache_size=-{SQLITE_CACHE_KIB}",
        f"wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}",
    ):
        conn.execute(f"PRAGMA {pragma}")
    events_sql = f"INSERT INTO choreo_events VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
    inputs_sql = "INSERT INTO choreo_event_inputs VALUES (?, ?, ?, ?, ?, ?)"

    def insert() -> int:
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN")
            conn.executemany(events_sql, rows[start : start + batch])
            conn.executemany(inputs_sql, [r for rs in inputs[start : start + batch] for r in rs])
            conn.execute("COMMIT")
        return len(rows)

    try:
        return timed(insert)
    finally:
        conn.close()


def run_postgres_baseline(url: str, rows: Sequence[tuple[Any, ...]], batch: int) -> Figure:
    import psycopg  # noqa: PLC0415 - only when PostgreSQL is measured

    engine = create_engine(url)
    bare_table().metadata.create_all(engine)
    engine.dispose()
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    sql = f"INSERT INTO bench_bare_events VALUES ({', '.join(['%s'] * len(COLUMNS))})"  # noqa: S608
    with psycopg.connect(plain) as conn:

        def insert() -> int:
            for start in range(0, len(rows), batch):
                with conn.cursor() as cursor:
                    cursor.executemany(sql, rows[start : start + batch])
                conn.commit()
            return len(rows)

        return timed(insert)


@contextmanager
def postgres() -> Iterator[tuple[Callable[[], str], str] | None]:
    """``(new database URL, description)``, or ``None`` when no PostgreSQL is at hand."""
    external = os.environ.get(POSTGRES_ENV)
    if external:
        yield _schemas(external), "from $" + POSTGRES_ENV
        return
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.integration.postgres import PostgresServer, _binaries  # noqa: PLC0415
    except ImportError as exc:
        print(f"PostgreSQL skipped: {exc}")
        yield None
        return
    bindir = _binaries()
    if bindir is None:
        print("PostgreSQL skipped: not installed (apt-get install -y postgresql)")
        yield None
        return
    server = PostgresServer(bindir)
    server.start()
    try:
        yield _schemas(server.url), f"PostgreSQL from {bindir}, data in {server.base}"
    finally:
        server.stop()


def _schemas(url: str) -> Callable[[], str]:
    """Each call: a URL whose tables go to a new schema of their own."""
    import psycopg  # noqa: PLC0415

    from tests.integration.postgres import _with_search_path  # noqa: PLC0415

    def fresh() -> str:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return _with_search_path(url, schema)

    return fresh


def rounds(
    count: int, choreo: Callable[[int], Figure], plain: Callable[[int], Figure]
) -> tuple[Figure, Figure]:
    """Median figures of ``count`` alternating rounds (by rate), after a short warm-up round
    of each side (statements compiled, caches filled) that is not counted."""
    choreo(WARM_UP_EVENTS)
    plain(WARM_UP_EVENTS)
    ours, theirs = [], []
    for _ in range(count):
        ours.append(choreo(0))
        theirs.append(plain(0))
    return median_of(ours), median_of(theirs)


def median_of(figures: list[Figure]) -> Figure:
    by_rate = sorted(figures, key=lambda f: f.rate)
    return by_rate[len(by_rate) // 2]


def line(name: str, ours: Figure, theirs: Figure) -> str:
    return (
        f"{name:<11} {ours.rate:>12,.0f} {theirs.rate:>14,.0f} {ours.rate / theirs.rate:>7.2f}"
        f" {ours.cpu_us:>12.1f} {theirs.cpu_us:>12.1f}"
    )


def produce_workload(settings: Settings, records: Sequence[Consumed]) -> list[str]:
    """Write the workload's events to their asset topics; return the topics."""
    from confluent_kafka import Producer  # noqa: PLC0415

    from choreo.kafka.admin import TopicAdmin  # noqa: PLC0415

    codec = AvroCodec()
    events = [r for r in records if isinstance(r.content, AssetEvent)]
    assets = sorted({r.content.asset for r in events if isinstance(r.content, AssetEvent)})
    TopicAdmin(settings, timeout=30).ensure(assets)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5})
    for r in events:
        if not isinstance(r.content, AssetEvent):
            continue
        topic = asset_topic(settings.topic_prefix, r.content.asset)
        value = codec.encode(r.content)
        while True:
            try:
                producer.produce(topic, value=value, partition=r.partition)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    return [asset_topic(settings.topic_prefix, a) for a in assets]


def read_and_decode(settings: Settings, topics: list[str], count: int, batch: int) -> int:
    """The baseline from Kafka: read ``count`` records of ``topics`` and decode each."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # noqa: PLC0415

    codec = AvroCodec()
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "plain"})
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(3)])
    seen = 0
    try:
        while seen < count:
            for message in consumer.consume(batch, 1.0):
                if message.error() is None:
                    codec.decode(message.value() or b"")
                    seen += 1
    finally:
        consumer.close()
    return seen


def collect_all(settings: Settings, count: int, batch: int) -> Figure:
    """The whole collector into a fresh SQLite file, timed from its first stored batch (the
    group join before it is not ingestion) to its last."""
    options = CollectorOptions(session_timeout_ms=6000, heartbeat_interval_ms=500)
    with tempfile.TemporaryDirectory() as directory, Store(f"sqlite:///{directory}/c.db") as store:
        collector = Collector(settings, store, group_id="bench", batch_size=batch, options=options)
        thread = threading.Thread(target=collector.run, daemon=True)
        thread.start()
        while collector.totals.stored == 0:
            time.sleep(0.001)
        first, wall, cpu = collector.totals.stored, time.perf_counter(), time.process_time()
        while collector.totals.stored < count:
            time.sleep(0.001)
        figure = Figure(count - first, time.perf_counter() - wall, time.process_time() - cpu)
        collector.stop()
        thread.join(30)
    return figure


def bench_kafka(records: Sequence[Consumed], batch: int) -> tuple[Figure, Figure]:
    """The whole collector from the broker into SQLite, beside read-and-decode only."""
    from choreo.embedded_broker import EmbeddedBroker  # noqa: PLC0415

    external = os.environ.get(BOOTSTRAP_ENV)
    broker = None if external else EmbeddedBroker().start()
    bootstrap = external or broker.bootstrap_servers  # type: ignore[union-attr]
    try:
        settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}.")
        topics = produce_workload(settings, records)
        plain = timed(lambda: read_and_decode(settings, topics, len(records), batch))
        return collect_all(settings, len(records), batch), plain
    finally:
        if broker is not None:
            broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--kafka", action="store_true", help="also measure from the broker")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds = QUICK_EVENTS, 1
    configure_logging("warning")
    records = workload(args.events)
    rows = [row_of(r) for r in records]
    # The workload stays in memory for the whole run, which a collector never holds (it keeps
    # one batch): taken out of the garbage collector's sight, it does not slow either side.
    gc.freeze()
    print(
        f"collector ingest: {args.events:,} events ({ASSETS} assets, {PARTITIONS} partitions, "
        f"1-2 inputs each), batches of {args.batch:,}, median of {args.rounds} round(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'database':<11} {'choreo ev/s':>12} {'baseline ev/s':>14} {'ratio':>7} "
        f"{'choreo µs/ev':>12} {'base µs/ev':>12}  (µs/ev: CPU time of this process)"
    )
    with tempfile.TemporaryDirectory() as directory:
        counter = iter(range(10**6))

        def path() -> Path:
            return Path(directory) / f"db{next(counter)}.sqlite"

        sqlite_ours, sqlite_plain = rounds(
            args.rounds,
            lambda n: run_choreo(f"sqlite:///{path()}", records[: n or None], args.batch),
            lambda n: run_sqlite_baseline(path(), rows[: n or None], args.batch),
        )
        inputs = input_rows(records)
        schema = median_of(
            [run_sqlite_schema(path(), rows, inputs, args.batch) for _ in range(args.rounds)]
        )
    print(line("sqlite", sqlite_ours, sqlite_plain))
    print(
        f"{'':<11} schema only: the same events and inputs into choreo's own tables by raw "
        f"executemany: {schema.rate:,.0f} ev/s, {schema.cpu_us:.1f} µs/ev"
    )
    with postgres() as pg:
        if pg is not None:
            fresh, where = pg
            pg_ours, pg_plain = rounds(
                args.rounds,
                lambda n: run_choreo(fresh(), records[: n or None], args.batch),
                lambda n: run_postgres_baseline(fresh(), rows[: n or None], args.batch),
            )
            print(line("postgresql", pg_ours, pg_plain) + f"  ({where})")
    if args.kafka:
        ours, plain = bench_kafka(records, args.batch)
        print(
            f"from Kafka into SQLite: collector (consume, decode, store) {ours.rate:,.0f} ev/s; "
            f"read and decode only {plain.rate:,.0f} ev/s (ratio {ours.rate / plain.rate:.2f})"
        )
    met = sqlite_ours.rate >= TARGET_SQLITE
    print(f"target >= {TARGET_SQLITE:,} events/s into SQLite: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
