"""The dead-letter topic: input that cannot be decoded or validated, kept with where it came from
and why, so the service goes on and nothing is silently skipped.

The record's offset is committed only once its dead letter is written; one that cannot be written
is tried again after a backoff, and until then the input's offset stays uncommitted (a restart
reads it again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from confluent_kafka import Message

from choreo.errors import ChoreoError
from choreo.kafka.records import KafkaHeaders, position
from choreo.kafka.writer import RecordWriter
from choreo.metrics import ServiceMetrics
from choreo.runtime.offsets import Ticket

log = structlog.get_logger(__name__)

#: A dead letter that could not be written is tried again after this long, doubling to the cap.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


@dataclass
class _Held:
    record: dict[str, Any]
    tickets: list[Ticket]
    not_before: float
    backoff: float


class DeadLetters:
    """Writes dead letters to ``topic`` for one service."""

    def __init__(
        self,
        topic: str,
        service: str,
        writer: RecordWriter,
        metrics: ServiceMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self._service = service.encode()
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._held: list[_Held] = []

    def send(self, message: Message, exc: ChoreoError, tickets: list[Ticket]) -> None:
        """Dead-letter ``message``, which failed with ``exc``; its write settles ``tickets``."""
        topic, partition, offset = position(message)
        reason = type(exc).__name__
        self._metrics.dead_letters.labels(topic, reason).inc()
        log.warning(
            "record.dead_lettered",
            topic=topic,
            partition=partition,
            offset=offset,
            error_type=reason,
            error=str(exc),
            dlq=self.topic,
        )
        headers: KafkaHeaders = [
            ("choreo_dlq_topic", topic.encode()),
            ("choreo_dlq_partition", str(partition).encode()),
            ("choreo_dlq_offset", str(offset).encode()),
            ("choreo_dlq_error_type", reason.encode()),
            ("choreo_dlq_error_message", str(exc).encode()),
            ("choreo_dlq_service", self._service),
            ("choreo_dlq_at", datetime.now(UTC).isoformat().encode()),
        ]
        self._write({"key": message.key(), "value": message.value(), "headers": headers}, tickets)

    def flush(self, *, force: bool = False) -> None:
        """Try again the dead letters whose backoff is over (all of them with ``force``)."""
        if not self._held:
            return
        now = self._clock()
        due = [h for h in self._held if force or h.not_before <= now]
        self._held = [h for h in self._held if not (force or h.not_before <= now)]
        for held in due:
            self._write(held.record, held.tickets, held.backoff)

    def clear(self) -> None:
        """Drop the dead letters waiting to be retried (after a rewind: their inputs are read
        again). A revoke keeps them: writing one twice is harmless, losing one is not."""
        self._held.clear()

    def _write(self, record: dict[str, Any], tickets: list[Ticket], backoff: float = 0.0) -> None:
        def failed(held: list[Ticket]) -> None:
            delay = min(RETRY_MAX_SECONDS, backoff * 2) if backoff else RETRY_FIRST_SECONDS
            self._held.append(_Held(record, held, self._clock() + delay, delay))
            log.warning("record.dead_letter_retry_later", dlq=self.topic, seconds=delay)

        self._writer.write(self.topic, tickets, failed, **record)
