"""The committable position of each input partition: the lowest unsettled offset."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from choreo.runtime.offsets import OffsetTracker, Ticket

WHERE = ("t.in", 0)

#: ("read", offset) reads a record and takes a ticket for it; ("settle", n) settles the n-th
#: ticket still held (modulo how many there are).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=0, max_value=60)),
        st.tuples(st.just("settle"), st.integers(min_value=0, max_value=1000)),
    ),
    max_size=80,
)


@given(steps)
def test_the_position_is_the_lowest_open_offset_in_any_order(script: list[tuple[str, int]]) -> None:
    """Whatever order offsets are taken and settled in (rewinds read lower ones again), the
    position is the lowest offset still held, or one past the newest read when none is."""
    tracker = OffsetTracker()
    held: list[Ticket] = []
    newest: int | None = None
    for step, value in script:
        if step == "read":
            tracker.read(WHERE, value)
            held.append(tracker.take(WHERE, value))
            newest = value if newest is None else max(newest, value)
        elif held:
            tracker.settle(held.pop(value % len(held)))
        if newest is None:
            continue
        expected = min((t.offset for t in held), default=newest + 1)
        positions = tracker.committable()
        assert positions.get(WHERE, expected) == expected
        if positions:
            tracker.committed(positions)


def test_records_read_in_order_keep_the_first_open_one_as_the_position() -> None:
    """The usual case: offsets taken in order, settled out of order."""
    tracker = OffsetTracker()
    tickets = []
    for offset in range(10, 20):
        tracker.read(WHERE, offset)
        tickets.append(tracker.take(WHERE, offset))
    for ticket in tickets[1:5]:
        tracker.settle(ticket)
    assert tracker.committable() == {WHERE: 10}
    tracker.settle(tickets[0])
    assert tracker.committable() == {WHERE: 15}
    for ticket in tickets[5:]:
        tracker.settle(ticket)
    assert tracker.committable() == {WHERE: 20}
