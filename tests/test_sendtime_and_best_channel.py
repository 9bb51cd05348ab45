"""Send-time optimisation (a wait until the customer's best hour, from their own engagement in their time zone,
the audience's with too little history; quiet hours still win) and next-best channel (``channel: best`` ranks
the customer's channels by opens and clicks per message, with minimum data, then the policy's order)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.experiments import sendtime
from touchline.journeys.definition import parse
from touchline.journeys.engine import Facts, ScheduleTimer, Start, new_run, step
from touchline.journeys.runner import Runner
from touchline.messaging import store as message_store
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.messaging.policy import rank_channels
from touchline.store.engines import Stores

SEOUL = "Asia/Seoul"
T0 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 10:00 in Seoul


def test_best_hour_and_local_hours() -> None:
    times = [dt.datetime(2026, 11, d, 11, 30, tzinfo=dt.UTC) for d in range(1, 5)]  # 20:30 in Seoul
    times.append(dt.datetime(2026, 11, 9, 1, 0, tzinfo=dt.UTC))
    counts = sendtime.local_hours(times, SEOUL)
    assert counts[20] == 4 and counts[10] == 1
    assert sendtime.best_hour(counts) == 20
    assert sendtime.best_hour(sendtime.local_hours(times[:4], SEOUL)) is None  # fewer than 5: not enough
    assert sendtime.best_hour({9: 3, 14: 3}, min_events=5) == 9  # a tie: the earlier
    assert sendtime.local_hours(times, "Nowhere/Else")[11] == 4  # an unknown zone reads as UTC


def test_rank_channels_needs_minimum_data() -> None:
    assert rank_channels({"email": (10, 1), "sms": (4, 3), "push": (2, 2)}) == ("sms", "email")
    assert rank_channels({"email": (2, 2)}) == ()
    assert rank_channels({"email": (5, 2), "kakao_fake": (9, 9)}) == ("email",)


WAIT_BEST: dict[str, Any] = {
    "id": "welcome", "name": "Welcome", "version": 1, "trigger": {"type": "event", "event": "Signed Up"},
    "start": "best", "nodes": [
        {"type": "wait", "id": "best", "until_best_hour": True, "next": "hello"},
        {"type": "send", "id": "hello", "channel": "email", "template": "hello", "kind": "advertising",
         "next": "done"},
        {"type": "exit", "id": "done"}]}


def test_engine_waits_until_the_best_hour_in_the_customers_zone() -> None:
    d = parse(WAIT_BEST)
    run = new_run(d, run_id="r", customer_id="c", entered_at=T0)
    t = step(d, run, Start(), T0, Facts(timezone=SEOUL, best_hour=20))
    assert t.of(ScheduleTimer)[0].at == dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)  # 20:00 in Seoul
    asked: list[int] = []

    def lazy() -> int:
        asked.append(1)
        return 9
    t = step(d, run, Start(), T0, Facts(timezone=SEOUL, best_hour=lazy))
    assert t.of(ScheduleTimer)[0].at == dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC) and asked == [1]
    t = step(d, run, Start(), T0, Facts(timezone=SEOUL))
    assert t.of(ScheduleTimer)[0].at == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # the default, 10:00


HELLO = {"email": {"default_locale": "ko", "variants": {"ko": {"subject": "안녕하세요", "text": "환영합니다"}}},
         "sms": {"default_locale": "ko", "variants": {"ko": {"text": "환영합니다"}}}}


def _setup(client: TestClient, journey: dict[str, Any]) -> None:
    for channel, body in HELLO.items():
        assert client.put(f"/v1/templates/hello/{channel}", json=body, headers=bearer()).status_code == 200
    assert client.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201, journey
    assert client.post(f"/v1/journeys/{journey['id']}/publish", headers=bearer()).status_code == 200


def _identify(user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": f"id-{user}", "timestamp": (T0 - dt.timedelta(days=1))
            .isoformat(), "traits": {"email": f"{user}@example.com", "phone": "010-1234-5678",
                                     "consent": {"email": True, "sms": True}, **traits}}


def test_runner_waits_for_each_customers_best_hour(client: TestClient, stores: Stores) -> None:
    _setup(client, WAIT_BEST)
    opens = [{"type": "track", "userId": "night-owl", "event": "Application Opened", "messageId": f"open-{i}",
              "timestamp": (dt.datetime(2026, 11, 10 + i, 10, 15, tzinfo=dt.UTC)).isoformat()} for i in range(6)]
    # the audience: mostly 13:00 in Seoul
    crowd = [{"type": "track", "userId": f"other-{i}", "event": "Order Completed", "messageId": f"o-{i}",
              "timestamp": dt.datetime(2026, 11, 15, 4, 10, tzinfo=dt.UTC).isoformat(),
              "properties": {"order_id": f"o-{i}"}} for i in range(8)]
    batch = [_identify("night-owl"), _identify("new"), *opens, *crowd]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    signups = [{"type": "track", "userId": u, "event": "Signed Up", "messageId": f"s-{u}", "timestamp": T0.isoformat()}
               for u in ("night-owl", "new")]
    assert client.post("/v1/batch", json={"batch": signups}, headers=basic()).status_code == 200
    email = MemoryChannel("email")
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email}))
    runner.tick(T0)
    runs = {r["customer_id"]: r for r in client.get("/v1/journeys/welcome/runs", headers=bearer()).json()["runs"]}
    assert len(runs) == 2
    detail = {cid: client.get(f"/v1/runs/{r['run_id']}", headers=bearer()).json() for cid, r in runs.items()}
    waits = {cid: d["state"]["wait"]["until"] if "state" in d else d["wait"]["until"] for cid, d in detail.items()}
    until = sorted(waits.values())
    # the newcomer waits for the audience's 13:00; the night owl for their own 19:00 (10:15 UTC)
    assert until == ["2026-11-23T04:00:00Z", "2026-11-23T10:00:00Z"]
    # at 19:00 in Seoul both waits are over (the newcomer's since 13:00): both welcomes go out
    runner.tick(dt.datetime(2026, 11, 23, 10, 0, 30, tzinfo=dt.UTC))
    assert len(email.messages) == 2


def test_channel_best_tries_the_most_engaging_channel_first(client: TestClient, stores: Stores,
                                                             workspace_id: str) -> None:
    journey = {**WAIT_BEST, "id": "best-channel", "start": "hello",
               "nodes": [{**WAIT_BEST["nodes"][1], "channel": "best"}, WAIT_BEST["nodes"][2]]}
    _setup(client, journey)
    batch = [_identify("reader"), _identify("texter"), _identify("newbie", preferred_channel="sms")]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    profiles = {u: client.get(f"/v1/profiles/user_id:{u}", headers=bearer()).json()["id"]
                for u in ("reader", "texter", "newbie")}
    # what each was sent before: the reader opens e-mails, the texter reads texts
    past = []
    for u, engaged_on in (("reader", "email"), ("texter", "sms")):
        for channel in ("email", "sms"):
            for i in range(4):
                at = T0 - dt.timedelta(days=10 + i)
                past.append({"id": f"past-{u}-{channel}-{i}", "workspace_id": workspace_id,
                             "customer_id": profiles[u], "template": "hello", "kind": "advertising",
                             "requested_channel": channel, "channel": channel, "status": "sent", "attempts": 1,
                             "next_attempt_at": at, "context": {}, "created_at": at, "updated_at": at, "sent_at": at,
                             "opened_at": at if channel == engaged_on else None})
    with stores.write() as conn:
        message_store.insert_messages(conn, past)
    signups = [{"type": "track", "userId": u, "event": "Signed Up", "messageId": f"s-{u}", "timestamp": T0.isoformat()}
               for u in profiles]
    assert client.post("/v1/batch", json={"batch": signups}, headers=basic()).status_code == 200
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": MemoryChannel("email"),
                                                            "sms": MemoryChannel("sms")}))
    runner.tick(T0)
    log = client.get("/v1/messages", params={"journey_id": "best-channel"}, headers=bearer()).json()["messages"]
    chosen = {m["customer_id"]: m["channel"] for m in log}
    assert chosen == {profiles["reader"]: "email", profiles["texter"]: "sms", profiles["newbie"]: "sms"}
