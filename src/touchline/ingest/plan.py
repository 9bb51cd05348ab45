"""The tracking plan: which event properties have which type, and how a value is read as its type.

Pure (no I/O). The e-commerce events of Segment's spec (``Order Completed``, ``Product Added``, ...) come
typed: ``revenue``, ``price``, ``total`` ... are amounts of money, ``quantity`` a whole number,
``currency`` an ISO 4217 code, ``order_id`` / ``product_id`` ... identifiers, ``products`` an array of
products typed the same way. A workspace declares more (:func:`parse_declaration`), for its own
events or more properties of these.

A value that reads unambiguously as its type is normalised, and the value as sent is kept (the
ingestion path stores it beside the event): ``""`` -> null (no value; text properties keep it),
``"12,000"`` -> 12000, ``"59,000원"`` -> 59000 with
``currency: "KRW"``, ``"krw"`` -> ``"KRW"``, ``" o-1 "`` -> ``"o-1"``, ``"３"`` -> 3 (full-width digits,
as Korean input methods type them). A value that does not is a :class:`Problem` (the field, a reason,
the value): per workspace, the message is stored as sent with a data-quality flag (the default), or
rejected.

What reads as a number: a JSON number, or text holding one, with thousands separators only in groups
of three (``1,234,567.5``; ``1,5`` is ambiguous, a decimal comma or a typo), an optional sign and, for
money, one currency marker before or after it (``₩``, ``원``, ``KRW``, ``US$``, ``€`` ...; ``$`` and
``¥`` name several currencies and need the event's ``currency``, or the shop's own). Every number's
magnitude stays within 2^53 - 1 (JavaScript's largest exact integer, which Segment's browser and
Node clients cannot exceed); larger amounts are no shop's.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from touchline.errors import ValidationFailed
from touchline.values import MAX_NUMBER

__all__ = [
    "ECOMMERCE_EVENTS",
    "ECOMMERCE_PROPERTIES",
    "MAX_NUMBER",
    "PRODUCT_PROPERTIES",
    "TYPES",
    "Checked",
    "InvalidValues",
    "Problem",
    "TrackingPlan",
    "parse_declaration",
    "read_value",
]

TYPES: tuple[str, ...] = ("string", "id", "number", "money", "integer", "boolean", "currency", "object", "array",
                          "products")
InvalidValues = Literal["reject", "flag"]
INVALID_VALUES: tuple[str, ...] = ("reject", "flag")

# Segment's e-commerce spec (v2): the events, and the properties they share, each with one type.
ECOMMERCE_EVENTS: tuple[str, ...] = (
    "Products Searched", "Product List Viewed", "Product List Filtered", "Promotion Viewed", "Promotion Clicked",
    "Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
    "Checkout Step Viewed", "Checkout Step Completed", "Payment Info Entered", "Order Updated", "Order Completed",
    "Order Refunded", "Order Cancelled", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
    "Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart",
    "Product Shared", "Cart Shared", "Product Reviewed",
)
PRODUCT_PROPERTIES: dict[str, str] = {
    "product_id": "id", "sku": "id", "category": "string", "name": "string", "brand": "string",
    "variant": "string", "price": "money", "quantity": "integer", "coupon": "string", "position": "integer",
    "url": "string", "image_url": "string",
}
ECOMMERCE_PROPERTIES: dict[str, str] = {
    **PRODUCT_PROPERTIES,
    "order_id": "id", "checkout_id": "id", "cart_id": "id", "list_id": "id", "promotion_id": "id",
    "coupon_id": "id", "review_id": "id", "wishlist_id": "id",
    "revenue": "money", "total": "money", "subtotal": "money", "value": "money", "shipping": "money",
    "tax": "money", "discount": "money",
    "currency": "currency", "step": "integer", "rating": "number", "products": "products",
    "affiliation": "string", "query": "string", "shipping_method": "string", "payment_method": "string",
    "coupon_name": "string", "creative": "string", "wishlist_name": "string", "review_body": "string",
}

# Currency markers written beside amounts (after NFKC: full-width ￦ is ₩), with the currencies each
# may mean.
_MARKERS: dict[str, tuple[str, ...]] = {
    "₩": ("KRW",), "원": ("KRW",), "US$": ("USD",), "€": ("EUR",), "£": ("GBP",), "円": ("JPY",), "元": ("CNY",),
    "HK$": ("HKD",), "NT$": ("TWD",), "S$": ("SGD",), "A$": ("AUD",), "C$": ("CAD",), "₫": ("VND",),
    "฿": ("THB",), "₹": ("INR",), "₱": ("PHP",),
    "$": ("USD", "AUD", "CAD", "HKD", "MXN", "NZD", "SGD", "TWD"), "¥": ("JPY", "CNY"),
}

_PLAIN = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_WHOLE = re.compile(r"[-+]?[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
# An amount written with a marker: marker, (sign,) digits with separators, marker.
_AMOUNT = re.compile(r"(?P<pre>[^0-9\s.,+\-]*)\s*(?P<sign>[-+]?)\s*(?P<num>[0-9][0-9,]*(?:\.[0-9]+)?)\s*"
                     r"(?P<post>[^0-9\s.,+\-]*)")
_CODE = re.compile(r"[A-Za-z]{3}")
MAX_ID_LENGTH = 1024


_CURRENCIES: frozenset[str] = frozenset()


def currencies() -> frozenset[str]:
    """ISO 4217 codes (CLDR's list, through Babel; read once)."""
    global _CURRENCIES
    if not _CURRENCIES:
        from babel.numbers import list_currencies

        _CURRENCIES = frozenset(list_currencies())
    return _CURRENCIES


class Invalid(ValueError):
    """A value that cannot be read as its type; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Problem:
    field: str  # "properties.revenue", "properties.products[2].price", "traits.email", "timestamp"
    reason: str  # generic ("not a number"): violations are counted by it
    value: Any = None  # as sent

    def detail(self) -> dict[str, str]:
        """``{field, reason}`` for an API answer, the value quoted in the reason."""
        return {"field": self.field, "reason": f"{self.reason}: {show(self.value)}" if self.value is not None
                else self.reason}


def show(value: Any, limit: int = 80) -> str:
    """A value as JSON text (as it was sent), cut to ``limit`` characters."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # not JSON: a Python caller's own object
        text = repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        text = repr(value)  # orjson writes null
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Checked:
    """What the plan made of an event's properties: the properties to store (a new dict when any value
    was normalised), the values as sent of those normalised (by field), and the problems."""

    properties: dict[str, Any]
    originals: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


# --- reading values ----------------------------------------------------------------------------------


def _bounded(n: int | float) -> int | float:
    if isinstance(n, float) and not math.isfinite(n):
        raise Invalid("not a finite number")
    if not -MAX_NUMBER <= n <= MAX_NUMBER:
        raise Invalid("out of range (beyond ±2^53)")
    if isinstance(n, float) and n.is_integer():
        return int(n)
    return n


def _text_number(raw: str, *, money: bool) -> tuple[int | float, tuple[str, ...]]:
    """A number written as text, and the currencies its marker may mean (none without one)."""
    text = unicodedata.normalize("NFKC", raw).strip().replace("\u2212", "-")
    if not text:
        raise Invalid("empty")
    if _PLAIN.fullmatch(text):
        return _bounded(int(text) if _WHOLE.fullmatch(text) else float(text)), ()
    sign = ""
    if text[0] in "+-":
        sign, text = text[0], text[1:].lstrip()
    found = _AMOUNT.fullmatch(text)
    if found is None:
        raise Invalid("not a number")
    pre, inner_sign, num, post = found.group("pre", "sign", "num", "post")
    if inner_sign:
        if sign:
            raise Invalid("not a number")
        sign = inner_sign
    if "," in num:
        if not _GROUPED.fullmatch(num):
            raise Invalid("ambiguous digit grouping (thousands are grouped by three: 12,000)")
        num = num.replace(",", "")
    options: tuple[str, ...] = ()
    for marker in (pre, post):
        if not marker:
            continue
        if not money:
            raise Invalid("not a number")
        meant = _marker_currencies(marker)
        if not meant:
            raise Invalid("not a number")
        options = meant if not options else tuple(c for c in options if c in meant)
        if not options:
            raise Invalid("two different currencies")
    number = int(num) if "." not in num else float(num)
    return _bounded(-number if sign == "-" else number), options


def _marker_currencies(marker: str) -> tuple[str, ...]:
    meant = _MARKERS.get(marker)
    if meant is not None:
        return meant
    if _CODE.fullmatch(marker) and marker.upper() in currencies():
        return (marker.upper(),)
    return ()


def read_number(value: Any, *, money: bool = False) -> tuple[int | float, tuple[str, ...]]:
    if isinstance(value, bool):
        raise Invalid("not a number")
    if isinstance(value, int | float):
        return _bounded(value), ()
    if isinstance(value, str):
        return _text_number(value, money=money)
    raise Invalid("not a number")


def read_integer(value: Any) -> int:
    number, _ = read_number(value)
    if not isinstance(number, int):
        raise Invalid("not a whole number")
    return number


def read_currency(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("not a currency code")
    text = unicodedata.normalize("NFKC", value).strip()
    if _CODE.fullmatch(text) and text.upper() in currencies():
        return text.upper()
    meant = _MARKERS.get(text, ())
    if len(meant) == 1:
        return meant[0]
    if meant:
        raise Invalid("ambiguous currency symbol (send an ISO 4217 code)")
    raise Invalid("not an ISO 4217 currency code")


def read_id(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise Invalid("empty")
        if len(text) > MAX_ID_LENGTH:
            raise Invalid(f"longer than {MAX_ID_LENGTH} characters")
        return text
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = _bounded(value)
        return str(number)
    raise Invalid("not an identifier (text or a whole number)")


def read_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(_bounded(value))
    raise Invalid("not text")


def read_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    raise Invalid("not true or false")


def _read_kind(kind: type, reason: str) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if not isinstance(value, kind):
            raise Invalid(reason)
        return value

    return read


_READERS: dict[str, Callable[[Any], Any]] = {
    "string": read_string, "id": read_id, "number": lambda v: read_number(v)[0], "integer": read_integer,
    "boolean": read_boolean, "currency": read_currency, "object": _read_kind(dict, "not an object"),
    "array": _read_kind(list, "not an array"),
}


def read_value(kind: str, value: Any) -> Any:
    """``value`` read as ``kind`` (any type but ``money`` and ``products``); raises :class:`Invalid`."""
    if kind == "money":
        return read_number(value, money=True)[0]
    return _READERS[kind](value)


# Already in canonical form: nothing to do (the common case, checked first and cheaply).
def _canonical_number(v: Any) -> bool:
    t = type(v)
    return (t is int or t is float) and -MAX_NUMBER <= v <= MAX_NUMBER  # NaN and infinities fail


def _canonical_integer(v: Any) -> bool:
    return type(v) is int and -MAX_NUMBER <= v <= MAX_NUMBER


def _canonical_id(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= MAX_ID_LENGTH and not v[0].isspace() and not v[-1].isspace()


def _canonical_products(v: Any) -> bool:
    if type(v) is not list:
        return False
    for item in v:  # noqa: SIM110 - a loop: all() over a generator costs more here
        if type(item) is not dict or not _all_canonical(PRODUCT_PROPERTIES, item):
            return False
    return True


def _canonical_currency(v: Any) -> bool:
    return type(v) is str and v in (_CURRENCIES or currencies())


_CANONICAL: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str, "id": _canonical_id, "number": _canonical_number,
    "money": _canonical_number, "integer": _canonical_integer, "boolean": lambda v: type(v) is bool,
    "currency": _canonical_currency, "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list, "products": _canonical_products,
}


_WHOLE_KINDS = frozenset({"money", "number", "integer"})
_NUMBER_KINDS = frozenset({"money", "number"})


def _all_canonical(rules: Mapping[str, str], props: Mapping[str, Any]) -> bool:
    """``_CANONICAL[kind](value)`` for every typed value, with the common cases (text, identifiers, numbers
    in range) decided inline: this runs for every planned event, and a call per value costs more than
    the test."""
    for key, value in props.items():
        kind = rules.get(key)
        if kind is None:
            continue
        t = type(value)
        if t is str:
            if kind == "string":
                continue
            if kind == "id":  # strip() gives the very same object back when there is nothing to strip
                if value and value.strip() is value and len(value) <= MAX_ID_LENGTH:
                    continue
                return False
        elif t is int:
            if kind in _WHOLE_KINDS:
                if -MAX_NUMBER <= value <= MAX_NUMBER:
                    continue
                return False
        elif t is float:
            if kind in _NUMBER_KINDS:
                if -MAX_NUMBER <= value <= MAX_NUMBER:  # NaN and infinities fail
                    continue
                return False
        elif value is None:
            continue
        if not _CANONICAL[kind](value):
            return False
    return True


# --- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingPlan:
    """The typed properties of each planned event (built-in e-commerce events and a workspace's own
    declarations over them), what to do with a value that cannot be read (``invalid``), and the shop's
    currency (what an ambiguous ``$`` means when the event names none). ``sink``, when set, is told
    every problem found at the edge (the ingestion path counts them per workspace)."""

    events: Mapping[str, Mapping[str, str]]
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    invalid: InvalidValues = "flag"
    default_currency: str = "KRW"
    declared: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sink: Callable[[Sequence[tuple[str, Problem, str, str]]], None] | None = field(default=None, compare=False)

    @classmethod
    def builtin(cls, *, default_currency: str = "KRW", invalid: InvalidValues = "flag") -> TrackingPlan:
        return cls.of({}, default_currency=default_currency, invalid=invalid)

    @classmethod
    def of(cls, declared: Mapping[str, Mapping[str, Any]], *, default_currency: str = "KRW",
           invalid: InvalidValues = "flag",
           sink: Callable[[Sequence[tuple[str, Problem, str, str]]], None] | None = None) -> TrackingPlan:
        """The built-in plan with a workspace's declarations (``{event: {property: {"type", "required"}}}``,
        as :func:`parse_declaration` returns them) laid over it: a declared property's type wins."""
        events: dict[str, Mapping[str, str]] = dict.fromkeys(ECOMMERCE_EVENTS, ECOMMERCE_PROPERTIES)
        required: dict[str, tuple[str, ...]] = {}
        for event, properties in declared.items():
            events[event] = {**events.get(event, {}), **{p: rule["type"] for p, rule in properties.items()}}
            needed = tuple(p for p, rule in properties.items() if rule.get("required"))
            if needed:
                required[event] = needed
        return cls(events, required, invalid, default_currency, declared, sink)

    def check(self, event: str | None, properties: Mapping[str, Any] | None) -> Checked | None:
        """None when the event is not planned or its properties are already as the plan says (nothing
        to store differently); else what to store and what is wrong."""
        rules = self.events.get(event) if event is not None else None
        if rules is None:
            return None
        props = properties or {}
        required = self.required.get(event) if self.required else None  # type: ignore[arg-type]
        if _all_canonical(rules, props) and (not required or all(props.get(k) is not None for k in required)):
            return None
        return _Checker(rules, self.default_currency).run(dict(props), required or ())


class _Checker:
    """The slow path of :meth:`TrackingPlan.check`: some value needs reading."""

    def __init__(self, rules: Mapping[str, str], default_currency: str) -> None:
        self.rules = rules
        self.default_currency = default_currency
        self.out = Checked({})
        # (field, the currencies its marker may mean, value as sent, where it is): amounts with a marker
        self.marked: list[tuple[str, tuple[str, ...], Any, dict[str, Any], str]] = []

    def run(self, props: dict[str, Any], required: Sequence[str]) -> Checked:
        self.out.properties = props
        for key in list(props):
            kind = self.rules.get(key)
            if kind is not None:
                self.field(props, key, kind, f"properties.{key}")
        for key in required:
            if props.get(key) is None:
                self.out.problems.append(Problem(f"properties.{key}", "missing (required by the tracking plan)"))
        if self.marked:
            self.currencies(props)
        return self.out

    def field(self, holder: dict[str, Any], key: str, kind: str, path: str) -> None:
        value = holder[key]
        if value is None or _CANONICAL[kind](value):
            return
        if kind == "products":
            self.products(holder, key, path)
            return
        if type(value) is str and kind not in ("string", "object", "array") and not value.strip():
            holder[key] = None  # "" (an empty form field, a blank cell): no value
            self.out.originals[path] = value
            return
        try:
            if kind == "money":
                normalised, meant = read_number(value, money=True)
                if meant:
                    self.marked.append((path, meant, value, holder, key))
            else:
                normalised = _READERS[kind](value)
        except Invalid as exc:
            self.out.problems.append(Problem(path, exc.reason, value))
            return
        holder[key] = normalised
        self.out.originals[path] = value

    def products(self, holder: dict[str, Any], key: str, path: str) -> None:
        value = holder[key]
        if not isinstance(value, list):
            self.out.problems.append(Problem(path, "not an array of products", value))
            return
        items = list(value)
        for i, item in enumerate(items):
            where = f"{path}[{i}]"
            if not isinstance(item, dict):
                self.out.problems.append(Problem(where, "not an object", item))
                continue
            copy = dict(item)
            for name in list(copy):
                kind = PRODUCT_PROPERTIES.get(name)
                if kind is not None and kind != "products":
                    self.field(copy, name, kind, f"{where}.{name}")
            items[i] = copy
        holder[key] = items

    def currencies(self, props: dict[str, Any]) -> None:
        """Amounts written with a currency marker must agree with the event's currency; without one,
        the marker names it (an ambiguous ``$`` means the shop's currency when it is one of those)."""
        named = props.get("currency")
        currency = named if isinstance(named, str) and named in currencies() else None
        for path, meant, value, holder, key in self.marked:
            if currency is None:
                if len(meant) == 1:
                    currency = meant[0]
                elif self.default_currency in meant:
                    currency = self.default_currency
                else:
                    self.reject(path, "ambiguous currency symbol (send the currency property)", value, holder, key)
                    continue
                if named is None:
                    props["currency"] = currency
            elif currency not in meant:
                self.reject(path, "written in another currency than the event's", value, holder, key)

    def reject(self, path: str, reason: str, value: Any, holder: dict[str, Any], key: str) -> None:
        """A value read as a number whose currency turned out wrong: it stays as sent, with a problem."""
        self.out.problems.append(Problem(path, reason, value))
        self.out.originals.pop(path, None)
        holder[key] = value


# --- declarations ------------------------------------------------------------------------------------

MAX_DECLARED_PROPERTIES = 200


def parse_declaration(event: Any, properties: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    """A workspace's declaration of one event's property types: ``properties`` maps each property name
    to a type name, or to ``{"type": ..., "required": bool}``. Returns the event name (NFC, trimmed)
    and ``{property: {"type", "required"}}``; raises ValidationFailed listing every problem."""
    problems: list[dict[str, str]] = []
    name = unicodedata.normalize("NFC", event).strip() if isinstance(event, str) else ""
    if not name or len(name) > 512:
        problems.append({"field": "event", "reason": "an event name of 1 to 512 characters"})
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(properties, dict) or not properties:
        problems.append({"field": "properties", "reason": "an object of property names and their types"})
        properties = {}
    elif len(properties) > MAX_DECLARED_PROPERTIES:
        problems.append({"field": "properties", "reason": f"at most {MAX_DECLARED_PROPERTIES} properties"})
    for raw_key, spec in properties.items():
        key = unicodedata.normalize("NFC", raw_key).strip() if isinstance(raw_key, str) else ""
        where = f"properties.{raw_key}"
        if not key or len(key) > 256 or "." in key:
            problems.append({"field": where, "reason": "a property name of 1 to 256 characters, without '.'"})
            continue
        kind, required = (spec, False) if isinstance(spec, str) else (
            (spec.get("type"), spec.get("required", False)) if isinstance(spec, dict) else (None, False))
        if isinstance(spec, dict) and set(spec) - {"type", "required"}:
            problems.append({"field": where, "reason": "only 'type' and 'required' may be given"})
        if kind not in TYPES:
            problems.append({"field": where, "reason": f"type must be one of {', '.join(TYPES)}"})
            continue
        if not isinstance(required, bool):
            problems.append({"field": f"{where}.required", "reason": "true or false"})
            continue
        out[key] = {"type": kind, "required": required}
    if problems:
        raise ValidationFailed("invalid event type declaration", problems)
    return name, out
