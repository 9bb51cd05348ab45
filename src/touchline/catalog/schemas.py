"""Request bodies of the catalog API. An import's items are documented one by one (:data:`ITEM_SCHEMA`, the
rules :func:`touchline.catalog.fields.read_item` applies) but read by the service, item by item: one bad
item is refused with its index, field and reason while the good ones beside it are stored, which a
body-wide validation would not allow."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import Field, WithJsonSchema

from touchline.catalog.fields import (
    CURRENCY_PATTERN,
    FREE_TEXT_PATTERN,
    ID_PATTERN,
    KEY_PATTERN,
    MAX_ATTRIBUTE_ITEM_TEXT,
    MAX_ATTRIBUTE_ITEMS,
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_CATEGORY,
    MAX_ID,
    MAX_NAME,
    MAX_PRICE_TEXT,
    MAX_STOCK,
    MAX_URL,
    SLUG_PATTERN,
    TEXT_PATTERN,
    URL_PATTERN,
)
from touchline.catalog.service import MAX_BATCH
from touchline.validation import Body
from touchline.values import MAX_NUMBER

__all__ = ["ID_SCHEMA", "ITEM_SCHEMA", "ImportIn"]


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


ID_SCHEMA: Final[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": MAX_ID,
                                    "pattern": _anchored(ID_PATTERN)}


def _text(limit: int, description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": _anchored(TEXT_PATTERN),
            "description": description}


_URL = {"type": "string", "minLength": 8, "maxLength": MAX_URL, "pattern": _anchored(URL_PATTERN)}
_NUMBER = {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER}
_KEY = {"minLength": 1, "maxLength": MAX_ATTRIBUTE_KEY, "pattern": _anchored(KEY_PATTERN)}
_SHORT = {"type": "string", "maxLength": MAX_ATTRIBUTE_ITEM_TEXT, "pattern": _anchored(FREE_TEXT_PATTERN)}

ITEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "title": "CatalogProductIn",
    "description": "A product. A field left out keeps its stored value (and events may fill it); a field given "
                   "replaces it, and from then on no event changes it.",
    "required": ["id"],
    "additionalProperties": False,
    "properties": {
        "id": {**ID_SCHEMA, "description": "The shop's product id (what its events send as product_id)."},
        "name": _text(MAX_NAME, "The name in the shop's own language (Korean, say)."),
        "name_en": _text(MAX_NAME, "The English name, when the shop has one."),
        "category": _text(MAX_CATEGORY, "The category's display name (니트, Outer / Coats)."),
        "category_slug": {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY,
                          "pattern": _anchored(SLUG_PATTERN),
                          "description": "The category's stable slug; made from its name when absent."},
        "category_en": _text(MAX_CATEGORY, "The category's English name."),
        "price": {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_NUMBER},
                            {"type": "string", "minLength": 1, "maxLength": MAX_PRICE_TEXT}],
                  "description": "In major units (59000 won, 12.5 dollars), or as a shop writes it (\"59,000원\", "
                                 "\"₩59,000\"). Whole for a currency without a minor unit (KRW)."},
        "currency": {"type": "string", "pattern": _anchored(CURRENCY_PATTERN),
                     "description": "ISO 4217; the shop's currency (TOUCHLINE_DEFAULT_CURRENCY) when absent."},
        "stock": {"type": "integer", "minimum": 0, "maximum": MAX_STOCK, "description": "Units in stock."},
        "url": {**_URL, "description": "The product page."},
        "image_url": {**_URL, "description": "The product's picture."},
        "attributes": {
            "type": "object", "maxProperties": MAX_ATTRIBUTES, "propertyNames": _KEY,
            "description": "Anything else (at most 16 KB as JSON): sizes (a list, or stock by size "
                           "{\"S\": 3, \"M\": 0}), colours, material, brand, type (what kind of product it is: "
                           "the assistant matches questions on it) ...",
            "additionalProperties": {"anyOf": [
                {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT, "pattern": _anchored(FREE_TEXT_PATTERN)},
                {"type": "boolean"},
                _NUMBER,
                {"type": "array", "maxItems": MAX_ATTRIBUTE_ITEMS, "items": {"anyOf": [_SHORT, _NUMBER]}},
                {"type": "object", "maxProperties": MAX_ATTRIBUTE_ITEMS, "propertyNames": _KEY,
                 "additionalProperties": {"anyOf": [_SHORT, _NUMBER, {"type": "boolean"}, {"type": "null"}]}},
            ]},
        },
        "active": {"type": "boolean", "description": "false takes the product off sale (the assistant leaves it "
                                                     "out); true brings it back."},
    },
}


class ImportIn(Body):
    products: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH), WithJsonSchema({
        "type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": ITEM_SCHEMA,
        "description": f"At most {MAX_BATCH:,} products, each upserted by its id."})]
