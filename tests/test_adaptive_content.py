"""Adaptive content through the HTTP API, on every backend: blocks chosen by device, locale, local time,
segment, trait and predicted score; bad rules refused at save time naming the block and the field; the
preview of what each kind of customer gets; the send path choosing for the real customer; and the
predictions' scores, written as traits, choosing a block."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from journey_helpers import ABANDONED_CART
from prediction_helpers import send_shop
from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.adaptive import SCORE_TRAITS
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.predictions.service import TRAITS
from touchline.store.engines import Stores

HERO = {
    "rules": [
        {"when": {"platform": "app", "os": "ios"}, "content": {"ko": "아이폰 앱 쿠폰", "en": "iPhone app coupon"}},
        {"when": {"score": {"name": "churn_risk", "operator": ">", "value": 0.7}},
         "content": {"ko": "{{ profile.traits.name }}님, 다시 만나요: 15% 할인", "en": "We miss you: 15% off"}},
        {"when": {"segment": "VIP"}, "content": "VIP <b>early access</b>"},
        {"when": {"trait": {"name": "tier", "operator": "in", "value": ["gold", "silver"]}}, "content": "Tier perks"},
        {"when": {"locale": "en", "local_hour": {"from": 18, "to": 6}}, "content": "Tonight only"},
    ],
    "default": {"ko": "이번 주 신상품", "en": "New this week"},
}
EMAIL = {"default_locale": "ko", "blocks": {"hero": HERO},
         "variants": {"ko": {"subject": "하루마켓: {{ blocks.hero }}",
                             "html": "<h1>{{ blocks.hero }}</h1><p>{{ cart.name }}</p>"},
                      "en": {"subject": "Haru Market: {{ blocks.hero }}", "html": "<h1>{{ blocks.hero }}</h1>"}}}
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)


def _vip(client: TestClient) -> None:
    vip = {"type": "trait", "trait": "vip", "operator": "=", "value": True}
    assert client.post("/v1/segments", json={"name": "VIP", "definition": vip, "live": True},
                       headers=bearer()).status_code == 201


def _put(client: TestClient, body: dict[str, Any], key: str = "cart-reminder") -> Any:
    return client.put(f"/v1/templates/{key}/email", json=body, headers=bearer())


def test_blocks_are_saved_and_each_kind_of_customer_is_previewed(client: TestClient) -> None:
    _vip(client)
    saved = _put(client, EMAIL)
    assert saved.status_code == 200, saved.text
    assert saved.json()["blocks"]["hero"]["default"]["en"] == "New this week"
    (listed,) = client.get("/v1/templates", params={"key": "cart-reminder"}, headers=bearer()).json()["templates"]
    assert listed["blocks"] == EMAIL["blocks"]
    response = client.post("/v1/templates/preview-adaptive", json={"key": "cart-reminder", "channel": "email"},
                           headers=bearer())
    assert response.status_code == 200, response.text
    shown = {a["label"]: a for a in response.json()["audiences"]}
    assert list(shown) == ["default", "hero rule 1", "hero rule 2", "hero rule 3", "hero rule 4", "hero rule 5"]
    assert shown["default"]["blocks"]["hero"]["rule"] is None
    assert shown["default"]["content"]["subject"] == "하루마켓: 이번 주 신상품"
    for i in range(5):
        assert shown[f"hero rule {i + 1}"]["blocks"]["hero"] == {"rule": i, "when": HERO["rules"][i]["when"]}
    assert shown["hero rule 1"]["content"]["subject"] == "하루마켓: 아이폰 앱 쿠폰"
    assert shown["hero rule 2"]["audience"]["traits"]["churn_risk"] > 0.7
    assert shown["hero rule 2"]["content"]["subject"] == "하루마켓: 김하루님, 다시 만나요: 15% 할인"
    # HTML blocks: the block's own markup kept, the values inside it escaped, once
    assert "<h1>VIP <b>early access</b></h1>" in shown["hero rule 3"]["content"]["html"]
    assert shown["hero rule 5"]["content"]["subject"] == "Haru Market: Tonight only"

    # The caller's own kinds of customer, and a draft not saved yet
    audiences = [{"label": "Android, likely churner", "platform": "app", "os": "android", "locale": "en",
                  "local_hour": 9, "traits": {"churn_risk": 0.91}},
                 {"platform": "web", "locale": "ko", "local_hour": 22, "segments": ["VIP"]},
                 {"locale": "en", "local_hour": 23}]
    response = client.post("/v1/templates/preview-adaptive", json={"template": {**EMAIL, "channel": "email"},
                                                                   "audiences": audiences}, headers=bearer())
    assert response.status_code == 200, response.text
    first, second, third = response.json()["audiences"]
    assert first["label"] == "Android, likely churner" and first["blocks"]["hero"]["rule"] == 1
    assert first["content"]["subject"] == "Haru Market: We miss you: 15% off"
    assert second["label"] == "web, ko, 22h, segment VIP" and second["blocks"]["hero"]["rule"] == 2
    assert third["blocks"]["hero"]["rule"] == 4  # English at 23:00: the overnight window


@pytest.mark.parametrize(("block", "field", "reason"), [
    ({**HERO, "rules": [{"when": {"os": "windows"}, "content": "x"}]}, "blocks.hero.rules.0.when.os", "ios, android"),
    ({**HERO, "rules": [{"when": {"score": {"name": "churn_risk", "operator": ">", "value": 7}}, "content": "x"}]},
     "blocks.hero.rules.0.when.score.value", "0 to 1"),
    ({**HERO, "rules": [{"when": {"score": {"name": "ltv", "operator": ">", "value": 0.5}}, "content": "x"}]},
     "blocks.hero.rules.0.when.score.name", "churn_risk"),
    ({**HERO, "rules": [{"when": {}, "content": "x"}]}, "blocks.hero.rules.0.when", "at least one"),
    ({**HERO, "rules": [{"when": {"weather": "rain"}, "content": "x"}]}, "blocks.hero.rules.0.when.weather",
     "unknown condition"),
    ({**HERO, "rules": [{"when": {"local_hour": {"from": 25, "to": 3}}, "content": "x"}]},
     "blocks.hero.rules.0.when.local_hour.from", "0 to 23"),
    ({**HERO, "rules": [{"when": {"trait": {"name": "tier", "operator": ">", "value": "gold"}}, "content": "x"}]},
     "blocks.hero.rules.0.when.trait.value", "a number"),
    ({**HERO, "rules": [{"when": {"segment": "Nobody"}, "content": "x"}]}, "blocks.hero.rules.0.when.segment",
     "no segment 'Nobody'"),
    ({"rules": []}, "blocks.hero.default", "required"),
    ({**HERO, "default": {"en": "New"}}, "blocks.hero.default.ko", "default locale"),
    ({**HERO, "rules": [{"when": {"locale": "en"}, "content": "{{ ''.__class__ }}"}]},
     "blocks.hero.rules.0.content", "sandbox"),
    ({**HERO, "rules": [{"when": {"locale": "en"}, "content": "{% if %}"}]}, "blocks.hero.rules.0.content", ""),
])
def test_bad_rules_are_refused_at_save_time_naming_the_block_and_the_field(client: TestClient, block: dict,
                                                                          field: str, reason: str) -> None:
    _vip(client)
    refused = _put(client, {**EMAIL, "blocks": {"hero": block}})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert "block 'hero'" in body["message"]
    problems = [d for d in body["detail"] if d["field"] == field]
    assert problems and reason in problems[0]["reason"], body["detail"]
    assert client.get("/v1/templates", headers=bearer()).json()["templates"] == []  # nothing saved
    # the preview checks a draft the same way
    preview = client.post("/v1/templates/preview-adaptive", json={"template": {**EMAIL, "channel": "email",
                                                                               "blocks": {"hero": block}}},
                          headers=bearer())
    assert preview.status_code == 422 and any(d["field"] == field for d in preview.json()["detail"])


def test_bad_preview_requests_are_refused(client: TestClient) -> None:
    assert client.post("/v1/templates/preview-adaptive", json={}, headers=bearer()).status_code == 400
    missing = client.post("/v1/templates/preview-adaptive", json={"key": "nope", "channel": "email"}, headers=bearer())
    assert missing.status_code == 404
    bad = client.post("/v1/templates/preview-adaptive", json={"template": {**EMAIL, "channel": "email"},
                                                              "audiences": [{"os": "windows"}]}, headers=bearer())
    assert bad.status_code == 422 and "os" in bad.text
    wrong_block_name = _put(client, {**EMAIL, "blocks": {"Hero Banner": HERO}})
    assert wrong_block_name.status_code == 422 and "blocks.Hero Banner" in wrong_block_name.text


def test_the_outbox_sends_each_customer_their_block(client: TestClient, stores: Stores) -> None:
    _vip(client)
    assert _put(client, EMAIL).status_code == 200
    assert _put(client, EMAIL, key="cart-coupon-10").status_code == 200
    definition = {**ABANDONED_CART, "holdout_percent": 0}
    definition.pop("version")
    assert client.post("/v1/journeys", json=definition, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).status_code == 200
    people = {"kim": {"churn_risk": 0.82}, "lee": {"vip": True}, "park": {"last_platform": "app", "last_os": "ios"},
              "choi": {"churn_risk": 0.2}}
    batch: list[dict[str, Any]] = []
    for user, traits in people.items():
        batch.append({"type": "identify", "userId": user, "messageId": f"i-{user}",
                      "timestamp": (T0 - dt.timedelta(minutes=5)).isoformat(),
                      "traits": {"name": user.title(), "email": f"{user}@example.com", "locale": "ko-KR",
                                 "preferred_channel": "email", "consent": {"email": True}, **traits}})
        batch.append({"type": "track", "userId": user, "event": "Product Added", "messageId": f"add-{user}",
                      "timestamp": T0.isoformat(), "properties": {"cart_id": f"cart-{user}", "name": "울 니트",
                                                                  "price": 59000}})
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    assert client.post("/v1/segments/VIP/refresh", headers=bearer()).status_code == 200
    email = MemoryChannel("email")
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email}))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    subjects = {m.to: m.content.subject for m in email.messages}
    assert subjects == {
        "kim@example.com": "(광고) 하루마켓: Kim님, 다시 만나요: 15% 할인",
        "lee@example.com": "(광고) 하루마켓: VIP <b>early access</b>",
        "park@example.com": "(광고) 하루마켓: 아이폰 앱 쿠폰",
        "choi@example.com": "(광고) 하루마켓: 이번 주 신상품",
    }
    kim = next(m for m in email.messages if m.to == "kim@example.com")
    assert "<h1>Kim님, 다시 만나요: 15% 할인</h1>" in kim.content.html
    # the journey's send-step preview chooses the same way for a named customer
    preview = client.post("/v1/templates/cart-reminder/email/preview", json={"identifier": "user_id:lee"},
                          headers=bearer()).json()
    assert preview["content"]["subject"] == "(광고) 하루마켓: VIP <b>early access</b>"


def test_predicted_scores_reach_adaptive_content_as_traits(client: TestClient, stores: Stores) -> None:
    assert set(TRAITS) == set(SCORE_TRAITS)  # the traits predictions write are the scores blocks may read
    send_shop(client, dt.datetime.now(dt.UTC).replace(microsecond=0), customers=150)
    stores.pump()
    assert client.post("/v1/predictions/retrain", json={"kinds": ["churn"]}, headers=bearer()).status_code == 200
    risky = {"rules": [{"when": {"score": {"name": "churn_risk", "operator": ">=", "value": 0.5}},
                        "content": "Come back"}], "default": "Thanks"}
    template = {"default_locale": "en", "blocks": {"hero": risky}, "variants": {"en": {"subject": "{{ blocks.hero }}",
                                                                                      "text": "x"}}}
    assert _put(client, template, key="winback").status_code == 200
    seen = set()
    for n in range(30):  # loyal (n % 3 == 0) and lapsed (n % 3 == 1) buyers; browsers mostly have no churn score
        user = f"c{n:04d}"
        risk = client.get(f"/v1/profiles/{user}", headers=bearer()).json()["traits"].get("churn_risk")
        if risk is None:
            continue
        preview = client.post("/v1/templates/winback/email/preview", json={"identifier": f"user_id:{user}"},
                              headers=bearer()).json()
        expected = "Come back" if risk >= 0.5 else "Thanks"
        assert preview["content"]["subject"] == expected, (user, risk)  # English: no (광고) marking
        seen.add(expected)
    assert seen == {"Come back", "Thanks"}
