"""Inbound messages stored in groups (one transaction for several, as the webhooks' group commit does),
on both backends: each message keeps its own outcome, a refused one undoes only its own writes, a
repeat inside the group is its duplicate, a customer's messages keep their order, and concurrent
requests through the writer are each stored once."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from touchline.conversations import service
from touchline.conversations.types import CustomerIds, EmailHeaders, Inbound, Received
from touchline.conversations.writer import InboundWriter
from touchline.errors import NotFound, TouchlineError, ValidationFailed
from touchline.store.engines import Stores
from touchline.store.schema import conversation_feed, conversation_messages, event_staging, identities
from touchline.workspaces import service as workspaces


def sms(pid: str, phone: str, body: str = "배송 언제 와요?", **extra: object) -> Inbound:
    return Inbound(channel="sms", provider_message_id=pid, customer=CustomerIds(phone=phone), body=body,
                   **extra)  # type: ignore[arg-type]


def stored(stores: Stores, workspace_id: str) -> list[dict[str, object]]:
    with stores.read() as conn:
        rows = conn.execute(sa.select(conversation_messages).where(conversation_messages.c.workspace_id == workspace_id)
                            .order_by(conversation_messages.c.created_at, conversation_messages.c.id)).mappings()
        return [dict(r) for r in rows]


def count(stores: Stores, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def test_a_refused_message_does_not_fail_its_neighbours(stores: Stores, workspace_id: str) -> None:
    outcomes = service.receive_many(stores, [
        (workspace_id, sms("SM1", "+821055550001", "첫 번째")),
        # Refused after its customer was resolved (a new one): its savepoint takes the profile back too.
        (workspace_id, sms("SM2", "+821055550002", conversation_id="cnv_nobody")),
        (workspace_id, sms("SM3", "+821055550003", body="   ")),  # refused before the transaction
        (workspace_id, sms("SM4", "+821055550004")),
        (workspace_id, sms("SM5", "+821055550001", "두 번째")),
    ])
    assert [type(o) for o in outcomes] == [Received, NotFound, ValidationFailed, Received, Received]
    first, _, _, other, second = outcomes
    assert isinstance(first, Received) and isinstance(second, Received) and isinstance(other, Received)
    assert first.placement == "started" and second.placement == "joined"
    assert second.conversation["id"] == first.conversation["id"] != other.conversation["id"]
    rows = stored(stores, workspace_id)
    assert [r["provider_message_id"] for r in rows] == ["SM1", "SM4", "SM5"]
    # The customer's two messages keep their order: each message has a moment of its own.
    assert rows[0]["created_at"] < rows[1]["created_at"] < rows[2]["created_at"]
    assert count(stores, identities, identities.c.value == "+821055550002") == 0
    assert count(stores, conversation_feed, conversation_feed.c.workspace_id == workspace_id) == 3


def test_a_repeat_inside_one_group_is_its_duplicate(stores: Stores, workspace_id: str) -> None:
    first, again = service.receive_many(stores, [(workspace_id, sms("SM9", "+821055550009")),
                                                 (workspace_id, sms("SM9", "+821055550009"))])
    assert isinstance(first, Received) and isinstance(again, Received)
    assert not first.duplicate and again.duplicate and again.message["id"] == first.message["id"]
    assert len(stored(stores, workspace_id)) == 1


def test_concurrent_messages_through_the_writer_are_each_stored_once(stores: Stores, workspace_id: str) -> None:
    writer = InboundWriter(stores, max_group=8)
    # 40 messages from 10 customers, every fifth delivered twice, all at once.
    messages = [sms(f"SMc{i}", f"+82105556{i % 10:04d}", f"메시지 {i}") for i in range(40)]
    messages += [messages[i] for i in range(0, 40, 5)]
    messages.append(sms("SMbad", "+821055569999", body=""))

    async def send_all() -> list[Received | BaseException]:
        return await asyncio.gather(*(writer.receive(workspace_id, m) for m in messages), return_exceptions=True)

    try:
        outcomes = asyncio.run(send_all())
    finally:
        writer.stop()
    assert isinstance(outcomes[-1], ValidationFailed)
    received = [o for o in outcomes[:-1] if isinstance(o, Received)]
    assert len(received) == 48 and sum(o.duplicate for o in received) == 8
    rows = stored(stores, workspace_id)
    assert sorted(str(r["provider_message_id"]) for r in rows) == sorted(f"SMc{i}" for i in range(40))
    by_customer: dict[object, list[int]] = {}
    for row in rows:
        by_customer.setdefault(row["conversation_id"], []).append(int(str(row["body"]).split()[1]))
    assert len(by_customer) == 10
    assert all(numbers == sorted(numbers) for numbers in by_customer.values())  # each customer's order kept


def _round_one() -> list[Inbound]:
    a, b, u = "+821055570001", "+821055570002", "user-57"
    first_mail = EmailHeaders(message_id="<q1@shop.example>")
    return [
        sms("SMa1", a, "처음"),
        sms("SMa2", a, "다시"),  # a new customer writing twice in one group
        sms("SMb1", b, "안녕하세요", traits={"name": "B"}),
        # Overlapping identifiers (the same phone, a WhatsApp id more): resolved after the ones before.
        Inbound(channel="whatsapp", provider_message_id="wa1", customer=CustomerIds(phone=a, whatsapp_id="wa-a"),
                body="왓츠앱"),
        Inbound(channel="chat", provider_message_id="ch1", customer=CustomerIds(anonymous_id="anon-57"), body="hi",
                conversation_id="cnv_nobody"),  # nobody knew them: no such conversation, nothing recorded
        sms("SMa1", a, "처음"),  # a repeat delivery
        Inbound(channel="email", provider_message_id="<q1@shop.example>", customer=CustomerIds(email="c@x.example"),
                body="질문", subject="주문", email=first_mail),
        Inbound(channel="email", provider_message_id="<q2@shop.example>", customer=CustomerIds(email="c@x.example"),
                body="추가 질문", subject="Re: 주문",
                email=EmailHeaders(message_id="<q2@shop.example>", in_reply_to="<q1@shop.example>",
                                   references=("<q1@shop.example>",))),
        Inbound(channel="chat", provider_message_id="ch2", customer=CustomerIds(user_id=u), body="로그인",
                traits={"email": "u@x.example"}),
        Inbound(channel="chat", provider_message_id="ch3", customer=CustomerIds(user_id=u), body="또"),
        sms("SMd1", "+821055570004", body="   "),
    ]


def _round_two(resolved_a: str) -> list[Inbound]:
    return [
        sms("SMa3", "+821055570001", "해결됐나요?"),  # reopens the resolved conversation
        sms("SMb2", "+821055570002", "감사합니다"),
        Inbound(channel="chat", provider_message_id="ch4", customer=CustomerIds(user_id="user-57"), body="이어서"),
        sms("SMa4", "+821055570001", "대화 이어서", conversation_id=resolved_a),  # the hint names its conversation
        sms("SMe1", "+821055570005", "새 고객"),
        sms("SMb2", "+821055570002", "감사합니다"),
    ]


def _summary(stores: Stores, workspace_id: str, outcomes: list[Received | TouchlineError]) -> list[object]:
    """Each outcome, told without the workspace's ids: its kind, placement, and the provider ids of every
    message in its conversation, with the conversation's status and version."""
    with stores.read() as conn:
        messages = conn.execute(sa.select(conversation_messages.c.conversation_id,
                                          conversation_messages.c.provider_message_id)
                                .where(conversation_messages.c.workspace_id == workspace_id)).all()
        events = conn.execute(sa.select(event_staging.c.event, sa.func.count()).where(
            event_staging.c.workspace_id == workspace_id).group_by(event_staging.c.event)).all()
    thread: dict[str, set[str]] = {}
    for cid, pid in messages:
        thread.setdefault(cid, set()).add(pid)
    out: list[object] = []
    for o in outcomes:
        if isinstance(o, Received):
            out.append((o.placement, o.duplicate, o.message["provider_message_id"],
                        sorted(thread[o.conversation["id"]]), o.conversation["status"], o.conversation["version"]))
        else:
            out.append(type(o).__name__)
    return [*out, sorted((str(event), n) for event, n in events)]


def test_a_group_stored_together_does_what_one_at_a_time_does(stores: Stores, workspace_id: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with stores.write() as conn:
        apart = workspaces.create_workspace(conn, "one-at-a-time")

    def run(ws: str) -> list[object]:
        first = service.receive_many(stores, [(ws, m) for m in _round_one()])
        a = next(o for o in first if isinstance(o, Received) and o.message["provider_message_id"] == "SMa1")
        service.resolve(stores, ws, a.conversation["id"])
        second = service.receive_many(stores, [(ws, m) for m in _round_two(a.conversation["id"])])
        return _summary(stores, ws, [*first, *second])

    sizes: list[int] = []  # the runs stored together
    store_together = service._Together.store

    def counted(self: service._Together, deferred: service._Deferred) -> object:
        outcomes = store_together(self, deferred)
        sizes.append(len(self.plans))
        return outcomes

    monkeypatch.setattr(service._Together, "store", counted)
    together = run(workspace_id)
    # Round one: up to the WhatsApp message (its phone was named before), from it to the e-mail reply
    # (stored alone), after it; round two at once.
    assert sizes == [3, 4, 2, 6]

    def one_at_a_time(self: object, deferred: object) -> None:
        raise service._Apart

    monkeypatch.setattr(service._Together, "store", one_at_a_time)
    assert run(apart) == together
    assert together[0][:2] == ("started", False) and together[1][:2] == ("joined", False)
    assert together[4] == "NotFound" and together[5][:2] == ("duplicate", True)
    assert together[10] == "ValidationFailed"
