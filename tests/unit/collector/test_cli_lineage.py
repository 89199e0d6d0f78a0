"""``choreo lineage`` against a live collector API (uvicorn on a free local port, no broker):
tables by default, JSON with --json, and its exit codes."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from typer.testing import CliRunner

from choreo.cli import lineage
from choreo.collector.http import collector_server, create_app
from choreo.collector.queries import LineageQueries

from .shop import NOW, Shop, build_shop

TOKEN = "cli-token"  # noqa: S105 - a test token
STARTUP_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    built = build_shop(tmp_path_factory.mktemp("cli") / "collector.db")
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def url(shop: Shop) -> Iterator[str]:
    queries = LineageQueries(shop.engine, clock=lambda: NOW, refresh_seconds=0)
    app = create_app(
        queries,
        token=SecretStr(TOKEN),
        health=lambda: {"ingest_lag_seconds": 0.0},
        metrics_registry=CollectorRegistry(),
    )
    port = free_port()
    server = collector_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=STARTUP_SECONDS)


def run(url: str, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    options = ["--url", url] + ([] if token is None else ["--token", token])
    result = CliRunner().invoke(
        lineage.app, [*args, *options], env={"CHOREO_COLLECTOR_TOKEN": None}
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_server_answers_over_http(url: str) -> None:
    """The uvicorn server of ``collector_server`` serves the app on its port, without a
    ``server`` header."""
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 - http
        assert json.loads(response.read())["status"] == "ok"
        assert response.headers.get("server") is None


def test_assets_table(url: str) -> None:
    """``assets`` prints one row per asset with status, time, version and owner."""
    code, out, _ = run(url, "assets")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ASSET", "STATUS", "LAST", "UPDATED", "VERSION", "OWNER"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows["shop.daily_order_summary"] == "stale"
    assert rows["shop.report"] == "never_built"


def test_assets_json_and_paging(url: str) -> None:
    """``--json`` prints the API's page; a partial page says so on stderr."""
    code, out, err = run(url, "assets", "--limit", "2", "--json")
    assert code == 0
    assert json.loads(out)["total"] == 6
    code, out, err = run(url, "assets", "--limit", "2")
    assert "2 of 6 assets" in err


def test_show(url: str, shop: Shop) -> None:
    """``show`` gives status and why, declaration, partitions and events."""
    code, out, _ = run(url, "show", "shop.daily_order_summary")
    assert code == 0
    assert out.splitlines()[0] == "shop.daily_order_summary  stale"
    assert "why: input shop.orders has a newer version 'o2' than 'o1'" in out
    assert "inputs: shop.customers, shop.orders" in out
    assert "2026-11-19" in out
    assert shop.summary_20 in out


def test_upstream_tree(url: str) -> None:
    """``upstream`` draws a tree from the asset; observed-only edges are marked."""
    code, out, _ = run(url, "upstream", "shop.predicted_orders", "--depth", "2")
    assert code == 0
    assert out.splitlines() == [
        "shop.predicted_orders",
        "├─ ext.prices  [observed only]",
        "└─ shop.daily_order_summary",
        "   ├─ shop.customers",
        "   └─ shop.orders",
    ]


def test_downstream_json(url: str) -> None:
    """``downstream --json`` prints the neighbourhood."""
    code, out, _ = run(url, "downstream", "shop.orders", "--depth", "1", "--json")
    assert code == 0
    assert json.loads(out)["nodes"] == {"shop.orders": 0, "shop.daily_order_summary": 1}


def test_impact(url: str) -> None:
    """``impact`` lists what is downstream with distance, status and owner."""
    code, out, _ = run(url, "impact", "shop.daily_order_summary")
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["1", "shop.predicted_orders", "failed"],
        ["2", "shop.report", "never_built"],
    ]


def test_trace(url: str, shop: Shop) -> None:
    """``trace`` draws the provenance tree of one event, with ids and versions."""
    code, out, _ = run(url, "trace", shop.forecast_ok)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        f"shop.predicted_orders = f1  UPDATED 2026-11-20T06:04:00Z  {shop.forecast_ok}"
    )
    assert any(line.startswith("├─ shop.daily_order_summary[2026-11-20] = s20") for line in lines)
    assert any("shop.orders = o1" in line for line in lines)


def test_stale_exits_1_when_it_finds_stale_assets(url: str) -> None:
    """``stale`` lists them and exits 1 (a problem found)."""
    code, out, _ = run(url, "stale")
    assert code == 1
    assert "shop.daily_order_summary" in out


def test_graph_formats(url: str) -> None:
    """``graph --format dot|mermaid|json`` prints the drawing or the JSON."""
    assert run(url, "graph", "--format", "dot")[1].startswith("digraph choreo {")
    assert run(url, "graph", "--format", "mermaid")[1].startswith("flowchart LR")
    assert len(json.loads(run(url, "graph")[1])["nodes"]) == 6
    code, _, err = run(url, "graph", "--format", "png")
    assert code == 2
    assert err.startswith("error: --format must be json, dot or mermaid")


def test_unknown_asset_exits_1_with_one_line(url: str) -> None:
    """An unknown asset is a problem found: exit 1, one line on stderr."""
    code, _, err = run(url, "show", "shop.nothing")
    assert code == 1
    assert err == "error: unknown asset 'shop.nothing': no declaration or event names it\n"


def test_usage_errors_exit_2(url: str) -> None:
    """A malformed key or event id is a usage error (2); so is a depth past 50."""
    assert run(url, "upstream", "Not A Key")[0] == 2
    code, _, err = run(url, "trace", "not-a-uuid")
    assert code == 2
    assert "event_id" in err
    assert run(url, "upstream", "shop.orders", "--depth", "1000")[0] == 2


def test_a_missing_token_exits_3(url: str) -> None:
    """Without the token the collector refuses: exit 3, naming how to pass it."""
    code, _, err = run(url, "assets", token=None)
    assert code == 3
    assert "CHOREO_COLLECTOR_TOKEN" in err


def test_an_unreachable_collector_exits_4(tmp_path: Path) -> None:
    """Nothing listening: exit 4 with one line naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(url, "assets")
    assert code == 4
    assert err.startswith(f"error: the collector at {url} is unreachable")
    assert err.count("\n") == 1


def test_a_malformed_url_exits_3() -> None:
    """A URL that is not http(s) is a configuration error."""
    assert run("ftp://example", "assets")[0] == 3
