"""Deterministic, sticky assignment: the same experiment and customer give the same arm on every channel,
every machine and after a restart (a hash, not a random draw), so a split can be reproduced.

The holdout is decided by a hash of its own (``holdout``, experiment, customer), so it stays fixed while a
bandit moves the arms' weights; the arm by another. Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["HOLDOUT", "Plan", "assign", "pick", "unit"]

HOLDOUT = "holdout"  # the name of the holdout group; no arm may take it


def unit(*parts: str) -> float:
    """A stable number in [0, 1) from ``parts`` (BLAKE2b: the same on every machine and every Python)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


_PREFIXES: dict[tuple[str, ...], Any] = {}  # the hash state after "part\x1fpart\x1f", per experiment


def _unit_of(prefix: tuple[str, ...], last: str) -> float:
    """``unit(*prefix, last)``, continuing the prefix's hash state (taken once) instead of hashing it again."""
    state = _PREFIXES.get(prefix)
    if state is None:
        if len(_PREFIXES) > 10_000:
            _PREFIXES.clear()
        state = _PREFIXES[prefix] = hashlib.blake2b("".join(p + "\x1f" for p in prefix).encode(), digest_size=8)
    h = state.copy()
    h.update(last.encode())
    return int.from_bytes(h.digest(), "big") / 2**64


@functools.lru_cache(maxsize=4096)
def _edges(weights: tuple[tuple[str, float], ...]) -> tuple[tuple[float, str], ...]:
    total = sum(w for _, w in weights if w > 0)
    if total <= 0:
        raise ValueError("no arm has a weight")
    running = 0.0
    out = []
    for name, w in weights:
        if w > 0:
            running += w
            out.append((running / total, name))
    return tuple(out)


def pick(weights: Sequence[tuple[str, float]], point: float) -> str:
    """The arm whose share of the total weight holds ``point`` in [0, 1); arms of weight 0 never, the last
    arm with a weight absorbs rounding at the top."""
    edges = _edges(tuple((str(n), float(w)) for n, w in weights))
    for edge, name in edges:
        if point < edge:
            return name
    return edges[-1][1]


def assign(experiment: str, customer: str, weights: Sequence[tuple[str, float]], holdout_percent: float = 0.0) -> str:
    """The customer's arm (or ``HOLDOUT``) in ``experiment``; ``weights`` in any scale. The same as
    ``unit(HOLDOUT, experiment, customer) * 100 < holdout_percent`` for the holdout, else
    ``pick(weights, unit(experiment, customer))``."""
    if holdout_percent > 0 and _unit_of((HOLDOUT, experiment), customer) * 100 < holdout_percent:
        return HOLDOUT
    edges = _edges(weights if isinstance(weights, tuple) else tuple(weights))
    point = _unit_of((experiment,), customer)
    for edge, name in edges:
        if point < edge:
            return name
    return edges[-1][1]


@dataclass(frozen=True)
class Plan:
    """What assignment needs of an experiment: its status, arms with their current weights, holdout and
    winner. By status: ``running``, the customer's recorded arm or a new sticky one (to record);
    ``completed`` (a winner declared), the winner for everyone; ``draft`` and ``stopped``, the control for
    everyone, recording nothing."""

    id: str
    status: str
    control: str
    arms: tuple[tuple[str, float], ...]
    holdout_percent: float = 0.0
    winner: str | None = None

    def choose(self, customer: str, existing: str | None) -> tuple[str, bool]:
        """The customer's arm (or ``HOLDOUT``) and whether it is a new exposure to record."""
        if self.status == "completed" and self.winner:
            return self.winner, False
        if self.status != "running":
            return self.control, False
        if existing is not None:
            return existing, False
        return assign(self.id, customer, self.arms, self.holdout_percent), True
