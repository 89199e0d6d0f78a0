"""Runs a ``Service`` against Kafka: the consumer loop around the pure ``ServiceEngine``.

One thread polls and owns all state; asset functions run on the ``RunExecutor``'s workers, so a
long run never stalls the poll loop. A worker announces its output itself (the producer is
thread-safe), so downstream hears of a change as soon as the function returns; the poll thread
then, on the broker's acknowledgement, records the run, writes the output partition's slice to
the changelog and commits the input offsets that are settled. A crash anywhere in between reruns
the same inputs, whose output carries the same deterministic ``event_id``: consumers drop the
duplicate.

An input that starts a run is written to the changelog once, after that run: until then its
offset is held by the run, so a crash reads it again rather than losing its effect. The loop
reads only as many records as runs may still queue for the workers (``BACKLOG_FACTOR``), so a
slow asset never fills memory with a backlog. Under load, changed slices are written at most once
a second (``changelog.WRITE_INTERVAL_SECONDS``): a slice that changes again meanwhile costs one
record.

This module is the loop, the lifecycle and the rebalancing; its collaborators are ``startup``
(topics, checks, declarations, consumers), ``fetcher`` (reading with backpressure), ``intake``
(records into the engine), ``dispatch`` (acting on the engine's effects), ``outputs`` (runs and
their events), ``changelog`` (state),
``dead_letters``, ``writer`` (records that settle offsets), ``commits`` and ``transactions``
(exactly-once mode), and ``telemetry`` (metrics, logs, lag, health).
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from choreo.codec import AvroCodec
from choreo.errors import ConfigError
from choreo.events.topics import asset_topic, changelog_topic, dlq_topic, request_topic
from choreo.http_status import StatusServer
from choreo.kafka import startup
from choreo.kafka.changelog import WRITE_INTERVAL_SECONDS, ChangelogReader, ChangelogWriter
from choreo.kafka.clients import new_producer
from choreo.kafka.commits import Committer
from choreo.kafka.config import producer_config
from choreo.kafka.dead_letters import DeadLetters
from choreo.kafka.dispatch import Dispatcher
from choreo.kafka.fetcher import BUSY_POLL_SECONDS, Fetcher
from choreo.kafka.intake import Intake
from choreo.kafka.options import RunnerOptions
from choreo.kafka.outputs import OutputAnnouncer
from choreo.kafka.telemetry import Observer, Telemetry, health
from choreo.kafka.transactions import Transactions
from choreo.kafka.writer import RecordWriter
from choreo.metrics import ServiceMetrics
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.executor import RunExecutor
from choreo.runtime.offsets import OffsetTracker
from choreo.service import Service
from choreo.settings import Settings

__all__ = ["BACKLOG_FACTOR", "RunnerOptions", "ServiceRunner"]

_T = TypeVar("_T")

#: Runs that may wait for or occupy a worker, in multiples of ``max_concurrency``; the loop
#: reads no more records than that leaves room for.
BACKLOG_FACTOR = 4


def _now() -> datetime:
    return datetime.now(UTC)


class ServiceRunner:
    """The long-running process of one service replica."""

    def __init__(
        self,
        service: Service,
        settings: Settings,
        options: RunnerOptions | None = None,
        *,
        metrics: ServiceMetrics | None = None,
        on_event: Observer | None = None,
    ) -> None:
        if not service.assets:
            raise ConfigError(f"service {service.name} defines no assets; add @svc.asset(...)")
        self.service = service
        self.settings = settings
        self.options = options or RunnerOptions()
        self.metrics = metrics or ServiceMetrics()
        self.engine = ServiceEngine(service, instance=self.options.instance)
        self.codec = AvroCodec()
        prefix = settings.topic_prefix
        self.request_topics = {request_topic(prefix, a): a for a in service.assets}
        self.group_input_topics = {
            asset_topic(prefix, a): a for a in self.engine.group_topics_assets()
        }
        self.global_input_topics = {
            asset_topic(prefix, a): a for a in self.engine.global_topics_assets()
        }
        self.changelog = changelog_topic(prefix, service.name)
        self.dlq = dlq_topic(prefix, service.name)
        self.group_id = f"{prefix}service.{service.name}"
        self._limit = service.max_concurrency * BACKLOG_FACTOR
        self._stop = threading.Event()
        self._telemetry = Telemetry(self.metrics, on_event)
        self._tracker = OffsetTracker()
        self._indices: set[int] = set()
        self._started = False
        self._fetcher: Fetcher | None = None
        self._executor = RunExecutor(service.max_concurrency)
        self._plain_producer: Producer | None = None
        self._txn: Transactions | None = None
        self._consumer: Consumer | None = None
        self._global: Consumer | None = None
        self._restorer: ChangelogReader | None = None
        self._status: StatusServer | None = None
        producer = self._producing
        transactions = self._transactions
        self._outputs = OutputAnnouncer(
            self.engine,
            self.codec,
            self._executor,
            topics={a: asset_topic(prefix, a) for a in service.assets},
            producer=producer,
            transactions=transactions,
        )
        self._writer = RecordWriter(producer, self._tracker, transactions)
        self._changelog = ChangelogWriter(
            self.changelog,
            self.engine,
            self._writer,
            interval=0.0 if service.exactly_once else WRITE_INTERVAL_SECONDS,
        )
        self._dead_letters = DeadLetters(self.dlq, service.name, self._writer, self.metrics)
        self._intake = Intake(
            self.engine,
            self.codec,
            self._tracker,
            self._dead_letters,
            self._telemetry,
            requests=self.request_topics,
            group_inputs=self.group_input_topics,
            global_inputs=self.global_input_topics,
        )
        self._dispatch = Dispatcher(
            self.engine,
            outputs=self._outputs,
            changelog=self._changelog,
            writer=self._writer,
            telemetry=self._telemetry,
            producer=producer,
        )
        self._committer = Committer(
            self._tracker,
            transactions,
            crash_before_commit=self.options.crash_before_commit,
            timeout=self.options.startup_timeout_seconds,
        )

    @property
    def exactly_once(self) -> bool:
        """Whether outputs, state and offsets are committed in Kafka transactions."""
        return self.service.exactly_once

    def _producing(self) -> Producer:
        """The producer in use (the transactional one in exactly-once mode; it may be replaced)."""
        return self._txn.producer if self._txn is not None else self._require(self._plain_producer)

    def _transactions(self) -> Transactions | None:
        return self._txn

    @property
    def assigned_indices(self) -> frozenset[int]:
        """Partition indices this replica holds now."""
        return frozenset(self._indices)

    @property
    def status_port(self) -> int | None:
        """The port serving /metrics and /healthz, once started with a metrics port."""
        return self._status.port if self._status is not None else None

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish in-flight work, commit and leave the group (thread-safe)."""
        self._stop.set()

    def run(self) -> None:
        """Prepare topics, declare the assets, and process records until ``stop()``.

        Raises:
            ConfigError: an asset is owned by another service, or inputs are not co-partitioned.
            BrokerUnavailableError: the broker cannot be reached at start.
        """
        self._prepare()
        try:
            self._loop()
        finally:
            self._shutdown()

    def _prepare(self) -> None:
        timeout = self.options.startup_timeout_seconds
        self._telemetry.start(service=self.service.name, instance=self.options.instance)
        group_topics = set(self.request_topics) | set(self.group_input_topics)
        startup.prepare_topics(
            self.settings,
            self.service,
            assets=set(self.service.assets)
            | self.engine.group_topics_assets()
            | self.engine.global_topics_assets(),
            requests=self.request_topics,
            group_topics=group_topics,
            changelog=self.changelog,
            dlq=self.dlq,
            timeout=timeout,
        )
        config = producer_config(self.settings, **{"linger.ms": "1"})
        if self.exactly_once:
            config["transactional.id"] = f"{self.group_id}.{self.options.instance}"
            self._txn = Transactions(lambda: new_producer(config), timeout=timeout)
        else:
            self._plain_producer = new_producer(config)
        startup.declare(
            self.settings,
            self.service,
            instance=self.options.instance,
            codec=self.codec,
            timeout=timeout,
        )
        self._restorer = ChangelogReader(self.settings, self.changelog, timeout=timeout)
        if self.global_input_topics:
            self._global = startup.global_consumer(
                self.settings, self.group_id, self.global_input_topics, timeout=timeout
            )
        self._consumer = startup.group_consumer(
            self.settings,
            self.group_id,
            session_timeout_ms=self.options.session_timeout_ms,
            heartbeat_interval_ms=self.options.heartbeat_interval_ms,
        )
        self._consumer.subscribe(
            sorted(group_topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        if self.options.metrics_port is not None:
            self._status = StatusServer(
                self.metrics.registry,
                self._health,
                self.options.metrics_host,
                self.options.metrics_port,
            ).start()
            self._telemetry.log.info("service.status_endpoint", port=self._status.port)
        self._started = True
        self._telemetry.log.info(
            "service.started", assets=sorted(self.service.assets), group=self.group_id
        )

    def _shutdown(self) -> None:
        consumer = self._consumer
        if consumer is not None and self._started:
            deadline = time.monotonic() + self.options.shutdown_grace_seconds
            with contextlib.suppress(KafkaException):
                consumer.pause(consumer.assignment())
            while self.engine.in_flight and time.monotonic() < deadline:
                consumer.poll(BUSY_POLL_SECONDS)
                self._dispatch.serve_producer()
            if self.engine.in_flight:
                self._telemetry.log.warning("service.handing_back", runs=len(self.engine.in_flight))
            self._make_durable()
            self._commit(consumer, asynchronous=False)
        self._executor.shutdown(wait=False)
        if consumer is not None:
            consumer.close()  # leaves the group: partitions move to other replicas at once
        if self._global is not None:
            self._global.close()
        if self._restorer is not None:
            self._restorer.close()
        self._telemetry.publish()
        if self._status is not None:
            self._status.stop()
        self._telemetry.log.info("service.stopped")

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        consumer = self._require(self._consumer)
        fetcher = self._fetcher = Fetcher(
            consumer, self._global, self._executor, limit=self._limit, telemetry=self._telemetry
        )
        while not self._stop.is_set():
            wake = self.engine.next_wake()
            read = 0
            for message, from_group in fetcher.records(busy=bool(self.engine.in_flight), wake=wake):
                self._take_in(message, from_group=from_group)
                read += 1
            if wake is not None and wake <= _now():
                self._dispatch.apply(self.engine.on_wake(_now()))
            self._dispatch.serve_producer()
            self._telemetry.in_flight(len(self.engine.in_flight))
            self._telemetry.publish()
            # Idle: caught up and nothing in flight, so nothing more would join a transaction.
            idle = not read and not self.engine.in_flight
            self._changelog.flush(idle=idle)
            self._dead_letters.flush()
            self._commit(consumer, asynchronous=True, idle=idle)
            self._telemetry.measure_lag(consumer)

    def _take_in(self, message: Message, *, from_group: bool) -> None:
        taken = self._intake.take_in(message, from_group=from_group)
        if taken is not None:
            self._dispatch.apply(*taken)

    # -- durability ----------------------------------------------------------------------------

    def _make_durable(self) -> None:
        """Write what is waiting and wait for the broker (before a commit that must count).

        Runs whose outputs the broker acknowledges during that wait (it was unreachable for
        longer than the grace given to in-flight runs) are recorded and their slices written
        too: left for the loop, they would find their shards revoked and run again.
        """
        self._changelog.flush(force=True)
        self._dead_letters.flush(force=True)
        self._producing().flush(10)
        self._dispatch.serve_producer()
        self._changelog.flush(force=True)
        self._producing().flush(10)

    def _commit(
        self, consumer: Consumer, *, asynchronous: bool, rewind: bool = True, idle: bool = True
    ) -> None:
        if not self._committer.commit(consumer, asynchronous=asynchronous, idle=idle) and rewind:
            self._rewind(consumer)

    def _rewind(self, consumer: Consumer) -> None:
        """Forget everything not committed and resume from the committed offsets and state.

        After an aborted transaction none of its outputs, state or offsets happened; runs in
        flight belong to the old generation and are dropped when they finish.
        """
        generation = self._outputs.rewind()
        self._telemetry.log.warning("service.rewinding", generation=generation)
        indices = set(self._indices)
        self.engine.revoke(indices)
        self.engine.forget_runs()
        self._changelog.clear()
        self._dead_letters.clear()
        assignment = consumer.assignment()
        self._tracker.forget([(tp.topic, tp.partition) for tp in assignment])
        timeout = self.options.startup_timeout_seconds
        for tp in consumer.committed(assignment, timeout=timeout):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self._telemetry.in_flight(0)
        self._take_over(indices)

    # -- rebalancing ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        indices = {tp.partition for tp in partitions if tp.topic in self.request_topics}
        new = indices - self._indices
        self._indices |= indices
        self._take_over(new)

    def _take_over(self, indices: set[int]) -> None:
        """Restore the shards of ``indices`` from the changelog and decide what to run."""
        shards = self.engine.shard_keys_for(indices)
        restored = self._require(self._restorer).restore(indices, {s[0] for s in shards})
        effects = self.engine.assign({s: restored.get(s) for s in shards}, _now())
        self._telemetry.log.info(
            "partitions.assigned",
            indices=sorted(indices),
            shards=len(shards),
            restored=len(restored),
        )
        self._dispatch.apply(effects)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        indices = {tp.partition for tp in partitions if tp.topic in self.request_topics}
        deadline = time.monotonic() + self.options.shutdown_grace_seconds
        while self._outputs.running_in(indices) and time.monotonic() < deadline:
            time.sleep(BUSY_POLL_SECONDS)
            self._dispatch.serve_producer()
        self._make_durable()
        self._commit(consumer, asynchronous=False, rewind=False)
        self.engine.revoke(indices)
        self._changelog.forget(indices)
        self._indices -= indices
        self._tracker.forget([(tp.topic, tp.partition) for tp in partitions])
        self._telemetry.log.info("partitions.revoked", indices=sorted(indices))

    def _health(self) -> tuple[bool, dict[str, Any]]:
        return health(
            self.service,
            instance=self.options.instance,
            started=self._started,
            seconds_since_poll=(
                time.monotonic() - self._fetcher.last_poll if self._fetcher is not None else 0.0
            ),
            session_timeout_ms=self.options.session_timeout_ms,
            indices=self._indices,
            runs_in_flight=len(self.engine.in_flight),
        )

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise RuntimeError("the runner is not started")
        return value
