"""The collector with a real broker and a real PostgreSQL: what lands in which table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from sqlalchemy import func, select

from choreo import Emitter, InputVersion
from choreo.codec import AvroCodec
from choreo.collector import batch_rows, tables
from choreo.collector.consumed import Consumed, IngestResult
from choreo.collector.ingest import Collector, CollectorOptions
from choreo.collector.store import Store
from choreo.events import AssetDeclared, AssetEvent, ProducerInfo
from choreo.events.topics import asset_topic, declarations_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.emitter import build_event
from choreo.settings import Settings

from .postgres import (  # noqa: F401 - fixtures, used by name
    postgres_server_fixture,
    postgres_url_fixture,
    store_url_fixture,
)
from .services_support import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS, WAIT_SECONDS, wait_until

OPTIONS = CollectorOptions(
    poll_seconds=0.05,
    metadata_refresh_ms=1000,
    session_timeout_ms=SESSION_TIMEOUT_MS,
    heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
)
OWNER = ProducerInfo(service="sales", instance="test")


@contextmanager
def collecting(settings: Settings, url: str, group_id: str) -> Iterator[Collector]:
    """Run a collector in a thread for the block; re-raise its failure."""
    store = Store(url)
    collector = Collector(settings, store, group_id=group_id, options=OPTIONS)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            collector.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="collector", daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.stop()
        thread.join(30)
        store.close()
        # Raised even when the block failed (that failure becomes its context): a collector
        # that died is usually why the block's assertion failed.
        if failure:
            raise failure[0]


def rows(store: Store, table: Any) -> list[dict[str, Any]]:
    """Every row of ``table`` as dicts."""
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def count(store: Store, table: Any) -> int:
    """How many rows ``table`` holds."""
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The end of every non-empty partition of ``topics``, found by reading up to it: the
    embedded broker's ListOffsets answer can trail the last batch, its fetches do not."""
    partitions = {t.name: t.partitions for t in TopicAdmin(settings).list()}
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": "ends",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    pending = {(topic, pid) for topic in topics for pid in range(partitions[topic])}
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(pending)])
    ends: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            where = (message.topic() or "", message.partition() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(where)
                continue
            ends[where] = (message.offset() or 0) + 1
    finally:
        consumer.close()
    assert not pending, f"could not read to the end of {sorted(pending)}"
    return ends


def test_events_and_declarations_land_in_the_tables(
    settings: Settings, store_url: str, group_id: str
) -> None:
    """Declarations, events, their inputs, the observed and declared graph, the latest version
    of each partition and the offsets past them are all stored."""
    with Emitter(settings, service="sales") as emitter:
        emitter.declare(
            AssetDeclared(
                asset="shop.summary",
                service="sales",
                inputs=("shop.orders",),
                partitioned=True,
                freshness_ms=3_600_000,
                owner="team-sales",
                producer=OWNER,
            )
        )
        orders = emitter.updated("shop.orders", partition="d1", version="o1")
        built = emitter.updated(
            "shop.summary",
            partition="d1",
            version="s1",
            location="mem://summary/d1",
            metadata={"rows": 3},
            inputs=[
                InputVersion(
                    asset="shop.orders", partition="d1", version="o1", event_id=orders.event_id
                )
            ],
        )
        failed = emitter.failed("shop.summary", partition="d2", error="boom", error_type="E")

    with collecting(settings, store_url, group_id) as collector:
        wait_until(lambda: collector.totals.stored == 3, "three events stored")
        store = collector.store
        events = {row["event_id"]: row for row in rows(store, tables.events)}
        assert set(events) == {str(orders.event_id), str(built.event_id), str(failed.event_id)}
        summary = events[str(built.event_id)]
        assert (summary["asset"], summary["partition"], summary["version"]) == (
            "shop.summary",
            "d1",
            "s1",
        )
        assert summary["location"] == "mem://summary/d1"
        assert summary["metadata_json"] == '{"rows": 3}'
        assert summary["topic"] == asset_topic(settings.topic_prefix, "shop.summary")
        assert events[str(failed.event_id)]["error_message"] == "boom"
        assert rows(store, tables.event_inputs) == [
            {
                "event_id": str(built.event_id),
                "position": 0,
                "asset": "shop.orders",
                "partition": "d1",
                "version": "o1",
                "input_event_id": str(orders.event_id),
            }
        ]
        [edge] = rows(store, tables.observed_edges)
        assert (edge["downstream"], edge["upstream"], edge["events"]) == (
            "shop.summary",
            "shop.orders",
            1,
        )
        assert rows(store, tables.declared_edges) == [
            {"downstream": "shop.summary", "upstream": "shop.orders"}
        ]
        declared = {row["asset"]: row for row in rows(store, tables.assets)}
        assert set(declared) == {"shop.orders", "shop.summary"}
        assert declared["shop.summary"]["service"] == "sales"
        assert declared["shop.summary"]["owner"] == "team-sales"
        assert declared["shop.summary"]["freshness_ms"] == 3_600_000
        assert declared["shop.orders"]["service"] is None
        latest = {(row["asset"], row["partition"]): row for row in rows(store, tables.latest)}
        assert latest[("shop.summary", "d1")]["updated_event_id"] == str(built.event_id)
        assert latest[("shop.summary", "d2")]["kind"] == "FAILED"
        assert latest[("shop.summary", "d2")]["updated_event_id"] is None
        topics = [
            asset_topic(settings.topic_prefix, "shop.orders"),
            asset_topic(settings.topic_prefix, "shop.summary"),
            declarations_topic(settings.topic_prefix),
        ]
        assert store.committed_offsets(group_id) == end_offsets(settings, topics)


def test_an_event_sent_twice_is_stored_and_counted_once(
    settings: Settings, store_url: str, group_id: str
) -> None:
    """The same ``event_id`` read twice is one row, and its edge counts one event."""
    with Emitter(settings) as emitter:
        event = emitter.updated(
            "shop.summary", inputs=[InputVersion(asset="shop.orders", version="o1")]
        )
        emitter.emit(event)
    with collecting(settings, store_url, group_id) as collector:
        wait_until(lambda: collector.totals.stored + collector.totals.duplicates == 2, "both read")
        assert (collector.totals.stored, collector.totals.duplicates) == (1, 1)
        assert count(collector.store, tables.events) == 1
        assert count(collector.store, tables.event_inputs) == 1
        [edge] = rows(collector.store, tables.observed_edges)
        assert edge["events"] == 1


def test_a_poison_record_is_kept_and_counted_and_ingestion_goes_on(
    settings: Settings, store_url: str, group_id: str
) -> None:
    """Undecodable bytes, an event on another asset's topic and one too long for its columns
    land in ``choreo_rejected`` with their position and bytes; the events around them are
    stored and the offsets move past all."""
    topic = asset_topic(settings.topic_prefix, "shop.orders")
    with Emitter(settings) as emitter:
        emitter.updated("shop.orders", version="before")
        misplaced = emitter.updated("shop.customers", version="elsewhere")
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
        producer.produce(topic, key=b"orders", value=b"not avro at all", partition=0)
        producer.produce(topic, key=b"orders", value=AvroCodec().encode(misplaced), partition=0)
        assert producer.flush(10) == 0
        emitter.updated("shop.orders", version="v" * 600)
        after = emitter.updated("shop.orders", version="after")
    with collecting(settings, store_url, group_id) as collector:
        wait_until(lambda: collector.totals.rejected == 3, "three records rejected")
        wait_until(lambda: collector.totals.stored == 3, "the three other events stored")
        rejected = {
            row["reason"].split(":")[0]: row for row in rows(collector.store, tables.rejected)
        }
        assert set(rejected) == {
            "unknown framing",
            f"an event of shop.customers on {topic}, the topic of shop.orders",
            "version is 600 characters; the collector stores at most 500",
        }
        assert rejected["unknown framing"]["value"] == b"not avro at all"
        assert {(r["topic"], r["value_size"] > 0) for r in rejected.values()} == {(topic, True)}
        stored = {row["version"] for row in rows(collector.store, tables.events)}
        assert stored == {"before", "elsewhere", "after"}
        assert str(after.event_id) in {
            row["event_id"] for row in rows(collector.store, tables.events)
        }
        offsets = collector.store.committed_offsets(group_id)
        assert offsets == end_offsets(
            settings, [topic, asset_topic(settings.topic_prefix, "shop.customers")]
        )
        assert collector.ingest_lag().as_dict()["rejected"] == 3


def test_asset_topics_created_after_start_are_read(
    settings: Settings, store_url: str, group_id: str
) -> None:
    """An asset announced for the first time while the collector runs is stored."""
    with collecting(settings, store_url, group_id) as collector:
        wait_until(lambda: bool(collector.assigned), "the declarations topic assigned")
        with Emitter(settings) as emitter:
            event = emitter.updated("shop.brand_new", partition="p", version="v1")
        wait_until(lambda: collector.totals.stored == 1, "the new asset's event stored")
        [row] = rows(collector.store, tables.events)
        assert row["event_id"] == str(event.event_id)
        lag = collector.ingest_lag()
        assert lag.running
        assert lag.healthy


def test_a_declaration_tombstone_withdraws_the_declaration(
    settings: Settings, store_url: str, group_id: str
) -> None:
    """A tombstone on the declarations topic clears the asset's declaration and its edges."""
    with Emitter(settings) as emitter:
        emitter.declare(
            AssetDeclared(asset="shop.old", service="s", inputs=("shop.a",), producer=OWNER)
        )
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(declarations_topic(settings.topic_prefix), key=b"shop.old", value=None)
    assert producer.flush(10) == 0
    with collecting(settings, store_url, group_id) as collector:
        wait_until(lambda: collector.totals.retired == 1, "the tombstone read")
        old = {row["asset"]: row for row in rows(collector.store, tables.assets)}["shop.old"]
        assert old["service"] is None
        assert rows(collector.store, tables.declared_edges) == []


ASSETS = ("shop.a", "shop.b", "shop.c", "shop.d")
PER_ASSET = 60


def test_two_replicas_on_postgresql_share_partitions_and_store_each_event_once(
    settings: Settings, postgres_url: str, group_id: str
) -> None:
    """Two collectors in one group over one PostgreSQL database split the partitions between
    them, each stores what it holds, and together they store every event exactly once."""
    TopicAdmin(settings).ensure(ASSETS)
    topics = {asset_topic(settings.topic_prefix, asset) for asset in ASSETS}
    every = {(topic, pid) for topic in topics for pid in range(settings.topic_partitions)} | {
        (declarations_topic(settings.topic_prefix), 0)
    }

    def holds_asset_partitions(collector: Collector) -> bool:
        return any(topic in topics for topic, _ in collector.assigned)

    with (
        collecting(settings, postgres_url, group_id) as first,
        collecting(settings, postgres_url, group_id) as second,
    ):
        # Apache Kafka completes a group's first rebalance with whoever has joined: one replica
        # may hold every partition before the other joins (the embedded broker waits for both).
        # Events sent then would all be stored by the first, so wait for a split in which each
        # replica holds asset partitions.
        wait_until(
            lambda: (
                holds_asset_partitions(first)
                and holds_asset_partitions(second)
                and first.assigned | second.assigned == every
                and not first.assigned & second.assigned
            ),
            "the partitions split between the replicas",
        )
        split = (first.assigned, second.assigned)
        with Emitter(settings) as emitter:
            emitter.emit_many(
                build_event(
                    asset,
                    producer=emitter.producer_info,
                    partition=f"p{i}",
                    version=f"v{i}",
                    inputs=[InputVersion(asset="shop.source", version=f"v{i}")],
                )
                for asset in ASSETS
                for i in range(PER_ASSET)
            )
        total = len(ASSETS) * PER_ASSET
        # A replica counts a batch after its transaction commits, so wait for the replicas'
        # own counts rather than for the rows, which other connections see a moment earlier.
        wait_until(
            lambda: first.totals.stored + second.totals.stored >= total,
            f"{total} events stored by the replicas",
        )
        assert (first.assigned, second.assigned) == split, "the partitions moved meanwhile"
        stored = rows(first.store, tables.events)
        assert len(stored) == total
        assert first.totals.stored + second.totals.stored == total
        for replica, held in zip((first, second), split, strict=True):
            on_held = [row for row in stored if (row["topic"], row["kafka_partition"]) in held]
            assert replica.totals.stored == len(on_held) > 0
        assert count(first.store, tables.event_inputs) == total
        edges = rows(first.store, tables.observed_edges)
        assert {(e["downstream"], e["upstream"]): e["events"] for e in edges} == {
            (asset, "shop.source"): PER_ASSET for asset in ASSETS
        }


def test_a_value_the_database_refuses_is_found_and_rejected(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value PostgreSQL refuses, which the store did not foresee, fails only its own record:
    the batch is split down to it, it is kept as rejected, and every other record is stored."""
    monkeypatch.setattr(batch_rows, "unstorable", lambda _record: None)
    producer = ProducerInfo(service="s", instance="i")
    events = [
        AssetEvent(asset="shop.a", version="v" * (600 if i == 5 else 1), producer=producer)
        for i in range(8)
    ]
    with Store(postgres_url) as store:
        store.create()
        records = [Consumed("t.asset.shop.a", 0, i, e, b"k", b"v") for i, e in enumerate(events)]
        assert store.ingest(records, "g") == IngestResult(stored=7, rejected=1)
        [rejected] = rows(store, tables.rejected)
        assert rejected["kafka_offset"] == 5
        assert rejected["reason"].startswith("the database refused it: value too long")
        assert count(store, tables.events) == 7
        assert store.committed_offsets("g") == {("t.asset.shop.a", 0): 8}
