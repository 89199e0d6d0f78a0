"""Trigger policies: whether an output partition that has all its inputs should run now.

``choreo.runtime.triggers`` gathers each partition's inputs, leaves out those that cannot run
(a missing or failed input) and asks the asset's policy about the rest, one ``Candidate`` at a
time. Policies are small frozen values with a string form (``describe`` and ``parse_trigger``),
so a service declares them as text as well as in code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from choreo.errors import InvalidInputError
from choreo.runtime.cron import CronSchedule, next_fire, parse_cron
from choreo.runtime.durations import format_duration, parse_duration
from choreo.runtime.observations import Observation
from choreo.runtime.state import OutputPartition

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


EAGER = Eager()
"""The default policy."""


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
