"""The product graph: edges told apart by origin, walks to a depth, impact with owners."""

from __future__ import annotations

import pytest

from choreo.collector.graph import DOWNSTREAM, UPSTREAM, AssetRecord, LineageGraph
from choreo.collector.views import EdgeKind, Status

RECORDS = [
    AssetRecord("shop.orders", service="ingest", owner="team-raw"),
    AssetRecord("shop.customers", service="ingest", owner="team-raw"),
    AssetRecord("shop.summary", service="sales", owner="team-sales"),
    AssetRecord("shop.forecast", service="ml", owner="team-ml"),
]
DECLARED = [
    ("shop.orders", "shop.summary"),
    ("shop.customers", "shop.summary"),
    ("shop.summary", "shop.forecast"),
]
OBSERVED = [
    ("shop.orders", "shop.summary"),
    ("shop.summary", "shop.forecast"),
    ("shop.orders", "shop.forecast"),
    ("external.prices", "shop.forecast"),
]


@pytest.fixture
def graph() -> LineageGraph:
    return LineageGraph(RECORDS, DECLARED, OBSERVED)


def test_edges_say_whether_declared_observed_or_both(graph: LineageGraph) -> None:
    """An edge in both sources is BOTH; one only declared or only observed keeps that kind."""
    kinds = {(e.upstream, e.downstream): e.kind for e in graph.edges()}
    assert kinds[("shop.orders", "shop.summary")] is EdgeKind.BOTH
    assert kinds[("shop.customers", "shop.summary")] is EdgeKind.DECLARED
    assert kinds[("shop.orders", "shop.forecast")] is EdgeKind.OBSERVED


def test_assets_named_only_by_an_edge_are_part_of_the_graph(graph: LineageGraph) -> None:
    """An input nobody declares is still a node, with an empty record."""
    assert "external.prices" in graph
    assert graph.record("external.prices") == AssetRecord("external.prices")
    assert not graph.record("external.prices").declared
    assert graph.assets() == sorted(graph.assets())
    assert len(graph) == 5


def test_declared_inputs_leave_out_observed_only_edges(graph: LineageGraph) -> None:
    """The declaration's inputs are the declared (or both) edges into the asset."""
    assert graph.declared_inputs("shop.forecast") == ["shop.summary"]
    assert graph.declared_inputs("shop.summary") == ["shop.customers", "shop.orders"]


def test_upstream_walk_gives_shortest_distances_and_the_edges_between(graph: LineageGraph) -> None:
    """Upstream of the forecast: its inputs at 1, theirs at 2, with every edge among them."""
    found = graph.neighbourhood("shop.forecast", UPSTREAM, 5)
    assert found.nodes == {
        "shop.forecast": 0,
        "shop.summary": 1,
        "shop.orders": 1,
        "external.prices": 1,
        "shop.customers": 2,
    }
    assert {(e.upstream, e.downstream) for e in found.edges} == {
        ("shop.orders", "shop.summary"),
        ("shop.customers", "shop.summary"),
        ("shop.summary", "shop.forecast"),
        ("shop.orders", "shop.forecast"),
        ("external.prices", "shop.forecast"),
    }


def test_depth_limits_the_walk(graph: LineageGraph) -> None:
    """Depth 1 stops at direct inputs; depth 0 is the root alone."""
    assert set(graph.neighbourhood("shop.forecast", UPSTREAM, 1).nodes) == {
        "shop.forecast",
        "shop.summary",
        "shop.orders",
        "external.prices",
    }
    alone = graph.neighbourhood("shop.forecast", UPSTREAM, 0)
    assert alone.nodes == {"shop.forecast": 0}
    assert alone.edges == []


def test_downstream_walk(graph: LineageGraph) -> None:
    """Downstream of the orders: the summary and the forecast, both at distance 1."""
    found = graph.neighbourhood("shop.customers", DOWNSTREAM, 3)
    assert found.nodes == {"shop.customers": 0, "shop.summary": 1, "shop.forecast": 2}
    assert found.direction == DOWNSTREAM


def test_cycles_end_the_walk() -> None:
    """A cycle (a misdeclaration) is walked once, not forever."""
    graph = LineageGraph([], [("a.x", "a.y"), ("a.y", "a.x")], [])
    assert graph.distances("a.x", DOWNSTREAM) == {"a.x": 0, "a.y": 1}


def test_unknown_direction_is_refused(graph: LineageGraph) -> None:
    """Only upstream and downstream are directions."""
    with pytest.raises(ValueError, match="direction"):
        graph.distances("shop.orders", "sideways")


def test_impact_lists_everything_downstream_nearest_first_with_owners(graph: LineageGraph) -> None:
    """Impact leaves out the root, sorts by distance then key, and carries owner and status."""
    statuses = {"shop.summary": Status.STALE}
    entries = graph.impact("shop.customers", lambda key: statuses.get(key, Status.FRESH))
    assert [(e.asset, e.distance, e.owner, e.status) for e in entries] == [
        ("shop.summary", 1, "team-sales", Status.STALE),
        ("shop.forecast", 2, "team-ml", Status.FRESH),
    ]


def test_view_holds_every_node_and_edge(graph: LineageGraph) -> None:
    """The JSON view lists the given summaries sorted, and all edges."""
    assert graph.view([]).edges == graph.edges()
