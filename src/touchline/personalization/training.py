"""Training (no I/O): evaluate each candidate algorithm on held-out last orders, keep the one that does best,
fit it on everything.

Co-occurrence is the default. A collaborative model from ``implicit`` (ALS, item-kNN) replaces it only where
it beats co-occurrence on nDCG@k, the measure that weighs both what is found and where it is ranked; all
figures, popularity's included, are kept in the model's ``meta["evaluation"]`` for the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from touchline.personalization import evaluate
from touchline.personalization.model import Indexed, Interaction, Model, Rules, build, index, recommend

__all__ = ["ALGORITHMS", "Evaluation", "choose", "evaluate_algorithms", "fit", "train"]

ALGORITHMS = ("cooccurrence", "item_knn", "als")
BASELINE = "popularity"
# How much the customer's own history counts beside the model's neighbours (Model.repeat), tried on a
# validation split (each held-out customer's last order but one) before the test on their last orders.
REPEATS = (0.0, 0.5, 2.0, 8.0)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, evaluate.Metrics]  # algorithm -> figures (the baseline under "popularity")
    seconds: dict[str, float]  # algorithm -> time to fit on the training part
    held_out: int  # customers whose last order was held out
    repeats: dict[str, float]  # algorithm -> the weight of the customer's own history, chosen on validation

    def as_dict(self) -> dict[str, Any]:
        base = self.metrics.get(BASELINE)
        return {
            "held_out_customers": self.held_out,
            "algorithms": {name: {**m.as_dict(), "fit_seconds": round(self.seconds.get(name, 0.0), 3),
                                  "repeat": self.repeats.get(name),
                                  "vs_popularity": m.ratio(base) if base else None}
                           for name, m in self.metrics.items()},
        }


def fit(data: Indexed, products: Mapping[str, Mapping[str, Any]], algorithm: str, *, repeat: float = 1.0,
        segments: Mapping[str, Sequence[str]] | None = None, meta: Mapping[str, Any] | None = None,
        item_to_item: bool = True) -> Model:
    """``algorithm`` fitted on indexed interactions (``item_to_item``: with the bought-together and
    viewed-together lists, which the evaluation does not need)."""
    options: dict[str, Any] = {"repeat": repeat, "segments": segments, "meta": meta, "item_to_item": item_to_item}
    if algorithm == "als":
        from touchline.personalization.collaborative import AlsParams, fit_als

        params = AlsParams()
        return build(data, products, algorithm="als", factors=fit_als(data.weights, params),
                     regularization=params.regularization, alpha=params.alpha, **options)
    if algorithm == "item_knn":
        from touchline.personalization.collaborative import fit_item_knn

        return build(data, products, algorithm="item_knn", neighbours=fit_item_knn(data.weights), **options)
    return build(data, products, algorithm=algorithm, **options)


def evaluate_algorithms(interactions: Sequence[Interaction], products: Mapping[str, Mapping[str, Any]], rules: Rules,
                        *, algorithms: Sequence[str] = ALGORITHMS, k: int = 10, max_customers: int | None = 2_000,
                        gap: float = evaluate.DAY, seed: int = 0,
                        progress: Callable[[str], None] | None = None) -> Evaluation:
    """Each algorithm (and the popularity baseline) fitted on the training part of a held-out split and
    scored on the held-out last orders; each algorithm's ``repeat`` chosen first on a validation split of
    the training part (the same customers' last order but one)."""
    split = evaluate.split_last_orders(interactions, gap=gap, max_customers=max_customers, seed=seed)
    if not split.held_out:  # nobody has ordered twice yet: nothing to evaluate on (co-occurrence is kept)
        return Evaluation({}, {}, 0, {})
    validation = evaluate.split_last_orders(split.train, gap=gap, max_customers=max_customers, seed=seed)
    catalog = list(products)
    data = index(split.train, items=catalog)
    validation_data = index(validation.train, items=catalog) if len(REPEATS) > 1 else None
    metrics: dict[str, evaluate.Metrics] = {}
    seconds: dict[str, float] = {}
    repeats: dict[str, float] = {}

    def scored(model: Model, held_out: Mapping[str, set[str]], baseline: bool) -> evaluate.Metrics:
        blocked, consumable = model.blocked(rules), model.consumable(rules)

        def recommended(customer: str) -> list[str]:
            history, bought = model.customer_history(customer)
            picks = recommend(model, {} if baseline else history, bought, k, rules, blocked=blocked,
                              consumable=consumable)
            return [p.product_id for p in picks]

        return evaluate.score(recommended, held_out, k)

    for name in (BASELINE, *algorithms):
        repeat = 1.0
        if name != BASELINE and validation_data is not None and validation.held_out:
            tuning = fit(validation_data, products, name, item_to_item=False)
            tried = {}
            for r in REPEATS:
                tuning.repeat = r
                tried[r] = scored(tuning, validation.held_out, False).ndcg
            repeat = max(REPEATS, key=lambda r: (tried[r], -r))
        started = time.perf_counter()
        model = fit(data, products, name, repeat=repeat, item_to_item=False)
        seconds[name] = time.perf_counter() - started
        repeats[name] = repeat
        metrics[name] = scored(model, split.held_out, name == BASELINE)
        if progress:
            progress(f"{name}: nDCG@{k} {metrics[name].ndcg:.4f} (repeat {repeat}, fitted in {seconds[name]:.1f} s)")
    return Evaluation(metrics, seconds, len(split.held_out), repeats)


def choose(evaluation: Evaluation, default: str = "cooccurrence") -> str:
    """Co-occurrence, unless a collaborative model beats it on nDCG (then the best of those that do)."""
    best = default
    best_ndcg = evaluation.metrics[default].ndcg if default in evaluation.metrics else -1.0
    for name, m in evaluation.metrics.items():
        if name not in (BASELINE, default) and m.ndcg > best_ndcg:
            best, best_ndcg = name, m.ndcg
    return best


def train(interactions: Sequence[Interaction], products: Mapping[str, Mapping[str, Any]], rules: Rules, *,
          segments: Mapping[str, Sequence[str]] | None = None, algorithms: Sequence[str] = ALGORITHMS,
          evaluate_first: bool = True, max_customers: int | None = 2_000, meta: Mapping[str, Any] | None = None,
          progress: Callable[[str], None] | None = None) -> Model:
    """The model to serve: the algorithms evaluated (unless ``evaluate_first`` is false or only one is
    named), the chosen one fitted on every interaction."""
    started = time.perf_counter()
    evaluation = None
    chosen = algorithms[0] if algorithms else "cooccurrence"
    if evaluate_first and len(algorithms) > 1:
        evaluation = evaluate_algorithms(interactions, products, rules, algorithms=algorithms,
                                         max_customers=max_customers, progress=progress)
        chosen = choose(evaluation)
    evaluated = time.perf_counter()
    data = index(interactions, items=list(products))
    repeat = evaluation.repeats.get(chosen, 1.0) if evaluation else 1.0
    model = fit(data, products, chosen, repeat=repeat, segments=segments, meta=meta)
    model.meta.update({
        "evaluation": evaluation.as_dict() if evaluation else None,
        "evaluate_seconds": round(evaluated - started, 3),
        "fit_seconds": round(time.perf_counter() - evaluated, 3),
    })
    return model
