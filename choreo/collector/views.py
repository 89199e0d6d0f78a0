"""What the collector answers: the shapes of its query results, shared by the query layer, the
HTTP API (and its OpenAPI document), the CLI and the web page."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class View(BaseModel):
    """Base of every result: immutable, no stray fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Status(StrEnum):
    """The state of an asset (or one of its partitions)."""

    FRESH = "fresh"
    STALE = "stale"  # an input has a newer version than the one the latest version used
    FAILED = "failed"  # the latest event is FAILED
    LATE = "late"  # older than its declared freshness
    NEVER_BUILT = "never_built"  # declared (or seen as an input) but no event yet


class EdgeKind(StrEnum):
    """Where an edge of the graph is known from."""

    DECLARED = "declared"  # from an AssetDeclared's inputs
    OBSERVED = "observed"  # from an event's inputs
    BOTH = "both"


class PartitionStatus(View):
    partition: str | None
    status: Status
    event_id: str
    kind: str
    version: str
    occurred_at: datetime
    reasons: list[str] = []


class AssetSummary(View):
    asset: str
    status: Status
    reasons: list[str] = []  # e.g. "input shop.orders[2026-11-20] has a newer version"
    service: str | None = None
    owner: str | None = None
    partitioned: bool | None = None
    freshness_seconds: float | None = None
    last_event_at: datetime | None = None
    last_updated_at: datetime | None = None
    latest_version: str | None = None
    partitions_total: int = 0
    partitions_by_status: dict[Status, int] = {}


class EventView(View):
    event_id: str
    kind: str
    asset: str
    partition: str | None
    version: str
    occurred_at: datetime
    producer_service: str
    producer_instance: str
    code_version: str | None
    run_id: str | None
    correlation_id: str | None
    location: str | None
    metadata: dict[str, Any]
    error: dict[str, Any] | None
    inputs: list[dict[str, Any]]  # asset, partition, version, event_id


class Page(View, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Declaration(View):
    service: str
    owner: str | None
    description: str | None
    inputs: list[str]
    trigger: str
    partitioned: bool
    freshness_seconds: float | None
    code_version: str | None
    declared_at: datetime


class AssetDetail(View):
    summary: AssetSummary
    declaration: Declaration | None
    partitions: list[PartitionStatus]
    history: Page[EventView]


class Edge(View):
    upstream: str
    downstream: str
    kind: EdgeKind


class Neighbourhood(View):
    """Upstream or downstream of an asset to a depth: nodes with their distance, and edges."""

    root: str
    direction: str  # "upstream" | "downstream"
    depth: int
    nodes: dict[str, int]  # asset -> distance from root
    edges: list[Edge]


class ImpactEntry(View):
    asset: str
    distance: int
    service: str | None
    owner: str | None
    status: Status


class ProvenanceNode(View):
    """One event and, recursively, the events of the input versions it was built from."""

    event_id: str | None  # None when the input version was never seen as an event
    asset: str
    partition: str | None
    version: str
    kind: str | None
    occurred_at: datetime | None
    inputs: list[ProvenanceNode] = []
    truncated: bool = False  # depth limit reached below this node


class GraphView(View):
    nodes: list[AssetSummary]
    edges: list[Edge]
