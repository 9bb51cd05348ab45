"""What the recommender reads from the event store, as SQLAlchemy Core: the same SQL on DuckDB and PostgreSQL.

Events count for the canonical customer (a profile merged into another counts as the survivor), as the
analytics queries count them, and only the customers' own (a userId or an anonymousId). Product ids, order
ids and an order's product lines are read as JSON text (``json_path_text``); the lines are parsed in Python,
one JSON array per order.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from touchline.store.dialect import epoch_us, json_path_text
from touchline.store.schema import events, profile_snapshots

VIEWED = "Product Viewed"
ADDED = "Product Added"
ORDERED = "Order Completed"
KINDS = {VIEWED: "view", ADDED: "cart", ORDERED: "purchase"}
CATALOG_FIELDS = ("name", "name_en", "category", "category_en", "brand", "price", "currency", "url", "image_url")

Select = sa.Select[*tuple[Any, ...]]  # a select of any number of columns


def _merged(workspace_id: str) -> sa.Subquery:
    snap = profile_snapshots
    return (
        sa.select(snap.c.profile_id, snap.c.canonical_id)
        .where(snap.c.workspace_id == workspace_id, snap.c.canonical_id != snap.c.profile_id)
        .subquery("merged")
    )


def interactions(workspace_id: str, *, after_seq: int | None = None) -> Select:
    """Rows (customer, seq, event, at_us, product_id, order_id, products): the workspace's product views,
    cart additions and orders (``products``: the order's lines as JSON text), after ``after_seq`` when given,
    in sequence order."""
    merged = _merged(workspace_id)
    props = events.c.properties
    query = (
        sa.select(
            sa.func.coalesce(merged.c.canonical_id, events.c.profile_id).label("customer"),
            events.c.seq, events.c.event, epoch_us(events.c.timestamp).label("at_us"),
            json_path_text(props, "product_id").label("product_id"),
            json_path_text(props, "order_id").label("order_id"),
            sa.case((events.c.event == ORDERED, json_path_text(props, "products"))).label("products"),
        )
        .select_from(events.outerjoin(merged, merged.c.profile_id == events.c.profile_id))
        .where(events.c.workspace_id == workspace_id, events.c.event.in_(list(KINDS)),
               sa.or_(events.c.user_id.is_not(None), events.c.anonymous_id.is_not(None)))
        .order_by(events.c.seq)
    )
    if after_seq is not None:
        query = query.where(events.c.seq > after_seq)
    return query


def catalog(workspace_id: str) -> Select:
    """Per product id: its fields (CATALOG_FIELDS) as its newest view or cart event carried them."""
    props = events.c.properties
    product = json_path_text(props, "product_id")
    latest = (
        sa.select(product.label("product_id"), *(json_path_text(props, f).label(f) for f in CATALOG_FIELDS),
                  sa.func.row_number().over(partition_by=product, order_by=events.c.seq.desc()).label("n"))
        .where(events.c.workspace_id == workspace_id, events.c.event.in_([VIEWED, ADDED]))
        .subquery("latest")
    )
    return (
        sa.select(latest.c.product_id, *(latest.c[f] for f in CATALOG_FIELDS))
        .where(latest.c.n == 1, latest.c.product_id.is_not(None))
    )


def newest_seq(workspace_id: str) -> sa.Select[tuple[Any]]:
    return sa.select(sa.func.max(events.c.seq)).where(events.c.workspace_id == workspace_id)
