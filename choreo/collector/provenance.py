"""The version-level provenance of one event: the exact input versions it was built from, and
theirs, down to a depth.

Read one level at a time: each level is one statement (the inputs of every event on the level,
joined to the events they name), never one per node. An input recorded without an ``event_id``
(announced by a system that did not say) is matched to the newest stored event of that asset,
partition and version, when there is one (one more statement for the level).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, select

from choreo.collector import rows, tables
from choreo.collector.millis import from_millis
from choreo.collector.views import ProvenanceNode

#: A tree of a deep graph with many shared inputs repeats subtrees; past this many nodes the
#: rest is cut (and marked ``truncated``) so an answer stays a reasonable size.
MAX_NODES = 5_000


class _Event(NamedTuple):
    event_id: str
    asset: str
    partition: str
    version: str
    kind: str
    occurred_at_ms: int


class _Input(NamedTuple):
    asset: str
    partition: str
    version: str
    event_id: str | None  # as recorded, or matched by version


_EVENT_COLUMNS = (
    tables.events.c.event_id,
    tables.events.c.asset,
    tables.events.c.partition,
    tables.events.c.version,
    tables.events.c.kind,
    tables.events.c.occurred_at_ms,
)


def _inputs_of(
    conn: Connection, event_ids: Sequence[str]
) -> tuple[dict[str, list[tuple[int, _Input]]], dict[str, _Event]]:
    """The inputs of each event, and the stored events those inputs name, in one statement."""
    inputs, events = tables.event_inputs, tables.events
    found: dict[str, list[tuple[int, _Input]]] = {event_id: [] for event_id in event_ids}
    named: dict[str, _Event] = {}
    for chunk in rows.chunks(event_ids):
        statement = (
            rows.consumed_select()
            .add_columns(*_EVENT_COLUMNS)
            .select_from(inputs)
            .outerjoin(events, events.c.event_id == inputs.c.input_event_id)
            .where(inputs.c.event_id.in_(chunk))
        )
        for owner, position, asset, partition, version, input_id, *event in conn.execute(statement):
            found[owner].append((position, _Input(asset, partition, version, input_id)))
            if event[0] is not None:
                named[event[0]] = _Event(*event)
    return found, named


def _match_versions(
    conn: Connection, items: Iterable[_Input]
) -> dict[tuple[str, str, str], _Event]:
    """The newest stored event of each input's ``(asset, partition, version)``."""
    events = tables.events
    columns = (events.c.asset, events.c.partition, events.c.version)
    wanted = sorted({(item.asset, item.partition, item.version) for item in items})
    newest: dict[tuple[str, str, str], _Event] = {}
    for chunk in rows.chunks(wanted, rows.KEY_CHUNK):
        statement = select(*_EVENT_COLUMNS).where(rows.matching(columns, chunk))
        for row in conn.execute(statement):
            event = _Event(*row)
            key = (event.asset, event.partition, event.version)
            known = newest.get(key)
            if known is None or (event.occurred_at_ms, event.event_id) > (
                known.occurred_at_ms,
                known.event_id,
            ):
                newest[key] = event
    return newest


class _Found:
    """Everything read: events by id, and each read event's inputs in order."""

    def __init__(self, root: _Event) -> None:
        self.events = {root.event_id: root}
        self.inputs: dict[str, list[_Input]] = {}

    def read(self, conn: Connection, depth: int) -> None:
        """Read ``depth`` levels of inputs below the root, and the inputs of the last level
        (only to tell whether it was cut)."""
        level = list(self.events)
        for distance in range(depth + 1):
            found, named = _inputs_of(conn, level)
            self.events.update(named)
            matched: dict[tuple[str, str, str], _Event] = {}
            unmatched = [i for items in found.values() for _, i in items if i.event_id is None]
            if unmatched and distance < depth:
                matched = _match_versions(conn, unmatched)
                self.events.update((event.event_id, event) for event in matched.values())
            for event_id, items in found.items():
                self.inputs[event_id] = [_resolved(item, matched) for _, item in sorted(items)]
            if distance == depth or len(self.events) > MAX_NODES:
                return
            following = {
                item.event_id
                for event_id in level
                for item in self.inputs[event_id]
                if item.event_id in self.events and item.event_id not in self.inputs
            }
            level = sorted(following)
            if not level:
                return


def _resolved(item: _Input, matched: dict[tuple[str, str, str], _Event]) -> _Input:
    if item.event_id is not None:
        return item
    event = matched.get((item.asset, item.partition, item.version))
    return item if event is None else item._replace(event_id=event.event_id)


class _Builder:
    """Builds the tree, cutting it at the depth and at ``MAX_NODES`` nodes."""

    def __init__(self, found: _Found, depth: int) -> None:
        self.found = found
        self.depth = depth
        self.budget = MAX_NODES

    def event(self, event: _Event, level: int) -> ProvenanceNode:
        self.budget -= 1
        items = self.found.inputs.get(event.event_id)  # None: not read, the node limit was hit
        expand = items is not None and level < self.depth and self.budget > 0
        # Built from stored rows already validated on the way in: construct without validation.
        return ProvenanceNode.model_construct(
            event_id=event.event_id,
            asset=event.asset,
            partition=rows.partition_of(event.partition),
            version=event.version,
            kind=event.kind,
            occurred_at=from_millis(event.occurred_at_ms),
            inputs=[self.item(item, level + 1) for item in items or ()] if expand else [],
            truncated=items is None or (bool(items) and not expand),
        )

    def item(self, item: _Input, level: int) -> ProvenanceNode:
        event = None if item.event_id is None else self.found.events.get(item.event_id)
        if event is not None and self.budget > 0:
            return self.event(event, level)
        self.budget -= 1
        return ProvenanceNode.model_construct(
            event_id=item.event_id,
            asset=item.asset,
            partition=rows.partition_of(item.partition),
            version=item.version,
            kind=None,
            occurred_at=None,
            inputs=[],
            truncated=event is not None,
        )


def provenance(conn: Connection, event_id: str, depth: int) -> ProvenanceNode | None:
    """The provenance tree of ``event_id`` to ``depth`` levels of inputs, or ``None`` if the
    event is unknown. Nodes below the depth are left out and their parent marked ``truncated``."""
    events = tables.events
    row = conn.execute(select(*_EVENT_COLUMNS).where(events.c.event_id == event_id)).first()
    if row is None:
        return None
    root = _Event(*row)
    found = _Found(root)
    found.read(conn, depth)
    return _Builder(found, depth).event(root, 0)
