"""The demo shop's assistant knowledge: the seed FAQ and the demo catalog as the assistant's products.

Stock and sizes are not part of the demo catalog; they are derived here from each product id (a hash),
so they never change between runs: some products and some sizes are sold out, as in a real shop.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from touchline.assistant.knowledge import Knowledge, Product, seed_faq
from touchline.demo.catalog import _TYPES, build_catalog

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
