"""choreo's native core (``native/``): the per-event steps every service takes, compiled."""

import uuid
from collections.abc import Callable
from datetime import datetime, tzinfo

from choreo.events.models import AssetEvent, ErrorInfo, EventKind, InputVersion, ProducerInfo
from choreo.events.spelled_uuid import SpelledUUID

class EventReader:
    """Reads ``AssetEvent`` Avro bodies of the current schema into the models."""

    def __init__(
        self,
        event: type[AssetEvent],
        producer: type[ProducerInfo],
        input: type[InputVersion],
        error: type[ErrorInfo],
        kinds: list[EventKind],
        failed: EventKind,
        spelled: type[SpelledUUID],
        safety_unknown: uuid.SafeUUID,
        utc: tzinfo,
        valid_keys: Callable[[str, str | None], bool],
        /,
    ) -> None: ...
    def read(self, data: bytes | bytearray, offset: int, /) -> AssetEvent | None: ...

class EventWriter:
    """Writes ``AssetEvent`` Avro bodies of the current schema from the models."""

    def __init__(
        self,
        kind_class: type[EventKind],
        kinds: list[EventKind],
        producer: type[ProducerInfo],
        input: type[InputVersion],
        error: type[ErrorInfo],
        uuids: list[type[uuid.UUID]],
        epoch: datetime,
        /,
    ) -> None: ...
    def write(self, event: AssetEvent, /) -> bytes | None: ...

class HeaderWriter:
    """Makes an ``AssetEvent``'s CloudEvents binary-mode Kafka headers."""

    def __init__(
        self,
        kinds: list[EventKind],
        types: list[bytes],
        spec_version: bytes,
        content_types: tuple[bytes, bytes],
        source: Callable[[str, str], bytes],
        utc: tzinfo,
        /,
    ) -> None: ...
    def event(self, event: AssetEvent, registry_framed: bool, /) -> list[tuple[str, bytes]]: ...
