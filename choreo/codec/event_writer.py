"""The Avro body of an ``AssetEvent``, written straight from its attributes.

Every service writes one event per run, and the general path (``model_dump`` and fastavro's
``schemaless_writer``) spends most of its time choosing union branches by validating each value
against each branch. The wire layout of the current ``choreo.AssetEvent`` schema is fixed, so this
module writes it directly: same bytes, a fraction of the work.

It is a shortcut, never the only way: ``event_body`` answers ``None`` for anything outside the
plain shapes it knows (a value of an unexpected type, an integer or text Avro cannot hold, …), and
the codec then takes the general path, which writes the same bytes or raises the same error it
always did. The codec only uses it while the current schema's fingerprint is ``FINGERPRINT``; a
schema change therefore falls back to the general path until this module is updated with it.
"""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

from choreo.events.models import (
    LONG_MAX,
    LONG_MIN,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    ProducerInfo,
)
from choreo.events.spelled_uuid import SpelledUUID

#: CRC-64-AVRO fingerprint of the ``choreo.AssetEvent`` schema this module writes.
FINGERPRINT = bytes.fromhex("ee178bdd8aeb66a0")

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
#: A varint byte holds 7 bits; the top bit says another byte follows.
_MORE = 0x80
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d")
#: Union branch indexes, zig-zag encoded: each fits one byte.
_NULL, _BRANCH_1, _BRANCH_2, _BRANCH_3, _BRANCH_4 = b"\x00", b"\x02", b"\x04", b"\x06", b"\x08"
#: A UUID's canonical text is 36 characters: its length prefix.
_UUID_LENGTH = b"\x48"
_KIND_INDEX = {
    kind: bytes(((index << 1),)) for index, kind in enumerate(EventKind.__members__.values())
}
#: The byte of every long from -64 to 63, the values that fit one byte.
_SMALL_LONGS = {n: bytes((((n << 1) ^ (n >> 63)) & 0xFF,)) for n in range(-64, 64)}
#: The same for the lengths 0 to 63, by index: most texts are shorter than 64 bytes.
_SHORT_LENGTHS = tuple(_SMALL_LONGS[n] for n in range(64))


class _UnsupportedError(Exception):
    """A value this writer leaves to the general path."""


def _long(n: int) -> bytes:
    """A zig-zag varint, as Avro writes ``int`` and ``long``."""
    small = _SMALL_LONGS.get(n)
    if small is not None:
        return small
    if not LONG_MIN <= n <= LONG_MAX:
        raise _UnsupportedError
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= _MORE:
        out.append((z & 0x7F) | _MORE)
        z >>= 7
    out.append(z)
    return bytes(out)


def _text(value: object) -> bytes:
    """An Avro ``string``: its UTF-8 length, then the UTF-8 bytes."""
    if type(value) is not str:
        raise _UnsupportedError
    data = value.encode()  # lone surrogates raise: the general path reports them
    size = len(data)
    return (_SHORT_LENGTHS[size] if size < len(_SHORT_LENGTHS) else _long(size)) + data


def _optional_text(value: object) -> bytes:
    return _NULL if value is None else _BRANCH_1 + _text(value)


def _uuid(value: object) -> bytes:
    kind = type(value)
    if kind is not SpelledUUID and kind is not uuid.UUID:
        raise _UnsupportedError
    return _UUID_LENGTH + str(value).encode()


def _optional_uuid(value: object) -> bytes:
    return _NULL if value is None else _BRANCH_1 + _uuid(value)


def _millis(moment: object) -> bytes:
    """``timestamp-millis`` of an aware datetime, computed as fastavro computes it."""
    if type(moment) is not datetime or moment.tzinfo is None:
        raise _UnsupportedError
    delta = moment - _EPOCH
    return _long((delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000)


def _metadata_value(value: object) -> bytes:
    """A ``[null, boolean, long, double, string]`` value: the branch its Python type picks."""
    kind = type(value)
    if value is None:
        return _NULL
    if kind is bool:
        return b"\x02\x01" if value else b"\x02\x00"
    if kind is int:
        return _BRANCH_2 + _long(value)  # type: ignore[arg-type]
    if kind is float:
        return _BRANCH_3 + _DOUBLE.pack(value)
    return _BRANCH_4 + _text(value)


def _inputs(inputs: object) -> bytes:
    """The ``inputs`` array: one block holding every item, then the empty end block."""
    if type(inputs) is not tuple:
        raise _UnsupportedError
    if not inputs:
        return b"\x00"
    out = bytearray(_long(len(inputs)))
    for item in inputs:
        if type(item) is not InputVersion:
            raise _UnsupportedError
        out += _text(item.asset)
        out += _optional_text(item.partition)
        out += _text(item.version)
        out += _optional_uuid(item.event_id)
    out += b"\x00"
    return bytes(out)


def _metadata(metadata: object) -> bytes:
    """The ``metadata`` map: one block holding every entry, then the empty end block."""
    if type(metadata) is not dict:
        raise _UnsupportedError
    if not metadata:
        return b"\x00"
    out = bytearray(_long(len(metadata)))
    for key, value in metadata.items():
        out += _text(key)
        out += _metadata_value(value)
    out += b"\x00"
    return bytes(out)


def _error(error: object) -> bytes:
    if error is None:
        return _NULL
    if type(error) is not ErrorInfo or type(error.attempt) is not int:
        raise _UnsupportedError
    if not _INT_MIN <= error.attempt <= _INT_MAX:
        raise _UnsupportedError
    return _BRANCH_1 + _text(error.type) + _text(error.message) + _long(error.attempt)


def _write(event: AssetEvent) -> bytes:
    kind = event.kind
    producer = event.producer
    if type(kind) is not EventKind or type(producer) is not ProducerInfo:
        raise _UnsupportedError
    out = bytearray(_uuid(event.event_id))
    out += _KIND_INDEX[kind]
    out += _text(event.asset)
    out += _optional_text(event.partition)
    out += _text(event.version)
    out += _millis(event.occurred_at)
    out += _text(producer.service)
    out += _text(producer.instance)
    out += _optional_text(producer.code_version)
    out += _optional_text(event.run_id)
    out += _optional_uuid(event.correlation_id)
    out += _inputs(event.inputs)
    out += _optional_text(event.location)
    out += _metadata(event.metadata)
    out += _error(event.error)
    return bytes(out)


def event_body(event: AssetEvent) -> bytes | None:
    """The Avro body of ``event`` under the current schema, or ``None`` to take the general path.

    ``None`` means only "not this way": the general path decides whether the event can be
    written at all, and says why not.
    """
    try:
        return _write(event)
    except (_UnsupportedError, AttributeError, ArithmeticError, UnicodeEncodeError):
        # A value of another type, a field model_construct left unset, a datetime that
        # overflows, a lone surrogate: the general path decides.
        return None
