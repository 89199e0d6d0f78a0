"""The shop example: raw data generation, the daily summary, the forecast, and the assets end to
end on files in a temporary directory (no broker)."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from choreo.kafka.emitter import Emitter
from choreo.loader import load_service
from choreo.service import InputArg, InputData, Output, RunContext
from services.shop import forecast, ingest, summary
from services.shop.forecast import DayTotals
from services.shop.summary import CustomerInfo, OrderLine, SummaryRow

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SERVICES = Path(__file__).parents[3] / "services" / "shop"


def input_of(asset: str, location: str, partition: str | None = None) -> InputData:
    return InputData(
        asset=asset,
        partition=partition,
        version="v1",
        event_id=uuid.uuid4(),
        occurred_at=T0,
        location=location,
    )


def context_for(asset: str, partition: str | None, inputs: dict[str, InputArg]) -> RunContext:
    return RunContext(
        asset=asset,
        partition=partition,
        run_id="run-1",
        attempt=1,
        correlation_id=None,
        request_id=None,
        inputs=inputs,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def history(*orders: int, start: date = date(2026, 11, 1)) -> list[DayTotals]:
    return [DayTotals(start + timedelta(days=i), n, Decimal(n) * 10) for i, n in enumerate(orders)]


# --- ingest: generated raw data ---------------------------------------------------------------


def test_orders_are_the_same_for_the_same_day() -> None:
    """Generating one day's orders twice gives identical orders."""
    customers = ingest.generate_customers()
    day = date(2026, 11, 20)
    assert ingest.generate_orders(day, customers) == ingest.generate_orders(day, customers)


def test_orders_differ_between_days() -> None:
    """Two different days get different orders."""
    customers = ingest.generate_customers()
    first = ingest.generate_orders(date(2026, 11, 19), customers)
    second = ingest.generate_orders(date(2026, 11, 20), customers)
    assert [o.amount for o in first] != [o.amount for o in second]


@pytest.mark.parametrize("day", [date(2020, 1, 1), date(2026, 11, 21), date(2040, 6, 1)])
def test_orders_stay_in_bounds_and_on_their_day(day: date) -> None:
    """Order counts stay within 50 to 300; ids are unique, amounts positive, times on the day."""
    orders = ingest.generate_orders(day, ingest.generate_customers())
    assert ingest.MIN_ORDERS <= len(orders) <= ingest.MAX_ORDERS
    assert len({o.order_id for o in orders}) == len(orders)
    assert all(o.amount >= Decimal("0.01") for o in orders)
    assert all(o.placed_at.date() == day for o in orders)
    assert [o.placed_at for o in orders] == sorted(o.placed_at for o in orders)


def test_some_orders_come_from_customers_missing_in_the_table() -> None:
    """Over a month, some orders name customers the customers table does not list."""
    customers = ingest.generate_customers()
    known = {c.customer_id for c in customers}
    orders = [
        order
        for offset in range(30)
        for order in ingest.generate_orders(date(2026, 11, 1) + timedelta(offset), customers)
    ]
    assert 0 < sum(o.customer_id not in known for o in orders) < len(orders) * 0.05


def test_customers_table_is_fixed() -> None:
    """The customers table is identical on every call, with unique ids and known segments."""
    customers = ingest.generate_customers()
    assert customers == ingest.generate_customers()
    assert len({c.customer_id for c in customers}) == ingest.CUSTOMER_COUNT
    assert {c.segment for c in customers} == set(ingest.SEGMENT_SHARES)


def test_expand_days_includes_both_ends() -> None:
    """``FIRST..LAST`` lists every day from FIRST to LAST; one day lists itself."""
    assert ingest.expand_days("2026-11-29..2026-12-01") == [
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
    ]
    assert ingest.expand_days("2026-11-20") == ["2026-11-20"]


@pytest.mark.parametrize("text", ["2026-11-20..2026-11-18", "yesterday", "2026-01-01..2027-06-01"])
def test_expand_days_rejects_bad_ranges(text: str) -> None:
    """Backward ranges, non-dates and ranges over a year are refused."""
    with pytest.raises(ValueError, match=r".+"):
        ingest.expand_days(text)


def test_command_line_takes_a_day_or_a_range() -> None:
    """``--day`` and ``--days`` both give a list of ISO days; giving neither means the last week."""
    assert ingest.parse_args(["--day", "2026-11-20"]).days == ["2026-11-20"]
    args = ingest.parse_args(["--days", "2026-11-18..2026-11-19", "--data-dir", "/x"])
    assert args.days == ["2026-11-18", "2026-11-19"]
    assert args.data_dir == Path("/x")
    assert args.announce_customers
    week = ingest.parse_args([]).days
    assert len(week) == ingest.DEFAULT_DAYS
    assert week[-1] == date.today().isoformat()
    with pytest.raises(SystemExit) as exit_info:
        ingest.parse_args(["--day", "2026-11-20", "--days", "2026-11-18..2026-11-19"])
    assert exit_info.value.code == 2


# --- summary ----------------------------------------------------------------------------------

CUSTOMERS = {
    "C1": CustomerInfo("consumer", "DE"),
    "C2": CustomerInfo("consumer", "DE"),
    "C3": CustomerInfo("enterprise", "FR"),
}
ORDERS = [
    OrderLine("C1", Decimal("10.00")),
    OrderLine("C1", Decimal("20.00")),
    OrderLine("C2", Decimal("30.50")),
    OrderLine("C3", Decimal("100.00")),
    OrderLine("X9", Decimal("5.25")),
    OrderLine("X9", Decimal("4.75")),
    OrderLine("X8", Decimal("1.00")),
]


def test_summary_groups_by_segment_and_country() -> None:
    """Counts, revenue and distinct customers per group match the hand-computed figures."""
    result = summary.summarise(ORDERS, CUSTOMERS)
    assert result.rows == (
        SummaryRow("consumer", "DE", orders=3, revenue=Decimal("60.50"), customers=2),
        SummaryRow("enterprise", "FR", orders=1, revenue=Decimal("100.00"), customers=1),
        SummaryRow("unknown", "unknown", orders=3, revenue=Decimal("11.00"), customers=2),
    )
    assert result.orders == 7
    assert result.revenue == Decimal("171.50")
    assert [row.average_order_value for row in result.rows] == [
        Decimal("20.17"),
        Decimal("100.00"),
        Decimal("3.67"),
    ]


def test_unknown_customers_are_counted_not_dropped() -> None:
    """Orders of customers missing from the table land in ``unknown`` and are counted."""
    result = summary.summarise(ORDERS, {})
    assert result.rows == (
        SummaryRow("unknown", "unknown", orders=7, revenue=Decimal("171.50"), customers=5),
    )
    assert (result.unknown_orders, result.unknown_customers) == (7, 5)


def test_summary_of_a_day_without_orders_is_empty() -> None:
    """No orders give no groups and zero totals, and a CSV with only its header."""
    result = summary.summarise([], CUSTOMERS)
    assert (result.rows, result.orders, result.revenue) == ((), 0, Decimal(0))
    assert summary.summary_csv("2026-11-20", result) == ",".join(summary.SUMMARY_COLUMNS) + "\n"


def test_summary_refuses_orders_without_an_amount_column(tmp_path: Path) -> None:
    """A raw orders file missing a column fails with the file and the column named."""
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id\nO1,C1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="amount"):
        summary.read_orders(path)


def test_summary_refuses_locations_that_are_not_files() -> None:
    """An input announced at an ``s3://`` location is refused with its location named."""
    with pytest.raises(ValueError, match="s3://raw/orders"):
        summary.local_file(input_of("shop.orders", "s3://raw/orders/2026-11-20.csv"))


# --- forecast ---------------------------------------------------------------------------------


def test_forecast_of_a_straight_line_continues_it() -> None:
    """On a perfectly linear history, the next seven days continue the line exactly."""
    predictions = forecast.forecast(history(100, 110, 120, 130, 140))
    assert [p.day for p in predictions] == [date(2026, 11, 6) + timedelta(i) for i in range(7)]
    assert [p.orders for p in predictions] == pytest.approx([150 + 10 * i for i in range(7)])
    assert [p.revenue for p in predictions] == pytest.approx([1500 + 100 * i for i in range(7)])


def test_forecast_keeps_the_spacing_of_gaps() -> None:
    """Missing days keep their calendar spacing: the slope is per day, not per row."""
    days = [DayTotals(date(2026, 11, d), 100 + 5 * d, Decimal(0)) for d in (1, 2, 6)]
    assert forecast.forecast(days, horizon=1)[0].orders == pytest.approx(135)


def test_forecast_of_one_day_is_flat() -> None:
    """A single day of history predicts that day's figures for every day ahead."""
    assert {p.orders for p in forecast.forecast(history(80))} == {80.0}


def test_forecast_never_predicts_below_zero() -> None:
    """A falling trend is floored at zero orders and zero revenue."""
    last = forecast.forecast(history(30, 20, 10))[-1]
    assert (last.orders, last.revenue) == (0.0, 0.0)


def test_fit_line_matches_a_hand_computed_regression() -> None:
    """Least squares through (0, 1), (1, 3), (2, 2) has slope 0.5 and intercept 1.5."""
    line = forecast.fit_line([0.0, 1.0, 2.0], [1.0, 3.0, 2.0])
    assert (line.slope, line.intercept) == pytest.approx((0.5, 1.5))


def test_forecast_needs_history() -> None:
    """An empty history is an error, not an empty forecast."""
    with pytest.raises(ValueError, match="empty"):
        forecast.forecast([])


# --- the assets, end to end on files ----------------------------------------------------------


def test_each_module_defines_exactly_one_service() -> None:
    """``choreo run services/shop/<module>.py`` finds the module's one service and asset."""
    assert set(load_service(str(SERVICES / "summary.py")).assets) == {"shop.daily_order_summary"}
    assert set(load_service(str(SERVICES / "forecast.py")).assets) == {"shop.predicted_orders"}


def test_ingest_lands_files_and_announces_them(tmp_path: Path) -> None:
    """Ingest writes customers and each day's orders, and announces them with rows and bytes."""
    emitter = MagicMock(spec_set=Emitter)
    events = ingest.ingest(["2026-11-19", "2026-11-20"], tmp_path, emitter)
    assert len(events) == 3
    calls = [call.kwargs | {"asset": call.args[0]} for call in emitter.updated.call_args_list]
    assert [(c["asset"], c.get("partition")) for c in calls] == [
        ("shop.customers", None),
        ("shop.orders", "2026-11-19"),
        ("shop.orders", "2026-11-20"),
    ]
    orders_file = tmp_path / "raw" / "orders" / "2026-11-20.csv"
    assert calls[2]["location"] == orders_file.resolve().as_uri()
    assert calls[2]["metadata"] == {
        "rows": len(read_csv(orders_file)),
        "bytes": orders_file.stat().st_size,
        "source": "pos",
    }
    assert calls[0]["metadata"]["rows"] == ingest.CUSTOMER_COUNT


def test_ingest_can_leave_customers_unannounced(tmp_path: Path) -> None:
    """With ``announce_customers=False`` the table is written but only orders are announced."""
    emitter = MagicMock(spec_set=Emitter)
    ingest.ingest(["2026-11-20"], tmp_path, emitter, announce_customers=False)
    assert [call.args[0] for call in emitter.updated.call_args_list] == ["shop.orders"]
    assert (tmp_path / "raw" / "customers.csv").is_file()


def test_summary_asset_writes_the_day_into_the_warehouse(tmp_path: Path) -> None:
    """The summary asset reads the raw files, writes the day's CSV and reports its figures."""
    ingest.ingest(["2026-11-20"], tmp_path, MagicMock(spec_set=Emitter))
    raw = tmp_path.resolve() / "raw"
    orders = input_of("shop.orders", (raw / "orders" / "2026-11-20.csv").as_uri(), "2026-11-20")
    customers = input_of("shop.customers", (raw / "customers.csv").as_uri())
    ctx = context_for(
        "shop.daily_order_summary",
        "2026-11-20",
        {"shop.orders": orders, "shop.customers": customers},
    )
    output = summary.daily_order_summary(ctx, orders, customers)
    assert isinstance(output, Output)
    target = tmp_path.resolve() / "warehouse" / "daily_order_summary" / "2026-11-20.csv"
    assert output.location == target.as_uri()
    rows = read_csv(target)
    raw_orders = read_csv(raw / "orders" / "2026-11-20.csv")
    assert sum(int(r["orders"]) for r in rows) == len(raw_orders) == output.metadata["orders"]
    revenue = sum(Decimal(r["amount"]) for r in raw_orders)
    assert sum(Decimal(r["revenue"]) for r in rows) == revenue
    assert output.metadata["revenue"] == float(revenue)
    unknown = [r for r in rows if r["segment"] == "unknown"]
    assert sum(int(r["orders"]) for r in unknown) == output.metadata["unknown_customer_orders"]


def test_forecast_asset_reads_every_day_and_writes_next_week(tmp_path: Path) -> None:
    """The forecast asset sums each day's summary file and predicts the seven days after."""
    folder = tmp_path / "warehouse" / "daily_order_summary"
    folder.mkdir(parents=True)
    summaries = []
    for day, orders in (("2026-11-18", 100), ("2026-11-19", 120), ("2026-11-20", 140)):
        path = folder / f"{day}.csv"
        path.write_text(
            "day,segment,country,orders,revenue\n"
            f"{day},consumer,DE,{orders - 10},{orders * 10 - 100}\n"
            f"{day},unknown,unknown,10,100.00\n",
            encoding="utf-8",
        )
        summaries.append(input_of("shop.daily_order_summary", path.resolve().as_uri(), day))
    ctx = context_for("shop.predicted_orders", None, {"shop.daily_order_summary": tuple(summaries)})
    output = forecast.predicted_orders(ctx, tuple(reversed(summaries)))
    assert isinstance(output, Output)
    target = (tmp_path / "warehouse" / "predicted_orders.csv").resolve()
    assert output.location == target.as_uri()
    assert dict(output.metadata) == {
        "method": "ols_linear_trend",
        "days_used": 3,
        "first_day": "2026-11-18",
        "last_day": "2026-11-20",
        "next_day": "2026-11-21",
        "next_day_orders": 160.0,
        "next_day_revenue": 1600.0,
    }
    rows = read_csv(target)
    assert [r["predicted_orders"] for r in rows] == [f"{160 + 20 * i}.0" for i in range(7)]
    assert rows[-1] == {
        "day": "2026-11-27",
        "predicted_orders": "280.0",
        "predicted_revenue": "2800.00",
    }
