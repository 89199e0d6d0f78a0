"""How far the collector's ingestion is behind, as ``/healthz`` shows it.

Snapshots only: the poll thread measures and replaces them, readers on other threads get an
immutable value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from choreo.collector.consumed import IngestResult

#: A loop that has not polled for this long is stuck (a batch waiting for the database, say).
STUCK_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far the store is behind one partition's end."""

    topic: str
    partition: int
    next_offset: int | None
    """The next offset to store; ``None`` until the first batch of a new partition."""
    high_watermark: int | None
    """The partition's end as last fetched; ``None`` until known."""

    @property
    def lag(self) -> int | None:
        """Records not yet stored, when both ends are known."""
        if self.next_offset is None or self.high_watermark is None:
            return None
        return max(0, self.high_watermark - self.next_offset)


@dataclass(frozen=True, slots=True)
class IngestLag:
    """What ``/healthz`` shows about ingestion."""

    running: bool
    group_id: str
    partitions: tuple[PartitionLag, ...]
    seconds_since_batch: float | None
    """Since the last batch was stored; ``None`` before the first."""
    seconds_since_poll: float | None
    """Since the consumer last polled: a stuck loop shows here, an idle one does not."""
    totals: IngestResult = field(default_factory=IngestResult)

    @property
    def healthy(self) -> bool:
        """Running, and polling: a loop stuck longer than ``STUCK_SECONDS`` is not healthy."""
        return (
            self.running
            and self.seconds_since_poll is not None
            and self.seconds_since_poll < STUCK_SECONDS
        )

    @property
    def total(self) -> int:
        """Records not yet stored, over the partitions whose lag is known."""
        return sum(p.lag for p in self.partitions if p.lag is not None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "healthy": self.healthy,
            "running": self.running,
            "group_id": self.group_id,
            "lag": self.total,
            "seconds_since_batch": _rounded(self.seconds_since_batch),
            "seconds_since_poll": _rounded(self.seconds_since_poll),
            "stored": self.totals.stored,
            "duplicates": self.totals.duplicates,
            "declared": self.totals.declared,
            "retired": self.totals.retired,
            "rejected": self.totals.rejected,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "next_offset": p.next_offset,
                    "high_watermark": p.high_watermark,
                    "lag": p.lag,
                }
                for p in self.partitions
            ],
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
