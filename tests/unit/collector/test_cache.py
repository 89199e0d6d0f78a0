"""The held graph and status snapshot: reloaded when their tables change, rebuilt off the
request path once there is one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from choreo.collector.cache import LineageCache
from choreo.collector.views import Status

from .shop import DAY, NOW, Shop, build_shop


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    built = build_shop(tmp_path / "collector.db")
    yield built
    built.engine.dispose()


def _summary_counts(cache: LineageCache) -> dict[Status, int]:
    return cache.snapshot().rollups["shop.daily_order_summary"].counts


def test_graph_is_reloaded_only_when_its_tables_change(shop: Shop) -> None:
    """Same tables, same graph object; a new declaration, after the refresh interval, a new one."""
    clock = Clock()
    cache = LineageCache(shop.engine, refresh_seconds=5, monotonic=clock)
    first = cache.graph()
    clock.now += 10
    assert cache.graph() is first
    shop.data.declare("shop.extra", inputs=["shop.orders"])
    assert cache.graph() is first  # checked 0 s ago
    clock.now += 10
    reloaded = cache.graph()
    assert reloaded is not first
    assert "shop.extra" in reloaded


def test_a_retired_declaration_reloads_the_graph(shop: Shop) -> None:
    """Retiring a declaration (no edge of its own) still changes the graph's fingerprint."""
    clock = Clock()
    cache = LineageCache(shop.engine, refresh_seconds=0, monotonic=clock)
    assert cache.graph().record("shop.orders").declared
    shop.data.retire("shop.orders")
    assert not cache.graph().record("shop.orders").declared


def test_snapshot_is_rebuilt_in_the_background_and_answers_meanwhile(shop: Shop) -> None:
    """After an ingest, the held snapshot answers at once and a fresh one replaces it soon."""
    clock = Clock()
    cache = LineageCache(shop.engine, refresh_seconds=1, monotonic=clock)
    before = cache.snapshot()
    assert _summary_counts(cache) == {Status.STALE: 2}
    for partition in (DAY, "2026-11-19"):
        shop.data.event(
            "shop.daily_order_summary",
            "s-new",
            partition=partition,
            inputs=[shop.orders_v2, shop.customers],
            at=NOW,
        )
    clock.now += 2
    assert cache.snapshot() is before  # answered from what is held
    deadline = time.monotonic() + 10
    while cache.snapshot() is before and time.monotonic() < deadline:
        clock.now += 2
        time.sleep(0.01)
    assert _summary_counts(cache) == {Status.FRESH: 2}


def test_unchanged_tables_keep_the_snapshot(shop: Shop) -> None:
    """Without ingest, a check finds the same offsets and keeps the snapshot."""
    clock = Clock()
    cache = LineageCache(shop.engine, refresh_seconds=0, monotonic=clock)
    first = cache.snapshot()
    clock.now += 5
    assert cache.snapshot() is first


def test_invalidate_forgets_both(shop: Shop) -> None:
    """After ``invalidate`` the next answers are read afresh."""
    cache = LineageCache(shop.engine)
    graph, snapshot = cache.graph(), cache.snapshot()
    cache.invalidate()
    assert cache.graph() is not graph
    assert cache.snapshot() is not snapshot
