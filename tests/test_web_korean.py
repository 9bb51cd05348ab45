"""The dashboard in Korean, over HTTP on both backends: event names, segment templates, operators, identity
kinds, triggers and validation messages in words; phone numbers as Koreans write them (010-…); large sums in
만 and 억; the day or month still under way marked on the charts. Layout in Chromium: test_web_browser.py."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.web.i18n import EVENTS, Formatter, choose_locale, korean_units
from web_helpers import add_user, sign_in

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
KO = Formatter("ko", choose_locale("ko", None), "Asia/Seoul")
EN = Formatter("en", choose_locale("en", None), "Asia/Seoul")


def test_sums_in_man_and_eok() -> None:
    assert korean_units(43_011_490) == "4,301만" and korean_units(123_450_000) == "1억 2,345만"
    assert korean_units(300_000_000) == "3억" and korean_units(1_234_567_890_000) == "12,345억 6,789만"
    assert KO.money_short(43_011_490) == "4,301만원" and KO.money_short(59_000) == "59,000원"  # small: exact
    assert EN.money_short(43_011_490) == "₩43,011,490"  # English keeps the full amount


def test_phone_numbers_as_written_at_home() -> None:
    assert KO.phone("+821012345678") == "010-1234-5678" and KO.phone("+82212345678") == "02-1234-5678"
    assert KO.phone("+442079460018") == "+44 20 7946 0018"  # another country's: international
    assert KO.address("+821012345678") == "010-1234-5678" and KO.address("kim@example.com") == "kim@example.com"
    assert KO.address("1018502695") == "1018502695"  # a messenger handle is no phone number
    assert KO.phone("not a phone") == "not a phone"


def test_words_for_names() -> None:
    assert KO.event("Product Viewed") == "상품 조회" and EN.event("Product Viewed") == "Product Viewed"
    assert KO.event("My Own Event") == "My Own Event" and KO.event(None, "page") == "페이지 조회"
    assert all(ko and en for en, ko in EVENTS.values())
    assert KO.template_name("cart_abandoners") == "장바구니 이탈 고객"
    assert KO.operator("within_last_days") == "최근 N일 이내"
    assert KO.identity_kind("anonymous_id") == "익명 ID" and KO.trigger("event") == "이벤트"
    assert KO.problem("/children/1/value", "'within_last_days' needs a whole number of days (0 to 36500)") == (
        "조건 2 · 값", "0 이상 36500 이하의 정수(일 수)를 입력하세요.")
    assert KO.problem("/", "add at least one condition") == ("", "조건을 하나 이상 추가하세요.")
    assert KO.problem("/x", "something new") == ("x", "something new")  # unknown reasons stay as written
    assert EN.problem("/children/0/operator", "bad") == ("Condition 1 · Operator", "bad")


def _shop(client: TestClient, stores: Stores) -> None:
    """A buyer with a phone number and an order of 45 million won, a visitor today."""
    at = (NOW - dt.timedelta(days=3)).isoformat()
    batch: list[dict[str, Any]] = [
        {"type": "identify", "userId": "kim", "messageId": "i1", "timestamp": at,
         "traits": {"name": "김지은", "email": "jieun@example.com", "phone": "010-1234-5678",
                    "consent": {"sms": True}, "locale": "ko-KR"}},
        {"type": "track", "userId": "kim", "event": "Product Viewed", "messageId": "v1", "timestamp": at},
        {"type": "track", "userId": "kim", "event": "Order Completed", "messageId": "o1", "timestamp": at,
         "properties": {"order_id": "o1", "revenue": 45_000_000}},
        {"type": "track", "anonymousId": "today", "event": "Product Viewed", "messageId": "v2",
         "timestamp": NOW.isoformat()},
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")


def _figure(page: str, chart_id: str) -> dict[str, Any]:
    found = re.search(rf'id="{chart_id}"[^>]*data-figure=\'([^\']*)\'', page)
    assert found, chart_id
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def test_overview_in_korean(client: TestClient, stores: Stores) -> None:
    _shop(client, stores)
    page = client.get("/overview", params={"days": 7, "lang": "ko"}).text
    assert 'title="45,000,000원" data-kpi="revenue">4,500만원<' in page
    revenue = _figure(page, "chart-revenue")
    assert "4,000만원" in revenue["layout"]["yaxis"]["ticktext"] and "0원" in revenue["layout"]["yaxis"]["ticktext"]
    assert "45,000,000원" in revenue["data"][0]["customdata"]
    # Today is not over: marked, and its line drawn apart.
    daily = _figure(page, "chart-daily")
    assert daily["layout"]["annotations"][0]["text"] == "오늘 (집계 중)" and daily["layout"]["shapes"]
    assert any(trace["line"].get("dash") == "dot" for trace in daily["data"] if "line" in trace)
    assert revenue["layout"]["annotations"][0]["text"] == "오늘 (집계 중)"
    last_week = (NOW - dt.timedelta(days=10)).date()
    past = client.get("/overview", params={"start": (last_week - dt.timedelta(days=6)).isoformat(),
                                           "end": last_week.isoformat()}).text
    assert "집계 중" not in past  # a period that is over has nothing running
    english = client.get("/overview", params={"days": 7, "lang": "en"}).text
    assert 'title="₩45,000,000" data-kpi="revenue">₩45,000,000<' in english and "today, so far" in english


def test_cohorts_mark_the_running_month(client: TestClient, stores: Stores) -> None:
    _shop(client, stores)
    page = client.get("/cohorts", params={"lang": "ko"}).text
    assert "이번 달은 진행 중" in page and "data-running" in page and "%*" in page
    ended = client.get("/cohorts", params={"end": (NOW - dt.timedelta(days=40)).date().isoformat()}).text
    assert "진행 중" not in ended


def test_names_and_numbers_in_korean(client: TestClient, stores: Stores) -> None:
    _shop(client, stores)
    client.get("/overview?lang=ko")
    funnel = client.get("/funnels", params=[("step", "Product Viewed"), ("step", "Order Completed"), ("days", "7")])
    assert "1. 상품 조회" in funnel.text and "2. 주문 완료" in funnel.text
    assert '<option value="Product Viewed" label="상품 조회">' in funnel.text  # the picker says it too
    assert "1. 상품 조회" in _figure(funnel.text, "chart-funnel")["data"][0]["x"][0]
    customer = client.get("/customers/kim").text
    assert "<th scope=\"row\">전화번호</th>" in customer and "010-1234-5678" in customer
    assert "+821012345678" not in customer and "<th scope=\"row\">회원 ID</th>" in customer
    assert "상품 조회" in customer and "주문 완료" in customer  # the timeline
    assert "010-1234-5678" in client.get("/customers", params={"q": "kim"}).text
    builder = client.get("/segments/new").text
    assert ">장바구니 이탈 고객</a>" in builder and ">cart_abandoners<" not in builder
    assert ">최근 N일 이내</option>" in builder and ">within_last_days<" not in builder
    token = re.search(r'name="csrf_token" value="([^"]*)"', builder)
    assert token
    refused = client.post("/segments", data={
        "csrf_token": token.group(1), "name": "최근 방문", "mode": "builder", "match": "and",
        "c-0-kind": "trait", "c-0-trait": "last_visit", "c-0-operator": "within_last_days", "c-0-value": "사흘"})
    assert refused.status_code == 422
    assert "<strong>값</strong>: 0 이상 36500 이하의 정수(일 수)를 입력하세요." in refused.text
    assert "needs a whole" not in refused.text


def test_journey_trigger_and_phone_numbers_in_the_log(client: TestClient, stores: Stores) -> None:
    text = {"default_locale": "ko", "variants": {"ko": {"text": "{{ profile.traits.name }}님 쿠폰"}}}
    assert client.put("/v1/templates/promo/sms", json=text, headers=bearer()).status_code == 200
    journey = {"id": "vip", "name": "VIP", "version": 1, "trigger": {"type": "event", "event": "Cart Viewed"},
               "start": "send", "nodes": [
                   {"type": "send", "id": "send", "channel": "preferred", "template": "promo",
                    "kind": "transactional", "next": "end"}, {"type": "exit", "id": "end"}]}
    assert client.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/vip/publish", headers=bearer()).status_code == 200
    _shop(client, stores)
    cart = {"userId": "kim", "event": "Cart Viewed", "messageId": "c1", "timestamp": NOW.isoformat()}
    assert client.post("/v1/track", json=cart, headers=basic()).status_code == 200
    sms = MemoryChannel("sms")
    runner = Runner(stores, outbox=Outbox(stores, channels={"sms": sms}))
    runner.tick(NOW)
    runner.outbox.dispatch(now=NOW)
    assert [m.to for m in sms.messages] == ["+821012345678"]
    log = client.get("/messages", params={"lang": "ko"}).text
    assert ">010-1234-5678</a>" in log and ">+821012345678<" not in log
    page = client.get("/journeys/vip").text
    assert "트리거: 이벤트 · <span title=\"Cart Viewed\">장바구니 조회</span>" in page
    assert "이벤트: 장바구니 조회" in page  # the graph's trigger box


def test_the_builder_suggests_the_workspaces_traits_and_values(client: TestClient, stores: Stores) -> None:
    batch = [{"type": "identify", "userId": f"c{i}", "messageId": f"t{i}",
              "traits": {"email": f"c{i}@example.com", "tier": "gold" if i < 3 else "silver",
                         "address": {"city": "서울특별시" if i % 2 else "부산광역시"}, "vip": i == 0}}
             for i in range(5)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")
    names = client.get("/segments/suggestions").json()
    assert names["sample"] == 5
    assert {t["name"]: t["customers"] for t in names["traits"]} == {"email": 5, "tier": 5, "address.city": 5, "vip": 5}
    tier = client.get("/segments/suggestions", params={"trait": "tier"}).json()
    assert tier["values"] == [{"value": "gold", "customers": 3}, {"value": "silver", "customers": 2}]
    city = client.get("/segments/suggestions", params={"trait": "address.city"}).json()
    assert [v["value"] for v in city["values"]] == ["부산광역시", "서울특별시"]
    # A value one customer has (an e-mail) is nobody's suggestion.
    assert client.get("/segments/suggestions", params={"trait": "email"}).json()["values"] == []
    assert client.get("/segments/suggestions", params={"trait": "vip"}).json()["values"] == [
        {"value": "false", "customers": 4}]
    # Visitors without traits, updated since, do not crowd the customers with traits out of the sample.
    later = [{"type": "track", "anonymousId": f"a{i}", "event": "Product Viewed", "messageId": f"a{i}"}
             for i in range(6)]
    assert client.post("/v1/batch", json={"batch": later}, headers=basic()).status_code == 200
    from touchline.profiles.service import trait_suggestions
    from touchline.workspaces.service import workspace_id_by_name

    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    assert trait_suggestions(stores, workspace_id, "tier", sample=3)["values"][0]["customers"] >= 2
    page = client.get("/segments/new").text
    assert '<datalist id="trait-names"><option value="address.city"' in page
    assert 'list="trait-names"' in page and 'list="values-0"' in page and 'data-values-for="c-0-trait"' in page
    # Only for those who may edit segments: agents get the error page; nobody signed in, the sign-in page.
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    assert client.get("/segments/suggestions").status_code == 403
    client.cookies.clear()
    assert client.get("/segments/suggestions", follow_redirects=False).status_code == 303
