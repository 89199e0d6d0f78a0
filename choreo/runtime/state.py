"""What one output asset's service knows and has done: the memory the triggers decide from.

Triggers are pure functions of this state, so it holds everything they need and nothing they
do not: the latest event of each input partition, which input events the last run of each output
partition consumed, and when changes and runs happened. Every method returns a new state, so a
decision is always made against one consistent snapshot.

The runtime keeps the state in a compacted Kafka changelog topic and restores it when partitions
are assigned, hence ``to_dict``/``from_dict``: a JSON-compatible form with a format number, in a
stable order so the same state always serialises to the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Self

from choreo.errors import CodecError, InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import AssetEvent, EventKind, InputVersion

OutputPartition = str | None
"""An output partition key, or ``None`` for an unpartitioned output."""

InputPartition = tuple[str, str | None]
"""``(input asset, partition or None)``: where one observation is kept."""

STATE_FORMAT = 1
"""Version of the ``to_dict`` layout; bump it (and read the old one) when the layout changes."""

TRIGGERING_KINDS = frozenset({EventKind.UPDATED, EventKind.OBSERVED, EventKind.FAILED})
"""Kinds that change what downstream may build from. ``CHECKED`` reports on a version that is
already known, so it never replaces the observation (and never triggers a rebuild)."""


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
        object.__setattr__(self, "occurred_at", _utc(self.occurred_at, "occurred_at"))

    @classmethod
    def from_event(cls, event: AssetEvent) -> Self:
        """The observation an event makes of its asset partition."""
        return cls(
            asset=event.asset,
            partition=event.partition,
            version=event.version,
            event_id=event.event_id,
            kind=event.kind,
            occurred_at=event.occurred_at,
        )

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
        """This observation as an entry of an output event's ``inputs``."""
        return InputVersion(
            asset=self.asset, partition=self.partition, version=self.version, event_id=self.event_id
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form (see ``AssetState.to_dict``)."""
        return {
            "asset": self.asset,
            "partition": self.partition,
            "version": self.version,
            "event_id": str(self.event_id),
            "kind": self.kind.value,
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


@dataclass(frozen=True)
class AssetState:
    """The state of one output asset: what its inputs are at, and what its runs consumed.

    Attributes:
        known: the latest observation of each input partition.
        consumed: input event ids consumed by the last run of each output partition.
        pending_since: when the earliest change not yet run arrived, per output partition.
        last_changed_at: when the latest change not yet run arrived, per output partition.
        last_run_at: when the last run of each output partition chose its inputs.
    """

    known: Mapping[InputPartition, Observation] = field(default_factory=dict)
    consumed: Mapping[OutputPartition, frozenset[uuid.UUID]] = field(default_factory=dict)
    pending_since: Mapping[OutputPartition, datetime] = field(default_factory=dict)
    last_changed_at: Mapping[OutputPartition, datetime] = field(default_factory=dict)
    last_run_at: Mapping[OutputPartition, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("known", "consumed", "pending_since", "last_changed_at", "last_run_at"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        for where, observation in self.known.items():
            if where != observation.where:
                raise InvalidInputError(f"observation of {observation.where} is kept under {where}")

    def observe(self, observation: Observation) -> AssetState:
        """The state with ``observation`` taken in, or this same object if it changes nothing.

        A duplicate (same ``event_id``), an older event than the one known, and a ``CHECKED``
        event change nothing; callers may test ``new is old`` to skip deciding again.
        """
        if observation.kind not in TRIGGERING_KINDS:
            return self
        current = self.known.get(observation.where)
        if current is not None and not observation.supersedes(current):
            return self
        return self._with(known={**self.known, observation.where: observation})

    def mark_changed(
        self, output_partitions: Iterable[OutputPartition], at: datetime
    ) -> AssetState:
        """The state noting that a change for ``output_partitions`` arrived at ``at``."""
        at = _utc(at, "at")
        pending = dict(self.pending_since)
        changed = dict(self.last_changed_at)
        for partition in output_partitions:
            pending[partition] = min(pending.get(partition, at), at)
            changed[partition] = max(changed.get(partition, at), at)
        return self._with(pending_since=pending, last_changed_at=changed)

    def record_run(
        self, output_partition: OutputPartition, consumed_ids: Iterable[uuid.UUID], at: datetime
    ) -> AssetState:
        """The state after a run of ``output_partition`` that consumed ``consumed_ids``.

        ``at`` is when the run chose its inputs (the ``now`` it was decided at). Changes that
        arrived later stay pending, counted from ``at``; earlier ones are settled. Record failed
        runs too: the same inputs then do not start the same failing run again, new ones do.
        """
        at = _utc(at, "at")
        pending = dict(self.pending_since)
        changed = dict(self.last_changed_at)
        latest = changed.get(output_partition)
        if latest is None or latest <= at:
            pending.pop(output_partition, None)
            changed.pop(output_partition, None)
        else:
            pending[output_partition] = max(pending.get(output_partition, at), at)
        return self._with(
            consumed={**self.consumed, output_partition: frozenset(consumed_ids)},
            pending_since=pending,
            last_changed_at=changed,
            last_run_at={**self.last_run_at, output_partition: at},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict, identical for equal states (entries sorted, ids as text)."""
        return {
            "format": STATE_FORMAT,
            "known": [
                self.known[where].to_dict() for where in sorted(self.known, key=_input_order)
            ],
            "consumed": [
                {
                    "partition": partition,
                    "event_ids": sorted(str(i) for i in self.consumed[partition]),
                }
                for partition in sorted(self.consumed, key=_output_order)
            ],
            "pending_since": _times_to_list(self.pending_since),
            "last_changed_at": _times_to_list(self.last_changed_at),
            "last_run_at": _times_to_list(self.last_run_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssetState:
        """Read back what ``to_dict`` wrote; raise ``CodecError`` if it is not such a dict."""
        if not isinstance(data, Mapping) or data.get("format") != STATE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise CodecError(f"asset state has format {found!r}; this version reads {STATE_FORMAT}")
        try:
            known = [Observation.from_dict(item) for item in data["known"]]
            return cls(
                known={observation.where: observation for observation in known},
                consumed={
                    _partition(item["partition"]): frozenset(
                        uuid.UUID(i) for i in item["event_ids"]
                    )
                    for item in data["consumed"]
                },
                pending_since=_times_from_list(data["pending_since"]),
                last_changed_at=_times_from_list(data["last_changed_at"]),
                last_run_at=_times_from_list(data["last_run_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"asset state is malformed: {exc!r}") from exc

    def _with(self, **changes: Mapping[Any, Any]) -> AssetState:
        return replace(self, **changes)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


def _partition(value: object) -> OutputPartition:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"partition {value!r} is not text")
    return validate_partition_key(value)


def _input_order(where: InputPartition) -> tuple[str, bool, str]:
    return (where[0], where[1] is not None, where[1] or "")


def _output_order(partition: OutputPartition) -> tuple[bool, str]:
    return (partition is not None, partition or "")


def _times_to_list(times: Mapping[OutputPartition, datetime]) -> list[dict[str, Any]]:
    return [
        {"partition": partition, "at": times[partition].isoformat()}
        for partition in sorted(times, key=_output_order)
    ]


def _times_from_list(items: Iterable[Mapping[str, Any]]) -> dict[OutputPartition, datetime]:
    return {
        _partition(item["partition"]): _utc(datetime.fromisoformat(item["at"]), "at")
        for item in items
    }
