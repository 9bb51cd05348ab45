"""Management API for customers: search and consents (the one-customer view, export and erase, which
span every domain, are in :mod:`touchline.customers.routes`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from touchline.channels import CONSENT_CHANNELS
from touchline.http import JSONBody, admin_principal, errors
from touchline.profiles import service
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/profiles", tags=["profiles"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]


def _consent_schema(schema: dict[str, Any]) -> None:
    # What the handler and the service check (400 otherwise), as the document states it.
    schema.update(properties={c: {"type": "boolean"} for c in CONSENT_CHANNELS}, additionalProperties=False,
                  minProperties=1)


class ConsentChanges(BaseModel):
    """``{"email": true, "sms": false}``: grant or withdraw consent per channel."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_consent_schema)

    def changes(self) -> dict[str, bool]:
        return dict(self.model_extra or {})


@router.get("", response_class=JSONBody, summary="Search customers by identifier or trait text")
async def search_profiles(
    request: Request,
    principal: Admin,
    q: Annotated[str, Query(max_length=256, description="an identifier's start (`email:jieun`, `phone:010-1234`, "
                                                        "`user_id:u-1`, or bare), or trait text; empty: everyone")]
    = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="skip this many (the next page)")] = 0,
) -> JSONBody:
    stores = request.app.state.services.stores
    found = await run_in_threadpool(service.search_page, stores, principal.workspace_id, q, limit, offset)
    after = offset + len(found.profiles)
    return JSONBody({"profiles": found.profiles, "count": len(found.profiles), "total": found.total,
                     "total_capped": found.capped, "offset": offset,
                     "next_offset": after if after < found.total and found.profiles else None})


@router.put("/{identifier}/consents", response_class=JSONBody, responses=errors(404),
            summary="Grant or withdraw consent per channel")
async def put_consents(request: Request, principal: Admin, identifier: str, body: ConsentChanges) -> JSONBody:
    from touchline.errors import BadRequest

    changes: dict[str, Any] = body.changes()
    if not changes:
        raise BadRequest("no consent given", {"field": "(body)", "reason": 'send {"email": true, "sms": false}'})
    bad = [k for k, v in changes.items() if not isinstance(v, bool)]
    if bad:
        raise BadRequest(f"consent for {bad[0]!r} must be true or false", {"field": bad[0], "reason": "not a boolean"})
    stores = request.app.state.services.stores
    consents = await run_in_threadpool(service.set_consents, stores, principal.workspace_id, identifier, changes)
    return JSONBody({"consents": consents})
