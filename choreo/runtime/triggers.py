"""When an asset rebuilds: the pure decision the runtime acts on.

The policies it consults live in ``choreo.runtime.policies`` and are importable from here too.

Without a central scheduler, each service decides for itself when its inputs justify a run. That
decision is a pure function of the asset's declaration, its ``AssetState`` and the time it is
given, so it is tested here in microseconds and behaves the same in production and in
``choreo.testing``.

The runtime, per input event::

    observation = Observation.from_event(event)
    new_state, affected = absorb_affected(spec, state, observation, now)
    if new_state is not state:          # duplicates, older and CHECKED events change nothing
        decision = decide(spec, new_state, now, only=affected)

and again with neither ``changed`` nor ``only`` (every known partition) after restoring the
state and at ``decision.wake_at``. It starts each planned run unless that output partition
already has one in flight, and once the output event is acknowledged it keeps
``state.record_run(run.output_partition, run.input_event_ids, at=<the now it was planned at>)``
and decides again for that one partition (``only=[run.output_partition]``): a run changes
nothing for the others, and a shard may hold thousands of them.

Whatever the policy, a partition with a missing input or an input whose latest event is
``FAILED`` does not run; it is reported as blocked with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import UUID

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key
from choreo.events.models import EventKind, InputVersion
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import (
    InputSpec,
    affected_partitions,
    check_output_partition,
    gather_inputs,
    known_output_partitions,
)
from choreo.runtime.policies import (
    EAGER,
    HOLD,
    RUN,
    TRIGGER_FORMS,
    AllUpdated,
    Candidate,
    Cron,
    Debounce,
    Eager,
    Inputs,
    Predicate,
    TriggerPolicy,
    Verdict,
    parse_trigger,
)
from choreo.runtime.state import AssetState, OutputPartition

__all__ = [
    "HOLD",
    "RUN",
    "TRIGGER_FORMS",
    "AllUpdated",
    "AssetSpec",
    "Blocked",
    "Candidate",
    "Cron",
    "Debounce",
    "Decision",
    "Eager",
    "Inputs",
    "PlannedRun",
    "Predicate",
    "TriggerPolicy",
    "Verdict",
    "absorb",
    "absorb_affected",
    "decide",
    "parse_trigger",
    "plan_requested",
]


@dataclass(frozen=True)
class AssetSpec:
    """What the triggers need to know about one output asset."""

    key: str
    inputs: tuple[InputSpec, ...] = ()
    partitioned: bool = False
    policy: TriggerPolicy = EAGER
    keyed: Mapping[str, bool] | None = field(init=False, repr=False, compare=False)
    """Per input, whether it is read at the output's partition (``True``) or as its one
    unpartitioned observation (``False``): set when that follows from the declaration alone.
    ``None`` when an input learns its partitioning from events or is aggregated into an
    unpartitioned output; deciding then works it out from the state each time."""
    eager: bool = field(init=False, repr=False, compare=False)
    """The policy is plain ``Eager``: deciding needs no ``Candidate``."""

    def __post_init__(self) -> None:
        validate_asset_key(self.key)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        names = [item.asset for item in self.inputs]
        if self.key in names:
            raise InvalidInputError(f"asset {self.key} cannot be an input of itself")
        if len(set(names)) != len(names):
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise InvalidInputError(f"asset {self.key} lists input {', '.join(repeated)} twice")
        fixed = all(
            item.partitioned is False or (item.partitioned is True and self.partitioned)
            for item in self.inputs
        )
        keyed = {item.asset: item.partitioned is True for item in self.inputs}
        object.__setattr__(self, "keyed", keyed if fixed else None)
        object.__setattr__(self, "eager", type(self.policy) is Eager)

    def inputs_at(
        self, state: AssetState, partition: OutputPartition
    ) -> dict[str, tuple[Observation, ...]]:
        """``gather_inputs`` as tuples; looked up directly when the declaration fixes the keys
        (``keyed``), since this runs for every decision and every stored slice."""
        keyed = self.keyed
        if keyed is None:
            gathered = gather_inputs(self, state, partition)
            return {asset: tuple(items) for asset, items in gathered.items()}
        known = state.known
        inputs: dict[str, tuple[Observation, ...]] = {}
        for asset, at_partition in keyed.items():
            observation = known.get((asset, partition if at_partition else None))
            inputs[asset] = () if observation is None else (observation,)
        return inputs


@dataclass(frozen=True)
class PlannedRun:
    """A run to start: one output partition and exactly the inputs it is to read.

    ``input_event_ids`` and the output event's ``inputs`` are worked out when the run is
    planned: every planned run needs both (its identity, then its output), and computing them
    here costs less than caching them on first use.
    """

    output_partition: OutputPartition
    inputs: Inputs
    request_id: str | None = None
    input_event_ids: frozenset[UUID] = field(init=False, repr=False, compare=False)
    """The input events this run consumes: what ``AssetState.record_run`` takes."""
    _versions: tuple[InputVersion, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._fill(dict(self.inputs))

    @classmethod
    def _of(
        cls, output_partition: OutputPartition, inputs: dict[str, tuple[Observation, ...]]
    ) -> PlannedRun:
        """A run planned by ``decide``, which hands over ``inputs`` (not kept elsewhere), so
        they need no defensive copy."""
        planned = object.__new__(cls)
        ids, versions = _consumed(inputs)
        object.__setattr__(  # every field at once, in the constructor's order
            planned,
            "__dict__",
            {
                "output_partition": output_partition,
                "inputs": MappingProxyType(inputs),
                "request_id": None,
                "input_event_ids": ids,
                "_versions": versions,
            },
        )
        return planned

    def _fill(self, inputs: dict[str, tuple[Observation, ...]]) -> None:
        ids, versions = _consumed(inputs)
        object.__setattr__(self, "inputs", MappingProxyType(inputs))
        object.__setattr__(self, "input_event_ids", ids)
        object.__setattr__(self, "_versions", versions)

    def input_versions(self) -> tuple[InputVersion, ...]:
        """The inputs as the output event's ``inputs`` field lists them."""
        return self._versions


@dataclass(frozen=True)
class Blocked:
    """An output partition that cannot run, and why (e.g. ``missing input shop.customers``)."""

    output_partition: OutputPartition
    reason: str


@dataclass(frozen=True)
class Decision:
    """What to do now: runs to start, partitions blocked, and when to decide again."""

    runs: tuple[PlannedRun, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    wake_at: datetime | None = None


def absorb(
    spec: AssetSpec, state: AssetState, observation: Observation, now: datetime
) -> AssetState:
    """Take in an input event: observe it and mark the output partitions it changes.

    Returns ``state`` itself when the observation changes nothing (duplicate, older, CHECKED).
    """
    return absorb_affected(spec, state, observation, now)[0]


def absorb_affected(
    spec: AssetSpec, state: AssetState, observation: Observation, now: datetime
) -> tuple[AssetState, list[OutputPartition]]:
    """``absorb``, also saying which output partitions it marked changed (sorted).

    They are the partitions to decide again and the ones whose stored state changed; none when
    the state is returned as it was, or when the observation maps to no output partition.
    """
    keyed = spec.keyed
    partition = observation.partition
    if (
        keyed is not None
        and partition is not None
        and spec.partitioned
        and keyed.get(observation.asset)
    ):  # the usual event: read at its own key, it changes that one output partition
        updated = state.observe_changed(observation, partition, now)
        return (state, []) if updated is state else (updated, [partition])
    observed = state.observe(observation)
    if observed is state:
        return state, []
    if keyed is None:
        affected = affected_partitions(spec, observed, observation)
    else:  # ``affected_partitions`` with the partitioning known from the declaration
        at_partition = keyed.get(observation.asset)
        if at_partition is None or at_partition is (partition is None):
            affected = []
        elif not spec.partitioned:
            affected = [None]
        elif at_partition:
            affected = [partition]
        else:
            affected = known_output_partitions(spec, observed)
    return (observed.mark_changed(affected, now) if affected else observed), affected


def decide(
    spec: AssetSpec,
    state: AssetState,
    now: datetime,
    changed: Observation | None = None,
    *,
    only: Iterable[OutputPartition] | None = None,
) -> Decision:
    """Decide which output partitions run now.

    Args:
        spec: the output asset.
        state: its state, with ``changed`` already absorbed.
        now: the current time (aware); never read from a clock here.
        changed: the observation that prompted the call; only the partitions it affects are
            decided. ``None`` (after a restore, at ``wake_at``) decides every known partition.
        only: decide exactly these partitions (known to the state, or checked already), e.g.
            the one whose run was just recorded; takes precedence over ``changed``.
    """
    if now.__class__ is not datetime or now.tzinfo is not UTC:
        now = _utc(now)
    if only is not None:
        partitions: Iterable[OutputPartition] = only
    elif changed is None:
        partitions = known_output_partitions(spec, state)
    else:
        partitions = affected_partitions(spec, state, changed)
    runs: list[PlannedRun] = []
    blocked: list[Blocked] = []
    wakes: list[datetime] = []
    eager = spec.eager
    for partition in partitions:
        inputs = spec.inputs_at(state, partition)
        problem = _problem(spec, inputs)
        if problem:
            blocked.append(Blocked(partition, problem))
            continue
        record = state.partition(partition)
        if eager:  # ``Eager.evaluate`` without building its ``Candidate``
            if _any_new(inputs, record.consumed):
                runs.append(PlannedRun._of(partition, inputs))
            continue
        verdict = spec.policy.evaluate(
            Candidate(
                output_partition=partition,
                inputs=inputs,
                consumed=record.consumed or frozenset(),
                now=now,
                pending_since=record.pending_since,
                last_changed_at=record.last_changed_at,
                last_run_at=record.last_run_at,
            )
        )
        if verdict.blocked is not None:
            blocked.append(Blocked(partition, verdict.blocked))
        elif verdict.run:
            runs.append(PlannedRun(partition, inputs))  # copied: the policy has seen them
        elif verdict.wake_at is not None:
            wakes.append(verdict.wake_at)
    return _decision(runs, blocked, wakes)


_NOTHING_TO_DO = Decision()


def _decision(runs: list[PlannedRun], blocked: list[Blocked], wakes: list[datetime]) -> Decision:
    """The ``Decision`` of what ``decide`` found; one made per input event, so the usual ones
    (nothing to do, or runs alone) skip the frozen dataclass's field-by-field guard."""
    if blocked or wakes:
        return Decision(tuple(runs), tuple(blocked), min(wakes, default=None))
    if not runs:
        return _NOTHING_TO_DO
    made = object.__new__(Decision)
    object.__setattr__(made, "__dict__", {"runs": tuple(runs), "blocked": (), "wake_at": None})
    return made


def plan_requested(
    spec: AssetSpec,
    state: AssetState,
    output_partition: OutputPartition,
    request_id: str | None = None,
) -> PlannedRun | Blocked:
    """A forced run (materialise, backfill): the policy is bypassed, missing or failed inputs
    are not, since there would be nothing sound to read.

    Raises:
        InvalidInputError: the partition does not fit the asset's partitioning.
    """
    check_output_partition(spec, output_partition)
    inputs = spec.inputs_at(state, output_partition)
    problem = _problem(spec, inputs)
    if problem:
        return Blocked(output_partition, problem)
    return PlannedRun(output_partition, inputs, request_id=request_id)


def _consumed(
    inputs: Mapping[str, tuple[Observation, ...]],
) -> tuple[frozenset[UUID], tuple[InputVersion, ...]]:
    """A run's input event ids and its output's ``inputs`` entries, from what it reads."""
    if len(inputs) == 1:
        [observations] = inputs.values()
        if len(observations) == 1:  # the usual run: one input, one observation of it
            [item] = observations
            return frozenset((item.event_id,)), (item.as_input_version(),)
    ids: list[UUID] = []
    versions: list[InputVersion] = []
    for observations in inputs.values():
        for item in observations:
            ids.append(item.event_id)
            versions.append(item.as_input_version())
    return frozenset(ids), tuple(versions)


def _any_new(inputs: Inputs, consumed: frozenset[UUID] | None) -> bool:
    """``Candidate.any_new``: some input has an event the last run did not consume."""
    for observations in inputs.values():
        for item in observations:
            if consumed is None or item.event_id not in consumed:
                return True
    return False


def _problem(spec: AssetSpec, inputs: Inputs) -> str | None:
    """Why these inputs cannot be built from, or ``None``."""
    problems: list[str] = []
    for item in spec.inputs:
        observations = inputs[item.asset]
        if not observations:
            problems.append(f"missing input {item.asset}")
        for observation in observations:
            if observation.kind is _FAILED:
                aggregated = observation.partition is not None and not spec.partitioned
                where = f" (partition {observation.partition})" if aggregated else ""
                problems.append(f"input {item.asset} failed{where}")
    return "; ".join(problems) if problems else None


_FAILED = EventKind.FAILED


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError("now must be timezone-aware (e.g. datetime.now(UTC))")
    return moment.astimezone(UTC)
