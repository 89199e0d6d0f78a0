"""What exactly-once mode costs: one service's throughput with and without Kafka transactions.

The workload and the service are those of ``throughput.py`` (N pre-produced input events over K
partition keys, one partitioned asset passing its input on), run through a ``ServiceRunner``
twice per round: in the default mode (outputs acknowledged, then changelog and offsets) and
with ``Service(..., exactly_once=True)`` (outputs, changelog and offsets committed in one
transaction). The two alternate over the rounds; the summary compares medians. Every output is
counted back with a ``read_committed`` consumer, so an output of an aborted transaction would
show as missing.

Transactions are only meaningful on a broker that implements them, so this starts Apache Kafka
(from Maven Central jars, as the test suite does; needs Java and Maven) unless
``CHOREO_BENCH_BOOTSTRAP_SERVERS`` names a broker.

Run: ``PYTHONPATH=. python bench/exactly_once.py [--events N] [--keys K] [--rounds R] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from _workload import (
    BOOTSTRAP_ENV,
    encode_inputs,
    machine_load,
    median,
    out_of_gc_sight,
    settings_for,
)
from throughput import DEFAULT_KEYS, INPUT, OUTPUT, Result, print_cautions, print_runs, run_choreo

from choreo.apache_kafka import ApacheKafka, ApacheKafkaError
from choreo.kafka.commits import TRANSACTION_INTERVAL_SECONDS
from choreo.logs import configure_logging

DEFAULT_EVENTS = 4_000
DEFAULT_ROUNDS = 3
QUICK_EVENTS = 2_000
DEFAULT_SIDE = "default"
EXACTLY_ONCE_SIDE = "exactly-once"


@contextmanager
def reference_broker() -> Iterator[tuple[str, str]]:
    """``(bootstrap servers, description)``: ``$CHOREO_BENCH_BOOTSTRAP_SERVERS``, or a fresh
    single-node Apache Kafka in a temporary directory, stopped when the block ends."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        yield external, f"{external} (from {BOOTSTRAP_ENV})"
        return
    with (
        tempfile.TemporaryDirectory(prefix="choreo-bench-kafka-") as data_dir,
        ApacheKafka(data_dir) as kafka,
    ):
        yield (
            kafka.bootstrap_servers,
            (f"Apache Kafka {kafka.version} (single KRaft node) at {kafka.bootstrap_servers}"),
        )


def report(results: Sequence[Result], described: str, *, events: int, keys: int, load: str) -> None:
    """Print the set-up, one line per run, and the overhead of exactly-once mode."""
    print(f"broker: {described}")
    print(f"machine: {load} at the start, {machine_load()} at the end")
    print(
        f"workload: {events:,} input events of ~300 B over {keys:,} partition keys in turn; "
        f"partitioned asset {OUTPUT} from {INPUT}; inputs pre-produced before each run"
    )
    print(
        "timed: first run started -> last output handed over (default: acknowledged by the "
        "broker; exactly-once: produced into the open transaction, committed within "
        f"{TRANSACTION_INTERVAL_SECONDS * 1000:.0f} ms); read back counts committed outputs"
    )
    print()
    print_runs(results, "mode")
    print()
    print_cautions(results)
    plain = [r for r in results if r.side == DEFAULT_SIDE]
    eos = [r for r in results if r.side == EXACTLY_ONCE_SIDE]
    if not plain or not eos:
        print("overhead: not measured (a mode did not finish a run)")
        return
    rate, eos_rate = median([r.rate for r in plain]), median([r.rate for r in eos])
    cpu, eos_cpu = median([r.cpu_per_event for r in plain]), median([r.cpu_per_event for r in eos])
    print(
        f"CPU per event: exactly-once {eos_cpu:,.0f} us vs default {cpu:,.0f} us "
        f"({eos_cpu / cpu:.2f}x)"
    )
    print(
        f"overhead of exactly-once: {eos_rate:,.0f} events/s vs {rate:,.0f} events/s in the "
        f"default mode (medians of {len(eos)}) = {eos_rate / rate:.2f}x the throughput"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run both modes against the reference broker and print the figures."""
    parser = argparse.ArgumentParser(
        description=(
            "Throughput of one choreo service with exactly_once=True vs the default mode, on "
            f"Apache Kafka (or the broker in ${BOOTSTRAP_ENV})."
        )
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="input events per run")
    parser.add_argument(
        "--keys", type=int, default=DEFAULT_KEYS, help="partition keys used in turn (at least 1)"
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs of each mode")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, one round")
    args = parser.parse_args(argv)
    if args.events < 1 or args.rounds < 1 or args.keys < 1:
        parser.error("--events, --rounds and --keys must be at least 1")
    events = QUICK_EVENTS if args.quick else args.events
    rounds = 1 if args.quick else args.rounds
    configure_logging("warning", stream=sys.stderr)
    load = machine_load()
    inputs = encode_inputs(INPUT, events, keys=args.keys)
    out_of_gc_sight()
    results: list[Result] = []
    try:
        with reference_broker() as (bootstrap, described):
            for _ in range(rounds):
                results.append(
                    run_choreo(settings_for(bootstrap, "default"), inputs, side=DEFAULT_SIDE)
                )
                results.append(
                    run_choreo(
                        settings_for(bootstrap, "eos"),
                        inputs,
                        exactly_once=True,
                        side=EXACTLY_ONCE_SIDE,
                    )
                )
    except ApacheKafkaError as exc:
        print(f"error: cannot start Apache Kafka: {exc}", file=sys.stderr)
        return 3
    report(results, described, events=events, keys=args.keys, load=load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
