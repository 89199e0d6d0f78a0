"""Topic names derive from the prefix alone, and names Kafka would refuse are refused here."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from choreo.errors import InvalidInputError
from choreo.events.keys import ASSET_KEY_RE
from choreo.events.topics import (
    SERVICE_NAME_MAX,
    TOPIC_NAME_MAX,
    asset_from_topic,
    asset_topic,
    asset_topic_pattern,
    changelog_topic,
    declarations_topic,
    dlq_topic,
    request_topic,
    validate_service_name,
    validate_topic_name,
)


def test_names_for_the_default_prefix() -> None:
    """The default prefix gives the names DESIGN.md lists."""
    assert asset_topic("choreo.", "shop.orders") == "choreo.asset.shop.orders"
    assert declarations_topic("choreo.") == "choreo.declarations"
    assert request_topic("choreo.", "shop.orders") == "choreo.request.shop.orders"
    assert dlq_topic("choreo.", "sales-summary") == "choreo.dlq.sales-summary"
    assert changelog_topic("choreo.", "sales-summary") == "choreo.changelog.sales-summary"


def test_prefix_is_used_verbatim() -> None:
    """The prefix is prepended as given, including an empty one."""
    assert asset_topic("t1a2b3.", "x") == "t1a2b3.asset.x"
    assert asset_topic("", "x") == "asset.x"
    assert declarations_topic("dev-") == "dev-declarations"


@pytest.mark.parametrize("key", ["Shop Orders", "shop..orders", "", "shop-orders"])
def test_asset_topics_refuse_bad_keys(key: str) -> None:
    """A malformed asset key is refused before any topic name is built."""
    with pytest.raises(InvalidInputError, match="asset key"):
        asset_topic("choreo.", key)
    with pytest.raises(InvalidInputError, match="asset key"):
        request_topic("choreo.", key)


@pytest.mark.parametrize("service", ["Sales", "-sales", "sales summary", "", "s" * 101, "sales/x"])
def test_bad_service_names_are_refused(service: str) -> None:
    """Capitals, a leading '-', spaces, '/' and over-long names are refused with the form."""
    with pytest.raises(InvalidInputError, match="service name"):
        validate_service_name(service)
    with pytest.raises(InvalidInputError, match="service name"):
        dlq_topic("choreo.", service)


@pytest.mark.parametrize("service", ["sales-summary", "s", "a1.b_2-c", "s" * SERVICE_NAME_MAX])
def test_valid_service_names_pass(service: str) -> None:
    """Lower-case names with '-', '_' and '.' are accepted unchanged."""
    assert validate_service_name(service) == service
    assert changelog_topic("p.", service) == f"p.changelog.{service}"


def test_too_long_topic_names_state_the_limit() -> None:
    """A derived name past Kafka's 249 characters is refused, naming the limit."""
    long_prefix = "p" * 100
    key = "k" * 150
    with pytest.raises(InvalidInputError, match=f"at most {TOPIC_NAME_MAX}") as info:
        asset_topic(long_prefix, key)
    assert "topic name" in str(info.value)


def test_longest_allowed_topic_name_passes() -> None:
    """Exactly 249 characters is still a valid topic name."""
    name = "a" * TOPIC_NAME_MAX
    assert validate_topic_name(name) == name


@pytest.mark.parametrize("name", [".", "..", "", "a b", "a/b", "ü", "a:b"])
def test_names_kafka_refuses_are_refused(name: str) -> None:
    """'.', '..', empty names and characters outside [A-Za-z0-9._-] are refused, with the name."""
    with pytest.raises(InvalidInputError, match="topic name") as info:
        validate_topic_name(name)
    assert repr(name) in str(info.value)


def test_a_bad_prefix_is_caught_in_the_name() -> None:
    """A prefix with characters Kafka refuses makes every name invalid."""
    with pytest.raises(InvalidInputError, match="invalid topic name"):
        declarations_topic("my prefix.")


@pytest.mark.parametrize(
    ("topic", "asset"),
    [
        ("choreo.asset.shop.orders", "shop.orders"),
        ("choreo.asset.x", "x"),
        ("choreo.declarations", None),
        ("choreo.request.shop.orders", None),
        ("other.asset.shop.orders", None),
        ("choreo.asset.", None),
        ("choreo.asset.Shop", None),
    ],
)
def test_asset_from_topic(topic: str, asset: str | None) -> None:
    """Only topics of the form '<prefix>asset.<valid key>' map back to an asset."""
    assert asset_from_topic("choreo.", topic) == asset


@given(
    prefix=st.from_regex(r"[A-Za-z0-9._-]{0,30}", fullmatch=True),
    key=st.from_regex(r"[a-z0-9_]{1,10}(\.[a-z0-9_]{1,10}){0,3}", fullmatch=True),
)
def test_asset_topic_round_trips(prefix: str, key: str) -> None:
    """For any valid prefix and key, the asset is read back from its topic name."""
    assert ASSET_KEY_RE.fullmatch(key)
    assert asset_from_topic(prefix, asset_topic(prefix, key)) == key


def test_asset_topic_pattern_escapes_dots() -> None:
    """The subscription pattern anchors at the start and escapes the prefix's dots."""
    assert asset_topic_pattern("choreo.") == r"^choreo\.asset\..*"


@pytest.mark.parametrize("prefix", ["choreo.", "t0123456789.", "dev-x_", ""])
def test_asset_topic_pattern_matches_only_asset_topics(prefix: str) -> None:
    """The pattern matches every asset topic under the prefix and nothing else of choreo's."""
    pattern = re.compile(asset_topic_pattern(prefix))
    assert pattern.match(asset_topic(prefix, "shop.orders"))
    assert not pattern.match(declarations_topic(prefix))
    assert not pattern.match(request_topic(prefix, "shop.orders"))
    assert not pattern.match(f"x{prefix}asset.shop")
    if "." in prefix:
        # An unescaped '.' would match any character in its place.
        assert not pattern.match(asset_topic(prefix.replace(".", "x"), "shop.orders"))
