"""The collector's HTTP API: read-only JSON over the lineage queries, its OpenAPI document,
``/metrics`` and ``/healthz``, and the web page when one is given.

Every endpoint is a GET. Requests with a body or an overlong URL are refused before routing
(413, 414); parameters are bounded (``limit`` <= 1000, ``depth`` <= 50); every refusal is a 4xx
with a JSON ``{"error": ...}``. With a token, each ``/api`` request needs
``Authorization: Bearer <token>`` (compared in constant time); without one the API is open, and
says so in the log when it starts.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from choreo.collector.diagrams import to_dot, to_mermaid
from choreo.collector.metrics import AssetMetrics
from choreo.collector.queries import (
    DEFAULT_DEPTH,
    DEFAULT_HISTORY,
    DEFAULT_LIMIT,
    DEFAULT_PROVENANCE_DEPTH,
    MAX_DEPTH,
    MAX_LIMIT,
    MAX_OFFSET,
    LineageQueries,
)
from choreo.collector.views import (
    AssetDetail,
    AssetSummary,
    EventView,
    GraphView,
    ImpactEntry,
    Neighbourhood,
    Page,
    ProvenanceNode,
    Status,
)
from choreo.errors import InvalidInputError, UnknownAssetError, UnknownEventError
from choreo.events.keys import ASSET_KEY_MAX, ASSET_KEY_RE

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 0
"""Every endpoint is a GET: a request carrying a body is refused (413)."""
MAX_URL_BYTES = 8_192
MAX_SEARCH_LENGTH = 200
DEFAULT_PORT = 8350

Health = Callable[[], dict[str, Any]]
"""Reports the collector's health (e.g. ingest lag); a false ``healthy`` entry answers 503."""


class GraphFormat(StrEnum):
    """How ``/api/graph`` draws the graph."""

    JSON = "json"
    DOT = "dot"
    MERMAID = "mermaid"


AssetKeyPath = Annotated[
    str,
    PathParam(
        description="Asset key, e.g. shop.daily_order_summary",
        pattern=f"^{ASSET_KEY_RE.pattern}$",
        max_length=ASSET_KEY_MAX,
    ),
]
EventIdPath = Annotated[uuid.UUID, PathParam(description="Event id (a UUID)")]
Limit = Annotated[int, Query(ge=0, le=MAX_LIMIT, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
Depth = Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Steps to walk.")]


def _error(status_code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status_code)


class RequestLimits:
    """Refuse, before routing, a request with a body (413) or an overlong URL (414)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_url_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        url_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if url_bytes > self.max_url_bytes:
            response = _error(414, f"the URL is longer than {self.max_url_bytes} bytes")
            await response(scope, receive, send)
            return
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        too_big = chunked and self.max_body_bytes == 0
        if length is not None:
            too_big = too_big or not length.isdigit() or int(length) > self.max_body_bytes
        if too_big:
            limit = (
                "this API takes no request body"
                if self.max_body_bytes == 0
                else f"request bodies are limited to {self.max_body_bytes} bytes"
            )
            response = _error(413, f"{limit}; every endpoint is a GET")
            await response(scope, receive, send)
            return
        await self.app(scope, self._capped(receive), send)

    def _capped(self, receive: Receive) -> Receive:
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(413, "request body too large")
            return message

        return capped


_BEARER = HTTPBearer(auto_error=False, description="The collector's token.")


def _bearer(token: SecretStr) -> Callable[..., None]:
    expected = token.get_secret_value().encode()

    def require(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        given = b"" if credentials is None else credentials.credentials.encode()
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require


def _api(queries: LineageQueries) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.get("/assets", tags=["assets"])
    def list_assets(
        status: Annotated[Status | None, Query(description="Only assets with this status.")] = None,
        search: Annotated[
            str | None,
            Query(max_length=MAX_SEARCH_LENGTH, description="Part of a key, service or owner."),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[AssetSummary]:
        """Assets with their status, sorted by key."""
        return queries.assets(status=status, search=search, limit=limit, offset=offset)

    @api.get("/assets/{key}", tags=["assets"])
    def asset_detail(
        key: AssetKeyPath,
        history_limit: Limit = DEFAULT_HISTORY,
        history_offset: Offset = 0,
    ) -> AssetDetail:
        """One asset: status with reasons, declaration, partitions, newest events."""
        return queries.asset(key, history_limit=history_limit, history_offset=history_offset)

    @api.get("/assets/{key}/events", tags=["assets"])
    def asset_events(
        key: AssetKeyPath,
        partition: Annotated[str | None, Query(max_length=255)] = None,
        kind: Annotated[str | None, Query(max_length=16)] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[EventView]:
        """One asset's events, newest first."""
        return queries.events(key, partition=partition, kind=kind, limit=limit, offset=offset)

    @api.get("/assets/{key}/upstream", tags=["lineage"])
    def upstream(key: AssetKeyPath, depth: Depth = DEFAULT_DEPTH) -> Neighbourhood:
        """What the asset is built from, to a depth."""
        return queries.upstream(key, depth)

    @api.get("/assets/{key}/downstream", tags=["lineage"])
    def downstream(key: AssetKeyPath, depth: Depth = DEFAULT_DEPTH) -> Neighbourhood:
        """What is built from the asset, to a depth."""
        return queries.downstream(key, depth)

    @api.get("/assets/{key}/impact", tags=["lineage"])
    def impact(key: AssetKeyPath) -> list[ImpactEntry]:
        """Everything downstream of the asset, with owners: who a change affects."""
        return queries.impact(key)

    @api.get("/events/{event_id}", tags=["events"])
    def event(event_id: EventIdPath) -> EventView:
        """One event with its inputs."""
        return queries.event(str(event_id))

    @api.get("/events/{event_id}/provenance", tags=["events"])
    def provenance(
        event_id: EventIdPath, depth: Depth = DEFAULT_PROVENANCE_DEPTH
    ) -> ProvenanceNode:
        """The exact input versions behind one event, and theirs, to a depth."""
        return queries.provenance(str(event_id), depth)

    @api.get("/events/{event_id}/openlineage", tags=["events"])
    def openlineage(event_id: EventIdPath) -> dict[str, Any]:
        """One event as an OpenLineage RunEvent."""
        return queries.openlineage(str(event_id))

    @api.get("/stale", tags=["assets"])
    def stale() -> list[AssetSummary]:
        """Assets built from an input version that has since been replaced."""
        return queries.stale()

    @api.get(
        "/graph",
        tags=["lineage"],
        response_model=GraphView,
        responses={
            200: {
                "content": {
                    "text/vnd.graphviz": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                }
            }
        },
    )
    def graph(
        graph_format: Annotated[
            GraphFormat, Query(alias="format", description="json, dot (Graphviz) or mermaid.")
        ] = GraphFormat.JSON,
    ) -> Any:
        """The whole graph: assets coloured by status, edges by how they are known."""
        view = queries.graph()
        if graph_format is GraphFormat.DOT:
            return PlainTextResponse(to_dot(view), media_type="text/vnd.graphviz")
        if graph_format is GraphFormat.MERMAID:
            return PlainTextResponse(to_mermaid(view))
        return view

    return api


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownAssetError)
    @app.exception_handler(UnknownEventError)
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(InvalidInputError)
    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def unprocessable(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it
        problems = [
            {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        message = "; ".join(
            f"{'.'.join(p['loc'][1:]) or p['loc'][0]}: {p['msg']}" for p in problems
        )
        return _error(422, message or "invalid request", detail=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(OperationalError)
    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("collector.api.store_unavailable", error=str(exc).splitlines()[0])
        return _error(503, "the lineage store is unavailable")


def create_app(
    queries: LineageQueries,
    *,
    token: SecretStr | None,
    health: Health,
    metrics_registry: CollectorRegistry,
    static_dir: Path | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_url_bytes: int = MAX_URL_BYTES,
) -> FastAPI:
    """The collector's ASGI app.

    Args:
        queries: what the endpoints answer from.
        token: the bearer token every ``/api`` request must carry; ``None`` leaves it open.
        health: called by ``/healthz``; its dict is the answer's body.
        metrics_registry: where the per-asset series are registered for ``/metrics``.
        static_dir: the web page: ``index.html`` is served at ``/``, and the directory's files
            under ``/static/``.
        max_body_bytes: largest request body accepted (every endpoint is a GET).
        max_url_bytes: longest path plus query string accepted.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if token is None:
            log.warning(
                "collector.api.open",
                detail="no token set: anyone who can reach the port can read the lineage",
            )
        else:
            log.info("collector.api.protected")
        yield

    app = FastAPI(
        title="choreo lineage collector",
        description="Assets, their lineage and status, as announced on Kafka.",
        version="1",
        lifespan=lifespan,
    )
    AssetMetrics(queries, metrics_registry)
    dependencies = [] if token is None else [Depends(_bearer(token))]
    app.include_router(_api(queries), dependencies=dependencies)
    _handlers(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        """Whether the collector keeps up (ingest lag and the like)."""
        try:
            detail = dict(health())
        except Exception as exc:  # noqa: BLE001 - a probe answers 503, whatever went wrong
            return _error(503, f"health check failed: {exc}", status="unhealthy")
        healthy = detail.get("healthy", True) is not False
        body = {"status": "ok" if healthy else "unhealthy", **detail}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus metrics: per-asset last update, status and lateness."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    if static_dir is not None:
        index = static_dir / "index.html"

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(index, media_type="text/html")

        app.mount("/static", StaticFiles(directory=static_dir), name="static")

    app.add_middleware(RequestLimits, max_body_bytes=max_body_bytes, max_url_bytes=max_url_bytes)
    return app


def collector_server(
    app: ASGIApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> uvicorn.Server:
    """A uvicorn server for ``app`` (not started): ``run()`` serves until SIGTERM or Ctrl-C;
    setting ``should_exit`` stops it from another thread."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    return uvicorn.Server(config)


def serve_collector(app: ASGIApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve ``app`` with uvicorn until SIGTERM or Ctrl-C."""
    collector_server(app, host, port).run()
