"""Running asset functions off the consumer's poll thread, with retries and bounded concurrency.

The poll thread must keep polling (or the group evicts the consumer), so a run is handed to a
worker here and its outcome comes back later through ``on_done``. Sync functions run on
``max_concurrency`` worker threads; async functions on one event loop in its own thread. Retries
with exponential backoff happen inside the worker, so a 10-minute transformation, or a slow
retry, never blocks the poll loop.

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

_Job = tuple[AssetDefinition, RunContext, list[InputArg], Callable[[RunOutcome], None]]


def backoff_for(first: timedelta, attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``first``, capped."""
    doubled: float = first.total_seconds() * 2.0 ** (attempt - 1)
    return min(doubled, MAX_BACKOFF.total_seconds())


class RunExecutor:
    """Executes runs on workers and reports outcomes through a callback."""

    def __init__(self, max_concurrency: int, *, sleep: Callable[[float], None] | None = None):
        self._max_concurrency = max_concurrency
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
        """Start a run; ``on_done`` is called from the worker with the outcome."""
        with self._finished:
            self._busy += 1
        if len(self._workers) < self._max_concurrency:
            worker = threading.Thread(target=self._work, name="choreo-run", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._jobs.put((definition, ctx, args, on_done))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            definition, ctx, args, on_done = job
            try:
                on_done(self.run(definition, ctx, args))
            except Exception:  # a bug in on_done; the worker must go on
                log.exception("run.on_done_failed", asset=ctx.asset, run_id=ctx.run_id)
            finally:
                with self._finished:
                    self._busy -= 1
                    self._finished.notify_all()

    def run(self, definition: AssetDefinition, ctx: RunContext, args: list[InputArg]) -> RunOutcome:
        """Run here, on the calling thread, with retries: the outcome (what workers report)."""
        started = time.perf_counter()
        attempts = definition.retries + 1
        outcome: RunOutcome | None = None
        for attempt in range(1, attempts + 1):
            run_ctx = ctx if attempt == ctx.attempt else replace(ctx, attempt=attempt)
            try:
                result = self._call(definition, run_ctx, args)
                if not isinstance(result, Output):
                    raise TypeError(  # noqa: TRY301 - reported like any failure of the function
                        f"asset function for {definition.key} returned {type(result).__name__}, "
                        "not ctx.output(...)"
                    )
                outcome = Succeeded(result, attempt, time.perf_counter() - started)
                break
            except Exception as exc:  # noqa: BLE001 - any user error becomes a FAILED event
                outcome = Failed(
                    type(exc).__name__, str(exc), attempt, time.perf_counter() - started
                )
                log.warning(
                    "run.attempt_failed",
                    asset=ctx.asset,
                    partition=ctx.partition,
                    run_id=ctx.run_id,
                    attempt=attempt,
                    of=attempts,
                    error_type=type(exc).__name__,
                    error=str(exc),
                )
                if attempt < attempts and not self._stopping.is_set():
                    self._sleep(backoff_for(definition.backoff, attempt))
                if self._stopping.is_set():
                    break
        assert outcome is not None  # noqa: S101 - the loop runs at least once
        return outcome

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
