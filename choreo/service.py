"""What a service author writes: a ``Service`` and one decorated function per asset it owns.

This module only records definitions (pure: no Kafka); ``choreo run`` hands them to the runtime,
and ``choreo.testing`` runs the same definitions in memory.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias, TypeVar

import structlog

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key
from choreo.events.models import MetadataValue
from choreo.events.topics import validate_service_name
from choreo.runtime.durations import parse_duration
from choreo.runtime.triggers import TriggerPolicy, parse_trigger

#: Default attempts after the first failure, and the first backoff (doubled each attempt).
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class AssetIn:
    """One input of an asset.

    Args:
        key: the input's asset key.
        partitioned: whether the input is partitioned; ``None`` (default) learns it from the
            events (an event with a partition key is partitioned).
    """

    key: str
    partitioned: bool | None = None

    def __post_init__(self) -> None:
        validate_asset_key(self.key)


@dataclass(frozen=True, slots=True)
class InputData:
    """One consumed input version, as the asset function sees it."""

    asset: str
    partition: str | None
    version: str
    event_id: uuid.UUID
    occurred_at: datetime
    location: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


InputArg: TypeAlias = InputData | tuple[InputData, ...]
"""What an input parameter receives: one version, or every partition of an aggregated input."""


@dataclass(frozen=True, slots=True)
class Output:
    """What an asset function returns: where the new data is and what to say about it."""

    location: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    version: str | None = None


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything about one run that is not an input's data."""

    asset: str
    partition: str | None
    run_id: str
    attempt: int
    correlation_id: uuid.UUID | None
    request_id: str | None
    inputs: Mapping[str, InputArg]
    log: Any = field(default=None, repr=False, compare=False)

    def output(
        self,
        location: str | None = None,
        *,
        metadata: Mapping[str, MetadataValue] | None = None,
        version: str | None = None,
        **more_metadata: MetadataValue,
    ) -> Output:
        """Build the run's ``Output``; keyword arguments other than these become metadata."""
        return Output(
            location=location, metadata={**(metadata or {}), **more_metadata}, version=version
        )


AssetFunction: TypeAlias = Callable[..., Output | Awaitable[Output]]
_F = TypeVar("_F", bound=AssetFunction)


@dataclass(frozen=True)
class AssetDefinition:
    """One asset a service owns: its function and how and when it is rebuilt."""

    key: str
    fn: AssetFunction
    inputs: tuple[AssetIn, ...]
    partitioned: bool
    policy: TriggerPolicy
    retries: int
    backoff: timedelta
    freshness: timedelta | None
    code_version: str
    owner: str | None
    description: str | None
    is_async: bool = field(init=False, repr=False, compare=False)
    """Whether the function is a coroutine function (run on an event loop)."""
    input_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Input asset keys in declaration order (the order of the function's parameters)."""

    def __post_init__(self) -> None:
        # Worked out once: both are read for every run.
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))
        object.__setattr__(self, "input_keys", tuple(i.key for i in self.inputs))


class Service:
    """A standalone service owning one or more assets.

    Args:
        name: the service's name: its consumer group, changelog and dead-letter topics.
        owner: default owner of its assets, shown in lineage.
        description: what the service is for.
        max_concurrency: runs executing at once on worker threads (a sync function whose runs
            have all been short runs on the service's loop instead).
        exactly_once: commit outputs, state and input offsets in Kafka transactions, so
            ``read_committed`` consumers never see a duplicate even after a crash. Needs a broker
            that isolates aborted transactions (Apache Kafka does); without it, deterministic
            event ids already make delivery effectively once.

    Example:
        >>> svc = Service("shop-analytics")
        >>> @svc.asset("shop.daily_order_summary", inputs=["shop.orders"], partitioned=True)
        ... def summary(ctx, orders):
        ...     return ctx.output(location=f"file:///tmp/summary/{ctx.partition}.csv", rows=1)
    """

    def __init__(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        max_concurrency: int = 4,
        exactly_once: bool = False,
    ) -> None:
        self.name = validate_service_name(name)
        self.owner = owner
        self.description = description
        if max_concurrency < 1:
            raise InvalidInputError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.exactly_once = exactly_once
        self.assets: dict[str, AssetDefinition] = {}
        self.log = structlog.get_logger("choreo.service").bind(service=name)

    def asset(
        self,
        key: str,
        *,
        inputs: Sequence[str | AssetIn] = (),
        partitioned: bool = False,
        trigger: str | TriggerPolicy = "eager",
        retries: int = DEFAULT_RETRIES,
        backoff: str | timedelta = DEFAULT_BACKOFF,
        freshness: str | timedelta | None = None,
        code_version: str = "1",
        owner: str | None = None,
        description: str | None = None,
    ) -> Callable[[_F], _F]:
        """Declare that this service builds ``key`` from ``inputs`` with the decorated function.

        The function receives ``ctx`` and then one argument per input, in order: an
        ``InputData``, or a tuple of them when a partitioned input feeds an unpartitioned asset.

        Raises:
            InvalidInputError: a key, trigger, duration or the function's signature is wrong.
        """
        validate_asset_key(key)
        if key in self.assets:
            raise InvalidInputError(f"service {self.name} already defines asset {key}")
        specs = tuple(i if isinstance(i, AssetIn) else AssetIn(i) for i in inputs)
        if len({s.key for s in specs}) != len(specs):
            raise InvalidInputError(f"asset {key} lists an input twice")
        if key in {s.key for s in specs}:
            raise InvalidInputError(f"asset {key} cannot be its own input")
        if retries < 0:
            raise InvalidInputError(f"retries must be 0 or more, not {retries}")
        policy = parse_trigger(trigger) if isinstance(trigger, str) else trigger

        def register(fn: _F) -> _F:
            _check_signature(key, fn, len(specs))
            self.assets[key] = AssetDefinition(
                key=key,
                fn=fn,
                inputs=specs,
                partitioned=partitioned,
                policy=policy,
                retries=retries,
                backoff=parse_duration(backoff) if isinstance(backoff, str) else backoff,
                freshness=parse_duration(freshness) if isinstance(freshness, str) else freshness,
                code_version=code_version,
                owner=owner or self.owner,
                description=description or (inspect.getdoc(fn) or None),
            )
            return fn

        return register


def _check_signature(key: str, fn: AssetFunction, n_inputs: int) -> None:
    try:
        inspect.signature(fn).bind(object(), *([object()] * n_inputs))
    except TypeError as exc:
        raise InvalidInputError(
            f"function {getattr(fn, '__name__', fn)!r} for asset {key} must accept ctx and "
            f"{n_inputs} input argument(s) in the order of inputs=[...]: {exc}"
        ) from exc
