"""The poll thread: it alone touches the consumer, hands batches and callbacks to the loop in
order, stops reading when held, and its failure reaches the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from choreo.kafka.poller import Batch, LoopConsumer, Poller
from choreo.kafka.telemetry import Telemetry
from choreo.metrics import ServiceMetrics

TIMEOUT = 10.0


class FakeConsumer:
    """Stands in for a group consumer: hands out ``records`` one poll at a time, records which
    thread made each call, and calls ``on_poll`` (a rebalance, say) inside its first poll."""

    def __init__(self, records: list[object] | None = None) -> None:
        self.records = list(records or [])
        self.threads: dict[str, set[str]] = {}
        self.on_poll: Callable[[], None] | None = None
        self.fail: KafkaException | None = None

    def _called(self, name: str) -> None:
        self.threads.setdefault(name, set()).add(threading.current_thread().name)

    def poll(self, timeout: float) -> object | None:
        self._called("poll")
        if self.fail is not None:
            raise self.fail
        if self.on_poll is not None:
            on_poll, self.on_poll = self.on_poll, None
            on_poll()
        if not self.records:
            time.sleep(min(timeout, 0.005))
            return None
        return self.records.pop(0)

    def consume(self, most: int, timeout: float) -> list[object]:
        self._called("consume")
        taken, self.records = self.records[:most], self.records[most:]
        return taken

    def consumer_group_metadata(self) -> object:
        self._called("consumer_group_metadata")
        return "metadata"

    def assignment(self) -> list[TopicPartition]:
        self._called("assignment")
        return [TopicPartition("t", 0)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return []

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._called("pause")

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._called("resume")


def poller_for(fake: FakeConsumer, room: int = 100) -> Poller:
    return Poller(
        cast(Consumer, fake),
        None,
        room=lambda: room,
        rebalanced=lambda: None,
        telemetry=Telemetry(ServiceMetrics()),
    )


def records_of(batches: list[Batch]) -> list[object]:
    """The records of ``batches``, in order."""
    return [message for batch in batches for message in batch.messages]


def taken(poller: Poller, want: int) -> list[Batch]:
    """Batches taken by the loop until ``want`` records came, or the timeout."""
    batches: list[Batch] = []
    deadline = time.monotonic() + TIMEOUT
    while sum(len(b.messages) for b in batches) < want and time.monotonic() < deadline:
        batches += poller.take(0.05)
    return batches


def test_records_reach_the_loop_in_order_in_batches() -> None:
    fake = FakeConsumer(list(range(7)))
    poller = poller_for(fake)
    poller.start()
    try:
        batches = taken(poller, 7)
    finally:
        poller.stop()
    assert records_of(batches) == list(range(7))
    assert all(b.from_group for b in batches)
    assert fake.threads["poll"] == {"choreo-poll"}


def test_the_loops_calls_on_the_consumer_are_made_on_the_poll_thread() -> None:
    """A call from another thread would wait for the consumer a polling thread never frees."""
    fake = FakeConsumer()
    poller = poller_for(fake)
    poller.start()
    try:
        assert poller.use(lambda consumer: threading.current_thread().name) == "choreo-poll"
        assert poller.consumer.assignment() == [TopicPartition("t", 0)]
    finally:
        poller.stop()
    assert fake.threads["assignment"] == {"choreo-poll"}
    # Once the thread is gone, the loop uses the consumer itself (at shutdown).
    assert poller.use(lambda consumer: threading.current_thread().name) != "choreo-poll"


def test_a_rebalance_runs_on_the_loop_after_the_records_read_before_it() -> None:
    """The callback waits in the poll thread until the loop runs it, in queue order; meanwhile
    the consumer calls it makes are made by the waiting poll thread."""
    fake = FakeConsumer()
    poller = poller_for(fake)
    seen: list[object] = []

    def on_assign(consumer: LoopConsumer, partitions: list[TopicPartition]) -> None:
        seen.append(("assigned", threading.current_thread().name, consumer.assignment()))

    callback = poller.rebalance(on_assign)
    first = True

    def poll_then_rebalance(timeout: float) -> object | None:
        nonlocal first
        if first:
            first = False
            return "before"
        fake.poll = original  # type: ignore[method-assign]
        callback(cast(Consumer, fake), [])
        return "after"

    original = fake.poll
    fake.poll = poll_then_rebalance  # type: ignore[method-assign]
    poller.start()
    loop = threading.current_thread().name
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(seen) < 3 and time.monotonic() < deadline:
            for batch in poller.take(0.05):
                seen.extend(batch.messages)
    finally:
        poller.stop()
    assert seen == ["before", ("assigned", loop, [TopicPartition("t", 0)]), "after"]
    assert fake.threads["assignment"] == {"choreo-poll"}


def test_held_reading_stops_and_hands_back_what_was_read() -> None:
    fake = FakeConsumer(list(range(3)))
    poller = poller_for(fake)
    poller.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while poller.queued < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        with poller.held() as batches:
            fake.records = ["while held"]
            time.sleep(0.2)
            assert records_of(batches) == [0, 1, 2]
            assert fake.records == ["while held"]  # nothing read while held
            assert poller.consumer.assignment() == [TopicPartition("t", 0)]
        assert records_of(taken(poller, 1)) == ["while held"]
    finally:
        poller.stop()


def test_without_room_for_a_second_the_consumer_is_paused_and_still_polled() -> None:
    fake = FakeConsumer()
    poller = poller_for(fake, room=0)
    poller.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while "pause" not in fake.threads and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert fake.threads["pause"] == {"choreo-poll"}


def test_a_failure_of_the_poll_thread_is_raised_on_the_loop() -> None:
    fake = FakeConsumer()
    fake.fail = KafkaException(KafkaError(KafkaError._FATAL, "fenced"))
    poller = poller_for(fake)
    poller.start()
    deadline = time.monotonic() + TIMEOUT

    def thread_gone() -> bool:
        try:  # the loop uses the consumer itself once the thread is gone
            name: str = poller.use(lambda consumer: threading.current_thread().name)
        except KafkaException:  # it failed while this call waited for it
            return True
        return name != "choreo-poll"

    while not thread_gone():
        assert time.monotonic() < deadline
    with pytest.raises(KafkaException, match="fenced"):
        list(poller.take(0.05))
    poller.stop()
