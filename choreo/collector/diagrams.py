"""The product graph as text that draws: Graphviz DOT and Mermaid flowcharts.

Nodes are coloured by status; edge styles tell how an edge is known: solid when declared and
observed, dashed when declared but never seen in an event, bold when seen but never declared.
Every name is quoted and escaped, so any key (and any status reason) yields valid syntax. Pure.
"""

from __future__ import annotations

from choreo.collector.views import EdgeKind, GraphView, Status

#: Fill and stroke per status, shared by both formats (and readable on white and dark themes).
COLOURS = {
    Status.FRESH: ("#c8e6c9", "#2e7d32"),
    Status.STALE: ("#fff3c4", "#b08800"),
    Status.LATE: ("#ffe0b2", "#e65100"),
    Status.FAILED: ("#ffcdd2", "#c62828"),
    Status.NEVER_BUILT: ("#eeeeee", "#757575"),
}

_DOT_EDGE_STYLE = {
    EdgeKind.BOTH: "solid",
    EdgeKind.DECLARED: "dashed",
    EdgeKind.OBSERVED: "bold",
}

_MERMAID_ARROW = {
    EdgeKind.BOTH: "-->",
    EdgeKind.DECLARED: "-.->",
    EdgeKind.OBSERVED: "==>",
}


def dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(view: GraphView) -> str:
    """The graph as a Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    lines = [
        "digraph choreo {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [color="#555555"];',
    ]
    for node in view.nodes:
        fill, stroke = COLOURS[node.status]
        label = dot_quote(f"{node.asset}\n{node.status.value}")
        tooltip = dot_quote("; ".join(node.reasons) or node.status.value)
        lines.append(
            f"  {dot_quote(node.asset)} [label={label}, fillcolor={dot_quote(fill)}, "
            f"color={dot_quote(stroke)}, tooltip={tooltip}];"
        )
    for edge in view.edges:
        lines.append(
            f"  {dot_quote(edge.upstream)} -> {dot_quote(edge.downstream)} "
            f"[style={_DOT_EDGE_STYLE[edge.kind]}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid_text(text: str) -> str:
    """Text safe inside a Mermaid ``"..."`` label: anything unusual as a ``#code;`` entity."""
    return "".join(
        char
        if char.isascii() and (char.isalnum() or char in " ._:/-[]()=+,@")
        else f"#{ord(char)};"
        for char in text
    )


def to_mermaid(view: GraphView) -> str:
    """The graph as a Mermaid ``flowchart`` (paste into Markdown, or the Mermaid live editor).

    Node ids are generated (``n0``, ``n1``, …) because Mermaid ids cannot hold every character a
    label can; the asset key is the label.
    """
    ids = {node.asset: f"n{index}" for index, node in enumerate(view.nodes)}
    for edge in view.edges:
        for key in (edge.upstream, edge.downstream):
            ids.setdefault(key, f"n{len(ids)}")
    lines = [
        "flowchart LR",
        "  %% --> declared and observed, -.-> declared only, ==> observed only",
    ]
    for each, (fill, stroke) in COLOURS.items():
        lines.append(f"  classDef {each.value} fill:{fill},stroke:{stroke},color:#000000;")
    statuses = {node.asset: node.status for node in view.nodes}
    for key, node_id in ids.items():
        status = statuses.get(key)
        label = mermaid_text(key) + ("" if status is None else f"<br/>{status.value}")
        lines.append(f'  {node_id}["{label}"]')
        if status is not None:
            lines.append(f"  class {node_id} {status.value};")
    for edge in view.edges:
        arrow = _MERMAID_ARROW[edge.kind]
        lines.append(f"  {ids[edge.upstream]} {arrow} {ids[edge.downstream]}")
    return "\n".join(lines) + "\n"
