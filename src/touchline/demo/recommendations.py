"""The demo shop's recommendations: its rules (food and beauty are bought again and again; two products out of
stock) and a model trained on its history, so that the win-back e-mail carries "for you" products and the
dashboard's recommendations page has figures."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from touchline.demo import catalog as cat
from touchline.personalization import service

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["CONSUMABLE_CATEGORIES", "OUT_OF_STOCK", "train_demo"]

CONSUMABLE_CATEGORIES = tuple(c.name for c in cat.CATEGORIES if c.slug in ("food", "beauty"))


def _out_of_stock() -> tuple[str, ...]:
    """The best seller of home and of kids: sold out, so the rule shows (they never appear)."""
    by_category = cat.products_by_category()
    return tuple(max(by_category[slug], key=lambda p: (p.popularity, p.product_id)).product_id
                 for slug in ("home", "kids"))


OUT_OF_STOCK = _out_of_stock()


def train_demo(stores: Stores, workspace_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Set the demo shop's rules and train its model (the algorithms evaluated on held-out last orders, the
    best kept); returns the model's summary. A few seconds at the demo's default size."""
    service.save_rules(stores, workspace_id, {"consumable_categories": list(CONSUMABLE_CATEGORIES),
                                              "out_of_stock": list(OUT_OF_STOCK)}, now=now)
    return service.train(stores, workspace_id, now=now)
