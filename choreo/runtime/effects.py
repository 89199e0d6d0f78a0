"""What handling one record asks of whoever drives a ``ServiceEngine``: runs to start, changelog
slices to rewrite, and runs it could not start.

The engine decides; the Kafka runner and ``choreo.testing`` act on its answers. These types are
that contract, so its readers (the runner's intake, outputs and telemetry, the changelog writer,
the in-memory harness) depend on them rather than on the engine's decision logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from choreo.runtime.identity import RunIdentity
from choreo.runtime.state import OutputPartition
from choreo.runtime.triggers import Blocked, PlannedRun
from choreo.service import AssetDefinition, InputArg, RunContext

ShardKey = tuple[str, int]
"""``(output asset, topic-partition index)``."""
SliceKey = tuple[str, int, OutputPartition]
"""``(output asset, topic-partition index, output partition)``: one changelog record."""


@dataclass(frozen=True)
class StartRun:
    """A run the runner should execute now."""

    definition: AssetDefinition
    shard: ShardKey
    planned: PlannedRun
    planned_at: datetime
    ctx: RunContext
    args: list[InputArg]
    identity: RunIdentity

    @classmethod
    def _of(cls, fields: dict[str, Any]) -> StartRun:
        """What the constructor makes of ``fields`` (every field, in order), set at once
        rather than one by one through the frozen dataclass's guard: one is made per run."""
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", fields)
        return made

    @property
    def key(self) -> tuple[str, OutputPartition]:
        """``(asset, output partition)``: at most one run of each is in flight."""
        return (self.definition.key, self.planned.output_partition)

    @property
    def slice(self) -> SliceKey:
        """The changelog record the run's outcome is kept in."""
        return (self.shard[0], self.shard[1], self.planned.output_partition)


@dataclass
class Effects:
    """What handling one record changed: runs to start and slices to write to the changelog."""

    runs: list[StartRun] = field(default_factory=list)
    dirty: set[SliceKey] = field(default_factory=set)
    blocked: list[tuple[str, Blocked]] = field(default_factory=list)
