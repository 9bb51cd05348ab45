"""``dialect.local_period``: the start of a local day, week or month on each event store, against
Python's own zone database, across daylight-saving changes, including time stamps outside the window
(which DuckDB converts through its time zone functions instead of the offset table)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchline.store import dialect
from touchline.store.engines import Stores

ZONES = ["Asia/Seoul", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC", "America/Sao_Paulo"]
WINDOW = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def expected(unit: str, moment: dt.datetime, tz: str) -> dt.datetime:
    local = moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def local_periods(stores: Stores, unit: str, tz: str, moments: list[dt.datetime]) -> list[dt.datetime]:
    values = sa.values(sa.column("i", sa.Integer), sa.column("ts", sa.DateTime(timezone=True)),
                       name="moments").data(list(enumerate(moments)))
    query = sa.select(values.c.i, dialect.local_period(unit, values.c.ts, tz, WINDOW).label("p")).order_by(values.c.i)
    with stores.events_conn() as conn:
        return [r.p.replace(tzinfo=None) for r in conn.execute(query)]


def test_transitions_are_found_to_the_second() -> None:
    lo = dialect._as_epoch_us(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    hi = dialect._as_epoch_us(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    pieces = dialect._offsets_between("America/New_York", lo, hi)
    assert [(dialect.from_epoch_us(u), o // 3_600_000_000) for u, o in pieces] == [
        (dt.datetime(2025, 3, 9, 7, tzinfo=dt.UTC), -5),  # 02:00 EST became 03:00 EDT
        (dt.datetime(2025, 11, 2, 6, tzinfo=dt.UTC), -4),  # 02:00 EDT became 01:00 EST
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), -5),
    ]
    assert dialect._offsets_between("Asia/Seoul", lo, hi) == ((hi, 9 * 3_600_000_000),)


def test_edges_of_daylight_saving_and_of_the_window(stores: Stores) -> None:
    moments = [
        dt.datetime(2025, 3, 9, 6, 59, 59, tzinfo=dt.UTC), dt.datetime(2025, 3, 9, 7, tzinfo=dt.UTC),
        dt.datetime(2025, 11, 2, 4, 30, tzinfo=dt.UTC), dt.datetime(2025, 11, 2, 5, 30, tzinfo=dt.UTC),
        dt.datetime(2025, 11, 2, 6, 30, tzinfo=dt.UTC), dt.datetime(2025, 3, 1, 4, 59, tzinfo=dt.UTC),
        dt.datetime(2025, 3, 1, 5, 0, tzinfo=dt.UTC), WINDOW[0] - dt.timedelta(microseconds=1), WINDOW[0],
        WINDOW[1] - dt.timedelta(microseconds=1), WINDOW[1], dt.datetime(2019, 7, 1, 3, 59, tzinfo=dt.UTC),
    ]
    for tz in ("America/New_York", "Asia/Seoul"):
        for unit in ("day", "week", "month"):
            assert local_periods(stores, unit, tz, moments) == [expected(unit, m, tz) for m in moments], (tz, unit)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tz=st.sampled_from(ZONES), unit=st.sampled_from(["day", "week", "month"]),
       moments=st.lists(st.datetimes(min_value=dt.datetime(2018, 1, 1), max_value=dt.datetime(2028, 1, 1),
                                     timezones=st.just(dt.UTC)), min_size=1, max_size=40))
def test_agrees_with_the_zone_database(stores: Stores, tz: str, unit: str, moments: list[dt.datetime]) -> None:
    assert local_periods(stores, unit, tz, moments) == [expected(unit, m, tz) for m in moments]
