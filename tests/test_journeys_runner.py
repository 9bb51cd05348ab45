"""The journey runner end to end on both backends: events in through the API, runs, timers, the outbox,
real channel adapters (in-memory), receipts back as events, stats."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from journey_helpers import ABANDONED_CART
from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores

# 11:00 in Seoul: outside quiet hours.
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

REMINDER = {
    "email": {"default_locale": "ko", "variants": {
        "ko": {"subject": "{{ profile.traits.name }}님, 장바구니를 잊으셨어요",
               "html": "<p>{{ cart.product }} {{ cart.price | krw }}</p><a href=\"https://shop.example/cart\">보기</a>"},
        "en": {"subject": "{{ profile.traits.name }}, you left something",
               "html": "<p>{{ cart.product }}</p><a href=\"https://shop.example/cart\">View</a>"}}},
    "sms": {"default_locale": "ko", "variants": {"ko": {"text": "장바구니: {{ cart.product }}"}}},
    "in_app": {"default_locale": "ko", "variants": {"ko": {"title": "장바구니", "body": "{{ cart.product }}"}}},
}


def _put_templates(client: TestClient, key: str, channels: dict[str, Any]) -> None:
    for channel, body in channels.items():
        r = client.put(f"/v1/templates/{key}/{channel}", json=body, headers=bearer())
        assert r.status_code == 200, r.text


def _journey(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(ABANDONED_CART)
    d.update({"holdout_percent": 0, **changes})
    return d


def _send(client: TestClient, *items: dict[str, Any]) -> None:
    r = client.post("/v1/batch", json={"batch": list(items)}, headers=basic())
    assert r.status_code == 200, r.text


def _identify(user: str, at: dt.datetime, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "timestamp": at.isoformat(), "messageId": f"id-{user}-{at}",
            "traits": {"name": "민지", "email": f"{user}@example.com", "locale": "ko-KR",
                       "consent": {"email": True, "sms": False}, **traits}}


def _track(user: str, event: str, at: dt.datetime, message_id: str, **props: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "timestamp": at.isoformat(), "messageId": message_id,
            "properties": props}


@pytest.fixture
def email() -> MemoryChannel:
    return MemoryChannel("email")


@pytest.fixture
def runner(stores: Stores, email: MemoryChannel) -> Runner:
    return Runner(stores, outbox=Outbox(stores, channels={"email": email}))


def _setup(client: TestClient, journey: dict[str, Any] | None = None) -> None:
    _put_templates(client, "cart-reminder", REMINDER)
    _put_templates(client, "cart-coupon-10", REMINDER)
    r = client.post("/v1/journeys", json=journey or _journey(), headers=bearer())
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/journeys/{(journey or ABANDONED_CART)['id']}/publish", headers=bearer())
    assert r.status_code == 200, r.text


def test_abandoned_cart_end_to_end(client: TestClient, runner: Runner, email: MemoryChannel) -> None:
    _setup(client)
    _send(client, _identify("u1", T0 - dt.timedelta(minutes=5)),
          _track("u1", "Product Added", T0, "m-add-1", cart_id="c-1", product="에어팟", price=259000))
    report = runner.tick(T0)
    assert report.entered == 1 and not email.messages
    runner.tick(T0 + dt.timedelta(minutes=30))
    assert not email.messages  # still waiting for the order
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert len(email.messages) == 1
    msg = email.messages[0]
    assert msg.to == "u1@example.com" and msg.kind == "advertising"
    assert msg.content.subject == "(광고) 민지님, 장바구니를 잊으셨어요"  # Korean advertising, marked as sent
    assert "259,000원" in (msg.content.html or "") and "/t/c/" in (msg.content.html or "")
    # Ticking again sends nothing more.
    runner.tick(T0 + dt.timedelta(minutes=62))
    assert len(email.messages) == 1

    # The order for the same cart converts the run.
    _send(client, _track("u1", "Order Completed", T0 + dt.timedelta(hours=2), "m-order-1", cart_id="c-1"))
    runner.tick(T0 + dt.timedelta(hours=2))
    stats = client.get("/v1/journeys/abandoned-cart/stats", headers=bearer()).json()
    assert stats["runs"] == {"converted": 1}
    steps = {s["node_id"]: s for s in stats["steps"]}
    assert steps["reminder"]["sent"] == 1
    assert steps["wait_for_order"]["outcomes"] == {"waiting": 1, "timeout": 1}
    runner.tick(T0 + dt.timedelta(days=2))
    assert len(email.messages) == 1  # no coupon after converting

    log = client.get("/v1/messages", headers=bearer()).json()["messages"]
    assert [(m["status"], m["channel"]) for m in log] == [("sent", "email")]

    # Opens and clicks come back as events on the profile.
    mid = log[0]["id"]
    assert client.get(f"/t/o/{mid}.gif").headers["content-type"] == "image/gif"
    r = client.get(f"/t/c/{mid}/0", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/cart"
    stats = client.get("/v1/messages/stats", headers=bearer()).json()["channels"]
    assert stats[0]["opened"] == 1 and stats[0]["clicked"] == 1


def test_consent_fallback_and_unsubscribe(client: TestClient, runner: Runner, email: MemoryChannel) -> None:
    _setup(client)
    # No email consent: the reminder falls back to the in-app inbox, the last channel of the order.
    _send(client, _identify("u2", T0 - dt.timedelta(minutes=5), consent={"email": False, "in_app": True}),
          _track("u2", "Product Added", T0, "m-add-2", cart_id="c-2", product="키보드", price=99000))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert not email.messages
    inbox = client.get("/v1/inbox/u2", headers=basic()).json()
    assert inbox["unread"] == 1 and inbox["messages"][0]["title"] == "장바구니"
    log = client.get("/v1/messages", headers=bearer()).json()["messages"]
    assert log[0]["channel"] == "in_app" and log[0]["status"] == "sent"

    # An unsubscribe link withdraws consent for that channel.
    r = client.post(f"/u/{log[0]['id']}")
    assert r.status_code == 200 and r.json()["channel"] == "in_app"
    profile = client.get("/v1/profiles/u2", headers=bearer()).json()
    assert profile["consents"]["in_app"]["status"] == "denied"
    # ...and is an event on the profile, which the journey exits on: no coupon follows.
    runner.tick(T0 + dt.timedelta(hours=26))
    runs = client.get("/v1/journeys/abandoned-cart/runs", headers=bearer()).json()["runs"]
    assert [(r["status"], r["exit_reason"]) for r in runs] == [("exited", "exit event 'Unsubscribed'")]
    assert len(client.get("/v1/messages", headers=bearer()).json()["messages"]) == 1


def test_suppressed_sends_are_recorded_with_their_reason(client: TestClient, runner: Runner,
                                                          email: MemoryChannel) -> None:
    _setup(client)
    _send(client, _identify("u5", T0 - dt.timedelta(minutes=5), consent={"email": False}),
          _track("u5", "Product Added", T0, "m-add-5", cart_id="c-5", product="x", price=1))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    log = client.get("/v1/messages?status=suppressed", headers=bearer()).json()["messages"]
    assert [m["reason"] for m in log] == ["no_consent"]
    steps = {s["node_id"]: s for s in client.get("/v1/journeys/abandoned-cart/stats", headers=bearer()).json()["steps"]}
    assert steps["reminder"]["suppressed"] == {"no_consent": 1}
    timeline = client.get("/v1/profiles/u5", headers=bearer()).json()["timeline"]
    assert "Message Suppressed" in {e.get("event") for e in timeline}


def test_frequency_cap_across_journeys(client: TestClient, runner: Runner, email: MemoryChannel) -> None:
    _put_templates(client, "hello", REMINDER)
    for i in range(3):  # three journeys each send at once on the same event; the daily cap is 2
        body = {"id": f"j{i}", "name": f"J{i}", "version": 1, "trigger": {"type": "event", "event": "Product Added"},
                "start": "send", "nodes": [
                    {"type": "send", "id": "send", "channel": "email", "template": "hello", "kind": "advertising",
                     "next": "end"},
                    {"type": "exit", "id": "end"}]}
        assert client.post("/v1/journeys", json=body, headers=bearer()).status_code == 201
        assert client.post(f"/v1/journeys/j{i}/publish", headers=bearer()).status_code == 200
    _send(client, _identify("u6", T0 - dt.timedelta(minutes=5)),
          _track("u6", "Product Added", T0, "m-add-6", cart_id="c6", product="x", price=1))
    runner.tick(T0)
    assert len(email.messages) == 2
    log = client.get("/v1/messages?status=suppressed", headers=bearer()).json()["messages"]
    assert [m["reason"] for m in log] == ["frequency_cap"]
    channels = {c["channel"]: c for c in client.get("/v1/messages/stats", headers=bearer()).json()["channels"]}
    assert channels["email"]["sent"] == 2 and channels["(none)"]["suppressed_by_reason"] == {"frequency_cap": 1}


def test_steps_stated_by_messages_and_runs_are_derived(client: TestClient, runner: Runner, stores: Stores) -> None:
    """The runner stores no row for a send node's entered step (its outbox row says it) nor for a run's
    exit step (the completed run's row does); the run's history and the step counts show each once, also
    beside rows stored by an earlier version."""
    import sqlalchemy as sa

    from touchline.journeys.engine import command_id
    from touchline.store.schema import journey_steps

    _put_templates(client, "hello", REMINDER)
    body = {"id": "once", "name": "Once", "version": 1, "trigger": {"type": "event", "event": "Product Added"},
            "start": "wait", "nodes": [
                {"type": "wait", "id": "wait", "duration": "1h", "next": "send"},
                {"type": "send", "id": "send", "channel": "email", "template": "hello", "kind": "advertising",
                 "next": "end"},
                {"type": "exit", "id": "end"}]}
    assert client.post("/v1/journeys", json=body, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/once/publish", headers=bearer()).status_code == 200
    _send(client, _identify("u8", T0 - dt.timedelta(minutes=5)),
          _track("u8", "Product Added", T0, "m-add-8", cart_id="c8", product="x", price=1))
    runner.tick(T0)
    # A row keeps in its state column only what its other columns do not hold; a row written before
    # holds the whole state there, and is read the same.
    from touchline.journeys.runner import run_state
    from touchline.store.schema import journey_runs

    with stores.write() as conn:
        [row] = [dict(r) for r in conn.execute(sa.select(journey_runs)).mappings()]
        assert set(row["state"]) == {"trigger", "wait", "attempts", "visited"}
        whole = run_state(row).model_dump(mode="json")
        assert whole["status"] == "waiting" and whole["wait"]["node_id"] == "wait"
        conn.execute(journey_runs.update().values(state=whole))
    later = T0 + dt.timedelta(hours=1)
    runner.tick(later)
    [run] = client.get("/v1/journeys/once/runs", headers=bearer()).json()["runs"]
    run_id = run["run_id"]
    detail = client.get(f"/v1/runs/{run_id}", headers=bearer()).json()
    assert detail["state"]["status"] == "completed" and detail["state"]["attempts"] == {"wait": 1, "send": 1, "end": 1}

    def history() -> list[tuple[str, str, int, str, str]]:
        steps = client.get(f"/v1/runs/{run_id}", headers=bearer()).json()["steps"]
        return [(s["id"], s["node_id"], s["attempt"], s["outcome"], s["at"]) for s in steps]

    def counts() -> dict[str, Any]:
        steps = client.get("/v1/journeys/once/stats", headers=bearer()).json()["steps"]
        return {s["node_id"]: (s["entered"], s["outcomes"]) for s in steps}

    def step(node: str, outcome: str, at: dt.datetime) -> tuple[str, str, int, str, str]:
        return command_id(f"step:{outcome}", run_id, node, 1), node, 1, outcome, at.isoformat()

    # In time order (steps of one moment by id, as stored ones always were), the exit last.
    same_moment = sorted([step("wait", "elapsed", later), step("send", "entered", later)])
    expected = [step("wait", "waiting", T0), *same_moment, step("end", "exit", later)]
    assert history() == expected
    want = {"wait": (1, {"waiting": 1, "elapsed": 1}), "send": (1, {"entered": 1}), "end": (1, {"exit": 1})}
    assert counts() == want
    with stores.write() as conn:
        stored = conn.execute(sa.select(journey_steps.c.outcome).where(journey_steps.c.run_id == run_id))
        assert sorted(o for (o,) in stored) == ["elapsed", "waiting"]
        # Before, both were stored as rows too: still shown and counted once.
        ws = conn.execute(sa.select(journey_steps.c.workspace_id)).first()[0]
        for node, outcome in (("send", "entered"), ("end", "exit")):
            conn.execute(journey_steps.insert().values(
                id=command_id(f"step:{outcome}", run_id, node, 1), workspace_id=ws, journey_id="once", version=1,
                run_id=run_id, node_id=node, attempt=1, outcome=outcome, at=later))
    assert history() == expected
    assert counts() == want


def test_quiet_hours_defer_to_morning(client: TestClient, runner: Runner, email: MemoryChannel) -> None:
    _setup(client)
    night = dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)  # 22:00 in Seoul
    _send(client, _identify("u3", night - dt.timedelta(minutes=5)),
          _track("u3", "Product Added", night, "m-add-3", cart_id="c-3", product="모니터", price=1))
    runner.tick(night)
    runner.tick(night + dt.timedelta(hours=1, minutes=1))  # 23:01 Seoul: deferred
    assert not email.messages
    log = client.get("/v1/messages", headers=bearer()).json()["messages"]
    assert log[0]["status"] == "pending" and log[0]["reason"] == "deferred:quiet_hours"
    morning = dt.datetime(2026, 11, 23, 23, 0, 1, tzinfo=dt.UTC)  # 08:00:01 Seoul
    runner.tick(morning)
    assert len(email.messages) == 1


def test_versions_pause_archive_and_api_trigger(client: TestClient, runner: Runner, email: MemoryChannel) -> None:
    _setup(client)
    v2 = _journey(name="Abandoned cart v2")
    r = client.put("/v1/journeys/abandoned-cart", json=v2, headers=bearer())
    assert r.status_code == 200 and r.json()["latest_version"] == 2
    assert client.get("/v1/journeys/abandoned-cart", headers=bearer()).json()["published_version"] == 1
    _send(client, _identify("u4", T0 - dt.timedelta(minutes=5)),
          _track("u4", "Product Added", T0, "m-add-4", cart_id="c-4", product="x", price=1))
    runner.tick(T0)
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).json()["published_version"] == 2
    runs = client.get("/v1/journeys/abandoned-cart/runs", headers=bearer()).json()["runs"]
    assert [(r["version"], r["status"]) for r in runs] == [(1, "waiting")]  # stays on its version

    assert client.post("/v1/journeys/abandoned-cart/pause", headers=bearer()).json()["status"] == "paused"
    runner.tick(T0 + dt.timedelta(hours=2))
    assert not email.messages  # timers held while paused
    assert client.post("/v1/journeys/abandoned-cart/resume", headers=bearer()).json()["status"] == "published"
    runner.tick(T0 + dt.timedelta(hours=2))
    assert len(email.messages) == 1

    r = client.post("/v1/journeys/abandoned-cart/trigger", json={"identifier": "u4", "key": "k1"}, headers=bearer())
    assert r.status_code == 200
    client.post("/v1/journeys/abandoned-cart/trigger", json={"identifier": "u4", "key": "k1"}, headers=bearer())
    runner.tick(T0 + dt.timedelta(hours=3))
    archived = client.post("/v1/journeys/abandoned-cart/archive", headers=bearer()).json()
    assert archived["status"] == "archived"
    runs = client.get("/v1/journeys/abandoned-cart/runs", headers=bearer()).json()["runs"]
    assert all(r["status"] in ("exited", "converted", "completed") for r in runs)
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).status_code == 409


def test_publish_checks_templates_and_definitions_validate(client: TestClient) -> None:
    r = client.post("/v1/journeys", json=_journey(), headers=bearer())
    assert r.status_code == 201
    r = client.post("/v1/journeys/abandoned-cart/publish", headers=bearer())
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["detail"]} == {"/nodes/1/template", "/nodes/4/template"}
    bad = _journey(start="nowhere")
    r = client.post("/v1/journeys/validate", json=bad, headers=bearer())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "/start"
    r = client.put("/v1/templates/t/email", json={"variants": {"ko": {"subject": "{{ oops", "html": "x"}}},
                   headers=bearer())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "variants.ko.subject"


def test_erasing_a_customer_removes_their_runs_messages_and_inbox(client: TestClient, runner: Runner,
                                                                  stores: Stores) -> None:
    import sqlalchemy as sa

    from touchline.store.schema import inbox_messages, journey_runs, journey_steps, outbox

    _setup(client)
    _send(client, _identify("u7", T0 - dt.timedelta(minutes=5), consent={"email": False, "in_app": True}),
          _track("u7", "Product Added", T0, "m-add-7", cart_id="c-7", product="x", price=1))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert client.get("/v1/inbox/u7", headers=basic()).json()["unread"] == 1
    assert client.delete("/v1/profiles/u7", headers=bearer()).status_code == 200
    with stores.read() as conn:
        for table in (journey_runs, journey_steps, outbox, inbox_messages):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
