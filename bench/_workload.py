"""What both benchmarks share: the broker they run against, the input events, and the figures.

Each benchmark starts its own embedded broker unless ``CHOREO_BENCH_BOOTSTRAP_SERVERS`` names
one, and gives every run its own topic prefix, so runs never see each other's records.
"""

from __future__ import annotations

import math
import os
import statistics
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaError, Message, Producer

from choreo import AssetEvent, ProducerInfo, Settings
from choreo.codec import AvroCodec, headers_for
from choreo.embedded_broker import EmbeddedBroker
from choreo.events.topics import asset_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.config import producer_config
from choreo.runtime.collection import collect_for_service

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


def plain_producer(settings: Settings, *, warm: bool = False) -> Producer:
    """A producer configured as the runner's: idempotent, ``acks=all``, the same linger.

    With ``warm``, it first gets one record acknowledged on a topic of its own, so getting the
    idempotent producer's id (about half a second on Tansu) is not paid inside a measurement;
    the runner creates its producer seconds before its consumer has joined the group.
    """
    producer = Producer(producer_config(settings, **{"linger.ms": LINGER_MS}))
    if warm:
        topic = f"{settings.topic_prefix}warmup"
        TopicAdmin(settings, timeout=ADMIN_TIMEOUT_SECONDS).ensure_topic(topic, 1)
        producer.produce(topic, value=b"warm-up")
        if producer.flush(FLUSH_TIMEOUT_SECONDS):
            raise RuntimeError(f"the warm-up record to {topic} was not acknowledged")
    return producer


def input_event(
    asset: str, index: int, *, keys: int, occurred_at: datetime, codec: AvroCodec
) -> AssetEvent:
    """Input event number ``index``, padded to about ``EVENT_BYTES`` once encoded.

    Its partition key is its own (``keys=0``) or the next of ``keys`` keys in turn.
    """
    event = AssetEvent(
        asset=asset,
        partition=f"p{index % keys if keys else index:08d}",
        version=uuid.uuid4().hex[:16],
        occurred_at=occurred_at,
        producer=ProducerInfo(service="bench-source", instance="bench:1", code_version="1"),
        location=f"s3://bench-bucket/raw/{asset}/part-{index:08d}.parquet",
        metadata={"rows": 1000 + index, "bytes": 65536, "source": "bench"},
    )
    # "note" plus its length and union branch take 7 bytes before the padding itself.
    padding = EVENT_BYTES - len(codec.encode(event)) - 7
    if padding <= 0:
        return event
    return event.model_copy(update={"metadata": {**event.metadata, "note": "x" * padding}})


def encode_inputs(asset: str, count: int, *, keys: int = 0) -> list[tuple[AssetEvent, Record]]:
    """``count`` input events of ``asset`` (see ``input_event``), each with its record.

    ``occurred_at`` grows by a millisecond per event, so a later event of a key always
    supersedes an earlier one (equal times would be ordered by the random ``event_id``).
    """
    codec = AvroCodec()
    start = datetime.now(UTC)
    inputs: list[tuple[AssetEvent, Record]] = []
    for index in range(count):
        at = start + timedelta(milliseconds=index)
        event = input_event(asset, index, keys=keys, occurred_at=at, codec=codec)
        inputs.append((event, record_of(event, codec)))
    return inputs


def out_of_gc_sight() -> None:
    """Take everything alive now (the prepared workload above all) out of the garbage
    collector's sight, and collect with the thresholds ``choreo run`` sets in a service's
    process (``choreo.runtime.collection``).

    A service never holds thousands of prepared events, but this process does for the whole
    run, and every full collection the measured side triggers would walk them: on
    ``throughput.py`` that was about 20 us of collection per event, against about 6 us with
    the workload frozen (measured with ``gc.callbacks``). Both sides are measured after it,
    with the same thresholds.
    """
    collect_for_service()


def record_of(event: AssetEvent, codec: AvroCodec) -> Record:
    """The record choreo's ``Emitter`` would write for ``event``: key, value and headers."""
    return event.message_key.encode(), codec.encode(event), headers_for(event)


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


def machine_load() -> str:
    """CPU count and load averages: how busy the (shared) machine was, to judge the figures."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} / {five:.1f} / {fifteen:.1f}"


def overloaded() -> bool:
    """Whether the last minute's load average exceeds the CPU count (other work was waiting)."""
    return os.getloadavg()[0] > (os.cpu_count() or 1)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank, so p99 is an observed value)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median, or NaN without values."""
    return statistics.median(values) if values else float("nan")
