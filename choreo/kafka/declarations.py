"""Reading the compacted declarations topic: who owns which asset, before anything runs.

A service reads it at start to refuse an asset another service already owns; the collector and
``choreo dev`` read it to draw the graph before the first run.
"""

from __future__ import annotations

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from choreo.codec import AvroCodec
from choreo.errors import BrokerUnavailableError, CodecError
from choreo.events import AssetDeclared
from choreo.events.topics import declarations_topic
from choreo.kafka.client_log import librdkafka_logger, on_client_error
from choreo.kafka.config import consumer_config
from choreo.settings import Settings

log = structlog.get_logger(__name__)


def read_declarations(settings: Settings, *, timeout: float = 10.0) -> dict[str, AssetDeclared]:
    """The latest declaration of every asset (records that cannot be decoded are logged)."""
    topic = declarations_topic(settings.topic_prefix)
    consumer = Consumer(
        {
            **consumer_config(settings, f"{topic}.reader", **{"enable.partition.eof": "true"}),
            "error_cb": on_client_error,
        },
        logger=librdkafka_logger(),
    )
    codec = AvroCodec()
    found: dict[str, AssetDeclared] = {}
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {settings.bootstrap_servers} within {timeout:g}s"
            ) from exc
        partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
        ends = {}
        for pid in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=timeout)
            if high > low:
                ends[pid] = high
        if not ends:
            return found
        consumer.assign([TopicPartition(topic, pid, OFFSET_BEGINNING) for pid in ends])
        while ends:
            message = consumer.poll(timeout)
            if message is None:
                raise BrokerUnavailableError(f"{topic} stopped answering")
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:  # noqa: SLF001
                    ends.pop(message.partition(), None)
                continue
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
            if message.value() is None:
                found.pop((message.key() or b"").decode(), None)  # tombstone: retired
                continue
            try:
                declared = codec.decode_declared(message.value())
            except CodecError as exc:
                log.warning("declaration.unreadable", offset=message.offset(), error=str(exc))
                continue
            found[declared.asset] = declared
    finally:
        consumer.close()
    return found
