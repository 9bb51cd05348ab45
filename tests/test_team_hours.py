"""Teams' hours: open and closed moments (overnight shifts, week days, time zones), the next opening, and
the assistant telling a customer outside the hours when a person will answer, leaving it pending."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from support import bearer
from touchline.assistant import service as assistant_service
from touchline.conversations import bot
from touchline.conversations import hours as team_hours
from touchline.store.engines import Stores

SEOUL_WEEKDAYS = team_hours.Hours(frozenset(range(5)), dt.time(9), dt.time(18), "Asia/Seoul")
NIGHT = team_hours.Hours(frozenset({4}), dt.time(22), dt.time(6), "Asia/Seoul")  # Friday 22:00 to Saturday 6:00


def _seoul(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SEOUL_WEEKDAYS.zone)


def test_open_and_closed() -> None:
    assert team_hours.is_open(SEOUL_WEEKDAYS, _seoul(2026, 12, 3, 9, 0))  # a Thursday at opening
    assert not team_hours.is_open(SEOUL_WEEKDAYS, _seoul(2026, 12, 3, 18, 0))  # closing is closed
    assert not team_hours.is_open(SEOUL_WEEKDAYS, _seoul(2026, 12, 5, 12, 0))  # Saturday
    assert team_hours.is_open(SEOUL_WEEKDAYS, dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC))  # 10:00 in Seoul
    assert team_hours.is_open(NIGHT, _seoul(2026, 12, 5, 5, 59))  # Saturday morning, Friday's shift
    assert not team_hours.is_open(NIGHT, _seoul(2026, 12, 5, 22, 30))  # Saturday night: no shift
    assert team_hours.is_open(None, _seoul(2026, 12, 5, 3, 0))  # no hours: always there


def test_when_a_person_will_answer() -> None:
    friday_evening = _seoul(2026, 12, 4, 19, 30)
    assert team_hours.next_opening(SEOUL_WEEKDAYS, friday_evening) == _seoul(2026, 12, 7, 9, 0)
    assert team_hours.back_text(SEOUL_WEEKDAYS, friday_evening, "ko") == \
        "지금은 상담 시간이 아니에요. 상담원이 월요일 오전 9시부터 답변드릴게요."
    assert "tomorrow from 9:00 AM" in team_hours.back_text(SEOUL_WEEKDAYS, _seoul(2026, 12, 3, 20, 0), "en")
    assert "오늘 오전 9시" in team_hours.back_text(SEOUL_WEEKDAYS, _seoul(2026, 12, 3, 7, 0), "ko")
    assert team_hours.from_doc({"days": [9], "opens": "x"}) is None  # a dirty row: always there
    assert team_hours.to_doc(NIGHT) == {"days": [4], "opens": "22:00", "closes": "06:00", "timezone": "Asia/Seoul"}


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                    timezones=st.just(dt.UTC)),
       st.frozensets(st.integers(0, 6), min_size=1), st.times(), st.times())
def test_the_next_opening_is_open_and_later(now: dt.datetime, days: frozenset[int], opens: dt.time,
                                            closes: dt.time) -> None:
    hours = team_hours.Hours(days, opens.replace(second=0, microsecond=0), closes.replace(second=0, microsecond=0),
                             "Asia/Seoul")
    at = team_hours.next_opening(hours, now)
    assert at is not None and at > now and at - now <= dt.timedelta(days=8)
    if hours.opens != hours.closes:
        assert team_hours.is_open(hours, at) or at.dst() != (at + dt.timedelta(minutes=1)).dst()


def test_outside_the_hours_the_assistant_says_when_and_leaves_it_pending(client: TestClient, stores: Stores,
                                                                          workspace_id: str) -> None:
    assistant_service.load_seed(stores, workspace_id)
    closed_day = (dt.datetime.now(SEOUL_WEEKDAYS.zone).weekday() + 3) % 7  # a day that is not today
    bad = client.post("/v1/conversations/teams", headers=bearer(), json={
        "name": "상담팀", "auto_assign": True, "hours": {"days": [closed_day], "timezone": "Mars/Olympus"}})
    assert bad.status_code == 422 and "timezone" in bad.text
    made = client.post("/v1/conversations/teams", headers=bearer(), json={
        "name": "상담팀", "auto_assign": True, "hours": {"days": [closed_day], "opens": "10:00", "closes": "17:30"}})
    assert made.status_code == 201, made.text
    assert made.json()["hours"] == {"days": [closed_day], "opens": "10:00", "closes": "17:30",
                                    "timezone": "Asia/Seoul"}
    sent = client.post("/v1/conversations/inbound", headers=bearer(), json={
        "channel": "chat", "provider_message_id": "hours-1", "customer": {"user_id": "late-shopper"},
        "body": "상담원 연결해 주세요", "language": "ko"})
    assert sent.status_code == 201, sent.text
    cid = sent.json()["conversation"]["id"]
    assert bot.respond_all(stores) == 1
    said = [m for m in client.get(f"/v1/conversations/{cid}/messages", headers=bearer()).json()["messages"]
            if m["direction"] == "outbound"][-1]["body"]
    assert "지금은 상담 시간이 아니에요" in said and "오전 10시부터" in said
    assert client.get(f"/v1/conversations/{cid}", headers=bearer()).json()["status"] == "pending"
    # Always there again (no days): a handover says nothing of hours.
    patched = client.patch(f"/v1/conversations/teams/{made.json()['id']}", headers=bearer(),
                           json={"hours": {"days": []}})
    assert patched.status_code == 200 and patched.json()["hours"] is None
