"""Reading the compacted declarations topic: who owns which asset, before anything runs.

A service reads it at start to refuse an asset another service already owns; the collector and
``choreo dev`` read it to draw the graph before the first run.
"""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaException

from choreo.codec import AvroCodec
from choreo.errors import BrokerUnavailableError, CodecError
from choreo.events import AssetDeclared
from choreo.events.topics import declarations_topic
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import read_to_end
from choreo.settings import Settings

log = structlog.get_logger(__name__)


def read_declarations(settings: Settings, *, timeout: float = 10.0) -> dict[str, AssetDeclared]:
    """The latest declaration of every asset (records that cannot be decoded are logged)."""
    topic = declarations_topic(settings.topic_prefix)
    consumer = new_consumer(
        consumer_config(settings, f"{topic}.reader", **{"enable.partition.eof": "true"})
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
        for message in read_to_end(consumer, topic, list(partitions), timeout):
            value = message.value()
            if value is None:
                found.pop((message.key() or b"").decode(), None)  # tombstone: retired
                continue
            try:
                declared = codec.decode_declared(value)
            except CodecError as exc:
                log.warning("declaration.unreadable", offset=message.offset(), error=str(exc))
                continue
            found[declared.asset] = declared
    finally:
        consumer.close()
    return found
