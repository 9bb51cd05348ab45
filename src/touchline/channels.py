"""The one list of channels, and what the rest of Touchline needs to know about each of them.

Message channels (what a message goes out on) are entries of :data:`REGISTRY`, one :class:`ChannelSpec`
each: consent, the profile traits and identities that address it, the template parts it takes, the
provider setting that enables it, its place in the default fallback order and its names in English and
Korean. Event sources (where an event comes from: web, app, store, chat, and Touchline's ``server``) are
the entries of :data:`SOURCES`. Every other list of channels (the journey and segment ``Literal`` types,
ingestion's accepted channels, the template parts, the policy's fallback order, the provider warnings,
the dashboard's filters and names) is derived from these here or where it is used.

Adding a message channel: its name in :data:`ConsentChannel` (a channel customers consent to) or
:data:`MessageChannel` (a system destination, like ``webhook``), one :class:`ChannelSpec` in
:data:`REGISTRY`, and its sending class in ``touchline.messaging.channels`` (with a provider: its
settings, and the lines of ``touchline.messaging.channels.registry.build_channels`` that build it). The
Literal types are written out once each because type checkers read them; :func:`_check` refuses to
import a registry that disagrees with them, and tests/test_channels.py fails a channel that something
does not know.

The bottom layer: this module imports nothing from Touchline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

__all__ = [
    "ADDRESS_TRAITS",
    "BY_NAME",
    "CHANNEL_PARTS",
    "CONSENT_CHANNELS",
    "CONVERSATION_CHANNELS",
    "CONVERSATION_REGISTRY",
    "DEFAULT_FALLBACK_ORDER",
    "EVENT_CHANNELS",
    "INBOX",
    "LABELS",
    "MAX_QUICK_REPLIES",
    "MESSAGE_CHANNELS",
    "PROFILE_ID",
    "PROVIDER_CHANNELS",
    "PROVIDER_SETTINGS",
    "REGISTRY",
    "SEND_CHANNELS",
    "SERVER_CHANNEL",
    "SOURCES",
    "SOURCE_CHANNELS",
    "ChannelSpec",
    "ConsentChannel",
    "ConversationChannel",
    "ConversationSpec",
    "EventSource",
    "MessageChannel",
    "SendChannel",
]

# Channels a customer grants or withdraws consent to (advertising goes only where it is granted), and
# that a segment can ask whether a customer is reachable on.
ConsentChannel = Literal["email", "sms", "messenger", "push", "in_app"]
# Every channel a message can go out on: the consent channels and the system destinations (no person's
# inbox, no consent).
MessageChannel = Literal[ConsentChannel, "webhook"]
# What a journey's send step names: a channel, or the customer's preferred one.
SendChannel = Literal["preferred", "best", MessageChannel]

# An address entry meaning "the profile's own id" (the in-app inbox, the shop's webhook).
PROFILE_ID: Final = "profile_id"


@dataclass(frozen=True)
class ChannelSpec:
    """What Touchline knows about one message channel. How it sends is its class in
    ``touchline.messaging.channels``."""

    name: MessageChannel
    label_en: str
    label_ko: str
    # Customers consent to it: advertising needs that consent granted, segments can test reachability.
    # False: a system destination (no consent asked, so never advertising).
    consent: bool
    # Template parts: every one of ``required``, any of ``optional`` (email's "html or text" is checked
    # by the templates themselves).
    required_parts: tuple[str, ...]
    optional_parts: tuple[str, ...]
    # Where the outbox addresses a message, the first found: identity kinds (for ``email`` and ``phone``
    # the trait of that name too), or PROFILE_ID.
    address: tuple[str, ...]
    # The profile traits of which a segment's "reachable" condition needs one filled (besides consent);
    # () = consent alone.
    reach_traits: tuple[str, ...]
    # The setting (a field of touchline.settings.Settings) that gives it a provider, the one a warning
    # about a missing provider names (build_channels reads the rest); None: sent by Touchline itself,
    # without a provider (the in-app inbox).
    provider_setting: str | None
    # Its place in the default fallback order (1 first); None: only when a message names it.
    fallback: int | None


@dataclass(frozen=True)
class EventSource:
    """Where an event can come from besides the message channels (ingestion keeps the channel it names)."""

    name: str
    label_en: str
    label_ko: str


REGISTRY: Final[tuple[ChannelSpec, ...]] = (
    ChannelSpec("email", "E-mail", "이메일", consent=True,
                required_parts=("subject",), optional_parts=("html", "text"),
                address=("email",), reach_traits=("email",), provider_setting="smtp_host", fallback=4),
    ChannelSpec("sms", "SMS", "문자", consent=True,
                required_parts=("text",), optional_parts=(),
                address=("phone",), reach_traits=("phone",), provider_setting="twilio_account_sid", fallback=3),
    # AlimTalk and WhatsApp address a phone number; a segment counts a messenger handle.
    ChannelSpec("messenger", "Messenger", "메신저", consent=True,
                required_parts=("text",), optional_parts=("template_code", "params"),
                address=("phone", "kakao_id", "whatsapp_id", "line_id"),
                reach_traits=("kakao_id", "whatsapp_id", "line_id"),
                provider_setting="messenger_provider", fallback=2),
    ChannelSpec("push", "Push", "푸시", consent=True,
                required_parts=("title", "body"), optional_parts=("url",),
                address=("push_token",), reach_traits=("push_token",), provider_setting="fcm_project_id",
                fallback=1),
    ChannelSpec("in_app", "In-app", "인앱", consent=True,
                required_parts=("title", "body"), optional_parts=("url",),
                address=(PROFILE_ID,), reach_traits=(), provider_setting=None, fallback=5),
    # The JSON or text body posted to the shop's endpoint.
    ChannelSpec("webhook", "Webhook", "웹훅", consent=False,
                required_parts=("text",), optional_parts=(),
                address=(PROFILE_ID,), reach_traits=(), provider_setting="webhook_url", fallback=None),
)

# Where events come from, in the order ingestion lists them; the message channels come between these
# and the server (see EVENT_CHANNELS).
SOURCES: Final[tuple[EventSource, ...]] = (
    EventSource("web", "Web", "웹"),
    EventSource("app", "App", "앱"),
    EventSource("store", "Store", "매장"),
    EventSource("chat", "Chat", "채팅"),
    # Not a touchpoint of the customer's: the shop's back end, and Touchline's own records.
    EventSource("server", "Server", "서버"),
)
SERVER_CHANNEL: Final = "server"

# --- derived ------------------------------------------------------------------------------------------

BY_NAME: Final[Mapping[str, ChannelSpec]] = MappingProxyType({c.name: c for c in REGISTRY})
MESSAGE_CHANNELS: Final[tuple[str, ...]] = get_args(MessageChannel)
CONSENT_CHANNELS: Final[tuple[str, ...]] = get_args(ConsentChannel)
SEND_CHANNELS: Final[tuple[str, ...]] = get_args(SendChannel)
# channel -> (required parts, optional parts)
CHANNEL_PARTS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = MappingProxyType(
    {c.name: (c.required_parts, c.optional_parts) for c in REGISTRY})
# consent channel -> the traits, one of which makes a customer reachable there
ADDRESS_TRAITS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {c.name: c.reach_traits for c in REGISTRY if c.consent})
DEFAULT_FALLBACK_ORDER: Final[tuple[str, ...]] = tuple(
    c.name for c in sorted((c for c in REGISTRY if c.fallback is not None), key=lambda c: c.fallback or 0))
# channel -> the setting that turns its provider on, for every channel sent through a provider
PROVIDER_SETTINGS: Final[Mapping[str, str]] = MappingProxyType(
    {c.name: c.provider_setting for c in REGISTRY if c.provider_setting is not None})
# The customers' channels that go through a provider (what a shop is warned about when one is missing).
PROVIDER_CHANNELS: Final[tuple[str, ...]] = tuple(c.name for c in REGISTRY if c.consent and c.provider_setting)
# The channel without a provider: the outbox writes it into the state store itself.
INBOX: Final[str] = next(c.name for c in REGISTRY if c.provider_setting is None)
SOURCE_CHANNELS: Final[tuple[str, ...]] = tuple(s.name for s in SOURCES if s.name != SERVER_CHANNEL)
# Every channel ingestion keeps on an event (others become an alias's channel or one it derives).
EVENT_CHANNELS: Final[tuple[str, ...]] = (*SOURCE_CHANNELS, *CONSENT_CHANNELS, SERVER_CHANNEL)
# name -> (English, Korean), for every message channel and event source
LABELS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {**{s.name: (s.label_en, s.label_ko) for s in SOURCES}, **{c.name: (c.label_en, c.label_ko) for c in REGISTRY}})


# --- the channels conversations come and go by --------------------------------------------------------
# ``chat`` is the web chat on the shop's pages (its replies are delivered in place, read by the chat
# window); the others go out through the outbox on a message channel. A conversation channel is where a
# customer writes from, so WhatsApp and KakaoTalk are apart here, where the outbox sends both as
# ``messenger``.
ConversationChannel = Literal["chat", "sms", "whatsapp", "kakao", "email"]
CONVERSATION_CHANNELS: Final[tuple[str, ...]] = get_args(ConversationChannel)


@dataclass(frozen=True)
class ConversationSpec:
    """What a conversation channel allows a reply (touchline.conversations.channel_rules applies it)."""

    name: str
    # The message channel a reply goes out on (an outbox row); None: delivered in place (web chat).
    outbox_channel: str | None
    # Identity kinds that address the customer there, in order of preference (after the address the
    # customer last wrote from); the web chat's customer is their anonymous or user id.
    address_kinds: tuple[str, ...]
    # What the identify recorded through ingestion says as context.channel.
    ingest_channel: str
    max_chars: int  # the longest reply body the provider takes
    window_hours: int | None = None  # free-form replies only this long after the customer's last message
    # Answers the customer can tap under a reply: web chat buttons, KakaoTalk skill quickReplies.
    quick_replies: bool = False

    @property
    def window(self) -> dt.timedelta | None:
        return None if self.window_hours is None else dt.timedelta(hours=self.window_hours)


MAX_QUICK_REPLIES: Final = 10  # KakaoTalk shows at most ten; a chat more would be a menu

CONVERSATION_REGISTRY: Final[tuple[ConversationSpec, ...]] = (
    ConversationSpec("chat", None, (), "chat", 10_000, quick_replies=True),
    ConversationSpec("sms", "sms", ("phone",), "sms", 1_600),
    ConversationSpec("whatsapp", "messenger", ("whatsapp_id", "phone"), "messenger", 4_096, window_hours=24),
    ConversationSpec("kakao", "messenger", ("kakao_id", "phone"), "messenger", 1_000, quick_replies=True),
    ConversationSpec("email", "email", ("email",), "email", 100_000),
)


def _check() -> None:
    """The registry agrees with the Literal types; each fact is well formed."""
    if tuple(c.name for c in CONVERSATION_REGISTRY) != CONVERSATION_CHANNELS:
        raise RuntimeError("CONVERSATION_REGISTRY disagrees with ConversationChannel")
    for spec in CONVERSATION_REGISTRY:
        if spec.outbox_channel is not None and spec.outbox_channel not in MESSAGE_CHANNELS:
            raise RuntimeError(f"conversation channel {spec.name!r} replies on an unknown channel")
    names = tuple(c.name for c in REGISTRY)
    if names != MESSAGE_CHANNELS:
        raise RuntimeError(f"REGISTRY names {names} but MessageChannel is {MESSAGE_CHANNELS}")
    consent = tuple(c.name for c in REGISTRY if c.consent)
    if consent != CONSENT_CHANNELS:
        raise RuntimeError(f"REGISTRY's consent channels are {consent} but ConsentChannel is {CONSENT_CHANNELS}")
    if ("preferred", "best", *MESSAGE_CHANNELS) != SEND_CHANNELS:
        raise RuntimeError(f"SendChannel is {SEND_CHANNELS}")
    ranks = sorted(c.fallback for c in REGISTRY if c.fallback is not None)
    if ranks != list(range(1, len(ranks) + 1)):
        raise RuntimeError(f"fallback places must be 1..n, once each: {ranks}")
    if sum(1 for c in REGISTRY if c.provider_setting is None) != 1:
        raise RuntimeError("exactly one channel (the inbox) goes without a provider")
    if SERVER_CHANNEL not in {s.name for s in SOURCES} or {s.name for s in SOURCES} & set(names):
        raise RuntimeError("event sources include the server and no message channel")
    for c in REGISTRY:
        if not c.address or not c.required_parts or not (c.label_en and c.label_ko):
            raise RuntimeError(f"channel {c.name!r} needs an address, a required part and both names")


_check()
