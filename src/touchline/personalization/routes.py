"""Recommendations over HTTP: the shop's pages and apps ask with the write key (``GET /v1/recommendations``);
the shop's server and the dashboard train, read the model's figures and set the rules with an admin token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from touchline.errors import NotFound
from touchline.http import JSONBody, admin_principal, errors, verify_customer, write_principal
from touchline.personalization import service
from touchline.workspaces.service import Principal

router = APIRouter(tags=["recommendations"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]
Writer = Annotated[Principal, Depends(write_principal)]

Name = Annotated[str, Field(min_length=1, max_length=256)]


class RulesIn(BaseModel):
    """The lists given replace the stored ones; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    excluded: list[Name] | None = Field(None, max_length=100_000, description="product ids never recommended")
    out_of_stock: list[Name] | None = Field(None, max_length=100_000, description="product ids out of stock")
    excluded_categories: list[Name] | None = Field(None, max_length=1_000)
    consumable_categories: list[Name] | None = Field(
        None, max_length=1_000, description="categories bought again and again: recommended even when bought")
    all_consumable: bool | None = Field(None, description="every product is a consumable (a grocery)")


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    evaluate: bool = Field(True, description="evaluate the algorithms on held-out last orders and keep the best "
                                             "(false: co-occurrence, at once)")


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.get("/v1/recommendations", response_class=JSONBody,
            summary="Products for a customer and/or a product page (write key; cached)")
async def recommendations(
    request: Request, principal: Writer,
    user: Annotated[str | None, Query(max_length=512, description="any identifier of the customer "
                                                                  "(user id, anonymous id, e-mail, ...)")] = None,
    context: Annotated[str | None, Query(max_length=512, pattern=r"^product:.*\S.*$",
                                         description="product:<product id>: the page's product")] = None,
    kind: Annotated[Literal["for_you", "bought_together", "viewed_together", "similar"] | None, Query(
        description="for_you (default without a context), similar (bought, then viewed together: the default "
                    "with one), bought_together, viewed_together")] = None,
    n: Annotated[int, Query(ge=1, le=service.MAX_ITEMS)] = 10,
    user_hash: Annotated[str | None, Query(max_length=128, description="HMAC-SHA256 of `user`, once the "
                                                                      "workspace has an identity secret")] = None,
) -> JSONBody:
    """Best first; every item names why it is there (``reason``: ``for_you``, ``bought_together``,
    ``viewed_together``, ``popular_in_segment``, ``popular_in_category``, ``popular``). A customer with no
    history, or not known yet, gets the fallback (``fallback: true``), never an error."""
    if user:
        verify_customer(request, principal, user, user_hash)
    stores = _stores(request)
    # A cached answer is read from memory in the event loop: no hop to a worker thread for it.
    answer = service.cached_answer(stores, principal.workspace_id, user=user, context=context, kind=kind, n=n)
    if answer is None:
        answer = await run_in_threadpool(service.recommend, stores, principal.workspace_id, user=user,
                                         context=context, kind=kind, n=n)
    return JSONBody(answer, headers={"Cache-Control": "private, max-age=30"})


@router.get("/v1/recommendations/model", response_class=JSONBody, responses=errors(404),
            summary="The trained model: algorithm, when, sizes, and its evaluation against popularity")
async def model(request: Request, principal: Admin) -> JSONBody:
    summary = await run_in_threadpool(service.model_summary, _stores(request), principal.workspace_id)
    if summary is None:
        raise NotFound("no recommendation model yet: train one (POST /v1/recommendations/train)",
                       {"field": "(workspace)", "reason": "not trained"})
    return JSONBody(summary)


@router.post("/v1/recommendations/train", response_class=JSONBody, summary="Train the model now")
async def train(request: Request, principal: Admin, body: TrainIn | None = None) -> JSONBody:
    evaluate = body.evaluate if body is not None else True
    summary = await run_in_threadpool(service.train, _stores(request), principal.workspace_id, evaluate=evaluate)
    return JSONBody(summary)


@router.get("/v1/recommendations/rules", response_class=JSONBody, summary="What is never recommended")
async def get_rules(request: Request, principal: Admin) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.rules, _stores(request), principal.workspace_id))


@router.put("/v1/recommendations/rules", response_class=JSONBody,
            summary="Set what is never recommended: excluded products and categories, out of stock, consumables")
async def put_rules(request: Request, principal: Admin, body: RulesIn) -> JSONBody:
    values = body.model_dump(exclude_none=True)
    return JSONBody(await run_in_threadpool(service.save_rules, _stores(request), principal.workspace_id, values))


@router.get("/v1/recommendations/similar/{product_id}", response_class=JSONBody,
            summary="Products like one (what the shop assistant offers)")
async def similar(request: Request, principal: Writer, product_id: Annotated[str, Path(max_length=256)],
                  n: Annotated[int, Query(ge=1, le=service.MAX_ITEMS)] = 5) -> JSONBody:
    items = await run_in_threadpool(service.similar_items, _stores(request), principal.workspace_id, product_id, n)
    return JSONBody({"product_id": product_id, "items": items})
