"""The collector's store on SQLite: what each batch writes, and that batching changes nothing."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select, text

from choreo.collector import tables
from choreo.collector.consumed import Consumed, IngestResult, Rejected, Retired
from choreo.collector.millis import to_millis
from choreo.collector.store import Store
from choreo.errors import ConfigError
from choreo.events import (
    AssetDeclared,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    ProducerInfo,
)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRODUCER = ProducerInfo(service="sales", instance="sales-1", code_version="7")
TOPIC = "choreo.asset.shop.summary"
DECLARATIONS = "choreo.declarations"
GROUP = "choreo.collector"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'db' / 'collector.db'}") as opened:
        opened.create()
        yield opened


def event(
    asset: str = "shop.summary",
    *,
    partition: str | None = "d1",
    at: int = 0,
    kind: EventKind = EventKind.UPDATED,
    inputs: Sequence[InputVersion] = (),
    event_id: uuid.UUID | None = None,
    version: str | None = None,
    **fields: Any,
) -> AssetEvent:
    """An event ``at`` seconds after ``T0``."""
    return AssetEvent(
        event_id=event_id or uuid.uuid4(),
        kind=kind,
        asset=asset,
        partition=partition,
        version=version or f"v{at}",
        occurred_at=T0 + timedelta(seconds=at),
        producer=PRODUCER,
        inputs=tuple(inputs),
        error=ErrorInfo(type="E", message="boom") if kind is EventKind.FAILED else None,
        **fields,
    )


def declared(asset: str, *inputs: str, **fields: Any) -> AssetDeclared:
    return AssetDeclared(
        asset=asset, service="sales", inputs=inputs, declared_at=T0, producer=PRODUCER, **fields
    )


def batch(*contents: Any, topic: str = TOPIC, partition: int = 0, start: int = 0) -> list[Consumed]:
    """``contents`` as consecutive records of one partition."""
    return [Consumed(topic, partition, start + i, c) for i, c in enumerate(contents)]


def rows(store: Store, table: Table, *, drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every row of ``table`` in key order, as dicts without the ``drop`` columns."""
    query = select(table).order_by(*table.primary_key.columns)
    with store.engine.connect() as conn:
        return [
            {k: v for k, v in row._mapping.items() if k not in drop} for row in conn.execute(query)
        ]


def test_create_makes_the_directory_every_table_and_is_idempotent(tmp_path: Path) -> None:
    """``create`` makes the SQLite file's directory and every table, in WAL mode, twice over."""
    path = tmp_path / "nested" / "collector.db"
    with Store(f"sqlite:///{path}") as store:
        store.create()
        store.create()
        with store.engine.connect() as conn:
            names = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type='table'")))
            mode = conn.scalar(text("PRAGMA journal_mode"))
    assert names == set(tables.metadata.tables)
    assert "choreo_rejected" in names
    assert mode == "wal"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid collector database URL"),
        ("mysql://u@h/db", "is not supported"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    """A malformed or unsupported URL is a ``ConfigError`` naming the problem."""
    with pytest.raises(ConfigError, match=message):
        Store(url)


def test_a_directory_that_cannot_be_made_is_a_config_error(tmp_path: Path) -> None:
    """A SQLite path below a file is a ``ConfigError``, not a traceback."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot create"):
        Store(f"sqlite:///{tmp_path / 'file' / 'collector.db'}")


def test_an_event_is_stored_with_every_field(store: Store) -> None:
    """Every field of an event lands in its row; no partition is stored as the empty string."""
    correlation = uuid.uuid4()
    stored = event(
        partition=None,
        at=5,
        location="s3://x",
        metadata={"rows": 3, "ok": True},
        run_id="run-1",
        correlation_id=correlation,
    )
    failed = event(at=6, kind=EventKind.FAILED)
    result = store.ingest(batch(stored, failed), GROUP)
    assert result == IngestResult(stored=2)
    first, second = sorted(
        rows(store, tables.events, drop=["ingested_at_ms"]),
        key=lambda r: r["occurred_at_ms"],
    )
    assert first == {
        "event_id": str(stored.event_id),
        "kind": "UPDATED",
        "asset": "shop.summary",
        "partition": tables.NO_PARTITION,
        "version": "v5",
        "occurred_at_ms": to_millis(T0) + 5000,
        "producer_service": "sales",
        "producer_instance": "sales-1",
        "code_version": "7",
        "run_id": "run-1",
        "correlation_id": str(correlation),
        "location": "s3://x",
        "metadata_json": '{"rows": 3, "ok": true}',
        "error_type": None,
        "error_message": None,
        "error_attempt": None,
        "topic": TOPIC,
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    assert (second["error_type"], second["error_message"], second["error_attempt"]) == (
        "E",
        "boom",
        1,
    )


def test_inputs_are_stored_in_order_and_an_edge_counts_each_event_once(store: Store) -> None:
    """Inputs keep their positions; two partitions of one upstream make one edge event."""
    upstream_id = uuid.uuid4()
    built = event(
        inputs=[
            InputVersion(asset="shop.orders", partition="d1", version="o1", event_id=upstream_id),
            InputVersion(asset="shop.orders", partition="d0", version="o0"),
            InputVersion(asset="shop.customers", version="c1"),
        ]
    )
    store.ingest(
        batch(built, event(at=9, inputs=[InputVersion(asset="shop.orders", version="o")])), GROUP
    )
    inputs = [r for r in rows(store, tables.event_inputs) if r["event_id"] == str(built.event_id)]
    assert [(r["position"], r["asset"], r["partition"], r["input_event_id"]) for r in inputs] == [
        (0, "shop.orders", "d1", str(upstream_id)),
        (1, "shop.orders", "d0", None),
        (2, "shop.customers", "", None),
    ]
    edges = {(r["downstream"], r["upstream"]): r for r in rows(store, tables.observed_edges)}
    orders = edges[("shop.summary", "shop.orders")]
    assert (orders["events"], orders["first_seen_ms"], orders["last_seen_ms"]) == (
        2,
        to_millis(T0),
        to_millis(T0) + 9000,
    )
    assert edges[("shop.summary", "shop.customers")]["events"] == 1


def test_duplicates_are_ignored_within_and_across_batches(store: Store) -> None:
    """An ``event_id`` seen before, in this batch or an earlier one, is counted as a duplicate
    and changes nothing but the offsets."""
    once = event(inputs=[InputVersion(asset="shop.orders", version="o1")])
    assert store.ingest(batch(once, once), GROUP) == IngestResult(stored=1, duplicates=1)
    assert store.ingest(batch(once, start=2), GROUP) == IngestResult(duplicates=1)
    assert len(rows(store, tables.events)) == 1
    assert len(rows(store, tables.event_inputs)) == 1
    assert rows(store, tables.observed_edges)[0]["events"] == 1
    assert store.committed_offsets(GROUP) == {(TOPIC, 0): 3}


def test_latest_keeps_the_newest_event_and_the_newest_update_whatever_the_order(
    store: Store,
) -> None:
    """The newest event by (occurred_at, event_id) is latest, a newer FAILED does not hide the
    newest UPDATED, and an older event read later replaces neither."""
    updated = event(at=10)
    failed = event(at=20, kind=EventKind.FAILED)
    older = event(at=5)
    store.ingest(batch(failed), GROUP)
    store.ingest(batch(updated, start=1), GROUP)
    store.ingest(batch(older, start=2), GROUP)
    [row] = rows(store, tables.latest)
    assert row == {
        "asset": "shop.summary",
        "partition": "d1",
        "event_id": str(failed.event_id),
        "kind": "FAILED",
        "version": "v20",
        "occurred_at_ms": to_millis(T0) + 20_000,
        "updated_event_id": str(updated.event_id),
        "updated_at_ms": to_millis(T0) + 10_000,
    }


def test_an_event_at_the_same_millisecond_is_ordered_by_event_id(store: Store) -> None:
    """Two events at one instant: the greater ``event_id`` is latest, in either order."""
    low = event(event_id=uuid.UUID(int=1))
    high = event(event_id=uuid.UUID(int=2))
    store.ingest(batch(high), GROUP)
    store.ingest(batch(low, start=1), GROUP)
    assert rows(store, tables.latest)[0]["event_id"] == str(high.event_id)


def test_assets_are_first_seen_at_their_earliest_event_or_declaration(store: Store) -> None:
    """Outputs, inputs and declared assets get a row; an older event read later lowers
    ``first_seen_ms``."""
    store.ingest(
        batch(event(at=50, inputs=[InputVersion(asset="shop.orders", version="o")])), GROUP
    )
    store.ingest(batch(event(at=10), start=1), GROUP)
    store.ingest(batch(declared("shop.forecast", "shop.summary"), topic=DECLARATIONS), GROUP)
    seen = {r["asset"]: r["first_seen_ms"] for r in rows(store, tables.assets)}
    assert seen == {
        "shop.summary": to_millis(T0),
        "shop.orders": to_millis(T0) + 50_000,
        "shop.forecast": to_millis(T0),
    }


def test_a_declaration_is_applied_and_a_redeclaration_replaces_its_edges(store: Store) -> None:
    """Declared fields land on the asset; declaring again replaces its declared inputs."""
    store.ingest(
        batch(
            declared(
                "shop.summary", "shop.orders", "shop.customers", owner="team", freshness_ms=60_000
            ),
            topic=DECLARATIONS,
        ),
        GROUP,
    )
    [asset] = [r for r in rows(store, tables.assets) if r["asset"] == "shop.summary"]
    assert {
        k: asset[k] for k in ("service", "owner", "freshness_ms", "partitioned", "trigger")
    } == {
        "service": "sales",
        "owner": "team",
        "freshness_ms": 60_000,
        "partitioned": False,
        "trigger": "eager",
    }
    assert store.ingest(
        batch(declared("shop.summary", "shop.returns"), topic=DECLARATIONS, start=1), GROUP
    ) == IngestResult(declared=1)
    assert rows(store, tables.declared_edges) == [
        {"downstream": "shop.summary", "upstream": "shop.returns"}
    ]


def test_a_withdrawn_declaration_clears_the_asset_but_keeps_it(store: Store) -> None:
    """A retirement nulls the declared fields and drops the declared edges; the row stays."""
    store.ingest(batch(declared("shop.summary", "shop.orders"), topic=DECLARATIONS), GROUP)
    result = store.ingest(batch(Retired("shop.summary"), topic=DECLARATIONS, start=1), GROUP)
    assert result == IngestResult(retired=1)
    [asset] = [r for r in rows(store, tables.assets) if r["asset"] == "shop.summary"]
    assert asset["service"] is None
    assert asset["declared_at_ms"] is None
    assert rows(store, tables.declared_edges) == []


def test_rejected_records_are_kept_once_and_cut_to_size(store: Store) -> None:
    """A rejected record is stored with its position, reason, key and the head of its value;
    reading it again stores it once; its offset still advances."""
    huge = b"x" * (tables.REJECTED_VALUE_MAX + 10)
    records = [
        *batch(event(), start=7),
        Consumed(TOPIC, 0, 8, Rejected("unknown framing"), key=b"k", value=huge),
    ]
    assert store.ingest(records, GROUP) == IngestResult(stored=1, rejected=1)
    assert store.ingest(records[1:], GROUP) == IngestResult(rejected=1)
    [row] = rows(store, tables.rejected, drop=["rejected_at_ms"])
    assert row == {
        "topic": TOPIC,
        "kafka_partition": 0,
        "kafka_offset": 8,
        "reason": "unknown framing",
        "key": b"k",
        "value": huge[: tables.REJECTED_VALUE_MAX],
        "value_size": len(huge),
    }
    assert store.committed_offsets(GROUP) == {(TOPIC, 0): 9}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (event(version="v" * 501), "version is 501 characters; the collector stores at most 500"),
        (event(run_id="r" * 201), "run_id is 201 characters"),
        (event(inputs=[InputVersion(asset="shop.a", version="x" * 501)]), "inputs[0].version"),
        (declared("shop.summary", owner="o" * 201), "owner is 201 characters"),
        (event(location="s3://a\x00b"), "location holds a NUL character"),
        (declared("shop.summary", description="a\x00"), "description holds a NUL"),
    ],
)
def test_a_record_too_long_for_its_columns_is_rejected_not_fatal(
    store: Store, content: AssetEvent | AssetDeclared, reason: str
) -> None:
    """A text longer than its column (which PostgreSQL would refuse, failing the batch for
    ever) turns the record into a rejection kept with its bytes; the rest of the batch lands."""
    records = [
        Consumed(TOPIC, 0, 0, content, key=b"k", value=b"bytes"),
        *batch(event(at=1), start=1),
    ]
    assert store.ingest(records, GROUP) == IngestResult(stored=1, rejected=1)
    [row] = rows(store, tables.rejected)
    assert reason in row["reason"]
    assert (row["kafka_offset"], row["key"], row["value"]) == (0, b"k", b"bytes")


def test_offsets_are_kept_per_group_and_partition(store: Store) -> None:
    """Each group has its own offsets: one past the last record of each partition read."""
    store.ingest(batch(event(), event(at=1), partition=2, start=40), "a")
    store.ingest(batch(event(at=2), topic=DECLARATIONS), "a")
    store.ingest(batch(event(at=3), partition=2, start=3), "b")
    assert store.committed_offsets("a") == {(TOPIC, 2): 42, (DECLARATIONS, 0): 1}
    assert store.committed_offsets("b") == {(TOPIC, 2): 4}
    assert store.committed_offsets("nobody") == {}


def test_a_writer_holding_the_file_is_waited_for(store: Store, tmp_path: Path) -> None:
    """While another connection holds SQLite's write lock, a batch waits and then lands."""
    other = sqlite3.connect(
        tmp_path / "db" / "collector.db", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, other.execute, args=("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        assert store.ingest(batch(event()), GROUP) == IngestResult(stored=1)
    finally:
        release.join()
        other.close()
    assert time.monotonic() - started >= 0.4


def test_results_add_up() -> None:
    """``IngestResult``s sum field by field."""
    total = IngestResult(stored=1, duplicates=2) + IngestResult(stored=3, rejected=1, retired=1)
    assert total == IngestResult(stored=4, duplicates=2, rejected=1, retired=1)


# -- batching changes nothing --------------------------------------------------------------------

ASSETS = ("shop.a", "shop.b", "shop.c")
IDS = [uuid.UUID(int=i + 1) for i in range(6)]

events_strategy = st.builds(
    lambda asset, partition, at, failed, upstreams, event_id: event(
        asset,
        partition=partition,
        at=at,
        kind=EventKind.FAILED if failed else EventKind.UPDATED,
        inputs=[InputVersion(asset=u, version="x") for u in upstreams],
        event_id=event_id,
    ),
    st.sampled_from(ASSETS),
    st.sampled_from([None, "d1", "d2"]),
    st.integers(0, 3),
    st.booleans(),
    st.lists(st.sampled_from(ASSETS), max_size=2),
    st.sampled_from(IDS),  # few ids: duplicates are common
)
contents_strategy = st.one_of(
    events_strategy,
    events_strategy,
    st.builds(
        lambda asset, inputs: declared(asset, *inputs),
        st.sampled_from(ASSETS),
        st.lists(st.sampled_from(ASSETS), max_size=2),
    ),
    st.builds(Retired, st.sampled_from(ASSETS)),
    st.just(Rejected("bad bytes")),
)


def _snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: rows(store, table, drop=["ingested_at_ms", "rejected_at_ms"])
        for table in tables.metadata.sorted_tables
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    contents=st.lists(contents_strategy, min_size=1, max_size=12),
    cuts=st.sets(st.integers(1, 11)),
)
def test_how_records_are_split_into_batches_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, contents: list[Any], cuts: set[int]
) -> None:
    """Storing a stream in one batch, or cut into several, leaves the same tables and results
    (events keep the position they were first read at)."""
    records = [
        Consumed(DECLARATIONS if isinstance(c, AssetDeclared | Retired) else TOPIC, 0, i, c)
        for i, c in enumerate(contents)
    ]
    bounds = [0, *sorted(c for c in cuts if c < len(records)), len(records)]
    base = tmp_path_factory.mktemp("split")
    with (
        Store(f"sqlite:///{base / 'one.db'}") as whole,
        Store(f"sqlite:///{base / 'cut.db'}") as cut,
    ):
        whole.create()
        cut.create()
        together = whole.ingest(records, GROUP)
        apart = sum(
            (cut.ingest(records[a:b], GROUP) for a, b in itertools.pairwise(bounds)),
            IngestResult(),
        )
        assert together == apart
        assert _snapshot(whole) == _snapshot(cut)
