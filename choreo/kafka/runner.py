"""Runs a ``Service`` against Kafka: the consumer loop around the pure ``ServiceEngine``.

One thread polls and owns all state; asset functions run on the ``RunExecutor``'s workers, so a
long run never stalls the poll loop. A worker announces its output itself (the producer is
thread-safe), so downstream hears of a change as soon as the function returns; the poll thread
then, on the broker's acknowledgement, records the run, writes the shard to the changelog and
commits the input offsets that are settled. A crash anywhere in between reruns the same inputs,
whose output carries the same deterministic ``event_id``: consumers drop the duplicate.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from choreo.codec import AvroCodec, headers_for
from choreo.errors import ChoreoError, CodecError, ConfigError, InvalidInputError
from choreo.events import AssetDeclared, AssetEvent, ProducerInfo
from choreo.events.topics import (
    asset_from_topic,
    asset_topic,
    changelog_topic,
    declarations_topic,
    dlq_topic,
    request_topic,
)
from choreo.http_status import StatusServer
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.changelog import ChangelogReader, encode_snapshot
from choreo.kafka.clients import new_consumer, new_producer
from choreo.kafka.config import consumer_config, producer_config
from choreo.kafka.declarations import read_declarations
from choreo.kafka.emitter import default_instance
from choreo.kafka.producer import ConfirmingProducer, OutgoingRecord
from choreo.kafka.records import KafkaHeaders, is_partition_eof, kafka_headers, position
from choreo.kafka.transactions import CommitOutcome, Transactions
from choreo.metrics import ServiceMetrics
from choreo.runtime.durations import format_duration
from choreo.runtime.engine import Effects, ServiceEngine, ShardKey, StartRun
from choreo.runtime.executor import RunExecutor, RunOutcome, Succeeded
from choreo.runtime.offsets import OffsetTracker, Ticket
from choreo.service import Service
from choreo.settings import Settings

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

#: Poll timeout while runs are in flight (their acknowledgements are handled between polls).
BUSY_POLL_SECONDS = 0.005
#: Poll timeout when idle: a new record still wakes the poll at once.
IDLE_POLL_SECONDS = 0.1
#: Records drained per poll once one has arrived.
BATCH = 500
#: Pause fetching once this many times ``max_concurrency`` runs are waiting or running.
BACKLOG_FACTOR = 4
#: Minimum interval between asynchronous offset commits.
COMMIT_INTERVAL_SECONDS = 0.2
#: How often consumer lag is measured for the metrics.
LAG_INTERVAL_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunnerOptions:
    """Knobs of the runtime that are not settings of the environment."""

    instance: str = field(default_factory=default_instance)
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the container
    shutdown_grace_seconds: float = 30.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    startup_timeout_seconds: float = 30.0
    crash_before_commit: int | None = None
    """Failpoint for crash tests: SIGKILL this process just before its Nth transaction commit,
    after the transaction's records were produced (exactly-once mode only)."""


@dataclass
class _Finished:
    run: StartRun
    outcome: RunOutcome
    event: AssetEvent
    error: KafkaError | None


class ServiceRunner:
    """The long-running process of one service replica."""

    def __init__(
        self,
        service: Service,
        settings: Settings,
        options: RunnerOptions | None = None,
        *,
        metrics: ServiceMetrics | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
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
        self._stop = threading.Event()
        self._observer = on_event
        self._finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()
        self._tracker = OffsetTracker()
        self._run_tickets: dict[tuple[str, str | None], list[Ticket]] = {}
        self._runs: dict[tuple[str, str | None], StartRun] = {}
        self._shard_tickets: dict[ShardKey, list[Ticket]] = {}
        self._indices: set[int] = set()
        self._last_poll = time.monotonic()
        self._last_commit = 0.0
        self._next_lag = 0.0
        self._started = False
        self._paused = False
        self._executor = RunExecutor(service.max_concurrency)
        self._plain_producer: Producer | None = None
        self._txn: Transactions | None = None
        self._outcomes: queue.SimpleQueue[tuple[StartRun, RunOutcome, int]] = queue.SimpleQueue()
        self._generation = 0
        self._consumer: Consumer | None = None
        self._global: Consumer | None = None
        self._restorer: ChangelogReader | None = None
        self._status: StatusServer | None = None

    @property
    def exactly_once(self) -> bool:
        """Whether outputs, state and offsets are committed in Kafka transactions."""
        return self.service.exactly_once

    @property
    def _producer(self) -> Producer | None:
        return self._txn.producer if self._txn is not None else self._plain_producer

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
        admin = TopicAdmin(self.settings, timeout=timeout)
        partitions = self.settings.topic_partitions
        admin.ensure(
            sorted(
                set(self.service.assets)
                | self.engine.group_topics_assets()
                | self.engine.global_topics_assets()
            )
        )
        for topic in self.request_topics:
            admin.ensure_topic(topic, partitions)
        admin.ensure_topic(self.changelog, partitions, {"cleanup.policy": "compact"})
        admin.ensure_topic(self.dlq, partitions)
        self._check_copartitioned(admin)
        self._check_ownership()
        config = producer_config(self.settings, **{"linger.ms": "1"})
        if self.exactly_once:
            config["transactional.id"] = f"{self.group_id}.{self.options.instance}"
            self._txn = Transactions(
                lambda: new_producer(config), timeout=self.options.startup_timeout_seconds
            )
        else:
            self._plain_producer = new_producer(config)
        self._declare()
        self._restorer = ChangelogReader(self.settings, self.changelog, timeout=timeout)
        if self.global_input_topics:
            self._global = new_consumer(consumer_config(self.settings, f"{self.group_id}.global"))
            metadata = self._global.list_topics(timeout=timeout)
            self._global.assign(
                [
                    TopicPartition(topic, pid, OFFSET_BEGINNING)
                    for topic in self.global_input_topics
                    for pid in metadata.topics[topic].partitions
                ]
            )
        self._consumer = new_consumer(
            consumer_config(
                self.settings,
                self.group_id,
                **{
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "partition.assignment.strategy": "range",
                    "session.timeout.ms": str(self.options.session_timeout_ms),
                    "heartbeat.interval.ms": str(self.options.heartbeat_interval_ms),
                },
            )
        )
        self._consumer.subscribe(
            sorted(set(self.request_topics) | set(self.group_input_topics)),
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
            log.info("service.status_endpoint", port=self._status.port)
        self._started = True
        log.info(
            "service.started",
            service=self.service.name,
            instance=self.options.instance,
            assets=sorted(self.service.assets),
            group=self.group_id,
        )

    def _check_copartitioned(self, admin: TopicAdmin) -> None:
        counts = {t.name: t.partitions for t in admin.list(prefix_only=False)}
        group = sorted(set(self.request_topics) | set(self.group_input_topics))
        sizes = {topic: counts.get(topic) for topic in group}
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{t}={n}" for t, n in sizes.items())
            raise ConfigError(
                f"inputs of service {self.service.name} are not co-partitioned ({shown}): "
                "partitioned inputs and request topics need the same partition count"
            )

    def _check_ownership(self) -> None:
        declared = read_declarations(self.settings, timeout=self.options.startup_timeout_seconds)
        for asset in self.service.assets:
            current = declared.get(asset)
            if current is not None and current.service != self.service.name:
                raise ConfigError(
                    f"asset {asset} is owned by service {current.service} "
                    f"(declared by {current.producer.instance}); stop that service or rename "
                    "the asset"
                )

    def _declare(self) -> None:
        """Announce every owned asset on the declarations topic (acknowledged before running)."""
        topic = declarations_topic(self.settings.topic_prefix)
        records = []
        for key, definition in self.service.assets.items():
            declaration = AssetDeclared(
                asset=key,
                service=self.service.name,
                inputs=definition.input_keys,
                trigger=definition.policy.describe(),
                partitioned=definition.partitioned,
                freshness_ms=(
                    int(definition.freshness.total_seconds() * 1000)
                    if definition.freshness
                    else None
                ),
                owner=definition.owner,
                description=definition.description,
                code_version=definition.code_version,
                producer=ProducerInfo(
                    service=self.service.name,
                    instance=self.options.instance,
                    code_version=definition.code_version,
                ),
            )
            records.append(
                OutgoingRecord(
                    topic=topic,
                    key=key.encode(),
                    value=self.codec.encode(declaration),
                    headers=headers_for(declaration),
                )
            )
        producer = ConfirmingProducer(self.settings, timeout=self.options.startup_timeout_seconds)
        try:
            producer.send_all(records)
        finally:
            producer.close()

    def _shutdown(self) -> None:
        consumer = self._consumer
        if consumer is not None and self._started:
            deadline = time.monotonic() + self.options.shutdown_grace_seconds
            with contextlib.suppress(KafkaException):
                consumer.pause(consumer.assignment())
            while self.engine.in_flight and time.monotonic() < deadline:
                consumer.poll(BUSY_POLL_SECONDS)
                self._service_producer()
            if self.engine.in_flight:
                log.warning("service.handing_back", runs=len(self.engine.in_flight))
            self._flush_changelog()
            self._require(self._producer).flush(10)
            self._commit(asynchronous=False)
        self._executor.shutdown(wait=False)
        if consumer is not None:
            consumer.close()  # leaves the group: partitions move to other replicas at once
        if self._global is not None:
            self._global.close()
        if self._restorer is not None:
            self._restorer.close()
        if self._status is not None:
            self._status.stop()
        log.info("service.stopped", service=self.service.name)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        consumer = self._require(self._consumer)
        while not self._stop.is_set():
            timeout = BUSY_POLL_SECONDS if self.engine.in_flight else IDLE_POLL_SECONDS
            wake = self.engine.next_wake()
            if wake is not None:
                timeout = max(0.0, min(timeout, (wake - _now()).total_seconds()))
            message = consumer.poll(timeout)
            self._last_poll = time.monotonic()
            if message is not None:
                batch = [message, *consumer.consume(BATCH - 1, 0)]
                for item in batch:
                    self._handle(item, from_group=True)
            if self._global is not None:
                for item in self._global.consume(BATCH, 0):
                    self._handle(item, from_group=False)
            if wake is not None and wake <= _now():
                self._apply(self.engine.on_wake(_now()), [])
            self._service_producer()
            self._flush_changelog()
            self._commit(asynchronous=True)
            self._apply_backpressure()
            self._measure_lag()

    def _apply_backpressure(self) -> None:
        """Pause fetching while runs pile up, resume once the workers have caught up.

        Runs of one output partition are already serialised by the engine; this bounds how much
        is read ahead of the workers, so a slow asset does not fill memory with a backlog.
        """
        consumers = [c for c in (self._consumer, self._global) if c is not None]
        busy = len(self.engine.in_flight)
        if busy >= self.service.max_concurrency * BACKLOG_FACTOR:
            if not self._paused:
                log.info("consumer.paused", runs_in_flight=busy)
            for consumer in consumers:  # again each time: a rebalance may add partitions
                consumer.pause(consumer.assignment())
            self._paused = True
        elif self._paused and busy <= self.service.max_concurrency:
            for consumer in consumers:
                consumer.resume(consumer.assignment())
            self._paused = False
            log.info("consumer.resumed", runs_in_flight=busy)

    def _handle(self, message: Message, *, from_group: bool) -> None:
        error = message.error()
        if error is not None:
            if not is_partition_eof(message):
                log.warning("consumer.error", error=error.str())
            return
        topic, partition, offset = position(message)
        self.metrics.consumed.labels(topic).inc()
        where = (topic, partition)
        if from_group:
            self._tracker.read(where, offset)

        def tickets() -> list[Ticket]:
            return [self._tracker.take(where, offset)] if from_group else []

        try:
            effects = self._effects_of(message, from_group=from_group)
        except (CodecError, InvalidInputError) as exc:
            self._dead_letter(message, exc, tickets())
            return
        self._apply(effects, tickets)

    def _effects_of(self, message: Message, *, from_group: bool) -> Effects:
        """Decode and check one record, and hand it to the engine.

        Raises:
            CodecError: the value is not a choreo record of the topic's kind.
            InvalidInputError: the record does not belong on its topic.
        """
        topic, partition, _offset = position(message)
        now = _now()
        if topic in self.request_topics:
            request = self.codec.decode_request(message.value() or b"")
            if request.asset != self.request_topics[topic]:
                raise InvalidInputError(
                    f"request for {request.asset} on {topic}, the topic of "
                    f"{self.request_topics[topic]}"
                )
            return self.engine.on_request(request, partition, now)
        event = self.codec.decode_event(message.value() or b"")
        expected = asset_from_topic(self.settings.topic_prefix, topic)
        if event.asset != expected:
            raise InvalidInputError(
                f"event for asset {event.asset} on {topic}, the topic of {expected}"
            )
        return self.engine.on_event(event, partition if from_group else None, now)

    def _apply(self, effects: Effects, tickets: Callable[[], list[Ticket]] | list[Any]) -> None:
        take = tickets if callable(tickets) else (lambda: [])
        for shard in effects.dirty:
            self._shard_tickets.setdefault(shard, []).extend(take())
        for run in effects.runs:
            self._run_tickets[run.key] = take()
            self._start(run)
        for asset, blocked in effects.blocked:
            log.info(
                "run.blocked",
                asset=asset,
                partition=blocked.output_partition,
                reason=blocked.reason,
            )

    # -- runs ----------------------------------------------------------------------------------

    def _start(self, run: StartRun) -> None:
        self._runs[run.key] = run
        self.metrics.in_flight.set(len(self.engine.in_flight))
        if self._observer is not None:
            self._observer(
                "run.started",
                {"asset": run.definition.key, "partition": run.planned.output_partition},
            )
        log.info(
            "run.started",
            asset=run.definition.key,
            partition=run.planned.output_partition,
            run_id=run.ctx.run_id,
            correlation_id=str(run.ctx.correlation_id),
            inputs=[f"{v.asset}@{v.partition}={v.version}" for v in run.planned.input_versions()],
        )
        self._executor.submit(
            run.definition, run.ctx, run.args, lambda outcome: self._announce(run, outcome)
        )

    def _announce(self, run: StartRun, outcome: RunOutcome) -> None:
        """On the worker: announce the output at once; the poll thread handles the ack.

        In exactly-once mode the poll thread announces it instead, inside its transaction.
        """
        if self._txn is not None:
            self._outcomes.put((run, outcome, self._generation))
            return
        event = self.engine.output_event(run, outcome, _now())
        producer = self._require(self._producer)

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            self._finished.put(_Finished(run, outcome, event, err))

        record_value = self.codec.encode(event)
        while True:
            try:
                producer.produce(
                    asset_topic(self.settings.topic_prefix, event.asset),
                    key=event.message_key.encode(),
                    value=record_value,
                    headers=kafka_headers(headers_for(event)),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                time.sleep(0.01)
        producer.poll(0)

    def _service_producer(self) -> None:
        producer = self._require(self._producer)
        producer.poll(0)
        if self._txn is not None:
            self._announce_in_transaction(self._txn)
        while True:
            try:
                done = self._finished.get_nowait()
            except queue.Empty:
                return
            self._finish(done)

    def _announce_in_transaction(self, txn: Transactions) -> None:
        """Produce finished runs' outputs into the open transaction (exactly-once mode)."""
        while True:
            try:
                run, outcome, generation = self._outcomes.get_nowait()
            except queue.Empty:
                return
            if generation != self._generation:
                continue  # planned before a rewind: it is planned again from committed state
            event = self.engine.output_event(run, outcome, _now())
            txn.ensure_open()
            self._produce(
                txn.producer,
                asset_topic(self.settings.topic_prefix, event.asset),
                key=event.message_key.encode(),
                value=self.codec.encode(event),
                headers=kafka_headers(headers_for(event)),
            )
            self._finish(_Finished(run, outcome, event, None))

    @staticmethod
    def _produce(producer: Producer, topic: str, **kwargs: Any) -> None:
        while True:
            try:
                producer.produce(topic, **kwargs)
            except BufferError:
                producer.poll(0.01)
            else:
                return

    def _finish(self, done: _Finished) -> None:
        run, outcome, event = done.run, done.outcome, done.event
        if done.error is not None:
            log.error(
                "event.not_acknowledged",
                asset=event.asset,
                event_id=str(event.event_id),
                error=done.error.str(),
            )
            self._announce(run, outcome)  # librdkafka gave up; keep trying, inputs stay unsettled
            return
        asset = run.definition.key
        succeeded = isinstance(outcome, Succeeded)
        self.metrics.runs.labels(asset, "succeeded" if succeeded else "failed").inc()
        self.metrics.run_seconds.labels(asset).observe(outcome.seconds)
        self.metrics.published.labels(asset, event.kind.value).inc()
        if succeeded:
            self.metrics.last_success.labels(asset).set(time.time())
        log.info(
            "run.finished",
            asset=asset,
            partition=event.partition,
            run_id=run.ctx.run_id,
            event_id=str(event.event_id),
            kind=event.kind.value,
            correlation_id=str(event.correlation_id),
            attempts=outcome.attempts,
            seconds=round(outcome.seconds, 4),
        )
        if self._observer is not None:
            self._observer("run.finished", {"event": event})
        tickets = self._run_tickets.pop(run.key, [])
        self._runs.pop(run.key, None)
        effects = self.engine.acknowledged(run, _now())
        self.metrics.in_flight.set(len(self.engine.in_flight))
        for shard in effects.dirty:
            self._shard_tickets.setdefault(shard, []).extend(tickets)
            tickets = []
        for ticket in tickets:
            self._tracker.settle(ticket)
        self._apply(effects, [])

    # -- durability ----------------------------------------------------------------------------

    def _flush_changelog(self) -> None:
        if not self._shard_tickets:
            return
        for shard, tickets in list(self._shard_tickets.items()):
            del self._shard_tickets[shard]
            if shard not in self.engine.shards:
                continue  # revoked: the new owner restores what was last written

            def retry(held: list[Ticket], key: ShardKey = shard) -> None:
                self._shard_tickets.setdefault(key, []).extend(held)

            self._write(
                self.changelog,
                tickets,
                retry,
                key=shard[0].encode(),
                partition=shard[1],
                value=encode_snapshot(self.engine.snapshot(shard)),
            )

    def _write(
        self,
        topic: str,
        tickets: list[Ticket],
        on_failure: Callable[[list[Ticket]], None],
        **record: Any,
    ) -> None:
        """Produce a record whose acknowledgement settles ``tickets``.

        In exactly-once mode it joins the open transaction, and the tickets settle at once: the
        offsets they free are committed in that same transaction, or not at all.
        """
        if self._txn is not None:
            self._txn.ensure_open()
            self._produce(self._txn.producer, topic, **record)
            for ticket in tickets:
                self._tracker.settle(ticket)
            return

        def written(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error("record.not_acknowledged", topic=topic, error=err.str())
                on_failure(tickets)
                return
            for ticket in tickets:
                self._tracker.settle(ticket)

        self._produce(self._require(self._producer), topic, on_delivery=written, **record)

    def _dead_letter(self, message: Message, exc: ChoreoError, tickets: list[Ticket]) -> None:
        reason = type(exc).__name__
        self.metrics.dead_letters.labels(position(message)[0], reason).inc()
        log.warning(
            "record.dead_lettered",
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            error_type=reason,
            error=str(exc),
            dlq=self.dlq,
        )
        topic, partition, offset = position(message)
        headers: KafkaHeaders = [
            ("choreo_dlq_topic", topic.encode()),
            ("choreo_dlq_partition", str(partition).encode()),
            ("choreo_dlq_offset", str(offset).encode()),
            ("choreo_dlq_error_type", reason.encode()),
            ("choreo_dlq_error_message", str(exc).encode()),
            ("choreo_dlq_service", self.service.name.encode()),
            ("choreo_dlq_at", _now().isoformat().encode()),
        ]

        self._write(
            self.dlq,
            tickets,
            lambda _held: None,  # left unsettled: the record is read again after a restart
            key=message.key(),
            value=message.value(),
            headers=headers,
        )

    def _commit(self, *, asynchronous: bool, rewind: bool = True) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        if self._txn is not None:
            self._commit_transaction(consumer, self._txn, rewind=rewind)
            return
        if asynchronous and time.monotonic() - self._last_commit < COMMIT_INTERVAL_SECONDS:
            return
        positions = self._tracker.committable()
        if not positions:
            return
        self._last_commit = time.monotonic()
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit.failed", error=str(exc))
            return
        self._tracker.committed(positions)

    def _commit_transaction(self, consumer: Consumer, txn: Transactions, *, rewind: bool) -> None:
        """Commit the open transaction with the settled offsets; rewind if it was aborted."""
        positions = self._tracker.committable()
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        if txn.is_open and self.options.crash_before_commit is not None:
            self.options.crash_before_commit -= 1
            if self.options.crash_before_commit <= 0:
                txn.producer.flush(self.options.startup_timeout_seconds)  # produced, not committed
                os.kill(os.getpid(), signal.SIGKILL)
        outcome = txn.commit(offsets, consumer.consumer_group_metadata())
        if outcome is CommitOutcome.COMMITTED:
            self._tracker.committed(positions)
        elif rewind:
            self._rewind(consumer)

    def _rewind(self, consumer: Consumer) -> None:
        """Forget everything not committed and resume from the committed offsets and state.

        After an aborted transaction none of its outputs, state or offsets happened; runs in
        flight belong to the old generation and are dropped when they finish.
        """
        self._generation += 1
        log.warning("service.rewinding", generation=self._generation)
        indices = set(self._indices)
        self.engine.revoke(indices)
        self.engine.in_flight.clear()
        self._runs.clear()
        self._run_tickets.clear()
        self._shard_tickets.clear()
        assignment = consumer.assignment()
        self._tracker.forget([(tp.topic, tp.partition) for tp in assignment])
        timeout = self.options.startup_timeout_seconds
        for tp in consumer.committed(assignment, timeout=timeout):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self.metrics.in_flight.set(0)
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
        log.info(
            "partitions.assigned",
            indices=sorted(indices),
            shards=len(shards),
            restored=len(restored),
        )
        self._apply(effects, [])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        indices = {tp.partition for tp in partitions if tp.topic in self.request_topics}
        deadline = time.monotonic() + self.options.shutdown_grace_seconds
        while (
            any(self._shard_of_run(key) in indices for key in self.engine.in_flight)
            and time.monotonic() < deadline
        ):
            time.sleep(BUSY_POLL_SECONDS)
            self._service_producer()
        self._flush_changelog()
        self._require(self._producer).flush(10)
        self._commit(asynchronous=False, rewind=False)
        self.engine.revoke(indices)
        self._indices -= indices
        self._tracker.forget([(tp.topic, tp.partition) for tp in partitions])
        log.info("partitions.revoked", indices=sorted(indices))

    def _shard_of_run(self, key: tuple[str, str | None]) -> int | None:
        run = self._runs.get(key)
        return run.shard[1] if run is not None else None

    # -- observability -------------------------------------------------------------------------

    def _measure_lag(self) -> None:
        if time.monotonic() < self._next_lag or self._consumer is None:
            return
        self._next_lag = time.monotonic() + LAG_INTERVAL_SECONDS
        try:
            for tp in self._consumer.position(self._consumer.assignment()):
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                        max(0, high - tp.offset)
                    )
        except KafkaException as exc:
            log.debug("lag.unavailable", error=str(exc))

    def _health(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self._last_poll
        healthy = self._started and age < max(30.0, self.options.session_timeout_ms / 1000)
        return healthy, {
            "service": self.service.name,
            "instance": self.options.instance,
            "assigned_indices": sorted(self._indices),
            "runs_in_flight": len(self.engine.in_flight),
            "seconds_since_poll": round(age, 3),
            "freshness": {
                key: format_duration(d.freshness)
                for key, d in self.service.assets.items()
                if d.freshness
            },
        }

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise RuntimeError("the runner is not started")
        return value
