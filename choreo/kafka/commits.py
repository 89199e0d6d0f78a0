"""Committing the input offsets whose effects are durable (``choreo.runtime.offsets``).

Without transactions, settled positions are committed asynchronously, at most every
``COMMIT_INTERVAL_SECONDS`` (and synchronously before a rebalance or shutdown); a failed commit
is only logged, as the next one covers it. In exactly-once mode the open transaction is
committed with them, so outputs, state and offsets become visible together or not at all.

A transaction commit is a round trip to the coordinator and markers on every partition written,
so committing after every turn of the loop would cap a busy service at a few hundred events a
second. It is committed as soon as the loop is idle (caught up with its input and no run in
flight: nothing more would join it, so downstream hears at once), and under load at most every
``TRANSACTION_INTERVAL_SECONDS``, as Kafka Streams does with its 100 ms commit interval in
exactly-once mode.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import structlog
from confluent_kafka import KafkaException, TopicPartition

from choreo.kafka.poller import LoopConsumer
from choreo.kafka.transactions import CommitOutcome, Transactions
from choreo.runtime.offsets import OffsetTracker

log = structlog.get_logger(__name__)

#: Minimum interval between asynchronous offset commits.
COMMIT_INTERVAL_SECONDS = 0.2
#: Longest a transaction is kept open to take more work while runs are still in flight.
TRANSACTION_INTERVAL_SECONDS = 0.1


class Committer:
    """Commits a tracker's settled positions for one consumer."""

    def __init__(
        self,
        tracker: OffsetTracker,
        transactions: Callable[[], Transactions | None],
        *,
        crash_before_commit: int | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracker = tracker
        self._transactions = transactions
        self._crash_countdown = crash_before_commit
        self._timeout = timeout
        self._clock = clock
        self._last = 0.0
        self._last_transaction = clock()

    def commit(self, consumer: LoopConsumer, *, asynchronous: bool, idle: bool = True) -> bool:
        """Commit what is settled; ``False`` when a transaction was aborted (rewind to the
        committed offsets and state: none of it happened).

        ``idle`` says the loop is caught up and no run is in flight; otherwise an asynchronous
        call in exactly-once mode commits only once ``TRANSACTION_INTERVAL_SECONDS`` passed
        since the last commit.
        """
        txn = self._transactions()
        if txn is not None:
            since = self._clock() - self._last_transaction
            if asynchronous and not idle and since < TRANSACTION_INTERVAL_SECONDS:
                return True
            self._last_transaction = self._clock()
            return self._commit_transaction(consumer, txn)
        if asynchronous and self._clock() - self._last < COMMIT_INTERVAL_SECONDS:
            return True
        positions = self._tracker.committable()
        if not positions:
            return True
        self._last = self._clock()
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit.failed", error=str(exc))
            return True
        self._tracker.committed(positions)
        return True

    def _commit_transaction(self, consumer: LoopConsumer, txn: Transactions) -> bool:
        positions = self._tracker.committable()
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        if txn.is_open and self._crash_countdown is not None:
            self._crash_countdown -= 1
            if self._crash_countdown <= 0:  # the failpoint of crash tests
                txn.producer.flush(self._timeout)  # produced, not committed
                os.kill(os.getpid(), signal.SIGKILL)
        if txn.commit(offsets, consumer.consumer_group_metadata()) is CommitOutcome.COMMITTED:
            self._tracker.committed(positions)
            return True
        return False
