"""Throughput of one choreo service beside a plain confluent-kafka + fastavro loop.

Workload: N input events of asset ``t.in`` (~300 bytes each), spread in turn over K partition
keys (default 1,000; ``--keys 0`` gives every event its own key), pre-produced before either side
starts consuming. The choreo side is one ``ServiceRunner``, in a thread of this process, owning
the partitioned asset ``t.out`` (from ``t.in``) whose function only passes the input's location
and metadata on. The baseline reads the same bytes from a topic of its own and, in one thread,
decodes each with fastavro, builds the same shape of output event, encodes and produces it.

Both sides run against the same broker, one after the other, alternating over the rounds. A rate
is input events per second from the first input consumed to the broker's acknowledgement of the
last output. The outputs are then counted back from the output topic. choreo coalesces versions
of a key that arrive while that key's run is in flight; the table says when it did.

Run: ``PYTHONPATH=. python bench/throughput.py [--events N] [--keys K] [--rounds R] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from _plain import PlainTransform
from _profiling import profiled, summary
from _workload import (
    Record,
    broker,
    encode_inputs,
    ensure_asset_topics,
    machine_load,
    median,
    out_of_gc_sight,
    overloaded,
    plain_producer,
    produce_all,
    settings_for,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from choreo import AssetEvent, AssetIn, InputData, Output, RunContext, Service, Settings
from choreo.kafka.config import consumer_config
from choreo.kafka.runner import RunnerOptions, ServiceRunner
from choreo.logs import configure_logging

INPUT = "t.in"
OUTPUT = "t.out"
TARGET_RATIO = 0.7
DEFAULT_EVENTS = 20_000
DEFAULT_KEYS = 1_000
DEFAULT_ROUNDS = 3
QUICK_EVENTS = 6_000
#: Records per ``consume()`` call of the baseline (the runner drains up to 500 per poll too).
BATCH = 500
#: Short group timings: on the embedded broker a group join waits about one session timeout.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
#: Longest a side may take to process everything before the run counts as failed.
RUN_TIMEOUT_SECONDS = 240.0
READ_BACK_IDLE_SECONDS = 5.0

Input = tuple[AssetEvent, Record]


@dataclass(frozen=True)
class Result:
    """One side's run: inputs processed, outputs acknowledged, over how long."""

    side: str
    inputs: int
    outputs: int
    seconds: float
    #: CPU time of this whole process (every thread, librdkafka's too) over the same window.
    cpu_seconds: float
    read_back: int

    @property
    def rate(self) -> float:
        """Input events per second, first input consumed to last output acknowledged."""
        return self.inputs / self.seconds

    @property
    def cpu_per_event(self) -> float:
        """Microseconds of process CPU time per input event."""
        return self.cpu_seconds / self.inputs * 1e6


# -- the baseline ------------------------------------------------------------------------------


def run_plain(settings: Settings, inputs: Sequence[Input]) -> Result:
    """Consume → fastavro decode → build output → fastavro encode → produce, in one thread."""
    in_topic, out_topic = ensure_asset_topics(settings, [INPUT, OUTPUT])
    produce_all(settings, in_topic, [record for _event, record in inputs])
    total = len(inputs)
    transform = PlainTransform(OUTPUT, "bench-plain")
    consumer = Consumer(
        consumer_config(
            settings,
            f"{settings.topic_prefix}plain",
            **{"auto.offset.reset": "earliest", "enable.auto.commit": "true"},
        )
    )
    metadata = consumer.list_topics(in_topic, timeout=10)
    consumer.assign(
        [
            TopicPartition(in_topic, pid, OFFSET_BEGINNING)
            for pid in metadata.topics[in_topic].partitions
        ]
    )
    producer = plain_producer(settings, warm=True)
    acked = [0]
    finished = [0.0, 0.0]
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err.str())
            return
        acked[0] += 1
        if acked[0] == total:
            finished[:] = [time.perf_counter(), time.process_time()]

    consumed = 0
    started = 0.0
    cpu_started = 0.0
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    try:
        while consumed < total and time.monotonic() < deadline:
            batch = consumer.consume(BATCH, 0.1)
            if batch and not started:
                started, cpu_started = time.perf_counter(), time.process_time()
            for message in batch:
                if message.error() is not None:
                    continue
                consumed += 1
                key, value = transform(message.value() or b"")
                while True:
                    try:
                        producer.produce(out_topic, key=key, value=value, on_delivery=delivered)
                        break
                    except BufferError:
                        producer.poll(0.01)
            producer.poll(0)
        while acked[0] < total and not errors and time.monotonic() < deadline:
            producer.poll(0.01)
    finally:
        consumer.close()
        producer.flush(10)
    if errors or not finished[0]:
        raise RuntimeError(f"baseline: {acked[0]}/{total} acknowledged, errors {errors[:3]}")
    return Result(
        "plain",
        total,
        acked[0],
        finished[0] - started,
        finished[1] - cpu_started,
        read_back(settings, out_topic, total),
    )


# -- choreo --------------------------------------------------------------------------------------


def bench_service(*, exactly_once: bool = False) -> Service:
    """One partitioned asset from one partitioned input, doing next to nothing."""
    service = Service("bench-throughput", exactly_once=exactly_once)

    @service.asset(OUTPUT, inputs=[AssetIn(INPUT, partitioned=True)], partitioned=True)
    def copy(ctx: RunContext, source: InputData) -> Output:
        return ctx.output(location=source.location, metadata=source.metadata)

    return service


def run_choreo(
    settings: Settings, inputs: Sequence[Input], *, exactly_once: bool = False, side: str = "choreo"
) -> Result:
    """The same workload through one ``ServiceRunner``, timed by its run observer.

    It is done once, for every partition key, an acknowledged output has consumed the key's
    last input event.
    """
    in_topic, out_topic = ensure_asset_topics(settings, [INPUT, OUTPUT])
    produce_all(settings, in_topic, [record for _event, record in inputs])
    last_of_key = {event.partition: event.event_id for event, _record in inputs}
    waiting: set[uuid.UUID | None] = set(last_of_key.values())
    marks: dict[str, float] = {}
    outputs = [0]
    done = threading.Event()

    def observe(kind: str, details: dict[str, Any]) -> None:
        if kind == "run.started" and "started" not in marks:
            marks["started"], marks["cpu_started"] = time.perf_counter(), time.process_time()
        elif kind == "run.finished":
            outputs[0] += 1
            event: AssetEvent = details["event"]
            for item in event.inputs:  # called on the runner's thread: kept cheap
                waiting.discard(item.event_id)
            if not waiting and "finished" not in marks:
                marks["finished"], marks["cpu_finished"] = time.perf_counter(), time.process_time()
                done.set()

    runner = ServiceRunner(
        bench_service(exactly_once=exactly_once),
        settings,
        RunnerOptions(
            instance="bench:1",
            shutdown_grace_seconds=5,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        ),
        on_event=observe,
    )
    failure: list[BaseException] = []

    def target() -> None:
        try:
            runner.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)
            done.set()

    thread = threading.Thread(target=target, name="choreo-runner", daemon=True)
    thread.start()
    try:
        done.wait(RUN_TIMEOUT_SECONDS)
    finally:
        runner.stop()
        thread.join(30)
    if failure:
        raise failure[0]
    if "finished" not in marks:
        raise RuntimeError(
            f"choreo: {len(waiting)} partition keys still waiting for their last input "
            f"after {RUN_TIMEOUT_SECONDS:g}s ({outputs[0]} outputs acknowledged)"
        )
    return Result(
        side,
        len(inputs),
        outputs[0],
        marks["finished"] - marks["started"],
        marks["cpu_finished"] - marks["cpu_started"],
        read_back(settings, out_topic, outputs[0]),
    )


# -- checking and reporting ----------------------------------------------------------------------


def read_back(settings: Settings, topic: str, expected: int) -> int:
    """How many distinct committed output events ``topic`` holds (read until ``expected`` or
    idle); outputs of aborted transactions are not counted."""
    transform = PlainTransform(OUTPUT, "bench-check")
    consumer = Consumer(
        consumer_config(
            settings,
            f"{settings.topic_prefix}check",
            **{"enable.auto.commit": "false", "isolation.level": "read_committed"},
        )
    )
    metadata = consumer.list_topics(topic, timeout=10)
    consumer.assign(
        [TopicPartition(topic, pid, OFFSET_BEGINNING) for pid in metadata.topics[topic].partitions]
    )
    seen: set[uuid.UUID] = set()
    last = time.monotonic()
    try:
        while len(seen) < expected and time.monotonic() - last < READ_BACK_IDLE_SECONDS:
            for message in consumer.consume(BATCH, 0.2):
                if message.error() is None:
                    seen.add(transform.decode(message.value() or b"")["event_id"])
                    last = time.monotonic()
    finally:
        consumer.close()
    return len(seen)


def print_runs(results: Sequence[Result], column: str, *, per_round: int = 2) -> None:
    """One line per run (``per_round`` runs a round), under a header naming the ``column`` of
    sides."""
    width = max(len(column), *(len(r.side) for r in results))
    header = (
        f"{'round':>5}  {column:<{width}} {'inputs':>7} {'outputs':>7} {'seconds':>8} "
        f"{'events/s':>10} {'CPU us/event':>12} {'read back':>9}"
    )
    print(header)
    print("-" * len(header))
    for index, result in enumerate(results):
        print(
            f"{index // per_round + 1:>5}  {result.side:<{width}} {result.inputs:>7,} "
            f"{result.outputs:>7,} {result.seconds:>8.3f} {result.rate:>10,.0f} "
            f"{result.cpu_per_event:>12,.0f} {result.read_back:>9,}"
        )


def print_coalesced(results: Sequence[Result], events: int) -> list[Result]:
    """Say which runs built fewer outputs than they read inputs; return those runs."""
    coalesced = [r for r in results if r.outputs != r.inputs]
    if coalesced:
        print(
            "note: choreo coalesced versions of a key that arrived while its run was in flight "
            f"({', '.join(f'{r.outputs:,}' for r in coalesced)} outputs for {events:,} inputs), "
            "so the sides did unequal work; use more --keys for one output per input"
        )
    return coalesced


def print_cautions(results: Sequence[Result]) -> list[Result]:
    """Say when the machine was overloaded and which runs' outputs were not all read back;
    return those runs."""
    if overloaded():
        print(
            "caution: the load average exceeds the CPU count, so the rates depend on the "
            "machine's other work; the CPU per event is the steadier comparison"
        )
    missing = [r for r in results if r.read_back != r.outputs]
    if missing:
        print(f"warning: outputs missing on read-back: {[(r.side, r.read_back) for r in missing]}")
    return missing


def report(
    results: list[Result],
    described: str,
    *,
    events: int,
    keys: int,
    log_level: str,
    load: str,
    failure: str | None,
) -> None:
    """Print the set-up, one line per run, and the summary line."""
    spread = f"{keys:,} partition keys in turn" if keys else f"{events:,} distinct partition keys"
    print(f"broker: {described}")
    print(f"machine: {load} at the start, {machine_load()} at the end")
    print(
        f"workload: {events:,} input events of ~300 B over {spread}; partitioned asset "
        f"{OUTPUT} from {INPUT}, 3 topic partitions; inputs pre-produced before each side starts"
    )
    print(
        "timed: first input consumed -> last output acknowledged (choreo: in-process "
        f"ServiceRunner, log level {log_level}; plain: one thread, consume({BATCH}) batches)"
    )
    print()
    print_runs(results, "side")
    plain = median([r.rate for r in results if r.side == "plain"])
    ours = median([r.rate for r in results if r.side == "choreo"])
    plain_cpu = median([r.cpu_per_event for r in results if r.side == "plain"])
    ours_cpu = median([r.cpu_per_event for r in results if r.side == "choreo"])
    ratio = ours / plain
    print()
    if any(r.side == "choreo" for r in results):
        print(
            f"CPU per event: choreo {ours_cpu:,.0f} us vs plain {plain_cpu:,.0f} us "
            f"({ours_cpu / plain_cpu:.1f}x; less noisy than the rates on a shared machine)"
        )
    coalesced = print_coalesced(results, events)
    missing = print_cautions(results)
    if failure is not None:
        print(f"choreo failed: {failure}")
        verdict = "misses (the runner failed)"
    elif coalesced or missing:
        verdict = "not comparable (see above)"
    else:
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(
        f"throughput: choreo {ours:,.0f} events/s vs plain loop {plain:,.0f} events/s "
        f"(medians of {sum(r.side == 'choreo' for r in results)}) = {ratio:.2f}x; "
        f"target >= {TARGET_RATIO}x: {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(
        description="Events/s through one choreo service vs a plain confluent-kafka loop."
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="input events per run")
    parser.add_argument(
        "--keys", type=int, default=DEFAULT_KEYS, help="partition keys used in turn (0: one each)"
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs of each side")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, one round")
    parser.add_argument(
        "--log-level", default="warning", help="choreo's log level (info logs two lines a run)"
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the choreo side (every thread) into PATH; its rates are then slower",
    )
    args = parser.parse_args(argv)
    events = QUICK_EVENTS if args.quick else args.events
    rounds = 1 if args.quick else args.rounds
    configure_logging(args.log_level, stream=sys.stderr)
    load = machine_load()
    inputs = encode_inputs(INPUT, events, keys=args.keys)
    out_of_gc_sight()
    results: list[Result] = []
    failure: str | None = None
    with broker() as (bootstrap, described):
        for _ in range(rounds):
            results.append(run_plain(settings_for(bootstrap, "plain"), inputs))
            try:
                with profiled(args.profile) if args.profile else nullcontext():
                    results.append(run_choreo(settings_for(bootstrap, "choreo"), inputs))
            except Exception as exc:  # noqa: BLE001 - a failing runner is a finding to print
                failure = f"{type(exc).__name__}: {exc}"
                break
    report(
        results,
        described,
        events=events,
        keys=args.keys,
        log_level=args.log_level,
        load=load,
        failure=failure,
    )
    if args.profile:
        print(f"\nprofile of the choreo side (under cProfile): {args.profile}")
        print(summary(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
