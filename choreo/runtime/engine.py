"""The decisions of one service, free of Kafka: what its inputs are at, which runs to start, and
what each finished run announces.

The Kafka runner feeds it decoded records and acknowledgements; ``choreo.testing`` feeds it an
in-memory stream. Both therefore behave the same. State is held in shards, one per output asset
and topic-partition index: a service replica holds the shards of the partitions the consumer
group assigned to it. The runner stores a shard in the changelog topic's partition of the same
index, one record per output partition (``choreo.runtime.slices``); ``Effects.dirty`` names the
output partitions whose record changed, so a change rewrites only those.

Inputs are read one of two ways:

* through the group (the replica owning index ``i`` sees partition ``i`` of every co-partitioned
  input topic): partitioned inputs of a partitioned asset;
* globally (every replica reads every partition): unpartitioned inputs of a partitioned asset,
  and every input of an unpartitioned asset, which aggregates all upstream partitions. An
  unpartitioned asset lives in shard index 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from choreo.events import AssetEvent, AssetRequest
from choreo.runtime.announcements import Announcer
from choreo.runtime.effects import Effects, ShardKey, SliceKey, StartRun
from choreo.runtime.identity import RunNamer
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import InputSpec, partitioned_inputs
from choreo.runtime.runs import RunLog
from choreo.runtime.slices import EventDetail, PartitionSlice, StoredRecord, merge
from choreo.runtime.state import AssetState, OutputPartition
from choreo.runtime.triggers import (
    AssetSpec,
    Blocked,
    PlannedRun,
    absorb_affected,
    decide,
    plan_requested,
)
from choreo.service import InputArg, InputData, RunContext, Service

UNPARTITIONED_INDEX = 0
"""Shard (and request/changelog partition) of an unpartitioned asset."""

DETAILS_SLACK = 4
"""Input details are pruned once there are this many times more than the observations need."""
DETAILS_MIN = 10_000
"""...and never below this many, so pruning stays rare."""


class ServiceEngine:
    """Trigger state and run planning for every asset of one service."""

    def __init__(self, service: Service, *, instance: str) -> None:
        self.service = service
        self.instance = instance
        self.specs = {
            key: AssetSpec(
                key=key,
                inputs=tuple(InputSpec(i.key, i.partitioned) for i in d.inputs),
                partitioned=d.partitioned,
                policy=d.policy,
            )
            for key, d in service.assets.items()
        }
        self.global_inputs: dict[str, set[str]] = {}
        self.group_inputs: dict[str, set[str]] = {}
        self._both: set[tuple[str, str]] = set()
        for key, definition in service.assets.items():
            for item in definition.inputs:
                if not definition.partitioned or item.partitioned is False:
                    self.global_inputs.setdefault(item.key, set()).add(key)
                elif item.partitioned:
                    self.group_inputs.setdefault(item.key, set()).add(key)
                else:
                    # Partitioning not declared: read both ways and let each event's partition
                    # key say which path it belongs to, so an unpartitioned event reaches every
                    # shard even though it lands on a single topic partition.
                    self.group_inputs.setdefault(item.key, set()).add(key)
                    self.global_inputs.setdefault(item.key, set()).add(key)
                    self._both.add((key, item.key))
        self.shards: dict[ShardKey, AssetState] = {}
        self.in_flight: set[tuple[str, OutputPartition]] = set()
        # In-flight runs a decision would have started again (inputs changed meanwhile): only
        # these need deciding once acknowledged when the policy is plain eager.
        self._rerun: set[tuple[str, OutputPartition]] = set()
        self._wakes: dict[ShardKey, datetime] = {}
        self._global_seen: dict[tuple[str, str | None], Observation] = {}
        self._details: dict[uuid.UUID, EventDetail] = {}
        self._prune_at = DETAILS_MIN
        self._namers = {key: RunNamer(key, d.code_version) for key, d in service.assets.items()}
        self.output_event = Announcer(service, instance, self._namers).output_event
        """The event a finished run announces: UPDATED with its output, or FAILED."""

    # -- which records go where --------------------------------------------------------------

    def group_topics_assets(self) -> set[str]:
        """Input assets read through the consumer group."""
        return set(self.group_inputs)

    def global_topics_assets(self) -> set[str]:
        """Input assets every replica reads in full."""
        return set(self.global_inputs)

    # -- assignment ----------------------------------------------------------------------------

    def shard_keys_for(self, indices: Iterable[int]) -> list[ShardKey]:
        """The shards a replica holding ``indices`` owns."""
        held = set(indices)
        keys: list[ShardKey] = []
        for asset, definition in self.service.assets.items():
            if definition.partitioned:
                keys.extend((asset, index) for index in sorted(held))
            elif UNPARTITIONED_INDEX in held:
                keys.append((asset, UNPARTITIONED_INDEX))
        return keys

    def assign(
        self, restored: Mapping[ShardKey, Iterable[StoredRecord] | None], now: datetime
    ) -> Effects:
        """Take over shards, from their latest changelog records (``None``: start empty)."""
        effects = Effects()
        for shard, records in restored.items():
            asset, index = shard
            rebuilt = merge(records or ())
            for event_id, detail in rebuilt.details.items():
                self._details.setdefault(event_id, detail)
            state = rebuilt.state
            effects.dirty.update((asset, index, p) for p in rebuilt.unsliced)
            spec = self.specs[asset]
            for observation in self._global_seen.values():
                if self._reads_globally(asset, observation):
                    state, affected = absorb_affected(spec, state, observation, now)
                    effects.dirty.update((asset, index, p) for p in affected)
            self.shards[shard] = state
            self._decide(shard, now, None, effects)
        return effects

    def revoke(self, indices: Iterable[int]) -> None:
        """Drop the shards of ``indices`` (their state lives on in the changelog)."""
        gone = set(indices)
        for shard in [s for s in self.shards if s[1] in gone]:
            del self.shards[shard]
            self._wakes.pop(shard, None)

    # -- records -------------------------------------------------------------------------------

    def on_event(self, event: AssetEvent, index: int | None, now: datetime) -> Effects:
        """An input event read through the group (``index``) or globally (``None``)."""
        effects = Effects()
        observation = Observation.from_event(event)
        self._details[observation.event_id] = EventDetail(
            event.location, dict(event.metadata), event.correlation_id
        )
        if index is None:
            where = observation.where
            known = self._global_seen.get(where)
            if known is None or observation.supersedes(known):
                self._global_seen[where] = observation
            targets = [s for s in self.shards if self._reads_globally(s[0], observation)]
        else:
            targets = [
                (asset, index)
                for asset in self.group_inputs.get(event.asset, ())
                if (asset, index) in self.shards
                and not ((asset, event.asset) in self._both and event.partition is None)
            ]
        if len(self._details) > self._prune_at:
            self._prune_details()
        dirty = effects.dirty
        for shard in targets:
            asset, at = shard
            state = self.shards[shard]
            updated, affected = absorb_affected(self.specs[asset], state, observation, now)
            if updated is state:
                continue
            self.shards[shard] = updated
            for partition in affected:
                dirty.add((asset, at, partition))
            self._decide(shard, now, affected, effects)
        return effects

    def on_request(self, request: AssetRequest, index: int, now: datetime) -> Effects:
        """A materialise/backfill request: run regardless of the trigger (not of missing inputs).

        Raises:
            InvalidInputError: the request names an asset this service does not own, or a
                partition that does not fit the asset's partitioning.
        """
        from choreo.errors import InvalidInputError  # noqa: PLC0415 - error path only

        definition = self.service.assets.get(request.asset)
        if definition is None:
            raise InvalidInputError(
                f"request for {request.asset}, which service {self.service.name} does not own"
            )
        shard = (request.asset, index if definition.partitioned else UNPARTITIONED_INDEX)
        effects = Effects()
        state = self.shards.get(shard)
        if state is None:
            return effects  # not ours after a rebalance; the owner gets the same record
        planned = plan_requested(
            self.specs[request.asset], state, request.partition, str(request.request_id)
        )
        if isinstance(planned, Blocked):
            effects.blocked.append((request.asset, planned))
        elif (request.asset, request.partition) in self.in_flight:
            effects.blocked.append(
                (request.asset, Blocked(request.partition, "a run is in flight; request again"))
            )
        else:
            effects.runs.append(self._start(shard, planned, now))
        return effects

    def on_wake(self, now: datetime) -> Effects:
        """Decide again for shards whose debounce or cron time has come."""
        effects = Effects()
        for shard, at in list(self._wakes.items()):
            if at <= now and shard in self.shards:
                del self._wakes[shard]
                self._decide(shard, now, None, effects)
        return effects

    def next_wake(self) -> datetime | None:
        """When ``on_wake`` should next be called."""
        return min(self._wakes.values(), default=None)

    # -- runs ----------------------------------------------------------------------------------

    def acknowledged(self, run: StartRun, now: datetime) -> Effects:
        """The run's output event is on the broker: record the run and decide again.

        Under plain ``eager`` only inputs newer than the run's can start another run, and any
        that arrived meanwhile were decided on already and put in ``_rerun``; otherwise the
        decision would find nothing to do, so it is skipped.
        """
        effects = Effects()
        key = run.key
        self.in_flight.discard(key)
        state = self.shards.get(run.shard)
        if state is None:
            self._rerun.discard(key)
            return effects  # revoked meanwhile; the new owner restores from the changelog
        partition = run.planned.output_partition
        self.shards[run.shard] = state.record_run(
            partition, run.planned.input_event_ids, at=run.planned_at
        )
        effects.dirty.add(run.slice)
        if key in self._rerun or not self.specs[key[0]].eager:
            self._rerun.discard(key)
            self._decide(run.shard, now, [partition], effects)
        return effects

    def abandoned(self, run: StartRun) -> None:
        """The run's output could not be announced; its inputs stay unconsumed."""
        self.in_flight.discard(run.key)

    def forget_runs(self) -> None:
        """Forget every run in flight (after a rewind they are planned again)."""
        self.in_flight.clear()
        self._rerun.clear()

    # -- changelog -----------------------------------------------------------------------------

    def stored_slice(self, key: SliceKey) -> PartitionSlice | None:
        """What the changelog keeps of one output partition (``None``: not held here)."""
        asset, index, partition = key
        state = self.shards.get((asset, index))
        if state is None:
            return None
        return PartitionSlice.of_inputs(
            partition,
            self.specs[asset].inputs_at(state, partition),
            state.partition(partition),
            self._details,
        )

    # -- internals -----------------------------------------------------------------------------

    def _reads_globally(self, asset: str, observation: Observation) -> bool:
        """Whether ``asset`` takes ``observation`` from the global reader."""
        if asset not in self.global_inputs.get(observation.asset, set()):
            return False
        return (asset, observation.asset) not in self._both or observation.partition is None

    def _prune_details(self) -> None:
        """Forget details of events no shard knows any more (superseded versions)."""
        live = {o.event_id for state in self.shards.values() for o in state.known.values()}
        live |= {o.event_id for o in self._global_seen.values()}
        self._details = {k: v for k, v in self._details.items() if k in live}
        self._prune_at = max(DETAILS_SLACK * len(self._details), DETAILS_MIN)

    def _decide(
        self,
        shard: ShardKey,
        now: datetime,
        only: Iterable[OutputPartition] | None,
        effects: Effects,
    ) -> None:
        """Decide ``only`` these partitions of the shard, or (``None``) every known one."""
        asset = shard[0]
        decision = decide(self.specs[asset], self.shards[shard], now, only=only)
        for planned in decision.runs:
            key = (asset, planned.output_partition)
            if key in self.in_flight:
                self._rerun.add(key)
            else:
                effects.runs.append(self._start(shard, planned, now))
        if decision.blocked:
            effects.blocked.extend((asset, b) for b in decision.blocked)
        if decision.wake_at is not None:
            self._wakes[shard] = min(decision.wake_at, self._wakes.get(shard, decision.wake_at))

    def _start(self, shard: ShardKey, planned: PlannedRun, now: datetime) -> StartRun:
        definition = self.service.assets[shard[0]]
        partition = planned.output_partition
        aggregated = (
            partitioned_inputs(self.specs[shard[0]], self.shards[shard])
            if not definition.partitioned
            else frozenset()
        )
        details = self._details
        args: list[InputArg] = []
        data: dict[str, InputArg] = {}
        newest: datetime | None = None
        root: uuid.UUID | None = None
        for item in definition.inputs:
            values: list[InputData] = []
            for o in planned.inputs.get(item.key, ()):
                detail = details.get(o.event_id)
                if detail is None:
                    values.append(
                        InputData(o.asset, o.partition, o.version, o.event_id, o.occurred_at)
                    )
                    source = o.event_id
                else:
                    values.append(
                        InputData(
                            o.asset,
                            o.partition,
                            o.version,
                            o.event_id,
                            o.occurred_at,
                            detail.location,
                            dict(detail.metadata),
                        )
                    )
                    source = detail.correlation_id or o.event_id
                if newest is None or o.occurred_at > newest:
                    newest, root = o.occurred_at, source
            arg: InputArg = tuple(values) if item.key in aggregated else values[0]
            args.append(arg)
            data[item.key] = arg
        identity = self._namers[definition.key].identity(
            partition, planned.input_event_ids, planned.request_id
        )
        run_id = identity.run_id
        ctx = RunContext(  # by position, which a dataclass parses faster than by name
            definition.key,  # asset
            partition,
            run_id,
            1,  # attempt
            root,  # correlation_id
            planned.request_id,
            data,  # inputs
            RunLog(self.service.log, definition.key, partition, run_id),
        )
        self.in_flight.add((definition.key, partition))
        return StartRun._of(
            {
                "definition": definition,
                "shard": shard,
                "planned": planned,
                "planned_at": now,
                "ctx": ctx,
                "args": args,
                "identity": identity,
            }
        )
