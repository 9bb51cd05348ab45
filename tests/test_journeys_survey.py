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
