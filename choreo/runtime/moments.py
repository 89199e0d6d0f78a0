"""Moments the runtime decides with: aware datetimes, in UTC.

Trigger state compares and stores times from events, clocks and the changelog. They must all be
timezone-aware and in one zone, or comparisons are wrong (or raise); every time is checked and
converted once, where it enters the runtime, by ``aware_utc``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from choreo.errors import InvalidInputError


def aware_utc(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC; ``InvalidInputError`` naming ``name`` if it is not an aware datetime."""
    if moment.__class__ is datetime and moment.tzinfo is UTC:
        return moment  # what ``astimezone(UTC)`` returns for it, without the checks: the usual case
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment.astimezone(UTC)
