"""Date values in query filters: ISO dates and times, and Intacct's relative macros
(`today`, `priorMonth`...) resolved against today or the request's `asOfDate`.

Every date value is a half-open period [start, end): `2024-03-05` is that whole day,
`priorMonth` the whole previous month, an exact timestamp a single instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ledgerbridge.parsing import MAX_MOMENT, MIN_MOMENT, parse_datetime

MACROS = (
    "today",
    "currentWeek",
    "currentMonth",
    "currentQuarter",
    "currentYear",
    "yesterday",
    "lastWeek",
    "priorMonth",
    "priorQuarter",
    "priorYear",
)


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def macro_period(macro: str, today: date) -> tuple[date, date]:
    """[first day, day after the last) of a macro's period. Weeks start on Monday."""
    week = today - timedelta(days=today.weekday())
    quarter = _month_start(today, (today.month - 1) % 3)
    periods = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "currentWeek": (week, week + timedelta(days=7)),
        "lastWeek": (week - timedelta(days=7), week),
        "currentMonth": (_month_start(today), _month_start(today, -1)),
        "priorMonth": (_month_start(today, 1), _month_start(today)),
        "currentQuarter": (quarter, _month_start(quarter, -3)),
        "priorQuarter": (_month_start(quarter, 3), quarter),
        "currentYear": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "priorYear": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
    }
    return periods[macro]


def date_period(raw: str, today: date) -> tuple[date, date]:
    """The period of a date field's filter value; ValueError when it is not a date."""
    if raw in MACROS:
        return macro_period(raw, today)
    day = date.fromisoformat(raw)
    if not MIN_MOMENT.date() <= day <= MAX_MOMENT.date():  # 9999-12-31 has no next day
        raise ValueError(f"{raw} is out of range")
    return day, day + timedelta(days=1)


def datetime_period(raw: str, today: date) -> tuple[datetime, datetime]:
    """The period of a timestamp field's filter value, in UTC: a day or macro covers whole
    UTC days, an exact timestamp (naive means UTC) covers one microsecond."""
    if raw in MACROS or len(raw) == 10:
        start, end = date_period(raw, today)
        return _midnight(start), _midnight(end)
    moment = parse_datetime(raw, default_zone=UTC).astimezone(UTC)
    return moment, moment + timedelta(microseconds=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
