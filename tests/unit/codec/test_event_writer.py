"""The direct ``AssetEvent`` writer gives exactly the bytes of the general path, or steps aside."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given

from choreo.codec import AvroCodec, SchemaSet, event_writer
from choreo.codec.avro import _to_avro
from choreo.errors import CodecError
from choreo.events.models import AssetEvent, ErrorInfo, EventKind, InputVersion, ProducerInfo

from .test_avro import asset_events, metadata_values
from .test_schemas import REPO_SCHEMAS

EVENT = "choreo.AssetEvent"


def general_path(schemas: SchemaSet, event: AssetEvent) -> bytes:
    """What the codec wrote before the direct writer: ``model_dump`` through fastavro."""
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + schemas.fingerprint(EVENT))
    schemaless_writer(buffer, schemas.current(EVENT), _to_avro(event))
    return buffer.getvalue()


def outcome(write: Any) -> bytes | str:
    """The bytes written, or the CodecError's message."""
    try:
        result: bytes = write()
    except CodecError as exc:
        return f"CodecError: {exc}"
    return result


BASE = AssetEvent(
    event_id=uuid.UUID("6f1c2a7e-8d3b-5a4c-9e0f-1b2c3d4e5f60"),
    asset="shop.orders",
    version="v1",
    occurred_at=datetime(2026, 11, 20, 23, 5, 7, 123000, tzinfo=UTC),
    producer=ProducerInfo(service="svc", instance="svc-0"),
)


def test_fingerprint_is_the_shipped_schema(schemas: SchemaSet) -> None:
    """The writer is pinned to the current schema: editing the .avsc means updating it."""
    assert schemas.fingerprint(EVENT) == event_writer.FINGERPRINT


def test_kind_order_is_the_schema_symbols(schemas: SchemaSet) -> None:
    """Enum indexes come from EventKind's order, which must be the schema's symbol order."""
    definition = json.loads((REPO_SCHEMAS / f"{EVENT}.avsc").read_text(encoding="utf-8"))
    (kind,) = (field for field in definition["fields"] if field["name"] == "kind")
    assert [member.value for member in EventKind] == kind["type"]["symbols"]


@given(event=asset_events())
def test_same_bytes_as_the_general_path(
    codec: AvroCodec, schemas: SchemaSet, event: AssetEvent
) -> None:
    """Any valid event: identical bytes, and the direct writer really wrote them."""
    assert event_writer.event_body(event) is not None
    assert codec.encode(event) == general_path(schemas, event)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"kind": EventKind.FAILED, "error": ErrorInfo(type="E", message="m", attempt=2**31 - 1)},
        {"kind": EventKind.CHECKED, "partition": "2026-11-20", "correlation_id": uuid.uuid4()},
        {"kind": EventKind.OBSERVED, "run_id": "r" * 64, "location": "é" * 40},
        {
            "inputs": (
                InputVersion(asset="a.b", version="1"),
                InputVersion(asset="c", partition="p/1", version="2", event_id=uuid.uuid4()),
            )
        },
        {
            "metadata": {
                "none": None,
                "true": True,
                "false": False,
                "zero": 0,
                "small": -64,
                "edge": 64,
                "min": -(2**63),
                "max": 2**63 - 1,
                "pi": 3.14,
                "neg0": -0.0,
                "nan": float("nan"),
                "inf": float("-inf"),
                "text": "x" * 200,
                "": "",
            }
        },
        {"occurred_at": datetime(1, 1, 2, tzinfo=timezone(timedelta(hours=-23)))},
        {"occurred_at": datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)},
        {"producer": ProducerInfo(service="s" * 300, instance="ü", code_version="")},
    ],
    ids=[
        "minimal",
        "failed",
        "checked",
        "observed-long-text",
        "inputs",
        "metadata",
        "far-past",
        "before-epoch",
        "long-producer",
    ],
)
def test_edge_values_give_the_same_bytes(
    codec: AvroCodec, schemas: SchemaSet, change: dict[str, Any]
) -> None:
    """Branch, length and sign edges: identical bytes, written directly."""
    event = BASE.model_copy(update=change)
    assert event_writer.event_body(event) is not None
    assert codec.encode(event) == general_path(schemas, event)


@given(value=metadata_values)
def test_any_metadata_value_gives_the_same_bytes(
    codec: AvroCodec, schemas: SchemaSet, value: Any
) -> None:
    """Each union branch of a metadata value is the one fastavro picks."""
    event = BASE.model_copy(update={"metadata": {"k": value}})
    assert codec.encode(event) == general_path(schemas, event)


@pytest.mark.parametrize(
    "change",
    [
        {"metadata": {"big": 2**63}},
        {"metadata": {"kind": EventKind.FAILED}},
        {"metadata": {1: "not a text key"}},
        {"location": "caf\ud800"},
        {"event_id": "6f1c2a7e-8d3b-5a4c-9e0f-1b2c3d4e5f60"},
        {"occurred_at": datetime(2026, 11, 20, 23, 5, 7)},
        {"inputs": [InputVersion(asset="a", version="1")]},
        {"kind": "UPDATED"},
        {"error": ErrorInfo.model_construct(type="E", message="m", attempt=2**31)},
    ],
    ids=[
        "long-overflow",
        "enum-in-metadata",
        "int-key",
        "lone-surrogate",
        "text-uuid",
        "naive-time",
        "list-inputs",
        "text-kind",
        "int-overflow",
    ],
)
def test_unusual_values_take_the_general_path(
    codec: AvroCodec, schemas: SchemaSet, change: dict[str, Any]
) -> None:
    """Values only ``model_construct`` lets through: the general path writes or refuses them."""
    event = AssetEvent.model_construct(**{**dict(BASE), **change})
    assert event_writer.event_body(event) is None

    def before() -> bytes:
        try:
            return general_path(schemas, event)
        except Exception as exc:
            raise CodecError(f"cannot encode {EVENT}: {type(exc).__name__}: {exc}") from exc

    assert outcome(lambda: codec.encode(event)) == outcome(before)


def test_another_schema_turns_the_direct_writer_off(tmp_path: Path) -> None:
    """With a current schema the writer was not made for, encoding goes the general way."""
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    definition = json.loads((tmp_path / f"{EVENT}.avsc").read_text(encoding="utf-8"))
    definition["fields"].append({"name": "extra", "type": "string", "default": "x"})
    (tmp_path / f"{EVENT}.avsc").write_text(json.dumps(definition), encoding="utf-8")
    schemas = SchemaSet.load(tmp_path)
    assert AvroCodec(schemas).encode(BASE) == general_path(schemas, BASE)
    assert general_path(schemas, BASE).endswith(b"\x02x")
