"""``choreo lineage``: ask the lineage collector, over its HTTP API.

Readable tables by default, the API's JSON with ``--json``. Exit codes: 0 ok; 1 a problem found
(``stale`` found stale assets, or an unknown asset or event); 2 usage; 3 the collector refused
the token; 4 the collector is unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from choreo.cli.exits import ExitCode, guarded
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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, under a header line."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _at(value: str | None) -> str:
    return "-" if value is None else value.replace("+00:00", "Z")


def _target(asset: str, partition: str | None) -> str:
    return asset if partition is None else f"{asset}[{partition}]"


def _summary_rows(items: Sequence[dict[str, Any]]) -> list[list[object]]:
    return [
        [
            item["asset"],
            item["status"],
            _at(item.get("last_updated_at")),
            item.get("latest_version") or "-",
            item.get("owner") or "-",
        ]
        for item in items
    ]


SUMMARY_HEADERS = ("ASSET", "STATUS", "LAST UPDATED", "VERSION", "OWNER")


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
        typer.echo(table(SUMMARY_HEADERS, _summary_rows(page["items"])))
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


def render_detail(detail: dict[str, Any]) -> str:
    """An asset's detail as a few readable blocks."""
    summary, declaration = detail["summary"], detail.get("declaration")
    lines = [f"{summary['asset']}  {summary['status']}"]
    lines.extend(f"  why: {reason}" for reason in summary.get("reasons", []))
    if declaration is not None:
        facts = [f"service {declaration['service']}", f"trigger {declaration['trigger']}"]
        if declaration.get("owner"):
            facts.append(f"owner {declaration['owner']}")
        if declaration.get("partitioned"):
            facts.append("partitioned")
        if declaration.get("freshness_seconds") is not None:
            facts.append(f"freshness {declaration['freshness_seconds']:g}s")
        lines.append("  " + " · ".join(facts))
        lines.append("  inputs: " + (", ".join(declaration["inputs"]) or "none"))
        if declaration.get("description"):
            lines.append(f"  {declaration['description']}")
    else:
        lines.append("  not declared by any service")
    lines.append(
        f"  last updated {_at(summary.get('last_updated_at'))}, "
        f"version {summary.get('latest_version') or '-'}"
    )
    partitions = detail.get("partitions", [])
    if partitions:
        lines += ["", f"partitions ({summary.get('partitions_total', len(partitions))}):"]
        rows = [
            [p.get("partition") or "-", p["status"], p["version"], _at(p["occurred_at"]), p["kind"]]
            for p in partitions
        ]
        lines.append(table(("PARTITION", "STATUS", "VERSION", "AT", "KIND"), rows))
    history = detail.get("history", {})
    if history.get("items"):
        lines += ["", f"events (newest {len(history['items'])} of {history['total']}):"]
        rows = [
            [
                _at(e["occurred_at"]),
                e["kind"],
                e.get("partition") or "-",
                e["version"],
                e["event_id"],
            ]
            for e in history["items"]
        ]
        lines.append(table(("AT", "KIND", "PARTITION", "VERSION", "EVENT ID"), rows))
    return "\n".join(lines)


def render_tree(neighbourhood: dict[str, Any]) -> str:
    """A neighbourhood as an indented tree from its root; an asset reached twice is listed
    again without its subtree, marked ``(above)``."""
    upstream = neighbourhood["direction"] == "upstream"
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in neighbourhood["edges"]:
        parent, child = (
            (edge["downstream"], edge["upstream"])
            if upstream
            else (edge["upstream"], edge["downstream"])
        )
        children.setdefault(parent, []).append((child, edge["kind"]))
    lines = [neighbourhood["root"]]
    shown = {neighbourhood["root"]}

    def walk(node: str, prefix: str) -> None:
        kids = sorted(children.get(node, []))
        for index, (child, kind) in enumerate(kids):
            last = index == len(kids) - 1
            note = "" if kind == "both" else f"  [{kind} only]"
            seen = child in shown
            lines.append(
                f"{prefix}{'└─ ' if last else '├─ '}{child}{note}{'  (above)' if seen else ''}"
            )
            if not seen:
                shown.add(child)
                walk(child, prefix + ("   " if last else "│  "))

    walk(neighbourhood["root"], "")
    return "\n".join(lines)


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


def render_provenance(
    node: dict[str, Any], prefix: str = "", last: bool = True, top: bool = True
) -> list[str]:
    """A provenance tree, one line per event: what it is, when, and its id."""
    name = _target(node["asset"], node.get("partition"))
    if node.get("event_id") is None:
        text = f"{name} = {node['version']}  (no event stored)"
    else:
        when = _at(node.get("occurred_at"))
        text = f"{name} = {node['version']}  {node.get('kind') or '?'} {when}  {node['event_id']}"
    if node.get("truncated"):
        text += "  …"
    lines = [text if top else f"{prefix}{'└─ ' if last else '├─ '}{text}"]
    inputs = node.get("inputs", [])
    inner = "" if top else prefix + ("   " if last else "│  ")
    for index, child in enumerate(inputs):
        lines += render_provenance(child, inner, index == len(inputs) - 1, top=False)
    return lines


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
                [s["asset"], _at(s.get("last_updated_at")), (s.get("reasons") or ["-"])[0]]
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
