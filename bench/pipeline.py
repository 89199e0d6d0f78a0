"""CPU per event of a service's per-event steps, with no Kafka and no threads, beside the plain
transform.

``throughput.py`` measures the whole service against a broker, where the machine's other work,
librdkafka and the broker blur which step costs what. This calls the same steps the runner takes
for each input, in one thread and in the same order, on the same workload: decode the input,
hand it to the engine (trigger state and run planning), run the asset function, build the output
event, encode it, build its CloudEvents headers, record the acknowledged run, and encode the
changelog slice it changed. Beside it, the plain loop's transform (``bench/_plain.py``: fastavro
decode, build the output, encode) runs on the same bytes, alternating over the rounds.

The ratio of the two is the part of the throughput gap that is choreo's own Python; what
``throughput.py`` shows beyond it is Kafka, threads and the second produced record.

Run: ``PYTHONPATH=. python bench/pipeline.py [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from _plain import PlainTransform
from _workload import encode_inputs, machine_load, out_of_gc_sight
from throughput import DEFAULT_KEYS, INPUT, OUTPUT, bench_service

from choreo.codec import AvroCodec, headers_for
from choreo.kafka.changelog import encode_value
from choreo.kafka.records import kafka_headers
from choreo.runtime.engine import ServiceEngine
from choreo.runtime.executor import RunExecutor

DEFAULT_EVENTS = 6_000
DEFAULT_ROUNDS = 5
#: Topic partitions the engine holds shards of, as in ``throughput.py``.
PARTITIONS = 3
STAGES = ("decode", "engine", "run", "output event", "encode", "headers", "acknowledge", "slice")


class Pipeline:
    """The runner's per-event steps over a fresh engine, optionally timing each step."""

    def __init__(self, values: Sequence[bytes], indices: Sequence[int]) -> None:
        self._values = values
        self._indices = indices
        self._codec = AvroCodec()
        self._executor = RunExecutor(1)
        self.outputs = 0

    def _engine(self) -> ServiceEngine:
        engine = ServiceEngine(bench_service(), instance="bench:1")
        now = datetime.now(UTC)
        engine.assign(dict.fromkeys(engine.shard_keys_for(set(range(PARTITIONS)))), now)
        return engine

    def __call__(self) -> None:
        """Every event through every step."""
        engine, codec, run_now = self._engine(), self._codec, self._executor.run
        self.outputs = 0
        for value, index in zip(self._values, self._indices, strict=True):
            effects = engine.on_event(codec.decode_event(value), index, datetime.now(UTC))
            for run in effects.runs:
                event = engine.output_event(
                    run, run_now(run.definition, run.ctx, run.args), datetime.now(UTC)
                )
                codec.encode(event)
                kafka_headers(headers_for(event))
                for key in engine.acknowledged(run, datetime.now(UTC)).dirty:
                    piece = engine.stored_slice(key)
                    if piece is not None:
                        encode_value(piece.to_dict(key[0]))
                self.outputs += 1

    def staged(self) -> dict[str, float]:
        """Every event through every step, with each step's thread CPU seconds summed."""
        engine, codec, run_now = self._engine(), self._codec, self._executor.run
        spent = dict.fromkeys(STAGES, 0.0)
        clock = time.thread_time
        for value, index in zip(self._values, self._indices, strict=True):
            start = clock()
            event_in = codec.decode_event(value)
            mark = clock()
            spent["decode"] += mark - start
            effects = engine.on_event(event_in, index, datetime.now(UTC))
            start, mark = mark, clock()
            spent["engine"] += mark - start
            for run in effects.runs:
                outcome = run_now(run.definition, run.ctx, run.args)
                start, mark = mark, clock()
                spent["run"] += mark - start
                event = engine.output_event(run, outcome, datetime.now(UTC))
                start, mark = mark, clock()
                spent["output event"] += mark - start
                codec.encode(event)
                start, mark = mark, clock()
                spent["encode"] += mark - start
                kafka_headers(headers_for(event))
                start, mark = mark, clock()
                spent["headers"] += mark - start
                dirty = engine.acknowledged(run, datetime.now(UTC)).dirty
                start, mark = mark, clock()
                spent["acknowledge"] += mark - start
                for key in dirty:
                    piece = engine.stored_slice(key)
                    if piece is not None:
                        encode_value(piece.to_dict(key[0]))
                start, mark = mark, clock()
                spent["slice"] += mark - start
        return spent


def cpu_per_event(step: Callable[[], None], events: int) -> float:
    """Microseconds of this thread's CPU per event for one call of ``step``."""
    start = time.thread_time()
    step()
    return (time.thread_time() - start) / events * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Run both sides, alternating, and print their CPU per event, the ratio and the steps."""
    parser = argparse.ArgumentParser(
        description="CPU per event of choreo's per-event steps (no Kafka) vs the plain transform."
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="input events")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs of each side")
    args = parser.parse_args(argv)
    load = machine_load()
    inputs = encode_inputs(INPUT, args.events, keys=DEFAULT_KEYS)
    out_of_gc_sight()
    values = [record[1] for _event, record in inputs]
    # Any fixed spread of keys over the held partitions will do: the engine trusts the index.
    indices = [zlib.crc32((e.partition or "").encode()) % PARTITIONS for e, _r in inputs]
    pipeline = Pipeline(values, indices)
    transform = PlainTransform(OUTPUT, "bench-plain")

    def plain() -> None:
        for value in values:
            transform(value)

    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        theirs.append(cpu_per_event(plain, len(values)))
        ours.append(cpu_per_event(pipeline, len(values)))
    if pipeline.outputs != len(values):
        print(f"warning: {pipeline.outputs:,} outputs for {len(values):,} inputs")
    spent = pipeline.staged()
    total = sum(spent.values())
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"machine: {load} at the start, {machine_load()} at the end")
    print(
        f"workload: {len(values):,} input events of ~300 B over {DEFAULT_KEYS:,} partition keys "
        f"in turn, as throughput.py; {args.rounds} rounds, alternating; thread CPU time"
    )
    print(f"plain transform   {', '.join(f'{v:6.1f}' for v in theirs)} us/event")
    print(f"choreo pipeline   {', '.join(f'{v:6.1f}' for v in ours)} us/event")
    print(
        f"best of each: choreo {best_ours:.1f} us vs plain {best_theirs:.1f} us = "
        f"{best_ours / best_theirs:.2f}x the plain transform's CPU per event"
    )
    print("steps: " + ", ".join(f"{name} {spent[name] / total:.0%}" for name in STAGES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
