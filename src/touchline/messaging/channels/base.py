"""The one interface every channel implements, and what it takes and returns.

``Channel.send(message) -> Sent | Skipped | Failed``. A channel never raises for a provider's answer
or a network problem: it returns ``Failed(reason, retryable)``, and the outbox decides about retries.
``Skipped`` means the channel chose not to send (no address, legally required data missing) and a retry
would not change that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from touchline.messaging.types import AD_PREFIX_KO, MessageKind, RenderedContent, is_korean

__all__ = [
    "AdMarking",
    "BatchingChannel",
    "Channel",
    "Failed",
    "OutboundMessage",
    "SendResult",
    "Sent",
    "Skipped",
    "as_sent",
    "korean_ad_subject",
    "korean_ad_text",
]


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered message for one recipient on one channel.

    ``idempotency_key`` is the message id (deterministic over journey run, step and channel): adapters
    pass it to the provider where the provider supports it, and derive the e-mail Message-ID from it.
    """

    idempotency_key: str
    channel: str
    to: str
    content: RenderedContent
    kind: MessageKind = "transactional"
    profile_id: str | None = None
    unsubscribe_url: str | None = None  # https one-click endpoint (RFC 8058)
    unsubscribe_mailto: str | None = None  # mailto:unsubscribe+<token>@shop.example
    data: Mapping[str, Any] = field(default_factory=dict)  # extra payload (webhook body, push data)

    @property
    def advertising(self) -> bool:
        return self.kind == "advertising"

    @property
    def korean_advertising(self) -> bool:
        return self.advertising and is_korean(self.content.locale)


@dataclass(frozen=True)
class Sent:
    provider_id: str
    ok = True


@dataclass(frozen=True)
class Skipped:
    reason: str
    ok = False


@dataclass(frozen=True)
class Failed:
    reason: str
    retryable: bool
    ok = False


SendResult = Sent | Skipped | Failed


@runtime_checkable
class Channel(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> SendResult: ...


@runtime_checkable
class BatchingChannel(Channel, Protocol):
    """A channel that keeps a connection open across sends (SMTP): the outbox calls ``end_batch`` after
    each dispatch batch, so a connection serves one batch and is not left idle between rounds."""

    def end_batch(self) -> None: ...


_AD_PREFIX_RE = re.compile(r"^\s*\(\s*광고\s*\)")


def korean_ad_subject(subject: str) -> str:
    """``(광고)`` in front of an advertising subject, once."""
    return subject if _AD_PREFIX_RE.match(subject) else f"{AD_PREFIX_KO} {subject}".rstrip()


def korean_ad_text(text: str, *, sender_name: str | None, opt_out_line: str) -> str:
    """Advertising SMS/text per 정보통신망법 제50조: ``(광고)`` and the sender's name first, a free
    opt-out (``무료수신거부 080-...``) last; once, whether the template wrote them already or not."""
    body = _AD_PREFIX_RE.sub("", text).strip()
    if sender_name and _AD_PREFIX_RE.match(text) and body.startswith(sender_name):
        body = body[len(sender_name):].strip()
    head = f"{AD_PREFIX_KO}{sender_name}" if sender_name else AD_PREFIX_KO
    tail = "" if opt_out_line in body else f"\n{opt_out_line}"
    return f"{head} {body}{tail}"


@dataclass(frozen=True)
class AdMarking:
    """What a Korean advertising text message carries besides its content (정보통신망법 제50조): the
    sender's name after ``(광고)``, and a free opt-out line (``무료수신거부 080-...``) at the end. From
    ``TOUCHLINE_SMS_AD_SENDER_NAME`` and ``TOUCHLINE_SMS_AD_OPT_OUT_LINE``."""

    sender_name: str | None = None
    opt_out_line: str | None = None


def as_sent(channel: str, kind: MessageKind, content: RenderedContent, marking: AdMarking) -> RenderedContent | Skipped:
    """The content exactly as ``channel`` sends it: Korean advertising gets ``(광고)`` in front of an
    e-mail's subject and a push notification's title, and an SMS gets ``(광고)`` and the sender's name first
    and the free opt-out line last (without that line it may not be sent: ``Skipped("missing_opt_out_line")``).

    The one place this marking is added. The outbox applies it when it renders a message, before the
    content is committed, so the delivery log holds what the channel sends and a retry resends the same;
    the preview renders through the same function; adapters send the content as they get it. An SMS with
    no text is left to its channel (``empty_body``)."""
    if kind != "advertising" or not is_korean(content.locale):
        return content
    if channel == "email" and content.subject:
        return content.replaced(subject=korean_ad_subject(content.subject))
    if channel == "push":  # FCM shows the title, or the subject when a template has no title
        if content.title:
            return content.replaced(title=korean_ad_subject(content.title))
        if content.subject:
            return content.replaced(subject=korean_ad_subject(content.subject))
        return content
    if channel == "sms":
        text = content.text or content.body or ""
        if not text.strip():
            return content
        if not marking.opt_out_line:
            return Skipped("missing_opt_out_line")  # sending it would break 정보통신망법 제50조
        return content.replaced(text=korean_ad_text(text, sender_name=marking.sender_name,
                                                     opt_out_line=marking.opt_out_line))
    return content
