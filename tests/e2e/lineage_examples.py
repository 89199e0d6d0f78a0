"""Lineage for the web page's tests, as the records services put on the wire: declarations and
asset events, with the status each asset should then have."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from choreo.collector.views import Status
from choreo.events.models import (
    AssetDeclared,
    AssetEvent,
    ErrorInfo,
    EventKind,
    InputVersion,
    MetadataValue,
    ProducerInfo,
)

ORDERS = "shop.orders"
CUSTOMERS = "shop.customers"
SUMMARY = "shop.daily_order_summary"
FORECAST = "shop.predicted_orders"
DAYS = [f"2026-11-{day}" for day in range(14, 21)]


@dataclass
class Lineage:
    """What services announced, and each asset's expected status."""

    declarations: list[AssetDeclared]
    events: list[AssetEvent]
    statuses: dict[str, Status]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    """Why an asset is not fresh, for a collector that states rather than computes it."""


def producer(service: str, code_version: str | None = "1") -> ProducerInfo:
    """``service``'s first instance."""
    return ProducerInfo(service=service, instance=f"{service}-1", code_version=code_version)


def event(
    n: int,
    asset: str,
    partition: str | None,
    at: datetime,
    *,
    by: str,
    inputs: Sequence[AssetEvent] = (),
    failure: ErrorInfo | None = None,
    location: str | None = None,
    metadata: dict[str, MetadataValue] | None = None,
    correlation_id: uuid.UUID | None = None,
) -> AssetEvent:
    """Event number ``n`` (its id derives from it) by service ``by``: UPDATED, or FAILED with
    ``failure``."""
    digest = sha256(f"{asset}/{partition}/{n}".encode()).hexdigest()[:16]
    return AssetEvent(
        event_id=uuid.UUID(int=n),
        kind=EventKind.FAILED if failure else EventKind.UPDATED,
        asset=asset,
        partition=partition,
        version=digest,
        occurred_at=at,
        producer=producer(by),
        run_id=f"run-{n}",
        correlation_id=correlation_id,
        inputs=tuple(
            InputVersion(
                asset=i.asset, partition=i.partition, version=i.version, event_id=i.event_id
            )
            for i in inputs
        ),
        location=location,
        metadata=metadata or {},
        error=failure,
    )


def shop(now: datetime | None = None) -> Lineage:
    """The shop example a little after a customers update: every daily summary is built from
    the old customers version (stale), and the forecast's last run failed."""
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=20)
    customers_v1 = event(
        1,
        CUSTOMERS,
        None,
        start,
        by="shop-ingest",
        location="file:///data/raw/customers.csv",
        metadata={"rows": 412},
    )
    events = [customers_v1]
    summaries = []
    for i, day in enumerate(DAYS):
        at = start + timedelta(hours=2 * i, minutes=5)
        orders = event(
            10 + i,
            ORDERS,
            day,
            at,
            by="shop-ingest",
            location=f"file:///data/raw/orders/{day}.csv",
            metadata={"rows": 1150 + 17 * i},
        )
        summary = event(
            30 + i,
            SUMMARY,
            day,
            at + timedelta(seconds=4),
            by="shop-summary",
            inputs=[orders, customers_v1],
            location=f"file:///data/warehouse/daily_order_summary/{day}.csv",
            metadata={"rows": 24, "unknown_customers": i % 2},
            correlation_id=orders.event_id,
        )
        events += [orders, summary]
        summaries.append(summary)
    customers_v2 = event(
        2,
        CUSTOMERS,
        None,
        now - timedelta(minutes=25),
        by="shop-ingest",
        location="file:///data/raw/customers.csv",
        metadata={"rows": 418},
    )
    events += [
        event(
            50,
            FORECAST,
            None,
            start + timedelta(hours=14),
            by="shop-forecast",
            inputs=summaries,
            location="file:///data/warehouse/predicted_orders.csv",
            metadata={"horizon_days": 7},
        ),
        customers_v2,
        event(
            51,
            FORECAST,
            None,
            now - timedelta(minutes=12),
            by="shop-forecast",
            inputs=summaries,
            failure=ErrorInfo(
                type="ValueError", message="need at least 7 days of summaries, got 6", attempt=3
            ),
        ),
    ]
    declared_at = start - timedelta(minutes=1)
    declarations = [
        AssetDeclared(
            asset=SUMMARY,
            service="shop-summary",
            inputs=(ORDERS, CUSTOMERS),
            partitioned=True,
            freshness_ms=26 * 3600 * 1000,
            owner="analytics",
            description="Daily order counts and revenue of the shop, per customer segment and "
            "country.",
            code_version="1",
            declared_at=declared_at,
            producer=producer("shop-summary"),
        ),
        AssetDeclared(
            asset=FORECAST,
            service="shop-forecast",
            inputs=(SUMMARY,),
            trigger="debounce(2s, max_wait=30s)",
            owner="data-science",
            description="Next week's shop orders and revenue, from the daily order summaries.",
            code_version="1",
            declared_at=declared_at,
            producer=producer("shop-forecast"),
        ),
    ]
    return Lineage(
        declarations=declarations,
        events=events,
        statuses={
            ORDERS: Status.FRESH,
            CUSTOMERS: Status.FRESH,
            SUMMARY: Status.STALE,
            FORECAST: Status.FAILED,
        },
        reasons={
            SUMMARY: [
                f"input {CUSTOMERS} has a newer version {customers_v2.version!r} than "
                f"{customers_v1.version!r}, which {SUMMARY}[{day}] was built from"
                for day in DAYS[:3]
            ],
            FORECAST: [f"{FORECAST} failed: ValueError"],
        },
    )


def chain(length: int) -> Lineage:
    """``chain.a0 -> chain.a1 -> …``, each built once from the previous one's event."""
    at = datetime.now(UTC) - timedelta(hours=length)
    events: list[AssetEvent] = []
    for i in range(length):
        events.append(
            event(
                200 + i,
                f"chain.a{i}",
                None,
                at + timedelta(hours=i),
                by="chain",
                inputs=events[-1:],
            )
        )
    statuses = dict.fromkeys((e.asset for e in events), Status.FRESH)
    return Lineage(declarations=[], events=events, statuses=statuses)


def large(layers: int, width: int) -> Lineage:
    """A declared graph of ``layers * width`` never-built assets, each reading two of the
    previous layer: more than the page draws at once."""
    declarations = [
        AssetDeclared(
            asset=f"big.l{layer}_{i}",
            service=f"big-{layer}",
            inputs=(f"big.l{layer - 1}_{i}", f"big.l{layer - 1}_{(i + 1) % width}")
            if layer
            else (),
            producer=producer(f"big-{layer}"),
        )
        for layer in range(layers)
        for i in range(width)
    ]
    return Lineage(
        declarations=declarations,
        events=[],
        statuses=dict.fromkeys((d.asset for d in declarations), Status.NEVER_BUILT),
    )
