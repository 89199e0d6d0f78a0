"""The Avro body of an ``AssetEvent``, written straight from its attributes.

Every service writes one event per run, and the general path (``model_dump`` and fastavro's
``schemaless_writer``) spends most of its time choosing union branches by validating each value
against each branch. The wire layout of the current ``choreo.AssetEvent`` schema is fixed, so the
native core (``choreo._native``) writes it directly: same bytes, a fraction of the work.

It is a shortcut, never the only way: ``event_body`` answers ``None`` for anything outside the
plain shapes it knows (a value of an unexpected type, an integer or text Avro cannot hold, …), and
the codec then takes the general path, which writes the same bytes or raises the same error it
always did. The codec only uses it while the current schema's fingerprint is ``FINGERPRINT``; a
schema change therefore falls back to the general path until the native writer is updated with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from choreo import _native
from choreo.events.models import AssetEvent, ErrorInfo, EventKind, InputVersion, ProducerInfo
from choreo.events.spelled_uuid import SpelledUUID

#: CRC-64-AVRO fingerprint of the ``choreo.AssetEvent`` schema this module writes.
FINGERPRINT = bytes.fromhex("ee178bdd8aeb66a0")

_WRITER = _native.EventWriter(
    EventKind,
    list(EventKind),
    ProducerInfo,
    InputVersion,
    ErrorInfo,
    [SpelledUUID, uuid.UUID],
    datetime(1970, 1, 1, tzinfo=UTC),
)


def event_body(event: AssetEvent) -> bytes | None:
    """The Avro body of ``event`` under the current schema, or ``None`` to take the general path.

    ``None`` means only "not this way": the general path decides whether the event can be
    written at all, and says why not.
    """
    return _WRITER.write(event)
