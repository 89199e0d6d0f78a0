"""Partition mapping: same partition, unpartitioned inputs feeding all, and aggregation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from choreo.errors import InvalidInputError
from choreo.events.models import EventKind
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import (
    InputSpec,
    affected_partitions,
    inputs_for,
    known_output_partitions,
    partitioned_inputs,
)
from choreo.runtime.state import AssetState

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    inputs: tuple[InputSpec, ...]
    partitioned: bool


def obs(asset: str, partition: str | None = None, version: str = "v1") -> Observation:
    return Observation(asset, partition, version, uuid.uuid4(), EventKind.UPDATED, T0)


def state_of(*observations: Observation) -> AssetState:
    state = AssetState()
    for observation in observations:
        state = state.observe(observation)
    return state


ORDERS = InputSpec("shop.orders", partitioned=True)
PAYMENTS = InputSpec("shop.payments", partitioned=True)
CUSTOMERS = InputSpec("shop.customers")
SAME = Shape((ORDERS, PAYMENTS), partitioned=True)
MIXED = Shape((ORDERS, CUSTOMERS), partitioned=True)
AGGREGATE = Shape((ORDERS, CUSTOMERS), partitioned=False)
FROM_GLOBAL = Shape((CUSTOMERS,), partitioned=True)


def test_partitioned_input_maps_to_the_same_output_partition() -> None:
    """An event of ``orders/p1`` affects ``summary/p1`` and nothing else."""
    event = obs("shop.orders", "p1")
    state = state_of(obs("shop.orders", "p0"), event)
    assert affected_partitions(SAME, state, event) == ["p1"]


def test_two_partitioned_inputs_join_on_the_partition() -> None:
    """Each output partition reads the same partition of every partitioned input."""
    o1, o2, p1 = obs("shop.orders", "p1"), obs("shop.orders", "p2"), obs("shop.payments", "p1")
    state = state_of(o1, o2, p1)
    assert inputs_for(SAME, state, "p1") == {"shop.orders": [o1], "shop.payments": [p1]}
    assert inputs_for(SAME, state, "p2") == {"shop.orders": [o2], "shop.payments": []}


def test_unpartitioned_input_feeds_every_known_partition() -> None:
    """A change to an unpartitioned input affects all known output partitions."""
    customers = obs("shop.customers")
    state = state_of(obs("shop.orders", "p2"), obs("shop.orders", "p1"), customers)
    assert affected_partitions(MIXED, state, customers) == ["p1", "p2"]
    assert inputs_for(MIXED, state, "p2")["shop.customers"] == [customers]


def test_known_partitions_include_those_already_run() -> None:
    """Partitions that have run (e.g. on request) are known even without a partitioned event."""
    state = state_of(obs("shop.orders", "p3")).record_run("p1", [], T0)
    assert known_output_partitions(MIXED, state) == ["p1", "p3"]


def test_partitioned_input_aggregates_into_an_unpartitioned_output() -> None:
    """An unpartitioned output reads every known partition of a partitioned input, sorted."""
    o2, o1, customers = obs("shop.orders", "p2"), obs("shop.orders", "p1"), obs("shop.customers")
    state = state_of(o2, o1, customers)
    assert affected_partitions(AGGREGATE, state, o2) == [None]
    assert affected_partitions(AGGREGATE, state, customers) == [None]
    assert inputs_for(AGGREGATE, state, None) == {
        "shop.orders": [o1, o2],
        "shop.customers": [customers],
    }


def test_unpartitioned_to_unpartitioned() -> None:
    """With nothing partitioned, every event affects the one output."""
    shape = Shape((CUSTOMERS,), partitioned=False)
    customers = obs("shop.customers")
    assert affected_partitions(shape, state_of(customers), customers) == [None]
    assert inputs_for(shape, state_of(customers), None) == {"shop.customers": [customers]}


def test_partitioned_output_with_only_unpartitioned_inputs_waits_for_a_request() -> None:
    """No input event can name a partition, so none is affected until one has been run."""
    customers = obs("shop.customers")
    state = state_of(customers)
    assert known_output_partitions(FROM_GLOBAL, state) == []
    assert affected_partitions(FROM_GLOBAL, state, customers) == []
    requested = state.record_run("2026-11-20", [customers.event_id], T0)
    later = obs("shop.customers", version="v2")
    assert affected_partitions(FROM_GLOBAL, requested.observe(later), later) == ["2026-11-20"]


def test_events_of_other_assets_affect_nothing() -> None:
    """An observation of an asset that is not an input maps to no partition."""
    other = obs("shop.other", "p1")
    assert affected_partitions(SAME, state_of(other), other) == []


def test_events_that_contradict_the_declaration_affect_nothing() -> None:
    """A partitioned event on an unpartitioned input (or the reverse) is mapped nowhere."""
    wrong_global = obs("shop.customers", "p1")
    wrong_partitioned = obs("shop.orders")
    state = state_of(wrong_global, wrong_partitioned)
    assert affected_partitions(MIXED, state, wrong_global) == []
    assert affected_partitions(MIXED, state, wrong_partitioned) == []
    assert inputs_for(MIXED, state, "p1") == {"shop.orders": [], "shop.customers": []}
    assert known_output_partitions(MIXED, state) == []


def test_inputs_learn_their_partitioning_from_events() -> None:
    """``partitioned=None`` counts as partitioned once an event with a partition key is seen."""
    learning = Shape((InputSpec("shop.orders", partitioned=None), CUSTOMERS), partitioned=True)
    assert partitioned_inputs(learning, AssetState()) == frozenset()
    o1 = obs("shop.orders", "p1")
    state = state_of(o1)
    assert partitioned_inputs(learning, state) == {"shop.orders"}
    assert affected_partitions(learning, state, o1) == ["p1"]
    assert inputs_for(learning, state, "p1")["shop.orders"] == [o1]


def test_every_input_has_an_entry_even_when_missing() -> None:
    """Missing inputs show as empty lists, in declaration order."""
    assert list(inputs_for(MIXED, AssetState(), "p1").items()) == [
        ("shop.orders", []),
        ("shop.customers", []),
    ]


@pytest.mark.parametrize(
    ("shape", "partition", "message"),
    [
        (SAME, None, "is partitioned"),
        (AGGREGATE, "p1", "not partitioned"),
        (SAME, "bad key", "invalid partition key"),
    ],
)
def test_inputs_for_checks_the_output_partition(
    shape: Shape, partition: str | None, message: str
) -> None:
    """Asking for a partition that cannot exist is an ``InvalidInputError``."""
    with pytest.raises(InvalidInputError, match=message):
        inputs_for(shape, AssetState(), partition)


def test_input_spec_validates_its_key() -> None:
    """An input named with a malformed asset key is refused."""
    with pytest.raises(InvalidInputError, match="invalid asset key"):
        InputSpec("Shop.Orders")
