"""The web chat's write-key endpoints: a message goes through the conversations' entry point (channel
``chat``) onto the visitor's profile; the history is the customer's own conversation without notes; a
retry stores one message; bad input names the field; identified customers need their user_hash."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores
from touchline.workspaces import service as workspaces


def _send(client: TestClient, body: str, key: str, anonymous_id: str = "anon-chat-1", **extra: object) -> dict:
    response = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": key, "text": body, "language": "ko", **extra})
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_chat_message_lands_on_the_visitors_profile_and_in_their_history(client: TestClient) -> None:
    client.post("/v1/page", headers=basic(), json={"anonymousId": "anon-chat-1", "name": "Product",
                                                    "messageId": "page-1"})
    sent = _send(client, "니트 사이즈 문의드려요", "key-00001")
    assert sent["message"]["direction"] == "inbound" and sent["message"]["channel"] == "chat"
    assert "address" not in sent["message"]
    again = _send(client, "니트 사이즈 문의드려요", "key-00001")
    assert again["duplicate"] is True and again["message"]["id"] == sent["message"]["id"]
    conversation_id = sent["conversation_id"]

    notes = client.post(f"/v1/conversations/{conversation_id}/notes", headers=bearer(),
                        json={"body": "VIP, 환불 이력 있음", "author": {"kind": "agent", "id": None}})
    assert notes.status_code in (200, 201), notes.text
    reply = client.post(f"/v1/conversations/{conversation_id}/replies", headers=bearer(),
                        json={"body": "M 사이즈를 추천드려요", "author": {"kind": "agent", "id": None}})
    assert reply.status_code in (200, 201), reply.text

    history = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": "anon-chat-1"})
    assert history.status_code == 200, history.text
    bodies = [(m["direction"], m["body"]) for m in history.json()["messages"]]
    assert bodies == [("inbound", "니트 사이즈 문의드려요"), ("outbound", "M 사이즈를 추천드려요")]

    profile = client.get("/v1/profiles/anonymous_id:anon-chat-1", headers=bearer()).json()
    assert any(e.get("event") == "Message Received" for e in profile["timeline"])

    other = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": "someone-else"})
    assert other.status_code == 200 and other.json()["messages"] == []


def test_bad_chat_input_names_the_field(client: TestClient) -> None:
    def field(response: object) -> str:
        assert response.status_code in (400, 422), response.text  # type: ignore[attr-defined]
        return response.json()["detail"][0]["field"]  # type: ignore[attr-defined]

    ok = {"anonymous_id": "anon-2", "client_message_id": "key-00002", "text": "hi"}
    assert field(client.post("/v1/chat/messages", headers=basic(), json={**ok, "text": ""})) == "text"
    assert field(client.post("/v1/chat/messages", headers=basic(), json={**ok, "text": "x" * 4001})) == "text"
    assert field(client.post("/v1/chat/messages", headers=basic(), json={**ok, "text": "  "})) == "text"
    assert field(client.post("/v1/chat/messages", headers=basic(),
                             json={**ok, "anonymous_id": "has space"})) == "anonymous_id"
    assert field(client.get("/v1/chat/messages", headers=basic())) == "query.anonymous_id"
    assert client.post("/v1/chat/messages", json=ok).status_code == 401


def test_an_identified_customer_needs_their_user_hash(client: TestClient, stores: Stores, workspace_id: str) -> None:
    with stores.write() as conn:
        secret = workspaces.create_key(conn, workspace_id, "identity", "shop backend")
    client.app.state.services.keys.forget()  # type: ignore[attr-defined]
    ok = {"anonymous_id": "anon-3", "client_message_id": "key-00003", "text": "배송 언제 와요?",
          "identifier": "user_id:kim-01"}
    refused = client.post("/v1/chat/messages", headers=basic(), json=ok)
    assert refused.status_code == 403 and refused.json()["detail"][0]["field"] == "user_hash"
    user_hash = workspaces.user_hash(secret, "user_id:kim-01")  # the identifier exactly as sent
    sent = client.post("/v1/chat/messages", headers={**basic(), "X-Touchline-User-Hash": user_hash}, json=ok)
    assert sent.status_code == 201, sent.text
    history = client.get("/v1/chat/messages", headers={**basic(), "X-Touchline-User-Hash": user_hash},
                         params={"anonymous_id": "anon-3", "identifier": "user_id:kim-01"})
    assert [m["body"] for m in history.json()["messages"]] == ["배송 언제 와요?"]
    # The anonymous id alone (it sits in the browser) no longer reads a signed-in customer's conversation.
    anonymous = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": "anon-3"})
    assert anonymous.status_code == 403 and anonymous.json()["detail"][0]["field"] == "identifier"
    assert client.get("/v1/chat/stream", headers=basic(), params={
        "anonymous_id": "anon-3", "identifier": "user_id:kim-01"}).status_code == 403


def test_the_chat_script_is_served_for_other_origins(client: TestClient) -> None:
    response = client.get("/sdk/chat.js")
    assert response.status_code == 200 and "ajs_anonymous_id" in response.text
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
