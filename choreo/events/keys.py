"""Asset and partition keys: the names everything else (topics, lineage, CLI) is built from.

They are checked here, once, so that a bad key is refused where the user typed it with a message
naming the value and the allowed form, instead of surfacing later as a strange topic name.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from choreo.errors import InvalidInputError

ASSET_KEY_FORM = "lower-case words of [a-z0-9_] joined by dots, e.g. shop.daily_order_summary"
ASSET_KEY_RE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
# Kafka allows 249 characters per topic name; the longest topic we derive from a key is
# "<prefix>request.<key>", so keys are held well under that and topics.py checks the exact limit.
ASSET_KEY_MAX = 200

PARTITION_KEY_FORM = (
    "1-255 characters of letters, digits and _ . : = + / - (no spaces, no '..'), e.g. 2026-11-20"
)
PARTITION_KEY_RE = re.compile(r"[A-Za-z0-9_.:=+/-]{1,255}")


def validate_asset_key(key: str) -> str:
    """Return ``key`` if it is a valid asset key, else raise ``InvalidInputError``."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"asset key is empty; use {ASSET_KEY_FORM}")
    if len(key) > ASSET_KEY_MAX:
        raise InvalidInputError(
            f"asset key {key[:40]!r}… is {len(key)} characters; at most {ASSET_KEY_MAX} allowed"
        )
    if not ASSET_KEY_RE.fullmatch(key):
        raise InvalidInputError(f"invalid asset key {key!r}: use {ASSET_KEY_FORM}")
    return key


def validate_partition_key(key: str) -> str:
    """Return ``key`` if it is a valid partition key, else raise ``InvalidInputError``."""
    if not isinstance(key, str) or not PARTITION_KEY_RE.fullmatch(key) or ".." in key:
        raise InvalidInputError(f"invalid partition key {key!r}: use {PARTITION_KEY_FORM}")
    return key


AssetKey = Annotated[str, AfterValidator(validate_asset_key)]
"""A ``str`` validated as an asset key wherever a pydantic model uses it."""

PartitionKey = Annotated[str, AfterValidator(validate_partition_key)]
"""A ``str`` validated as a partition key wherever a pydantic model uses it."""
