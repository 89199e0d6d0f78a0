"""The direct ``AssetEvent`` reader gives exactly what the general path gives, or steps aside."""

from __future__ import annotations

import json
import re
import shutil
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from choreo.codec import AvroCodec, SchemaSet, event_reader
from choreo.errors import CodecError
from choreo.events.models import (
    LONG_MAX,
    LONG_MIN,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    ProducerInfo,
)

from .golden.regenerate import DIRECTORY as GOLDEN_DIRECTORY
from .golden.regenerate import GOLDEN
from .test_avro import asset_events, metadata_values
from .test_schemas import REPO_SCHEMAS

EVENT = "choreo.AssetEvent"
HEADER = 10
"""Single-object framing: c3 01 and the 8-byte fingerprint, then the body."""

EVENT_ID = uuid.UUID("6f1c2a7e-8d3b-5a4c-9e0f-1b2c3d4e5f60")
MILLIS = 1_795_215_907_123
"""2026-11-20 23:05:07.123 UTC."""
BASE = AssetEvent(
    event_id=EVENT_ID,
    asset="shop.orders",
    version="v1",
    occurred_at=datetime(2026, 11, 20, 23, 5, 7, 123000, tzinfo=UTC),
    producer=ProducerInfo(service="svc", instance="svc-0"),
)
#: The first and last millisecond a datetime holds.
FIRST_MILLIS, LAST_MILLIS = -62_135_596_800_000, 253_402_300_799_999


@pytest.fixture(scope="module")
def general_codec(schemas: SchemaSet) -> AvroCodec:
    """A codec made while the reader claims another schema: it always takes the general path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(event_reader, "FINGERPRINT", bytes(8))
        return AvroCodec(schemas)


# --- comparing outcomes ----------------------------------------------------------------------


def shape(value: Any) -> Any:
    """``value`` with the exact type of everything in it, nested models and containers included
    (ids but as ``uuid.UUID``, since the reader's remember their text).

    Floats compare by their bits, so NaN equals itself and -0.0 differs from 0.0; models also
    compare by the state pydantic keeps beside their fields.
    """
    if isinstance(value, BaseModel):
        return (
            type(value),
            shape(value.__dict__),
            value.__pydantic_fields_set__,
            type(value.__pydantic_fields_set__),
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, dict):
        return (type(value), [(shape(key), shape(item)) for key, item in value.items()])
    if isinstance(value, tuple | list):
        return (type(value), [shape(item) for item in value])
    if isinstance(value, float):
        return (float, struct.pack("<d", value))
    if isinstance(value, datetime):
        return (type(value), value, value.tzinfo is UTC)
    if isinstance(value, uuid.UUID):
        # The reader's ids are SpelledUUIDs: counted as the UUID they are, spelling included.
        return (uuid.UUID, value.int, value.is_safe, str(value))
    return (type(value), value)


def outcome(decode: Callable[[], AssetEvent]) -> Any:
    """The shape of the decoded event, or the CodecError's message without object addresses."""
    try:
        return shape(decode())
    except CodecError as exc:
        return "CodecError: " + re.sub(r" at 0x[0-9a-f]+", "", str(exc))


def assert_agrees(codec: AvroCodec, general: AvroCodec, value: bytes) -> AssetEvent | None:
    """The reader's contract on one single-object value; returns what it read.

    It reads nothing or exactly what the general path reads, and the codec's answer, an event or
    a CodecError's message, is the general path's.
    """
    expected = outcome(lambda: general.decode_event(value))
    direct = event_reader.event_from_body(value, HEADER)
    if direct is not None:
        assert shape(direct) == expected
    assert outcome(lambda: codec.decode_event(value)) == expected
    return direct


# --- hand-written bodies ----------------------------------------------------------------------


def varint(n: int) -> bytes:
    """A zig-zag varint, as the Avro spec writes ``int`` and ``long``."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append(z & 0x7F | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def text(value: str | bytes) -> bytes:
    """An Avro ``string``: its length in bytes, then the bytes (UTF-8 for a ``str``)."""
    raw = value.encode() if isinstance(value, str) else value
    return varint(len(raw)) + raw


def some(value: bytes) -> bytes:
    """The second branch of a ``["null", …]`` union."""
    return varint(1) + value


NULL = varint(0)


def item(asset: str, version: str, partition: str | None = None) -> bytes:
    """One ``InputVersion`` without an event id."""
    partition_bytes = NULL if partition is None else some(text(partition))
    return text(asset) + partition_bytes + text(version) + NULL


def body(**parts: bytes) -> bytes:
    """The body of ``BASE`` field by field, with some fields' bytes replaced."""
    fields = {
        "event_id": text(str(EVENT_ID)),
        "kind": varint(0),
        "asset": text("shop.orders"),
        "partition": NULL,
        "version": text("v1"),
        "occurred_at": varint(MILLIS),
        "producer": text("svc") + text("svc-0") + NULL,
        "run_id": NULL,
        "correlation_id": NULL,
        "inputs": varint(0),
        "location": NULL,
        "metadata": varint(0),
        "error": NULL,
    }
    assert parts.keys() <= fields.keys()
    return b"".join({**fields, **parts}.values())


def framed(schemas: SchemaSet, raw: bytes) -> bytes:
    """``raw`` as a single-object value of the current schema."""
    return b"\xc3\x01" + schemas.fingerprint(EVENT) + raw


FAILED = {"kind": varint(1), "error": some(text("E") + text("m") + varint(3))}


# --- the shortcut is pinned to one schema -----------------------------------------------------


def test_fingerprint_is_the_shipped_schema(schemas: SchemaSet) -> None:
    """The reader is pinned to the current schema: editing the .avsc means updating it."""
    assert schemas.fingerprint(EVENT) == event_reader.FINGERPRINT


def test_hand_written_body_is_what_the_codec_writes(codec: AvroCodec) -> None:
    """The bodies these tests write by hand follow the real layout."""
    assert codec.encode(BASE)[HEADER:] == body()


def test_general_codec_does_not_read_directly(
    general_codec: AvroCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison codec never takes the shortcut, so it really is the general path."""
    monkeypatch.setattr(event_reader, "event_from_body", None)
    assert general_codec.decode_event(general_codec.encode(BASE)) == BASE


# --- whatever a valid event holds, both paths read the same -----------------------------------


@given(event=asset_events())
def test_reads_what_the_general_path_reads(
    codec: AvroCodec, general_codec: AvroCodec, event: AssetEvent
) -> None:
    """Any valid event: the same values of the same types, and the reader really read it."""
    value = codec.encode(event)
    direct = event_reader.event_from_body(value, HEADER)
    assert direct is not None
    general = general_codec.decode_event(value)
    assert direct == general == event
    assert shape(direct) == shape(general)
    assert shape(codec.decode_event(value)) == shape(general)


@given(value=metadata_values)
def test_any_metadata_value_reads_the_same(
    codec: AvroCodec, general_codec: AvroCodec, value: Any
) -> None:
    """Each union branch of a metadata value gives the type the general path gives."""
    encoded = codec.encode(BASE.model_copy(update={"metadata": {"k": value}}))
    assert assert_agrees(codec, general_codec, encoded) is not None


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"metadata": {}},
        {"metadata": {f"key_{n}": n * 1.5 if n % 2 else f"v{n}" for n in range(300)}},
        {
            "metadata": {
                "none": None,
                "true": True,
                "false": False,
                "zero": 0,
                "small": -64,
                "edge": 64,
                "min": LONG_MIN,
                "max": LONG_MAX,
                "pi": 3.14,
                "neg0": -0.0,
                "inf": float("-inf"),
                "text": "x" * 200,
                "": "",
                "ключ": "値🙂",
            }
        },
        {"kind": EventKind.FAILED, "error": ErrorInfo(type="E", message="", attempt=1)},
        {
            "kind": EventKind.FAILED,
            "error": ErrorInfo(type="Τύπος", message="m" * 70_000, attempt=2**31 - 1),
        },
        {"kind": EventKind.CHECKED, "partition": "2026-11-20", "correlation_id": uuid.uuid4()},
        {"kind": EventKind.OBSERVED, "run_id": "r" * 64, "location": "é" * 40},
        {
            "inputs": (
                InputVersion(asset="a.b", version="1"),
                InputVersion(asset="c", partition="p/1", version="2", event_id=uuid.uuid4()),
                InputVersion(asset="c", partition="p/2", version="3"),
                InputVersion(asset="d_1", version="4", event_id=uuid.uuid4()),
            )
        },
        {"asset": "a" * 200, "partition": "P" * 255, "version": "v" * 63},
        {"version": "v" * 64, "producer": ProducerInfo(service="s" * 8192, instance="ü")},
        {"producer": ProducerInfo(service="s", instance="i", code_version="")},
        {"occurred_at": datetime(1970, 1, 1, tzinfo=UTC)},
        {"occurred_at": datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)},
        {"occurred_at": datetime(1, 1, 1, tzinfo=UTC)},
        {"occurred_at": datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)},
    ],
    ids=[
        "minimal",
        "empty-metadata",
        "large-metadata",
        "metadata-edges",
        "failed",
        "failed-long-message",
        "checked",
        "observed-unicode",
        "inputs",
        "longest-keys",
        "multi-byte-lengths",
        "empty-code-version",
        "epoch",
        "before-epoch",
        "first-moment",
        "last-moment",
    ],
)
def test_edge_values_read_the_same(
    codec: AvroCodec, general_codec: AvroCodec, change: dict[str, Any]
) -> None:
    """Branch, length, sign and range edges: the same event, read directly."""
    event = AssetEvent.model_validate({**dict(BASE), **change})
    value = codec.encode(event)
    direct = assert_agrees(codec, general_codec, value)
    assert direct is not None
    assert direct == event


@pytest.mark.parametrize(
    "name", sorted(name for name, record in GOLDEN.items() if isinstance(record, AssetEvent))
)
def test_golden_events_read_the_same(codec: AvroCodec, general_codec: AvroCodec, name: str) -> None:
    """The checked-in bytes of real events are read directly, to the fixed records."""
    value = (GOLDEN_DIRECTORY / name).read_bytes()
    assert assert_agrees(codec, general_codec, value) == GOLDEN[name]


# --- bodies other writers may produce ----------------------------------------------------------

INPUT_A = item("a.b", "1")
INPUT_C = item("c", "2", partition="p/1")
ENTRY_A1 = text("a") + varint(2) + varint(1)
ENTRY_B = text("b") + NULL
ENTRY_A2 = text("a") + varint(4) + text("x")


@pytest.mark.parametrize(
    "parts",
    [
        {"inputs": varint(1) + INPUT_A + varint(1) + INPUT_C + varint(0)},
        {"inputs": varint(-2) + varint(len(INPUT_A + INPUT_C)) + INPUT_A + INPUT_C + varint(0)},
        {"inputs": varint(-1) + varint(999) + INPUT_A + varint(0)},
        {
            "metadata": varint(-1)
            + varint(len(ENTRY_A1))
            + ENTRY_A1
            + varint(2)
            + ENTRY_B
            + ENTRY_A2
            + varint(0)
        },
        {"metadata": varint(1) + text("t") + varint(1) + b"\x01" + varint(0)},
        {"metadata": varint(1) + text("m") + varint(2) + b"\xff" * 9 + b"\x01" + varint(0)},
        {"metadata": varint(1) + text("m") + varint(2) + b"\x80" * 9 + b"\x01" + varint(0)},
        {"location": some(b"\x80\x00"), "asset": b"\x96\x00shop.orders"},
        {"event_id": text(str(EVENT_ID).upper())},
        {"occurred_at": varint(FIRST_MILLIS)},
        {"occurred_at": varint(LAST_MILLIS)},
    ],
    ids=[
        "inputs-in-two-blocks",
        "inputs-block-with-size",
        "inputs-block-with-wrong-size",
        "metadata-blocks-with-repeated-key",
        "true",
        "long-min-in-ten-bytes",
        "tenth-byte-one",
        "overlong-lengths",
        "upper-case-uuid",
        "first-millisecond",
        "last-millisecond",
    ],
)
def test_other_block_and_varint_shapes_read_the_same(
    codec: AvroCodec, general_codec: AvroCodec, schemas: SchemaSet, parts: dict[str, bytes]
) -> None:
    """Several blocks, blocks with a byte size, longer varints than needed: read directly."""
    value = framed(schemas, body(**parts))
    assert assert_agrees(codec, general_codec, value) is not None


def test_repeated_metadata_key_keeps_first_place_and_last_value(
    codec: AvroCodec, schemas: SchemaSet
) -> None:
    """As fastavro builds the dict: a key seen again is overwritten where it first was."""
    metadata = varint(1) + ENTRY_A1 + varint(2) + ENTRY_B + ENTRY_A2 + varint(0)
    event = event_reader.event_from_body(framed(schemas, body(metadata=metadata)), HEADER)
    assert event is not None
    assert list(event.metadata.items()) == [("a", "x"), ("b", None)]


@pytest.mark.parametrize(
    "parts",
    [
        {"metadata": varint(1) + text("t") + varint(1) + b"\x02" + varint(0)},
        {"partition": varint(-1) + text("p")},
        {"kind": varint(-1)},
        {"event_id": text(EVENT_ID.hex)},
        {"event_id": text("{" + str(EVENT_ID) + "}")},
        {"event_id": text(EVENT_ID.urn)},
        {"metadata": varint(1) + text("m") + varint(2) + b"\x80" * 10 + b"\x00" + varint(0)},
        {"metadata": varint(1) + text("m") + varint(2) + b"\x80" * 9 + b"\x02" + varint(0)},
    ],
    ids=[
        "boolean-byte-2",
        "negative-union-index",
        "negative-enum-index",
        "uuid-without-hyphens",
        "uuid-in-braces",
        "uuid-urn",
        "eleven-byte-varint",
        "varint-beyond-64-bits",
    ],
)
def test_what_fastavro_tolerates_takes_the_general_path(
    codec: AvroCodec, general_codec: AvroCodec, schemas: SchemaSet, parts: dict[str, bytes]
) -> None:
    """Bytes fastavro reads leniently: the reader steps aside and the codec reads them as before."""
    value = framed(schemas, body(**parts))
    assert event_reader.event_from_body(value, HEADER) is None
    assert isinstance(general_codec.decode_event(value), AssetEvent)
    assert_agrees(codec, general_codec, value)


# --- what the general path refuses, the reader refuses ------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        {"asset": text("Shop Orders")},
        {"asset": text("shop..orders")},
        {"asset": text("a" * 201)},
        {"asset": text("")},
        {"partition": some(text("a..b"))},
        {"partition": some(text("with space"))},
        {"partition": some(text("p" * 256))},
        {"partition": some(text(""))},
        {"version": text("")},
        {"producer": text("") + text("svc-0") + NULL},
        {"producer": text("svc") + text("") + NULL},
        {"kind": varint(1)},
        {"error": some(text("E") + text("m") + varint(1))},
        {**FAILED, "error": some(text("") + text("m") + varint(1))},
        {**FAILED, "error": some(text("E") + text("m") + varint(0))},
        {**FAILED, "error": some(text("E") + text("m") + varint(-1))},
        {**FAILED, "error": some(text("E") + text("m") + varint(2**31))},
        {"inputs": varint(1) + item("Bad", "1") + varint(0)},
        {"inputs": varint(1) + item("a", "1", partition="a..b") + varint(0)},
        {"inputs": varint(1) + item("a", "") + varint(0)},
        {"kind": varint(4)},
        {"partition": varint(2) + text("p")},
        {"metadata": varint(1) + text("m") + varint(5) + varint(0)},
        {"occurred_at": varint(FIRST_MILLIS - 1)},
        {"occurred_at": varint(LAST_MILLIS + 1)},
        {"occurred_at": varint(LONG_MIN)},
        {"occurred_at": varint(LONG_MAX)},
        {"event_id": text("0" * 36)},
        {"event_id": text(str(EVENT_ID)[:-1] + "g")},
        {"asset": text(b"shop\xff")},
        {"location": some(text(b"\xed\xa0\x80"))},
        {"location": some(varint(-1) + b"x")},
        {"location": some(varint(-1)), "metadata": NULL + text("k") + NULL + varint(0)},
    ],
    ids=[
        "asset-key-spaces",
        "asset-key-empty-part",
        "asset-key-too-long",
        "asset-key-empty",
        "partition-dots",
        "partition-space",
        "partition-too-long",
        "partition-empty",
        "version-empty",
        "service-empty",
        "instance-empty",
        "failed-without-error",
        "updated-with-error",
        "error-type-empty",
        "attempt-zero",
        "attempt-negative",
        "attempt-beyond-int",
        "input-asset-key",
        "input-partition-key",
        "input-version-empty",
        "kind-out-of-range",
        "union-index-out-of-range",
        "metadata-branch-out-of-range",
        "before-first-moment",
        "after-last-moment",
        "long-min-millis",
        "long-max-millis",
        "uuid-no-hyphens-36",
        "uuid-not-hex",
        "invalid-utf8",
        "surrogate-utf8",
        "negative-length",
        "negative-length-as-a-step-back",
    ],
)
def test_what_the_general_path_refuses_reads_nothing(
    codec: AvroCodec, general_codec: AvroCodec, schemas: SchemaSet, parts: dict[str, bytes]
) -> None:
    """Invalid keys, empty texts, kind and error disagreeing, out-of-range values: ``None``."""
    value = framed(schemas, body(**parts))
    assert event_reader.event_from_body(value, HEADER) is None
    with pytest.raises(CodecError):
        general_codec.decode_event(value)
    assert_agrees(codec, general_codec, value)


# --- corrupted bytes ---------------------------------------------------------------------------

#: Bytes that turn a byte into something else in every field: branches, lengths, key characters.
SUSPECT_BYTES = (0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x48, 0x7F, 0x80, 0xFF, ord("A"), ord("."))

CORRUPTED = BASE.model_copy(
    update={
        "kind": EventKind.FAILED,
        "partition": "2026-11-20",
        "error": ErrorInfo(type="E", message="boom", attempt=2),
        "correlation_id": EVENT_ID,
        "inputs": (InputVersion(asset="a.b", partition="p", version="1", event_id=EVENT_ID),),
        "metadata": {"n": 300, "f": 0.5, "b": True, "s": "text", "z": None},
    }
)


def test_every_byte_replaced_reads_the_same_or_nothing(
    codec: AvroCodec, general_codec: AvroCodec
) -> None:
    """Each body byte replaced by each suspect byte: never a different event, never an error."""
    value = codec.encode(CORRUPTED)
    read = 0
    for position in range(HEADER, len(value)):
        for byte in SUSPECT_BYTES:
            changed = value[:position] + bytes((byte,)) + value[position + 1 :]
            read += assert_agrees(codec, general_codec, changed) is not None
    assert read  # some replacements still hold a valid event, and were read directly


@settings(deadline=None, max_examples=50)
@given(event=asset_events())
def test_truncated_bodies_read_nothing(
    codec: AvroCodec, general_codec: AvroCodec, event: AssetEvent
) -> None:
    """A body cut at any byte is refused by both paths alike."""
    value = codec.encode(event)
    for end in range(len(value)):
        assert event_reader.event_from_body(value[:end], HEADER) is None
        if end >= HEADER:
            assert_agrees(codec, general_codec, value[:end])


@given(event=asset_events(), extra=st.binary(min_size=1, max_size=8))
def test_trailing_bytes_read_nothing(
    codec: AvroCodec, general_codec: AvroCodec, event: AssetEvent, extra: bytes
) -> None:
    """Bytes after the body: the reader refuses them, the general path names them."""
    value = codec.encode(event) + extra
    assert event_reader.event_from_body(value, HEADER) is None
    assert_agrees(codec, general_codec, value)


@given(event=asset_events(), data=st.data())
def test_changed_bytes_read_the_same_or_nothing(
    codec: AvroCodec, general_codec: AvroCodec, event: AssetEvent, data: st.DataObject
) -> None:
    """Random bytes of a valid body replaced, dropped or inserted: never a different event."""
    value = bytearray(codec.encode(event))
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(HEADER, len(value) - 1))
        byte = data.draw(st.sampled_from(SUSPECT_BYTES) | st.integers(0, 255))
        action = data.draw(st.sampled_from(["replace", "drop", "insert"]))
        if action == "replace":
            value[position] = byte
        elif action == "drop" and len(value) > HEADER + 1:
            del value[position]
        else:
            value.insert(position, byte)
    assert_agrees(codec, general_codec, bytes(value))


# --- where the codec takes the shortcut --------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offsets the codec asks the reader to read at, the reader still doing the reading."""
    offsets: list[int] = []
    read = event_reader.event_from_body

    def recording(data: bytes, offset: int) -> AssetEvent | None:
        offsets.append(offset)
        return read(data, offset)

    monkeypatch.setattr(event_reader, "event_from_body", recording)
    return offsets


def test_both_framings_read_directly(schemas: SchemaSet, reads: list[int]) -> None:
    """Single-object and registry-framed values of the current schema take the shortcut."""
    codec = AvroCodec(schemas, registry_lookup={7: schemas.canonical(EVENT)}.__getitem__)
    assert codec.decode_event(codec.encode(BASE)) == BASE
    assert codec.decode(codec.encode(BASE, schema_id=7)) == BASE
    assert reads == [HEADER, 5]


def test_declarations_do_not_read_directly(codec: AvroCodec, reads: list[int]) -> None:
    """Only AssetEvents have a direct reader."""
    declared = next(record for record in GOLDEN.values() if not isinstance(record, AssetEvent))
    assert codec.decode(codec.encode(declared)) == declared
    assert reads == []


def test_resolved_writer_schema_does_not_read_directly(
    schemas: SchemaSet, reads: list[int]
) -> None:
    """A registry schema other than the current one is resolved by fastavro, as before."""
    newer = json.loads(schemas.canonical(EVENT))
    newer["fields"].append({"name": "priority", "type": "int", "default": 0})
    codec = AvroCodec(schemas, registry_lookup={9: json.dumps(newer)}.__getitem__)
    value = b"\x00" + (9).to_bytes(4, "big") + body() + varint(7)
    assert codec.decode_event(value) == BASE
    assert reads == []


def test_another_schema_turns_the_direct_reader_off(tmp_path: Path, reads: list[int]) -> None:
    """With a current schema the reader was not made for, decoding goes the general way."""
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    definition = json.loads((tmp_path / f"{EVENT}.avsc").read_text(encoding="utf-8"))
    (metadata,) = (field for field in definition["fields"] if field["name"] == "metadata")
    metadata["type"]["values"] = ["null", "string", "boolean", "long", "double"]
    (tmp_path / f"{EVENT}.avsc").write_text(json.dumps(definition), encoding="utf-8")
    codec = AvroCodec(SchemaSet.load(tmp_path))
    event = BASE.model_copy(update={"metadata": {"flag": True, "n": 5}})
    value = codec.encode(event)
    assert codec.decode_event(value) == event
    assert reads == []
    assert event_reader.event_from_body(value, HEADER) != event  # it would misread the branches
