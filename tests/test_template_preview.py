"""A template's preview shows exactly what is sent (issue 13 part 3), on both backends: the SMS cart reminder
rendered with the cart of the journey's trigger (not ``() … cart=``), with the ``(광고)`` prefix, the sender's
name and the free 080 opt-out line the channel adds; the delivery log holds the same text as it was sent.
Through the API and the dashboard, as a marketer would."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from journey_helpers import ABANDONED_CART
from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.settings import Settings
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in

# Two days ago at 11:00 in Seoul: outside quiet hours, recent enough to start runs.
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
OPT_OUT = "무료수신거부 080-123-4567"
SMS = {"default_locale": "ko", "variants": {
    "ko": {"text": "{{ event.name }}({{ event.price | krw }}) 상품이 아직 장바구니에 있어요.\n"
                   "https://shop.example/cart?cart={{ event.cart_id }}"},
    "en": {"text": "{{ event.name }} ({{ event.price | krw }}) is still in your cart.\n"
                   "https://shop.example/cart?cart={{ event.cart_id }}"}}}
EMAIL = {"default_locale": "ko", "variants": {"ko": {"subject": "{{ profile.traits.name }}님, 장바구니를 잊으셨어요",
                                                    "html": "<p>{{ cart.name }}</p>"}}}
# What the channel must send for Kim's cart: (광고) and the sender's name, the content, the opt-out line.
KIM_SMS = ("(광고)하루마켓 울 니트(59,000원) 상품이 아직 장바구니에 있어요.\n"
           f"https://shop.example/cart?cart=cart-9\n{OPT_OUT}")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shop's marking of Korean advertising SMS (TOUCHLINE_SMS_AD_SENDER_NAME, _OPT_OUT_LINE)."""
    settings.sms_ad_sender_name = "하루마켓"
    settings.sms_ad_opt_out_line = OPT_OUT
    return settings


def _journey(client: TestClient) -> None:
    for key in ("cart-reminder", "cart-coupon-10"):
        assert client.put(f"/v1/templates/{key}/sms", json=SMS, headers=bearer()).status_code == 200
    assert client.put("/v1/templates/cart-reminder/email", json=EMAIL, headers=bearer()).status_code == 200
    definition = {**ABANDONED_CART, "holdout_percent": 0}
    definition.pop("version")
    assert client.post("/v1/journeys", json=definition, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).status_code == 200


def _kim(client: TestClient, *, cart: bool = True) -> None:
    batch: list[dict[str, Any]] = [
        {"type": "identify", "userId": "kim", "messageId": "i-kim", "timestamp": (T0 - dt.timedelta(minutes=5))
         .isoformat(), "traits": {"name": "김지은", "phone": "010-1234-5678", "locale": "ko-KR",
                                  "preferred_channel": "sms", "consent": {"sms": True, "email": True}}}]
    if cart:
        batch.append({"type": "track", "userId": "kim", "event": "Product Added", "messageId": "add-kim",
                      "timestamp": T0.isoformat(),
                      "properties": {"cart_id": "cart-9", "product_id": "knit-01", "name": "울 니트", "price": 59000}})
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200


def _preview(client: TestClient, channel: str = "sms", **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/templates/cart-reminder/{channel}/preview", json=body, headers=bearer())
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_preview_renders_the_journeys_cart_and_the_marking_the_channel_sends(client: TestClient,
                                                                                   stores: Stores) -> None:
    _journey(client)
    _kim(client, cart=False)
    # No cart anywhere yet: a sample cart of the trigger's kind, never "() … cart=".
    sample = _preview(client, identifier="user_id:kim")
    assert sample["context"]["source"] == "sample" and sample["kind"] == "advertising"
    assert sample["journey"]["id"] == "abandoned-cart" and sample["journey"]["node_id"] == "reminder"
    assert sample["content"]["text"] == ("(광고)하루마켓 샘플 상품(59,000원) 상품이 아직 장바구니에 있어요.\n"
                                         f"https://shop.example/cart?cart=sample-cart\n{OPT_OUT}")

    # Kim leaves a cart: her Product Added, as the journey's trigger would start her run with it.
    _kim(client)
    before = _preview(client, identifier="user_id:kim")
    assert before["context"]["source"] == "event" and before["context"]["event"]["cart_id"] == "cart-9"
    assert before["content"]["text"] == KIM_SMS and before["to"] == "+821012345678"
    email = _preview(client, "email", identifier="user_id:kim")
    assert email["content"]["subject"] == "(광고) 김지은님, 장바구니를 잊으셨어요"
    assert "<p>울 니트</p>" in email["content"]["html"]  # ``cart`` is the trigger event, as in a send

    # The journey sends it: the channel gets, and the log keeps, exactly what the preview showed.
    sms = MemoryChannel("sms")
    runner = Runner(stores, outbox=Outbox(stores, channels={"sms": sms}))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    (sent,) = sms.messages
    assert sent.content.text == KIM_SMS
    (logged,) = client.get("/v1/messages", params={"identifier": "user_id:kim"}, headers=bearer()).json()["messages"]
    assert (logged["status"], logged["channel"], logged["content"]["text"]) == ("sent", "sms", KIM_SMS)

    # Now from her run: its trigger, as the send step had it; without a customer named, hers too.
    after = _preview(client, identifier="user_id:kim")
    assert after["context"]["source"] == "run" and after["content"]["text"] == KIM_SMS
    anyone = _preview(client)
    assert anyone["context"]["source"] == "run" and anyone["content"]["text"] == KIM_SMS
    assert anyone["profile_id"] == after["profile_id"]
    # Transactional messages carry no marking; English ones neither.
    plain = _preview(client, identifier="user_id:kim", kind="transactional")
    assert plain["content"]["text"] == KIM_SMS.removeprefix("(광고)하루마켓 ").removesuffix(f"\n{OPT_OUT}")


def test_without_an_opt_out_line_a_korean_ad_sms_is_neither_previewed_nor_sent(client: TestClient,
                                                                                stores: Stores) -> None:
    stores.settings.sms_ad_opt_out_line = None
    _journey(client)
    _kim(client)
    refused = _preview(client, identifier="user_id:kim")
    assert refused["content"] is None and refused["suppressed"] == "missing_opt_out_line"
    sms = MemoryChannel("sms")
    runner = Runner(stores, outbox=Outbox(stores, channels={"sms": sms}))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert not sms.messages
    (logged,) = client.get("/v1/messages", params={"identifier": "user_id:kim"}, headers=bearer()).json()["messages"]
    assert (logged["status"], logged["channel"], logged["reason"]) == ("suppressed", "sms", "missing_opt_out_line")


def _text(html: str, attribute: str) -> str:
    found = re.search(rf'<dd class="break" {attribute}>(.*?)</dd>', html, re.S)
    assert found, f"no {attribute} on the page"
    return found.group(1)


def test_the_dashboard_previews_and_logs_what_is_sent(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    _journey(client)
    _kim(client)
    sign_in(client, "m@example.com")
    escaped = KIM_SMS  # nothing in it that HTML escapes

    # The journey page links each send step to its preview, per channel the template has.
    journey = client.get("/journeys/abandoned-cart?lang=en").text
    assert "/messages/templates?key=cart-reminder&amp;channel=sms&amp;journey=abandoned-cart#preview" in journey
    for lang, says in (("en", "Sent by Abandoned cart, step reminder"), ("ko", "Abandoned cart 여정의 reminder 단계")):
        page = client.get("/messages/templates", params={"key": "cart-reminder", "channel": "sms",
                                                         "journey": "abandoned-cart", "lang": lang}).text
        assert _text(page, 'data-part="text"') == escaped, lang
        assert says in page and 'data-preview-context="event"' in page
    # A customer named: theirs. None named: the journey's latest.
    named = client.get("/messages/templates?key=cart-reminder&channel=sms&customer=kim&lang=en").text
    assert _text(named, 'data-part="text"') == escaped and "김지은" in named

    sms = MemoryChannel("sms")
    runner = Runner(stores, outbox=Outbox(stores, channels={"sms": sms}))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    for lang in ("en", "ko"):
        log = client.get("/messages", params={"journey": "abandoned-cart", "lang": lang}).text
        assert _text(log, 'data-part="text"') == escaped, lang

    # Without an opt-out line the page says why nothing would go out.
    stores.settings.sms_ad_opt_out_line = None
    for lang, says in (("en", "This message would not be sent: no opt-out line."),
                       ("ko", "이 메시지는 발송되지 않습니다: 수신 거부 안내 누락.")):
        page = client.get("/messages/templates", params={"key": "cart-reminder", "channel": "sms", "lang": lang}).text
        assert says in page and "TOUCHLINE_SMS_AD_OPT_OUT_LINE" in page, lang
    client.get("/messages?lang=en")
