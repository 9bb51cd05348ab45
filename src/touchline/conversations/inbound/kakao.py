"""KakaoTalk through a Kakao i Open Builder skill: the skill request Open Builder POSTs for each message
a user writes to the channel's chatbot, and the skill response it expects.

Request (JSON): ``userRequest.user.id`` (the user's id for this bot: the customer's Kakao id),
``userRequest.utterance`` (what they wrote), ``userRequest.lang``, ``bot.id``; Open Builder signs
nothing, so the skill server is configured with a header carrying a shared secret, and the bot id is
checked against the configured one. The request carries no message id: the de-duplication id is the
SHA-256 of the body, so a re-sent request is one message. Response: a ``version 2.0`` template with one
``simpleText``. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.types import CustomerIds, Inbound

__all__ = ["SECRET_HEADER", "answer", "bot_matches", "parse", "verify"]

SECRET_HEADER = "x-touchline-skill-secret"
_TEXT_LIMIT = 1000  # simpleText.text's documented maximum
_LABEL_LIMIT = 14  # a quickReplies label: 14 characters at most (longer ones are cut in the chat room)
_QUICK_REPLIES_LIMIT = 10


def verify(secret: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(secret.encode(), (presented or "").encode())


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(field, "missing or not an object")
    return value


def bot_matches(payload: Any, bot_id: str) -> bool:
    """Whether the request comes from the configured bot (``bot.id``)."""
    bot = payload.get("bot") if isinstance(payload, dict) else None
    return isinstance(bot, dict) and bot.get("id") == bot_id


def parse(payload: Any, raw: bytes) -> Inbound:
    root = _obj(payload, "(body)")
    request = _obj(root.get("userRequest"), "userRequest")
    user = _obj(request.get("user"), "userRequest.user")
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise Malformed("userRequest.user.id", "missing or not a string")
    utterance = request.get("utterance")
    if not isinstance(utterance, str) or not utterance.strip():
        raise Malformed("userRequest.utterance", "missing or empty")
    lang = request.get("lang")
    return Inbound(channel="kakao", provider_message_id="kakao:" + hashlib.sha256(raw).hexdigest(),
                   customer=CustomerIds(kakao_id=user_id), body=utterance,
                   language=lang if isinstance(lang, str) and lang in ("ko", "en") else None,
                   verified=True)  # the Kakao user id comes from Open Builder, behind the skill secret


def answer(text: str, quick_replies: Sequence[str] = ()) -> dict[str, Any]:
    """The skill response Open Builder shows the user: a ``simpleText``, and the answers the user can tap
    as ``quickReplies`` (a label of at most 14 characters that sends the whole text, at most ten)."""
    template: dict[str, Any] = {"outputs": [{"simpleText": {"text": text[:_TEXT_LIMIT]}}]}
    if quick_replies:
        template["quickReplies"] = [{"label": q[:_LABEL_LIMIT], "action": "message", "messageText": q}
                                    for q in quick_replies[:_QUICK_REPLIES_LIMIT]]
    return {"version": "2.0", "template": template}
