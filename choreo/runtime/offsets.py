"""Which offset of each input partition is safe to commit.

A record is *settled* once everything it caused is durable: its effect on the trigger state is in
the changelog, the runs it started have announced their outputs, and a dead letter (if any) is
acknowledged. The committable position of a partition is the lowest unsettled offset, or one past
the last record read: committing it never skips a record whose effects could be lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Ticket:
    """One outstanding piece of work a record waits for."""

    where: TopicPartitionKey
    offset: int


@dataclass
class _Partition:
    next_offset: int | None = None
    open: dict[int, int] = field(default_factory=dict)  # offset -> outstanding tickets
    committed: int | None = None
    # Records are read in offset order, so ``open`` is nearly always in it too and its first key
    # is the lowest; ``min`` over thousands of open offsets (records waiting for their trigger
    # state's write) on every commit showed in profiles. ``newest`` is the highest offset opened
    # since ``open`` was last empty; ``in_order`` whether every offset came after the ones
    # before it.
    newest: int = -1
    in_order: bool = True

    def lowest_open(self) -> int | None:
        """The lowest open offset, or ``None``."""
        if not self.open:
            return None
        return next(iter(self.open)) if self.in_order else min(self.open)


class OffsetTracker:
    """Counts outstanding work per record and answers what can be committed."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _Partition] = {}

    def read(self, where: TopicPartitionKey, offset: int) -> None:
        """A record was read (it is settled unless tickets are taken for it)."""
        part = self._partition(where)
        if part.next_offset is None or offset >= part.next_offset:
            part.next_offset = offset + 1

    def take(self, where: TopicPartitionKey, offset: int) -> Ticket:
        """Hold the record at ``offset`` until the returned ticket is settled."""
        part = self._partition(where)
        held = part.open.get(offset)
        if held is None:
            if offset < part.newest:
                part.in_order = False
            else:
                part.newest = offset
            held = 0
        part.open[offset] = held + 1
        return Ticket(where, offset)

    def _partition(self, where: TopicPartitionKey) -> _Partition:
        part = self._partitions.get(where)
        if part is None:
            part = self._partitions[where] = _Partition()
        return part

    def settle(self, ticket: Ticket) -> None:
        """One piece of work of a record is durable."""
        part = self._partitions.get(ticket.where)
        if part is None or ticket.offset not in part.open:
            return  # the partition was revoked meanwhile
        part.open[ticket.offset] -= 1
        if part.open[ticket.offset] <= 0:
            del part.open[ticket.offset]
            if not part.open:
                part.newest, part.in_order = -1, True

    def committable(self) -> dict[TopicPartitionKey, int]:
        """Positions newer than the last commit that are safe to commit now."""
        positions: dict[TopicPartitionKey, int] = {}
        for where, part in self._partitions.items():
            if part.next_offset is None:
                continue
            lowest = part.lowest_open()
            position = part.next_offset if lowest is None else lowest
            if part.committed is None or position > part.committed:
                positions[where] = position
        return positions

    def committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Record that ``positions`` were committed."""
        for where, position in positions.items():
            if where in self._partitions:
                self._partitions[where].committed = position

    def pending(self) -> int:
        """Records still waiting for work."""
        return sum(len(p.open) for p in self._partitions.values())

    def forget(self, wheres: list[TopicPartitionKey]) -> None:
        """Stop tracking revoked partitions."""
        for where in wheres:
            self._partitions.pop(where, None)
