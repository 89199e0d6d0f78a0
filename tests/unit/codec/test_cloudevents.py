"""Tests of the CloudEvents Kafka binary-mode headers, read back by the CloudEvents SDK."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from choreo.codec import CloudEventHeaders, headers_for, read_headers
from choreo.codec.cloudevents import Headers, declaration_id
from choreo.events.keys import ASSET_KEY_MAX, ASSET_KEY_RE, PARTITION_KEY_RE
from choreo.events.models import AssetDeclared, AssetEvent, EventKind, ProducerInfo

from .golden.regenerate import DECLARATION as DECLARED
from .golden.regenerate import FAILED_EVENT as FAILED
from .golden.regenerate import UPDATED_EVENT as UPDATED

try:
    from cloudevents.kafka import KafkaMessage, from_binary
except ImportError:  # cloudevents 2.x keeps the 1.x API under cloudevents.v1
    from cloudevents.v1.kafka import KafkaMessage, from_binary

REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")

_R = TypeVar("_R", AssetEvent, AssetDeclared)


def changed(record: _R, **changes: Any) -> _R:
    """A validated copy of ``record`` with some fields changed."""
    return type(record).model_validate({**record.model_dump(), **changes})


def sdk_read(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """The attributes the CloudEvents SDK's Kafka binding reads from the headers."""
    message = KafkaMessage(headers=dict(headers), key=b"key", value=b"\xc3\x01avro")
    event = from_binary(message, data_unmarshaller=lambda value: value)
    assert event.get_data() == b"\xc3\x01avro"
    return {name: event[name] for name in event.get_attributes() if name != "partitionkey"}


def test_updated_event_headers() -> None:
    """An UPDATED event's headers, as the SDK reads them."""
    attributes = sdk_read(headers_for(UPDATED))
    assert attributes == {
        "specversion": "1.0",
        "id": str(UPDATED.event_id),
        "type": "choreo.asset.updated",
        "source": "/choreo/sales-summary/sales-summary-0",
        "subject": "shop.daily_order_summary/2026-11-20",
        "time": "2026-11-20T23:05:07.123Z",
        "datacontenttype": "application/avro",
    }


def test_failed_event_headers() -> None:
    """A FAILED event of an unpartitioned asset has type choreo.asset.failed, subject the asset."""
    attributes = sdk_read(headers_for(FAILED))
    assert attributes["type"] == "choreo.asset.failed"
    assert attributes["subject"] == "shop.predicted_orders"
    assert attributes["id"] == str(FAILED.event_id)
    assert attributes["time"] == "2026-11-21T00:00:00.001Z"


def test_declaration_headers() -> None:
    """A declaration has type choreo.asset.declared and a deterministic id."""
    attributes = sdk_read(headers_for(DECLARED))
    assert attributes["type"] == "choreo.asset.declared"
    assert attributes["subject"] == "shop.daily_order_summary"
    assert attributes["source"] == "/choreo/sales-summary/sales-summary-0"
    assert attributes["time"] == "2026-11-20T08:00:00.000Z"
    assert attributes["id"] == str(declaration_id(DECLARED))
    assert uuid.UUID(attributes["id"]).version == 5


def test_declaration_id_is_deterministic() -> None:
    """The same declaration always gets the same id; another time or asset another id."""
    same = changed(DECLARED)
    later = changed(DECLARED, declared_at=DECLARED.declared_at + timedelta(milliseconds=1))
    other = changed(DECLARED, asset="shop.orders")
    assert declaration_id(same) == declaration_id(DECLARED)
    assert len({declaration_id(DECLARED), declaration_id(later), declaration_id(other)}) == 3


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(kind, f"choreo.asset.{kind.value.lower()}") for kind in EventKind],
)
def test_type_follows_the_event_kind(kind: EventKind, expected: str) -> None:
    """ce_type is choreo.asset.<kind in lower case> for every kind."""
    template = FAILED if kind is EventKind.FAILED else UPDATED
    event = changed(template, kind=kind)
    assert dict(headers_for(event))["ce_type"] == expected.encode()


def test_registry_framed_values_say_so_in_content_type() -> None:
    """content-type tells single-object encoding from Confluent framing."""
    assert dict(headers_for(UPDATED))["content-type"] == b"application/avro"
    framed = dict(headers_for(UPDATED, registry_framed=True))
    assert framed["content-type"] == b"application/vnd.confluent.avro"


def test_source_parts_are_percent_encoded() -> None:
    """Service and instance names with spaces or slashes stay one URI path segment each."""
    producer = ProducerInfo(service="sales summary", instance="pod/7")
    event = changed(UPDATED, producer=producer)
    assert dict(headers_for(event))["ce_source"] == b"/choreo/sales%20summary/pod%2F7"


def test_time_is_utc_with_milliseconds() -> None:
    """ce_time is RFC 3339 in UTC with milliseconds, whatever zone the record came in."""
    event = AssetEvent(
        asset="shop.orders",
        version="1",
        producer=ProducerInfo(service="s", instance="i"),
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert dict(headers_for(event))["ce_time"] == b"2026-01-02T03:04:05.000Z"


def test_core_sdk_binding_validates_the_headers() -> None:
    """The CloudEvents 2.x core binding, which validates attributes, accepts the headers."""
    kafka = importlib.import_module("cloudevents.core.bindings.kafka")
    json_format = importlib.import_module("cloudevents.core.formats.json")
    message = kafka.KafkaMessage(
        headers=dict(headers_for(UPDATED)), key=None, value=b"\xc3\x01avro"
    )
    event = kafka.from_binary(message, json_format.JSONFormat())
    assert event.get_id() == str(UPDATED.event_id)
    assert event.get_type() == "choreo.asset.updated"
    assert event.get_source() == "/choreo/sales-summary/sales-summary-0"
    assert event.get_subject() == "shop.daily_order_summary/2026-11-20"
    assert event.get_time() == UPDATED.occurred_at


def test_read_headers_reads_what_headers_for_writes() -> None:
    """read_headers gives back every attribute headers_for wrote."""
    read = read_headers(headers_for(UPDATED))
    assert read == CloudEventHeaders(
        specversion="1.0",
        id=str(UPDATED.event_id),
        type="choreo.asset.updated",
        source="/choreo/sales-summary/sales-summary-0",
        subject="shop.daily_order_summary/2026-11-20",
        time="2026-11-20T23:05:07.123Z",
        content_type="application/avro",
    )
    assert read.is_complete
    assert read.asset == "shop.daily_order_summary"
    assert read.partition == "2026-11-20"
    assert read.timestamp == UPDATED.occurred_at


def test_read_headers_without_headers() -> None:
    """A message without headers reads as all-None, not an error."""
    empties: tuple[Headers | None, ...] = (None, [], {})
    for empty in empties:
        read = read_headers(empty)
        assert read == CloudEventHeaders()
        assert not read.is_complete
        assert read.asset is None
        assert read.partition is None
        assert read.timestamp is None


def test_read_headers_tolerates_odd_values() -> None:
    """str, None, empty and non-UTF-8 values, other headers and upper-case names are tolerated."""
    read = read_headers(
        [
            ("CE_ID", "abc"),
            ("ce_type", None),
            ("ce_source", b""),
            ("ce_subject", b"shop.orders\xff"),
            ("ce_time", b"yesterday"),
            ("traceparent", b"00-abc"),
            ("ce_id", b"def"),
        ]
    )
    assert read.id == "def"  # the last occurrence wins
    assert read.type is None
    assert read.source is None
    assert read.subject == "shop.orders\ufffd"
    assert read.partition is None
    assert read.timestamp is None
    assert not read.is_complete


def test_read_headers_accepts_a_mapping() -> None:
    """Headers given as a mapping read the same as pairs."""
    assert read_headers(dict(headers_for(FAILED))) == read_headers(headers_for(FAILED))


def test_naive_time_has_no_timestamp() -> None:
    """A ce_time without an offset is not RFC 3339, so it has no timestamp."""
    assert read_headers([("ce_time", b"2026-11-20T10:00:00")]).timestamp is None


@given(
    asset=st.from_regex(ASSET_KEY_RE, fullmatch=True).filter(lambda k: len(k) <= ASSET_KEY_MAX),
    partition=st.none()
    | st.from_regex(PARTITION_KEY_RE, fullmatch=True).filter(lambda p: ".." not in p),
    service=st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
)
def test_subject_splits_back_into_asset_and_partition(
    asset: str, partition: str | None, service: str
) -> None:
    """Asset and partition (even with slashes) come back from the subject; any source is valid."""
    producer = ProducerInfo(service=service, instance="i")
    event = changed(UPDATED, asset=asset, partition=partition, producer=producer)
    headers = headers_for(event)
    read = read_headers(headers)
    assert (read.asset, read.partition) == (asset, partition)
    assert all(name in dict(headers) for name in REQUIRED)
    assert sdk_read(headers)["source"].startswith("/choreo/")
