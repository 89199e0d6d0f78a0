"""The records choreo puts on the wire, as frozen pydantic models.

``schemas/*.avsc`` is the single source of truth for the wire format; these models mirror it field
for field (a unit test fails when they drift apart) so that Python code gets validation and types
while any Avro library can still read the bytes from the ``.avsc`` alone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from choreo.events.keys import AssetKey, PartitionKey

MetadataValue = bool | int | float | str | None
"""Typed metadata values: Avro ``[null, boolean, long, double, string]``."""

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _utc_millis(value: datetime) -> datetime:
    """Normalise to aware UTC at millisecond precision, the resolution of ``timestamp-millis``.

    Every decoded timestamp is already that (fastavro gives UTC milliseconds), so it is returned
    as it is rather than converted to itself.
    """
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (e.g. datetime.now(UTC))")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


UtcMillis = Annotated[datetime, AfterValidator(_utc_millis)]


def _check_metadata(values: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
    for key, value in values.items():
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not (LONG_MIN <= value <= LONG_MAX)
        ):
            raise ValueError(f"metadata {key!r}={value} does not fit a 64-bit long")
    return values


Metadata = Annotated[dict[str, MetadataValue], AfterValidator(_check_metadata)]


def now_utc() -> datetime:
    """The current time, already at the precision the wire keeps."""
    return _utc_millis(datetime.now(UTC))


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventKind(StrEnum):
    """What happened to an asset (partition)."""

    UPDATED = "UPDATED"
    FAILED = "FAILED"
    CHECKED = "CHECKED"
    OBSERVED = "OBSERVED"


class ProducerInfo(_Record):
    """Who wrote an event: the service, its instance, and the code version that ran."""

    service: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    code_version: str | None = None


class InputVersion(_Record):
    """One exact input version an output was built from."""

    asset: AssetKey
    partition: PartitionKey | None = None
    version: str = Field(min_length=1)
    event_id: uuid.UUID | None = None


class ErrorInfo(_Record):
    """Why an update failed, for ``FAILED`` events."""

    type: str = Field(min_length=1)
    message: str
    attempt: int = Field(default=1, ge=1, le=2**31 - 1)


class AssetEvent(_Record):
    """Something happened to one asset (partition): the record on ``<prefix>asset.<key>``."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    kind: EventKind = EventKind.UPDATED
    asset: AssetKey
    partition: PartitionKey | None = None
    version: str = Field(min_length=1)
    occurred_at: UtcMillis = Field(default_factory=now_utc)
    producer: ProducerInfo
    run_id: str | None = None
    correlation_id: uuid.UUID | None = None
    inputs: tuple[InputVersion, ...] = ()
    location: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _error_matches_kind(self) -> Self:
        if self.kind is EventKind.FAILED and self.error is None:
            raise ValueError("a FAILED event needs an error (type and message)")
        if self.kind is not EventKind.FAILED and self.error is not None:
            raise ValueError(f"only FAILED events carry an error, not {self.kind.value}")
        return self

    @property
    def message_key(self) -> str:
        """The Kafka key: the partition key, or the asset key when unpartitioned."""
        return self.partition if self.partition is not None else self.asset


class AssetDeclared(_Record):
    """What a service says about an asset it owns when it starts: the graph before any run."""

    asset: AssetKey
    service: str = Field(min_length=1)
    inputs: tuple[AssetKey, ...] = ()
    trigger: str = "eager"
    partitioned: bool = False
    freshness_ms: int | None = Field(default=None, ge=1)
    owner: str | None = None
    description: str | None = None
    code_version: str | None = None
    declared_at: UtcMillis = Field(default_factory=now_utc)
    producer: ProducerInfo
    metadata: Metadata = Field(default_factory=dict)


class AssetRequest(_Record):
    """A request to rebuild one asset partition regardless of its trigger (backfills too)."""

    request_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    asset: AssetKey
    partition: PartitionKey | None = None
    requested_at: UtcMillis = Field(default_factory=now_utc)
    requested_by: str = Field(min_length=1)
    reason: str | None = None

    @property
    def message_key(self) -> str:
        """The Kafka key: the partition key, or the asset key when unpartitioned."""
        return self.partition if self.partition is not None else self.asset
