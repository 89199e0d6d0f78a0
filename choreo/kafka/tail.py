"""Reading asset topics as a stream of decoded events, for ``choreo tail`` and tests.

The reader assigns partitions itself instead of joining a consumer group: a tail commits
nothing and should start at once (a group join waits for the session timeout on some brokers).
Records that are not choreo events are reported with their topic, partition and offset and the
stream goes on; the caller decides how to show them.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, TopicPartition

from choreo.codec import AvroCodec
from choreo.errors import BrokerUnavailableError, CodecError
from choreo.events import AssetEvent
from choreo.events.topics import asset_topic, asset_topic_pattern
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import position
from choreo.settings import Settings

#: How often a pattern tail looks for asset topics created after it started.
TOPIC_REFRESH_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class TailedRecord:
    """One record read from an asset topic: its event, or why it could not be decoded."""

    topic: str
    partition: int
    offset: int
    event: AssetEvent | None
    error: str | None = None

    @property
    def where(self) -> str:
        """``topic[partition]@offset``, for messages about this record."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


class AssetTail:
    """Follow asset topics, named or matched by a regular expression over asset keys."""

    def __init__(
        self,
        settings: Settings,
        *,
        assets: Sequence[str] = (),
        pattern: str | None = None,
        from_beginning: bool = False,
        timeout: float = 10.0,
    ) -> None:
        prefix = settings.topic_prefix
        self._topics = {asset_topic(prefix, a) for a in assets}
        self._pattern = re.compile(pattern) if pattern is not None else None
        self._topic_re = re.compile(asset_topic_pattern(prefix))
        self._prefix = prefix
        self._start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        self._timeout = timeout
        self._bootstrap = settings.bootstrap_servers
        self._codec = AvroCodec()
        self._assigned: set[tuple[str, int]] = set()
        self._consumer = new_consumer(
            consumer_config(
                settings,
                f"choreo-tail-{uuid.uuid4().hex[:12]}",
                **{"enable.partition.eof": "false"},
            )
        )
        self._next_refresh = 0.0
        self._refresh_assignment()
        # Topics that appear after the tail started are new: read them from their start.
        self._start = OFFSET_BEGINNING

    def _wanted(self, topic: str) -> bool:
        if topic in self._topics:
            return True
        if self._pattern is None or not self._topic_re.match(topic):
            return False
        return bool(self._pattern.search(topic.removeprefix(f"{self._prefix}asset.")))

    def _refresh_assignment(self) -> None:
        try:
            metadata = self._consumer.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self._bootstrap} within {self._timeout:g}s; "
                "is a broker running? (choreo broker starts one)"
            ) from exc
        new = [
            TopicPartition(name, pid, self._start)
            for name, topic in metadata.topics.items()
            if self._wanted(name) and topic.error is None
            for pid in topic.partitions
            if (name, pid) not in self._assigned
        ]
        if new:
            self._consumer.incremental_assign(new)
            self._assigned |= {(tp.topic, tp.partition) for tp in new}
        self._next_refresh = time.monotonic() + TOPIC_REFRESH_SECONDS

    def missing_topics(self) -> list[str]:
        """Named topics that do not exist (yet); the tail picks them up once they do."""
        assigned = {topic for topic, _ in self._assigned}
        return sorted(self._topics - assigned)

    def records(self, *, idle_timeout: float | None = None) -> Iterator[TailedRecord]:
        """Yield records as they arrive; stop after ``idle_timeout`` seconds without one."""
        last_seen = time.monotonic()
        while True:
            if time.monotonic() >= self._next_refresh:
                self._refresh_assignment()
            message = self._consumer.poll(0.2)
            now = time.monotonic()
            if message is None:
                if idle_timeout is not None and now - last_seen >= idle_timeout:
                    return
                continue
            if message.error() is not None:
                continue  # transient client errors are retried by librdkafka
            last_seen = now
            yield self._decode(*position(message), message.value())

    def _decode(self, topic: str, partition: int, offset: int, value: bytes | None) -> TailedRecord:
        try:
            event = self._codec.decode_event(value or b"")
        except CodecError as exc:
            return TailedRecord(topic, partition, offset, None, str(exc))
        return TailedRecord(topic, partition, offset, event)

    def close(self) -> None:
        """Leave without committing anything."""
        self._consumer.close()
