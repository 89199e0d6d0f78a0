"""DOT and Mermaid output: valid syntax whatever the names, status as colour, edge kind as style."""

from __future__ import annotations

import re
import subprocess

import pytest

from choreo.collector.diagrams import COLOURS, dot_quote, mermaid_text, to_dot, to_mermaid
from choreo.collector.views import AssetSummary, Edge, EdgeKind, GraphView, Status

VIEW = GraphView(
    nodes=[
        AssetSummary(asset="shop.orders", status=Status.FRESH),
        AssetSummary(asset="shop.summary", status=Status.STALE, reasons=['input "x" moved\\on']),
        AssetSummary(asset="shop.forecast", status=Status.FAILED),
    ],
    edges=[
        Edge(upstream="shop.orders", downstream="shop.summary", kind=EdgeKind.BOTH),
        Edge(upstream="shop.summary", downstream="shop.forecast", kind=EdgeKind.DECLARED),
        Edge(upstream="ext.prices", downstream="shop.forecast", kind=EdgeKind.OBSERVED),
    ],
)
#: Names no asset key can have, to prove the quoting holds anyway.
HOSTILE = GraphView(
    nodes=[AssetSummary(asset='a"b\\c\nd; -> } %% <br/>', status=Status.LATE, reasons=["}\n"])],
    edges=[Edge(upstream='a"b\\c\nd; -> } %% <br/>', downstream="x[y]", kind=EdgeKind.BOTH)],
)


def test_dot_colours_nodes_by_status_and_styles_edges_by_kind() -> None:
    """Each node is filled with its status colour; declared-only dashed, observed-only bold."""
    text = to_dot(VIEW)
    fill, stroke = COLOURS[Status.STALE]
    assert (
        f'"shop.summary" [label="shop.summary\\nstale", fillcolor="{fill}", color="{stroke}"'
        in text
    )
    assert '"shop.summary" -> "shop.forecast" [style=dashed];' in text
    assert '"ext.prices" -> "shop.forecast" [style=bold];' in text
    assert '"shop.orders" -> "shop.summary" [style=solid];' in text
    assert 'tooltip="input \\"x\\" moved\\\\on"' in text


def test_dot_quoting_escapes_quotes_backslashes_and_newlines() -> None:
    """A DOT string never ends early, whatever it holds."""
    assert dot_quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@pytest.mark.parametrize("view", [VIEW, HOSTILE])
def test_graphviz_accepts_the_dot(view: GraphView) -> None:
    """Graphviz parses and renders the output, hostile names included."""
    done = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(view), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout


def test_mermaid_is_a_flowchart_with_classes_and_arrows_per_kind() -> None:
    """Generated ids, the key as label, a class per status, an arrow per edge kind."""
    text = to_mermaid(VIEW)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  n0["shop.orders<br/>fresh"]' in lines
    assert "  class n0 fresh;" in lines
    assert "  n0 --> n1" in lines
    assert "  n1 -.-> n2" in lines
    assert "  n3 ==> n2" in lines  # ext.prices appears only in an edge
    assert '  n3["ext.prices"]' in lines
    for status in Status:
        assert any(line.startswith(f"  classDef {status.value} fill:") for line in lines)


def test_mermaid_labels_hold_only_safe_characters() -> None:
    """Quotes, brackets of syntax, semicolons and newlines become #code; entities."""
    text = to_mermaid(HOSTILE)
    labels = re.findall(r'\["(.*)"\]$', text, flags=re.MULTILINE)
    assert len(labels) == 2
    safe = re.compile(r"(?:[A-Za-z0-9 ._:/=+,@()\[\]-]|#[0-9]+;|<br/>)*")
    for label in labels:
        assert safe.fullmatch(label), label
    assert mermaid_text('a"b') == "a#34;b"
    assert mermaid_text("x;y") == "x#59;y"
