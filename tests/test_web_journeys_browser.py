"""Journeys and Messages in Chromium over a small demo shop: a marketer creates the abandoned-cart
journey in the editor, validates, publishes and pauses it; the runner (driven here with a clock, the
server runs none) moves three shoppers through it; the graph, the delivery log and the customer page
show what happened. Desktop and phone screenshots of every new page go to screenshots/.

Runs on the embedded backend only; test_web_journeys.py covers the same pages on both backends."""

from __future__ import annotations

import copy
import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
import yaml

from journey_helpers import ABANDONED_CART
from support import WRITE_KEY, basic
from test_web_browser import _context, _free_port, _watched, browser, go, playwright_api, shoot, sign_in
from touchline.app import create_app
from touchline.demo.generator import generate
from touchline.journeys.runner import Runner
from touchline.messaging import service as messaging
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.workspaces.service import workspace_id_by_name
from web_helpers import add_user

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]
__all__ = ["browser"]  # the Chromium fixture, shared with test_web_browser.py

# Yesterday, 11:00 in Seoul: outside quiet hours, inside the Messages page's default period.
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
SHOPPERS = (("jb-1", True), ("jb-2", True), ("jb-3", False))  # (userId, e-mail consent)
TEMPLATE = {
    "ko": {"subject": "{{ profile.traits.name }}님, 장바구니를 잊으셨어요", "html": "<p>{{ cart.product }}</p>"},
    "en": {"subject": "{{ profile.traits.name }}, you left something", "html": "<p>{{ cart.product }}</p>"},
}


@dataclass
class Shop:
    url: str
    stores: Stores
    workspace_id: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("journeys"), write_key=WRITE_KEY))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    generate(stores, workspace_id, customers=150, seed=11)
    stores.pump()
    for key in ("cart-reminder", "cart-coupon-10"):
        messaging.save_template(stores, workspace_id, key, "email", TEMPLATE)
    add_user(stores, "marketer@example.com", "marketer")
    port = _free_port()
    # No background threads: the test moves the runner's clock itself (and the pump has nothing to move).
    app = create_app(stores=stores, run_pump=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="journeys-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield Shop(f"http://127.0.0.1:{port}", stores, workspace_id)
    server.should_exit = True
    thread.join(timeout=30)
    stores.dispose()


@pytest.fixture(scope="module")
def tab(browser: object, shop: Shop) -> Iterator[object]:
    context = _context(browser)
    page, errors = _watched(context)
    sign_in(page, shop, then="/journeys")  # type: ignore[arg-type]
    yield page
    context.close()  # type: ignore[attr-defined]
    assert not errors, errors


def _journey_yaml() -> str:
    d = copy.deepcopy(ABANDONED_CART)
    d.update({"holdout_percent": 0})
    d.pop("version")
    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)


def _carts(shop: Shop) -> None:
    batch = []
    for user, consent in SHOPPERS:
        batch += [
            {"type": "identify", "userId": user, "messageId": f"i-{user}",
             "timestamp": (T0 - dt.timedelta(minutes=5)).isoformat(),
             "traits": {"name": f"손님 {user[-1]}", "email": f"{user}@example.com", "locale": "ko-KR",
                        "consent": {"email": consent}}, "context": {"channel": "web"}},
            {"type": "track", "userId": user, "event": "Product Added", "messageId": f"a-{user}",
             "timestamp": T0.isoformat(), "context": {"channel": "app"},
             "properties": {"cart_id": f"c-{user}", "product": "무선 키보드", "price": 89000}},
        ]
    r = httpx.post(shop.url + "/v1/batch", json={"batch": batch}, headers=basic(), timeout=30)
    assert r.status_code == 200, r.text


def _count(page: object, node: str, key: str) -> str:
    return page.locator(f'[data-node="{node}"] [data-count="{key}"]').text_content()  # type: ignore[attr-defined,no-any-return]


def test_journey_messages_and_customer(tab: object, shop: Shop) -> None:
    """One test, in steps that build on each other (a module fixture is not enough: pytest-xdist may run
    another module's tests in between and tear it down)."""
    create_publish_and_run(tab, shop)
    messages_log_and_customer(tab, shop)
    previews_what_is_sent_and_the_lift(tab, shop)
    a_failing_journey_is_paused(tab, shop)


def create_publish_and_run(tab: object, shop: Shop) -> None:
    expect = playwright_api.expect
    page = tab
    expect(page.get_by_role("heading", name="Journeys", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_text("No journeys yet.")).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "20-journeys-empty")
    go(page, "New journey", exact=False)
    editor = page.get_by_label("Definition", exact=True)  # type: ignore[attr-defined]
    expect(editor).to_have_value(re.compile("Welcome series"))
    # A typo first: the error names the field.
    editor.fill(_journey_yaml().replace("next: wait_a_day", "next: wait_a_dya"))
    page.get_by_role("button", name="Validate").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("alert")).to_contain_text("/nodes/1/next")  # type: ignore[attr-defined]
    expect(page.get_by_role("alert")).to_contain_text("unknown node 'wait_a_dya'")  # type: ignore[attr-defined]
    shoot(page, "21-journey-editor-error")
    page.get_by_label("Definition", exact=True).fill(_journey_yaml())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Validate").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("The definition is valid: 7 steps.")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Create journey").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Journey saved as version 1.")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="Abandoned cart draft")).to_be_visible()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Validate").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Version 1 is valid and can be published.")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Publish version 1").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Journey published.")  # type: ignore[attr-defined]

    # Three shoppers leave carts; an hour later two get the reminder, one has not consented.
    _carts(shop)
    email = MemoryChannel("email")
    runner = Runner(shop.stores, outbox=Outbox(shop.stores, channels={"email": email}), clock=lambda: T0)
    assert runner.tick(T0).entered == 3
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert sorted(m.to for m in email.messages) == ["jb-1@example.com", "jb-2@example.com"]
    page.reload()  # type: ignore[attr-defined]
    expect(page.locator('[data-stat="entered"]')).to_have_text("3")  # type: ignore[attr-defined]
    assert _count(page, "__trigger__", "entered") == "3"
    assert _count(page, "wait_for_order", "entered") == "3"
    assert _count(page, "reminder", "sent") == "2"
    assert _count(page, "reminder", "suppressed") == "1"
    expect(page.locator('[data-node="reminder"]')).to_contain_text("no consent")  # type: ignore[attr-defined]
    assert _count(page, "wait_a_day", "waiting") == "3"
    expect(page.locator("svg.flow")).to_contain_text("timeout · 3")  # type: ignore[attr-defined]
    expect(page.locator('#steps tr[data-step="reminder"]')).to_contain_text("no consent 1")  # type: ignore[attr-defined]
    shoot(page, "22-journey")

    page.get_by_role("button", name="Pause").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_contain_text("Journey paused")  # type: ignore[attr-defined]
    expect(page.get_by_role("button", name="Resume")).to_be_visible()  # type: ignore[attr-defined]
    go(page, "Journeys")
    row = page.locator('tr[data-journey="abandoned-cart"]')  # type: ignore[attr-defined]
    expect(row).to_contain_text("paused")
    expect(row.locator('[data-col="entered"]')).to_have_text("3")
    expect(row.locator('[data-col="active"]')).to_have_text("3")
    shoot(page, "23-journeys")
    page.goto(shop.url + "/journeys/abandoned-cart?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("button", name="재개")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator('[data-node="reminder"]')).to_contain_text("수신 동의 없음")  # type: ignore[attr-defined]
    shoot(page, "24-journey-ko")
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Resume").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Journey resumed.")  # type: ignore[attr-defined]


def messages_log_and_customer(tab: object, shop: Shop) -> None:
    expect = playwright_api.expect
    page = tab
    page.goto(shop.url + "/journeys")  # type: ignore[attr-defined]
    go(page, "Messages")
    rows = page.locator("#log tbody tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(3)
    email_row = page.locator('#by-channel tr[data-channel="email"]')  # type: ignore[attr-defined]
    expect(email_row.locator('[data-col="sent"]')).to_have_text("2")
    page.get_by_label("Status").select_option("suppressed")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Filter").click()  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"status=suppressed"))
    expect(rows).to_have_count(1)
    expect(rows.first.locator('[data-col="reason"]')).to_have_text("no consent")
    expect(rows.first).to_contain_text("Abandoned cart")
    page.get_by_label("Status").select_option("")  # type: ignore[attr-defined]
    page.get_by_label("Channel", exact=True).select_option("email")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Filter").click()  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"channel=email"))
    expect(rows).to_have_count(2)
    expect(page.locator('#log [data-status="sent"]')).to_have_count(2)  # type: ignore[attr-defined]
    shoot(page, "25-messages")

    page.goto(shop.url + "/messages/templates")  # type: ignore[attr-defined]
    page.get_by_label("Customer (e-mail, phone or id)").fill("jb-1@example.com")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Preview").click()  # type: ignore[attr-defined]
    expect(page.locator(".rendered")).to_contain_text("손님 1님, 장바구니를 잊으셨어요")  # type: ignore[attr-defined]
    shoot(page, "26-templates")

    page.goto(shop.url + "/customers/jb-1")  # type: ignore[attr-defined]
    journeys = page.locator("#journeys")  # type: ignore[attr-defined]
    expect(journeys.get_by_role("link", name="Abandoned cart")).to_be_visible()
    expect(journeys).to_contain_text("wait_a_day")
    expect(page.locator("#messages")).to_contain_text("cart-reminder")  # type: ignore[attr-defined]
    expect(page.locator("#messages")).to_contain_text("sent")  # type: ignore[attr-defined]
    shoot(page, "27-customer-journeys")
    page.goto(shop.url + "/customers/jb-3")  # type: ignore[attr-defined]
    expect(page.locator("#messages")).to_contain_text("no consent")  # type: ignore[attr-defined]


OPT_OUT = "무료수신거부 080-123-4567"
SMS_TEXT = {"ko": {"text": "{{ event.name }}({{ event.price | krw }}) 결제가 아직 끝나지 않았어요.\n"
                           "https://shop.example/checkout?cart={{ event.cart_id }}"},
            "en": {"text": "{{ event.name }} ({{ event.price | krw }}): your checkout is not finished.\n"
                           "https://shop.example/checkout?cart={{ event.cart_id }}"}}
CHECKOUT_SMS = {
    "id": "checkout-sms", "name": "Checkout reminder (SMS)",
    "trigger": {"type": "event", "event": "Checkout Started", "where": [{"property": "cart_id", "operator": "exists"}]},
    "goal": {"event": "Order Completed", "key": "cart_id", "within": "3d"}, "holdout_percent": 50,
    "start": "wait", "nodes": [
        {"type": "wait", "id": "wait", "until_event": {"event": "Order Completed", "key": "cart_id", "timeout": "1h"},
         "next": "done", "timeout_next": "remind"},
        {"type": "send", "id": "remind", "channel": "sms", "template": "checkout-reminder", "kind": "advertising",
         "next": "linger"},
        {"type": "wait", "id": "linger", "duration": "2d", "next": "done"},  # the goal's window, still live
        {"type": "exit", "id": "done"}]}


def previews_what_is_sent_and_the_lift(tab: object, shop: Shop) -> None:
    """Issue 13 part 3: the SMS preview renders the journey's cart with the (광고) prefix, the sender's name and
    the 080 opt-out line, the delivery log shows the text as sent, and the journey page puts each group's
    conversions beside its rate, the lift in points; in English and Korean."""
    from touchline.journeys import service as journeys

    expect = playwright_api.expect
    page = tab
    shop.stores.settings.sms_ad_sender_name = "하루마켓"
    shop.stores.settings.sms_ad_opt_out_line = OPT_OUT
    messaging.save_template(shop.stores, shop.workspace_id, "checkout-reminder", "sms", SMS_TEXT)
    journeys.create(shop.stores, shop.workspace_id, CHECKOUT_SMS)
    journeys.publish(shop.stores, shop.workspace_id, "checkout-sms")
    at = T0 + dt.timedelta(hours=1)
    users = [f"sb-{i}" for i in range(12)]
    batch: list[dict[str, object]] = []
    for i, user in enumerate(users):
        batch += [{"type": "identify", "userId": user, "messageId": f"i-{user}", "timestamp": at.isoformat(),
                   "traits": {"name": f"문자 손님 {i}", "phone": f"010-5555-{i:04d}", "locale": "ko-KR",
                              "preferred_channel": "sms", "consent": {"sms": True}}},
                  {"type": "track", "userId": user, "event": "Checkout Started", "messageId": f"c-{user}",
                   "timestamp": at.isoformat(),
                   "properties": {"cart_id": f"s-{user}", "name": "무선 키보드", "price": 89000}}]
    assert httpx.post(shop.url + "/v1/batch", json={"batch": batch}, headers=basic(), timeout=30).status_code == 200
    sms = MemoryChannel("sms")
    runner = Runner(shop.stores, outbox=Outbox(shop.stores, channels={"sms": sms}), clock=lambda: at)
    runner.tick(at)
    runner.tick(at + dt.timedelta(minutes=61))
    assert sms.messages, "no SMS went out"
    sent = sms.messages[0].content.text or ""
    assert sent.startswith("(광고)하루마켓 무선 키보드(89,000원)") and sent.endswith(OPT_OUT)
    # Some buy after the reminder, in both groups (the holdout heard nothing).
    orders = [{"type": "track", "userId": user, "event": "Order Completed", "messageId": f"o-{user}",
               "timestamp": (at + dt.timedelta(hours=3)).isoformat(), "properties": {"cart_id": f"s-{user}"}}
              for user in users[:7]]
    assert httpx.post(shop.url + "/v1/batch", json={"batch": orders}, headers=basic(), timeout=30).status_code == 200
    runner.tick(at + dt.timedelta(hours=3))

    page.goto(shop.url + "/journeys/checkout-sms?lang=en")  # type: ignore[attr-defined]
    page.locator('[data-previews] a', has_text="SMS").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    text = page.locator('.rendered [data-part="text"]')  # type: ignore[attr-defined]
    # The journey's latest customer (all entered at once: any of them), and exactly what an SMS carried.
    as_sent = re.compile(r"^\(광고\)하루마켓 무선 키보드\(89,000원\) 결제가 아직 끝나지 않았어요\.\s+"
                         r"https://shop\.example/checkout\?cart=s-sb-\d+\s+" + re.escape(OPT_OUT) + "$")
    assert as_sent.match(sent)
    expect(text).to_have_text(as_sent)
    expect(page.locator("[data-preview-context]")).to_contain_text("Sent by Checkout reminder (SMS), step remind")  # type: ignore[attr-defined]
    shoot(page, "31-template-preview-sms")
    page.goto(page.url.replace("#preview", "") + "&lang=ko#preview")  # type: ignore[attr-defined]
    expect(text).to_have_text(as_sent)
    expect(page.locator("[data-preview-context]")).to_contain_text("remind 단계에서 발송")  # type: ignore[attr-defined]
    shoot(page, "32-template-preview-sms-ko")

    page.goto(shop.url + "/messages?journey=checkout-sms&status=sent&lang=en")  # type: ignore[attr-defined]
    first = page.locator("#log tbody tr").first  # type: ignore[attr-defined]
    first.locator("summary").click()
    expect(first.locator('[data-part="text"]')).to_contain_text(OPT_OUT)
    expect(first.locator('[data-part="text"]')).to_contain_text("(광고)하루마켓 무선 키보드")
    shoot(page, "33-messages-sent-content")

    page.goto(shop.url + "/journeys/checkout-sms?lang=en")  # type: ignore[attr-defined]
    stats = journeys.stats(shop.stores, shop.workspace_id, "checkout-sms")
    expect(page.locator('[data-stat="converted"]')).to_have_text(str(stats["treated"]["converted"]))  # type: ignore[attr-defined]
    if stats["holdout"]["runs"]:
        expect(page.locator('[data-stat="holdout-converted"]')).to_have_text(str(stats["holdout"]["converted"]))  # type: ignore[attr-defined]
        expect(page.locator('[data-stat="lift"]')).to_have_text(re.compile(r"^[+-]\d+\.\d pts$"))  # type: ignore[attr-defined]
    shoot(page, "34-journey-lift")
    page.goto(shop.url + "/journeys/checkout-sms?lang=ko")  # type: ignore[attr-defined]
    if stats["holdout"]["runs"]:
        expect(page.locator('[data-stat="lift"]')).to_have_text(re.compile(r"^[+-]\d+\.\d%p$"))  # type: ignore[attr-defined]
    shoot(page, "35-journey-lift-ko")
    page.goto(shop.url + "/journeys?lang=en")  # type: ignore[attr-defined]


def a_failing_journey_is_paused(tab: object, shop: Shop) -> None:
    """A journey whose webhook body fails for every customer: its runs fail alone and it is paused with an
    alert, on its page and in the list, in English and Korean."""
    from touchline.journeys import service as journeys

    expect = playwright_api.expect
    page = tab
    shop.stores.settings.journey_pause_failures = 3
    doc = {"id": "cart-webhook", "name": "Cart webhook", "trigger": {"type": "event", "event": "Product Added"},
           "start": "notify", "nodes": [
               {"type": "webhook", "id": "notify", "url": "https://hooks.example/cart",
                "body": '{"price": {{ event.product / 100 }}}', "next": "done"},
               {"type": "exit", "id": "done"}]}
    journeys.create(shop.stores, shop.workspace_id, doc)
    journeys.publish(shop.stores, shop.workspace_id, "cart-webhook")
    at = T0 + dt.timedelta(hours=3)
    batch = [{"type": "track", "userId": user, "event": "Product Added", "messageId": f"w-{user}",
              "timestamp": at.isoformat(), "properties": {"cart_id": f"w-{user}", "product": "무선 키보드"}}
             for user, _ in SHOPPERS]
    assert httpx.post(shop.url + "/v1/batch", json={"batch": batch}, headers=basic(), timeout=30).status_code == 200
    Runner(shop.stores, outbox=Outbox(shop.stores, channels={"email": MemoryChannel("email")})).tick(at)

    page.goto(shop.url + "/journeys/cart-webhook?lang=en")  # type: ignore[attr-defined]
    alert = page.locator('[data-alert="failing_runs"]')  # type: ignore[attr-defined]
    expect(alert).to_contain_text("Paused automatically")
    expect(alert).to_contain_text("3 runs of this journey failed within 60 minutes")
    expect(alert).to_contain_text("webhook 'notify': the body did not render: TypeError")
    expect(page.locator("#runs")).to_contain_text("retrying (failed 1×)")  # type: ignore[attr-defined]
    assert _count(page, "__trigger__", "failing") == "3"
    expect(page.get_by_role("button", name="Resume")).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "28-journey-alert")
    go(page, "Journeys")
    expect(page.locator('tr[data-journey="cart-webhook"]')).to_contain_text("alert: runs failing")  # type: ignore[attr-defined]
    page.goto(shop.url + "/journeys/cart-webhook?lang=ko")  # type: ignore[attr-defined]
    expect(alert).to_contain_text("자동으로 일시 중지됨")
    expect(alert).to_contain_text("이 여정의 실행 3건이 60분 안에 실패하여")
    shoot(page, "29-journey-alert-ko")
    go(page, "여정")
    expect(page.locator('tr[data-journey="cart-webhook"]')).to_contain_text("알림: 실행 실패")  # type: ignore[attr-defined]
    shoot(page, "30-journeys-alert-ko")
    page.goto(shop.url + "/journeys/cart-webhook?lang=en")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Resume").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Journey resumed.")  # type: ignore[attr-defined]
    expect(alert).to_have_count(0)
