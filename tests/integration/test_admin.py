"""TopicAdmin against a real broker: topics are created as configured, once, and listed back."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from choreo.errors import BrokerUnavailableError, InvalidInputError
from choreo.events.topics import asset_topic, declarations_topic, dlq_topic
from choreo.kafka.admin import DECLARATIONS_PARTITIONS, TopicAdmin, TopicOutcome
from choreo.settings import Settings


def test_ensure_creates_asset_topics_and_compacted_declarations(settings: Settings) -> None:
    """Asset topics get the configured partitions; the declarations topic is compacted."""
    settings = settings.model_copy(update={"topic_partitions": 2})
    admin = TopicAdmin(settings)
    statuses = admin.ensure(["shop.orders", "shop.customers"])

    prefix = settings.topic_prefix
    assert [(s.name, s.outcome, s.partitions) for s in statuses] == [
        (asset_topic(prefix, "shop.orders"), TopicOutcome.CREATED, 2),
        (asset_topic(prefix, "shop.customers"), TopicOutcome.CREATED, 2),
        (declarations_topic(prefix), TopicOutcome.CREATED, DECLARATIONS_PARTITIONS),
    ]
    infos = {info.name: info for info in admin.list()}
    assert infos[asset_topic(prefix, "shop.orders")].partitions == 2
    assert infos[asset_topic(prefix, "shop.orders")].replication_factor == 1
    assert infos[declarations_topic(prefix)].partitions == DECLARATIONS_PARTITIONS
    assert infos[declarations_topic(prefix)].cleanup_policy == "compact"


def test_ensure_twice_reports_existing_topics(settings: Settings) -> None:
    """A second ensure creates nothing and reports every topic as already existing."""
    admin = TopicAdmin(settings)
    admin.ensure(["shop.orders"])
    again = admin.ensure(["shop.orders", "shop.customers"])
    assert {s.name: s.outcome for s in again} == {
        asset_topic(settings.topic_prefix, "shop.orders"): TopicOutcome.EXISTED,
        asset_topic(settings.topic_prefix, "shop.customers"): TopicOutcome.CREATED,
        declarations_topic(settings.topic_prefix): TopicOutcome.EXISTED,
    }
    assert all(s.partitions == settings.topic_partitions for s in again[:2])


def test_ensure_without_assets_creates_only_declarations(settings: Settings) -> None:
    """With no asset keys, ensure still creates the declarations topic."""
    statuses = TopicAdmin(settings).ensure([])
    assert [s.name for s in statuses] == [declarations_topic(settings.topic_prefix)]


def test_list_shows_only_this_prefix_sorted(settings: Settings) -> None:
    """list() returns the prefix's topics sorted by name; prefix_only=False includes others."""
    admin = TopicAdmin(settings)
    admin.ensure(["b.orders", "a.orders"])
    other_topic = f"{settings.topic_prefix[:-1]}-other.asset.x"  # same test, outside the prefix
    admin.ensure_topic(other_topic, partitions=1)

    names = [info.name for info in admin.list()]
    prefix = settings.topic_prefix
    assert names == sorted(
        [
            asset_topic(prefix, "a.orders"),
            asset_topic(prefix, "b.orders"),
            declarations_topic(prefix),
        ]
    )
    assert other_topic in [info.name for info in admin.list(prefix_only=False)]


def test_ensure_topic_applies_partitions_and_config(settings: Settings) -> None:
    """The general form creates a topic with the given partitions and config, then finds it."""
    admin = TopicAdmin(settings)
    name = dlq_topic(settings.topic_prefix, "sales-summary")
    created = admin.ensure_topic(name, partitions=4, config={"cleanup.policy": "compact"})
    assert (created.outcome, created.partitions) == (TopicOutcome.CREATED, 4)
    assert admin.ensure_topic(name, partitions=4).outcome is TopicOutcome.EXISTED
    [info] = [i for i in admin.list() if i.name == name]
    assert (info.partitions, info.cleanup_policy) == (4, "compact")


def test_bad_names_are_refused_before_the_broker(settings: Settings) -> None:
    """Malformed asset keys and topic names raise InvalidInputError and create nothing."""
    admin = TopicAdmin(settings)
    with pytest.raises(InvalidInputError, match="Shop Orders"):
        admin.ensure(["shop.orders", "Shop Orders"])
    with pytest.raises(InvalidInputError, match="topic name"):
        admin.ensure_topic("bad name", partitions=1)
    assert admin.list() == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "call",
    [lambda admin: admin.ensure(["shop.orders"]), lambda admin: admin.list()],
    ids=["ensure", "list"],
)
def test_unreachable_broker_fails_within_the_timeout(call: Callable[[TopicAdmin], object]) -> None:
    """With nothing listening, ensure and list raise BrokerUnavailableError after the timeout."""
    bootstrap = f"127.0.0.1:{_closed_port()}"
    admin = TopicAdmin(Settings(bootstrap_servers=bootstrap), timeout=1.5)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as info:
        call(admin)
    assert time.monotonic() - started < 1.5 + 2.0
    assert str(info.value) == (
        f"cannot reach Kafka at {bootstrap} within 1.5s; is a broker running? "
        "(choreo broker starts one)"
    )
