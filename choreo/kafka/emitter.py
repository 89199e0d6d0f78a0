"""``Emitter``: how an existing system (a cron job, a notebook, a dbt post-hook) announces that an
asset changed, without becoming a choreo service.

Every call returns only after the broker acknowledged the event, so "emit returned" means
"downstream will see it". Settings come from ``CHOREO_*`` unless given.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Self

import structlog
from pydantic import ValidationError

from choreo.codec import AvroCodec, headers_for
from choreo.errors import InvalidInputError
from choreo.events import (
    AssetDeclared,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    MetadataValue,
    ProducerInfo,
)
from choreo.events.topics import asset_topic, declarations_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.producer import ConfirmingProducer, Delivered, OutgoingRecord
from choreo.metrics import EmitterMetrics
from choreo.registry import SchemaRegistryClient
from choreo.settings import Settings, load_settings

log = structlog.get_logger(__name__)

#: Subject names under which choreo registers its records (RecordNameStrategy).
EVENT_SUBJECT = "choreo.AssetEvent"
DECLARED_SUBJECT = "choreo.AssetDeclared"


def derive_version(
    asset: str, partition: str | None, location: str | None, metadata: Mapping[str, object]
) -> str:
    """A data version from what an announcement says about the data, when none is given.

    The same location and metadata give the same version, like a content hash would; pass an
    explicit version when the producer knows a better one (a commit, a snapshot id).
    """
    payload = json.dumps([asset, partition, location, dict(metadata)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_instance() -> str:
    """``host:pid``: tells two replicas of one service apart in lineage."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_event(
    asset: str,
    *,
    producer: ProducerInfo,
    kind: EventKind = EventKind.UPDATED,
    partition: str | None = None,
    version: str | None = None,
    location: str | None = None,
    metadata: Mapping[str, MetadataValue] | None = None,
    inputs: Sequence[InputVersion] = (),
    error: ErrorInfo | None = None,
    run_id: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> AssetEvent:
    """Validate the parts of an announcement into an ``AssetEvent``.

    Raises:
        InvalidInputError: a key, partition or field is malformed; the message names it.
    """
    meta = dict(metadata or {})
    try:
        return AssetEvent(
            kind=kind,
            asset=asset,
            partition=partition,
            version=version or derive_version(asset, partition, location, meta),
            producer=producer,
            location=location,
            metadata=meta,
            inputs=tuple(inputs),
            error=error,
            run_id=run_id,
            correlation_id=correlation_id,
        )
    except ValidationError as exc:
        raise InvalidInputError(_first_problem(exc)) from exc


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class Emitter:
    """Announce asset updates and failures, each confirmed by the broker.

    Example:
        >>> with Emitter() as emitter:  # doctest: +SKIP
        ...     emitter.updated("shop.orders", partition="2026-11-20", metadata={"rows": 1200})
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        service: str = "choreo-emit",
        instance: str | None = None,
        code_version: str | None = None,
        timeout: float = 10.0,
        ensure_topics: bool = True,
        metrics: EmitterMetrics | None = None,
    ) -> None:
        """Connect lazily; the first emit creates missing topics unless ``ensure_topics=False``.

        Raises:
            RegistryError: a schema registry is configured and does not answer.
        """
        self.settings = settings if settings is not None else load_settings()
        self.producer_info = ProducerInfo(
            service=service, instance=instance or default_instance(), code_version=code_version
        )
        self.timeout = timeout
        self.metrics = metrics if metrics is not None else EmitterMetrics()
        self._codec = AvroCodec()
        self._ensure = ensure_topics
        self._known_topics: set[str] = set()
        self._schema_ids: dict[str, int] = {}
        if self.settings.schema_registry_url:
            registry = SchemaRegistryClient(
                self.settings.schema_registry_url,
                auth=self.settings.schema_registry_auth,
                timeout=timeout,
            )
            schemas = self._codec.schemas
            self._schema_ids = {
                subject: registry.register(subject, schemas.canonical(subject))
                for subject in (EVENT_SUBJECT, DECLARED_SUBJECT)
            }
        self._producer = ConfirmingProducer(self.settings, timeout=timeout)

    def updated(
        self,
        asset: str,
        *,
        partition: str | None = None,
        location: str | None = None,
        version: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        inputs: Sequence[InputVersion] = (),
        run_id: str | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> AssetEvent:
        """Announce a new version of ``asset`` (partition); returns the acknowledged event."""
        return self.emit(
            build_event(
                asset,
                producer=self.producer_info,
                partition=partition,
                location=location,
                version=version,
                metadata=metadata,
                inputs=inputs,
                run_id=run_id,
                correlation_id=correlation_id,
            )
        )

    def failed(
        self,
        asset: str,
        *,
        error: str,
        error_type: str = "Error",
        attempt: int = 1,
        partition: str | None = None,
        version: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        inputs: Sequence[InputVersion] = (),
        run_id: str | None = None,
    ) -> AssetEvent:
        """Announce that updating ``asset`` (partition) failed; downstream will not run on it."""
        return self.emit(
            build_event(
                asset,
                producer=self.producer_info,
                kind=EventKind.FAILED,
                partition=partition,
                version=version,
                metadata=metadata,
                inputs=inputs,
                run_id=run_id,
                error=ErrorInfo(type=error_type, message=error, attempt=attempt),
            )
        )

    def emit(self, event: AssetEvent) -> AssetEvent:
        """Publish one event and wait for its acknowledgement."""
        self.emit_many([event])
        return event

    def emit_many(self, events: Iterable[AssetEvent]) -> list[Delivered]:
        """Publish a batch; returns once the broker acknowledged every event in it.

        Raises:
            BrokerUnavailableError: not acknowledged within the timeout (nothing is retried
                silently: the caller decides whether to emit again).
            BrokerError: the broker refused an event.
        """
        batch = list(events)
        topics = {asset_topic(self.settings.topic_prefix, e.asset) for e in batch}
        self._ensure_topics(topics, assets={e.asset for e in batch})
        records = [self._record(e) for e in batch]
        with self.metrics.ack_seconds.time():
            try:
                delivered = self._producer.send_all(records)
            except Exception:
                for event in batch:
                    self.metrics.publish_failures.labels(event.asset).inc()
                raise
        for event, where in zip(batch, delivered, strict=True):
            self.metrics.published.labels(event.asset, event.kind.value).inc()
            log.info(
                "event.published",
                asset=event.asset,
                partition=event.partition,
                kind=event.kind.value,
                event_id=str(event.event_id),
                topic=where.topic,
                offset=where.offset,
            )
        return delivered

    def declare(self, declaration: AssetDeclared) -> Delivered:
        """Publish an asset declaration to the compacted declarations topic."""
        topic = declarations_topic(self.settings.topic_prefix)
        self._ensure_topics({topic}, assets=set())
        schema_id = self._schema_ids.get(DECLARED_SUBJECT)
        record = OutgoingRecord(
            topic=topic,
            key=declaration.asset.encode(),
            value=self._codec.encode(declaration, schema_id=schema_id),
            headers=headers_for(declaration, registry_framed=schema_id is not None),
        )
        return self._producer.send_all([record])[0]

    def _record(self, event: AssetEvent) -> OutgoingRecord:
        schema_id = self._schema_ids.get(EVENT_SUBJECT)
        return OutgoingRecord(
            topic=asset_topic(self.settings.topic_prefix, event.asset),
            key=event.message_key.encode(),
            value=self._codec.encode(event, schema_id=schema_id),
            headers=headers_for(event, registry_framed=schema_id is not None),
        )

    def _ensure_topics(self, topics: set[str], assets: set[str]) -> None:
        if not self._ensure or topics <= self._known_topics:
            return
        TopicAdmin(self.settings, timeout=self.timeout).ensure(sorted(assets))
        self._known_topics |= topics | {declarations_topic(self.settings.topic_prefix)}

    def close(self) -> None:
        """Flush what is queued and release the connection."""
        self._producer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
