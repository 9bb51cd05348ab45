"""Entry into journeys, decided without I/O: does an event (or location, or date) start a run, may this
customer enter again, is the customer in the journey's holdout, and which run id does the entry get."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from touchline.ids import uuid5_text
from touchline.journeys.definition import (
    DateTraitTrigger,
    EventTrigger,
    GeofenceTrigger,
    Reentry,
    Store,
)
from touchline.journeys.schedule import anniversary, local_instant, zone
from touchline.segments.ast import PropertyFilter
from touchline.segments.evaluate import value_condition

__all__ = [
    "NAMESPACE",
    "PastRun",
    "bucket",
    "distance_m",
    "event_matches",
    "filters_pass",
    "geofence_entered",
    "in_holdout",
    "may_enter",
    "next_date_trigger",
    "run_id_for",
    "store_at",
    "uuid5_text",
]

# Every id the journeys domain derives (run ids, message ids, timer ids) is a UUIDv5 in this namespace.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://touchline.dev/ns/journeys")


def bucket(*parts: object) -> float:
    """A stable number in [0, 100) from ``parts``: the same on every machine and every Python (not
    ``hash()``, which is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def in_holdout(journey_id: str, customer_id: str, percent: float) -> bool:
    """Is the customer in the journey's control group? Depends only on the journey and the customer,
    so the group stays the same across runs and definition versions."""
    return percent > 0 and bucket("holdout", journey_id, customer_id) < percent


def run_id_for(journey_id: str, customer_id: str, entry_key: str) -> str:
    """A deterministic run id: the same entry (``entry_key``: the trigger event's messageId, the
    segment change, the date) delivered twice gives the same run, so the runner can insert it with
    on-conflict-do-nothing."""
    return uuid5_text(NAMESPACE, f"run/{journey_id}/{customer_id}/{entry_key}")


def filters_pass(where: Sequence[PropertyFilter], properties: Mapping[str, Any], now: dt.datetime) -> bool:
    """Every filter holds, with the segment language's semantics (JSON kinds; a missing property and a
    null one behave the same under every operator, so ``.get`` is enough)."""
    return all(value_condition(properties.get(f.property), f.operator, f.value, now) for f in where)


def event_matches(trigger: EventTrigger, name: str, properties: Mapping[str, Any], now: dt.datetime) -> bool:
    return name == trigger.event and filters_pass(trigger.where, properties, now)


# --- geofences --------------------------------------------------------------------------------------

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _location(properties: Mapping[str, Any] | None) -> tuple[float, float] | None:
    if not properties:
        return None
    lat, lon = properties.get("latitude"), properties.get("longitude")
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon))
    if not ok or not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        return None
    return float(lat), float(lon)  # type: ignore[arg-type]


def store_at(trigger: GeofenceTrigger, properties: Mapping[str, Any] | None) -> Store | None:
    """The nearest store whose circle holds the location in ``properties`` (None: none, or no location)."""
    here = _location(properties)
    if here is None:
        return None
    inside = [(distance_m(*here, s.lat, s.lon), i, s) for i, s in enumerate(trigger.stores)]
    inside = [x for x in inside if x[0] <= x[2].radius_m]
    return min(inside)[2] if inside else None


def geofence_entered(trigger: GeofenceTrigger, name: str, properties: Mapping[str, Any],
                     previous: Mapping[str, Any] | None) -> Store | None:
    """The store entered by this location event: inside a store now and not inside that store at the
    ``previous`` location (the properties of the customer's last location event; None: no earlier fix)."""
    if trigger.event is not None and name != trigger.event:
        return None
    now_in = store_at(trigger, properties)
    if now_in is None:
        return None
    before = _location(previous)
    if before is not None and distance_m(*before, now_in.lat, now_in.lon) <= now_in.radius_m:
        return None
    return now_in


# --- dates ------------------------------------------------------------------------------------------


def _date_of(value: Any, tz: str | None) -> dt.date | None:
    """A trait as a calendar date: an ISO date, or a date-time read on the customer's wall clock."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(zone(tz)).date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return _date_of(parsed, tz)


def next_date_trigger(trigger: DateTraitTrigger, trait_value: Any, tz: str | None,
                      after: dt.datetime) -> dt.datetime | None:
    """When a date-trait journey next starts for a customer (strictly after ``after``), as UTC: the
    trait's date plus ``offset_days`` at ``time`` in ``tz``; yearly when ``annual``. None when the trait
    is not a date, or the one-off moment has passed."""
    day = _date_of(trait_value, tz)
    if day is None:
        return None
    offset = dt.timedelta(days=trigger.offset_days)
    if not trigger.annual:
        at = local_instant(day + offset, trigger.time, tz)
        return at if at > after else None
    year = after.astimezone(zone(tz)).year
    for y in range(year - 1, year + 2):  # an offset can move last year's anniversary into this year
        at = local_instant(anniversary(day, y) + offset, trigger.time, tz)
        if at > after:
            return at
    return None  # pragma: no cover - next year's anniversary is always later


# --- re-entry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastRun:
    """An earlier run of the same journey for the same customer (``ended_at`` None: still running)."""

    entered_at: dt.datetime
    ended_at: dt.datetime | None = None


def may_enter(reentry: Reentry, runs: Sequence[PastRun], now: dt.datetime) -> bool:
    if not runs:
        return True
    if reentry.mode == "once" or any(r.ended_at is None for r in runs):
        return False
    if reentry.mode == "after_exit":
        return True
    last = max(r.entered_at for r in runs)
    return now - last >= dt.timedelta(days=reentry.days or 0)
