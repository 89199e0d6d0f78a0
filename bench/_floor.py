"""The plain loop with the mechanisms a choreo service must have, and none of choreo's code.

DESIGN.md and the services issue ask each service for more than consume → transform → produce:
the function runs off the poll thread, on a bounded set of workers, and an input's offset is
committed only once its output event is acknowledged. This loop does that around the plain
transform (``_plain.py``) with the least Python each step allows:

- the poll thread consumes and decodes (as choreo's does, since deciding needs the event);
- a worker builds and encodes the output and produces it (as choreo's workers announce their
  own outputs); at most ``max_concurrency * BACKLOG_FACTOR`` runs wait for or occupy a worker;
- the output's delivery report, served on the poll thread, stores the input's offset, which
  librdkafka commits every ``COMMIT_INTERVAL_MS`` (choreo commits at most every 100 ms under
  load too).

It is a generous bound on any implementation of those rules: no trigger state is kept, decided
on or written to a changelog, there are no CloudEvents headers, no per-key limit of one run in
flight, and offsets are stored as outputs are acknowledged rather than only up to the first
unacknowledged one. Its rate beside the plain loop's says how much of the target the rules leave.
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

#: Records read per poll at most, as the runner's fetcher.
BATCH = 500
#: Workers, as ``Service``'s default ``max_concurrency``.
WORKERS = Service("floor").max_concurrency
COMMIT_INTERVAL_MS = 100
#: Waits of the poll thread, as the runner's fetcher: while runs are in flight, and when idle.
BUSY_POLL_SECONDS = 0.005
IDLE_POLL_SECONDS = 0.1


class FloorLoop:
    """One run of the loop over ``total`` pre-produced inputs on ``in_topic``."""

    def __init__(
        self, settings: Settings, in_topic: str, out_topic: str, total: int, *, inline: bool
    ) -> None:
        self.total = total
        self._inline = inline
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
        self._room = threading.Semaphore(WORKERS * BACKLOG_FACTOR)
        self._work: queue.SimpleQueue[tuple[dict[str, Any], Message] | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._serve, name=f"floor-worker-{n}", daemon=True)
            for n in range(WORKERS)
        ]
        self.consumed = 0
        self.acknowledged = 0
        self.finished: tuple[float, float] | None = None
        self.errors: list[str] = []

    def run(self, deadline: float) -> tuple[float, float]:
        """Process every input; ``(wall, CPU)`` start marks, taken at the first input consumed."""
        if not self._inline:
            for worker in self._workers:
                worker.start()
        started: tuple[float, float] | None = None
        try:
            while self.finished is None and not self.errors and time.monotonic() < deadline:
                room = self._take_room() if self.consumed < self.total else 0
                if room and self._take_in(room) and started is None:
                    started = (time.perf_counter(), time.process_time())
                self._producer.poll(0)
        finally:
            for worker in self._workers:
                if worker.is_alive():
                    self._work.put(None)
            self._consumer.close()
            self._producer.flush(10)
        if started is None or self.finished is None or self.errors:
            raise RuntimeError(
                f"floor: {self.acknowledged}/{self.total} acknowledged, errors {self.errors[:3]}"
            )
        return started

    def _take_in(self, room: int) -> bool:
        """Read and hand on up to ``room`` records; whether any was read."""
        busy = self.consumed > self.acknowledged
        batch = self._read(room, BUSY_POLL_SECONDS if busy else IDLE_POLL_SECONDS)
        for message in batch:
            if message.error() is not None:
                self._room.release()
                continue
            self.consumed += 1
            datum = self._transform.decode(message.value() or b"")
            if self._inline:
                self._output(datum, message)
            else:
                self._work.put((datum, message))
        for _unused in range(room - len(batch)):
            self._room.release()
        return bool(batch)

    def _take_room(self) -> int:
        """Places for runs, as many as free up to ``BATCH`` (waiting a moment for the first)."""
        if not self._room.acquire(timeout=BUSY_POLL_SECONDS):
            return 0
        room = 1
        while room < BATCH and self._room.acquire(blocking=False):
            room += 1
        return room

    def _read(self, most: int, timeout: float) -> list[Message]:
        """Up to ``most`` records: waits for the first only, as the runner's fetcher does."""
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        return [first, *self._consumer.consume(most - 1, 0)] if most > 1 else [first]

    def _serve(self) -> None:
        """A worker: build, encode and produce the output of each decoded input."""
        while (item := self._work.get()) is not None:
            self._output(*item)

    def _output(self, datum: dict[str, Any], message: Message) -> None:
        key, value = self._transform.output(datum)
        self._produce(self._out_topic, key, value, self._on_output(message))
        self._room.release()

    def _produce(self, topic: str, key: bytes, value: bytes, callback: Callable[..., None]) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, on_delivery=callback)
            except BufferError:
                # The queue drains as the poll thread serves reports; only it serves them.
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


def _next(message: Message) -> TopicPartition:
    """The position after ``message``: what its acknowledged output stores for the next commit."""
    return TopicPartition(
        message.topic() or "", message.partition() or 0, (message.offset() or 0) + 1
    )


def run_floor(
    settings: Settings, inputs: Sequence[Any], timeout: float, *, inline: bool = False
) -> tuple[float, float, int, str]:
    """``(seconds, CPU seconds, outputs acknowledged, output topic)`` of the loop over
    ``inputs`` (``(event, record)`` pairs, as ``throughput.py`` makes them), timed from the
    first input consumed to the last output acknowledged. ``inline`` builds outputs on the poll
    thread instead of the workers: the same loop without the rule that costs most."""
    in_topic, out_topic = ensure_asset_topics(settings, ["t.in", "t.out"])
    produce_all(settings, in_topic, [record for _event, record in inputs])
    loop = FloorLoop(settings, in_topic, out_topic, len(inputs), inline=inline)
    started = loop.run(time.monotonic() + timeout)
    finished = loop.finished or started
    return finished[0] - started[0], finished[1] - started[1], loop.acknowledged, out_topic
