"""Event models validate on construction and are immutable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from choreo.events import AssetEvent, ErrorInfo, EventKind, ProducerInfo

PRODUCER = ProducerInfo(service="ingest", instance="host:1")


def test_event_defaults_fill_id_time_and_kind() -> None:
    """An event needs only asset, version and producer; id, time and kind are filled in."""
    event = AssetEvent(asset="shop.orders", version="v1", producer=PRODUCER)
    assert event.kind is EventKind.UPDATED
    assert event.occurred_at.tzinfo is UTC
    assert event.message_key == "shop.orders"


def test_partitioned_event_is_keyed_by_partition() -> None:
    """The Kafka key of a partitioned event is its partition, so one partition stays in order."""
    event = AssetEvent(asset="shop.orders", partition="2026-11-20", version="v", producer=PRODUCER)
    assert event.message_key == "2026-11-20"


def test_bad_asset_key_is_refused_in_model() -> None:
    """The model refuses a bad asset key with the key in the message."""
    with pytest.raises(ValidationError, match="Shop Orders"):
        AssetEvent(asset="Shop Orders", version="v", producer=PRODUCER)


def test_failed_needs_error_and_updated_refuses_one() -> None:
    """FAILED events carry an error; other kinds may not."""
    with pytest.raises(ValidationError, match="needs an error"):
        AssetEvent(asset="a", version="v", producer=PRODUCER, kind=EventKind.FAILED)
    with pytest.raises(ValidationError, match="only FAILED"):
        AssetEvent(
            asset="a", version="v", producer=PRODUCER, error=ErrorInfo(type="E", message="m")
        )


def test_timestamps_are_utc_millis() -> None:
    """Times are converted to UTC and cut to milliseconds, the wire's precision."""
    local = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    event = AssetEvent(asset="a", version="v", producer=PRODUCER, occurred_at=local)
    assert event.occurred_at == datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 5000)),
        (datetime(2026, 1, 1, 0, 0, 0, 5999, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 5000)),
        (
            datetime(2026, 1, 1, 1, 0, 0, 5000, tzinfo=timezone(timedelta(hours=1))),
            datetime(2026, 1, 1, 0, 0, 0, 5000),
        ),
        (
            datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=timezone(timedelta(0), "Z")),
            datetime(2026, 1, 1, 0, 0, 0, 5000),
        ),
    ],
    ids=["utc-millis", "utc-micros", "offset", "other-utc-zone"],
)
def test_timestamps_end_as_utc_millis(given: datetime, kept: datetime) -> None:
    """Whatever the zone or precision given, the event holds UTC at millisecond precision."""
    event = AssetEvent(asset="a", version="v", producer=PRODUCER, occurred_at=given)
    assert event.occurred_at.tzinfo is UTC
    assert event.occurred_at.replace(tzinfo=None) == kept


def test_naive_timestamps_are_refused() -> None:
    """A naive datetime is ambiguous and refused."""
    with pytest.raises(ValidationError, match="timezone-aware"):
        AssetEvent(asset="a", version="v", producer=PRODUCER, occurred_at=datetime(2026, 1, 1))


def test_metadata_ints_must_fit_long() -> None:
    """Metadata integers outside the Avro long range are refused."""
    with pytest.raises(ValidationError, match="64-bit"):
        AssetEvent(asset="a", version="v", producer=PRODUCER, metadata={"n": 2**63})


def test_events_are_frozen_and_forbid_extra_fields() -> None:
    """Models are immutable and refuse unknown fields."""
    event = AssetEvent(asset="a", version="v", producer=PRODUCER)
    with pytest.raises(ValidationError):
        event.asset = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        AssetEvent(asset="a", version="v", producer=PRODUCER, colour="red")  # type: ignore[call-arg]
