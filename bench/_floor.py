"""The plain loop with the mechanisms a choreo service must have, and none of choreo's code.

DESIGN.md and the services issue ask each service for more than consume → transform → produce:
the function runs off the poll thread, so a long one never holds up the consumer group, and an
input's offset is committed only once its output event is acknowledged. Two loops do that around
the plain transform (``_plain.py``) with the least Python each step allows; they differ in which
thread does the per-event work:

- ``WorkerFloor``, the runner's split before it had a loop of its own: the poll thread consumes
  and decodes each input (deciding needs the event) and hands it to one of ``max_concurrency``
  workers, which builds, encodes and produces the output; at most
  ``max_concurrency * BACKLOG_FACTOR`` inputs wait for or occupy a worker. The poll thread
  serves the delivery reports.
- ``EngineFloor``, the runner's split now: the poll thread only reads batches of records and
  hands each batch on; one engine thread (the runner's loop) decodes, builds, encodes and
  produces every output and serves the delivery reports. The function still runs off the poll
  thread, and the poll thread stops reading while a batch's worth of records waits, so a long
  run would hold up only the records behind it.

In both, an output's delivery report stores its input's offset, which librdkafka commits every
``COMMIT_INTERVAL_MS`` (choreo commits at most every 100 ms under load too). Both are generous
bounds on a service built their way: no trigger state is kept, decided on or written to a
changelog, there are no CloudEvents headers, no per-key limit of one run in flight, and offsets
are stored as outputs are acknowledged rather than only up to the first unacknowledged one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from _plain import PlainTransform
from _workload import ensure_asset_topics, plain_producer, produce_all
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from choreo import Settings
from choreo.kafka.config import consumer_config
from choreo.kafka.runner import BACKLOG_FACTOR
from choreo.service import Service

#: Records read per poll at most, as the runner's poll thread.
BATCH = 500
#: Workers, as ``Service``'s default ``max_concurrency``.
WORKERS = Service("floor").max_concurrency
COMMIT_INTERVAL_MS = 100
#: Waits for records, as the runner's: while inputs are in flight, and when idle.
BUSY_POLL_SECONDS = 0.005
IDLE_POLL_SECONDS = 0.1


class FloorLoop:
    """What both loops share: the consumer, the producer and the acknowledgements."""

    def __init__(self, settings: Settings, in_topic: str, out_topic: str, total: int) -> None:
        self.total = total
        self._out_topic = out_topic
        self._transform = PlainTransform("t.out", "bench-floor")
        self._consumer = Consumer(
            consumer_config(
                settings,
                f"{settings.topic_prefix}floor",
                **{
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": "true",
                    "enable.auto.offset.store": "false",
                    "auto.commit.interval.ms": str(COMMIT_INTERVAL_MS),
                },
            )
        )
        metadata = self._consumer.list_topics(in_topic, timeout=10)
        self._consumer.assign(
            [
                TopicPartition(in_topic, pid, OFFSET_BEGINNING)
                for pid in metadata.topics[in_topic].partitions
            ]
        )
        self._producer = plain_producer(settings, warm=True)
        self.consumed = 0
        self.acknowledged = 0
        self.started: tuple[float, float] | None = None
        self.finished: tuple[float, float] | None = None
        self.errors: list[str] = []

    def run(self, deadline: float) -> None:
        """Process every input, or fail saying how far it got."""
        try:
            self._run(deadline)
        finally:
            self._consumer.close()
            self._producer.flush(10)
        if self.started is None or self.finished is None or self.errors:
            raise RuntimeError(
                f"floor: {self.acknowledged}/{self.total} acknowledged, errors {self.errors[:3]}"
            )

    def _run(self, deadline: float) -> None:
        raise NotImplementedError

    def _going(self, deadline: float) -> bool:
        return self.finished is None and not self.errors and time.monotonic() < deadline

    def _read(self, most: int) -> list[Message]:
        """Up to ``most`` records: waits for the first only, as the runner's poll thread does."""
        busy = self.consumed > self.acknowledged
        first = self._consumer.poll(BUSY_POLL_SECONDS if busy else IDLE_POLL_SECONDS)
        if first is None:
            return []
        if self.started is None:
            self.started = (time.perf_counter(), time.process_time())
        return [first, *self._consumer.consume(most - 1, 0)] if most > 1 else [first]

    def _output(self, datum: dict[str, Any], message: Message) -> None:
        """Build, encode and produce the output of one decoded input."""
        key, value = self._transform.output(datum)
        callback = self._on_output(message)
        while True:
            try:
                self._producer.produce(self._out_topic, key=key, value=value, on_delivery=callback)
            except BufferError:
                # The queue drains as delivery reports are served; only one thread serves them.
                time.sleep(0.001)
            else:
                return

    def _on_output(self, message: Message) -> Callable[[KafkaError | None, Message], None]:
        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                self.errors.append(err.str())
                return
            self.acknowledged += 1
            if self.acknowledged == self.total:
                self.finished = (time.perf_counter(), time.process_time())
            self._consumer.store_offsets(offsets=[_next(message)])

        return delivered


class WorkerFloor(FloorLoop):
    """Each input decoded on the poll thread and handed to a worker for its output."""

    def __init__(self, settings: Settings, in_topic: str, out_topic: str, total: int) -> None:
        super().__init__(settings, in_topic, out_topic, total)
        self._room = threading.Semaphore(WORKERS * BACKLOG_FACTOR)
        self._work: queue.SimpleQueue[tuple[dict[str, Any], Message] | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._serve, name=f"floor-worker-{n}", daemon=True)
            for n in range(WORKERS)
        ]

    def _run(self, deadline: float) -> None:
        for worker in self._workers:
            worker.start()
        try:
            while self._going(deadline):
                room = self._take_room() if self.consumed < self.total else 0
                if room:
                    self._hand_on(room)
                self._producer.poll(0)
        finally:
            for _worker in self._workers:
                self._work.put(None)

    def _hand_on(self, room: int) -> None:
        """Read up to ``room`` records, decode each and queue it for the workers."""
        batch = self._read(room)
        for message in batch:
            if message.error() is not None:
                self._room.release()
                continue
            self.consumed += 1
            self._work.put((self._transform.decode(message.value() or b""), message))
        for _unused in range(room - len(batch)):
            self._room.release()

    def _take_room(self) -> int:
        """Places for inputs, as many as free up to ``BATCH`` (waiting a moment for the first)."""
        if not self._room.acquire(timeout=BUSY_POLL_SECONDS):
            return 0
        room = 1
        while room < BATCH and self._room.acquire(blocking=False):
            room += 1
        return room

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            self._output(*item)
            self._room.release()


class EngineFloor(FloorLoop):
    """Batches read on the poll thread; everything per input on one engine thread."""

    def __init__(self, settings: Settings, in_topic: str, out_topic: str, total: int) -> None:
        super().__init__(settings, in_topic, out_topic, total)
        self._batches: queue.SimpleQueue[list[Message] | None] = queue.SimpleQueue()
        self._waiting = 0
        self._drained = threading.Condition()
        self._engine = threading.Thread(target=self._serve, name="floor-engine", daemon=True)

    def _run(self, deadline: float) -> None:
        self._engine.start()
        try:
            while self._going(deadline):
                with self._drained:
                    self._drained.wait_for(lambda: self._waiting < BATCH, BUSY_POLL_SECONDS)
                    room = BATCH - self._waiting
                if room <= 0 or self.consumed >= self.total:
                    continue
                batch = self._read(room)
                if batch:
                    self.consumed += len(batch)
                    with self._drained:
                        self._waiting += len(batch)
                    self._batches.put(batch)
        finally:
            self._batches.put(None)
            self._engine.join(10)

    def _serve(self) -> None:
        while True:
            try:
                batch = self._batches.get(timeout=BUSY_POLL_SECONDS)
            except queue.Empty:
                self._producer.poll(0)
                continue
            if batch is None:
                return
            for message in batch:
                if message.error() is None:
                    self._output(self._transform.decode(message.value() or b""), message)
            self._producer.poll(0)
            with self._drained:
                self._waiting -= len(batch)
                self._drained.notify()


def _next(message: Message) -> TopicPartition:
    """The position after ``message``: what its acknowledged output stores for the next commit."""
    return TopicPartition(
        message.topic() or "", message.partition() or 0, (message.offset() or 0) + 1
    )


def run_floor(
    settings: Settings, inputs: Sequence[Any], timeout: float, *, engine: bool
) -> tuple[float, float, int, str]:
    """``(seconds, CPU seconds, outputs acknowledged, output topic)`` of one loop over ``inputs``
    (``(event, record)`` pairs, as ``throughput.py`` makes them), timed from the first input
    consumed to the last output acknowledged: ``EngineFloor`` if ``engine``, else
    ``WorkerFloor``."""
    in_topic, out_topic = ensure_asset_topics(settings, ["t.in", "t.out"])
    produce_all(settings, in_topic, [record for _event, record in inputs])
    kind = EngineFloor if engine else WorkerFloor
    loop = kind(settings, in_topic, out_topic, len(inputs))
    loop.run(time.monotonic() + timeout)
    assert loop.started is not None  # noqa: S101 - run() raises otherwise
    assert loop.finished is not None  # noqa: S101
    return (
        loop.finished[0] - loop.started[0],
        loop.finished[1] - loop.started[1],
        loop.acknowledged,
        out_topic,
    )
