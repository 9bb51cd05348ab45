"""Management API for the tracking plan: the workspace's own event types, what happens to values that
cannot be read, and the violations found at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from touchline.http import JSONBody, admin_principal, errors
from touchline.ingest import quality
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/tracking-plan", tags=["tracking plan"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]


class EventTypeIn(BaseModel):
    properties: dict[str, Any] = Field(
        description='Each property\'s type ("string", "id", "number", "money", "integer", "boolean", "currency", '
                    '"object", "array", "products"), or {"type": ..., "required": true}.',
        examples=[{"store_id": "id", "gift_wrap": {"type": "boolean", "required": True}}])


class SettingsIn(BaseModel):
    invalid_values: Literal["reject", "flag"] = Field(
        description="reject: a message with a value that cannot be read is refused (its index, field and reason "
                    "in the answer); flag: it is stored as sent, with a data-quality flag.")


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.get("", response_class=JSONBody, summary="The plan: built-in e-commerce types and the workspace's own")
async def show(request: Request, principal: Admin) -> JSONBody:
    return JSONBody(await run_in_threadpool(quality.plan_view, _stores(request), principal.workspace_id))


@router.put("/settings", response_class=JSONBody, summary="What happens to a value that cannot be read")
async def settings(request: Request, principal: Admin, body: SettingsIn) -> JSONBody:
    await run_in_threadpool(quality.set_invalid_values, _stores(request), principal.workspace_id,
                            body.invalid_values)
    return JSONBody({"invalid_values": body.invalid_values})


@router.get("/violations", response_class=JSONBody, summary="Recent violations by event and field")
async def violations(request: Request, principal: Admin,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONBody:
    rows = await run_in_threadpool(quality.violations, _stores(request), principal.workspace_id, limit=limit)
    return JSONBody({"violations": rows})


@router.put("/events/{event:path}", response_class=JSONBody, summary="Declare an event's property types")
async def declare(request: Request, principal: Admin, event: str, body: EventTypeIn) -> JSONBody:
    """Replaces any earlier declaration of the event; built-in e-commerce types stay unless redeclared."""
    declared = await run_in_threadpool(quality.declare_event, _stores(request), principal.workspace_id, event,
                                       body.properties)
    return JSONBody(declared)


@router.delete("/events/{event:path}", response_class=JSONBody, responses=errors(404),
               summary="Remove an event's declaration")
async def remove(request: Request, principal: Admin, event: str) -> JSONBody:
    await run_in_threadpool(quality.remove_event, _stores(request), principal.workspace_id, event)
    return JSONBody({"removed": event})
