"""What both benchmarks share: the broker they run against, the input events, and the figures.

Each benchmark starts its own embedded broker unless ``CHOREO_BENCH_BOOTSTRAP_SERVERS`` names
one, and gives every run its own topic prefix, so runs never see each other's records.
"""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from choreo import AssetEvent, ProducerInfo, Settings
from choreo.codec import AvroCodec, headers_for
from choreo.embedded_broker import EmbeddedBroker
from choreo.events.topics import asset_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.config import producer_config

BOOTSTRAP_ENV = "CHOREO_BENCH_BOOTSTRAP_SERVERS"
#: The runner's producer lingers 1 ms; the plain loops get the same setting so neither side
#: batches more than the other.
LINGER_MS = "1"
#: Target size of one encoded input event, in bytes (value only, without headers).
EVENT_BYTES = 300
#: Partitions per topic, as choreo creates them by default.
TOPIC_PARTITIONS = 3
ADMIN_TIMEOUT_SECONDS = 30.0
FLUSH_TIMEOUT_SECONDS = 60.0

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""``(key, value, headers)`` of one pre-encoded input record."""


@contextmanager
def broker() -> Iterator[tuple[str, str]]:
    """``(bootstrap servers, description)``: ``$CHOREO_BENCH_BOOTSTRAP_SERVERS`` or an embedded
    broker on a free port, stopped when the block ends."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        yield external, f"{external} (from {BOOTSTRAP_ENV})"
        return
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap_servers, f"embedded Tansu at {embedded.bootstrap_servers}"


def settings_for(bootstrap_servers: str, label: str) -> Settings:
    """Settings with a topic prefix of their own, so each run starts from empty topics."""
    return Settings(
        bootstrap_servers=bootstrap_servers,
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.{label}.",
        topic_partitions=TOPIC_PARTITIONS,
    )


def ensure_asset_topics(settings: Settings, assets: Sequence[str]) -> list[str]:
    """Create the topics of ``assets`` (as choreo would) and return their names."""
    TopicAdmin(settings, timeout=ADMIN_TIMEOUT_SECONDS).ensure(sorted(assets))
    return [asset_topic(settings.topic_prefix, asset) for asset in assets]


def plain_producer(settings: Settings) -> Producer:
    """A producer configured as the runner's: idempotent, ``acks=all``, the same linger."""
    return Producer(producer_config(settings, **{"linger.ms": LINGER_MS}))


def input_event(asset: str, index: int, *, partitioned: bool = True) -> AssetEvent:
    """Input event number ``index``: its own partition key, padded to about ``EVENT_BYTES``."""
    event = AssetEvent(
        asset=asset,
        partition=f"p{index:08d}" if partitioned else None,
        version=uuid.uuid4().hex[:16],
        occurred_at=datetime.now(UTC),
        producer=ProducerInfo(service="bench-source", instance="bench:1", code_version="1"),
        location=f"s3://bench-bucket/raw/{asset}/part-{index:08d}.parquet",
        metadata={"rows": 1000 + index, "bytes": 65536, "source": "bench"},
    )
    padding = EVENT_BYTES - len(AvroCodec().encode(event))
    if padding <= 0:
        return event
    return event.model_copy(
        update={"metadata": {**event.metadata, "note": "x" * max(0, padding - 7)}}
    )


def encode_inputs(asset: str, count: int, *, partitioned: bool = True) -> list[Record]:
    """``count`` input records of ``asset``, each on its own partition key, ready to produce."""
    codec = AvroCodec()
    records: list[Record] = []
    for index in range(count):
        event = input_event(asset, index, partitioned=partitioned)
        records.append((event.message_key.encode(), codec.encode(event), headers_for(event)))
    return records


def produce_all(settings: Settings, topic: str, records: Sequence[Record]) -> None:
    """Write ``records`` to ``topic`` and wait until the broker has acknowledged all of them."""
    producer = plain_producer(settings)
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err.str())

    for key, value, headers in records:
        while True:
            try:
                producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=list(headers),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_SECONDS)
    if remaining or failures:
        raise RuntimeError(
            f"pre-producing to {topic}: {remaining} unacknowledged, errors: {failures[:3]}"
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank, so p99 is an observed value)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median, or NaN without values."""
    return statistics.median(values) if values else float("nan")
