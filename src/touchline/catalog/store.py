"""All the SQL of the catalog (SQLAlchemy Core, state store): products by workspace.

The catalog is the shop's data, not a customer's: nothing here is exported or erased with a customer, so
this domain registers nothing with :mod:`touchline.customers`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import catalog_products

__all__ = [
    "categories", "fingerprint", "insert_new", "page", "product", "products", "rows_by_id", "set_active",
    "update", "update_unless_changed",
]

_c = catalog_products.c


def rows_by_id(conn: Connection, workspace_id: str, ids: Sequence[str], *, lock: bool = False
               ) -> dict[str, dict[str, Any]]:
    """The stored products among ``ids``; ``lock`` holds them for the rest of the transaction (an import:
    what it writes is computed from what it read)."""
    if not ids:
        return {}
    query = sa.select(catalog_products).where(_c.workspace_id == workspace_id,
                                              dialect.in_list(conn, _c.id, sorted(set(ids))))
    if lock:
        query = dialect.lock_rows(conn, query.order_by(_c.id))
    return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def insert_new(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert products unless stored already (another transaction's, just now); the ids inserted."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: r["id"])  # one lock order for every writer
    # One statement for any number of rows (SQLAlchemy batches the executemany itself), compiled once.
    statement = dialect.insert_ignoring_conflicts(conn, catalog_products).returning(_c.id)
    return {str(i) for i in conn.execute(statement, ordered).scalars()}


def update(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write products read under lock (an import): every row has the same keys, with the key columns."""
    dialect.bulk_update(conn, catalog_products, ["workspace_id", "id"], sorted(rows, key=lambda r: r["id"]))


def update_unless_changed(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Write products read without a lock (an event's), each only if nobody changed it since
    (``read_updated_at``): an import committed meanwhile is not overwritten with what the event read
    before it. Returns how many were written."""
    if not rows:
        return 0
    columns = [k for k in rows[0] if k not in ("workspace_id", "id", "read_updated_at")]
    statement = (catalog_products.update()
                 .where(_c.workspace_id == sa.bindparam("_workspace_id"), _c.id == sa.bindparam("_id"),
                        _c.updated_at == sa.bindparam("_read_updated_at"))
                 .values({c: sa.bindparam(c) for c in columns}))
    written = 0
    for row in sorted(rows, key=lambda r: r["id"]):
        params = {c: row[c] for c in columns}
        params.update(_workspace_id=row["workspace_id"], _id=row["id"], _read_updated_at=row["read_updated_at"])
        written += conn.execute(statement, params).rowcount or 0
    return written


def product(conn: Connection, workspace_id: str, product_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(catalog_products).where(_c.workspace_id == workspace_id, _c.id == product_id)
                       ).mappings().first()
    return dict(row) if row else None


def _filtered(query: Any, workspace_id: str, *, category: str | None, text: str | None, active: bool | None) -> Any:
    query = query.where(_c.workspace_id == workspace_id)
    if category is not None:
        query = query.where(_c.category == category)
    if active is not None:
        query = query.where(_c.active == active)
    if text:
        needle = text.lower()
        query = query.where(sa.or_(*(sa.func.lower(col).contains(needle, autoescape=True)
                                     for col in (_c.id, _c.name, _c.name_en))))
    return query


def page(conn: Connection, workspace_id: str, *, category: str | None = None, text: str | None = None,
         active: bool | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Products by name (then id), and how many match in all."""
    query = _filtered(sa.select(catalog_products), workspace_id, category=category, text=text, active=active)
    rows = [dict(r) for r in conn.execute(query.order_by(sa.func.coalesce(_c.name, _c.name_en, _c.id), _c.id)
                                          .limit(limit).offset(offset)).mappings()]
    total = conn.execute(_filtered(sa.select(sa.func.count()).select_from(catalog_products), workspace_id,
                                   category=category, text=text, active=active)).scalar_one()
    return rows, int(total)


def products(conn: Connection, workspace_id: str, *, active: bool = True, limit: int) -> list[dict[str, Any]]:
    """The workspace's (active) products, the most recently changed first, at most ``limit``."""
    query = (sa.select(catalog_products).where(_c.workspace_id == workspace_id, _c.active == active)
             .order_by(_c.updated_at.desc(), _c.id).limit(limit))
    return [dict(r) for r in conn.execute(query).mappings()]


def categories(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    """Each category's slug, a name (Korean and English, when any product gives one) and how many products."""
    query = (sa.select(_c.category, sa.func.max(_c.category_name), sa.func.max(_c.category_name_en), sa.func.count())
             .where(_c.workspace_id == workspace_id, _c.category.is_not(None)).group_by(_c.category)
             .order_by(_c.category))
    return [{"slug": slug, "name": name, "name_en": name_en, "products": int(n)}
            for slug, name, name_en, n in conn.execute(query)]


def fingerprint(conn: Connection, workspace_id: str) -> tuple[Any, ...]:
    """What changes whenever the workspace's catalog does (a product added, changed, deactivated): the
    number of products, of active ones, and the latest change. One aggregate query, so the assistant can
    tell cheaply whether its index is current (another process may write)."""
    active = sa.func.sum(sa.case((_c.active == sa.true(), 1), else_=0))
    row = conn.execute(sa.select(sa.func.count(), active, sa.func.max(_c.updated_at))
                       .where(_c.workspace_id == workspace_id)).one()
    return int(row[0]), int(row[1] or 0), dialect.as_utc_datetime(row[2])


def unavailable(conn: Connection, workspace_id: str) -> frozenset[str]:
    """The products a shopper cannot buy now: deactivated, or with a known stock of zero (or less: a shop's
    oversold count)."""
    query = sa.select(_c.id).where(_c.workspace_id == workspace_id,
                                   sa.or_(_c.active == sa.false(), sa.and_(_c.stock.is_not(None), _c.stock <= 0)))
    return frozenset(conn.execute(query).scalars())


def set_active(conn: Connection, workspace_id: str, product_id: str, active: bool, now: dt.datetime) -> bool:
    result = conn.execute(catalog_products.update()
                          .where(_c.workspace_id == workspace_id, _c.id == product_id, _c.active != active)
                          .values(active=active, updated_at=now))
    return bool(result.rowcount)
