"""What the assistant knows: the shop's FAQ (in Korean and English) and its catalog.

Pure data. The seed FAQ of the demo shop ships in the package (``seed/faq.yaml``); a shop's own entries
come from the same YAML shape. Products are passed in: a workspace's come from its catalog
(:func:`catalog_product` reads one catalog row), the tests' from the demo's catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("ko", "en")


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str  # shared by an entry's Korean and English versions
    topic: str
    language: str  # "ko" | "en"
    questions: tuple[str, ...]  # example phrasings
    answer: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str  # the shop's own language (Korean)
    name_en: str
    category: str  # slug
    category_name: str
    category_name_en: str
    price: int | float | None  # in major units of ``currency`` (whole won); None: not known
    stock: int | None  # units over all options; None: not known
    product_type: str = ""  # the generic kind ("캐시미어 블렌드 니트"), matched by shoppers more than brands
    product_type_en: str = ""
    brand: str = ""
    brand_en: str = ""
    # Options a shopper may ask for (sizes), with their stock: (("S", 3), ("M", 0), ...), None where the shop
    # says the size exists but not how many; empty when none.
    options: tuple[tuple[str, int | None], ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    currency: str = "KRW"

    def display_name(self, language: str) -> str:
        if language == "ko":
            return self.name or self.name_en
        return self.name_en or self.name

    def price_text(self, language: str) -> str:
        """59,000원 / 59,000 KRW; 12.50 USD; '' when the price is not known."""
        if self.price is None:
            return ""
        whole = float(self.price).is_integer()
        number = f"{int(self.price):,}" if whole else f"{self.price:,.2f}"
        if self.currency == "KRW":
            return f"{number}원" if language == "ko" else f"{number} KRW"
        return f"{number} {self.currency}"

    def option_stock(self, option: str) -> tuple[bool, int | None]:
        """(whether the product comes in ``option``, its stock there when known)."""
        wanted = option.strip().upper()
        for label, stock in self.options:
            if label.strip().upper() == wanted:
                return True, stock
        return False, None


@dataclass(frozen=True, slots=True)
class Knowledge:
    faq: tuple[FaqEntry, ...]
    products: tuple[Product, ...] = ()

    def entry(self, entry_id: str, language: str) -> FaqEntry | None:
        fallback = None
        for e in self.faq:
            if e.id == entry_id:
                if e.language == language:
                    return e
                fallback = fallback or e
        return fallback

    @property
    def faq_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.id for e in self.faq))


class KnowledgeError(ValueError):
    pass


def parse_faq(items: Iterable[Mapping[str, Any]]) -> tuple[FaqEntry, ...]:
    """Entries from the YAML shape: ``{id, topic, ko: {q: [...], a: ...}, en: {q: [...], a: ...}}``."""
    out: list[FaqEntry] = []
    seen: set[str] = set()
    for item in items:
        entry_id, topic = str(item.get("id") or ""), str(item.get("topic") or "")
        if not entry_id or entry_id in seen:
            raise KnowledgeError(f"FAQ entry without an id, or a duplicate id: {entry_id!r}")
        seen.add(entry_id)
        for language in LANGUAGES:
            body = item.get(language)
            if not body:
                continue
            questions = tuple(str(q) for q in body.get("q") or ())
            answer = str(body.get("a") or "")
            if not answer:
                raise KnowledgeError(f"FAQ entry {entry_id!r} ({language}) has no answer")
            out.append(FaqEntry(entry_id, topic, language, questions, answer))
    return tuple(out)


def load_faq(text: str) -> tuple[FaqEntry, ...]:
    data = yaml.safe_load(text) or []
    if not isinstance(data, list):
        raise KnowledgeError("an FAQ file is a list of entries")
    return parse_faq(data)


def seed_faq() -> tuple[FaqEntry, ...]:
    """The demo shop's FAQ (하루마켓 / Haru Market), shipped in the package."""
    return load_faq(resources.files("touchline.assistant").joinpath("seed/faq.yaml").read_text(encoding="utf-8"))


# --- a shop's catalog ----------------------------------------------------------------------------------------

# Attribute names a shop may give what the assistant reads: the kind of product, its brand, its sizes.
TYPE_KEYS = ("type", "product_type", "종류")
TYPE_EN_KEYS = ("type_en", "product_type_en")
BRAND_KEYS = ("brand", "브랜드")
BRAND_EN_KEYS = ("brand_en",)
SIZE_KEYS = ("sizes", "size", "사이즈")
_SIZE_SPLIT = re.compile(r"\s*[,|/·]\s*")


def _first_text(attributes: Mapping[str, Any], keys: Iterable[str]) -> str:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


_APPAREL_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "FREE")


def _size_order(option: tuple[str, int | None]) -> tuple[int, float, str]:
    """Apparel sizes in their order, then numbers (shoe and waist sizes) ascending, then the rest: one
    order whatever the store kept (PostgreSQL's JSONB does not keep an object's key order)."""
    label = option[0].strip().upper()
    if label in _APPAREL_SIZES:
        return 0, _APPAREL_SIZES.index(label), label
    try:
        return 1, float(label), label
    except ValueError:
        return 2, 0.0, label


def _options(value: Any) -> tuple[tuple[str, int | None], ...]:
    """Sizes as a shop gives them, in size order: stock by size (``{"S": 3, "M": 0}``; true: there, count
    unknown), a list (``["S", "M"]``) or text (``"S, M, L"``, ``"S|M|L"``)."""
    return tuple(sorted(_read_options(value), key=_size_order))


def _read_options(value: Any) -> tuple[tuple[str, int | None], ...]:
    if isinstance(value, Mapping):
        out: list[tuple[str, int | None]] = []
        for label, stock in value.items():
            if stock is False:
                out.append((str(label), 0))
            elif isinstance(stock, int | float) and not isinstance(stock, bool) and stock >= 0:
                out.append((str(label), int(stock)))
            else:
                out.append((str(label), None))
        return tuple(out)
    if isinstance(value, list):
        return tuple((str(v).strip(), None) for v in value if str(v).strip())
    if isinstance(value, str):
        return tuple((part, None) for part in _SIZE_SPLIT.split(value.strip()) if part)
    return ()


def catalog_product(row: Mapping[str, Any], shop_currency: str) -> Product | None:
    """A catalog product (a row of the workspace's catalog: its columns) as the assistant knows it; None
    when it has no name to answer with. The kind, brand and sizes come from its attributes
    (:data:`TYPE_KEYS`, :data:`BRAND_KEYS`, :data:`SIZE_KEYS`); the other attributes stay as text."""
    name, name_en = row.get("name") or "", row.get("name_en") or ""
    if not name and not name_en:
        return None
    attributes: Mapping[str, Any] = row.get("attributes") or {}
    options: tuple[tuple[str, int | None], ...] = ()
    for key in SIZE_KEYS:
        if key in attributes:
            options = _options(attributes[key])
            break
    stock = row.get("stock")
    if stock is None and options and all(n is not None for _, n in options):
        stock = sum(n or 0 for _, n in options)
    price = row.get("price")
    if price is not None:
        price = int(price) if float(price).is_integer() else float(price)
    read = set(TYPE_KEYS + TYPE_EN_KEYS + BRAND_KEYS + BRAND_EN_KEYS + SIZE_KEYS)
    return Product(
        id=str(row["id"]), name=name, name_en=name_en, category=row.get("category") or "",
        category_name=row.get("category_name") or "", category_name_en=row.get("category_name_en") or "",
        price=price, stock=stock, product_type=_first_text(attributes, TYPE_KEYS),
        product_type_en=_first_text(attributes, TYPE_EN_KEYS), brand=_first_text(attributes, BRAND_KEYS),
        brand_en=_first_text(attributes, BRAND_EN_KEYS), options=options,
        attributes={k: v if isinstance(v, str) else str(v) for k, v in attributes.items() if k not in read},
        currency=row.get("currency") or shop_currency)
