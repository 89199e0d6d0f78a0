"""Producing the records an input's offset waits for: changelog slices and dead letters.

An input offset is committed only once everything the record caused is durable (see
``choreo.runtime.offsets``), so each such record carries the tickets it settles: on the broker's
acknowledgement, or at once in exactly-once mode, where the record and the offsets it frees are
committed in one transaction or not at all. A record that cannot be written (refused as too
large, a broker error) settles nothing: the caller's ``on_failure`` gets its tickets back to try
again later, and the service keeps going. Losing one write must never stop the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from choreo.kafka.transactions import Transactions
from choreo.runtime.offsets import OffsetTracker, Ticket

log = structlog.get_logger(__name__)

#: How long a full local queue is given to drain before the produce is tried again.
QUEUE_FULL_WAIT_SECONDS = 0.01

OnFailure = Callable[[list[Ticket]], None]


def produce(producer: Producer, topic: str, **record: Any) -> None:
    """``producer.produce``, waiting out a full local queue instead of raising ``BufferError``.

    Raises:
        KafkaException: librdkafka refused the record (too large, unknown partition, ...).
    """
    while True:
        try:
            producer.produce(topic, **record)
        except BufferError:
            producer.poll(QUEUE_FULL_WAIT_SECONDS)
        else:
            return


class RecordWriter:
    """Writes records whose durability settles offset tickets.

    Delivery callbacks run on whichever thread polls the producer; the runner polls it only on
    its own loop thread, so ``on_failure`` and the tracker are only touched there.
    """

    def __init__(
        self,
        producer: Callable[[], Producer],
        tracker: OffsetTracker,
        transactions: Callable[[], Transactions | None] = lambda: None,
    ) -> None:
        self._producer = producer
        self._tracker = tracker
        self._transactions = transactions

    def write(
        self, topic: str, tickets: list[Ticket], on_failure: OnFailure, **record: Any
    ) -> None:
        """Produce one record (``produce`` keyword arguments) that settles ``tickets``."""
        txn = self._transactions()
        if txn is not None:
            txn.ensure_open()
            producer = txn.producer
        else:
            producer = self._producer()
            record["on_delivery"] = self._on_delivery(topic, tickets, on_failure)
        try:
            produce(producer, topic, **record)
        except KafkaException as exc:
            log.error(  # noqa: TRY400 - the reason is in the message; no traceback wanted
                "record.refused", topic=topic, error=str(exc), bytes=len(record.get("value") or b"")
            )
            on_failure(tickets)
            return
        if txn is not None:
            self.settle(tickets)  # committed with the offsets they free, or not at all

    def settle(self, tickets: list[Ticket]) -> None:
        """Settle ``tickets`` now (their work is durable)."""
        for ticket in tickets:
            self._tracker.settle(ticket)

    def _on_delivery(
        self, topic: str, tickets: list[Ticket], on_failure: OnFailure
    ) -> Callable[[KafkaError | None, Message], None]:
        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error("record.not_acknowledged", topic=topic, error=err.str())
                on_failure(tickets)
            else:
                self.settle(tickets)

        return delivered
