"""The lineage collector's consumer: every asset topic and the declarations topic, read as one
consumer group whose offsets are kept outside Kafka.

The collector stores its offsets in its database, in the transaction of each batch, so when
partitions are assigned this reader starts each one where its owner says (``on_assign`` returns
the offsets) instead of at the offsets committed to Kafka. It still commits to Kafka,
asynchronously and only so that Kafka's own tools show the group's lag. Errors the consumer
reports between records are logged, never raised: a topic pattern that matches nothing yet is
normal before the first event, and librdkafka recovers from the rest by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import Record, is_partition_eof
from choreo.settings import Settings

log = structlog.get_logger(__name__)

Where = tuple[str, int]
"""A ``(topic, partition)`` pair."""

#: Options the reader needs whatever it is given: offsets come from the owner, and a partition
#: its owner has no offset for is read from its start.
_FIXED_OPTIONS: dict[str, str] = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": "false",
    "enable.partition.eof": "false",
}
#: Spread partitions over replicas across topics: most asset topics have few partitions, and
#: "range" would hand partition 0 of every topic to one replica.
DEFAULT_ASSIGNMENT = "roundrobin"


class AnnouncementReader:
    """Subscribe ``group_id`` to ``topics`` (names or ``^`` patterns) and read them in batches.

    Args:
        settings: The broker and the user's librdkafka options.
        group_id: The consumer group; replicas of one reader share the partitions.
        topics: Topic names and patterns to subscribe to.
        on_assign: Called with the partitions just assigned; returns where to start each one
            (a partition it leaves out is read from its start).
        on_revoke: Called with the partitions taken away (revoked or lost).
        options: librdkafka options over choreo's consumer defaults (and the user's).

    Raises:
        ConfigError: librdkafka refuses the configuration.
    """

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assign: Callable[[list[Where]], Mapping[Where, int]],
        on_revoke: Callable[[list[Where]], None],
        options: Mapping[str, str] | None = None,
    ) -> None:
        self._on_assign_cb = on_assign
        self._on_revoke_cb = on_revoke
        config = consumer_config(
            settings,
            group_id,
            **{
                "partition.assignment.strategy": DEFAULT_ASSIGNMENT,
                **(options or {}),
                **_FIXED_OPTIONS,
            },
        )
        self._consumer: Consumer = new_consumer(config)
        self._consumer.subscribe(
            list(topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def read(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records: waits up to ``timeout`` seconds for the first, then
        takes what else has arrived without waiting. Rebalance callbacks run in here."""
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        records = []
        for message in [first, *self._consumer.consume(max_records - 1, 0)]:
            error = message.error()
            if error is None:
                records.append(Record.of(message))
            elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                # No topic matches the pattern yet: normal before the first event.
                log.debug("consumer.no_topic", error=error.str())
            elif not is_partition_eof(message):
                log.warning("consumer.error", error=error.str())
        return records

    def commit(self, next_offsets: Mapping[Where, int]) -> None:
        """Commit ``next_offsets`` to Kafka asynchronously; a failure is only logged (these
        offsets are for lag in Kafka's tools, not for reading back)."""
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.debug("commit.failed", error=str(exc))

    def high_watermark(self, topic: str, partition: int) -> int | None:
        """The partition's end as last fetched; ``None`` until known."""
        try:
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except KafkaException as exc:
            log.debug("lag.unavailable", topic=topic, partition=partition, error=str(exc))
            return None
        return high if high >= 0 else None

    def close(self) -> None:
        """Leave the group: the partitions move to the other replicas at once."""
        self._consumer.close()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        starts = self._on_assign_cb([(tp.topic, tp.partition) for tp in partitions])
        for tp in partitions:
            tp.offset = starts.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._on_revoke_cb([(tp.topic, tp.partition) for tp in partitions])
