"""NPS and CSAT over summary counts (pure: no I/O).

NPS: each answer (0-10) is a promoter (9-10, +1), a passive (7-8, 0) or a detractor (0-6, -1); the NPS is
the mean of those values times 100, so its standard error is that of a mean of a variable taking -1, 0,
+1: ``sqrt((p + d - (p - d)^2) / n)`` with ``p`` and ``d`` the promoters' and detractors' shares. The
interval is the normal one at 95 % (``z = 1.96``), clipped to [-100, 100]; with fewer than
:data:`MIN_ANSWERS` answers there is no interval (too few to say).

CSAT: the share of satisfied answers (4-5 of 1-5), with Wilson's score interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["MIN_ANSWERS", "Z95", "CsatSummary", "NpsSummary", "csat", "nps", "nps_category"]

Z95 = 1.959963984540054
MIN_ANSWERS = 5
Category = Literal["promoter", "passive", "detractor"]


def nps_category(score: int) -> Category:
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS answer is 0-10, not {score}")
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


@dataclass(frozen=True)
class NpsSummary:
    answers: int
    promoters: int
    passives: int
    detractors: int
    score: float | None  # -100..100
    low: float | None  # the 95 % interval
    high: float | None
    margin: float | None  # half the interval's width, before clipping

    def as_dict(self) -> dict[str, object]:
        return {"answers": self.answers, "promoters": self.promoters, "passives": self.passives,
                "detractors": self.detractors, "nps": _round(self.score), "low": _round(self.low),
                "high": _round(self.high), "margin": _round(self.margin)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def nps(promoters: int, passives: int, detractors: int, *, z: float = Z95) -> NpsSummary:
    if min(promoters, passives, detractors) < 0:
        raise ValueError("counts cannot be negative")
    n = promoters + passives + detractors
    if n == 0:
        return NpsSummary(0, 0, 0, 0, None, None, None, None)
    p, d = promoters / n, detractors / n
    score = (p - d) * 100
    if n < MIN_ANSWERS:
        return NpsSummary(n, promoters, passives, detractors, score, None, None, None)
    variance = max(p + d - (p - d) ** 2, 0.0)
    margin = z * math.sqrt(variance / n) * 100
    return NpsSummary(n, promoters, passives, detractors, score, max(score - margin, -100.0),
                      min(score + margin, 100.0), margin)


@dataclass(frozen=True)
class CsatSummary:
    answers: int
    satisfied: int
    score: float | None  # % satisfied
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, object]:
        return {"answers": self.answers, "satisfied": self.satisfied, "csat": _round(self.score),
                "low": _round(self.low), "high": _round(self.high)}


def csat(satisfied: int, answers: int, *, z: float = Z95) -> CsatSummary:
    if not 0 <= satisfied <= answers:
        raise ValueError("satisfied answers are between 0 and all answers")
    if answers == 0:
        return CsatSummary(0, 0, None, None, None)
    p = satisfied / answers
    denominator = 1 + z * z / answers
    centre = (p + z * z / (2 * answers)) / denominator
    half = z * math.sqrt(p * (1 - p) / answers + z * z / (4 * answers * answers)) / denominator
    return CsatSummary(answers, satisfied, p * 100, max(centre - half, 0.0) * 100, min(centre + half, 1.0) * 100)
