"""Entry rules: event and geofence triggers, date traits in the customer's time zone, re-entry, run ids."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchline.journeys.definition import DateTraitTrigger, EventTrigger, GeofenceTrigger, Reentry
from touchline.journeys.triggers import (
    NAMESPACE,
    PastRun,
    distance_m,
    event_matches,
    geofence_entered,
    may_enter,
    next_date_trigger,
    run_id_for,
    store_at,
    uuid5_text,
)

NOW = dt.datetime(2024, 6, 1, 3, 0, tzinfo=dt.UTC)
GANGNAM = {"id": "gangnam", "name": "Gangnam", "lat": 37.4979, "lon": 127.0276, "radius_m": 300}
HONGDAE = {"id": "hongdae", "name": "Hongdae", "lat": 37.5563, "lon": 126.9220, "radius_m": 500}


def test_event_trigger_with_filters() -> None:
    t = EventTrigger.model_validate({"type": "event", "event": "Product Added",
                                     "where": [{"property": "price", "operator": ">", "value": 1000}]})
    assert event_matches(t, "Product Added", {"price": 5000}, NOW)
    assert not event_matches(t, "Product Added", {"price": 500}, NOW)
    assert not event_matches(t, "Product Added", {}, NOW)
    assert not event_matches(t, "Product Viewed", {"price": 5000}, NOW)


def test_geofence() -> None:
    t = GeofenceTrigger.model_validate({"type": "geofence_entered", "stores": [GANGNAM, HONGDAE]})
    assert 8_000 < distance_m(GANGNAM["lat"], GANGNAM["lon"], HONGDAE["lat"], HONGDAE["lon"]) < 13_000
    inside = {"latitude": 37.4985, "longitude": 127.0280}   # ~80 m from Gangnam station
    outside = {"latitude": 37.5100, "longitude": 127.0600}
    store = store_at(t, inside)
    assert store is not None and store.id == "gangnam"
    assert store_at(t, outside) is None
    assert store_at(t, {"latitude": "37.4985", "longitude": 127.0280}) is None  # not numbers
    assert store_at(t, {}) is None
    entered = geofence_entered(t, "Location Updated", inside, previous=outside)
    assert entered is not None and entered.id == "gangnam"
    assert geofence_entered(t, "Location Updated", inside, previous=None) is not None
    assert geofence_entered(t, "Location Updated", inside, previous=inside) is None   # already inside
    assert geofence_entered(t, "Page Viewed", inside, previous=outside) is None      # not a location event


@pytest.mark.parametrize(("trigger", "value", "tz", "after", "expected"), [
    # birthday at 10:00 Seoul time, this year's is still to come
    ({"trait": "birthday", "annual": True, "time": "10:00"}, "1990-06-15", "Asia/Seoul", NOW,
     dt.datetime(2024, 6, 15, 1, 0, tzinfo=dt.UTC)),
    # this year's has passed: next year
    ({"trait": "birthday", "annual": True, "time": "10:00"}, "1990-03-02", "Asia/Seoul", NOW,
     dt.datetime(2025, 3, 2, 1, 0, tzinfo=dt.UTC)),
    # 29 February in a common year
    ({"trait": "birthday", "annual": True}, "2000-02-29", "UTC", dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
     dt.datetime(2025, 2, 28, 9, 0, tzinfo=dt.UTC)),
    # 30 days after sign-up, read on the New York wall clock (23:30 UTC on 31 May is 19:30 there)
    ({"trait": "signed_up_at", "offset_days": 30, "time": "09:00"}, "2024-05-31T23:30:00+00:00",
     "America/New_York", NOW, dt.datetime(2024, 6, 30, 13, 0, tzinfo=dt.UTC)),
    # a one-off moment that has passed
    ({"trait": "signed_up_at", "offset_days": 1}, "2024-01-01", "UTC", NOW, None),
    # not a date
    ({"trait": "birthday", "annual": True}, "soon", "UTC", NOW, None),
    ({"trait": "birthday", "annual": True}, 19900615, "UTC", NOW, None),
])
def test_date_trait(trigger: dict[str, object], value: object, tz: str, after: dt.datetime,
                    expected: dt.datetime | None) -> None:
    t = DateTraitTrigger.model_validate({"type": "date_trait", **trigger})
    assert next_date_trigger(t, value, tz, after) == expected


def test_reentry() -> None:
    day = dt.timedelta(days=1)
    ended = [PastRun(entered_at=NOW - 10 * day, ended_at=NOW - 9 * day)]
    running = [PastRun(entered_at=NOW - day)]
    once, after_exit = Reentry(mode="once"), Reentry(mode="after_exit")
    weekly = Reentry(mode="every", days=7)
    assert all(may_enter(r, [], NOW) for r in (once, after_exit, weekly))
    assert not may_enter(once, ended, NOW)
    assert may_enter(after_exit, ended, NOW) and not may_enter(after_exit, running, NOW)
    assert may_enter(weekly, ended, NOW)
    assert not may_enter(weekly, [PastRun(entered_at=NOW - 3 * day, ended_at=NOW - 2 * day)], NOW)
    assert not may_enter(weekly, running, NOW)


def test_run_ids_are_deterministic_per_entry() -> None:
    a = run_id_for("abandoned-cart", "c1", "msg-1")
    assert a == run_id_for("abandoned-cart", "c1", "msg-1")
    assert len({a, run_id_for("abandoned-cart", "c1", "msg-2"), run_id_for("abandoned-cart", "c2", "msg-1"),
                run_id_for("welcome", "c1", "msg-1")}) == 4


@given(st.text(max_size=300))
def test_uuid5_text_is_python_uuid5(name: str) -> None:
    """Ids already stored were made with uuid.uuid5: the fast spelling must give the same text."""
    assert uuid5_text(NAMESPACE, name) == str(uuid.uuid5(NAMESPACE, name))
    assert run_id_for("j", "c", name) == str(uuid.uuid5(NAMESPACE, f"run/j/c/{name}"))
