"""The web chat's live stream on a real server: a customer reads their own conversation's messages and
the replies to them, never notes, assignments or another customer's messages; it resumes from
Last-Event-ID; it answers the shop's other origin (CORS)."""

from __future__ import annotations

import pytest

from live_server import LiveServer
from support import basic, bearer
from test_conversations_stream import sse_events, stream_client
from touchline.conversations import service


def _chat(live: LiveServer, anonymous_id: str, text: str, key: str) -> dict:
    response = live.http.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": key, "text": text})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_customers_stream_carries_only_their_own_messages(live: LiveServer) -> None:
    first = _chat(live, "anon-mine", "첫 문의", "key-mine-1")
    cid = first["conversation_id"]
    params = {"anonymous_id": "anon-mine"}
    with stream_client(live) as http, http.stream("GET", "/v1/chat/stream", params=params, headers={
            **basic(), "Origin": "http://shop.example"}) as response:
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] in ("*", "http://shop.example")
        events = sse_events(response)
        # Another customer writes, an agent writes a note, assigns nobody, and replies.
        _chat(live, "anon-other", "다른 고객의 문의", "key-other-1")
        for what, body in (("notes", "내부 메모: 환불 이력"), ("replies", "답변드립니다")):
            assert live.http.post(f"/v1/conversations/{cid}/{what}", json={"body": body},
                                  headers=bearer()).status_code == 201
        got = next(events)
        assert got["event"] == "message"
        assert got["data"]["message"]["body"] == "답변드립니다"
        assert set(got["data"]["message"]) == {"id", "conversation_id", "direction", "author", "body",
                                                "attachments", "channel", "quick_replies", "created_at"}
        last_id = got["id"]
        _chat(live, "anon-mine", "감사합니다", "key-mine-2")
        assert next(events)["data"]["message"]["body"] == "감사합니다"
    # Missed while away: only what is theirs.
    assert live.http.post(f"/v1/conversations/{cid}/notes", json={"body": "메모 2"},
                          headers=bearer()).status_code == 201
    assert live.http.post(f"/v1/conversations/{cid}/replies", json={"body": "또 답변"},
                          headers=bearer()).status_code == 201
    with stream_client(live) as http, http.stream("GET", "/v1/chat/stream", params=params,
                                                  headers={**basic(), "Last-Event-ID": last_id}) as response:
        events = sse_events(response)
        assert [next(events)["data"]["message"]["body"] for _ in range(2)] == ["감사합니다", "또 답변"]


def test_the_chat_stream_needs_the_write_key(live: LiveServer) -> None:
    # No key: refused before the stream opens. The live server's client (15 s), not httpx's default 5 s:
    # a loaded CI machine took longer than 5 s to answer once.
    response = live.http.get("/v1/chat/stream", params={"anonymous_id": "anon-x"})
    assert response.status_code == 401


def test_a_window_that_missed_more_than_a_stream_replays_is_told_to_reload(
        live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the replay limit the chat stream says ``reset`` (chat.js reads the history again) instead of
    silently leaving out what it could not replay."""
    monkeypatch.setattr(service, "FEED_REPLAY_LIMIT", 2)
    first = _chat(live, "anon-away", "문의드려요", "key-away-1")
    cid = first["conversation_id"]
    params = {"anonymous_id": "anon-away"}
    with stream_client(live) as http, http.stream("GET", "/v1/chat/stream", params=params,
                                                  headers=basic()) as response:
        events = sse_events(response)
        assert live.http.post(f"/v1/conversations/{cid}/replies", json={"body": "답변 1"},
                              headers=bearer()).status_code == 201
        last_id = next(events)["id"]
    for n in range(2, 5):  # three replies and their deliveries while the window is closed
        assert live.http.post(f"/v1/conversations/{cid}/replies", json={"body": f"답변 {n}"},
                              headers=bearer()).status_code == 201
    with stream_client(live) as http, http.stream("GET", "/v1/chat/stream", params=params,
                                                  headers={**basic(), "Last-Event-ID": last_id}) as response:
        assert next(sse_events(response))["event"] == "reset"
    history = live.http.get("/v1/chat/messages", params=params, headers=basic()).json()["messages"]
    assert [m["body"] for m in history][-3:] == ["답변 2", "답변 3", "답변 4"]
