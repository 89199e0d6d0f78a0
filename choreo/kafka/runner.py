"""Runs a ``Service`` against Kafka: the consumer loop around the pure ``ServiceEngine``.

Two threads share the work. The poll thread (``poller``) only reads records, a batch at a time,
and answers the group. The loop, the thread that called ``run``, owns all state: it hands each
record to the engine, runs short asset functions itself, and hands the others to the
``RunExecutor``'s workers, so a long run never stalls the group or the loop. Python then runs
for every event on one thread only, which is what makes a busy service cheap. The function's
output is announced as soon as it returns (by the worker that ran it, or the loop); on the
broker's acknowledgement the loop records the run, writes the output partition's slice to the
changelog and commits the input offsets that are settled. A crash anywhere in between reruns the
same inputs, whose output carries the same deterministic ``event_id``: consumers drop the
duplicate.

An input that starts a run is written to the changelog once, after that run: until then its
offset is held by the run, so a crash reads it again rather than losing its effect. The loop
takes in only as many records as runs may still queue for the workers (``BACKLOG_FACTOR``), and
the poll thread reads only about a batch ahead, so a slow asset never fills memory with a
backlog. Under load, changed slices are written at most once a second
(``changelog.WRITE_INTERVAL_SECONDS``): a slice that changes again meanwhile costs one record.

This module is the loop and the lifecycle; its collaborators are ``startup`` (topics, checks,
declarations, consumers), ``poller`` (reading, rebalance callbacks, the consumer's calls),
``backlog`` (records read and not yet handed over), ``intake`` (records into the engine),
``dispatch`` (acting on the engine's effects), ``outputs`` (runs and their events),
``assignment`` (partitions taken over and given back, durability before a commit),
``changelog`` (state), ``dead_letters``, ``writer`` (records that settle offsets), ``commits``
and ``transactions`` (exactly-once mode), and ``telemetry`` (metrics, logs, lag, health).
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import (
    Consumer,
    KafkaException,
    Producer,
)

from choreo.codec import AvroCodec
from choreo.errors import ConfigError
from choreo.events.topics import asset_topic, changelog_topic, dlq_topic, request_topic
from choreo.http_status import StatusServer
from choreo.kafka import startup
from choreo.kafka.assignment import Assignment
from choreo.kafka.backlog import Backlog
from choreo.kafka.changelog import WRITE_INTERVAL_SECONDS, ChangelogReader, ChangelogWriter
from choreo.kafka.clients import new_producer
from choreo.kafka.commits import Committer
from choreo.kafka.config import producer_config
from choreo.kafka.dead_letters import DeadLetters
from choreo.kafka.dispatch import Dispatcher
from choreo.kafka.intake import Intake
from choreo.kafka.options import RunnerOptions
from choreo.kafka.outputs import OutputAnnouncer
from choreo.kafka.poller import BUSY_WAIT_SECONDS, IDLE_WAIT_SECONDS, Poller
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
        self._started = False
        self._last_turn = time.monotonic()
        self._poller: Poller | None = None
        self._executor = RunExecutor(service.max_concurrency, inline=True)
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
        self._assignment = Assignment(
            self.engine,
            request_topics=set(self.request_topics),
            restorer=lambda: self._require(self._restorer),
            dispatch=self._dispatch,
            outputs=self._outputs,
            changelog=self._changelog,
            dead_letters=self._dead_letters,
            tracker=self._tracker,
            committer=Committer(
                self._tracker,
                transactions,
                crash_before_commit=self.options.crash_before_commit,
                timeout=self.options.startup_timeout_seconds,
            ),
            telemetry=self._telemetry,
            producer=producer,
            options=self.options,
            hold_reading=lambda: self._backlog.reading_held(self._require(self._poller)),
        )
        self._backlog = Backlog(
            self._intake,
            self._dispatch,
            self._executor,
            limit=self._limit,
            held_indices=lambda: self._assignment.indices,
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
        return frozenset(self._assignment.indices)

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
        poller = self._poller = Poller(
            self._consumer,
            self._global,
            room=self._backlog.room,
            rebalanced=self._backlog.drop_unowned,
            telemetry=self._telemetry,
        )
        self._consumer.subscribe(
            sorted(group_topics),
            on_assign=poller.rebalance(self._assignment.on_assign),
            on_revoke=poller.rebalance(self._assignment.on_revoke),
            on_lost=poller.rebalance(self._assignment.on_revoke),
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
                consumer.poll(BUSY_WAIT_SECONDS)
                self._dispatch.serve_producer()
            if self.engine.in_flight:
                self._telemetry.log.warning("service.handing_back", runs=len(self.engine.in_flight))
            self._assignment.make_durable()
            self._assignment.commit(self._require(self._poller).consumer, asynchronous=False)
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
        poller = self._require(self._poller)
        consumer = poller.consumer
        poller.start()
        try:
            while not self._stop.is_set():
                self._last_turn = time.monotonic()
                wake = self.engine.next_wake()
                read = self._backlog.hand_over(poller, self._wait(wake))
                if wake is not None and wake <= _now():
                    self._dispatch.apply(self.engine.on_wake(_now()))
                self._dispatch.serve_producer()
                self._telemetry.in_flight(len(self.engine.in_flight))
                self._telemetry.publish()
                # Idle: caught up and nothing in flight, so nothing more would join a transaction.
                idle = not read and not self.engine.in_flight
                self._changelog.flush(idle=idle)
                self._dead_letters.flush()
                self._assignment.commit(consumer, asynchronous=True, idle=idle)
        finally:
            poller.stop()

    def _wait(self, wake: datetime | None) -> float:
        """How long to wait for records: briefly while runs are in flight, never past ``wake``."""
        timeout = BUSY_WAIT_SECONDS if self.engine.in_flight else IDLE_WAIT_SECONDS
        if wake is not None:
            timeout = max(0.0, min(timeout, (wake - _now()).total_seconds()))
        return timeout

    def _health(self) -> tuple[bool, dict[str, Any]]:
        return health(
            self.service,
            instance=self.options.instance,
            started=self._started,
            seconds_since_poll=(
                time.monotonic() - self._poller.last_poll if self._poller is not None else 0.0
            ),
            seconds_since_turn=time.monotonic() - self._last_turn,
            session_timeout_ms=self.options.session_timeout_ms,
            indices=self._assignment.indices,
            runs_in_flight=len(self.engine.in_flight),
        )

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise RuntimeError("the runner is not started")
        return value
