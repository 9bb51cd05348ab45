"""The assistant's Done-means test, in real Chromium: a shopper lingers on the checkout page of a storefront
(another origin, with /sdk/chat.js), the chat opens by itself with the shop's question; the shopper asks
something the bot answers from the FAQ, then asks for a person; an agent signed in to the dashboard sees
the conversation with the bot's summary and replies; the bot says nothing more. Screenshots go to
screenshots/."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_server import LiveServer
from support import WRITE_KEY, bearer
from test_browser_sdk import CHROMIUM, CHROMIUM_ARGS, _missing
from test_chat_browser import DESKTOP, _chat, _QuietHandler, _shoot, _watch
from touchline.assistant import service as assistant_service
from touchline.conversations import proactive_service
from touchline.conversations.bot import BotWorker
from touchline.web import auth
from web_helpers import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

PROACTIVE = "결제에 궁금한 점이 있으신가요?"


def _checkout_page(touchline: str) -> str:
    return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>주문/결제 - 하루마켓</title>
<script src="{touchline}/sdk/chat.js" defer data-write-key="{WRITE_KEY}" data-lang="ko"
        data-cart-value="89000"></script>
</head><body style="font-family:sans-serif;margin:2rem"><h1>주문/결제</h1>
<p>울 니트 스웨터 (M) 1개 · 89,000원</p><button type="button">결제하기</button></body></html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    import os

    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def checkout(tmp_path: Path, live: LiveServer) -> Iterator[str]:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / "index.html").write_text(_checkout_page(live.url), encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="checkout", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_chat_opens_at_checkout_and_the_bot_hands_over(browser: Any, checkout: str, live: LiveServer,
                                                           workspace_id: str) -> None:
    stores = live.stores
    assistant_service.load_seed(stores, workspace_id)
    proactive_service.set_rule(stores, workspace_id, {"enabled": True, "idle_seconds": 2, "holdout_percent": 0,
                                                      "message_ko": PROACTIVE})
    assistant_service.answer(stores, workspace_id, "배송비")  # the analyser's model loads once, before the clock runs
    auth.create_user(stores, "agent@example.com", PASSWORD, "agent", name="김상담")
    worker = BotWorker(stores, interval=0.5)  # what `touchline serve` runs
    worker.start()
    problems: list[str] = []
    shopper_ctx = browser.new_context(viewport=DESKTOP, locale="ko-KR", timezone_id="Asia/Seoul")
    shopper_ctx.set_default_timeout(15_000)
    agent_ctx = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul")
    agent_ctx.set_default_timeout(15_000)
    try:
        shopper = shopper_ctx.new_page()
        _watch(shopper, problems)
        shopper.goto(checkout + "/checkout/")
        chat = _chat(shopper)
        # Nobody clicks: two idle seconds on the checkout page open the chat with the shop's question.
        chat.locator("li.hello.proactive", has_text=PROACTIVE).wait_for()
        assert chat.get_by_role("dialog").is_visible()
        box = chat.get_by_role("textbox", name="메시지를 입력하세요")
        box.fill("배송비 얼마예요?")
        box.press("Enter")
        answer = chat.locator("li.out[data-author='bot']").first
        answer.wait_for(timeout=30_000)
        assert "원" in answer.inner_text() and "챗봇" in answer.inner_text()
        _shoot(shopper, "assistant-checkout-ko", full=False)

        # Something the shop's FAQ does not cover: the bot says it is not sure and offers a person, a button
        # the shopper taps (a quick reply) rather than typing.
        box.fill("강아지 산책도 시켜 주시나요?")
        box.press("Enter")
        chat.locator("li.out[data-author='bot']", has_text="정확히 이해하지 못했어요").wait_for(timeout=30_000)
        person = chat.locator("li.quick").get_by_role("button", name="상담원 연결")
        person.wait_for()
        _shoot(shopper, "assistant-quick-reply-ko", full=False)
        person.click()
        chat.locator("li.out[data-author='bot']", has_text="상담원에게 연결해 드릴게요").wait_for()
        assert chat.locator("li.quick").count() == 0  # a handover offers nothing more to tap

        # The agent finds the conversation with the bot's summary of what was asked.
        agent = agent_ctx.new_page()
        _watch(agent, problems)
        agent.goto(live.url + "/login?next=/inbox")
        agent.get_by_label("E-mail").fill("agent@example.com")
        agent.get_by_label("Password").fill(PASSWORD)
        agent.get_by_role("button", name="Sign in").click()
        agent.wait_for_load_state("load")
        agent.goto(live.url + "/inbox?lang=ko&queue=all")
        agent.locator("#inbox-list li[data-conversation] a").first.click()
        agent.wait_for_load_state("load")
        agent.locator("#thread li", has_text="챗봇이 상담원에게 넘김: 고객이 상담원을 요청했어요").wait_for()
        agent.locator("#thread li", has_text="배송비 얼마예요?").first.wait_for()
        agent.get_by_label("답장", exact=True).last.fill("안녕하세요, 김상담입니다. 무엇을 도와드릴까요?")
        agent.get_by_role("button", name="답장 보내기").click()
        agent.wait_for_load_state("load")
        chat.locator("li.out", has_text="김상담입니다").wait_for()

        # From now on the bot is silent in this conversation.
        box.fill("배송비 말고 반품은 어떻게 해요?")
        box.press("Enter")
        agent.locator("#thread li.inbound", has_text="반품은 어떻게 해요").wait_for()
        shopper.wait_for_timeout(2_000)  # four rounds of the bot's worker
        listed = live.http.get("/v1/conversations", params={"status": "all"}, headers=bearer())
        assert listed.status_code == 200, listed.text
        (conversation,) = listed.json()["conversations"]
        conversation_id = conversation["id"]
        assert "bot-handover" in conversation["tags"]
        thread = live.http.get(f"/v1/conversations/{conversation_id}/messages", headers=bearer()).json()["messages"]
        authors = [m["author"]["kind"] for m in thread if not m["private"]]
        assert authors[-2:] == ["agent", "customer"], authors
        assert authors.count("bot") == 3, authors  # the answer, "not sure" with its button, the handover
        _shoot(shopper, "assistant-handover-ko", full=False)
        _shoot(agent, "assistant-inbox-ko")
        assert not [p for p in problems if "favicon" not in p], problems
    finally:
        worker.stop()
        shopper_ctx.close()
        agent_ctx.close()
