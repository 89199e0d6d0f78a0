"""Whether an asset is fresh, stale, failed, late or never built, and why.

Per partition, from its newest event:

- **failed**: the newest event is ``FAILED``;
- **never built**: no ``UPDATED`` event yet (the asset is declared, or seen as an input);
- **stale**: the newest ``UPDATED`` event was built from an input version that is no longer the
  newest version of that input partition (compared by event id where the input named one, by
  version otherwise);
- **late**: older than the asset's declared freshness at ``now``. Lateness is judged on the asset
  as a whole, from its newest update: old partitions of a daily asset are not rebuilt, and that
  is not lateness. An unpartitioned asset's one partition shows it too;
- **fresh**: none of these.

An asset takes the worst of its partitions, in that order (failed, stale, never built when nothing
was ever built, late, fresh), and keeps the reasons. Pure: ``now`` is passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from choreo.collector.graph import AssetRecord
from choreo.collector.views import AssetSummary, PartitionStatus, Status

#: An asset keeps at most this many reasons, so one asset with a thousand stale partitions does
#: not make a megabyte of JSON; the counts per status still say how many there are.
MAX_REASONS = 10
UPDATED = "UPDATED"
FAILED = "FAILED"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_millis(millis: int) -> datetime:
    """Epoch milliseconds (how the tables store time) as an aware UTC ``datetime``."""
    return EPOCH + timedelta(milliseconds=millis)


def to_millis(value: datetime) -> int:
    """An aware ``datetime`` as epoch milliseconds."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def target(asset: str, partition: str | None) -> str:
    """``asset[partition]``, or ``asset`` when unpartitioned: how reasons name a partition."""
    return asset if partition is None else f"{asset}[{partition}]"


def duration(millis: int) -> str:
    """A short human duration: ``45s``, ``12m``, ``30h``, ``2d3h``."""
    seconds = max(millis, 0) // 1000
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class ConsumedInput:
    """One input version the newest update of a partition was built from."""

    asset: str
    partition: str | None
    version: str
    event_id: str | None


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    """The newest event of one asset partition, and what its newest update was built from."""

    asset: str
    partition: str | None
    event_id: str
    kind: str
    version: str
    occurred_at_ms: int
    updated_event_id: str | None = None
    updated_at_ms: int | None = None
    updated_version: str | None = None
    error: str | None = None
    consumed: tuple[ConsumedInput, ...] = ()


PartitionLookup = Callable[[str, str | None], "PartitionRecord | None"]
"""Finds the record of an input partition, or ``None`` when the collector has none."""


@dataclass(frozen=True, slots=True)
class PartitionVerdict:
    """A partition's status from the data alone; lateness needs a clock and comes later."""

    record: PartitionRecord
    status: Status
    reasons: tuple[str, ...] = ()


def judge(record: PartitionRecord, lookup: PartitionLookup) -> PartitionVerdict:
    """The status of one partition: failed, never built, stale or (for now) fresh."""
    if record.kind == FAILED:
        detail = f": {record.error}" if record.error else ""
        reason = f"{target(record.asset, record.partition)} failed{detail}"
        return PartitionVerdict(record, Status.FAILED, (reason,))
    if record.updated_event_id is None:
        name = target(record.asset, record.partition)
        reason = f"{name} has no UPDATED event yet (newest is {record.kind})"
        return PartitionVerdict(record, Status.NEVER_BUILT, (reason,))
    reasons = []
    for consumed in record.consumed:
        current = lookup(consumed.asset, consumed.partition)
        if (
            current is None
            or current.updated_version is None
            or current.updated_version == consumed.version
            or (consumed.event_id is not None and current.updated_event_id == consumed.event_id)
        ):
            continue
        reasons.append(
            f"input {target(consumed.asset, consumed.partition)} has a newer version "
            f"{current.updated_version!r} than {consumed.version!r}, which "
            f"{target(record.asset, record.partition)} was built from"
        )
    if reasons:
        return PartitionVerdict(record, Status.STALE, tuple(reasons))
    return PartitionVerdict(record, Status.FRESH)


@dataclass(frozen=True, slots=True)
class AssetRollup:
    """An asset's partitions judged and summed up: what a status snapshot keeps per asset."""

    record: AssetRecord
    counts: dict[Status, int]
    reasons: tuple[str, ...]
    partitions_total: int
    unpartitioned: bool
    last_event_at_ms: int | None
    last_updated_at_ms: int | None
    latest_version: str | None


def rollup(record: AssetRecord, verdicts: Iterable[PartitionVerdict]) -> AssetRollup:
    """Sum up an asset's partition verdicts: counts, the first reasons, the newest times."""
    counts: Counter[Status] = Counter()
    reasons: list[str] = []
    total = 0
    unpartitioned = True
    last_event: int | None = None
    last_updated: int | None = None
    latest_version: str | None = None
    for verdict in sorted(verdicts, key=_worst_first):
        part = verdict.record
        total += 1
        counts[verdict.status] += 1
        unpartitioned = unpartitioned and part.partition is None
        if len(reasons) < MAX_REASONS:
            reasons.extend(verdict.reasons[: MAX_REASONS - len(reasons)])
        if last_event is None or part.occurred_at_ms > last_event:
            last_event = part.occurred_at_ms
        if part.updated_at_ms is not None and (
            last_updated is None or part.updated_at_ms > last_updated
        ):
            last_updated, latest_version = part.updated_at_ms, part.updated_version
    problems = counts[Status.FAILED] + counts[Status.STALE]
    if problems > MAX_REASONS:
        reasons.append(f"... and more: {problems} partitions failed or stale in all")
    return AssetRollup(
        record=record,
        counts=dict(counts),
        reasons=tuple(reasons),
        partitions_total=total,
        unpartitioned=unpartitioned and total == 1,
        last_event_at_ms=last_event,
        last_updated_at_ms=last_updated,
        latest_version=latest_version,
    )


def _worst_first(verdict: PartitionVerdict) -> tuple[int, int]:
    return (_RANK[verdict.status], -verdict.record.occurred_at_ms)


_RANK = {
    Status.FAILED: 0,
    Status.STALE: 1,
    Status.NEVER_BUILT: 2,
    Status.LATE: 3,
    Status.FRESH: 4,
}


def lateness_ms(freshness_ms: int | None, last_updated_ms: int | None, now_ms: int) -> int:
    """How far past its freshness deadline an asset is (0 when on time or without one)."""
    if freshness_ms is None or last_updated_ms is None:
        return 0
    return max(0, now_ms - last_updated_ms - freshness_ms)


def status_of(state: AssetRollup, now_ms: int) -> Status:
    """The asset's status at ``now_ms``: its partitions' worst, with lateness applied."""
    if state.counts.get(Status.FAILED):
        return Status.FAILED
    if state.counts.get(Status.STALE):
        return Status.STALE
    if state.last_updated_at_ms is None:
        return Status.NEVER_BUILT
    if lateness_ms(state.record.freshness_ms, state.last_updated_at_ms, now_ms):
        return Status.LATE
    return Status.FRESH


def summarise(state: AssetRollup, now_ms: int) -> AssetSummary:
    """The asset's summary at ``now_ms``: status, reasons, counts and newest times."""
    record = state.record
    counts = dict(state.counts)
    reasons = list(state.reasons)
    status = status_of(state, now_ms)
    late_by = lateness_ms(record.freshness_ms, state.last_updated_at_ms, now_ms)
    if late_by and state.last_updated_at_ms is not None and record.freshness_ms is not None:
        age = duration(now_ms - state.last_updated_at_ms)
        reasons.append(
            f"last updated {age} ago; declared freshness is {duration(record.freshness_ms)}"
        )
    if status is Status.NEVER_BUILT and not reasons:
        reasons.append(
            f"declared by {record.service} but never built"
            if record.declared
            else "seen only as an input; no event yet"
        )
    if late_by and state.unpartitioned and counts.get(Status.FRESH):
        counts[Status.FRESH] -= 1
        counts[Status.LATE] = 1
    return AssetSummary(
        asset=record.asset,
        status=status,
        reasons=reasons,
        service=record.service,
        owner=record.owner,
        partitioned=record.partitioned,
        freshness_seconds=None if record.freshness_ms is None else record.freshness_ms / 1000,
        last_event_at=None
        if state.last_event_at_ms is None
        else from_millis(state.last_event_at_ms),
        last_updated_at=(
            None if state.last_updated_at_ms is None else from_millis(state.last_updated_at_ms)
        ),
        latest_version=state.latest_version,
        partitions_total=state.partitions_total,
        partitions_by_status={key: value for key, value in counts.items() if value},
    )


def partition_statuses(
    state: AssetRollup, verdicts: Iterable[PartitionVerdict], now_ms: int
) -> list[PartitionStatus]:
    """Each partition's status, newest first; an unpartitioned asset's one partition can be late."""
    late = state.unpartitioned and lateness_ms(
        state.record.freshness_ms, state.last_updated_at_ms, now_ms
    )
    shown = []
    for verdict in sorted(
        verdicts, key=lambda v: (-v.record.occurred_at_ms, v.record.partition or "")
    ):
        part = verdict.record
        status, reasons = verdict.status, list(verdict.reasons)
        if late and status is Status.FRESH:
            status = Status.LATE
            reasons.append(f"older than the declared freshness by {duration(late)}")
        shown.append(
            PartitionStatus(
                partition=part.partition,
                status=status,
                event_id=part.event_id,
                kind=part.kind,
                version=part.version,
                occurred_at=from_millis(part.occurred_at_ms),
                reasons=reasons,
            )
        )
    return shown
