"""Plain values that cross the conversations' service interface: what a channel hands in, who acts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from touchline.channels import CONVERSATION_CHANNELS, ConversationChannel

__all__ = [
    "AUTHOR_KINDS",
    "CONVERSATION_CHANNELS",
    "STATUSES",
    "SYSTEM",
    "Attachment",
    "Author",
    "AuthorKind",
    "ConversationChannel",
    "CustomerIds",
    "EmailHeaders",
    "Inbound",
    "Received",
    "Status",
]

# The channels a conversation's messages come and go by: the channel registry's.

Status = Literal["open", "pending", "snoozed", "resolved"]
STATUSES: tuple[str, ...] = get_args(Status)

AuthorKind = Literal["customer", "agent", "bot", "system"]
AUTHOR_KINDS: tuple[str, ...] = get_args(AuthorKind)


@dataclass(frozen=True)
class Author:
    """Who wrote or did something: an agent (a dashboard user's id; None: the shop's server through the
    API), the bot (its name), the customer, or Touchline itself."""

    kind: AuthorKind
    id: str | None = None


SYSTEM = Author("system")


@dataclass(frozen=True)
class Attachment:
    """A link to a file the provider or the shop hosts: Touchline stores the link, not the file."""

    url: str
    content_type: str | None = None
    name: str | None = None
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "content_type": self.content_type, "name": self.name, "size": self.size}


@dataclass(frozen=True)
class CustomerIds:
    """The customer's identifiers on the channel the message came by (at least one). Each becomes an
    identity of the customer's profile through ingestion, so a WhatsApp id or a chat's anonymous id
    joins the customer that analytics knows by the same identifiers."""

    phone: str | None = None
    whatsapp_id: str | None = None
    kakao_id: str | None = None
    email: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None

    def present(self) -> dict[str, str]:
        return {k: v for k, v in (("phone", self.phone), ("whatsapp_id", self.whatsapp_id),
                                  ("kakao_id", self.kakao_id), ("email", self.email),
                                  ("anonymous_id", self.anonymous_id), ("user_id", self.user_id)) if v}


@dataclass(frozen=True)
class EmailHeaders:
    """What e-mail threading reads (RFC 5322): the message's own id, the one it answers and the chain."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()

    @property
    def is_reply(self) -> bool:
        return bool(self.in_reply_to or self.references)

    def referenced(self) -> list[str]:
        """The ids this message answers, the most recent first (In-Reply-To, then References from the end)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += list(reversed(self.references))
        return list(dict.fromkeys(i for i in ids if i))


@dataclass(frozen=True)
class Inbound:
    """One customer message as a channel hands it in (a webhook, the chat window, a mail received).

    ``provider_message_id`` is the provider's id of the message (Twilio's MessageSid, WhatsApp's wamid,
    the e-mail's Message-ID, the chat window's own id for the message): a second delivery of the same
    id stores nothing. ``conversation_id`` is a channel's explicit hint (the chat window's current
    conversation); ``email`` carries the headers e-mail threading reads. ``traits`` are applied to the
    profile through ingestion (an ``identify``), e.g. the name a messenger reports; ``language`` is the
    customer's (ko, en) when the channel knows it."""

    channel: ConversationChannel
    provider_message_id: str
    customer: CustomerIds
    body: str = ""
    attachments: tuple[Attachment, ...] = ()
    subject: str | None = None
    email: EmailHeaders | None = None
    sent_at: dt.datetime | None = None
    conversation_id: str | None = None
    language: str | None = None
    traits: Mapping[str, Any] = field(default_factory=dict)
    # Who the customer is was proven on this channel: a phone number or messenger handle the provider
    # vouches for (its signed webhook), a web chat identifier signed with the workspace's identity secret.
    # An e-mail's From can be forged, an anonymous visitor is anyone. The assistant tells order details
    # only on a verified message.
    verified: bool = False


@dataclass(frozen=True)
class Received:
    """What :func:`touchline.conversations.service.receive` did: the conversation and message (views),
    how the message was placed (``joined``, ``reopened``, ``started``) and whether it was a repeat
    delivery (``duplicate``: nothing was stored, the first delivery's message is returned)."""

    conversation: dict[str, Any]
    message: dict[str, Any]
    placement: str
    duplicate: bool = False
