"""In-app messages through the HTTP API, on both backends: the management API (messages and their rules,
the workspace's frequency rule, the report), what a customer may be shown (rendered from an in_app
template in their language), impressions, clicks and dismissals recorded as events and held to the
frequency rules, consent, identity verification, messages a journey or an event triggers, the customer's
export and erase, cross-origin access, and bad input refused with nothing stored."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.app import create_app
from touchline.journeys.runner import Runner
from touchline.store.engines import Stores
from touchline.store.schema import inapp_interactions, inapp_messages, inapp_pending
from touchline.workspaces.service import user_hash

# 11:00 in Seoul.
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

TEMPLATE = {"default_locale": "ko", "variants": {
    "ko": {"title": "{{ profile.traits.name or '고객' }}님, 이 상품 어떠세요?", "body": "오늘만 10% 할인",
           "url": "https://shop.example/coupon"},
    "en": {"title": "Still thinking, {{ profile.traits.name or 'friend' }}?", "body": "10% off today only"}}}

BANNER: dict[str, Any] = {
    "key": "viewed-three-times", "name": "세 번 본 상품 쿠폰", "layout": "banner", "position": "bottom",
    "template": "viewed-3", "button": {"ko": "쿠폰 받기", "en": "Get the coupon"},
    "trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": 3}},
    "frequency": {"max_impressions": 2, "min_hours_between": 24, "stop_after_dismiss": True,
                  "stop_after_click": True},
}


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def api(stores: Stores, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(stores=stores, run_pump=False, clock=clock)) as test_client:
        yield test_client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _template(api: TestClient, key: str = "viewed-3") -> None:
    _ok(api.put(f"/v1/templates/{key}/in_app", headers=bearer(), json=TEMPLATE))


def _banner(api: TestClient, **changes: Any) -> dict[str, Any]:
    _template(api)
    return dict(_ok(api.post("/v1/inapp/admin/messages", headers=bearer(), json={**BANNER, **changes}), 201))


def _shown(api: TestClient, user: str, **params: Any) -> list[dict[str, Any]]:
    return list(_ok(api.get("/v1/inapp/messages", params={"user": user, **params}, headers=basic()))["messages"])


def _event(api: TestClient, kind: str, message_id: str, user: str, key: str, **extra: Any) -> Any:
    return api.post("/v1/inapp/events", headers=basic(),
                    json={"type": kind, "message_id": message_id, "user": user, "key": key, **extra})


def _count(stores: Stores, table: sa.Table) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _timeline(api: TestClient, identifier: str) -> list[dict[str, Any]]:
    return list(_ok(api.get(f"/v1/profiles/{identifier}", headers=bearer()))["timeline"])


def test_messages_are_managed_with_their_rules(api: TestClient, stores: Stores) -> None:
    created = _banner(api)
    assert created["key"] == "viewed-three-times" and created["position"] == "bottom" and created["version"] == 1
    assert created["trigger"] == {"type": "page", "rule": {"kind": "product_views", "at_least": 3, "within_days": 30}}
    assert created["platforms"] == ["web", "ios", "android"] and created["status"] == "active"
    listed = _ok(api.get("/v1/inapp/admin/messages", headers=bearer()))["messages"]
    assert [m["id"] for m in listed] == [created["id"]]
    # By id or by key.
    assert _ok(api.get(f"/v1/inapp/admin/messages/{created['id']}", headers=bearer()))["key"] == created["key"]
    changed = _ok(api.put("/v1/inapp/admin/messages/viewed-three-times", headers=bearer(),
                          json={**BANNER, "status": "paused", "layout": "slide_in", "position": "left"}))
    assert changed["id"] == created["id"] and changed["version"] == 2 and changed["status"] == "paused"
    # A second message may not take the first one's key.
    clash = api.post("/v1/inapp/admin/messages", headers=bearer(), json={**BANNER, "name": "another"})
    assert clash.status_code == 409 and clash.json()["detail"][0]["field"] == "key"
    # The write key manages nothing; nor does anyone without a key.
    assert api.get("/v1/inapp/admin/messages", headers=bearer(WRITE_KEY)).status_code == 403
    assert api.post("/v1/inapp/admin/messages", json=BANNER).status_code == 401
    deleted = _ok(api.delete("/v1/inapp/admin/messages/viewed-three-times", headers=bearer()))
    assert deleted["id"] == created["id"]
    assert api.get(f"/v1/inapp/admin/messages/{created['id']}", headers=bearer()).status_code == 404
    assert _count(stores, inapp_messages) == 0


BAD_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"layout": "popup"}, "layout"),
    ({"position": "left"}, "position"),  # a banner sits top or bottom
    ({"trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": 0}}}, "trigger.page.rule"),
    ({"trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": False}}}, "trigger.page.rule"),
    ({"trigger": {"type": "page", "rule": {"kind": "cart_value", "at_least": "50000"}}}, "trigger.page.rule"),
    ({"trigger": {"type": "page", "rule": {"kind": "weather"}}}, "trigger.page.rule"),
    ({"trigger": {"type": "event", "event": ""}}, "trigger.event.event"),
    ({"trigger": {"type": "sometimes"}}, "trigger"),
    ({"frequency": {"max_impressions": 0}}, "frequency.max_impressions"),
    ({"frequency": {"min_hours_between": -1}}, "frequency.min_hours_between"),
    ({"frequency": {"stop_after_dismiss": 1}}, "frequency.stop_after_dismiss"),
    ({"platforms": []}, "platforms"),
    ({"platforms": ["web", "tv"]}, "platforms.1"),
    ({"button": {"ko": "x" * 41}}, "button.ko"),
    ({"name": "   "}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"key": "Bad Key"}, "key"),
    ({"template": "no-such-template"}, "template"),
    ({"surprise": True}, "surprise"),
    ({"expires_hours": 24 * 365}, "expires_hours"),
]


def test_bad_messages_are_refused_naming_the_field(api: TestClient, stores: Stores) -> None:
    _template(api)
    for change, field in BAD_MESSAGES:
        response = api.post("/v1/inapp/admin/messages", headers=bearer(), json={**BANNER, **change})
        assert response.status_code == 422, (change, response.text)
        fields = [d["field"] for d in response.json()["detail"]]
        assert any(f.startswith(field) or (field == "position" and f == "(body)") for f in fields), (change, fields)
        if field == "position":
            assert "top or bottom" in response.text
    assert _count(stores, inapp_messages) == 0


def test_a_shopper_gets_the_message_rendered_and_held_to_its_frequency(api: TestClient, stores: Stores,
                                                                     clock: Clock) -> None:
    banner = _banner(api)
    visitor = "anonymous_id:browser-1"
    # A visitor Touchline has not seen yet gets it, rendered for them, with its page rule for the SDK.
    [shown] = _shown(api, visitor)
    assert shown["id"] == banner["id"] and shown["layout"] == "banner" and shown["position"] == "bottom"
    assert shown["title"] == "고객님, 이 상품 어떠세요?" and shown["button"] == "쿠폰 받기"
    assert shown["url"] == "https://shop.example/coupon" and shown["pending"] is False
    assert shown["trigger"]["rule"] == {"kind": "product_views", "at_least": 3, "within_days": 30}
    [english] = _shown(api, visitor, lang="en")
    assert english["title"] == "Still thinking, friend?" and english["button"] == "Get the coupon"

    # The impression is decided and recorded once; a retry with the same key gets the same answer.
    first = _ok(_event(api, "impression", banner["id"], visitor, "page-1-imp", page_url="https://shop.example/p/1"),
                201)
    assert first == {"recorded": True, "duplicate": False, "show": True}
    again = _ok(_event(api, "impression", banner["id"], visitor, "page-1-imp"))
    assert again["duplicate"] is True and again["show"] is True
    # Within its 24 hours it is not shown again, nor offered.
    clock.now = T0 + dt.timedelta(hours=3)
    assert _shown(api, visitor) == []
    refused = _ok(_event(api, "impression", banner["id"], visitor, "page-2-imp"))
    assert refused == {"recorded": False, "show": False, "reason": "too_soon"}
    # A day later: the second and last impression (max_impressions 2).
    clock.now = T0 + dt.timedelta(hours=25)
    assert [m["id"] for m in _shown(api, visitor)] == [banner["id"]]
    _ok(_event(api, "impression", banner["id"], visitor, "page-3-imp"), 201)
    clock.now = T0 + dt.timedelta(days=5)
    assert _shown(api, visitor) == []
    assert _ok(_event(api, "impression", banner["id"], visitor, "page-4-imp"))["reason"] == "max_impressions"

    # Each impression is an event on the visitor's profile, through ingestion, with the message named.
    viewed = [e for e in _timeline(api, visitor) if e["event"] == "In-App Message Viewed"]
    assert len(viewed) == 2
    assert _count(stores, inapp_interactions) == 2


def test_a_dismissal_or_a_click_ends_it_and_comes_back_as_an_event(api: TestClient, stores: Stores,
                                                                   clock: Clock) -> None:
    banner = _banner(api, frequency={"max_impressions": 10, "min_hours_between": 0})
    _ok(api.put("/v1/inapp/admin/frequency", headers=bearer(), json={"min_minutes_between": 0}))
    for visitor, kind, name in (("anonymous_id:d-1", "dismiss", "In-App Message Dismissed"),
                                ("anonymous_id:c-1", "click", "In-App Message Clicked")):
        _ok(_event(api, "impression", banner["id"], visitor, f"{kind}-imp-1"), 201)
        assert _shown(api, visitor)  # no wait between impressions of this message
        answer = _ok(_event(api, kind, banner["id"], visitor, f"{kind}-0001", platform="web", language="ko"), 201)
        assert answer == {"recorded": True, "duplicate": False, "show": None}
        assert _shown(api, visitor) == []
        assert _ok(_event(api, "impression", banner["id"], visitor, f"{kind}-imp-2"))["reason"] == (
            "dismissed" if kind == "dismiss" else "clicked")
        [event] = [e for e in _timeline(api, visitor) if e["event"] == name]
        export = _ok(api.get(f"/v1/profiles/{visitor}/export", headers=bearer()))
        [full] = [e for e in export["events"] if e.get("event") == name]
        assert full["properties"]["inapp_message_id"] == banner["id"]
        assert full["properties"]["inapp_message"] == "viewed-three-times"
        assert full["properties"]["layout"] == "banner" and full["properties"]["trigger"] == "page"
        assert {i["kind"] for i in export["inapp"]["interactions"]} == {"impression", kind}
        assert event["channel"] == "web"
    # Without stop_after_dismiss a dismissal only waits out min_hours_between.
    lenient = _banner(api, key="lenient", frequency={"max_impressions": 10, "min_hours_between": 1,
                                                    "stop_after_dismiss": False})
    _ok(_event(api, "impression", lenient["id"], "anonymous_id:l-1", "lenient-1"), 201)
    _ok(_event(api, "dismiss", lenient["id"], "anonymous_id:l-1", "lenient-2"), 201)
    clock.now = T0 + dt.timedelta(hours=2)
    assert lenient["id"] in [m["id"] for m in _shown(api, "anonymous_id:l-1")]


def test_the_workspace_caps_every_message_together(api: TestClient, clock: Clock) -> None:
    assert _ok(api.get("/v1/inapp/admin/frequency", headers=bearer())) == {"max_per_day": 3, "min_minutes_between": 5}
    rule = _ok(api.put("/v1/inapp/admin/frequency", headers=bearer(), json={"max_per_day": 2.0}))
    assert rule == {"max_per_day": 2, "min_minutes_between": 5}
    ids = [_banner(api, key=f"m{i}", frequency={"max_impressions": 5, "min_hours_between": 0})["id"]
           for i in range(3)]
    visitor = "anonymous_id:capped"
    _ok(_event(api, "impression", ids[0], visitor, "cap-0001"), 201)
    # Five minutes between two in-app messages, whichever.
    clock.now = T0 + dt.timedelta(minutes=2)
    assert _shown(api, visitor) == []
    assert _ok(_event(api, "impression", ids[1], visitor, "cap-0002"))["reason"] == "global_interval"
    clock.now = T0 + dt.timedelta(minutes=10)
    _ok(_event(api, "impression", ids[1], visitor, "cap-0003"), 201)
    # Two a day.
    clock.now = T0 + dt.timedelta(minutes=30)
    assert _ok(_event(api, "impression", ids[2], visitor, "cap-0004"))["reason"] == "daily_cap"
    clock.now = T0 + dt.timedelta(hours=24, minutes=1)
    assert len(_shown(api, visitor)) == 3
    # The daily cap can be taken away; bad values are refused, nothing changed.
    for bad in ({"max_per_day": 0}, {"min_minutes_between": "5"}, {"max_per_day": True}, {"other": 1},
                {"min_minutes_between": 1441}):
        assert api.put("/v1/inapp/admin/frequency", headers=bearer(), json=bad).status_code == 422, bad
    uncapped = _ok(api.put("/v1/inapp/admin/frequency", headers=bearer(),
                           json={"max_per_day": None, "min_minutes_between": None}))
    assert uncapped == {"max_per_day": None, "min_minutes_between": 5}


def test_platforms_pause_and_consent(api: TestClient, stores: Stores) -> None:
    banner = _banner(api, platforms=["web"])
    assert _shown(api, "anonymous_id:app-1", platform="ios") == []
    assert _ok(_event(api, "impression", banner["id"], "anonymous_id:app-1", "ios-00001", platform="ios"))[
        "reason"] == "platform"
    # A customer who denied in-app messages gets none, and no impression is recorded.
    _ok(api.post("/v1/identify", headers=basic(), json={
        "userId": "no-thanks", "traits": {"name": "지은", "consent": {"in_app": False}}}))
    assert _shown(api, "user_id:no-thanks") == []
    assert _ok(_event(api, "impression", banner["id"], "no-thanks", "consent-01"))["reason"] == "no_consent"
    # A known customer sees their own name, in their language.
    _ok(api.post("/v1/identify", headers=basic(), json={"userId": "kim-01", "traits": {"name": "김지은",
                                                                                      "locale": "ko-KR"}}))
    [shown] = _shown(api, "user_id:kim-01")
    assert shown["title"] == "김지은님, 이 상품 어떠세요?"
    assert _shown(api, "kim-01")[0]["title"] == shown["title"]  # a bare user id
    _ok(api.put("/v1/inapp/admin/messages/viewed-three-times", headers=bearer(), json={**BANNER, "status": "paused"}))
    assert _shown(api, "user_id:kim-01") == []
    assert _ok(_event(api, "impression", banner["id"], "kim-01", "paused-01"))["reason"] == "paused"
    assert _count(stores, inapp_interactions) == 0


def test_a_journey_shows_its_message_at_the_next_page(api: TestClient, stores: Stores, clock: Clock) -> None:
    """A journey's send step on the in-app channel, with the message's template, makes the message pending
    for that customer (journeys know nothing of in-app messages: the event log carries it)."""
    _template(api, "cart-banner")
    banner = _ok(api.post("/v1/inapp/admin/messages", headers=bearer(), json={
        "key": "cart-reminder-banner", "name": "장바구니 알림", "layout": "modal", "template": "cart-banner",
        "trigger": {"type": "journey", "journey_id": "cart-nudge"}, "expires_hours": 6}), 201)
    journey = {"id": "cart-nudge", "name": "Cart nudge", "version": 1, "holdout_percent": 0,
               "trigger": {"type": "event", "event": "Product Added"}, "start": "nudge",
               "nodes": [{"type": "send", "id": "nudge", "channel": "in_app", "template": "cart-banner",
                          "kind": "advertising", "next": "done"}, {"type": "exit", "id": "done"}]}
    _ok(api.post("/v1/journeys", headers=bearer(), json=journey), 201)
    _ok(api.post("/v1/journeys/cart-nudge/publish", headers=bearer(), json={}))
    # Not before the journey sends it.
    assert _shown(api, "user_id:u1") == []
    _ok(api.post("/v1/batch", headers=basic(), json={"batch": [
        {"type": "identify", "userId": "u1", "anonymousId": "browser-u1", "timestamp": T0.isoformat(),
         "traits": {"name": "민지", "consent": {"in_app": True}}},
        {"type": "track", "userId": "u1", "event": "Product Added", "timestamp": T0.isoformat(),
         "properties": {"product_id": "knit-01", "price": 59000}}]}))
    Runner(stores).tick(T0)
    [shown] = _shown(api, "user_id:u1")
    assert shown["id"] == banner["id"] and shown["pending"] is True and shown["layout"] == "modal"
    assert shown["title"] == "민지님, 이 상품 어떠세요?"
    # The same browser, by its anonymous id.
    assert [m["id"] for m in _shown(api, "anonymous_id:browser-u1")] == [banner["id"]]
    # Shown once: the impression takes it; another customer never had it.
    _ok(_event(api, "impression", banner["id"], "user_id:u1", "nudge-0001", anonymous_id="browser-u1"), 201)
    clock.now = T0 + dt.timedelta(days=2)
    assert _shown(api, "user_id:u1") == []
    assert _shown(api, "user_id:someone-else") == []
    with stores.read() as conn:
        assert conn.execute(sa.select(inapp_pending.c.shown_at)).scalar_one() is not None


def test_an_event_triggers_a_message_until_it_expires(api: TestClient, clock: Clock) -> None:
    # Ingestion receives events at the wall clock's time; so does this test.
    clock.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _template(api)
    _ok(api.post("/v1/inapp/admin/messages", headers=bearer(), json={
        "key": "big-cart", "name": "Big cart", "layout": "slide_in", "template": "viewed-3", "expires_hours": 2,
        "trigger": {"type": "event", "event": "Cart Viewed", "properties": {"over_50000": True}}}), 201)
    small = {"type": "track", "anonymousId": "cart-1", "event": "Cart Viewed", "messageId": "cv-1",
             "timestamp": clock.now.isoformat(), "properties": {"over_50000": False}}
    _ok(api.post("/v1/track", headers=basic(), json=small))
    assert _shown(api, "anonymous_id:cart-1") == []
    _ok(api.post("/v1/track", headers=basic(), json={**small, "messageId": "cv-2", "properties": {"over_50000": True}}))
    [shown] = _shown(api, "anonymous_id:cart-1")
    assert shown["position"] == "right" and shown["pending"] is True
    # An event from long ago (imported history) triggers nothing.
    _ok(api.post("/v1/track", headers=basic(), json={**small, "anonymousId": "cart-2", "messageId": "cv-3",
                                                     "timestamp": T0.isoformat(), "properties": {"over_50000": True}}))
    assert _shown(api, "anonymous_id:cart-2") == []
    clock.now += dt.timedelta(hours=3)
    assert _shown(api, "anonymous_id:cart-1") == []


def test_identities_are_verified(api: TestClient, stores: Stores, workspace_id: str) -> None:
    from touchline.workspaces.service import create_key

    banner = _banner(api)
    with stores.write() as conn:
        secret = create_key(conn, workspace_id, "identity", "shop backend")
    api.app.state.services.keys.forget()  # type: ignore[attr-defined]
    _ok(api.post("/v1/identify", headers=basic(), json={"userId": "kim-02", "anonymousId": "kim-browser"}))
    # A user id needs its hash, signed on the shop's server.
    response = api.get("/v1/inapp/messages", params={"user": "user_id:kim-02"}, headers=basic())
    assert response.status_code == 403 and response.json()["code"] == "user_hash_required"
    wrong = api.get("/v1/inapp/messages", params={"user": "user_id:kim-02", "user_hash": "0" * 64}, headers=basic())
    assert wrong.status_code == 403
    signed = user_hash(secret, "user_id:kim-02")
    assert _ok(api.get("/v1/inapp/messages", params={"user": "user_id:kim-02"},
                       headers={**basic(), "X-Touchline-User-Hash": signed}))["messages"]
    # The signed-in customer's anonymous id alone reads nothing, nor records anything.
    assert api.get("/v1/inapp/messages", params={"user": "anonymous_id:kim-browser"},
                   headers=basic()).status_code == 403
    assert _event(api, "impression", banner["id"], "anonymous_id:kim-browser", "verify-01").status_code == 403
    assert _event(api, "impression", banner["id"], "user_id:kim-02", "verify-02").status_code == 403
    ok = api.post("/v1/inapp/events", headers={**basic(), "X-Touchline-User-Hash": signed}, json={
        "type": "impression", "message_id": banner["id"], "user": "user_id:kim-02", "key": "verify-03"})
    assert ok.status_code == 201, ok.text
    # A visitor who never signed in needs nothing.
    assert _shown(api, "anonymous_id:just-browsing")


def test_erase_and_export_hold_the_customer_s_in_app_data(api: TestClient, stores: Stores, clock: Clock) -> None:
    banner = _banner(api)
    _ok(_event(api, "impression", banner["id"], "anonymous_id:erase-me", "erase-0001"), 201)
    clock.now = T0 + dt.timedelta(seconds=5)
    _ok(_event(api, "dismiss", banner["id"], "anonymous_id:erase-me", "erase-0002"), 201)
    _ok(_event(api, "impression", banner["id"], "anonymous_id:keep-me", "keep-0001"), 201)
    view = _ok(api.get("/v1/profiles/anonymous_id:erase-me", headers=bearer()))
    assert [i["kind"] for i in view["inapp"]] == ["dismiss", "impression"]
    assert view["inapp"][0]["key"] == "viewed-three-times"
    _ok(api.delete("/v1/profiles/anonymous_id:erase-me", headers=bearer()))
    with stores.read() as conn:
        left = conn.execute(sa.select(inapp_interactions.c.kind)).all()
    assert [k for (k,) in left] == ["impression"]
    # The report counts what is left.
    report = _ok(api.get("/v1/inapp/admin/report", headers=bearer()))
    [item] = report["messages"]
    assert (item["impression"], item["click"], item["dismiss"]) == (1, 0, 0)


def test_the_report_counts_per_message_and_day(api: TestClient, clock: Clock) -> None:
    banner = _banner(api, frequency={"max_impressions": 10, "min_hours_between": 0, "stop_after_dismiss": False})
    _ok(api.put("/v1/inapp/admin/frequency", headers=bearer(), json={"min_minutes_between": 0, "max_per_day": None}))
    for i in range(4):
        _ok(_event(api, "impression", banner["id"], f"anonymous_id:r-{i % 2}", f"report-i{i}"), 201)
    _ok(_event(api, "click", banner["id"], "anonymous_id:r-0", "report-c1"), 201)
    clock.now = T0 + dt.timedelta(days=1)
    _ok(_event(api, "dismiss", banner["id"], "anonymous_id:r-1", "report-d1"), 201)
    report = _ok(api.get("/v1/inapp/admin/report", headers=bearer(), params={"start": "2026-11-22",
                                                                              "end": "2026-11-24"}))
    assert report["days"] == ["2026-11-22", "2026-11-23", "2026-11-24"]
    [item] = report["messages"]
    assert (item["impression"], item["click"], item["dismiss"]) == (4, 1, 1)
    assert item["by_day"] == {"impression": [0, 4, 0], "click": [0, 1, 0], "dismiss": [0, 0, 1]}
    assert item["click_rate"] == 0.25 and item["dismiss_rate"] == 0.25
    assert api.get("/v1/inapp/admin/report", headers=bearer(),
                   params={"start": "2026-11-24", "end": "2026-11-22"}).status_code == 422
    for start in ("yesterday", "0", "2026-02-30"):
        assert api.get("/v1/inapp/admin/report", headers=bearer(), params={"start": start}).status_code == 422


def test_the_customer_endpoints_answer_other_origins_and_management_does_not(api: TestClient) -> None:
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    for path in ("/v1/inapp/messages", "/v1/inapp/events"):
        response = api.options(path, headers=preflight)
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*", path
    response = api.options("/v1/inapp/admin/messages", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    script = api.get("/sdk/inapp.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"


BAD_INTERACTIONS: list[Any] = [
    {"type": "look", "message_id": "0" * 32, "user": "anonymous_id:x", "key": "k-000001"},
    {"type": "impression", "message_id": "not-hex", "user": "anonymous_id:x", "key": "k-000001"},
    {"type": "impression", "message_id": "0" * 32, "user": "anonymous id", "key": "k-000001"},
    {"type": "impression", "message_id": "0" * 32, "user": "anonymous_id:x", "key": "short"},
    {"type": "impression", "message_id": "0" * 32, "user": "x" * 600, "key": "k-000001"},
    {"type": "impression", "message_id": "0" * 32, "user": "anonymous_id:x", "key": "k-000001", "platform": "tv"},
    {"type": "impression", "message_id": "0" * 32, "user": "anonymous_id:x", "key": "k-000001", "page_url": "a\x00"},
    {"type": "impression", "message_id": "0" * 32, "user": "anonymous_id:x", "key": "k-000001", "extra": 1},
    {"type": 1, "message_id": "0" * 32, "user": "anonymous_id:x", "key": "k-000001"},
    ["impression"],
]


def test_bad_interactions_are_refused_with_nothing_stored(api: TestClient, stores: Stores) -> None:
    _banner(api)
    for body in BAD_INTERACTIONS:
        response = api.post("/v1/inapp/events", headers=basic(), json=body)
        assert response.status_code == 422, (body, response.text)
    assert _count(stores, inapp_interactions) == 0


def test_bad_reads_are_refused(api: TestClient, stores: Stores) -> None:
    banner = _banner(api)
    for params in ({}, {"user": ""}, {"user": "a b"}, {"user": "x" * 600}, {"user": "u", "platform": "tv"},
                   {"user": "u", "lang": "fr"}):
        assert api.get("/v1/inapp/messages", params=params, headers=basic()).status_code == 422, params
    assert api.get("/v1/inapp/messages", params={"user": "u", "other": "1"}, headers=basic()).status_code == 400
    assert api.get("/v1/inapp/messages", params={"user": "u"}).status_code == 401
    # An unknown message: 404, nothing recorded.
    unknown = _event(api, "impression", "f" * 32, "anonymous_id:x", "unknown-1")
    assert unknown.status_code == 404
    # The key is not an id here.
    assert _event(api, "impression", banner["key"], "anonymous_id:x", "unknown-2").status_code == 422
    assert _count(stores, inapp_interactions) == 0
    oversized = api.post("/v1/inapp/events", headers=basic(), content=b'{"type": "' + b"x" * 5_000_000 + b'"}')
    assert oversized.status_code in (413, 422)


def test_the_template_s_own_failures_leave_the_message_out(api: TestClient) -> None:
    _ok(api.put("/v1/templates/fragile/in_app", headers=bearer(), json={"default_locale": "ko", "variants": {
        "ko": {"title": "{{ 100 // profile.traits.visits }}", "body": "b"}}}))
    _ok(api.post("/v1/inapp/admin/messages", headers=bearer(), json={**copy.deepcopy(BANNER), "template": "fragile"}),
        201)
    _ok(api.post("/v1/identify", headers=basic(), json={"userId": "zero", "traits": {"visits": 0}}))
    assert _shown(api, "user_id:zero") == []  # 100 // 0 for this customer: left out, not a 500
    _ok(api.post("/v1/identify", headers=basic(), json={"userId": "four", "traits": {"visits": 4}}))
    assert _shown(api, "user_id:four")[0]["title"] == "25"


def test_the_demo_storefront_is_served_only_when_switched_on(api: TestClient, stores: Stores) -> None:
    assert api.get("/demo-shop/product/P10001").status_code == 404
    settings = stores.settings.model_copy(update={"demo_storefront": True})
    with TestClient(create_app(settings, stores=stores, run_pump=False)) as shop:
        page = shop.get("/demo-shop/product/P10001", params={"lang": "en"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert '/sdk/inapp.js" defer data-write-key="test-write-key"' in page.text
        assert 'data-product-id="P10001"' in page.text and "Product Viewed" in page.text
        assert settings.demo_analytics_js_url in page.text and 'lang="en"' in page.text
        assert shop.get("/demo-shop/product/P0").status_code == 404


def test_the_dashboard_page_shows_each_message_its_rules_and_its_figures(api: TestClient, stores: Stores) -> None:
    from web_helpers import add_user, form_token, sign_in

    banner = _banner(api)
    _ok(_event(api, "impression", banner["id"], "anonymous_id:dash-1", "dash-0001"), 201)
    _ok(_event(api, "click", banner["id"], "anonymous_id:dash-1", "dash-0002"), 201)
    add_user(stores, "agent@example.com", "agent")
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(api, "agent@example.com")
    assert api.get("/inapp").status_code == 403
    api.cookies.clear()
    sign_in(api, "marketer@example.com")
    # The period is the viewer's last 30 days: the report's days are the clock's, which is the wall clock here.
    korean = api.get("/inapp", params={"lang": "ko", "start": "2026-11-01", "end": "2026-11-30"})
    assert korean.status_code == 200
    text = korean.text
    assert "인앱 메시지" in text and "세 번 본 상품 쿠폰" in text
    assert "같은 상품을 30일 안에 3번 봤을 때" in text
    assert "고객당 최대 2회, 24시간 간격, 닫으면 다시 보이지 않음" in text
    assert "배너 · 하단" in text and 'id="chart-inapp-messages"' in text
    assert '<strong data-kpi="impressions">1</strong>' in text and '<strong data-kpi="clicks">1</strong>' in text
    english = api.get("/inapp", params={"lang": "en", "start": "2026-11-01", "end": "2026-11-30"}).text
    assert "the same product was viewed 3 times within 30 days" in english and "Banner · bottom" in english
    # Paused from the page, and resumed.
    token = form_token(korean.text)
    paused = api.post(f"/inapp/{banner['id']}/status", data={"csrf_token": token, "status": "paused"},
                      follow_redirects=False)
    assert paused.status_code == 303
    assert _ok(api.get(f"/v1/inapp/admin/messages/{banner['id']}", headers=bearer()))["status"] == "paused"
    assert api.post(f"/inapp/{banner['id']}/status", data={"status": "active"}).status_code == 403  # no CSRF token
    # The workspace's frequency rule: refused values are named, nothing saved.
    bad = api.post("/inapp/frequency", data={"csrf_token": token, "max_per_day": "0", "min_minutes_between": "5"})
    assert bad.status_code == 422 and "Per customer per day" in bad.text  # the language chosen last
    good = api.post("/inapp/frequency", data={"csrf_token": token, "max_per_day": "", "min_minutes_between": "10"},
                    follow_redirects=False)
    assert good.status_code == 303
    assert _ok(api.get("/v1/inapp/admin/frequency", headers=bearer())) == {"max_per_day": None,
                                                                            "min_minutes_between": 10}


def test_the_demo_plays_shoppers_on_the_product_pages(stores: Stores, workspace_id: str) -> None:
    from touchline.demo.inapp import run_inapp_shoppers
    from touchline.inapp import service as inapp_service

    def app(clock: Any) -> Any:
        return create_app(stores=stores, run_pump=False, run_journeys=False, clock=clock)

    summary = run_inapp_shoppers(stores, workspace_id, app, shoppers=40, days=10)
    assert summary.shoppers == 40 and summary.shown >= 40  # each first visit's third view
    assert summary.clicked and summary.dismissed and summary.shown > summary.clicked + summary.dismissed
    today = dt.datetime.now(dt.UTC).date()
    report = inapp_service.report(stores, workspace_id, today - dt.timedelta(days=12), today)
    [banner] = report["messages"]
    assert (banner["impression"], banner["click"], banner["dismiss"]) == (
        summary.shown, summary.clicked, summary.dismissed)
    assert sum(1 for n in banner["by_day"]["impression"] if n) > 3  # spread over the days
    again = run_inapp_shoppers(stores, workspace_id, app, shoppers=40, days=10)  # idempotent
    assert inapp_service.report(stores, workspace_id, today - dt.timedelta(days=12), today)["messages"][0][
        "impression"] == summary.shown and again.shoppers == 40
