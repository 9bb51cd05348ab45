"""The catalog API (admin token): import products in batches, list and read them, take one off sale."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from touchline.catalog import service
from touchline.catalog.fields import ID_PATTERN, MAX_CATEGORY, MAX_ID, SLUG_PATTERN, slug
from touchline.catalog.schemas import ImportIn
from touchline.errors import PayloadTooLarge, error_body
from touchline.http import JSONBody, admin_principal, errors
from touchline.validation import Offset
from touchline.workspaces.service import Principal

__all__ = ["router"]

_SLUG = re.compile(SLUG_PATTERN)
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # 5,000 products with their attributes


def _limited(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge("request body is larger than 16 MB",
                              {"field": "(body)", "reason": f"limit is {MAX_REQUEST_BYTES} bytes",
                               "size": int(declared)})


router = APIRouter(prefix="/v1/catalog", tags=["catalog"], responses=errors(400, 401, 403, 413, 422),
                   dependencies=[Depends(_limited)])
Admin = Annotated[Principal, Depends(admin_principal)]
ProductId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=f"^{ID_PATTERN}$",
                                description="The product's id (an id holding '/' is sent percent-encoded).")]


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


_IMPORTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Every item stored: `added`, `updated` and `unchanged` count them, `items` gives each "
                         "one's outcome in order."},
    422: {"description": "Some items refused, the others stored: `detail` names each refused item by `index`, "
                         "with its `field` and `reason`; `added`, `updated`, `unchanged` and `items` as for 200. "
                         "Also an invalid body as a whole (no `products` array).",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}},
}


@router.post("/products", response_class=JSONBody, responses=_IMPORTED,
             summary="Import products: upsert by id, each item on its own (idempotent)")
async def import_products(request: Request, principal: Admin, body: ImportIn) -> JSONBody:
    """At most 5,000 products a request. A field an item gives replaces the stored value and is the
    import's from then on (the shop's events no longer change it); a field it leaves out keeps its value,
    which events may fill. The same batch sent again changes nothing (every item `unchanged`)."""
    result = await run_in_threadpool(service.import_products, _stores(request), principal.workspace_id,
                                     body.products)
    answer: dict[str, Any] = {**result.summary(), "items": [i.as_dict() for i in result.items]}
    refused = result.refused
    if not refused:
        return JSONBody(answer)
    detail = [{"index": i.index, "field": p.field, "reason": p.reason} for i in refused for p in i.problems]
    first = detail[0]
    message = (f"{len(refused)} of {len(result.items)} products refused; the others were stored (product "
               f"{first['index']}: {first['field']}: {first['reason']})")
    return JSONBody({**error_body("products_refused", message, detail), **answer}, status_code=422)


@router.get("/products", response_class=JSONBody, summary="The catalog's products, by name, a page at a time")
async def list_products(request: Request, principal: Admin,
                        category: Annotated[str | None, Query(
                            min_length=1, max_length=MAX_CATEGORY, pattern=r"^[^\x00-\x1f\x7f]+$",
                            description="A category's slug (or its name: the slug is made from it).")] = None,
                        q: Annotated[str | None, Query(
                            max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$",
                            description="Text in the id or a name (case-insensitive).")] = None,
                        active: Annotated[bool | None, Query(description="Only products on sale (true) or off "
                                                                         "sale (false).")] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[Offset, Query()] = 0) -> JSONBody:
    wanted = None if category is None else category if _is_slug(category) else (slug(category) or category)
    return JSONBody(await run_in_threadpool(lambda: service.list_products(
        _stores(request), principal.workspace_id, category=wanted, text=q, active=active, limit=limit,
        offset=offset)))


def _is_slug(text: str) -> bool:
    return _SLUG.fullmatch(text) is not None


@router.get("/products/{product_id:path}", response_class=JSONBody, responses=errors(404),
            summary="One product, with where each field came from")
async def get_product(request: Request, principal: Admin, product_id: ProductId) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_product, _stores(request), principal.workspace_id,
                                            product_id))


@router.delete("/products/{product_id:path}", response_class=JSONBody, responses=errors(404),
               summary="Take a product off sale (kept, inactive: the assistant no longer answers about it)")
async def deactivate(request: Request, principal: Admin, product_id: ProductId) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.deactivate, _stores(request), principal.workspace_id,
                                            product_id))
