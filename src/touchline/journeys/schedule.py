"""Time-of-day and calendar maths in the customer's time zone (zoneinfo, DST-aware). Pure; every
function takes the instant it reasons from and returns aware UTC datetimes.

Local times that do not exist (the hour skipped when clocks go forward) resolve to the same wall-clock
reading with the offset before the change, i.e. one hour later than asked (02:30 -> 03:30 EDT); local
times that happen twice (clocks go back) resolve to the first one (PEP 495 ``fold=0``).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TIMEZONE", "anniversary", "local_instant", "next_time_of_day", "zone"]

DEFAULT_TIMEZONE = "UTC"
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; UTC when it is missing or unknown (a profile's time zone is data, and
    bad data must not stop a journey)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_TIMEZONE)


def _hhmm(value: str) -> dt.time:
    m = _HHMM.fullmatch(value)
    if m is None:
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return dt.time(int(m.group(1)), int(m.group(2)))


def local_instant(day: dt.date, time_of_day: str, tz: str | None) -> dt.datetime:
    """``day`` at ``time_of_day`` on the wall clock of ``tz``, as UTC."""
    return dt.datetime.combine(day, _hhmm(time_of_day), tzinfo=zone(tz)).astimezone(dt.UTC)


def next_time_of_day(after: dt.datetime, time_of_day: str, tz: str | None) -> dt.datetime:
    """The first instant strictly after ``after`` at which the wall clock of ``tz`` reads ``time_of_day``."""
    if after.tzinfo is None:
        raise ValueError("'after' must be an aware datetime")
    day = after.astimezone(zone(tz)).date()
    for offset in range(3):  # today, tomorrow; a third day only if a skipped hour pushed us back
        candidate = local_instant(day + dt.timedelta(days=offset), time_of_day, tz)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a time of day recurs within two days")  # pragma: no cover


def anniversary(day: dt.date, year: int) -> dt.date:
    """``day`` moved to ``year``; 29 February becomes 28 February in common years."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)
