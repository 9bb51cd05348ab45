"""Rating a web chat: once the shop switches it on, a chat an agent answered asks the customer for a 1-5
rating when it is resolved; the customer's tap is recorded once (a comment may follow), becomes a
``Conversation Rated`` event and the customer's CSAT answer in the surveys report, and nobody else can
answer it. Through the HTTP API, on every backend."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from support import basic, bearer
from touchline.conversations import ratings

AGENT = {"kind": "agent", "id": None}


def _chat(client: TestClient, text: str, key: str, anonymous_id: str = "anon-rate-1") -> dict[str, Any]:
    response = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": key, "text": text, "language": "ko"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _history(client: TestClient, anonymous_id: str = "anon-rate-1") -> list[dict[str, Any]]:
    response = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": anonymous_id})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def _rate(client: TestClient, message_id: str, score: Any, anonymous_id: str = "anon-rate-1", **extra: Any) -> Any:
    return client.post("/v1/chat/rating", headers=basic(), json={
        "anonymous_id": anonymous_id, "message_id": message_id, "score": score, **extra})


def _switch(client: TestClient, on: bool) -> None:
    response = client.put("/v1/conversations/settings", headers=bearer(), json={"rate_on_resolve": on})
    assert response.status_code == 200 and response.json() == {"rate_on_resolve": on}, response.text


def _answered_and_resolved(client: TestClient, key: str, anonymous_id: str = "anon-rate-1") -> str:
    conversation_id = _chat(client, "배송이 아직 안 왔어요", key, anonymous_id)["conversation_id"]
    reply = client.post(f"/v1/conversations/{conversation_id}/replies", headers=bearer(),
                        json={"body": "오늘 출발했어요. 송장번호를 보내드릴게요.", "author": AGENT})
    assert reply.status_code == 201, reply.text
    resolved = client.post(f"/v1/conversations/{conversation_id}/resolve", headers=bearer())
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved", resolved.text
    return conversation_id


def test_a_resolved_chat_asks_once_and_the_answer_becomes_a_csat_answer(client: TestClient) -> None:
    assert client.get("/v1/conversations/settings", headers=bearer()).json() == {"rate_on_resolve": False}
    _switch(client, True)
    conversation_id = _answered_and_resolved(client, "rate-key-001")
    again = client.post(f"/v1/conversations/{conversation_id}/resolve", headers=bearer())
    assert again.status_code == 200

    history = _history(client)
    requests = [m for m in history if m.get("survey")]
    assert len(requests) == 1, history
    request = requests[0]
    assert history[-1]["id"] == request["id"]  # listed after the agent's reply
    assert request["survey"] == {"kind": "csat"} and request["rating"] is None
    assert request["author"] == "system" and "만족" in request["body"]

    rated = _rate(client, request["id"], 4)
    assert rated.status_code == 200, rated.text
    assert rated.json()["message"]["rating"]["score"] == 4
    assert _rate(client, request["id"], 4).status_code == 200  # a retry: nothing more
    refused = _rate(client, request["id"], 1)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"][0]["field"] == "score"
    assert refused.json()["detail"][0]["rating"]["score"] == 4
    commented = _rate(client, request["id"], 4, comment="  빠른 답변 감사해요  ")
    assert commented.status_code == 200 and commented.json()["message"]["rating"]["comment"] == "빠른 답변 감사해요"

    profile = client.get("/v1/profiles/anonymous_id:anon-rate-1", headers=bearer()).json()
    rated_events = [e for e in profile["timeline"] if e.get("event") == "Conversation Rated"]
    assert len(rated_events) == 2  # the score, then the comment
    assert profile["traits"]["csat_score"] == 4

    answers = client.get("/v1/feedback/answers", headers=bearer(), params={"survey": "conversation"})
    assert answers.status_code == 200, answers.text
    items = answers.json()["answers"] if isinstance(answers.json(), dict) else answers.json()
    assert [(a["kind"], a["score"], a["channel"], a["comment"]) for a in items] == [
        ("csat", 4, "chat", "빠른 답변 감사해요")]

    shown = client.get(f"/v1/conversations/{conversation_id}/messages", headers=bearer()).json()
    shown_items = shown["messages"] if isinstance(shown, dict) else shown
    assert [m["rating"]["score"] for m in shown_items if m.get("survey")] == [4]


def test_no_request_when_off_for_a_bot_only_chat_or_off_the_web_chat(client: TestClient) -> None:
    _answered_and_resolved(client, "rate-key-101", "anon-off")
    assert not [m for m in _history(client, "anon-off") if m.get("survey")]

    _switch(client, True)
    conversation_id = _chat(client, "영업시간이 어떻게 되나요?", "rate-key-102", "anon-bot")["conversation_id"]
    bot = client.post(f"/v1/conversations/{conversation_id}/replies", headers=bearer(),
                      json={"body": "평일 10시부터 18시까지예요.", "author": {"kind": "bot", "id": "assistant"},
                            "status": "resolved"})
    assert bot.status_code == 201, bot.text
    assert not [m for m in _history(client, "anon-bot") if m.get("survey")]


def test_a_reply_that_resolves_asks_too(client: TestClient) -> None:
    _switch(client, True)
    conversation_id = _chat(client, "교환 신청했어요", "rate-key-201", "anon-reply")["conversation_id"]
    reply = client.post(f"/v1/conversations/{conversation_id}/replies", headers=bearer(),
                        json={"body": "교환 접수되었습니다.", "author": AGENT, "status": "resolved"})
    assert reply.status_code == 201, reply.text
    history = _history(client, "anon-reply")
    assert [m["body"] for m in history][-2] == "교환 접수되었습니다."
    assert history[-1].get("survey") == {"kind": "csat"}


def test_only_the_customer_answers_and_bad_input_names_the_field(client: TestClient) -> None:
    _switch(client, True)
    _answered_and_resolved(client, "rate-key-301", "anon-owner")
    request = next(m for m in _history(client, "anon-owner") if m.get("survey"))
    _chat(client, "저도 문의 있어요", "rate-key-302", "anon-stranger")

    stranger = _rate(client, request["id"], 5, anonymous_id="anon-stranger")
    assert stranger.status_code == 404 and stranger.json()["detail"][0]["field"] == "message_id"
    nobody = _rate(client, request["id"], 5, anonymous_id="anon-never-seen")
    assert nobody.status_code == 404
    plain = next(m for m in _history(client, "anon-owner") if not m.get("survey"))
    assert _rate(client, plain["id"], 5, anonymous_id="anon-owner").status_code == 404

    def field(response: Any) -> str:
        assert response.status_code == 422, response.text
        return str(response.json()["detail"][0]["field"])

    assert field(_rate(client, request["id"], 6, anonymous_id="anon-owner")).endswith("score")
    assert field(_rate(client, request["id"], 0, anonymous_id="anon-owner")).endswith("score")
    assert field(_rate(client, request["id"], True, anonymous_id="anon-owner")).endswith("score")
    assert field(_rate(client, request["id"], 3, anonymous_id="anon-owner", comment="x" * 2001)).endswith("comment")
    assert field(_rate(client, request["id"], 3, anonymous_id="anon-owner", comment="좋아요\x00")).endswith("comment")
    assert field(_rate(client, "m" * 129, 3, anonymous_id="anon-owner")).endswith("message_id")
    assert field(_rate(client, "<script>", 3, anonymous_id="anon-owner")).endswith("message_id")
    assert field(_rate(client, request["id"], "5", anonymous_id="anon-owner", extra=1)).endswith("extra")
    assert field(client.put("/v1/conversations/settings", headers=bearer(),
                            json={"rate_on_resolve": "yes"})).endswith("rate_on_resolve")
    assert field(client.put("/v1/conversations/settings", headers=bearer(), json={})).endswith("rate_on_resolve")
    assert client.get("/v1/conversations/settings", headers=bearer()).json() == {"rate_on_resolve": True}
    assert client.post("/v1/chat/rating", json={"anonymous_id": "anon-owner", "message_id": request["id"],
                                                "score": 5}).status_code == 401
    # Nothing was recorded by the refused answers.
    assert next(m for m in _history(client, "anon-owner") if m.get("survey"))["rating"] is None


# --- the pure parts --------------------------------------------------------------------------------------

_STORED = st.one_of(st.none(), st.integers(), st.text(max_size=5),
                    st.fixed_dictionaries({"score": st.one_of(st.integers(-2, 8), st.booleans(), st.text(max_size=2))}))


@given(st.lists(st.tuples(_STORED, st.one_of(st.none(), st.sampled_from(["a", "b"]))), max_size=40))
def test_the_summary_holds_for_any_stored_ratings(requests: list[tuple[object, str | None]]) -> None:
    out = ratings.summary(requests)
    assert out["asked"] == len(requests)
    assert sum(out["distribution"].values()) == out["answered"] <= out["asked"]
    if out["answered"]:
        assert 1 <= out["average"] <= 5 and 0 <= out["satisfied_percent"] <= 100
    else:
        assert out["average"] is None and out["satisfied_percent"] is None
    assert sum(a["answered"] for a in out["by_agent"].values()) <= out["answered"]


@given(_STORED, st.integers(1, 5), st.one_of(st.none(), st.text(min_size=1, max_size=5)))
def test_an_answer_never_changes_a_score_once_given(stored: object, score: int, comment: str | None) -> None:
    decided = ratings.answer(stored, score, comment, "2026-12-03T00:00:00+00:00")
    first = stored.get("score") if isinstance(stored, dict) else None
    if isinstance(first, int) and not isinstance(first, bool) and 1 <= first <= 5:
        assert decided.rating["score"] == first
        assert decided.action == ("refuse" if first != score else "comment" if comment else "same")
    else:
        assert decided.action == "record" and decided.rating["score"] == score
