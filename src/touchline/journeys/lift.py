"""How sure a journey's lift is: a 95 % interval for the difference of two conversion rates.

The holdout groups are small (a 10 % holdout of a few hundred runs), so a lift of a few points is often
noise; the interval says so. Newcombe's hybrid score interval (method 10 of Newcombe 1998, "Interval
estimation for the difference between independent proportions"), built from the Wilson intervals of each
rate, keeps its coverage with small groups and rates near 0 or 1, where the textbook Wald interval fails.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(converted: int, runs: int, z: float = Z95) -> tuple[float, float]:
    p = converted / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def lift_interval(treated_converted: int, treated: int, held_converted: int, held: int,
                  z: float = Z95) -> tuple[float, float] | None:
    """The interval for (treated rate - holdout rate), or None without runs on both sides."""
    if treated <= 0 or held <= 0:
        return None
    p1, p2 = treated_converted / treated, held_converted / held
    l1, u1 = wilson(treated_converted, treated, z)
    l2, u2 = wilson(held_converted, held, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)
