"""How well can churn be foretold on the demo generator's data at all? (Issue 17: the churn model's AUC target.)

The generator's people are simulated directly (``touchline.demo.generator``, no ingestion, so hundreds of
thousands in minutes), each person's own events taken with perfect identity. At the cutoff the predictions'
backtest uses for churn (``now - 60 days`` of a 90-day shop), buyers get features from their events before it
(tenure, recency, orders, days since the first and last order, carts and carts not ordered, store visits and
store orders, chats, sessions, product views, events, sessions per day) and the label "no order in the 60 days
after". Gradient-boosted trees are trained on half of the buyers and tested on the other half: with enough
people, training-set size is no longer the limit, so the AUC approaches what these observations allow.

    python bench/predictions_ceiling.py                   # 250,000 people (about 3 minutes)
    python bench/predictions_ceiling.py --people 20000    # about the bench's training size
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import time
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from touchline.demo.generator import Simulation, _Person

DAY = 86_400.0
NAMES = ("tenure", "recency", "orders", "days_since_order", "days_since_first_order", "carts", "carts_not_ordered",
         "store_visits", "store_orders", "chats", "sessions", "views", "events", "sessions_per_day")


def features(messages: list[tuple[float, dict[str, Any]]], cutoff: float, now: float) -> tuple[list[float], int] | None:
    """A buyer's features before ``cutoff`` and the label (1: no order in ``[cutoff, now)``); None for others."""
    events = [(t, m.get("event") or m["type"], m) for t, m in messages]
    before = [e for e in events if e[0] < cutoff]
    orders = [t for t, name, _ in before if name == "Order Completed"]
    if not orders:
        return None
    ordered_later = any(name == "Order Completed" and cutoff <= t < now for t, name, _ in events)
    first, last = before[0][0], before[-1][0]
    carts = {m["properties"]["cart_id"] for _, name, m in before if name == "Product Added"}
    ordered = {m["properties"].get("cart_id") for _, name, m in before if name == "Order Completed"}
    times = [t for t, _, _ in before]
    sessions = 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 1_800)  # 30-minute gaps
    tenure = (cutoff - first) / DAY
    row = [
        tenure, (cutoff - last) / DAY, len(orders), (cutoff - orders[-1]) / DAY, (cutoff - orders[0]) / DAY,
        len(carts), len(carts - ordered),
        sum(name == "Store Visited" for _, name, _ in before),
        sum(name == "Order Completed" and m["context"].get("channel") == "store" for _, name, m in before),
        sum(name == "Chat Started" for _, name, _ in before), sessions,
        sum(name == "Product Viewed" for _, name, _ in before), len(before), sessions / max(tenure, 1.0),
    ]
    return [float(v) for v in row], int(not ordered_later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=250_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--horizon", type=int, default=60, help="churn horizon in days (the cutoff is now - this)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    cutoff = now.timestamp() - args.horizon * DAY
    started = time.perf_counter()
    sim = Simulation(customers=args.people, seed=args.seed, days=args.days, now=now)
    x, y = [], []
    for idx in range(args.people):
        found = features(_Person(sim, idx).run(), cutoff, now.timestamp())
        if found is not None:
            x.append(found[0])
            y.append(found[1])
    xs, ys = np.array(x), np.array(y)
    print(f"{args.people:,} people, {len(ys):,} buyers at the cutoff, churn rate {ys.mean():.3f} "
          f"({time.perf_counter() - started:.0f} s)")
    half = len(ys) // 2
    for label, columns in (("recency, tenure, orders and their ages", [0, 1, 2, 3, 4]),
                           ("all of " + ", ".join(NAMES), list(range(len(NAMES))))):
        model = HistGradientBoostingClassifier(max_leaf_nodes=15, learning_rate=0.05, max_iter=300,
                                               min_samples_leaf=40, random_state=0)
        model.fit(xs[:half][:, columns], ys[:half])
        auc = roc_auc_score(ys[half:], model.predict_proba(xs[half:][:, columns])[:, 1])
        print(f"  trained on {half:,} buyers, tested on {len(ys) - half:,}: AUC {auc:.3f} ({label})")


if __name__ == "__main__":
    main()
