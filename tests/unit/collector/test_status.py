"""Asset status: each of fresh, stale, failed, late and never built arises, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from choreo.collector.graph import AssetRecord
from choreo.collector.millis import from_millis, to_millis
from choreo.collector.status import (
    MAX_REASONS,
    ConsumedInput,
    PartitionRecord,
    duration,
    judge,
    lateness_ms,
    partition_statuses,
    rollup,
    status_of,
    summarise,
)
from choreo.collector.views import Status

HOUR = 3_600_000
T = 1_800_000_000_000


def head(
    asset: str,
    version: str,
    *,
    partition: str | None = None,
    kind: str = "UPDATED",
    at: int = T,
    event_id: str | None = None,
    consumed: tuple[ConsumedInput, ...] = (),
) -> PartitionRecord:
    event_id = event_id or f"id-{asset}-{partition}-{version}"
    updated = kind == "UPDATED"
    return PartitionRecord(
        asset=asset,
        partition=partition,
        event_id=event_id,
        kind=kind,
        version=version,
        occurred_at_ms=at,
        updated_event_id=event_id if updated else None,
        updated_at_ms=at if updated else None,
        updated_version=version if updated else None,
        error="ValueError: boom" if kind == "FAILED" else None,
        consumed=consumed,
    )


def lookup_of(*records: PartitionRecord):  # type: ignore[no-untyped-def]
    table = {(r.asset, r.partition): r for r in records}
    return lambda asset, partition: table.get((asset, partition))


def test_fresh_when_every_consumed_version_is_still_the_newest() -> None:
    """Built from the inputs' newest versions: fresh, no reasons."""
    orders = head("shop.orders", "v2", event_id="o2")
    summary = head("shop.summary", "s1", consumed=(ConsumedInput("shop.orders", None, "v2", "o2"),))
    verdict = judge(summary, lookup_of(orders))
    assert verdict.status is Status.FRESH
    assert verdict.reasons == ()


def test_stale_when_an_input_has_a_newer_version() -> None:
    """The input moved on from the version consumed: stale, naming input and versions."""
    orders = head("shop.orders", "v3", event_id="o3", partition="2026-11-20")
    consumed = (ConsumedInput("shop.orders", "2026-11-20", "v2", "o2"),)
    verdict = judge(head("shop.summary", "s1", consumed=consumed), lookup_of(orders))
    assert verdict.status is Status.STALE
    assert verdict.reasons == (
        "input shop.orders[2026-11-20] has a newer version 'v3' than 'v2', "
        "which shop.summary was built from",
    )


def test_same_version_under_another_event_id_is_not_stale() -> None:
    """A re-announcement of the same version does not make downstream stale."""
    orders = head("shop.orders", "v2", event_id="o2-again")
    consumed = (ConsumedInput("shop.orders", None, "v2", "o2"),)
    assert judge(head("s.x", "1", consumed=consumed), lookup_of(orders)).status is Status.FRESH


def test_versions_are_compared_when_the_input_named_no_event() -> None:
    """Without an input event id, the version alone decides."""
    orders = head("shop.orders", "v3")
    consumed = (ConsumedInput("shop.orders", None, "v2", None),)
    assert judge(head("s.x", "1", consumed=consumed), lookup_of(orders)).status is Status.STALE


def test_unknown_inputs_do_not_make_stale() -> None:
    """An input the collector never saw is no evidence of staleness."""
    consumed = (ConsumedInput("ext.feed", None, "v1", None),)
    assert judge(head("s.x", "1", consumed=consumed), lookup_of()).status is Status.FRESH


def test_failed_when_the_newest_event_failed() -> None:
    """A FAILED newest event wins, and the reason carries the error."""
    verdict = judge(head("s.x", "1", kind="FAILED"), lookup_of())
    assert verdict.status is Status.FAILED
    assert verdict.reasons == ("s.x failed: ValueError: boom",)


def test_never_built_without_an_updated_event() -> None:
    """A partition seen only as OBSERVED has never been built."""
    verdict = judge(head("s.x", "1", kind="OBSERVED"), lookup_of())
    assert verdict.status is Status.NEVER_BUILT


def test_never_built_asset_without_events() -> None:
    """A declared asset with no partition at all is never built, and says who declared it."""
    summary = summarise(rollup(AssetRecord("s.x", service="svc"), []), T)
    assert summary.status is Status.NEVER_BUILT
    assert summary.reasons == ["declared by svc but never built"]
    assert summarise(rollup(AssetRecord("s.y"), []), T).reasons == [
        "seen only as an input; no event yet"
    ]


def test_late_when_older_than_the_declared_freshness() -> None:
    """Past its freshness, a fresh asset is late, and its one partition shows it."""
    record = AssetRecord("s.x", service="svc", freshness_ms=26 * HOUR)
    verdicts = [judge(head("s.x", "1", at=T), lookup_of())]
    state = rollup(record, verdicts)
    on_time = summarise(state, T + 26 * HOUR)
    assert on_time.status is Status.FRESH
    late = summarise(state, T + 30 * HOUR)
    assert late.status is Status.LATE
    assert late.reasons == ["last updated 1d6h ago; declared freshness is 1d2h"]
    assert late.partitions_by_status == {Status.LATE: 1}
    [shown] = partition_statuses(state, verdicts, T + 30 * HOUR)
    assert shown.status is Status.LATE


def test_lateness_of_a_partitioned_asset_follows_its_newest_partition() -> None:
    """Old partitions are not rebuilt, and that is not lateness: the newest update decides."""
    record = AssetRecord("s.x", service="svc", partitioned=True, freshness_ms=26 * HOUR)
    verdicts = [
        judge(head("s.x", "1", partition="2026-01-01", at=T - 300 * HOUR), lookup_of()),
        judge(head("s.x", "1", partition="2026-01-13", at=T), lookup_of()),
    ]
    state = rollup(record, verdicts)
    assert status_of(state, T + HOUR) is Status.FRESH
    assert status_of(state, T + 27 * HOUR) is Status.LATE
    shown = partition_statuses(state, verdicts, T + 27 * HOUR)
    assert [p.partition for p in shown] == ["2026-01-13", "2026-01-01"]
    assert {p.status for p in shown} == {Status.FRESH}


def test_asset_takes_its_worst_partition_failed_before_stale() -> None:
    """Failed beats stale beats late; counts say how many partitions have each."""
    orders = head("shop.orders", "v3", event_id="o3")
    stale = head(
        "s.x", "1", partition="a", consumed=(ConsumedInput("shop.orders", None, "v2", "o2"),)
    )
    failed = head("s.x", "1", partition="b", kind="FAILED")
    fresh = head("s.x", "1", partition="c")
    verdicts = [judge(p, lookup_of(orders)) for p in (stale, failed, fresh)]
    summary = summarise(rollup(AssetRecord("s.x"), verdicts), T)
    assert summary.status is Status.FAILED
    assert summary.partitions_by_status == {Status.STALE: 1, Status.FAILED: 1, Status.FRESH: 1}
    assert summary.reasons[0] == "s.x[b] failed: ValueError: boom"
    assert summary.partitions_total == 3


def test_reasons_are_capped() -> None:
    """A thousand failed partitions give a few reasons and a count, not a thousand lines."""
    verdicts = [
        judge(head("s.x", "1", partition=f"p{i}", kind="FAILED"), lookup_of()) for i in range(50)
    ]
    state = rollup(AssetRecord("s.x"), verdicts)
    assert len(state.reasons) == MAX_REASONS + 1
    assert state.reasons[-1] == "... and more: 50 partitions failed or stale in all"


def test_summary_carries_the_newest_update() -> None:
    """Latest version and times come from the newest UPDATED partition."""
    verdicts = [
        judge(head("s.x", "old", partition="a", at=T - HOUR), lookup_of()),
        judge(head("s.x", "new", partition="b", at=T), lookup_of()),
    ]
    summary = summarise(rollup(AssetRecord("s.x"), verdicts), T)
    assert summary.latest_version == "new"
    assert summary.last_updated_at == from_millis(T)


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "0s"),
        (45_000, "45s"),
        (720_000, "12m"),
        (HOUR, "1h"),
        (90 * 60_000, "1h30m"),
        (50 * HOUR, "2d2h"),
        (48 * HOUR, "2d"),
    ],
)
def test_durations_read_short(millis: int, text: str) -> None:
    """Durations in reasons are short: 45s, 12m, 1h30m, 2d2h."""
    assert duration(millis) == text


def test_millis_round_trip() -> None:
    """Epoch milliseconds and aware datetimes convert exactly both ways."""
    moment = datetime(2026, 11, 20, 6, 1, 2, 345_000, tzinfo=UTC)
    assert from_millis(to_millis(moment)) == moment


def test_lateness_needs_a_deadline_and_an_update() -> None:
    """No freshness or no update: never late."""
    assert lateness_ms(None, T, T + 100 * HOUR) == 0
    assert lateness_ms(HOUR, None, T) == 0
    assert lateness_ms(HOUR, T, T + 3 * HOUR) == 2 * HOUR
