"""What a service replica does before it reads a record: topics, checks, declarations, consumers.

Each step refuses to start a service that would misbehave later: inputs that are not
co-partitioned would join the wrong partitions, and an asset owned by two services would be
announced by both. The declarations are acknowledged before any run, so the graph exists before
the first output does.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from choreo.codec import AvroCodec, headers_for
from choreo.errors import ConfigError
from choreo.events import AssetDeclared, ProducerInfo
from choreo.events.topics import declarations_topic
from choreo.kafka.admin import TopicAdmin
from choreo.kafka.clients import new_consumer
from choreo.kafka.config import consumer_config
from choreo.kafka.declarations import read_declarations
from choreo.kafka.producer import ConfirmingProducer, OutgoingRecord
from choreo.service import Service
from choreo.settings import Settings


def prepare_topics(
    settings: Settings,
    service: Service,
    *,
    assets: Iterable[str],
    requests: Iterable[str],
    group_topics: Iterable[str],
    changelog: str,
    dlq: str,
    timeout: float,
) -> None:
    """``ensure_topics``, then the checks that refuse a service that would misbehave.

    Raises:
        ConfigError: inputs are not co-partitioned, or an asset is owned by another service.
    """
    admin = TopicAdmin(settings, timeout=timeout)
    ensure_topics(
        admin,
        assets,
        requests=requests,
        changelog=changelog,
        dlq=dlq,
        partitions=settings.topic_partitions,
    )
    check_copartitioned(admin, service.name, group_topics)
    check_ownership(settings, service, timeout=timeout)


def ensure_topics(
    admin: TopicAdmin,
    assets: Iterable[str],
    *,
    requests: Iterable[str],
    changelog: str,
    dlq: str,
    partitions: int,
) -> None:
    """Create what is missing: asset topics, request topics, the compacted changelog, the DLQ."""
    admin.ensure(sorted(set(assets)))
    for topic in requests:
        admin.ensure_topic(topic, partitions)
    admin.ensure_topic(changelog, partitions, {"cleanup.policy": "compact"})
    admin.ensure_topic(dlq, partitions)


def check_copartitioned(admin: TopicAdmin, service: str, group_topics: Iterable[str]) -> None:
    """Refuse group-read topics of different partition counts.

    Raises:
        ConfigError: partitioned inputs and request topics differ in partition count.
    """
    counts = {t.name: t.partitions for t in admin.list(prefix_only=False)}
    sizes = {topic: counts.get(topic) for topic in sorted(group_topics)}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{t}={n}" for t, n in sizes.items())
        raise ConfigError(
            f"inputs of service {service} are not co-partitioned ({shown}): "
            "partitioned inputs and request topics need the same partition count"
        )


def check_ownership(settings: Settings, service: Service, *, timeout: float) -> None:
    """Refuse to own an asset another service declared.

    Raises:
        ConfigError: an asset of ``service`` is declared by another service.
    """
    declared = read_declarations(settings, timeout=timeout)
    for asset in service.assets:
        current = declared.get(asset)
        if current is not None and current.service != service.name:
            raise ConfigError(
                f"asset {asset} is owned by service {current.service} "
                f"(declared by {current.producer.instance}); stop that service or rename "
                "the asset"
            )


def declare(
    settings: Settings, service: Service, *, instance: str, codec: AvroCodec, timeout: float
) -> None:
    """Announce every owned asset on the declarations topic, acknowledged before returning."""
    topic = declarations_topic(settings.topic_prefix)
    records = []
    for key, definition in service.assets.items():
        declaration = AssetDeclared(
            asset=key,
            service=service.name,
            inputs=definition.input_keys,
            trigger=definition.policy.describe(),
            partitioned=definition.partitioned,
            freshness_ms=(
                int(definition.freshness.total_seconds() * 1000) if definition.freshness else None
            ),
            owner=definition.owner,
            description=definition.description,
            code_version=definition.code_version,
            producer=ProducerInfo(
                service=service.name, instance=instance, code_version=definition.code_version
            ),
        )
        records.append(
            OutgoingRecord(
                topic=topic,
                key=key.encode(),
                value=codec.encode(declaration),
                headers=headers_for(declaration),
            )
        )
    producer = ConfirmingProducer(settings, timeout=timeout)
    try:
        producer.send_all(records)
    finally:
        producer.close()


def group_consumer(
    settings: Settings,
    group_id: str,
    *,
    session_timeout_ms: int,
    heartbeat_interval_ms: int,
) -> Consumer:
    """The consumer of the group's topics: ``range`` assignment, so co-partitioned inputs land
    together, and ``read_committed``, so aborted transactions are never read."""
    return new_consumer(
        consumer_config(
            settings,
            group_id,
            **{
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "range",
                "session.timeout.ms": str(session_timeout_ms),
                "heartbeat.interval.ms": str(heartbeat_interval_ms),
            },
        )
    )


def global_consumer(
    settings: Settings, group_id: str, topics: Iterable[str], *, timeout: float
) -> Consumer:
    """A consumer of every partition of ``topics`` from the start, outside any group: what each
    replica reads in full (unpartitioned inputs, and inputs of unpartitioned assets)."""
    consumer = new_consumer(consumer_config(settings, f"{group_id}.global"))
    metadata = consumer.list_topics(timeout=timeout)
    consumer.assign(
        [
            TopicPartition(topic, pid, OFFSET_BEGINNING)
            for topic in topics
            for pid in metadata.topics[topic].partitions
        ]
    )
    return consumer
