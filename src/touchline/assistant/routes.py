"""Management API of the shop assistant (admin token): the workspace's FAQ entries, each in Korean and
English, and what the assistant would answer from them (to try a question)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from touchline.assistant import service
from touchline.assistant.schemas import AnswerIn, FaqIn
from touchline.errors import PayloadTooLarge
from touchline.http import JSONBody, admin_principal, errors
from touchline.workspaces.service import Principal

MAX_REQUEST_BYTES = 1024 * 1024  # an entry at its limits (50 questions of 300 characters, each language) fits


def _limited(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge("request body is larger than 1 MB",
                              {"field": "(body)", "reason": f"limit is {MAX_REQUEST_BYTES} bytes",
                               "size": int(declared)})


router = APIRouter(prefix="/v1/assistant", tags=["assistant"], responses=errors(400, 401, 403, 413, 422),
                   dependencies=[Depends(_limited)])
Admin = Annotated[Principal, Depends(admin_principal)]


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.get("/faq", response_class=JSONBody, summary="The workspace's FAQ entries")
async def list_faq(request: Request, principal: Admin,
                   topic: Annotated[str | None, Query(max_length=40, pattern=service.TOPIC_PATTERN)] = None,
                   enabled: Annotated[bool | None, Query()] = None) -> JSONBody:
    rows = await run_in_threadpool(lambda: service.faq_entries(_stores(request), principal.workspace_id, topic=topic,
                                                               enabled=enabled))
    return JSONBody({"faq": rows})


@router.post("/faq", response_class=JSONBody, status_code=201, responses=errors(409),
             summary="Add an FAQ entry (its Korean and English versions)")
async def create_faq(request: Request, principal: Admin, body: FaqIn) -> JSONBody:
    row = await run_in_threadpool(lambda: service.create_faq(
        _stores(request), principal.workspace_id, key=body.key, topic=body.topic, enabled=body.enabled,
        **body.versions()))
    return JSONBody(row, status_code=201)


@router.get("/faq/{faq_id}", response_class=JSONBody, responses=errors(404), summary="One FAQ entry (by id or key)")
async def get_faq(request: Request, principal: Admin, faq_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_faq, _stores(request), principal.workspace_id, faq_id))


@router.put("/faq/{faq_id}", response_class=JSONBody, responses=errors(404, 409),
            summary="Replace an FAQ entry (both versions, topic, enabled)")
async def replace_faq(request: Request, principal: Admin, faq_id: str, body: FaqIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.replace_faq(
        _stores(request), principal.workspace_id, faq_id, key=body.key, topic=body.topic, enabled=body.enabled,
        **body.versions())))


@router.delete("/faq/{faq_id}", response_class=JSONBody, responses=errors(404), summary="Delete an FAQ entry")
async def delete_faq(request: Request, principal: Admin, faq_id: str) -> JSONBody:
    row = await run_in_threadpool(service.delete_faq, _stores(request), principal.workspace_id, faq_id)
    return JSONBody({"deleted": row["id"]})


@router.post("/answer", response_class=JSONBody,
             summary="What the assistant answers from the workspace's current FAQ and catalog")
async def answer(request: Request, principal: Admin, body: AnswerIn) -> JSONBody:
    """The engine's reply: ``intent`` (faq, handover, smalltalk, order_status, product, unknown), its
    ``confidence`` (0..1) and whether it is ``confident`` enough to answer, ``handover`` (a person was asked
    for), the ``text`` the bot would say, the FAQ entry it chose (``faq_id``, ``faq_key``, ``topic``), and for
    a product question the catalog's products (``product_ids``: the best one, then similar ones; ``option``:
    the size asked for; the text gives their prices and stock). Enabled entries and active products only;
    the first question after a change rebuilds the workspace's index."""
    return JSONBody(await run_in_threadpool(lambda: service.answer(
        _stores(request), principal.workspace_id, body.question, language=body.language)))
