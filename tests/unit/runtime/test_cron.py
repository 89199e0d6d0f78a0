"""Cron expressions: parsing each field form, the next fire time, and refusing bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo.errors import InvalidInputError
from choreo.runtime.cron import CronSchedule, next_fire, parse_cron


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_star_allows_every_value() -> None:
    """``*`` in every field allows every minute, hour, day, month and weekday."""
    schedule = parse_cron("* * * * *")
    assert schedule.minutes == tuple(range(60))
    assert schedule.hours == tuple(range(24))
    assert schedule.days == frozenset(range(1, 32))
    assert schedule.months == frozenset(range(1, 13))
    assert schedule.weekdays == frozenset(range(7))


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("5", (5,)),
        ("1,5,9", (1, 5, 9)),
        ("10-13", (10, 11, 12, 13)),
        ("*/15", (0, 15, 30, 45)),
        ("10-30/10", (10, 20, 30)),
        ("50/3", (50, 53, 56, 59)),
        ("1-3,2-4,59", (1, 2, 3, 4, 59)),
    ],
)
def test_minute_field_forms(field: str, expected: tuple[int, ...]) -> None:
    """Numbers, lists, ranges, ``*/n``, ``a-b/n`` and ``a/n`` give the expected minutes."""
    assert parse_cron(f"{field} * * * *").minutes == expected


def test_names_are_case_insensitive_and_work_in_ranges() -> None:
    """Month and weekday names (any case) stand for their numbers, in ranges too."""
    schedule = parse_cron("0 0 * jan,Jul-SEP mon-Fri")
    assert schedule.months == frozenset({1, 7, 8, 9})
    assert schedule.weekdays == frozenset({1, 2, 3, 4, 5})


def test_seven_is_sunday() -> None:
    """Day-of-week 7 is folded into 0: both mean Sunday."""
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})
    assert parse_cron("0 0 * * 5-7").weekdays == frozenset({0, 5, 6})


@pytest.mark.parametrize(
    ("alias", "expanded"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_aliases_expand(alias: str, expanded: str) -> None:
    """``@daily`` and friends fire exactly as their 5-field forms."""
    after = at(2026, 3, 14, 15, 9)
    assert next_fire(alias, after) == next_fire(expanded, after)


def test_whitespace_is_normalised() -> None:
    """Extra spaces and tabs between fields do not matter; the kept text has single spaces."""
    assert parse_cron("  0\t6  * *   * ").expr == "0 6 * * *"


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 6 * * *", at(2026, 11, 20, 5, 59), at(2026, 11, 20, 6, 0)),
        ("0 6 * * *", at(2026, 11, 20, 6, 0), at(2026, 11, 21, 6, 0)),
        ("* * * * *", datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), at(2026, 1, 1, 0, 1)),
        ("*/15 * * * *", at(2026, 1, 1, 0, 46), at(2026, 1, 1, 1, 0)),
        ("30 23 * * *", at(2026, 1, 31, 23, 31), at(2026, 2, 1, 23, 30)),
        ("0 0 1 1 *", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0)),
        ("0 0 31 * *", at(2026, 1, 31, 0, 0), at(2026, 3, 31, 0, 0)),
        ("0 0 31 * *", at(2026, 4, 1, 0, 0), at(2026, 5, 31, 0, 0)),
        ("0 0 29 2 *", at(2026, 1, 1, 0, 0), at(2028, 2, 29, 0, 0)),
        ("0 0 29 2 *", at(2096, 3, 1, 0, 0), at(2104, 2, 29, 0, 0)),
        ("0 12 28-31 * *", at(2026, 2, 28, 12, 0), at(2026, 3, 28, 12, 0)),
        ("0 9 * * MON-FRI", at(2026, 11, 20, 9, 0), at(2026, 11, 23, 9, 0)),
        ("15 10,14 * * *", at(2026, 6, 1, 10, 15), at(2026, 6, 1, 14, 15)),
        ("0 0 * 2 *", at(2026, 2, 28, 0, 0), at(2027, 2, 1, 0, 0)),
    ],
)
def test_next_fire(expr: str, after: datetime, expected: datetime) -> None:
    """The next fire time is the first matching minute strictly after ``after``."""
    assert next_fire(expr, after) == expected


def test_both_day_fields_restricted_means_either() -> None:
    """With day-of-month and day-of-week both restricted, a day matching either fires."""
    # 2026-02-06 is a Friday; the 13th comes later.
    fires = [at(2026, 2, 1)]
    for _ in range(4):
        fires.append(next_fire("0 0 13 * FRI", fires[-1]))
    assert fires[1:] == [at(2026, 2, 6), at(2026, 2, 13), at(2026, 2, 20), at(2026, 2, 27)]
    assert next_fire("0 0 13 * FRI", at(2026, 3, 6)) == at(2026, 3, 13)


def test_a_star_prefixed_day_field_means_both() -> None:
    """A day field starting with ``*`` (even ``*/2``) does not restrict: both must match."""
    # Odd days of the month that are also Fridays: 2026-02-13 is the first after Feb 1.
    assert next_fire("0 0 */2 * FRI", at(2026, 2, 1)) == at(2026, 2, 13)
    assert next_fire("0 0 * * FRI", at(2026, 2, 1)) == at(2026, 2, 6)
    assert next_fire("0 0 13 * *", at(2026, 2, 1)) == at(2026, 2, 13)


def test_next_fire_converts_other_timezones_to_utc() -> None:
    """An aware ``after`` in another zone is the same instant; the result is UTC."""
    plus_two = timezone(timedelta(hours=2))
    result = next_fire("0 6 * * *", datetime(2026, 11, 20, 7, 30, tzinfo=plus_two))
    assert result == at(2026, 11, 20, 6, 0)
    assert result.tzinfo is UTC


def test_next_fire_refuses_naive_datetimes() -> None:
    """A naive ``after`` is refused instead of being guessed to be UTC or local time."""
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        next_fire("* * * * *", datetime(2026, 1, 1))


def test_next_fire_accepts_a_parsed_schedule() -> None:
    """A schedule parsed once can be asked repeatedly without re-parsing."""
    schedule = parse_cron("0 6 * * *")
    assert next_fire(schedule, at(2026, 1, 1)) == next_fire("0 6 * * *", at(2026, 1, 1))


def test_matches() -> None:
    """``matches`` says whether a moment (seconds ignored) is a fire time."""
    schedule = parse_cron("30 6 * * MON")
    assert schedule.matches(datetime(2026, 11, 23, 6, 30, 59, tzinfo=UTC))
    assert not schedule.matches(at(2026, 11, 24, 6, 30))
    assert not schedule.matches(at(2026, 11, 23, 6, 31))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "has 0 fields"),
        ("* * * *", "has 4 fields"),
        ("* * * * * *", "has 6 fields"),
        ("60 * * * *", "minute field '60' is out of range; use 0-59"),
        ("* 24 * * *", "hour field '24' is out of range; use 0-23"),
        ("* * 0 * *", "day-of-month field '0' is out of range; use 1-31"),
        ("* * 32 * *", "day-of-month field '32' is out of range"),
        ("* * * 13 *", "month field '13' is out of range; use 1-12 or names JAN-DEC"),
        ("* * * * 8", "day-of-week field '8' is out of range; use 0-7 or names SUN-SAT"),
        ("* * * FOO *", "month field 'FOO' is not a number or a name"),
        ("* * * * FRIDAY", "day-of-week field 'FRIDAY' is not a number or a name"),
        ("MON * * * *", "minute field 'MON' is not a number;"),
        ("*/0 * * * *", "minute field '\\*/0' has a bad step"),
        ("*/x * * * *", "has a bad step"),
        ("1/ * * * *", "has a bad step"),
        ("5-1 * * * *", "minute field '5-1' is a backwards range"),
        ("* * * * FRI-MON", "is a backwards range"),
        ("1,,2 * * * *", "minute field '' is not a number"),
        ("-5 * * * *", "is not a number"),
        ("1- * * * *", "is not a number"),
        ("-1 * * * *", "is not a number"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("@reboot", "has 1 fields"),
    ],
)
def test_bad_expressions_name_the_field_and_the_form(expr: str, message: str) -> None:
    """A malformed expression raises ``InvalidInputError`` naming the field and allowed form."""
    with pytest.raises(InvalidInputError, match=message):
        parse_cron(expr)


def test_field_errors_list_the_allowed_forms() -> None:
    """The message spells out lists, ranges and steps, so the user can fix the field."""
    with pytest.raises(InvalidInputError) as caught:
        parse_cron("0 25 * * *")
    assert "lists (a,b), ranges (a-b), steps (*/n, a-b/n)" in str(caught.value)


def test_both_restricted_day_fields_are_satisfiable_on_impossible_dates() -> None:
    """Feb 30 with a weekday still fires (on that weekday), by the either-day rule."""
    assert next_fire("0 0 30 2 MON", at(2026, 2, 1)) == at(2026, 2, 2)


_field_values = st.sampled_from(["*", "*/7", "5", "1-20/3", "0,30", "10-12"])


@settings(max_examples=40, deadline=None)
@given(
    minute=_field_values,
    hour=st.sampled_from(["*", "6", "*/5", "22-23", "0,12"]),
    day=st.sampled_from(["*", "1", "15-16", "*/10"]),
    weekday=st.sampled_from(["*", "MON-FRI", "0", "6"]),
    after=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.just(UTC),
    ),
)
def test_next_fire_is_the_first_match(
    minute: str, hour: str, day: str, weekday: str, after: datetime
) -> None:
    """The result matches, lies after ``after``, and no minute in between (up to 12 h) does."""
    schedule = parse_cron(f"{minute} {hour} {day} * {weekday}")
    fire = next_fire(schedule, after)
    assert fire > after
    assert _brute_matches(schedule, fire)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(12 * 60):
        if moment >= fire:
            break
        assert not _brute_matches(schedule, moment)
        moment += timedelta(minutes=1)


def _brute_matches(schedule: CronSchedule, moment: datetime) -> bool:
    """An independent statement of the Vixie rule over the parsed sets."""
    weekday = int(moment.strftime("%w"))
    by_day = moment.day in schedule.days
    by_weekday = weekday in schedule.weekdays
    day_ok = (by_day or by_weekday) if schedule.days_or else (by_day and by_weekday)
    return (
        moment.minute in schedule.minutes
        and moment.hour in schedule.hours
        and moment.month in schedule.months
        and day_ok
    )


def test_no_fire_time_before_the_end_of_the_calendar() -> None:
    """Past the last representable year the search stops with an error instead of looping."""
    with pytest.raises(InvalidInputError, match="no fire time after"):
        next_fire("0 0 1 1 *", at(9998, 6, 1))
