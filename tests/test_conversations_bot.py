"""The shop assistant in conversations (issue 15, first part), through the HTTP API as a shopper and an
agent use it: it answers from the shop's FAQ on the channel the customer wrote on, hands over when asked
(tag and summary note for the agent), stays silent once a person has replied, and says nothing where the
shop has no FAQ or the question is old. ``bot.respond_all`` is the round ``touchline serve``'s assistant
thread runs after each group of inbound messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.assistant import service as assistant_service
from touchline.conversations import bot
from touchline.store.engines import Stores


def chat(client: TestClient, text: str, key: str, anonymous_id: str = "anon-bot") -> str:
    response = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": f"message-{key}", "text": text, "language": "ko"})
    assert response.status_code == 201, response.text
    return str(response.json()["conversation_id"])


def thread(client: TestClient, cid: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/conversations/{cid}/messages", headers=bearer())
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def test_the_assistant_answers_from_the_faq_and_hands_over_when_asked(client: TestClient, stores: Stores,
                                                                      workspace_id: str) -> None:
    assert assistant_service.load_seed(stores, workspace_id) > 0
    cid = chat(client, "반품하고 싶은데 어떻게 해요?", "b-1")
    assert bot.respond_all(stores) == 1
    answer = thread(client, cid)[-1]
    assert answer["author"] == {"kind": "bot", "id": "assistant"} and answer["direction"] == "outbound"
    assert "반품" in answer["body"]
    # The customer's own history shows it too (the chat window reads this).
    history = client.get("/v1/chat/messages", params={"anonymous_id": "anon-bot"}, headers=basic()).json()
    assert history["messages"][-1]["body"] == answer["body"]
    assert bot.respond_all(stores) == 0  # its turn is taken: nothing twice

    chat(client, "상담원 연결해 주세요", "b-2")
    assert bot.respond_all(stores) == 1
    messages = thread(client, cid)
    notes = [m for m in messages if m["private"]]
    assert notes and "상담원 연결해 주세요" in notes[-1]["body"] and "고객이 상담원을 요청했어요" in notes[-1]["body"]
    conversation = client.get(f"/v1/conversations/{cid}", headers=bearer()).json()
    assert bot.HANDOVER_TAG in conversation["tags"] and conversation["status"] == "open"


def test_the_assistant_is_silent_once_a_person_replied(client: TestClient, stores: Stores,
                                                       workspace_id: str) -> None:
    assistant_service.load_seed(stores, workspace_id)
    cid = chat(client, "배송비 얼마예요?", "s-1", anonymous_id="anon-silent")
    assert client.post(f"/v1/conversations/{cid}/replies", json={"body": "안녕하세요, 상담원입니다."},
                       headers=bearer()).status_code == 201
    chat(client, "반품은요?", "s-2", anonymous_id="anon-silent")
    assert bot.respond_all(stores) == 0
    assert [m["author"]["kind"] for m in thread(client, cid)] == ["customer", "agent", "customer"]


def test_no_faq_or_an_old_question_gets_no_bot(client: TestClient, stores: Stores, workspace_id: str) -> None:
    chat(client, "배송비 얼마예요?", "n-1", anonymous_id="anon-nofaq")
    assert bot.respond_all(stores) == 0  # the shop has no FAQ entry in use: no bot
    assistant_service.load_seed(stores, workspace_id)
    later = dt.datetime.now(dt.UTC) + bot.FRESH + dt.timedelta(minutes=1)
    assert bot.respond_all(stores, now=later) == 0  # past FRESH: left to people
    assert bot.respond_all(stores) == 1


def test_the_assistant_takes_the_first_turn_and_hands_over_to_the_agent_online(
        client: TestClient, stores: Stores, workspace_id: str) -> None:
    """With an auto-assigning team and an agent online, a new conversation still waits for the assistant;
    what it answers stays with it, and a hand-over routes the conversation to the agent whose turn it is."""
    from test_conversations_backlog import agent, online

    assistant_service.load_seed(stores, workspace_id)
    person = agent(stores, "cs@shop.example")
    team = client.post("/v1/conversations/teams", json={"name": "CS", "auto_assign": True},
                       headers=bearer()).json()
    assert client.put(f"/v1/conversations/teams/{team['id']}/members/{person}", json={"capacity": 5},
                      headers=bearer()).status_code == 200
    online(client, person)
    cid = chat(client, "배송비 얼마예요?", "t-1", anonymous_id="anon-first")
    assert client.get(f"/v1/conversations/{cid}", headers=bearer()).json()["assignee_id"] is None
    assert bot.respond_all(stores) == 1
    assert client.get(f"/v1/conversations/{cid}", headers=bearer()).json()["assignee_id"] is None
    chat(client, "사람이랑 얘기하고 싶어요", "t-2", anonymous_id="anon-first")
    assert bot.respond_all(stores) == 1
    handed = client.get(f"/v1/conversations/{cid}", headers=bearer()).json()
    assert handed["assignee_id"] == person and handed["team_id"] == team["id"]
    chat(client, "빨리요", "t-3", anonymous_id="anon-first")
    assert bot.respond_all(stores) == 0  # assigned to a person now: the assistant is silent
