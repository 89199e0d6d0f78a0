"""Reading records no faster than the workers take the runs they start.

The loop reads at most as many records as runs may still queue for the workers
(``max_concurrency`` times a backlog factor, less those busy), so a slow asset never fills
memory with a backlog and a hop's run is handed to a worker as soon as it is read. While the
workers are full the consumer is not polled, since whatever it returned would have to queue;
only if that lasts are its partitions paused and polled empty, so the group still hears from it
(pausing drops what was fetched ahead, hence not on every wait).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message

from choreo.kafka.telemetry import Telemetry
from choreo.runtime.executor import RunExecutor

#: Poll timeout while runs are in flight (their acknowledgements are handled between polls).
BUSY_POLL_SECONDS = 0.005
#: Poll timeout when idle: a new record still wakes the poll at once.
IDLE_POLL_SECONDS = 0.1
#: Records read per poll at most.
BATCH = 500
#: While the workers are full the consumer is not polled; if that lasts this long, its
#: partitions are paused and it is polled empty, so the group still hears from it.
POLL_AT_LEAST_SECONDS = 1.0


class Fetcher:
    """Reads the group's and the global consumer's records with backpressure."""

    def __init__(
        self,
        consumer: Consumer,
        global_consumer: Consumer | None,
        executor: RunExecutor,
        *,
        limit: int,
        telemetry: Telemetry,
    ) -> None:
        self._consumer = consumer
        self._global = global_consumer
        self._executor = executor
        self._limit = limit
        self._telemetry = telemetry
        self._paused = False
        self.last_poll = time.monotonic()
        """When the group's consumer was last polled (``time.monotonic``)."""

    def records(
        self, *, busy: bool, wake: datetime | None = None
    ) -> Iterator[tuple[Message, bool]]:
        """The next records, each with whether it came through the group.

        Waits up to a few milliseconds (``busy``: runs are in flight) or up to
        ``IDLE_POLL_SECONDS``, never past ``wake``, if there are none yet. Lazy: the room for
        global records is measured after the group's have been handled.
        """
        budget = self._limit - self._executor.busy
        if budget <= 0:
            yield from self._hold_back()
            return
        if self._paused:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False
            self._telemetry.log.info("consumer.resumed", runs_busy=self._executor.busy)
        timeout = BUSY_POLL_SECONDS if busy else IDLE_POLL_SECONDS
        if wake is not None:
            timeout = max(0.0, min(timeout, (wake - datetime.now(UTC)).total_seconds()))
        message = self._consumer.poll(timeout)
        self.last_poll = time.monotonic()
        if message is not None:
            yield message, True
            if budget > 1:
                for item in self._consumer.consume(min(BATCH, budget) - 1, 0):
                    yield item, True
        if self._global is not None:
            room = self._limit - self._executor.busy
            if room > 0:
                for item in self._global.consume(min(BATCH, room), 0):
                    yield item, False

    def _hold_back(self) -> Iterator[tuple[Message, bool]]:
        self._executor.wait_below(self._limit, BUSY_POLL_SECONDS)
        if time.monotonic() - self.last_poll < POLL_AT_LEAST_SECONDS:
            return
        if not self._paused:
            self._telemetry.log.info("consumer.paused", runs_busy=self._executor.busy)
            self._paused = True
        # Again each time: a rebalance may have added partitions.
        self._consumer.pause(self._consumer.assignment())
        message = self._consumer.poll(0)
        self.last_poll = time.monotonic()
        if message is not None:  # from a partition assigned during this very poll
            yield message, True
