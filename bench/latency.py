"""End-to-end latency through a chain of three choreo services beside three plain loops.

Two chains run against the same broker, each hop in its own process (on a 2-core machine that is
closer to a deployment than threads, and keeps one hop's GIL out of another's way):

* choreo: ``t.a → t.b → t.c → t.d``, each arrow a ``ServiceRunner`` owning one partitioned
  asset whose function passes its input's location and metadata on;
* plain: the same arrows as confluent-kafka loops, ``poll()`` per message → fastavro decode →
  build the same output → fastavro encode → ``produce()``.

Events (~300 bytes) are emitted to ``t.a`` one at a time at a steady rate (default 20/s), cycling
over a few partition keys, in blocks that alternate between the chains so both see the same
machine load. One reader (a consumer thread of this process, assigned to all eight topics)
stamps each record on arrival; a hop's latency is the arrival of an event's output minus the
arrival of its input (matched by ``correlation_id``), and the total is ``t.d`` minus ``t.a``.

Run: ``PYTHONPATH=. python bench/latency.py [--events N] [--rate R] [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from _plain import PlainTransform
from _workload import (
    broker,
    ensure_asset_topics,
    input_event,
    machine_load,
    overloaded,
    percentile,
    plain_producer,
    record_of,
    settings_for,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from choreo import Settings
from choreo.codec import AvroCodec
from choreo.kafka.config import consumer_config
from choreo.logs import configure_logging

ASSETS = ("t.a", "t.b", "t.c", "t.d")
HOPS = tuple(itertools.pairwise(ASSETS))
CHAINS = ("plain", "choreo")
TARGET_RATIO = 2.0
DEFAULT_EVENTS = 400
DEFAULT_RATE = 20.0
DEFAULT_KEYS = 10
QUICK_EVENTS = 100
#: Events per block; the chains take turns block by block.
BLOCK = 50
WARM_UP_EVENTS = 5
#: Hops start, create topics, declare and join their groups (about one session timeout each).
READY_TIMEOUT_SECONDS = 120.0
#: How long after its last emit a block's events may take to reach ``t.d``.
DRAIN_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 20.0
#: librdkafka waits up to ``fetch.wait.max.ms`` (500 by default) for data, and Tansu answers a
#: fetch only then, not when a record arrives: the hops of both chains get this setting instead.
DEFAULT_FETCH_WAIT_MS = 10
#: The reader asks the broker again every millisecond, so its stamps are within ~1-2 ms.
READER_FETCH_WAIT_MS = 1
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent


# -- the chains' processes -----------------------------------------------------------------------


@contextmanager
def hops(
    chain: str, settings: Settings, fetch_wait_ms: int, logs: IO[bytes]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the three hop processes of ``chain``; SIGTERM them (then kill) when done."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    processes = [
        subprocess.Popen(  # noqa: S603 - our own script, argument list
            [
                sys.executable,
                str(HERE / "_hop.py"),
                chain,
                source,
                target,
                settings.bootstrap_servers,
                settings.topic_prefix,
                str(fetch_wait_ms),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logs,
            stderr=logs,
        )
        for source, target in HOPS
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- the reader ----------------------------------------------------------------------------------


@dataclass
class Arrivals:
    """Each event of each chain on each topic, by the cascade's root id: when the reader saw it
    (``perf_counter`` seconds) and the record's own timestamp (CreateTime, in milliseconds)."""

    at: dict[tuple[str, uuid.UUID], dict[str, tuple[float, int]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, chain: str, root: uuid.UUID, asset: str, when: float, created_ms: int) -> None:
        """Note the first arrival of ``root``'s event on ``asset``."""
        with self.lock:
            self.at.setdefault((chain, root), {}).setdefault(asset, (when, created_ms))

    def reached(self, chain: str, roots: Sequence[uuid.UUID], asset: str) -> int:
        """How many of ``roots`` have reached ``asset``."""
        with self.lock:
            return sum(1 for root in roots if asset in self.at.get((chain, root), {}))


class Reader(threading.Thread):
    """Stamps every record of every chain's topics with the time it arrived here."""

    def __init__(self, chains: dict[str, Settings], arrivals: Arrivals) -> None:
        super().__init__(name="latency-reader", daemon=True)
        self._arrivals = arrivals
        self._stopping = threading.Event()
        self._transform = PlainTransform(ASSETS[-1], "bench-reader")
        self._where: dict[str, tuple[str, str]] = {}
        any_settings = next(iter(chains.values()))
        self._consumer = Consumer(
            consumer_config(
                any_settings,
                f"bench-reader-{uuid.uuid4().hex[:8]}",
                **{"enable.auto.commit": "false", "fetch.wait.max.ms": str(READER_FETCH_WAIT_MS)},
            )
        )
        partitions: list[TopicPartition] = []
        for chain, settings in chains.items():
            topics = ensure_asset_topics(settings, ASSETS)
            metadata = self._consumer.list_topics(timeout=10)
            for asset, topic in zip(ASSETS, topics, strict=True):
                self._where[topic] = (chain, asset)
                partitions.extend(
                    TopicPartition(topic, pid, OFFSET_BEGINNING)
                    for pid in metadata.topics[topic].partitions
                )
        self._consumer.assign(partitions)

    def run(self) -> None:
        """Read until ``stop()``."""
        try:
            while not self._stopping.is_set():
                message = self._consumer.poll(0.05)
                when = time.perf_counter()
                if message is None or message.error() is not None:
                    continue
                chain, asset = self._where[message.topic() or ""]
                datum = self._transform.decode(message.value() or b"")
                root = datum["correlation_id"] or datum["event_id"]
                _kind, created_ms = message.timestamp()
                self._arrivals.record(chain, root, asset, when, created_ms)
        finally:
            self._consumer.close()

    def stop(self) -> None:
        """Ask the thread to close its consumer and end."""
        self._stopping.set()


# -- emitting ------------------------------------------------------------------------------------


class Source:
    """Emits input events to one chain's ``t.a``, one at a time, on a fixed schedule."""

    def __init__(self, settings: Settings, keys: int) -> None:
        self._topic = ensure_asset_topics(settings, [ASSETS[0]])[0]
        self._producer: Producer = plain_producer(settings, warm=True)
        self._codec = AvroCodec()
        self._keys = keys
        self._index = 0

    def emit(self, count: int, rate: float) -> list[uuid.UUID]:
        """Emit ``count`` events ``1/rate`` seconds apart; return their event ids."""
        roots: list[uuid.UUID] = []
        start = time.perf_counter()
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            event = input_event(
                ASSETS[0],
                self._index,
                keys=self._keys,
                occurred_at=datetime.now(UTC),
                codec=self._codec,
            )
            self._index += 1
            key, value, headers = record_of(event, self._codec)
            self._producer.produce(self._topic, key=key, value=value, headers=list(headers))
            self._producer.poll(0)
            roots.append(event.event_id)
        self._producer.flush(10)
        return roots


def wait_for(arrivals: Arrivals, chain: str, roots: Sequence[uuid.UUID], timeout: float) -> bool:
    """Wait until every one of ``roots`` reached ``t.d`` of ``chain``, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if arrivals.reached(chain, roots, ASSETS[-1]) == len(roots):
            return True
        time.sleep(0.05)
    return False


def check_alive(processes: dict[str, list[subprocess.Popen[bytes]]], logs: IO[bytes]) -> None:
    """Raise, quoting the hops' output, if a hop process has exited."""
    dead = [
        (chain, p.returncode) for chain, ps in processes.items() for p in ps if p.poll() is not None
    ]
    if dead:
        logs.seek(0)
        tail = logs.read()[-3000:].decode(errors="replace")
        raise RuntimeError(f"hop processes exited {dead}; their output:\n{tail}")


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Latencies in milliseconds of one chain, per hop and end to end ("total"), from the
    reader's arrival stamps and, as a cross-check, from the records' own timestamps."""

    arrival: dict[str, list[float]]
    created: dict[str, list[float]]
    missing: int

    @staticmethod
    def pooled(values: dict[str, list[float]]) -> list[float]:
        """Every hop's latencies together (not the total)."""
        return [v for name, hop in values.items() if name != TOTAL for v in hop]


TOTAL = "total"


def figures(arrivals: Arrivals, chain: str, roots: Sequence[uuid.UUID]) -> Figures:
    """Latencies of ``chain``'s measured events (those that reached every topic)."""
    spans = [*((f"{a} -> {b}", a, b) for a, b in HOPS), (TOTAL, ASSETS[0], ASSETS[-1])]
    arrival: dict[str, list[float]] = {name: [] for name, _a, _b in spans}
    created: dict[str, list[float]] = {name: [] for name, _a, _b in spans}
    missing = 0
    for root in roots:
        seen = arrivals.at.get((chain, root), {})
        if any(asset not in seen for asset in ASSETS):
            missing += 1
            continue
        for name, source, target in spans:
            arrival[name].append((seen[target][0] - seen[source][0]) * 1000)
            created[name].append(float(seen[target][1] - seen[source][1]))
    return Figures(arrival, created, missing)


def report(
    results: dict[str, Figures],
    described: str,
    *,
    events: int,
    rate: float,
    keys: int,
    fetch_wait_ms: int,
    load: str,
) -> None:
    """Print the set-up, the table and the summary line."""
    print(f"broker: {described}")
    print(f"machine: {load} at the start, {machine_load()} at the end")
    print(
        f"workload: {events} events of ~300 B per chain, one at a time at {rate:g}/s over {keys} "
        f"partition keys, in blocks of {BLOCK} alternating between the chains; each hop its own "
        f"process; every hop's consumer has fetch.wait.max.ms={fetch_wait_ms}"
    )
    print(
        "timed: arrival at one reader of a hop's output minus arrival of its input (matched by "
        "correlation_id); 'created' columns: the same from the records' CreateTime (1 ms steps)"
    )
    print()
    header = (
        f"{'chain':<7} {'span':<12} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'created p50':>11} {'created p99':>11}"
    )
    print(header)
    print("-" * len(header))
    for chain in CHAINS:
        result = results[chain]
        names = [*result.arrival, "per hop"]
        for name in sorted(names, key=lambda n: (n == TOTAL, n == "per hop")):
            values = result.pooled(result.arrival) if name == "per hop" else result.arrival[name]
            stamps = result.pooled(result.created) if name == "per hop" else result.created[name]
            print(
                f"{chain:<7} {name:<12} {len(values):>5} {percentile(values, 0.5):>8.1f} "
                f"{percentile(values, 0.99):>8.1f} {max(values, default=float('nan')):>8.1f} "
                f"{percentile(stamps, 0.5):>11.0f} {percentile(stamps, 0.99):>11.0f}"
            )
    print()
    plain, ours = results["plain"], results["choreo"]
    for name in plain.arrival:
        p50 = percentile(ours.arrival[name], 0.5) / percentile(plain.arrival[name], 0.5)
        p99 = percentile(ours.arrival[name], 0.99) / percentile(plain.arrival[name], 0.99)
        print(f"choreo / plain, {name:<12}: p50 {p50:.2f}x, p99 {p99:.2f}x")
    lost = {chain: results[chain].missing for chain in CHAINS if results[chain].missing}
    if lost:
        print(f"warning: events that did not reach every topic in time: {lost}")
    if overloaded():
        print(
            "caution: the load average exceeds the CPU count, so the p99s mostly measure how "
            "long other work kept each hop off a CPU; the p50s are the steadier comparison"
        )
    ours_p99 = percentile(ours.pooled(ours.arrival), 0.99)
    plain_p99 = percentile(plain.pooled(plain.arrival), 0.99)
    ratio = ours_p99 / plain_p99
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(
        f"latency: per-hop p99 (3 hops pooled) choreo {ours_p99:.1f} ms vs plain "
        f"{plain_p99:.1f} ms = {ratio:.2f}x; target <= {TARGET_RATIO:g}x: {verdict}"
    )


# -- main ----------------------------------------------------------------------------------------


def measure(
    bootstrap: str, *, events: int, rate: float, keys: int, fetch_wait_ms: int, logs: IO[bytes]
) -> dict[str, Figures]:
    """Start both chains, warm them up, emit the blocks, and collect the latencies."""
    chains = {chain: settings_for(bootstrap, chain) for chain in CHAINS}
    arrivals = Arrivals()
    reader = Reader(chains, arrivals)
    reader.start()
    sources = {chain: Source(settings, keys) for chain, settings in chains.items()}
    measured: dict[str, list[uuid.UUID]] = {chain: [] for chain in CHAINS}
    try:
        with (
            hops("plain", chains["plain"], fetch_wait_ms, logs) as plain,
            hops("choreo", chains["choreo"], fetch_wait_ms, logs) as ours,
        ):
            processes = {"plain": plain, "choreo": ours}
            for chain in CHAINS:
                warm = sources[chain].emit(WARM_UP_EVENTS, rate)
                if not wait_for(arrivals, chain, warm, READY_TIMEOUT_SECONDS):
                    check_alive(processes, logs)
                    raise RuntimeError(f"the {chain} chain did not pass warm-up events on")
            for start in range(0, events, BLOCK):
                for chain in CHAINS:
                    check_alive(processes, logs)
                    roots = sources[chain].emit(min(BLOCK, events - start), rate)
                    wait_for(arrivals, chain, roots, DRAIN_SECONDS)
                    measured[chain].extend(roots)
    finally:
        reader.stop()
        reader.join(10)
    return {chain: figures(arrivals, chain, measured[chain]) for chain in CHAINS}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(
        description="Per-hop latency of a 3-service choreo chain vs plain confluent-kafka loops."
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events per chain")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="events per second")
    parser.add_argument(
        "--keys", type=int, default=DEFAULT_KEYS, help="partition keys used in turn"
    )
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=DEFAULT_FETCH_WAIT_MS,
        help="fetch.wait.max.ms of every hop's consumer (librdkafka's default is 500)",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS} events per chain")
    args = parser.parse_args(argv)
    events = QUICK_EVENTS if args.quick else args.events
    configure_logging("warning", stream=sys.stderr)
    load = machine_load()
    with tempfile.TemporaryFile() as logs, broker() as (bootstrap, described):
        results = measure(
            bootstrap,
            events=events,
            rate=args.rate,
            keys=args.keys,
            fetch_wait_ms=args.fetch_wait_ms,
            logs=logs,
        )
    report(
        results,
        described,
        events=events,
        rate=args.rate,
        keys=args.keys,
        fetch_wait_ms=args.fetch_wait_ms,
        load=load,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
