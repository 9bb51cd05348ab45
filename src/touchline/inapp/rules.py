"""In-app messages' rules (issue 17): what a message is, what shows it, and whether it may show now.

A message is a banner, a modal or a slide-in whose content comes from one of the workspace's ``in_app``
templates (title, body, url; rendered in the messages' sandbox for the customer, in their language), with
a button label per language. What shows it (``trigger``):

- ``page``: a rule on the page, evaluated where the customer is (the web SDK, ``/sdk/inapp.js``, or the
  app, which gets the same rule through the API): ``product_views`` (this product viewed at least
  ``at_least`` times on this device within ``within_days``, this view included), ``cart_value`` (the cart
  on the page worth at least ``at_least``, in the shop's currency), ``any_page``;
- ``journey``: a journey's send step on the in-app channel with this message's template (its ``Message
  Sent``, of one journey when ``journey_id`` is given) makes it pending for that customer;
- ``event``: an event of the customer with this name (and these property values) makes it pending.

A pending message waits ``expires_hours`` for the customer's next page or app screen. Frequency, per
message: at most ``max_impressions`` impressions per customer, ``min_hours_between`` hours apart, never
again after a dismissal or a click when the message says so; and across the workspace's messages
(:class:`GlobalRule`): at most ``max_per_day`` impressions a customer in any 24 hours, and
``min_minutes_between`` minutes between two. A customer who denied the ``in_app`` consent sees none.

Pure: no I/O; ``now`` is an argument.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from touchline.errors import ValidationFailed, field_error

__all__ = [
    "EVENTS", "KINDS", "LAYOUTS", "PLATFORMS", "Decision", "GlobalRule", "History", "Message", "Strict", "Tally",
    "checked_global_rule", "checked_message", "decide", "listened_event", "matches_event",
]

Layout = Literal["banner", "modal", "slide_in"]
Platform = Literal["web", "ios", "android"]
Kind = Literal["impression", "click", "dismiss"]
LAYOUTS: Final[tuple[str, ...]] = ("banner", "modal", "slide_in")
PLATFORMS: Final[tuple[str, ...]] = ("web", "ios", "android")
KINDS: Final[tuple[str, ...]] = ("impression", "click", "dismiss")
# What each interaction is recorded as, through ingestion (journeys and segments can use them).
EVENTS: Final[dict[str, str]] = {
    "impression": "In-App Message Viewed",
    "click": "In-App Message Clicked",
    "dismiss": "In-App Message Dismissed",
}
# A journey's in-app send is seen as its receipt on the event log.
JOURNEY_RECEIPT: Final = "Message Sent"
INBOX_CHANNEL: Final = "in_app"
# Where each layout may sit, the first being its default.
POSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "banner": ("top", "bottom"),
    "slide_in": ("right", "left"),
    "modal": ("center",),
}
KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KEY_REASON = "1 to 64 lower-case letters, digits, . - _ (starting with a letter or digit)"
_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"  # not only white space, no NUL


def _takes(annotation: Any, kind: type) -> bool:
    return annotation is kind or any(_takes(arg, kind) for arg in typing.get_args(annotation))


class Strict(BaseModel):
    """JSON as it is: no coercion (``false`` is not ``0``, ``"3"`` is not ``3``), no unknown fields; a whole
    number written ``3.0`` is the integer 3, as JSON Schema's ``integer`` says."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        changed = None
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if (field is not None and isinstance(value, float) and value.is_integer()
                    and _takes(field.annotation, int) and not _takes(field.annotation, float)):
                changed = changed if changed is not None else dict(data)
                changed[name] = int(value)
        return data if changed is None else changed





class ProductViews(Strict):
    kind: Literal["product_views"]
    at_least: int = Field(ge=1, le=100)
    within_days: int = Field(30, ge=1, le=365)


class CartValue(Strict):
    kind: Literal["cart_value"]
    at_least: float = Field(gt=0, le=1e12)


class AnyPage(Strict):
    kind: Literal["any_page"]


PageRule = Annotated[ProductViews | CartValue | AnyPage, Field(discriminator="kind")]


class PageTrigger(Strict):
    type: Literal["page"]
    rule: PageRule


PropertyValue = Annotated[str, Field(max_length=500)] | int | float | bool


class EventTrigger(Strict):
    type: Literal["event"]
    event: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    properties: dict[Annotated[str, Field(min_length=1, max_length=100)], PropertyValue] = Field(
        default_factory=dict, max_length=10)


class JourneyTrigger(Strict):
    type: Literal["journey"]
    journey_id: str | None = Field(None, min_length=1, max_length=200, pattern=_TEXT)


Trigger = Annotated[PageTrigger | EventTrigger | JourneyTrigger, Field(discriminator="type")]


class Frequency(Strict):
    max_impressions: int | None = Field(3, ge=1, le=1000)  # per customer, ever; None: no limit
    min_hours_between: int = Field(24, ge=0, le=24 * 365)
    stop_after_dismiss: bool = True
    stop_after_click: bool = True


ButtonText = Annotated[str, Field(min_length=1, max_length=40, pattern=_TEXT)]


class Button(Strict):
    ko: ButtonText | None = None
    en: ButtonText | None = None


def _all_platforms() -> list[Platform]:
    return ["web", "ios", "android"]


class Message(Strict):
    """One in-app message's definition (what the API takes and gives back, less its id and times)."""

    key: str | None = Field(None, pattern=KEY.pattern, description=KEY_REASON)
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    status: Literal["active", "paused"] = "active"
    layout: Layout
    position: str | None = None
    template: str = Field(min_length=1, max_length=200, pattern=_TEXT,
                          description="The key of an in_app template (title, body, url)")
    button: Button = Field(default_factory=Button)
    trigger: Trigger
    platforms: list[Platform] = Field(default_factory=_all_platforms, min_length=1, max_length=3)
    frequency: Frequency = Field(default_factory=Frequency)
    expires_hours: int = Field(24, ge=1, le=24 * 30)
    priority: int = Field(0, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> Message:
        allowed = POSITIONS[self.layout]
        if self.position is not None and self.position not in allowed:
            raise ValueError(f"position: a {self.layout} sits {' or '.join(allowed)}")
        if len(set(self.platforms)) != len(self.platforms):
            raise ValueError("platforms: each platform once")
        return self

    @property
    def where(self) -> str:
        return self.position or POSITIONS[self.layout][0]

    def button_text(self, language: str) -> str | None:
        return self.button.ko if language == "ko" else self.button.en

    def as_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        out["position"] = self.where
        return out


class GlobalRule(Strict):
    """The workspace's frequency rule across all its in-app messages."""

    max_per_day: int | None = Field(3, ge=1, le=100)
    min_minutes_between: int = Field(5, ge=0, le=24 * 60)


_TAGS = {"trigger": {"page", "event", "journey"}, "rule": {"product_views", "cart_value", "any_page"}}


def _path(loc: tuple[Any, ...]) -> list[str]:
    """A field's place without the union tags pydantic puts in it (``trigger.page.rule.product_views.at_least``
    is ``trigger.rule.at_least``) nor the member types of a value's union."""
    out: list[str] = []
    for i, part in enumerate(loc):
        before = loc[i - 1] if i else None
        if isinstance(before, str) and part in _TAGS.get(before, ()):
            continue
        if part in ("str", "int", "float", "bool", "constrained-str", "[key]"):
            continue
        out.append(str(part))
    return out


def _problems(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        where = ".".join(_path(err["loc"]))
        message = str(err["msg"])
        if err["type"] == "value_error" and ": " in message:  # ours: "field: reason"
            text = message.removeprefix("Value error, ")
            head, _, reason = text.partition(": ")
            out.append(field_error(".".join(p for p in (where, head) if p), reason))
        else:
            out.append(field_error(where or "(body)", message))
    # A property value's union fails once per member type: one problem, saying what it may be.
    merged: dict[str, dict[str, Any]] = {}
    for problem in out:
        if problem["field"] in merged:
            merged[problem["field"]]["reason"] = "a text, a number or true/false"
        else:
            merged[problem["field"]] = problem
    return list(merged.values())


def checked_message(payload: Any) -> Message:
    """A message from a JSON payload, or ``ValidationFailed`` naming every bad field
    (``trigger.rule.at_least``, ``frequency.max_impressions``, ``position``)."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed("an in-app message is a JSON object", [field_error("(body)", "not an object")])
    try:
        return Message.model_validate(dict(payload))
    except pydantic.ValidationError as exc:
        problems = _problems(exc)
        raise ValidationFailed(f"the in-app message is not valid: {problems[0]['field']}: {problems[0]['reason']}",
                               problems) from None


def checked_global_rule(payload: Any, current: GlobalRule | None = None) -> GlobalRule:
    """The rule from a (partial) payload over ``current``; ``ValidationFailed`` naming each bad field."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed("the frequency rule is a JSON object", [field_error("(body)", "not an object")])
    base = (current or GlobalRule()).model_dump()
    try:
        return GlobalRule.model_validate({**base, **payload})
    except pydantic.ValidationError as exc:
        problems = _problems(exc)
        raise ValidationFailed(f"the frequency rule is not valid: {problems[0]['field']}: "
                               f"{problems[0]['reason']}", problems) from None


# --- triggers seen on the event log --------------------------------------------------------------------


def listened_event(message: Message) -> str | None:
    """The event name whose arrival makes ``message`` pending for its customer (None: a page rule)."""
    if isinstance(message.trigger, JourneyTrigger):
        return JOURNEY_RECEIPT
    if isinstance(message.trigger, EventTrigger):
        return message.trigger.event
    return None


def matches_event(message: Message, event: str | None, properties: Mapping[str, Any]) -> bool:
    """Whether an event just appended for a customer makes ``message`` pending for them."""
    trigger = message.trigger
    if isinstance(trigger, JourneyTrigger):
        return (event == JOURNEY_RECEIPT and properties.get("channel") == INBOX_CHANNEL
                and properties.get("template") == message.template and bool(properties.get("journey_id"))
                and (trigger.journey_id is None or properties.get("journey_id") == trigger.journey_id))
    if isinstance(trigger, EventTrigger):
        return event == trigger.event and all(
            _same(properties.get(name), value) for name, value in trigger.properties.items())
    return False


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(found, bool):
        return found is wanted
    if isinstance(wanted, int | float) and isinstance(found, int | float):
        return float(found) == float(wanted)
    return bool(found == wanted)


# --- frequency -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """One customer's interactions with one message."""

    impressions: int = 0
    clicks: int = 0
    dismissals: int = 0
    last_impression_at: dt.datetime | None = None


@dataclass(frozen=True)
class History:
    """One customer's interactions with the workspace's messages."""

    by_message: Mapping[str, Tally] = field(default_factory=dict)
    impressions_24h: int = 0  # of any message, in the 24 hours before now
    last_impression_at: dt.datetime | None = None  # of any message


@dataclass(frozen=True)
class Decision:
    show: bool
    reason: str  # shown | paused | platform | no_consent | not_triggered | clicked | dismissed |
    #              max_impressions | too_soon | daily_cap | global_interval


def decide(message: Message, message_id: str, history: History, rule: GlobalRule, *, platform: str,
           consent_denied: bool, pending: bool, now: dt.datetime) -> Decision:
    """Whether ``message`` may be shown to the customer now (a page rule still has to match on the page)."""
    if message.status != "active":
        return Decision(False, "paused")
    if platform not in message.platforms:
        return Decision(False, "platform")
    if consent_denied:
        return Decision(False, "no_consent")
    if not isinstance(message.trigger, PageTrigger) and not pending:
        return Decision(False, "not_triggered")
    tally = history.by_message.get(message_id, Tally())
    frequency = message.frequency
    if frequency.stop_after_click and tally.clicks:
        return Decision(False, "clicked")
    if frequency.stop_after_dismiss and tally.dismissals:
        return Decision(False, "dismissed")
    if frequency.max_impressions is not None and tally.impressions >= frequency.max_impressions:
        return Decision(False, "max_impressions")
    if (tally.last_impression_at is not None and frequency.min_hours_between
            and now - tally.last_impression_at < dt.timedelta(hours=frequency.min_hours_between)):
        return Decision(False, "too_soon")
    if rule.max_per_day is not None and history.impressions_24h >= rule.max_per_day:
        return Decision(False, "daily_cap")
    if (history.last_impression_at is not None and rule.min_minutes_between
            and now - history.last_impression_at < dt.timedelta(minutes=rule.min_minutes_between)):
        return Decision(False, "global_interval")
    return Decision(True, "shown")
