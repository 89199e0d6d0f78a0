"""Typed access to confluent-kafka messages and headers.

confluent-kafka types every message attribute as optional because produced-but-undelivered
messages lack them; a consumed (or delivered) record always has them, and saying so once here
keeps the rest of the adapter free of ``None`` checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from choreo.errors import BrokerUnavailableError

KafkaHeaders = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed record as plain values, for code outside the Kafka adapter."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, message: Message) -> Record:
        """The values of a consumed ``message``."""
        topic, partition, offset = position(message)
        return cls(topic, partition, offset, message.key(), message.value())


def position(message: Message) -> tuple[str, int, int]:
    """``(topic, partition, offset)`` of a consumed or delivered record."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("message has no position: it was neither consumed nor delivered")
    return topic, partition, offset


def is_partition_eof(message: Message) -> bool:
    """Whether the message only says a partition's end was reached."""
    error = message.error()
    return error is not None and error.code() == KafkaError._PARTITION_EOF


def kafka_headers(headers: list[tuple[str, bytes]]) -> KafkaHeaders:
    """choreo's header pairs in the type confluent-kafka's ``produce`` takes."""
    converted: KafkaHeaders = list(headers)
    return converted


def read_to_end(
    consumer: Consumer, topic: str, partitions: Iterable[int], timeout: float
) -> Iterator[Message]:
    """Every record of ``partitions`` of ``topic``, from the start to the end as of now.

    For state kept in compacted topics (declarations, changelogs): the caller reads the table
    once, then goes on with live data. ``consumer`` must have ``enable.partition.eof`` set: the
    watermarks only tell which partitions hold anything.

    Raises:
        BrokerUnavailableError: the broker stopped answering before the end was reached.
    """
    ends: dict[int, int] = {}
    for pid in partitions:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot read {topic}[{pid}]: {exc}") from exc
        if high > low:
            ends[pid] = high
    if not ends:
        return
    consumer.assign([TopicPartition(topic, pid, OFFSET_BEGINNING) for pid in ends])
    try:
        while ends:
            message = consumer.poll(timeout)
            if message is None:
                raise BrokerUnavailableError(f"{topic} stopped answering")
            if message.error() is not None:
                if is_partition_eof(message):
                    ends.pop(message.partition() or 0, None)
                continue
            # The end is the partition-EOF event, not the high watermark read above: some
            # compatible brokers report the last batch's base offset + 1 there.
            yield message
    finally:
        consumer.unassign()
