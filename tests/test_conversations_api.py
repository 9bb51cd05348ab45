"""Conversations through the HTTP API as a shop and its agents use it, on both backends: inbound messages
from any channel (de-duplicated, resolved through the identity graph, threaded across channels), the
event log and the customer's timeline, replies sent once through the outbox, notes, assignment and
status, teams and round-robin, canned responses, measures, export and erase, workspace isolation and the
4xx answers at the edge."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.conversations import service
from touchline.conversations.types import Author, CustomerIds, Inbound
from touchline.errors import Conflict
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import (
    conversation_feed,
    conversation_messages,
    conversation_participants,
    conversations,
    outbox,
)
from touchline.web import auth
from touchline.workspaces import service as workspaces

PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def inbound(client: TestClient, body: dict[str, Any], *, token: str | None = None, status: int = 201
            ) -> dict[str, Any]:
    response = client.post("/v1/conversations/inbound", json=body, headers=bearer(token) if token else bearer())
    assert response.status_code == status, response.text
    return response.json()


def wa(pid: str, text: str, wa_id: str = "821055550001", **extra: Any) -> dict[str, Any]:
    return {"channel": "whatsapp", "provider_message_id": pid, "customer": {"whatsapp_id": wa_id}, "body": text,
            **extra}


def sms(pid: str, text: str, phone: str = "010-5555-0002", **extra: Any) -> dict[str, Any]:
    return {"channel": "sms", "provider_message_id": pid, "customer": {"phone": phone}, "body": text, **extra}


def agent(stores: Stores, email: str, role: str = "agent", workspace: str = "default") -> str:
    return str(auth.create_user(stores, email, PASSWORD, role, name=email.split("@")[0], workspace=workspace)["id"])


def count(stores: Stores, table: sa.Table, **where: Any) -> int:
    with stores.read() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int(conn.execute(query).scalar_one())


def events_of(client: TestClient, identifier: str) -> list[dict[str, Any]]:
    view = client.get(f"/v1/profiles/{identifier}", params={"timeline_limit": 200}, headers=bearer())
    assert view.status_code == 200, view.text
    return list(view.json()["timeline"])


# --- receiving ---------------------------------------------------------------------------------------


def test_a_redelivered_webhook_stores_one_message(client: TestClient, stores: Stores) -> None:
    first = inbound(client, wa("wamid.1", "안녕하세요, 주문 문의요"))
    assert first["placement"] == "started" and not first["duplicate"]
    again = inbound(client, wa("wamid.1", "안녕하세요, 주문 문의요"), status=200)
    assert again["duplicate"] and again["placement"] == "duplicate"
    assert again["message"]["id"] == first["message"]["id"]
    assert again["conversation"]["id"] == first["conversation"]["id"]
    assert count(stores, conversation_messages) == 1 and count(stores, conversations) == 1
    # The same provider id on another channel is another message.
    inbound(client, sms("wamid.1", "different channel"))
    assert count(stores, conversation_messages) == 2


def test_a_whatsapp_id_identified_to_a_known_customer_lands_on_their_profile(client: TestClient) -> None:
    traits = {"name": "김민지", "whatsapp_id": "821077770007", "email": "minji@example.com"}
    assert client.post("/v1/identify", json={"userId": "u-7", "traits": traits}, headers=basic()).status_code == 200
    known = client.get("/v1/profiles/u-7", headers=bearer()).json()["id"]
    got = inbound(client, wa("wamid.7", "제 주문 어디쯤인가요?", wa_id="821077770007"))
    assert got["conversation"]["profile_id"] == known
    # A stranger's WhatsApp id makes a new customer, who later identifies on the website: one customer.
    stranger = inbound(client, wa("wamid.8", "hello", wa_id="821088880008"))["conversation"]["profile_id"]
    assert stranger != known
    assert client.get("/v1/profiles/whatsapp_id:821088880008", headers=bearer()).json()["id"] == stranger


def test_the_conversation_continues_across_channels(client: TestClient, stores: Stores) -> None:
    """Chat on the web as an anonymous visitor who is then identified, SMS from the phone the profile
    has, WhatsApp: one thread, each message with its channel."""
    inbound(client, {"channel": "chat", "provider_message_id": "chat-1", "customer": {"anonymous_id": "anon-42"},
                     "body": "이 신발 260 사이즈 있나요?"})
    assert client.post("/v1/identify", json={"anonymousId": "anon-42", "userId": "u-42",
                                             "traits": {"phone": "010-4242-4242"}}, headers=basic()).status_code == 200
    by_sms = inbound(client, sms("SM42", "어제 채팅한 신발이요", phone="+821042424242"))
    by_wa = inbound(client, {"channel": "whatsapp", "provider_message_id": "wamid.42", "body": "주문할게요",
                             "customer": {"whatsapp_id": "821042424242", "phone": "+821042424242"}})
    assert by_sms["placement"] == by_wa["placement"] == "joined"
    cid = by_sms["conversation"]["id"]
    assert by_wa["conversation"]["id"] == cid and by_wa["conversation"]["channel"] == "whatsapp"
    messages = client.get(f"/v1/conversations/{cid}/messages", headers=bearer()).json()["messages"]
    assert [m["channel"] for m in messages] == ["chat", "sms", "whatsapp"]
    assert count(stores, conversations) == 1
    # The conversation is on the customer's profile, whatever identifier finds them.
    view = client.get("/v1/profiles/u-42", headers=bearer()).json()
    assert [c["id"] for c in view["conversations"]] == [cid]


def test_events_reach_the_event_log_and_the_timeline(client: TestClient, stores: Stores) -> None:
    got = inbound(client, sms("SM1", "환불 문의"))
    cid = got["conversation"]["id"]
    reply = client.post(f"/v1/conversations/{cid}/replies", json={"body": "확인해 볼게요"}, headers=bearer())
    assert reply.status_code == 201, reply.text
    assert client.post(f"/v1/conversations/{cid}/resolve", headers=bearer()).status_code == 200
    timeline = events_of(client, "phone:010-5555-0002")
    names = [e["event"] for e in timeline if e["type"] == "track"]
    for name in ("Conversation Started", "Message Received", "Message Replied", "Conversation Resolved"):
        assert name in names, names
    stores.pump()  # into the event store, where segments and reports read them
    with stores.events_conn() as conn:
        rows = conn.execute(sa.text("SELECT event, properties FROM events WHERE event LIKE 'Conversation%' "
                                    "OR event LIKE 'Message Re%'")).all()
    props = {event: p if isinstance(p, dict) else orjson.loads(p) for event, p in rows}
    assert props["Message Received"]["channel"] == "sms" and props["Message Received"]["conversation_id"] == cid
    assert props["Conversation Resolved"]["conversation_id"] == cid


def test_a_message_to_a_resolved_conversation(stores: Stores, workspace_id: str) -> None:
    """Within the reopening window (24 h by default) it reopens the conversation; later it starts a new
    one; a chat window naming its resolved conversation follows the same rule."""
    def msg(pid: str, at: dt.datetime, **extra: Any) -> Any:
        return service.receive(stores, workspace_id, Inbound("chat", pid, CustomerIds(anonymous_id="v-1"), "hi",
                                                             **extra), now=at)

    first = msg("c1", T0)
    cid = first.conversation["id"]
    service.resolve(stores, workspace_id, cid, now=T0 + dt.timedelta(hours=1))
    again = msg("c2", T0 + dt.timedelta(hours=2))
    assert again.placement == "reopened" and again.conversation["id"] == cid
    assert again.conversation["status"] == "open" and again.conversation["resolved_at"] is None
    service.resolve(stores, workspace_id, cid, now=T0 + dt.timedelta(hours=3))
    later = msg("c3", T0 + dt.timedelta(days=3), conversation_id=cid)
    assert later.placement == "started" and later.conversation["id"] != cid
    with stores.read() as conn:
        statuses = dict(conn.execute(sa.select(conversations.c.id, conversations.c.status)).all())
    assert statuses == {cid: "resolved", later.conversation["id"]: "open"}


def test_snoozed_and_pending_conversations_open_on_a_customer_message(client: TestClient) -> None:
    cid = inbound(client, sms("s1", "첫 문의"))["conversation"]["id"]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).isoformat()
    snoozed = client.post(f"/v1/conversations/{cid}/snooze", json={"until": until}, headers=bearer()).json()
    assert snoozed["status"] == "snoozed"
    assert inbound(client, sms("s2", "아직인가요?"))["conversation"]["status"] == "open"
    pending = client.post(f"/v1/conversations/{cid}/status", json={"status": "pending"}, headers=bearer()).json()
    assert pending["status"] == "pending"
    assert inbound(client, sms("s3", "답장 주세요"))["conversation"]["status"] == "open"


# --- replies and notes ----------------------------------------------------------------------------------


def test_a_reply_is_queued_once_and_delivered_once(client: TestClient, stores: Stores) -> None:
    cid = inbound(client, sms("SMin", "배송 언제 되나요?"))["conversation"]["id"]
    body = {"body": "오늘 출고됩니다", "client_key": "reply-1"}
    first = client.post(f"/v1/conversations/{cid}/replies", json=body, headers=bearer())
    assert first.status_code == 201, first.text
    message = first.json()["message"]
    assert message["delivery_status"] == "queued" and message["address"] == "+821055550002"
    assert first.json()["channel_info"]["sms"]["kind"] == "SMS"
    # The client retried: the same reply, still one outbox row under the deterministic key.
    retry = client.post(f"/v1/conversations/{cid}/replies", json=body, headers=bearer())
    assert retry.json()["message"]["id"] == message["id"]
    key = service.reply_outbox_id(message["id"])
    with stores.read() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.workspace_id.is_not(None))).mappings().all()
    assert [r["id"] for r in rows] == [key]
    assert rows[0]["content"]["text"] == "오늘 출고됩니다" and rows[0]["kind"] == "transactional"
    assert rows[0]["to_address"] == "+821055550002" and rows[0]["template"] == service.REPLY_SOURCE
    channel = MemoryChannel("sms")
    sender = Outbox(stores, channels={"sms": channel})
    assert sender.dispatch().sent == 1
    assert sender.dispatch().claimed == 0
    assert len(channel) == 1 and channel.messages[0].idempotency_key == key
    assert channel.messages[0].content.text == "오늘 출고됩니다"
    sent = client.get(f"/v1/conversations/{cid}/messages", headers=bearer()).json()["messages"][-1]
    assert sent["delivery_status"] == "sent" and sent["provider_message_id"] == "mem-sms-1"
    conv = client.get(f"/v1/conversations/{cid}", headers=bearer()).json()
    assert conv["first_response_at"] is not None


def test_notes_are_never_sent(client: TestClient, stores: Stores) -> None:
    user = agent(stores, "jiwoo@shop.example")
    cid = inbound(client, sms("SMn", "문의"))["conversation"]["id"]
    note = client.post(f"/v1/conversations/{cid}/notes", json={"body": "VIP 고객, 환불 승인됨",
                                                               "author": {"kind": "agent", "id": user}},
                       headers=bearer())
    assert note.status_code == 201, note.text
    assert note.json()["message"]["private"] and note.json()["message"]["delivery_status"] is None
    assert count(stores, outbox) == 0
    assert Outbox(stores, channels={"sms": MemoryChannel("sms")}).dispatch().claimed == 0
    customer_side = client.get(f"/v1/conversations/{cid}/messages", params={"notes": "false"}, headers=bearer())
    assert [m["direction"] for m in customer_side.json()["messages"]] == ["inbound"]
    assert "Message Replied" not in [e["event"] for e in events_of(client, "phone:010-5555-0002")]


def test_a_chat_reply_is_delivered_in_place(client: TestClient, stores: Stores) -> None:
    cid = inbound(client, {"channel": "chat", "provider_message_id": "w1", "customer": {"anonymous_id": "a-9"},
                           "body": "hi"})["conversation"]["id"]
    reply = client.post(f"/v1/conversations/{cid}/replies", json={"body": "Hello!"}, headers=bearer()).json()
    assert reply["message"]["delivery_status"] == "sent" and count(stores, outbox) == 0


def test_email_replies_thread(client: TestClient, stores: Stores) -> None:
    """A customer's mail, our reply (In-Reply-To and References name their mail; the reply's own
    Message-ID is recorded), their answer to our reply: one conversation; a new subject sent as a
    reply: a new one."""
    stores.settings.smtp_from = "help@shop.example"
    first = inbound(client, {"channel": "email", "provider_message_id": "<c1@mail.example>",
                             "customer": {"email": "Sora@Example.com"}, "subject": "주문 123 배송",
                             "body": "언제 오나요?", "email": {"message_id": "<c1@mail.example>"}})
    cid = first["conversation"]["id"]
    ours = client.post(f"/v1/conversations/{cid}/replies", json={"body": "내일 도착합니다"}, headers=bearer()).json()
    ours_id = ours["message"]["email"]["message_id"]
    assert ours["message"]["email"]["in_reply_to"] == "<c1@mail.example>" and ours_id.endswith("@shop.example>")
    with stores.read() as conn:
        row = conn.execute(sa.select(outbox.c.content)).scalar_one()
    assert row["subject"] == "Re: 주문 123 배송" and row["headers"]["In-Reply-To"] == "<c1@mail.example>"
    # Another conversation of the customer's is more recent; the answer still threads by its headers.
    inbound(client, {"channel": "chat", "provider_message_id": "chat-x", "customer": {"email": "sora@example.com"},
                     "body": "다른 질문"}, status=201)
    answer = inbound(client, {"channel": "email", "provider_message_id": "<c2@mail.example>",
                              "customer": {"email": "sora@example.com"}, "subject": "RE: 주문 123 배송",
                              "body": "감사합니다", "email": {"message_id": "<c2@mail.example>",
                                                          "in_reply_to": ours_id,
                                                          "references": ["<c1@mail.example>", ours_id]}})
    assert answer["placement"] == "joined" and answer["conversation"]["id"] == cid
    new_topic = inbound(client, {"channel": "email", "provider_message_id": "<c3@mail.example>",
                                 "customer": {"email": "sora@example.com"}, "subject": "Re: 반품 신청",
                                 "body": "반품하고 싶어요", "email": {"message_id": "<c3@mail.example>",
                                                                 "in_reply_to": "<c2@mail.example>"}})
    assert new_topic["placement"] == "started" and new_topic["conversation"]["id"] != cid


def test_whatsapp_window_and_channel_rules(stores: Stores, workspace_id: str) -> None:
    first = Inbound("whatsapp", "wamid.w", CustomerIds(whatsapp_id="8210999"), "hi")
    got = service.receive(stores, workspace_id, first, now=T0)
    cid = got.conversation["id"]
    by = Author("agent")
    ok = service.reply(stores, workspace_id, cid, "Hello", author=by, now=T0 + dt.timedelta(hours=23))
    assert ok["message"]["address"] == "8210999"
    with pytest.raises(Conflict) as caught:
        service.reply(stores, workspace_id, cid, "Still there?", author=by, now=T0 + dt.timedelta(hours=25))
    assert "template" in caught.value.message and caught.value.detail[0]["field"] == "channel"
    templated = service.reply(stores, workspace_id, cid, "", author=by, template_code="order_update",
                              template_params={"1": "A-123"}, now=T0 + dt.timedelta(hours=25))
    assert templated["message"]["delivery_status"] == "queued"


def test_reply_refusals_name_the_field(client: TestClient) -> None:
    cid = inbound(client, {"channel": "chat", "provider_message_id": "r1", "customer": {"anonymous_id": "z"},
                           "body": "hi"})["conversation"]["id"]
    no_phone = client.post(f"/v1/conversations/{cid}/replies", json={"body": "hi", "channel": "sms"},
                           headers=bearer())
    assert no_phone.status_code == 422 and no_phone.json()["detail"][0]["field"] == "channel"
    too_long = client.post(f"/v1/conversations/{cid}/replies", json={"body": "x" * 10_001}, headers=bearer())
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["field"] == "body"
    unknown = client.post("/v1/conversations/cnv_nope/replies", json={"body": "hi"}, headers=bearer())
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["field"] == "conversation_id"
    bad_author = client.post(f"/v1/conversations/{cid}/replies",
                             json={"body": "hi", "author": {"kind": "agent", "id": "usr_ghost"}}, headers=bearer())
    assert bad_author.status_code == 404 and bad_author.json()["detail"][0]["field"] == "author.id"


# --- assignment, status, tags ----------------------------------------------------------------------------


def test_assign_snooze_resolve_reopen(client: TestClient, stores: Stores) -> None:
    jiwoo = agent(stores, "jiwoo@shop.example")
    cid = inbound(client, sms("a1", "문의"))["conversation"]["id"]
    team = client.post("/v1/conversations/teams", json={"name": "CS"}, headers=bearer()).json()
    assigned = client.post(f"/v1/conversations/{cid}/assign", json={"assignee_id": jiwoo, "team_id": team["id"]},
                           headers=bearer())
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee_id"] == jiwoo and assigned.json()["team_id"] == team["id"]
    mine = client.get("/v1/conversations", params={"assignee_id": jiwoo}, headers=bearer()).json()["conversations"]
    assert [c["id"] for c in mine] == [cid]
    # Absent keeps, null clears.
    kept = client.post(f"/v1/conversations/{cid}/assign", json={"assignee_id": None}, headers=bearer()).json()
    assert kept["assignee_id"] is None and kept["team_id"] == team["id"]
    assert [c["id"] for c in client.get("/v1/conversations", params={"unassigned": "true"},
                                        headers=bearer()).json()["conversations"]] == [cid]
    past = client.post(f"/v1/conversations/{cid}/snooze", json={"until": "2020-01-01T00:00:00Z"}, headers=bearer())
    assert past.status_code == 422 and past.json()["detail"][0]["field"] == "snoozed_until"
    resolved = client.post(f"/v1/conversations/{cid}/resolve", headers=bearer()).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    again = client.post(f"/v1/conversations/{cid}/resolve", headers=bearer())
    assert again.status_code == 200 and again.json()["version"] == resolved["version"]  # a retry changes nothing
    bad = client.post(f"/v1/conversations/{cid}/snooze",
                      json={"until": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()}, headers=bearer())
    assert bad.status_code == 409 and bad.json()["detail"][0]["field"] == "status"
    assert bad.json()["detail"][0]["current"] == "resolved"
    assert client.post(f"/v1/conversations/{cid}/reopen", headers=bearer()).json()["status"] == "open"
    tagged = client.post(f"/v1/conversations/{cid}/tags", json={"add": ["VIP", "refund"], "remove": []},
                         headers=bearer()).json()
    assert tagged["tags"] == ["refund", "vip"]
    assert [c["id"] for c in client.get("/v1/conversations", params={"tag": "vip"},
                                        headers=bearer()).json()["conversations"]] == [cid]
    untagged = client.post(f"/v1/conversations/{cid}/tags", json={"remove": ["vip"]}, headers=bearer()).json()
    assert untagged["tags"] == ["refund"]
    names = [e["event"] for e in events_of(client, "phone:010-5555-0002")]
    assert names.count("Conversation Assigned") == 2 and "Conversation Reopened" in names


def test_automatic_assignment_round_robin(client: TestClient, stores: Stores) -> None:
    a = agent(stores, "a@shop.example")
    b = agent(stores, "b@shop.example")
    c = agent(stores, "c@shop.example")
    team = client.post("/v1/conversations/teams", json={"name": "Korean CS", "auto_assign": True,
                                                        "language_routing": True}, headers=bearer()).json()
    for user, langs in ((a, ["ko"]), (b, ["ko", "en"]), (c, ["en"])):
        put = client.put(f"/v1/conversations/teams/{team['id']}/members/{user}",
                         json={"capacity": 2, "languages": langs}, headers=bearer())
        assert put.status_code == 200, put.text
    for user in (a, b, c):
        assert client.post(f"/v1/conversations/agents/{user}/presence", json={"seconds": 300},
                           headers=bearer()).status_code == 200
    got = [inbound(client, sms(f"rr{i}", "안녕하세요", phone=f"010-7000-000{i}", language="ko"))["conversation"]
           for i in range(5)]
    assert [g["assignee_id"] for g in got] == [a, b, a, b, None]  # c writes no Korean; a and b are full
    assert all(g["team_id"] == team["id"] for g in got)
    english = inbound(client, sms("rr-en", "hello", phone="010-7000-0099", language="en"))["conversation"]
    assert english["assignee_id"] == c
    # An agent who goes offline gets nothing new.
    client.post(f"/v1/conversations/agents/{c}/presence", json={"seconds": 0}, headers=bearer())
    english2 = inbound(client, sms("rr-en2", "hi", phone="010-7000-0098", language="en"))["conversation"]
    assert english2["assignee_id"] is None
    listed = {x["id"]: x for x in client.get("/v1/conversations/agents", headers=bearer()).json()["agents"]}
    assert listed[a]["active_conversations"] == 2 and listed[a]["online"] and not listed[c]["online"]
    assert "Conversation Assigned" in [e["event"] for e in events_of(client, "phone:010-7000-0000")]


def test_canned_responses(client: TestClient, stores: Stores) -> None:
    user = agent(stores, "mina@shop.example")
    assert client.post("/v1/identify", json={"userId": "u-c", "traits": {"name": "박서준", "phone": "010-3333-0001"}},
                       headers=basic()).status_code == 200
    cid = inbound(client, sms("cr1", "문의", phone="010-3333-0001"))["conversation"]["id"]
    made = client.post("/v1/conversations/canned-responses",
                       json={"shortcut": "/hello", "title": "인사", "body": "{{ customer.name }}님 안녕하세요, "
                                                                             "{{ agent.name }}입니다."},
                       headers=bearer())
    assert made.status_code == 201, made.text
    rendered = client.post(f"/v1/conversations/{cid}/canned-responses/hello/render", params={"agent_id": user},
                           headers=bearer())
    assert rendered.json()["body"] == "박서준님 안녕하세요, mina입니다."
    escape = client.post("/v1/conversations/canned-responses",
                         json={"shortcut": "evil", "body": "{{ ''.__class__.__mro__ }}"}, headers=bearer())
    assert escape.status_code == 422 and escape.json()["detail"][0]["field"] == "body"
    taken = client.post("/v1/conversations/canned-responses", json={"shortcut": "hello", "body": "x"},
                        headers=bearer())
    assert taken.status_code == 409
    patched = client.patch(f"/v1/conversations/canned-responses/{made.json()['id']}", json={"body": "Hi!"},
                           headers=bearer())
    assert patched.json()["body"] == "Hi!"
    assert client.delete(f"/v1/conversations/canned-responses/{made.json()['id']}", headers=bearer()).status_code == 200
    assert client.get("/v1/conversations/canned-responses", headers=bearer()).json()["canned_responses"] == []


# --- measures ---------------------------------------------------------------------------------------------


def test_stats(stores: Stores, workspace_id: str, client: TestClient) -> None:
    agent_id = agent(stores, "s@shop.example")
    first = service.receive(stores, workspace_id, Inbound("sms", "st1", CustomerIds(phone="010-1111-0001"), "a"),
                            now=T0)
    service.receive(stores, workspace_id, Inbound("chat", "st2", CustomerIds(anonymous_id="st-2"), "b"),
                    now=T0 + dt.timedelta(minutes=30))
    cid = first.conversation["id"]
    service.assign(stores, workspace_id, cid, assignee_id=agent_id, now=T0 + dt.timedelta(minutes=1))
    service.reply(stores, workspace_id, cid, "answer", author=Author("agent", agent_id),
                  now=T0 + dt.timedelta(minutes=5))
    service.resolve(stores, workspace_id, cid, now=T0 + dt.timedelta(minutes=20))
    response = client.get("/v1/conversations/stats", params={"start": "2026-03-02", "end": "2026-03-03"},
                          headers=bearer())
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["conversations"] == {"started": 2, "by_channel": {"chat": 1, "sms": 1}, "resolved": 1}
    assert out["first_response"]["all"]["median"] == 300.0
    assert out["first_response"]["by_agent"][agent_id]["count"] == 1
    assert out["resolution"]["all"]["mean"] == 1200.0
    assert out["by_hour"]["sms"][10] == 1
    assert out["backlog"]["total"] == 1 and out["backlog"]["unassigned"] == 1
    bad = client.get("/v1/conversations/stats", params={"start": "2026-03-03", "end": "2026-03-02"}, headers=bearer())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.end"


# --- the customer façade -------------------------------------------------------------------------------------


def test_export_and_erase_leave_nothing(client: TestClient, stores: Stores) -> None:
    other = inbound(client, sms("keep", "다른 고객", phone="010-9999-0000"))["conversation"]["id"]
    cid = inbound(client, sms("e1", "제 정보 지워주세요", phone="010-2222-0001"))["conversation"]["id"]
    user = agent(stores, "e@shop.example")
    client.post(f"/v1/conversations/{cid}/notes", json={"body": "note", "author": {"kind": "agent", "id": user}},
                headers=bearer())
    client.post(f"/v1/conversations/{cid}/replies", json={"body": "처리하겠습니다"}, headers=bearer())
    exported = client.get("/v1/profiles/phone:010-2222-0001/export", headers=bearer())
    assert exported.status_code == 200
    data = exported.json()["conversations"]
    assert [c["id"] for c in data["conversations"]] == [cid]
    assert sorted(m["direction"] for m in data["messages"]) == ["inbound", "note", "outbound"]
    assert data["participants"]
    profile_id = exported.json()["id"]
    assert client.delete("/v1/profiles/phone:010-2222-0001", headers=bearer()).status_code == 200
    for table in (conversations, conversation_messages, conversation_participants, conversation_feed):
        assert count(stores, table, profile_id=profile_id) == 0, table.name
    for table in (conversation_messages, conversation_participants, conversation_feed):
        assert count(stores, table, conversation_id=cid) == 0, table.name
    assert count(stores, outbox, customer_id=profile_id) == 0
    assert count(stores, conversations) == 1  # the other customer's
    assert client.get(f"/v1/conversations/{cid}", headers=bearer()).status_code == 404
    assert client.get(f"/v1/conversations/{other}", headers=bearer()).status_code == 200


# --- isolation and the edge ----------------------------------------------------------------------------------


def test_workspaces_never_see_each_other(client: TestClient, stores: Stores) -> None:
    with stores.write() as conn:
        staging = workspaces.create_workspace(conn, "staging")
        their_admin = workspaces.create_key(conn, staging, "admin")
    theirs = agent(stores, "other@staging.example", workspace="staging")
    mine = inbound(client, sms("iso1", "hi"))["conversation"]
    assert client.get(f"/v1/conversations/{mine['id']}", headers=bearer(their_admin)).status_code == 404
    assert client.post(f"/v1/conversations/{mine['id']}/replies", json={"body": "x"},
                       headers=bearer(their_admin)).status_code == 404
    assert client.get("/v1/conversations", headers=bearer(their_admin)).json()["conversations"] == []
    # Their agent is unknown here, and nothing about them shows.
    refused = client.post(f"/v1/conversations/{mine['id']}/assign", json={"assignee_id": theirs}, headers=bearer())
    assert refused.status_code == 404 and refused.json()["detail"][0]["field"] == "assignee_id"
    assert "other@staging" not in refused.text
    assert client.post(f"/v1/conversations/agents/{theirs}/presence", json={"seconds": 60},
                       headers=bearer()).status_code == 404
    # The same customer writing to the other shop is another customer there.
    there = inbound(client, sms("iso1", "hi"), token=their_admin)
    assert there["conversation"]["id"] != mine["id"] and not there["duplicate"]
    their_team = client.post("/v1/conversations/teams", json={"name": "T"}, headers=bearer(their_admin)).json()
    assert client.post(f"/v1/conversations/{mine['id']}/assign", json={"team_id": their_team["id"]},
                       headers=bearer()).status_code == 404


def test_bad_input_gets_a_4xx_naming_the_field(client: TestClient, stores: Stores) -> None:
    def post(body: dict[str, Any], status: int) -> dict[str, Any]:
        response = client.post("/v1/conversations/inbound", json=body, headers=bearer())
        assert response.status_code == status, response.text
        return response.json()

    assert post({"channel": "sms", "provider_message_id": "x", "customer": {}, "body": "hi"},
                422)["detail"][0]["field"] == "customer"
    assert post({"channel": "fax", "provider_message_id": "x", "customer": {"phone": "010-1234-5678"}, "body": "hi"},
                422)["detail"][0]["field"] == "channel"
    assert post(sms("x", "y" * 100_001), 422)["detail"][0]["field"] == "body"
    assert post(sms("x", ""), 422)["detail"][0]["field"] == "body"
    assert post(sms("x", "hi", phone="not a phone"), 422)["detail"][0]["field"] == "customer.phone"
    assert post({**sms("x", "hi"), "conversation_id": "cnv_unknown"}, 404)["detail"][0]["field"] == "conversation_id"
    assert post({**sms("x", "hi"), "attachments": [{"url": "javascript:alert(1)"}]},
                422)["detail"][0]["field"] == "attachments.0.url"
    assert post({**sms("x", "hi"), "surprise": 1}, 422)["detail"][0]["field"] == "surprise"
    huge = client.post("/v1/conversations/inbound", content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                       headers={**bearer(), "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert client.get("/v1/conversations/cnv_nope", headers=bearer()).status_code == 404
    assert client.get("/v1/conversations", params={"status": "weird"}, headers=bearer()).status_code == 422
    assert client.get("/v1/conversations/stream", headers={**bearer(), "Last-Event-ID": "abc"}).status_code == 422
    assert client.get("/v1/conversations", headers=bearer(WRITE_KEY)).status_code == 403
    assert count(stores, conversation_messages) == 0


def test_snoozed_conversations_wake_on_time(stores: Stores, workspace_id: str) -> None:
    got = service.receive(stores, workspace_id, Inbound("sms", "z1", CustomerIds(phone="010-6000-0001"), "a"), now=T0)
    cid = got.conversation["id"]
    service.snooze(stores, workspace_id, cid, T0 + dt.timedelta(hours=1), now=T0)
    assert service.wake_snoozed(stores, now=T0 + dt.timedelta(minutes=30)) == 0
    # Read before it is woken, it is already open: the snooze's time has come.
    assert service.get_conversation(stores, workspace_id, cid, now=T0 + dt.timedelta(hours=2))["status"] == "open"
    assert service.wake_snoozed(stores, now=T0 + dt.timedelta(hours=2)) == 1
    assert service.wake_snoozed(stores, now=T0 + dt.timedelta(hours=3)) == 0
    with stores.read() as conn:
        row = conn.execute(sa.select(conversations.c.status, conversations.c.snoozed_until)).one()
        kinds = [r.payload.get("change") for r in conn.execute(sa.select(conversation_feed.c.payload))]
    assert tuple(row) == ("open", None) and kinds.count("status") == 2


def test_a_providers_delivery_report_moves_the_reply_forward(stores: Stores, workspace_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    got = service.receive(stores, workspace_id, Inbound("whatsapp", "wamid.in", CustomerIds(whatsapp_id="8210777"),
                                                        "hi"), now=now)
    reply = service.reply(stores, workspace_id, got.conversation["id"], "hello", author=Author("agent"), now=now)
    channel = MemoryChannel("messenger")
    assert Outbox(stores, channels={"messenger": channel}).dispatch().sent == 1
    assert channel.messages[0].to == "8210777"
    provider_id = channel.get(service.reply_outbox_id(reply["message"]["id"])).provider_id  # type: ignore[union-attr]
    # What the WhatsApp statuses webhook will call, by the provider's id (wamid).
    report = {"channel": "whatsapp", "provider_message_id": provider_id}
    assert service.delivery_update(stores, workspace_id, status="delivered", **report)["delivery_status"] == "delivered"
    assert service.delivery_update(stores, workspace_id, status="sent", **report)["delivery_status"] == "delivered"
    assert service.delivery_update(stores, workspace_id, status="read", **report)["delivery_status"] == "read"
    assert service.delivery_update(stores, workspace_id, channel="whatsapp", provider_message_id="wamid.unknown",
                                   status="read") is None
