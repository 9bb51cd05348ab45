"""The web chat's Done-means test, in real Chromium: a shopper on a storefront served from another origin
(with Segment's analytics.js, unchanged, and /sdk/chat.js) opens the chat and writes; an agent signed in
to the dashboard in a second browser context sees it arrive without reloading, replies, and the shopper
sees the reply; the conversation is on the shopper's profile. Screenshots (desktop and phone, Korean
and English) go to screenshots/."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_server import LiveServer
from support import WRITE_KEY, basic, bearer
from test_browser_sdk import BUNDLE, CHROMIUM, CHROMIUM_ARGS, _missing
from touchline.web import auth
from web_helpers import PASSWORD, RESIZE_CHARTS

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def _storefront(lang: str, touchline: str) -> str:
    title = "울 니트 스웨터 - 예시 상점" if lang == "ko" else "Wool knit sweater - Example Shop"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>{title}</title>
<script src="/ajs/index.js"></script>
<script src="/shop.js"></script>
<script src="{touchline}/sdk/chat.js" defer data-write-key="{WRITE_KEY}" data-lang="{lang}"></script>
</head><body style="font-family:sans-serif;margin:2rem"><h1>{title}</h1><p>₩59,000</p></body></html>
"""


SHOP_JS = """window.shopReady = AnalyticsNext.AnalyticsBrowser.load(
  {writeKey: %r, cdnURL: %r}).then(function (loaded) {
    var analytics = loaded[0];
    return analytics.page("Product", {product_id: "knit-01"}).then(function () {
      return analytics.track("Product Added", {product_id: "knit-01", name: "울 니트", price: 59000,
                                              currency: "KRW"});
    }).then(function () { return analytics.user().anonymousId(); });
  });
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    import os

    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
    if not (BUNDLE / "index.js").exists():
        _missing(f"analytics.js is missing at {BUNDLE} (npm pack @segment/analytics-next; see .ci/run)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def storefront(tmp_path: Path, live: LiveServer) -> Iterator[str]:
    """The shop's site on another port: another origin than Touchline's."""
    shutil.copytree(BUNDLE, tmp_path / "ajs")
    for lang in ("ko", "en"):
        (tmp_path / f"product-{lang}.html").write_text(_storefront(lang, live.url), encoding="utf-8")
    (tmp_path / "shop.js").write_text(SHOP_JS % (WRITE_KEY, live.url), encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="storefront", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _watch(tab: Any, problems: list[str]) -> None:
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _shoot(tab: Any, name: str, *, full: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.set_viewport_size(DESKTOP)
    tab.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=full)
    tab.set_viewport_size(PHONE)
    tab.wait_for_timeout(100)
    tab.evaluate(RESIZE_CHARTS)  # a dashboard page's charts, redrawn for the phone before it is measured
    tab.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=full)
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{name}: the page is {width}px wide on a phone"
    tab.set_viewport_size(DESKTOP)


def _signed_in(browser: Any, live: LiveServer, email: str, problems: list[str]) -> tuple[Any, Any]:
    """A browser context signed in to the dashboard as ``email`` (the sign-in page in English), and its tab."""
    ctx = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul")
    ctx.set_default_timeout(15_000)
    tab = ctx.new_page()
    _watch(tab, problems)
    tab.goto(live.url + "/login")
    tab.get_by_label("E-mail").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_load_state("load")
    return ctx, tab


def _chat(tab: Any) -> Any:
    return tab.locator("[data-touchline-chat]")


def test_a_shopper_chats_with_an_agent_live(browser: Any, storefront: str, live: LiveServer) -> None:
    auth.create_user(live.stores, "agent@example.com", PASSWORD, "agent", name="박상담")
    problems: list[str] = []

    # The agent signs in and opens the inbox first: what arrives later must appear without a reload.
    agent_ctx, agent = _signed_in(browser, live, "agent@example.com", problems)
    agent.goto(live.url + "/inbox?lang=ko")
    # A selector, not wait_for_function: the dashboard's CSP (script-src 'self') refuses the eval it uses.
    agent.wait_for_selector("#inbox-live:not(:empty)")
    agent.evaluate("window.__notReloaded = true")

    shopper_ctx = browser.new_context(viewport=DESKTOP, locale="ko-KR", timezone_id="Asia/Seoul")
    shopper_ctx.set_default_timeout(15_000)
    shopper = shopper_ctx.new_page()
    _watch(shopper, problems)
    try:
        shopper.goto(storefront + "/product-ko.html")
        anonymous_id = shopper.evaluate("window.shopReady")
        chat = _chat(shopper)
        chat.get_by_role("button", name="채팅 상담").click()
        box = chat.get_by_role("textbox", name="메시지를 입력하세요")
        box.fill("니트 M 사이즈 재고 있나요?")
        box.press("Enter")
        chat.locator("li.in", has_text="니트 M 사이즈 재고 있나요?").wait_for()

        # The agent's queue shows it, live.
        row = agent.locator("#inbox-list li[data-conversation]").first
        row.wait_for()
        assert agent.evaluate("window.__notReloaded") is True
        assert "웹 채팅" in row.inner_text()
        row.locator("a").click()
        agent.wait_for_load_state("load")
        agent.locator("#thread li.inbound", has_text="니트 M 사이즈 재고 있나요?").wait_for()
        agent.get_by_label("답장", exact=True).last.fill("네, M 사이즈 있습니다. 오늘 주문하시면 내일 도착해요.")
        agent.get_by_role("button", name="답장 보내기").click()
        agent.wait_for_load_state("load")
        agent.locator("#thread li.outbound", has_text="내일 도착해요").wait_for()

        # The shopper sees the reply in the chat window, without reloading.
        chat.locator("li.out", has_text="네, M 사이즈 있습니다.").wait_for()

        # A second message arrives in the agent's open conversation by itself.
        agent.evaluate("window.__notReloaded = true")
        box.fill("감사합니다! 바로 주문할게요.")
        box.press("Enter")
        agent.locator("#thread li.inbound", has_text="바로 주문할게요").wait_for()
        assert agent.evaluate("window.__notReloaded") is True

        _shoot(shopper, "chat-shop-ko", full=False)
        _shoot(agent, "chat-inbox-ko")

        # The conversation is on the shopper's profile (the identity graph joined the chat to analytics.js's
        # anonymous id): the API and the customer page show it.
        profile = live.profile(f"anonymous_id:{anonymous_id}")
        names = [e.get("event") for e in profile["timeline"]]
        assert {"Product Added", "Message Received", "Message Replied"} <= set(names), names
        view = live.http.get(f"/v1/customers/anonymous_id:{anonymous_id}", headers=bearer())
        if view.status_code == 200:
            assert view.json()["conversations"], view.json().keys()
        agent.get_by_role("link", name="고객 상세 보기").click()
        agent.wait_for_load_state("load")
        agent.locator("#conversations li[data-conversation]", has_text="웹 채팅").wait_for()

        # English: the shopper comes back on another page of the shop; the history is kept.
        shopper.goto(storefront + "/product-en.html")
        shopper.evaluate("window.shopReady")
        chat = _chat(shopper)
        chat.get_by_role("button", name="Chat with us").click()
        chat.locator("li.out", has_text="네, M 사이즈 있습니다.").wait_for()
        chat.locator("li.in", has_text="바로 주문할게요").wait_for()
        _shoot(shopper, "chat-shop-en", full=False)
        agent.goto(live.url + "/inbox?lang=en&queue=all")
        agent.locator("#inbox-list li[data-conversation] a").first.click()
        agent.wait_for_load_state("load")
        agent.get_by_label("Private note").check()
        assert agent.get_by_role("button", name="Add note").is_visible()
        _shoot(agent, "chat-inbox-en")

        # The shop asks for ratings: the agent resolves the chat, the shopper rates it in the window (5,
        # then a comment), and the agent sees the rating on the conversation and in the inbox report.
        auth.create_user(live.stores, "boss@example.com", PASSWORD, "admin", name="김대표")
        admin_ctx, admin = _signed_in(browser, live, "boss@example.com", problems)
        admin.goto(live.url + "/inbox/teams?lang=ko")
        admin.get_by_label("상담원이 답한 웹 채팅을 해결하면 고객에게 만족도(1–5점)를 묻기").check()
        admin.locator("#chat-ratings").get_by_role("button", name="저장").click()
        admin.wait_for_load_state("load")
        admin.get_by_text("채팅 만족도 평가 설정을 저장했습니다.").wait_for()
        assert admin.get_by_label("상담원이 답한 웹 채팅을 해결하면 고객에게 만족도(1–5점)를 묻기").is_checked()
        _shoot(admin, "teams-chat-ratings-ko")
        admin_ctx.close()
        assert live.http.get("/v1/conversations/settings", headers=bearer()).json() == {"rate_on_resolve": True}
        agent.get_by_role("button", name="Resolve").click()
        agent.wait_for_load_state("load")
        rate = chat.locator("li.rate")
        rate.get_by_role("button", name="5 / 5 · Very satisfied").wait_for()
        _shoot(shopper, "chat-rating-ask-en", full=False)
        rate.get_by_role("button", name="5 / 5 · Very satisfied").click()
        remark = rate.get_by_role("textbox", name="Anything to add? (optional)")
        remark.fill("Quick and kind, thanks!")
        remark.press("Enter")
        rate.get_by_text("Thank you for your feedback!").wait_for()
        _shoot(shopper, "chat-rating-en", full=False)
        agent.reload()
        agent.locator("#thread [data-rating]", has_text="Customer's rating: 5 of 5").wait_for()
        assert "Quick and kind, thanks!" in agent.locator("#thread [data-rating]").inner_text()
        agent.goto(live.url + "/inbox/report?lang=ko")
        assert agent.locator("[data-kpi=csat]").inner_text().startswith("100")
        _shoot(agent, "chat-rating-report-ko")
        assert not [p for p in problems if "favicon" not in p], problems
    finally:
        shopper_ctx.close()
        agent_ctx.close()


def _wait(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_journeys_nps_question_waits_in_the_chat_and_opens_it(browser: Any, storefront: str,
                                                                live: LiveServer) -> None:
    """A journey's survey step on the chat: the shopper who chatted before comes back to the shop, the chat
    window opens by itself with the NPS question and eleven buttons, and the tap is the answer."""
    import datetime as dt

    from touchline.journeys.runner import Runner
    from touchline.messaging.outbox import Outbox

    journey = {"id": "nps-in-chat", "name": "NPS in the chat", "trigger": {"type": "event", "event": "Order Completed"},
               "start": "ask", "nodes": [
                   {"type": "survey", "id": "ask", "survey": "shop-nps", "scale": "nps", "channel": "chat",
                    "next": "done"}, {"type": "exit", "id": "done"}]}
    assert live.http.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201
    assert live.http.post("/v1/journeys/nps-in-chat/publish", headers=bearer()).status_code == 200
    problems: list[str] = []
    ctx = browser.new_context(viewport=PHONE, locale="ko-KR", timezone_id="Asia/Seoul")
    ctx.set_default_timeout(15_000)
    shopper = ctx.new_page()
    _watch(shopper, problems)
    try:
        shopper.goto(storefront + "/product-ko.html")
        anonymous_id = shopper.evaluate("window.shopReady")
        chat = _chat(shopper)
        chat.get_by_role("button", name="채팅 상담").click()
        box = chat.get_by_role("textbox", name="메시지를 입력하세요")
        box.fill("주문한 니트 언제 와요?")
        box.press("Enter")
        chat.locator("li.in", has_text="언제 와요").wait_for()
        chat.get_by_role("button", name="채팅 닫기").click()
        history = live.http.get("/v1/chat/messages", params={"anonymous_id": anonymous_id}, headers=basic()).json()
        conversation_id = history["conversation_id"]
        assert live.http.post(f"/v1/conversations/{conversation_id}/resolve", headers=bearer()).status_code == 200

        # The order arrives (the shop's server tracks it); the journey asks in the chat.
        now = dt.datetime.now(dt.UTC)
        tracked = live.http.post("/v1/track", headers=basic(), json={
            "anonymousId": anonymous_id, "event": "Order Completed", "messageId": "order-nps-1",
            "timestamp": now.isoformat(), "properties": {"order_id": "HM-1", "total": 59000}})
        assert tracked.status_code == 200, tracked.text
        live.stores.pump()
        Runner(live.stores, outbox=Outbox(live.stores, channels={})).tick(now + dt.timedelta(seconds=5))
        live.stores.pump()

        # The shopper comes back: the window opens by itself with the question and a button per score.
        shopper.reload()
        shopper.evaluate("window.shopReady")
        rate = _chat(shopper).locator("li.rate")
        rate.get_by_role("button", name="9 / 10").wait_for()
        assert rate.get_by_role("button").count() == 11
        assert _chat(shopper).get_by_text("추천하실 가능성").is_visible()
        _shoot(shopper, "chat-nps-ask-ko", full=False)
        rate.get_by_role("button", name="9 / 10").click()
        rate.get_by_text("평가해 주셔서 감사합니다 (9/10)").wait_for()
        answers = live.http.get("/v1/feedback/answers", params={"survey": "shop-nps"}, headers=bearer()).json()
        assert [(a["kind"], a["score"], a["channel"]) for a in answers["answers"]] == [("nps", 9, "chat")]
        # Closed and reloaded, it does not open by itself again.
        shopper.reload()
        shopper.evaluate("window.shopReady")
        shopper.wait_for_timeout(500)
        assert _chat(shopper).locator(".win").is_hidden()
        assert not [p for p in problems if "favicon" not in p], problems
    finally:
        ctx.close()
