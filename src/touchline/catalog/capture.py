"""The catalog learns products from the shop's own events (an event-log subscriber, wired by
:mod:`touchline.platform`): ``Product Viewed``, ``Product Clicked`` and ``Product Added`` name one product
in their properties; ``Product List Viewed``, ``Product List Filtered``, ``Cart Viewed``, ``Checkout
Started`` and ``Order Completed`` list theirs in ``products``. What they say of a product (name, category,
price and currency, url, image_url, and the shop's own ``name_en``, ``category_en``, ``stock``) fills the
catalog, under :func:`touchline.catalog.fields.merge`'s precedence: an import's value always stands.

Runs inside the ingesting transaction, so it is cheap and never fails on what an event says (a field it
cannot read is left out). A product is written only when something changed, and only if nobody changed it
since it was read (an import committing meanwhile wins; a later event says it again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy.engine import Connection

from touchline.catalog import store
from touchline.catalog.fields import EVENT_KEYS, Reading, merge, read_event
from touchline.eventlog import LoggedEvent

__all__ = ["LIST_EVENTS", "PRODUCT_EVENTS", "capture"]

PRODUCT_EVENTS: Final = frozenset({"Product Viewed", "Product Clicked", "Product Added"})
LIST_EVENTS: Final = frozenset({"Product List Viewed", "Product List Filtered", "Cart Viewed", "Checkout Started",
                                "Order Completed"})
MAX_LINES: Final = 200  # products of one event read (a list page shows dozens; an order has fewer)
# What a product said in an event reads as, kept across batches: a shop's events repeat the same few thousand
# products with the same values, and reading one (patterns, amounts, slugs) costs more than looking it up.
# Readings are never changed once made; the cache starts again when full.
_READINGS: dict[Hashable, Reading | None] = {}
MAX_READINGS: Final = 20_000


def _mentions(event: LoggedEvent) -> list[tuple[Mapping[str, Any], Any]]:
    """(product, the event's currency) for every product the event names."""
    properties = event.properties if isinstance(event.properties, Mapping) else {}
    if event.event in PRODUCT_EVENTS:
        return [(properties, None)]
    products = properties.get("products")
    if not isinstance(products, list):
        return []
    currency = properties.get("currency")
    return [(p, currency) for p in products[:MAX_LINES] if isinstance(p, Mapping)]


def _key(product: Mapping[str, Any], currency: Any) -> Hashable | None:
    """What a reading depends on, when hashable: the same product said again in a batch is read once."""
    key = (product.get("product_id"), product.get("sku"), currency, *(product.get(k) for k in EVENT_KEYS))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def capture(conn: Connection, workspace_id: str, events: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Fill the catalog from the products ``events`` name. Returns 0: nothing is queued for anyone."""
    said: dict[str, dict[int, tuple[Reading, dt.datetime]]] = {}  # product id -> reading id -> (reading, newest)
    readings = _READINGS
    if len(readings) > MAX_READINGS:
        readings.clear()
    for event in events:
        if event.type != "track" or (event.event not in PRODUCT_EVENTS and event.event not in LIST_EVENTS):
            continue
        at = min(event.timestamp, received_at)  # a clock ahead of ours says nothing about the future
        for product, currency in _mentions(event):
            key = _key(product, currency)
            if key is None or key not in readings:
                reading = read_event(product, event_currency=currency)
                if key is not None:
                    readings[key] = reading
            else:
                reading = readings[key]
            if reading is None or not reading.values:
                continue
            mentions = said.setdefault(reading.id or "", {})
            known = mentions.get(id(reading))
            if known is None or at > known[1]:
                mentions[id(reading)] = (reading, at)
    if not said:
        return 0
    current = store.rows_by_id(conn, workspace_id, list(said))
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for product_id, mentions in said.items():
        row = current.get(product_id)
        merged = merge(row, sorted(mentions.values(), key=lambda m: m[1]), source="events")
        if merged is None:
            continue
        if row is None:
            added.append({"workspace_id": workspace_id, "id": product_id, **merged, "created_at": received_at,
                          "updated_at": received_at})
        else:
            changed.append({"workspace_id": workspace_id, "id": product_id, **merged, "updated_at": received_at,
                            "read_updated_at": row["updated_at"]})
    store.insert_new(conn, added)  # one another transaction stored meanwhile is left as it is
    store.update_unless_changed(conn, changed)
    return 0
