"""Writing slices to the changelog: one record per changed output partition, and failures that
cost a retry, never the service."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

from confluent_kafka import KafkaError, KafkaException, Producer

from choreo import AssetIn, Service
from choreo.events import AssetEvent, ProducerInfo
from choreo.kafka.changelog import (
    MAX_WAITING,
    RETRY_FIRST_SECONDS,
    WRITE_INTERVAL_SECONDS,
    ChangelogWriter,
    decode_value,
    record_key,
)
from choreo.kafka.writer import RecordWriter
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.offsets import OffsetTracker
from choreo.runtime.slices import PartitionSlice
from choreo.service import InputData, Output, RunContext

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
TOPIC = "choreo.changelog.svc"
WHERE = ("choreo.asset.t.in", 0)


def engine_with(partitions: list[str]) -> ServiceEngine:
    svc = Service("svc")

    @svc.asset("t.out", inputs=[AssetIn("t.in", partitioned=True)], partitioned=True)
    def out(ctx: RunContext, source: InputData) -> Output:
        return ctx.output()

    engine = ServiceEngine(svc, instance="i")
    engine.assign({("t.out", 0): None}, T0)
    for partition in partitions:
        engine.on_event(
            AssetEvent(
                asset="t.in",
                partition=partition,
                version="v1",
                occurred_at=T0,
                producer=ProducerInfo(service="up", instance="u"),
            ),
            0,
            T0,
        )
    return engine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def writer_for(
    engine: ServiceEngine, produce: Callable[..., None]
) -> tuple[ChangelogWriter, OffsetTracker, Clock]:
    producer = MagicMock(spec_set=Producer)
    producer.produce.side_effect = produce
    tracker = OffsetTracker()
    clock = Clock()
    writer = ChangelogWriter(TOPIC, engine, RecordWriter(lambda: producer, tracker), clock=clock)
    return writer, tracker, clock


def test_keys_name_the_asset_and_partition() -> None:
    """``<asset>/<partition>``, or the asset alone for an unpartitioned output."""
    assert record_key("t.out", "2026-11-20") == b"t.out/2026-11-20"
    assert record_key("t.out", None) == b"t.out"


def test_each_changed_partition_is_one_record_in_the_shards_partition() -> None:
    """Marks of one slice between flushes make one record, written to the shard's changelog
    partition; it settles every ticket it carries once acknowledged."""
    engine = engine_with(["p1", "p2"])
    produced: list[dict[str, Any]] = []
    writer, tracker, _clock = writer_for(engine, lambda topic, **record: produced.append(record))
    tracker.read(WHERE, 0)
    tracker.read(WHERE, 1)
    writer.mark(("t.out", 0, "p1"), [tracker.take(WHERE, 0)])
    writer.mark(("t.out", 0, "p1"), [tracker.take(WHERE, 1)])
    writer.flush()
    [record] = produced
    assert (record["key"], record["partition"]) == (b"t.out/p1", 0)
    piece = decode_value(record["value"])
    assert isinstance(piece, PartitionSlice)
    assert piece.partition == "p1"
    assert tracker.committable() == {WHERE: 0}  # nothing to commit yet
    record["on_delivery"](None, None)
    assert tracker.committable() == {WHERE: 2}


def test_a_refused_record_is_retried_after_a_backoff_and_holds_its_offsets() -> None:
    """A record librdkafka refuses (e.g. too large) settles nothing and does not raise; the
    slice is written again once the backoff is over, with its tickets."""
    engine = engine_with(["p1"])
    attempts: list[dict[str, Any]] = []

    def produce(topic: str, **record: Any) -> None:
        attempts.append(record)
        if len(attempts) == 1:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))

    writer, tracker, clock = writer_for(engine, produce)
    tracker.read(WHERE, 0)
    writer.mark(("t.out", 0, "p1"), [tracker.take(WHERE, 0)])
    writer.flush()
    assert len(attempts) == 1
    assert writer.dirty == 1
    assert tracker.committable() == {WHERE: 0}
    writer.flush()
    assert len(attempts) == 1  # still backing off
    clock.now += RETRY_FIRST_SECONDS
    writer.flush()
    assert len(attempts) == 2
    attempts[1]["on_delivery"](None, None)
    assert tracker.committable() == {WHERE: 1}


def test_an_unacknowledged_record_is_written_again() -> None:
    """A delivery failure puts the slice back, to be written with its then current state."""
    engine = engine_with(["p1"])
    attempts: list[dict[str, Any]] = []
    writer, tracker, clock = writer_for(engine, lambda topic, **record: attempts.append(record))
    tracker.read(WHERE, 0)
    writer.mark(("t.out", 0, "p1"), [tracker.take(WHERE, 0)])
    writer.flush()
    attempts[0]["on_delivery"](KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert tracker.committable() == {WHERE: 0}
    clock.now += RETRY_FIRST_SECONDS
    writer.flush()
    attempts[1]["on_delivery"](None, None)
    assert tracker.committable() == {WHERE: 1}


def test_slices_of_revoked_shards_are_not_written() -> None:
    """Once a shard is revoked its new owner restores what was last written."""
    engine = engine_with(["p1"])
    produced: list[dict[str, Any]] = []
    writer, _tracker, _clock = writer_for(engine, lambda topic, **r: produced.append(r))
    writer.mark(("t.out", 0, "p1"), [])
    engine.revoke([0])
    writer.flush()
    assert produced == []
    writer.mark(("t.out", 0, "p1"), [])
    writer.forget([0])
    assert writer.dirty == 0


def test_values_stay_small_however_big_the_shard() -> None:
    """With 3,000 partitions in one shard, each write is one partition's few hundred bytes."""
    engine = engine_with([f"p{i:04d}" for i in range(3_000)])
    produced: list[dict[str, Any]] = []
    writer, _tracker, _clock = writer_for(engine, lambda topic, **r: produced.append(r))
    writer.mark(("t.out", 0, "p2999"), [])
    writer.flush()
    [record] = produced
    assert len(record["value"]) < 600
    assert json.loads(record["value"])["partition"] == "p2999"


def test_under_load_changes_wait_for_the_interval_and_coalesce() -> None:
    """While the loop is busy a changed slice waits up to the interval, so changes meanwhile
    cost one record; its tickets settle only once that record is acknowledged."""
    engine = engine_with(["p1", "p2"])
    produced: list[dict[str, Any]] = []
    writer, tracker, clock = writer_for(engine, lambda topic, **r: produced.append(r))
    for offset, partition in enumerate(["p1", "p2", "p1"]):
        tracker.read(WHERE, offset)
        writer.mark(("t.out", 0, partition), [tracker.take(WHERE, offset)])
        clock.now += WRITE_INTERVAL_SECONDS / 4
        writer.flush(idle=False)
    assert produced == []
    assert tracker.committable() == {WHERE: 0}
    clock.now += WRITE_INTERVAL_SECONDS / 4  # the first change has now waited the interval
    writer.flush(idle=False)
    assert sorted(r["key"] for r in produced) == [b"t.out/p1", b"t.out/p2"]
    for record in produced:
        record["on_delivery"](None, None)
    assert tracker.committable() == {WHERE: 3}


def test_an_idle_loop_writes_at_once() -> None:
    """Caught up, nothing more would coalesce: the change is written on the next flush."""
    engine = engine_with(["p1"])
    produced: list[dict[str, Any]] = []
    writer, _tracker, _clock = writer_for(engine, lambda topic, **r: produced.append(r))
    writer.mark(("t.out", 0, "p1"), [])
    writer.flush(idle=False)
    assert produced == []
    writer.flush(idle=True)
    assert len(produced) == 1


def test_too_many_waiting_slices_are_written_before_the_interval() -> None:
    """However busy the loop, no more than ``MAX_WAITING`` slices wait in memory."""
    engine = engine_with(["p1"])
    produced: list[dict[str, Any]] = []
    writer, _tracker, _clock = writer_for(engine, lambda topic, **r: produced.append(r))
    for i in range(MAX_WAITING - 1):
        writer.mark(("t.out", 0, f"q{i}"), [])
        writer.flush(idle=False)
    assert produced == []
    writer.mark(("t.out", 0, "p1"), [])
    assert writer.dirty == MAX_WAITING
    writer.flush(idle=False)
    assert len(produced) == MAX_WAITING
    assert writer.dirty == 0


def test_with_no_interval_every_flush_writes() -> None:
    """Exactly-once mode: the transaction about to commit must hold the state it reflects."""
    engine = engine_with(["p1"])
    produced: list[dict[str, Any]] = []
    producer = MagicMock(spec_set=Producer)
    producer.produce.side_effect = lambda topic, **r: produced.append(r)
    writer = ChangelogWriter(
        TOPIC, engine, RecordWriter(lambda: producer, OffsetTracker()), interval=0.0
    )
    writer.mark(("t.out", 0, "p1"), [])
    writer.flush(idle=False)
    assert len(produced) == 1
