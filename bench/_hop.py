"""One hop of the latency benchmark's chains, run as its own process by ``latency.py``.

``python bench/_hop.py choreo|plain INPUT OUTPUT BOOTSTRAP PREFIX FETCH_WAIT_MS`` reads asset
``INPUT`` and announces asset ``OUTPUT`` until SIGTERM, its consumer fetching with
``fetch.wait.max.ms=FETCH_WAIT_MS``:

* ``choreo``: a ``ServiceRunner`` for a service owning ``OUTPUT`` (partitioned, from the
  partitioned ``INPUT``) whose function passes the input's location and metadata on;
* ``plain``: a confluent-kafka loop, ``poll()`` per message → fastavro decode → build the same
  output → fastavro encode → ``produce()``, with the runner's producer settings.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from _plain import PlainTransform
from _workload import plain_producer
from confluent_kafka import Consumer

from choreo import AssetIn, InputData, Output, RunContext, Service, Settings
from choreo.events.topics import asset_topic
from choreo.kafka.config import consumer_config
from choreo.kafka.runner import RunnerOptions, ServiceRunner
from choreo.logs import configure_logging

#: Short group timings: on the embedded broker a group join waits about one session timeout.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
#: How long the plain loop's ``poll()`` waits; a record wakes it at once.
POLL_SECONDS = 0.1


def hop_service(source: str, target: str) -> Service:
    """The service of one choreo hop: ``target`` from ``source``, both partitioned."""
    service = Service(f"bench-hop-{target.replace('.', '-')}")

    @service.asset(target, inputs=[AssetIn(source, partitioned=True)], partitioned=True)
    def copy(ctx: RunContext, upstream: InputData) -> Output:
        return ctx.output(location=upstream.location, metadata=upstream.metadata)

    return service


def run_choreo(settings: Settings, source: str, target: str, fetch_wait_ms: int) -> None:
    """Run the hop's ``ServiceRunner`` until SIGTERM.

    ``fetch.wait.max.ms`` is passed as a user would (``CHOREO_KAFKA__FETCH_WAIT_MAX_MS``).
    """
    runner = ServiceRunner(
        hop_service(source, target),
        Settings(
            bootstrap_servers=settings.bootstrap_servers,
            topic_prefix=settings.topic_prefix,
            kafka={"fetch.wait.max.ms": str(fetch_wait_ms)},
        ),
        RunnerOptions(
            instance=f"bench:{target}",
            shutdown_grace_seconds=5,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        ),
    )
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    runner.run()


def run_plain(settings: Settings, source: str, target: str, fetch_wait_ms: int) -> None:
    """Consume one record at a time, transform it and produce the output, until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    transform = PlainTransform(target, f"bench-plain-{target}")
    out_topic = asset_topic(settings.topic_prefix, target)
    consumer = Consumer(
        consumer_config(
            settings,
            f"{settings.topic_prefix}plain.{target}",
            **{
                "auto.offset.reset": "earliest",
                "enable.auto.commit": "true",
                "fetch.wait.max.ms": str(fetch_wait_ms),
                "session.timeout.ms": str(SESSION_TIMEOUT_MS),
                "heartbeat.interval.ms": str(HEARTBEAT_INTERVAL_MS),
            },
        )
    )
    consumer.subscribe([asset_topic(settings.topic_prefix, source)])
    producer = plain_producer(settings)
    try:
        while not stop.is_set():
            message = consumer.poll(POLL_SECONDS)
            if message is not None and message.error() is None:
                key, value = transform(message.value() or b"")
                producer.produce(out_topic, key=key, value=value)
            producer.poll(0)
    finally:
        producer.flush(10)
        consumer.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one hop until SIGTERM."""
    parser = argparse.ArgumentParser(description="One hop of the latency benchmark.")
    parser.add_argument("kind", choices=["choreo", "plain"])
    parser.add_argument("source", help="input asset")
    parser.add_argument("target", help="output asset")
    parser.add_argument("bootstrap_servers")
    parser.add_argument("topic_prefix")
    parser.add_argument("fetch_wait_ms", type=int, help="the consumer's fetch.wait.max.ms")
    args = parser.parse_args(argv)
    configure_logging("warning", stream=sys.stderr)
    settings = Settings(bootstrap_servers=args.bootstrap_servers, topic_prefix=args.topic_prefix)
    run = run_choreo if args.kind == "choreo" else run_plain
    run(settings, args.source, args.target, args.fetch_wait_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
