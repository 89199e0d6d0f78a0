"""``choreo lineage``: ask the lineage collector, over its HTTP API.

Readable tables by default, the API's JSON with ``--json``. Exit codes: 0 ok; 1 a problem found
(``stale`` found stale assets, or an unknown asset or event); 2 usage; 3 the collector refused
the token; 4 the collector is unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from choreo.cli.exits import ExitCode, guarded
from choreo.cli.lineage_views import (
    SUMMARY_HEADERS,
    at,
    render_detail,
    render_provenance,
    render_tree,
    summary_rows,
    table,
)
from choreo.collector.client import DEFAULT_TIMEOUT, DEFAULT_URL, CollectorClient
from choreo.errors import InvalidInputError
from choreo.events.keys import validate_asset_key

app = typer.Typer(
    name="lineage",
    help=(
        "Ask the lineage collector: assets and their status, upstream and downstream, impact, "
        "provenance of one event, stale assets, the whole graph.\n\n"
        "Exit codes: 0 ok, 1 found a problem (stale assets for 'stale'; unknown asset or event), "
        "2 usage, 3 token refused, 4 collector unreachable."
    ),
    no_args_is_help=True,
    add_completion=False,
)

Url = Annotated[
    str,
    typer.Option(envvar="CHOREO_COLLECTOR_URL", help="The collector's base URL."),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="CHOREO_COLLECTOR_TOKEN", help="Bearer token, when the collector requires one."
    ),
]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the collector.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
Asset = Annotated[str, typer.Argument(help="Asset key, e.g. shop.daily_order_summary.")]
Depth = Annotated[int, typer.Option(min=0, max=50, help="How many steps to walk.")]


def _client(url: str, token: str | None, timeout: float) -> CollectorClient:
    return CollectorClient(url, token=token, timeout=timeout)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def _run(action: Callable[[], int]) -> None:
    code = guarded(action)
    if code:
        raise typer.Exit(code)


@app.command("assets")
def assets(
    status: Annotated[
        str | None,
        typer.Option(help="Only assets with this status: fresh, stale, failed, late, never_built."),
    ] = None,
    search: Annotated[str | None, typer.Option(help="Part of a key, service or owner.")] = None,
    limit: Annotated[int, typer.Option(min=0, max=1000, help="Assets per page.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Assets to skip.")] = 0,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """List assets with their status."""

    def run() -> int:
        page = _client(url, token, timeout).json(
            "/api/assets", status=status, search=search, limit=limit, offset=offset
        )
        if as_json:
            _print_json(page)
            return 0
        typer.echo(table(SUMMARY_HEADERS, summary_rows(page["items"])))
        shown = len(page["items"])
        if shown < page["total"]:
            typer.echo(
                f"{shown} of {page['total']} assets from offset {offset}; use --offset for more",
                err=True,
            )
        return 0

    _run(run)


@app.command("show")
def show(
    asset: Asset,
    history: Annotated[int, typer.Option(min=0, max=1000, help="Newest events to list.")] = 10,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """One asset: status and why, declaration, partitions, newest events."""

    def run() -> int:
        validate_asset_key(asset)
        client = _client(url, token, timeout)
        detail = client.json(f"/api/assets/{client.segment(asset)}", history_limit=history)
        if as_json:
            _print_json(detail)
        else:
            typer.echo(render_detail(detail))
        return 0

    _run(run)


def _walk(
    direction: str,
    asset: str,
    depth: int,
    url: str,
    token: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    def run() -> int:
        validate_asset_key(asset)
        client = _client(url, token, timeout)
        found = client.json(f"/api/assets/{client.segment(asset)}/{direction}", depth=depth)
        if as_json:
            _print_json(found)
        else:
            typer.echo(render_tree(found))
        return 0

    _run(run)


@app.command("upstream")
def upstream(
    asset: Asset,
    depth: Depth = 3,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """What ASSET is built from, as a tree to --depth steps."""
    _walk("upstream", asset, depth, url, token, timeout, as_json)


@app.command("downstream")
def downstream(
    asset: Asset,
    depth: Depth = 3,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """What is built from ASSET, as a tree to --depth steps."""
    _walk("downstream", asset, depth, url, token, timeout, as_json)


@app.command("impact")
def impact(
    asset: Asset,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """Everything downstream of ASSET, nearest first, with owners: who a change affects."""

    def run() -> int:
        validate_asset_key(asset)
        client = _client(url, token, timeout)
        entries = client.json(f"/api/assets/{client.segment(asset)}/impact")
        if as_json:
            _print_json(entries)
        elif not entries:
            typer.echo(f"nothing is built from {asset}", err=True)
        else:
            rows = [
                [
                    e["distance"],
                    e["asset"],
                    e["status"],
                    e.get("service") or "-",
                    e.get("owner") or "-",
                ]
                for e in entries
            ]
            typer.echo(table(("DISTANCE", "ASSET", "STATUS", "SERVICE", "OWNER"), rows))
        return 0

    _run(run)


@app.command("trace")
def trace(
    event_id: Annotated[str, typer.Argument(help="The id of the event to trace.")],
    depth: Annotated[int, typer.Option(min=0, max=50, help="Levels of inputs to follow.")] = 10,
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """The exact input versions behind one event, and theirs, as a tree (… marks a cut)."""

    def run() -> int:
        client = _client(url, token, timeout)
        tree = client.json(f"/api/events/{client.segment(event_id)}/provenance", depth=depth)
        if as_json:
            _print_json(tree)
        else:
            typer.echo("\n".join(render_provenance(tree)))
        return 0

    _run(run)


@app.command("stale")
def stale(
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """Assets built from an input version that has since been replaced. Exits 1 if any."""

    def run() -> int:
        found = _client(url, token, timeout).json("/api/stale")
        if as_json:
            _print_json(found)
        elif found:
            rows = [
                [s["asset"], at(s.get("last_updated_at")), (s.get("reasons") or ["-"])[0]]
                for s in found
            ]
            typer.echo(table(("ASSET", "LAST UPDATED", "WHY"), rows))
        else:
            typer.echo("no stale assets", err=True)
        return int(ExitCode.PROBLEM) if found else 0

    _run(run)


@app.command("graph")
def graph(
    graph_format: Annotated[
        str, typer.Option("--format", help="json, dot (Graphviz) or mermaid.")
    ] = "json",
    url: Url = DEFAULT_URL,
    token: Token = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """The whole graph: JSON, Graphviz DOT (pipe to `dot -Tsvg`) or Mermaid."""

    def run() -> int:
        if graph_format not in {"json", "dot", "mermaid"}:
            raise InvalidInputError(f"--format must be json, dot or mermaid, not {graph_format!r}")
        client = _client(url, token, timeout)
        if graph_format == "json":
            _print_json(client.json("/api/graph"))
        else:
            typer.echo(client.text("/api/graph", format=graph_format), nl=False)
        return 0

    _run(run)
