"""The dashboard's Surveys and Reviews pages over HTTP (both backends), in Korean and English: the NPS with its
interval, the weekly chart's numbers and the comments; the moderation queue with the filter's findings,
approve, reject and reply through CSRF-protected forms (marketers), read-only for agents."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in


def _feedback(client: TestClient) -> dict[str, str]:
    client.post("/v1/batch", headers=basic(), json={"batch": [
        {"type": "identify", "userId": f"u{i}", "messageId": f"w-i{i}", "traits": {"name": f"고객{i}"}}
        for i in range(8)]})
    for i, score in enumerate((10, 9, 9, 8, 6, 3, 10, 9)):
        assert client.post("/v1/feedback/answers", headers=basic(), json={
            "identifier": f"u{i}", "score": score, "answer_key": f"web-answer-{i}",
            "comment": "배송이 빨라요" if i == 0 else None}).status_code == 201
    ids = {}
    for name, body in (("good", "품질이 좋아요"), ("rude", "씨발 배송 느려")):
        made = client.post("/v1/reviews", headers=basic(), json={
            "identifier": "u1" if name == "good" else "u2", "product_id": "P-1", "rating": 5 if name == "good" else 1,
            "body": body})
        ids[name] = made.json()["id"]
    return ids


def test_surveys_page_shows_the_nps_with_its_interval(client: TestClient, stores: Stores) -> None:
    _feedback(client)
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    page = client.get("/surveys", params={"lang": "ko"})
    assert page.status_code == 200, page.text
    text = page.text
    # 5 promoters, 1 passive, 2 detractors of 8: NPS 37.5.
    assert re.search(r'data-kpi="nps">37\.5<', text) and "95%" in text and "주별 NPS" in text
    assert "배송이 빨라요" in text and 'href="/surveys"' in text and 'href="/reviews"' in text
    figure = json.loads(re.search(r"data-figure='([^']+)'", text).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert [trace.get("fill") for trace in figure["data"]][1] == "tonexty"
    assert "Surveys: NPS and CSAT" in client.get("/surveys", params={"lang": "en"}).text
    # A web chat's rating (the survey "conversation") is named as the shop reads it.
    assert client.post("/v1/feedback/answers", headers=basic(), json={
        "identifier": "u3", "survey": "conversation", "kind": "csat", "score": 5, "answer_key": "web-chat-rating-1",
        "comment": "친절했어요", "channel": "chat"}).status_code == 201
    row = re.search(r"<tr data-comment>.*?친절했어요.*?</tr>", client.get("/surveys", params={"lang": "ko"}).text, re.S)
    assert row and "채팅 상담 평가" in row.group(0), row


def test_reviews_are_moderated_in_the_dashboard(client: TestClient, stores: Stores) -> None:
    ids = _feedback(client)
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    queue = client.get("/reviews", params={"lang": "ko"}).text
    assert "대기 (2)" in queue and "필터 감지: 씨발" in queue and "품질이 좋아요" in queue
    assert client.post(f"/reviews/{ids['good']}/approve", data={}).status_code == 403  # no CSRF token
    done = client.post(f"/reviews/{ids['good']}/approve", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and "done=approved" in done.headers["location"]
    client.post(f"/reviews/{ids['rude']}/reject", data={"csrf_token": csrf})
    client.post(f"/reviews/{ids['good']}/reply", data={"csrf_token": csrf, "reply": "감사합니다", "back": "approved"})
    approved = client.get("/reviews", params={"status": "approved", "lang": "en"}).text
    assert "Approved (1)" in approved and "감사합니다" in approved and "씨발" not in approved
    shown = client.get("/v1/reviews/products/P-1", headers=basic()).json()
    assert [r["id"] for r in shown["reviews"]] == [ids["good"]] and shown["reviews"][0]["reply"] == "감사합니다"
    assert client.get("/v1/reviews?status=rejected", headers=bearer()).json()["reviews"][0]["id"] == ids["rude"]


def test_agents_read_but_do_not_moderate(client: TestClient, stores: Stores) -> None:
    ids = _feedback(client)
    add_user(stores, "a@example.com", "agent")
    csrf = sign_in(client, "a@example.com")
    page = client.get("/reviews").text
    assert "씨발" in page and f"/reviews/{ids['good']}/approve" not in page
    assert client.post(f"/reviews/{ids['good']}/approve", data={"csrf_token": csrf}).status_code == 403
    assert client.get("/surveys").status_code == 200
