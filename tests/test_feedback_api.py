"""Surveys and reviews through the HTTP API as a shop and its customers use them, on both backends: signed
links (tampering refused, expiry), one answer per link however often it is sent, answers as events and
traits a segment reads, a template's survey_link and review_link rendered in the outbox's way, the NPS
report, reviews moderated and published (only approved ones shown), erase and export, and 4xx naming the
field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.app import create_app
from touchline.messaging.outbox import ad_marking, render_content
from touchline.messaging.templates import validate_template
from touchline.store.engines import Stores
from touchline.store.schema import events, survey_answers

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_client(stores: Stores, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(stores=stores, run_pump=False, clock=clock)) as test_client:
        yield test_client


def _customers(client: TestClient) -> None:
    response = client.post("/v1/batch", headers=basic(), json={"batch": [
        {"type": "identify", "userId": "u1", "messageId": "fb-i1",
         "traits": {"name": "김지은", "email": "jieun@example.com", "locale": "ko-KR"}},
        {"type": "identify", "userId": "u2", "messageId": "fb-i2",
         "traits": {"name": "Emma Wilson", "email": "emma@example.com", "locale": "en-GB"}},
    ]})
    assert response.status_code == 200, response.text


def _link(client: TestClient, **body: Any) -> str:
    made = client.post("/v1/feedback/links", headers=bearer(), json={"identifier": "u1", **body})
    assert made.status_code == 201, made.text
    return str(made.json()["url"]).split("://", 1)[1].split("/", 1)[1]  # the path: s/... or r/...


def _survey_events(stores: Stores) -> list[dict[str, Any]]:
    stores.pump()
    with stores.events_conn() as conn:
        return [dict(r) for r in conn.execute(sa.select(events.c.event, events.c.profile_id).where(
            events.c.event == "Survey Answered")).mappings()]


def test_a_survey_link_answers_once_as_an_event_and_a_trait(app_client: TestClient, stores: Stores) -> None:
    client = app_client
    _customers(client)
    path = _link(client, survey="nps")
    page = client.get(f"/{path}")
    assert page.status_code == 200 and "추천하실 가능성" in page.text  # the customer's language: Korean
    assert page.headers["cache-control"] == "no-store"
    answered = client.post(f"/{path}", data={"score": "3", "comment": "배송이 너무 늦었어요"})
    assert answered.status_code == 200 and "감사합니다" in answered.text
    # A retry (a double click, a resent form, another score) changes nothing: one answer, one event.
    again = client.post(f"/{path}", data={"score": "10"})
    assert again.status_code == 200
    listed = client.get("/v1/feedback/answers", headers=bearer()).json()["answers"]
    assert [(a["score"], a["category"], a["comment"]) for a in listed] == [(3, "detractor", "배송이 너무 늦었어요")]
    assert len(_survey_events(stores)) == 1
    profile = client.get("/v1/profiles/u1", headers=bearer()).json()
    assert profile["traits"]["nps_score"] == 3 and profile["traits"]["nps_category"] == "detractor"
    # "Detractors" as a segment reads the trait.
    detractors = {"type": "trait", "trait": "nps_category", "operator": "=", "value": "detractor"}
    preview = client.post("/v1/segments/preview", json={"definition": detractors}, headers=bearer()).json()
    assert preview["count"] == 1 and preview["sample"][0]["traits"]["email"] == "jieun@example.com"
    low = {"type": "trait", "trait": "nps_score", "operator": "<", "value": 7}
    assert client.post("/v1/segments/preview", json={"definition": low}, headers=bearer()).json()["count"] == 1


def test_one_click_score_then_the_reason(app_client: TestClient, stores: Stores) -> None:
    _customers(app_client)
    path = _link(app_client, survey="nps")
    clicked = app_client.get(f"/{path}", params={"score": 9})
    assert clicked.status_code == 200 and 'value="9" required checked' in clicked.text
    assert app_client.get(f"/{path}", params={"score": 9}).status_code == 200  # the button pressed twice
    app_client.post(f"/{path}", data={"score": "9", "comment": "친절해요"})
    answers = app_client.get("/v1/feedback/answers", headers=bearer()).json()["answers"]
    assert [(a["score"], a["comment"]) for a in answers] == [(9, "친절해요")]
    assert len(_survey_events(stores)) == 1


def test_tampered_forged_and_expired_links_are_refused(app_client: TestClient, stores: Stores, clock: Clock) -> None:
    _customers(app_client)
    path = _link(app_client, survey="nps", days=1)
    token = path.split("/", 1)[1]
    payload, mac = token.split(".")
    # Another customer's id put in the payload: the signature no longer matches.
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["p"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    # The MAC's first character changed (it carries six bits of the MAC; its last ones carry padding bits too,
    # and a MAC ending in "AA" already once made "tampered" the real token).
    tampered_mac = ("B" if mac[0] == "A" else "A") + mac[1:]
    for bad in (f"{forged_payload}.{mac}", f"{payload}.{tampered_mac}", f"{payload}.x"):
        refused = app_client.post(f"/s/{bad}", data={"score": "10"})
        assert refused.status_code == 403, (bad, refused.text)
    assert app_client.get("/s/not-a-token").status_code == 404
    assert app_client.get(f"/r/{token}").status_code == 404  # a survey link is not a review link
    clock.now = NOW + dt.timedelta(days=1, seconds=1)
    expired = app_client.post(f"/{path}", data={"score": "10"})
    assert expired.status_code == 410 and "만료" in expired.text
    assert app_client.get("/v1/feedback/answers", headers=bearer()).json()["answers"] == []
    with stores.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(survey_answers)).scalar() == 0


def test_bad_answers_are_refused_naming_the_field(app_client: TestClient) -> None:
    _customers(app_client)
    path = _link(app_client, survey="csat", kind="csat")
    assert "만족" in app_client.get(f"/{path}").text
    for score in ("0", "6", "abc", ""):
        refused = app_client.post(f"/{path}", data={"score": score})
        assert refused.status_code == 422 and "score" in refused.text, score
    api = "/v1/feedback/answers"
    good = {"identifier": "u2", "survey": "app", "kind": "nps", "score": 8, "answer_key": "app-answer-1"}
    for change, field in (({"score": 11}, "score"), ({"score": False}, "score"), ({"kind": "stars"}, "kind"),
                          ({"answer_key": "x"}, "answer_key"), ({"comment": "a" * 2001}, "comment"),
                          ({"survey": "Bad Name!"}, "survey")):
        refused = app_client.post(api, headers=basic(), json={**good, **change})
        assert refused.status_code == 422, refused.text
        assert any(field in d["field"] for d in refused.json()["detail"]), refused.text
    unknown = app_client.post(api, headers=basic(), json={**good, "identifier": "nobody"})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["field"] == "identifier"
    first = app_client.post(api, headers=basic(), json=good)
    assert first.status_code == 201 and first.json()["category"] == "passive"
    retry = app_client.post(api, headers=basic(), json={**good, "score": 2})
    assert retry.status_code == 200 and retry.json()["score"] == 8
    assert app_client.post(api, json=good).status_code == 401


def test_templates_render_signed_links_that_open(app_client: TestClient, stores: Stores, workspace_id: str) -> None:
    _customers(app_client)
    profile = app_client.get("/v1/profiles/u1", headers=bearer()).json()
    template = validate_template({"key": "nps-ask", "channel": "sms", "variants": {"ko": {
        "text": "추천하시겠어요? {{ survey_link('nps') }} 리뷰: {{ review_link() }} "
                "10점: {{ survey_link(score=10) }}"}}})
    row = {"id": "msg-1", "workspace_id": workspace_id, "kind": "transactional", "template": "nps-ask",
           "context": {"event": {"order_id": "O-1", "products": [{"product_id": "P-9"}]}}}
    with stores.write() as conn:
        content = render_content("http://testserver", template, row, {"id": profile["id"], "locale": "ko-KR"}, "sms",
                                 marking=ad_marking(stores.settings), conn=conn, now=NOW)
    assert not isinstance(content, type(None))
    urls = re.findall(r"http://testserver(/[sr]/\S+)", content["text"])  # type: ignore[index]
    assert len(urls) == 3
    survey, review, one_click = urls
    assert "추천하실" in app_client.get(survey).text
    assert one_click.endswith("?score=10")
    assert "리뷰" in app_client.get(review).text and "P-9" in app_client.get(review).text
    assert app_client.post(review, data={"rating": "5", "body": "좋아요"}).status_code == 200
    assert app_client.get(one_click).status_code == 200
    answers = app_client.get("/v1/feedback/answers", headers=bearer()).json()["answers"]
    assert [(a["score"], a["channel"], a["source_message_id"]) for a in answers] == [(10, "sms", "msg-1")]
    queue = app_client.get("/v1/reviews", headers=bearer()).json()["reviews"]
    assert [(r["product_id"], r["order_id"], r["rating"], r["source"]) for r in queue] == [("P-9", "O-1", 5, "form")]
    # A save-time check renders samples: the functions never fail a template for want of a customer.
    validate_template({"key": "x", "channel": "sms", "variants": {"ko": {"text": "{{ survey_link() }}"}}},
                      strict=True)


def test_nps_report_over_time(app_client: TestClient, clock: Clock) -> None:
    _customers(app_client)
    scores = [10, 9, 9, 8, 7, 6, 3, 10, 10, 0]
    for i, score in enumerate(scores):
        clock.now = NOW + dt.timedelta(days=i)
        assert app_client.post("/v1/feedback/answers", headers=basic(), json={
            "identifier": "u1" if i % 2 else "u2", "score": score, "answer_key": f"answer-{i:04d}",
            "comment": f"comment {i}"}).status_code == 201
    report = app_client.get("/v1/feedback/nps", headers=bearer(), params={
        "since": "2026-10-26", "until": "2026-11-16", "interval": "week"}).json()
    overall = report["overall"]
    assert (overall["promoters"], overall["passives"], overall["detractors"]) == (5, 2, 3)
    assert overall["nps"] == 20.0 and overall["low"] < 20 < overall["high"]
    assert [p["answers"] for p in report["periods"]] == [0, 7, 3]  # NOW is a Monday
    assert [p["start"] for p in report["periods"]] == ["2026-10-26", "2026-11-02", "2026-11-09"]
    assert report["comments"][0]["comment"] == "comment 9"
    bad = app_client.get("/v1/feedback/nps", headers=bearer(), params={"interval": "year"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"].endswith("interval")
    assert app_client.get("/v1/feedback/nps", headers=bearer(WRITE_KEY)).status_code == 403


def test_reviews_moderated_and_published(app_client: TestClient, stores: Stores, clock: Clock) -> None:
    _customers(app_client)
    review = {"identifier": "u1", "product_id": "P-1", "order_id": "O-1", "rating": 5, "title": "최고",
              "body": "배송도 빠르고 품질도 좋아요", "language": "ko"}
    first = app_client.post("/v1/reviews", headers=basic(), json=review)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["status"] == "pending" and made["flagged"] == [] and made["author"] == "김**"
    retry = app_client.post("/v1/reviews", headers=basic(), json={**review, "rating": 1})
    assert retry.status_code == 200 and retry.json()["id"] == made["id"] and retry.json()["rating"] == 5
    clock.now += dt.timedelta(minutes=1)
    rude = app_client.post("/v1/reviews", headers=basic(), json={
        "identifier": "u2", "product_id": "P-1", "rating": 1, "body": "This is shit, fucking slow"}).json()
    assert {f["term"] for f in rude["flagged"]} >= {"shit"}
    clock.now += dt.timedelta(minutes=1)
    korean = app_client.post("/v1/reviews", headers=basic(), json={
        "identifier": "u1", "product_id": "P-1", "order_id": "O-2", "rating": 2,
        "body": "씨1발 개새끼야 환불해"}).json()
    assert {f["term"] for f in korean["flagged"]} == {"씨발", "개새끼"}
    clock.now += dt.timedelta(minutes=1)
    fine = app_client.post("/v1/reviews", headers=basic(), json={
        "identifier": "u2", "product_id": "P-1", "order_id": "O-3", "rating": 4, "body": "Good value"}).json()
    # Nothing is published before a moderator approves.
    page = app_client.get("/v1/reviews/products/P-1", headers=basic()).json()
    assert page == {"product_id": "P-1", "count": 0, "average": None,
                    "distribution": {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}, "reviews": []}
    queue = app_client.get("/v1/reviews", headers=bearer()).json()["reviews"]
    assert [r["id"] for r in queue] == [made["id"], rude["id"], korean["id"], fine["id"]]  # oldest first
    assert [r["id"] for r in app_client.get("/v1/reviews", headers=bearer(), params={"flagged": True})
            .json()["reviews"]] == [rude["id"], korean["id"]]
    for review_id in (made["id"], fine["id"]):
        assert app_client.post(f"/v1/reviews/{review_id}/approve", headers=bearer()).json()["status"] == "approved"
    for review_id in (rude["id"], korean["id"]):
        assert app_client.post(f"/v1/reviews/{review_id}/reject", headers=bearer()).json()["status"] == "rejected"
    replied = app_client.post(f"/v1/reviews/{made['id']}/reply", headers=bearer(), json={"text": "감사합니다!"})
    assert replied.status_code == 200 and replied.json()["reply"] == "감사합니다!"
    page = app_client.get("/v1/reviews/products/P-1", headers=basic()).json()
    assert page["count"] == 2 and page["average"] == 4.5
    assert page["distribution"] == {"5": 1, "4": 1, "3": 0, "2": 0, "1": 0}
    assert {r["id"] for r in page["reviews"]} == {made["id"], fine["id"]}
    assert "profile_id" not in page["reviews"][0] and "flagged" not in page["reviews"][0]
    assert [r["reply"] for r in page["reviews"] if r["id"] == made["id"]] == ["감사합니다!"]
    # CORS for the shop's product pages, as for the chat.
    cors = app_client.get("/v1/reviews/products/P-1", headers={**basic(), "Origin": "https://shop.example"})
    assert cors.headers.get("access-control-allow-origin") in ("*", "https://shop.example")
    # Ratings for other domains, and the events they can read.
    from touchline.feedback.service import product_ratings

    with stores.read() as conn:
        assert product_ratings(conn, stores_workspace(stores)) == {"P-1": {"count": 2, "average": 4.5}}
    stores.pump()
    with stores.events_conn() as conn:
        names = [r[0] for r in conn.execute(sa.select(events.c.event).where(events.c.event.like("Review %")))]
    assert sorted(names) == ["Review Published"] * 2 + ["Review Rejected"] * 2 + ["Review Submitted"] * 4


def stores_workspace(stores: Stores) -> str:
    from touchline.workspaces.service import workspace_id_by_name

    with stores.read() as conn:
        return workspace_id_by_name(conn, "default")


def test_bad_reviews_are_refused_naming_the_field(app_client: TestClient) -> None:
    _customers(app_client)
    good = {"identifier": "u1", "product_id": "P-1", "rating": 4}
    for change, field in (({"rating": 6}, "rating"), ({"rating": 0}, "rating"), ({"rating": True}, "rating"),
                          ({"rating": "5"}, "rating"), ({"product_id": ""}, "product_id"),
                          ({"body": "a" * 4001}, "body"), ({"title": "x\x00"}, "title"), ({"extra": 1}, "extra")):
        refused = app_client.post("/v1/reviews", headers=basic(), json={**good, **change})
        assert refused.status_code == 422, refused.text
        assert any(field in d["field"] for d in refused.json()["detail"]), refused.text
    assert app_client.post("/v1/reviews", headers=basic(), json={k: v for k, v in good.items()
                                                                   if k != "product_id"}).status_code == 422
    assert app_client.post("/v1/reviews/rv_00/approve", headers=bearer()).status_code == 404
    assert app_client.post("/v1/reviews/bad-id/approve", headers=bearer()).status_code == 422
    assert app_client.post("/v1/reviews/rv_00/approve", headers=bearer(WRITE_KEY)).status_code == 403
    assert app_client.get("/v1/reviews", headers=bearer()).json()["reviews"] == []
    path = _link(app_client, type="review", product_id="P-7")
    assert app_client.post(f"/{path}", data={"rating": "9"}).status_code == 422
    assert app_client.get("/v1/reviews", headers=bearer()).json()["reviews"] == []


def test_tracked_reviews_wait_for_moderation(app_client: TestClient) -> None:
    _customers(app_client)
    response = app_client.post("/v1/track", headers=basic(), json={
        "userId": "u2", "event": "Review Submitted", "messageId": "rv-track-1",
        "properties": {"order_id": "O-9", "product_id": "P-3", "rating": 4, "body": "Nice"}})
    assert response.status_code == 200, response.text
    queue = app_client.get("/v1/reviews", headers=bearer()).json()["reviews"]
    assert [(r["product_id"], r["rating"], r["source"], r["author"]) for r in queue] == [("P-3", 4, "event", "Emma W.")]


def test_export_and_erase_include_answers_and_reviews(app_client: TestClient) -> None:
    _customers(app_client)
    app_client.post("/v1/feedback/answers", headers=basic(), json={"identifier": "u1", "score": 9,
                                                                   "answer_key": "erase-me-1"})
    app_client.post("/v1/reviews", headers=basic(), json={"identifier": "u1", "product_id": "P-1", "rating": 5})
    exported = app_client.get("/v1/profiles/u1/export", headers=bearer()).json()
    assert len(exported["feedback"]["survey_answers"]) == 1 and len(exported["feedback"]["reviews"]) == 1
    assert app_client.delete("/v1/profiles/u1", headers=bearer()).status_code == 200
    assert app_client.get("/v1/feedback/answers", headers=bearer()).json()["answers"] == []
    assert app_client.get("/v1/reviews", headers=bearer()).json()["reviews"] == []
