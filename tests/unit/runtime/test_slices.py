"""Stored state: one small record per output partition, merged back into the shard's state."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from choreo.errors import CodecError
from choreo.events.models import EventKind
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import InputSpec, known_output_partitions
from choreo.runtime.slices import (
    EventDetail,
    PartitionSlice,
    ShardSnapshot,
    decode_record,
    merge,
)
from choreo.runtime.state import AssetState
from choreo.runtime.triggers import AssetSpec, absorb

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SPEC = AssetSpec(
    "shop.summary",
    (InputSpec("shop.orders", partitioned=True), InputSpec("shop.customers")),
    partitioned=True,
)
#: Kafka's default limit on a record (message.max.bytes).
RECORD_LIMIT = 1_000_000


def obs(asset: str, partition: str | None = None, version: str = "v1") -> Observation:
    return Observation(asset, partition, version, uuid.uuid4(), EventKind.UPDATED, T0)


def detail_of(observation: Observation) -> EventDetail:
    return EventDetail(f"s3://{observation.asset}/{observation.partition}", {"rows": 3}, None)


def shard(partitions: int) -> tuple[AssetState, dict[uuid.UUID, EventDetail]]:
    """A shard that knows ``partitions`` output partitions, every other one run once."""
    state = absorb(SPEC, AssetState(), obs("shop.customers"), T0)
    details = {o.event_id: detail_of(o) for o in state.known.values()}
    for i in range(partitions):
        observation = obs("shop.orders", f"2026-{i:05d}")
        details[observation.event_id] = detail_of(observation)
        state = absorb(SPEC, state, observation, T0)
        if i % 2:
            consumed = [observation.event_id, state.known[("shop.customers", None)].event_id]
            state = state.record_run(observation.partition, consumed, T0 + timedelta(seconds=1))
    return state, details


def stored(state: AssetState, details: dict[uuid.UUID, EventDetail]) -> list[bytes]:
    """Every partition's slice as the changelog would hold it."""
    return [
        json.dumps(PartitionSlice.of(SPEC, state, p, details).to_dict(SPEC.key)).encode()
        for p in known_output_partitions(SPEC, state)
    ]


def test_a_slice_holds_what_deciding_its_partition_needs() -> None:
    """The partition's own observations, the unpartitioned inputs', their details and times."""
    state, details = shard(2)
    piece = PartitionSlice.of(SPEC, state, "2026-00001", details)
    assert {(o.asset, o.partition) for o in piece.observations} == {
        ("shop.orders", "2026-00001"),
        ("shop.customers", None),
    }
    assert set(piece.details) == {o.event_id for o in piece.observations}
    assert piece.record == state.partition("2026-00001")
    assert piece.record.consumed == state.consumed["2026-00001"]
    assert piece.record.last_run_at == T0 + timedelta(seconds=1)
    assert piece.record.pending_since is None


def test_a_slice_round_trips_through_json() -> None:
    """``decode_record(json(to_dict()))`` gives the same slice back."""
    state, details = shard(3)
    for partition in known_output_partitions(SPEC, state):
        piece = PartitionSlice.of(SPEC, state, partition, details)
        text = json.dumps(piece.to_dict(SPEC.key))
        assert decode_record(json.loads(text)) == piece


def test_five_thousand_partitions_restore_from_small_records() -> None:
    """A shard of 5,000 partitions is 5,000 records of well under a kilobyte each, and merging
    them gives the shard back (as one record it would pass Kafka's 1 MB limit)."""
    state, details = shard(5_000)
    values = stored(state, details)
    assert len(values) == 5_000
    assert max(len(v) for v in values) < 1_000
    assert sum(len(v) for v in values) > RECORD_LIMIT
    restored = merge(decode_record(json.loads(v)) for v in reversed(values))
    assert restored.state == state
    assert restored.details == details
    assert restored.unsliced == frozenset()


def test_newest_unpartitioned_observation_wins_across_slices() -> None:
    """Slices written before and after a new version of an unpartitioned input merge to the new
    version, whatever order they are read in."""
    state, details = shard(2)
    old = PartitionSlice.of(SPEC, state, "2026-00000", details)
    newer = obs("shop.customers", version="v2")
    newer = Observation(newer.asset, None, "v2", newer.event_id, newer.kind, T0 + timedelta(1))
    state = absorb(SPEC, state, newer, T0 + timedelta(1))
    new = PartitionSlice.of(SPEC, state, "2026-00001", details)
    for records in ([old, new], [new, old]):
        assert merge(records).state.known[("shop.customers", None)] == newer


def test_old_layout_is_read_and_its_partitions_rewritten() -> None:
    """A whole-shard record of the old layout is read; partitions without a slice of their own
    are named for rewriting, and a slice overrides what the old record said."""
    state, details = shard(3)
    snapshot = {
        "format": 1,
        "state": state.to_dict(),
        "details": {str(k): v.to_dict() for k, v in details.items()},
    }
    old = decode_record(json.loads(json.dumps(snapshot)))
    assert isinstance(old, ShardSnapshot)
    assert merge([old]).state == state
    assert merge([old]).unsliced == frozenset(known_output_partitions(SPEC, state))
    newer = state.record_run("2026-00000", [], T0 + timedelta(minutes=5))
    piece = PartitionSlice.of(SPEC, newer, "2026-00000", details)
    restored = merge([piece, old])
    assert restored.state == newer
    assert restored.unsliced == frozenset({"2026-00001", "2026-00002"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 3}, "format 3; this version reads 1 .* and 2"),
        ([], "format 'list'"),
        ({"format": 2}, "malformed"),
        ({"format": 1}, "malformed"),
        (
            {
                "format": 2,
                "asset": "shop.summary",
                "partition": "a b",
                "known": [],
                "consumed": None,
                "pending_since": None,
                "last_changed_at": None,
                "last_run_at": None,
            },
            "malformed",
        ),
        (
            {
                "format": 2,
                "asset": "shop.summary",
                "partition": "p",
                "known": [],
                "consumed": None,
                "pending_since": 5,
                "last_changed_at": None,
                "last_run_at": None,
            },
            "malformed",
        ),
    ],
)
def test_records_this_version_did_not_write_are_refused(data: Any, message: str) -> None:
    """An unknown format or a damaged record raises ``CodecError`` saying which."""
    with pytest.raises(CodecError, match=message):
        decode_record(data)
