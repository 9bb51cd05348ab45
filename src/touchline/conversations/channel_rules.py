"""What each conversation channel allows a reply: where it goes out, to which address, how long it
may be, and when it may be sent at all. Pure: no I/O, ``now`` is an argument.

The facts (outbox channel, addresses, length, window) are the channel registry's
(``touchline.channels.CONVERSATION_REGISTRY``); the rules that apply them are here.

- ``chat``: the web chat; a reply is delivered in place (the chat window reads the conversation), no
  provider.
- ``sms``: through the outbox's ``sms`` channel to the phone the customer wrote from. Length: GSM-7
  text is 160 characters in one segment (153 per segment when split), anything else UCS-2, 70 (67).
  To a Korean number (+82) carriers count EUC-KR bytes instead: up to 90 bytes is an SMS, up to 2,000
  an LMS; longer is refused. Twilio refuses bodies over 1,600 characters.
- ``whatsapp``: through the outbox's ``messenger`` channel (the WhatsApp Cloud API provider) to the
  customer's WhatsApp id. Free-form text only within the 24-hour customer-service window that the
  customer's last WhatsApp message opened; outside it only an approved template may be sent
  (``template_code``), so a text reply is refused with the reason.
- ``kakao``: through the ``messenger`` channel to the customer's Kakao id. (AlimTalk carries only
  approved templates; the Kakao inbound work decides the consultation-talk provider.)
- ``email``: through the ``email`` channel, to the address the customer wrote from, with a ``Re:``
  subject and In-Reply-To / References naming the customer's last mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from touchline.channels import CONVERSATION_REGISTRY, ConversationSpec

__all__ = [
    "RULES", "ChannelRule", "ReplyRefused", "SmsLength", "check_reply", "reply_subject", "sms_length",
]


ChannelRule = ConversationSpec

RULES: Mapping[str, ChannelRule] = MappingProxyType({spec.name: spec for spec in CONVERSATION_REGISTRY})

# GSM 03.38: the basic set (one septet each) and the extension table (two: an escape and the char).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
KOREAN_SMS_BYTES = 90
KOREAN_LMS_BYTES = 2_000


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # GSM-7 | UCS-2 | EUC-KR
    units: int  # septets, UTF-16 code units or EUC-KR bytes
    segments: int  # 1 for an LMS
    kind: str  # SMS | LMS (Korea) | concatenated SMS
    limit: int  # the most units the message may have

    def as_dict(self) -> dict[str, object]:
        return {"encoding": self.encoding, "units": self.units, "segments": self.segments, "kind": self.kind}


def sms_length(text: str, *, korean: bool) -> SmsLength:
    """How ``text`` travels as an SMS: to a Korean number by EUC-KR bytes (SMS up to 90, LMS up to
    2,000), elsewhere in GSM-7 or UCS-2 segments."""
    if korean:
        size = len(text.encode("cp949", errors="replace"))
        kind = "SMS" if size <= KOREAN_SMS_BYTES else "LMS"
        return SmsLength("EUC-KR", size, 1, kind, KOREAN_LMS_BYTES)
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
        encoding = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
        encoding = "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SmsLength(encoding, units, segments, "SMS" if segments == 1 else "concatenated SMS",
                     RULES["sms"].max_chars)


class ReplyRefused(ValueError):
    """A reply the channel cannot carry. ``conflict``: the state forbids it now (the WhatsApp window is
    closed, 409); otherwise the reply itself is wrong (too long, no address: 422). ``field`` names what."""

    def __init__(self, reason: str, field: str, *, conflict: bool = False, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.conflict = conflict
        self.code = code


def check_reply(channel: str, body: str, *, to: str | None, last_inbound_at: dt.datetime | None,
                now: dt.datetime, template: bool = False) -> dict[str, object]:
    """Whether a reply of ``body`` may go out on ``channel`` to ``to`` now; raises :class:`ReplyRefused`
    naming the reason. Returns what the channel makes of it (an SMS's encoding and segments)."""
    rule = RULES[channel]
    if rule.outbox_channel is not None and not to:
        raise ReplyRefused(f"the customer has no address on {channel}", "channel", code="no_address")
    if not body.strip() and not template:
        raise ReplyRefused("a reply needs a body", "body", code="empty")
    if len(body) > rule.max_chars:
        raise ReplyRefused(f"{channel} takes at most {rule.max_chars:,} characters; this reply has {len(body):,}",
                           "body", code="too_long")
    window = rule.window
    if window is not None and not template and (last_inbound_at is None or now - last_inbound_at > window):
        hours = window.total_seconds() / 3600
        since = "never wrote on it" if last_inbound_at is None else f"last wrote at {last_inbound_at.isoformat()}"
        raise ReplyRefused(f"outside {channel}'s {hours:g}-hour customer-service window (the customer {since}); "
                           "only an approved template (template_code) may be sent", "channel", conflict=True,
                           code="window_closed")
    info: dict[str, object] = {}
    if channel == "sms":
        length = sms_length(body, korean=(to or "").startswith("+82"))
        if length.units > length.limit:
            raise ReplyRefused(f"too long for an SMS: {length.units:,} {length.encoding} units, at most "
                               f"{length.limit:,}", "body", code="too_long")
        info["sms"] = length.as_dict()
    return info


def reply_subject(subject: str | None) -> str:
    """An e-mail reply's subject: ``Re: <subject>`` (once)."""
    text = (subject or "").strip()
    if not text:
        return "Re:"
    return text if text.lower().startswith("re:") else f"Re: {text}"
