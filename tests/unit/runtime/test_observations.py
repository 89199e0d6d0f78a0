"""Observations: what an input event becomes in the trigger state, and what is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from choreo.errors import InvalidInputError
from choreo.events.models import AssetEvent, EventKind, InputVersion, ProducerInfo
from choreo.runtime.observations import Observation

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def obs(*, partition: str | None = None, version: str = "v1", at: datetime = T0) -> Observation:
    return Observation("shop.orders", partition, version, uuid.uuid4(), EventKind.UPDATED, at)


def test_observation_from_event() -> None:
    """An event's asset, partition, version, id, kind and time become the observation."""
    event = AssetEvent(
        asset="shop.orders",
        partition="2026-11-20",
        version="v3",
        occurred_at=T0,
        producer=ProducerInfo(service="orders", instance="i-1"),
    )
    observation = Observation.from_event(event)
    assert observation == Observation(
        "shop.orders", "2026-11-20", "v3", event.event_id, EventKind.UPDATED, T0
    )
    assert observation.where == ("shop.orders", "2026-11-20")


def test_observation_as_input_version() -> None:
    """An observation becomes the ``InputVersion`` an output event lists."""
    observation = obs(partition="p1", version="v2")
    assert observation.as_input_version() == InputVersion(
        asset="shop.orders", partition="p1", version="v2", event_id=observation.event_id
    )


def test_observation_times_are_normalised_to_utc() -> None:
    """An aware time in another zone is stored as the same instant in UTC."""
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    stored = obs(at=local).occurred_at
    assert stored == T0
    assert stored.tzinfo is UTC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"occurred_at": datetime(2026, 11, 20)}, "timezone-aware"),
        ({"asset": "Shop Orders"}, "invalid asset key"),
        ({"partition": "a b"}, "invalid partition key"),
        ({"version": ""}, "empty version"),
    ],
)
def test_observation_refuses_bad_values(fields: dict[str, Any], message: str) -> None:
    """Naive times, bad keys and empty versions are refused where the observation is made."""
    values: dict[str, Any] = {
        "asset": "shop.orders",
        "partition": None,
        "version": "v1",
        "event_id": uuid.uuid4(),
        "kind": EventKind.UPDATED,
        "occurred_at": T0,
    }
    with pytest.raises(InvalidInputError, match=message):
        Observation(**{**values, **fields})
