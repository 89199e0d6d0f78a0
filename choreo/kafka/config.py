"""librdkafka configurations built from ``Settings``: choreo's defaults, then the user's options.

Defaults that make delivery safe (idempotence, ``acks=all``) and keys land where a Java client
would put them (``murmur2_random``) are set here once, so every producer in choreo agrees.
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


def consumer_config(settings: Settings, group_id: str, **extra: str) -> dict[str, str]:
    """A consumer configuration for ``group_id`` with manual offset commits."""
    defaults = {
        "group.id": group_id,
        "enable.auto.commit": "false",
        "auto.offset.reset": "latest",
        # Pattern subscriptions should notice new asset topics quickly.
        "topic.metadata.refresh.interval.ms": "5000",
    }
    return {**defaults, **common_config(settings), **extra}


def admin_config(settings: Settings) -> dict[str, str]:
    """An admin client configuration."""
    return common_config(settings)
