"""An ``AssetEvent`` read straight from its Avro body into the models.

Every service decodes each input event on its loop thread, and the general path (fastavro's
``schemaless_reader`` into dicts, then ``AssetEvent.model_validate``) spends most of its time on
logical types, union branches and validating the dicts it has just built. The wire layout of the
current ``choreo.AssetEvent`` schema is fixed, so the native core (``choreo._native``) reads it
directly and builds the models without pydantic's validation, making the checks validation would
make (keys, non-empty texts, the attempt's range, kind and error agreeing) on the values as it
reads them. The key rules stay here, in Python, with the models that own them.

It is a shortcut, never the only way: ``event_from_body`` answers ``None`` for anything outside
the plain shapes it knows or that fails a check, and the codec then takes the general path, which
reads the same event or raises the ``CodecError`` saying what is wrong. Where fastavro is lenient
(a negative union or enum index, a boolean byte other than 0 or 1, a varint beyond 64 bits, a
negative length, a UUID not in its 36-character form) this reader leaves the bytes to it. The
codec only uses it for bytes written with the current schema, while that schema's fingerprint is
``FINGERPRINT``; a schema change therefore falls back to the general path until the native reader
is updated with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from functools import lru_cache

from choreo import _native
from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key, validate_partition_key
from choreo.events.models import AssetEvent, ErrorInfo, EventKind, InputVersion, ProducerInfo
from choreo.events.spelled_uuid import SpelledUUID

#: CRC-64-AVRO fingerprint of the ``choreo.AssetEvent`` schema this module reads.
FINGERPRINT = bytes.fromhex("ee178bdd8aeb66a0")

#: Key pairs whose check is remembered: a service reads a bounded set of assets and partitions.
_KEYS_KEPT = 4096


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


_READER = _native.EventReader(
    AssetEvent,
    ProducerInfo,
    InputVersion,
    ErrorInfo,
    list(EventKind),
    EventKind.FAILED,
    SpelledUUID,
    uuid.SafeUUID.unknown,
    UTC,
    _valid_keys,
)


def event_from_body(data: bytes, offset: int) -> AssetEvent | None:
    """The ``AssetEvent`` whose body starts at ``offset``, or ``None`` to take the general path.

    The body must end where ``data`` does. ``None`` means only "not this way": the general path
    decides whether the bytes hold an event at all, and says why not.
    """
    return _READER.read(data, offset)
