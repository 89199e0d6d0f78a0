"""The product graph: which asset feeds which, declared and observed, walked to a depth.

Edges come from two places: a service's ``AssetDeclared`` names the inputs it means to read
(known before any run), and every event names the inputs it was built from. Both are kept and told
apart (``EdgeKind``), so an undeclared dependency or a declared input never read shows up.
Pure: the query layer loads rows into these records; nothing here touches SQL or HTTP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from choreo.collector.views import (
    AssetSummary,
    Edge,
    EdgeKind,
    GraphView,
    ImpactEntry,
    Neighbourhood,
    Status,
)

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """What the collector knows about an asset itself: its latest declaration, if any."""

    asset: str
    service: str | None = None
    owner: str | None = None
    description: str | None = None
    partitioned: bool | None = None
    trigger: str | None = None
    freshness_ms: int | None = None
    code_version: str | None = None
    declared_at_ms: int | None = None

    @property
    def declared(self) -> bool:
        """Whether a service has declared the asset (rather than it being seen in events only)."""
        return self.service is not None


class LineageGraph:
    """Assets and the edges between them, with both directions indexed for walking.

    Args:
        records: the assets the collector knows, declared or not.
        declared: ``(upstream, downstream)`` pairs from declarations.
        observed: ``(upstream, downstream)`` pairs from events' inputs.

    An asset named only by an edge (an input nobody declares) is part of the graph all the same.
    """

    def __init__(
        self,
        records: Iterable[AssetRecord],
        declared: Iterable[tuple[str, str]],
        observed: Iterable[tuple[str, str]],
    ) -> None:
        kinds: dict[tuple[str, str], EdgeKind] = dict.fromkeys(declared, EdgeKind.DECLARED)
        for pair in observed:
            kinds[pair] = EdgeKind.BOTH if pair in kinds else EdgeKind.OBSERVED
        self._records = {record.asset: record for record in records}
        self._edges: dict[tuple[str, str], Edge] = {}
        self._down: dict[str, list[str]] = {}
        self._up: dict[str, list[str]] = {}
        for (upstream, downstream), kind in sorted(kinds.items()):
            # Built from the tables' own keys: no validation needed, and 20,000 edges load faster.
            self._edges[upstream, downstream] = Edge.model_construct(
                upstream=upstream, downstream=downstream, kind=kind
            )
            self._down.setdefault(upstream, []).append(downstream)
            self._up.setdefault(downstream, []).append(upstream)
            for key in (upstream, downstream):
                if key not in self._records:
                    self._records[key] = AssetRecord(asset=key)
        self._keys = sorted(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def assets(self) -> list[str]:
        """Every asset key, sorted."""
        return self._keys

    def record(self, key: str) -> AssetRecord:
        """The record of ``key`` (``KeyError`` if the graph does not hold it)."""
        return self._records[key]

    def edges(self) -> list[Edge]:
        """Every edge, sorted by upstream then downstream."""
        return list(self._edges.values())

    def declared_inputs(self, key: str) -> list[str]:
        """The inputs the latest declaration of ``key`` names, sorted."""
        return [
            upstream
            for upstream in self._up.get(key, ())
            if self._edges[upstream, key].kind is not EdgeKind.OBSERVED
        ]

    def distances(self, root: str, direction: str, depth: int | None = None) -> dict[str, int]:
        """Every asset within ``depth`` steps of ``root`` (all when ``None``), with its distance.

        Breadth first, so each asset gets its shortest distance; cycles end the walk, not loop it.
        """
        adjacency = self._adjacency(direction)
        found = {root: 0}
        queue = deque([root])
        while queue:
            key = queue.popleft()
            distance = found[key]
            if depth is not None and distance >= depth:
                continue
            for neighbour in adjacency.get(key, ()):
                if neighbour not in found:
                    found[neighbour] = distance + 1
                    queue.append(neighbour)
        return found

    def neighbourhood(self, root: str, direction: str, depth: int) -> Neighbourhood:
        """``root`` and what lies ``direction`` of it within ``depth`` steps, with the edges.

        The edges are every edge between the assets found: all of them carry data towards the
        root (upstream) or away from it (downstream), including those between two found assets.
        """
        nodes = self.distances(root, direction, depth)
        edges = [
            self._edges[key, downstream]
            for key in nodes
            for downstream in self._down.get(key, ())
            if downstream in nodes
        ]
        edges.sort(key=lambda edge: (edge.upstream, edge.downstream))
        return Neighbourhood(root=root, direction=direction, depth=depth, nodes=nodes, edges=edges)

    def impact(self, root: str, status: Callable[[str], Status]) -> list[ImpactEntry]:
        """Everything downstream of ``root`` (not ``root`` itself), nearest first, with owners
        and ``status(asset)``."""
        found = self.distances(root, DOWNSTREAM)
        del found[root]
        entries = []
        for key, distance in sorted(found.items(), key=lambda item: (item[1], item[0])):
            record = self._records[key]
            entries.append(
                ImpactEntry(
                    asset=key,
                    distance=distance,
                    service=record.service,
                    owner=record.owner,
                    status=status(key),
                )
            )
        return entries

    def view(self, summaries: Iterable[AssetSummary]) -> GraphView:
        """The whole graph as one JSON-ready value: a node per asset, with its status."""
        return GraphView(nodes=sorted(summaries, key=lambda s: s.asset), edges=self.edges())

    def _adjacency(self, direction: str) -> dict[str, list[str]]:
        if direction == UPSTREAM:
            return self._up
        if direction == DOWNSTREAM:
            return self._down
        raise ValueError(f"direction must be {UPSTREAM!r} or {DOWNSTREAM!r}, not {direction!r}")
