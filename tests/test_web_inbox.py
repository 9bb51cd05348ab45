"""The agents' inbox page: a chat message appears in the queues, the agent replies and writes a note
(CSRF-protected forms), assigns, snoozes and resolves; roles without the inbox are refused; the customer
panel shows the profile; both languages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import basic
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in


def _chat(client: TestClient, text: str, key: str, anonymous_id: str = "anon-inbox-1") -> str:
    response = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": key, "text": text, "language": "ko"})
    assert response.status_code == 201, response.text
    return response.json()["conversation_id"]


def test_an_agent_answers_a_chat_from_the_inbox(client: TestClient, stores: Stores) -> None:
    client.post("/v1/identify", headers=basic(), json={"anonymousId": "anon-inbox-1", "messageId": "id-1",
                                                        "traits": {"name": "김지은"}})
    conversation_id = _chat(client, "니트 사이즈 문의드려요", "key-inbox-1")
    add_user(stores, "agent@example.com", "agent")
    token = sign_in(client, "agent@example.com")

    listing = client.get("/inbox?lang=ko")
    assert listing.status_code == 200
    assert "상담함" in listing.text and "김지은" in listing.text and "웹 채팅" in listing.text
    page = client.get(f"/inbox?c={conversation_id}")
    assert "니트 사이즈 문의드려요" in page.text and "고객 정보" in page.text and "상담 이력" in page.text

    refused = client.post(f"/inbox/{conversation_id}/reply", data={"body": "안녕하세요", "kind": "reply"})
    assert refused.status_code == 403  # no CSRF token
    sent = client.post(f"/inbox/{conversation_id}/reply", follow_redirects=False,
                       data={"body": "M 사이즈를 추천드려요", "kind": "reply", "csrf_token": token,
                             "back": f"/inbox?c={conversation_id}"})
    assert sent.status_code == 303 and sent.headers["location"] == f"/inbox?c={conversation_id}"
    client.post(f"/inbox/{conversation_id}/reply", data={"body": "재고 확인 필요", "kind": "note", "csrf_token": token})
    history = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": "anon-inbox-1"}).json()
    assert [m["body"] for m in history["messages"]] == ["니트 사이즈 문의드려요", "M 사이즈를 추천드려요"]

    for action in ("assign_me", "snooze_1h", "resolve", "reopen"):
        done = client.post(f"/inbox/{conversation_id}/action", data={"action": action, "csrf_token": token},
                           follow_redirects=False)
        assert done.status_code == 303, (action, done.text)
    mine = client.get("/inbox?queue=mine&c=" + conversation_id)
    assert "재고 확인 필요" in mine.text and "M 사이즈를 추천드려요" in mine.text
    assert "data-conversation=\"" + conversation_id in mine.text
    english = client.get(f"/inbox?lang=en&c={conversation_id}")
    assert "Inbox" in english.text and "Private note" in english.text and "Web chat" in english.text


def test_marketers_have_no_inbox(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    assert client.get("/inbox").status_code == 403
    assert 'href="/inbox"' not in client.get("/segments").text


def test_a_whatsapp_conversation_outside_its_window_warns_the_agent(client: TestClient, stores: Stores,
                                                                   workspace_id: str) -> None:
    import datetime as dt

    from touchline.conversations import service
    from touchline.conversations.types import CustomerIds, Inbound

    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    received = service.receive(stores, workspace_id, Inbound(
        channel="whatsapp", provider_message_id="wamid.1", customer=CustomerIds(whatsapp_id="821012345678"),
        body="hello"), now=old)
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    page = client.get(f"/inbox?lang=en&c={received.conversation['id']}")
    assert "The 24-hour window is closed" in page.text
