"""Running asset functions on workers: bounded concurrency, retries, and counting busy runs."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta

from choreo import Service
from choreo.runtime.executor import INLINE_BELOW_SECONDS, Failed, RunExecutor, RunOutcome, Succeeded
from choreo.service import AssetDefinition, Output, RunContext

TIMEOUT = 10.0


def definition(
    fn: Callable[..., Output] | Callable[..., Awaitable[Output]], *, retries: int = 0
) -> AssetDefinition:
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


class Recorder:
    """``on_done`` that keeps each outcome with the thread it was reported on."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[RunOutcome, str]] = []
        self._reported = threading.Semaphore(0)

    def __call__(self, outcome: RunOutcome) -> None:
        self.outcomes.append((outcome, threading.current_thread().name))
        self._reported.release()

    def wait(self) -> tuple[RunOutcome, str]:
        assert self._reported.acquire(timeout=TIMEOUT)
        return self.outcomes[-1]


def ran_on(executor: RunExecutor, asset: AssetDefinition, threads: list[str]) -> str:
    """Submit one run of ``asset`` (whose function appends its thread to ``threads``) and wait
    for its outcome: the thread it ran on."""
    recorder = Recorder()
    executor.submit(asset, context(), [], recorder)
    outcome, _reported_on = recorder.wait()
    assert isinstance(outcome, Succeeded)
    return threads[-1]


def test_a_short_function_runs_inline_once_it_has_run_short() -> None:
    """Its first run goes to a worker (nothing is known of it); later ones, all short, run on
    the calling thread; without ``inline`` none does."""
    threads: list[str] = []

    def fn(ctx: RunContext) -> Output:
        threads.append(threading.current_thread().name)
        return ctx.output()

    here = threading.current_thread().name
    asset = definition(fn)
    inline = RunExecutor(2, inline=True)
    assert ran_on(inline, asset, threads) != here
    assert [ran_on(inline, asset, threads) for _ in range(5)] == [here] * 5
    assert inline.busy == 0
    inline.shutdown()
    plain = RunExecutor(2)
    assert here not in [ran_on(plain, asset, threads) for _ in range(6)]
    plain.shutdown()


def test_one_slow_run_sends_a_function_back_to_the_workers() -> None:
    """A run that takes longer than ``INLINE_BELOW_SECONDS`` raises the estimate at once: the
    next run goes to a worker, and it takes many short runs to come back."""
    threads: list[str] = []
    slow = threading.Event()

    def fn(ctx: RunContext) -> Output:
        threads.append(threading.current_thread().name)
        if slow.is_set():
            threading.Event().wait(INLINE_BELOW_SECONDS * 5)
        return ctx.output()

    here = threading.current_thread().name
    asset = definition(fn)
    executor = RunExecutor(2, inline=True)
    ran_on(executor, asset, threads)
    assert ran_on(executor, asset, threads) == here
    slow.set()
    assert ran_on(executor, asset, threads) == here  # not known to be slow until it ran
    slow.clear()
    assert ran_on(executor, asset, threads) != here
    assert ran_on(executor, asset, threads) != here  # one short run does not bring it back
    executor.shutdown()


def test_a_failed_inline_attempt_is_retried_on_a_worker() -> None:
    """The first attempt ran on the calling thread and failed: its retry waits the backoff on a
    worker, and the outcome counts both attempts."""
    attempts: list[tuple[int, str]] = []
    fail_next = threading.Event()
    waited: list[float] = []

    def fn(ctx: RunContext) -> Output:
        attempts.append((ctx.attempt, threading.current_thread().name))
        if fail_next.is_set():
            fail_next.clear()
            raise ValueError("once")
        return ctx.output()

    here = threading.current_thread().name
    asset = definition(fn, retries=2)
    executor = RunExecutor(1, inline=True, sleep=waited.append)
    warm_up = Recorder()
    executor.submit(asset, context(), [], warm_up)  # on a worker: the time it takes is learnt
    warm_up.wait()
    fail_next.set()
    recorder = Recorder()
    executor.submit(asset, context(), [], recorder)
    outcome, reported_on = recorder.wait()
    assert isinstance(outcome, Succeeded)
    assert outcome.attempts == 2
    assert attempts[-2][0] == 1
    assert attempts[-2][1] == here
    assert attempts[-1][0] == 2
    assert attempts[-1][1] != here
    assert reported_on != here
    assert waited == [0.001]
    executor.shutdown()


def test_async_functions_never_run_inline() -> None:
    """An async function runs on the executor's event loop, however short it is."""
    threads: list[str] = []

    async def fn(ctx: RunContext) -> Output:
        threads.append(threading.current_thread().name)
        return ctx.output()

    here = threading.current_thread().name
    executor = RunExecutor(1, inline=True)
    asset = definition(fn)
    assert here not in [ran_on(executor, asset, threads) for _ in range(4)]
    executor.shutdown()
