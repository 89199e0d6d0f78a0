"""A stand-in of the collector's read API, for driving the web page when the real API is not
importable.

It answers the endpoints the page calls with the views of ``choreo.collector.views``, built
from a ``Lineage`` (declarations and events as on the wire). Statuses and their reasons are
stated by the ``Lineage``, not computed: that is the query layer's job, pinned by its own tests.
It sends an ``ETag`` on ``/api/graph`` and answers a matching ``If-None-Match`` with 304.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from choreo.collector.views import (
    AssetDetail,
    AssetSummary,
    Declaration,
    Edge,
    EdgeKind,
    EventView,
    GraphView,
    ImpactEntry,
    Neighbourhood,
    Page,
    PartitionStatus,
    ProvenanceNode,
    Status,
)
from choreo.events.models import AssetDeclared, AssetEvent, EventKind

from .lineage_examples import Lineage


def event_view(e: AssetEvent) -> EventView:
    """The API's view of one event."""
    return EventView(
        event_id=str(e.event_id),
        kind=e.kind.value,
        asset=e.asset,
        partition=e.partition,
        version=e.version,
        occurred_at=e.occurred_at,
        producer_service=e.producer.service,
        producer_instance=e.producer.instance,
        code_version=e.producer.code_version,
        run_id=e.run_id,
        correlation_id=str(e.correlation_id) if e.correlation_id else None,
        location=e.location,
        metadata=dict(e.metadata),
        error=e.error.model_dump() if e.error else None,
        inputs=[
            {
                "asset": i.asset,
                "partition": i.partition,
                "version": i.version,
                "event_id": str(i.event_id) if i.event_id else None,
            }
            for i in e.inputs
        ],
    )


def declaration_view(d: AssetDeclared) -> Declaration:
    """The API's view of one declaration."""
    return Declaration(
        service=d.service,
        owner=d.owner,
        description=d.description,
        inputs=list(d.inputs),
        trigger=d.trigger,
        partitioned=d.partitioned,
        freshness_seconds=d.freshness_ms / 1000 if d.freshness_ms else None,
        code_version=d.code_version,
        declared_at=d.declared_at,
    )


class StandInQueries:
    """The collector's answers over a ``Lineage`` (which the test may change in between)."""

    def __init__(self, lineage: Lineage) -> None:
        self.lineage = lineage

    def _declarations(self) -> dict[str, AssetDeclared]:
        return {d.asset: d for d in self.lineage.declarations}

    def assets(self) -> list[str]:
        """Every asset key: declared, built or read."""
        keys = {d.asset for d in self.lineage.declarations}
        keys.update(e.asset for e in self.lineage.events)
        for d in self.lineage.declarations:
            keys.update(d.inputs)
        for e in self.lineage.events:
            keys.update(i.asset for i in e.inputs)
        return sorted(keys)

    def edges(self) -> list[Edge]:
        """Declared edges, edges seen in events' inputs, and both."""
        declared = {(i, d.asset) for d in self.lineage.declarations for i in d.inputs}
        observed = {(i.asset, e.asset) for e in self.lineage.events for i in e.inputs}
        edges = []
        for up, down in sorted(declared | observed):
            both = (up, down) in declared and (up, down) in observed
            kind = EdgeKind.BOTH if both else EdgeKind.DECLARED
            if (up, down) not in declared:
                kind = EdgeKind.OBSERVED
            edges.append(Edge(upstream=up, downstream=down, kind=kind))
        return edges

    def history(self, asset: str) -> list[AssetEvent]:
        """The asset's events, newest first."""
        own = [e for e in self.lineage.events if e.asset == asset]
        return sorted(own, key=lambda e: (e.occurred_at, e.event_id), reverse=True)

    def partitions(self, asset: str) -> list[PartitionStatus]:
        """The newest event of each partition."""
        newest: dict[str | None, AssetEvent] = {}
        for e in reversed(self.history(asset)):
            newest[e.partition] = e
        status = self.lineage.statuses.get(asset, Status.NEVER_BUILT)
        return [
            PartitionStatus(
                partition=e.partition,
                status=Status.FAILED if e.kind is EventKind.FAILED else status,
                event_id=str(e.event_id),
                kind=e.kind.value,
                version=e.version,
                occurred_at=e.occurred_at,
            )
            for _, e in sorted(newest.items(), key=lambda item: item[0] or "")
        ]

    def summary(self, asset: str) -> AssetSummary:
        """The asset's line in the graph."""
        history = self.history(asset)
        updated = [e for e in history if e.kind is EventKind.UPDATED]
        declared = self._declarations().get(asset)
        by_status: dict[Status, int] = {}
        partitions = self.partitions(asset)
        for p in partitions:
            by_status[p.status] = by_status.get(p.status, 0) + 1
        return AssetSummary(
            asset=asset,
            status=self.lineage.statuses.get(asset, Status.NEVER_BUILT),
            reasons=self.lineage.reasons.get(asset, []),
            service=declared.service if declared else None,
            owner=declared.owner if declared else None,
            partitioned=declared.partitioned if declared else None,
            freshness_seconds=declared.freshness_ms / 1000
            if declared and declared.freshness_ms
            else None,
            last_event_at=history[0].occurred_at if history else None,
            last_updated_at=updated[0].occurred_at if updated else None,
            latest_version=updated[0].version if updated else None,
            partitions_total=len(partitions),
            partitions_by_status=by_status,
        )

    def graph(self) -> GraphView:
        """The whole product graph."""
        return GraphView(nodes=[self.summary(a) for a in self.assets()], edges=self.edges())

    def detail(self, asset: str, limit: int, offset: int) -> AssetDetail:
        """One asset with a page of its history."""
        history = self.history(asset)
        declared = self._declarations().get(asset)
        return AssetDetail(
            summary=self.summary(asset),
            declaration=declaration_view(declared) if declared else None,
            partitions=self.partitions(asset),
            history=Page[EventView](
                items=[event_view(e) for e in history[offset : offset + limit]],
                total=len(history),
                limit=limit,
                offset=offset,
            ),
        )

    def neighbourhood(self, root: str, direction: str, depth: int) -> Neighbourhood:
        """Breadth-first up- or downstream of ``root``."""
        edges = self.edges()
        nodes = {root: 0}
        found: list[Edge] = []
        queue = deque([root])
        while queue:
            key = queue.popleft()
            if nodes[key] >= depth:
                continue
            for edge in edges:
                near, far = (edge.downstream, edge.upstream)
                if direction == "downstream":
                    near, far = far, near
                if near != key:
                    continue
                found.append(edge)
                if far not in nodes:
                    nodes[far] = nodes[key] + 1
                    queue.append(far)
        return Neighbourhood(root=root, direction=direction, depth=depth, nodes=nodes, edges=found)

    def impact(self, root: str) -> list[ImpactEntry]:
        """Everything downstream of ``root``, nearest first."""
        reach = self.neighbourhood(root, "downstream", len(self.assets()))
        entries = []
        for asset, distance in sorted(reach.nodes.items(), key=lambda item: (item[1], item[0])):
            if asset != root:
                s = self.summary(asset)
                entries.append(
                    ImpactEntry(
                        asset=asset,
                        distance=distance,
                        service=s.service,
                        owner=s.owner,
                        status=s.status,
                    )
                )
        return entries

    def provenance(self, event_id: str, depth: int) -> ProvenanceNode | None:
        """The event and, to ``depth`` levels, the events of the input versions it used."""
        by_id = {str(e.event_id): e for e in self.lineage.events}
        found = by_id.get(event_id)
        return None if found is None else self._provenance(found, depth, by_id)

    def _provenance(
        self, e: AssetEvent, depth: int, by_id: dict[str, AssetEvent]
    ) -> ProvenanceNode:
        inputs = []
        for i in e.inputs if depth > 0 else ():
            source = by_id.get(str(i.event_id))
            if source is None:
                inputs.append(
                    ProvenanceNode(
                        event_id=None,
                        asset=i.asset,
                        partition=i.partition,
                        version=i.version,
                        kind=None,
                        occurred_at=None,
                    )
                )
            else:
                inputs.append(self._provenance(source, depth - 1, by_id))
        return ProvenanceNode(
            event_id=str(e.event_id),
            asset=e.asset,
            partition=e.partition,
            version=e.version,
            kind=e.kind.value,
            occurred_at=e.occurred_at,
            inputs=inputs,
            truncated=depth == 0 and bool(e.inputs),
        )


def _json(body: BaseModel | str, status_code: int = 200) -> Response:
    text = body.model_dump_json() if isinstance(body, BaseModel) else body
    return Response(text, status_code=status_code, media_type="application/json")


def _not_found(what: str) -> Response:
    return _json(f'{{"error": "unknown {what}"}}', 404)


def create_stand_in_app(lineage: Lineage, static_dir: Path, token: str | None = None) -> FastAPI:
    """The collector's read API over ``lineage``, serving the page as the real app does."""
    app = FastAPI()
    q = StandInQueries(lineage)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        authorised = request.headers.get("authorization") == f"Bearer {token}"
        if token is not None and request.url.path.startswith("/api/") and not authorised:
            return Response(
                '{"error": "missing or wrong bearer token"}',
                status_code=401,
                media_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await call_next(request)

    @app.get("/api/graph")
    def graph(request: Request) -> Response:
        body = q.graph().model_dump_json()
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    @app.get("/api/assets/{key}")
    def asset(key: str, history_limit: int = 20, history_offset: int = 0) -> Response:
        if key not in q.assets():
            return _not_found("asset")
        return _json(q.detail(key, history_limit, history_offset))

    @app.get("/api/assets/{key}/upstream")
    def upstream(key: str, depth: int = 3) -> Response:
        return _json(q.neighbourhood(key, "upstream", depth))

    @app.get("/api/assets/{key}/downstream")
    def downstream(key: str, depth: int = 3) -> Response:
        return _json(q.neighbourhood(key, "downstream", depth))

    @app.get("/api/assets/{key}/impact")
    def impact(key: str) -> Response:
        return _json("[" + ",".join(e.model_dump_json() for e in q.impact(key)) + "]")

    @app.get("/api/events/{event_id}/provenance")
    def provenance(event_id: str, depth: int = 10) -> Response:
        node = q.provenance(event_id, depth)
        return _not_found("event") if node is None else _json(node)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(static_dir / "index.html")

    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app
