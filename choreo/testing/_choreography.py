"""Several services wired together in memory: the cascade of a real deployment, with no broker.

Production decisions live in ``ServiceEngine``; the Kafka runner only moves records between it,
the broker and the executor. ``Choreography`` does the same moving with a queue and a fake clock
instead, so a test exercises the very trigger, partition-mapping and retry code that runs in a
deployed service, and every step happens synchronously before a call returns.

It is one replica per service, holding topic-partition index 0: every shard lives there, inputs
read through the consumer group arrive with index 0 and global inputs with index ``None``, just as
the runner routes them. Retries run through ``RunExecutor`` without sleeping; the backoffs that
production would wait are recorded on each run instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from choreo.errors import ConfigError, InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import (
    AssetEvent,
    AssetRequest,
    ErrorInfo,
    EventKind,
    InputVersion,
    MetadataValue,
    ProducerInfo,
)
from choreo.runtime.effects import Effects, StartRun
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.executor import RunExecutor, RunOutcome
from choreo.service import Service

#: The one topic-partition index the in-memory replica of every service holds.
INDEX = 0
#: Who the harness says emitted and requested things (the Emitter's default service name).
EMITTER = ProducerInfo(service="choreo-emit", instance="choreo.testing")
#: Events stamped at the same instant would tie, and a tie is broken by event id rather than
#: order; each event is therefore stamped at least this much after the previous one.
TICK = timedelta(milliseconds=1)
#: Default steps one call may take before the harness assumes services trigger each other forever.
MAX_STEPS = 10_000


@dataclass(frozen=True)
class RunRecord:
    """One run a service made: what it read, how it ended and what it announced."""

    service: str
    asset: str
    partition: str | None
    run_id: str
    request_id: str | None
    inputs: tuple[InputVersion, ...]
    outcome: RunOutcome
    event: AssetEvent
    backoffs: tuple[float, ...]
    """Seconds production would have slept before each retry."""

    @property
    def succeeded(self) -> bool:
        """Whether the run announced an ``UPDATED`` event."""
        return self.event.kind is EventKind.UPDATED

    @property
    def attempts(self) -> int:
        """How many times the function was called."""
        return self.outcome.attempts

    @property
    def input_versions(self) -> dict[str, str]:
        """Input versions read, keyed ``asset`` or ``asset@partition``."""
        return {
            item.asset if item.partition is None else f"{item.asset}@{item.partition}": item.version
            for item in self.inputs
        }


@dataclass(frozen=True)
class BlockedRecord:
    """An output partition a service could not run, and why (as the runner logs it)."""

    service: str
    asset: str
    partition: str | None
    reason: str
    at: datetime


@dataclass
class _Node:
    service: Service
    engine: ServiceEngine


class Choreography:
    """Services connected by an in-memory bus, run to quiescence after every call.

    Example::

        c = Choreography(cleaning, summary)
        c.emit("shop.orders", "2026-11-20", location="s3://raw/orders/2026-11-20")
        assert c.latest("shop.daily_order_summary", "2026-11-20").inputs[0].version == "v1"
    """

    def __init__(
        self, *services: Service, clock: datetime | None = None, max_steps: int = MAX_STEPS
    ) -> None:
        """Start every service as one replica holding partition index 0.

        Args:
            services: the services to connect; each asset may be owned by only one of them.
            clock: the fake clock's starting time (aware); default: now. ``advance`` moves it.
            max_steps: deliveries, runs and wakes one call may take; past it the call raises
                ``RuntimeError``, since services that trigger each other in a cycle never settle.

        Raises:
            ConfigError: two services share a name or own the same asset.
            InvalidInputError: ``clock`` is naive.
        """
        start = clock if clock is not None else datetime.now(UTC)
        if start.tzinfo is None or start.utcoffset() is None:
            raise InvalidInputError("clock must be timezone-aware (e.g. datetime.now(UTC))")
        self._now = start.astimezone(UTC).replace(microsecond=start.microsecond // 1000 * 1000)
        self._stamped: datetime | None = None
        self._max_steps = max_steps
        self.events: list[AssetEvent] = []
        self.runs: list[RunRecord] = []
        self.blocked: list[BlockedRecord] = []
        self.requests: list[AssetRequest] = []
        self._owners: dict[str, _Node] = {}
        self._nodes: list[_Node] = []
        self._versions: dict[tuple[str, str | None], int] = {}
        self._queue: deque[AssetEvent | tuple[_Node, StartRun]] = deque()
        self._backoffs: list[float] = []
        for service in services:
            self._add(service)
        for node in self._nodes:
            shards = node.engine.shard_keys_for([INDEX])
            self._apply(node, node.engine.assign(dict.fromkeys(shards), self._now))
        self._settle()

    # -- what happened -------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The fake clock."""
        return self._now

    def events_for(self, asset: str) -> list[AssetEvent]:
        """Every event of ``asset`` (all partitions, all kinds), oldest first."""
        return [event for event in self.events if event.asset == asset]

    def latest(self, asset: str, partition: str | None = None) -> AssetEvent:
        """The last event of one asset partition.

        Raises:
            LookupError: there is none yet.
        """
        for event in reversed(self.events):
            if event.asset == asset and event.partition == partition:
                return event
        where = f" partition {partition}" if partition is not None else ""
        seen = sorted({(e.asset, e.partition or "") for e in self.events})
        raise LookupError(f"no event of {asset}{where} yet; events so far: {seen}")

    def runs_for(self, asset: str) -> list[RunRecord]:
        """Every run of ``asset``, oldest first."""
        return [run for run in self.runs if run.asset == asset]

    # -- what the outside world does -----------------------------------------------------------

    def emit(
        self,
        asset: str,
        partition: str | None = None,
        *,
        location: str | None = None,
        version: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> AssetEvent:
        """Announce an update, as ``Emitter.updated`` does, and let the services react.

        Without ``version``, versions count ``v1``, ``v2``, ... per asset partition.

        Raises:
            InvalidInputError: the asset or partition key is malformed.
        """
        return self._announce(
            asset, partition, EventKind.UPDATED, version, location=location, metadata=metadata
        )

    def failed(
        self,
        asset: str,
        partition: str | None = None,
        *,
        error: str = "failed",
        error_type: str = "Error",
        attempt: int = 1,
        version: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> AssetEvent:
        """Announce a failed update, as ``Emitter.failed`` does; downstream will not run on it.

        Raises:
            InvalidInputError: the asset or partition key is malformed.
        """
        problem = ErrorInfo(type=error_type, message=error, attempt=attempt)
        return self._announce(
            asset, partition, EventKind.FAILED, version, metadata=metadata, error=problem
        )

    def request(
        self, asset: str, partition: str | None = None, *, reason: str | None = None
    ) -> AssetRequest:
        """Ask the owning service to rebuild a partition now, as ``choreo materialize`` does.

        Whether it ran or was blocked shows in ``runs`` and ``blocked``.

        Raises:
            InvalidInputError: no service here owns ``asset``, or the partition does not fit it.
        """
        if partition is not None:
            validate_partition_key(partition)
        node = self._owners.get(asset)
        if node is None:
            raise InvalidInputError(f"no service in this choreography owns {asset}")
        request = AssetRequest(
            asset=asset,
            partition=partition,
            requested_at=self._now,
            requested_by=EMITTER.service,
            reason=reason,
        )
        self.requests.append(request)
        self._apply(node, node.engine.on_request(request, INDEX, self._now))
        self._settle()
        return request

    def advance(self, delta: timedelta) -> None:
        """Move the clock on, waking debounced and cron-gated assets at their due times."""
        if delta < timedelta(0):
            raise InvalidInputError(f"the clock only moves forward, not by {delta}")
        target = self._now + delta
        while (wake := self._next_wake()) is not None and wake <= target:
            self._now = max(self._now, wake)
            self._settle()
        self._now = max(self._now, target)
        self._settle()

    # -- the bus -------------------------------------------------------------------------------

    def _add(self, service: Service) -> None:
        if any(node.service.name == service.name for node in self._nodes):
            raise ConfigError(f"two services are named {service.name}")
        node = _Node(service, ServiceEngine(service, instance=f"{service.name}-{INDEX}"))
        for asset in service.assets:
            owner = self._owners.get(asset)
            if owner is not None:
                raise ConfigError(
                    f"asset {asset} is owned by both {owner.service.name} and {service.name}"
                )
            self._owners[asset] = node
        self._nodes.append(node)

    def _announce(
        self,
        asset: str,
        partition: str | None,
        kind: EventKind,
        version: str | None,
        *,
        location: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        error: ErrorInfo | None = None,
    ) -> AssetEvent:
        validate_asset_key(asset)
        if partition is not None:
            validate_partition_key(partition)
        count = self._versions.get((asset, partition), 0) + 1
        self._versions[(asset, partition)] = count
        event = AssetEvent(
            kind=kind,
            asset=asset,
            partition=partition,
            version=version or f"v{count}",
            occurred_at=self._stamp(),
            producer=EMITTER,
            location=location,
            metadata=dict(metadata or {}),
            error=error,
        )
        self._publish(event)
        self._settle()
        return event

    def _stamp(self) -> datetime:
        if self._stamped is not None and self._now <= self._stamped:
            self._now = self._stamped + TICK
        self._stamped = self._now
        return self._now

    def _publish(self, event: AssetEvent) -> None:
        self.events.append(event)
        self._queue.append(event)

    def _apply(self, node: _Node, effects: Effects) -> None:
        for asset, blocked in effects.blocked:
            self.blocked.append(
                BlockedRecord(
                    node.service.name, asset, blocked.output_partition, blocked.reason, self._now
                )
            )
        self._queue.extend((node, run) for run in effects.runs)

    def _deliver(self, event: AssetEvent) -> None:
        for node in self._nodes:
            engine = node.engine
            if event.asset in engine.group_inputs:
                self._apply(node, engine.on_event(event, INDEX, self._now))
            if event.asset in engine.global_inputs:
                self._apply(node, engine.on_event(event, None, self._now))

    def _execute(self, executor: RunExecutor, node: _Node, run: StartRun) -> None:
        self._backoffs.clear()
        outcome = executor.run(run.definition, run.ctx, run.args)
        event = node.engine.output_event(run, outcome, self._stamp())
        self.runs.append(
            RunRecord(
                service=node.service.name,
                asset=run.definition.key,
                partition=run.planned.output_partition,
                run_id=run.ctx.run_id,
                request_id=run.planned.request_id,
                inputs=run.planned.input_versions(),
                outcome=outcome,
                event=event,
                backoffs=tuple(self._backoffs),
            )
        )
        self._publish(event)
        self._apply(node, node.engine.acknowledged(run, self._now))

    def _next_wake(self) -> datetime | None:
        wakes = [w for node in self._nodes if (w := node.engine.next_wake()) is not None]
        return min(wakes, default=None)

    def _settle(self) -> None:
        """Deliver, run and wake until nothing is left to do at the current time."""
        executor = RunExecutor(1, sleep=self._backoffs.append)
        steps = 0
        try:
            while True:
                steps += 1
                if steps > self._max_steps:
                    self._queue.clear()
                    raise RuntimeError(
                        f"no quiescence after {self._max_steps} steps: do the services trigger "
                        "each other in a cycle?"
                    )
                if self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, AssetEvent):
                        self._deliver(item)
                    else:
                        self._execute(executor, *item)
                    continue
                wake = self._next_wake()
                if wake is None or wake > self._now:
                    return
                for node in self._nodes:
                    self._apply(node, node.engine.on_wake(self._now))
        finally:
            executor.shutdown()
