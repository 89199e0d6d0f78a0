"""Creating and listing choreo's topics, with librdkafka's errors turned into choreo's own.

Topics are created explicitly (``choreo topics ensure``, or by services at start-up) rather than
relying on broker auto-creation, because auto-created topics get the broker's defaults: the
wrong partition count for co-partitioned joins and no compaction for the declarations topic.

Every call is bounded by the client's ``timeout``: librdkafka would otherwise keep reconnecting to
an absent broker forever, printing a line to stderr at each attempt. Its log lines are routed to
structlog at debug level instead, and an unreachable broker becomes one ``BrokerUnavailableError``.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin imports these public classes without re-exporting them, hence the ignore.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ClusterMetadata,
    ConfigResource,
    NewTopic,
)

from choreo.errors import BrokerError, BrokerUnavailableError
from choreo.events.topics import asset_topic, declarations_topic, validate_topic_name
from choreo.kafka.clients import new_admin
from choreo.kafka.config import admin_config
from choreo.settings import Settings

log = structlog.get_logger(__name__)

#: Interval between metadata checks while new topics propagate to the broker.
METADATA_POLL_SECONDS = 0.05

#: The declarations topic holds one compacted record per asset, so it stays small; a single
#: partition gives every reader the whole table, in the order it was written, from one partition.
DECLARATIONS_PARTITIONS = 1
COMPACTED: dict[str, str] = {"cleanup.policy": "compact"}
#: Topic configs ``list`` reports; the others are broker defaults nobody asked about.
REPORTED_CONFIGS = ("cleanup.policy", "retention.ms")

#: librdkafka error codes that mean "nobody answered" rather than "the broker said no".
UNREACHABLE_CODES = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
    }
)
# Futures are given this much longer than librdkafka's own request timeout, so librdkafka's
# error (which says what it was waiting for) normally wins over a bare local timeout.
FUTURE_GRACE_SECONDS = 1.0


class TopicOutcome(StrEnum):
    """What ``ensure`` did about one topic."""

    CREATED = "created"
    EXISTED = "existed"


@dataclass(frozen=True, slots=True)
class TopicStatus:
    """One topic ``ensure`` was asked for, and whether it was created or already there."""

    name: str
    outcome: TopicOutcome
    #: Requested for a created topic; the actual count for one that existed.
    partitions: int


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic as the broker describes it."""

    name: str
    partitions: int
    replication_factor: int
    #: The reported configs (``cleanup.policy``, ``retention.ms``) the broker returned.
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def cleanup_policy(self) -> str | None:
        """``delete``, ``compact`` or ``compact,delete``; ``None`` if the broker did not say."""
        return self.configs.get("cleanup.policy")

    @property
    def retention_ms(self) -> int | None:
        """Retention in milliseconds (``-1`` is forever); ``None`` if the broker did not say."""
        value = self.configs.get("retention.ms")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


class TopicAdmin:
    """Create and describe topics under the configured prefix.

    Args:
        settings: where the broker is, the topic prefix and the defaults for new topics.
        timeout: seconds each call may take before the broker counts as unreachable.
    """

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client = new_admin(admin_config(settings))

    def ensure(self, assets: Iterable[str]) -> builtins.list[TopicStatus]:
        """Create the topics of ``assets`` and the declarations topic, unless they exist.

        Asset topics get ``settings.topic_partitions`` partitions; the declarations topic is
        compacted and has ``DECLARATIONS_PARTITIONS``. Every key is validated before the broker
        is contacted.

        Raises:
            InvalidInputError: an asset key is malformed.
            BrokerUnavailableError: the broker did not answer within the timeout.
            BrokerError: the broker refused to create a topic.
        """
        prefix = self.settings.topic_prefix
        names = dict.fromkeys(asset_topic(prefix, asset) for asset in assets)
        wanted: builtins.list[tuple[str, int, dict[str, str]]] = [
            (name, self.settings.topic_partitions, {}) for name in names
        ]
        wanted.append((declarations_topic(prefix), DECLARATIONS_PARTITIONS, COMPACTED))
        return self._ensure(wanted)

    def ensure_topic(
        self, name: str, partitions: int, config: Mapping[str, str] | None = None
    ) -> TopicStatus:
        """Create topic ``name`` with ``partitions`` and topic ``config``, unless it exists.

        The replication factor is ``settings.topic_replication_factor``. An existing topic is
        left as it is, even if its partitions or config differ.
        """
        return self._ensure([(validate_topic_name(name), partitions, dict(config or {}))])[0]

    def list(self, prefix_only: bool = True) -> builtins.list[TopicInfo]:
        """Describe the topics under the prefix (every topic if not ``prefix_only``), by name."""
        deadline = time.monotonic() + self.timeout
        metadata = self._metadata(deadline)
        names = sorted(
            name
            for name in metadata.topics
            if not prefix_only or name.startswith(self.settings.topic_prefix)
        )
        configs = self._configs(names, deadline)
        infos = []
        for name in names:
            partitions = metadata.topics[name].partitions.values()
            infos.append(
                TopicInfo(
                    name=name,
                    partitions=len(partitions),
                    replication_factor=max((len(p.replicas) for p in partitions), default=0),
                    configs=configs.get(name, {}),
                )
            )
        return infos

    def check_reachable(self) -> None:
        """Return once the broker answers a metadata request; raise if it does not in time."""
        self._metadata(time.monotonic() + self.timeout)

    def _ensure(
        self, wanted: builtins.list[tuple[str, int, dict[str, str]]]
    ) -> builtins.list[TopicStatus]:
        deadline = time.monotonic() + self.timeout
        existing = self._metadata(deadline).topics
        statuses: dict[str, TopicStatus] = {
            name: TopicStatus(name, TopicOutcome.EXISTED, len(existing[name].partitions))
            for name, _, _ in wanted
            if name in existing
        }
        new = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=self.settings.topic_replication_factor,
                config=config,
            )
            for name, partitions, config in wanted
            if name not in statuses
        ]
        if new:
            remaining = self._remaining(deadline)
            futures = self._client.create_topics(
                new, operation_timeout=remaining, request_timeout=remaining
            )
            for topic in new:
                statuses[topic.topic] = self._created(topic, futures[topic.topic], deadline)
            self._await_visible({t.topic: t.num_partitions for t in new}, deadline)
        self._drain_logs()
        return [statuses[name] for name, _, _ in wanted]

    def _await_visible(self, partitions: Mapping[str, int], deadline: float) -> None:
        """Wait until new topics show all their partitions in the broker's metadata.

        Apache Kafka answers CreateTopics once the controller committed the topic; the broker's
        metadata catches up tens of milliseconds later, and a client asking in between (e.g.
        to check co-partitioning) would see no topic.
        """
        while True:
            metadata = self._metadata(deadline)
            missing = [
                name
                for name, count in partitions.items()
                if name not in metadata.topics or len(metadata.topics[name].partitions) < count
            ]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"created topics did not appear in Kafka's metadata within {self.timeout:g}s: "
                    f"{', '.join(missing)}"
                )
            time.sleep(METADATA_POLL_SECONDS)

    def _created(self, topic: NewTopic, future: Future[None], deadline: float) -> TopicStatus:
        try:
            self._wait(future, deadline)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise self._translate(error, f"create topic {topic.topic}") from exc
            # Created by someone else since we read the metadata: as good as existing.
            log.debug("topic.exists", topic=topic.topic)
            return TopicStatus(topic.topic, TopicOutcome.EXISTED, topic.num_partitions)
        log.info("topic.created", topic=topic.topic, partitions=topic.num_partitions)
        return TopicStatus(topic.topic, TopicOutcome.CREATED, topic.num_partitions)

    def _metadata(self, deadline: float) -> ClusterMetadata:
        try:
            metadata: ClusterMetadata = self._client.list_topics(timeout=self._remaining(deadline))
        except KafkaException as exc:
            raise self._translate(exc.args[0], "list topics") from exc
        finally:
            self._drain_logs()
        return metadata

    def _configs(self, names: builtins.list[str], deadline: float) -> dict[str, dict[str, str]]:
        if not names:
            return {}
        futures = self._client.describe_configs(
            [ConfigResource("topic", name) for name in names],
            request_timeout=self._remaining(deadline),
        )
        configs = {}
        for resource, future in futures.items():
            try:
                entries = self._wait(future, deadline)
            except KafkaException as exc:
                raise self._translate(exc.args[0], f"describe topic {resource.name}") from exc
            configs[resource.name] = {
                key: str(entries[key].value)
                for key in REPORTED_CONFIGS
                if key in entries and entries[key].value is not None
            }
        return configs

    def _wait(self, future: Future[Any], deadline: float) -> Any:
        """The future's result; ``KafkaException`` passes through for the caller to judge."""
        try:
            return future.result(timeout=self._remaining(deadline) + FUTURE_GRACE_SECONDS)
        except FutureTimeoutError as exc:
            raise self._unreachable() from exc

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._unreachable()
        return remaining

    def _translate(self, error: KafkaError, action: str) -> BrokerError:
        if error.code() in UNREACHABLE_CODES:
            return self._unreachable()
        return BrokerError(
            f"Kafka at {self.settings.bootstrap_servers} refused to {action}: "
            f"{error.str()} ({error.name()})"
        )

    def _unreachable(self) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"cannot reach Kafka at {self.settings.bootstrap_servers} within {self.timeout:g}s; "
            "is a broker running? (choreo broker starts one)"
        )

    def _drain_logs(self) -> None:
        """Hand librdkafka's queued log lines to structlog (they wait for a poll)."""
        self._client.poll(0)
