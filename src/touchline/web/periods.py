"""The period a report page shows: ``?days=7|30|90`` up to today, or ``?start=&end=``, in local days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Request

from touchline.errors import BadRequest
from touchline.http import bounded_int
from touchline.web.i18n import Formatter

__all__ = ["MAX_PERIOD_DAYS", "PERIOD_CHOICES", "Period", "period_of"]

PERIOD_CHOICES = (7, 30, 90)
MAX_PERIOD_DAYS = 731


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive
    first_day: dt.date  # local, inclusive
    last_day: dt.date  # local, inclusive
    days: int | None  # one of PERIOD_CHOICES, or None for a custom range

    def query(self) -> str:
        if self.days is not None:
            return f"days={self.days}"
        return f"start={self.first_day.isoformat()}&end={self.last_day.isoformat()}"


def period_of(request: Request, f: Formatter, default_days: int = 30) -> Period:
    """``?days=7|30|90`` (days up to today, local), or ``?start=YYYY-MM-DD&end=YYYY-MM-DD`` (inclusive)."""
    q = request.query_params
    today = dt.datetime.now(f.zone).date()
    days: int | None = None
    if q.get("start") and q.get("end"):
        try:
            first, last = dt.date.fromisoformat(q["start"]), dt.date.fromisoformat(q["end"])
        except ValueError as exc:
            raise BadRequest("start and end must be dates (YYYY-MM-DD)",
                             {"field": "start", "reason": str(exc)}) from exc
        if first > last or (last - first).days >= MAX_PERIOD_DAYS:
            raise BadRequest("start must not be after end, and the period at most two years long",
                             {"field": "start", "reason": "bad range"})
    else:
        days = bounded_int(q.get("days"), default_days, 0, MAX_PERIOD_DAYS + 1)
        days = days if 1 <= days <= MAX_PERIOD_DAYS else default_days
        first, last = today - dt.timedelta(days=days - 1), today
    try:
        start = dt.datetime.combine(first, dt.time(0), f.zone).astimezone(dt.UTC)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), f.zone).astimezone(dt.UTC)
    except OverflowError as exc:  # the first or last day of the calendar (0001-01-01, 9999-12-31)
        raise BadRequest("the period lies outside the calendar", {"field": "start", "reason": "out of range"}) from exc
    return Period(start, end, first, last, days)
