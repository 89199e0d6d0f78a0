"""Lineage queries over a SQLite collector database: statuses, pages, walks, provenance, export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from choreo.collector import provenance
from choreo.collector.queries import LineageQueries
from choreo.collector.views import EdgeKind, Status
from choreo.errors import InvalidInputError, UnknownAssetError, UnknownEventError

from .lineage_data import T0
from .shop import DAY, NOW, Shop, build_shop


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    built = build_shop(tmp_path / "collector.db")
    yield built
    built.engine.dispose()


@pytest.fixture
def queries(shop: Shop) -> LineageQueries:
    return LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=0)


def test_every_status_arises(queries: LineageQueries) -> None:
    """Fresh, late, stale, failed and never built, each with the asset that shows it."""
    statuses = {s.asset: s.status for s in queries.assets().items}
    assert statuses == {
        "ext.prices": Status.FRESH,
        "shop.customers": Status.LATE,
        "shop.daily_order_summary": Status.STALE,
        "shop.orders": Status.FRESH,
        "shop.predicted_orders": Status.FAILED,
        "shop.report": Status.NEVER_BUILT,
    }


def test_summaries_carry_reasons_and_declared_facts(queries: LineageQueries) -> None:
    """A stale asset names the input that moved on; declared owner and freshness are shown."""
    summary = queries.asset("shop.daily_order_summary").summary
    assert summary.reasons[0] == (
        "input shop.orders has a newer version 'o2' than 'o1', "
        "which shop.daily_order_summary[2026-11-20] was built from"
    )
    assert summary.owner == "team-sales"
    assert summary.freshness_seconds == 26 * 3600
    assert summary.partitions_total == 2
    assert summary.partitions_by_status == {Status.STALE: 2}
    assert summary.latest_version == "s20"


def test_snapshot_and_detail_judge_alike(queries: LineageQueries, shop: Shop) -> None:
    """The snapshot (judged by the database) and one asset's detail (judged here) agree, on
    partitioned inputs too: same status, reasons, counts and newest version for every asset."""
    data = shop.data
    day_19 = data.event("shop.orders_daily", "d1", partition="2026-11-19", at=T0)
    day_20 = data.event("shop.orders_daily", "d1", partition=DAY, at=T0)
    for input_id, partition in ((day_19, "2026-11-19"), (day_20, DAY)):
        data.event("shop.daily_totals", "t1", partition=partition, inputs=[input_id], at=T0)
    data.event("shop.orders_daily", "d2", partition=DAY, at=NOW - timedelta(minutes=1))
    data.event("shop.orders_daily", "d1", partition="2026-11-19", at=NOW)  # same version again
    queries.refresh()
    for listed in queries.assets().items:
        exact = queries.asset(listed.asset).summary
        assert listed == exact, listed.asset
    totals = queries.asset("shop.daily_totals").summary
    assert totals.partitions_by_status == {Status.STALE: 1, Status.FRESH: 1}
    assert totals.reasons == [
        "input shop.orders_daily[2026-11-20] has a newer version 'd2' than 'd1', "
        "which shop.daily_totals[2026-11-20] was built from"
    ]


def test_status_filter_search_and_pagination(queries: LineageQueries) -> None:
    """Filter by status, search key/service/owner, and page with limit and offset."""
    assert [s.asset for s in queries.assets(status=Status.FAILED).items] == [
        "shop.predicted_orders"
    ]
    assert [s.asset for s in queries.assets(search="TEAM-RAW").items] == [
        "shop.customers",
        "shop.orders",
    ]
    first = queries.assets(limit=2)
    second = queries.assets(limit=2, offset=2)
    assert (first.total, first.limit, first.offset) == (6, 2, 0)
    assert [s.asset for s in first.items] == ["ext.prices", "shop.customers"]
    assert [s.asset for s in second.items] == ["shop.daily_order_summary", "shop.orders"]
    assert queries.assets(offset=100).items == []
    assert queries.assets(status=Status.FRESH, limit=1, offset=1).total == 2


@pytest.mark.parametrize(
    ("limit", "offset"), [(-1, 0), (1001, 0), (10**9, 0), (1, -1), (1, 10**12)]
)
def test_page_bounds_are_enforced(queries: LineageQueries, limit: int, offset: int) -> None:
    """Limits past 1000 or negative, and absurd offsets, are usage errors."""
    with pytest.raises(InvalidInputError, match="between"):
        queries.assets(limit=limit, offset=offset)


def test_asset_detail_has_declaration_partitions_and_history(
    queries: LineageQueries, shop: Shop
) -> None:
    """Detail: the declaration with its inputs, every partition judged, events newest first."""
    detail = queries.asset("shop.daily_order_summary", history_limit=1)
    assert detail.declaration is not None
    assert detail.declaration.inputs == ["shop.customers", "shop.orders"]
    assert detail.declaration.partitioned
    assert [(p.partition, p.status) for p in detail.partitions] == [
        (DAY, Status.STALE),
        ("2026-11-19", Status.STALE),
    ]
    assert detail.history.total == 2
    [newest] = detail.history.items
    assert newest.event_id == shop.summary_20
    assert newest.metadata == {"rows": 1200}
    assert newest.inputs == [
        {"asset": "shop.orders", "partition": None, "version": "o1", "event_id": shop.orders_v1},
        {"asset": "shop.customers", "partition": None, "version": "c1", "event_id": shop.customers},
    ]
    older = queries.asset("shop.daily_order_summary", history_limit=1, history_offset=1)
    assert [e.event_id for e in older.history.items] == [shop.summary_19]


def test_failed_asset_detail_shows_the_error(queries: LineageQueries) -> None:
    """The failed partition's reason carries the error type and message."""
    detail = queries.asset("shop.predicted_orders")
    assert detail.summary.status is Status.FAILED
    assert detail.partitions[0].reasons == ["shop.predicted_orders failed: ValueError: no rows"]
    assert detail.history.items[0].error == {
        "type": "ValueError",
        "message": "no rows",
        "attempt": 1,
    }


def test_undeclared_and_never_built_assets_have_details(queries: LineageQueries) -> None:
    """Seen only in events: no declaration. Declared but never built: no partitions."""
    assert queries.asset("ext.prices").declaration is None
    report = queries.asset("shop.report")
    assert report.partitions == []
    assert report.summary.reasons == ["declared by reports but never built"]


def test_unknown_and_malformed_assets_are_refused(queries: LineageQueries) -> None:
    """An unknown key is UnknownAssetError; a malformed one is a usage error."""
    with pytest.raises(UnknownAssetError, match=r"shop\.nothing"):
        queries.asset("shop.nothing")
    with pytest.raises(InvalidInputError):
        queries.upstream("Not A Key")


def test_upstream_and_downstream_to_a_depth(queries: LineageQueries) -> None:
    """Walks give distances and edges with their kinds; depth bounds them."""
    up = queries.upstream("shop.predicted_orders", depth=1)
    assert up.nodes == {"shop.predicted_orders": 0, "shop.daily_order_summary": 1, "ext.prices": 1}
    kinds = {(e.upstream, e.downstream): e.kind for e in up.edges}
    assert kinds == {
        ("shop.daily_order_summary", "shop.predicted_orders"): EdgeKind.BOTH,
        ("ext.prices", "shop.predicted_orders"): EdgeKind.OBSERVED,
    }
    down = queries.downstream("shop.orders", depth=50)
    assert down.nodes == {
        "shop.orders": 0,
        "shop.daily_order_summary": 1,
        "shop.predicted_orders": 2,
        "shop.report": 3,
    }
    assert ("shop.predicted_orders", "shop.report", EdgeKind.DECLARED) in {
        (e.upstream, e.downstream, e.kind) for e in down.edges
    }


@pytest.mark.parametrize("depth", [-1, 51, 10**9])
def test_depth_bounds_are_enforced(queries: LineageQueries, depth: int) -> None:
    """Depth is 0..50."""
    with pytest.raises(InvalidInputError, match="depth"):
        queries.downstream("shop.orders", depth=depth)


def test_impact_lists_downstream_with_owners_and_status(queries: LineageQueries) -> None:
    """Who a change to the orders affects: nearest first, with owner and current status."""
    impact = [(e.asset, e.distance, e.owner, e.status) for e in queries.impact("shop.orders")]
    assert impact == [
        ("shop.daily_order_summary", 1, "team-sales", Status.STALE),
        ("shop.predicted_orders", 2, "team-ml", Status.FAILED),
        ("shop.report", 3, None, Status.NEVER_BUILT),
    ]


def test_provenance_is_the_tree_of_exact_input_versions(
    queries: LineageQueries, shop: Shop
) -> None:
    """The forecast was built from summary s20 (from orders o1 and customers c1) and prices p1,
    the last matched by version since its input named no event."""
    tree = queries.provenance(shop.forecast_ok)
    assert (tree.asset, tree.version, tree.kind) == ("shop.predicted_orders", "f1", "UPDATED")
    summary, prices = tree.inputs
    assert (summary.event_id, summary.partition, summary.version) == (shop.summary_20, DAY, "s20")
    assert [(i.asset, i.version, i.event_id) for i in summary.inputs] == [
        ("shop.orders", "o1", shop.orders_v1),
        ("shop.customers", "c1", shop.customers),
    ]
    assert (prices.asset, prices.event_id, prices.occurred_at) == (
        "ext.prices",
        shop.prices,
        T0 + timedelta(minutes=1),
    )
    assert not tree.truncated


def test_provenance_depth_cuts_and_marks_the_tree(queries: LineageQueries, shop: Shop) -> None:
    """At depth 1 the summary's own inputs are left out and it is marked truncated."""
    tree = queries.provenance(shop.forecast_ok, depth=1)
    summary, prices = tree.inputs
    assert summary.inputs == []
    assert summary.truncated
    assert not prices.truncated
    root_only = queries.provenance(shop.forecast_ok, depth=0)
    assert root_only.inputs == []
    assert root_only.truncated


def test_provenance_is_cut_at_the_node_limit(
    queries: LineageQueries, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the node limit the tree stops growing, and where it stopped is marked truncated."""
    monkeypatch.setattr(provenance, "MAX_NODES", 2)
    tree = queries.provenance(shop.forecast_ok)
    summary, prices = tree.inputs
    assert summary.inputs == []
    assert summary.truncated
    assert prices.inputs == []


def test_provenance_keeps_inputs_never_seen_as_events(queries: LineageQueries, shop: Shop) -> None:
    """An input version with no stored event is a leaf without event id or time."""
    lone = shop.data.event("shop.orders", "o3", inputs=[("vendor.feed", None, "x9", None)], at=NOW)
    [leaf] = queries.provenance(lone).inputs
    assert (leaf.asset, leaf.version, leaf.event_id, leaf.kind, leaf.occurred_at) == (
        "vendor.feed",
        "x9",
        None,
        None,
        None,
    )


def test_unknown_and_malformed_event_ids(queries: LineageQueries) -> None:
    """An unknown UUID is UnknownEventError; anything else is a usage error."""
    with pytest.raises(UnknownEventError):
        queries.provenance("00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidInputError, match="UUID"):
        queries.event("not-a-uuid")


def test_stale_lists_only_stale_assets(queries: LineageQueries) -> None:
    """``stale()`` is the stale assets, with their reasons."""
    assert [s.asset for s in queries.stale()] == ["shop.daily_order_summary"]


def test_graph_view_has_every_asset_and_edge(queries: LineageQueries) -> None:
    """The whole graph: six nodes with statuses, declared and observed edges."""
    view = queries.graph()
    assert len(view.nodes) == 6
    assert {(e.upstream, e.downstream) for e in view.edges} == {
        ("shop.orders", "shop.daily_order_summary"),
        ("shop.customers", "shop.daily_order_summary"),
        ("shop.daily_order_summary", "shop.predicted_orders"),
        ("ext.prices", "shop.predicted_orders"),
        ("shop.predicted_orders", "shop.report"),
    }


def test_events_filter_by_partition_and_kind(queries: LineageQueries, shop: Shop) -> None:
    """One asset's events, narrowed to a partition or a kind."""
    assert [
        e.event_id for e in queries.events("shop.daily_order_summary", partition=DAY).items
    ] == [shop.summary_20]
    failed = queries.events("shop.predicted_orders", kind="failed")
    assert [e.event_id for e in failed.items] == [shop.forecast_failed]
    with pytest.raises(InvalidInputError, match="kind"):
        queries.events("shop.orders", kind="EXPLODED")


def test_openlineage_export_uses_the_declaration(queries: LineageQueries, shop: Shop) -> None:
    """The OpenLineage event names the job after the producer and carries the owner."""
    body = queries.openlineage(shop.summary_20)
    assert body["job"]["name"] == "sales-summary/shop.daily_order_summary"
    assert body["outputs"][0]["facets"]["ownership"]["owners"] == [{"name": "team-sales"}]
    assert [d["name"] for d in body["inputs"]] == ["shop.orders", "shop.customers"]


def test_new_events_show_once_the_collector_ingested_them(shop: Shop) -> None:
    """Held answers trail the tables by at most ``refresh_seconds``; ``refresh()`` forces it."""
    held = LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=3600)
    assert [s.asset for s in held.stale()] == ["shop.daily_order_summary"]
    shop.data.event(
        "shop.daily_order_summary",
        "s21",
        partition=DAY,
        inputs=[shop.orders_v2, shop.customers],
        at=NOW,
    )
    shop.data.event(
        "shop.daily_order_summary",
        "s22",
        partition="2026-11-19",
        inputs=[shop.orders_v2, shop.customers],
        at=NOW,
    )
    assert [s.asset for s in held.stale()] == ["shop.daily_order_summary"]
    held.refresh()
    assert held.stale() == []
    live = LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=0)
    assert live.stale() == []


def test_new_assets_are_found_without_waiting(shop: Shop) -> None:
    """An asset unknown to the held graph is looked up again before being called unknown."""
    held = LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=3600)
    held.upstream("shop.orders")
    shop.data.declare("shop.new_thing", inputs=["shop.orders"])
    assert held.upstream("shop.new_thing", depth=1).nodes == {"shop.new_thing": 0, "shop.orders": 1}


def test_accepts_the_store_instead_of_an_engine(shop: Shop) -> None:
    """Anything with an ``engine`` (the collector's store) will do."""

    class Store:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine

    assert LineageQueries(Store(shop.engine)).engine is shop.engine
