"""Avro bytes ⇄ choreo records, in either framing a Kafka value may carry.

By default a value is written in Avro *single-object encoding*, so any Avro library can read it
with the ``.avsc`` alone; when a schema registry is configured it is written in *Confluent Schema
Registry framing* instead, which the Confluent tool chain expects. Readers accept both, resolve
the writer's schema (by fingerprint, or by registry id) into the current schema with Avro's own
schema-resolution rules, and validate the result into the pydantic model, so old producers keep
working while the schema evolves.

This is on the hot path of every service: schemas are parsed once (by ``SchemaSet``), and the
writer/reader pairing for each fingerprint or registry id is worked out once and cached. An
``AssetEvent`` body of the current schema is written and read directly (``event_writer``,
``event_reader``), with the same results; anything else goes through fastavro and pydantic.
Everything that goes wrong with the bytes raises ``CodecError`` saying what was wrong.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as _fingerprint_hex
from fastavro.schema import parse_schema, to_parsing_canonical_form
from pydantic import ValidationError

from choreo.codec import event_reader, event_writer
from choreo.codec.schemas import FINGERPRINT_ALGORITHM, ParsedSchema, SchemaSet
from choreo.errors import CodecError, SchemaError
from choreo.events.models import AssetDeclared, AssetEvent, AssetRequest

Record: TypeAlias = AssetEvent | AssetDeclared | AssetRequest
"""Any record choreo puts on the wire."""

#: Avro single-object encoding: a two-byte marker (spec: ``C3 01``), chosen by Avro to be
#: unlikely at the start of other data, then the writer schema's fingerprint, then the body.
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
#: The fingerprint is CRC-64-AVRO, stored little-endian in 8 bytes.
FINGERPRINT_SIZE = 8
SINGLE_OBJECT_HEADER_SIZE = len(SINGLE_OBJECT_MAGIC) + FINGERPRINT_SIZE

#: Confluent Schema Registry framing: a zero "magic byte" (framing version 0), then the schema id.
CONFLUENT_MAGIC = 0
_CONFLUENT_PREFIX = bytes((CONFLUENT_MAGIC,))
#: The schema id is a 4-byte big-endian integer.
_SCHEMA_ID = struct.Struct(">I")
CONFLUENT_HEADER_SIZE = 1 + _SCHEMA_ID.size
#: Registry ids are Java ``int``s, so the top bit of the four bytes is never set.
SCHEMA_ID_MAX = 2**31 - 1

#: How many leading bytes an error message shows, enough to recognise any framing.
_SHOWN_BYTES = 8

_MODELS: dict[str, type[Record]] = {
    "choreo.AssetEvent": AssetEvent,
    "choreo.AssetDeclared": AssetDeclared,
    "choreo.AssetRequest": AssetRequest,
}
_FULLNAMES: dict[type[Record], str] = {model: name for name, model in _MODELS.items()}

_R = TypeVar("_R", AssetEvent, AssetDeclared, AssetRequest)


class _Writing(NamedTuple):
    """How to write one model: its schema and its precomputed single-object header."""

    fullname: str
    schema: ParsedSchema
    header: bytes


class _Reading(NamedTuple):
    """How to read bytes written with one writer schema into the current model."""

    fullname: str
    model: type[Record]
    writer: ParsedSchema
    # None when the writer schema *is* the current schema: fastavro then skips resolution.
    reader: ParsedSchema | None
    # Whether event_reader can read the body: an AssetEvent in the schema it was written for.
    direct: bool


def _to_avro(record: Record) -> dict[str, Any]:
    """The Avro datum for a record.

    ``model_dump`` already gives what fastavro writes: UUIDs and aware datetimes (converted by the
    ``uuid`` and ``timestamp-millis`` logical types), tuples (written as arrays) and metadata
    values whose Python type picks the union branch (``bool`` before ``long`` before ``double``).
    Only the enum needs its plain string value.
    """
    datum = record.model_dump()
    if isinstance(record, AssetEvent):
        datum["kind"] = record.kind.value
    return datum


def _shown(data: bytes) -> str:
    more = "…" if len(data) > _SHOWN_BYTES else ""
    return data[:_SHOWN_BYTES].hex(" ") + more


def _validation_summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
        for error in exc.errors()
    )


class AvroCodec:
    """Encodes choreo records to Avro bytes and decodes them back.

    Args:
        schemas: The schemas to write with and resolve into; by default ``SchemaSet.load()``.
        registry_lookup: Returns the schema text for a Confluent Schema Registry id, e.g.
            ``SchemaRegistryClient.schema_by_id``. Without it, registry-framed values cannot be
            decoded. Its errors (e.g. ``RegistryError``) propagate unchanged: the bytes may be
            fine, the registry is not.

    Raises:
        SchemaError: ``schemas`` lacks the current schema of a choreo record.
    """

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        registry_lookup: Callable[[int], str] | None = None,
    ) -> None:
        self._schemas = SchemaSet.load() if schemas is None else schemas
        self._registry_lookup = registry_lookup
        self._writing: dict[type[Record], _Writing] = {
            model: _Writing(
                fullname,
                self._schemas.current(fullname),
                SINGLE_OBJECT_MAGIC + self._schemas.fingerprint(fullname),
            )
            for fullname, model in _MODELS.items()
        }
        # The direct writer and reader know one schema only: the one they were written for.
        self._events_direct = (
            self._schemas.fingerprint("choreo.AssetEvent") == event_writer.FINGERPRINT
        )
        self._events_read_directly = (
            self._schemas.fingerprint("choreo.AssetEvent") == event_reader.FINGERPRINT
        )
        self._by_fingerprint: dict[bytes, _Reading] = {}
        self._by_schema_id: dict[int, _Reading] = {}

    @property
    def schemas(self) -> SchemaSet:
        """The schemas this codec writes with and resolves into."""
        return self._schemas

    def encode(self, record: Record, schema_id: int | None = None) -> bytes:
        """Encode a record with its current schema.

        Args:
            record: The record to encode.
            schema_id: When given, use Confluent Schema Registry framing with this id, which must
                be the id the registry gave the current schema (``SchemaSet.canonical``).
                Otherwise use Avro single-object encoding.

        Returns:
            The framed Avro bytes.

        Raises:
            CodecError: ``record`` is not a choreo record, ``schema_id`` is out of range, or a
                value does not fit its Avro type.
        """
        writing = self._writing.get(type(record))
        if writing is None:
            raise CodecError(
                f"cannot encode {type(record).__name__}: only AssetEvent, AssetDeclared and "
                "AssetRequest are choreo records"
            )
        if schema_id is None:
            header = writing.header
        elif isinstance(schema_id, int) and 0 <= schema_id <= SCHEMA_ID_MAX:
            header = _CONFLUENT_PREFIX + _SCHEMA_ID.pack(schema_id)
        else:
            raise CodecError(f"schema registry id {schema_id!r} is out of range 0..{SCHEMA_ID_MAX}")
        if self._events_direct and type(record) is AssetEvent:
            body = event_writer.event_body(record)
            if body is not None:
                return header + body
        buffer = io.BytesIO()
        buffer.write(header)
        try:
            schemaless_writer(buffer, writing.schema, _to_avro(record))
        except Exception as exc:  # fastavro raises many kinds; the record is what failed
            raise CodecError(
                f"cannot encode {writing.fullname}: {type(exc).__name__}: {exc}"
            ) from exc
        return buffer.getvalue()

    def decode(self, data: bytes) -> Record:
        """Decode a value in either framing into its record.

        Args:
            data: A Kafka value: single-object encoded or Confluent-framed Avro.

        Returns:
            The ``AssetEvent`` or ``AssetDeclared`` it holds, resolved to the current schema.

        Raises:
            CodecError: The value is empty, its framing is unknown or truncated, its schema is
                unknown, its body is truncated, invalid or followed by extra bytes, or the record
                fails validation.
        """
        reading, offset = self._resolve(data)
        return self._read(data, reading, offset)

    def decode_event(self, data: bytes) -> AssetEvent:
        """Decode a value that must hold an ``AssetEvent``.

        Raises:
            CodecError: As :meth:`decode`, or the value holds another record.
        """
        return self._decode_as(data, AssetEvent)

    def decode_declared(self, data: bytes) -> AssetDeclared:
        """Decode a value that must hold an ``AssetDeclared``.

        Raises:
            CodecError: As :meth:`decode`, or the value holds another record.
        """
        return self._decode_as(data, AssetDeclared)

    def decode_request(self, data: bytes) -> AssetRequest:
        """Decode a value that must hold an ``AssetRequest``.

        Raises:
            CodecError: As :meth:`decode`, or the value holds another record.
        """
        return self._decode_as(data, AssetRequest)

    def _decode_as(self, data: bytes, model: type[_R]) -> _R:
        reading, offset = self._resolve(data)
        if reading.model is not model:
            raise CodecError(
                f"expected a {_FULLNAMES[model]} but the value holds a {reading.fullname}"
            )
        record = self._read(data, reading, offset)
        if not isinstance(record, model):  # pragma: no cover - guarded by the check above
            raise CodecError(f"expected a {_FULLNAMES[model]}, decoded {type(record).__name__}")
        return record

    def _resolve(self, data: bytes) -> tuple[_Reading, int]:
        """Read the framing: how to read the body, and where it starts."""
        if not data:
            raise CodecError(
                "cannot decode an empty value (a tombstone?): expected Avro single-object "
                "(c3 01 …) or Confluent Schema Registry (00 …) framing"
            )
        if data[:2] == SINGLE_OBJECT_MAGIC or data == SINGLE_OBJECT_MAGIC[:1]:
            if len(data) < SINGLE_OBJECT_HEADER_SIZE:
                raise CodecError(
                    f"truncated single-object header: {len(data)} bytes ({_shown(data)}), "
                    f"need {SINGLE_OBJECT_HEADER_SIZE} (c3 01 + 8-byte fingerprint)"
                )
            # bytes() is free for bytes and makes a bytearray's slice hashable.
            fingerprint = bytes(data[len(SINGLE_OBJECT_MAGIC) : SINGLE_OBJECT_HEADER_SIZE])
            reading = self._by_fingerprint.get(fingerprint)
            if reading is None:
                reading = self._reading_for_fingerprint(fingerprint)
            return reading, SINGLE_OBJECT_HEADER_SIZE
        if data[0] == CONFLUENT_MAGIC:
            if len(data) < CONFLUENT_HEADER_SIZE:
                raise CodecError(
                    f"truncated Confluent header: {len(data)} bytes ({_shown(data)}), "
                    f"need {CONFLUENT_HEADER_SIZE} (00 + 4-byte schema id)"
                )
            (schema_id,) = _SCHEMA_ID.unpack_from(data, 1)
            reading = self._by_schema_id.get(schema_id)
            if reading is None:
                reading = self._reading_for_schema_id(schema_id)
            return reading, CONFLUENT_HEADER_SIZE
        raise CodecError(
            f"unknown framing: value starts with {_shown(data)}; expected c3 01 (Avro "
            "single-object encoding) or 00 (Confluent Schema Registry)"
        )

    def _reading_for_fingerprint(self, fingerprint: bytes) -> _Reading:
        try:
            fullname, writer = self._schemas.writer(fingerprint)
        except SchemaError as exc:
            raise CodecError(
                f"unknown writer schema fingerprint {fingerprint.hex()}: no schema under "
                f"{self._schemas.directory} has it (written by a newer or foreign producer?)"
            ) from exc
        reading = self._pair(fullname, writer, fingerprint)
        self._by_fingerprint[fingerprint] = reading
        return reading

    def _reading_for_schema_id(self, schema_id: int) -> _Reading:
        if self._registry_lookup is None:
            raise CodecError(
                f"value is framed for a Confluent Schema Registry (schema id {schema_id}) but no "
                "registry is configured (CHOREO_SCHEMA_REGISTRY_URL)"
            )
        text = self._registry_lookup(schema_id)
        try:
            writer = parse_schema(json.loads(text))
            canonical = to_parsing_canonical_form(writer)
        except Exception as exc:  # fastavro raises many kinds; the registry's answer is at fault
            raise CodecError(
                f"schema id {schema_id} from the registry is not a valid Avro schema: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(writer, dict) or writer.get("type") != "record":
            raise CodecError(f"schema id {schema_id} from the registry is not an Avro record")
        fullname = str(writer["name"])
        fingerprint = bytes.fromhex(_fingerprint_hex(canonical, FINGERPRINT_ALGORITHM))
        reading = self._pair(fullname, writer, fingerprint, f"schema id {schema_id}")
        self._by_schema_id[schema_id] = reading
        return reading

    def _pair(
        self, fullname: str, writer: ParsedSchema, fingerprint: bytes, origin: str = ""
    ) -> _Reading:
        """Pair a writer schema with the current schema and model of its record."""
        model = _MODELS.get(fullname)
        if model is None:
            where = f" ({origin})" if origin else ""
            raise CodecError(f"{fullname}{where} is not a choreo record this codec can decode")
        if fingerprint == self._schemas.fingerprint(fullname):
            direct = model is AssetEvent and self._events_read_directly
            return _Reading(fullname, model, self._schemas.current(fullname), None, direct)
        return _Reading(fullname, model, writer, self._schemas.current(fullname), False)

    def _read(self, data: bytes, reading: _Reading, offset: int) -> Record:
        if reading.direct:
            event = event_reader.event_from_body(data, offset)
            if event is not None:
                return event
        buffer = io.BytesIO(data)
        buffer.seek(offset)
        try:
            datum = schemaless_reader(buffer, reading.writer, reading.reader)
        except EOFError as exc:
            raise CodecError(
                f"{reading.fullname} body is truncated: {len(data) - offset} bytes after the "
                f"header ({str(exc) or 'ran out of data'})"
            ) from exc
        except Exception as exc:  # fastavro raises many kinds; the bytes are at fault
            raise CodecError(
                f"{reading.fullname} body is invalid: {type(exc).__name__}: {exc}"
            ) from exc
        trailing = len(data) - buffer.tell()
        if trailing:
            raise CodecError(
                f"{reading.fullname} body is followed by {trailing} trailing bytes "
                f"({_shown(data[buffer.tell() :])})"
            )
        try:
            return reading.model.model_validate(datum)
        except ValidationError as exc:
            raise CodecError(
                f"{reading.fullname} record fails validation: {_validation_summary(exc)}"
            ) from exc
