"""Scoring the assistant against a labelled question set (tests and ``bench/bot.py`` share it). Pure.

A question is a mapping: ``text``, ``language``, ``intent`` (faq | product | order_status | handover |
smalltalk | none), and for ``faq`` the entry id (``faq``), for ``product`` either ``products`` (any of these
ids is a right first answer) or ``category`` (a product of this category slug is).

- top-1 right: the reply's intent is the expected one and its first answer is an expected one (``none``:
  the reply is not confident; ``handover``: the reply hands over);
- a wrong confident answer: a reply that is confident and not right (the one that hurts: the shopper is
  told something false with assurance);
- answerable: every intent but ``handover`` and ``none``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from touchline.assistant.engine import Assistant, Reply

ANSWERABLE = ("faq", "product", "order_status", "smalltalk")


def is_right(question: Mapping[str, Any], reply: Reply, category_of: Callable[[str], str | None]) -> bool:
    intent = question["intent"]
    if intent == "handover":
        return reply.handover
    if intent == "none":
        return not reply.confident and not reply.handover
    if reply.intent != intent:
        return False
    if intent == "faq":
        return reply.faq_id == question.get("faq")
    if intent == "product":
        if not reply.product_ids:
            return False
        first = reply.product_ids[0]
        if question.get("products"):
            return first in question["products"]
        return category_of(first) == question.get("category")
    return True


@dataclass
class Tally:
    n: int = 0
    right: int = 0
    confident_right: int = 0
    wrong_confident: int = 0
    handed_over: int = 0

    def add(self, right: bool, reply: Reply) -> None:
        self.n += 1
        self.right += right
        self.confident_right += right and reply.confident
        self.wrong_confident += (not right) and reply.confident
        self.handed_over += reply.handover


@dataclass
class Report:
    by_group: dict[tuple[str, str], Tally] = field(default_factory=dict)  # (language, intent)
    failures: list[tuple[Mapping[str, Any], Reply]] = field(default_factory=list)

    def total(self, *, intents: Iterable[str] | None = None, language: str | None = None) -> Tally:
        wanted = set(intents) if intents is not None else None
        out = Tally()
        for (lang, intent), t in self.by_group.items():
            if (wanted is None or intent in wanted) and (language is None or lang == language):
                out.n += t.n
                out.right += t.right
                out.confident_right += t.confident_right
                out.wrong_confident += t.wrong_confident
                out.handed_over += t.handed_over
        return out

    @property
    def top1_answerable(self) -> float:
        t = self.total(intents=ANSWERABLE)
        return t.right / t.n if t.n else 0.0

    @property
    def wrong_confident_rate(self) -> float:
        t = self.total()
        return t.wrong_confident / t.n if t.n else 0.0

    @property
    def handover_rate(self) -> float:
        t = self.total(intents=("handover",))
        return t.handed_over / t.n if t.n else 1.0

    @property
    def false_handovers(self) -> int:
        return sum(t.handed_over for (_, intent), t in self.by_group.items() if intent != "handover")


def evaluate(assistant: Assistant, questions: Iterable[Mapping[str, Any]],
             category_of: Callable[[str], str | None]) -> Report:
    report = Report()
    for q in questions:
        reply = assistant.answer(q["text"])
        right = is_right(q, reply, category_of)
        report.by_group.setdefault((q["language"], q["intent"]), Tally()).add(right, reply)
        if not right:
            report.failures.append((q, reply))
    return report
