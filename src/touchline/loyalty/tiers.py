"""Tiers over plain arrays (no I/O): the level a measure qualifies for, and the review of a whole program
at once, vectorised with numpy, so a million customers are reviewed in well under a second of arithmetic.

A customer qualifies for the highest level whose threshold their measure (spend or points over the
window) reaches. Upgrades are at once (on earning); the review, at its date, also moves customers down:
``one_step`` a level at a time, or ``by_balance`` straight to the level they qualify for.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["qualified_index", "review"]


def qualified_index(thresholds: Sequence[float], value: float) -> int:
    """The index of the highest level whose threshold ``value`` reaches (``thresholds`` ascending, the
    first 0)."""
    return max(0, bisect.bisect_right(list(thresholds), value) - 1)


def review(current: npt.NDArray[np.int64], measure: npt.NDArray[np.float64], thresholds: Sequence[float],
           downgrade: str) -> npt.NDArray[np.int64]:
    """Each customer's level after a review: at least the level qualified for (an upgrade is never
    withheld); below the current one only as far as ``downgrade`` allows."""
    qualified = np.searchsorted(np.asarray(thresholds, dtype=np.float64), measure, side="right") - 1
    qualified = np.maximum(qualified, 0).astype(np.int64)
    if downgrade == "one_step":
        down = np.maximum(current - 1, qualified)
    elif downgrade == "by_balance":
        down = qualified
    else:
        raise ValueError(f"unknown downgrade {downgrade!r}")
    return np.where(qualified >= current, qualified, down).astype(np.int64)
