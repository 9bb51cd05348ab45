"""The demo shop's feedback: customers answer the NPS and CSAT surveys and review what they bought, so the
Surveys and Reviews pages have life.

Answers go through the same rules as a real answer (``feedback.service.record_answer``: the answer, the
``Survey Answered`` event, the ``nps_score`` trait), reviews through ``record_review`` (the profanity filter
included), and older reviews are moderated as a shop would: the clean ones approved (a few with the shop's
reply), the flagged ones rejected; the last few days' wait in the queue. The NPS drifts up over the period
(the shop got faster at shipping), so the chart has a story. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from touchline.demo.catalog import build_catalog
from touchline.feedback import service as feedback
from touchline.feedback import signing
from touchline.store.schema import profiles

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["simulate_feedback"]

CUSTOMERS = 900  # who answer at most (a sample of the shop's customers)
BATCH = 150

_COMMENTS = {
    "promoter": {"ko": ["배송이 정말 빨라요", "상품 품질이 좋아요", "상담원이 친절했어요", "앱이 편해요",
                        "재구매 의사 있어요"],
                 "en": ["Fast delivery", "Great quality for the price", "Helpful support team", "Easy app"]},
    "passive": {"ko": ["괜찮았어요", "포장이 조금 아쉬워요", "가격이 조금 비싸요"],
                "en": ["It was fine", "Packaging could be better", "A bit pricey"]},
    "detractor": {"ko": ["배송이 너무 늦었어요", "교환 절차가 복잡해요", "상담 연결이 어려웠어요",
                         "사이즈가 안 맞아요"],
                  "en": ["Delivery took too long", "Returns were a hassle", "Could not reach support"]},
}
_REVIEWS = {
    5: {"ko": ("최고예요", "기대 이상이에요. 배송도 빠르고 품질도 좋아요."),
        "en": ("Excellent", "Better than expected, fast delivery.")},
    4: {"ko": ("만족해요", "전반적으로 만족합니다. 가격 대비 좋아요."), "en": ("Good", "Good value for the price.")},
    3: {"ko": ("보통이에요", "나쁘지 않지만 특별하지도 않아요."), "en": ("Okay", "Not bad, nothing special.")},
    2: {"ko": ("아쉬워요", "사진과 색상이 조금 달라요."),
        "en": ("Disappointing", "The colour differs from the photos.")},
    1: {"ko": ("별로예요", "금방 고장났어요. 환불 요청했습니다."),
        "en": ("Poor", "Broke within a week. Asked for a refund.")},
}
_RUDE = {"ko": "배송 진짜 씨발 왜 이렇게 늦어요", "en": "Worst shit I ever bought"}
_REPLIES = {"ko": "소중한 리뷰 감사합니다. 더 좋은 상품으로 보답하겠습니다!",
            "en": "Thank you for your review! We hope to see you again."}


def _customers(stores: Stores, workspace_id: str, rng: random.Random) -> list[dict[str, Any]]:
    """A sample of the shop's customers (not merged away): id, language, traits (for the reviews' names)."""
    with stores.read() as conn:
        rows = conn.execute(sa.select(profiles.c.id, profiles.c.locale, profiles.c.traits).where(
            profiles.c.workspace_id == workspace_id, profiles.c.merged_into.is_(None))
            .order_by(profiles.c.id).limit(CUSTOMERS * 20)).all()
    sample = rng.sample(rows, min(CUSTOMERS, len(rows)))
    return [{"id": str(pid), "language": "en" if str(locale or "").startswith("en") else "ko",
             "traits": traits if isinstance(traits, dict) else {}} for pid, locale, traits in sample]


def _nps_score(rng: random.Random, progress: float) -> int:
    """Promoters grow from about 38 % to 55 % over the period, detractors fall from 27 % to 15 %."""
    promoter, detractor = 0.38 + 0.17 * progress, 0.27 - 0.12 * progress
    draw = rng.random()
    if draw < promoter:
        return rng.choice((9, 10, 10))
    if draw < promoter + detractor:
        return rng.choice((0, 2, 3, 4, 5, 6, 6))
    return rng.choice((7, 8, 8))


def simulate_feedback(stores: Stores, workspace_id: str, *, start: dt.datetime, end: dt.datetime,
                      seed: int = 7) -> dict[str, Any]:
    """Survey answers and reviews between ``start`` and ``end``, stored through the feedback service's bulk
    paths (events and traits included) in a few transactions; returns what was made. Run again with the
    same seed, it stores nothing new."""
    rng = random.Random(seed)
    customers = _customers(stores, workspace_id, rng)
    products = build_catalog()
    weights = [p.popularity for p in products]
    span = (end - start).total_seconds()
    made = {"nps": 0, "csat": 0, "reviews": 0, "approved": 0, "rejected": 0, "pending": 0}
    moderated_before = end - dt.timedelta(days=3)
    for offset in range(0, len(customers), BATCH):
        answers: list[dict[str, Any]] = []
        reviews: list[dict[str, Any]] = []
        for customer in customers[offset:offset + BATCH]:
            pid, language = customer["id"], customer["language"]
            rng = random.Random(f"{seed}:{pid}")  # each customer's own draws: a second run repeats them exactly
            progress = rng.random()
            at = start + dt.timedelta(seconds=span * progress)
            if rng.random() < 0.7:  # the NPS survey a journey sent them
                score = _nps_score(rng, progress)
                category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
                comment = rng.choice(_COMMENTS[category][language]) if rng.random() < 0.45 else None
                answers.append(_answer(workspace_id, pid, "nps", score, comment,
                                       rng.choice(("email", "sms", "messenger", "push")), language, at))
            if rng.random() < 0.35:  # CSAT after a conversation
                csat = rng.choices((5, 4, 3, 2, 1), weights=(45, 30, 12, 8, 5))[0]
                answers.append(_answer(workspace_id, pid, "csat", csat, None, "chat", language,
                                       min(at + dt.timedelta(hours=2), end - dt.timedelta(minutes=1))))
            if rng.random() < 0.3:  # a review of something they bought, a week or so after the order
                product = rng.choices(products, weights=weights)[0]
                rating = rng.choices((5, 4, 3, 2, 1), weights=(52, 27, 10, 6, 5))[0]
                title, body = _REVIEWS[rating][language]
                if rating <= 2 and rng.random() < 0.25:
                    body = _RUDE[language]
                written = at + dt.timedelta(days=rng.uniform(7, 9))
                if written >= end:
                    written = end - dt.timedelta(hours=rng.uniform(1, 48))
                reviews.append(feedback.review_row(
                    workspace_id, customer, product_id=product.product_id,
                    order_id=f"demo-{rng.getrandbits(40):010x}", rating=rating, title=title, body=body,
                    language=language, source="form", now=written))
        with stores.write() as conn:
            new = feedback.record_answers(conn, workspace_id, answers, end)
            made["nps"] += sum(1 for a in new if a["kind"] == "nps")
            made["csat"] += sum(1 for a in new if a["kind"] == "csat")
            stored = feedback.record_reviews(conn, workspace_id, reviews, end)
            made["reviews"] += len(stored)
            feedback.moderate_many(conn, workspace_id, _decisions(stored, moderated_before, seed, made),
                                   by="demo", now=end)
    return made


def _answer(workspace_id: str, profile_id: str, kind: str, score: int, comment: str | None, channel: str,
            language: str, at: dt.datetime) -> dict[str, Any]:
    return {"id": signing.answer_id(workspace_id, f"demo-{kind}", profile_id), "workspace_id": workspace_id,
            "profile_id": profile_id, "survey": kind, "kind": kind, "score": score, "comment": comment,
            "channel": channel, "source_message_id": None, "language": language, "answered_at": at,
            "updated_at": at}


def _decisions(stored: list[dict[str, Any]], before: dt.datetime, seed: int, made: dict[str, int]
               ) -> list[tuple[dict[str, Any], Any, dt.datetime, str | None]]:
    """What a moderator did with each new review: the clean ones approved (a fifth answered), the flagged
    ones rejected; the last days' wait in the queue."""
    out: list[tuple[dict[str, Any], Any, dt.datetime, str | None]] = []
    for row in stored:
        if row["created_at"] >= before:
            made["pending"] += 1
            continue
        rng = random.Random(f"{seed}:{row['id']}")
        when = row["created_at"] + dt.timedelta(hours=rng.uniform(2, 30))
        if row["flagged"]:
            out.append((row, "reject", when, None))
            made["rejected"] += 1
            continue
        out.append((row, "approve", when, None))
        made["approved"] += 1
        if rng.random() < 0.2:
            replied = {**row, "status": "approved", "moderated_by": "demo", "moderated_at": when}
            out.append((replied, "reply", when, _REPLIES[row["language"] or "ko"]))
    return out
