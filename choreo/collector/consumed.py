"""What the collector's consumer hands the store, and what storing it did.

A batch is a list of ``Consumed`` records, each with where it was read and what it turned out to
be (an event, a declaration, a withdrawn declaration, or a record that cannot be used, with the
reason); storing it answers an ``IngestResult``. Plain values, so the consumer, the store and the
tests share them without any of them knowing Kafka or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from choreo.events import AssetDeclared, AssetEvent


@dataclass(frozen=True, slots=True)
class Retired:
    """A tombstone on the declarations topic: the asset's declaration was withdrawn."""

    asset: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the collector could not use, and why."""

    reason: str


Content = AssetEvent | AssetDeclared | Retired | Rejected
"""What one consumed record turned out to be."""


@dataclass(frozen=True, slots=True)
class Consumed:
    """One record read from Kafka: where it was, what it held, and its bytes (kept with the
    reason when it cannot be stored)."""

    topic: str
    partition: int
    offset: int
    content: Content
    key: bytes | None = None
    value: bytes | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing one batch (or, summed, many) did."""

    stored: int = 0
    """Events stored for the first time."""
    duplicates: int = 0
    """Events whose ``event_id`` was already stored (or came twice in the batch)."""
    declared: int = 0
    """Declarations applied."""
    retired: int = 0
    """Declarations withdrawn by a tombstone."""
    rejected: int = 0
    """Records that could not be used, kept in ``choreo_rejected``."""

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(IngestResult))
        )
