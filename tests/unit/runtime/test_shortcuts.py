"""The shortcuts taken per event agree with the general code they stand in for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from choreo.errors import InvalidInputError
from choreo.events.models import AssetEvent, EventKind, InputVersion, ProducerInfo
from choreo.runtime.assembly import Assembler
from choreo.runtime.effects import StartRun
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.identity import (
    RUN_NAMESPACE,
    RunIdentity,
    RunNamer,
    derive_version,
    name_uuid,
)
from choreo.runtime.moments import aware_utc
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import InputSpec
from choreo.runtime.runs import UserOutput, checked_output, event_time
from choreo.runtime.slices import EventDetail, PartitionSlice
from choreo.runtime.state import AssetState
from choreo.runtime.triggers import (
    AssetSpec,
    Decision,
    Eager,
    PlannedRun,
    absorb_affected,
    decide,
)
from choreo.service import AssetIn, InputData, Output, RunContext, Service

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
INPUTS = ("shop.orders", "shop.customers")


class _GeneralEager(Eager):
    """``Eager`` decided through its ``Candidate``, as any other policy is."""


def _general(spec: AssetSpec) -> AssetSpec:
    """``spec`` without its shortcuts: inputs gathered from the state, policy evaluated."""
    general = AssetSpec(spec.key, spec.inputs, spec.partitioned, _GeneralEager())
    object.__setattr__(general, "keyed", None)
    return general


_declared = st.sampled_from([True, False, None])
_steps = st.lists(
    st.tuples(
        st.sampled_from(["event", "event", "event", "run"]),
        st.sampled_from([*INPUTS, "shop.other"]),
        st.sampled_from([None, "p1", "p2"]),
        st.sampled_from([EventKind.UPDATED, EventKind.UPDATED, EventKind.FAILED]),
        st.integers(0, 3),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(st.tuples(_declared, _declared), st.booleans(), _steps)
def test_fixed_partitioning_and_eager_decide_as_the_general_path(
    declared: tuple[bool | None, bool | None], partitioned: bool, steps: list[Any]
) -> None:
    """Absorbing, deciding and slicing with the declaration's fixed input keys and the inlined
    ``Eager`` give what gathering from the state and evaluating a ``Candidate`` give."""
    spec = AssetSpec(
        "shop.summary",
        tuple(InputSpec(a, partitioned=d) for a, d in zip(INPUTS, declared, strict=True)),
        partitioned=partitioned,
    )
    general = _general(spec)
    fast_state = slow_state = AssetState()
    details: dict[uuid.UUID, EventDetail] = {}
    for number, (step, asset, partition, kind, seconds) in enumerate(steps):
        now = T0 + timedelta(seconds=number + seconds)
        if step == "run":
            output = partition if partitioned else None
            ids = [o.event_id for o in fast_state.known.values()][:2]
            fast_state = fast_state.record_run(output, ids, at=now)
            slow_state = slow_state.record_run(output, ids, at=now)
            fast = decide(spec, fast_state, now, only=[output])
            slow = decide(general, slow_state, now, only=[output])
        else:
            observation = Observation(asset, partition, "v", uuid.uuid4(), kind, now)
            details[observation.event_id] = EventDetail(None, {"n": number}, None)
            fast_state, fast_affected = absorb_affected(spec, fast_state, observation, now)
            slow_state, slow_affected = absorb_affected(general, slow_state, observation, now)
            assert fast_affected == slow_affected
            fast = decide(spec, fast_state, now, only=fast_affected)
            slow = decide(general, slow_state, now, only=slow_affected)
        assert fast_state == slow_state
        assert fast == slow
        for a, b in zip(fast.runs, slow.runs, strict=True):
            assert (a.input_event_ids, a.input_versions()) == (
                b.input_event_ids,
                b.input_versions(),
            )
        assert decide(spec, fast_state, now) == decide(general, slow_state, now)
        for p in [None, "p1", "p2"] if partitioned else [None]:
            shortcut = PartitionSlice.of_inputs(
                p, spec.inputs_at(fast_state, p), fast_state.partition(p), details
            )
            assert shortcut == PartitionSlice.of(general, slow_state, p, details)
            assert shortcut.to_dict(spec.key) == PartitionSlice.of(
                spec, fast_state, p, details
            ).to_dict(spec.key)


def test_a_slice_names_consumed_events_it_no_longer_observes() -> None:
    """Consumed ids without an observation in the slice are still written, as text."""
    spec = AssetSpec("shop.summary", (InputSpec("shop.orders", partitioned=True),), True)
    gone = uuid.uuid4()
    state = AssetState().record_run("p1", [gone], at=T0)
    piece = PartitionSlice.of_inputs("p1", spec.inputs_at(state, "p1"), state.partition("p1"), {})
    assert piece.to_dict(spec.key)["consumed"] == [str(gone)]


class _Words(str):
    """Text of another type: validation turns it into ``str``."""

    __slots__ = ()


_metadata_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.builds(_Words, st.text(max_size=3)),
    st.lists(st.integers(), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=5), st.integers()),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), _metadata_values, max_size=4),
    st.one_of(st.none(), st.text(max_size=5)),
)
def test_checked_output_is_what_validation_gives(
    location: Any, metadata: dict[Any, Any], version: Any
) -> None:
    """Outputs of plain values skip the model; they come out as the model would make them, and
    anything else is converted or refused by the model itself."""
    output = Output(location=location, metadata=metadata, version=version)
    try:
        model = UserOutput(location=location, metadata=dict(metadata), version=version)
    except ValidationError:
        with pytest.raises(ValidationError):
            checked_output(output)
        return
    checked = checked_output(output)
    assert checked == (model.location, model.metadata, model.version)
    assert [type(v) for v in checked[1].values()] == [type(v) for v in model.metadata.values()]
    assert checked[1] is not metadata


def test_assembled_models_are_what_model_construct_makes() -> None:
    """Same fields, order, fields-set, extras and privates: equal, and dumped and shown alike."""
    versions = Assembler(InputVersion)
    entry: dict[str, Any] = {
        "asset": "shop.orders",
        "partition": "p1",
        "version": "v1",
        "event_id": uuid.uuid4(),
    }
    built, constructed = versions(dict(entry)), InputVersion.model_construct(**entry)
    events = Assembler(AssetEvent)
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "kind": EventKind.UPDATED,
        "asset": "shop.summary",
        "partition": "p1",
        "version": "abc",
        "occurred_at": T0,
        "producer": ProducerInfo(service="svc", instance="i-1"),
        "run_id": "r",
        "correlation_id": None,
        "inputs": (built,),
        "location": "s3://x",
        "metadata": {"rows": 1},
        "error": None,
    }
    assert tuple(fields) == events.fields
    pairs = [(built, constructed), (events(dict(fields)), AssetEvent.model_construct(**fields))]
    for made, expected in pairs:
        assert made == expected
        assert list(made.__dict__) == list(expected.__dict__)
        assert made.model_fields_set == expected.model_fields_set
        assert made.__pydantic_extra__ == expected.__pydantic_extra__
        assert made.__pydantic_private__ == expected.__pydantic_private__
        assert repr(made) == repr(expected)
        assert made.model_dump() == expected.model_dump()
    again = versions(dict(entry))
    assert again.model_fields_set == built.model_fields_set
    assert again.model_fields_set is not built.model_fields_set  # each instance its own set


def test_assembler_refuses_models_model_construct_does_more_for() -> None:
    class Aliased(BaseModel):
        model_config = ConfigDict(frozen=True)
        name: str = Field(alias="Name")

    with pytest.raises(TypeError, match="Aliased"):
        Assembler(Aliased)


@pytest.mark.parametrize(
    "moment",
    [T0, T0.astimezone(UTC), datetime(2026, 1, 1, tzinfo=UTC).astimezone()],
)
def test_aware_utc_shortcut_keeps_the_same_moment(moment: datetime) -> None:
    result = aware_utc(moment, "at")
    assert result == moment
    assert result.tzinfo is UTC


_ids = st.lists(st.uuids(), max_size=3)


@settings(max_examples=100, deadline=None)
@given(_ids, st.one_of(st.none(), st.text(max_size=4)))
def test_run_names_do_not_depend_on_how_the_ids_are_passed(
    ids: list[uuid.UUID], partition: str | None
) -> None:
    """A planned run's frozenset of ids (one id: no sorting) names the run as a list does."""
    listed = RunIdentity.of("shop.summary", partition, ids, "c1", None)
    frozen = RunIdentity.of("shop.summary", partition, frozenset(ids), "c1", None)
    assert (frozen.head, frozen.tail, frozen.run_id) == (listed.head, listed.tail, listed.run_id)
    assert frozen.run_id == str(name_uuid(RUN_NAMESPACE, f"{listed.head},{listed.tail}"))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(INPUTS), st.sampled_from([None, "p1", "p2", "p10"])),
        max_size=3,
    )
)
def test_derived_versions_do_not_depend_on_how_the_inputs_are_passed(
    inputs: list[tuple[str, str | None]],
) -> None:
    """A run's tuple of inputs (one input: no sorting) derives the version a list does."""
    versions = [
        InputVersion(asset=a, partition=p, version=f"v{n % 2}") for n, (a, p) in enumerate(inputs)
    ]
    assert derive_version("shop.summary", "p1", tuple(versions), None, "s3://x") == (
        derive_version("shop.summary", "p1", list(versions), None, "s3://x")
    )


@settings(max_examples=100, deadline=None)
@given(
    _ids,
    st.one_of(st.none(), st.text(max_size=4)),
    st.one_of(st.none(), st.text(max_size=4)),
    st.one_of(st.none(), st.text(max_size=4)),
)
def test_an_assets_run_namer_names_runs_as_run_identity_of(
    ids: list[uuid.UUID], partition: str | None, code_version: str | None, request: str | None
) -> None:
    """The canonical text spelled once per asset and code version gives the same names."""
    expected = RunIdentity.of("shop.summary", partition, ids, code_version, request)
    namer = RunNamer("shop.summary", code_version)
    for given_ids in (ids, frozenset(ids)):
        named = namer.identity(partition, given_ids, request)
        assert (named.head, named.tail, named.run_id) == (
            expected.head,
            expected.tail,
            expected.run_id,
        )
        assert named == RunIdentity(expected.head, expected.tail)
        assert named.event_id(EventKind.FAILED) == expected.event_id(EventKind.FAILED)


@pytest.mark.parametrize("observed", [1, 2])
def test_a_planned_run_made_by_decide_is_what_the_constructor_makes(observed: int) -> None:
    """``PlannedRun._of`` (one input with one observation: set at once) holds what
    ``PlannedRun`` holds, field by field."""
    observations = tuple(
        Observation("shop.orders", f"p{n}", "v", uuid.uuid4(), EventKind.UPDATED, T0)
        for n in range(observed)
    )
    inputs = {"shop.orders": observations}
    made, expected = PlannedRun._of("p1", dict(inputs)), PlannedRun("p1", inputs)
    assert vars(made) == vars(expected)
    assert list(vars(made)) == list(vars(expected))
    assert made == expected


def test_a_start_run_made_by_the_engine_is_what_the_constructor_makes() -> None:
    """``StartRun._of`` sets the same fields, in the same order, as ``StartRun``."""
    service = Service("shop")

    @service.asset(
        "shop.summary", inputs=[AssetIn("shop.orders", partitioned=True)], partitioned=True
    )
    def summary(ctx: RunContext, orders: InputData) -> Output:
        return ctx.output()

    engine = ServiceEngine(service, instance="i-1")
    engine.assign(dict.fromkeys(engine.shard_keys_for([0])), T0)
    event = AssetEvent(
        event_id=uuid.uuid4(),
        kind=EventKind.UPDATED,
        asset="shop.orders",
        partition="p1",
        version="v1",
        occurred_at=T0,
        producer=ProducerInfo(service="up", instance="i-1"),
    )
    [run] = engine.on_event(event, 0, T0).runs
    fields = [getattr(run, name) for name in vars(run)]
    expected = StartRun(*fields)
    assert vars(run) == vars(expected)
    assert list(vars(run)) == list(vars(expected))
    assert run == expected
    assert (run.key, run.slice) == (expected.key, expected.slice)
    ctx = run.ctx  # made by position: each field holds what its name says
    assert (ctx.asset, ctx.partition, ctx.run_id, ctx.attempt) == (
        "shop.summary",
        "p1",
        run.identity.run_id,
        1,
    )
    assert (ctx.correlation_id, ctx.request_id) == (event.event_id, None)
    assert ctx.inputs == {"shop.orders": run.args[0]}
    assert ctx.log._run_id == ctx.run_id


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(INPUTS), st.sampled_from([None, "p1", "p2"])), max_size=3),
    st.one_of(st.none(), st.text(max_size=4)),
    st.one_of(st.none(), st.text(max_size=4)),
    st.one_of(st.none(), st.text(max_size=4)),
)
def test_an_assets_run_namer_derives_versions_as_derive_version(
    inputs: list[tuple[str, str | None]],
    partition: str | None,
    code_version: str | None,
    location: str | None,
) -> None:
    versions = tuple(InputVersion(asset=a, partition=p, version="v") for a, p in inputs)
    assert RunNamer("shop.summary", code_version).version(partition, versions, location) == (
        derive_version("shop.summary", partition, versions, code_version, location)
    )


@pytest.mark.parametrize("runs", [0, 1, 2])
def test_decisions_of_runs_alone_are_what_the_constructor_makes(runs: int) -> None:
    """``decide`` sets a decision of runs alone at once; it holds what ``Decision`` holds."""
    spec = AssetSpec("shop.summary", (InputSpec("shop.orders", partitioned=True),), True)
    state = AssetState()
    for n in range(runs):
        state = state.observe(
            Observation("shop.orders", f"p{n}", "v", uuid.uuid4(), EventKind.UPDATED, T0)
        )
    made = decide(spec, state, T0)
    expected = Decision(runs=made.runs)
    assert vars(made) == vars(expected)
    assert list(vars(made)) == list(vars(expected))
    assert made == expected
    assert len(made.runs) == runs


def test_marking_one_partition_changed_is_what_marking_several_does() -> None:
    """``mark_changed`` of a list of one partition (the usual call) is that of any other
    iterable of it."""
    state = AssetState(pending_since={"p1": T0}, last_changed_at={"p1": T0}, last_run_at={"p2": T0})
    for partition in ["p1", "p2", "p3", None]:
        for at in [T0 - timedelta(seconds=1), T0, T0 + timedelta(seconds=1)]:
            one = state.mark_changed([partition], at)
            general = state.mark_changed(iter([partition]), at)
            assert one == general
            assert one.partition(partition) == general.partition(partition)
    with pytest.raises(InvalidInputError):
        state.mark_changed(["p1"], datetime(2026, 1, 1))  # naive on purpose


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "p1", "p2"]),
            st.sampled_from([EventKind.UPDATED, EventKind.CHECKED, EventKind.FAILED]),
            st.integers(-2, 2),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_observing_and_marking_in_one_step_is_doing_both(steps: list[Any]) -> None:
    """``observe_changed`` is ``observe`` then ``mark_changed`` of one partition, and returns
    the state itself whenever ``observe`` would (duplicates, older and CHECKED events)."""
    state = AssetState()
    seen: list[Observation] = []
    for number, (partition, kind, seconds, again) in enumerate(steps):
        at = T0 + timedelta(seconds=seconds)
        if again and seen:
            observation = seen[-1]
        else:
            observation = Observation("shop.orders", partition, "v", uuid.uuid4(), kind, at)
            seen.append(observation)
        now = T0 + timedelta(seconds=number)
        one = state.observe_changed(observation, "p1", now)
        observed = state.observe(observation)
        if observed is state:
            assert one is state
        else:
            assert one == observed.mark_changed(["p1"], now)
            assert one.partitioned_assets == observed.partitioned_assets
            state = one


@pytest.mark.parametrize("consumed", [None, 0, 1, 2])
def test_slice_entries_are_what_observations_and_details_write(consumed: int | None) -> None:
    """``PartitionSlice.to_dict`` spells out each observation's and detail's ``to_dict``."""
    observations = tuple(
        Observation(asset, "p1", "v", uuid.uuid4(), EventKind.UPDATED, T0) for asset in INPUTS
    )
    details = {
        observations[0].event_id: EventDetail("s3://x", {"rows": 1}, uuid.uuid4()),
        observations[1].event_id: EventDetail(None, {}, None),
    }
    for held in (details, {observations[1].event_id: details[observations[1].event_id]}, {}):
        ids = None if consumed is None else [o.event_id for o in observations][:consumed]
        gone = [uuid.uuid4()] if consumed == 0 else []  # one id, not observed
        record = AssetState(consumed={} if ids is None else {"p1": [*ids, *gone]}).partition("p1")
        written = PartitionSlice("p1", observations, held, record).to_dict("shop.summary")
        expected = []
        for observation in observations:
            entry = observation.to_dict()
            if observation.event_id in held:
                entry["detail"] = held[observation.event_id].to_dict()
            expected.append(entry)
        assert written["known"] == expected
        assert [list(entry) for entry in written["known"]] == [list(e) for e in expected]
        texts = None if ids is None else sorted(str(i) for i in [*ids, *gone])
        assert written["consumed"] == texts


class _Moment(datetime):
    """A datetime subclass: ``event_time`` keeps to ``replace`` for it."""


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([0, 1]),
    st.booleans(),
)
def test_event_times_are_what_replacing_the_microseconds_gives(
    moment: datetime, fold: int, subclass: bool
) -> None:
    """Subtracting the sub-millisecond part gives what ``replace`` gives, type and all."""
    moment = moment.replace(fold=fold)
    if subclass:
        moment = _Moment.fromtimestamp(moment.timestamp(), UTC).replace(
            microsecond=moment.microsecond, fold=fold
        )
    made = event_time(moment)
    expected = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert made == expected
    assert (type(made), made.tzinfo, made.fold) == (type(expected), UTC, expected.fold)
    assert made.isoformat() == expected.isoformat()


_engine_steps = st.lists(
    st.tuples(
        st.sampled_from(["event", "event", "ack", "ack", "reassign"]),
        st.sampled_from(INPUTS),
        st.sampled_from(["p1", "p2"]),
        st.sampled_from([EventKind.UPDATED, EventKind.UPDATED, EventKind.FAILED]),
        st.integers(0, 2),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), _engine_steps)
def test_acknowledging_under_eager_starts_what_deciding_again_would(
    two_inputs: bool, steps: list[Any]
) -> None:
    """Skipping the decision after an acknowledgement when nothing waited for the run starts
    the same runs, with the same inputs, as an engine that always decides again."""
    svc = Service("shop")
    inputs = INPUTS if two_inputs else INPUTS[:1]

    @svc.asset(
        "shop.summary", inputs=[AssetIn(a, partitioned=True) for a in inputs], partitioned=True
    )
    def summary(ctx: RunContext, *args: InputData) -> Output:
        return ctx.output()

    fast, slow = ServiceEngine(svc, instance="i"), ServiceEngine(svc, instance="i")
    slow.specs = {key: _general(spec) for key, spec in slow.specs.items()}
    started: dict[str, list[tuple[StartRun, StartRun]]] = {}

    def started_by(fast_runs: list[StartRun], slow_runs: list[StartRun]) -> None:
        assert [(r.key, r.planned.input_event_ids) for r in fast_runs] == [
            (r.key, r.planned.input_event_ids) for r in slow_runs
        ]
        for a, b in zip(fast_runs, slow_runs, strict=True):
            started.setdefault(str(a.planned.output_partition), []).append((a, b))

    shard = ("shop.summary", 0)
    started_by(fast.assign({shard: None}, T0).runs, slow.assign({shard: None}, T0).runs)
    for number, (step, asset, partition, kind, seconds) in enumerate(steps):
        now = T0 + timedelta(seconds=number + seconds)
        if step == "event":
            if asset not in inputs:
                continue
            event = AssetEvent(
                asset=asset,
                partition=partition,
                version=f"v{number}",
                kind=kind,
                occurred_at=now,
                producer=ProducerInfo(service="up", instance="u"),
                error={"type": "E", "message": "m"} if kind is EventKind.FAILED else None,
            )
            started_by(fast.on_event(event, 0, now).runs, slow.on_event(event, 0, now).runs)
        elif step == "ack":
            waiting = started.get(partition)
            if waiting:
                a, b = waiting.pop(0)
                started_by(fast.acknowledged(a, now).runs, slow.acknowledged(b, now).runs)
        else:  # the shard moves away and back, its runs still in flight
            records = {shard: [fast.stored_slice(("shop.summary", 0, p)) for p in ("p1", "p2")]}
            fast.revoke([0])
            slow.revoke([0])
            kept = {s: [r for r in rs if r is not None] for s, rs in records.items()}
            started_by(fast.assign(kept, now).runs, slow.assign(kept, now).runs)
        assert fast.shards == slow.shards
        assert fast.in_flight == slow.in_flight
