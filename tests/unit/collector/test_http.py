"""The collector's HTTP API: every query as JSON, bounded parameters, 4xx JSON errors, the token,
request limits, /metrics, /healthz and the web page hook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from structlog.testing import capture_logs

from choreo.collector.http import create_app
from choreo.collector.queries import LineageQueries

from .lineage_data import T0
from .shop import NOW, Shop, build_shop

TOKEN = "s3cret-token"  # noqa: S105 - a test token
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    built = build_shop(tmp_path / "collector.db")
    yield built
    built.engine.dispose()


@pytest.fixture
def queries(shop: Shop) -> LineageQueries:
    return LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=0)


def make_app(queries: LineageQueries, token: str | None = None, **options: object) -> FastAPI:
    return create_app(
        queries,
        token=None if token is None else SecretStr(token),
        health=lambda: {"ingest_lag_seconds": 1.5},
        metrics_registry=CollectorRegistry(),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(queries: LineageQueries) -> Iterator[TestClient]:
    with TestClient(make_app(queries)) as client:
        yield client


def test_assets_page(client: TestClient) -> None:
    """GET /api/assets is a page of summaries; filters and bounds apply."""
    page = client.get("/api/assets", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (6, 2, 1)
    assert [a["asset"] for a in page["items"]] == ["shop.customers", "shop.daily_order_summary"]
    stale = client.get("/api/assets", params={"status": "stale"}).json()
    assert [a["asset"] for a in stale["items"]] == ["shop.daily_order_summary"]


def test_every_query_has_an_endpoint(client: TestClient, shop: Shop) -> None:
    """Detail, events, walks, impact, event, provenance, OpenLineage, stale and graph answer 200."""
    key = "shop.daily_order_summary"
    assert client.get(f"/api/assets/{key}").json()["summary"]["status"] == "stale"
    assert client.get(f"/api/assets/{key}/events", params={"limit": 1}).json()["total"] == 2
    assert client.get(f"/api/assets/{key}/upstream", params={"depth": 1}).json()["nodes"] == {
        key: 0,
        "shop.orders": 1,
        "shop.customers": 1,
    }
    assert "shop.report" in client.get(f"/api/assets/{key}/downstream").json()["nodes"]
    assert [e["asset"] for e in client.get(f"/api/assets/{key}/impact").json()] == [
        "shop.predicted_orders",
        "shop.report",
    ]
    assert client.get(f"/api/events/{shop.summary_20}").json()["version"] == "s20"
    tree = client.get(f"/api/events/{shop.forecast_ok}/provenance", params={"depth": 1}).json()
    assert [i["asset"] for i in tree["inputs"]] == ["shop.daily_order_summary", "ext.prices"]
    lineage = client.get(f"/api/events/{shop.forecast_failed}/openlineage").json()
    assert lineage["eventType"] == "FAIL"
    assert [a["asset"] for a in client.get("/api/stale").json()] == [key]
    assert len(client.get("/api/graph").json()["nodes"]) == 6


def test_graph_formats(client: TestClient) -> None:
    """format=dot is Graphviz text, format=mermaid a Mermaid flowchart, anything else a 422."""
    dot = client.get("/api/graph", params={"format": "dot"})
    assert dot.headers["content-type"].startswith("text/vnd.graphviz")
    assert dot.text.startswith("digraph choreo {")
    mermaid = client.get("/api/graph", params={"format": "mermaid"})
    assert mermaid.headers["content-type"].startswith("text/plain")
    assert mermaid.text.startswith("flowchart LR")
    assert client.get("/api/graph", params={"format": "png"}).status_code == 422


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/api/assets/shop.nothing", 404, "unknown asset 'shop.nothing'"),
        ("/api/assets/shop.nothing/upstream", 404, "unknown asset"),
        ("/api/assets/Not%20A%20Key", 422, "key: String should match pattern"),
        ("/api/assets/shop.orders/upstream?depth=1000000000", 422, "depth: Input should be less"),
        ("/api/assets/shop.orders/downstream?depth=-1", 422, "depth"),
        ("/api/assets?limit=1000000000", 422, "limit: Input should be less than or equal to 1000"),
        ("/api/assets?offset=99999999999999999999999", 422, "offset"),
        ("/api/assets?status=bored", 422, "status"),
        ("/api/assets/shop.orders/events?kind=EXPLODED", 422, "kind must be one of"),
        ("/api/assets/shop.orders/events?partition=a%20b", 422, "invalid partition key"),
        ("/api/events/not-a-uuid/provenance", 422, "event_id: Input should be a valid UUID"),
        ("/api/events/00000000-0000-4000-8000-000000000000", 404, "unknown event"),
        ("/api/events/00000000-0000-4000-8000-000000000000/openlineage", 404, "unknown event"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_bad_requests_are_4xx_with_a_json_message(
    client: TestClient, url: str, status: int, words: str
) -> None:
    """Unknown things are 404, malformed or out-of-range parameters 422, each with a message."""
    response = client.get(url)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_only_get_is_allowed(client: TestClient) -> None:
    """Other methods are refused with 405 and a JSON message."""
    response = client.delete("/api/assets")
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}


def test_request_bodies_are_refused_with_413(client: TestClient) -> None:
    """Every endpoint is a GET: a request carrying a body gets 413 before routing."""
    assert client.request("GET", "/api/assets", content=b"x" * 10).status_code == 413
    chunked = client.request(
        "POST", "/api/assets", content=iter([b"x" * 100]), headers={"Transfer-Encoding": "chunked"}
    )
    assert chunked.status_code == 413
    assert chunked.json() == {"error": "this API takes no request body; every endpoint is a GET"}


def test_a_body_limit_can_be_raised(queries: LineageQueries) -> None:
    """With ``max_body_bytes``, bodies up to the limit pass and longer ones get 413."""
    with TestClient(make_app(queries, max_body_bytes=10)) as client:
        assert client.request("GET", "/api/stale", content=b"x" * 10).status_code == 200
        too_big = client.request("GET", "/api/stale", content=b"x" * 11)
        assert too_big.status_code == 413
        assert "limited to 10 bytes" in too_big.json()["error"]


def test_overlong_urls_are_refused_with_414(client: TestClient) -> None:
    """A path plus query string past the limit is refused before routing."""
    response = client.get("/api/assets", params={"search": "x" * 10_000})
    assert response.status_code == 414
    assert "longer than" in response.json()["error"]


def test_token_is_required_on_the_api(queries: LineageQueries) -> None:
    """With a token, /api needs the bearer header; probes and metrics stay open."""
    with TestClient(make_app(queries, TOKEN)) as client:
        missing = client.get("/api/assets")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json() == {"error": "missing or wrong bearer token"}
        wrong = client.get("/api/assets", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        basic = client.get("/api/assets", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        assert client.get("/api/assets/shop.nothing").status_code == 401  # no probing for keys
        assert client.get("/api/assets", headers=AUTH).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200
        schema = client.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_an_open_api_says_so_when_it_starts(queries: LineageQueries) -> None:
    """Without a token, starting the app logs a warning that the API is open."""
    with capture_logs() as logs, TestClient(make_app(queries)):
        pass
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["collector.api.open"]
    with capture_logs() as logs, TestClient(make_app(queries, TOKEN)):
        pass
    assert "collector.api.open" not in [e["event"] for e in logs]


def test_openapi_document_lists_every_endpoint(client: TestClient) -> None:
    """/openapi.json describes every API path, with the parameter bounds."""
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/api/assets",
        "/api/assets/{key}",
        "/api/assets/{key}/events",
        "/api/assets/{key}/upstream",
        "/api/assets/{key}/downstream",
        "/api/assets/{key}/impact",
        "/api/events/{event_id}",
        "/api/events/{event_id}/provenance",
        "/api/events/{event_id}/openlineage",
        "/api/stale",
        "/api/graph",
        "/healthz",
        "/metrics",
    }
    params = {p["name"]: p for p in schema["paths"]["/api/assets"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 1000


def test_metrics_expose_freshness_per_asset(client: TestClient) -> None:
    """Last update, status and lateness per asset, and counts per status, in Prometheus text."""
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    customers = (("asset", "shop.customers"),)
    assert samples["choreo_asset_status", (*customers, ("status", "late"))] == 1.0
    assert (
        samples["choreo_asset_status", (("asset", "shop.report"), ("status", "never_built"))] == 1.0
    )
    assert samples["choreo_asset_lateness_seconds", customers] == 7200.0
    assert samples["choreo_asset_lateness_seconds", (("asset", "shop.daily_order_summary"),)] == 0.0
    assert samples["choreo_asset_last_update_timestamp_seconds", customers] == T0.timestamp()
    assert samples["choreo_assets", (("status", "fresh"),)] == 2.0
    assert (
        "choreo_asset_last_update_timestamp_seconds",
        (("asset", "shop.report"),),
    ) not in samples


def test_healthz_reports_the_health_callable(queries: LineageQueries) -> None:
    """/healthz is the callable's dict; an unhealthy or failing check answers 503."""
    with TestClient(make_app(queries)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "ingest_lag_seconds": 1.5}

    def lagging() -> dict[str, object]:
        return {"healthy": False, "ingest_lag_seconds": 900}

    def broken() -> dict[str, object]:
        raise RuntimeError("store gone")

    for check, body in ((lagging, "unhealthy"), (broken, "store gone")):
        app = create_app(queries, token=None, health=check, metrics_registry=CollectorRegistry())
        with TestClient(app) as client:
            response = client.get("/healthz")
            assert response.status_code == 503
            assert body in response.text


def test_the_web_page_is_served_when_given(queries: LineageQueries, tmp_path: Path) -> None:
    """``static_dir``: index.html at /, its files under /static/; without it / is free (404)."""
    (tmp_path / "index.html").write_text("<html>lineage</html>")
    (tmp_path / "app.js").write_text("console.log(1)")
    with TestClient(make_app(queries, static_dir=tmp_path)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert client.get("/static/app.js").text == "console.log(1)"
    with TestClient(make_app(queries)) as client:
        assert client.get("/").status_code == 404
