"""The queue of an automatically assigning team is worked off when an agent comes online or frees
capacity (what a Chatwoot or Zendesk user expects): through the HTTP API, on both backends; and two
processes doing it at once never give a conversation two assignees."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from live_server import LiveServer
from support import bearer
from touchline.conversations import routing, service
from touchline.conversations.types import CustomerIds, Inbound
from touchline.store.engines import Stores
from touchline.store.schema import conversation_feed, conversation_participants, conversations
from touchline.web import auth
from web_helpers import add_user, sign_in

PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def agent(stores: Stores, email: str) -> str:
    return str(auth.create_user(stores, email, PASSWORD, "agent", name=email.split("@")[0])["id"])


def inbound(client: TestClient, pid: str, phone: str, language: str) -> dict[str, Any]:
    response = client.post("/v1/conversations/inbound", headers=bearer(), json={
        "channel": "sms", "provider_message_id": pid, "customer": {"phone": phone}, "body": "문의",
        "language": language})
    assert response.status_code == 201, response.text
    return dict(response.json()["conversation"])


def online(client: TestClient, user_id: str, seconds: int = 300) -> None:
    response = client.post(f"/v1/conversations/agents/{user_id}/presence", json={"seconds": seconds},
                           headers=bearer())
    assert response.status_code == 200, response.text


def assignees(client: TestClient) -> dict[str, str | None]:
    rows = client.get("/v1/conversations", params={"status": "all", "limit": 500}, headers=bearer())
    assert rows.status_code == 200, rows.text
    return {c["id"]: c["assignee_id"] for c in rows.json()["conversations"]}


def automatic_assignments(client: TestClient, phone: str) -> list[dict[str, Any]]:
    """To an agent (a conversation that arrives while nobody is online is assigned to the team only)."""
    view = client.get(f"/v1/profiles/phone:{phone}", params={"timeline_limit": 200}, headers=bearer())
    assert view.status_code == 200, view.text
    return [e for e in view.json()["timeline"]
            if e["event"] == "Conversation Assigned" and e["properties"].get("automatic")
            and e["properties"].get("assignee_id")]


def assignment_feed(stores: Stores, conversation_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = conn.execute(sa.select(conversation_feed.c.payload).where(
            conversation_feed.c.conversation_id == conversation_id)).scalars().all()
    return [p for p in rows if p.get("change") == "assignment"]


def test_the_queue_is_worked_off_when_agents_come_online_and_free_capacity(client: TestClient,
                                                                           stores: Stores) -> None:
    ko = agent(stores, "ko@shop.example")
    en = agent(stores, "en@shop.example")
    # Before any team existed: waits with no team at all, and is the oldest.
    early = inbound(client, "b0", "010-8000-0000", "ko")
    team = client.post("/v1/conversations/teams", json={"name": "CS", "auto_assign": True, "language_routing": True},
                       headers=bearer()).json()
    for user, langs, capacity in ((ko, ["ko"], 2), (en, ["en"], 5)):
        put = client.put(f"/v1/conversations/teams/{team['id']}/members/{user}",
                         json={"capacity": capacity, "languages": langs}, headers=bearer())
        assert put.status_code == 200, put.text
    # Nobody online: everything waits, unassigned, in the team's queue.
    ko1 = inbound(client, "b1", "010-8000-0001", "ko")
    en1 = inbound(client, "b2", "010-8000-0002", "en")
    ko2 = inbound(client, "b3", "010-8000-0003", "ko")
    ko3 = inbound(client, "b4", "010-8000-0004", "ko")
    assert early["team_id"] is None and ko1["team_id"] == team["id"]
    assert set(assignees(client).values()) == {None}

    # The Korean agent comes online: the two oldest Korean conversations, up to their capacity.
    online(client, ko)
    got = assignees(client)
    assert (got[early["id"]], got[ko1["id"]], got[en1["id"]], got[ko2["id"]], got[ko3["id"]]) == (
        ko, ko, None, None, None)
    assert client.get(f"/v1/conversations/{early['id']}", headers=bearer()).json()["team_id"] == team["id"]
    [event] = automatic_assignments(client, "010-8000-0000")
    assert event["properties"]["assignee_id"] == ko and event["properties"]["team_id"] == team["id"]
    assert [p["conversation"]["assignee_id"] for p in assignment_feed(stores, early["id"])] == [ko]

    # Idempotent: another heartbeat (still online) and coming online again change nothing more.
    online(client, ko)
    online(client, ko, seconds=0)
    online(client, ko)
    assert assignees(client) == got
    assert len(automatic_assignments(client, "010-8000-0000")) == 1

    # The English agent: the English one only (language routing).
    online(client, en)
    got = assignees(client)
    assert (got[en1["id"]], got[ko2["id"]], got[ko3["id"]]) == (en, None, None)

    # Resolving frees capacity: the oldest Korean one still waiting.
    assert client.post(f"/v1/conversations/{early['id']}/resolve", headers=bearer()).status_code == 200
    got = assignees(client)
    assert (got[ko2["id"]], got[ko3["id"]]) == (ko, None)
    assert len(automatic_assignments(client, "010-8000-0003")) == 1

    # Unassigning frees capacity too; the conversation taken from the agent is not handed straight back.
    unassigned = client.post(f"/v1/conversations/{ko1['id']}/assign", json={"assignee_id": None}, headers=bearer())
    assert unassigned.status_code == 200, unassigned.text
    got = assignees(client)
    assert (got[ko1["id"]], got[ko3["id"]]) == (None, ko)

    # An agent who is offline gets nothing when capacity frees.
    online(client, ko, seconds=0)
    assert client.post(f"/v1/conversations/{ko3['id']}/resolve", headers=bearer()).status_code == 200
    assert assignees(client)[ko1["id"]] is None


def test_a_team_that_does_not_assign_automatically_keeps_its_queue(client: TestClient, stores: Stores) -> None:
    user = agent(stores, "m@shop.example")
    team = client.post("/v1/conversations/teams", json={"name": "Manual"}, headers=bearer()).json()
    client.put(f"/v1/conversations/teams/{team['id']}/members/{user}", json={"capacity": 5}, headers=bearer())
    waiting = inbound(client, "m1", "010-8100-0001", "ko")
    online(client, user)
    assert assignees(client)[waiting["id"]] is None


def test_two_processes_working_the_queue_at_once_never_assign_twice(stores: Stores, workspace_id: str) -> None:
    users = [agent(stores, f"p{i}@shop.example") for i in range(4)]
    team = service.create_team(stores, workspace_id, "Busy", auto_assign=True)
    for user in users:
        service.set_member(stores, workspace_id, team["id"], user, capacity=3)
    for i in range(20):
        service.receive(stores, workspace_id, Inbound("sms", f"c{i}", CustomerIds(phone=f"010-8200-{i:04d}"), "hi"),
                        now=T0 + dt.timedelta(seconds=i))
    now = dt.datetime.now(dt.UTC)
    start = threading.Barrier(len(users))
    failures: list[BaseException] = []

    def come_online(user: str) -> None:
        try:
            start.wait()
            service.heartbeat(stores, workspace_id, user, seconds=300, now=now)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=come_online, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    with stores.read() as conn:
        rows = conn.execute(sa.select(conversations.c.id, conversations.c.assignee_id, conversations.c.created_at)
                            ).mappings().all()
        agents_in = conn.execute(sa.select(conversation_participants.c.conversation_id, sa.func.count())
                                 .where(conversation_participants.c.kind == "agent")
                                 .group_by(conversation_participants.c.conversation_id)).all()
    taken = [r for r in rows if r["assignee_id"] is not None]
    assert len(taken) == 12  # four agents of capacity three
    loads = {u: sum(r["assignee_id"] == u for r in rows) for u in users}
    assert all(n <= 3 for n in loads.values()), loads
    assert all(n == 1 for _, n in agents_in)  # each conversation had one agent, once
    assert {cid for cid, _ in agents_in} == {r["id"] for r in taken}
    # The oldest waited least long: the twelve oldest were handed out.
    oldest = sorted(rows, key=lambda r: r["created_at"])[:12]
    assert {r["id"] for r in oldest} == {r["id"] for r in taken}
    # Idempotent: a second round changes nothing.
    for user in users:
        service.heartbeat(stores, workspace_id, user, seconds=0, now=now)
        service.heartbeat(stores, workspace_id, user, seconds=300, now=now)
    with stores.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(conversations)
                            .where(conversations.c.assignee_id.is_not(None))).scalar_one() == 12


# --- the rule, pure -----------------------------------------------------------------------------------


def test_backlog_rule_oldest_first_in_turns_within_capacity_and_language() -> None:
    later = T0 + dt.timedelta(hours=1)
    team = routing.TeamRule("t", auto_assign=True, language_routing=True, members=(
        routing.Member("a", 2, ("ko",), later), routing.Member("b", 1, ("ko", "en"), later),
        routing.Member("c", 3, ("en",), None)), last_assigned_user_id="a")
    waiting = [routing.Waiting(f"w{i}", lang, T0 - dt.timedelta(minutes=10 - i))
               for i, lang in enumerate(["ko", "ko", "en", "ko", "ko"])]
    assert routing.backlog(team, list(reversed(waiting)), now=T0) == [("w0", "b"), ("w1", "a"), ("w3", "a")]
    # The English one waits: b, the only online English speaker, is full; c is offline.
    assert routing.backlog(routing.TeamRule("t", auto_assign=False, language_routing=False, members=team.members),
                           waiting, now=T0) == []
    assert routing.backlog(team, waiting, now=later) == []  # everyone's presence ran out


def test_an_agent_is_online_while_their_inbox_is_open(live: LiveServer) -> None:
    """The dashboard's inbox stream keeps its agent online (automatic assignment reads presence); no
    agent is online before the page opens."""
    add_user(live.stores, "live-agent@example.com", "agent")

    def online_emails() -> set[str]:
        response = live.http.get("/v1/conversations/agents", headers=bearer())
        assert response.status_code == 200, response.text
        return {a["email"] for a in response.json()["agents"] if a["online"]}

    assert "live-agent@example.com" not in online_emails()
    with httpx.Client(base_url=live.url, timeout=20.0, follow_redirects=True) as browser:
        sign_in(browser, "live-agent@example.com")  # type: ignore[arg-type]  # the same calls as a TestClient
        with browser.stream("GET", "/inbox/stream") as response:
            assert response.status_code == 200
            next(response.iter_lines())  # the stream has opened: presence was renewed first
            assert "live-agent@example.com" in online_emails()
