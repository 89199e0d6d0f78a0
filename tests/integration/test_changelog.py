"""The changelog on a real broker: a shard of thousands of partitions is stored in small records
and restored after a restart without running anything again."""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from choreo import AssetIn, Emitter, Service
from choreo.events.topics import changelog_topic
from choreo.kafka.emitter import build_event
from choreo.settings import Settings

from .services_support import at_least, collect, running

#: Partitions in the one shard: the old layout put them all in one record, which passed Kafka's
#: 1 MB limit at about 1,600 and stopped the service.
PARTITIONS = 2_500


def big_shard_service() -> Service:
    svc = Service("svc-big-shard")

    @svc.asset("t.wide", inputs=[AssetIn("t.many", partitioned=True)], partitioned=True)
    def wide(ctx, many):  # type: ignore[no-untyped-def]
        return ctx.output(location=f"mem://wide/{ctx.partition}", source=many.version)

    return svc


def changelog_values(settings: Settings, topic: str) -> list[bytes]:
    """Every value in the changelog topic's single partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"{topic}.check",
            "enable.partition.eof": True,
        }
    )
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is None:
                continue
            if message.error() is not None:
                break  # end of the partition
            values.append(message.value() or b"")
    finally:
        consumer.close()
    return values


def test_a_shard_of_thousands_of_partitions_is_stored_small_and_restored(
    settings: Settings,
) -> None:
    """2,500 partitions in one shard: every output is announced, no changelog record is large,
    and after a restart only the one new input runs."""
    one_shard = settings.model_copy(update={"topic_partitions": 1})
    svc = big_shard_service()
    partitions = [f"p{i:05d}" for i in range(PARTITIONS)]
    with running(svc, one_shard), Emitter(one_shard) as emitter:
        for start in range(0, PARTITIONS, 500):
            emitter.emit_many(
                build_event("t.many", producer=emitter.producer_info, partition=p, version="v1")
                for p in partitions[start : start + 500]
            )
        outputs = collect(one_shard, "t.wide", until=at_least(PARTITIONS), timeout=120)
    assert sorted(e.partition or "" for e in outputs) == partitions
    values = changelog_values(one_shard, changelog_topic(one_shard.topic_prefix, svc.name))
    assert len(values) >= PARTITIONS
    assert max(len(v) for v in values) < 2_000
    with running(svc, one_shard), Emitter(one_shard) as emitter:
        time.sleep(8)  # joined and restored: nothing may run again
        emitter.updated("t.many", partition="p00007", version="v2")
        after = collect(one_shard, "t.wide", until=at_least(PARTITIONS + 2), timeout=20)
    assert len(after) == PARTITIONS + 1
    assert after[-1].partition == "p00007"
    assert after[-1].metadata["source"] == "v2"
