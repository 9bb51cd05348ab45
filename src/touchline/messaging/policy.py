"""Whether, where and when one message may go to one customer. Pure: ``now`` comes in as an argument.

``decide(intent, recipient, now, config) -> Send(channel, not_before) | Suppressed(reason)``

Rules, in order:

1. advertising to a customer who unsubscribed from everything -> ``unsubscribed``;
2. advertising over the global frequency cap (e.g. 2 per rolling 24 hours across channels) ->
   ``frequency_cap``;
3. channels are tried in the customer's preferred order, then the configured fallback order
   (push -> messenger -> sms -> email by default), limited to the channels the message has content for;
   a channel is passed over when the customer has no address there (``no_address``), when an
   advertising message lacks granted consent there (``no_consent``: denied and unknown both count as
   no), when the channel's own cap is reached (``channel_frequency_cap``), or, the customer being
   reachable there, when the server has no provider for it (``channel_not_configured``: the message has
   content for the channel, ``MessageIntent.unconfigured``). Transactional messages need no marketing
   consent and are not capped. The first channel left wins. When none is, the most telling reason is
   given: a channel not configured (the customer could have had the message), then consent, the channel's
   cap, and the address; a message none of whose channels is configured is ``channel_not_configured``
   whoever it is for;
4. advertising during quiet hours in the customer's time zone (21:00-08:00 by default: 정보통신망법
   제50조 needs separate consent for advertising at night) is deferred to the end of quiet hours
   (``Send(not_before=...)``), or suppressed (``quiet_hours``) when the config says so. A customer
   who gave night-time consent is exempt; transactional messages are exempt.

Caps are counted over rolling windows of the customer's recent *advertising* sends. A deferred
``Send`` should be decided again when it comes due: caps may have filled up meanwhile.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from touchline.channels import DEFAULT_FALLBACK_ORDER as _REGISTRY_ORDER
from touchline.channels import INBOX, MESSAGE_CHANNELS
from touchline.messaging.types import MessageKind

__all__ = [
    "BEST_MIN_MESSAGES",
    "BEST_WINDOW",
    "DEFAULT_FALLBACK_ORDER",
    "Cap",
    "Decision",
    "MessageIntent",
    "PastSend",
    "PolicyConfig",
    "Recipient",
    "Send",
    "SuppressReason",
    "Suppressed",
    "consent_status",
    "decide",
    "in_quiet_hours",
    "quiet_hours_end",
    "rank_channels",
]

# The registry's fallback order without the in-app inbox: a bare PolicyConfig tries the inbox only when
# the message names it (last); the server's setting (Settings.fallback_order) has the whole order.
DEFAULT_FALLBACK_ORDER = tuple(c for c in _REGISTRY_ORDER if c != INBOX)


class SuppressReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    NO_CONSENT = "no_consent"
    NO_ADDRESS = "no_address"
    NO_CHANNEL = "no_channel"  # the message has content for none of the channels in the order
    NOT_CONFIGURED = "channel_not_configured"  # the channel has no provider on this server
    FREQUENCY_CAP = "frequency_cap"
    CHANNEL_FREQUENCY_CAP = "channel_frequency_cap"
    QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True)
class Cap:
    limit: int
    window: dt.timedelta = dt.timedelta(days=1)


@dataclass(frozen=True)
class PolicyConfig:
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(8, 0)
    quiet_hours: Literal["defer", "suppress"] = "defer"
    global_cap: Cap | None = Cap(2)
    channel_caps: Mapping[str, Cap] = field(default_factory=dict)
    fallback_order: tuple[str, ...] = DEFAULT_FALLBACK_ORDER
    default_timezone: str = "Asia/Seoul"


@dataclass(frozen=True)
class PastSend:
    channel: str
    at: dt.datetime
    kind: MessageKind = "advertising"


@dataclass(frozen=True)
class Recipient:
    """What the policy needs to know about the customer.

    ``consents`` is the profile's ``{channel: {"status": "granted"|"denied", ...}}`` (plain
    ``"granted"`` or ``True`` also accepted); ``addresses`` maps channel -> address (email, E.164 phone,
    push token, messenger handle...; ``None`` or missing = unreachable).
    """

    addresses: Mapping[str, str | None]
    consents: Mapping[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    unsubscribed: bool = False
    night_consent: bool = False  # separate consent to advertising at night (야간 광고 수신 동의)
    preferred_channels: Sequence[str] = ()
    recent_sends: Sequence[PastSend] = ()


@dataclass(frozen=True)
class MessageIntent:
    kind: MessageKind
    channels: Sequence[str] | None = None  # channels the message has content for and may go on; None = any
    unconfigured: Sequence[str] = ()  # channels it has content for that have no provider (cannot send)


@dataclass(frozen=True)
class Send:
    channel: str
    not_before: dt.datetime  # == now unless deferred by quiet hours
    deferred: bool = False  # True when quiet hours moved not_before
    passed_over: tuple[tuple[str, SuppressReason], ...] = ()  # channels tried first, and why not


@dataclass(frozen=True)
class Suppressed:
    reason: SuppressReason
    passed_over: tuple[tuple[str, SuppressReason], ...] = ()


Decision = Send | Suppressed


def consent_status(consents: Mapping[str, Any], channel: str) -> Literal["granted", "denied", "unknown"]:
    value = consents.get(channel)
    if value is True or value is False:  # the usual stored form, before the ABC check below
        return "granted" if value else "denied"
    if isinstance(value, Mapping):
        value = value.get("status")
    if value is True or value == "granted":
        return "granted"
    if value is False or value == "denied":
        return "denied"
    return "unknown"


@functools.lru_cache(maxsize=512)
def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def in_quiet_hours(local: dt.time, start: dt.time, end: dt.time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # spans midnight


def quiet_hours_end(now: dt.datetime, zone: ZoneInfo, end: dt.time) -> dt.datetime:
    """The next ``end`` o'clock in ``zone`` after ``now``, in UTC."""
    local = now.astimezone(zone)
    day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=zone).astimezone(dt.UTC)


def _count(sends: Sequence[PastSend], now: dt.datetime, cap: Cap, channel: str | None) -> int:
    since = now - cap.window
    return sum(1 for s in sends if s.kind == "advertising" and since < s.at <= now
               and (channel is None or s.channel == channel))


def _order(intent: MessageIntent, recipient: Recipient, config: PolicyConfig) -> list[str]:
    named = None if intent.channels is None else (*intent.channels, *intent.unconfigured)
    order: list[str] = []
    for channel in (*recipient.preferred_channels, *config.fallback_order):
        if channel not in order and (named is None or channel in named):
            order.append(channel)
    # A channel the message names that neither the customer nor the fallback order lists (a webhook,
    # or a send step pinned to one channel) comes last rather than never.
    order += [c for c in named or () if c not in order and c in MESSAGE_CHANNELS]
    return order


def decide(intent: MessageIntent, recipient: Recipient, now: dt.datetime,
           config: PolicyConfig | None = None) -> Decision:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    config = config or PolicyConfig()
    advertising = intent.kind == "advertising"
    if advertising and recipient.unsubscribed:
        return Suppressed(SuppressReason.UNSUBSCRIBED)
    if advertising and config.global_cap is not None and \
            _count(recipient.recent_sends, now, config.global_cap, None) >= config.global_cap.limit:
        return Suppressed(SuppressReason.FREQUENCY_CAP)

    order = _order(intent, recipient, config)
    if not order:
        return Suppressed(SuppressReason.NO_CHANNEL)
    unconfigured = set(intent.unconfigured)
    if unconfigured.issuperset(order):  # nothing on this server can send it, whoever it is for
        return Suppressed(SuppressReason.NOT_CONFIGURED, tuple((c, SuppressReason.NOT_CONFIGURED) for c in order))
    passed: list[tuple[str, SuppressReason]] = []
    chosen: str | None = None
    for channel in order:
        cap = config.channel_caps.get(channel)
        if not recipient.addresses.get(channel):
            passed.append((channel, SuppressReason.NO_ADDRESS))
        elif advertising and consent_status(recipient.consents, channel) != "granted":
            passed.append((channel, SuppressReason.NO_CONSENT))
        elif advertising and cap is not None and _count(recipient.recent_sends, now, cap, channel) >= cap.limit:
            passed.append((channel, SuppressReason.CHANNEL_FREQUENCY_CAP))
        elif channel in unconfigured:
            passed.append((channel, SuppressReason.NOT_CONFIGURED))
        else:
            chosen = channel
            break
    if chosen is None:
        reasons = {reason for _, reason in passed}
        for reason in (SuppressReason.NOT_CONFIGURED, SuppressReason.NO_CONSENT,
                       SuppressReason.CHANNEL_FREQUENCY_CAP):
            if reason in reasons:  # the most telling: the customer is reachable but cannot or may not be sent to
                return Suppressed(reason, tuple(passed))
        return Suppressed(SuppressReason.NO_ADDRESS, tuple(passed))

    not_before, deferred = now, False
    if advertising and not recipient.night_consent:
        zone = _zone(recipient.timezone, config.default_timezone)
        if in_quiet_hours(now.astimezone(zone).time(), config.quiet_start, config.quiet_end):
            if config.quiet_hours == "suppress":
                return Suppressed(SuppressReason.QUIET_HOURS, tuple(passed))
            not_before, deferred = quiet_hours_end(now, zone, config.quiet_end), True
    return Send(chosen, not_before, deferred, tuple(passed))


# --- next-best channel ---------------------------------------------------------------------------------

BEST_MIN_MESSAGES = 3  # a channel ranks for a customer once this many messages went to them on it
BEST_WINDOW = dt.timedelta(days=90)


def rank_channels(engagement: Mapping[str, tuple[int, int]], min_messages: int = BEST_MIN_MESSAGES
                  ) -> tuple[str, ...]:
    """A customer's channels by engagement (``channel -> (messages sent, messages opened or clicked)``),
    best first: only those with ``min_messages`` sent, by engaged share, then by more evidence. What a send
    step with ``channel: best`` tries first; the policy's preference order (the customer's preferred
    channel, then the fallback order) follows, so a customer without enough data gets exactly that."""
    ranked = [(engaged / sent, sent, channel) for channel, (sent, engaged) in engagement.items()
              if sent >= min_messages and channel in MESSAGE_CHANNELS]
    ranked.sort(key=lambda r: (-r[0], -r[1], r[2]))
    return tuple(channel for _, _, channel in ranked)
