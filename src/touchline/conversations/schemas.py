"""Request bodies of the conversations API (pydantic at the edge). Every limit here answers 422 naming
the field; the service checks what depends on settings and state."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, WithJsonSchema, field_validator

from touchline.conversations import hours as team_hours
from touchline.conversations.types import (
    Attachment,
    Author,
    ConversationChannel,
    CustomerIds,
    EmailHeaders,
    Inbound,
    Status,
)
from touchline.validation import WHOLE, Body, Moment, Whole

__all__ = [
    "AgentIn", "AssignIn", "AttachmentIn", "AuthorIn", "BotIn", "CannedIn", "CannedPatch", "CustomerIdentifier",
    "CustomerIn", "EmailIn", "HesitationIn", "InboundIn", "MemberIn", "NoteIn", "PresenceIn", "Replier", "ReplyIn",
    "SettingsIn", "SnoozeIn", "StatusIn", "SystemIn", "TagsIn", "TeamIn", "TeamPatch", "VisitorId",
]

# The most a body may hold at the edge; the configured limit (conversation_body_chars) is checked after.
BODY_MAX = 1_000_000
Handle = Annotated[str, Field(min_length=1, max_length=512)]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold U+0000
FILLED = r"\S"  # something besides white space
LANGUAGE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"  # ko, en, ko-KR
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_ .:/+-]{0,63}$")]


class _Strict(Body):
    pass


class AttachmentIn(_Strict):
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$", description="An http(s) link.")
    content_type: str | None = Field(None, max_length=255)
    name: str | None = Field(None, max_length=512)
    size: Annotated[int, Field(ge=0, le=2**53), WHOLE] | None = Field(None)

    def value(self) -> Attachment:
        return Attachment(self.url, self.content_type, self.name, self.size)


class CustomerIn(_Strict):
    """The customer's identifiers on the channel (at least one)."""

    phone: Handle | None = None
    whatsapp_id: Handle | None = None
    kakao_id: Handle | None = None
    email: Handle | None = None
    anonymous_id: Handle | None = None
    user_id: Handle | None = None

    def value(self) -> CustomerIds:
        return CustomerIds(**self.model_dump())


class EmailIn(_Strict):
    message_id: str | None = Field(None, max_length=998)
    in_reply_to: str | None = Field(None, max_length=998)
    references: list[Annotated[str, Field(max_length=998)]] = Field(default_factory=list, max_length=100)

    def value(self) -> EmailHeaders:
        return EmailHeaders(self.message_id, self.in_reply_to, tuple(self.references))


class InboundIn(_Strict):
    """A customer's message as a channel hands it in."""

    channel: ConversationChannel
    provider_message_id: str = Field(min_length=1, max_length=512,
                                     description="The provider's id of the message: a repeat delivery stores nothing.")
    customer: CustomerIn
    body: str = Field("", max_length=BODY_MAX, pattern=NO_NUL)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    subject: str | None = Field(None, max_length=1000, pattern=NO_NUL)
    email: EmailIn | None = None
    sent_at: Moment | None = None
    conversation_id: str | None = Field(None, max_length=64, description="A conversation the channel names.")
    language: str | None = Field(None, max_length=35, pattern=LANGUAGE)
    traits: dict[str, Any] = Field(default_factory=dict, description="Applied to the profile (an identify).")
    verified: bool = Field(False, description="The shop's server vouches for the customer's identity on this "
                                              "channel (the assistant tells order details only then).")

    def value(self) -> Inbound:
        return Inbound(channel=self.channel, provider_message_id=self.provider_message_id,
                       customer=self.customer.value(), body=self.body,
                       attachments=tuple(a.value() for a in self.attachments), subject=self.subject,
                       email=self.email.value() if self.email else None, sent_at=self.sent_at,
                       conversation_id=self.conversation_id, language=self.language, traits=self.traits,
                       verified=self.verified)


class AgentIn(_Strict):
    """An agent: a dashboard user of the workspace (no id: the shop's server, through the API)."""

    kind: Literal["agent"] = "agent"
    id: str | None = Field(None, min_length=1, max_length=128, description="The agent's user id.")

    def value(self) -> Author:
        return Author("agent", self.id)


class BotIn(_Strict):
    kind: Literal["bot"]
    id: str = Field(min_length=1, max_length=128, pattern=FILLED, description="The bot's name.")

    def value(self) -> Author:
        return Author("bot", self.id)


class SystemIn(_Strict):
    kind: Literal["system"]

    def value(self) -> Author:
        return Author("system")


# Told apart by ``kind`` (an agent's may be left out: {"id": "usr_..."}).
AuthorIn = AgentIn | BotIn | SystemIn
Replier = AgentIn | BotIn


class ReplyIn(_Strict):
    body: str = Field("", max_length=BODY_MAX, pattern=NO_NUL)
    author: Replier = Field(default_factory=AgentIn)
    channel: ConversationChannel | None = Field(None, description="Default: the channel the customer last used.")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    client_key: str | None = Field(None, min_length=1, max_length=200,
                                   description="Your key for this reply: sending it again returns the same reply.")
    template_code: str | None = Field(None, min_length=1, max_length=200,
                                      description="An approved template (WhatsApp outside the 24-hour window).")
    template_params: dict[str, Annotated[str, Field(max_length=1000)]] = Field(default_factory=dict, max_length=50)
    status: Status | None = Field(None, description="Then set this status (pending, resolved, ...).")


class NoteIn(_Strict):
    body: str = Field(min_length=1, max_length=BODY_MAX, pattern=r"^[^\x00]*\S[^\x00]*$")
    author: AuthorIn = Field(default_factory=AgentIn)
    client_key: str | None = Field(None, min_length=1, max_length=200)


class AssignIn(_Strict):
    """Absent: unchanged; null: cleared."""

    assignee_id: str | None = Field(None, max_length=128)
    team_id: str | None = Field(None, max_length=128)
    author: AuthorIn = Field(default_factory=AgentIn)


class StatusIn(_Strict):
    status: Status
    snoozed_until: Moment | None = None
    author: AuthorIn = Field(default_factory=AgentIn)


class SnoozeIn(_Strict):
    until: Moment
    author: AuthorIn = Field(default_factory=AgentIn)


class TagsIn(_Strict):
    add: list[Tag] = Field(default_factory=list, max_length=50)
    remove: list[Tag] = Field(default_factory=list, max_length=50)


# The document lists the zones this machine knows (the validator checks the same list).
_ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")
TimeZoneName = Annotated[str, WithJsonSchema({"type": "string", "enum": _ZONES} if _ZONES else {"type": "string"})]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24 hours")]


class HoursIn(_Strict):
    """When the team's people answer; outside, the assistant says when they will and leaves the
    conversation pending. Closing at or before opening spans midnight."""

    days: list[Annotated[StrictInt, Field(ge=0, le=6), WHOLE]] = Field(
        max_length=7, description="Week days the team opens: 0 Monday ... 6 Sunday; empty: always there.")
    opens: Clock = "09:00"
    closes: Clock = "18:00"
    timezone: TimeZoneName = Field("Asia/Seoul", description="An IANA time zone.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if _ZONES and value not in _ZONES:
            raise ValueError("an IANA time zone, such as Asia/Seoul")
        return team_hours.check_timezone(value)


class TeamIn(_Strict):
    name: str = Field(min_length=1, max_length=200, pattern=FILLED)
    auto_assign: StrictBool = False
    language_routing: StrictBool = False
    channels: list[ConversationChannel] = Field(default_factory=list, max_length=10)
    hours: HoursIn | None = Field(None, description="None: always there.")


class TeamPatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=FILLED)
    auto_assign: StrictBool | None = None
    language_routing: StrictBool | None = None
    channels: list[ConversationChannel] | None = Field(None, max_length=10)
    hours: HoursIn | None = Field(None, description="New hours (days empty: always there); absent: unchanged.")


class MemberIn(_Strict):
    capacity: Whole = Field(10, ge=0, le=1000, description="Active conversations at most, for automatic assignment.")
    languages: list[Annotated[str, Field(max_length=35, pattern=LANGUAGE)]] = Field(default_factory=list,
                                                                                   max_length=20)


class PresenceIn(_Strict):
    seconds: float = Field(60, ge=0, le=600, description="Online for this long (0: offline now).")


SHORTCUT = r"^/?[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"


class CannedIn(_Strict):
    shortcut: str = Field(min_length=1, max_length=65, pattern=SHORTCUT, description="Typed after / in the reply box.")
    title: str = Field("", max_length=200)
    body: str = Field(min_length=1, max_length=10_000,
                      description="Sandboxed Jinja2: {{ customer.name }}, {{ agent.name }}, {{ conversation.id }}.")
    language: str | None = Field(None, max_length=35, pattern=LANGUAGE)


class CannedPatch(_Strict):
    shortcut: str | None = Field(None, min_length=1, max_length=65, pattern=SHORTCUT)
    title: str | None = Field(None, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=10_000)
    language: str | None = Field(None, max_length=35, pattern=LANGUAGE)


class SettingsIn(_Strict):
    """The inbox settings."""

    rate_on_resolve: bool = Field(description="A web chat an agent answered asks the customer for a 1-5 rating "
                                              "when it is resolved")


class ProactiveRuleIn(_Strict):
    """The proactive chat rule; fields left out keep their value."""

    enabled: bool | None = None
    signals: list[Literal["checkout_idle", "cart_exit", "exit_intent"]] | None = Field(None, max_length=3)
    idle_seconds: Annotated[int, Field(ge=1, le=3600), WHOLE] | None = Field(
        None, description="Idle on the checkout page this long")
    cap_hours: Annotated[int, Field(ge=1, le=2160), WHOLE] | None = Field(
        None, description="At most one offer per customer in this time")
    holdout_percent: Annotated[int, Field(ge=0, le=90), WHOLE] | None = Field(
        None, description="Customers offered nothing, to measure")
    message_ko: str | None = Field(None, min_length=1, max_length=500, pattern=r"\S")
    message_en: str | None = Field(None, min_length=1, max_length=500, pattern=r"\S")


# Who the web chat's visitor is, in every body the chat window posts: analytics.js's anonymous id, and a
# signed-in customer's identifier (user_id:… or bare, with their user_hash).
VisitorId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
CustomerIdentifier = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\x00-\x20\x7f]+$")]


class HesitationIn(_Strict):
    """A shopper's hesitation, reported by the web chat."""

    anonymous_id: VisitorId
    identifier: CustomerIdentifier | None = None
    signal: Literal["checkout_idle", "cart_exit", "exit_intent"]
    key: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                     description="The page's own id for this hesitation: a retry is one hesitation")
    page_url: str | None = Field(None, max_length=2048)
    language: Literal["ko", "en"] | None = None
    cart_value: float | None = Field(None, ge=0, le=1e12)
