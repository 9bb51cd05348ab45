"""The rankers: BM25 (bm25s) over the FAQ's example phrasings and answers, and over the catalog.

Two token streams are scored separately and added: content tokens (morphemes, stemmed words, concepts)
and fuzzy tokens (Hangul syllable bigrams, English character trigrams) at a lower weight, so an exact
word counts most and a misspelt or unspaced one still counts. An entry's score is its best document's
(one phrasing or its answer, the answer discounted): one close paraphrase is the strongest evidence.
Both indexes mix Korean and English documents: the concepts link the two languages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from touchline.assistant.knowledge import FaqEntry, Product
from touchline.assistant.text import CONCEPTS, content_tokens, fuzzy_tokens, with_concepts

_HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]+")
FUZZY_WEIGHT = 0.2
K1 = 1.2
B = 0.75
ANSWER_WEIGHT = 0.6
ENTRY_WEIGHT = 0.5


class _Bm25:
    def __init__(self, docs: Sequence[list[str]], *, k1: float = K1, b: float = B) -> None:
        self.size = len(docs)
        self.model: bm25s.BM25 | None = None
        self.vocab: frozenset[str] = frozenset()
        if docs:  # bm25s cannot index nothing (a shop without FAQ entries or products)
            self.model = bm25s.BM25(k1=k1, b=b)
            self.model.index([d or ["\x00empty"] for d in docs], show_progress=False)
            self.vocab = frozenset(self.model.vocab_dict)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        known = [t for t in dict.fromkeys(tokens) if t in self.vocab]
        if not known or self.model is None:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Query:
    content: tuple[str, ...]
    fuzzy: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Query:
        return cls(tuple(content_tokens(text)), tuple(fuzzy_tokens(text)))


@dataclass(frozen=True, slots=True)
class FaqHit:
    entry_id: str
    score: float
    coverage: float  # the share of the question's content words the entry's phrasings contain
    fuzzy_coverage: float  # the same for syllable bigrams / trigrams
    known: float  # the share of the question's content words found anywhere in the FAQ (low: out of scope)


class FaqIndex:
    def __init__(self, faq: Sequence[FaqEntry], *, fuzzy_weight: float = FUZZY_WEIGHT,
                 answer_weight: float = ANSWER_WEIGHT, entry_weight: float = ENTRY_WEIGHT) -> None:
        self.fuzzy_weight = fuzzy_weight
        owners: list[str] = []
        weights: list[float] = []
        content: list[list[str]] = []
        fuzzy: list[list[str]] = []
        self.entry_vocab: dict[str, set[str]] = {}
        self.entry_fuzzy: dict[str, set[str]] = {}
        for entry in faq:
            # An entry with no example questions (only its answer is indexed) has no phrasings to cover.
            self.entry_vocab.setdefault(entry.id, set())
            self.entry_fuzzy.setdefault(entry.id, set())
            for text, weight in [(q, 1.0) for q in entry.questions] + [(entry.answer, answer_weight)]:
                c, f = content_tokens(text), fuzzy_tokens(text)
                owners.append(entry.id)
                weights.append(weight)
                content.append(c)
                fuzzy.append(f)
                if weight == 1.0:  # coverage counts the phrasings: answers say more than was asked
                    self.entry_vocab.setdefault(entry.id, set()).update(c)
                    self.entry_fuzzy.setdefault(entry.id, set()).update(f)
        self.owners = owners
        self.weights = np.asarray(weights, dtype=np.float32)
        self.ids = list(dict.fromkeys(owners))
        self._slot = {entry_id: i for i, entry_id in enumerate(self.ids)}
        self._owner_slots = np.asarray([self._slot[o] for o in owners], dtype=np.int64)
        self.content = _Bm25(content)
        self.fuzzy = _Bm25(fuzzy)
        # One document per entry: all its phrasings in both languages, so an entry several of whose
        # phrasings share the question's words gains over one phrasing of another entry that happens to.
        self.entry_weight = entry_weight
        self.entries = _Bm25([sorted(self.entry_vocab[i]) for i in self.ids])
        self.all_words: set[str] = set().union(*content) if content else set()
        self._hangul_words = sorted(w for w in self.all_words if len(w) >= 2 and _HANGUL_WORD.fullmatch(w))

    @property
    def vocabulary(self) -> set[str]:
        return set().union(*self.entry_vocab.values()) if self.entry_vocab else set()

    def common_words(self, entries: int) -> set[str]:
        """Words the phrasings of at least ``entries`` entries use."""
        counts: dict[str, int] = {}
        for words in self.entry_vocab.values():
            for word in words:
                counts[word] = counts.get(word, 0) + 1
        return {word for word, n in counts.items() if n >= entries}

    def expand(self, query: Query) -> Query:
        """Unspaced compounds the FAQ does not use split into words it does (``선물포장`` -> ``선물``, ``포장``)."""
        extra: list[str] = []
        for t in query.content:
            if len(t) >= 3 and t not in self.all_words and _HANGUL_WORD.fullmatch(t):
                extra.extend(with_concepts(w for w in self._hangul_words if w in t))
        return Query(query.content + tuple(extra), query.fuzzy) if extra else query

    def search(self, query: Query, k: int = 3) -> list[FaqHit]:
        if not query.content and not query.fuzzy:
            return []
        query = self.expand(query)
        doc = (self.content.scores(query.content) + self.fuzzy_weight * self.fuzzy.scores(query.fuzzy)) * self.weights
        best = np.zeros(len(self.ids), dtype=np.float32)
        np.maximum.at(best, self._owner_slots, doc)
        best += self.entry_weight * self.entries.scores(query.content)
        order = np.argsort(-best, kind="stable")[:k]
        hits = []
        known = _coverage(query.content, self.all_words)
        for i in order:
            entry_id = self.ids[int(i)]
            hits.append(FaqHit(entry_id, float(best[i]), _coverage(query.content, self.entry_vocab[entry_id]),
                               _coverage(query.fuzzy, self.entry_fuzzy[entry_id]), known))
        return hits


    def lexical_top(self, query: Query) -> str | None:
        """The entry the word ranker alone (no bigrams/trigrams, no per-entry document) puts first: when
        it is not the blended ranker's first entry, the two signals disagree."""
        query = self.expand(query)
        doc = self.content.scores(query.content) * self.weights
        if not len(doc) or float(doc.max()) <= 0:
            return None
        best = np.zeros(len(self.ids), dtype=np.float32)
        np.maximum.at(best, self._owner_slots, doc)
        return self.ids[int(np.argmax(best))]


def _similar(p: Product, top: Product) -> bool:
    if top.product_type or top.product_type_en:
        return (p.product_type, p.product_type_en) == (top.product_type, top.product_type_en)
    return bool(top.category) and p.category == top.category


def _coverage(tokens: Sequence[str], vocab: set[str]) -> float:
    words = [t for t in dict.fromkeys(tokens) if not t.startswith("~")]
    if not words:
        return 0.0
    return sum(1 for t in words if t in vocab or (CONCEPTS.get(t) and CONCEPTS[t] in vocab)) / len(words)


# --- the catalog ------------------------------------------------------------------------------------------

# What shoppers call things -> the catalog's words (Korean and English). Generic to Korean shops.
PRODUCT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "티": ("티셔츠",), "반팔티": ("티셔츠",), "반팔": ("티셔츠",), "tee": ("t-shirt", "shirt"), "tshirt": ("shirt",),
    "청바지": ("데님", "팬츠"), "바지": ("팬츠",), "jean": ("denim",), "jeans": ("denim",), "스웨터": ("니트",),
    "sweater": ("knit",), "점퍼": ("패딩",), "puffer": ("padded",), "치마": ("스커트",), "가방": ("크로스백",),
    "가죽": ("레더",), "bag": ("crossbody",), "운동화": ("스니커즈", "러닝화"), "sneaker": ("sneakers",),
    "dress": ("원피스",), "socks": ("sock",), "스킨": ("토너",), "앰플": ("세럼",), "썬크림": ("선크림",),
    "선블록": ("선크림",), "자외선차단제": ("선크림",), "sunblock": ("sunscreen",), "팩트": ("쿠션",),
    "폼클렌징": ("클렌징폼",), "세안제": ("클렌징폼",), "perfume": ("parfum",), "귤": ("감귤",), "소고기": ("한우",),
    "beef": ("hanwoo",), "견과류": ("견과",), "nuts": ("nut",), "커피": ("콜드브루",), "coffee": ("brew",),
    "ginseng": ("ginseng",), "이어폰": ("이어폰",), "에어팟": ("이어폰",), "earphones": ("earbud",),
    "earphone": ("earbud",), "earbuds": ("earbud",), "청소기": ("로봇청소기",), "vacuum": ("vacuum",),
    "시계": ("스마트워치",), "watch": ("smartwatch",), "주전자": ("전기포트",), "포트": ("전기포트",),
    "티비": ("tv",), "텔레비전": ("tv",), "television": ("tv",), "comforter": ("duvet",), "그릇": ("식기",),
    "접시": ("식기",), "의자": ("체어",), "chair": ("chair",), "장난감": ("블록",), "toy": ("block",),
    "동화책": ("그림책",), "scooter": ("scooter",), "가전제품": ("가전",), "화장품": ("뷰티",), "옷": ("패션",),
    "의류": ("패션",), "아기": ("유아동",), "아이": ("유아동",), "어린이": ("유아동",), "아동": ("유아동",),
    "먹거리": ("식품",), "음식": ("식품",), "clothes": ("fashion",), "clothing": ("fashion",),
    "cosmetics": ("beauty",), "makeup": ("beauty",), "baby": ("kid",), "children": ("kid",),
    # Categories by the names shoppers use (fifth tuning round)
    "신발": ("스니커즈", "러닝화"), "shoes": ("sneakers", "running"), "먹을거": ("식품",), "먹을것": ("식품",),
    "먹거리들": ("식품",), "groceries": ("food",), "grocery": ("food",), "snacks": ("food",), "인테리어": ("리빙",),
    "침구": ("리빙",), "침구류": ("리빙",), "생활용품": ("리빙",), "가구": ("리빙",), "furniture": ("home",),
    "interior": ("home",), "bedding": ("home",), "디지털": ("가전",), "전자제품": ("가전",), "전자기기": ("가전",),
    "기기": ("가전",), "gadgets": ("electronics",), "gadget": ("electronics",), "devices": ("electronics",),
    "electronic": ("electronics",), "운동용품": ("스포츠/레저",), "운동": ("스포츠/레저",),
    "아웃도어": ("스포츠/레저",),
    "레저": ("스포츠/레저",), "outdoor": ("sports",), "sport": ("sports",), "fitness": ("sports",),
    "기초화장품": ("뷰티",), "스킨케어": ("뷰티",), "패션": ("패션",), "fashion": ("fashion",),
    # Names shoppers shorten or spell their own way
    "로청": ("로봇청소기",), "공청기": ("공기청정기",), "런닝화": ("러닝화",), "커피포트": ("전기포트",),
    "mandarins": ("tangerines",), "mandarin": ("tangerines",), "tangerine": ("tangerines",), "facewash": ("cleanser",),
    "canceling": ("cancelling",), "cancelling": ("cancelling",), "믹스너트": ("견과",), "키즈": ("유아동",),
}

@functools.cache
def _synonym_tokens() -> dict[str, list[str]]:
    """PRODUCT_SYNONYMS in the tokens a question becomes (English stemmed, Korean as the analyser splits it),
    built once per process."""
    synonyms: dict[str, list[str]] = {}
    for word, meant in PRODUCT_SYNONYMS.items():
        tokens = with_concepts(meant) + [t for t in content_tokens(" ".join(meant)) if t not in meant]
        for key in {word, *(t for t in content_tokens(word) if not t.startswith("~"))}:
            found = synonyms.setdefault(key, [])
            found.extend(t for t in tokens if t not in found)
    return synonyms


# Words in product names that say nothing about which product is meant.
_GENERIC = frozenset({"세트", "set", "pack", "of", "for", "two", "인분", "the", "a", "~size", "~gift", "~store",
                      "~fee", "~time", "데일리", "daily", "everyday", "style", "~fresh", "~dawn", "5", "10", "20", "30",
                      "500", "50", "1", "kg", "ml", "l", "g",
                      # everyday English words in product names: "the price went down" names no duvet
                      "down", "up", "light", "long", "wide", "leg", "smart", "red", "mixed", "premium", "organic",
                      "pop", "cleaned", "whole", "low", "hotel", "mood", "cold", "compact", "solid", "relax",
                      "person", "inch", "blend", "calming", "handheld", "wireless"})


@dataclass(frozen=True, slots=True)
class ProductHit:
    product_ids: tuple[str, ...]  # the best product and others of its kind, best first
    matched: tuple[str, ...]  # the question's words that named products
    coverage: float  # the share of the question's naming words the best product matched
    category_only: bool  # only a category was named (``가전 뭐 있어요``)


class ProductIndex:
    def __init__(self, products: Sequence[Product], *, common: Iterable[str] = ()) -> None:
        """``common``: the FAQ's words; a product word that is also one (``long``, ``오늘``) does not name
        a product on its own."""
        self.products = tuple(products)
        content: list[list[str]] = []
        fuzzy: list[list[str]] = []
        self.naming: set[str] = set()
        self.category_words: set[str] = set()
        self.doc_vocab: list[set[str]] = []
        for p in self.products:
            # A shop's product without a kind in its attributes is named by its names.
            kind = p.product_type or p.product_type_en
            words = " ".join((p.product_type, p.product_type_en, p.brand, p.brand_en) if kind else
                             (p.name, p.name_en, p.brand, p.brand_en))
            cats = " ".join((p.category_name, p.category_name_en, p.category))
            ctoks = [t for t in content_tokens(words) if t not in _GENERIC]
            cat_toks = [t for t in content_tokens(cats) if not t.startswith("~")]
            self.naming.update(t for t in ctoks if not t.startswith("~"))
            self.category_words.update(cat_toks)
            doc = ctoks + cat_toks + content_tokens(p.name + " " + p.name_en)
            content.append(doc)
            fuzzy.append(fuzzy_tokens((p.product_type if kind else p.name) + " " + p.brand))
            self.doc_vocab.append(set(doc))
        self.naming -= _GENERIC
        self.vocabulary: set[str] = set().union(*self.doc_vocab) if self.doc_vocab else set()
        self._hangul_naming = sorted(w for w in self.naming if len(w) >= 2 and _HANGUL_WORD.fullmatch(w))
        # A word of a product's kind (``코트``, ``knit``) names it even where FAQ phrasings use it too ("my coat
        # arrived with a hole"); the FAQ's other words (``오늘``) name nothing on their own.
        kinds = {t for p in self.products for t in content_tokens(" ".join(
            (p.product_type, p.product_type_en) if p.product_type or p.product_type_en else (p.name, p.name_en)))}
        self.naming = {t for t in self.naming if len(t) > 1} - (set(common) - kinds)
        self.content = _Bm25(content)
        self.fuzzy = _Bm25(fuzzy)

    def expand(self, tokens: Sequence[str]) -> list[str]:
        """Shoppers' words for catalog words, and unspaced compounds split into the catalog's words
        (``경량패딩`` -> ``경량``, ``패딩``; ``울코트`` -> ``코트``)."""
        out = list(tokens)
        for t in tokens:
            out.extend(_synonym_tokens().get(t, ()))
            if len(t) >= 3 and t not in self.naming and not t.startswith("~") and _HANGUL_WORD.fullmatch(t):
                out.extend(w for w in self._hangul_naming if w in t)
        return out

    def search(self, query: Query, k: int = 5) -> ProductHit | None:
        if not self.products:
            return None
        tokens = self.expand(query.content)
        names = [t for t in dict.fromkeys(tokens) if t in self.naming]
        cats = [t for t in dict.fromkeys(tokens) if t in self.category_words and t not in self.naming]
        if not names and not cats:
            return None
        scores = self.content.scores(tokens) + FUZZY_WEIGHT * self.fuzzy.scores(query.fuzzy)
        order = np.argsort(-scores, kind="stable")
        best = int(order[0])
        if scores[best] <= 0:
            return None
        top = self.products[best]
        # Similar items: others of its kind, or (a product without a kind) of its category, that the
        # question's words also found.
        same_kind = [self.products[int(i)].id for i in order[:50]
                     if _similar(self.products[int(i)], top) and scores[int(i)] > 0]
        ids = tuple(dict.fromkeys([top.id, *same_kind]))[:k]
        naming = names or cats
        coverage = sum(1 for t in naming if t in self.doc_vocab[best]) / len(naming)
        return ProductHit(ids, tuple(naming), coverage, category_only=not names)
