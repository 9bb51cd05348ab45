"""The assistant: a shopper's question in, a :class:`Reply` out.

Order of decisions, each final when it fires:

1. an explicit request for a person hands over in the same turn (rules, both languages);
2. a greeting or thanks gets a greeting back;
3. a question about the shopper's own order (where it is, when it comes) is ``order_status``: the caller
   looks the orders up (this core has no data);
4. a question naming a product or category, with no service word (return, refund, warranty, ...), is a
   product question: the catalog ranker's best products;
5. otherwise the FAQ ranker's best entry.

A confidence in 0..1 comes with every reply; below the threshold (:data:`FAQ_THRESHOLDS` per language for
FAQ answers, :data:`CONFIDENCE_THRESHOLD` otherwise) the reply is not ``confident``: the caller says it is
not sure and offers a person. An FAQ answer's confidence blends the top entry's coverage, its margin over
the runner-up and its score, then :func:`contest_penalty` lowers it when the question has FAQ words the
chosen entry lacks (more so when the runner-up has them) or the word ranker alone would choose another
entry. The thresholds and the weights were chosen on the question set's tuning questions only
(``tests/data/assistant_questions.yaml``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from touchline.assistant.intents import (
    CATEGORY_CUE,
    GIFT_SET,
    PRODUCT_CUES,
    SERVICE_WORDS,
    is_order_status,
    is_out_of_scope,
    is_smalltalk,
    order_number,
    wants_person,
)
from touchline.assistant.knowledge import Knowledge, Product
from touchline.assistant.retrieval import FaqHit, FaqIndex, ProductIndex, Query
from touchline.assistant.semantic import FaqMeaning, embed, intent_examples
from touchline.assistant.text import detect_language, normalize

CONFIDENCE_THRESHOLD = 0.38
# Per-language thresholds for FAQ answers (the fourth tuning round, on the tuning questions only: the
# lowest wrong-confident count, ties to the most right-and-confident answers, see ``contest_penalty``).
FAQ_THRESHOLDS = {"ko": 0.37, "en": 0.33}
UNCOVERED_WEIGHT = 0.5  # the share of the question's FAQ words the chosen entry's phrasings lack
RIVAL_WEIGHT = 0.2  # the share the runner-up entry has and the chosen one lacks
DISAGREE_PENALTY = 0.1  # the word ranker alone would choose another entry
# The sentence encoder beside the words (fifth tuning round; 0 leaves it out): an entry's similarity counts
# this many times its word score relative to the best; the encoder alone preferring another entry lowers
# the confidence by this share; overruling the words, it is confident only above this similarity and this
# lead over the words' entry.
MEANING_WEIGHT = 1.5
COMMON_IN_ENTRIES = 2
MEANING_DISAGREE_PENALTY = 0.15
MEANING_SURE = 0.75
MEANING_LEAD = 0.1
MEANING_CONFIDENCE = 0.6
MEANING_UNSURE = 0.3

INTENTS = ("handover", "smalltalk", "order_status", "product", "faq", "unknown")

_SIZE = re.compile(r"(?<![a-z0-9])(xxl|xl|xs|s|m|l|free|2[2-9]\d|[2-3]\d)(?![a-z0-9])\s*(사이즈|size)?", re.I)

_TEXTS = {
    "handover": {"ko": "상담원에게 연결해 드릴게요. 잠시만 기다려 주세요.",
                 "en": "I'm connecting you with a member of our team. Please hold on a moment."},
    "smalltalk": {"ko": "안녕하세요, 하루마켓입니다. 무엇을 도와드릴까요?", "en": "Hello! How can I help you today?"},
    "order_status": {"ko": "주문하신 상품을 확인해 볼게요.", "en": "Let me check on your order."},
    "unsure": {"ko": "죄송해요, 질문을 정확히 이해하지 못했어요. 상담원을 연결해 드릴까요?",
               "en": "Sorry, I'm not sure I understood. Would you like me to connect you with a person?"},
}


@dataclass(frozen=True, slots=True)
class Reply:
    intent: str  # one of INTENTS
    language: str  # "ko" | "en": the question's (or the one asked for)
    confidence: float  # 0..1
    confident: bool  # confidence >= the threshold: answer; otherwise say so and offer a person
    handover: bool  # the shopper asked for a person: hand over now
    text: str  # what the bot would say
    faq_id: str | None = None
    topic: str | None = None  # the FAQ entry's topic (returns, exchanges, ...: a guided flow can start here)
    product_ids: tuple[str, ...] = ()
    option: str | None = None  # a size asked for ("M", "260")
    order_number: str | None = None

    @property
    def offer_handover(self) -> bool:
        return self.handover or not self.confident


def _squash(x: float) -> float:
    return max(0.0, min(1.0, x))


def contest_penalty(words: list[str], chosen: set[str], runner_up: set[str], *, agree: bool) -> float:
    """A factor in 0..1 on an FAQ answer's confidence. ``words``: the question's content words the shop's
    FAQ uses somewhere (kiwipiepy's morphemes, English words; no concepts); ``chosen`` / ``runner_up``: the
    words of the first and second entries' phrasings; ``agree``: the word ranker alone chose the same entry.

    Most wrong confident answers were entries sharing words with the right one (shipping fee vs shipping
    time, points vs Naver Pay): the question then has a key word the chosen entry does not use (an
    uncovered word), often one the runner-up does (a rival word)."""
    if not words:
        return 1.0 if agree else 1.0 - DISAGREE_PENALTY
    uncovered = sum(1 for w in words if w not in chosen) / len(words)
    rival = sum(1 for w in words if w not in chosen and w in runner_up) / len(words)
    factor = (1.0 - UNCOVERED_WEIGHT * uncovered) * (1.0 - RIVAL_WEIGHT * rival)
    return factor if agree else factor * (1.0 - DISAGREE_PENALTY)


class Assistant:
    """Built once from a :class:`Knowledge` (the FAQ and catalog indexes), then answers many questions.
    Thread-safe for answering: nothing is mutated after construction."""

    def __init__(self, knowledge: Knowledge, *, threshold: float = CONFIDENCE_THRESHOLD,
                 faq_thresholds: dict[str, float] | None = None, meaning_weight: float = MEANING_WEIGHT,
                 use_examples: bool = True) -> None:
        self.knowledge = knowledge
        self.threshold = threshold
        self.faq_thresholds = dict(FAQ_THRESHOLDS if faq_thresholds is None else faq_thresholds)
        self.faq = FaqIndex(knowledge.faq)
        self.meaning_weight = meaning_weight
        self.meaning = FaqMeaning(knowledge.faq) if meaning_weight > 0 and knowledge.faq else None
        self.examples = intent_examples() if meaning_weight > 0 and use_examples else None
        # Words the FAQ uses in several entries (``long``, ``오늘``) name no product; a word one or two entries'
        # phrasings use may be a product's (a question about a knit's size), and still names it.
        self.catalog = ProductIndex(knowledge.products, common=self.faq.common_words(COMMON_IN_ENTRIES))
        self._products = {p.id: p for p in knowledge.products}
        self._topics = {e.id: e.topic for e in knowledge.faq}
        self._vocabulary = self.faq.vocabulary | self.faq.all_words | self.catalog.vocabulary

    def answer(self, question: str, *, language: str | None = None) -> Reply:
        text = normalize(question if isinstance(question, str) else str(question))
        lang = language if language in ("ko", "en") else detect_language(text)
        if not text:
            return self._reply("unknown", lang, 0.0, text=_TEXTS["unsure"][lang])
        # The question's meaning (one embedding, used twice): its nearest intent examples vote beside the
        # rules, and the FAQ entries are weighed by it.
        vector = embed([text])[0] if self.meaning is not None else None
        vote = self.examples.vote(vector) if vector is not None and self.examples is not None else None
        if wants_person(text) or vote == "handover":
            return self._reply("handover", lang, 1.0, handover=True, text=_TEXTS["handover"][lang])
        if is_smalltalk(text) or vote == "smalltalk":
            return self._reply("smalltalk", lang, 0.95, text=_TEXTS["smalltalk"][lang])
        if is_order_status(text) or vote == "order_status":
            return self._reply("order_status", lang, 0.9, text=_TEXTS["order_status"][lang],
                               order_number=order_number(text))
        if is_out_of_scope(text) or vote == "none":
            return self._reply("unknown", lang, 0.0, text=_TEXTS["unsure"][lang])
        query = Query.of(text)
        concepts = set(query.content)
        if GIFT_SET.search(text):
            concepts.discard("~gift")
        product = self.catalog.search(query)
        cue = bool(concepts & PRODUCT_CUES)
        if product is not None and product.category_only:
            cue = bool(CATEGORY_CUE.search(text))
        if product is not None and not (concepts & SERVICE_WORDS) and (cue or not product.category_only):
            confidence = _squash(0.35 + 0.45 * product.coverage + (0.2 if cue else 0.0))
            size = _SIZE.search(text)
            option = size.group(1).upper() if size else None
            return self._reply("product", lang, confidence, product_ids=product.product_ids, option=option,
                               text=self._product_text(product.product_ids, option, lang))
        hits = self.faq.search(query, k=10)
        if not hits or hits[0].score <= 0:
            return self._reply("unknown", lang, 0.0, text=_TEXTS["unsure"][lang])
        top = hits[0]
        second = hits[1].score if len(hits) > 1 else 0.0
        margin = (top.score - second) / top.score  # how far ahead of the next entry: near 0, a coin toss
        strength = 1.0 - math.exp(-top.score / 6.0)
        # Weights and threshold chosen on the tuning questions (see the module's docstring); ``known`` (the
        # share of the question's words the shop's FAQ or catalog uses at all) sinks out-of-scope questions.
        expanded = self.faq.expand(query)
        known = top.known if top.known >= 1.0 else self._known(expanded)
        blend = (0.3 * top.coverage + 0.1 * top.fuzzy_coverage + 0.45 * margin + 0.2 * strength) / 1.05
        words = [t for t in dict.fromkeys(expanded.content) if not t.startswith("~") and t in self.faq.all_words]
        runner_up = self.faq.entry_vocab.get(hits[1].entry_id, set()) if len(hits) > 1 else set()
        penalty = contest_penalty(words, self.faq.entry_vocab.get(top.entry_id, set()), runner_up,
                                  agree=self.faq.lexical_top(query) == top.entry_id)
        confidence = _squash(blend * known * penalty)
        if vector is not None:
            top, confidence = self._with_meaning(vector, hits, confidence, known)
        entry = self.knowledge.entry(top.entry_id, lang)
        answer = entry.answer if entry else ""
        threshold = self.faq_thresholds.get(lang, self.threshold)
        confident = confidence >= threshold
        return self._reply("faq", lang, confidence, faq_id=top.entry_id, topic=self._topics.get(top.entry_id),
                           text=answer if confident else _TEXTS["unsure"][lang], threshold=threshold)

    def _with_meaning(self, vector: np.ndarray, hits: list[FaqHit], confidence: float,
                      known: float) -> tuple[FaqHit, float]:
        """The words' choice weighed against the sentence encoder's (see :mod:`touchline.assistant.semantic`):
        each entry scores its word score relative to the best plus ``meaning_weight`` times its similarity.
        Kept, the words' confidence stands, lowered when the encoder alone prefers another entry; overruled
        (the encoder's entry wins), the answer is confident only when the encoder is sure of it on its own."""
        assert self.meaning is not None
        similarity = self.meaning.similarities(vector)
        if not similarity:
            return hits[0], confidence
        best = hits[0].score
        fused = {h.entry_id: h.score / best + self.meaning_weight * similarity.get(h.entry_id, 0.0) for h in hits}
        for entry_id, sim in similarity.items():
            fused.setdefault(entry_id, self.meaning_weight * sim)
        chosen = max(fused, key=fused.__getitem__)
        meaning_top = max(similarity, key=similarity.__getitem__)
        if chosen == hits[0].entry_id:
            return hits[0], confidence if meaning_top == chosen else confidence * (1.0 - MEANING_DISAGREE_PENALTY)
        hit = next((h for h in hits if h.entry_id == chosen), None) or FaqHit(chosen, 0.0, 0.0, 0.0, known)
        sure = (meaning_top == chosen and similarity[chosen] >= MEANING_SURE
                and similarity[chosen] - similarity.get(hits[0].entry_id, 0.0) >= MEANING_LEAD)
        return hit, (MEANING_CONFIDENCE if sure else min(confidence, MEANING_UNSURE)) * known

    def _known(self, query: Query) -> float:
        words = [t for t in dict.fromkeys(query.content) if not t.startswith("~")]
        if not words:
            return 0.0
        return sum(1 for t in words if t in self._vocabulary) / len(words)

    def _reply(self, intent: str, lang: str, confidence: float, *, handover: bool = False, text: str = "",
               threshold: float | None = None, **more: object) -> Reply:
        confident = handover or confidence >= (self.threshold if threshold is None else threshold)
        return Reply(intent=intent, language=lang, confidence=round(confidence, 4), confident=confident,
                     handover=handover, text=text, **more)  # type: ignore[arg-type]

    def _product_text(self, ids: tuple[str, ...], option: str | None, lang: str) -> str:
        return "\n".join(describe(self._products[pid], option, lang) for pid in ids[:3])


def _availability(p: Product, option: str | None, lang: str) -> str:
    """What the shopper asked about stock, in words: the size's own stock when the product has sizes, else
    the product's; nothing when the shop did not say."""
    ko = lang == "ko"
    if option and p.options:
        offered, stock = p.option_stock(option)
        if not offered:
            return f"{option} 사이즈 없음" if ko else f"no size {option}"
        if stock is None:
            return f"{option} 사이즈 있음" if ko else f"size {option} available"
    else:
        stock = p.stock
    if stock is None:
        return ""
    prefix = f"{option} " if option else ""
    if ko:
        return prefix + (f"재고 {stock}개" if stock else "품절")
    return prefix + (f"{stock} in stock" if stock else "sold out")


def describe(p: Product, option: str | None, lang: str) -> str:
    """One line about a product: its name, price and what is in stock (of the size asked for); the sizes
    there are when none was asked for."""
    parts = [p.price_text(lang), _availability(p, option, lang)]
    if not option and p.options:
        there = [label for label, stock in p.options if stock != 0]
        if there:
            parts.append(("사이즈 " if lang == "ko" else "sizes ") + "·".join(there))
    details = ", ".join(part for part in parts if part)
    return f"{p.display_name(lang)}: {details}" if details else p.display_name(lang)
