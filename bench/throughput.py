"""Throughput of one choreo service beside a plain confluent-kafka + fastavro loop.

Workload: N input events of asset ``t.in``, each on its own partition key (so each one starts one
run and yields exactly one output), pre-produced before either side starts consuming. The choreo
side is one ``ServiceRunner`` (in a thread of this process) owning the partitioned asset
``t.out`` with a trivial function (the input's location and metadata become the output's). The
baseline reads the same bytes from its own topic, decodes them with fastavro, builds the same
shape of output event, encodes and produces it. Both run against the same broker, one after the
other, alternating over several rounds; each rate is events per second from the first input
consumed to the broker's acknowledgement of the last output, and every output is counted back
from the output topic.

Run: ``PYTHONPATH=. python bench/throughput.py [--events N] [--rounds R] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _plain import PlainTransform
from _workload import (
    Record,
    broker,
    encode_inputs,
    ensure_asset_topics,
    median,
    plain_producer,
    produce_all,
    settings_for,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from choreo import AssetIn, InputData, Output, RunContext, Service, Settings
from choreo.kafka.config import consumer_config
from choreo.kafka.runner import RunnerOptions, ServiceRunner
from choreo.logs import configure_logging

INPUT = "t.in"
OUTPUT = "t.out"
TARGET_RATIO = 0.7
DEFAULT_EVENTS = 20_000
QUICK_EVENTS = 5_000
DEFAULT_ROUNDS = 2
#: Records per ``consume()`` call of the baseline (the runner drains up to 500 per poll too).
BATCH = 500
#: Short group timings: on the embedded broker a group join waits about one session timeout.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
#: Longest a side may take to process everything before the run counts as failed.
RUN_TIMEOUT_SECONDS = 240.0
READ_BACK_IDLE_SECONDS = 5.0


@dataclass(frozen=True)
class Result:
    """One side's run: how many outputs, over how long, and how many were read back."""

    side: str
    events: int
    seconds: float
    read_back: int
    #: Seconds from the first input consumed to the middle output acknowledged.
    first_half_seconds: float

    @property
    def rate(self) -> float:
        """Events per second, first input consumed to last output acknowledged."""
        return self.events / self.seconds

    @property
    def second_half_rate(self) -> float:
        """Events per second over the second half of the outputs."""
        return (self.events - self.events // 2) / max(1e-9, self.seconds - self.first_half_seconds)

    @property
    def first_half_rate(self) -> float:
        """Events per second over the first half of the outputs."""
        return (self.events // 2) / max(1e-9, self.first_half_seconds)


# -- the baseline ------------------------------------------------------------------------------


def run_plain(settings: Settings, records: Sequence[Record]) -> Result:
    """Consume → fastavro decode → build output → fastavro encode → produce, in one thread."""
    in_topic, out_topic = ensure_asset_topics(settings, [INPUT, OUTPUT])
    produce_all(settings, in_topic, records)
    total = len(records)
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
    producer = plain_producer(settings)
    acked = [0]
    halfway = [0.0]
    finished = [0.0]
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err.str())
            return
        acked[0] += 1
        if acked[0] == total // 2:
            halfway[0] = time.perf_counter()
        if acked[0] == total:
            finished[0] = time.perf_counter()

    consumed = 0
    started = 0.0
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    try:
        while consumed < total and time.monotonic() < deadline:
            batch = consumer.consume(BATCH, 0.1)
            if batch and not started:
                started = time.perf_counter()
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
        finished[0] - started,
        read_back(settings, out_topic, total),
        halfway[0] - started,
    )


# -- choreo --------------------------------------------------------------------------------------


def bench_service() -> Service:
    """One partitioned asset from one partitioned input, doing next to nothing."""
    service = Service("bench-throughput")

    @service.asset(OUTPUT, inputs=[AssetIn(INPUT, partitioned=True)], partitioned=True)
    def copy(ctx: RunContext, source: InputData) -> Output:
        return ctx.output(location=source.location, metadata=source.metadata)

    return service


def run_choreo(settings: Settings, records: Sequence[Record]) -> Result:
    """The same workload through one ``ServiceRunner``; timed by its run observer."""
    in_topic, out_topic = ensure_asset_topics(settings, [INPUT, OUTPUT])
    produce_all(settings, in_topic, records)
    total = len(records)
    marks: dict[str, float] = {}
    finished = [0]
    done = threading.Event()

    def observe(kind: str, _details: dict[str, Any]) -> None:
        if kind == "run.started":
            marks.setdefault("started", time.perf_counter())
        elif kind == "run.finished":
            finished[0] += 1
            if finished[0] == total // 2:
                marks["halfway"] = time.perf_counter()
            if finished[0] == total:
                marks["finished"] = time.perf_counter()
                done.set()

    runner = ServiceRunner(
        bench_service(),
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
        raise RuntimeError(f"choreo: {finished[0]}/{total} outputs acknowledged in time")
    return Result(
        "choreo",
        total,
        marks["finished"] - marks["started"],
        read_back(settings, out_topic, total),
        marks["halfway"] - marks["started"],
    )


# -- checking and reporting ----------------------------------------------------------------------


def read_back(settings: Settings, topic: str, expected: int) -> int:
    """How many distinct output events ``topic`` holds (read until ``expected`` or idle)."""
    transform = PlainTransform(OUTPUT, "bench-check")
    consumer = Consumer(
        consumer_config(settings, f"{settings.topic_prefix}check", **{"enable.auto.commit": "false"})
    )
    metadata = consumer.list_topics(topic, timeout=10)
    consumer.assign(
        [TopicPartition(topic, pid, OFFSET_BEGINNING) for pid in metadata.topics[topic].partitions]
    )
    seen: set[Any] = set()
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


def report(results: list[Result], described: str, events: int, log_level: str) -> float:
    """Print the table and the summary line; return the ratio of median rates."""
    print(f"broker: {described}")
    print(
        f"workload: {events} events of ~300 B on {events} distinct partition keys, partitioned "
        f"asset {OUTPUT} from {INPUT} (one run and one output per input), 3 topic partitions; "
        f"choreo log level {log_level}"
    )
    print(
        "timed: first input consumed -> last output acknowledged; "
        "inputs pre-produced before each side starts"
    )
    print()
    header = (
        f"{'round':>5}  {'side':<7} {'events':>7} {'seconds':>8} {'events/s':>10} "
        f"{'1st half/s':>10} {'2nd half/s':>10} {'read back':>9}"
    )
    print(header)
    print("-" * len(header))
    for index, result in enumerate(results):
        print(
            f"{index // 2 + 1:>5}  {result.side:<7} {result.events:>7} {result.seconds:>8.3f} "
            f"{result.rate:>10,.0f} {result.first_half_rate:>10,.0f} "
            f"{result.second_half_rate:>10,.0f} {result.read_back:>9}"
        )
    plain = median([r.rate for r in results if r.side == "plain"])
    ours = median([r.rate for r in results if r.side == "choreo"])
    ratio = ours / plain
    print()
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(
        f"throughput: choreo {ours:,.0f} events/s vs plain loop {plain:,.0f} events/s "
        f"(medians) = {ratio:.2f}x; target >= {TARGET_RATIO}x: {verdict}"
    )
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events per run")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs of each side")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_EVENTS} events, one round each"
    )
    parser.add_argument(
        "--log-level", default="warning", help="choreo's log level (info logs two lines a run)"
    )
    args = parser.parse_args(argv)
    events = QUICK_EVENTS if args.quick else args.events
    rounds = 1 if args.quick else args.rounds
    configure_logging(args.log_level, stream=sys.stderr)
    records = encode_inputs(INPUT, events)
    results: list[Result] = []
    with broker() as (bootstrap, described):
        for _ in range(rounds):
            results.append(run_plain(settings_for(bootstrap, "plain"), records))
            results.append(run_choreo(settings_for(bootstrap, "choreo"), records))
    report(results, described, events, args.log_level)
    bad = [r for r in results if r.read_back != r.events]
    if bad:
        print(f"warning: outputs missing on read-back: {[(r.side, r.read_back) for r in bad]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
