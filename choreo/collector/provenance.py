"""The version-level provenance of one event: the exact input versions it was built from, and
theirs, down to a depth.

Read one level at a time: each level costs a fixed number of statements (the inputs of every
event on the level, then the events they name), never one per node. An input recorded without an
``event_id`` (announced by a system that did not say) is matched to the newest stored event of
that asset, partition and version, when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, select, tuple_

from choreo.collector import rows, tables
from choreo.collector.status import from_millis
from choreo.collector.views import ProvenanceNode

#: A tree of a deep graph with many shared inputs repeats subtrees; past this many nodes the
#: rest is cut (and marked ``truncated``) so an answer stays a reasonable size.
MAX_NODES = 5_000

_Triple = tuple[str, str, str]


@dataclass
class _Found:
    """Everything read so far: events by id, their inputs, and inputs matched by version."""

    events: dict[str, Row[Any]] = field(default_factory=dict)
    inputs: dict[str, list[Row[Any]]] = field(default_factory=dict)
    matched: dict[_Triple, str] = field(default_factory=dict)

    def input_event_id(self, item: Row[Any]) -> str | None:
        if item.input_event_id is not None:
            return str(item.input_event_id)
        return self.matched.get((item.asset, item.partition, item.version))


def _match_versions(conn: Connection, triples: Sequence[_Triple]) -> dict[_Triple, str]:
    """The newest event of each ``(asset, stored partition, version)``."""
    events = tables.events
    newest: dict[_Triple, tuple[int, str]] = {}
    for chunk in rows.chunks(sorted(set(triples))):
        statement = select(
            events.c.asset,
            events.c.partition,
            events.c.version,
            events.c.occurred_at_ms,
            events.c.event_id,
        ).where(tuple_(events.c.asset, events.c.partition, events.c.version).in_(list(chunk)))
        for row in conn.execute(statement):
            key = (row.asset, row.partition, row.version)
            if key not in newest or (row.occurred_at_ms, row.event_id) > newest[key]:
                newest[key] = (row.occurred_at_ms, row.event_id)
    return {key: event_id for key, (_, event_id) in newest.items()}


def _read(conn: Connection, root: Row[Any], depth: int) -> _Found:
    found = _Found(events={root.event_id: root})
    level = [root.event_id]
    for distance in range(depth + 1):
        wanted = [event_id for event_id in level if event_id not in found.inputs]
        for event_id, items in rows.input_rows(conn, wanted).items():
            found.inputs[event_id] = items
        for event_id in wanted:
            found.inputs.setdefault(event_id, [])
        if distance == depth or len(found.events) > MAX_NODES:
            break
        items = [item for event_id in level for item in found.inputs[event_id]]
        unmatched = [
            (item.asset, item.partition, item.version)
            for item in items
            if item.input_event_id is None
        ]
        if unmatched:
            found.matched.update(_match_versions(conn, unmatched))
        named = {found.input_event_id(item) for item in items}
        level = sorted(name for name in named if name is not None and name not in found.events)
        found.events.update(rows.event_rows(conn, level))
        level = [event_id for event_id in level if event_id in found.events]
        if not level:
            break
    return found


class _Builder:
    """Builds the tree once per (event, level): an event reached along several paths at the same
    level has the same subtree, so it is built once and shared (answers stay a tree)."""

    def __init__(self, found: _Found, depth: int) -> None:
        self.found = found
        self.depth = depth
        self.budget = MAX_NODES
        self.built: dict[tuple[str, int], tuple[ProvenanceNode, int]] = {}

    def event(self, row: Row[Any], level: int) -> tuple[ProvenanceNode, int]:
        """The node of one stored event at ``level``, and how many nodes its tree holds."""
        key = (row.event_id, level)
        known = self.built.get(key)
        if known is not None and known[1] <= self.budget:
            self.budget -= known[1]
            return known
        items = self.found.inputs.get(row.event_id, [])
        self.budget -= 1
        expand = level < self.depth and self.budget > 0
        children = [self.item(item, level + 1) for item in items] if expand else []
        node = ProvenanceNode(
            event_id=row.event_id,
            asset=row.asset,
            partition=rows.partition_of(row.partition),
            version=row.version,
            kind=row.kind,
            occurred_at=from_millis(row.occurred_at_ms),
            inputs=[child for child, _ in children],
            truncated=bool(items) and not expand,
        )
        built = (node, 1 + sum(size for _, size in children))
        if known is None:
            self.built[key] = built
        return built

    def item(self, item: Row[Any], level: int) -> tuple[ProvenanceNode, int]:
        event_id = self.found.input_event_id(item)
        row = None if event_id is None else self.found.events.get(event_id)
        if row is not None and self.budget > 0:
            return self.event(row, level)
        self.budget -= 1
        node = ProvenanceNode(
            event_id=event_id,
            asset=item.asset,
            partition=rows.partition_of(item.partition),
            version=item.version,
            kind=None,
            occurred_at=None,
            truncated=row is not None,
        )
        return node, 1


def provenance(conn: Connection, event_id: str, depth: int) -> ProvenanceNode | None:
    """The provenance tree of ``event_id`` to ``depth`` levels of inputs, or ``None`` if the
    event is unknown. Nodes below the depth are left out and their parent marked ``truncated``."""
    root = rows.event_rows(conn, [event_id]).get(event_id)
    if root is None:
        return None
    found = _read(conn, root, depth)
    node, _ = _Builder(found, depth).event(root, 0)
    return node
