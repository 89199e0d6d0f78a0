"""A small shop written into a SQLite collector database, with every status represented.

``orders`` → ``daily_order_summary`` (partitioned) → ``predicted_orders``, with ``customers``
also feeding the summary and an undeclared ``ext.prices`` feeding the forecast. At ``NOW``:

- ``shop.orders``: fresh (v2, which nothing has consumed yet);
- ``shop.customers``: late (freshness 1h, last updated 3h before ``NOW``);
- ``shop.daily_order_summary``: stale (2026-11-20 built from orders v1);
- ``shop.predicted_orders``: failed;
- ``shop.report``: never built (declared, no events);
- ``ext.prices``: fresh, never declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from .lineage_data import T0, LineageData, sqlite_engine

NOW = T0 + timedelta(hours=3)
DAY = "2026-11-20"


@dataclass
class Shop:
    """The database and the ids of the events written into it."""

    engine: Engine
    data: LineageData
    orders_v1: str
    orders_v2: str
    customers: str
    prices: str
    summary_19: str
    summary_20: str
    forecast_ok: str
    forecast_failed: str


def build_shop(path: Path) -> Shop:
    """Write the shop into a new SQLite file at ``path``."""
    engine = sqlite_engine(path)
    data = LineageData(engine)
    minute = timedelta(minutes=1)
    data.declare("shop.orders", service="ingest", owner="team-raw", description="Raw orders")
    data.declare("shop.customers", service="ingest", owner="team-raw", freshness=timedelta(hours=1))
    data.declare(
        "shop.daily_order_summary",
        service="sales-summary",
        owner="team-sales",
        inputs=["shop.orders", "shop.customers"],
        partitioned=True,
        freshness=timedelta(hours=26),
    )
    data.declare(
        "shop.predicted_orders",
        service="forecast",
        owner="team-ml",
        inputs=["shop.daily_order_summary"],
    )
    data.declare("shop.report", service="reports", inputs=["shop.predicted_orders"])
    customers = data.event("shop.customers", "c1", at=T0)
    orders_v1 = data.event("shop.orders", "o1", at=T0 + minute)
    prices = data.event("ext.prices", "p1", at=T0 + minute, service="vendor")
    summary_19 = data.event(
        "shop.daily_order_summary",
        "s19",
        partition="2026-11-19",
        inputs=[orders_v1, customers],
        at=T0 + 2 * minute,
        service="sales-summary",
    )
    summary_20 = data.event(
        "shop.daily_order_summary",
        "s20",
        partition=DAY,
        inputs=[orders_v1, customers],
        at=T0 + 3 * minute,
        service="sales-summary",
        metadata={"rows": 1200},
    )
    forecast_ok = data.event(
        "shop.predicted_orders",
        "f1",
        inputs=[summary_20, ("ext.prices", None, "p1", None)],
        at=T0 + 4 * minute,
        service="forecast",
        run_id="run-1",
    )
    orders_v2 = data.event("shop.orders", "o2", at=NOW - 10 * minute)
    forecast_failed = data.event(
        "shop.predicted_orders",
        "f2",
        kind="FAILED",
        inputs=[summary_20],
        error=("ValueError", "no rows"),
        at=NOW - 5 * minute,
        service="forecast",
    )
    return Shop(
        engine=engine,
        data=data,
        orders_v1=orders_v1,
        orders_v2=orders_v2,
        customers=customers,
        prices=prices,
        summary_19=summary_19,
        summary_20=summary_20,
        forecast_ok=forecast_ok,
        forecast_failed=forecast_failed,
    )
