"""The CLI's small text forms parse into typed values or fail naming the expected form."""

from __future__ import annotations

import pytest

from choreo.cli.arguments import parse_input, parse_meta, parse_meta_value
from choreo.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1200", 1200),
        ("-3", -3),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("null", None),
        ("pos", "pos"),
        ('"007"', "007"),
        ("'1.5'", "1.5"),
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_meta_values_are_typed(text: str, value: object) -> None:
    """Integers, floats, booleans and null are typed; quoted or other text stays a string."""
    parsed = parse_meta_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_meta_pairs() -> None:
    """Repeated KEY=VALUE pairs become one mapping; '=' in the value is kept."""
    assert parse_meta(["rows=1200", "source=pos", "q=a=b"]) == {
        "rows": 1200,
        "source": "pos",
        "q": "a=b",
    }


@pytest.mark.parametrize("item", ["rows", "=5", ""])
def test_meta_without_key_or_equals_is_refused(item: str) -> None:
    """A --meta without '=' or without a key is refused naming the form."""
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        parse_meta([item])


def test_input_with_and_without_partition() -> None:
    """ASSET@PARTITION=VERSION and ASSET=VERSION both parse."""
    with_partition = parse_input("shop.orders@2026-11-20=v3")
    assert (with_partition.asset, with_partition.partition, with_partition.version) == (
        "shop.orders",
        "2026-11-20",
        "v3",
    )
    assert parse_input("shop.customers=abc").partition is None


@pytest.mark.parametrize("text", ["shop.orders", "shop.orders@=v", "=v", "shop.orders@p=", "x"])
def test_malformed_input_is_refused(text: str) -> None:
    """An --input that does not parse is refused with the expected form."""
    with pytest.raises(InvalidInputError, match="ASSET\\[@PARTITION\\]=VERSION"):
        parse_input(text)


def test_input_with_bad_asset_key_names_it() -> None:
    """An --input naming a bad asset key fails on the key."""
    with pytest.raises(InvalidInputError, match="Shop"):
        parse_input("Shop=v1")
