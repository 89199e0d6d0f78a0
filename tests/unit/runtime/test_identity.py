"""Deterministic identities: output event ids, run ids and derived data versions."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo.events.models import EventKind, InputVersion
from choreo.runtime.identity import (
    RunIdentity,
    derive_version,
    name_uuid,
    output_event_id,
    run_id_for,
)
from choreo.runtime.observations import Observation

A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
C = uuid.UUID("00000000-0000-4000-8000-00000000000c")


def event_id(
    *,
    asset: str = "shop.daily_order_summary",
    partition: str | None = "2026-11-20",
    input_event_ids: Iterable[uuid.UUID] = (A, B),
    code_version: str | None = "1.4.0",
    request_id: str | None = None,
    kind: EventKind = EventKind.UPDATED,
) -> uuid.UUID:
    return output_event_id(asset, partition, input_event_ids, code_version, request_id, kind=kind)


def test_output_event_id_is_pinned() -> None:
    """The canonical form is a wire contract: this id must never change between releases."""
    canonical = (
        '{"asset":"shop.daily_order_summary","code_version":"1.4.0","inputs":['
        '"00000000-0000-4000-8000-00000000000a","00000000-0000-4000-8000-00000000000b"],'
        '"kind":"UPDATED","partition":"2026-11-20","request_id":null}'
    )
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:output-event")
    assert event_id() == uuid.uuid5(namespace, canonical)
    assert event_id() == uuid.UUID("c77e02a3-bd30-52c3-9c30-2b748af028aa")


def test_output_event_id_is_a_uuid5() -> None:
    """Output ids are name-based (version 5) UUIDs."""
    assert event_id().version == 5


def test_rerun_with_the_same_inputs_gets_the_same_id() -> None:
    """Input order and repeated ids do not matter: a rerun after a crash is a duplicate."""
    assert event_id(input_event_ids=[B, A]) == event_id()
    assert event_id(input_event_ids=iter([A, B, A])) == event_id()


@pytest.mark.parametrize(
    "change",
    [
        {"asset": "shop.other"},
        {"partition": "2026-11-21"},
        {"partition": None},
        {"partition": "None"},
        {"input_event_ids": [A]},
        {"input_event_ids": [A, B, C]},
        {"input_event_ids": []},
        {"code_version": "1.5.0"},
        {"code_version": None},
        {"request_id": "req-1"},
        {"kind": EventKind.FAILED},
    ],
)
def test_anything_that_makes_a_different_run_changes_the_id(change: dict[str, Any]) -> None:
    """Asset, partition, inputs, code version, request and outcome each give a new id."""
    assert event_id(**change) != event_id()


def test_run_id_is_stable_and_independent_of_the_outcome() -> None:
    """A run keeps its run id across reruns, and it is not the output event's id."""
    run_id = run_id_for("shop.summary", "2026-11-20", [B, A], "1.4.0", None)
    assert run_id == run_id_for("shop.summary", "2026-11-20", [A, B], "1.4.0", None)
    assert run_id != run_id_for("shop.summary", "2026-11-20", [A, B], "1.4.0", "req-1")
    assert uuid.UUID(run_id) != output_event_id("shop.summary", "2026-11-20", [A, B], "1.4.0", None)


def _iv(asset: str, version: str, partition: str | None = None) -> InputVersion:
    return InputVersion(asset=asset, partition=partition, version=version)


def test_derived_version_is_deterministic_and_short() -> None:
    """The same inputs, code and location give the same 16-hex-digit version."""
    inputs = [_iv("shop.orders", "v1", "2026-11-20"), _iv("shop.customers", "v7")]
    version = derive_version("shop.summary", "2026-11-20", inputs, "1.4.0", "s3://x")
    assert version == derive_version("shop.summary", "2026-11-20", inputs[::-1], "1.4.0", "s3://x")
    assert len(version) == 16
    int(version, 16)


@pytest.mark.parametrize(
    ("inputs", "code_version", "location"),
    [
        ([("shop.orders", "v2", "2026-11-20"), ("shop.customers", "v7", None)], "1.4.0", "s3://x"),
        ([("shop.orders", "v1", "2026-11-21"), ("shop.customers", "v7", None)], "1.4.0", "s3://x"),
        ([("shop.orders", "v1", "2026-11-20")], "1.4.0", "s3://x"),
        ([("shop.orders", "v1", "2026-11-20"), ("shop.customers", "v7", None)], "1.5.0", "s3://x"),
        ([("shop.orders", "v1", "2026-11-20"), ("shop.customers", "v7", None)], "1.4.0", None),
    ],
)
def test_derived_version_follows_what_the_data_was_built_from(
    inputs: list[tuple[str, str, str | None]], code_version: str, location: str | None
) -> None:
    """Another input version, input partition, input set, code version or location changes it."""
    base = [_iv("shop.orders", "v1", "2026-11-20"), _iv("shop.customers", "v7")]
    other = [_iv(asset, version, partition) for asset, version, partition in inputs]
    assert derive_version("shop.summary", "p", other, code_version, location) != derive_version(
        "shop.summary", "p", base, "1.4.0", "s3://x"
    )


def test_derived_version_ignores_event_ids() -> None:
    """Two events announcing the same input version yield the same derived version."""
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    first = Observation("shop.orders", None, "v1", A, EventKind.UPDATED, moment)
    second = Observation("shop.orders", None, "v1", B, EventKind.UPDATED, moment)
    assert derive_version("shop.summary", None, [first], None, None) == derive_version(
        "shop.summary", None, [second], None, None
    )


def test_derived_version_reads_observations_and_input_versions_alike() -> None:
    """``Observation`` and ``InputVersion`` naming the same version hash the same."""
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    observation = Observation("shop.orders", "p1", "v1", A, EventKind.UPDATED, moment)
    assert derive_version("shop.summary", None, [observation], "1", None) == derive_version(
        "shop.summary", None, [_iv("shop.orders", "v1", "p1")], "1", None
    )


def _reference_canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_texts = st.one_of(st.none(), st.text(max_size=12))
_uuids = st.lists(st.uuids(), max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    st.from_regex(r"[a-z0-9_]{1,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True),
    _texts,
    _uuids,
    _texts,
    _texts,
)
def test_names_match_the_json_canonical_form(
    asset: str,
    partition: str | None,
    ids: list[uuid.UUID],
    code_version: str | None,
    request_id: str | None,
) -> None:
    """The run and event names hash exactly ``json.dumps(sort_keys, no spaces, ASCII)`` of the
    run's fields, however odd the text (quotes, escapes, non-ASCII): the wire contract."""
    fields: dict[str, Any] = {
        "asset": asset,
        "partition": partition,
        "inputs": sorted({str(i) for i in ids}),
        "code_version": code_version,
        "request_id": request_id,
    }
    run_ns = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:run")
    event_ns = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:output-event")
    identity = RunIdentity.of(asset, partition, ids, code_version, request_id)
    assert identity.run_id == str(uuid.uuid5(run_ns, _reference_canonical(fields)))
    for kind in EventKind:
        expected = uuid.uuid5(event_ns, _reference_canonical({**fields, "kind": kind.value}))
        assert identity.event_id(kind) == expected
        assert output_event_id(asset, partition, ids, code_version, request_id, kind=kind) == (
            expected
        )


_partition_keys = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_:=+/-]{1,8}", fullmatch=True))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["shop.orders", "shop.customers"]),
            _partition_keys,
            st.text(min_size=1, max_size=6),
        ),
        max_size=4,
    ),
    _texts,
    _texts,
    _texts,
)
def test_derived_version_matches_the_json_canonical_form(
    inputs: list[tuple[str, str | None, str]],
    partition: str | None,
    code_version: str | None,
    location: str | None,
) -> None:
    """A derived version is the SHA-256 of the JSON canonical form of what it was built from."""
    versions = sorted({(a, p or "", p is None, v) for a, p, v in inputs})
    payload = {
        "asset": "shop.summary",
        "partition": partition,
        "inputs": [list(item) for item in versions],
        "code_version": code_version,
        "location": location,
    }
    expected = hashlib.sha256(_reference_canonical(payload).encode()).hexdigest()[:16]
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    observations = [
        Observation(a, p, v, uuid.uuid4(), EventKind.UPDATED, moment) for a, p, v in inputs
    ]
    assert derive_version("shop.summary", partition, observations, code_version, location) == (
        expected
    )


@given(namespace=st.uuids(), name=st.text())
def test_name_uuid_is_exactly_uuid5(namespace: uuid.UUID, name: str) -> None:
    made = name_uuid(namespace, name)
    expected = uuid.uuid5(namespace, name)
    assert made == expected
    assert str(made) == str(expected)
    assert hash(made) == hash(expected)
    assert made.version == 5
    assert made.variant == uuid.RFC_4122
