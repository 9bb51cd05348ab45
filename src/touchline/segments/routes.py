"""Management API for segments: define, preview, list members, export, refresh."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from touchline.http import JSONBody, admin_principal, errors
from touchline.segments import service
from touchline.segments.templates import TEMPLATES
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/segments", tags=["segments"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]


class SegmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any]
    description: str = Field("", max_length=2000)
    live: bool = True


class SegmentPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    definition: dict[str, Any] | None = None
    description: str | None = Field(None, max_length=2000)
    live: bool | None = None


class PreviewIn(BaseModel):
    definition: dict[str, Any]
    sample: int = Field(10, ge=0, le=100)


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.get("", response_class=JSONBody, summary="Segments with their member counts")
async def list_segments(request: Request, principal: Admin) -> JSONBody:
    rows = await run_in_threadpool(service.list_segments, _stores(request), principal.workspace_id)
    return JSONBody({"segments": rows})


@router.get("/templates", response_class=JSONBody, summary="Ready-made definitions to start from")
async def templates(principal: Admin) -> JSONBody:
    return JSONBody({"templates": TEMPLATES})


@router.post("/preview", response_class=JSONBody, summary="Count and sample a definition without saving it")
async def preview(request: Request, principal: Admin, body: PreviewIn) -> JSONBody:
    result = await run_in_threadpool(service.preview, _stores(request), principal.workspace_id, body.definition,
                                     sample=body.sample)
    return JSONBody(result)


@router.post("", response_class=JSONBody, status_code=201, responses=errors(409),
             summary="Save a segment (and compute its members)")
async def create(request: Request, principal: Admin, body: SegmentIn) -> JSONBody:
    row = await run_in_threadpool(service.create_segment, _stores(request), principal.workspace_id, body.name,
                                  body.definition, description=body.description, live=body.live)
    return JSONBody(row, status_code=201)


@router.get("/{segment_id}", response_class=JSONBody, responses=errors(404), summary="One segment (by id or name)")
async def get(request: Request, principal: Admin, segment_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_segment, _stores(request), principal.workspace_id, segment_id))


@router.patch("/{segment_id}", response_class=JSONBody, responses=errors(404, 409),
              summary="Change a segment (a new definition is a new version)")
async def update(request: Request, principal: Admin, segment_id: str, body: SegmentPatch) -> JSONBody:
    row = await run_in_threadpool(service.update_segment, _stores(request), principal.workspace_id, segment_id,
                                  **body.model_dump(exclude_none=True))
    return JSONBody(row)


@router.delete("/{segment_id}", response_class=JSONBody, responses=errors(404, 409),
               summary="Delete a segment no other segment uses")
async def delete(request: Request, principal: Admin, segment_id: str) -> JSONBody:
    await run_in_threadpool(service.delete_segment, _stores(request), principal.workspace_id, segment_id)
    return JSONBody({"deleted": segment_id})


@router.get("/{segment_id}/members", response_class=JSONBody, responses=errors(404),
            summary="Members, a page at a time")
async def members(request: Request, principal: Admin, segment_id: str,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  after: Annotated[str | None, Query(description="the `next` of the previous page")] = None
                  ) -> JSONBody:
    page = await run_in_threadpool(service.members, _stores(request), principal.workspace_id, segment_id,
                                   limit=limit, after=after)
    return JSONBody(page)


@router.get("/{segment_id}/export.csv", response_class=StreamingResponse, summary="Members as CSV", responses={
    200: {"description": "One row per member", "content": {"text/csv": {"schema": {"type": "string"}}}},
    **errors(404)})
async def export(request: Request, principal: Admin, segment_id: str) -> StreamingResponse:
    segment = await run_in_threadpool(service.get_segment, _stores(request), principal.workspace_id, segment_id)
    lines = service.export_csv(_stores(request), principal.workspace_id, segment["id"])
    return StreamingResponse(iterate_in_threadpool(lines), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{segment["id"]}.csv"'})


@router.post("/{segment_id}/refresh", response_class=JSONBody, responses=errors(404),
             summary="Recompute membership now")
async def refresh(request: Request, principal: Admin, segment_id: str) -> JSONBody:
    segment = await run_in_threadpool(service.get_segment, _stores(request), principal.workspace_id, segment_id)
    changes = await run_in_threadpool(service.refresh, _stores(request), principal.workspace_id, [segment["id"]])
    return JSONBody({"entered": changes[0].entered, "exited": changes[0].exited})
