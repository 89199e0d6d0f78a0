"""choreo.testing: one asset function called directly, and service graphs run in memory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from choreo.errors import ConfigError, InvalidInputError
from choreo.events.models import EventKind, InputVersion
from choreo.service import AssetIn, InputData, Output, RunContext, Service
from choreo.testing import Choreography, arun_asset, input_data, run_asset

DAY = "2026-11-20"
T0 = datetime(2026, 11, 20, 6, 0, 30, tzinfo=UTC)


def chain() -> tuple[Service, Service]:
    """orders -> clean_orders -> daily_summary, each partitioned, in two services."""
    cleaning = Service("order-cleaning")

    @cleaning.asset("shop.clean_orders", inputs=["shop.orders"], partitioned=True)
    def clean(ctx: RunContext, orders: InputData) -> Output:
        return ctx.output(location=f"mem://clean/{ctx.partition}", source=orders.location)

    summary = Service("sales-summary")

    @summary.asset("shop.daily_summary", inputs=["shop.clean_orders"], partitioned=True)
    def daily(ctx: RunContext, clean_orders: InputData) -> Output:
        return ctx.output(location=f"mem://summary/{ctx.partition}", version="s1")

    return cleaning, summary


def joined(trigger: str) -> Service:
    """shop.report from orders and customers (both unpartitioned) with ``trigger``."""
    svc = Service("reporting")

    @svc.asset("shop.report", inputs=["shop.orders", "shop.customers"], trigger=trigger)
    def report(ctx: RunContext, orders: InputData, customers: InputData) -> Output:
        return ctx.output(location="mem://report")

    return svc


# -- run_asset ---------------------------------------------------------------------------------


def test_run_asset_calls_the_function_with_a_run_context() -> None:
    """run_asset passes ctx (partition, attempt, inputs) and each input, and returns the Output."""
    cleaning, _ = chain()
    orders = input_data("shop.orders", DAY, version="v3", location="s3://raw/orders")

    output = run_asset(cleaning, inputs={"shop.orders": orders}, partition=DAY, attempt=2)

    assert output == Output(location=f"mem://clean/{DAY}", metadata={"source": "s3://raw/orders"})


def test_run_asset_builds_inputs_from_a_dict_in_the_run_partition() -> None:
    """A dict input is input_data's arguments; its partition defaults to the run's."""
    seen: list[RunContext] = []
    svc = Service("probe")

    @svc.asset("shop.probe", inputs=["shop.orders"], partitioned=True)
    def probe(ctx: RunContext, orders: InputData) -> Output:
        seen.append(ctx)
        return ctx.output()

    run_asset(svc, "shop.probe", inputs={"shop.orders": {"version": "v7"}}, partition=DAY)

    (ctx,) = seen
    data = ctx.inputs["shop.orders"]
    assert isinstance(data, InputData)
    assert (data.partition, data.version, ctx.partition, ctx.attempt) == (DAY, "v7", DAY, 1)
    assert ctx.correlation_id == data.event_id


def test_run_asset_wraps_a_single_value_of_an_aggregated_input_in_a_tuple() -> None:
    """A partitioned input of an unpartitioned asset is a tuple, even when one value is given."""
    svc = Service("totals")

    @svc.asset("shop.total", inputs=[AssetIn("shop.orders", partitioned=True)])
    def total(ctx: RunContext, orders: tuple[InputData, ...]) -> Output:
        return ctx.output(days=len(orders))

    one = run_asset(svc, inputs={"shop.orders": input_data("shop.orders", "d1")})
    two = run_asset(
        svc,
        inputs={"shop.orders": [input_data("shop.orders", "d1"), input_data("shop.orders", "d2")]},
    )

    assert (one.metadata["days"], two.metadata["days"]) == (1, 2)


def test_run_asset_rejects_missing_inputs_and_wrong_partitioning() -> None:
    """Missing or unknown inputs, and a partition that does not fit, raise InvalidInputError."""
    cleaning, _ = chain()
    with pytest.raises(InvalidInputError, match=r"missing \['shop.orders'\]"):
        run_asset(cleaning, inputs={}, partition=DAY)
    with pytest.raises(InvalidInputError, match="partitioned"):
        run_asset(cleaning, inputs={"shop.orders": {}})
    with pytest.raises(InvalidInputError, match="does not own"):
        run_asset(cleaning, "shop.nothing", inputs={})


def test_run_asset_lets_the_function_exception_through() -> None:
    """The function's own exception propagates, unretried, for its traceback."""
    svc = Service("broken")

    @svc.asset("shop.broken")
    def broken(ctx: RunContext) -> Output:
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom"):
        run_asset(svc)


def test_run_asset_runs_async_functions_and_arun_asset_awaits_them() -> None:
    """An async asset runs to completion from sync and async tests alike."""
    svc = Service("async-svc")

    @svc.asset("shop.fetched", inputs=["shop.orders"])
    async def fetched(ctx: RunContext, orders: InputData) -> Output:
        await asyncio.sleep(0)
        return ctx.output(location=orders.location)

    inputs = {"shop.orders": {"location": "s3://x"}}
    assert run_asset(svc, inputs=inputs).location == "s3://x"
    assert asyncio.run(arun_asset(svc, inputs=inputs)).location == "s3://x"


# -- Choreography ------------------------------------------------------------------------------


def test_one_emit_cascades_down_a_chain_with_exact_input_versions() -> None:
    """An emit rebuilds each downstream asset once, each naming the exact version it read."""
    c = Choreography(*chain(), clock=T0)

    orders = c.emit("shop.orders", DAY, location="s3://raw/orders")

    assert [e.asset for e in c.events] == ["shop.orders", "shop.clean_orders", "shop.daily_summary"]
    clean = c.latest("shop.clean_orders", DAY)
    summary = c.latest("shop.daily_summary", DAY)
    assert clean.inputs == (
        InputVersion(asset="shop.orders", partition=DAY, version="v1", event_id=orders.event_id),
    )
    assert clean.metadata == {"source": "s3://raw/orders"}
    assert summary.inputs == (
        InputVersion(
            asset="shop.clean_orders",
            partition=DAY,
            version=clean.version,
            event_id=clean.event_id,
        ),
    )
    assert summary.correlation_id == orders.event_id
    assert c.runs_for("shop.daily_summary")[0].input_versions == {
        f"shop.clean_orders@{DAY}": clean.version
    }


def test_a_second_emit_rebuilds_from_the_new_version() -> None:
    """Emitting v2 rebuilds the chain from v2; events of each asset accumulate in order."""
    c = Choreography(*chain(), clock=T0)
    c.emit("shop.orders", DAY)
    c.emit("shop.orders", DAY)

    assert [r.input_versions for r in c.runs_for("shop.clean_orders")] == [
        {f"shop.orders@{DAY}": "v1"},
        {f"shop.orders@{DAY}": "v2"},
    ]
    assert len(c.events_for("shop.daily_summary")) == 2


def test_eager_runs_when_any_input_is_new() -> None:
    """eager: once both inputs exist, an update of either one rebuilds."""
    c = Choreography(joined("eager"), clock=T0)
    c.emit("shop.orders")
    c.emit("shop.customers")
    c.emit("shop.orders")

    assert [r.input_versions for r in c.runs] == [
        {"shop.orders": "v1", "shop.customers": "v1"},
        {"shop.orders": "v2", "shop.customers": "v1"},
    ]


def test_all_updated_waits_for_every_input_to_be_new() -> None:
    """all_updated: a new orders alone does not rebuild; new customers as well does."""
    c = Choreography(joined("all_updated"), clock=T0)
    c.emit("shop.orders")
    c.emit("shop.customers")
    c.emit("shop.orders")
    assert len(c.runs) == 1

    c.emit("shop.customers")

    assert c.runs[-1].input_versions == {"shop.orders": "v2", "shop.customers": "v2"}


def test_a_missing_input_blocks_with_its_reason() -> None:
    """With customers never seen, the report does not run and is reported blocked."""
    c = Choreography(joined("eager"), clock=T0)
    c.emit("shop.orders")

    assert c.runs == []
    last = c.blocked[-1]
    assert (last.asset, last.partition, last.reason) == (
        "shop.report",
        None,
        "missing input shop.customers",
    )
    with pytest.raises(LookupError, match=r"no event of shop\.report"):
        c.latest("shop.report")


def test_failed_after_retries_stops_downstream() -> None:
    """A function failing every attempt announces FAILED; downstream is blocked, not run."""
    flaky = Service("flaky")
    calls: list[int] = []

    @flaky.asset("shop.clean_orders", inputs=["shop.orders"], partitioned=True, retries=2)
    def clean(ctx: RunContext, orders: InputData) -> Output:
        calls.append(ctx.attempt)
        raise ValueError("bad row")

    _, summary = chain()
    c = Choreography(flaky, summary, clock=T0)
    c.emit("shop.orders", DAY)

    (run,) = c.runs
    assert calls == [1, 2, 3]
    assert (run.succeeded, run.attempts, run.backoffs) == (False, 3, (1.0, 2.0))
    failed = c.latest("shop.clean_orders", DAY)
    assert failed.kind is EventKind.FAILED
    assert failed.error is not None
    assert (failed.error.type, failed.error.message, failed.error.attempt) == (
        "ValueError",
        "bad row",
        3,
    )
    assert c.events_for("shop.daily_summary") == []
    assert [(b.asset, b.reason) for b in c.blocked] == [
        ("shop.daily_summary", "input shop.clean_orders failed")
    ]


def test_a_retry_that_succeeds_announces_updated() -> None:
    """A function that fails once then succeeds announces UPDATED after two attempts."""
    svc = Service("second-time")

    @svc.asset("shop.clean_orders", inputs=["shop.orders"], backoff="5s")
    def clean(ctx: RunContext, orders: InputData) -> Output:
        if ctx.attempt == 1:
            raise ConnectionError("try again")
        return ctx.output()

    c = Choreography(svc, clock=T0)
    c.emit("shop.orders")

    (run,) = c.runs
    assert (run.succeeded, run.attempts, run.backoffs) == (True, 2, (5.0,))


def test_an_emitted_failure_blocks_downstream() -> None:
    """A FAILED input event, as Emitter.failed sends it, blocks the asset reading it."""
    c = Choreography(*chain(), clock=T0)
    c.failed("shop.orders", DAY, error="source down")

    assert c.runs == []
    assert c.blocked[-1].reason == "input shop.orders failed"


def test_a_request_forces_a_run_the_trigger_would_not_make() -> None:
    """A request reruns an up-to-date asset with the same inputs and its request id."""
    c = Choreography(joined("all_updated"), clock=T0)
    c.emit("shop.orders")
    c.emit("shop.customers")

    request = c.request("shop.report", reason="backfill")

    assert len(c.runs) == 2
    assert c.runs[-1].request_id == str(request.request_id)
    assert c.runs[-1].inputs == c.runs[0].inputs
    assert c.latest("shop.report").event_id != c.runs[0].event.event_id


def test_a_request_with_a_missing_input_is_blocked() -> None:
    """A request cannot conjure a missing input: it is blocked, not run."""
    c = Choreography(joined("eager"), clock=T0)

    c.request("shop.report")

    assert c.runs == []
    assert c.blocked[-1].reason == "missing input shop.orders; missing input shop.customers"


def test_a_request_for_an_asset_no_service_owns_raises() -> None:
    """Requesting an asset that no service here owns is an error, not a silent no-op."""
    c = Choreography(joined("eager"), clock=T0)
    with pytest.raises(InvalidInputError, match="no service"):
        c.request("shop.orders")


def test_debounce_runs_once_after_the_window_with_the_latest_input() -> None:
    """debounce(30s): a burst of three emits makes one run, 30s after the last, reading v3."""
    svc = Service("debounced")

    @svc.asset("shop.digest", inputs=["shop.orders"], trigger="debounce(30s)")
    def digest(ctx: RunContext, orders: InputData) -> Output:
        return ctx.output()

    c = Choreography(svc, clock=T0)
    for _ in range(3):
        c.emit("shop.orders")
        c.advance(timedelta(seconds=10))
    assert c.runs == []

    c.advance(timedelta(seconds=19))
    assert c.runs == []
    c.advance(timedelta(seconds=1))

    (run,) = c.runs
    assert run.input_versions == {"shop.orders": "v3"}


def test_advance_fires_a_cron_source_at_each_fire_time() -> None:
    """advance() wakes a cron-triggered source at each fire time it crosses, at that time."""
    svc = Service("ticker")

    @svc.asset("shop.heartbeat", trigger="cron(0 * * * *)")
    def heartbeat(ctx: RunContext) -> Output:
        return ctx.output()

    c = Choreography(svc, clock=datetime(2026, 11, 20, 5, 59, 30, tzinfo=UTC))
    assert c.runs == []

    c.advance(timedelta(hours=2))

    assert [e.occurred_at for e in c.events] == [
        datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
    ]
    assert c.now == datetime(2026, 11, 20, 7, 59, 30, tzinfo=UTC)


def test_an_unpartitioned_output_aggregates_every_partition() -> None:
    """An unpartitioned asset reads all partitions of its input, as a tuple sorted by partition."""
    svc = Service("totals")
    seen: list[tuple[str | None, ...]] = []

    @svc.asset("shop.total", inputs=[AssetIn("shop.orders", partitioned=True)])
    def total(ctx: RunContext, orders: tuple[InputData, ...]) -> Output:
        seen.append(tuple(o.partition for o in orders))
        return ctx.output(days=len(orders))

    c = Choreography(svc, clock=T0)
    c.emit("shop.orders", "2026-11-21")
    c.emit("shop.orders", "2026-11-20")

    assert seen == [("2026-11-21",), ("2026-11-20", "2026-11-21")]
    assert c.latest("shop.total").metadata == {"days": 2}
    assert c.runs[-1].input_versions == {
        "shop.orders@2026-11-20": "v1",
        "shop.orders@2026-11-21": "v1",
    }


def test_an_unpartitioned_input_feeds_every_known_partition() -> None:
    """A global input's update rebuilds every partition already known from the grouped input."""
    svc = Service("enriched")

    @svc.asset("shop.enriched", inputs=["shop.orders", "shop.customers"], partitioned=True)
    def enriched(ctx: RunContext, orders: InputData, customers: InputData) -> Output:
        return ctx.output()

    c = Choreography(svc, clock=T0)
    c.emit("shop.customers")
    c.emit("shop.orders", "d1")
    c.emit("shop.orders", "d2")
    c.emit("shop.customers")

    assert [(r.partition, r.input_versions["shop.customers"]) for r in c.runs] == [
        ("d1", "v1"),
        ("d2", "v1"),
        ("d1", "v2"),
        ("d2", "v2"),
    ]


def test_async_functions_run_in_a_choreography() -> None:
    """An async asset function is awaited, and its output cascades like a sync one."""
    svc = Service("async-clean")

    @svc.asset("shop.clean_orders", inputs=["shop.orders"], partitioned=True)
    async def clean(ctx: RunContext, orders: InputData) -> Output:
        await asyncio.sleep(0)
        return ctx.output(location=f"mem://async/{ctx.partition}")

    _, summary = chain()
    c = Choreography(svc, summary, clock=T0)
    c.emit("shop.orders", DAY)

    assert c.latest("shop.clean_orders", DAY).location == f"mem://async/{DAY}"
    assert c.latest("shop.daily_summary", DAY).version == "s1"


def test_two_services_owning_one_asset_are_refused() -> None:
    """Each asset has one owner, as in a deployment."""
    cleaning, _ = chain()
    other, _ = chain()
    other.name = "other-cleaning"
    with pytest.raises(ConfigError, match="owned by both"):
        Choreography(cleaning, other)


def test_a_cycle_between_services_is_reported_rather_than_looping() -> None:
    """Services that rebuild each other forever make the call raise instead of hanging."""
    ping, pong = Service("ping"), Service("pong")

    @ping.asset("game.ping", inputs=["game.pong"])
    def hit(ctx: RunContext, other: InputData) -> Output:
        return ctx.output(location=f"mem://{other.version}")

    @pong.asset("game.pong", inputs=["game.ping"])
    def back(ctx: RunContext, other: InputData) -> Output:
        return ctx.output(location=f"mem://{other.version}")

    c = Choreography(ping, pong, clock=T0, max_steps=50)
    with pytest.raises(RuntimeError, match="cycle"):
        c.emit("game.pong")


def test_malformed_keys_are_refused_with_choreo_errors() -> None:
    """A bad asset or partition key raises InvalidInputError, as the Emitter's would."""
    c = Choreography(*chain(), clock=T0)
    with pytest.raises(InvalidInputError):
        c.emit("Shop Orders")
    with pytest.raises(InvalidInputError):
        c.failed("shop.orders", "bad partition/\n")
    assert c.events == []


def test_a_later_success_unblocks_downstream() -> None:
    """After a FAILED, a new input version that builds cleanly lets downstream run again."""
    flaky = Service("flaky")

    @flaky.asset("shop.clean_orders", inputs=["shop.orders"], partitioned=True, retries=0)
    def clean(ctx: RunContext, orders: InputData) -> Output:
        if orders.version == "v1":
            raise ValueError("bad row")
        return ctx.output()

    _, summary = chain()
    c = Choreography(flaky, summary, clock=T0)
    c.emit("shop.orders", DAY)
    c.emit("shop.orders", DAY)

    assert [e.kind for e in c.events_for("shop.clean_orders")] == [
        EventKind.FAILED,
        EventKind.UPDATED,
    ]
    assert c.latest("shop.daily_summary", DAY).inputs[0].event_id == c.runs[1].event.event_id
