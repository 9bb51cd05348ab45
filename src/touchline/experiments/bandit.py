"""The bandit's rule, pure: Thompson sampling on conversion, with a floor of traffic for every arm, weights
that move only once every arm has a minimum of exposures and at most once per cadence, and a fixed holdout
(decided by ``assignment``, never by the weights).

``next_weights`` returns the new weights and the data behind them, which the caller records with every
change. The draws come from a generator seeded by the experiment and the change's number, so a change can
be recomputed from its recorded data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from touchline.experiments.stats import posterior_best

__all__ = ["DRAWS", "ArmStats", "BanditPolicy", "due", "next_weights", "uniform"]

DRAWS = 10_000


@dataclass(frozen=True)
class ArmStats:
    name: str
    exposures: int
    conversions: int


@dataclass(frozen=True)
class BanditPolicy:
    floor_percent: float = 1.0  # every arm keeps at least this share of the (non-holdout) traffic
    min_exposures: int = 100  # per arm, before the weights first move
    cadence: dt.timedelta = dt.timedelta(hours=6)  # at most one change per cadence


def uniform(arms: Sequence[str]) -> dict[str, float]:
    return {a: 1 / len(arms) for a in arms}


def due(policy: BanditPolicy, stats: Sequence[ArmStats], last_change: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether the weights may change now: every arm has its minimum of exposures and the cadence has passed."""
    if any(s.exposures < policy.min_exposures for s in stats):
        return False
    return last_change is None or now - last_change >= policy.cadence


def next_weights(policy: BanditPolicy, stats: Sequence[ArmStats], *, experiment: str, change: int,
                 draws: int = DRAWS) -> tuple[dict[str, float], dict[str, Any]]:
    """Weights proportional to each arm's posterior chance of being best (Beta(1 + conversions, 1 +
    failures)), each at least ``floor_percent``; and the data behind them."""
    seed = int.from_bytes(hashlib.blake2b(f"{experiment}\x1f{change}".encode(), digest_size=8).digest(), "big")
    best = posterior_best([(s.exposures, s.conversions) for s in stats], draws, np.random.default_rng(seed))
    floor = policy.floor_percent / 100
    spare = max(1 - floor * len(stats), 0.0)
    weights = {s.name: floor + spare * p for s, p in zip(stats, best, strict=True)}
    total = sum(weights.values())
    weights = {k: v / total for k, v in weights.items()}
    data = {"arms": [{"name": s.name, "exposures": s.exposures, "conversions": s.conversions,
                      "chance_best": p} for s, p in zip(stats, best, strict=True)],
            "floor_percent": policy.floor_percent, "draws": draws, "change": change}
    return weights, data


def as_pairs(weights: Mapping[str, float], arms: Sequence[str]) -> list[tuple[str, float]]:
    return [(a, float(weights.get(a, 0.0))) for a in arms]
