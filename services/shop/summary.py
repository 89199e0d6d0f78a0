"""``shop.daily_order_summary``: a day's orders joined to the customers table, per segment and
country.

The analytics team owns it through the ``shop-summary`` service. One day rebuilds when that
day's orders land; every known day rebuilds when the customers table changes (an unpartitioned
input feeds every partition). Orders from a customer the table does not list are kept under
segment and country ``unknown`` and counted in the output's metadata: dropping them would
understate revenue without anyone noticing.

Inputs arrive as ``file://`` URIs. The summary goes to
``<data>/warehouse/daily_order_summary/<day>.csv``, where ``<data>`` is the directory holding
``raw/orders/`` in the ingest layout, or ``$CHOREO_DATA_DIR`` (default ``.choreo/data``) when
the orders file lives anywhere else.
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from choreo.service import AssetIn, InputData, Output, RunContext, Service

UNKNOWN = "unknown"
CENT = Decimal("0.01")
SUMMARY_COLUMNS = (
    "day",
    "segment",
    "country",
    "orders",
    "revenue",
    "average_order_value",
    "customers",
)

svc = Service(
    "shop-summary",
    owner="analytics",
    description="Daily order counts and revenue of the shop, per customer segment and country.",
)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """What the summary needs of one order."""

    customer_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What the summary needs of one customer."""

    segment: str
    country: str


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """The figures of one (segment, country) group on one day."""

    segment: str
    country: str
    orders: int
    revenue: Decimal
    customers: int

    @property
    def average_order_value(self) -> Decimal:
        """Revenue per order, to the cent."""
        return (self.revenue / self.orders).quantize(CENT)


@dataclass(frozen=True, slots=True)
class Summary:
    """A day's groups, sorted by (segment, country), and how many orders had no customer row."""

    rows: tuple[SummaryRow, ...]
    unknown_orders: int
    unknown_customers: int

    @property
    def orders(self) -> int:
        """Orders over all groups."""
        return sum(row.orders for row in self.rows)

    @property
    def revenue(self) -> Decimal:
        """Revenue over all groups."""
        return sum((row.revenue for row in self.rows), Decimal(0))


def summarise(orders: Iterable[OrderLine], customers: Mapping[str, CustomerInfo]) -> Summary:
    """Group orders by their customer's (segment, country); unknown customers form their own."""
    groups: dict[tuple[str, str], list[OrderLine]] = defaultdict(list)
    unknown_orders = 0
    unknown_ids: set[str] = set()
    for order in orders:
        info = customers.get(order.customer_id)
        if info is None:
            unknown_orders += 1
            unknown_ids.add(order.customer_id)
            groups[UNKNOWN, UNKNOWN].append(order)
        else:
            groups[info.segment, info.country].append(order)
    rows = tuple(
        SummaryRow(
            segment=segment,
            country=country,
            orders=len(lines),
            revenue=sum((line.amount for line in lines), Decimal(0)),
            customers=len({line.customer_id for line in lines}),
        )
        for (segment, country), lines in sorted(groups.items())
    )
    return Summary(rows=rows, unknown_orders=unknown_orders, unknown_customers=len(unknown_ids))


def summary_csv(day: str, summary: Summary) -> str:
    """The summary as CSV text, header first, one line per group."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in summary.rows:
        figures = (row.orders, row.revenue, row.average_order_value, row.customers)
        writer.writerow((day, row.segment, row.country, *figures))
    return buffer.getvalue()


def read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, which must include ``columns``.

    Raises:
        ValueError: a column is missing.
    """
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = [name for name in columns if name not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path} has no column(s) {', '.join(missing)}")
        return list(reader)


def read_orders(path: Path) -> list[OrderLine]:
    """The orders of a raw orders CSV file.

    Raises:
        ValueError: a column is missing or an amount is not a number.
    """
    lines = []
    for number, row in enumerate(read_rows(path, ("customer_id", "amount")), start=2):
        try:
            lines.append(OrderLine(row["customer_id"], Decimal(row["amount"])))
        except InvalidOperation as exc:
            raise ValueError(f"{path}:{number}: amount {row['amount']!r} is no number") from exc
    return lines


def read_customers(path: Path) -> dict[str, CustomerInfo]:
    """The customers table of a raw customers CSV file, by customer id."""
    rows = read_rows(path, ("customer_id", "segment", "country"))
    return {row["customer_id"]: CustomerInfo(row["segment"], row["country"]) for row in rows}


def local_file(data: InputData) -> Path:
    """The local file an input's ``file://`` location points to.

    Raises:
        ValueError: the input has no location, or one that is not a ``file://`` URI.
    """
    parts = urlsplit(data.location or "")
    if parts.scheme != "file":
        raise ValueError(f"{data.asset} is at {data.location!r}; this service reads file:// only")
    return Path(url2pathname(parts.path))


def warehouse_dir(orders_file: Path) -> Path:
    """``<data>/warehouse`` for an orders file at ``<data>/raw/orders/<day>.csv``.

    Falls back to ``$CHOREO_DATA_DIR/warehouse`` (default ``.choreo/data/warehouse``) when the
    file is elsewhere.
    """
    if orders_file.parent.name == "orders" and orders_file.parent.parent.name == "raw":
        return orders_file.parents[2] / "warehouse"
    return Path(os.environ.get("CHOREO_DATA_DIR") or ".choreo/data") / "warehouse"


@svc.asset(
    "shop.daily_order_summary",
    inputs=[AssetIn("shop.orders", partitioned=True), AssetIn("shop.customers", partitioned=False)],
    partitioned=True,
    freshness="26h",
    code_version="1",
)
def daily_order_summary(ctx: RunContext, orders: InputData, customers: InputData) -> Output:
    """Orders, revenue, average order value and distinct customers per segment and country."""
    orders_file = local_file(orders)
    summary = summarise(read_orders(orders_file), read_customers(local_file(customers)))
    day = ctx.partition or orders.partition or orders_file.stem
    target = (warehouse_dir(orders_file) / "daily_order_summary" / f"{day}.csv").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.partial")
    staged.write_text(summary_csv(day, summary), encoding="utf-8")
    staged.replace(target)
    return ctx.output(
        location=target.as_uri(),
        rows=len(summary.rows),
        orders=summary.orders,
        revenue=float(summary.revenue),
        unknown_customer_orders=summary.unknown_orders,
        unknown_customers=summary.unknown_customers,
    )
