"""Standard 5-field cron expressions, parsed once and asked for their next fire time.

The ``cron(...)`` trigger gate needs exactly two things from a schedule: "is it valid" at
declaration time and "when does it fire next after t" at run time. That is small enough to own
(no extra dependency, no clock read: ``after`` is always given) and to test edge by edge.

Semantics follow Vixie cron, the form most people know from crontab(5): fields are
``minute hour day-of-month month day-of-week``; each takes ``*``, a number, a name (``JAN``,
``MON``; case-insensitive), lists ``a,b``, ranges ``a-b`` and steps ``*/n``, ``a-b/n`` or ``a/n``
(from ``a`` to the field's maximum). Day-of-week 0 and 7 are both Sunday. When both day fields
are restricted (neither starts with ``*``) a day matches if *either* matches; otherwise both
must. ``@yearly``, ``@monthly``, ``@weekly``, ``@daily`` and ``@hourly`` are accepted too. All
times are UTC.
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from choreo.errors import InvalidInputError

CRON_FORM = (
    "5 fields 'minute hour day-of-month month day-of-week', "
    "e.g. '0 6 * * *' or '*/15 * * * MON-FRI'"
)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

# The Gregorian calendar repeats every 400 years, so a schedule that has not fired within that
# span never will; the search stops there instead of looping forever.
_SEARCH_YEARS = 400


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]

    @property
    def form(self) -> str:
        names = list(self.names)
        named = f" or names {names[0]}-{names[-1]}" if names else ""
        return f"{self.low}-{self.high}{named}, '*', lists (a,b), ranges (a-b), steps (*/n, a-b/n)"


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: the allowed values of each field."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday … 6 = Saturday (a 7 in the expression is folded into 0)."""
    days_or: bool
    """Both day fields are restricted, so a day matching either one fires."""

    def day_matches(self, day: date) -> bool:
        """Whether the schedule fires on ``day`` at all (the day-of-month/day-of-week rule)."""
        by_month_day = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_or:
            return by_month_day or by_weekday
        return by_month_day and by_weekday

    def matches(self, moment: datetime) -> bool:
        """Whether the schedule fires at ``moment`` (UTC, seconds ignored)."""
        moment = _as_utc(moment, "moment")
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self.day_matches(moment.date())
        )


def parse_cron(expr: str) -> CronSchedule:
    """Parse a cron expression, or raise ``InvalidInputError`` naming the bad field.

    Args:
        expr: five whitespace-separated fields, or an alias such as ``@daily``.

    Returns:
        The schedule, with whitespace in ``expr`` normalised to single spaces.
    """
    text = " ".join(expr.split())
    fields = ALIASES.get(text.lower(), text).split(" ")
    if len(fields) != len(_FIELDS):
        raise InvalidInputError(
            f"cron expression {expr!r} has {len(fields) if text else 0} fields; use {CRON_FORM}"
            f" (or one of {', '.join(ALIASES)})"
        )
    minutes, hours, days, months, weekdays = (
        _parse_field(text, spec, value) for spec, value in zip(_FIELDS, fields, strict=True)
    )
    schedule = CronSchedule(
        expr=text,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(day % 7 for day in weekdays),
        days_or=not fields[2].startswith("*") and not fields[4].startswith("*"),
    )
    if not schedule.days_or and not any(
        day <= _longest_month(month) for month in months for day in days
    ):
        raise InvalidInputError(
            f"cron expression {expr!r} never fires: no month in its month field has any day of "
            "its day-of-month field"
        )
    return schedule


def next_fire(expr: str | CronSchedule, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, as an aware UTC datetime.

    Args:
        expr: a cron expression or an already parsed schedule.
        after: an aware datetime; naive ones are refused rather than guessed.
    """
    schedule = expr if isinstance(expr, CronSchedule) else parse_cron(expr)
    start = _as_utc(after, "after").replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.date()
    hour, minute = start.hour, start.minute
    last_year = min(day.year + _SEARCH_YEARS, date.max.year - 1)  # keep month arithmetic in range
    while day.year <= last_year:
        if day.month not in schedule.months:
            day = _first_of_next_month(day)
            hour = minute = 0
            continue
        if schedule.day_matches(day):
            found = _time_on_day(schedule, hour, minute)
            if found is not None:
                return datetime(day.year, day.month, day.day, *found, tzinfo=UTC)
        day += timedelta(days=1)
        hour = minute = 0
    raise InvalidInputError(f"cron expression {schedule.expr!r} has no fire time after {after}")


def _time_on_day(schedule: CronSchedule, hour: int, minute: int) -> tuple[int, int] | None:
    """The first (hour, minute) of the schedule at or after ``hour:minute`` on one day."""
    index = bisect.bisect_left(schedule.hours, hour)
    if index == len(schedule.hours):
        return None
    if schedule.hours[index] != hour:
        return schedule.hours[index], schedule.minutes[0]
    at = bisect.bisect_left(schedule.minutes, minute)
    if at < len(schedule.minutes):
        return hour, schedule.minutes[at]
    if index + 1 < len(schedule.hours):
        return schedule.hours[index + 1], schedule.minutes[0]
    return None


def _parse_field(expr: str, spec: _Field, text: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(expr, spec, item))
    return values


def _parse_item(expr: str, spec: _Field, item: str) -> range:
    def bad(why: str) -> InvalidInputError:
        return InvalidInputError(
            f"invalid cron expression {expr!r}: {spec.name} field {item!r} {why}; use {spec.form}"
        )

    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise bad("has a bad step (a whole number of at least 1 is needed)")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
    else:
        first, dash, last = base.partition("-")
        low = _value(first, spec, bad)
        high = _value(last, spec, bad) if dash else (spec.high if slash else low)
        if low > high:
            raise bad("is a backwards range")
    return range(low, high + 1, step)


def _value(text: str, spec: _Field, bad: Callable[[str], InvalidInputError]) -> int:
    if text.upper() in spec.names:
        return spec.names[text.upper()]
    if not text.isdigit():
        raise bad("is not a number" + (" or a name" if spec.names else ""))
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise bad("is out of range")
    return value


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]  # noqa: PLR2004 -- February


def _first_of_next_month(day: date) -> date:
    if day.month == 12:  # noqa: PLR2004 -- December rolls over into the next year
        return date(day.year + 1, 1, 1)
    return date(day.year, day.month + 1, 1)


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")
    return moment.astimezone(UTC)
