"""Write lineage straight into the collector's tables, the way its ingest does, for read tests.

Each declaration or event also moves a consumed offset, as the ingest's transaction does, so the
readers' change detection sees it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, delete, func, insert, select, update

from choreo.collector import tables
from choreo.collector.millis import to_millis

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
GROUP = "choreo-collector"

InputSpec = str | tuple[str, str | None, str, str | None]
"""An input: the id of an event written before, or ``(asset, partition, version, event_id)``."""


def sqlite_engine(path: Path) -> Engine:
    """A SQLite file engine with the collector's tables created."""
    engine = create_engine(f"sqlite:///{path}")
    tables.metadata.create_all(engine)
    return engine


class LineageData:
    """Declarations and events written into the tables, with the derived rows kept up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._offset = 0

    def _bump(self, conn: Connection) -> None:
        self._offset += 1
        o = tables.offsets
        conn.execute(delete(o))
        conn.execute(
            insert(o).values(
                consumer_group=GROUP,
                topic="choreo.declarations",
                partition=0,
                next_offset=self._offset,
            )
        )

    def _ensure_asset(self, conn: Connection, asset: str, at_ms: int) -> None:
        a = tables.assets
        if conn.execute(select(a.c.asset).where(a.c.asset == asset)).first() is None:
            conn.execute(insert(a).values(asset=asset, first_seen_ms=at_ms))

    def declare(
        self,
        asset: str,
        *,
        service: str = "svc",
        inputs: Sequence[str] = (),
        owner: str | None = None,
        description: str | None = None,
        partitioned: bool = False,
        freshness: timedelta | None = None,
        trigger: str = "eager",
        at: datetime = T0,
    ) -> None:
        """Record an ``AssetDeclared``: the asset row and its declared edges."""
        a, d = tables.assets, tables.declared_edges
        at_ms = to_millis(at)
        with self.engine.begin() as conn:
            self._ensure_asset(conn, asset, at_ms)
            for upstream in inputs:
                self._ensure_asset(conn, upstream, at_ms)
            conn.execute(
                update(a)
                .where(a.c.asset == asset)
                .values(
                    service=service,
                    owner=owner,
                    description=description,
                    partitioned=partitioned,
                    trigger=trigger,
                    freshness_ms=None
                    if freshness is None
                    else int(freshness.total_seconds() * 1000),
                    code_version="1",
                    declared_at_ms=at_ms,
                )
            )
            conn.execute(delete(d).where(d.c.downstream == asset))
            for upstream in inputs:
                conn.execute(insert(d).values(downstream=asset, upstream=upstream))
            self._bump(conn)

    def retire(self, asset: str) -> None:
        """Record that no service declares ``asset`` any more: declared facts and edges go."""
        a, d = tables.assets, tables.declared_edges
        declared = ("service", "owner", "description", "partitioned", "trigger", "freshness_ms")
        with self.engine.begin() as conn:
            conn.execute(
                update(a)
                .where(a.c.asset == asset)
                .values(dict.fromkeys((*declared, "code_version", "declared_at_ms")))
            )
            conn.execute(delete(d).where(d.c.downstream == asset))
            self._bump(conn)

    def event(
        self,
        asset: str,
        version: str,
        *,
        partition: str | None = None,
        kind: str = "UPDATED",
        at: datetime = T0,
        inputs: Sequence[InputSpec] = (),
        error: tuple[str, str] | None = None,
        run_id: str | None = None,
        event_id: str | None = None,
        metadata: dict[str, object] | None = None,
        service: str = "svc",
    ) -> str:
        """Record an ``AssetEvent`` and what the ingest derives from it; return its id."""
        event_id = event_id or str(uuid.uuid4())
        at_ms = to_millis(at)
        stored = partition or tables.NO_PARTITION
        e, i, o, latest = tables.events, tables.event_inputs, tables.observed_edges, tables.latest
        with self.engine.begin() as conn:
            resolved: list[tuple[str, str, str, str | None]] = []
            for item in inputs:
                if isinstance(item, str):
                    row = conn.execute(select(e).where(e.c.event_id == item)).one()
                    resolved.append((row.asset, row.partition, row.version, item))
                else:
                    up_asset, up_partition, up_version, up_id = item
                    resolved.append((up_asset, up_partition or "", up_version, up_id))
            self._ensure_asset(conn, asset, at_ms)
            conn.execute(
                insert(e).values(
                    event_id=event_id,
                    kind=kind,
                    asset=asset,
                    partition=stored,
                    version=version,
                    occurred_at_ms=at_ms,
                    producer_service=service,
                    producer_instance=f"{service}-0",
                    code_version="1",
                    run_id=run_id,
                    correlation_id=None,
                    location=f"memory://{asset}/{version}",
                    metadata_json=json.dumps(metadata or {}),
                    error_type=error[0] if error else None,
                    error_message=error[1] if error else None,
                    error_attempt=1 if error else None,
                    topic=f"choreo.asset.{asset}",
                    kafka_partition=0,
                    kafka_offset=self._offset,
                    ingested_at_ms=at_ms,
                )
            )
            for position, (up_asset, up_partition, up_version, up_id) in enumerate(resolved):
                self._ensure_asset(conn, up_asset, at_ms)
                conn.execute(
                    insert(i).values(
                        event_id=event_id,
                        position=position,
                        asset=up_asset,
                        partition=up_partition,
                        version=up_version,
                        input_event_id=up_id,
                    )
                )
                edge = (o.c.downstream == asset) & (o.c.upstream == up_asset)
                if conn.execute(select(func.count()).select_from(o).where(edge)).scalar_one():
                    conn.execute(
                        update(o).where(edge).values(last_seen_ms=at_ms, events=o.c.events + 1)
                    )
                else:
                    conn.execute(
                        insert(o).values(
                            downstream=asset,
                            upstream=up_asset,
                            first_seen_ms=at_ms,
                            last_seen_ms=at_ms,
                            events=1,
                        )
                    )
            key = (latest.c.asset == asset) & (latest.c.partition == stored)
            current = conn.execute(select(latest).where(key)).first()
            values: dict[str, object] = {}
            if current is None or (at_ms, event_id) >= (current.occurred_at_ms, current.event_id):
                values.update(event_id=event_id, kind=kind, version=version, occurred_at_ms=at_ms)
            if kind == "UPDATED" and (
                current is None or current.updated_at_ms is None or at_ms >= current.updated_at_ms
            ):
                values.update(updated_event_id=event_id, updated_at_ms=at_ms)
            if current is None:
                conn.execute(insert(latest).values(asset=asset, partition=stored, **values))
            elif values:
                conn.execute(update(latest).where(key).values(**values))
            self._bump(conn)
        return event_id
