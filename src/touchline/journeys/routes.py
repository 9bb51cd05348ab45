"""Management API for journeys: save versions, validate, publish, pause, resume, archive, runs, stats,
and the API trigger."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import orjson
import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from touchline.errors import BadRequest
from touchline.http import JSONBody, admin_principal, errors
from touchline.journeys import preview as template_preview
from touchline.journeys import service
from touchline.messaging.templates import CHANNEL_PARTS
from touchline.validation import Offset, Version
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/journeys", tags=["journeys"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]
RUN_STATUSES = "^(active|waiting|completed|converted|exited|failed)$"


class TriggerIn(BaseModel):
    identifier: str = Field(min_length=1, max_length=512, description="Any identifier of the customer.")
    properties: dict[str, Any] = Field(default_factory=dict)
    key: str | None = Field(None, min_length=1, max_length=200, description="Idempotency key.")


class PublishIn(BaseModel):
    version: Version | None = None


# The endpoints read the definition themselves (JSON, or YAML by Content-Type): the body as documented.
DEFINITION_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": (
        "A journey definition (the README's journey format): id, name, trigger, start, nodes, and optionally "
        "goal, reentry, exit_on, holdout_percent.")}},
    "application/yaml": {"schema": {"type": "string", "description": "The same definition in YAML."}}}}}


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


async def _definition(request: Request) -> dict[str, Any]:
    """A definition as JSON, or YAML with ``Content-Type: application/yaml``."""
    raw = await request.body()
    try:
        if "yaml" in request.headers.get("content-type", ""):
            body = yaml.safe_load(raw.decode("utf-8"))
        else:
            body = orjson.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadRequest("the body is not valid JSON or YAML", [{"field": "", "reason": str(exc)[:300]}]) from exc
    if not isinstance(body, dict):
        raise BadRequest("a journey definition is an object", [{"field": "", "reason": "expected an object"}])
    return body


@router.get("", response_class=JSONBody, summary="Journeys with their run counts")
async def list_journeys(request: Request, principal: Admin) -> JSONBody:
    return JSONBody({"journeys": await run_in_threadpool(service.list_journeys, _stores(request),
                                                         principal.workspace_id)})


@router.post("", response_class=JSONBody, status_code=201, responses=errors(409), openapi_extra=DEFINITION_BODY,
             summary="Create a journey (draft, version 1)")
async def create(request: Request, principal: Admin) -> JSONBody:
    body = await _definition(request)
    return JSONBody(await run_in_threadpool(service.create, _stores(request), principal.workspace_id, body),
                    status_code=201)


@router.post("/validate", response_class=JSONBody, openapi_extra=DEFINITION_BODY,
             summary="Check a definition without saving it")
async def validate(request: Request, principal: Admin) -> JSONBody:
    body = await _definition(request)
    return JSONBody(await run_in_threadpool(service.validate, _stores(request), principal.workspace_id, body))


@router.get("/{journey_id}", response_class=JSONBody, responses=errors(404),
            summary="A journey and a version of its definition")
async def get(request: Request, principal: Admin, journey_id: str,
              version: Annotated[Version | None, Query()] = None) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get, _stores(request), principal.workspace_id, journey_id,
                                            version))


@router.put("/{journey_id}", response_class=JSONBody, responses=errors(404, 409), openapi_extra=DEFINITION_BODY,
            summary="Save a new version")
async def save_version(request: Request, principal: Admin, journey_id: str) -> JSONBody:
    body = await _definition(request)
    return JSONBody(await run_in_threadpool(service.save_version, _stores(request), principal.workspace_id,
                                            journey_id, body))


@router.post("/{journey_id}/publish", response_class=JSONBody, responses=errors(404, 409),
             summary="New runs enter this version")
async def publish(request: Request, principal: Admin, journey_id: str, body: PublishIn | None = None) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.publish, _stores(request), principal.workspace_id, journey_id,
                                            body.version if body else None))


@router.post("/{journey_id}/pause", response_class=JSONBody, responses=errors(404, 409),
             summary="Hold entries, timers and events")
async def pause(request: Request, principal: Admin, journey_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.pause, _stores(request), principal.workspace_id, journey_id))


@router.post("/{journey_id}/resume", response_class=JSONBody, responses=errors(404, 409),
             summary="Continue a paused journey")
async def resume(request: Request, principal: Admin, journey_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.resume, _stores(request), principal.workspace_id, journey_id))


@router.post("/{journey_id}/archive", response_class=JSONBody, responses=errors(404, 409),
             summary="Stop for good; active runs exit")
async def archive(request: Request, principal: Admin, journey_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.archive, _stores(request), principal.workspace_id, journey_id))


@router.get("/{journey_id}/runs", response_class=JSONBody, responses=errors(404), summary="Runs, newest first")
async def runs(request: Request, principal: Admin, journey_id: str,
               status: Annotated[str | None, Query(pattern=RUN_STATUSES)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[Offset, Query()] = 0) -> JSONBody:
    rows = await run_in_threadpool(service.runs, _stores(request), principal.workspace_id, journey_id,
                                   status=status, limit=limit, offset=offset)
    return JSONBody({"runs": rows})


@router.get("/{journey_id}/stats", response_class=JSONBody, responses=errors(404),
            summary="Per step: entered, waiting, sent, suppressed by reason; conversions and holdout lift")
async def stats(request: Request, principal: Admin, journey_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.stats, _stores(request), principal.workspace_id, journey_id))


@router.post("/{journey_id}/trigger", response_class=JSONBody, responses=errors(404, 409),
             summary="Start a run for one customer")
async def trigger(request: Request, principal: Admin, journey_id: str, body: TriggerIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.trigger, _stores(request), principal.workspace_id, journey_id,
                                            body.identifier, body.properties, body.key))


runs_router = APIRouter(prefix="/v1/runs", tags=["journeys"], responses=errors(400, 401, 403, 404, 422))


@runs_router.get("/{run_id}", response_class=JSONBody, summary="One run: state, steps and messages")
async def run_detail(request: Request, principal: Admin, run_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.run_detail, _stores(request), principal.workspace_id, run_id))


# --- the preview of a template as a journey's send step sends it -----------------------------------------

templates_router = APIRouter(tags=["messaging"], responses=errors(400, 401, 403, 422))

# What validate_template knows (an unknown one is a 404 on preview).
Channel = Annotated[str, Path(json_schema_extra={"enum": list(CHANNEL_PARTS)})]


class PreviewIn(BaseModel):
    identifier: str | None = Field(None, min_length=1, max_length=512, description=(
        "The customer (any identifier); default: the customer of the latest run of the journey that sends the "
        "template, or of the latest event its trigger takes."))
    event: dict[str, Any] = Field(default_factory=dict, description=(
        "Trigger event properties to render with; default: the trigger of the customer's latest run of that "
        "journey, their latest event the trigger takes, anyone's, or a sample event of the trigger's kind."))
    journey_id: str | None = Field(None, min_length=1, max_length=200, description=(
        "The journey whose send step to preview (its trigger, its kind); default: the first that sends the "
        "template on this channel, published ones first."))
    kind: Literal["advertising", "transactional"] | None = Field(None, description=(
        "Default: the send step's; advertising when no journey sends the template."))


@templates_router.post("/v1/templates/{key}/{channel}/preview", response_class=JSONBody, responses=errors(404),
             summary="Render a saved template exactly as a journey's send step would send it")
async def preview_template(request: Request, principal: Admin, key: str, channel: Channel, body: PreviewIn) -> JSONBody:
    """With the context the send step would render with (``context``: where it comes from, and the trigger
    event), the step's kind, and what the channel adds to Korean advertising (``(광고)``; an SMS's sender
    name and free opt-out line). ``content`` is null and ``suppressed`` says why when the channel would not
    send it (``missing_opt_out_line``)."""
    return JSONBody(await run_in_threadpool(functools.partial(
        template_preview.preview, request.app.state.services.stores, principal.workspace_id, key, channel,
        body.identifier, body.event, journey_id=body.journey_id, kind=body.kind)))
