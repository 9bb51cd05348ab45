"""The send policy: consent, unsubscribe, addresses, quiet hours per time zone, caps, fallback order."""

from __future__ import annotations

import datetime as dt

import pytest

from touchline.messaging.policy import (
    Cap,
    MessageIntent,
    PastSend,
    PolicyConfig,
    Recipient,
    Send,
    Suppressed,
    SuppressReason,
    consent_status,
    decide,
    in_quiet_hours,
)

UTC = dt.UTC
AD = MessageIntent("advertising")
TX = MessageIntent("transactional")
ALL = {"push": "tok-1", "messenger": "+821012345678", "sms": "+821012345678", "email": "minji@example.com"}
GRANTED = {c: {"status": "granted", "at": "2024-01-01T00:00:00+00:00", "source": "api"} for c in ALL}


def at_utc(hour: int, minute: int = 0, day: int = 3) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=UTC)


def customer(**kw: object) -> Recipient:
    base: dict[str, object] = {"addresses": ALL, "consents": GRANTED, "timezone": "Asia/Seoul"}
    base.update(kw)
    return Recipient(**base)  # type: ignore[arg-type]


NOON_SEOUL = at_utc(3)  # 12:00 KST, 23:00 EDT the day before


def test_default_fallback_order_is_push_messenger_sms_email() -> None:
    assert decide(AD, customer(), NOON_SEOUL) == Send("push", NOON_SEOUL)


def test_unreachable_channels_are_skipped_in_order() -> None:
    decision = decide(AD, customer(addresses={"sms": "+8210", "email": "a@b.c", "push": None}), NOON_SEOUL)
    assert isinstance(decision, Send)
    assert decision.channel == "sms"
    assert decision.passed_over == (("push", SuppressReason.NO_ADDRESS), ("messenger", SuppressReason.NO_ADDRESS))


def test_customer_preference_comes_first_and_message_channels_limit_the_choice() -> None:
    assert decide(AD, customer(preferred_channels=["email"]), NOON_SEOUL).channel == "email"  # type: ignore[union-attr]
    only_sms_email = MessageIntent("advertising", channels=["email", "sms"])
    assert decide(only_sms_email, customer(), NOON_SEOUL).channel == "sms"  # type: ignore[union-attr]
    assert decide(MessageIntent("advertising", channels=["fax"]), customer(), NOON_SEOUL) == \
        Suppressed(SuppressReason.NO_CHANNEL)
    custom = PolicyConfig(fallback_order=("email", "sms"))
    assert decide(AD, customer(), NOON_SEOUL, custom).channel == "email"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [{"status": "denied"}, None, "unknown", False])
def test_advertising_needs_granted_consent(status: object) -> None:
    consents = {} if status is None else {"push": status}
    decision = decide(MessageIntent("advertising", channels=["push"]),
                      customer(addresses={"push": "tok"}, consents=consents), NOON_SEOUL)
    assert decision == Suppressed(SuppressReason.NO_CONSENT, (("push", SuppressReason.NO_CONSENT),))


def test_denied_consent_falls_back_to_a_consented_channel() -> None:
    consents = {**GRANTED, "push": {"status": "denied"}, "messenger": {"status": "denied"}}
    decision = decide(AD, customer(consents=consents), NOON_SEOUL)
    assert isinstance(decision, Send) and decision.channel == "sms"


def test_transactional_needs_no_marketing_consent_and_ignores_unsubscribe_caps_and_quiet_hours() -> None:
    night = at_utc(15)  # 00:00 KST
    sends = [PastSend("push", night - dt.timedelta(hours=h)) for h in (1, 2, 3)]
    who = customer(consents={}, unsubscribed=True, recent_sends=sends)
    assert decide(TX, who, night) == Send("push", night)
    assert decide(AD, who, night) == Suppressed(SuppressReason.UNSUBSCRIBED)


def test_no_address_anywhere() -> None:
    decision = decide(TX, customer(addresses={}), NOON_SEOUL)
    assert isinstance(decision, Suppressed) and decision.reason == SuppressReason.NO_ADDRESS
    assert len(decision.passed_over) == 4


# --- quiet hours ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("local", "quiet"), [
    (dt.time(20, 59), False), (dt.time(21, 0), True), (dt.time(23, 59), True), (dt.time(0, 0), True),
    (dt.time(7, 59), True), (dt.time(8, 0), False), (dt.time(12, 0), False),
])
def test_quiet_hours_span_midnight(local: dt.time, quiet: bool) -> None:
    assert in_quiet_hours(local, dt.time(21), dt.time(8)) is quiet


def test_same_moment_is_quiet_in_seoul_but_not_in_new_york() -> None:
    now = at_utc(13)  # 22:00 KST; 09:00 EDT
    seoul = decide(AD, customer(timezone="Asia/Seoul"), now)
    assert seoul == Send("push", dt.datetime(2024, 5, 3, 23, 0, tzinfo=UTC), deferred=True)  # 08:00 KST on the 4th
    new_york = decide(AD, customer(timezone="America/New_York"), now)
    assert new_york == Send("push", now)


def test_new_york_night_is_deferred_to_eight_new_york_time() -> None:
    now = at_utc(3)  # 23:00 EDT on May 2
    decision = decide(AD, customer(timezone="America/New_York"), now)
    assert isinstance(decision, Send) and decision.deferred
    assert decision.not_before == dt.datetime(2024, 5, 3, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert decision.not_before.astimezone(dt.timezone(dt.timedelta(hours=-4))).hour == 8


def test_early_morning_defers_to_the_same_day() -> None:
    now = at_utc(20)  # 05:00 KST on May 4
    decision = decide(AD, customer(), now)
    assert decision.not_before == dt.datetime(2024, 5, 3, 23, 0, tzinfo=UTC)  # type: ignore[union-attr]


def test_quiet_hours_can_suppress_and_night_consent_exempts() -> None:
    now = at_utc(14)  # 23:00 KST
    strict = PolicyConfig(quiet_hours="suppress")
    assert decide(AD, customer(), now, strict) == Suppressed(SuppressReason.QUIET_HOURS)
    assert decide(AD, customer(night_consent=True), now, strict) == Send("push", now)


def test_unknown_time_zone_falls_back_to_the_default() -> None:
    now = at_utc(13)  # 22:00 in Seoul, the default
    assert decide(AD, customer(timezone="Mars/Olympus"), now).deferred  # type: ignore[union-attr]
    assert decide(AD, customer(timezone=None), now, PolicyConfig(default_timezone="UTC")) == Send("push", now)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(AD, customer(), dt.datetime(2024, 5, 3, 12))


# --- frequency caps ------------------------------------------------------------------------------------

def test_global_cap_two_advertising_messages_per_rolling_day() -> None:
    now = NOON_SEOUL
    one = [PastSend("email", now - dt.timedelta(hours=5))]
    two = [*one, PastSend("sms", now - dt.timedelta(hours=20))]
    assert isinstance(decide(AD, customer(recent_sends=one), now), Send)
    assert decide(AD, customer(recent_sends=two), now) == Suppressed(SuppressReason.FREQUENCY_CAP)
    old = [*one, PastSend("sms", now - dt.timedelta(hours=25))]  # outside the window
    assert isinstance(decide(AD, customer(recent_sends=old), now), Send)
    transactional = [*one, PastSend("sms", now - dt.timedelta(hours=1), kind="transactional")]
    assert isinstance(decide(AD, customer(recent_sends=transactional), now), Send)
    assert isinstance(decide(AD, customer(recent_sends=two), now, PolicyConfig(global_cap=None)), Send)


def test_channel_cap_falls_back_to_the_next_channel() -> None:
    now = NOON_SEOUL
    config = PolicyConfig(global_cap=Cap(5), channel_caps={"push": Cap(1, dt.timedelta(days=7))})
    sends = [PastSend("push", now - dt.timedelta(days=3))]
    decision = decide(AD, customer(recent_sends=sends), now, config)
    assert decision == Send("messenger", now, passed_over=(("push", SuppressReason.CHANNEL_FREQUENCY_CAP),))
    only_push = customer(addresses={"push": "tok"}, recent_sends=sends)
    assert decide(AD, only_push, now, config).reason == SuppressReason.CHANNEL_FREQUENCY_CAP  # type: ignore[union-attr]


def test_consent_status_reads_profile_and_plain_forms() -> None:
    assert consent_status({"sms": {"status": "granted"}}, "sms") == "granted"
    assert consent_status({"sms": True}, "sms") == "granted"
    assert consent_status({"sms": "denied"}, "sms") == "denied"
    assert consent_status({}, "sms") == "unknown"


def test_a_channel_without_a_provider_is_the_reason_not_consent() -> None:
    """A server with no provider (plain ``touchline serve``): the message has content for e-mail, SMS and
    in-app, only in-app (the outbox itself) can send. A customer who could have had it by e-mail is
    suppressed because no channel is configured, not for consent."""
    granted = {"status": "granted"}
    intent = MessageIntent("advertising", ("in_app",), ("email", "sms"))
    addresses = {**ALL, "in_app": "profile-1"}
    reachable = customer(addresses=addresses, consents={"email": granted})
    assert decide(intent, reachable, NOON_SEOUL) == Suppressed(SuppressReason.NOT_CONFIGURED, (
        ("sms", SuppressReason.NO_CONSENT), ("email", SuppressReason.NOT_CONFIGURED),
        ("in_app", SuppressReason.NO_CONSENT)))
    assert SuppressReason.NOT_CONFIGURED.value == "channel_not_configured"
    # Consent nowhere: that is still the reason (a provider would not change it).
    silent = decide(intent, customer(addresses=addresses, consents={}), NOON_SEOUL)
    assert isinstance(silent, Suppressed) and silent.reason == SuppressReason.NO_CONSENT
    # The configured channel still wins when it may be used; the unconfigured one it passed over is named.
    inbox = decide(intent, customer(addresses=addresses, consents={"email": granted, "in_app": granted}), NOON_SEOUL)
    assert isinstance(inbox, Send) and inbox.channel == "in_app"
    assert inbox.passed_over == (("sms", SuppressReason.NO_CONSENT), ("email", SuppressReason.NOT_CONFIGURED))
    # Transactional: no consent needed, the unconfigured channels are passed over for that reason alone.
    receipt = decide(MessageIntent("transactional", (), ("email",)), customer(consents={}), NOON_SEOUL)
    assert receipt == Suppressed(SuppressReason.NOT_CONFIGURED, (("email", SuppressReason.NOT_CONFIGURED),))
    # None of its channels configured: not configured, whoever it is for.
    nowhere = decide(MessageIntent("advertising", (), ("email", "push")), customer(consents={}), NOON_SEOUL)
    assert isinstance(nowhere, Suppressed) and nowhere.reason == SuppressReason.NOT_CONFIGURED
    # No content for any channel is another matter.
    assert decide(MessageIntent("advertising", ()), reachable, NOON_SEOUL) == Suppressed(SuppressReason.NO_CHANNEL)
