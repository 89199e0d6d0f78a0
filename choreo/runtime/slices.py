"""The stored form of trigger state: one record per output partition, merged back on restore.

A service keeps its state in a compacted changelog topic. Storing a whole shard (every output
partition an asset has on one topic partition) as one record made every change rewrite all of
it, and past ~1,600 partitions the record outgrew Kafka's 1 MB limit. A *slice* is what deciding
one output partition needs: the observations it reads (those of unpartitioned inputs included),
the details a run passes to the asset function, what its last run consumed, and its times. So a
change writes only the partitions it touched, each a few hundred bytes, and a shard of any size
is restored by merging its slices. An unpartitioned asset that aggregates every upstream
partition still has a single slice holding them all.

Records of the old layout (``SHARD_FORMAT``: the whole shard) are still read; their partitions
without a slice of their own are rewritten as slices.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from choreo.errors import CodecError
from choreo.runtime.moments import aware_utc
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import AssetShape, gather_inputs
from choreo.runtime.state import AssetState, OutputPartition, PartitionState, output_partition_from

SHARD_FORMAT = 1
"""The old layout: a whole shard (``{"format": 1, "state": ..., "details": ...}``)."""
SLICE_FORMAT = 2
"""The layout of ``PartitionSlice.to_dict``; bump it (and read the old one) when it changes."""


@dataclass(frozen=True, slots=True)
class EventDetail:
    """What an asset function needs of an input event beyond its version."""

    location: str | None
    metadata: Mapping[str, Any]
    correlation_id: uuid.UUID | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form."""
        return {
            "location": self.location,
            "metadata": dict(self.metadata),
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventDetail:
        """Read back what ``to_dict`` wrote."""
        correlation = data.get("correlation_id")
        return cls(
            data.get("location"),
            data.get("metadata") or {},
            uuid.UUID(correlation) if correlation else None,
        )


@dataclass(frozen=True)
class PartitionSlice:
    """The stored state of one output partition."""

    partition: OutputPartition
    observations: tuple[Observation, ...]
    """What each input contributes to the partition (unpartitioned inputs' included)."""
    details: Mapping[uuid.UUID, EventDetail]
    """The details of those observations' events that are known."""
    record: PartitionState
    """The partition's own bookkeeping: what its last run consumed, and when."""

    @classmethod
    def of(
        cls,
        spec: AssetShape,
        state: AssetState,
        partition: OutputPartition,
        details: Mapping[uuid.UUID, EventDetail],
    ) -> PartitionSlice:
        """The slice of ``partition`` in ``state``."""
        return cls.of_inputs(
            partition, gather_inputs(spec, state, partition), state.partition(partition), details
        )

    @classmethod
    def of_inputs(
        cls,
        partition: OutputPartition,
        inputs: Mapping[str, Sequence[Observation]],
        record: PartitionState,
        details: Mapping[uuid.UUID, EventDetail],
    ) -> PartitionSlice:
        """The slice of ``partition`` from the observations each input contributes to it and
        its record: for a caller that has them at hand (``AssetSpec.inputs_at``)."""
        observations: list[Observation] = []
        found: dict[uuid.UUID, EventDetail] = {}
        for items in inputs.values():
            for observation in items:
                observations.append(observation)
                detail = details.get(observation.event_id)
                if detail is not None:
                    found[observation.event_id] = detail
        return cls(partition, tuple(observations), found, record)

    def to_dict(self, asset: str) -> dict[str, Any]:
        """The JSON-compatible changelog value of this slice of ``asset``."""
        known = []
        details = self.details
        texts: dict[uuid.UUID, str] = {}
        for observation in self.observations:
            # ``Observation.to_dict`` and ``EventDetail.to_dict``, spelled out: this runs for
            # every changelog write, and a unit test holds the entries equal to theirs.
            event_id = observation.event_id
            text = texts[event_id] = str(event_id)
            entry: dict[str, Any] = {
                "asset": observation.asset,
                "partition": observation.partition,
                "version": observation.version,
                "event_id": text,
                "kind": observation.kind._value_,
                "occurred_at": observation.occurred_at.isoformat(),
            }
            detail = details.get(event_id)
            if detail is not None:
                correlation = detail.correlation_id
                entry["detail"] = {
                    "location": detail.location,
                    "metadata": dict(detail.metadata),
                    "correlation_id": str(correlation) if correlation else None,
                }
            known.append(entry)
        record = self.record
        consumed = record.consumed
        pending, changed, ran = record.pending_since, record.last_changed_at, record.last_run_at
        return {
            "format": SLICE_FORMAT,
            "asset": asset,
            "partition": self.partition,
            "known": known,
            # A run consumed what the slice observes, as a rule: their text is at hand.
            "consumed": None if consumed is None else _texts(consumed, texts),
            "pending_since": None if pending is None else pending.isoformat(),
            "last_changed_at": None if changed is None else changed.isoformat(),
            "last_run_at": None if ran is None else ran.isoformat(),
        }


def _texts(ids: frozenset[uuid.UUID], known: Mapping[uuid.UUID, str]) -> list[str]:
    """``ids`` as sorted text, taken from ``known`` where it is there already."""
    if len(ids) == 1:
        [only] = ids
        return [known.get(only) or str(only)]
    return sorted([known.get(i) or str(i) for i in ids])


@dataclass(frozen=True)
class ShardSnapshot:
    """A whole shard in one record: the layout before slices."""

    state: AssetState
    details: Mapping[uuid.UUID, EventDetail]


StoredRecord = PartitionSlice | ShardSnapshot


def decode_record(data: Any) -> StoredRecord:
    """Read a changelog value of either layout.

    Raises:
        CodecError: it is not a record this version wrote, or is damaged.
    """
    found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
    try:
        if found == SLICE_FORMAT:
            return _decode_slice(data)
        if found == SHARD_FORMAT:
            return ShardSnapshot(
                AssetState.from_dict(data["state"]),
                {
                    uuid.UUID(event_id): EventDetail.from_dict(detail)
                    for event_id, detail in (data.get("details") or {}).items()
                },
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CodecError(f"changelog record is malformed: {exc!r}") from exc
    raise CodecError(
        f"changelog record has format {found!r}; this version reads {SHARD_FORMAT} (a whole "
        f"shard) and {SLICE_FORMAT} (one output partition)"
    )


@dataclass(frozen=True)
class RestoredShard:
    """A shard put back together from its records."""

    state: AssetState
    details: Mapping[uuid.UUID, EventDetail]
    unsliced: frozenset[OutputPartition]
    """Partitions known only from an old-layout record: to be written again as slices."""


def merge(records: Iterable[StoredRecord]) -> RestoredShard:
    """Put one shard's latest records (one per changelog key, any order) back together.

    Old-layout snapshots go in first and slices over them. A slice decides everything about its
    own partition; observations are kept by the same rule as ``AssetState.observe`` (the latest
    event of each input partition), since an unpartitioned input's observation is in every slice
    and slices written at different times may hold different versions of it.
    """
    slices: list[PartitionSlice] = []
    snapshots: list[ShardSnapshot] = []
    for record in records:
        if isinstance(record, PartitionSlice):
            slices.append(record)
        else:
            snapshots.append(record)
    known: dict[tuple[str, str | None], Observation] = {}
    details: dict[uuid.UUID, EventDetail] = {}
    partitions: dict[OutputPartition, PartitionState] = {}

    def take(observations: Iterable[Observation], found: Mapping[uuid.UUID, EventDetail]) -> None:
        for observation in observations:
            current = known.get(observation.where)
            if current is None or observation.supersedes(current):
                known[observation.where] = observation
        for event_id, detail in found.items():
            details.setdefault(event_id, detail)

    for snapshot in snapshots:
        take(snapshot.state.known.values(), snapshot.details)
        partitions.update(snapshot.state.partitions.items())
    unsliced = set(partitions)
    for piece in slices:
        take(piece.observations, piece.details)
        partitions[piece.partition] = piece.record
        unsliced.discard(piece.partition)
    return RestoredShard(AssetState.of(known, partitions), details, frozenset(unsliced))


def _decode_slice(data: Mapping[str, Any]) -> PartitionSlice:
    observations: list[Observation] = []
    details: dict[uuid.UUID, EventDetail] = {}
    for entry in data["known"]:
        observation = Observation.from_dict(entry)
        observations.append(observation)
        if entry.get("detail") is not None:
            details[observation.event_id] = EventDetail.from_dict(entry["detail"])
    consumed = data["consumed"]
    return PartitionSlice(
        partition=output_partition_from(data["partition"]),
        observations=tuple(observations),
        details=details,
        record=PartitionState(
            consumed=None if consumed is None else frozenset(uuid.UUID(i) for i in consumed),
            pending_since=_time(data["pending_since"]),
            last_changed_at=_time(data["last_changed_at"]),
            last_run_at=_time(data["last_run_at"]),
        ),
    )


def _time(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"time {text!r} is not text")
    return aware_utc(datetime.fromisoformat(text), "at")
