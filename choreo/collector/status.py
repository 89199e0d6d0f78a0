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

from choreo.collector.graph import AssetRecord
from choreo.collector.millis import from_millis
from choreo.collector.views import AssetSummary, PartitionStatus, Status

#: An asset keeps at most this many reasons, so one asset with a thousand stale partitions does
#: not make a megabyte of JSON; the counts per status still say how many there are.
MAX_REASONS = 10
UPDATED = "UPDATED"
FAILED = "FAILED"


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
    asset, partition = record.asset, record.partition
    if record.kind == FAILED:
        reason = failed_reason(asset, partition, record.error)
        return PartitionVerdict(record, Status.FAILED, (reason,))
    if record.updated_event_id is None:
        reason = never_built_reason(asset, partition, record.kind)
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
            stale_reason(
                asset,
                partition,
                input_asset=consumed.asset,
                input_partition=consumed.partition,
                consumed=consumed.version,
                current=current.updated_version,
            )
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


class Tally:
    """Sums up one asset's partitions into an ``AssetRollup``: every partition is ``add``-ed,
    and those that are not fresh are also reported as a ``problem``."""

    __slots__ = ("last_event", "last_updated", "latest", "problems", "total", "unpartitioned")

    def __init__(self) -> None:
        self.total = 0
        self.unpartitioned = True
        self.last_event: int | None = None
        self.last_updated: int | None = None
        self.latest: tuple[int, str, str | None] | None = None  # (at, partition, version)
        self.problems: list[tuple[int, int, Status, tuple[str, ...]]] = []

    def add(
        self,
        partition: str | None,
        occurred_at_ms: int,
        updated_at_ms: int | None,
        updated_version: str | None,
    ) -> None:
        """Count one partition and its newest event and update."""
        self.total += 1
        self.unpartitioned = self.unpartitioned and partition is None
        if self.last_event is None or occurred_at_ms > self.last_event:
            self.last_event = occurred_at_ms
        if updated_at_ms is not None:
            newest = (updated_at_ms, partition or "", updated_version)
            if self.latest is None or newest[:2] > self.latest[:2]:
                self.latest = newest
                self.last_updated = updated_at_ms

    def problem(self, status: Status, occurred_at_ms: int, reasons: tuple[str, ...]) -> None:
        """Note a partition that is not fresh, and why."""
        self.problems.append((_RANK[status], -occurred_at_ms, status, reasons))

    def rollup(self, record: AssetRecord) -> AssetRollup:
        """The sum: counts per status (the rest are fresh), worst reasons first, newest times."""
        counts: Counter[Status] = Counter()
        reasons: list[str] = []
        for _, _, status, why in sorted(self.problems, key=lambda p: (p[0], p[1], p[3])):
            counts[status] += 1
            if len(reasons) < MAX_REASONS:
                reasons.extend(why[: MAX_REASONS - len(reasons)])
        fresh = self.total - sum(counts.values())
        if fresh:
            counts[Status.FRESH] = fresh
        problems = counts[Status.FAILED] + counts[Status.STALE]
        if problems > MAX_REASONS:
            reasons.append(f"... and more: {problems} partitions failed or stale in all")
        return AssetRollup(
            record=record,
            counts={status: n for status, n in counts.items() if n},
            reasons=tuple(reasons),
            partitions_total=self.total,
            unpartitioned=self.unpartitioned and self.total == 1,
            last_event_at_ms=self.last_event,
            last_updated_at_ms=self.last_updated,
            latest_version=None if self.latest is None else self.latest[2],
        )


def rollup(record: AssetRecord, verdicts: Iterable[PartitionVerdict]) -> AssetRollup:
    """Sum up an asset's partition verdicts: counts, the first reasons, the newest times."""
    tally = Tally()
    for verdict in verdicts:
        part = verdict.record
        tally.add(part.partition, part.occurred_at_ms, part.updated_at_ms, part.updated_version)
        if verdict.status is not Status.FRESH:
            tally.problem(verdict.status, part.occurred_at_ms, verdict.reasons)
    return tally.rollup(record)


HeadRow = tuple[str, "str | None", str, int, "str | None", "int | None", "str | None"]
"""A partition's newest event: asset, partition, kind, occurred_at_ms, and its newest update's
event id, time and version."""
FailedRow = tuple[str, "str | None", int, "str | None"]
"""A partition whose newest event failed: asset, partition, occurred_at_ms, error."""
StaleRow = tuple[str, int, str, "str | None", str, str]
"""A consumed input that moved on: the consuming update's event id, the input's position,
asset and partition, the version consumed, and the input's newest version."""


def failed_reason(asset: str, partition: str | None, error: str | None) -> str:
    """Why a failed partition is failed."""
    detail = f": {error}" if error else ""
    return f"{target(asset, partition)} failed{detail}"


def never_built_reason(asset: str, partition: str | None, kind: str) -> str:
    """Why a partition that has events is still never built."""
    return f"{target(asset, partition)} has no UPDATED event yet (newest is {kind})"


def stale_reason(
    asset: str,
    partition: str | None,
    *,
    input_asset: str,
    input_partition: str | None,
    consumed: str,
    current: str,
) -> str:
    """Why a partition is stale: one input has moved on."""
    return (
        f"input {target(input_asset, input_partition)} has a newer version {current!r} than "
        f"{consumed!r}, which {target(asset, partition)} was built from"
    )


def rollups_from_rows(
    records: Iterable[AssetRecord],
    heads: Iterable[HeadRow],
    failed: Iterable[FailedRow],
    stale: Iterable[StaleRow],
) -> dict[str, AssetRollup]:
    """Every asset's rollup from rows the database has already judged: each partition's head,
    the failed ones, and the consumed inputs that moved on (what ``judge`` decides one partition
    at a time, for a snapshot of every asset without an object per partition)."""
    known = {record.asset: record for record in records}
    tallies = {key: Tally() for key in known}
    updates: dict[str, tuple[str, str | None, int]] = {}
    for asset, partition, kind, at, updated_id, updated_at, updated_version in heads:
        tally = tallies.get(asset)
        if tally is None:
            continue
        tally.add(partition, at, updated_at, updated_version)
        if updated_at is None and kind != FAILED:
            reason = never_built_reason(asset, partition, kind)
            tally.problem(Status.NEVER_BUILT, at, (reason,))
        if updated_id is not None and kind != FAILED:
            updates[updated_id] = (asset, partition, at)
    for asset, partition, at, error in failed:
        if asset in tallies:
            tallies[asset].problem(Status.FAILED, at, (failed_reason(asset, partition, error),))
    moved: dict[str, list[tuple[int, str]]] = {}
    for event_id, position, in_asset, in_partition, consumed, current in stale:
        owner = updates.get(event_id)
        if owner is None:
            continue
        reason = stale_reason(
            owner[0],
            owner[1],
            input_asset=in_asset,
            input_partition=in_partition,
            consumed=consumed,
            current=current,
        )
        moved.setdefault(event_id, []).append((position, reason))
    for event_id, reasons in moved.items():
        asset, _, at = updates[event_id]
        ordered = tuple(reason for _, reason in sorted(reasons))
        tallies[asset].problem(Status.STALE, at, ordered)
    return {key: tally.rollup(known[key]) for key, tally in tallies.items()}


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
