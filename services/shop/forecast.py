"""``shop.predicted_orders``: the next week's orders and revenue, from every day's summary.

The data science team owns it through the ``shop-forecast`` service. The asset is unpartitioned
and its input is partitioned by day, so a run receives every known day's summary at once (a
tuple of ``InputData``) and refits on the whole history: a late or rebuilt day changes the
forecast like a new one does.

The model is an ordinary least squares straight line per series (orders, revenue) over the
calendar day, so gaps in the history keep their true spacing; one day of history gives a flat
line. It is small on purpose: the example is about who rebuilds what and when, and a trend line
is easy to check by hand. Predictions never go below zero.

The forecast is written to ``predicted_orders.csv`` in the warehouse the summaries live in
(``<data>/warehouse/``), one line per predicted day.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from choreo.service import AssetIn, InputData, Output, RunContext, Service

HORIZON_DAYS = 7
METHOD = "ols_linear_trend"

svc = Service(
    "shop-forecast",
    owner="data-science",
    description="Next week's shop orders and revenue, from the daily order summaries.",
)


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One day of history: its orders and revenue over every segment and country."""

    day: date
    orders: int
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class Line:
    """``intercept + slope * x``."""

    intercept: float
    slope: float

    def at(self, x: float) -> float:
        """The line's value at ``x``."""
        return self.intercept + self.slope * x


@dataclass(frozen=True, slots=True)
class Prediction:
    """The expected orders and revenue of one future day."""

    day: date
    orders: float
    revenue: float


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Line:
    """The least squares line through the points; flat at the mean when all ``xs`` are equal.

    Raises:
        ValueError: there are no points, or ``xs`` and ``ys`` differ in length.
    """
    if not xs or len(xs) != len(ys):
        raise ValueError(f"need matching, non-empty xs and ys, not {len(xs)} and {len(ys)}")
    if len(set(xs)) == 1:
        return Line(intercept=statistics.fmean(ys), slope=0.0)
    slope, intercept = statistics.linear_regression(xs, ys)
    return Line(intercept=intercept, slope=slope)


def forecast(history: Sequence[DayTotals], horizon: int = HORIZON_DAYS) -> list[Prediction]:
    """The ``horizon`` days after the last day of ``history``, each from a trend line.

    Raises:
        ValueError: ``history`` is empty.
    """
    if not history:
        raise ValueError("cannot forecast from an empty history")
    first = min(item.day for item in history)
    last = max(item.day for item in history)
    xs = [float((item.day - first).days) for item in history]
    orders = fit_line(xs, [float(item.orders) for item in history])
    revenue = fit_line(xs, [float(item.revenue) for item in history])
    predictions = []
    for ahead in range(1, horizon + 1):
        x = float((last - first).days + ahead)
        predictions.append(
            Prediction(
                day=last + timedelta(days=ahead),
                orders=max(0.0, orders.at(x)),
                revenue=max(0.0, revenue.at(x)),
            )
        )
    return predictions


def forecast_csv(predictions: Sequence[Prediction]) -> str:
    """The predictions as CSV text: orders to one decimal, revenue to the cent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("day", "predicted_orders", "predicted_revenue"))
    writer.writerows(
        (p.day.isoformat(), f"{p.orders:.1f}", f"{p.revenue:.2f}") for p in predictions
    )
    return buffer.getvalue()


def summary_path(summary: InputData) -> Path:
    """Where a daily summary's ``file://`` location points.

    Raises:
        ValueError: the location is missing or not a ``file://`` URI.
    """
    location = summary.location or ""
    if not location.startswith("file:"):
        raise ValueError(f"summary {summary.partition} is at {location!r}, not a file:// URI")
    return Path(url2pathname(urlsplit(location).path))


def read_totals(summary: InputData) -> DayTotals:
    """A day's totals: the sum of the ``orders`` and ``revenue`` columns of its summary file.

    Raises:
        ValueError: the input has no partition, or the file lacks a column or a number.
    """
    if summary.partition is None:
        raise ValueError(f"{summary.asset} arrived without a day partition")
    path = summary_path(summary)
    with path.open(newline="", encoding="utf-8") as file:
        try:
            rows = [(int(r["orders"]), Decimal(r["revenue"])) for r in csv.DictReader(file)]
        except (KeyError, ArithmeticError) as exc:
            raise ValueError(f"{path} is not a daily order summary: {exc!r}") from exc
    return DayTotals(
        day=date.fromisoformat(summary.partition),
        orders=sum(orders for orders, _ in rows),
        revenue=sum((revenue for _, revenue in rows), Decimal(0)),
    )


@svc.asset(
    "shop.predicted_orders",
    inputs=[AssetIn("shop.daily_order_summary", partitioned=True)],
    # A backfill lands many days at once: wait for the burst to settle, then forecast once.
    trigger="debounce(2s, max_wait=30s)",
    code_version="1",
)
def predicted_orders(ctx: RunContext, summaries: tuple[InputData, ...]) -> Output:
    """Orders and revenue for each of the next seven days, from a linear trend."""
    history = sorted((read_totals(item) for item in summaries), key=lambda item: item.day)
    predictions = forecast(history)
    latest = max(summaries, key=lambda item: item.partition or "")
    target = (summary_path(latest).parents[1] / "predicted_orders.csv").resolve()
    staged = target.with_suffix(".csv.partial")
    staged.write_text(forecast_csv(predictions), encoding="utf-8")
    staged.replace(target)
    return ctx.output(
        location=target.as_uri(),
        method=METHOD,
        days_used=len(history),
        first_day=history[0].day.isoformat(),
        last_day=history[-1].day.isoformat(),
        next_day=predictions[0].day.isoformat(),
        next_day_orders=round(predictions[0].orders, 1),
        next_day_revenue=round(predictions[0].revenue, 2),
    )
