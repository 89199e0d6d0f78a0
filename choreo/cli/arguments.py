"""Parsing of the small text forms the CLI accepts (``--meta k=v``, ``--input A@P=V``), kept
apart from the commands so the rules are unit-tested and shared by every command that takes them."""

from __future__ import annotations

import json
import math
import re

from choreo.errors import InvalidInputError
from choreo.events import InputVersion, MetadataValue
from choreo.events.keys import validate_asset_key, validate_partition_key

META_FORM = (
    "KEY=VALUE, e.g. rows=1200 or source=pos (quote a value to keep it a string: code='\"007\"')"
)
INPUT_FORM = "ASSET[@PARTITION]=VERSION, e.g. shop.orders@2026-11-20=v3"
_INT = re.compile(r"[+-]?\d+")


def parse_meta_value(text: str) -> MetadataValue:
    """``1200`` → int, ``2.5`` → float, ``true``/``false`` → bool, ``null`` → None, ``"x"`` → str
    ``x``; anything else is the string itself."""
    if _INT.fullmatch(text):
        return int(text)
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "null":
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":  # noqa: PLR2004
        return text[1:-1]
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_meta(items: list[str]) -> dict[str, MetadataValue]:
    """Parse repeated ``--meta KEY=VALUE`` options into typed metadata."""
    metadata: dict[str, MetadataValue] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--meta {item!r} is not {META_FORM}")
        metadata[key.strip()] = parse_meta_value(value)
    return metadata


def parse_input(text: str) -> InputVersion:
    """Parse one ``--input ASSET[@PARTITION]=VERSION``."""
    target, sep, version = text.partition("=")
    asset, at, partition = target.partition("@")
    if not sep or not version or not asset or (at and not partition):
        raise InvalidInputError(f"--input {text!r} does not parse: expected {INPUT_FORM}")
    return InputVersion(
        asset=validate_asset_key(asset),
        partition=validate_partition_key(partition) if at else None,
        version=version,
    )


def metadata_json(metadata: dict[str, MetadataValue]) -> str:
    """Metadata as compact ``k=v`` text for human-readable output."""
    return " ".join(
        f"{k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}"
        for k, v in metadata.items()
    )
