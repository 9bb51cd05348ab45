"""E-mail replies received for real: mail sent with smtplib to the SMTP listener `touchline serve`
starts, on both backends, for each way e-mail threading goes wrong elsewhere (every reply opening a
new conversation; a new topic sent as a reply merged into an old one; replies from different people to
one newsletter merged), and the listener's edges (redelivery, unknown recipients, quoted text,
attachments, workspaces by the +token address)."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
import sqlalchemy as sa

from touchline.conversations import service
from touchline.conversations.inbound.email import parse, strip_quoted
from touchline.conversations.inbound.smtp_listener import InboundSMTP
from touchline.conversations.types import Author
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import conversation_messages
from touchline.workspaces import service as workspaces
from touchline.workspaces.service import KeyResolver

SHOP = "help@shop.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail(settings: Settings) -> Iterator[tuple[Stores, int, str, str, str]]:
    stores = open_stores(settings.model_copy(update={"smtp_from": SHOP}))
    with stores.write() as conn:
        default = workspaces.workspace_id_by_name(conn, "default")
        other = workspaces.create_workspace(conn, "other")
        other_token = workspaces.create_key(conn, other, "inbound", "mail")
    port = _free_port()
    listener = InboundSMTP(stores, KeyResolver(stores), "127.0.0.1", port)
    listener.start()
    try:
        yield stores, port, default, other, other_token
    finally:
        listener.stop()
        stores.dispose()


def send(port: int, sender: str, subject: str, body: str, *, to: str = SHOP, in_reply_to: str | None = None,
         references: list[str] | None = None, message_id: str | None = None,
         attachment: bytes | None = None) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="mail.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="영수증.pdf")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)
    return str(msg["Message-ID"])


def rows(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(conversation_messages).where(conversation_messages.c.workspace_id == workspace_id)
            .order_by(conversation_messages.c.created_at, conversation_messages.c.id)).mappings()]


def our_reply(stores: Stores, workspace_id: str, conversation_id: str, text: str) -> str:
    """An agent answers; the Message-ID our mail carries (recorded when the reply is queued)."""
    service.reply(stores, workspace_id, conversation_id, text, author=Author("agent"))
    with stores.read() as conn:
        value = conn.execute(sa.select(conversation_messages.c.email_message_id)
                             .where(conversation_messages.c.conversation_id == conversation_id,
                                    conversation_messages.c.direction == "outbound")
                             .order_by(conversation_messages.c.created_at.desc())).scalars().first()
    assert value, "the reply's Message-ID is recorded when it is queued"
    return str(value)


def test_a_reply_threads_into_its_conversation(mail: Any) -> None:
    stores, port, ws, _, _ = mail
    first = send(port, "Jisoo Kim <jisoo@mail.example>", "주문 12345 배송 문의", "언제 오나요?")
    (m1,) = rows(stores, ws)
    ours = our_reply(stores, ws, m1["conversation_id"], "내일 도착합니다.")
    send(port, "jisoo@mail.example", "Re: 주문 12345 배송 문의",
         "감사합니다!\n\nOn Mon, Mar 2, 2026 at 10:00 AM Shop <help@shop.example> wrote:\n> 내일 도착합니다.\n",
         in_reply_to=ours, references=[first, ours])
    send(port, "jisoo@mail.example", "답장: 주문 12345 배송 문의", "하나 더요: 포장은요?", in_reply_to=ours,
         references=[first, ours])
    inbound = [r for r in rows(stores, ws) if r["direction"] == "inbound"]
    assert len(inbound) == 3
    assert {r["conversation_id"] for r in inbound} == {m1["conversation_id"]}
    assert inbound[1]["body"] == "감사합니다!"  # the quoted part stripped


def test_a_new_topic_sent_as_a_reply_starts_a_new_conversation(mail: Any) -> None:
    stores, port, ws, _, _ = mail
    send(port, "minji@mail.example", "반품 신청", "반품하고 싶어요")
    (m1,) = rows(stores, ws)
    ours = our_reply(stores, ws, m1["conversation_id"], "반품 접수되었습니다.")
    send(port, "minji@mail.example", "Re: 새 상품 입고 문의", "다른 질문인데요, 재입고 언제죠?", in_reply_to=ours,
         references=[ours])
    inbound = [r for r in rows(stores, ws) if r["direction"] == "inbound"]
    assert len(inbound) == 2
    assert inbound[0]["conversation_id"] != inbound[1]["conversation_id"]


def test_replies_from_different_people_to_one_newsletter_do_not_merge(mail: Any) -> None:
    stores, port, ws, _, _ = mail
    newsletter = "<newsletter-2026-03@shop.example>"
    for person in ("a@mail.example", "b@mail.example", "c@mail.example"):
        send(port, person, "Re: 3월 신상품 소식", f"{person} 입니다. 사이즈 문의요", in_reply_to=newsletter,
             references=[newsletter])
    inbound = rows(stores, ws)
    assert len(inbound) == 3
    assert len({r["conversation_id"] for r in inbound}) == 3
    assert len({r["profile_id"] for r in inbound}) == 3


def test_redelivery_unknown_recipient_attachments_and_workspaces(mail: Any) -> None:
    stores, port, ws, other, other_token = mail
    msgid = make_msgid(domain="mail.example")
    send(port, "x@mail.example", "사이즈", "M 사이즈 있나요?", message_id=msgid, attachment=b"%PDF-1.4 fake")
    send(port, "x@mail.example", "사이즈", "M 사이즈 있나요?", message_id=msgid, attachment=b"%PDF-1.4 fake")
    (row,) = rows(stores, ws)
    assert "1 attachment(s) not kept" in row["body"]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(port, "x@mail.example", "hi", "hello", to="nobody@shop.example")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(port, "x@mail.example", "hi", "hello", to="help+tlh_forged@shop.example")
    send(port, "x@mail.example", "사이즈", "M 사이즈 있나요?", message_id=msgid, to=f"help+{other_token}@shop.example")
    assert len(rows(stores, ws)) == 1
    (theirs,) = rows(stores, other)
    assert theirs["profile_id"] != row["profile_id"]


def test_parsing_is_pure() -> None:
    raw = (b"From: =?utf-8?b?6rmA7KeA7IiY?= <jisoo@mail.example>\r\nTo: help@shop.example\r\n"
           b"Subject: Re: hi\r\nMessage-ID: <m1@mail.example>\r\nIn-Reply-To: <o1@shop.example>\r\n"
           b"References: <o0@shop.example> <o1@shop.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + "네 좋아요\r\n\r\n2026년 3월 2일 (월) 오전 10:00, Shop <help@shop.example>님이 작성:\r\n".encode()
           + "> 원문\r\n".encode())
    inbound, dropped = parse(raw)
    assert dropped == 0 and inbound.body == "네 좋아요"
    assert inbound.customer.email == "jisoo@mail.example"
    assert inbound.email is not None and inbound.email.in_reply_to == "<o1@shop.example>"
    assert inbound.email.references == ("<o0@shop.example>", "<o1@shop.example>")
    assert strip_quoted("Thanks\n\n-----Original Message-----\nFrom: shop") == "Thanks"


def test_the_app_starts_the_listener_when_a_port_is_set(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from touchline.app import create_app

    port = _free_port()
    stores = open_stores(settings.model_copy(update={"smtp_from": SHOP, "inbound_smtp_port": port}))
    try:
        with TestClient(create_app(stores=stores, run_pump=False)):
            send(port, "served@mail.example", "문의", "served 리스너로 왔어요")
        with stores.read() as conn:
            default = workspaces.workspace_id_by_name(conn, "default")
        assert [r["body"] for r in rows(stores, default)] == ["served 리스너로 왔어요"]
    finally:
        stores.dispose()
