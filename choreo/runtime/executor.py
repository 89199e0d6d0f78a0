"""Running asset functions, with retries and bounded concurrency, off the consumer's poll thread.

A run's outcome comes back through ``on_done``. Sync functions run on ``max_concurrency`` worker
threads; async functions on one event loop in its own thread. Retries with exponential backoff
happen on the worker, so a 10-minute transformation, or a slow retry, holds up only its worker.

With ``inline``, a sync function whose recent runs were all short (under
``INLINE_BELOW_SECONDS``) runs on the calling thread instead, the runner's loop, which is not the
poll thread: handing a short run to a worker costs more than the run, since both threads then
run Python for every event. How long a function takes is learnt from its runs on the workers
and kept as an estimate that rises at once with a slow run and falls slowly with fast ones, so a
function that turns slow goes back to the workers after one slow run. Its retries always run on
a worker.

The workers take runs from one queue; a run costs a queue put and a get, not the futures and
locks of ``concurrent.futures``, since a service may start thousands of runs a second.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog

from choreo.service import AssetDefinition, InputArg, Output, RunContext

log = structlog.get_logger(__name__)

#: Longest single backoff between attempts, however many retries are configured.
MAX_BACKOFF = timedelta(minutes=5)
#: A function whose estimated run time is below this runs on the calling thread (``inline``).
INLINE_BELOW_SECONDS = 0.002
#: How much of the estimate a faster run leaves standing (a slower one replaces it).
ESTIMATE_DECAY = 0.9


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The function returned an ``Output``."""

    output: Output
    attempts: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Failed:
    """Every attempt raised (or returned something that is not an ``Output``)."""

    error_type: str
    message: str
    attempts: int
    seconds: float


RunOutcome = Succeeded | Failed


@dataclass(frozen=True, slots=True)
class _Job:
    definition: AssetDefinition
    ctx: RunContext
    args: list[InputArg]
    on_done: Callable[[RunOutcome], None]
    failed: Failed | None = None
    """The outcome of the attempt that failed on the calling thread, if this continues it."""
    started: float | None = None
    """When the run's first attempt began (``time.perf_counter``), if it already ran."""


def backoff_for(first: timedelta, attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``first``, capped."""
    doubled: float = first.total_seconds() * 2.0 ** (attempt - 1)
    return min(doubled, MAX_BACKOFF.total_seconds())


class RunExecutor:
    """Executes runs on workers and reports outcomes through a callback."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        sleep: Callable[[float], None] | None = None,
        inline: bool = False,
    ):
        self._max_concurrency = max_concurrency
        self._inline = inline
        self._took: dict[str, float] = {}
        """Estimated seconds of a run of each asset, from its runs (written by any thread)."""
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop_lock = threading.Lock()
        self._sleep = sleep if sleep is not None else self._interruptible_sleep
        self._busy = 0
        self._finished = threading.Condition()

    @property
    def busy(self) -> int:
        """Runs submitted whose ``on_done`` has not returned yet (waiting for a worker or not)."""
        return self._busy

    def wait_below(self, limit: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until fewer than ``limit`` runs are busy; say if so."""
        with self._finished:
            return self._finished.wait_for(lambda: self._busy < limit, timeout)

    def submit(
        self,
        definition: AssetDefinition,
        ctx: RunContext,
        args: list[InputArg],
        on_done: Callable[[RunOutcome], None],
    ) -> None:
        """Start a run; ``on_done`` is called with the outcome, from the worker, or before this
        returns when the run is short enough to run here (``inline``)."""
        if (
            self._inline
            and not definition.is_async
            and self._took.get(definition.key, INLINE_BELOW_SECONDS) < INLINE_BELOW_SECONDS
        ):
            self._run_here(_Job(definition, ctx, args, on_done))
            return
        self._hand_over(_Job(definition, ctx, args, on_done))

    def _hand_over(self, job: _Job) -> None:
        with self._finished:
            self._busy += 1
        if len(self._workers) < self._max_concurrency:
            worker = threading.Thread(target=self._work, name="choreo-run", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._jobs.put(job)

    def _run_here(self, job: _Job) -> None:
        """The first attempt on this thread; any retry on a worker."""
        started = time.perf_counter()
        outcome = self._attempt(job.definition, job.ctx, job.args, job.ctx.attempt, started)
        self._learn(job.definition, outcome)
        if isinstance(outcome, Failed) and outcome.attempts <= job.definition.retries:
            self._hand_over(replace(job, failed=outcome, started=started))
            return
        job.on_done(outcome)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                outcome = self.run(
                    job.definition, job.ctx, job.args, failed=job.failed, started=job.started
                )
                self._learn(job.definition, outcome)
                job.on_done(outcome)
            except Exception:  # a bug in on_done; the worker must go on
                log.exception("run.on_done_failed", asset=job.ctx.asset, run_id=job.ctx.run_id)
            finally:
                with self._finished:
                    self._busy -= 1
                    self._finished.notify_all()

    def _learn(self, definition: AssetDefinition, outcome: RunOutcome) -> None:
        """Update the estimate of how long a run of ``definition`` takes."""
        seconds = outcome.seconds if isinstance(outcome, Succeeded) else float("inf")
        known = self._took.get(definition.key)
        if known is None or seconds >= known:
            self._took[definition.key] = seconds
        else:
            self._took[definition.key] = known * ESTIMATE_DECAY + seconds * (1 - ESTIMATE_DECAY)

    def run(
        self,
        definition: AssetDefinition,
        ctx: RunContext,
        args: list[InputArg],
        *,
        failed: Failed | None = None,
        started: float | None = None,
    ) -> RunOutcome:
        """Run here, on the calling thread, with retries: the outcome (what workers report).

        ``failed`` continues a run whose attempts up to ``failed.attempts`` failed (since
        ``started``): its next attempt waits that attempt's backoff first.
        """
        started = time.perf_counter() if started is None else started
        outcome: RunOutcome | None = failed
        first = 1 if failed is None else failed.attempts + 1
        for attempt in range(first, definition.retries + 2):
            if attempt > 1:
                if self._stopping.is_set():
                    break
                self._sleep(backoff_for(definition.backoff, attempt - 1))
                if self._stopping.is_set():
                    break
            outcome = self._attempt(definition, ctx, args, attempt, started)
            if isinstance(outcome, Succeeded):
                break
        assert outcome is not None  # noqa: S101 - one attempt at least, or the failed one
        return outcome

    def _attempt(
        self,
        definition: AssetDefinition,
        ctx: RunContext,
        args: list[InputArg],
        attempt: int,
        started: float,
    ) -> RunOutcome:
        """One attempt: its outcome, a failure logged."""
        run_ctx = ctx if attempt == ctx.attempt else replace(ctx, attempt=attempt)
        try:
            result = self._call(definition, run_ctx, args)
            if not isinstance(result, Output):
                raise TypeError(  # noqa: TRY301 - reported like any failure of the function
                    f"asset function for {definition.key} returned {type(result).__name__}, "
                    "not ctx.output(...)"
                )
        except Exception as exc:  # noqa: BLE001 - any user error becomes a FAILED event
            log.warning(
                "run.attempt_failed",
                asset=ctx.asset,
                partition=ctx.partition,
                run_id=ctx.run_id,
                attempt=attempt,
                of=definition.retries + 1,
                error_type=type(exc).__name__,
                error=str(exc),
            )
            return Failed(type(exc).__name__, str(exc), attempt, time.perf_counter() - started)
        return Succeeded(result, attempt, time.perf_counter() - started)

    def _call(self, definition: AssetDefinition, ctx: RunContext, args: list[InputArg]) -> Any:
        if definition.is_async:
            coroutine = definition.fn(ctx, *args)
            assert inspect.isawaitable(coroutine)  # noqa: S101 - checked by is_async
            return asyncio.run_coroutine_threadsafe(
                self._as_coroutine(coroutine), self._event_loop()
            ).result()
        return definition.fn(ctx, *args)

    @staticmethod
    async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
        return await awaitable

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="choreo-async", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop retrying, drop runs not started yet, let running attempts finish (if ``wait``),
        and stop the workers."""
        self._stopping.set()
        dropped = 0
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            dropped += job is not None
        with self._finished:
            self._busy -= dropped
            self._finished.notify_all()
        for _ in self._workers:
            self._jobs.put(None)
        if wait:
            for worker in self._workers:
                worker.join()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=5)
            self._loop.close()
