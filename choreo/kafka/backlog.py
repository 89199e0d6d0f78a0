"""Records read by the poll thread and not yet handed to the engine, and the pace of handing.

The loop hands records over in short turns (``TURN_RECORDS``): each turn ends by serving the
broker's acknowledgements, and a run whose output is not yet acknowledged makes the next version
of its key wait (and be coalesced with the one after). It hands over no more than the workers
have room for, so a slow asset never queues more than ``limit`` runs; and it tells the poll
thread to read only about a batch ahead of it. After a rebalance, records of partitions no
longer held are dropped; before a seek back to the committed offsets, every group record read
but not handed over is: the consumer reads them again.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator

from confluent_kafka import Message

from choreo.kafka.dispatch import Dispatcher
from choreo.kafka.intake import Intake
from choreo.kafka.poller import BATCH, BUSY_WAIT_SECONDS, Poller
from choreo.runtime.executor import RunExecutor

#: Records handed to the engine per turn of the loop at most (see the module).
TURN_RECORDS = 64


class Backlog:
    """The records between one service's poll thread and its engine."""

    def __init__(
        self,
        intake: Intake,
        dispatch: Dispatcher,
        executor: RunExecutor,
        *,
        limit: int,
        held_indices: Callable[[], set[int]],
    ) -> None:
        self._intake = intake
        self._dispatch = dispatch
        self._executor = executor
        self._limit = limit
        self._held_indices = held_indices
        self._pending: deque[tuple[Message, bool]] = deque()
        """Records taken from the poller, each with whether it came through the group."""

    def hand_over(self, poller: Poller, wait: float) -> int:
        """Hand records to the engine, as many as the workers have room for and at most
        ``TURN_RECORDS``, waiting up to ``wait`` seconds for some if none are read yet; how
        many were handed over."""
        pending = self._pending
        if pending and self._executor.busy >= self._limit:
            self._executor.wait_below(self._limit, BUSY_WAIT_SECONDS)
        for batch in poller.take(0.0 if pending else wait):
            from_group = batch.from_group
            pending.extend((message, from_group) for message in batch.messages)
        handed = 0
        intake, dispatch, executor = self._intake, self._dispatch, self._executor
        while pending and executor.busy < self._limit and handed < TURN_RECORDS:
            message, from_group = pending.popleft()
            taken = intake.take_in(message, from_group=from_group)
            if taken is not None:
                dispatch.apply(*taken)
            handed += 1
        return handed

    def room(self) -> int:
        """Records the poll thread may read now (asked there): none while the workers are
        full, else what keeps about a batch waiting."""
        if self._executor.busy >= self._limit:
            return 0
        return BATCH - len(self._pending)

    def drop_unowned(self) -> None:
        """After a rebalance: drop waiting records of partitions no longer held (the next
        owner reads them from the committed offsets)."""
        held = self._held_indices()
        pending = self._pending  # changed in place: ``hand_over`` may be extending it
        if any(from_group and m.partition() not in held for m, from_group in pending):
            kept = [(m, g) for m, g in pending if not g or m.partition() in held]
            pending.clear()
            pending.extend(kept)

    @contextlib.contextmanager
    def reading_held(self, poller: Poller) -> Iterator[None]:
        """Reading stopped for the block, and every group record read but not handed over
        dropped: for a seek back to the committed offsets, which reads them again."""
        pending = self._pending
        with poller.held() as batches:
            kept = [(m, g) for m, g in pending if not g]
            for batch in batches:
                if not batch.from_group:
                    kept += [(m, False) for m in batch.messages]
            pending.clear()
            pending.extend(kept)
            yield
