"""Asset and partition keys are validated where they enter, with messages that say the form."""

from __future__ import annotations

import pytest

from choreo.errors import InvalidInputError
from choreo.events.keys import ASSET_KEY_MAX, validate_asset_key, validate_partition_key


@pytest.mark.parametrize("key", ["shop", "shop.orders", "a1.b_2.c3", "x" * ASSET_KEY_MAX])
def test_valid_asset_keys_pass(key: str) -> None:
    """Lower-case dotted words are accepted unchanged."""
    assert validate_asset_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["Shop.orders", "shop orders", "shop..orders", ".shop", "shop.", "shop-orders", "shop/x"],
)
def test_bad_asset_keys_name_value_and_form(key: str) -> None:
    """Capitals, spaces, empty words and other characters are refused, naming the key."""
    with pytest.raises(InvalidInputError, match="invalid asset key") as info:
        validate_asset_key(key)
    assert repr(key) in str(info.value)
    assert "[a-z0-9_]" in str(info.value)


def test_empty_asset_key_is_refused() -> None:
    """An empty key gets its own message."""
    with pytest.raises(InvalidInputError, match="asset key is empty"):
        validate_asset_key("")


def test_overlong_asset_key_is_refused() -> None:
    """Keys that could not become a Kafka topic name are refused with the limit."""
    with pytest.raises(InvalidInputError, match=f"at most {ASSET_KEY_MAX}"):
        validate_asset_key("x" * (ASSET_KEY_MAX + 1))


@pytest.mark.parametrize("key", ["2026-11-20", "eu/2026-11-20", "region=eu", "T10:00", "a+b"])
def test_valid_partition_keys_pass(key: str) -> None:
    """Dates, paths and key=value partitions are accepted."""
    assert validate_partition_key(key) == key


@pytest.mark.parametrize("key", ["", "2026 11 20", "a..b", "x" * 256, "ü"])
def test_bad_partition_keys_are_refused(key: str) -> None:
    """Spaces, '..', non-ASCII and over-long partition keys are refused with the form."""
    with pytest.raises(InvalidInputError, match="invalid partition key"):
        validate_partition_key(key)
