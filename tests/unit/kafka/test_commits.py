"""When the committer commits: the exactly-once transaction cadence and the async interval."""

from __future__ import annotations

from typing import cast

from confluent_kafka import TopicPartition

from choreo.kafka.commits import TRANSACTION_INTERVAL_SECONDS, Committer
from choreo.kafka.poller import LoopConsumer
from choreo.kafka.transactions import CommitOutcome, Transactions
from choreo.runtime.offsets import OffsetTracker


class RecordingTransactions:
    """Stands in for ``Transactions``: records each commit and its offsets."""

    is_open = True

    def __init__(self) -> None:
        self.commits: list[list[TopicPartition]] = []

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> CommitOutcome:
        self.commits.append(offsets)
        return CommitOutcome.COMMITTED


class GroupConsumer:
    """Stands in for the loop's ``LoopConsumer``: only its group metadata is read."""

    def consumer_group_metadata(self) -> object:
        return "group-metadata"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def committer() -> tuple[Committer, RecordingTransactions, OffsetTracker, Clock]:
    tracker = OffsetTracker()
    txn = RecordingTransactions()
    clock = Clock()
    made = Committer(tracker, lambda: cast(Transactions, txn), clock=clock)
    return made, txn, tracker, clock


CONSUMER = cast(LoopConsumer, GroupConsumer())


def test_a_busy_loop_keeps_the_transaction_open_until_the_interval_passes() -> None:
    made, txn, tracker, clock = committer()
    tracker.read(("t", 0), 5)
    for _ in range(10):
        clock.now += TRANSACTION_INTERVAL_SECONDS / 20
        assert made.commit(CONSUMER, asynchronous=True, idle=False)
    assert txn.commits == []
    clock.now += TRANSACTION_INTERVAL_SECONDS
    assert made.commit(CONSUMER, asynchronous=True, idle=False)
    assert [[(tp.topic, tp.partition, tp.offset) for tp in c] for c in txn.commits] == [
        [("t", 0, 6)]
    ]


def test_an_idle_loop_commits_at_once() -> None:
    made, txn, tracker, _clock = committer()
    tracker.read(("t", 0), 5)
    assert made.commit(CONSUMER, asynchronous=True, idle=True)
    tracker.read(("t", 0), 6)
    assert made.commit(CONSUMER, asynchronous=True, idle=True)
    assert len(txn.commits) == 2


def test_a_synchronous_commit_never_waits_for_the_interval() -> None:
    made, txn, tracker, _clock = committer()
    tracker.read(("t", 0), 5)
    assert made.commit(CONSUMER, asynchronous=False, idle=False)
    assert len(txn.commits) == 1
