"""The dashboard's Predictions page (quality of each model, in English and Korean, retraining on request) and
the template preview's table of what each kind of customer gets from adaptive blocks."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from prediction_helpers import send_shop
from support import bearer
from touchline.store.engines import Stores
from web_helpers import add_user, form_token, sign_in


def _figure(html: str, kind: str, name: str) -> str:
    section = html.split(f'data-kind="{kind}"', 1)[1].split("</section>", 1)[0]
    found = re.search(rf'data-figure="{name}">([^<]*)<', section)
    assert found, (kind, name)
    return found.group(1)


def test_the_predictions_page_shows_each_models_quality_in_both_languages(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    add_user(stores, "a@example.com", "agent")
    sign_in(client, "m@example.com")
    empty = client.get("/predictions?lang=en")
    assert empty.status_code == 200 and empty.text.count("Not trained yet.") == 2
    assert 'href="/predictions"' in empty.text  # in the navigation

    send_shop(client, dt.datetime.now(dt.UTC).replace(microsecond=0), customers=150)
    stores.pump()
    models = {m["kind"]: m for m in client.post("/v1/predictions/retrain", json={}, headers=bearer()).json()["models"]}
    en = client.get("/predictions?lang=en").text
    for kind in ("purchase", "churn"):
        quality = models[kind]["quality"]
        assert _figure(en, kind, "auc") == f"{quality['auc']:.3f}"
        assert _figure(en, kind, "brier") == f"{quality['brier']:.3f}"
        assert _figure(en, kind, "calibration") == f"{quality['calibration_error']:.3f}"
        assert _figure(en, kind, "lift") == f"{quality['lift_top_decile']:.2f}×"
    assert "Reliability chart" in en and "Perfectly calibrated" in en and 'id="chart-reliability-churn"' in en
    assert "Purchase in the next 30 days" in en and "Lift in the top decile" in en
    ko = client.get("/predictions?lang=ko").text
    assert "30일 내 구매" in ko and "신뢰도 곡선" in ko and "브라이어 점수" in ko and "상위 10% 리프트" in ko

    # Retraining from the page: a new version of each
    page = client.get("/predictions?lang=en").text
    response = client.post("/predictions/retrain", data={"csrf_token": form_token(page)})
    assert response.status_code == 200 and "Retrained: every customer has new scores." in response.text
    listed = client.get("/v1/predictions", headers=bearer()).json()["predictions"]
    assert [p["model"]["version"] for p in listed] == [2, 2]

    # Agents cannot see it
    client.post("/logout", data={"csrf_token": form_token(client.get("/predictions").text)})
    sign_in(client, "a@example.com")
    assert client.get("/predictions").status_code == 403


def test_the_template_preview_shows_what_each_kind_of_customer_gets(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    blocks = {"hero": {"rules": [{"when": {"os": "ios"}, "content": {"ko": "아이폰 쿠폰", "en": "iPhone coupon"}},
                                 {"when": {"score": {"name": "churn_risk", "operator": ">", "value": 0.7}},
                                  "content": {"ko": "다시 만나요", "en": "We miss you"}}],
                       "default": {"ko": "신상품", "en": "New in"}}}
    template = {"default_locale": "ko", "blocks": blocks,
                "variants": {"ko": {"title": "{{ blocks.hero }}", "body": "하루마켓"},
                             "en": {"title": "{{ blocks.hero }}", "body": "Haru Market"}}}
    assert client.put("/v1/templates/hello/push", json=template, headers=bearer()).status_code == 200
    sign_in(client, "m@example.com")
    for lang, heading, default in (("en", "What each kind of customer gets", "default"),
                                   ("ko", "고객 유형별로 받는 내용", "기본")):
        page = client.get("/messages/templates", params={"key": "hello", "channel": "push", "lang": lang}).text
        assert heading in page and "data-adaptive" in page, lang
        rows = re.findall(r'data-block="hero" data-rule="([^"]+)">([^<]*)</td>\s*<td class="break">([^<]*)</td>', page)
        assert rows[0] == ("default", default, "신상품")
        assert ("0", "rule 1" if lang == "en" else "규칙 1", "아이폰 쿠폰") in rows
        assert ("1", "rule 2" if lang == "en" else "규칙 2", "다시 만나요") in rows
