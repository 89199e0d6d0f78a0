"""Running asset functions on workers: bounded concurrency, retries, and counting busy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from choreo import Service
from choreo.runtime.executor import Failed, RunExecutor, RunOutcome, Succeeded
from choreo.service import AssetDefinition, Output, RunContext

TIMEOUT = 10.0


def definition(fn: Callable[..., Output], *, retries: int = 0) -> AssetDefinition:
    svc = Service("svc-executor")
    svc.asset("t.out", retries=retries, backoff=timedelta(milliseconds=1))(fn)
    return svc.assets["t.out"]


def context() -> RunContext:
    return RunContext("t.out", None, "run-1", 1, None, None, {})


def test_runs_happen_on_at_most_max_concurrency_workers() -> None:
    """Four runs on two workers: two at a time, each outcome reported, busy counts them."""
    gate = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def fn(ctx: RunContext) -> Output:
        with lock:
            running.append(threading.current_thread().name)
        gate.wait(TIMEOUT)
        return ctx.output(location="x")

    executor = RunExecutor(2)
    outcomes: list[RunOutcome] = []
    done = threading.Semaphore(0)

    def on_done(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        done.release()

    for _ in range(4):
        executor.submit(definition(fn), context(), [], on_done)
    assert executor.busy == 4
    assert not executor.wait_below(4, 0.05)
    gate.set()
    for _ in range(4):
        assert done.acquire(timeout=TIMEOUT)
    assert executor.wait_below(1, TIMEOUT)
    assert all(isinstance(o, Succeeded) for o in outcomes)
    assert len(set(running)) <= 2
    executor.shutdown()


def test_a_failing_on_done_does_not_stop_the_worker() -> None:
    """A worker whose callback raised goes on with the next run."""
    executor = RunExecutor(1)
    finished = threading.Event()
    calls: list[RunOutcome] = []

    def on_done(outcome: RunOutcome) -> None:
        calls.append(outcome)
        if len(calls) == 1:
            raise RuntimeError("bug in the callback")
        finished.set()

    for _ in range(2):
        executor.submit(definition(lambda ctx: ctx.output()), context(), [], on_done)
    assert finished.wait(TIMEOUT)
    assert executor.wait_below(1, TIMEOUT)
    executor.shutdown()


def test_run_retries_on_the_calling_thread() -> None:
    """``run`` is what a worker does: attempts with backoff, then the outcome."""
    attempts: list[int] = []
    waited: list[float] = []

    def fn(ctx: RunContext) -> Output:
        attempts.append(ctx.attempt)
        raise ValueError("no")

    outcome = RunExecutor(1, sleep=waited.append).run(definition(fn, retries=2), context(), [])
    assert isinstance(outcome, Failed)
    assert (outcome.error_type, outcome.attempts) == ("ValueError", 3)
    assert attempts == [1, 2, 3]
    assert waited == [0.001, 0.002]


def test_shutdown_drops_runs_not_started() -> None:
    """Runs still queued at shutdown never start."""
    gate = threading.Event()
    started: list[int] = []

    def fn(ctx: RunContext) -> Output:
        started.append(1)
        gate.wait(TIMEOUT)
        return ctx.output()

    executor = RunExecutor(1)
    for _ in range(3):
        executor.submit(definition(fn), context(), [], lambda _o: None)
    while not started:
        threading.Event().wait(0.01)
    executor.shutdown(wait=False)
    gate.set()
    assert executor.wait_below(1, TIMEOUT)
    assert started == [1]
