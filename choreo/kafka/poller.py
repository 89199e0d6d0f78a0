"""The poll thread: reads records in batches and answers the group, while the loop does the work.

The runner's loop decodes, decides, runs short asset functions itself and writes; this thread
only reads, a batch at a time, and queues each batch for the loop. So Python runs for every event
on one thread only (handing each record to another thread, with both running Python for every
event, cost about half the throughput: ``bench/floor.py``), and the group hears from this thread
however long the loop is busy, so a long run never breaks the group.

Rebalance callbacks arrive here, inside ``poll``. They change what the loop owns, so they are
queued for the loop behind the records read before them, and this thread waits until the loop
has run them. The loop says how many more records it takes (``room``); with no room this thread
pauses its partitions and keeps polling, so the group still hears from it.

confluent-kafka lets one thread at a time into a consumer, and a call from another thread waits
until the consumer is free, which a thread that polls in a loop (or waits in a rebalance
callback) never leaves it. So every use of the consumer happens on this thread: the loop reaches
it through ``LoopConsumer``, whose calls this thread runs between polls and while it waits for a
callback; commits the loop does not wait for are queued and made at the next turn.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from choreo.kafka.telemetry import Telemetry

#: Poll timeout: also how soon the thread notices a request to stop or to hold.
POLL_SECONDS = 0.05
#: The loop's wait for records while runs are in flight (their acknowledgements are handled
#: between waits).
BUSY_WAIT_SECONDS = 0.005
#: The loop's wait for records when idle: a new record still wakes it at once.
IDLE_WAIT_SECONDS = 0.1
#: Records read per poll at most.
BATCH = 500
#: While the loop has no room for more records the consumer is not polled; if that lasts this
#: long, its partitions are paused and it is polled empty, so the group still hears from it.
#: (Pausing sooner would cost a fetch round trip on every resume.)
POLL_AT_LEAST_SECONDS = 1.0

Rebalance = Callable[["LoopConsumer", list[TopicPartition]], None]


@dataclass
class Batch:
    """Records read in one poll, of the group's consumer (``from_group``) or the global one."""

    messages: list[Message]
    from_group: bool


@dataclass
class _Call:
    """A rebalance callback for the loop to run, and the poll thread waiting for it."""

    run: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass
class _Use:
    """A use of the consumer for the poll thread to make; ``done`` is ``None`` when nobody
    waits for it."""

    use: Callable[[Consumer], Any]
    done: threading.Event | None
    result: Any = None
    error: BaseException | None = None


class Poller:
    """Reads one service's consumers on a thread of its own."""

    def __init__(
        self,
        consumer: Consumer,
        global_consumer: Consumer | None,
        *,
        room: Callable[[], int],
        rebalanced: Callable[[], None],
        telemetry: Telemetry,
    ) -> None:
        self._consumer = consumer
        self._global = global_consumer
        self._room = room
        self._rebalanced = rebalanced
        self._telemetry = telemetry
        self._items: queue.SimpleQueue[Batch | _Call] = queue.SimpleQueue()
        self._uses: queue.SimpleQueue[_Use] = queue.SimpleQueue()
        self._nudge = threading.Event()
        """Set when the poll thread has something to do besides polling."""
        # Records queued and not yet taken: each counter has one writer, so no lock is needed.
        self._put = 0
        self._taken = 0
        self._stop = threading.Event()
        self._hold = threading.Event()
        self._held = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        """What stopped the poll thread, raised again on the loop."""
        self._paused = False
        self.last_poll = time.monotonic()
        """When the group's consumer was last polled (``time.monotonic``)."""
        self.group_metadata: Any = None
        """The consumer's group metadata as of the last poll (for transactional commits)."""
        self.consumer = LoopConsumer(self)
        """The consumer as the loop uses it."""

    @property
    def queued(self) -> int:
        """Records read and not yet taken by the loop."""
        return self._put - self._taken

    # -- on the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading."""
        self._thread = threading.Thread(target=self._read, name="choreo-poll", daemon=True)
        self._thread.start()

    def take(self, timeout: float) -> Iterator[Batch]:
        """The batches read so far, waiting up to ``timeout`` for the first; rebalance callbacks
        queued among them run in their place, before the batches after them are yielded.

        Raises:
            BaseException: what stopped the poll thread (a consumer error, a failed callback).
        """
        self._raise_failure()
        return self._taken_items(timeout)

    def _taken_items(self, timeout: float) -> Iterator[Batch]:
        """The queued batches, running the callbacks queued among them in their place."""
        try:
            item = self._items.get(timeout=timeout) if timeout > 0 else self._items.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(item, _Call):
                self._answer(item)
            else:
                self._taken += len(item.messages)
                yield item
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                self._nudge.set()  # room again, maybe
                return

    @contextlib.contextmanager
    def held(self) -> Iterator[list[Batch]]:
        """Stop reading for the block; yields the batches read but not taken (callbacks queued
        with them are run first), which the block may drop or keep."""
        self._hold.set()
        self._held.clear()  # only a fresh one counts: the thread sets it in the hold branch
        self._nudge.set()
        batches: list[Batch] = []
        try:
            while self._running() and not self._held.wait(POLL_SECONDS / 5):
                batches += self._drain()
            batches += self._drain()
            yield batches
        finally:
            self._hold.clear()

    def stop(self) -> None:
        """Stop reading; rebalance callbacks still queued, or arriving meanwhile, are run."""
        self._stop.set()
        while self._running():
            self._drain()
            time.sleep(POLL_SECONDS / 5)
        self._drain()

    def rebalance(self, callback: Rebalance) -> Callable[[Consumer, list[TopicPartition]], None]:
        """``callback`` as the consumer's rebalance callback: run on the loop, in order with the
        records, and handed the consumer as the loop uses it."""

        def queued(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            if threading.current_thread() is not self._thread:  # the loop polling, at shutdown
                callback(self.consumer, partitions)
                return
            call = _Call(lambda: callback(self.consumer, partitions))
            self._items.put(call)
            while not call.done.is_set():  # the callback may use the consumer meanwhile
                self._serve_uses()
                self._nudge.wait(POLL_SECONDS)
                self._nudge.clear()
            self._serve_uses()
            self.group_metadata = consumer.consumer_group_metadata()
            if call.error is not None:
                raise call.error

        return queued

    def _drain(self) -> list[Batch]:
        """Run the queued callbacks; the batches queued with them, in order."""
        return list(self._taken_items(0.0))

    def _answer(self, call: _Call) -> None:
        """Run a queued callback and wake the poll thread waiting for it."""
        try:
            call.run()
            self._rebalanced()
        except BaseException as exc:  # noqa: BLE001 - raised again on the poll thread
            call.error = exc
        finally:
            call.done.set()
            self._nudge.set()

    def use(self, use: Callable[[Consumer], Any], *, wait: bool = True) -> Any:
        """``use(consumer)`` made on the poll thread (here, if this is it or it is not
        running); its result, or ``None`` at once when not ``wait``ing."""
        if threading.current_thread() is self._thread or not self._running():
            return use(self._consumer)
        item = _Use(use, threading.Event() if wait else None)
        self._uses.put(item)
        self._nudge.set()
        if item.done is None:
            return None
        while not item.done.wait(POLL_SECONDS):
            if not self._running():
                self._raise_failure()
                raise RuntimeError("the poll thread stopped before using the consumer")
        if item.error is not None:
            raise item.error
        return item.result

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # -- on the poll thread --------------------------------------------------------------------

    def _read(self) -> None:
        try:
            self._read_until_stopped()
        except BaseException as exc:  # noqa: BLE001 - raised again on the loop
            self._failure = exc
            self._nudge.set()

    def _read_until_stopped(self) -> None:
        while not self._stop.is_set():
            self._serve_uses()
            if self._hold.is_set():
                self._held.set()
                self._nudge.wait(POLL_SECONDS / 5)
                self._nudge.clear()
                continue
            room = min(self._room(), BATCH - self.queued)
            if room <= 0:
                if time.monotonic() - self.last_poll < POLL_AT_LEAST_SECONDS:
                    self._nudge.wait(POLL_SECONDS)
                    self._nudge.clear()
                    continue
                self._pause()
            elif self._paused:
                self._resume()
            self._queue(self._poll(max(room, 1)), from_group=True)
            if self._global is not None and room > 0:
                self._queue(self._global.consume(room, 0), from_group=False)
            self._telemetry.measure_lag(self._consumer)

    def _serve_uses(self) -> None:
        while True:
            try:
                item = self._uses.get_nowait()
            except queue.Empty:
                return
            try:
                item.result = item.use(self._consumer)
            except BaseException as exc:  # noqa: BLE001 - raised again on the loop
                item.error = exc
                if item.done is None:
                    self._telemetry.log.warning("consumer.call_failed", error=str(exc))
            finally:
                if item.done is not None:
                    item.done.set()

    def _queue(self, messages: list[Message], *, from_group: bool) -> None:
        if messages:
            self._put += len(messages)
            self._items.put(Batch(messages, from_group))

    def _poll(self, most: int) -> list[Message]:
        first = self._consumer.poll(POLL_SECONDS)
        self.last_poll = time.monotonic()
        with contextlib.suppress(KafkaException):
            self.group_metadata = self._consumer.consumer_group_metadata()
        if first is None:
            return []
        if most == 1:
            return [first]
        return [first, *self._consumer.consume(most - 1, 0)]

    def _pause(self) -> None:
        # Each time: a rebalance may have added partitions. A record still returned comes from
        # a partition assigned during that very poll; it is queued like any other.
        with contextlib.suppress(KafkaException):
            self._consumer.pause(self._consumer.assignment())
        if not self._paused:
            self._paused = True
            self._telemetry.log.info("consumer.paused")

    def _resume(self) -> None:
        with contextlib.suppress(KafkaException):
            self._consumer.resume(self._consumer.assignment())
        self._paused = False
        self._telemetry.log.info("consumer.resumed")


class LoopConsumer:
    """The consumer's calls the loop makes, each made on the poll thread (see the module)."""

    def __init__(self, poller: Poller) -> None:
        self._poller = poller

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        """Commit ``offsets``; an asynchronous commit is queued for the poll thread's next turn."""
        if asynchronous:
            self._poller.use(
                lambda consumer: consumer.commit(offsets=offsets, asynchronous=True), wait=False
            )
        else:
            self._poller.use(lambda consumer: consumer.commit(offsets=offsets, asynchronous=False))

    def consumer_group_metadata(self) -> Any:
        """The group metadata as of the last poll (what a transaction's offsets are sent with)."""
        metadata = self._poller.group_metadata
        if metadata is None:
            metadata = self._poller.use(lambda consumer: consumer.consumer_group_metadata())
        return metadata

    def assignment(self) -> list[TopicPartition]:
        """The partitions assigned now."""
        result: list[TopicPartition] = self._poller.use(lambda consumer: consumer.assignment())
        return result

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        """The committed offsets of ``partitions``."""
        result: list[TopicPartition] = self._poller.use(
            lambda consumer: consumer.committed(partitions, timeout=timeout)
        )
        return result

    def seek(self, partition: TopicPartition) -> None:
        """Move the position of one partition."""
        self._poller.use(lambda consumer: consumer.seek(partition))
