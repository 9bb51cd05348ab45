"""E-mail replies: a received message (RFC 5322 bytes) as an inbound message. Pure: no I/O.

What is read: ``From`` (the customer), ``Subject``, ``Message-ID`` (the de-duplication id, and what a
later reply names), ``In-Reply-To`` and ``References`` (threading, see
:mod:`touchline.conversations.placement`), the text part (the HTML part, tags removed, when there is
no text part) without the quoted message it answers (mail-parser-reply, in Korean and English, plus
Korean Gmail's and Naver's "...님이 작성:" line, which it does not know). Attachments are not kept:
Touchline stores links, not files, and a mail carries files; the message says how many were dropped
(``[첨부 파일 2개는 저장되지 않았습니다 / 2 attachments not kept]``) so the agent knows to ask.
"""

from __future__ import annotations

import hashlib
import html
import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses

from mailparser_reply import EmailReplyParser

from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.types import CustomerIds, EmailHeaders, Inbound

__all__ = ["parse", "strip_quoted"]

_MSGID = re.compile(r"<[^<>\s]+>")
# "2026년 3월 2일 (월) 오전 10:00, Shop <shop@example.com>님이 작성:" (Gmail in Korean), "...wrote:" split
# over two lines, and the Outlook separator.
_QUOTE_HEAD = re.compile(r"^(?:.*님이 작성:\s*|-{2,}\s*(?:Original Message|원본 메시지)\s*-{2,}\s*)$", re.MULTILINE)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)
_PARSER = EmailReplyParser(languages=["ko", "en"])


def strip_quoted(text: str) -> str:
    """The new text of a reply, without the message it quotes."""
    text = text.replace("\r\n", "\n")
    head = _QUOTE_HEAD.search(text)
    if head is not None:
        text = text[: head.start()]
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    text = "\n".join(lines)
    stripped = _PARSER.parse_reply(text=text) or text
    return stripped.strip()


def _ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def parse(raw: bytes) -> tuple[Inbound, int]:
    """The message, and how many attachments were dropped."""
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    senders = [a for _, a in getaddresses([str(message.get("From") or "")]) if "@" in a]
    if not senders:
        raise Malformed("From", "missing or without an address")
    message_ids = _ids(str(message.get("Message-ID") or ""))
    # A mail without a Message-ID (rare): one made of its bytes, so a redelivery is still one message.
    message_id = message_ids[0] if message_ids else "<" + hashlib.sha256(raw).hexdigest() + "@touchline.invalid>"
    replied = _ids(str(message.get("In-Reply-To") or ""))
    in_reply_to = replied[0] if replied else None
    references = tuple(_ids(str(message.get("References") or "")))
    body_part = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body_part is not None and isinstance(body_part, EmailMessage):
        try:
            content = body_part.get_content()
        except (LookupError, ValueError):  # an unknown charset: the bytes as UTF-8, replaced where wrong
            payload = body_part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if body_part.get_content_subtype() == "html":
            content = html.unescape(_TAGS.sub("", content))
        text = strip_quoted(str(content)) if (in_reply_to or references) else str(content).strip()
    dropped = sum(1 for _ in message.iter_attachments())
    if dropped:
        note = f"[첨부 파일 {dropped}개는 저장되지 않았습니다 / {dropped} attachment(s) not kept]"
        text = f"{text}\n\n{note}" if text else note
    subject = str(message.get("Subject") or "").strip() or None
    return Inbound(channel="email", provider_message_id=message_id, customer=CustomerIds(email=senders[0]),
                   body=text, subject=subject[:1000] if subject else None,
                   email=EmailHeaders(message_id=message_id, in_reply_to=in_reply_to, references=references)), dropped
