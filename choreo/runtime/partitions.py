"""Partition mapping: which output partitions an input event touches, and what each one reads.

Three shapes occur, decided by whether the output and each input are partitioned:

* **partitioned input → partitioned output**: same partition. ``orders/2026-11-20`` feeds
  ``summary/2026-11-20``; two partitioned inputs join on the partition key.
* **unpartitioned input → partitioned output**: the input feeds *every known* output partition,
  so an update of it affects them all. Known partitions are those seen on the partitioned inputs
  plus those already run (consumed), for instance by a request.
* **partitioned input → unpartitioned output**: the output aggregates *all* known partitions of
  the input, so it reads a list of observations and any one partition changing affects it.

A partitioned output whose inputs are all unpartitioned has no input that can name a partition:
input events alone never create one of its partitions. Only a request (materialise or backfill)
names a partition; once it has run, later updates of the inputs re-trigger it like any other
known partition.

Events whose partitioning does not match their input's declaration (a partitioned event on an
input declared unpartitioned, or the reverse) are kept in the state but mapped nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.runtime.observations import Observation
from choreo.runtime.state import AssetState, OutputPartition


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of an asset, and whether its events carry a partition key.

    ``partitioned=None`` learns it from the events: the input counts as partitioned once an
    event of it with a partition key has been seen, and as unpartitioned until then.
    """

    asset: str
    partitioned: bool | None = False

    def __post_init__(self) -> None:
        validate_asset_key(self.asset)


class AssetShape(Protocol):
    """What partition mapping needs to know about an output asset (``AssetSpec`` has it)."""

    @property
    def inputs(self) -> tuple[InputSpec, ...]: ...

    @property
    def partitioned(self) -> bool: ...


def partitioned_inputs(spec: AssetShape, state: AssetState) -> frozenset[str]:
    """The inputs treated as partitioned: declared so, or learned so from the events seen."""
    seen = state.partitioned_assets
    return frozenset(
        item.asset
        for item in spec.inputs
        if item.partitioned or (item.partitioned is None and item.asset in seen)
    )


def known_output_partitions(spec: AssetShape, state: AssetState) -> list[OutputPartition]:
    """Every output partition the state knows of, sorted; ``[None]`` for an unpartitioned output."""
    if not spec.partitioned:
        return [None]
    partitioned = partitioned_inputs(spec, state)
    seen = {
        partition
        for asset, partition in state.known
        if partition is not None and asset in partitioned
    }
    seen.update(
        partition
        for partition, record in state.partitions.items()
        if partition is not None
        and (
            record.consumed is not None
            or record.last_run_at is not None
            or record.pending_since is not None
        )
    )
    return [*sorted(seen)]


def affected_partitions(
    spec: AssetShape, state: AssetState, observation: Observation
) -> list[OutputPartition]:
    """The output partitions whose inputs include ``observation``'s input partition, sorted.

    ``state`` should already hold ``observation`` (it matters for inputs learning their
    partitioning, and for which partitions are known).
    """
    if all(item.asset != observation.asset for item in spec.inputs):
        return []
    partitioned = observation.asset in partitioned_inputs(spec, state)
    if partitioned != (observation.partition is not None):
        return []
    if not spec.partitioned:
        return [None]
    if partitioned:
        return [observation.partition]
    return known_output_partitions(spec, state)


def inputs_for(
    spec: AssetShape, state: AssetState, output_partition: OutputPartition
) -> dict[str, list[Observation]]:
    """The observations each input contributes to ``output_partition``.

    Every input has an entry, in declaration order; an empty list means the input is missing.
    An input aggregated into an unpartitioned output lists its partitions sorted by key.

    Raises:
        InvalidInputError: ``output_partition`` is ``None`` for a partitioned output, or set for
            an unpartitioned one.
    """
    check_output_partition(spec, output_partition)
    return gather_inputs(spec, state, output_partition)


def gather_inputs(
    spec: AssetShape, state: AssetState, output_partition: OutputPartition
) -> dict[str, list[Observation]]:
    """``inputs_for`` without checking ``output_partition``: for partitions the state itself
    named (or that were checked already), since this runs for every decision."""
    partitioned = partitioned_inputs(spec, state)
    result: dict[str, list[Observation]] = {item.asset: [] for item in spec.inputs}
    aggregated: set[str] = set()
    for item in spec.inputs:
        if item.asset in partitioned and not spec.partitioned:
            aggregated.add(item.asset)
            continue
        where = output_partition if item.asset in partitioned else None
        observation = state.known.get((item.asset, where))
        if observation is not None:
            result[item.asset].append(observation)
    if aggregated:
        for (asset, partition), observation in state.known.items():
            if asset in aggregated and partition is not None:
                result[asset].append(observation)
        for asset in aggregated:
            result[asset].sort(key=lambda observation: observation.partition or "")
    return result


def check_output_partition(spec: AssetShape, output_partition: OutputPartition) -> None:
    """Raise ``InvalidInputError`` unless ``output_partition`` fits the output's partitioning."""
    if spec.partitioned and output_partition is None:
        raise InvalidInputError("this asset is partitioned: name the output partition")
    if not spec.partitioned and output_partition is not None:
        raise InvalidInputError(
            f"this asset is not partitioned, so it has no partition {output_partition!r}"
        )
    if output_partition is not None:
        validate_partition_key(output_partition)
