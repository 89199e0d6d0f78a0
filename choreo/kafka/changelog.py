"""Trigger state in Kafka: one compacted changelog topic per service, one record per shard.

A shard ``(asset, index)`` is written to partition ``index`` with the asset as key, so a replica
that is assigned index ``i`` restores exactly its shards by reading partition ``i`` from the start
(compaction keeps the latest record per asset). No local files: a replica can start anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from choreo.errors import CodecError
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import position, read_to_end
from choreo.settings import Settings

log = structlog.get_logger(__name__)

ShardKey = tuple[str, int]


def encode_snapshot(snapshot: Mapping[str, Any]) -> bytes:
    """A shard snapshot as the changelog value (compact JSON: internal, versioned by format)."""
    return json.dumps(snapshot, separators=(",", ":"), sort_keys=True).encode()


def decode_snapshot(value: bytes) -> dict[str, Any]:
    """Read a changelog value back.

    Raises:
        CodecError: the value is not a snapshot this version can read.
    """
    try:
        snapshot = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"changelog value is not JSON: {exc}") from exc
    if not isinstance(snapshot, dict) or "state" not in snapshot:
        raise CodecError("changelog value is not a shard snapshot")
    return snapshot


class ChangelogReader:
    """Restores shards from the changelog partitions a replica was assigned."""

    def __init__(self, settings: Settings, topic: str, *, timeout: float = 30.0) -> None:
        self.topic = topic
        self.timeout = timeout
        self._consumer = new_consumer(
            consumer_config(settings, f"{topic}.restore", **{"enable.partition.eof": "true"})
        )

    def restore(self, indices: Iterable[int], assets: set[str]) -> dict[ShardKey, dict[str, Any]]:
        """The latest snapshot of every shard of ``assets`` in partitions ``indices``."""
        found: dict[ShardKey, dict[str, Any]] = {}
        for message in read_to_end(self._consumer, self.topic, sorted(set(indices)), self.timeout):
            _topic, index, _offset = position(message)
            asset = (message.key() or b"").decode()
            value = message.value()
            if asset not in assets or value is None:
                continue
            try:
                found[(asset, index)] = decode_snapshot(value)
            except CodecError as exc:
                log.error(  # noqa: TRY400 - the reason is in the message; no traceback wanted
                    "changelog.unreadable", asset=asset, index=index, error=str(exc)
                )
        return found

    def close(self) -> None:
        """Release the connection."""
        self._consumer.close()
