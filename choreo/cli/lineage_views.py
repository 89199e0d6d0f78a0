"""Plain-text views of the collector's answers for ``choreo lineage``: tables and trees.

Kept apart from the commands: each view is a pure function of the API's JSON, whatever the
transport or the command that asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, under a header line."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def at(value: str | None) -> str:
    """A timestamp as the API gives it, with ``Z`` for UTC; ``-`` when missing."""
    return "-" if value is None else value.replace("+00:00", "Z")


def target(asset: str, partition: str | None) -> str:
    """``asset`` or ``asset[partition]``."""
    return asset if partition is None else f"{asset}[{partition}]"


def summary_rows(items: Sequence[dict[str, Any]]) -> list[list[object]]:
    """Rows under ``SUMMARY_HEADERS`` for asset summaries."""
    return [
        [
            item["asset"],
            item["status"],
            at(item.get("last_updated_at")),
            item.get("latest_version") or "-",
            item.get("owner") or "-",
        ]
        for item in items
    ]


SUMMARY_HEADERS = ("ASSET", "STATUS", "LAST UPDATED", "VERSION", "OWNER")


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
        f"  last updated {at(summary.get('last_updated_at'))}, "
        f"version {summary.get('latest_version') or '-'}"
    )
    partitions = detail.get("partitions", [])
    if partitions:
        lines += ["", f"partitions ({summary.get('partitions_total', len(partitions))}):"]
        rows = [
            [p.get("partition") or "-", p["status"], p["version"], at(p["occurred_at"]), p["kind"]]
            for p in partitions
        ]
        lines.append(table(("PARTITION", "STATUS", "VERSION", "AT", "KIND"), rows))
    history = detail.get("history", {})
    if history.get("items"):
        lines += ["", f"events (newest {len(history['items'])} of {history['total']}):"]
        rows = [
            [
                at(e["occurred_at"]),
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


def render_provenance(
    node: dict[str, Any], prefix: str = "", last: bool = True, top: bool = True
) -> list[str]:
    """A provenance tree, one line per event: what it is, when, and its id."""
    name = target(node["asset"], node.get("partition"))
    if node.get("event_id") is None:
        text = f"{name} = {node['version']}  (no event stored)"
    else:
        when = at(node.get("occurred_at"))
        text = f"{name} = {node['version']}  {node.get('kind') or '?'} {when}  {node['event_id']}"
    if node.get("truncated"):
        text += "  …"
    lines = [text if top else f"{prefix}{'└─ ' if last else '├─ '}{text}"]
    inputs = node.get("inputs", [])
    inner = "" if top else prefix + ("   " if last else "│  ")
    for index, child in enumerate(inputs):
        lines += render_provenance(child, inner, index == len(inputs) - 1, top=False)
    return lines
