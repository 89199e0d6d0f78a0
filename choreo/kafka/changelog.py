"""Trigger state in Kafka: a compacted changelog topic per service, a record per output partition.

A shard ``(asset, index)`` lives in changelog partition ``index``, as one record per output
partition keyed ``<asset>/<partition>`` (``<asset>`` for an unpartitioned asset: asset keys never
contain ``/``), holding that partition's slice (``choreo.runtime.slices``). A replica assigned
index ``i`` restores exactly its shards by reading partition ``i`` from the start and merging the
latest slice of each key. A change rewrites only the slices it touched, each a few hundred bytes
whatever the shard's size. No local files: a replica can start anywhere.

Records of the old layout (one record per shard, keyed by the asset) are still read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import structlog

from choreo.errors import CodecError
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.records import position, read_to_end
from choreo.kafka.writer import RecordWriter
from choreo.runtime.effects import SliceKey
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.offsets import Ticket
from choreo.runtime.slices import StoredRecord, decode_record
from choreo.runtime.state import OutputPartition
from choreo.settings import Settings

log = structlog.get_logger(__name__)

ShardKey = tuple[str, int]

#: A slice that could not be written is tried again after this long, doubling up to the cap.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
#: While the loop is busy, changed slices wait up to this long to be written, so a slice that
#: changes again meanwhile costs one record rather than one per change (as Kafka Streams' record
#: cache does until its commit). Their inputs' offsets wait with them: a crash re-reads at most
#: this much more input, whose outputs carry the same ids as before.
WRITE_INTERVAL_SECONDS = 1.0
#: ... and no more than this many slices wait, whatever the interval.
MAX_WAITING = 10_000


def record_key(asset: str, partition: OutputPartition) -> bytes:
    """The changelog key of one output partition's slice."""
    return (asset if partition is None else f"{asset}/{partition}").encode()


#: One encoder for every slice: ``json.dumps`` with options builds a new one per call. A slice is
#: plain data built by ``PartitionSlice.to_dict``, never cyclic, so the cycle check is skipped.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def encode_value(record: dict[str, object]) -> bytes:
    """A slice as the changelog value (compact JSON: internal, versioned by its format)."""
    return _ENCODER.encode(record).encode()


def decode_value(value: bytes) -> StoredRecord:
    """Read a changelog value back.

    Raises:
        CodecError: the value is not a record this version can read.
    """
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"changelog value is not JSON: {exc}") from exc
    return decode_record(data)


class ChangelogReader:
    """Restores shards from the changelog partitions a replica was assigned."""

    def __init__(self, settings: Settings, topic: str, *, timeout: float = 30.0) -> None:
        self.topic = topic
        self.timeout = timeout
        self._consumer = new_consumer(
            consumer_config(settings, f"{topic}.restore", **{"enable.partition.eof": "true"})
        )

    def restore(
        self, indices: Iterable[int], assets: set[str]
    ) -> dict[ShardKey, list[StoredRecord]]:
        """The latest record of every key of ``assets`` in partitions ``indices``, by shard.

        Only the latest value of each key is decoded (compaction may not have removed the older
        ones yet); an unreadable record is logged and left out.
        """
        latest: dict[tuple[int, bytes], bytes | None] = {}
        for message in read_to_end(self._consumer, self.topic, sorted(set(indices)), self.timeout):
            _topic, index, _offset = position(message)
            latest[(index, message.key() or b"")] = message.value()
        found: dict[ShardKey, list[StoredRecord]] = {}
        for (index, key), value in latest.items():
            asset = key.decode(errors="replace").split("/", 1)[0]
            if asset not in assets or value is None:
                continue
            try:
                found.setdefault((asset, index), []).append(decode_value(value))
            except CodecError as exc:
                log.error(  # noqa: TRY400 - the reason is in the message; no traceback wanted
                    "changelog.unreadable",
                    key=key.decode(errors="replace"),
                    index=index,
                    error=str(exc),
                )
        return found

    def close(self) -> None:
        """Release the connection."""
        self._consumer.close()


class ChangelogWriter:
    """Writes the slices the engine changed, each settling the tickets of the records that changed
    it once it is durable.

    A slice is written with its state at the time of writing, so several changes between two
    writes cost one record. Writes happen when the loop is idle, or under load once the oldest
    change waited ``interval`` seconds (``0``: at every flush, as exactly-once mode needs, whose
    transaction must hold the state of the outputs it commits). One that cannot be written goes
    back to the dirty set with its tickets and is tried again after a backoff; its inputs'
    offsets are not committed meanwhile.
    """

    def __init__(
        self,
        topic: str,
        engine: ServiceEngine,
        writer: RecordWriter,
        *,
        interval: float = WRITE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self._interval = interval
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._dirty: dict[SliceKey, list[Ticket]] = {}
        self._held: dict[SliceKey, tuple[float, float]] = {}  # (not before, backoff used)
        self._waiting_since = 0.0  # when the oldest unwritten change was marked

    def mark(self, key: SliceKey, tickets: list[Ticket]) -> None:
        """``key``'s slice changed; ``tickets`` settle once it is written."""
        held = self._dirty.get(key)
        if held is None:
            if not self._dirty:
                self._waiting_since = self._clock()
            self._dirty[key] = list(tickets)
        else:
            held.extend(tickets)

    @property
    def dirty(self) -> int:
        """Slices waiting to be written."""
        return len(self._dirty)

    def flush(self, *, idle: bool = True, force: bool = False) -> None:
        """Write every dirty slice if the loop is ``idle`` or the oldest change waited long
        enough; with ``force``, now, and also those waiting out a retry backoff."""
        if not self._dirty:
            return
        now = self._clock()
        if (
            not (idle or force)
            and now - self._waiting_since < self._interval
            and len(self._dirty) < MAX_WAITING
        ):
            return
        self._waiting_since = now  # what stays (backing off) waits anew
        for key in list(self._dirty):
            backoff = 0.0
            held = self._held.get(key)
            if held is not None:
                not_before, backoff = held
                if not_before > now and not force:
                    continue
                del self._held[key]
            tickets = self._dirty.pop(key)
            piece = self._engine.stored_slice(key)
            if piece is None:
                continue  # revoked: the new owner restores what was last written
            asset, index, partition = key
            self._writer.write(
                self.topic,
                tickets,
                self._on_failure(key, backoff),
                key=record_key(asset, partition),
                value=encode_value(piece.to_dict(asset)),
                partition=index,
            )

    def forget(self, indices: Iterable[int]) -> None:
        """Drop what was waiting for revoked ``indices`` (their tickets are forgotten too)."""
        gone = set(indices)
        for key in [k for k in self._dirty if k[1] in gone]:
            del self._dirty[key]
        for key in [k for k in self._held if k[1] in gone]:
            del self._held[key]

    def clear(self) -> None:
        """Drop everything waiting (after a rewind, nothing of it happened)."""
        self._dirty.clear()
        self._held.clear()

    def _on_failure(self, key: SliceKey, backoff: float) -> Callable[[list[Ticket]], None]:
        def failed(tickets: list[Ticket]) -> None:
            delay = min(RETRY_MAX_SECONDS, backoff * 2) if backoff else RETRY_FIRST_SECONDS
            self._held[key] = (self._clock() + delay, delay)
            self.mark(key, tickets)
            log.warning("changelog.retry_later", key=key, seconds=delay)

        return failed
