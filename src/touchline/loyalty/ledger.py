"""The points ledger's arithmetic, over plain data (no I/O): lots, the order spending takes them in, what
expires, and where a reversal takes its points from.

Every earning (and every positive adjustment) is a *lot*: its points, what is left of them
(``remaining``), when they become spendable (``available_at``: pending until then, the return window) and
when what is left of them expires. Every negative movement takes points from lots, and the ledger row
records the sum; so the ledger's sum always equals what is left in the lots, and neither can go below
zero. Spending takes the oldest available lot first (by ``earned_at``, then the order the lots were
written in), so expiry, which takes what is left of the lots whose time came, finds only what spending
did not use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "KINDS", "Lot", "Shortfall", "available", "due_to_expire", "fifo", "pending", "reversal_sources", "spendable",
    "take",
]

KINDS = ("earn", "spend", "expire", "adjust", "reverse")


@dataclass
class Lot:
    """What is left of one earning. ``entry_id`` is the earning's ledger id (0 for one not written yet;
    ``seq`` then orders it among the new ones)."""

    entry_id: int
    points: int
    remaining: int
    earned_at: dt.datetime
    available_at: dt.datetime
    expires_at: dt.datetime | None
    order_id: str | None = None
    seq: int = 0
    changed: bool = False

    def sort_key(self) -> tuple[dt.datetime, int, int]:
        return (self.earned_at, 0 if self.entry_id else 1, self.entry_id or self.seq)

    def spendable(self, now: dt.datetime) -> bool:
        return self.remaining > 0 and self.available_at <= now and (self.expires_at is None or self.expires_at > now)


class Shortfall(Exception):
    """Fewer points than asked for: ``have`` could be taken."""

    def __init__(self, wanted: int, have: int) -> None:
        super().__init__(f"{wanted} points wanted, {have} available")
        self.wanted = wanted
        self.have = have


def fifo(lots: Iterable[Lot]) -> list[Lot]:
    """Oldest first: by when the points were earned, then in the order they were written."""
    return sorted(lots, key=Lot.sort_key)


def spendable(lots: Iterable[Lot], now: dt.datetime) -> list[Lot]:
    """The lots a spend may take from at ``now``, oldest first (not pending, not expired, not empty)."""
    return fifo(lot for lot in lots if lot.spendable(now))


def available(lots: Iterable[Lot], now: dt.datetime) -> int:
    return sum(lot.remaining for lot in lots if lot.spendable(now))


def pending(lots: Iterable[Lot], now: dt.datetime) -> int:
    """Points not spendable yet (inside the return window), not expired."""
    return sum(lot.remaining for lot in lots
               if lot.remaining > 0 and lot.available_at > now and (lot.expires_at is None or lot.expires_at > now))


def due_to_expire(lots: Iterable[Lot], now: dt.datetime) -> list[Lot]:
    """Lots whose time came with something left, oldest first: expiry takes what is left of each."""
    return fifo(lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= now)


def take(ordered: Sequence[Lot], points: int, *, partial: bool = False) -> list[tuple[Lot, int]]:
    """Take ``points`` from ``ordered`` lots, in order; each lot's ``remaining`` goes down by what was
    taken. Raises :class:`Shortfall` (having taken nothing) when they hold fewer, unless ``partial``:
    then takes what there is."""
    if points < 0:
        raise ValueError("points to take must not be negative")
    have = sum(lot.remaining for lot in ordered)
    if have < points and not partial:
        raise Shortfall(points, have)
    taken: list[tuple[Lot, int]] = []
    left = points
    for lot in ordered:
        if left <= 0:
            break
        n = min(lot.remaining, left)
        if n <= 0:
            continue
        lot.remaining -= n
        lot.changed = True
        left -= n
        taken.append((lot, n))
    return taken


def reversal_sources(lots: Iterable[Lot], order_id: str | None, now: dt.datetime) -> list[Lot]:
    """Where a refund's reversal takes the points the order earned: first what is left of the order's own
    lots (pending ones included: a refund inside the return window cancels them), then the customer's
    other spendable points, oldest first, then their other pending points. What even these do not hold is
    owed (paid from the next earnings), so the balance never goes below zero."""
    own = fifo(lot for lot in lots if lot.remaining > 0 and order_id is not None and lot.order_id == order_id)
    mine = {id(lot) for lot in own}
    rest = [lot for lot in lots if id(lot) not in mine and lot.remaining > 0
            and (lot.expires_at is None or lot.expires_at > now)]
    spendable_now = fifo(lot for lot in rest if lot.available_at <= now)
    return own + spendable_now + fifo(lot for lot in rest if lot.available_at > now)
