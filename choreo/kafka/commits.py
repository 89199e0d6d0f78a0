"""Committing the input offsets whose effects are durable (``choreo.runtime.offsets``).

Without transactions, settled positions are committed asynchronously, at most every
``COMMIT_INTERVAL_SECONDS`` (and synchronously before a rebalance or shutdown); a failed commit
is only logged, as the next one covers it. In exactly-once mode the open transaction is
committed with them, so outputs, state and offsets become visible together or not at all.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

from choreo.kafka.transactions import CommitOutcome, Transactions
from choreo.runtime.offsets import OffsetTracker

log = structlog.get_logger(__name__)

#: Minimum interval between asynchronous offset commits.
COMMIT_INTERVAL_SECONDS = 0.2


class Committer:
    """Commits a tracker's settled positions for one consumer."""

    def __init__(
        self,
        tracker: OffsetTracker,
        transactions: Callable[[], Transactions | None],
        *,
        crash_before_commit: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._tracker = tracker
        self._transactions = transactions
        self._crash_countdown = crash_before_commit
        self._timeout = timeout
        self._last = 0.0

    def commit(self, consumer: Consumer, *, asynchronous: bool) -> bool:
        """Commit what is settled; ``False`` when a transaction was aborted (rewind to the
        committed offsets and state: none of it happened)."""
        txn = self._transactions()
        if txn is not None:
            return self._commit_transaction(consumer, txn)
        if asynchronous and time.monotonic() - self._last < COMMIT_INTERVAL_SECONDS:
            return True
        positions = self._tracker.committable()
        if not positions:
            return True
        self._last = time.monotonic()
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

    def _commit_transaction(self, consumer: Consumer, txn: Transactions) -> bool:
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
