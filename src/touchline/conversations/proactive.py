"""Proactive chat (issue 15): when a shopper hesitates, the chat opens by itself with a question.

The web chat (``/sdk/chat.js``) reports hesitation as signals: idle on the checkout page for the rule's
``idle_seconds``, leaving the cart page with items in it, exit intent on a desktop (the pointer leaving
through the top of the window). Each signal is recorded as an event the journeys can trigger on
(:data:`SIGNAL_EVENTS`). The built-in rule, which a shop switches on, then decides here whether the chat
opens: only for the signals it names, never for a customer who refused on-site messages (the ``in_app``
consent denied), at most once per customer in ``cap_hours``, and never for the holdout: a fixed share of
customers (a hash of the workspace and the customer, so the same customer is always on the same side) is
offered nothing, and is watched over the same window, so the offer's effect on cart abandonment is
measured as a lift. Pure: no I/O; ``now`` is an argument.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_MESSAGES", "SIGNAL_EVENTS", "Decision", "ProactiveRule", "checked_rule", "decide", "in_holdout",
]

Signal = Literal["checkout_idle", "cart_exit", "exit_intent"]
# signal -> the event recorded for it (through ingestion, so journeys and segments see it)
SIGNAL_EVENTS: Final[dict[str, str]] = {
    "checkout_idle": "Checkout Hesitated",
    "cart_exit": "Cart Abandoned On Page",
    "exit_intent": "Exit Intent Shown",
}
OFFERED_EVENT: Final = "Proactive Chat Offered"
DEFAULT_MESSAGES: Final[dict[str, str]] = {
    "ko": "결제에 궁금한 점이 있으신가요? 편하게 물어봐 주세요.",
    "en": "Any questions about your order or payment? Ask us here.",
}
# The chat can only open while the shopper is on the page: leaving the cart page is recorded, not answered.
OPENS_CHAT: Final = frozenset({"checkout_idle", "exit_intent"})
_MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class ProactiveRule:
    """A workspace's proactive chat rule (off by default)."""

    enabled: bool = False
    signals: tuple[str, ...] = ("checkout_idle", "exit_intent")
    idle_seconds: int = 30
    cap_hours: int = 24
    holdout_percent: int = 20
    messages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))

    def message(self, language: str | None) -> str:
        return self.messages.get(language or "ko") or self.messages["ko"]

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "signals": list(self.signals), "idle_seconds": self.idle_seconds,
                "cap_hours": self.cap_hours, "holdout_percent": self.holdout_percent,
                "message_ko": self.messages["ko"], "message_en": self.messages["en"]}


def checked_rule(payload: dict[str, Any], current: ProactiveRule | None = None
                 ) -> tuple[ProactiveRule | None, list[dict[str, str]]]:
    """A rule from a (partial) payload over ``current``; or None and the problems, each naming its field."""
    base = current or ProactiveRule()
    problems: list[dict[str, str]] = []

    def number(name: str, low: int, high: int, default: int) -> int:
        value = payload.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append({"field": name, "reason": f"a whole number from {low} to {high}"})
            return default
        return value

    enabled = payload.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        problems.append({"field": "enabled", "reason": "true or false"})
        enabled = base.enabled
    signals = payload.get("signals", list(base.signals))
    if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
        problems.append({"field": "signals", "reason": "a list of signal names"})
        signals = list(base.signals)
    unknown = [s for s in signals if s not in SIGNAL_EVENTS]
    if unknown:
        problems.append({"field": "signals", "reason": f"unknown signal {unknown[0]!r}; one of "
                                                      f"{', '.join(SIGNAL_EVENTS)}"})
    messages = dict(base.messages)
    for language in ("ko", "en"):
        name = f"message_{language}"
        if name not in payload:
            continue
        text = payload[name]
        if not isinstance(text, str) or not text.strip() or len(text) > _MESSAGE_LIMIT:
            problems.append({"field": name, "reason": f"a text of 1 to {_MESSAGE_LIMIT} characters"})
        else:
            messages[language] = text.strip()
    rule = ProactiveRule(
        enabled=enabled, signals=tuple(dict.fromkeys(s for s in signals if s in SIGNAL_EVENTS)),
        idle_seconds=number("idle_seconds", 1, 3600, base.idle_seconds),
        cap_hours=number("cap_hours", 1, 24 * 90, base.cap_hours),
        holdout_percent=number("holdout_percent", 0, 90, base.holdout_percent), messages=messages)
    return (None, problems) if problems else (rule, [])


def in_holdout(workspace_id: str, profile_id: str, percent: int) -> bool:
    """Whether the customer is in the holdout: a stable hash, so the same customer always is (or is not)."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"proactive-chat:{workspace_id}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


@dataclass(frozen=True)
class Decision:
    open: bool  # the chat opens with the rule's message
    group: Literal["treatment", "holdout"] | None  # None: not offered at all (the reason says why)
    reason: str  # offered | holdout | disabled | signal_off | no_consent | capped | stays_closed


def decide(rule: ProactiveRule, signal: str, *, workspace_id: str, profile_id: str, consent_denied: bool,
           last_offer_at: dt.datetime | None, now: dt.datetime) -> Decision:
    """Whether this hesitation opens the chat, and which group the customer is counted in."""
    if not rule.enabled:
        return Decision(False, None, "disabled")
    if signal not in rule.signals:
        return Decision(False, None, "signal_off")
    if consent_denied:
        return Decision(False, None, "no_consent")
    if last_offer_at is not None and now - last_offer_at < dt.timedelta(hours=rule.cap_hours):
        return Decision(False, None, "capped")
    if signal not in OPENS_CHAT:
        return Decision(False, None, "stays_closed")
    if in_holdout(workspace_id, profile_id, rule.holdout_percent):
        return Decision(False, "holdout", "holdout")
    return Decision(True, "treatment", "offered")
