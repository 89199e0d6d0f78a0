"""``python -m choreo.apache_kafka``: fetch the jars, or run one node in the foreground.

A developer tool rather than a ``choreo`` command: users run choreo against their own Kafka,
and the embedded broker (``choreo broker``) covers local work without a JVM. This is for running
the test suite, or trying a service, against the real Apache Kafka without Docker.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from choreo.apache_kafka._fetch import CACHE_ENV, DEFAULT_VERSION, fetch
from choreo.apache_kafka._node import ApacheKafka
from choreo.errors import EmbeddedBrokerError
from choreo.logs import configure_logging

#: The same exit codes as the ``choreo`` command.
EXIT_PROBLEM = 1
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130
DEFAULT_PORT = 9092
WATCH_SECONDS = 0.5


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: ``[--version V] [--cache-dir D] fetch|run [--data-dir D] [--port N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m choreo.apache_kafka",
        description="Run Apache Kafka (KRaft, one node) from its jars, fetched with Maven.",
    )
    parser.add_argument("--version", default=DEFAULT_VERSION, help="an Apache Kafka 4.x release")
    parser.add_argument(
        "--cache-dir", type=Path, help=f"jar cache (default ${CACHE_ENV} or ~/.cache/choreo/kafka)"
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="fetch the jars into the cache; print their directory")
    run = commands.add_parser("run", help="run a node until Ctrl-C or SIGTERM; print its address")
    run.add_argument(
        "--data-dir", type=Path, help="the node's directory (default: a temporary one)"
    )
    run.add_argument("--port", type=int, default=DEFAULT_PORT, help="client port; 0 picks one")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on and advertise")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code (3 when Kafka cannot be fetched or started)."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    try:
        if args.command == "fetch":
            sys.stdout.write(f"{fetch(args.version, args.cache_dir)}\n")
            return 0
        return _run_node(args)
    except EmbeddedBrokerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_CONFIG
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def _run_node(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="choreo-kafka-") as scratch:
        kafka = ApacheKafka(
            args.data_dir or scratch,
            args.port,
            args.version,
            host=args.host,
            cache_dir=args.cache_dir,
        )
        terminated: list[int] = []

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            terminated.append(signum)
            kafka.stop()

        signal.signal(signal.SIGTERM, on_sigterm)
        with kafka:
            sys.stderr.write(f"Apache Kafka {kafka.version}; its log: {kafka.log_path}\n")
            sys.stdout.write(f"{kafka.bootstrap_servers}\n")
            sys.stdout.flush()
            while kafka.running:
                time.sleep(WATCH_SECONDS)
            if not terminated:
                sys.stderr.write(f"error: Apache Kafka stopped by itself:\n{kafka.log_tail()}\n")
                return EXIT_PROBLEM
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
