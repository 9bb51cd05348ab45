"""In-app messages' pure rules: which message may show now (every reason, in its order), which events make
one pending, and what a definition may say (checked at save time, naming the field)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from touchline.errors import ValidationFailed
from touchline.inapp import rules
from touchline.inapp.rules import GlobalRule, History, Tally

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
PAGE = {"name": "m", "layout": "banner", "template": "t",
        "trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": 3}}}


def _message(**changes: Any) -> rules.Message:
    return rules.checked_message({**PAGE, **changes})


NOTHING_YET = History()
DEFAULT_RULE = GlobalRule()


def _decide(message: rules.Message, history: History = NOTHING_YET, rule: GlobalRule = DEFAULT_RULE, *,
            platform: str = "web", consent_denied: bool = False, pending: bool = False) -> str:
    return rules.decide(message, "m1", history, rule, platform=platform, consent_denied=consent_denied,
                        pending=pending, now=NOW).reason


def _ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def test_each_reason_in_its_order() -> None:
    m = _message()
    assert _decide(m) == "shown"
    assert _decide(_message(status="paused"), consent_denied=True) == "paused"
    assert _decide(_message(platforms=["ios"]), consent_denied=True) == "platform"
    assert _decide(m, consent_denied=True) == "no_consent"
    journey = _message(trigger={"type": "journey"})
    assert _decide(journey) == "not_triggered" and _decide(journey, pending=True) == "shown"
    clicked = History({"m1": Tally(impressions=1, clicks=1, dismissals=1, last_impression_at=_ago(days=9))})
    assert _decide(m, clicked) == "clicked"
    assert _decide(_message(frequency={"stop_after_click": False}), clicked) == "dismissed"
    assert _decide(_message(frequency={"stop_after_click": False, "stop_after_dismiss": False}), clicked) == "shown"
    three = History({"m1": Tally(impressions=3, last_impression_at=_ago(days=9))})
    assert _decide(m, three) == "max_impressions"
    assert _decide(_message(frequency={"max_impressions": None}), three) == "shown"
    recent = History({"m1": Tally(impressions=1, last_impression_at=_ago(hours=23, minutes=59))})
    assert _decide(m, recent) == "too_soon"
    assert _decide(_message(frequency={"min_hours_between": 0}), recent) == "shown"
    assert _decide(m, History({"m1": Tally(impressions=1, last_impression_at=_ago(hours=24))})) == "shown"
    busy = History({}, impressions_24h=3, last_impression_at=_ago(hours=1))
    assert _decide(m, busy) == "daily_cap"
    assert _decide(m, busy, GlobalRule(max_per_day=None)) == "shown"
    just_now = History({}, impressions_24h=1, last_impression_at=_ago(minutes=4))
    assert _decide(m, just_now) == "global_interval"
    assert _decide(m, just_now, GlobalRule(min_minutes_between=0)) == "shown"


def test_events_that_make_a_message_pending() -> None:
    journey = _message(template="cart-banner", trigger={"type": "journey", "journey_id": "abandoned-cart"})
    sent = {"channel": "in_app", "template": "cart-banner", "journey_id": "abandoned-cart"}
    assert rules.listened_event(journey) == "Message Sent"
    assert rules.matches_event(journey, "Message Sent", sent)
    assert not rules.matches_event(journey, "Message Failed", sent)
    assert not rules.matches_event(journey, "Message Sent", {**sent, "channel": "email"})
    assert not rules.matches_event(journey, "Message Sent", {**sent, "template": "other"})
    assert not rules.matches_event(journey, "Message Sent", {**sent, "journey_id": "welcome"})
    # Without a journey named: any journey's in-app send of the template, never a conversation's reply.
    anyone = _message(template="cart-banner", trigger={"type": "journey"})
    assert rules.matches_event(anyone, "Message Sent", {**sent, "journey_id": "welcome"})
    assert not rules.matches_event(anyone, "Message Sent", {**sent, "journey_id": None})
    event = _message(trigger={"type": "event", "event": "Cart Viewed", "properties": {"value": 50000, "vip": True}})
    assert rules.listened_event(event) == "Cart Viewed"
    assert rules.matches_event(event, "Cart Viewed", {"value": 50000.0, "vip": True, "other": 1})
    assert not rules.matches_event(event, "Cart Viewed", {"value": 50000, "vip": 1})
    assert not rules.matches_event(event, "Cart Viewed", {"value": "50000", "vip": True})
    assert not rules.matches_event(event, "Cart Viewed", {"vip": True})
    assert rules.listened_event(_message()) is None
    assert not rules.matches_event(_message(), "Product Viewed", {})


def test_definitions_are_checked_naming_the_field() -> None:
    # A whole number written 3.0 is 3 (JSON Schema's integer); 3.5, "3" and true are not.
    whole = _message(trigger={"type": "page", "rule": {"kind": "product_views", "at_least": 3.0}})
    assert whole.trigger.rule.at_least == 3  # type: ignore[union-attr]
    m = _message(layout="slide_in", button={"ko": "보기"})
    assert m.where == "right" and m.button_text("ko") == "보기" and m.button_text("en") is None
    assert _message(layout="modal").where == "center"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"trigger": {"type": "page", "rule": {"kind": "cart_value", "at_least": -1}}}, "trigger.rule.at_least"),
        ({"trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": "3"}}}, "trigger.rule.at_least"),
        ({"trigger": {"type": "event", "event": "A", "properties": {"a": [1]}}}, "trigger.properties.a"),
        ({"layout": "modal", "position": "top"}, "position"),
        ({"platforms": ["web", "web"]}, "platforms"),
        ({"frequency": {"max_impressions": 1.5}}, "frequency.max_impressions"),
    ]
    for change, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            _message(**change)
        assert [d["field"] for d in caught.value.detail] == [field], (change, caught.value.detail)
    with pytest.raises(ValidationFailed):
        rules.checked_message(["not", "an", "object"])
    assert rules.checked_global_rule({"max_per_day": 5}, GlobalRule(min_minutes_between=0)) == GlobalRule(
        max_per_day=5, min_minutes_between=0)
    with pytest.raises(ValidationFailed) as caught:
        rules.checked_global_rule({"min_minutes_between": False})
    assert caught.value.detail[0]["field"] == "min_minutes_between"
