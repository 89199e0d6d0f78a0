"""The collector's consumer: every asset topic and the declarations topic, into the ``Store``.

Offsets live in the database, not in Kafka: when partitions are assigned, the consumer starts
each one where the store says the last stored batch ended (or at the beginning), and each batch
is stored together with the offsets past it. A crash at any moment therefore resumes exactly
where the database is, so no record is lost or counted twice, and several replicas of the
collector over one PostgreSQL database form one consumer group, each storing the partitions it
holds. Offsets are also committed to Kafka, asynchronously and only so that the usual tools show
the group's lag; nothing reads them back.

Records that are not what their topic should carry are logged with their topic, partition and
offset, counted, and stored in ``choreo_rejected`` in the same transaction as the offsets that
move past them: nothing is skipped silently, and nothing stops the collector.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

# The collector is the Kafka → SQL adapter: its consumer takes offsets from the store, which
# none of choreo.kafka's readers do.
from confluent_kafka import (  # noqa: TID251
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from choreo.codec import AvroCodec
from choreo.collector.consumed import Consumed, Content, IngestResult, Rejected, Retired
from choreo.collector.store import Store, StoreUnavailableError
from choreo.errors import CodecError, InvalidInputError
from choreo.events import AssetDeclared, AssetEvent, validate_asset_key
from choreo.events.topics import asset_from_topic, asset_topic_pattern, declarations_topic
from choreo.kafka.admin import COMPACTED, DECLARATIONS_PARTITIONS, TopicAdmin
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import is_partition_eof, position
from choreo.settings import Settings

log = structlog.get_logger(__name__)

#: Records stored per transaction at most (fewer when fewer are waiting). The commit and each
#: statement are paid once per batch, and an index page a batch touches is written once however
#: many of its records land there, so bigger batches cost less per record: 5,000 take about
#: 10 MB and a fraction of a second.
DEFAULT_BATCH_SIZE = 5000
#: How often the lag behind each partition's end is measured.
LAG_INTERVAL_SECONDS = 2.0
#: Waits between attempts at a batch while the database is unreachable (doubling up to the max).
STORE_RETRY_SECONDS = 0.5
STORE_RETRY_MAX_SECONDS = 10.0
#: A loop that has not polled for this long is stuck (a batch waiting for the database, say).
STUCK_SECONDS = 30.0
#: Buckets for the time one batch takes to store.
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class CollectorOptions:
    """Knobs of the consumer that are not settings of the environment."""

    poll_seconds: float = 0.2
    """How long one poll waits for a record before the loop looks around (stop, lag)."""
    metadata_refresh_ms: int = 2000
    """How often the asset topic pattern is matched again, i.e. how soon new assets are read."""
    session_timeout_ms: int | None = None
    """librdkafka's ``session.timeout.ms``; ``None`` leaves it to settings or the default."""
    heartbeat_interval_ms: int | None = None
    commit_to_kafka: bool = True
    """Also commit stored offsets to Kafka (asynchronously), for lag in Kafka's own tools."""
    startup_timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far the store is behind one partition's end."""

    topic: str
    partition: int
    next_offset: int | None
    """The next offset to store; ``None`` until the first batch of a new partition."""
    high_watermark: int | None
    """The partition's end as last fetched; ``None`` until known."""

    @property
    def lag(self) -> int | None:
        """Records not yet stored, when both ends are known."""
        if self.next_offset is None or self.high_watermark is None:
            return None
        return max(0, self.high_watermark - self.next_offset)


@dataclass(frozen=True, slots=True)
class IngestLag:
    """What ``/healthz`` shows about ingestion."""

    running: bool
    group_id: str
    partitions: tuple[PartitionLag, ...]
    seconds_since_batch: float | None
    """Since the last batch was stored; ``None`` before the first."""
    seconds_since_poll: float | None
    """Since the consumer last polled: a stuck loop shows here, an idle one does not."""
    totals: IngestResult = field(default_factory=IngestResult)

    @property
    def healthy(self) -> bool:
        """Running, and polling: a loop stuck longer than ``STUCK_SECONDS`` is not healthy."""
        return (
            self.running
            and self.seconds_since_poll is not None
            and self.seconds_since_poll < STUCK_SECONDS
        )

    @property
    def total(self) -> int:
        """Records not yet stored, over the partitions whose lag is known."""
        return sum(p.lag for p in self.partitions if p.lag is not None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "healthy": self.healthy,
            "running": self.running,
            "group_id": self.group_id,
            "lag": self.total,
            "seconds_since_batch": _rounded(self.seconds_since_batch),
            "seconds_since_poll": _rounded(self.seconds_since_poll),
            "stored": self.totals.stored,
            "duplicates": self.totals.duplicates,
            "declared": self.totals.declared,
            "retired": self.totals.retired,
            "rejected": self.totals.rejected,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "next_offset": p.next_offset,
                    "high_watermark": p.high_watermark,
                    "lag": p.lag,
                }
                for p in self.partitions
            ],
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


class IngestMetrics:
    """What the collector's ingestion exposes on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.stored = Counter(
            "choreo_collector_events_stored_total",
            "Asset events stored for the first time.",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "choreo_collector_duplicate_events_total",
            "Asset events read again whose event_id was already stored.",
            registry=self.registry,
        )
        self.declarations = Counter(
            "choreo_collector_declarations_total",
            "Declarations applied (withdrawals by tombstone included).",
            registry=self.registry,
        )
        self.rejected = Counter(
            "choreo_collector_rejected_total",
            "Records that could not be used, kept in choreo_rejected.",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "choreo_collector_batch_seconds",
            "Time to store one batch, in one transaction.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "choreo_collector_lag",
            "Records not yet stored, per topic partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.last_batch = Gauge(
            "choreo_collector_last_batch_timestamp_seconds",
            "Unix time the last batch was stored.",
            registry=self.registry,
        )

    def observe(self, result: IngestResult, seconds: float) -> None:
        """Count one stored batch."""
        self.stored.inc(result.stored)
        self.duplicates.inc(result.duplicates)
        self.declarations.inc(result.declared + result.retired)
        self.rejected.inc(result.rejected)
        self.batch_seconds.observe(seconds)
        self.last_batch.set(time.time())


class Collector:
    """Read every announcement and declaration and store them, until ``stop()``.

    Args:
        settings: The broker and topic prefix.
        store: Where to store; its tables are created if missing.
        group_id: The consumer group, by default ``<prefix>collector``. Replicas sharing one
            PostgreSQL database share a group; collectors with separate databases need
            separate groups.
        batch_size: Records stored per transaction at most.
        options: Timings of the consumer.
        metrics: Where to count; a registry of its own by default.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        group_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        options: CollectorOptions | None = None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch size must be at least 1, not {batch_size}")
        self.settings = settings
        self.store = store
        prefix = settings.topic_prefix
        self.group_id = group_id or f"{prefix}collector"
        self.batch_size = batch_size
        self.options = options or CollectorOptions()
        self.metrics = metrics if metrics is not None else IngestMetrics()
        self.pattern = asset_topic_pattern(prefix)
        self.declarations = declarations_topic(prefix)
        self._prefix = prefix
        self._codec = AvroCodec()
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        # Owned by the poll thread; readers get immutable snapshots.
        self._positions: dict[tuple[str, int], int | None] = {}
        self._lag: tuple[PartitionLag, ...] = ()
        self._totals = IngestResult()
        self._running = False
        self._last_batch: float | None = None
        self._last_poll: float | None = None
        self._next_lag = 0.0

    @property
    def totals(self) -> IngestResult:
        """What this collector stored since it started."""
        return self._totals

    @property
    def assigned(self) -> frozenset[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this replica reads now."""
        return frozenset(self._positions)

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and leave the group (thread-safe; before
        ``run()`` it makes ``run()`` return at once)."""
        self._stop.set()

    def ingest_lag(self) -> IngestLag:
        """How far behind ingestion is, for ``/healthz`` (thread-safe)."""
        now = time.monotonic()
        return IngestLag(
            running=self._running,
            group_id=self.group_id,
            partitions=self._lag,
            seconds_since_batch=None if self._last_batch is None else now - self._last_batch,
            seconds_since_poll=None if self._last_poll is None else now - self._last_poll,
            totals=self._totals,
        )

    def run(self) -> None:
        """Consume and store until ``stop()``.

        Raises:
            BrokerUnavailableError: The broker cannot be reached at start.
            StoreUnavailableError: The database cannot be reached at start or on assignment.
        """
        self._prepare()
        self._running = True
        try:
            self._loop()
        finally:
            self._running = False
            self._shutdown()

    # -- lifecycle -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.store.create()
        admin = TopicAdmin(self.settings, timeout=self.options.startup_timeout_seconds)
        # Subscribing to a topic that does not exist yet is reported as an error at each
        # metadata refresh; the collector makes the topic itself, as a service would.
        admin.ensure_topic(self.declarations, DECLARATIONS_PARTITIONS, COMPACTED)
        defaults = {
            "topic.metadata.refresh.interval.ms": str(self.options.metadata_refresh_ms),
            # Spread partitions over replicas across topics: most asset topics have few
            # partitions, and "range" would hand partition 0 of every topic to one replica.
            "partition.assignment.strategy": "roundrobin",
        }
        timings = {
            "session.timeout.ms": self.options.session_timeout_ms,
            "heartbeat.interval.ms": self.options.heartbeat_interval_ms,
        }
        config = consumer_config(
            self.settings,
            self.group_id,
            **{
                **defaults,
                **{k: str(v) for k, v in timings.items() if v is not None},
                "auto.offset.reset": "earliest",
                "enable.auto.commit": "false",
                "enable.partition.eof": "false",
            },
        )
        self._consumer = new_consumer(config)
        self._consumer.subscribe(
            [self.pattern, self.declarations],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info(
            "collector.started",
            group=self.group_id,
            pattern=self.pattern,
            declarations=self.declarations,
            store=self.store.url,
        )

    def _shutdown(self) -> None:
        if self._consumer is not None:
            self._consumer.close()  # leaves the group: partitions move to other replicas now
            self._consumer = None
        self._positions.clear()
        self._lag = ()
        log.info("collector.stopped", group=self.group_id, **_counts(self._totals))

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        consumer = self._require_consumer()
        while not self._stop.is_set():
            message = consumer.poll(self.options.poll_seconds)
            self._last_poll = time.monotonic()
            if message is not None:
                messages = [message, *consumer.consume(self.batch_size - 1, 0)]
                batch = self._batch(messages)
                if batch:
                    self._store(batch)
            self._measure_lag()

    def _batch(self, messages: list[Message]) -> list[Consumed]:
        batch = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    # No asset topic matches the pattern yet: normal before the first event.
                    log.debug("consumer.no_topic", error=error.str())
                elif not is_partition_eof(message):
                    log.warning("consumer.error", error=error.str())
                continue
            topic, partition, offset = position(message)
            if (topic, partition) not in self._positions:
                continue  # revoked after it was fetched: its new owner reads it from the store
            key, value = message.key(), message.value()
            content = self._content(topic, key, value)
            if isinstance(content, Rejected):
                log.warning(
                    "record.rejected",
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    error=content.reason,
                )
            batch.append(Consumed(topic, partition, offset, content, key, value))
        return batch

    def _content(self, topic: str, key: bytes | None, value: bytes | None) -> Content:
        """What a record holds, or why it cannot be used."""
        if topic == self.declarations:
            if value is None:  # a tombstone: the asset's declaration is withdrawn
                return self._retirement(key)
            return self._decoded(topic, value, AssetDeclared)
        owner = asset_from_topic(self._prefix, topic)
        if owner is None:
            return Rejected(f"{topic} is no asset's topic (not a valid asset key)")
        record = self._decoded(topic, value, AssetEvent)
        if isinstance(record, AssetEvent) and record.asset != owner:
            return Rejected(f"an event of {record.asset} on {topic}, the topic of {owner}")
        return record

    @staticmethod
    def _retirement(key: bytes | None) -> Retired | Rejected:
        name = (key or b"").decode(errors="replace")
        try:
            return Retired(validate_asset_key(name))
        except InvalidInputError as exc:
            return Rejected(f"tombstone whose key is no asset key: {exc}")

    def _decoded(
        self, topic: str, value: bytes | None, expected: type[AssetEvent | AssetDeclared]
    ) -> Content:
        try:
            record = self._codec.decode(value or b"")
        except CodecError as exc:
            return Rejected(str(exc))
        if not isinstance(record, expected):
            return Rejected(
                f"a {type(record).__name__} on {topic}, which carries {expected.__name__}s"
            )
        return record

    def _store(self, batch: list[Consumed]) -> None:
        """Store a batch, waiting out an unreachable database; give up only on ``stop()``
        (the batch is then read again by whoever next holds its partitions)."""
        wait = STORE_RETRY_SECONDS
        while True:
            started = time.monotonic()
            try:
                result = self.store.ingest(batch, self.group_id)
                break
            except StoreUnavailableError as exc:
                log.warning("store.unavailable", error=str(exc), retry_in=wait)
                if self._stop.wait(wait):
                    return
                wait = min(wait * 2, STORE_RETRY_MAX_SECONDS)
        seconds = time.monotonic() - started
        self._totals += result
        self._last_batch = time.monotonic()
        self.metrics.observe(result, seconds)
        next_offsets: dict[tuple[str, int], int] = {}
        for item in batch:
            where = (item.topic, item.partition)
            next_offsets[where] = max(next_offsets.get(where, 0), item.offset + 1)
        for where, offset in next_offsets.items():
            if where in self._positions:
                self._positions[where] = offset
        log.debug("batch.stored", records=len(batch), seconds=round(seconds, 4), **_counts(result))
        if self.options.commit_to_kafka:
            self._commit(next_offsets)

    def _commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self._require_consumer().commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # only for lag in Kafka's tools: the store has them
            log.debug("commit.failed", error=str(exc))

    # -- rebalancing ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        stored = self.store.committed_offsets(self.group_id)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)
        for tp in partitions:
            self._positions[(tp.topic, tp.partition)] = stored.get((tp.topic, tp.partition))
        self._next_lag = 0.0
        log.info(
            "partitions.assigned",
            group=self.group_id,
            partitions=len(partitions),
            resumed=sum(1 for tp in partitions if (tp.topic, tp.partition) in stored),
        )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(tp.topic, str(tp.partition))
        self._lag = tuple(p for p in self._lag if (p.topic, p.partition) in self._positions)
        log.info("partitions.revoked", group=self.group_id, partitions=len(partitions))

    # -- observability -------------------------------------------------------------------------

    def _measure_lag(self) -> None:
        if time.monotonic() < self._next_lag:
            return
        self._next_lag = time.monotonic() + LAG_INTERVAL_SECONDS
        consumer = self._require_consumer()
        measured = []
        for (topic, partition), next_offset in sorted(self._positions.items()):
            high: int | None = None
            try:
                _low, end = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
                high = end if end >= 0 else None
            except KafkaException as exc:
                log.debug("lag.unavailable", topic=topic, partition=partition, error=str(exc))
            lag = PartitionLag(topic, partition, next_offset, high)
            measured.append(lag)
            if lag.lag is not None:
                self.metrics.lag.labels(topic, str(partition)).set(lag.lag)
        self._lag = tuple(measured)

    def _require_consumer(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("the collector is not started")
        return self._consumer


def _counts(result: IngestResult) -> dict[str, int]:
    return {
        "stored": result.stored,
        "duplicates": result.duplicates,
        "declared": result.declared,
        "retired": result.retired,
        "rejected": result.rejected,
    }
