"""The partitions a service replica holds: taking them over, giving them back, and starting over
after an aborted transaction.

A replica owns the shards of the request-topic partition indices the group assigned it. Taking
a partition over restores its shards' trigger state from the changelog before anything is
decided, so a new owner never runs what the old one already ran. Giving one back first lets the
runs of its shards finish (up to the shutdown grace), writes everything they caused and commits,
so the next owner starts exactly where this one stopped. The rule that offsets only count once
what they caused is durable lives here, in ``make_durable`` and ``commit``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition

from choreo.kafka.changelog import ChangelogReader, ChangelogWriter
from choreo.kafka.commits import Committer
from choreo.kafka.dead_letters import DeadLetters
from choreo.kafka.dispatch import Dispatcher
from choreo.kafka.options import RunnerOptions
from choreo.kafka.outputs import OutputAnnouncer
from choreo.kafka.poller import BUSY_WAIT_SECONDS, LoopConsumer
from choreo.kafka.telemetry import Telemetry
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.offsets import OffsetTracker


class Assignment:
    """What one replica holds, and the rebalance callbacks that change it."""

    def __init__(
        self,
        engine: ServiceEngine,
        *,
        request_topics: set[str],
        restorer: Callable[[], ChangelogReader],
        dispatch: Dispatcher,
        outputs: OutputAnnouncer,
        changelog: ChangelogWriter,
        dead_letters: DeadLetters,
        tracker: OffsetTracker,
        committer: Committer,
        telemetry: Telemetry,
        producer: Callable[[], Producer],
        options: RunnerOptions,
        hold_reading: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._engine = engine
        self._request_topics = request_topics
        self._restorer = restorer
        self._dispatch = dispatch
        self._outputs = outputs
        self._changelog = changelog
        self._dead_letters = dead_letters
        self._tracker = tracker
        self._committer = committer
        self._telemetry = telemetry
        self._producer = producer
        self._options = options
        self._hold_reading = hold_reading
        self.indices: set[int] = set()
        """The request-topic partition indices held now."""

    # -- rebalance callbacks -------------------------------------------------------------------

    def on_assign(self, consumer: LoopConsumer, partitions: list[TopicPartition]) -> None:
        """Take over the shards of the partitions just assigned."""
        indices = {tp.partition for tp in partitions if tp.topic in self._request_topics}
        new = indices - self.indices
        self.indices |= indices
        self._take_over(new)

    def on_revoke(self, consumer: LoopConsumer, partitions: list[TopicPartition]) -> None:
        """Settle and give back the partitions revoked or lost."""
        indices = {tp.partition for tp in partitions if tp.topic in self._request_topics}
        deadline = time.monotonic() + self._options.shutdown_grace_seconds
        while self._outputs.running_in(indices) and time.monotonic() < deadline:
            time.sleep(BUSY_WAIT_SECONDS)
            self._dispatch.serve_producer()
        self.make_durable()
        self.commit(consumer, asynchronous=False, rewind=False)
        self._engine.revoke(indices)
        self._changelog.forget(indices)
        self.indices -= indices
        self._tracker.forget([(tp.topic, tp.partition) for tp in partitions])
        self._telemetry.log.info("partitions.revoked", indices=sorted(indices))

    # -- durability ----------------------------------------------------------------------------

    def make_durable(self) -> None:
        """Write what is waiting and wait for the broker (before a commit that must count).

        Runs whose outputs the broker acknowledges during that wait (it was unreachable for
        longer than the grace given to in-flight runs) are recorded and their slices written
        too: left for the loop, they would find their shards revoked and run again.
        """
        self._changelog.flush(force=True)
        self._dead_letters.flush(force=True)
        self._producer().flush(10)
        self._dispatch.serve_producer()
        self._changelog.flush(force=True)
        self._producer().flush(10)

    def commit(
        self, consumer: LoopConsumer, *, asynchronous: bool, rewind: bool = True, idle: bool = True
    ) -> None:
        """Commit the settled offsets; after an aborted transaction, start over (``rewind``)."""
        if not self._committer.commit(consumer, asynchronous=asynchronous, idle=idle) and rewind:
            self._rewind(consumer)

    # -- internals -----------------------------------------------------------------------------

    def _take_over(self, indices: set[int]) -> None:
        """Restore the shards of ``indices`` from the changelog and decide what to run."""
        shards = self._engine.shard_keys_for(indices)
        restored = self._restorer().restore(indices, {s[0] for s in shards})
        effects = self._engine.assign({s: restored.get(s) for s in shards}, datetime.now(UTC))
        self._telemetry.log.info(
            "partitions.assigned",
            indices=sorted(indices),
            shards=len(shards),
            restored=len(restored),
        )
        self._dispatch.apply(effects)

    def _rewind(self, consumer: LoopConsumer) -> None:
        """Forget everything not committed and resume from the committed offsets and state.

        After an aborted transaction none of its outputs, state or offsets happened; runs in
        flight belong to the old generation and are dropped when they finish.
        """
        generation = self._outputs.rewind()
        self._telemetry.log.warning("service.rewinding", generation=generation)
        indices = set(self.indices)
        self._engine.revoke(indices)
        self._engine.forget_runs()
        self._changelog.clear()
        self._dead_letters.clear()
        with self._hold_reading():  # records read past the committed offsets are read again
            assigned = consumer.assignment()
            self._tracker.forget([(tp.topic, tp.partition) for tp in assigned])
            timeout = self._options.startup_timeout_seconds
            for tp in consumer.committed(assigned, timeout=timeout):
                offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self._telemetry.in_flight(0)
        self._take_over(indices)
