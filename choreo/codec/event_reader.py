"""An ``AssetEvent`` read straight from its Avro body into the models.

Every service decodes each input event on its loop thread, and the general path (fastavro's
``schemaless_reader`` into dicts, then ``AssetEvent.model_validate``) spends most of its time on
logical types, union branches and validating the dicts it has just built. The wire layout of the
current ``choreo.AssetEvent`` schema is fixed, so this module reads it directly and builds the
models without pydantic's validation, making the checks validation would make (keys, non-empty
texts, the attempt's range, kind and error agreeing) on the values as it reads them.

It is a shortcut, never the only way: ``event_from_body`` answers ``None`` for anything outside
the plain shapes it knows or that fails a check, and the codec then takes the general path, which
reads the same event or raises the ``CodecError`` saying what is wrong. Where fastavro is lenient
(a negative union or enum index, a boolean byte other than 0 or 1, a varint beyond 64 bits, a
negative length, a UUID not in its 36-character form) this reader leaves the bytes to it. The
codec only uses it for bytes written with the current schema, while that schema's fingerprint is
``FINGERPRINT``; a schema change therefore falls back to the general path until this module is
updated with it.
"""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel

from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import AssetEvent, ErrorInfo, EventKind, InputVersion, ProducerInfo
from choreo.events.spelled_uuid import spelled

#: CRC-64-AVRO fingerprint of the ``choreo.AssetEvent`` schema this module reads.
FINGERPRINT = bytes.fromhex("ee178bdd8aeb66a0")

_M = TypeVar("_M", bound=BaseModel)

#: A varint byte holds 7 bits; the top bit says another byte follows.
_MORE = 0x80
#: A varint of at most 64 bits takes at most ten bytes, the last at shift 63.
_LAST_SHIFT = 63
#: A length or count in one byte is below ``_MORE`` and even (zig-zag: not negative).
_NOT_ONE_BYTE_SIZE = 0x81
#: Union branch indexes, zig-zag encoded: each fits one byte.
_NULL, _BRANCH_1, _BRANCH_2, _BRANCH_3, _BRANCH_4 = 0, 2, 4, 6, 8
_TRUE = 1
#: The block count that ends an array or map: an empty one is this byte alone.
_EMPTY = 0
#: A UUID's canonical text: 36 characters (zig-zag length byte 0x48), 32 of them hex digits.
_UUID_LENGTH = 0x48
_UUID_FIELD = 1 + 36
_UUID_DIGITS = 32
_HYPHEN = ord("-")
#: What a UUID's canonical text is made of.
_CANONICAL_CHARACTERS = b"0123456789abcdef-"
_KINDS = {index << 1: kind for index, kind in enumerate(EventKind.__members__.values())}
_INT_MAX = 2**31 - 1
_DOUBLE = struct.Struct("<d")
#: fastavro reads ``timestamp-millis`` as this epoch plus the milliseconds.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Key pairs whose check is remembered: a service reads a bounded set of assets and partitions.
_KEYS_KEPT = 4096

# What uuid.UUID(text) and model_validate leave on their objects, set through the classes' own
# slots: faster than setattr, and skipping only the work already done here.
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
# fastavro gives every field, so model_validate marks them all as set.
_EVENT_FIELDS = frozenset(AssetEvent.model_fields)
_PRODUCER_FIELDS = frozenset(ProducerInfo.model_fields)
_INPUT_FIELDS = frozenset(InputVersion.model_fields)
_ERROR_FIELDS = frozenset(ErrorInfo.model_fields)


class _UnreadableError(Exception):
    """Bytes this reader leaves to the general path."""


def _model(cls: type[_M], fields: dict[str, Any], names: frozenset[str]) -> _M:
    """A model holding ``fields`` as ``model_validate`` would leave it, without validating."""
    model = _new(cls)
    _set_dict(model, fields)
    _set_fields_set(model, set(names))
    _set_extra(model, None)
    _set_private(model, None)
    return model


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint and the position after it; one and two bytes without a loop."""
    byte = data[pos]
    if byte < _MORE:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    z = byte & 0x7F
    byte = data[pos + 1]
    if byte < _MORE:
        z |= byte << 7
        return (z >> 1) ^ -(z & 1), pos + 2
    z |= (byte & 0x7F) << 7
    shift = 14
    pos += 2
    while byte & _MORE:
        if shift > _LAST_SHIFT:
            raise _UnreadableError
        byte = data[pos]
        pos += 1
        z |= (byte & 0x7F) << shift
        shift += 7
    if z >> 64:  # fastavro keeps the low 64 bits of what does not fit
        raise _UnreadableError
    return (z >> 1) ^ -(z & 1), pos


def _size(data: bytes, pos: int) -> tuple[int, int]:
    """A length longer than one byte; negative ones (fastavro reads "the rest") refused."""
    size, pos = _long(data, pos)
    if size < 0:
        raise _UnreadableError
    return size, pos


def _text(data: bytes, pos: int) -> tuple[str, int]:
    """An Avro ``string`` and the position after it.

    A length beyond the data reads short but leaves the position beyond it, where the next read
    fails or the final check refuses it.
    """
    size = data[pos]
    if size & _NOT_ONE_BYTE_SIZE:
        size, pos = _size(data, pos)
        end = pos + size
        return data[pos:end].decode(), end
    end = pos + 1 + (size >> 1)
    return data[pos + 1 : end].decode(), end


def _optional_text(data: bytes, pos: int) -> tuple[str | None, int]:
    branch = data[pos]
    if branch == _NULL:
        return None, pos + 1
    if branch != _BRANCH_1:
        raise _UnreadableError
    return _text(data, pos + 1)


def _uuid(data: bytes, pos: int) -> uuid.UUID:
    """The ``uuid`` string at ``pos``, 36 characters long, as ``uuid.UUID(text)`` reads it.

    ``uuid.UUID`` drops the hyphens, wants 32 characters and gives them to ``int``; whatever
    ``int`` accepts has none of the braces or ``urn:uuid:`` it would strip first.
    """
    if data[pos] != _UUID_LENGTH:
        raise _UnreadableError
    raw = data[pos + 1 : pos + _UUID_FIELD]
    digits = raw.replace(b"-", b"")
    if len(digits) != _UUID_DIGITS:
        raise _UnreadableError
    value = int(digits, 16)
    # Already canonical (lower-case hex digits, hyphens in place): kept, never formatted again.
    canonical = raw[8] == raw[13] == raw[18] == raw[23] == _HYPHEN and not raw.translate(
        None, _CANONICAL_CHARACTERS
    )
    return spelled(value, raw.decode() if canonical else None)


def _optional_uuid(data: bytes, pos: int) -> tuple[uuid.UUID | None, int]:
    branch = data[pos]
    if branch == _NULL:
        return None, pos + 1
    if branch != _BRANCH_1:
        raise _UnreadableError
    return _uuid(data, pos + 1), pos + 1 + _UUID_FIELD


@lru_cache(maxsize=_KEYS_KEPT)
def _valid_keys(asset: str, partition: str | None) -> bool:
    """Whether the keys pass the models' own key rules."""
    try:
        validate_asset_key(asset)
        if partition is not None:
            validate_partition_key(partition)
    except InvalidInputError:
        return False
    return True


def _block_count(data: bytes, pos: int) -> tuple[int, int]:
    """The item count of the next array or map block, skipping a negative count's byte size."""
    byte = data[pos]
    if not byte & _NOT_ONE_BYTE_SIZE:
        return byte >> 1, pos + 1
    count, pos = _long(data, pos)
    if count < 0:
        _block_size, pos = _long(data, pos)  # unused, as in fastavro
        count = -count
    return count, pos


def _inputs(data: bytes, pos: int) -> tuple[tuple[InputVersion, ...], int]:
    if data[pos] == _EMPTY:  # most events have no inputs
        return (), pos + 1
    items: list[InputVersion] = []
    count, pos = _block_count(data, pos)
    while count:
        for _ in range(count):
            asset, pos = _text(data, pos)
            partition, pos = _optional_text(data, pos)
            version, pos = _text(data, pos)
            event_id, pos = _optional_uuid(data, pos)
            if not version or not _valid_keys(asset, partition):
                raise _UnreadableError
            fields = {
                "asset": asset,
                "partition": partition,
                "version": version,
                "event_id": event_id,
            }
            items.append(_model(InputVersion, fields, _INPUT_FIELDS))
        count, pos = _block_count(data, pos)
    return tuple(items), pos


def _metadata(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """The metadata map; a repeated key keeps its first place and its last value, as in fastavro."""
    values: dict[str, Any] = {}
    count, pos = _block_count(data, pos)
    while count:
        for _ in range(count):
            key, pos = _text(data, pos)
            branch = data[pos]
            value: Any
            if branch == _BRANCH_4:
                value, pos = _text(data, pos + 1)
            elif branch == _BRANCH_2:
                value, pos = _long(data, pos + 1)
            elif branch == _NULL:
                value = None
                pos += 1
            elif branch == _BRANCH_1:
                flag = data[pos + 1]
                if flag > _TRUE:  # fastavro reads any other byte as True
                    raise _UnreadableError
                value = flag == _TRUE
                pos += 2
            elif branch == _BRANCH_3:
                (value,) = _DOUBLE.unpack_from(data, pos + 1)
                pos += 1 + _DOUBLE.size
            else:
                raise _UnreadableError
            values[key] = value
        count, pos = _block_count(data, pos)
    return values, pos


def _error(data: bytes, pos: int) -> tuple[ErrorInfo | None, int]:
    branch = data[pos]
    if branch == _NULL:
        return None, pos + 1
    if branch != _BRANCH_1:
        raise _UnreadableError
    kind, pos = _text(data, pos + 1)
    message, pos = _text(data, pos)
    attempt, pos = _long(data, pos)
    if not kind or not 1 <= attempt <= _INT_MAX:
        raise _UnreadableError
    fields = {"type": kind, "message": message, "attempt": attempt}
    return _model(ErrorInfo, fields, _ERROR_FIELDS), pos


def _read(data: bytes, pos: int) -> AssetEvent:
    event_id = _uuid(data, pos)
    kind = _KINDS[data[pos + _UUID_FIELD]]
    asset, pos = _text(data, pos + _UUID_FIELD + 1)
    partition, pos = _optional_text(data, pos)
    version, pos = _text(data, pos)
    millis, pos = _long(data, pos)
    service, pos = _text(data, pos)
    instance, pos = _text(data, pos)
    code_version, pos = _optional_text(data, pos)
    run_id, pos = _optional_text(data, pos)
    correlation_id, pos = _optional_uuid(data, pos)
    inputs, pos = _inputs(data, pos)
    location, pos = _optional_text(data, pos)
    metadata, pos = _metadata(data, pos)
    error, pos = _error(data, pos)
    if pos != len(data) or not version or not service or not instance:
        raise _UnreadableError
    if (kind is EventKind.FAILED) is (error is None):
        raise _UnreadableError  # a FAILED event without an error, or another kind with one
    if not _valid_keys(asset, partition):
        raise _UnreadableError
    producer = {"service": service, "instance": instance, "code_version": code_version}
    fields = {
        "event_id": event_id,
        "kind": kind,
        "asset": asset,
        "partition": partition,
        "version": version,
        "occurred_at": _EPOCH + timedelta(0, 0, 0, millis),  # days, s, us, ms
        "producer": _model(ProducerInfo, producer, _PRODUCER_FIELDS),
        "run_id": run_id,
        "correlation_id": correlation_id,
        "inputs": inputs,
        "location": location,
        "metadata": metadata,
        "error": error,
    }
    return _model(AssetEvent, fields, _EVENT_FIELDS)


def event_from_body(data: bytes, offset: int) -> AssetEvent | None:
    """The ``AssetEvent`` whose body starts at ``offset``, or ``None`` to take the general path.

    The body must end where ``data`` does. ``None`` means only "not this way": the general path
    decides whether the bytes hold an event at all, and says why not.
    """
    try:
        return _read(data, offset)
    except (_UnreadableError, LookupError, ValueError, ArithmeticError, struct.error):
        # A branch or index this reader does not take, a read past the end, invalid UTF-8 or
        # hex digits, a timestamp beyond datetime's range: the general path decides.
        return None
