"""The catalog's rules: importing products (the API, the ``touchline catalog import`` command and the demo
all come here), reading them back, deactivating one. No SQL here (``store``), no commit outside the
``with stores.write()`` blocks of the entry points.

An import is a batch of at most :data:`MAX_BATCH` items, each read on its own
(:func:`touchline.catalog.fields.read_item`): a bad item is refused with its index, field and reason and the
good ones beside it are stored, in one transaction. Upsert by id, idempotent: a field the item gives
replaces the stored one (and is the import's from then on: events no longer change it), a field it leaves
out stays as it was; the same batch again changes nothing and reports every item ``unchanged``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from touchline.catalog import store
from touchline.catalog.fields import Problem, Reading, merge, read_item
from touchline.errors import NotFound, ValidationFailed, field_error

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "MAX_BATCH", "ImportResult", "ItemResult", "categories", "deactivate", "get_product", "import_products",
    "list_products", "view",
]

MAX_BATCH = 5_000
Outcome = Literal["added", "updated", "unchanged", "refused"]


@dataclass(frozen=True, slots=True)
class ItemResult:
    index: int
    id: str | None
    result: Outcome
    problems: tuple[Problem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "id": self.id, "result": self.result}
        if self.problems:
            out["problems"] = [{"field": p.field, "reason": p.reason} for p in self.problems]
        return out


@dataclass
class ImportResult:
    items: list[ItemResult] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for i in self.items if i.result == outcome)

    @property
    def refused(self) -> list[ItemResult]:
        return [i for i in self.items if i.result == "refused"]

    def summary(self) -> dict[str, int]:
        return {outcome: self.count(outcome) for outcome in ("added", "updated", "unchanged", "refused")}


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def import_products(stores: Stores, workspace_id: str, items: Sequence[Any], *,
                    now: dt.datetime | None = None) -> ImportResult:
    """Upsert ``items`` (import items: ``{"id", "name", "price", ...}``) into the workspace's catalog; every
    item's outcome, in order."""
    if len(items) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH:,} products a batch",
                               field_error("products", f"at most {MAX_BATCH} items"))
    now = _now(now)
    shop_currency = stores.settings.default_currency
    outcomes: dict[int, ItemResult] = {}
    good: dict[str, tuple[int, Reading]] = {}
    for index, item in enumerate(items):
        reading = read_item(item, shop_currency=shop_currency)
        if reading.problems or reading.id is None:
            outcomes[index] = ItemResult(index, reading.id, "refused", tuple(reading.problems))
        elif reading.id in good:
            first = good[reading.id][0]
            outcomes[index] = ItemResult(index, reading.id, "refused",
                                         (Problem("id", f"the same id as item {first} of this batch"),))
        else:
            good[reading.id] = (index, reading)
    if good:
        with stores.write() as conn:
            for product_id, outcome in _write(conn, workspace_id, good, now).items():
                index = good[product_id][0]
                outcomes[index] = ItemResult(index, product_id, outcome)
    return ImportResult([outcomes[i] for i in range(len(items))])


def _write(conn: Any, workspace_id: str, good: Mapping[str, tuple[int, Reading]], now: dt.datetime
           ) -> dict[str, Outcome]:
    current = store.rows_by_id(conn, workspace_id, list(good), lock=True)
    outcomes: dict[str, Outcome] = {}
    added: list[dict[str, Any]] = []
    for product_id, (_, reading) in good.items():
        if product_id not in current:
            merged = merge(None, [(reading, now)], source="import")
            assert merged is not None
            added.append({"workspace_id": workspace_id, "id": product_id, **merged, "created_at": now,
                          "updated_at": now})
    inserted = store.insert_new(conn, added)
    outcomes.update(dict.fromkeys(inserted, "added"))
    raced = [row["id"] for row in added if row["id"] not in inserted]  # stored by another transaction just now
    if raced:
        current.update(store.rows_by_id(conn, workspace_id, raced, lock=True))
    changed: list[dict[str, Any]] = []
    for product_id, (_, reading) in good.items():
        if product_id in outcomes:
            continue
        merged = merge(current[product_id], [(reading, now)], source="import")
        if merged is None:
            outcomes[product_id] = "unchanged"
            continue
        outcomes[product_id] = "updated"
        changed.append({"workspace_id": workspace_id, "id": product_id, **merged, "updated_at": now})
    store.update(conn, changed)
    return outcomes


# --- reading ---------------------------------------------------------------------------------------------


def _number(value: float | int | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def view(row: Mapping[str, Any], shop_currency: str) -> dict[str, Any]:
    """A product as the API shows it: the category as slug and names, the price in major units with its
    currency (the shop's when it came without one), and where each field came from."""
    category = None
    if row["category"] is not None:
        category = {"slug": row["category"], "name": row["category_name"], "name_en": row["category_name_en"]}
    price = _number(row["price"])
    return {
        "id": row["id"], "name": row["name"], "name_en": row["name_en"], "category": category,
        "price": price, "currency": (row["currency"] or shop_currency) if price is not None else None,
        "stock": row["stock"], "url": row["url"], "image_url": row["image_url"],
        "attributes": dict(row["attributes"] or {}), "active": bool(row["active"]),
        "sources": {k: v for k, v in (row["sources"] or {}).items()},
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _found(row: Mapping[str, Any] | None, product_id: str) -> Mapping[str, Any]:
    if row is None:
        raise NotFound(f"no product {product_id!r} in the catalog", field_error("product_id", "unknown product"))
    return row


def get_product(stores: Stores, workspace_id: str, product_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = _found(store.product(conn, workspace_id, product_id), product_id)
    return view(row, stores.settings.default_currency)


def list_products(stores: Stores, workspace_id: str, *, category: str | None = None, text: str | None = None,
                  active: bool | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """A page of products (by name) with how many match in all."""
    with stores.read() as conn:
        rows, total = store.page(conn, workspace_id, category=category, text=(text or "").strip() or None,
                                 active=active, limit=limit, offset=offset)
    currency = stores.settings.default_currency
    return {"products": [view(r, currency) for r in rows], "total": total, "limit": limit, "offset": offset}


def categories(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return store.categories(conn, workspace_id)


def deactivate(stores: Stores, workspace_id: str, product_id: str, *, now: dt.datetime | None = None
               ) -> dict[str, Any]:
    """Take a product out of what the shop sells: kept (its events still name it) but no longer answered
    about; an import with ``"active": true`` brings it back."""
    with stores.write() as conn:
        _found(store.product(conn, workspace_id, product_id), product_id)
        store.set_active(conn, workspace_id, product_id, False, _now(now))
        row = store.product(conn, workspace_id, product_id)
    return view(_found(row, product_id), stores.settings.default_currency)

