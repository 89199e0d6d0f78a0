"""Partition ranges expand to every key, or fail naming the accepted forms."""

from __future__ import annotations

import pytest

from choreo.errors import InvalidInputError
from choreo.events.ranges import MAX_RANGE, expand_partition_range


def test_date_range_is_inclusive_across_month_end() -> None:
    """A date range lists every day from first to last, across a month boundary."""
    assert expand_partition_range("2026-10-30..2026-11-02") == [
        "2026-10-30",
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
    ]


def test_integer_range_keeps_zero_padding() -> None:
    """Integer ranges count up and keep a fixed width when the ends are zero-padded."""
    assert expand_partition_range("1..3") == ["1", "2", "3"]
    assert expand_partition_range("08..11") == ["08", "09", "10", "11"]


def test_single_partition_range() -> None:
    """A range whose ends are equal names one partition."""
    assert expand_partition_range("2026-11-20..2026-11-20") == ["2026-11-20"]


@pytest.mark.parametrize("text", ["2026-11-20", "a..b", "2026-11-40..2026-12-01", "..5", "1.."])
def test_malformed_ranges_are_refused(text: str) -> None:
    """Text that is not FIRST..LAST of dates or integers is refused with the forms."""
    with pytest.raises(InvalidInputError, match=r"FIRST\.\.LAST"):
        expand_partition_range(text)


def test_backwards_range_is_refused() -> None:
    """A range whose first key comes after the last is refused as empty."""
    with pytest.raises(InvalidInputError, match="empty"):
        expand_partition_range("2026-11-20..2026-11-01")


def test_huge_range_is_refused() -> None:
    """A range of more than MAX_RANGE partitions is refused."""
    with pytest.raises(InvalidInputError, match=str(MAX_RANGE)):
        expand_partition_range(f"1..{MAX_RANGE + 1}")
