"""When an asset rebuilds: trigger policies, and the pure decision the runtime acts on.

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

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Protocol
from uuid import UUID

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key
from choreo.events.models import EventKind, InputVersion
from choreo.runtime.cron import CronSchedule, next_fire, parse_cron
from choreo.runtime.durations import format_duration, parse_duration
from choreo.runtime.partitions import (
    InputSpec,
    affected_partitions,
    check_output_partition,
    gather_inputs,
    known_output_partitions,
)
from choreo.runtime.state import AssetState, Observation, OutputPartition

Inputs = Mapping[str, tuple[Observation, ...]]
"""The observations each input contributes to one output partition."""

TRIGGER_FORMS = (
    "eager, all_updated, cron(<minute hour day-of-month month day-of-week>), "
    "debounce(<duration>[, max_wait=<duration>]), chained with '+' from the outermost gate to "
    "the base policy as in 'debounce(30s) + all_updated'; durations like 500ms, 30s, 5m, 2h, 1d"
)


@dataclass(frozen=True)
class Candidate:
    """What a policy sees of one output partition that has every input and no failed one."""

    output_partition: OutputPartition
    inputs: Inputs
    consumed: frozenset[UUID]
    now: datetime
    pending_since: datetime | None = None
    last_changed_at: datetime | None = None
    last_run_at: datetime | None = None

    def is_new(self, asset: str) -> bool:
        """Whether ``asset`` has an observation the last run of this partition did not consume."""
        return any(item.event_id not in self.consumed for item in self.inputs[asset])

    @property
    def any_new(self) -> bool:
        """Some input has something the last run did not consume."""
        return any(self.is_new(asset) for asset in self.inputs)

    @property
    def all_new(self) -> bool:
        """Every input has something the last run did not consume (false without inputs)."""
        return bool(self.inputs) and all(self.is_new(asset) for asset in self.inputs)


@dataclass(frozen=True)
class Verdict:
    """A policy's answer for one partition: run now, or not (and when to ask again)."""

    run: bool
    wake_at: datetime | None = None
    blocked: str | None = None
    """Why the partition cannot be decided (a predicate raised); it then does not run."""


RUN = Verdict(run=True)
HOLD = Verdict(run=False)


class TriggerPolicy(Protocol):
    """A rule saying whether a partition with all its inputs should run now."""

    def evaluate(self, candidate: Candidate) -> Verdict:
        """Decide for one output partition."""
        ...

    def describe(self) -> str:
        """The string form ``parse_trigger`` reads back (where one exists)."""
        ...


@dataclass(frozen=True)
class Eager:
    """Run when any input has something the last run did not consume (the default)."""

    def evaluate(self, candidate: Candidate) -> Verdict:
        return RUN if candidate.any_new else HOLD

    def describe(self) -> str:
        return "eager"


@dataclass(frozen=True)
class AllUpdated:
    """Run when every input has something the last run did not consume."""

    def evaluate(self, candidate: Candidate) -> Verdict:
        return RUN if candidate.all_new else HOLD

    def describe(self) -> str:
        return "all_updated"


@dataclass(frozen=True)
class Cron:
    """Run only at the fire times of ``expr`` (UTC), and then only if ``inner`` wants to run.

    A partition runs at the first fire time that comes after its last run and no earlier than
    its first pending change; a tick missed while the service was down is caught up once. With
    neither known, it runs only within a fire minute. An asset without inputs runs at every fire
    time, as a schedule for a source.
    """

    expr: str
    inner: TriggerPolicy = Eager()
    _schedule: CronSchedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        schedule = parse_cron(self.expr)
        object.__setattr__(self, "expr", schedule.expr)
        object.__setattr__(self, "_schedule", schedule)

    def evaluate(self, candidate: Candidate) -> Verdict:
        wanted = self.inner.evaluate(candidate) if candidate.inputs else RUN
        if not wanted.run:
            return wanted
        bounds = [candidate.last_run_at]
        if candidate.pending_since is not None:
            # Fire times are whole minutes; one microsecond earlier admits a tick at that instant.
            bounds.append(candidate.pending_since - timedelta(microseconds=1))
        lower = max((bound for bound in bounds if bound is not None), default=None)
        if lower is None:
            if self._schedule.matches(candidate.now):
                return wanted
            return Verdict(run=False, wake_at=next_fire(self._schedule, candidate.now))
        fire = next_fire(self._schedule, lower)
        return wanted if fire <= candidate.now else Verdict(run=False, wake_at=fire)

    def describe(self) -> str:
        return f"cron({self.expr}){_then(self.inner)}"


@dataclass(frozen=True)
class Debounce:
    """Coalesce bursts: run once no change has arrived for ``window``, with the latest inputs.

    ``max_wait`` bounds the delay under a steady stream of changes: the partition runs once its
    earliest pending change is that old, quiet or not.
    """

    window: timedelta
    inner: TriggerPolicy = Eager()
    max_wait: timedelta | None = None

    def __post_init__(self) -> None:
        format_duration(self.window)
        if self.max_wait is None:
            return
        format_duration(self.max_wait)
        if self.max_wait < self.window:
            raise InvalidInputError(
                f"debounce max_wait {format_duration(self.max_wait)} is shorter than its window "
                f"{format_duration(self.window)}; the window would never matter"
            )

    def evaluate(self, candidate: Candidate) -> Verdict:
        wanted = self.inner.evaluate(candidate)
        if not wanted.run or candidate.last_changed_at is None:
            return wanted
        deadlines = [candidate.last_changed_at + self.window]
        if self.max_wait is not None and candidate.pending_since is not None:
            deadlines.append(candidate.pending_since + self.max_wait)
        due = min(deadlines)
        return wanted if due <= candidate.now else Verdict(run=False, wake_at=due)

    def describe(self) -> str:
        limit = f", max_wait={format_duration(self.max_wait)}" if self.max_wait else ""
        return f"debounce({format_duration(self.window)}{limit}){_then(self.inner)}"


@dataclass(frozen=True)
class Predicate:
    """Run when ``inner`` wants to (by default: something is new) and ``fn(inputs)`` is true.

    ``fn`` receives each input's observations for the partition. If it raises, the partition is
    blocked with the exception as the reason rather than crashing the service. Its ``describe``
    names the function; it has no string form to parse back.
    """

    fn: Callable[[Inputs], bool]
    inner: TriggerPolicy = Eager()

    def evaluate(self, candidate: Candidate) -> Verdict:
        wanted = self.inner.evaluate(candidate)
        if not wanted.run:
            return wanted
        try:
            accepted = bool(self.fn(candidate.inputs))
        except Exception as exc:  # noqa: BLE001 -- user code; its failure is reported as a block
            return Verdict(run=False, blocked=f"predicate {self.name} raised {exc!r}")
        return wanted if accepted else HOLD

    @property
    def name(self) -> str:
        """The function's qualified name."""
        return getattr(self.fn, "__qualname__", type(self.fn).__qualname__)

    def describe(self) -> str:
        return f"predicate({self.name}){_then(self.inner)}"


@dataclass(frozen=True)
class AssetSpec:
    """What the triggers need to know about one output asset."""

    key: str
    inputs: tuple[InputSpec, ...] = ()
    partitioned: bool = False
    policy: TriggerPolicy = Eager()
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
        keyed = MappingProxyType({item.asset: item.partitioned is True for item in self.inputs})
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
        object.__setattr__(planned, "output_partition", output_partition)
        object.__setattr__(planned, "request_id", None)
        planned._fill(inputs)
        return planned

    def _fill(self, inputs: dict[str, tuple[Observation, ...]]) -> None:
        ids: list[UUID] = []
        versions: list[InputVersion] = []
        for observations in inputs.values():
            for item in observations:
                ids.append(item.event_id)
                versions.append(item.as_input_version())
        object.__setattr__(self, "inputs", MappingProxyType(inputs))
        object.__setattr__(self, "input_event_ids", frozenset(ids))
        object.__setattr__(self, "_versions", tuple(versions))

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
    observed = state.observe(observation)
    if observed is state:
        return state, []
    keyed = spec.keyed
    if keyed is None:
        affected = affected_partitions(spec, observed, observation)
    else:  # ``affected_partitions`` with the partitioning known from the declaration
        at_partition = keyed.get(observation.asset)
        partition = observation.partition
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
    if not runs and not blocked and not wakes:
        return _NOTHING_TO_DO
    return Decision(runs=tuple(runs), blocked=tuple(blocked), wake_at=min(wakes, default=None))


_NOTHING_TO_DO = Decision()


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


def parse_trigger(text: str) -> TriggerPolicy:
    """Read the string form of a policy, as ``describe()`` writes it.

    Raises:
        InvalidInputError: ``text`` is not one of the accepted forms (listed in the message).
    """
    terms = [term.strip() for term in text.split("+")]
    policy: TriggerPolicy = Eager()
    base = _BASES.get(terms[-1].lower())
    if base is not None:
        policy = base
        terms.pop()
    for term in reversed(terms):
        policy = _wrapper(text, term, policy)
    return policy


_BASES: dict[str, TriggerPolicy] = {"eager": Eager(), "all_updated": AllUpdated()}
_WRAPPER = re.compile(r"(?P<name>[a-z_]+)\s*\((?P<args>[^()]*)\)", re.IGNORECASE)


def _wrapper(text: str, term: str, inner: TriggerPolicy) -> TriggerPolicy:
    match = _WRAPPER.fullmatch(term)
    if match is None:
        if not term:
            raise _bad_trigger(text, "a part is empty")
        if term.lower() in _BASES:
            raise _bad_trigger(text, f"{term!r} must come last, after the gates")
        raise _bad_trigger(text, f"{term!r} is not a trigger")
    name, args = match["name"].lower(), match["args"].strip()
    if name == "cron":
        return Cron(args, inner)
    if name == "debounce":
        window, _, rest = (part.strip() for part in args.partition(","))
        if not rest:
            return Debounce(parse_duration(window), inner)
        key, equals, value = (part.strip() for part in rest.partition("="))
        if key == "max_wait" and equals:
            return Debounce(parse_duration(window), inner, max_wait=parse_duration(value))
        raise _bad_trigger(text, f"debounce takes max_wait=<duration>, not {rest!r}")
    raise _bad_trigger(text, f"{name!r} is not a trigger")


def _bad_trigger(text: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"invalid trigger {text!r}: {why}; accepted: {TRIGGER_FORMS}")


def _then(inner: TriggerPolicy) -> str:
    return "" if isinstance(inner, Eager) else f" + {inner.describe()}"


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
