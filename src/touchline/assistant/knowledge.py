"""What the assistant knows: the shop's FAQ (in Korean and English) and its catalog.

Pure data. The seed FAQ of the demo shop ships in the package (``seed/faq.yaml``); a shop's own entries
come from the same YAML shape. Products are passed in (the demo builds them from its catalog).
"""

from __future__ import annotations

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
    name: str  # Korean, the shop's canonical language
    name_en: str
    category: str  # slug
    category_name: str
    category_name_en: str
    price: int  # KRW, whole won
    stock: int  # units over all options
    product_type: str = ""  # the generic kind ("캐시미어 블렌드 니트"), matched by shoppers more than brands
    product_type_en: str = ""
    brand: str = ""
    brand_en: str = ""
    # Options a shopper may ask for (sizes), with their stock: (("S", 3), ("M", 0), ...); empty when none.
    options: tuple[tuple[str, int], ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def display_name(self, language: str) -> str:
        return self.name if language == "ko" else self.name_en


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
