"""A team's hours: when people answer, and what the assistant tells a customer outside them (pure; no I/O).

Hours are a team's own (``teams.hours``: the week days, opening and closing time, in the team's time zone);
a team without hours is always there. Closing at or before opening spans midnight (22:00–06:00).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_KO_DAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Hours:
    days: frozenset[int]  # 0 = Monday ... 6 = Sunday: the days the team opens
    opens: dt.time
    closes: dt.time
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_time(text: str) -> dt.time:
    """``HH:MM`` (24 h); ValueError otherwise."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) in (1, 2)):
        raise ValueError("a time as HH:MM")
    return dt.time(int(hours), int(minutes))


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("an IANA time zone, such as Asia/Seoul") from exc
    return name


def from_doc(doc: Any) -> Hours | None:
    """Stored hours (``{"days": [...], "opens": "09:00", "closes": "18:00", "timezone": ...}``); None when
    absent or unreadable (a dirty row means always there, never an error)."""
    if not isinstance(doc, dict):
        return None
    try:
        days = frozenset(int(d) for d in doc.get("days") or () if 0 <= int(d) <= 6)
        if not days:
            return None
        return Hours(days, parse_time(str(doc["opens"])), parse_time(str(doc["closes"])),
                     check_timezone(str(doc["timezone"])))
    except (KeyError, TypeError, ValueError):
        return None


def to_doc(hours: Hours) -> dict[str, Any]:
    return {"days": sorted(hours.days), "opens": hours.opens.strftime("%H:%M"),
            "closes": hours.closes.strftime("%H:%M"), "timezone": hours.timezone}


def _shifts(hours: Hours, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The shift starting on ``day`` (if the team opens that day), as aware moments."""
    if day.weekday() not in hours.days:
        return []
    start = dt.datetime.combine(day, hours.opens, hours.zone)
    end_day = day if hours.closes > hours.opens else day + dt.timedelta(days=1)
    return [(start, dt.datetime.combine(end_day, hours.closes, hours.zone))]


def is_open(hours: Hours | None, now: dt.datetime) -> bool:
    if hours is None:
        return True
    local = now.astimezone(hours.zone).date()
    return any(start <= now < end for day in (local - dt.timedelta(days=1), local)
               for start, end in _shifts(hours, day))


def next_opening(hours: Hours, now: dt.datetime) -> dt.datetime | None:
    """The next moment the team opens after ``now`` (in the team's zone); None if it never does."""
    local = now.astimezone(hours.zone).date()
    for offset in range(0, 8):
        for start, _ in _shifts(hours, local + dt.timedelta(days=offset)):
            if start > now:
                return start
    return None


def back_text(hours: Hours, now: dt.datetime, language: str) -> str:
    """What the assistant tells a customer outside the hours: when a person will answer."""
    at = next_opening(hours, now)
    if at is None:
        return ("지금은 상담 시간이 아니에요. 상담원이 확인하는 대로 답변드릴게요." if language == "ko"
                else "Our team is away right now; a person will answer as soon as they can.")
    today = now.astimezone(hours.zone).date()
    days = (at.date() - today).days
    if language == "ko":
        when = "오늘" if days == 0 else "내일" if days == 1 else _KO_DAYS[at.weekday()]
        half = "오전" if at.hour < 12 else "오후"
        hour = at.hour % 12 or 12
        clock = f"{half} {hour}시" + (f" {at.minute}분" if at.minute else "")
        return f"지금은 상담 시간이 아니에요. 상담원이 {when} {clock}부터 답변드릴게요."
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"on {_EN_DAYS[at.weekday()]}"
    clock = at.strftime("%I:%M %p").lstrip("0")
    return f"Our team is away right now. A person will answer {when} from {clock} ({hours.timezone})."
