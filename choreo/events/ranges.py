"""Partition ranges as people type them: ``2026-11-01..2026-11-20`` (days) or ``1..12``."""

from __future__ import annotations

from datetime import date, timedelta

from choreo.errors import InvalidInputError

RANGE_FORM = "FIRST..LAST of ISO dates (2026-11-01..2026-11-20) or whole numbers (1..12)"
#: A backfill larger than this is almost certainly a typo in a year.
MAX_RANGE = 10_000


def expand_partition_range(text: str) -> list[str]:
    """Every partition key from FIRST to LAST inclusive.

    Raises:
        InvalidInputError: the text is not a range of dates or integers, runs backwards, or
            covers more than ``MAX_RANGE`` partitions.
    """
    first, sep, last = text.partition("..")
    if not sep or not first or not last:
        raise InvalidInputError(f"partition range {text!r} does not parse: use {RANGE_FORM}")
    keys = _dates(first, last) if "-" in first else _integers(text, first, last)
    if keys is None:
        raise InvalidInputError(f"partition range {text!r} does not parse: use {RANGE_FORM}")
    if not keys:
        raise InvalidInputError(f"partition range {text!r} is empty: FIRST comes after LAST")
    return keys


def _dates(first: str, last: str) -> list[str] | None:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None
    days = (end - start).days + 1
    _check_size(days)
    return [(start + timedelta(days=i)).isoformat() for i in range(max(days, 0))]


def _integers(text: str, first: str, last: str) -> list[str] | None:
    if not (first.lstrip("-").isdigit() and last.lstrip("-").isdigit()):
        return None
    start, end = int(first), int(last)
    _check_size(end - start + 1)
    width = len(first) if first.startswith("0") and len(first) == len(last) else 0
    return [str(n).zfill(width) for n in range(start, end + 1)]


def _check_size(count: int) -> None:
    if count > MAX_RANGE:
        raise InvalidInputError(f"partition range covers {count} partitions; at most {MAX_RANGE}")
