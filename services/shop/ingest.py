"""The shop's point-of-sale and CRM exports: the "existing system" at the top of the example.

It is not a choreo service. Like a nightly export job it lands raw CSV files, then announces
them with the ``Emitter`` so that the services downstream start:

* ``shop.orders``, one partition per day: ``<data>/raw/orders/<day>.csv``
  (``order_id, customer_id, amount, placed_at``);
* ``shop.customers``, unpartitioned: ``<data>/raw/customers.csv``
  (``customer_id, name, segment, country``).

The data is pseudo-random but a pure function of the day (orders) or of a fixed seed
(customers), so every run of the example and every test sees the same numbers. Order volume
grows slowly through the year and peaks at weekends, which gives the forecast a trend to find,
and a small share of orders come from shoppers the CRM export does not list yet, which the
summary must not lose.

Run it as ``python -m services.shop.ingest --days 2026-11-18..2026-11-20`` (or
``python services/shop/ingest.py --day 2026-11-20``); files go under ``--data-dir``, by default
``$CHOREO_DATA_DIR`` or ``.choreo/data``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from choreo.cli.exits import exit_code_for
from choreo.errors import ChoreoError
from choreo.events import AssetEvent
from choreo.kafka.emitter import Emitter
from choreo.logs import configure_logging

ORDERS_ASSET = "shop.orders"
CUSTOMERS_ASSET = "shop.customers"
DEFAULT_DATA_DIR = Path(".choreo/data")

#: Customers in the CRM export; their ids are ``C00001`` … ``C00200``.
CUSTOMER_COUNT = 200
#: The customers table does not change from day to day, so it has one fixed seed.
CUSTOMERS_SEED = "shop.customers/v1"
#: Each segment's share of customers (percent).
SEGMENT_SHARES = {"consumer": 70, "small_business": 22, "enterprise": 8}
#: How much larger a segment's baskets are than a consumer's.
BASKET_FACTORS = {"consumer": 1.0, "small_business": 2.5, "enterprise": 6.0}
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "GB")
FIRST_NAMES = ("Ada", "Bram", "Chloé", "Dario", "Elif", "Finn", "Greta", "Hugo", "Inès", "Jonas")
LAST_NAMES = ("Meyer", "Dubois", "de Vries", "García", "Rossi", "Smith", "Novak", "Jansen")

#: Bounds on orders per day, and the expected volume: a base, a slow trend from the epoch and a
#: weekend lift, with Gaussian noise of the given spread.
MIN_ORDERS, MAX_ORDERS = 50, 300
TREND_EPOCH = date(2026, 1, 1)
BASE_ORDERS, ORDERS_PER_DAY, WEEKEND_LIFT, ORDERS_SPREAD = 110.0, 0.3, 40.0, 15.0
#: Share of orders placed by shoppers who are not in the customers table yet.
UNKNOWN_CUSTOMER_SHARE = 0.02
#: Consumer basket size: log-normal with this median (in euros) and shape.
BASKET_MEDIAN, BASKET_SIGMA = 33.0, 0.7
CENT = Decimal("0.01")
#: A longer ``--days`` range is almost certainly a typo.
MAX_DAYS = 366
#: Days landed when none are given: a week, enough for the forecast to have a trend.
DEFAULT_DAYS = 7


@dataclass(frozen=True, slots=True)
class Customer:
    """One row of the CRM export."""

    customer_id: str
    name: str
    segment: str
    country: str


@dataclass(frozen=True, slots=True)
class Order:
    """One row of a day's point-of-sale export."""

    order_id: str
    customer_id: str
    amount: Decimal
    placed_at: datetime


def generate_customers(count: int = CUSTOMER_COUNT) -> list[Customer]:
    """The customers table: the same ``count`` customers on every call."""
    rng = random.Random(CUSTOMERS_SEED)  # noqa: S311 - reproducible sample data, not secrets
    segments, shares = list(SEGMENT_SHARES), list(SEGMENT_SHARES.values())
    return [
        Customer(
            customer_id=f"C{number:05d}",
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            segment=rng.choices(segments, weights=shares)[0],
            country=rng.choice(COUNTRIES),
        )
        for number in range(1, count + 1)
    ]


def generate_orders(day: date, customers: Sequence[Customer]) -> list[Order]:
    """The orders placed on ``day``, by time: the same list for the same day and customers."""
    rng = random.Random(f"{ORDERS_ASSET}/{day.isoformat()}")  # noqa: S311 - as above
    weekend = WEEKEND_LIFT if day.weekday() >= 5 else 0.0  # noqa: PLR2004 - Saturday is 5
    expected = BASE_ORDERS + ORDERS_PER_DAY * (day - TREND_EPOCH).days + weekend
    count = min(MAX_ORDERS, max(MIN_ORDERS, round(rng.gauss(expected, ORDERS_SPREAD))))
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    placed = sorted(midnight + timedelta(seconds=rng.randrange(86_400)) for _ in range(count))
    orders = []
    for number, placed_at in enumerate(placed, start=1):
        if rng.random() < UNKNOWN_CUSTOMER_SHARE:
            customer_id, factor = f"C{90_000 + rng.randrange(10_000):05d}", 1.0
        else:
            customer = rng.choice(customers)
            customer_id, factor = customer.customer_id, BASKET_FACTORS.get(customer.segment, 1.0)
        basket = BASKET_MEDIAN * factor * rng.lognormvariate(0.0, BASKET_SIGMA)
        orders.append(
            Order(
                order_id=f"O{day:%Y%m%d}-{number:04d}",
                customer_id=customer_id,
                amount=max(CENT, Decimal(basket).quantize(CENT)),
                placed_at=placed_at,
            )
        )
    return orders


def customers_csv(customers: Sequence[Customer]) -> str:
    """The customers table as CSV text, header first."""
    return _csv(
        ("customer_id", "name", "segment", "country"),
        [(c.customer_id, c.name, c.segment, c.country) for c in customers],
    )


def orders_csv(orders: Sequence[Order]) -> str:
    """A day's orders as CSV text, header first; ``placed_at`` in ISO 8601 with its offset."""
    return _csv(
        ("order_id", "customer_id", "amount", "placed_at"),
        [(o.order_id, o.customer_id, str(o.amount), o.placed_at.isoformat()) for o in orders],
    )


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def expand_days(text: str) -> list[str]:
    """``FIRST..LAST`` (inclusive) or one ``YYYY-MM-DD`` as a list of ISO days.

    Raises:
        ValueError: a day is not an ISO date, the range runs backwards or spans over a year.
    """
    first_text, dots, last_text = text.partition("..")
    first = date.fromisoformat(first_text.strip())
    last = date.fromisoformat(last_text.strip()) if dots else first
    span = (last - first).days + 1
    if not 1 <= span <= MAX_DAYS:
        raise ValueError(f"{text!r} must run forwards over at most {MAX_DAYS} days")
    return [(first + timedelta(days=offset)).isoformat() for offset in range(span)]


def land(path: Path, text: str) -> int:
    """Write ``text`` to ``path`` so a reader never sees half of it; returns its size in bytes."""
    data = text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return len(data)


def ingest(
    days: list[str], data_dir: Path, emitter: Emitter, *, announce_customers: bool = True
) -> list[AssetEvent]:
    """Land the customers table and each day's orders under ``data_dir``, and announce them.

    The customers table is always written (its content never changes) and announced first
    unless ``announce_customers`` is false: a new version of it rebuilds every day's summary.

    Returns:
        The acknowledged events, customers (if announced) first, then one per day in order.

    Raises:
        ValueError: a day is not an ISO date.
        ChoreoError: the broker did not acknowledge an announcement.
    """
    parsed = [date.fromisoformat(day) for day in days]
    customers = generate_customers()
    path = (data_dir / "raw" / "customers.csv").resolve()
    size = land(path, customers_csv(customers))
    events = []
    if announce_customers:
        events.append(
            emitter.updated(
                CUSTOMERS_ASSET,
                location=path.as_uri(),
                metadata={"rows": len(customers), "bytes": size, "source": "crm"},
            )
        )
    for day in parsed:
        orders = generate_orders(day, customers)
        path = (data_dir / "raw" / "orders" / f"{day.isoformat()}.csv").resolve()
        size = land(path, orders_csv(orders))
        events.append(
            emitter.updated(
                ORDERS_ASSET,
                partition=day.isoformat(),
                location=path.as_uri(),
                metadata={"rows": len(orders), "bytes": size, "source": "pos"},
            )
        )
    return events


def one_day(text: str) -> list[str]:
    """``--day``: exactly one ISO day, as a one-item list."""
    return _days_argument(lambda: [date.fromisoformat(text.strip()).isoformat()])


def day_range(text: str) -> list[str]:
    """``--days``: ``expand_days`` with its reason shown when the value is bad."""
    return _days_argument(lambda: expand_days(text))


def _days_argument(parse: Callable[[], list[str]]) -> list[str]:
    try:
        return parse()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: which days, where the files go, whether to announce customers."""
    parser = argparse.ArgumentParser(
        prog="python -m services.shop.ingest",
        description="Land the shop's raw orders and customers and announce them.",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--day",
        type=one_day,
        dest="days",
        metavar="DAY",
        help="YYYY-MM-DD (default: the last 7 days)",
    )
    when.add_argument(
        "--days", type=day_range, metavar="FIRST..LAST", help="a range of days, both included"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("CHOREO_DATA_DIR") or DEFAULT_DATA_DIR),
        help="root of raw/ and warehouse/ (default: $CHOREO_DATA_DIR or .choreo/data)",
    )
    parser.add_argument(
        "--no-customers",
        dest="announce_customers",
        action="store_false",
        help="write customers.csv but do not announce it (no summary rebuilds for it)",
    )
    args = parser.parse_args(argv)
    if args.days is None:
        today = date.today()  # a local calendar day is what a person means here
        args.days = expand_days(f"{today - timedelta(days=DEFAULT_DAYS - 1)}..{today}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; print one line per announcement (asset, partition, rows, location)."""
    args = parse_args(argv)
    configure_logging("warning")
    try:
        with Emitter(service="shop-ingest") as emitter:
            events = ingest(
                args.days, args.data_dir, emitter, announce_customers=args.announce_customers
            )
    except ChoreoError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return int(exit_code_for(exc))
    for event in events:
        rows = event.metadata.get("rows")
        sys.stdout.write(f"{event.asset}\t{event.partition or '-'}\t{rows}\t{event.location}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
