"""Latency of the lineage collector's queries on a large generated graph, against p99 <= 50 ms.

Workload: 10,000 assets in 20 layers; every asset past the first layer reads 1-3 assets of the
layers before it (mostly the one just before). A fifth of the assets are partitioned (10
partitions). 1,000,000 events in 100 rounds: in each round every asset announces a version built
from the versions its inputs announced in that round, so every event names the exact input
events it used (about 1.9 million input rows). Written into SQLite with ``executemany``, then
each question is asked ``--samples`` times on random assets or events of the last rounds, through
``LineageQueries`` as the HTTP API does, after one warm-up.

The baseline, measured in the same run, is one primary-key ``SELECT`` of one event: the floor
any query over this database pays.

Run: ``PYTHONPATH=. python bench/collector_queries.py [--assets N] [--events N] [--samples N]
[--db PATH] [--cache-mb MB]`` (an existing ``--db`` with the same sizes is reused). With SQLite's
default 2 MB page cache, deep provenance reads pages from the OS on every level; ``--cache-mb
128`` shows what a larger cache (a PRAGMA the store can set) buys.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text

from choreo.collector import tables
from choreo.collector.queries import LineageQueries

TARGET_P99_MS = 50.0
DEFAULT_ASSETS = 10_000
DEFAULT_EVENTS = 1_000_000
DEFAULT_SAMPLES = 300
LAYERS = 20
PARTITIONS = 10
PARTITIONED_SHARE = 0.2
T0_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
BATCH = 50_000
ASSET_INSERT = "INSERT INTO choreo_assets VALUES (" + ",".join("?" * 10) + ")"  # noqa: S608 - fixed placeholders
EVENT_INSERT = "INSERT INTO choreo_events VALUES (" + ",".join("?" * 20) + ")"  # noqa: S608
FAILED_SHARE = 0.002


def _key(index: int) -> str:
    return f"bench.layer{index % LAYERS:02d}.asset_{index:05d}"


class Workload:
    """The generated graph: assets, their inputs, and which are partitioned."""

    def __init__(self, assets: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.keys = [_key(i) for i in range(assets)]
        by_layer: list[list[int]] = [[] for _ in range(LAYERS)]
        for index in range(assets):
            by_layer[index % LAYERS].append(index)
        self.layer = {i: i % LAYERS for i in range(assets)}
        self.inputs: dict[int, list[int]] = {}
        for layer in range(1, LAYERS):
            for index in by_layer[layer]:
                count = rng.randint(1, 3)
                chosen = {rng.choice(by_layer[layer - 1])}
                while len(chosen) < count:
                    chosen.add(rng.choice(by_layer[rng.randrange(layer)]))
                self.inputs[index] = sorted(chosen)
        self.partitioned = {i for i in range(assets) if rng.random() < PARTITIONED_SHARE}
        self.rng = rng


def _pragmas(engine: Engine, cache_mb: int) -> None:
    """WAL as the collector's store sets it; a page cache (and memory map) of ``cache_mb`` when
    asked, 0 keeping SQLite's default 2 MB."""

    @event.listens_for(engine, "connect")
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=OFF")
        if cache_mb:
            cursor.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
            cursor.execute(f"PRAGMA mmap_size={cache_mb * 1024 * 1024}")
        cursor.close()


def generate(engine: Engine, work: Workload, events: int) -> None:
    """Write the assets, edges, events, inputs, latest rows and offsets."""
    tables.metadata.create_all(engine)
    rounds = max(1, events // len(work.keys))
    rng = work.rng
    ids: dict[tuple[int, int], str] = {}
    # (asset index, partition) -> [event_id, kind, version, at, updated_event_id, updated_at]
    latest: dict[tuple[int, str], list[Any]] = {}
    order = sorted(range(len(work.keys)), key=lambda i: work.layer[i])
    offset = 0
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        if raw is None:
            raise RuntimeError("no DB-API connection to write with")
        cursor = raw.cursor()
        cursor.executemany(
            ASSET_INSERT,
            [
                (
                    key,
                    f"svc{i % 500}",
                    f"team{i % 50}",
                    None,
                    i in work.partitioned,
                    "eager",
                    26 * HOUR_MS,
                    "1",
                    T0_MS,
                    T0_MS,
                )
                for i, key in enumerate(work.keys)
            ],
        )
        edges = [(work.keys[d], work.keys[u]) for d, ups in work.inputs.items() for u in ups]
        cursor.executemany("INSERT INTO choreo_declared_edges VALUES (?,?)", edges)
        cursor.executemany(
            "INSERT INTO choreo_observed_edges VALUES (?,?,?,?,?)",
            [(d, u, T0_MS, T0_MS + rounds * HOUR_MS, rounds) for d, u in edges],
        )
        event_rows: list[tuple[Any, ...]] = []
        input_rows: list[tuple[Any, ...]] = []
        for r in range(rounds):
            for i in order:
                event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                ids[i, r] = event_id
                partition = _partition(work, i, r)
                at = T0_MS + r * HOUR_MS + work.layer[i] * 1000
                kind = "FAILED" if rng.random() < FAILED_SHARE else "UPDATED"
                error = ("Boom", "generated", 1) if kind == "FAILED" else (None, None, None)
                event_rows.append(
                    (
                        event_id,
                        kind,
                        work.keys[i],
                        partition,
                        f"v{r}",
                        at,
                        f"svc{i % 500}",
                        "bench-0",
                        "1",
                        None,
                        None,
                        f"memory://{work.keys[i]}/{r}",
                        '{"rows": 10}',
                        *error,
                        "choreo.asset.x",
                        0,
                        offset,
                        at,
                    )
                )
                offset += 1
                for position, up in enumerate(work.inputs.get(i, ())):
                    up_partition = _partition(work, up, r)
                    input_rows.append(
                        (event_id, position, work.keys[up], up_partition, f"v{r}", ids[up, r])
                    )
                head = latest.setdefault((i, partition), [None, None, None, None, None, None])
                head[:4] = [event_id, kind, f"v{r}", at]
                if kind == "UPDATED":
                    head[4:] = [event_id, at]
                if len(event_rows) >= BATCH:
                    _flush(cursor, event_rows, input_rows)
        _flush(cursor, event_rows, input_rows)
        cursor.executemany(
            "INSERT INTO choreo_latest VALUES (?,?,?,?,?,?,?,?)",
            [(work.keys[i], partition, *head) for (i, partition), head in latest.items()],
        )
        cursor.execute(
            "INSERT INTO choreo_offsets VALUES ('bench', 'choreo.asset.x', 0, ?)", (offset,)
        )
        cursor.close()


def _partition(work: Workload, index: int, round_: int) -> str:
    return f"2026-01-{round_ % PARTITIONS + 1:02d}" if index in work.partitioned else ""


def _flush(
    cursor: Any, event_rows: list[tuple[Any, ...]], input_rows: list[tuple[Any, ...]]
) -> None:
    cursor.executemany(EVENT_INSERT, event_rows)
    cursor.executemany("INSERT INTO choreo_event_inputs VALUES (?,?,?,?,?,?)", input_rows)
    event_rows.clear()
    input_rows.clear()


def timed(action: Callable[[], object], samples: int) -> list[float]:
    """Milliseconds of each of ``samples`` calls, after one warm-up call."""
    action()
    spent = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _cycle(items: Sequence[Any]) -> Callable[[], Any]:
    position = 0

    def next_item() -> Any:
        nonlocal position
        position = (position + 1) % len(items)
        return items[position]

    return next_item


def _some(rng: random.Random, items: Sequence[str], count: int = 500) -> list[str]:
    return rng.sample(list(items), min(count, len(items)))


def measure(engine: Engine, work: Workload, samples: int) -> list[tuple[str, list[float]]]:
    """Each question asked ``samples`` times on random picks; milliseconds per call."""
    rng = random.Random(11)
    queries = LineageQueries(engine)
    deep = [k for i, k in enumerate(work.keys) if work.layer[i] >= LAYERS - 3]
    shallow = [k for i, k in enumerate(work.keys) if work.layer[i] <= 2]
    middle = [k for i, k in enumerate(work.keys) if LAYERS // 2 - 1 <= work.layer[i] <= LAYERS // 2]
    ev = tables.events
    with engine.connect() as conn:
        recent = (
            conn.execute(
                select(ev.c.event_id)
                .where(ev.c.asset.in_(_some(rng, deep, 200)))
                .order_by(ev.c.occurred_at_ms.desc())
                .limit(2000)
            )
            .scalars()
            .all()
        )
    events = rng.sample(list(recent), min(len(recent), 500))
    pick_deep, pick_shallow = _cycle(_some(rng, deep)), _cycle(_some(rng, shallow))
    pick_middle, pick_event = _cycle(_some(rng, middle)), _cycle(events)
    baseline_sql = text("SELECT * FROM choreo_events WHERE event_id = :id")
    results: list[tuple[str, list[float]]] = []

    def baseline() -> None:
        with engine.connect() as conn:
            conn.execute(baseline_sql, {"id": pick_event()}).one()

    results.append(("baseline: one event by primary key", timed(baseline, samples)))
    start = time.perf_counter()
    queries.refresh()
    queries.upstream(pick_deep(), 1)
    results.append(("cold: load graph (10k assets, edges)", [(time.perf_counter() - start) * 1000]))
    start = time.perf_counter()
    queries.stale()
    results.append(("cold: build status snapshot", [(time.perf_counter() - start) * 1000]))
    results.append(
        ("upstream depth 3 (deep asset)", timed(lambda: queries.upstream(pick_deep(), 3), samples))
    )
    results.append(
        (
            "upstream depth 50 (deep asset)",
            timed(lambda: queries.upstream(pick_deep(), 50), samples),
        )
    )
    results.append(
        (
            "downstream depth 3 (shallow asset)",
            timed(lambda: queries.downstream(pick_shallow(), 3), samples),
        )
    )
    results.append(
        (
            "downstream depth 50 (middle asset)",
            timed(lambda: queries.downstream(pick_middle(), 50), samples),
        )
    )
    results.append(("impact (middle asset)", timed(lambda: queries.impact(pick_middle()), samples)))
    results.append(("asset detail, 20 events", timed(lambda: queries.asset(pick_deep()), samples)))
    results.append(
        ("provenance depth 3", timed(lambda: queries.provenance(pick_event(), 3), samples))
    )
    results.append(
        ("provenance depth 10", timed(lambda: queries.provenance(pick_event(), 10), samples))
    )
    results.append(
        ("openlineage of one event", timed(lambda: queries.openlineage(pick_event()), samples))
    )
    results.append(
        ("assets page (100, by status)", timed(lambda: queries.assets(limit=100), samples))
    )
    results.append(("stale (all assets)", timed(queries.stale, max(10, samples // 10))))
    results.append(("graph (all assets and edges)", timed(queries.graph, max(10, samples // 10))))
    return results


def report(results: list[tuple[str, list[float]]]) -> bool:
    """Print p50/p99 per question; whether every lineage query meets the target."""
    header = f"{'question':<40} {'n':>5} {'p50 ms':>9} {'p99 ms':>9}  target"
    print(header)
    print("-" * len(header))
    ok = True
    for name, spent in results:
        p50, p99 = statistics.median(spent), percentile(spent, 0.99)
        judged = not name.startswith(("cold", "baseline", "stale", "graph"))
        verdict = ("ok" if p99 <= TARGET_P99_MS else "MISSED") if judged else "-"
        ok = ok and (verdict != "MISSED")
        print(f"{name:<40} {len(spent):>5} {p50:>9.2f} {p99:>9.2f}  {verdict}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or reuse) the database, measure, print; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=DEFAULT_ASSETS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to write or reuse")
    parser.add_argument(
        "--cache-mb", type=int, default=0, help="SQLite page cache and mmap size (0: default)"
    )
    args = parser.parse_args(argv)
    path = args.db or Path(tempfile.gettempdir()) / f"choreo-bench-{args.assets}-{args.events}.db"
    engine = create_engine(f"sqlite:///{path}")
    _pragmas(engine, args.cache_mb)
    work = Workload(args.assets)
    sizes = path.with_suffix(".json")
    wanted = {"assets": args.assets, "events": args.events}
    if not path.exists() or not sizes.exists() or json.loads(sizes.read_text()) != wanted:
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        generate(engine, work, args.events)
        sizes.write_text(json.dumps(wanted))
        print(
            f"generated {args.assets:,} assets, {args.events:,} events in "
            f"{time.perf_counter() - start:.1f}s into {path}"
        )
    else:
        print(f"reusing {path}")
    with engine.connect() as conn:
        counts = {
            name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()  # noqa: S608
            for name in ("choreo_assets", "choreo_events", "choreo_event_inputs", "choreo_latest")
        }
    print(", ".join(f"{name}: {count:,}" for name, count in counts.items()))
    print(f"SQLite page cache: {f'{args.cache_mb} MB (and mmap)' if args.cache_mb else 'default'}")
    ok = report(measure(engine, work, args.samples))
    print(f"target: every lineage query p99 <= {TARGET_P99_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
