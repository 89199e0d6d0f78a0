"""Exactly-once mode: a cycle's outputs, changelog writes, dead letters and input offsets in one
Kafka transaction (``send_offsets_to_transaction``), read back by ``read_committed`` consumers.

Deterministic event ids already make delivery effectively once on any broker; transactions add
that downstream never even sees the duplicate, on brokers that isolate aborted records (Apache
Kafka does; some compatible brokers accept transactions without doing so). A transaction that
fails is aborted; a producer that hits a fatal error is thrown away and re-created rather than
reused, and the caller rewinds to what was committed.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

log = structlog.get_logger(__name__)

#: Attempts at a commit whose error librdkafka calls retriable (e.g. a coordinator moving).
COMMIT_ATTEMPTS = 3


class CommitOutcome(Enum):
    """What became of a transaction."""

    COMMITTED = "committed"
    ABORTED = "aborted"  # nothing of it is visible; the caller must rewind


class Transactions:
    """Owns the transactional producer and the begin/commit/abort cycle."""

    def __init__(self, new_producer: Callable[[], Producer], *, timeout: float = 30.0) -> None:
        self._new_producer = new_producer
        self.timeout = timeout
        self.producer = self._fresh_producer()
        self._open = False

    def _fresh_producer(self) -> Producer:
        producer = self._new_producer()
        producer.init_transactions(self.timeout)
        return producer

    @property
    def is_open(self) -> bool:
        """Whether a transaction is under way."""
        return self._open

    def ensure_open(self) -> None:
        """Begin a transaction unless one is under way."""
        if not self._open:
            self.producer.begin_transaction()
            self._open = True

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> CommitOutcome:
        """Add ``offsets`` to the transaction and commit it, or abort it on failure."""
        if not self._open and not offsets:
            return CommitOutcome.COMMITTED
        self.ensure_open()
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                if offsets:
                    self.producer.send_offsets_to_transaction(offsets, group_metadata, self.timeout)
                    offsets = []  # added to the transaction; a retry only commits
                self.producer.commit_transaction(self.timeout)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.retriable() and attempt < COMMIT_ATTEMPTS:
                    log.warning("transaction.commit_retry", error=error.str(), attempt=attempt)
                    continue
                self._fail(error)
                return CommitOutcome.ABORTED
            else:
                self._open = False
                return CommitOutcome.COMMITTED
        return CommitOutcome.ABORTED  # pragma: no cover - the loop always returns

    def abort(self) -> None:
        """Abort the transaction under way, if any (e.g. when handing partitions back)."""
        if self._open:
            try:
                self.producer.abort_transaction(self.timeout)
            except KafkaException as exc:
                self._fail(exc.args[0])
                return
            self._open = False

    def _fail(self, error: KafkaError) -> None:
        self._open = False
        if error.txn_requires_abort():
            log.warning("transaction.aborted", error=error.str())
            try:
                self.producer.abort_transaction(self.timeout)
            except KafkaException as exc:
                log.error("transaction.abort_failed", error=str(exc))  # noqa: TRY400
                self._replace()
            return
        log.error("transaction.producer_failed", error=error.str(), fatal=error.fatal())
        self._replace()

    def _replace(self) -> None:
        """Throw the producer away (its state is unknown) and start a new one."""
        old = self.producer
        old.purge()
        self.producer = self._fresh_producer()
        log.info("transaction.producer_recreated")

    def close(self) -> None:
        """Abort what is open and flush."""
        self.abort()
        self.producer.flush(self.timeout)
