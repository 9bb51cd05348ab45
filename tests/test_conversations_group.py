"""Inbound messages stored in groups (one transaction for several, as the webhooks' group commit does),
on both backends: each message keeps its own outcome, a refused one undoes only its own writes, a
repeat inside the group is its duplicate, a customer's messages keep their order, and concurrent
requests through the writer are each stored once."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from touchline.conversations import service
from touchline.conversations.types import CustomerIds, Inbound, Received
from touchline.conversations.writer import InboundWriter
from touchline.errors import NotFound, ValidationFailed
from touchline.store.engines import Stores
from touchline.store.schema import conversation_feed, conversation_messages, identities


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
