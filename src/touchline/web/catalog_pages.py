"""The dashboard's catalog page (issue 15): the shop's products, searched by name or id and filtered by
category, each with its price, stock and attributes, and where each field came from (an import, or the
shop's own events); in Korean and English. Everyone who answers customers reads it (agents too)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.catalog import service as catalog
from touchline.catalog.fields import FIELDS
from touchline.http import bounded_int
from touchline.web.http import page, render, services, viewer

__all__: list[str] = []

BASE = "/catalog"
PAGE = 50
SEARCH_MAX_CHARS = 200


def _clean(value: str | None, limit: int) -> str:
    return "".join(ch for ch in (value or "") if ch >= " " and ch != "\x7f").strip()[:limit]


def _by_source(sources: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(source, its fields in the catalog's order): the import's first."""
    grouped: dict[str, list[str]] = {}
    for name in FIELDS:
        if name in sources:
            grouped.setdefault(sources[name], []).append(name)
    return sorted(grouped.items(), key=lambda kv: (kv[0] != "import", kv[0]))


@page(BASE, permission="catalog.view", nav="nav.catalog", nav_after="nav.faq")
async def catalog_page(request: Request) -> Response:
    params = request.query_params
    q = _clean(params.get("q"), SEARCH_MAX_CHARS)
    category = _clean(params.get("category"), 100)
    offset = bounded_int(params.get("offset"), 0, 0, 1_000_000)
    stores, workspace_id = services(request).stores, viewer(request).workspace_id

    def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return (catalog.list_products(stores, workspace_id, category=category or None, text=q or None, limit=PAGE,
                                      offset=offset),
                catalog.categories(stores, workspace_id))

    found, categories = await run_in_threadpool(read)
    for product in found["products"]:
        product["by_source"] = _by_source(product["sources"])

    def page_url(at: int) -> str:
        query = [*([("q", q)] if q else []), *([("category", category)] if category else []),
                 *([("offset", str(at))] if at else [])]
        return BASE + ("?" + urlencode(query) if query else "")

    shown = len(found["products"])
    return render(request, "catalog.html", q=q, category=category, categories=categories, products=found["products"],
                  total=found["total"], offset=offset, search_max=SEARCH_MAX_CHARS,
                  previous=page_url(max(offset - PAGE, 0)) if offset > 0 else None,
                  next=page_url(offset + PAGE) if offset + shown < found["total"] else None)
