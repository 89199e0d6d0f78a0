"""Records that settle offsets: settled when durable, handed back when not, never raised."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from choreo.errors import CodecError
from choreo.kafka.dead_letters import RETRY_FIRST_SECONDS, DeadLetters
from choreo.kafka.transactions import Transactions
from choreo.kafka.writer import RecordWriter
from choreo.metrics import ServiceMetrics
from choreo.runtime.offsets import OffsetTracker, Ticket

WHERE = ("choreo.asset.t.in", 0)


def held(tracker: OffsetTracker) -> Ticket:
    tracker.read(WHERE, 0)
    return tracker.take(WHERE, 0)


def test_a_record_settles_its_tickets_when_acknowledged() -> None:
    """The delivery report settles the tickets; a failed one hands them to ``on_failure``."""
    producer = MagicMock(spec_set=Producer)
    tracker = OffsetTracker()
    failed: list[list[Ticket]] = []
    writer = RecordWriter(lambda: producer, tracker)
    writer.write("t", [held(tracker)], failed.append, key=b"k", value=b"v")
    report = producer.produce.call_args.kwargs["on_delivery"]
    report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert failed == [[Ticket(WHERE, 0)]]
    assert tracker.committable() == {WHERE: 0}
    report(None, None)
    assert tracker.committable() == {WHERE: 1}


def test_a_refused_record_hands_its_tickets_back_without_raising() -> None:
    """``produce`` raising (too large, ...) is reported, not raised into the loop."""
    producer = MagicMock(spec_set=Producer)
    producer.produce.side_effect = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    tracker = OffsetTracker()
    failed: list[list[Ticket]] = []
    RecordWriter(lambda: producer, tracker).write(
        "t", [held(tracker)], failed.append, key=b"k", value=b"v" * 10
    )
    assert failed == [[Ticket(WHERE, 0)]]
    assert tracker.committable() == {WHERE: 0}


def test_a_full_queue_is_waited_out() -> None:
    """``BufferError`` (the local queue is full) makes it poll and try again."""
    producer = MagicMock(spec_set=Producer)
    producer.produce.side_effect = [BufferError(), None]
    tracker = OffsetTracker()
    RecordWriter(lambda: producer, tracker).write("t", [], lambda _t: None, value=b"v")
    assert producer.produce.call_count == 2
    producer.poll.assert_called_once()


@pytest.mark.parametrize("refused", [False, True])
def test_in_a_transaction_tickets_settle_with_it(refused: bool) -> None:
    """In exactly-once mode the record joins the open transaction and settles at once (its
    offsets commit with it); a refused one settles nothing."""
    producer = MagicMock(spec_set=Producer)
    if refused:
        producer.produce.side_effect = KafkaException(KafkaError(KafkaError._FAIL))
    txn = Transactions(lambda: producer)
    tracker = OffsetTracker()
    failed: list[list[Ticket]] = []
    RecordWriter(lambda: producer, tracker, lambda: txn).write(
        "t", [held(tracker)], failed.append, value=b"v"
    )
    producer.begin_transaction.assert_called_once()
    assert txn.is_open
    assert "on_delivery" not in producer.produce.call_args.kwargs
    assert tracker.committable() == {WHERE: 0 if refused else 1}
    assert bool(failed) is refused


def dead_lettered(offset: int) -> Message:
    message = MagicMock(spec_set=Message)
    message.topic.return_value = WHERE[0]
    message.partition.return_value = WHERE[1]
    message.offset.return_value = offset
    message.key.return_value = b"k"
    message.value.return_value = b"\xc3\x01garbage"
    return message


def test_a_dead_letter_says_where_from_and_why_and_is_retried_until_written() -> None:
    """The DLQ record keeps the value and names its origin; one that cannot be written is tried
    again after a backoff, its input's offset held until then."""
    producer = MagicMock(spec_set=Producer)
    producer.produce.side_effect = [KafkaException(KafkaError(KafkaError._TRANSPORT)), None]
    tracker = OffsetTracker()
    now = [10.0]
    letters = DeadLetters(
        "choreo.dlq.svc",
        "svc",
        RecordWriter(lambda: producer, tracker),
        ServiceMetrics(),
        clock=lambda: now[0],
    )
    letters.send(dead_lettered(0), CodecError("unknown fingerprint"), [held(tracker)])
    letters.flush()
    assert producer.produce.call_count == 1
    now[0] += RETRY_FIRST_SECONDS
    letters.flush()
    record: dict[str, Any] = producer.produce.call_args.kwargs
    headers = dict(record["headers"])
    assert record["value"] == b"\xc3\x01garbage"
    assert headers["choreo_dlq_topic"] == WHERE[0].encode()
    assert headers["choreo_dlq_offset"] == b"0"
    assert headers["choreo_dlq_error_type"] == b"CodecError"
    assert tracker.committable() == {WHERE: 0}
    record["on_delivery"](None, None)
    assert tracker.committable() == {WHERE: 1}
