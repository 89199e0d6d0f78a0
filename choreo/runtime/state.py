"""What one output asset's service knows and has done: the memory the triggers decide from.

Triggers are pure functions of this state, so it holds everything they need and nothing they
do not: the latest event of each input partition, which input events the last run of each output
partition consumed, and when changes and runs happened. Every method returns a new state, so a
decision is always made against one consistent snapshot. The mappings are ``FrozenMap``s, so a
new state shares almost everything with the old one: a change costs the same in a shard of ten
partitions as in one of a hundred thousand.

The runtime keeps the state in a compacted Kafka changelog topic and restores it when partitions
are assigned, hence ``to_dict``/``from_dict``: a JSON-compatible form with a format number, in a
stable order so the same state always serialises to the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from choreo.errors import CodecError, InvalidInputError
from choreo.events.keys import validate_partition_key
from choreo.events.models import EventKind
from choreo.runtime.frozenmap import FrozenMap
from choreo.runtime.moments import aware_utc
from choreo.runtime.observations import InputPartition, Observation

OutputPartition = str | None
"""An output partition key, or ``None`` for an unpartitioned output."""

STATE_FORMAT = 1
"""Version of the ``to_dict`` layout; bump it (and read the old one) when the layout changes."""

TRIGGERING_KINDS = frozenset({EventKind.UPDATED, EventKind.OBSERVED, EventKind.FAILED})
"""Kinds that change what downstream may build from. ``CHECKED`` reports on a version that is
already known, so it never replaces the observation (and never triggers a rebuild)."""


@dataclass(frozen=True, slots=True)
class PartitionState:
    """What an asset's state holds about one output partition (``None``: nothing yet)."""

    consumed: frozenset[uuid.UUID] | None = None
    """Input event ids consumed by the partition's last run."""
    pending_since: datetime | None = None
    """When the earliest change not yet run arrived."""
    last_changed_at: datetime | None = None
    """When the latest change not yet run arrived."""
    last_run_at: datetime | None = None
    """When the last run chose its inputs."""


_NOTHING = PartitionState()


class AssetState:
    """The state of one output asset: what its inputs are at, and what its runs consumed.

    Attributes:
        known: the latest observation of each input partition.
        partitions: what is known of each output partition (``PartitionState``); the four
            mappings below are read-only views of it, one per field.
        consumed: input event ids consumed by the last run of each output partition.
        pending_since: when the earliest change not yet run arrived, per output partition.
        last_changed_at: when the latest change not yet run arrived, per output partition.
        last_run_at: when the last run of each output partition chose its inputs.
        partitioned_assets: input assets with an observation that has a partition key: what
            inputs declared ``partitioned=None`` learn from, kept so deciding never scans.

    Immutable: every method returns a new state, sharing what did not change with this one.
    """

    __slots__ = ("known", "partitioned_assets", "partitions")

    known: FrozenMap[InputPartition, Observation]
    partitions: FrozenMap[OutputPartition, PartitionState]
    partitioned_assets: frozenset[str]

    def __init__(
        self,
        known: Mapping[InputPartition, Observation] | None = None,
        consumed: Mapping[OutputPartition, Iterable[uuid.UUID]] | None = None,
        pending_since: Mapping[OutputPartition, datetime] | None = None,
        last_changed_at: Mapping[OutputPartition, datetime] | None = None,
        last_run_at: Mapping[OutputPartition, datetime] | None = None,
    ) -> None:
        fields: dict[OutputPartition, dict[str, Any]] = {}
        for name, values in (
            ("consumed", {p: frozenset(ids) for p, ids in (consumed or {}).items()}),
            ("pending_since", pending_since or {}),
            ("last_changed_at", last_changed_at or {}),
            ("last_run_at", last_run_at or {}),
        ):
            for partition, value in values.items():
                fields.setdefault(partition, {})[name] = value
        self._set(*_checked(known or {}, {p: PartitionState(**f) for p, f in fields.items()}))

    @classmethod
    def of(
        cls,
        known: Mapping[InputPartition, Observation],
        partitions: Mapping[OutputPartition, PartitionState],
    ) -> AssetState:
        """A state from observations and per-partition records (records of nothing dropped).

        Raises:
            InvalidInputError: an observation is kept under another input partition's key.
        """
        return cls._of(*_checked(known, partitions))

    @classmethod
    def _of(
        cls,
        known: FrozenMap[InputPartition, Observation],
        partitions: FrozenMap[OutputPartition, PartitionState],
        partitioned_assets: frozenset[str],
    ) -> AssetState:
        """A state from parts this class made from checked values: nothing to check again."""
        new = object.__new__(cls)
        setter = object.__setattr__
        setter(new, "known", known)
        setter(new, "partitions", partitions)
        setter(new, "partitioned_assets", partitioned_assets)
        return new

    def _set(
        self,
        known: FrozenMap[InputPartition, Observation],
        partitions: FrozenMap[OutputPartition, PartitionState],
        partitioned_assets: frozenset[str],
    ) -> None:
        object.__setattr__(self, "known", known)
        object.__setattr__(self, "partitions", partitions)
        object.__setattr__(self, "partitioned_assets", partitioned_assets)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"AssetState is immutable; cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetState):
            return NotImplemented
        return self.known == other.known and self.partitions == other.partitions

    __hash__ = None  # type: ignore[assignment] # equal states may differ in identity only

    def __repr__(self) -> str:
        known, partitions = dict(self.known.items()), dict(self.partitions.items())
        return f"AssetState(known={known!r}, partitions={partitions!r})"

    @property
    def consumed(self) -> Mapping[OutputPartition, frozenset[uuid.UUID]]:
        """Input event ids consumed by the last run of each output partition."""
        return _FieldView(self.partitions, "consumed")

    @property
    def pending_since(self) -> Mapping[OutputPartition, datetime]:
        """When the earliest change not yet run arrived, per output partition."""
        return _FieldView(self.partitions, "pending_since")

    @property
    def last_changed_at(self) -> Mapping[OutputPartition, datetime]:
        """When the latest change not yet run arrived, per output partition."""
        return _FieldView(self.partitions, "last_changed_at")

    @property
    def last_run_at(self) -> Mapping[OutputPartition, datetime]:
        """When the last run of each output partition chose its inputs."""
        return _FieldView(self.partitions, "last_run_at")

    def partition(self, output_partition: OutputPartition) -> PartitionState:
        """What is known of ``output_partition`` (all ``None`` if nothing)."""
        return self.partitions.get(output_partition, _NOTHING)

    def observe(self, observation: Observation) -> AssetState:
        """The state with ``observation`` taken in, or this same object if it changes nothing.

        A duplicate (same ``event_id``), an older event than the one known, and a ``CHECKED``
        event change nothing; callers may test ``new is old`` to skip deciding again.
        """
        taken = self._taken(observation)
        if taken is None:
            return self
        return AssetState._of(taken[0], self.partitions, taken[1])

    def observe_changed(
        self, observation: Observation, output_partition: OutputPartition, at: datetime
    ) -> AssetState:
        """``observe(observation).mark_changed([output_partition], at)`` when the observation
        changes something, else this same object: one new state instead of two, for the usual
        event, which feeds the output partition of its own key."""
        taken = self._taken(observation)
        if taken is None:
            return self
        at = aware_utc(at, "at")
        partitions = self.partitions
        record = _changed(partitions.get(output_partition, _NOTHING), at)
        return AssetState._of(taken[0], partitions.set(output_partition, record), taken[1])

    def _taken(
        self, observation: Observation
    ) -> tuple[FrozenMap[InputPartition, Observation], frozenset[str]] | None:
        """``known`` and ``partitioned_assets`` with ``observation`` taken in; ``None`` if it
        changes nothing (see ``observe``)."""
        if observation.kind not in TRIGGERING_KINDS:
            return None
        where = observation.where
        current = self.known.get(where)
        if current is not None and not observation.supersedes(current):
            return None
        assets = self.partitioned_assets
        if observation.partition is not None and observation.asset not in assets:
            assets = assets | {observation.asset}
        return self.known.set(where, observation), assets

    def mark_changed(
        self, output_partitions: Iterable[OutputPartition], at: datetime
    ) -> AssetState:
        """The state noting that a change for ``output_partitions`` arrived at ``at``."""
        at = aware_utc(at, "at")
        partitions = self.partitions
        changes: dict[OutputPartition, PartitionState] = {}
        for partition in output_partitions:
            changes[partition] = _changed(partitions.get(partition, _NOTHING), at)
        if len(changes) == 1:
            [(partition, record)] = changes.items()
            return AssetState._of(
                self.known, partitions.set(partition, record), self.partitioned_assets
            )
        return AssetState._of(self.known, partitions.update(changes), self.partitioned_assets)

    def record_run(
        self, output_partition: OutputPartition, consumed_ids: Iterable[uuid.UUID], at: datetime
    ) -> AssetState:
        """The state after a run of ``output_partition`` that consumed ``consumed_ids``.

        ``at`` is when the run chose its inputs (the ``now`` it was decided at). Changes that
        arrived later stay pending, counted from ``at``; earlier ones are settled. Record failed
        runs too: the same inputs then do not start the same failing run again, new ones do.
        """
        at = aware_utc(at, "at")
        old = self.partitions.get(output_partition, _NOTHING)
        latest = old.last_changed_at
        if latest is None or latest <= at:
            pending, changed = None, None
        else:
            pending = (
                at if old.pending_since is None or old.pending_since < at else old.pending_since
            )
            changed = latest
        record = PartitionState(frozenset(consumed_ids), pending, changed, at)
        return AssetState._of(
            self.known, self.partitions.set(output_partition, record), self.partitioned_assets
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
                    output_partition_from(item["partition"]): frozenset(
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


class _FieldView(Mapping[OutputPartition, Any]):
    """One field of every output partition's ``PartitionState``, as a read-only mapping."""

    __slots__ = ("_name", "_partitions")

    def __init__(self, partitions: FrozenMap[OutputPartition, PartitionState], name: str) -> None:
        self._partitions = partitions
        self._name = name

    def __getitem__(self, key: OutputPartition) -> Any:
        value = getattr(self._partitions.get(key, _NOTHING), self._name)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[OutputPartition]:
        name = self._name
        return (p for p, record in self._partitions.items() if getattr(record, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


def _checked(
    known: Mapping[InputPartition, Observation],
    partitions: Mapping[OutputPartition, PartitionState],
) -> tuple[
    FrozenMap[InputPartition, Observation],
    FrozenMap[OutputPartition, PartitionState],
    frozenset[str],
]:
    """A state's parts from given mappings: keys checked, empty partition records dropped."""
    for where, observation in known.items():
        if where != observation.where:
            raise InvalidInputError(f"observation of {observation.where} is kept under {where}")
    return (
        FrozenMap(known),
        FrozenMap({p: r for p, r in partitions.items() if r != _NOTHING}),
        _partitioned(known.values()),
    )


def _changed(old: PartitionState, at: datetime) -> PartitionState:
    """``old`` noting a change that arrived at ``at`` (in UTC)."""
    pending, changed = old.pending_since, old.last_changed_at
    return PartitionState(
        old.consumed,
        at if pending is None or at < pending else pending,
        at if changed is None or at > changed else changed,
        old.last_run_at,
    )


def _partitioned(observations: Iterable[Observation]) -> frozenset[str]:
    return frozenset(o.asset for o in observations if o.partition is not None)


def output_partition_from(value: object) -> OutputPartition:
    """An output partition read from stored data: ``None`` or a valid partition key."""
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
        output_partition_from(item["partition"]): aware_utc(
            datetime.fromisoformat(item["at"]), "at"
        )
        for item in items
    }
