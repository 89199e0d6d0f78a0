"""Durations as people write them in triggers and settings: ``500ms``, ``30s``, ``5m``, ``26h``,
``1d``, ``1h30m``; parsed once and written back in the shortest form, so declarations round-trip."""

from __future__ import annotations

import re
from datetime import timedelta

from choreo.errors import InvalidInputError


def parse_duration(text: str) -> timedelta:
    """Read a duration such as ``500ms``, ``30s``, ``5m``, ``2h``, ``1d`` or ``1h30m``."""
    parts = _DURATION_PART.findall(text.strip())
    units = [unit for _, unit in parts]
    if (
        not parts
        or "".join(f"{count}{unit}" for count, unit in parts) != text.strip()
        or units != sorted(set(units), key=list(_UNITS).index)
    ):
        raise InvalidInputError(
            f"invalid duration {text!r}: use whole numbers with units d, h, m, s, ms from "
            "largest to smallest, e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m"
        )
    duration = sum((int(count) * _UNITS[unit] for count, unit in parts), timedelta())
    format_duration(duration)
    return duration


def format_duration(duration: timedelta) -> str:
    """Write a positive whole-millisecond duration in its shortest form, e.g. ``1h30m``."""
    if duration <= timedelta() or duration % _UNITS["ms"]:
        raise InvalidInputError(
            f"duration {duration} must be positive and a whole number of milliseconds"
        )
    text = ""
    for unit, size in _UNITS.items():
        count, duration = divmod(duration, size)
        text += f"{count}{unit}" if count else ""
    return text


_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_DURATION_PART = re.compile(r"(\d+)(ms|d|h|m|s)")
