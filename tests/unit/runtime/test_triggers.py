"""Trigger policies and the decision: what runs, what is blocked, and when to ask again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from choreo.errors import InvalidInputError
from choreo.events.models import EventKind, InputVersion
from choreo.runtime.durations import format_duration, parse_duration
from choreo.runtime.observations import Observation
from choreo.runtime.partitions import InputSpec
from choreo.runtime.state import AssetState
from choreo.runtime.triggers import (
    AllUpdated,
    AssetSpec,
    Blocked,
    Cron,
    Debounce,
    Decision,
    Eager,
    Inputs,
    PlannedRun,
    Predicate,
    TriggerPolicy,
    absorb,
    absorb_affected,
    decide,
    parse_trigger,
    plan_requested,
)

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)

ORDERS = InputSpec("shop.orders", partitioned=True)
CUSTOMERS = InputSpec("shop.customers")


EAGER = Eager()


def summary(policy: TriggerPolicy = EAGER, *, partitioned: bool = False) -> AssetSpec:
    """An output reading an unpartitioned ``orders`` and ``customers`` (or partitioned orders)."""
    orders = InputSpec("shop.orders", partitioned=partitioned)
    return AssetSpec("shop.summary", (orders, CUSTOMERS), partitioned=partitioned, policy=policy)


def obs(
    asset: str,
    partition: str | None = None,
    version: str = "v1",
    at: datetime = T0,
    kind: EventKind = EventKind.UPDATED,
) -> Observation:
    return Observation(asset, partition, version, uuid.uuid4(), kind, at)


def feed(
    spec: AssetSpec, state: AssetState, observation: Observation, now: datetime
) -> tuple[AssetState, Decision]:
    """What the runtime does with one input event."""
    state = absorb(spec, state, observation, now)
    return state, decide(spec, state, now, changed=observation)


def settle(state: AssetState, decision: Decision, now: datetime) -> AssetState:
    """What the runtime records once the planned runs' outputs are acknowledged."""
    for run in decision.runs:
        state = state.record_run(run.output_partition, run.input_event_ids, now)
    return state


def ready(spec: AssetSpec, now: datetime = T0) -> AssetState:
    """A state where both inputs of ``summary()`` are known and marked changed at ``now``."""
    state = AssetState()
    for observation in (obs("shop.orders"), obs("shop.customers")):
        state = absorb(spec, state, observation, now)
    return state


def ran(decision: Decision) -> list[str | None]:
    return [run.output_partition for run in decision.runs]


# --- eager ---------------------------------------------------------------------------------------


def test_eager_runs_once_every_input_is_there() -> None:
    """The default policy runs as soon as no input is missing."""
    spec = summary()
    state, decision = feed(spec, AssetState(), obs("shop.orders"), T0)
    assert decision.runs == ()
    assert decision.blocked == (Blocked(None, "missing input shop.customers"),)
    customers = obs("shop.customers")
    state, decision = feed(spec, state, customers, T0)
    assert ran(decision) == [None]
    assert decision.runs[0].inputs["shop.customers"] == (customers,)
    assert decision.blocked == ()


def test_eager_does_not_rerun_what_was_consumed() -> None:
    """After a run, deciding again with nothing new plans nothing."""
    spec = summary()
    state = ready(spec)
    state = settle(state, decide(spec, state, T0), T0)
    assert decide(spec, state, T0 + MINUTE) == Decision()


def test_eager_runs_when_any_input_changes() -> None:
    """A new version of one input is enough for the eager policy."""
    spec = summary()
    state = ready(spec)
    state = settle(state, decide(spec, state, T0), T0)
    newer = obs("shop.customers", version="v2", at=T0 + MINUTE)
    state, decision = feed(spec, state, newer, T0 + MINUTE)
    assert ran(decision) == [None]
    assert decision.runs[0].inputs["shop.customers"] == (newer,)


def test_duplicate_events_do_not_retrigger() -> None:
    """A redelivered event changes no state and starts no run."""
    spec = summary()
    customers = obs("shop.customers")
    state = absorb(spec, AssetState(), obs("shop.orders"), T0)
    state = absorb(spec, state, customers, T0)
    state = settle(state, decide(spec, state, T0), T0)
    assert absorb(spec, state, customers, T0 + MINUTE) is state
    assert decide(spec, state, T0 + MINUTE, changed=customers).runs == ()


def test_missing_inputs_are_all_named() -> None:
    """Each missing input is named in the blocked reason."""
    spec = AssetSpec(
        "shop.summary", (InputSpec("shop.a"), InputSpec("shop.b"), InputSpec("shop.c"))
    )
    _, decision = feed(spec, AssetState(), obs("shop.b"), T0)
    assert decision.blocked == (Blocked(None, "missing input shop.a; missing input shop.c"),)


def test_failed_input_blocks_downstream() -> None:
    """A FAILED latest event on an input never triggers a run; the reason says which input."""
    spec = summary()
    state = ready(spec)
    state = settle(state, decide(spec, state, T0), T0)
    failed = obs("shop.orders", version="v2", at=T0 + MINUTE, kind=EventKind.FAILED)
    state, decision = feed(spec, state, failed, T0 + MINUTE)
    assert decision == Decision(blocked=(Blocked(None, "input shop.orders failed"),))
    recovered = obs("shop.orders", version="v3", at=T0 + 2 * MINUTE)
    state, decision = feed(spec, state, recovered, T0 + 2 * MINUTE)
    assert ran(decision) == [None]


def test_failed_partition_of_an_aggregated_input_blocks_the_aggregate() -> None:
    """One failed upstream partition blocks the unpartitioned output, naming the partition."""
    spec = AssetSpec("shop.total", (ORDERS,))
    state, _ = feed(spec, AssetState(), obs("shop.orders", "p1"), T0)
    failed = obs("shop.orders", "p2", kind=EventKind.FAILED)
    state, decision = feed(spec, state, failed, T0)
    assert decision.blocked == (Blocked(None, "input shop.orders failed (partition p2)"),)


def test_checked_events_never_trigger() -> None:
    """A CHECKED event about a consumed version starts nothing."""
    spec = summary()
    state = ready(spec)
    state = settle(state, decide(spec, state, T0), T0)
    checked = obs("shop.orders", at=T0 + MINUTE, kind=EventKind.CHECKED)
    assert absorb(spec, state, checked, T0 + MINUTE) is state
    assert decide(spec, state, T0 + MINUTE, changed=checked).runs == ()


def test_events_of_unrelated_assets_decide_nothing() -> None:
    """An observation of an asset that is not an input leaves the state and decision empty."""
    spec = summary()
    other = obs("shop.other")
    assert absorb(spec, AssetState(), other, T0) == AssetState().observe(other)
    assert decide(spec, AssetState().observe(other), T0, changed=other) == Decision()


def test_changed_limits_the_decision_to_its_partitions() -> None:
    """An event decides only the partitions it affects; ``changed=None`` decides them all."""
    spec = summary(partitioned=True)
    state = AssetState()
    for observation in (obs("shop.customers"), obs("shop.orders", "p1"), obs("shop.orders", "p2")):
        state = absorb(spec, state, observation, T0)
    p2 = state.known[("shop.orders", "p2")]
    assert ran(decide(spec, state, T0, changed=p2)) == ["p2"]
    assert ran(decide(spec, state, T0)) == ["p1", "p2"]


def test_only_decides_exactly_the_partitions_named() -> None:
    """``only`` (what the runtime passes after a run) decides those partitions and no others,
    whatever ``changed`` says."""
    spec = summary(partitioned=True)
    state = AssetState()
    for observation in (obs("shop.customers"), obs("shop.orders", "p1"), obs("shop.orders", "p2")):
        state = absorb(spec, state, observation, T0)
    p2 = state.known[("shop.orders", "p2")]
    assert ran(decide(spec, state, T0, only=["p1"])) == ["p1"]
    assert ran(decide(spec, state, T0, changed=p2, only=["p1"])) == ["p1"]
    assert ran(decide(spec, state, T0, only=[])) == []


def test_absorb_affected_names_the_partitions_it_marked() -> None:
    """``absorb_affected`` gives ``absorb``'s state and the output partitions it marked
    changed; none for an event that changes nothing or maps nowhere."""
    spec = summary(partitioned=True)
    state = AssetState()
    for observation in (obs("shop.orders", "p1"), obs("shop.orders", "p2")):
        state = absorb(spec, state, observation, T0)
    customers = obs("shop.customers")
    new, affected = absorb_affected(spec, state, customers, T0)
    assert new == absorb(spec, state, customers, T0)
    assert affected == ["p1", "p2"]
    assert set(new.pending_since) == {"p1", "p2"}
    assert absorb_affected(spec, new, customers, T0) == (new, [])
    stray = obs("shop.customers", "p9")  # a partitioned event of an unpartitioned input
    mapped_nowhere, nothing = absorb_affected(spec, new, stray, T0)
    assert mapped_nowhere is not new
    assert nothing == []


def test_unpartitioned_input_change_reruns_every_known_partition() -> None:
    """A new version of a global input runs each partition it feeds."""
    spec = summary(partitioned=True)
    state = AssetState()
    for observation in (obs("shop.customers"), obs("shop.orders", "p1"), obs("shop.orders", "p2")):
        state = absorb(spec, state, observation, T0)
    state = settle(state, decide(spec, state, T0), T0)
    newer = obs("shop.customers", version="v2", at=T0 + MINUTE)
    state, decision = feed(spec, state, newer, T0 + MINUTE)
    assert ran(decision) == ["p1", "p2"]


def test_join_waits_for_the_same_partition_of_both_inputs() -> None:
    """Two partitioned inputs join on the partition: p1 of one never pairs with p2 of the other."""
    spec = AssetSpec(
        "shop.matched", (ORDERS, InputSpec("shop.payments", partitioned=True)), partitioned=True
    )
    state, decision = feed(spec, AssetState(), obs("shop.orders", "p1"), T0)
    assert decision.blocked == (Blocked("p1", "missing input shop.payments"),)
    state, decision = feed(spec, state, obs("shop.payments", "p2"), T0)
    assert decision.blocked == (Blocked("p2", "missing input shop.orders"),)
    state, decision = feed(spec, state, obs("shop.payments", "p1"), T0)
    assert ran(decision) == ["p1"]
    assert {o.partition for items in decision.runs[0].inputs.values() for o in items} == {"p1"}


# --- all_updated ---------------------------------------------------------------------------------


def test_all_updated_waits_for_every_input() -> None:
    """After a run, ``all_updated`` holds until each input has something new."""
    spec = summary(AllUpdated())
    state = ready(spec)
    decision = decide(spec, state, T0)
    assert ran(decision) == [None]
    state = settle(state, decision, T0)
    state, decision = feed(spec, state, obs("shop.orders", version="v2", at=T0 + MINUTE), T0)
    assert decision.runs == ()
    state, decision = feed(spec, state, obs("shop.orders", version="v3", at=T0 + 2 * MINUTE), T0)
    assert decision.runs == ()
    state, decision = feed(spec, state, obs("shop.customers", version="v2", at=T0 + MINUTE), T0)
    assert ran(decision) == [None]


# --- cron ----------------------------------------------------------------------------------------


def test_cron_holds_changes_until_the_next_fire_time() -> None:
    """A change between fire times does not run; the decision asks to be woken at the tick."""
    spec = summary(Cron("0 6 * * *"))
    now = T0 + timedelta(hours=4)
    state = ready(spec, now)
    decision = decide(spec, state, now)
    assert decision == Decision(wake_at=T0 + timedelta(days=1))


def test_cron_runs_at_the_fire_time_when_inputs_changed() -> None:
    """At the tick after a change, the gate opens and the partition runs once."""
    spec = summary(Cron("0 6 * * *"))
    state = ready(spec, T0 + timedelta(hours=4))
    tick = T0 + timedelta(days=1)
    decision = decide(spec, state, tick)
    assert ran(decision) == [None]
    state = settle(state, decision, tick)
    assert decide(spec, state, tick) == Decision()


def test_cron_does_nothing_at_a_fire_time_without_changes() -> None:
    """At a tick with nothing new since the last run, nothing runs and no wake-up is asked."""
    spec = summary(Cron("0 6 * * *"))
    state = ready(spec, T0 - timedelta(hours=1))
    state = settle(state, decide(spec, state, T0), T0)
    assert decide(spec, state, T0 + timedelta(days=1)) == Decision()


def test_cron_change_after_a_quiet_tick_waits_for_the_next_one() -> None:
    """A tick that found nothing to do does not let a later change run before the next tick."""
    spec = summary(Cron("0 6 * * *"))
    state = ready(spec, T0 - timedelta(hours=1))
    state = settle(state, decide(spec, state, T0), T0)
    later = T0 + timedelta(days=1, hours=4)
    state, decision = feed(spec, state, obs("shop.orders", version="v2", at=later), later)
    assert decision == Decision(wake_at=T0 + timedelta(days=2))


def test_cron_catches_up_a_missed_tick_once() -> None:
    """A service that was down at the tick runs when it comes back, and only once."""
    spec = summary(Cron("0 6 * * *"))
    state = ready(spec, T0 - timedelta(hours=1))
    back = T0 + timedelta(days=2, hours=3)
    decision = decide(spec, state, back)
    assert ran(decision) == [None]
    assert decide(spec, settle(state, decision, back), back) == Decision()


def test_cron_with_unknown_history_runs_only_within_a_fire_minute() -> None:
    """With no run and no pending change recorded, only a moment in a fire minute opens the gate."""
    spec = summary(Cron("0 6 * * *"))
    state = AssetState().observe(obs("shop.orders")).observe(obs("shop.customers"))
    assert decide(spec, state, T0 + timedelta(hours=1)) == Decision(wake_at=T0 + timedelta(days=1))
    assert ran(decide(spec, state, T0 + 30 * SECOND)) == [None]


def test_cron_on_an_asset_without_inputs_runs_at_every_tick() -> None:
    """A source with a schedule runs at each fire time, once."""
    spec = AssetSpec("shop.fx_rates", policy=Cron("0 * * * *"))
    state = AssetState()
    decision = decide(spec, state, T0)
    assert ran(decision) == [None]
    state = settle(state, decision, T0)
    assert decide(spec, state, T0 + MINUTE) == Decision(wake_at=T0 + timedelta(hours=1))
    assert ran(decide(spec, state, T0 + timedelta(hours=1))) == [None]


def test_cron_still_respects_the_inner_policy() -> None:
    """``cron(...) + all_updated`` at a tick runs only if every input is new."""
    spec = summary(Cron("0 6 * * *", AllUpdated()))
    state = ready(spec, T0 - timedelta(hours=1))
    state = settle(state, decide(spec, state, T0), T0)
    later = T0 + timedelta(hours=1)
    state, _ = feed(spec, state, obs("shop.orders", version="v2", at=later), later)
    assert decide(spec, state, T0 + timedelta(days=1)) == Decision()


def test_eager_has_nothing_to_run_without_inputs() -> None:
    """An input-less asset without a schedule runs only when requested."""
    spec = AssetSpec("shop.fx_rates")
    assert decide(spec, AssetState(), T0) == Decision()
    assert isinstance(plan_requested(spec, AssetState(), None), PlannedRun)


# --- debounce ------------------------------------------------------------------------------------


def test_debounce_waits_for_a_quiet_window() -> None:
    """A change does not run at once; the decision asks to be woken when the window ends."""
    spec = summary(Debounce(30 * SECOND))
    state = ready(spec)
    assert decide(spec, state, T0) == Decision(wake_at=T0 + 30 * SECOND)
    assert decide(spec, state, T0 + 29 * SECOND) == Decision(wake_at=T0 + 30 * SECOND)


def test_debounce_restarts_the_window_on_each_change() -> None:
    """Each new change pushes the run back, so a burst is coalesced into one run."""
    spec = summary(Debounce(30 * SECOND))
    state = ready(spec)
    for step in range(1, 4):
        now = T0 + step * 10 * SECOND
        state, decision = feed(spec, state, obs("shop.orders", version=f"v{step}", at=now), now)
        assert decision == Decision(wake_at=now + 30 * SECOND)
    quiet = T0 + 60 * SECOND
    decision = decide(spec, state, quiet)
    assert ran(decision) == [None]
    assert decision.runs[0].inputs["shop.orders"][0].version == "v3"
    assert decide(spec, settle(state, decision, quiet), quiet + MINUTE) == Decision()


def test_debounce_max_wait_bounds_the_delay() -> None:
    """Under a steady stream of changes, ``max_wait`` after the first change forces the run."""
    spec = summary(Debounce(30 * SECOND, max_wait=45 * SECOND))
    state = ready(spec)
    now = T0 + 20 * SECOND
    state, decision = feed(spec, state, obs("shop.orders", version="v2", at=now), now)
    assert decision == Decision(wake_at=T0 + 45 * SECOND)
    assert ran(decide(spec, state, T0 + 45 * SECOND)) == [None]


def test_debounce_without_recorded_changes_runs_at_once() -> None:
    """Something new but no recorded arrival time (nothing to wait on) runs immediately."""
    spec = summary(Debounce(30 * SECOND))
    state = AssetState().observe(obs("shop.orders")).observe(obs("shop.customers"))
    assert ran(decide(spec, state, T0)) == [None]


def test_debounce_with_nothing_new_asks_for_no_wakeup() -> None:
    """Debounce only waits when the inner policy has something to run."""
    spec = summary(Debounce(30 * SECOND))
    state = ready(spec)
    state = settle(state, decide(spec, state, T0 + MINUTE), T0 + MINUTE)
    assert decide(spec, state, T0 + 2 * MINUTE) == Decision()


def test_wake_at_is_the_earliest_across_partitions() -> None:
    """With several partitions waiting, the decision wakes for the first of them."""
    spec = summary(Debounce(30 * SECOND), partitioned=True)
    state = absorb(spec, AssetState(), obs("shop.customers"), T0)
    state = absorb(spec, state, obs("shop.orders", "p2"), T0 + 10 * SECOND)
    state = absorb(spec, state, obs("shop.orders", "p1"), T0 + 5 * SECOND)
    assert decide(spec, state, T0 + 20 * SECOND) == Decision(wake_at=T0 + 35 * SECOND)
    assert ran(decide(spec, state, T0 + 35 * SECOND)) == ["p1"]


def test_changes_during_a_run_keep_the_debounce_going() -> None:
    """A change that arrived after the run chose its inputs is still debounced afterwards."""
    spec = summary(Debounce(30 * SECOND))
    state = ready(spec)
    start = T0 + 30 * SECOND
    decision = decide(spec, state, start)
    during = start + 10 * SECOND
    state, _ = feed(spec, state, obs("shop.orders", version="v2", at=during), during)
    state = settle(state, decision, start)
    assert decide(spec, state, during + SECOND) == Decision(wake_at=during + 30 * SECOND)


# --- predicate -----------------------------------------------------------------------------------


def _big_enough(inputs: Inputs) -> bool:
    return inputs["shop.orders"][0].version >= "v2"


def test_predicate_decides_on_the_inputs() -> None:
    """A user predicate sees the inputs and holds the run while it returns false."""
    spec = summary(Predicate(_big_enough))
    state = ready(spec)
    assert decide(spec, state, T0) == Decision()
    v2 = obs("shop.orders", version="v2", at=T0 + MINUTE)
    state, decision = feed(spec, state, v2, T0 + MINUTE)
    assert ran(decision) == [None]


def test_predicate_is_gated_by_something_new() -> None:
    """A predicate that is always true does not rerun inputs that were already consumed."""
    calls: list[Inputs] = []

    def always(inputs: Inputs) -> bool:
        calls.append(inputs)
        return True

    spec = summary(Predicate(always))
    state = ready(spec)
    state = settle(state, decide(spec, state, T0), T0)
    assert len(calls) == 1
    assert decide(spec, state, T0 + MINUTE) == Decision()
    assert len(calls) == 1


def test_predicate_that_raises_blocks_with_the_error() -> None:
    """A failing predicate blocks the partition with the exception as the reason."""

    def broken(inputs: Inputs) -> bool:
        raise ValueError("no rows column")

    spec = summary(Predicate(broken))
    decision = decide(spec, ready(spec), T0)
    assert decision.runs == ()
    (blocked,) = decision.blocked
    assert "broken raised ValueError('no rows column')" in blocked.reason


def test_predicate_describes_its_function() -> None:
    """A predicate's description names the function and any non-default inner policy."""
    assert Predicate(_big_enough).describe() == "predicate(_big_enough)"
    assert Predicate(_big_enough, AllUpdated()).describe() == "predicate(_big_enough) + all_updated"


# --- requested runs ------------------------------------------------------------------------------


def test_requested_run_bypasses_the_policy() -> None:
    """A materialise request runs even with nothing new and a closed cron gate."""
    spec = summary(Cron("0 6 * * *"))
    state = ready(spec, T0 - timedelta(hours=1))
    state = settle(state, decide(spec, state, T0), T0)
    run = plan_requested(spec, state, None, request_id="req-1")
    assert isinstance(run, PlannedRun)
    assert run.request_id == "req-1"
    assert set(run.inputs) == {"shop.orders", "shop.customers"}


def test_requested_run_is_blocked_by_a_missing_input() -> None:
    """A request cannot conjure a missing input; it is blocked with the reason."""
    spec = summary()
    state = AssetState().observe(obs("shop.orders"))
    assert plan_requested(spec, state, None) == Blocked(None, "missing input shop.customers")


def test_requested_run_is_blocked_by_a_failed_input() -> None:
    """A request does not read an input whose latest event failed."""
    spec = summary()
    state = AssetState().observe(obs("shop.orders", kind=EventKind.FAILED))
    state = state.observe(obs("shop.customers"))
    assert plan_requested(spec, state, None) == Blocked(None, "input shop.orders failed")


def test_request_names_a_partition_no_input_can() -> None:
    """A partitioned output of global inputs runs the requested partition, then follows updates."""
    spec = AssetSpec("shop.daily_snapshot", (CUSTOMERS,), partitioned=True)
    state = absorb(spec, AssetState(), obs("shop.customers"), T0)
    assert decide(spec, state, T0) == Decision()
    run = plan_requested(spec, state, "2026-11-20")
    assert isinstance(run, PlannedRun)
    state = state.record_run("2026-11-20", run.input_event_ids, T0)
    later = T0 + MINUTE
    state, decision = feed(spec, state, obs("shop.customers", version="v2", at=later), later)
    assert ran(decision) == ["2026-11-20"]


@pytest.mark.parametrize(("partitioned", "partition"), [(True, None), (False, "p1")])
def test_requested_partition_must_fit_the_asset(partitioned: bool, partition: str | None) -> None:
    """Naming a partition of an unpartitioned asset (or none of a partitioned one) is refused."""
    with pytest.raises(InvalidInputError):
        plan_requested(summary(partitioned=partitioned), AssetState(), partition)


def test_planned_run_lists_its_input_ids_and_versions() -> None:
    """A planned run gives the ids to record as consumed and the versions to announce."""
    orders, customers = obs("shop.orders"), obs("shop.customers")
    run = PlannedRun(None, {"shop.orders": (orders,), "shop.customers": (customers,)})
    assert run.input_event_ids == {orders.event_id, customers.event_id}
    assert run.input_versions() == (
        InputVersion(asset="shop.orders", version="v1", event_id=orders.event_id),
        InputVersion(asset="shop.customers", version="v1", event_id=customers.event_id),
    )


def test_decide_refuses_a_naive_now() -> None:
    """``now`` must be aware: the decision never guesses a time zone."""
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        decide(summary(), AssetState(), datetime(2026, 11, 20))


# --- specs and policy validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "inputs", "message"),
    [
        ("Shop", (), "invalid asset key"),
        ("shop.a", (InputSpec("shop.a"),), "input of itself"),
        ("shop.a", (InputSpec("shop.b"), InputSpec("shop.b", partitioned=True)), "shop.b twice"),
    ],
)
def test_asset_spec_is_validated(key: str, inputs: tuple[InputSpec, ...], message: str) -> None:
    """Bad keys, self-inputs and repeated inputs are refused when the spec is made."""
    with pytest.raises(InvalidInputError, match=message):
        AssetSpec(key, inputs)


@pytest.mark.parametrize(
    ("window", "max_wait", "message"),
    [
        (timedelta(0), None, "positive"),
        (timedelta(microseconds=1500), None, "whole number of milliseconds"),
        (MINUTE, 30 * SECOND, "shorter than its window"),
        (MINUTE, -MINUTE, "positive"),
    ],
)
def test_debounce_is_validated(window: timedelta, max_wait: timedelta | None, message: str) -> None:
    """A debounce window must be a positive whole number of ms, and max_wait no shorter."""
    with pytest.raises(InvalidInputError, match=message):
        Debounce(window, max_wait=max_wait)


def test_cron_is_validated_and_normalised() -> None:
    """A bad cron expression fails at declaration; spacing is normalised."""
    with pytest.raises(InvalidInputError, match="minute field"):
        Cron("99 * * * *")
    assert Cron(" 0  6 * * * ") == Cron("0 6 * * *")


# --- string forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "eager",
        "all_updated",
        "cron(0 6 * * *)",
        "cron(*/15 9-17 * * MON-FRI)",
        "cron(0,30 6 1,15 * *)",
        "cron(@daily)",
        "debounce(30s)",
        "debounce(500ms)",
        "debounce(1h30m)",
        "debounce(30s, max_wait=5m)",
        "debounce(2m) + all_updated",
        "cron(0 6 * * *) + all_updated",
        "cron(0 6 * * *) + debounce(5m) + all_updated",
    ],
)
def test_describe_round_trips(text: str) -> None:
    """``parse_trigger(text).describe() == text`` for every canonical form."""
    policy = parse_trigger(text)
    assert policy.describe() == text
    assert parse_trigger(policy.describe()) == policy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Eager ", Eager()),
        ("ALL_UPDATED", AllUpdated()),
        ("cron( 0  6 * * * )", Cron("0 6 * * *")),
        ("debounce( 30s ,max_wait = 1m )", Debounce(30 * SECOND, max_wait=MINUTE)),
        ("debounce(90s)", Debounce(90 * SECOND)),
        ("cron(0 6 * * *) + eager", Cron("0 6 * * *")),
        ("debounce(1d)+cron(0 6 * * *)", Debounce(timedelta(days=1), Cron("0 6 * * *"))),
    ],
)
def test_parse_trigger_is_lenient_about_spacing_and_case(text: str, expected: object) -> None:
    """Spacing and the case of names do not matter; ``+ eager`` is the default base."""
    assert parse_trigger(text) == expected


def test_debounce_describes_in_the_shortest_units() -> None:
    """A 90-second window is written ``1m30s``."""
    assert parse_trigger("debounce(90s)").describe() == "debounce(1m30s)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a part is empty"),
        ("sometimes", "'sometimes' is not a trigger"),
        ("eager + all_updated", "'eager' must come last"),
        ("cron(0 6 * *)", "has 4 fields"),
        ("cron(0 6 * * *", "is not a trigger"),
        ("debounce()", "invalid duration ''"),
        ("debounce(30)", "invalid duration '30'"),
        ("debounce(30s, wait=5m)", "debounce takes max_wait"),
        ("debounce(30s, max_wait=5s)", "shorter than its window"),
        ("every(5m)", "'every' is not a trigger"),
        ("cron(0 6 * * *) +", "a part is empty"),
    ],
)
def test_bad_trigger_strings_are_refused(text: str, message: str) -> None:
    """Unknown or malformed trigger strings raise ``InvalidInputError`` saying what is wrong."""
    with pytest.raises(InvalidInputError, match=message):
        parse_trigger(text)


def test_bad_trigger_message_lists_the_accepted_forms() -> None:
    """The error for an unknown trigger lists every accepted form."""
    with pytest.raises(InvalidInputError) as caught:
        parse_trigger("hourly")
    for form in ("eager", "all_updated", "cron(", "debounce(", "500ms"):
        assert form in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Durations combine whole numbers of d, h, m, s and ms, and format back the same."""
    assert parse_duration(text) == expected
    assert format_duration(expected) == text


@pytest.mark.parametrize(
    "text", ["", "0s", "5", "1.5s", "5 m", "30m1h", "1m1m", "5ms5s", "-1s", "1w"]
)
def test_bad_durations_are_refused(text: str) -> None:
    """Zero, unit-less, fractional, spaced, out-of-order and unknown units are refused."""
    with pytest.raises(InvalidInputError):
        parse_duration(text)
