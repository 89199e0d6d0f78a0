"""How much of the throughput target the service rules leave, beside the plain loop and choreo.

Four sides over the same workload as ``throughput.py``, alternating over the rounds:

- ``plain``: the plain loop, as in ``throughput.py``;
- ``floor-workers``: the plain loop plus the two per-event mechanisms DESIGN.md requires of
  every service (the function off the poll thread, offsets committed only once the output is
  acknowledged), with each input decoded on the poll thread and handed to a worker (how the
  runner split its work before it had a loop of its own);
- ``floor-engine``: the same rules with a thin poll thread that hands on whole batches, and one
  engine thread doing all the per-event work, as the runner does now;
- ``choreo``: one choreo service.

No trigger state, headers or lineage in either floor (see ``_floor.py``): their rates over the
plain loop's are about the most a service built their way can reach in one CPython process, and
choreo's over ``floor-engine`` is what its own work costs on top.

Run: ``PYTHONPATH=. python bench/floor.py [--events N] [--keys K] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from _floor import run_floor
from _workload import broker, encode_inputs, machine_load, median, out_of_gc_sight, settings_for
from throughput import (
    DEFAULT_EVENTS,
    DEFAULT_KEYS,
    DEFAULT_ROUNDS,
    INPUT,
    RUN_TIMEOUT_SECONDS,
    TARGET_RATIO,
    Input,
    Result,
    print_cautions,
    print_coalesced,
    print_runs,
    read_back,
    run_choreo,
    run_plain,
)

from choreo import Settings
from choreo.logs import configure_logging

SIDES = ("plain", "floor-workers", "floor-engine", "choreo")


def floor_result(settings: Settings, inputs: Sequence[Input], *, engine: bool) -> Result:
    """One floor loop's run as a ``Result``, its outputs counted back from the topic."""
    seconds, cpu_seconds, outputs, out_topic = run_floor(
        settings, inputs, RUN_TIMEOUT_SECONDS, engine=engine
    )
    return Result(
        "floor-engine" if engine else "floor-workers",
        len(inputs),
        outputs,
        seconds,
        cpu_seconds,
        read_back(settings, out_topic, outputs),
    )


def report(results: list[Result], described: str, load: str, events: int, keys: int) -> None:
    """Print the set-up, each run, and the ratios of the medians."""
    print(f"broker: {described}")
    print(f"machine: {load} at the start, {machine_load()} at the end")
    print(
        f"workload: {events:,} input events of ~300 B over {keys:,} partition keys in turn, "
        "as throughput.py; sides alternate: " + ", ".join(SIDES)
    )
    print()
    print_runs(results, "side", per_round=len(SIDES))
    rate = {side: median([r.rate for r in results if r.side == side]) for side in SIDES}
    cpu = {side: median([r.cpu_per_event for r in results if r.side == side]) for side in SIDES}
    print()
    for side in SIDES:
        print(
            f"{side:<13} {rate[side]:>8,.0f} events/s = {rate[side] / rate['plain']:.2f}x plain; "
            f"CPU {cpu[side]:>5,.0f} us/event = {cpu[side] / cpu['plain']:.2f}x plain"
        )
    print_coalesced(results, events)
    print_cautions(results)
    workers, engine = rate["floor-workers"], rate["floor-engine"]
    print(
        f"the service rules alone reach {workers / rate['plain']:.2f}x the plain loop's events/s "
        f"with a hand-off per event, {engine / rate['plain']:.2f}x with one engine thread "
        f"(target {TARGET_RATIO}x); choreo reaches {rate['choreo'] / engine:.2f}x floor-engine"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the four sides and print their figures."""
    parser = argparse.ArgumentParser(
        description="Events/s of the plain loop, the service rules alone, and a choreo service."
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="input events per run")
    parser.add_argument("--keys", type=int, default=DEFAULT_KEYS, help="partition keys in turn")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs of each side")
    args = parser.parse_args(argv)
    if args.events < 1 or args.keys < 1 or args.rounds < 1:
        parser.error("--events, --keys and --rounds must be at least 1")
    configure_logging("warning", stream=sys.stderr)
    load = machine_load()
    inputs = encode_inputs(INPUT, args.events, keys=args.keys)
    out_of_gc_sight()
    results: list[Result] = []
    with broker() as (bootstrap, described):
        for _ in range(args.rounds):
            results.append(run_plain(settings_for(bootstrap, "plain"), inputs))
            results.append(floor_result(settings_for(bootstrap, "workers"), inputs, engine=False))
            results.append(floor_result(settings_for(bootstrap, "engine"), inputs, engine=True))
            results.append(run_choreo(settings_for(bootstrap, "choreo"), inputs))
    report(results, described, load, args.events, args.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
