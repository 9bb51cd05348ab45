"""The demo shop's assistant knowledge: the seed FAQ and the demo catalog as the assistant's products.

Stock and sizes are not part of the demo catalog; they are derived here from each product id (a hash),
so they never change between runs: some products and some sizes are sold out, as in a real shop.
``touchline demo`` loads the same products into the workspace's catalog through the catalog's import
(:func:`load_catalog`, what ``POST /v1/catalog/products`` does), and the workspace's assistant answers from
there; :func:`demo_knowledge` builds the same knowledge without a store, for the tests and the bench.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from touchline.assistant.knowledge import Knowledge, Product, seed_faq
from touchline.catalog import service as catalog
from touchline.demo.catalog import _TYPES, CDN_URL, CURRENCY, build_catalog

if TYPE_CHECKING:
    from touchline.store.engines import Stores

_SIZES = {
    "fashion": ("S", "M", "L", "XL"),
    "bottoms": ("26", "27", "28", "29", "30", "32"),
    "shoes": ("230", "240", "250", "260", "270", "280"),
    "kids": ("100", "110", "120", "130"),
}


def _kind_of(category: str, type_en: str) -> str | None:
    if "Sneakers" in type_en or "Running Shoes" in type_en:
        return "shoes"
    if "Pants" in type_en:
        return "bottoms"
    if category == "fashion" and "Bag" not in type_en and "Socks" not in type_en:
        return "fashion"
    if category == "kids" and "Jacket" in type_en:
        return "kids"
    return None


def _stock(product_id: str, salt: str) -> int:
    digest = hashlib.sha256(f"{product_id}:{salt}".encode()).digest()
    n = digest[0] % 12
    return 0 if n < 2 else n  # about one in six sold out


@lru_cache(maxsize=1)
def demo_products() -> tuple[Product, ...]:
    types = {ko: en for group in _TYPES.values() for ko, en, *_ in group}
    out = []
    for p in build_catalog():
        type_ko = next(t for t in types if t in p.name)
        type_en = types[type_ko]
        kind = _kind_of(p.category.slug, type_en)
        options = tuple((size, _stock(p.product_id, size)) for size in _SIZES[kind]) if kind else ()
        stock = sum(n for _, n in options) if options else _stock(p.product_id, "")
        out.append(Product(
            id=p.product_id, name=p.name, name_en=p.name_en, category=p.category.slug,
            category_name=p.category.name, category_name_en=p.category.name_en, price=p.price, stock=stock,
            product_type=type_ko, product_type_en=type_en, brand=p.brand, brand_en=p.brand_en, options=options,
            attributes={"sku": p.sku, "variant": p.variant, "url": p.url},
        ))
    return tuple(out)


def demo_knowledge() -> Knowledge:
    """The seed FAQ of 하루마켓 / Haru Market and its catalog."""
    return Knowledge(faq=seed_faq(), products=demo_products())


def catalog_items() -> list[dict[str, Any]]:
    """The demo catalog as import items, as a shop would send them: the kind, brand and sizes (stock by
    size) in the attributes the assistant reads."""
    items = []
    for source, p in zip(build_catalog(), demo_products(), strict=True):
        attributes: dict[str, Any] = {"type": p.product_type, "type_en": p.product_type_en, "brand": p.brand,
                                      "brand_en": p.brand_en, "sku": source.sku}
        if source.variant:
            attributes["variant"] = source.variant
        if p.options:
            attributes["sizes"] = {size: stock for size, stock in p.options}
        items.append({"id": p.id, "name": p.name, "name_en": p.name_en, "category": p.category_name,
                      "category_slug": p.category, "category_en": p.category_name_en, "price": p.price,
                      "currency": CURRENCY, "stock": p.stock, "url": source.url,
                      "image_url": f"{CDN_URL}/p/{p.id}.jpg", "attributes": attributes})
    return items


def load_catalog(stores: Stores, workspace_id: str) -> catalog.ImportResult:
    """The demo catalog into the workspace's catalog, through the catalog's import (idempotent: a second
    run reports every product unchanged)."""
    return catalog.import_products(stores, workspace_id, catalog_items())
