"""A loyalty program's definition and what its earning rules award for an event (pure: no I/O).

A program is one document, saved as a new version each time (like a journey) and validated when saved:
points (the return window that keeps new points pending, expiry, the notice before it, a daily cap),
earning rules (points per amount of an order with multipliers by category and tier, a first-order bonus,
points for any event such as a review, a birthday bonus; each rule may have its own daily cap), the
events that refund an order, tiers (qualification on spend or points over a rolling window, benefits)
and referrals (what each side gets, the cap per referrer).

:func:`awards` says what one event earns under a definition, given what the service knows about the
customer (their tier, whether the order is their first, what each rule already awarded today): the
caps are applied here, so the service only reads facts and writes the ledger.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic
from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, model_validator

from touchline.errors import ValidationFailed
from touchline.validation import MAX_DAYS, problems
from touchline.values import MAX_NUMBER

__all__ = [
    "MAX_POINTS",
    "Award",
    "BirthdayRule",
    "EventRule",
    "Facts",
    "FirstOrderRule",
    "Level",
    "OrderRule",
    "ProgramDefinition",
    "ProgramDefinitionError",
    "amount_minor",
    "awards",
    "default_definition",
    "minor_exponent",
    "order_amount",
    "parse",
    "refund_events",
    "rule_events",
]

MAX_POINTS = 10**12  # one movement; far beyond any shop, inside BIGINT and JavaScript's exact integers
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Points = Annotated[int, Interval(ge=1, le=MAX_POINTS)]
Cap = Annotated[int, Interval(ge=1, le=MAX_POINTS)]
DayCount = Annotated[int, Interval(ge=0, le=MAX_DAYS)]
Multiplier = Annotated[float, Interval(gt=0, le=100)]
EventName = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(pattern=SLUG)]
# ISO 4217 minor units of the currencies a shop here meets; any other has two.
_EXPONENTS = {"KRW": 0, "JPY": 0, "VND": 0, "CLP": 0, "ISK": 0, "TWD": 2, "KWD": 3, "BHD": 3}


class ProgramDefinitionError(ValidationFailed):
    """A definition that cannot be used; ``detail`` lists ``{"field": "/json/pointer", "reason": ...}``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointsPolicy(_Model):
    """``pending_days``: new points wait this long before they can be spent (the return window);
    ``expiry_days``: what is left of an earning expires this long after it was earned (None: never);
    ``expiring_notice_days``: a ``Points Expiring`` event this long before; ``daily_cap``: at most this
    many points a customer earns by rules in a day (their time zone's day)."""

    pending_days: DayCount = 0
    expiry_days: Annotated[int, Interval(ge=1, le=MAX_DAYS)] | None = 365
    expiring_notice_days: Annotated[int, Interval(ge=1, le=MAX_DAYS)] = 30
    daily_cap: Cap | None = None


class OrderRule(_Model):
    """``points`` for every ``per_amount`` of the order (in the program's currency, major units: 1000 =
    ₩1,000), times the line's category multiplier and the customer's tier multiplier."""

    type: Literal["order"]
    id: Slug
    event: EventName = "Order Completed"
    per_amount: Annotated[float, Interval(gt=0, le=MAX_NUMBER)]
    points: Points
    min_amount: Annotated[float, Interval(ge=0, le=MAX_NUMBER)] = 0
    categories: dict[Annotated[str, Field(min_length=1, max_length=100)], Multiplier] = Field(default_factory=dict)
    tier_multiplier: bool = True
    daily_cap: Cap | None = None


class FirstOrderRule(_Model):
    """A bonus on the customer's first order in the program."""

    type: Literal["first_order"]
    id: Slug
    event: EventName = "Order Completed"
    points: Points
    daily_cap: Cap | None = None


class EventRule(_Model):
    """``points`` for an event (``Product Reviewed``, say) whose properties equal every ``where`` value;
    ``once_per``: a property whose value earns once per customer (``product_id``: one review per product)."""

    type: Literal["event"]
    id: Slug
    event: EventName
    points: Points
    where: dict[Annotated[str, Field(min_length=1, max_length=100)], str | int | float | bool] = Field(
        default_factory=dict)
    once_per: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    daily_cap: Cap | None = None


class BirthdayRule(_Model):
    """A bonus on the customer's birthday (the ``trait``, ``YYYY-MM-DD`` or ``MM-DD``), once a year, given by
    the daily sweep in the customer's time zone."""

    type: Literal["birthday"]
    id: Slug
    points: Points
    trait: Annotated[str, Field(min_length=1, max_length=100)] = "birthday"
    daily_cap: Cap | None = None


Rule = Annotated[OrderRule | FirstOrderRule | EventRule | BirthdayRule, Field(discriminator="type")]


class Level(_Model):
    """A tier: reached at ``threshold`` (spend in major units, or points, over the window). Benefits: a
    points ``multiplier`` on order rules, ``free_shipping``, and ``coupons`` (reward keys handed out on
    reaching it)."""

    key: Slug
    name_ko: Annotated[str, Field(min_length=1, max_length=40)]
    name_en: Annotated[str, Field(min_length=1, max_length=40)]
    threshold: Annotated[float, Interval(ge=0, le=MAX_NUMBER)]
    multiplier: Multiplier = 1.0
    free_shipping: bool = False
    coupons: list[Slug] = Field(default_factory=list, max_length=10)


class Tiers(_Model):
    """Qualification on ``measure`` (``spend``: order amounts less refunds; ``points``: points earned) over
    the last ``window_days``. An upgrade is at once; a downgrade waits for the review every
    ``review_every_days`` and goes ``one_step`` down at a time or straight to the level qualified for
    (``by_balance``)."""

    measure: Literal["spend", "points"] = "spend"
    window_days: Annotated[int, Interval(ge=1, le=MAX_DAYS)] = 365
    downgrade: Literal["one_step", "by_balance"] = "one_step"
    review_every_days: Annotated[int, Interval(ge=1, le=MAX_DAYS)] = 90
    levels: list[Level] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.levels[0].threshold != 0:
            raise ValueError("the first level's threshold must be 0 (every customer is in a tier)")
        for before, after in zip(self.levels, self.levels[1:], strict=False):
            if after.threshold <= before.threshold:
                raise ValueError(f"level {after.key!r}: thresholds must go up ({after.threshold:g} after "
                                 f"{before.threshold:g})")
        keys = [level.key for level in self.levels]
        if len(set(keys)) != len(keys):
            raise ValueError("level keys must differ")
        return self


class Referrals(_Model):
    """What a referral pays once the referred customer's first order is past the return window
    (``return_window_days``, by default the points' ``pending_days``): ``referrer_points`` to the referrer,
    ``referred_points`` to the new customer; at most ``max_per_referrer`` rewarded referrals each."""

    referrer_points: Annotated[int, Interval(ge=0, le=MAX_POINTS)] = 0
    referred_points: Annotated[int, Interval(ge=0, le=MAX_POINTS)] = 0
    max_per_referrer: Annotated[int, Interval(ge=1, le=10_000)] = 10
    return_window_days: DayCount | None = None
    min_order_amount: Annotated[float, Interval(ge=0, le=MAX_NUMBER)] = 0


class ProgramDefinition(_Model):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "KRW"
    points: PointsPolicy = Field(default_factory=PointsPolicy)
    earn: list[Rule] = Field(default_factory=list, max_length=50)
    refund_events: list[EventName] = Field(default_factory=lambda: ["Order Refunded", "Order Cancelled"],
                                           max_length=10)
    tiers: Tiers | None = None
    referrals: Referrals | None = None

    @model_validator(mode="after")
    def _unique_rules(self) -> ProgramDefinition:
        ids = [rule.id for rule in self.earn]
        for i, rule_id in enumerate(ids):
            if rule_id in ids[:i]:
                raise ValueError(f"rule id {rule_id!r} is used twice")
        for rule in self.earn:
            if rule.type != "event":
                continue
            if rule.event in self.refund_events:
                raise ValueError(f"rule {rule.id!r} earns on {rule.event!r}, which refunds orders")
        return self

    def level(self, key: str | None) -> Level | None:
        if self.tiers is None or key is None:
            return None
        return next((level for level in self.tiers.levels if level.key == key), None)

    def level_index(self, key: str | None) -> int:
        if self.tiers is None:
            return -1
        for i, level in enumerate(self.tiers.levels):
            if level.key == key:
                return i
        return 0

    def return_window(self) -> dt.timedelta:
        days = self.referrals.return_window_days if self.referrals else None
        return dt.timedelta(days=self.points.pending_days if days is None else days)


def parse(document: Any) -> ProgramDefinition:
    """A definition from its JSON document, or :class:`ProgramDefinitionError` naming every problem by
    its place in the document (``/earn/0/per_amount``)."""
    if not isinstance(document, Mapping):
        raise ProgramDefinitionError("a program definition is a JSON object",
                                     [{"field": "/", "reason": "expected an object"}])
    try:
        return ProgramDefinition.model_validate(document)
    except pydantic.ValidationError as exc:
        found = problems(exc, document)
        first = found[0] if found else {"field": "/", "reason": "invalid"}
        raise ProgramDefinitionError(f"invalid program definition: {first['field'] or '/'}: {first['reason']}",
                                     found) from exc


def default_definition() -> dict[str, Any]:
    """What a new program starts with when none is given: 1% back on orders (pending 14 days, a year to
    spend them), a first-order bonus, points for a review, a birthday bonus; 일반 / 실버 / 골드 / VIP tiers on
    a year's spend; referrals."""
    return {
        "currency": "KRW",
        "points": {"pending_days": 14, "expiry_days": 365, "expiring_notice_days": 30, "daily_cap": 50_000},
        "earn": [
            {"type": "order", "id": "purchase", "per_amount": 100, "points": 1, "categories": {}},
            {"type": "first_order", "id": "first-order", "points": 2_000},
            {"type": "event", "id": "review", "event": "Product Reviewed", "points": 500, "once_per": "product_id",
             "daily_cap": 1_500},
            {"type": "birthday", "id": "birthday", "points": 3_000},
        ],
        "tiers": {"measure": "spend", "window_days": 365, "downgrade": "one_step", "review_every_days": 90,
                  "levels": [
                      {"key": "basic", "name_ko": "일반", "name_en": "Basic", "threshold": 0},
                      {"key": "silver", "name_ko": "실버", "name_en": "Silver", "threshold": 300_000,
                       "multiplier": 1.2},
                      {"key": "gold", "name_ko": "골드", "name_en": "Gold", "threshold": 1_000_000, "multiplier": 1.5,
                       "free_shipping": True},
                      {"key": "vip", "name_ko": "VIP", "name_en": "VIP", "threshold": 3_000_000, "multiplier": 2.0,
                       "free_shipping": True},
                  ]},
        "referrals": {"referrer_points": 5_000, "referred_points": 3_000, "max_per_referrer": 10},
    }


# --- amounts -----------------------------------------------------------------------------------------


def minor_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def amount_minor(amount: float, currency: str) -> int:
    """An amount in major units as integer minor units (₩59,000 -> 59000; $12.50 -> 1250)."""
    return round(amount * 10 ** minor_exponent(currency))


_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and abs(value) <= MAX_NUMBER else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return _number(float(value))
    return None


def order_amount(properties: Mapping[str, Any]) -> float | None:
    """An order's amount as Segment's e-commerce spec names it: ``total``, else ``revenue``, else ``value``."""
    for key in ("total", "revenue", "value"):
        found = _number(properties.get(key))
        if found is not None:
            return found
    return None


def _lines(properties: Mapping[str, Any]) -> list[tuple[str | None, float]]:
    """(category, amount) of each product line that has a price."""
    products = properties.get("products")
    if not isinstance(products, list):
        return []
    lines = []
    for product in products[:500]:
        if not isinstance(product, Mapping):
            continue
        price = _number(product.get("price"))
        quantity = _number(product.get("quantity"))
        if price is None or price < 0:
            continue
        category = product.get("category")
        lines.append((str(category) if category is not None else None, price * (quantity if quantity else 1)))
    return lines


# --- what an event earns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the service knows about the customer when an event arrives."""

    tier: str | None = None
    first_order: bool = False  # this order is the customer's first in the program
    seen_once: frozenset[tuple[str, str]] = frozenset()  # (rule id, once_per value) already earned
    earned_today: Mapping[str, int] = field(default_factory=dict)  # rule id -> points today, by rules
    total_today: int = 0


@dataclass(frozen=True)
class Award:
    rule: str
    points: int
    reason: str
    key: str  # unique for this event and rule: the movement's idempotency key ends with it
    once: str | None = None  # the once_per value this award uses up


def rule_events(definition: ProgramDefinition) -> set[str]:
    """Event names the rules earn on (birthdays come from the daily sweep, not an event)."""
    return {rule.event for rule in definition.earn if not isinstance(rule, BirthdayRule)}


def refund_events(definition: ProgramDefinition) -> set[str]:
    return set(definition.refund_events)


def _matches(where: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    return all(properties.get(key) == value for key, value in where.items())


def _order_points(rule: OrderRule, properties: Mapping[str, Any], multiplier: float) -> int:
    amount = order_amount(properties)
    if amount is None or amount <= 0 or amount < rule.min_amount:
        return 0
    weight = 1.0
    lines = _lines(properties)
    if rule.categories and lines:
        base = sum(line for _, line in lines)
        if base > 0:
            weight = sum(line * rule.categories.get(category or "", 1.0) for category, line in lines) / base
    # Rounded down, with a tolerance for the binary fractions of the multipliers (1.2 * 1000 = 1199.99...).
    return max(0, math.floor(amount / rule.per_amount * rule.points * weight * multiplier + 1e-9))


def awards(definition: ProgramDefinition, event: str, properties: Mapping[str, Any], facts: Facts) -> list[Award]:
    """What ``event`` earns, rule by rule, each rule's daily cap and the program's applied in the order of
    the rules. A rule that earns nothing is left out."""
    level = definition.level(facts.tier)
    tier_multiplier = level.multiplier if level else 1.0
    order_id = properties.get("order_id")
    found: list[Award] = []
    for rule in definition.earn:
        if isinstance(rule, BirthdayRule) or rule.event != event:
            continue
        once = None
        if isinstance(rule, OrderRule):
            points = _order_points(rule, properties, tier_multiplier if rule.tier_multiplier else 1.0)
            reason = f"order {order_id}" if order_id is not None else "order"
        elif isinstance(rule, FirstOrderRule):
            points = rule.points if facts.first_order else 0
            reason = "first order bonus"
        else:
            if not _matches(rule.where, properties):
                continue
            if rule.once_per is not None:
                value = properties.get(rule.once_per)
                if value is None or (rule.id, str(value)) in facts.seen_once:
                    continue
                once = str(value)
            points = rule.points
            reason = event
        found.append(Award(rule.id, points, reason, rule.id, once))
    return cap(definition, found, facts)


def cap(definition: ProgramDefinition, found: Sequence[Award], facts: Facts) -> list[Award]:
    """``found`` with each rule's daily cap and the program's applied, in order; awards cut to nothing
    are left out."""
    rules = {rule.id: rule for rule in definition.earn}
    total = facts.total_today
    today = dict(facts.earned_today)
    out = []
    for award in found:
        points = award.points
        rule_cap = rules[award.rule].daily_cap if award.rule in rules else None
        if rule_cap is not None:
            points = min(points, max(0, rule_cap - today.get(award.rule, 0)))
        if definition.points.daily_cap is not None:
            points = min(points, max(0, definition.points.daily_cap - total))
        if points <= 0:
            continue
        today[award.rule] = today.get(award.rule, 0) + points
        total += points
        out.append(Award(award.rule, points, award.reason, award.key, award.once))
    return out


def birthday_today(value: Any, today: dt.date) -> bool:
    """Whether a birthday trait (``YYYY-MM-DD`` or ``MM-DD``) falls on ``today`` (29 February on the 28th in
    other years)."""
    if not isinstance(value, str):
        return False
    text = value.strip()[-5:]
    if not re.fullmatch(r"[0-9]{2}-[0-9]{2}", text):
        return False
    month, day = int(text[:2]), int(text[3:])
    if (month, day) == (2, 29) and not _leap(today.year):
        return (today.month, today.day) == (2, 28)
    return (today.month, today.day) == (month, day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
