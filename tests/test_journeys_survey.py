"""A journey's survey step through the HTTP API, on every backend: it sends the built-in NPS or CSAT message
(copied into the workspace when the journey is published, where the marketer may edit it, and never
overwritten after) in the customer's language, with a one-click button per score in e-mail; the answer comes
back under the step's survey name, once; a survey step naming a template the workspace lacks is refused."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores

T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)

AFTER_ORDER: dict[str, Any] = {
    "id": "after-order", "name": "After the order",
    "trigger": {"type": "event", "event": "Order Completed"},
    "start": "ask",
    "nodes": [
        {"type": "survey", "id": "ask", "survey": "post-purchase", "channel": "email", "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}


def _shoppers(client: TestClient) -> None:
    batch: list[dict[str, Any]] = []
    for user, name, locale in (("u-ko", "김지은", "ko-KR"), ("u-en", "Emma", "en-GB")):
        batch.append({"type": "identify", "userId": user, "messageId": f"i-{user}",
                      "timestamp": (T0 - dt.timedelta(minutes=5)).isoformat(),
                      "traits": {"name": name, "email": f"{user}@example.com", "locale": locale,
                                 "consent": {"email": True}}})
        batch.append({"type": "track", "userId": user, "event": "Order Completed", "messageId": f"o-{user}",
                      "timestamp": T0.isoformat(), "properties": {"order_id": f"HM-{user}", "total": 59000}})
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200


def test_a_survey_step_sends_the_built_in_survey_and_its_answer_comes_back(client: TestClient,
                                                                            stores: Stores) -> None:
    assert client.get("/v1/templates", params={"key": "survey-nps"}, headers=bearer()).json()["templates"] == []
    assert client.post("/v1/journeys", json=AFTER_ORDER, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/after-order/publish", headers=bearer()).status_code == 200
    installed = client.get("/v1/templates", params={"key": "survey-nps"}, headers=bearer()).json()["templates"]
    assert {t["channel"] for t in installed} == {"email", "sms", "messenger", "push", "in_app"}

    _shoppers(client)
    stores.pump()
    email = MemoryChannel("email")
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email}))
    runner.tick(T0 + dt.timedelta(minutes=1))
    runner.tick(T0 + dt.timedelta(minutes=2))  # nothing sent twice
    by_to = {m.to: m.content for m in email.messages}
    assert set(by_to) == {"u-ko@example.com", "u-en@example.com"} and len(email.messages) == 2
    ko, en = by_to["u-ko@example.com"], by_to["u-en@example.com"]
    assert ko.subject == "잠깐 설문에 답해 주시겠어요?"  # transactional: no (광고) marking
    assert "김지은님, 저희 쇼핑몰을 친구나 지인에게 추천하실 가능성" in ko.html
    assert en.subject == "A quick question for you" and "Hi Emma! How likely" in en.html
    # One button per score, 0 to 10, each through the click tracking to the signed one-click answer.
    tracked = re.findall(r'href="https?://[^/"]+(/t/c/[^"]+)"', ko.html)
    targets = [client.get(t, follow_redirects=False).headers["location"] for t in tracked]
    scores = [re.search(r"/(s/[^?]+)\?score=(\d+)$", t) for t in targets]
    assert [int(m.group(2)) for m in scores if m] == list(range(11)), targets
    path = scores[9].group(1)  # type: ignore[union-attr]

    clicked = client.get(f"/{path}", params={"score": 9})
    assert clicked.status_code == 200 and 'value="9" required checked' in clicked.text
    assert client.post(f"/{path}", data={"score": "9", "comment": "빨리 왔어요"}).status_code == 200
    assert client.post(f"/{path}", data={"score": "2"}).status_code == 200  # a second press changes nothing
    answers = client.get("/v1/feedback/answers", params={"survey": "post-purchase"}, headers=bearer()).json()
    assert [(a["survey"], a["kind"], a["score"], a["channel"], a["comment"]) for a in answers["answers"]] == [
        ("post-purchase", "nps", 9, "email", "빨리 왔어요")]
    assert client.get("/v1/profiles/u-ko", headers=bearer()).json()["traits"]["nps_score"] == 9


def test_the_marketers_edit_of_the_built_in_survey_is_kept(client: TestClient, stores: Stores) -> None:
    mine = {"default_locale": "ko", "variants": {"ko": {
        "subject": "하루마켓 만족도 조사", "text": "{{ survey_link(survey.name, survey.scale) }}"}}}
    assert client.put("/v1/templates/survey-csat/email", json=mine, headers=bearer()).status_code == 200
    csat = {**AFTER_ORDER, "id": "csat-after-order", "nodes": [
        {"type": "survey", "id": "ask", "survey": "delivery", "scale": "csat", "channel": "email", "next": "done"},
        {"type": "exit", "id": "done"}]}
    assert client.post("/v1/journeys", json=csat, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/csat-after-order/publish", headers=bearer()).status_code == 200
    templates = client.get("/v1/templates", params={"key": "survey-csat"}, headers=bearer()).json()["templates"]
    assert [t["channel"] for t in templates] == ["email"]  # the workspace had its own: nothing copied over it
    assert templates[0]["variants"]["ko"]["subject"] == "하루마켓 만족도 조사"

    _shoppers(client)
    stores.pump()
    email = MemoryChannel("email")
    Runner(stores, outbox=Outbox(stores, channels={"email": email})).tick(T0 + dt.timedelta(minutes=1))
    assert {m.content.subject for m in email.messages} == {"하루마켓 만족도 조사"}
    link = next(m for m in email.messages if m.to == "u-ko@example.com").content.text
    page = client.get("/" + link.strip().split("://", 1)[1].split("/", 1)[1])
    assert page.status_code == 200 and "만족" in page.text  # the CSAT page, for the survey "delivery"


def test_survey_steps_that_cannot_send_are_refused(client: TestClient) -> None:
    own = {**AFTER_ORDER, "nodes": [
        {"type": "survey", "id": "ask", "template": "no-such-template", "channel": "email", "next": "done"},
        {"type": "exit", "id": "done"}]}
    checked = client.post("/v1/journeys/validate", json=own, headers=bearer()).json()
    assert not checked["valid"]
    assert [p["field"] for p in checked["problems"]] == ["/nodes/0/template"]
    for bad, field in (({"survey": "Post Purchase"}, "survey"), ({"scale": "ces"}, "scale"),
                       ({"channel": "fax"}, "channel")):
        node = {"type": "survey", "id": "ask", "channel": "email", "next": "done", **bad}
        refused = client.post("/v1/journeys", json={**AFTER_ORDER, "nodes": [node, {"type": "exit", "id": "done"}]},
                              headers=bearer())
        assert refused.status_code == 422 and field in refused.text, (bad, refused.text)


IN_CHAT: dict[str, Any] = {
    "id": "ask-in-chat", "name": "NPS in the chat",
    "trigger": {"type": "event", "event": "Order Completed"},
    "start": "ask",
    "nodes": [
        {"type": "survey", "id": "ask", "survey": "shop-nps", "scale": "nps", "channel": "chat", "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}


def test_a_survey_step_on_the_chat_asks_in_the_chat_window_with_a_button_per_score(client: TestClient,
                                                                                  stores: Stores) -> None:
    bad = client.post("/v1/journeys", json={**IN_CHAT, "nodes": [
        {**IN_CHAT["nodes"][0], "template": "my-survey"}, IN_CHAT["nodes"][1]]}, headers=bearer())
    assert bad.status_code == 422 and "template" in bad.text
    assert client.post("/v1/journeys", json=IN_CHAT, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/ask-in-chat/publish", headers=bearer()).status_code == 200
    # u-ko chatted with the shop, and the chat was resolved; u-en never chatted.
    chat = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": "anon-ko", "identifier": "u-ko", "client_message_id": "chat-ko-0001", "text": "배송 문의요",
        "language": "ko"})
    assert chat.status_code == 201, chat.text
    conversation_id = chat.json()["conversation_id"]
    assert client.post(f"/v1/conversations/{conversation_id}/resolve", headers=bearer()).status_code == 200
    _shoppers(client)
    stores.pump()
    runner = Runner(stores, outbox=Outbox(stores, channels={}))
    runner.tick(T0 + dt.timedelta(minutes=1))
    runner.tick(T0 + dt.timedelta(minutes=2))
    stores.pump()

    def history(anonymous_id: str, identifier: str) -> list[dict[str, Any]]:
        response = client.get("/v1/chat/messages", headers=basic(),
                              params={"anonymous_id": anonymous_id, "identifier": identifier})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    asked = [m for m in history("anon-ko", "u-ko") if m.get("survey")]
    assert len(asked) == 1, asked
    assert asked[0]["survey"] == {"kind": "nps", "survey": "shop-nps"} and "추천하실 가능성" in asked[0]["body"]
    assert history("anon-en", "u-en") == []  # never on the chat: not asked there

    def rate(score: Any) -> Any:
        return client.post("/v1/chat/rating", headers=basic(), json={
            "anonymous_id": "anon-ko", "identifier": "u-ko", "message_id": asked[0]["id"], "score": score})

    assert rate(11).status_code == 422
    assert rate(0).status_code == 200  # NPS: 0 is a score
    answers = client.get("/v1/feedback/answers", params={"survey": "shop-nps"}, headers=bearer()).json()["answers"]
    assert [(a["kind"], a["score"], a["channel"]) for a in answers] == [("nps", 0, "chat")]
    profile = client.get("/v1/profiles/u-ko", headers=bearer()).json()
    assert profile["traits"]["nps_score"] == 0 and profile["traits"]["nps_category"] == "detractor"
    assert any(e.get("event") == "Chat Survey Answered" for e in profile["timeline"])
    # Not a chat rating: the inbox report's CSAT does not count it.
    stats = client.get("/v1/conversations/stats", headers=bearer(), params={
        "start": (T0 - dt.timedelta(days=2)).isoformat(), "end": (T0 + dt.timedelta(days=2)).isoformat()}).json()
    assert stats["ratings"]["asked"] == 0


def test_conversations_on_other_channels_are_rated_by_a_journey_on_conversation_resolved(
        client: TestClient, stores: Stores) -> None:
    """The README's recipe for SMS (and WhatsApp, KakaoTalk, e-mail) conversations: a journey triggered by
    ``Conversation Resolved`` on that channel, with a CSAT survey step sending there."""
    journey = {"id": "rate-sms", "name": "Rate SMS conversations",
               "trigger": {"type": "event", "event": "Conversation Resolved",
                           "where": [{"property": "channel", "operator": "=", "value": "sms"}]},
               "start": "ask", "nodes": [
                   {"type": "survey", "id": "ask", "survey": "sms-support", "scale": "csat", "channel": "sms",
                    "next": "done"}, {"type": "exit", "id": "done"}]}
    assert client.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/rate-sms/publish", headers=bearer()).status_code == 200
    assert client.post("/v1/identify", headers=basic(), json={
        "userId": "u-sms", "messageId": "i-u-sms", "traits": {"name": "박민준", "phone": "010-5555-0002",
                                                              "locale": "ko-KR", "consent": {"sms": True}}}
                       ).status_code == 200
    started = client.post("/v1/conversations/inbound", headers=bearer(), json={
        "channel": "sms", "provider_message_id": "SM-rate-1", "customer": {"phone": "010-5555-0002"},
        "body": "교환 접수됐나요?"})
    assert started.status_code == 201, started.text
    conversation_id = started.json()["conversation"]["id"]
    replied = client.post(f"/v1/conversations/{conversation_id}/replies", headers=bearer(), json={
        "body": "네, 접수되었습니다.", "author": {"kind": "agent", "id": None}, "status": "resolved"})
    assert replied.status_code == 201, replied.text
    stores.pump()
    sms = MemoryChannel("sms")
    runner = Runner(stores, outbox=Outbox(stores, channels={"sms": sms}))
    now = dt.datetime.now(dt.UTC)
    runner.tick(now + dt.timedelta(seconds=5))
    runner.tick(now + dt.timedelta(seconds=10))
    surveys = [m for m in sms.messages if "/s/" in (m.content.text or "")]
    assert len(surveys) == 1, [m.content for m in sms.messages]
    assert surveys[0].to.endswith("1055550002") and "만족" in (surveys[0].content.text or "")
