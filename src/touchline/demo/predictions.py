"""The demo shop's predictions: purchase propensity and churn risk trained on its history, and the churn
score behind the win-back journey's "At risk" segment.

:func:`train_demo_predictions` trains both models as of the demo's moment (``touchline.predictions``, as
``touchline predict`` does) and returns lines to print. :data:`WIN_BACK` is the segment the demo's win-back
journey starts from: customers who ordered at least twice and either have not ordered in 60 days (what
the shop could see without a model) or whom the churn model scores at 0.7 or more and who have not ordered
in 21 days (the model finds them a month and more earlier, while a coupon still brings them back).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from touchline.predictions import report, service

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["CHURN_THRESHOLD", "WIN_BACK", "train_demo_predictions"]

CHURN_THRESHOLD = 0.7

WIN_BACK: dict[str, Any] = {
    "type": "and",
    "children": [
        {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 2}},
        {"type": "or", "children": [
            {"type": "not", "child": {"type": "event", "event": "Order Completed", "within_days": 60}},
            {"type": "and", "children": [
                {"type": "trait", "trait": "churn_risk", "operator": ">", "value": CHURN_THRESHOLD},
                {"type": "not", "child": {"type": "event", "event": "Order Completed", "within_days": 21}},
            ]},
        ]},
    ],
}
WIN_BACK_DESCRIPTION = ("Ordered at least twice, and not in the last 60 days, or not in 21 days with a churn risk "
                        f"above {CHURN_THRESHOLD} (the win-back journey's trigger).")


def train_demo_predictions(stores: Stores, workspace_id: str, *, now: dt.datetime) -> list[str]:
    """Train both predictions as of ``now`` on what the stores hold, write every customer's scores as traits,
    and say how good each model is (or why it could not be trained), a line each, then how many customers
    the churn score puts at risk."""
    stores.pump()  # what was ingested reaches the event store, where the features are computed
    models = service.train(stores, workspace_id, now=now)
    lines = report.lines(models)
    churn = next((m for m in models if m["kind"] == "churn" and m["status"] == "trained"), None)
    if churn is not None:
        scored = churn.get("scores") or {}
        lines.append(f"The win-back segment also takes buyers whose churn risk is above {CHURN_THRESHOLD} "
                     f"(mean churn risk {scored.get('mean') or 0:.2f} over {churn['scored']:,} buyers); "
                     "dashboard: /predictions.")
    return lines
