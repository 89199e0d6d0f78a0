"""An input event as the trigger state keeps it: the few fields deciding needs, checked once.

A service sees every event of its inputs but decides only from the latest one of each input
partition, and only from its identity, version, kind and time; an output event's ``inputs`` and
the changelog name it by the same fields. ``Observation`` is that reduced event. Made from an
``AssetEvent`` it is not checked again (the event's model already did, and this runs per event);
made from anything else, or read back from the changelog through ``to_dict``/``from_dict``, it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import AssetEvent, EventKind, InputVersion
from choreo.runtime.assembly import Assembler
from choreo.runtime.moments import aware_utc

InputPartition = tuple[str, str | None]
"""``(input asset, partition or None)``: where one observation is kept."""

_INPUT_VERSION = Assembler(InputVersion)


@dataclass(frozen=True, slots=True)
class Observation:
    """The latest known event of one input asset partition."""

    asset: str
    partition: str | None
    version: str
    event_id: uuid.UUID
    kind: EventKind
    occurred_at: datetime

    def __post_init__(self) -> None:
        validate_asset_key(self.asset)
        if self.partition is not None:
            validate_partition_key(self.partition)
        if not self.version:
            raise InvalidInputError(f"observation of {self.asset} has an empty version")
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "occurred_at", aware_utc(self.occurred_at, "occurred_at"))

    @classmethod
    def from_event(cls, event: AssetEvent) -> Self:
        """The observation an event makes of its asset partition.

        The event's model already checked every field this one holds (keys, a version, an
        aware UTC time), so they are not checked again on the way in: this runs per event.
        """
        observation = object.__new__(cls)
        setter = object.__setattr__
        setter(observation, "asset", event.asset)
        setter(observation, "partition", event.partition)
        setter(observation, "version", event.version)
        setter(observation, "event_id", event.event_id)
        setter(observation, "kind", event.kind)
        setter(observation, "occurred_at", event.occurred_at)
        return observation

    @property
    def where(self) -> InputPartition:
        """The key this observation is kept under in ``AssetState.known``."""
        return (self.asset, self.partition)

    def supersedes(self, other: Observation) -> bool:
        """Whether this observation replaces ``other`` (of the same input partition).

        Later ``occurred_at`` wins. A tie is broken by ``event_id`` rather than by arrival order,
        so the outcome does not depend on the order events are read in: a replay after a crash
        cannot flip back to an older event and start a spurious run.
        """
        if self.event_id == other.event_id:
            return False
        return (self.occurred_at, self.event_id.int) > (other.occurred_at, other.event_id.int)

    def as_input_version(self) -> InputVersion:
        """This observation as an entry of an output event's ``inputs``.

        Built without validation: every field was checked when the observation was made.
        """
        return _INPUT_VERSION(
            {
                "asset": self.asset,
                "partition": self.partition,
                "version": self.version,
                "event_id": self.event_id,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form (see ``AssetState.to_dict``)."""
        return {
            "asset": self.asset,
            "partition": self.partition,
            "version": self.version,
            "event_id": str(self.event_id),
            "kind": self.kind._value_,  # the plain text, without the ``value`` property's cost
            "occurred_at": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read back what ``to_dict`` wrote."""
        return cls(
            asset=data["asset"],
            partition=data["partition"],
            version=data["version"],
            event_id=uuid.UUID(data["event_id"]),
            kind=EventKind(data["kind"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
        )
