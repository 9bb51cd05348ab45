"""How the inbox is doing: first response time, time to resolution, conversations by channel and hour,
backlog; overall, per channel, per agent and per team. Pure: plain rows in, numbers out; ``now`` is an
argument.

Definitions:

- *first response time*: from a conversation's start to the first reply by an agent (the bot's replies
  do not count: the customer still waits for a person), over the conversations started in the period
  that have one;
- *time to resolution*: from the start to the (latest) resolution, over the conversations started in
  the period that are resolved;
- *by hour*: conversations started in the period, by hour of the day in the shop's time zone;
- *backlog*: the conversations active (open, pending, snoozed) now, by status, unassigned, per agent
  and per team, and how long the oldest open one has waited since its last message.

Per agent and team means the conversation's current assignee and team.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Facts", "backlog", "by_hour", "duration_summary", "inbox_stats"]


@dataclass(frozen=True)
class Facts:
    """What the measures read of one conversation."""

    id: str
    channel: str
    status: str
    created_at: dt.datetime
    last_message_at: dt.datetime
    assignee_id: str | None = None
    team_id: str | None = None
    first_response_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None


def duration_summary(seconds: Iterable[float]) -> dict[str, Any]:
    """count, mean, median and 90th percentile (nearest rank) of durations in seconds; None when empty."""
    values = sorted(seconds)
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    p90 = values[max(0, math.ceil(0.9 * len(values)) - 1)]
    return {"count": len(values), "mean": round(statistics.fmean(values), 3),
            "median": round(statistics.median(values), 3), "p90": round(p90, 3)}


def _grouped(rows: Sequence[Facts], key: Callable[[Facts], str | None], value: Callable[[Facts], float | None]
             ) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[float]] = {}
    for row in rows:
        k = key(row)
        v = value(row)
        if v is not None:
            groups.setdefault(k or "(none)", []).append(v)
    return {k: duration_summary(vs) for k, vs in sorted(groups.items())}


def _first_response(row: Facts) -> float | None:
    if row.first_response_at is None:
        return None
    return max(0.0, (row.first_response_at - row.created_at).total_seconds())


def _resolution(row: Facts) -> float | None:
    if row.status != "resolved" or row.resolved_at is None:
        return None
    return max(0.0, (row.resolved_at - row.created_at).total_seconds())


def by_hour(rows: Sequence[Facts], timezone: str) -> dict[str, list[int]]:
    """Conversations started, per channel, by local hour of the day (24 counts; ``all`` sums them)."""
    zone = ZoneInfo(timezone)
    out: dict[str, list[int]] = {"all": [0] * 24}
    for row in rows:
        hour = row.created_at.astimezone(zone).hour
        out.setdefault(row.channel, [0] * 24)[hour] += 1
        out["all"][hour] += 1
    return dict(sorted(out.items()))


def backlog(active: Sequence[Facts], now: dt.datetime) -> dict[str, Any]:
    """The active conversations now: counts by status, unassigned, per agent and team, oldest wait."""
    by_status = {"open": 0, "pending": 0, "snoozed": 0}
    per_agent: dict[str, int] = {}
    per_team: dict[str, int] = {}
    unassigned = 0
    oldest: float | None = None
    for row in active:
        by_status[row.status] = by_status.get(row.status, 0) + 1
        if row.assignee_id is None:
            unassigned += 1
        else:
            per_agent[row.assignee_id] = per_agent.get(row.assignee_id, 0) + 1
        if row.team_id is not None:
            per_team[row.team_id] = per_team.get(row.team_id, 0) + 1
        if row.status == "open":
            waited = max(0.0, (now - row.last_message_at).total_seconds())
            oldest = waited if oldest is None else max(oldest, waited)
    return {"total": len(active), "by_status": by_status, "unassigned": unassigned,
            "per_agent": dict(sorted(per_agent.items())), "per_team": dict(sorted(per_team.items())),
            "oldest_open_wait_seconds": None if oldest is None else round(oldest, 3)}


def inbox_stats(started: Sequence[Facts], active: Sequence[Facts], *, now: dt.datetime, timezone: str
                ) -> dict[str, Any]:
    """Every measure: ``started`` are the conversations started in the period, ``active`` those active now."""
    by_channel: dict[str, int] = {}
    for row in started:
        by_channel[row.channel] = by_channel.get(row.channel, 0) + 1
    return {
        "conversations": {"started": len(started), "by_channel": dict(sorted(by_channel.items())),
                          "resolved": sum(1 for r in started if r.status == "resolved")},
        "first_response": {"all": duration_summary(v for v in map(_first_response, started) if v is not None),
                           "by_channel": _grouped(started, lambda r: r.channel, _first_response),
                           "by_agent": _grouped(started, lambda r: r.assignee_id, _first_response),
                           "by_team": _grouped(started, lambda r: r.team_id, _first_response)},
        "resolution": {"all": duration_summary(v for v in map(_resolution, started) if v is not None),
                       "by_channel": _grouped(started, lambda r: r.channel, _resolution),
                       "by_agent": _grouped(started, lambda r: r.assignee_id, _resolution),
                       "by_team": _grouped(started, lambda r: r.team_id, _resolution)},
        "by_hour": by_hour(started, timezone),
        "backlog": backlog(active, now),
    }
