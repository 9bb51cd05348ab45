"""A product's fields: how an import item or an event's product is read, and how a reading is merged into
the stored product, with where each field's value came from. Pure (no I/O).

Two readers share the rules. An **import** item (the API, a CSV or JSON-lines file, the demo) is read
strictly: an unknown key or a value that breaks a rule is a :class:`Problem` and the caller refuses the
item. An **event**'s product (``Product Viewed``, the ``products`` of ``Order Completed``...) is read
leniently: a field that cannot be read (``"₩5,000원원"``, a negative stock, a 10 kB name, null) is left
out and the rest kept; an event never raises. Amounts, whole numbers and currency codes are read by the
tracking plan's own readers (:mod:`touchline.ingest.plan`), so "59,000원" means the same here as in
reports.

Precedence (:func:`merge`): an import's value replaces whatever was there; an event's value never
replaces one that came from an import, fills what the import left out, and replaces an earlier event's
value unless it is older than the newest event that changed the product (events may arrive late).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

import orjson
from babel.numbers import get_currency_precision

from touchline.ingest.plan import Invalid, currencies, read_currency, read_id, read_integer, read_number
from touchline.values import MAX_NUMBER

__all__ = [
    "COLUMNS", "FIELDS", "ITEM_KEYS", "MAX_ID", "MAX_NAME", "Problem", "Reading", "Source", "merge", "read_event",
    "read_item", "slug",
]

Source = Literal["import", "events"]

MAX_ID: Final = 128
MAX_NAME: Final = 300
MAX_CATEGORY: Final = 100
MAX_URL: Final = 2048
MAX_PRICE_TEXT: Final = 40
MAX_STOCK: Final = 2**31 - 1
MAX_ATTRIBUTES: Final = 50
MAX_ATTRIBUTE_KEY: Final = 64
MAX_ATTRIBUTE_TEXT: Final = 1000
MAX_ATTRIBUTE_ITEMS: Final = 100
MAX_ATTRIBUTE_ITEM_TEXT: Final = 100
MAX_ATTRIBUTES_BYTES: Final = 16_384

# The patterns the OpenAPI document states (unanchored here; the document anchors them). No control
# characters anywhere (PostgreSQL text holds no NUL), and an id has no space at either end.
ID_PATTERN: Final = r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?"
TEXT_PATTERN: Final = r"[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*"
SLUG_PATTERN: Final = r"[a-z0-9][a-z0-9_-]*"
URL_PATTERN: Final = r"https?://[^\x00-\x20\x7f]+"
CURRENCY_PATTERN: Final = r"[A-Za-z]{3}"
KEY_PATTERN: Final = r"[^\x00-\x1f\x7f]+"
FREE_TEXT_PATTERN: Final = r"[^\x00]*"
_ID, _TEXT, _SLUG, _URL, _CODE, _KEY = (re.compile(p) for p in (ID_PATTERN, TEXT_PATTERN, SLUG_PATTERN, URL_PATTERN,
                                                               CURRENCY_PATTERN, KEY_PATTERN))

# A field and the columns it sets (a price comes with its currency, a category with its slug).
FIELD_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "name": ("name",), "name_en": ("name_en",), "category": ("category", "category_name"),
    "category_en": ("category_name_en",), "price": ("price", "currency"), "stock": ("stock",), "url": ("url",),
    "image_url": ("image_url",), "attributes": ("attributes",),
}
FIELDS: Final = tuple(FIELD_COLUMNS)
COLUMNS: Final = tuple(c for cols in FIELD_COLUMNS.values() for c in cols)
# What an import item may carry.
ITEM_KEYS: Final = ("id", "name", "name_en", "category", "category_slug", "category_en", "price", "currency", "stock",
                    "url", "image_url", "attributes", "active")
# What an event's product may carry (Segment's e-commerce spec, and the shop's own name_en/category_en/stock).
EVENT_KEYS: Final = ("name", "name_en", "category", "category_en", "price", "currency", "stock", "url", "image_url")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # an item's key ("price"), "attributes.sizes", or "(item)"
    reason: str


@dataclass(slots=True)
class Reading:
    """What was read of one product: its id, the fields read (each as its columns), whether it is active
    (imports only), and what could not be read."""

    id: str | None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    active: bool | None = None
    problems: list[Problem] = field(default_factory=list)


class _Bad(ValueError):
    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where  # below the field ("sizes" of attributes)


# --- values ------------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A category's slug from its name: NFKC, case-folded, every run of anything but letters and digits a
    single '-' (``"Outer / Coats"`` -> ``outer-coats``, ``"니트 웨어"`` -> ``니트-웨어``); '' when nothing is left."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out = re.sub(r"[^\w]+|_+", "-", folded).strip("-")
    return out[:MAX_CATEGORY].strip("-")


def _text(value: Any, limit: int, *, lenient: bool) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and lenient:
        value = str(value)  # an event's numeric name ("2024") is a name
    if not isinstance(value, str):
        raise _Bad("not text")
    if len(value) > limit:
        raise _Bad(f"longer than {limit} characters")
    if not _TEXT.fullmatch(value):
        raise _Bad("empty, or holds a control character")
    text = value.strip()
    if not text:
        raise _Bad("empty")
    return text


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("not text")
    text = value.strip()
    if len(text) > MAX_URL:
        raise _Bad(f"longer than {MAX_URL} characters")
    if not _URL.fullmatch(text):
        raise _Bad("not an http or https URL")
    return text


def _currency(value: Any, *, lenient: bool) -> str:
    if lenient:  # an event may write the symbol (₩) where the code belongs
        try:
            return read_currency(value)
        except Invalid as exc:
            raise _Bad(exc.reason) from None
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise _Bad("not an ISO 4217 currency code (KRW, USD, ...)")
    code = value.upper()
    if code not in currencies():
        raise _Bad("not an ISO 4217 currency code (KRW, USD, ...)")
    return code


def _digits(currency: str) -> int:
    return int(get_currency_precision(currency))


def _decimals(number: int | float) -> int:
    if isinstance(number, int):
        return 0
    exact = Decimal(repr(number))
    if exact == exact.to_integral_value():
        return 0
    return max(0, -int(exact.normalize().as_tuple().exponent))


def _price(value: Any, currency: str | None, shop_currency: str | None) -> tuple[float | int, str | None]:
    """The amount in major units and its currency (None: the shop's). Text is read as the tracking plan
    reads amounts ("59,000원", "₩59,000", "12.50"); a marker that names one currency gives it."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad("not a number")
    if isinstance(value, str) and len(value) > MAX_PRICE_TEXT:
        raise _Bad(f"longer than {MAX_PRICE_TEXT} characters")
    try:
        number, meant = read_number(value, money=True)
    except Invalid as exc:
        raise _Bad(exc.reason) from None
    if meant:
        if currency is None:
            if len(meant) > 1:
                if shop_currency not in meant:
                    raise _Bad("the currency symbol names several currencies: give the currency")
                currency = shop_currency
            else:
                currency = meant[0]
        elif currency not in meant:
            raise _Bad(f"the amount is written in another currency than {currency}")
    if number < 0:
        raise _Bad("must not be negative")
    known = currency or shop_currency
    digits = _digits(known) if known else 2
    if _decimals(number) > digits:
        if digits == 0:
            raise _Bad(f"{known} has no minor unit: a whole number")
        raise _Bad(f"at most {digits} decimals in {known}")
    return number, currency


def _stock(value: Any, *, lenient: bool) -> int:
    if isinstance(value, bool):
        raise _Bad("not a whole number")
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    if lenient and isinstance(value, str):
        try:
            value = read_integer(value)
        except Invalid as exc:
            raise _Bad(exc.reason) from None
    if not isinstance(value, int):
        raise _Bad("not a whole number")
    if value < 0:
        raise _Bad("must not be negative")
    if value > MAX_STOCK:
        raise _Bad(f"at most {MAX_STOCK:,}")
    return value


def _key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_ATTRIBUTE_KEY or not _KEY.fullmatch(key):
        raise _Bad(f"a name of 1 to {MAX_ATTRIBUTE_KEY} characters without control characters")
    return key


def _number(value: Any) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad("not a finite number")
    if not -MAX_NUMBER <= value <= MAX_NUMBER:
        raise _Bad("out of range (beyond ±2^53)")
    return value


def _scalar(value: Any, limit: int, *, null: bool = False) -> Any:
    if value is None and null:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        if len(value) > limit:
            raise _Bad(f"longer than {limit} characters")
        if "\x00" in value:
            raise _Bad("holds a NUL character")
        return value
    raise _Bad("not text, a number or true/false")


def _attributes(value: Any) -> dict[str, Any]:
    """Free attributes: text, numbers, true/false, a list of texts or numbers (sizes, colours), or an object
    of texts, numbers, true/false or null (stock by size: ``{"S": 3, "M": 0}``)."""
    if not isinstance(value, dict):
        raise _Bad("not an object")
    if len(value) > MAX_ATTRIBUTES:
        raise _Bad(f"at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _key(key)
        try:
            if isinstance(item, list):
                if len(item) > MAX_ATTRIBUTE_ITEMS:
                    raise _Bad(f"at most {MAX_ATTRIBUTE_ITEMS} items")
                if any(isinstance(x, bool) or not isinstance(x, int | float | str) for x in item):
                    raise _Bad("a list holds only texts and numbers")
                out[name] = [_scalar(x, MAX_ATTRIBUTE_ITEM_TEXT) for x in item]
            elif isinstance(item, dict):
                if len(item) > MAX_ATTRIBUTE_ITEMS:
                    raise _Bad(f"at most {MAX_ATTRIBUTE_ITEMS} entries")
                inner: dict[str, Any] = {}
                for k, v in item.items():
                    if isinstance(v, list | dict):
                        raise _Bad("an object holds only texts, numbers, true/false or null")
                    inner[_key(k)] = _scalar(v, MAX_ATTRIBUTE_ITEM_TEXT, null=True)
                out[name] = inner
            else:
                out[name] = _scalar(item, MAX_ATTRIBUTE_TEXT)
        except _Bad as exc:
            raise _Bad(exc.reason, name) from None
    if len(orjson.dumps(out)) > MAX_ATTRIBUTES_BYTES:
        raise _Bad(f"more than {MAX_ATTRIBUTES_BYTES // 1024} KB as JSON")
    return out


# --- readers -----------------------------------------------------------------------------------------------


def _read(reading: Reading, source: Mapping[str, Any], *, lenient: bool, shop_currency: str | None) -> None:
    """The fields of ``source`` into ``reading`` (problems recorded; a field with a problem left out)."""

    def attempt(name: str, read: Any) -> Any:
        try:
            return read()
        except _Bad as exc:
            where = f"{name}.{exc.where}" if exc.where else name
            reading.problems.append(Problem(where, exc.reason))
            return None

    def given(key: str) -> bool:
        # An event's null is no value (skipped); an import's null is a value of the wrong type.
        return key in source and not (lenient and source[key] is None)

    for key, limit in (("name", MAX_NAME), ("name_en", MAX_NAME)):
        if given(key):
            text = attempt(key, lambda key=key, limit=limit: _text(source[key], limit, lenient=lenient))
            if text is not None:
                reading.values[key] = {key: text}
    category = attempt("category", lambda: _text(source["category"], MAX_CATEGORY, lenient=lenient)) \
        if given("category") else None
    category_slug = None
    if given("category_slug"):
        raw = source["category_slug"]
        if isinstance(raw, str) and len(raw) <= MAX_CATEGORY and _SLUG.fullmatch(raw):
            category_slug = raw
        else:
            reading.problems.append(Problem("category_slug", f"1 to {MAX_CATEGORY} lower-case letters, digits, - or _, "
                                                             "starting with a letter or digit"))
    if category is not None and category_slug is None:
        category_slug = slug(category) or None
        if category_slug is None:
            reading.problems.append(Problem("category", "no letter or digit to make its slug from"))
    if category_slug is not None:
        reading.values["category"] = {"category": category_slug, "category_name": category}
    if given("category_en"):
        text = attempt("category_en", lambda: _text(source["category_en"], MAX_CATEGORY, lenient=lenient))
        if text is not None:
            reading.values["category_en"] = {"category_name_en": text}
    currency = attempt("currency", lambda: _currency(source["currency"], lenient=lenient)) \
        if given("currency") else None
    if given("price") and not (given("currency") and currency is None):
        read = attempt("price", lambda: _price(source["price"], currency, shop_currency))
        if read is not None:
            reading.values["price"] = {"price": read[0], "currency": read[1]}
    if given("stock"):
        stock = attempt("stock", lambda: _stock(source["stock"], lenient=lenient))
        if stock is not None:
            reading.values["stock"] = {"stock": stock}
    for key in ("url", "image_url"):
        if given(key):
            url = attempt(key, lambda key=key: _url(source[key]))
            if url is not None:
                reading.values[key] = {key: url}
    if not lenient and "attributes" in source:
        attributes = attempt("attributes", lambda: _attributes(source["attributes"]))
        if attributes is not None:
            reading.values["attributes"] = {"attributes": attributes}


def read_item(item: Any, *, shop_currency: str | None = None) -> Reading:
    """An import item, strictly: ``{"id": ..., "name": ..., ...}`` (:data:`ITEM_KEYS`). A reading with
    problems is refused whole by the caller. ``shop_currency``: what a price without a currency is in (its
    decimals are checked against it)."""
    if not isinstance(item, dict):
        return Reading(None, problems=[Problem("(item)", "not an object")])
    raw_id = item.get("id")
    product_id: str | None = None
    problems: list[Problem] = []
    if "id" not in item:
        problems.append(Problem("id", "missing"))
    elif not isinstance(raw_id, str) or len(raw_id) > MAX_ID or not _ID.fullmatch(raw_id):
        problems.append(Problem("id", f"1 to {MAX_ID} characters, no control characters, no space at either end"))
    else:
        product_id = raw_id
    reading = Reading(product_id, problems=problems)
    problems.extend(Problem(str(key)[:80], "unknown field") for key in item if key not in ITEM_KEYS)
    _read(reading, item, lenient=False, shop_currency=shop_currency)
    if "active" in item:
        if isinstance(item["active"], bool):
            reading.active = item["active"]
        else:
            problems.append(Problem("active", "must be true or false"))
    return reading


def read_event(product: Any, *, event_currency: Any = None) -> Reading | None:
    """A product an event names (its properties, or one of its ``products``), leniently: None when it names
    no usable id (``product_id``, else ``sku``); otherwise what could be read. ``event_currency``: the
    event's own ``currency`` when the product carries none (an order's lines share the order's)."""
    if not isinstance(product, Mapping):
        return None
    product_id = None
    for key in ("product_id", "sku"):
        value = product.get(key)
        if value is None:
            continue
        try:
            candidate = read_id(value)
        except Invalid:
            continue
        if len(candidate) <= MAX_ID and _ID.fullmatch(candidate):
            product_id = candidate
            break
    if product_id is None:
        return None
    source = {key: product[key] for key in EVENT_KEYS if key in product}
    if source.get("currency") is None and event_currency is not None and "price" in source:
        source["currency"] = event_currency
    reading = Reading(product_id)
    _read(reading, source, lenient=True, shop_currency=None)
    return reading


# --- merging -----------------------------------------------------------------------------------------------


def empty_row() -> dict[str, Any]:
    return {**dict.fromkeys(COLUMNS), "attributes": {}, "active": True, "sources": {}, "seen_at": None}


def _has(row: Mapping[str, Any], name: str) -> bool:
    return any(row.get(c) not in (None, {}) for c in FIELD_COLUMNS[name])


def merge(current: Mapping[str, Any] | None, readings: Iterable[tuple[Reading, dt.datetime]], *,
          source: Source) -> dict[str, Any] | None:
    """The product after ``readings`` (each with when it was said: an event's time, the import's now), or
    None when nothing changes. ``current``: the stored row (its columns, ``active``, ``sources``,
    ``seen_at``), None for a new product. The result holds the same keys."""
    readings = list(readings)
    if current is not None and source == "events" and _says_nothing_new(current, readings):
        return None  # the common case, checked first: events repeat what the product already holds
    row: dict[str, Any] = empty_row() if current is None else {k: current[k] for k in (*COLUMNS, "active",
                                                                                        "sources", "seen_at")}
    row["sources"] = dict(row["sources"] or {})
    for reading, at in readings:
        touched = False
        for name, columns in reading.values.items():
            if source == "events":
                if row["sources"].get(name) == "import":
                    continue  # the shop's import is what the product is
                if _has(row, name) and row["seen_at"] is not None and at < row["seen_at"]:
                    continue  # a late event: what a newer one said stands
                if all(row[c] == v for c, v in columns.items()) and row["sources"].get(name) is not None:
                    continue
            row.update(columns)
            row["sources"][name] = source
            touched = True
        if source == "import" and reading.active is not None:
            row["active"] = reading.active
        if source == "events" and touched and (row["seen_at"] is None or at > row["seen_at"]):
            row["seen_at"] = at
    if current is not None and all(_same(k, row[k], current[k]) for k in (*COLUMNS, "active", "sources")):
        return None
    return row


def _says_nothing_new(current: Mapping[str, Any], readings: Sequence[tuple[Reading, dt.datetime]]) -> bool:
    sources = current["sources"] or {}
    return all(name in sources and all(current[c] == v for c, v in columns.items())
               for reading, _ in readings for name, columns in reading.values.items())


def _same(column: str, a: Any, b: Any) -> bool:
    if column in ("attributes", "sources"):  # JSON: true is not 1 there
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    return bool(a == b)  # a price of 59000 is the stored 59000.0
