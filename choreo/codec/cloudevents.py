"""CloudEvents Kafka binary-mode headers for choreo records.

The value stays plain Avro; the headers say, in the CloudEvents vocabulary, what the record is,
who sent it and when. Any CloudEvents-aware consumer, router or trace tool can then route and
index choreo messages without decoding Avro, and choreo's own DLQ and CLI can say what a message
was even when its value cannot be decoded.

Attribute choices:

- ``ce_id``: the event id; for an ``AssetDeclared`` (which has none) a UUIDv5 of asset, service
  and declaration time, so re-sending the same declaration gives the same id.
- ``ce_type``: ``choreo.asset.<kind>`` in lower case (``choreo.asset.updated``,
  ``choreo.asset.failed``, …) and ``choreo.asset.declared``.
- ``ce_source``: ``/choreo/<service>/<instance>``, each part percent-encoded.
- ``ce_subject``: ``<asset>`` or ``<asset>/<partition>``; asset keys never contain ``/``, so the
  first ``/`` separates them even when the partition has its own.
- ``ce_time``: RFC 3339 in UTC with milliseconds, the precision the record keeps.
- ``content-type``: ``application/avro`` for Avro single-object encoding, whose bytes identify
  their own schema; ``application/vnd.confluent.avro`` for Confluent Schema Registry framing,
  which needs the registry to read. (There is no registered media type for either.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from choreo import _native
from choreo.events.models import AssetDeclared, AssetEvent, AssetRequest, EventKind

SPEC_VERSION = "1.0"
TYPE_PREFIX = "choreo.asset."
DECLARED_TYPE = "choreo.asset.declared"
REQUESTED_TYPE = "choreo.asset.requested"
CONTENT_TYPE_SINGLE_OBJECT = "application/avro"
CONTENT_TYPE_CONFLUENT = "application/vnd.confluent.avro"
SOURCE_PREFIX = "/choreo"
#: Namespace of the UUIDv5 ids given to declarations; fixed forever, or the ids would change.
DECLARATION_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:choreo:asset-declared")

#: The Kafka binding prefixes every CloudEvents attribute with this, except ``datacontenttype``.
_ATTRIBUTE_PREFIX = "ce_"
_CONTENT_TYPE = "content-type"
_ENCODING = "utf-8"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_OFFSET = "+00:00"
# Header values that only depend on a few fixed choices, encoded once.
_SPEC_VERSION = SPEC_VERSION.encode(_ENCODING)
_EVENT_TYPES = {kind: (TYPE_PREFIX + kind.value.lower()).encode(_ENCODING) for kind in EventKind}
_REQUESTED_TYPE = REQUESTED_TYPE.encode(_ENCODING)
_DECLARED_TYPE = DECLARED_TYPE.encode(_ENCODING)
_CONTENT_TYPES = {
    True: CONTENT_TYPE_CONFLUENT.encode(_ENCODING),
    False: CONTENT_TYPE_SINGLE_OBJECT.encode(_ENCODING),
}

HeaderValue = bytes | str | None
Headers = Iterable[tuple[str, HeaderValue]] | Mapping[str, HeaderValue]
"""Kafka headers as clients hand them over: ``confluent_kafka`` gives a list of pairs."""


@lru_cache(maxsize=1024)
def _source(service: str, instance: str) -> bytes:
    path = f"{SOURCE_PREFIX}/{quote(service, safe='')}/{quote(instance, safe='')}"
    return path.encode(_ENCODING)


# An AssetEvent's headers are made once per message a service produces, by the native core;
# the percent-encoding of ce_source stays here, in _source.
_EVENT_HEADERS = _native.HeaderWriter(
    list(EventKind),
    [_EVENT_TYPES[kind] for kind in EventKind],
    _SPEC_VERSION,
    (_CONTENT_TYPES[False], _CONTENT_TYPES[True]),
    _source,
    UTC,
)


def _rfc3339(moment: datetime) -> bytes:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    # In UTC the offset isoformat writes is always the trailing "+00:00".
    return (text[: -len(_UTC_OFFSET)] + "Z").encode(_ENCODING)


def declaration_id(declared: AssetDeclared) -> uuid.UUID:
    """The deterministic CloudEvents id of a declaration: same declaration, same id."""
    millis = (declared.declared_at - _EPOCH) // timedelta(milliseconds=1)
    return uuid.uuid5(DECLARATION_ID_NAMESPACE, f"{declared.asset}\n{declared.service}\n{millis}")


def headers_for(
    record: AssetEvent | AssetDeclared | AssetRequest, *, registry_framed: bool = False
) -> list[tuple[str, bytes]]:
    """The CloudEvents binary-mode Kafka headers for a record.

    Args:
        record: The record the message carries.
        registry_framed: Whether the value uses Confluent Schema Registry framing rather than
            Avro single-object encoding; sets ``content-type``.

    Returns:
        ``(name, value)`` pairs, as Kafka clients take them.
    """
    if isinstance(record, AssetEvent):
        return _EVENT_HEADERS.event(record, bool(registry_framed))
    if isinstance(record, AssetRequest):
        event_id = record.request_id
        event_type = _REQUESTED_TYPE
        moment = record.requested_at
        subject = record.asset if record.partition is None else f"{record.asset}/{record.partition}"
        source = _source("requests", record.requested_by)
    else:
        event_id = declaration_id(record)
        event_type = _DECLARED_TYPE
        moment = record.declared_at
        subject = record.asset
        source = _source(record.producer.service, record.producer.instance)
    return [
        ("ce_specversion", _SPEC_VERSION),
        ("ce_id", str(event_id).encode(_ENCODING)),
        ("ce_source", source),
        ("ce_type", event_type),
        ("ce_subject", subject.encode(_ENCODING)),
        ("ce_time", _rfc3339(moment)),
        (_CONTENT_TYPE, _CONTENT_TYPES[bool(registry_framed)]),
    ]


@dataclass(frozen=True, slots=True)
class CloudEventHeaders:
    """The CloudEvents attributes found in a message's headers; ``None`` where absent or empty."""

    specversion: str | None = None
    id: str | None = None
    type: str | None = None
    source: str | None = None
    subject: str | None = None
    time: str | None = None
    content_type: str | None = None

    @property
    def is_complete(self) -> bool:
        """Whether the attributes CloudEvents requires (specversion, id, source, type) are set."""
        return None not in (self.specversion, self.id, self.source, self.type)

    @property
    def asset(self) -> str | None:
        """The asset key named by the subject."""
        return None if self.subject is None else self.subject.partition("/")[0]

    @property
    def partition(self) -> str | None:
        """The partition key named by the subject, if any."""
        if self.subject is None or "/" not in self.subject:
            return None
        return self.subject.partition("/")[2]

    @property
    def timestamp(self) -> datetime | None:
        """``time`` as an aware datetime, or ``None`` if absent or not RFC 3339."""
        if self.time is None:
            return None
        try:
            moment = datetime.fromisoformat(self.time)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None


_FIELDS = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_type": "type",
    "ce_source": "source",
    "ce_subject": "subject",
    "ce_time": "time",
    _CONTENT_TYPE: "content_type",
}


def _text(value: HeaderValue) -> str | None:
    if isinstance(value, bytes):
        value = value.decode(_ENCODING, errors="replace")
    return value or None


def read_headers(headers: Headers | None) -> CloudEventHeaders:
    """Read the CloudEvents attributes from Kafka headers, tolerating anything missing.

    Header names are matched case-insensitively; values may be ``bytes``, ``str`` or ``None``;
    bytes that are not UTF-8 are decoded with replacement characters; when a header repeats,
    the last one wins.

    Args:
        headers: The message's headers: pairs, a mapping, or ``None`` for a message without any.

    Returns:
        The attributes found.
    """
    if headers is None:
        return CloudEventHeaders()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str | None] = {}
    for name, value in pairs:
        field = _FIELDS.get(name.lower())
        if field is not None:
            found[field] = _text(value)
    return CloudEventHeaders(**found)
