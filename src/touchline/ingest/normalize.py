"""Pure functions from a validated message to what Touchline stores: corrected time, channel, device,
identifiers, trait and consent updates. No I/O; ``received_at`` is passed in.

Implausible times: an event time (after the clock-skew correction) before ``EARLIEST_EVENT_TIME`` is
refused (:class:`Implausible`): year 0001 is a zero time stamp (Go's, .NET's), 1970-01-01 a zero epoch,
and no shop's events are older. One later than ``received_at + FUTURE_TOLERANCE`` is clamped to
``received_at``, as Segment's libraries do with a device clock set ahead, and flagged (the event's
``originalTimestamp`` keeps what was sent): an event from the future would otherwise stay out of every
"so far" report and win every last-write-wins trait until that date.

Invalid identifiers: a ``traits.email`` that is no e-mail address, or a ``traits.phone`` that is no
possible number, is flagged and not applied, so it never replaces a valid one on the profile."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from touchline.channels import CONSENT_CHANNELS, EVENT_CHANNELS
from touchline.ingest.plan import Problem
from touchline.ingest.schemas import Message
from touchline.profiles.contacts import normalize_email, normalize_phone

UTC = dt.UTC
# 1970-01-01 (a zero epoch) and year 1 are refused; a shop's 1990s history (CDNOW's, 1997-98) is not
EARLIEST_EVENT_TIME = dt.datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# The generic reasons (violations are counted by reason; the dashboard translates them).
IMPLAUSIBLE_PAST = f"before {EARLIEST_EVENT_TIME.year}: not a plausible event time"
IN_THE_FUTURE = "in the future: stored at the time received"

# The channels an event keeps as it names them, and those a customer consents to: touchline.channels.
CHANNELS = EVENT_CHANNELS
DEVICE_TYPES = ("desktop", "mobile", "tablet", "pos", "server", "unknown")

# Segment sets context.channel to one of these; Touchline's own channel names pass through.
_SEGMENT_CHANNELS = {"browser": "web", "client": "web", "mobile": "app", "server": "server"}
_CHANNEL_ALIASES = {"pos": "store", "offline": "store", "kakao": "messenger", "whatsapp": "messenger",
                    "line": "messenger", "inapp": "in_app", "in-app": "in_app", "website": "web",
                    "ios": "app", "android": "app"}
_WEB_LIBRARIES = ("analytics.js", "analytics-next", "analytics-browser", "@segment/analytics", "rudder-js")
_APP_LIBRARIES = ("analytics-ios", "analytics-android", "analytics-swift", "analytics-kotlin",
                  "analytics-react-native", "analytics-flutter", "rudder-ios", "rudder-android")

# Trait keys that name a messenger or app handle; each becomes an identity of that kind.
HANDLE_TRAITS = {
    "kakao_id": "kakao_id", "kakaoId": "kakao_id",
    "whatsapp_id": "whatsapp_id", "whatsappId": "whatsapp_id",
    "line_id": "line_id", "lineId": "line_id",
    "push_token": "push_token", "pushToken": "push_token",
}
# A tuple, not ``str | int``: isinstance with a union object is several times slower, and these checks
# run several times per event.
_TEXT_OR_INT = (str, int)
_KIND_RE = re.compile(r"[^a-z0-9_]+")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def corrected_timestamp(
    timestamp: dt.datetime | None, sent_at: dt.datetime | None, received_at: dt.datetime
) -> dt.datetime:
    """Segment's clock-skew correction: ``timestamp = receivedAt - (sentAt - originalTimestamp)``.

    The device's clock may be wrong, but the gap between when it says the event happened and when it
    says it sent the request is right; anchoring that gap on our clock gives the true time.
    """
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    return received_at - (sent_at - timestamp)


class Implausible(ValueError):
    """A message that cannot be stored as it says: ``field`` and ``reason`` go back to the sender."""

    def __init__(self, field: str, reason: str, value: Any = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.value = value


def plausible_time(timestamp: dt.datetime, received_at: dt.datetime) -> tuple[dt.datetime, Problem | None]:
    """The event time to store, and the flag when it had to be clamped; raises Implausible when too early."""
    if timestamp < EARLIEST_EVENT_TIME:
        raise Implausible("timestamp", f"{timestamp.isoformat()} is before {EARLIEST_EVENT_TIME.date().isoformat()}: "
                                       "not a plausible event time", timestamp.isoformat())
    if timestamp > received_at + FUTURE_TOLERANCE:
        return received_at, Problem("timestamp", IN_THE_FUTURE, timestamp.isoformat())
    return timestamp, None


def identifier_kind(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    kind = _KIND_RE.sub("_", raw.strip().lower()).strip("_")
    return kind[:64] or None


@lru_cache(maxsize=1024)
def valid_timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def derive_channel(context: dict[str, Any], message_type: str) -> str:
    raw = context.get("channel")
    if isinstance(raw, str):
        value = raw.strip().lower()
        if value in CHANNELS:
            return value
        if value in _SEGMENT_CHANNELS:
            return _SEGMENT_CHANNELS[value]
        if value in _CHANNEL_ALIASES:
            return _CHANNEL_ALIASES[value]
    library = context.get("library")
    lib_name = library.get("name", "") if isinstance(library, dict) else ""
    if isinstance(lib_name, str) and lib_name:
        if lib_name.startswith(_WEB_LIBRARIES):
            return "web"
        if lib_name.startswith(_APP_LIBRARIES):
            return "app"
    if message_type == "page":
        return "web"
    if message_type == "screen":
        return "app"
    return "server"


def derive_device(context: dict[str, Any], channel: str) -> tuple[str, str | None]:
    """(device type, device id) from context.device, context.os and the user agent."""
    device = context.get("device")
    device = device if isinstance(device, dict) else {}
    device_id = device.get("id")
    device_id = str(device_id)[:256] if isinstance(device_id, _TEXT_OR_INT) and device_id != "" else None
    kind = device.get("type")
    kind = kind.strip().lower() if isinstance(kind, str) else ""
    if kind in DEVICE_TYPES:
        return kind, device_id
    if kind in ("ios", "android", "phone", "smartphone"):
        return "mobile", device_id
    if kind in ("ipad", "tab"):
        return "tablet", device_id
    if kind in ("kiosk", "terminal"):
        return "pos", device_id
    agent = context.get("userAgent")
    if isinstance(agent, str) and agent:
        lowered = agent.lower()
        if "ipad" in lowered or "tablet" in lowered:
            return "tablet", device_id
        if "mobi" in lowered or "iphone" in lowered or "android" in lowered:
            return "mobile", device_id
        return "desktop", device_id
    os_info = context.get("os")
    os_name = os_info.get("name", "") if isinstance(os_info, dict) else ""
    if isinstance(os_name, str) and os_name.lower() in ("ios", "android", "ipados"):
        return ("tablet" if os_name.lower() == "ipados" else "mobile"), device_id
    if channel == "app":
        return "mobile", device_id
    if channel == "store":
        return "pos", device_id
    if channel == "server":
        return "server", device_id
    return "unknown", device_id


def _consent_value(raw: Any) -> str | None:
    if isinstance(raw, bool):
        return "granted" if raw else "denied"
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in ("granted", "yes", "true", "opt_in", "opted_in", "subscribed"):
            return "granted"
        if lowered in ("denied", "no", "false", "opt_out", "opted_out", "unsubscribed"):
            return "denied"
    return None


def _consent_channel(raw: str) -> str | None:
    key = raw.strip().lower().replace("-", "_")
    key = {"inapp": "in_app", "kakao": "messenger", "whatsapp": "messenger", "messengers": "messenger"}.get(key, key)
    return key if key in CONSENT_CHANNELS else None


def extract_consents(context: dict[str, Any], traits: dict[str, Any]) -> dict[str, str]:
    """Consent per channel from ``traits.consent`` ({channel: bool}) and from Segment's consent
    object ``context.consent.categoryPreferences`` where a category is named after a channel."""
    found: dict[str, str] = {}
    consent_ctx = context.get("consent")
    if isinstance(consent_ctx, dict) and isinstance(consent_ctx.get("categoryPreferences"), dict):
        for key, value in consent_ctx["categoryPreferences"].items():
            channel, status = _consent_channel(str(key)), _consent_value(value)
            if channel and status:
                found[channel] = status
    consent_trait = traits.get("consent")
    if isinstance(consent_trait, dict):
        for key, value in consent_trait.items():
            channel, status = _consent_channel(str(key)), _consent_value(value)
            if channel and status:
                found[channel] = status
    return found


@dataclass
class NormalizedEvent:
    """An accepted message, ready for identity resolution and storage."""

    index: int
    message_id: str
    type: str
    event: str | None
    anonymous_id: str | None
    user_id: str | None
    timestamp: dt.datetime
    original_timestamp: dt.datetime | None
    sent_at: dt.datetime | None
    received_at: dt.datetime
    channel: str
    device_type: str
    device_id: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    payload_json: str
    identifiers: list[tuple[str, str]]
    trait_updates: dict[str, Any]
    consent_updates: dict[str, str]
    timezone: str | None
    locale: str | None
    source: str
    previous_id: str | None = None
    profile_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Data-quality flags of an event stored anyway (a clamped time, a trait not applied, with the
    # "flag" setting a property the tracking plan cannot read)
    flags: list[Problem] | None = None


def normalize(
    message: Message,
    *,
    index: int,
    message_id: str,
    payload_json: str,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None,
    phone_region: str,
    source: str,
) -> NormalizedEvent:
    message_type = message["type"]
    context = message.get("context") or {}
    user_id = message.get("userId")
    anonymous_id = message.get("anonymousId")
    original = utc(message.get("timestamp") or message.get("originalTimestamp"))
    sent_at = utc(message.get("sentAt")) or batch_sent_at
    channel = derive_channel(context, message_type)
    device_type, device_id = derive_device(context, channel)

    # identify carries traits; other calls may carry the user's traits in context.traits.
    ctx_traits = context.get("traits")
    if message_type == "identify":
        # RudderStack's libraries put identify traits in context.traits; Segment's at the top level.
        traits = {**(ctx_traits if isinstance(ctx_traits, dict) else {}), **(message.get("traits") or {})}
    elif message_type == "group" or not isinstance(ctx_traits, dict):
        traits = {}
    else:
        traits = dict(ctx_traits)
    if traits or "consent" in context:
        consents = extract_consents(context, traits)
        traits.pop("consent", None)
    else:
        consents = {}

    identifiers: list[tuple[str, str]] = []
    if user_id:
        identifiers.append(("user_id", user_id))
    if anonymous_id:
        identifiers.append(("anonymous_id", anonymous_id))
    flags: list[Problem] | None = None
    if traits:
        email_raw = traits.get("email")
        if email_raw is not None:
            email = normalize_email(email_raw)
            if email:
                traits["email"] = email
                identifiers.append(("email", email))
            elif email_raw != "":
                del traits["email"]
                flags = [Problem("traits.email", "not an e-mail address: not applied", email_raw)]
        phone_raw = traits.get("phone")
        if phone_raw is not None:
            phone = (normalize_phone(str(phone_raw), phone_region)
                     if isinstance(phone_raw, _TEXT_OR_INT) and not isinstance(phone_raw, bool) else None)
            if phone:
                traits["phone"] = phone
                identifiers.append(("phone", phone))
            elif phone_raw != "":
                del traits["phone"]
                flags = [*(flags or ()), Problem("traits.phone", "not a phone number: not applied", phone_raw)]
    if device_id:
        identifiers.append(("device_id", device_id))
    for key, kind in HANDLE_TRAITS.items() if traits else ():
        value = traits.get(key)
        if isinstance(value, _TEXT_OR_INT) and not isinstance(value, bool) and str(value).strip():
            identifiers.append((kind, str(value).strip()[:512]))
    device = context.get("device")
    if isinstance(device, dict) and isinstance(device.get("token"), str) and device["token"]:
        identifiers.append(("push_token", device["token"][:512]))
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict):
                external_kind = identifier_kind(item.get("type"))
                value = item.get("id")
                if (external_kind and isinstance(value, _TEXT_OR_INT) and not isinstance(value, bool)
                        and str(value).strip()):
                    identifiers.append((external_kind, str(value).strip()[:512]))

    tz_raw = context.get("timezone") or traits.get("timezone")
    timezone = valid_timezone(tz_raw) if isinstance(tz_raw, str) and tz_raw else None
    locale_raw = context.get("locale") or traits.get("locale")
    locale = (
        locale_raw.replace("_", "-") if isinstance(locale_raw, str) and _LOCALE_RE.match(locale_raw) else None
    )

    timestamp, clamped = plausible_time(corrected_timestamp(original, sent_at, received_at), received_at)
    if clamped is not None:
        flags = [*(flags or ()), clamped]
    return NormalizedEvent(
        index=index,
        message_id=message_id,
        type=message_type,
        event=message.get("event") if message_type == "track" else message.get("name"),
        anonymous_id=anonymous_id,
        user_id=user_id,
        timestamp=timestamp,
        original_timestamp=original,
        sent_at=sent_at,
        received_at=received_at,
        channel=channel,
        device_type=device_type,
        device_id=device_id,
        properties=message.get("properties") or {},
        traits=message.get("traits") or {},
        context=context,
        payload_json=payload_json,
        identifiers=list(dict.fromkeys(identifiers)) if len(identifiers) > 1 else identifiers,
        trait_updates=traits,
        consent_updates=consents,
        timezone=timezone,
        locale=locale,
        source=source,
        previous_id=message.get("previousId"),
        flags=flags,
    )
