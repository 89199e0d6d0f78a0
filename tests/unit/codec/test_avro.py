"""Tests of ``AvroCodec``: round trips, golden bytes, a second Avro implementation, evolution."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import pytest
from fastavro import schemaless_writer
from fastavro.schema import parse_schema, to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo.codec import AvroCodec, SchemaSet
from choreo.errors import CodecError, RegistryError, SchemaError
from choreo.events.keys import ASSET_KEY_MAX, ASSET_KEY_RE, PARTITION_KEY_RE
from choreo.events.models import (
    LONG_MAX,
    LONG_MIN,
    AssetDeclared,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    MetadataValue,
    ProducerInfo,
)

from .golden.regenerate import DECLARATION, GOLDEN
from .golden.regenerate import DIRECTORY as GOLDEN_DIRECTORY
from .test_schemas import REPO_SCHEMAS, spec_fingerprint, without_logical_types

EVENT, DECLARED = "choreo.AssetEvent", "choreo.AssetDeclared"
Record = AssetEvent | AssetDeclared
"""The records these tests generate (requests have tests of their own)."""

FULLNAMES: dict[type[Record], str] = {AssetEvent: EVENT, AssetDeclared: DECLARED}
REGISTRY_IDS = {EVENT: 1, DECLARED: 2}
MAGIC = b"\xc3\x01"

# --- strategies, from the models' own constraints -------------------------------------------

# Avro strings are UTF-8, which cannot hold lone surrogates; any other character is fair game.
texts = st.text(st.characters(codec="utf-8"), max_size=30)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
asset_keys = st.from_regex(ASSET_KEY_RE, fullmatch=True).filter(
    lambda key: len(key) <= ASSET_KEY_MAX
)
partition_keys = st.from_regex(PARTITION_KEY_RE, fullmatch=True).filter(lambda key: ".." not in key)
metadata_values: st.SearchStrategy[MetadataValue] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(LONG_MIN, LONG_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
metadata = st.dictionaries(texts, metadata_values, max_size=6)
# Any offset, and far from datetime's limits so that converting to UTC cannot overflow.
moments = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
)
producers = st.builds(ProducerInfo, service=names, instance=names, code_version=st.none() | texts)
input_versions = st.builds(
    InputVersion,
    asset=asset_keys,
    partition=st.none() | partition_keys,
    version=names,
    event_id=st.none() | st.uuids(),
)
error_infos = st.builds(ErrorInfo, type=names, message=texts, attempt=st.integers(1, 2**31 - 1))


@st.composite
def asset_events(draw: st.DrawFn) -> AssetEvent:
    """Any valid AssetEvent: FAILED events carry an error and the others do not."""
    kind = draw(st.sampled_from(EventKind))
    return AssetEvent(
        event_id=draw(st.uuids()),
        kind=kind,
        asset=draw(asset_keys),
        partition=draw(st.none() | partition_keys),
        version=draw(names),
        occurred_at=draw(moments),
        producer=draw(producers),
        run_id=draw(st.none() | texts),
        correlation_id=draw(st.none() | st.uuids()),
        inputs=tuple(draw(st.lists(input_versions, max_size=3))),
        location=draw(st.none() | texts),
        metadata=draw(metadata),
        error=draw(error_infos) if kind is EventKind.FAILED else None,
    )


asset_declarations = st.builds(
    AssetDeclared,
    asset=asset_keys,
    service=names,
    inputs=st.lists(asset_keys, max_size=4).map(tuple),
    trigger=texts,
    partitioned=st.booleans(),
    freshness_ms=st.none() | st.integers(1, LONG_MAX),
    owner=st.none() | texts,
    description=st.none() | texts,
    code_version=st.none() | texts,
    declared_at=moments,
    producer=producers,
    metadata=metadata,
)
records: st.SearchStrategy[Record] = st.one_of(asset_events(), asset_declarations)

# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry_codec(schemas: SchemaSet) -> AvroCodec:
    """A codec whose registry knows the current schemas under REGISTRY_IDS."""
    texts_by_id = {schema_id: schemas.canonical(name) for name, schema_id in REGISTRY_IDS.items()}
    return AvroCodec(schemas, registry_lookup=texts_by_id.__getitem__)


def value_types(values: dict[str, MetadataValue]) -> dict[str, type]:
    """The Python type of each metadata value, which a round trip must keep."""
    return {key: type(value) for key, value in values.items()}


def frame(fingerprint: bytes, body: bytes) -> bytes:
    """Single-object framing, written out here rather than borrowed from the codec."""
    return MAGIC + fingerprint + body


def fastavro_body(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    """Encode ``datum`` with fastavro directly, bypassing the codec and the models."""
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), datum)
    return buffer.getvalue()


def schema_json(fullname: str) -> dict[str, Any]:
    """A current schema as the JSON in its .avsc file."""
    definition: dict[str, Any] = json.loads(
        (REPO_SCHEMAS / f"{fullname}.avsc").read_text(encoding="utf-8")
    )
    return definition


def without_fields(definition: dict[str, Any], *dropped: str) -> dict[str, Any]:
    """An older version of a record schema: the same, minus some fields."""
    return {
        **definition,
        "fields": [field for field in definition["fields"] if field["name"] not in dropped],
    }


def apache_read(value: bytes, fullname: str) -> Any:
    """Decode single-object bytes with the Apache avro package, from the .avsc file alone."""
    text = (REPO_SCHEMAS / f"{fullname}.avsc").read_text(encoding="utf-8")
    schema = avro.schema.parse(text)
    independent = avro.schema.parse(json.dumps(without_logical_types(json.loads(text))))
    assert value[:2] == MAGIC
    assert value[2:10] == independent.fingerprint("CRC-64-AVRO")
    decoder = avro.io.BinaryDecoder(io.BytesIO(value[10:]))
    return avro.io.DatumReader(schema, schema).read(decoder)


def avro_view(record: Record) -> dict[str, Any]:
    """What a generic Avro reader should see for a record: strings for UUIDs and enums."""
    view = record.model_dump(mode="json")
    if isinstance(record, AssetEvent):
        view["occurred_at"] = record.occurred_at
    else:
        view["declared_at"] = record.declared_at
    return view


# --- round trips ---------------------------------------------------------------------------


@given(record=records)
def test_single_object_round_trip(codec: AvroCodec, record: Record) -> None:
    """Any valid record survives single-object encoding, metadata value types included."""
    decoded = codec.decode(codec.encode(record))
    assert decoded == record
    assert isinstance(decoded, AssetEvent | AssetDeclared)
    assert value_types(decoded.metadata) == value_types(record.metadata)


@given(record=records)
def test_registry_framed_round_trip(registry_codec: AvroCodec, record: Record) -> None:
    """Any valid record survives Confluent Schema Registry framing, metadata types included."""
    schema_id = REGISTRY_IDS[FULLNAMES[type(record)]]
    value = registry_codec.encode(record, schema_id=schema_id)
    decoded = registry_codec.decode(value)
    assert decoded == record
    assert isinstance(decoded, AssetEvent | AssetDeclared)
    assert value_types(decoded.metadata) == value_types(record.metadata)


@settings(max_examples=25)
@given(event=asset_events())
def test_decode_event_returns_the_event(codec: AvroCodec, event: AssetEvent) -> None:
    """decode_event gives back the AssetEvent that was encoded."""
    assert codec.decode_event(codec.encode(event)) == event


@settings(max_examples=25)
@given(declared=asset_declarations)
def test_decode_declared_returns_the_declaration(codec: AvroCodec, declared: AssetDeclared) -> None:
    """decode_declared gives back the AssetDeclared that was encoded."""
    assert codec.decode_declared(codec.encode(declared)) == declared


def test_metadata_keeps_bool_int_and_float_apart(codec: AvroCodec) -> None:
    """bool stays bool, int stays int and 1.0 stays float through a round trip."""
    values: dict[str, MetadataValue] = {
        "flag": True,
        "off": False,
        "one": 1,
        "zero": 0,
        "one_float": 1.0,
        "negative_zero": -0.0,
        "largest": LONG_MAX,
        "smallest": LONG_MIN,
        "text": "1",
        "missing": None,
    }
    event = AssetEvent(
        asset="shop.orders",
        version="1",
        producer=ProducerInfo(service="s", instance="i"),
        metadata=values,
    )
    decoded = codec.decode_event(codec.encode(event)).metadata
    assert decoded == values
    assert value_types(decoded) == value_types(values)


@settings(max_examples=50)
@given(record=records, schema_id=st.integers(0, 2**31 - 1))
def test_framings_share_the_body(codec: AvroCodec, record: Record, schema_id: int) -> None:
    """Both framings carry the same Avro body after their own header."""
    single = codec.encode(record)
    framed = codec.encode(record, schema_id=schema_id)
    assert framed[:1] == b"\x00"
    assert framed[1:5] == schema_id.to_bytes(4, "big")
    assert framed[5:] == single[10:]


@pytest.mark.parametrize("record_type", [AssetEvent, AssetDeclared])
def test_single_object_header_is_magic_and_fingerprint(
    codec: AvroCodec, schemas: SchemaSet, record_type: type[Record]
) -> None:
    """A single-object value starts with c3 01 and the current schema's fingerprint."""
    record = next(r for r in GOLDEN.values() if type(r) is record_type)
    fullname = FULLNAMES[record_type]
    value = codec.encode(record)
    assert value[:10] == MAGIC + schemas.fingerprint(fullname)
    assert value[2:10] == spec_fingerprint(schemas.canonical(fullname))


# --- golden bytes --------------------------------------------------------------------------

GOLDEN_CASES = sorted(GOLDEN)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_encode_matches_golden_bytes(codec: AvroCodec, name: str) -> None:
    """Encoding the fixed record gives exactly the checked-in bytes."""
    assert codec.encode(GOLDEN[name]) == (GOLDEN_DIRECTORY / name).read_bytes()


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_decode_golden_bytes_gives_the_record(codec: AvroCodec, name: str) -> None:
    """Decoding the checked-in bytes gives the fixed record."""
    decoded = codec.decode((GOLDEN_DIRECTORY / name).read_bytes())
    assert decoded == GOLDEN[name]
    assert isinstance(decoded, AssetEvent | AssetDeclared)
    assert value_types(decoded.metadata) == value_types(GOLDEN[name].metadata)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_header_is_the_apache_fingerprint(name: str) -> None:
    """The golden header is c3 01 plus the fingerprint the Apache avro package computes."""
    fullname = FULLNAMES[type(GOLDEN[name])]
    definition = without_logical_types(schema_json(fullname))
    fingerprint = avro.schema.parse(json.dumps(definition)).fingerprint("CRC-64-AVRO")
    assert (GOLDEN_DIRECTORY / name).read_bytes()[:10] == MAGIC + fingerprint


def test_golden_files_cover_updated_failed_and_declared() -> None:
    """The golden set has an UPDATED event with inputs and metadata, a FAILED one, a declaration."""
    kinds = {r.kind for r in GOLDEN.values() if isinstance(r, AssetEvent)}
    assert kinds == {EventKind.UPDATED, EventKind.FAILED}
    assert any(isinstance(r, AssetDeclared) for r in GOLDEN.values())
    updated = next(
        r for r in GOLDEN.values() if isinstance(r, AssetEvent) and r.kind is EventKind.UPDATED
    )
    assert updated.inputs
    assert updated.metadata


# --- a second, independent Avro implementation --------------------------------------------


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_apache_avro_reads_golden_bytes(name: str) -> None:
    """The Apache avro package decodes the golden bytes from the .avsc file alone."""
    record = GOLDEN[name]
    value = (GOLDEN_DIRECTORY / name).read_bytes()
    assert apache_read(value, FULLNAMES[type(record)]) == avro_view(record)


@settings(max_examples=50)
@given(record=records)
def test_apache_avro_reads_what_choreo_writes(codec: AvroCodec, record: Record) -> None:
    """Any record choreo encodes is read back field for field by the Apache avro package."""
    read = apache_read(codec.encode(record), FULLNAMES[type(record)])
    assert read == avro_view(record)
    assert value_types(read["metadata"]) == value_types(record.metadata)


# --- schema evolution ----------------------------------------------------------------------


def _schema_dir_with_history(tmp_path: Path, *older: dict[str, Any]) -> SchemaSet:
    directory = tmp_path / "schemas"
    (directory / "history").mkdir(parents=True)
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, directory / path.name)
    for number, definition in enumerate(older, start=1):
        name = f"{definition['namespace']}.{definition['name']}.v{number}.avsc"
        (directory / "history" / name).write_text(json.dumps(definition), encoding="utf-8")
    return SchemaSet.load(directory)


def _old_event_datum() -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID("6f1c2a7e-8d3b-5a4c-9e0f-1b2c3d4e5f60")),
        "kind": "UPDATED",
        "asset": "shop.orders",
        "partition": "2026-11-20",
        "version": "o-17",
        "occurred_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "producer": {"service": "ingest", "instance": "ingest-0", "code_version": None},
        "run_id": "r1",
        "inputs": [],
        "metadata": {"rows": 10},
        "error": None,
    }


def test_older_event_schema_resolves_with_defaults(tmp_path: Path, codec: AvroCodec) -> None:
    """An event from an older schema decodes: fields added since get defaults, dropped ones go."""
    old = without_fields(schema_json(EVENT), "correlation_id", "location")
    old["fields"].insert(3, {"name": "team", "type": "string"})  # a field since removed
    schemas = _schema_dir_with_history(tmp_path, old)
    datum = {**_old_event_datum(), "team": "sales"}
    value = frame(spec_fingerprint(to_parsing_canonical_form(old)), fastavro_body(old, datum))

    event = AvroCodec(schemas).decode_event(value)

    assert event.correlation_id is None
    assert event.location is None
    assert event.asset == "shop.orders"
    assert event.partition == "2026-11-20"
    assert event.occurred_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert event.metadata == {"rows": 10}
    with pytest.raises(CodecError, match="unknown writer schema fingerprint"):
        codec.decode(value)


def test_older_declaration_schema_fills_non_null_defaults(tmp_path: Path) -> None:
    """A declaration from a schema lacking fields with non-null defaults gets those defaults."""
    old = without_fields(schema_json(DECLARED), "inputs", "trigger", "partitioned", "metadata")
    schemas = _schema_dir_with_history(tmp_path, old)
    datum = {
        "asset": "shop.orders",
        "service": "ingest",
        "freshness_ms": None,
        "owner": None,
        "description": None,
        "code_version": None,
        "declared_at": datetime(2026, 11, 20, tzinfo=UTC),
        "producer": {"service": "ingest", "instance": "ingest-0", "code_version": None},
    }
    value = frame(spec_fingerprint(to_parsing_canonical_form(old)), fastavro_body(old, datum))

    declared = AvroCodec(schemas).decode_declared(value)

    assert declared.inputs == ()
    assert declared.trigger == "eager"
    assert declared.partitioned is False
    assert declared.metadata == {}


def test_registry_writer_schema_with_an_extra_field_resolves(schemas: SchemaSet) -> None:
    """A registry-framed value from a newer schema with an extra field decodes without it."""
    newer = schema_json(EVENT)
    newer["fields"] = [*newer["fields"], {"name": "priority", "type": "int", "default": 0}]
    datum = {**_old_event_datum(), "correlation_id": None, "location": None, "priority": 7}
    value = b"\x00" + (99).to_bytes(4, "big") + fastavro_body(newer, datum)

    event = AvroCodec(schemas, registry_lookup={99: json.dumps(newer)}.__getitem__).decode(value)

    assert isinstance(event, AssetEvent)
    assert event.version == "o-17"


def test_registry_lookups_are_cached_per_id(schemas: SchemaSet) -> None:
    """The registry is asked about a schema id once, however many values carry it."""
    asked: list[int] = []

    def lookup(schema_id: int) -> str:
        asked.append(schema_id)
        return schemas.canonical(DECLARED)

    codec = AvroCodec(schemas, registry_lookup=lookup)
    value = codec.encode(DECLARATION, schema_id=5)
    assert codec.decode(value) == codec.decode(value) == DECLARATION
    assert asked == [5]


def test_registry_errors_propagate(schemas: SchemaSet) -> None:
    """A registry that cannot answer raises its own RegistryError, not CodecError."""

    def lookup(schema_id: int) -> str:
        raise RegistryError(f"registry down while asking for {schema_id}")

    codec = AvroCodec(schemas, registry_lookup=lookup)
    value = codec.encode(DECLARATION, schema_id=5)
    with pytest.raises(RegistryError, match="registry down"):
        codec.decode(value)


def test_default_codec_loads_the_default_schemas() -> None:
    """AvroCodec() with no arguments reads the repository's schemas."""
    assert AvroCodec().schemas.fullnames == SchemaSet.load(REPO_SCHEMAS).fullnames


def test_codec_needs_every_record_schema(tmp_path: Path) -> None:
    """A schema set without a choreo record's current schema is refused up front."""
    shutil.copy(REPO_SCHEMAS / f"{EVENT}.avsc", tmp_path / f"{EVENT}.avsc")
    with pytest.raises(SchemaError, match=r"choreo\.AssetDeclared"):
        AvroCodec(SchemaSet.load(tmp_path))


# --- every failure is a CodecError that says what was wrong --------------------------------


def _golden(name: str = "asset_event_updated.bin") -> bytes:
    return (GOLDEN_DIRECTORY / name).read_bytes()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", r"empty value \(a tombstone\?\)"),
        (
            b'{"asset": "shop.orders"}',
            r"unknown framing: value starts with 7b 22 61 73 73 65 74 22…",
        ),
        (b"\xc3\x02" + bytes(20), r"unknown framing: value starts with c3 02"),
        (b"\xc3", r"truncated single-object header: 1 bytes \(c3\), need 10"),
        (b"\xc3\x01\xee\x17\x8b", r"truncated single-object header: 5 bytes"),
        (b"\x00\x00\x01", r"truncated Confluent header: 3 bytes \(00 00 01\), need 5"),
        (MAGIC + bytes(range(8)) + b"\x02", r"unknown writer schema fingerprint 0001020304050607"),
        (b"\x00\x00\x00\x00\x07\x02", r"schema id 7\) but no registry is configured"),
    ],
    ids=[
        "empty",
        "json",
        "bad-second-magic-byte",
        "one-byte",
        "short-fingerprint",
        "short-schema-id",
        "unknown-fingerprint",
        "registry-id-without-registry",
    ],
)
def test_bad_framing_raises_codec_error(codec: AvroCodec, value: bytes, message: str) -> None:
    """Values whose framing cannot be used raise CodecError saying why."""
    with pytest.raises(CodecError, match=message):
        codec.decode(value)


def test_truncated_body_raises_codec_error(codec: AvroCodec) -> None:
    """A body cut short raises CodecError naming the record and the truncation."""
    with pytest.raises(CodecError, match=r"choreo\.AssetEvent body is truncated") as caught:
        codec.decode(_golden()[:-5])
    assert isinstance(caught.value.__cause__, EOFError)


def test_header_without_body_raises_codec_error(codec: AvroCodec) -> None:
    """A header alone raises CodecError saying the body is truncated."""
    with pytest.raises(CodecError, match=r"body is truncated: 0 bytes after the header"):
        codec.decode(_golden()[:10])


def test_invalid_body_raises_codec_error(codec: AvroCodec, schemas: SchemaSet) -> None:
    """A body that is not a valid AssetEvent raises CodecError naming the problem."""
    not_a_uuid = b"\x48" + b"0" * 36  # a 36-character string that no UUID parser accepts
    value = frame(schemas.fingerprint(EVENT), not_a_uuid + bytes(40))
    with pytest.raises(CodecError, match=r"choreo\.AssetEvent body is invalid: ValueError"):
        codec.decode(value)


def test_trailing_bytes_raise_codec_error(codec: AvroCodec) -> None:
    """Bytes after the record raise CodecError counting and showing them."""
    with pytest.raises(CodecError, match=r"followed by 2 trailing bytes \(00 01\)"):
        codec.decode(_golden() + b"\x00\x01")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"asset": "Shop Orders"}, r"fails validation: asset: .*invalid asset key 'Shop Orders'"),
        ({"kind": "FAILED"}, r"fails validation: .*FAILED event needs an error"),
        ({"partition": "a..b"}, r"fails validation: partition: .*invalid partition key"),
    ],
    ids=["bad-asset-key", "failed-without-error", "bad-partition"],
)
def test_record_failing_validation_raises_codec_error(
    codec: AvroCodec,
    schemas: SchemaSet,
    change: dict[str, Any],
    message: str,
) -> None:
    """Well-formed Avro breaking the model's rules raises CodecError from the validation error."""
    datum = {**_old_event_datum(), "correlation_id": None, "location": None, **change}
    value = frame(schemas.fingerprint(EVENT), fastavro_body(schema_json(EVENT), datum))
    with pytest.raises(CodecError, match=message) as caught:
        codec.decode(value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("decode", "value_name", "message"),
    [
        (
            AvroCodec.decode_event,
            "asset_declared.bin",
            r"expected a choreo\.AssetEvent but the "
            r"value holds a choreo\.AssetDeclared",
        ),
        (
            AvroCodec.decode_declared,
            "asset_event_failed.bin",
            r"expected a choreo\.AssetDeclared "
            r"but the value holds a choreo\.AssetEvent",
        ),
    ],
    ids=["event-expected", "declaration-expected"],
)
def test_decoding_the_other_record_raises_codec_error(
    codec: AvroCodec,
    decode: Callable[[AvroCodec, bytes], Record],
    value_name: str,
    message: str,
) -> None:
    """decode_event and decode_declared refuse the other record type."""
    with pytest.raises(CodecError, match=message):
        decode(codec, _golden(value_name))


@pytest.mark.parametrize(
    ("lookup_answer", "message"),
    [
        ("{ not json", r"schema id 3 from the registry is not a valid Avro schema"),
        ('"string"', r"schema id 3 from the registry is not an Avro record"),
        (
            '{"type": "record", "name": "Other", "namespace": "x", "fields": []}',
            r"x\.Other \(schema id 3\) is not a choreo record",
        ),
    ],
    ids=["not-json", "not-a-record", "foreign-record"],
)
def test_bad_registry_schema_raises_codec_error(
    schemas: SchemaSet, lookup_answer: str, message: str
) -> None:
    """A registry schema the codec cannot use raises CodecError naming the id."""
    codec = AvroCodec(schemas, registry_lookup=lambda schema_id: lookup_answer)
    with pytest.raises(CodecError, match=message):
        codec.decode(b"\x00\x00\x00\x00\x03\x00")


def test_foreign_record_fingerprint_raises_codec_error(tmp_path: Path) -> None:
    """A known fingerprint of a record choreo has no model for raises CodecError."""
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    other = {"type": "record", "name": "Other", "namespace": "x", "fields": []}
    (tmp_path / "x.Other.avsc").write_text(json.dumps(other), encoding="utf-8")
    schemas = SchemaSet.load(tmp_path)
    with pytest.raises(CodecError, match=r"x\.Other is not a choreo record"):
        AvroCodec(schemas).decode(frame(schemas.fingerprint("x.Other"), b""))


def test_encoding_a_non_record_raises_codec_error(codec: AvroCodec) -> None:
    """Only AssetEvent and AssetDeclared can be encoded."""
    producer = ProducerInfo(service="s", instance="i")
    with pytest.raises(CodecError, match="cannot encode ProducerInfo"):
        codec.encode(producer)  # type: ignore[arg-type]


@pytest.mark.parametrize("schema_id", [-1, 2**31])
def test_out_of_range_schema_id_raises_codec_error(codec: AvroCodec, schema_id: int) -> None:
    """A registry id outside a Java int's positive range is refused."""
    with pytest.raises(CodecError, match=rf"schema registry id {schema_id} is out of range"):
        codec.encode(DECLARATION, schema_id=schema_id)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"freshness_ms": 2**63},
            r"cannot encode choreo\.AssetDeclared: ValueError: .*freshness_ms",
        ),
        ({"owner": "caf\ud800"}, r"cannot encode choreo\.AssetDeclared: UnicodeEncodeError"),
    ],
    ids=["long-overflow", "lone-surrogate"],
)
def test_values_that_do_not_fit_avro_raise_codec_error(
    codec: AvroCodec, change: dict[str, Any], message: str
) -> None:
    """A model value that its Avro type cannot hold raises CodecError naming the record."""
    declared = DECLARATION.model_copy(update=change)
    with pytest.raises(CodecError, match=message):
        codec.encode(declared)
