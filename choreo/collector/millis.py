"""Time as the collector's tables keep it: whole milliseconds since the Unix epoch.

Integers sort and compare the same in SQLite and PostgreSQL, carry no time zone to lose, and are
what the events' Avro ``timestamp-millis`` fields hold; every module that writes or reads a time
column converts here, exactly (integer arithmetic, no float rounding).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def from_millis(millis: int) -> datetime:
    """Epoch milliseconds (how the tables store time) as an aware UTC ``datetime``."""
    return EPOCH + timedelta(milliseconds=millis)


def to_millis(value: datetime) -> int:
    """An aware ``datetime`` as epoch milliseconds."""
    return (value - EPOCH) // _MS
