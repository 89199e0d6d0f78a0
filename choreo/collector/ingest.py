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
from dataclasses import dataclass

import structlog

from choreo.collector.consumed import Consumed, IngestResult, Rejected
from choreo.collector.decoding import RecordDecoder
from choreo.collector.ingest_metrics import IngestMetrics
from choreo.collector.lag import IngestLag, PartitionLag
from choreo.collector.store import Store, StoreUnavailableError
from choreo.errors import InvalidInputError
from choreo.events.topics import asset_topic_pattern, declarations_topic
from choreo.kafka.admin import COMPACTED, DECLARATIONS_PARTITIONS, TopicAdmin
from choreo.kafka.announcements import AnnouncementReader, Where
from choreo.kafka.records import Record
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
        self._decoder = RecordDecoder(prefix)
        self._stop = threading.Event()
        self._reader: AnnouncementReader | None = None
        # Owned by the poll thread; readers get immutable snapshots.
        self._positions: dict[Where, int | None] = {}
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
    def assigned(self) -> frozenset[Where]:
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
        timings = {
            "topic.metadata.refresh.interval.ms": self.options.metadata_refresh_ms,
            "session.timeout.ms": self.options.session_timeout_ms,
            "heartbeat.interval.ms": self.options.heartbeat_interval_ms,
        }
        self._reader = AnnouncementReader(
            self.settings,
            self.group_id,
            [self.pattern, self.declarations],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            options={k: str(v) for k, v in timings.items() if v is not None},
        )
        log.info(
            "collector.started",
            group=self.group_id,
            pattern=self.pattern,
            declarations=self.declarations,
            store=self.store.url,
        )

    def _shutdown(self) -> None:
        if self._reader is not None:
            self._reader.close()  # leaves the group: partitions move to other replicas now
            self._reader = None
        self._positions.clear()
        self._lag = ()
        log.info("collector.stopped", group=self.group_id, **_counts(self._totals))

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        reader = self._require_reader()
        while not self._stop.is_set():
            records = reader.read(self.batch_size, self.options.poll_seconds)
            self._last_poll = time.monotonic()
            batch = self._batch(records)
            if batch:
                self._store(batch)
            self._measure_lag()

    def _batch(self, records: list[Record]) -> list[Consumed]:
        batch = []
        for record in records:
            topic, partition, offset = record.topic, record.partition, record.offset
            if (topic, partition) not in self._positions:
                continue  # revoked after it was fetched: its new owner reads it from the store
            content = self._decoder.content(topic, record.key, record.value)
            if isinstance(content, Rejected):
                log.warning(
                    "record.rejected",
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    error=content.reason,
                )
            batch.append(Consumed(topic, partition, offset, content, record.key, record.value))
        return batch

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
            self._require_reader().commit(next_offsets)

    # -- rebalancing ---------------------------------------------------------------------------

    def _on_assign(self, partitions: list[Where]) -> dict[Where, int]:
        stored = self.store.committed_offsets(self.group_id)
        for where in partitions:
            self._positions[where] = stored.get(where)
        self._next_lag = 0.0
        log.info(
            "partitions.assigned",
            group=self.group_id,
            partitions=len(partitions),
            resumed=sum(1 for where in partitions if where in stored),
        )
        return stored

    def _on_revoke(self, partitions: list[Where]) -> None:
        for topic, partition in partitions:
            self._positions.pop((topic, partition), None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(topic, str(partition))
        self._lag = tuple(p for p in self._lag if (p.topic, p.partition) in self._positions)
        log.info("partitions.revoked", group=self.group_id, partitions=len(partitions))

    # -- observability -------------------------------------------------------------------------

    def _measure_lag(self) -> None:
        if time.monotonic() < self._next_lag:
            return
        self._next_lag = time.monotonic() + LAG_INTERVAL_SECONDS
        reader = self._require_reader()
        measured = []
        for (topic, partition), next_offset in sorted(self._positions.items()):
            lag = PartitionLag(
                topic, partition, next_offset, reader.high_watermark(topic, partition)
            )
            measured.append(lag)
            if lag.lag is not None:
                self.metrics.lag.labels(topic, str(partition)).set(lag.lag)
        self._lag = tuple(measured)

    def _require_reader(self) -> AnnouncementReader:
        if self._reader is None:
            raise RuntimeError("the collector is not started")
        return self._reader


def _counts(result: IngestResult) -> dict[str, int]:
    return {
        "stored": result.stored,
        "duplicates": result.duplicates,
        "declared": result.declared,
        "retired": result.retired,
        "rejected": result.rejected,
    }
