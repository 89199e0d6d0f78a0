"""A confluent-kafka producer that confirms delivery: the shared core of the ``Emitter`` and,
later, the service runtime. ``send_all`` returns only once the broker acknowledged every record,
or raises choreo's own error naming the record that failed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message

from choreo.errors import BrokerError, BrokerUnavailableError
from choreo.kafka.clients import new_producer
from choreo.kafka.config import producer_config
from choreo.kafka.records import kafka_headers, position
from choreo.settings import Settings

#: librdkafka error codes that mean "nobody answered" rather than "the broker said no".
UNREACHABLE_CODES = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
    }
)


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record to produce."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int | None = None
    """A fixed partition; ``None`` lets the partitioner choose from the key."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


class ConfirmingProducer:
    """Produce records and wait for the broker's acknowledgement of each."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0, **extra: str) -> None:
        self.timeout = timeout
        self.bootstrap = settings.bootstrap_servers
        config = producer_config(
            settings,
            **{"message.timeout.ms": str(max(1, int(timeout * 1000))), **extra},
        )
        self._producer = new_producer(config)

    def send_all(self, records: Sequence[OutgoingRecord]) -> list[Delivered]:
        """Produce ``records`` and block until each is acknowledged.

        Raises:
            BrokerUnavailableError: the broker did not acknowledge within the timeout.
            BrokerError: the broker refused a record.
        """
        results: list[Delivered | KafkaError | None] = [None] * len(records)

        def on_delivery(index: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(err: KafkaError | None, msg: Message) -> None:
                results[index] = err if err is not None else Delivered(*position(msg))

            return callback

        for index, record in enumerate(records):
            self._produce(record, on_delivery(index))
        deadline = time.monotonic() + self.timeout + 1.0
        while any(r is None for r in results):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._producer.flush(min(remaining, 0.5))
        return [
            self._outcome(record, result) for record, result in zip(records, results, strict=True)
        ]

    def _produce(
        self, record: OutgoingRecord, callback: Callable[[KafkaError | None, Message], None]
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=kafka_headers(record.headers),
                    on_delivery=callback,
                    # -1 is librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose.
                    partition=-1 if record.partition is None else record.partition,
                )
            except BufferError:
                # Local queue full: let deliveries drain, then retry this record.
                self._producer.poll(0.05)
                continue
            except KafkaException as exc:
                raise BrokerError(f"cannot produce to {record.topic}: {exc.args[0]}") from exc
            return

    def _outcome(self, record: OutgoingRecord, result: Delivered | KafkaError | None) -> Delivered:
        if isinstance(result, Delivered):
            return result
        if result is None or result.code() in UNREACHABLE_CODES:
            raise BrokerUnavailableError(
                f"Kafka at {self.bootstrap} did not acknowledge the event for {record.topic} "
                f"within {self.timeout:g}s; is a broker running? (choreo broker starts one)"
            )
        raise BrokerError(f"Kafka refused the event for {record.topic}: {result.str()}")

    def close(self) -> None:
        """Deliver what is queued (up to the timeout), then drop the rest."""
        self._producer.flush(self.timeout)
        self._producer.purge()
        self._producer.flush(0)
