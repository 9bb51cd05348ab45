"""Management API for what spans every domain about one customer: view, export, erase."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from touchline.customers import service
from touchline.http import JSONBody, admin_principal, errors
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/profiles", tags=["profiles"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]


@router.get("/{identifier}", response_class=JSONBody, responses=errors(404),
            summary="One customer by any identifier")
async def get_profile(
    request: Request,
    principal: Admin,
    identifier: str,
    timeline_limit: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> JSONBody:
    stores = request.app.state.services.stores
    view = await run_in_threadpool(service.view, stores, principal.workspace_id, identifier,
                                   timeline_limit=timeline_limit)
    return JSONBody(view)


@router.get("/{identifier}/export", response_class=JSONBody, responses=errors(404),
            summary="Everything held about one customer")
async def export_profile(request: Request, principal: Admin, identifier: str) -> JSONBody:
    stores = request.app.state.services.stores
    data = await run_in_threadpool(service.export, stores, principal.workspace_id, identifier)
    return JSONBody(data, headers={"Content-Disposition": 'attachment; filename="customer-export.json"'})


@router.delete("/{identifier}", response_class=JSONBody, responses=errors(404),
               summary="Erase one customer and all their events")
async def erase_profile(request: Request, principal: Admin, identifier: str) -> JSONBody:
    stores = request.app.state.services.stores
    # {"erased": counts, "purge": {"by": time, "within_seconds": n}}: by then the bytes are gone from the
    # store files too (README, erase).
    return JSONBody(await run_in_threadpool(service.erase, stores, principal.workspace_id, identifier))
