"""Runs on the workers (or the loop), their output events to the broker, acknowledged runs back.

Whoever ran a run announces its output (the producer is thread-safe), so downstream hears of a
change as soon as the function returns; the broker's acknowledgement comes back through a
queue, since only the loop may touch the engine. In exactly-once mode the loop produces the
output instead, inside its open transaction.

An output the broker did not take is announced again later, its inputs unsettled meanwhile; one
it will never take (larger than its limit) becomes a FAILED event saying so, which downstream
sees instead of waiting forever.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from choreo.codec import AvroCodec, headers_for
from choreo.events import AssetEvent
from choreo.kafka.records import kafka_headers
from choreo.kafka.transactions import Transactions
from choreo.kafka.writer import produce
from choreo.runtime.effects import StartRun
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.executor import Failed, RunExecutor, RunOutcome, Succeeded
from choreo.runtime.offsets import Ticket

log = structlog.get_logger(__name__)

#: Wait before announcing again an output that was not acknowledged.
RETRY_SECONDS = 1.0


@dataclass
class Announced:
    """A run whose output event the broker acknowledged (or took into the transaction)."""

    run: StartRun
    outcome: RunOutcome
    event: AssetEvent
    tickets: list[Ticket]
    """The input tickets the run held: they settle once its changelog slice is written."""


@dataclass
class _Reply:
    run: StartRun
    outcome: RunOutcome
    event: AssetEvent
    error: KafkaError | None
    generation: int


@dataclass
class _Running:
    run: StartRun
    tickets: list[Ticket]


class OutputAnnouncer:
    """Hands runs to the executor and announces their outputs."""

    def __init__(
        self,
        engine: ServiceEngine,
        codec: AvroCodec,
        executor: RunExecutor,
        *,
        topics: Mapping[str, str],
        producer: Callable[[], Producer],
        transactions: Callable[[], Transactions | None],
    ) -> None:
        self._engine = engine
        self._codec = codec
        self._executor = executor
        self._topics = topics
        self._producer = producer
        self._transactions = transactions
        self._running: dict[tuple[str, str | None], _Running] = {}
        self._replies: queue.SimpleQueue[_Reply] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[tuple[StartRun, RunOutcome, int]] = queue.SimpleQueue()
        self._later: list[tuple[float, StartRun, RunOutcome, int]] = []
        self._generation = 0

    def submit(self, run: StartRun, tickets: list[Ticket]) -> None:
        """Run ``run`` on a worker; its acknowledged output settles ``tickets``."""
        self._running[run.key] = _Running(run, tickets)
        generation = self._generation
        self._executor.submit(
            run.definition,
            run.ctx,
            run.args,
            lambda outcome: self._announce(run, outcome, generation),
        )

    def running_in(self, indices: Iterable[int]) -> bool:
        """Whether a run of a shard of ``indices`` is still running or unacknowledged."""
        held = set(indices)
        return any(item.run.shard[1] in held for item in self._running.values())

    def collect(self) -> list[Announced]:
        """On the loop, after serving the producer's delivery reports: the runs whose
        outputs are now acknowledged (in exactly-once mode, produced into the transaction)."""
        if self._later:
            self._retry_due()
        txn = self._transactions()
        if txn is not None:
            self._announce_in(txn)
        done: list[Announced] = []
        while True:
            try:
                reply = self._replies.get_nowait()
            except queue.Empty:
                return done
            if reply.error is not None:
                self._refused(reply, reply.error)
                continue
            running = self._running.pop(reply.run.key, None)
            tickets = running.tickets if running is not None else []
            done.append(Announced(reply.run, reply.outcome, reply.event, tickets))

    def rewind(self) -> int:
        """Forget every run (they belong to a transaction that was aborted); the new generation.

        Runs still on the workers are dropped when they finish: they are planned again from the
        committed state.
        """
        self._generation += 1
        self._running.clear()
        self._later.clear()
        return self._generation

    def _announce(self, run: StartRun, outcome: RunOutcome, generation: int) -> None:
        """Where the run ran, or on the loop when trying again: produce the output event."""
        if self._transactions() is not None:
            self._outcomes.put((run, outcome, generation))
            return
        event = self._engine.output_event(run, outcome, datetime.now(UTC))

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            self._replies.put(_Reply(run, outcome, event, err, generation))

        try:
            self._produce(self._producer(), event, on_delivery=delivered)
        except KafkaException as exc:  # refused outright, e.g. larger than message.max.bytes
            self._replies.put(_Reply(run, outcome, event, _error_of(exc), generation))

    def _announce_in(self, txn: Transactions) -> None:
        while True:
            try:
                run, outcome, generation = self._outcomes.get_nowait()
            except queue.Empty:
                return
            if generation != self._generation:
                continue  # planned before a rewind: it is planned again from committed state
            event = self._engine.output_event(run, outcome, datetime.now(UTC))
            txn.ensure_open()
            error: KafkaError | None = None
            try:
                self._produce(txn.producer, event)
            except KafkaException as exc:
                error = _error_of(exc)
            self._replies.put(_Reply(run, outcome, event, error, generation))

    def _produce(self, producer: Producer, event: AssetEvent, **extra: Any) -> None:
        produce(
            producer,
            self._topics[event.asset],
            key=event.message_key.encode(),
            value=self._codec.encode(event),
            headers=kafka_headers(headers_for(event)),
            **extra,
        )

    def _refused(self, reply: _Reply, error: KafkaError) -> None:
        log.error(
            "event.not_acknowledged",
            asset=reply.event.asset,
            event_id=str(reply.event.event_id),
            error=error.str(),
        )
        outcome = reply.outcome
        at = time.monotonic() + RETRY_SECONDS
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE and isinstance(outcome, Succeeded):
            outcome = Failed(
                "OutputTooLarge",
                f"the output event is larger than the broker accepts ({error.str()})",
                outcome.attempts,
                outcome.seconds,
            )
            at = 0.0
        self._later.append((at, reply.run, outcome, reply.generation))

    def _retry_due(self) -> None:
        now = time.monotonic()
        due = [item for item in self._later if item[0] <= now]
        self._later = [item for item in self._later if item[0] > now]
        for _at, run, outcome, generation in due:
            if generation == self._generation:
                self._announce(run, outcome, generation)


def _error_of(exc: KafkaException) -> KafkaError:
    """The ``KafkaError`` a ``KafkaException`` carries (librdkafka always gives one)."""
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else KafkaError(KafkaError._FAIL, str(exc))
