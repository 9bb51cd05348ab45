"""Offline evaluation on held-out last orders (no I/O).

For each customer with at least two orders, the last order is held out, together with everything the
customer did from ``gap`` before it (the visit that led to it: what we know the day before, when a win-back
e-mail goes out). Models learn from the rest (every other customer's whole history included) and recommend
``k`` products per held-out customer, under the same rules as in production (an already bought product is
not recommended unless it is a consumable). Measures, averaged over the held-out customers:

- precision@k: the share of the ``k`` recommended products that the customer bought in the held-out order;
- recall@k: the share of the held-out order's products among the ``k`` recommended;
- nDCG@k: hits discounted by their rank (1/log2(rank + 1)), over the best possible ordering.

The baseline is popularity over all customers, under the same rules.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from touchline.personalization.model import Interaction

__all__ = ["Metrics", "Split", "score", "split_last_orders"]

DAY = 86_400.0


@dataclass(frozen=True)
class Split:
    train: list[Interaction]
    held_out: dict[str, set[str]]  # customer -> products of their last order
    cut: dict[str, float]  # customer -> what they did from this time on is left out of training


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    ndcg: float
    customers: int
    k: int

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "ndcg": self.ndcg, "customers": self.customers,
                "k": self.k}

    def ratio(self, other: Metrics) -> dict[str, float | None]:
        """Each measure over ``other``'s (None where that is 0)."""
        return {name: (getattr(self, name) / getattr(other, name) if getattr(other, name) else None)
                for name in ("precision", "recall", "ndcg")}


def split_last_orders(interactions: Iterable[Interaction], *, gap: float = DAY, max_customers: int | None = None,
                      seed: int = 0) -> Split:
    """Hold out each eligible customer's last order (see the module's docstring); with ``max_customers``, a
    random sample of them (the others keep their whole history in training)."""
    rows = list(interactions)
    orders: dict[str, dict[str, float]] = {}  # customer -> order -> time
    for r in rows:
        if r.kind == "purchase":
            key = r.group or f"{r.customer}\x1f{r.at}"
            seen = orders.setdefault(r.customer, {})
            seen[key] = min(seen.get(key, r.at), r.at)
    eligible = sorted(c for c, o in orders.items() if len(o) >= 2)
    if max_customers is not None and len(eligible) > max_customers:
        eligible = sorted(random.Random(seed).sample(eligible, max_customers))
    last: dict[str, tuple[str, float]] = {}
    for c in eligible:
        key, at = max(orders[c].items(), key=lambda kv: (kv[1], kv[0]))
        last[c] = (key, at)
    held: dict[str, set[str]] = {c: set() for c in last}
    cut = {c: at - gap for c, (_key, at) in last.items()}
    train: list[Interaction] = []
    for r in rows:
        held_order = last.get(r.customer)
        if held_order is None:
            train.append(r)
            continue
        if r.kind == "purchase" and (r.group or f"{r.customer}\x1f{r.at}") == held_order[0]:
            held[r.customer].add(r.product)
        elif r.at < cut[r.customer]:
            train.append(r)
    held = {c: products for c, products in held.items() if products}
    return Split(train, held, {c: cut[c] for c in held})


def score(recommend: Callable[[str], Sequence[str]], held_out: Mapping[str, set[str]], k: int = 10) -> Metrics:
    """Precision, recall and nDCG at ``k`` of ``recommend(customer)`` against each held-out order."""
    if not held_out:
        return Metrics(0.0, 0.0, 0.0, 0, k)
    discounts = [1.0 / math.log2(rank + 2) for rank in range(k)]
    precision = recall = ndcg = 0.0
    for customer, relevant in held_out.items():
        recommended = list(recommend(customer))[:k]
        hits = [p in relevant for p in recommended]
        n_hits = sum(hits)
        precision += n_hits / k
        recall += n_hits / len(relevant)
        ideal = sum(discounts[: min(len(relevant), k)])
        ndcg += sum(d for d, hit in zip(discounts, hits, strict=False) if hit) / ideal
    n = len(held_out)
    return Metrics(precision / n, recall / n, ndcg / n, n, k)
