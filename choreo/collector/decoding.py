"""What one record of the collector's topics holds, or why it cannot be used.

The declarations topic carries ``AssetDeclared`` records and tombstones; each asset topic carries
that asset's ``AssetEvent`` records. Anything else (bytes that are not Avro, a record of the
wrong type, an event on another asset's topic, a tombstone whose key is no asset key) becomes a
``Rejected`` with the reason, so it is stored and counted instead of stopping the collector.
"""

from __future__ import annotations

from choreo.codec import AvroCodec
from choreo.collector.consumed import Content, Rejected, Retired
from choreo.errors import CodecError, InvalidInputError
from choreo.events import AssetDeclared, AssetEvent, validate_asset_key
from choreo.events.topics import asset_from_topic, declarations_topic


class RecordDecoder:
    """Decode the records of the topics under ``prefix``.

    Args:
        prefix: The topic prefix, e.g. ``choreo.``.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._declarations = declarations_topic(prefix)
        self._codec = AvroCodec()

    def content(self, topic: str, key: bytes | None, value: bytes | None) -> Content:
        """What a record holds, or why it cannot be used."""
        if topic == self._declarations:
            if value is None:  # a tombstone: the asset's declaration is withdrawn
                return self._retirement(key)
            return self._decoded(topic, value, AssetDeclared)
        owner = asset_from_topic(self._prefix, topic)
        if owner is None:
            return Rejected(f"{topic} is no asset's topic (not a valid asset key)")
        record = self._decoded(topic, value, AssetEvent)
        if isinstance(record, AssetEvent) and record.asset != owner:
            return Rejected(f"an event of {record.asset} on {topic}, the topic of {owner}")
        return record

    @staticmethod
    def _retirement(key: bytes | None) -> Retired | Rejected:
        name = (key or b"").decode(errors="replace")
        try:
            return Retired(validate_asset_key(name))
        except InvalidInputError as exc:
            return Rejected(f"tombstone whose key is no asset key: {exc}")

    def _decoded(
        self, topic: str, value: bytes | None, expected: type[AssetEvent | AssetDeclared]
    ) -> Content:
        try:
            record = self._codec.decode(value or b"")
        except CodecError as exc:
            return Rejected(str(exc))
        if not isinstance(record, expected):
            return Rejected(
                f"a {type(record).__name__} on {topic}, which carries {expected.__name__}s"
            )
        return record
