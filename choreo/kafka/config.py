"""librdkafka configurations built from ``Settings``: choreo's defaults, then the user's options.

Defaults that make delivery safe (idempotence, ``acks=all``) and keys land where a Java client
would put them (``murmur2_random``) are set here once, so every producer in choreo agrees; the
consumers' defaults keep a hop of a cascade in milliseconds.
"""

from __future__ import annotations

from choreo.settings import Settings

PRODUCER_DEFAULTS: dict[str, str] = {
    "enable.idempotence": "true",
    "acks": "all",
    # Java-compatible partitioning, so a key lands on the same partition whoever writes it.
    "partitioner": "murmur2_random",
    # Events are small and latency matters more than batching (milliseconds per hop).
    "linger.ms": "2",
}


def common_config(settings: Settings) -> dict[str, str]:
    """Options every client gets: bootstrap servers plus the user's pass-through options."""
    return {"bootstrap.servers": settings.bootstrap_servers, **settings.librdkafka()}


def producer_config(settings: Settings, **extra: str) -> dict[str, str]:
    """A producer configuration: user options override choreo's defaults, ``extra`` both."""
    return {**PRODUCER_DEFAULTS, **common_config(settings), **extra}


CONSUMER_DEFAULTS: dict[str, str] = {
    "enable.auto.commit": "false",
    "auto.offset.reset": "latest",
    # Pattern subscriptions should notice new asset topics quickly.
    "topic.metadata.refresh.interval.ms": "5000",
    # How long a fetch may wait for data. librdkafka's 500 ms is invisible on brokers that
    # answer as soon as a record arrives, but some Kafka-compatible ones (the embedded Tansu
    # among them) answer only when the wait is over, which put up to half a second on every hop
    # of a cascade. An idle consumer then fetches up to 100 times a second instead of twice.
    "fetch.wait.max.ms": "10",
}


def consumer_config(settings: Settings, group_id: str, **extra: str) -> dict[str, str]:
    """A consumer configuration for ``group_id`` with manual offset commits: user options
    override choreo's defaults, ``extra`` both."""
    return {**CONSUMER_DEFAULTS, "group.id": group_id, **common_config(settings), **extra}


def admin_config(settings: Settings) -> dict[str, str]:
    """An admin client configuration."""
    return common_config(settings)
