"""Asset state: which observations replace which, run bookkeeping and serialisation."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo.errors import CodecError, InvalidInputError
from choreo.events.models import EventKind
from choreo.runtime.observations import Observation
from choreo.runtime.state import AssetState, PartitionState

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def obs(
    asset: str = "shop.orders",
    partition: str | None = None,
    *,
    version: str = "v1",
    at: datetime = T0,
    kind: EventKind = EventKind.UPDATED,
    event_id: uuid.UUID | None = None,
) -> Observation:
    return Observation(asset, partition, version, event_id or uuid.uuid4(), kind, at)


def test_first_observation_is_kept() -> None:
    """An input partition seen for the first time is recorded under (asset, partition)."""
    first = obs(partition="p1")
    assert AssetState().observe(first).known == {("shop.orders", "p1"): first}


def test_newer_observation_replaces_older() -> None:
    """A later event of the same input partition replaces the earlier one."""
    older, newer = obs(version="v1"), obs(version="v2", at=T0 + timedelta(minutes=1))
    assert AssetState().observe(older).observe(newer).known == {("shop.orders", None): newer}


def test_older_observation_is_ignored() -> None:
    """An event older than the known one (a replay, a late copy) changes nothing."""
    newer = obs(version="v2", at=T0 + timedelta(minutes=1))
    state = AssetState().observe(newer)
    assert state.observe(obs(version="v1")) is state


def test_duplicate_observation_is_ignored() -> None:
    """The same event id seen again returns the very same state, so nothing re-triggers."""
    first = obs()
    state = AssetState().observe(first)
    assert state.observe(first) is state
    assert state.observe(obs(event_id=first.event_id, at=T0 + timedelta(hours=1))) is state


def test_checked_events_do_not_replace_observations() -> None:
    """A CHECKED event reports on a known version; it never replaces the observation."""
    state = AssetState().observe(obs())
    assert state.observe(obs(kind=EventKind.CHECKED, at=T0 + timedelta(minutes=1))) is state
    assert AssetState().observe(obs(kind=EventKind.CHECKED)) == AssetState()


@pytest.mark.parametrize("kind", [EventKind.FAILED, EventKind.OBSERVED])
def test_failed_and_observed_events_replace_observations(kind: EventKind) -> None:
    """FAILED and OBSERVED events are the latest word on their partition, like UPDATED."""
    later = obs(kind=kind, at=T0 + timedelta(minutes=1))
    assert AssetState().observe(obs()).observe(later).known[("shop.orders", None)] == later


def test_equal_times_are_decided_by_event_id_not_arrival_order() -> None:
    """Two events at the same instant end in the same state whichever arrives first."""
    low = obs(version="a", event_id=uuid.UUID(int=1))
    high = obs(version="b", event_id=uuid.UUID(int=2))
    assert AssetState().observe(low).observe(high) == AssetState().observe(high).observe(low)
    assert AssetState().observe(low).observe(high).known[("shop.orders", None)] == high


def test_partitions_are_kept_apart() -> None:
    """Observations of different partitions (and assets) do not replace each other."""
    state = AssetState()
    for observation in [obs(partition="p1"), obs(partition="p2"), obs("shop.customers")]:
        state = state.observe(observation)
    assert set(state.known) == {
        ("shop.orders", "p1"),
        ("shop.orders", "p2"),
        ("shop.customers", None),
    }


def test_methods_return_new_states_and_leave_the_old_one_alone() -> None:
    """``observe``, ``mark_changed`` and ``record_run`` leave the state they are called on as is."""
    empty = AssetState()
    empty.observe(obs()).mark_changed([None], T0).record_run(None, [uuid.uuid4()], T0)
    assert empty == AssetState()
    assert empty.to_dict() == AssetState().to_dict()


def test_mappings_are_read_only() -> None:
    """The state's mappings cannot be changed in place."""
    state = AssetState(known={})
    with pytest.raises(TypeError):
        state.known[("shop.orders", None)] = obs()  # type: ignore[index]


def test_states_cannot_be_changed_in_place() -> None:
    """Attributes cannot be reassigned either."""
    state = AssetState()
    with pytest.raises(AttributeError):
        state.known = state.known


def test_a_change_shares_what_it_did_not_touch() -> None:
    """A run record leaves the observations as they were: the new state shares them."""
    state = AssetState().observe(obs(partition="p1")).mark_changed(["p1"], T0)
    after = state.record_run("p1", [uuid.uuid4()], T0)
    assert after.known is state.known


def test_partition_views_read_one_record_per_partition() -> None:
    """``consumed``, ``pending_since``, ``last_changed_at`` and ``last_run_at`` are views of
    each output partition's ``PartitionState``."""
    event_id = uuid.uuid4()
    state = AssetState().mark_changed(["p1", "p2"], T0).record_run("p1", [event_id], T0)
    assert state.partition("p1") == PartitionState(consumed=frozenset({event_id}), last_run_at=T0)
    assert state.partition("p2") == PartitionState(pending_since=T0, last_changed_at=T0)
    assert state.partition("p3") == PartitionState()
    assert dict(state.consumed) == {"p1": frozenset({event_id})}
    assert len(state.pending_since) == 1
    assert "p1" not in state.pending_since
    assert state.last_run_at.get("p2") is None
    assert state == AssetState(
        consumed={"p1": [event_id]},
        pending_since={"p2": T0},
        last_changed_at={"p2": T0},
        last_run_at={"p1": T0},
    )


def test_known_keys_must_match_their_observation() -> None:
    """An observation filed under another input partition's key is refused."""
    with pytest.raises(InvalidInputError, match="kept under"):
        AssetState(known={("shop.customers", None): obs()})


def test_mark_changed_keeps_the_first_and_the_latest_change() -> None:
    """``pending_since`` keeps the earliest change, ``last_changed_at`` the latest."""
    state = AssetState().mark_changed(["p1"], T0 + timedelta(minutes=5))
    state = state.mark_changed(["p1", "p2"], T0)
    state = state.mark_changed(["p1"], T0 + timedelta(minutes=9))
    assert state.pending_since == {"p1": T0, "p2": T0}
    assert state.last_changed_at == {"p1": T0 + timedelta(minutes=9), "p2": T0}


def test_record_run_settles_the_changes_it_saw() -> None:
    """A run records what it consumed and when, and clears the changes up to its start."""
    consumed = {uuid.uuid4(), uuid.uuid4()}
    state = AssetState().mark_changed(["p1", "p2"], T0)
    state = state.record_run("p1", consumed, T0 + timedelta(seconds=1))
    assert state.consumed == {"p1": frozenset(consumed)}
    assert state.last_run_at == {"p1": T0 + timedelta(seconds=1)}
    assert state.pending_since == {"p2": T0}
    assert state.last_changed_at == {"p2": T0}


def test_record_run_keeps_changes_that_arrived_after_its_start() -> None:
    """A change that arrived while the run was going stays pending, counted from the run start."""
    state = AssetState().mark_changed([None], T0)
    state = state.mark_changed([None], T0 + timedelta(minutes=3))
    state = state.record_run(None, [], T0 + timedelta(minutes=1))
    assert state.pending_since == {None: T0 + timedelta(minutes=1)}
    assert state.last_changed_at == {None: T0 + timedelta(minutes=3)}


def test_record_run_replaces_the_previous_consumption() -> None:
    """Only the last run's consumed ids are kept for a partition."""
    first, second = uuid.uuid4(), uuid.uuid4()
    state = AssetState().record_run(None, [first], T0).record_run(None, [second], T0)
    assert state.consumed == {None: frozenset({second})}


def test_naive_times_are_refused() -> None:
    """Bookkeeping times must be aware, like every time in choreo."""
    naive = datetime(2026, 11, 20)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        AssetState().mark_changed([None], naive)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        AssetState().record_run(None, [], naive)


def test_to_dict_layout() -> None:
    """The serialised form is plain JSON data with a format number and sorted entries."""
    event_id = uuid.UUID(int=7)
    state = (
        AssetState()
        .observe(obs("shop.orders", "p2", event_id=event_id))
        .mark_changed(["p2"], T0)
        .record_run("p2", [event_id], T0)
    )
    assert state.to_dict() == {
        "format": 1,
        "known": [
            {
                "asset": "shop.orders",
                "partition": "p2",
                "version": "v1",
                "event_id": "00000000-0000-0000-0000-000000000007",
                "kind": "UPDATED",
                "occurred_at": "2026-11-20T06:00:00+00:00",
            }
        ],
        "consumed": [{"partition": "p2", "event_ids": ["00000000-0000-0000-0000-000000000007"]}],
        "pending_since": [],
        "last_changed_at": [],
        "last_run_at": [{"partition": "p2", "at": "2026-11-20T06:00:00+00:00"}],
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 2}, "format 2"),
        ({}, "format None"),
        ([], "format 'list'"),
        ({"format": 1}, "malformed"),
        (
            {
                "format": 1,
                "known": [{"asset": "shop.orders"}],
                "consumed": [],
                "pending_since": [],
                "last_changed_at": [],
                "last_run_at": [],
            },
            "malformed",
        ),
        (
            {
                "format": 1,
                "known": [],
                "consumed": [{"partition": 5, "event_ids": []}],
                "pending_since": [],
                "last_changed_at": [],
                "last_run_at": [],
            },
            "malformed",
        ),
        (
            {
                "format": 1,
                "known": [],
                "consumed": [],
                "pending_since": [{"partition": None, "at": "2026-11-20T06:00:00"}],
                "last_changed_at": [],
                "last_run_at": [],
            },
            "malformed",
        ),
    ],
)
def test_from_dict_refuses_what_to_dict_did_not_write(data: Any, message: str) -> None:
    """An unknown format or a damaged changelog record raises ``CodecError``, not ``KeyError``."""
    with pytest.raises(CodecError, match=message):
        AssetState.from_dict(data)


_partitions = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_:=+/-]{1,12}", fullmatch=True))
_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)
_observations = st.builds(
    Observation,
    asset=st.sampled_from(["shop.orders", "shop.customers", "raw.events_v2"]),
    partition=_partitions,
    version=st.text(min_size=1, max_size=8),
    event_id=st.uuids(),
    kind=st.sampled_from(list(EventKind)),
    occurred_at=_times,
)


@st.composite
def _states(draw: st.DrawFn) -> AssetState:
    state = AssetState()
    for observation in draw(st.lists(_observations, max_size=6)):
        state = state.observe(observation)
    for partition, ids, moment in draw(
        st.lists(st.tuples(_partitions, st.frozensets(st.uuids(), max_size=3), _times), max_size=3)
    ):
        state = state.record_run(partition, ids, moment)
    for partitions, moment in draw(st.lists(st.tuples(st.lists(_partitions), _times), max_size=3)):
        state = state.mark_changed(partitions, moment)
    return state


@settings(max_examples=40, deadline=None)
@given(_states())
def test_state_round_trips_through_json(state: AssetState) -> None:
    """``from_dict(json(to_dict()))`` gives back an equal state, serialising to the same text."""
    text = json.dumps(state.to_dict())
    restored = AssetState.from_dict(json.loads(text))
    assert restored == state
    assert json.dumps(restored.to_dict()) == text


@settings(max_examples=40, deadline=None)
@given(
    st.lists(_observations, max_size=8, unique_by=lambda item: item.event_id),
    st.randoms(use_true_random=False),
)
def test_observing_is_independent_of_arrival_order(
    observations: list[Observation], shuffler: random.Random
) -> None:
    """Whatever order the same events arrive in, the state ends up knowing the same ones."""
    state = AssetState()
    for observation in observations:
        state = state.observe(observation)
    shuffled = list(observations)
    shuffler.shuffle(shuffled)
    other = AssetState()
    for observation in shuffled:
        other = other.observe(observation)
    assert other == state
