"""Experiments over HTTP: the management API (admin token) and the flags the shop's pages ask for (write
key, cross-origin like the chat)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from touchline.errors import BadRequest, PayloadTooLarge
from touchline.experiments import service
from touchline.experiments.definition import ARM_NAME, EXPERIMENT_ID
from touchline.http import JSONBody, admin_principal, errors, verify_customer, write_principal
from touchline.workspaces.service import Principal

MAX_DEFINITION_BYTES = 64 * 1024

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], responses=errors(400, 401, 403, 422))
flags_router = APIRouter(prefix="/v1", tags=["experiments"], responses=errors(400, 401, 403, 404, 422))
Admin = Annotated[Principal, Depends(admin_principal)]
Writer = Annotated[Principal, Depends(write_principal)]
ExperimentId = Annotated[str, Path(pattern=EXPERIMENT_ID, max_length=120)]

DEFINITION_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": (
        "An experiment: id, name, kind (ab | bandit), arms [{name, weight}], control, holdout_percent, "
        "metric {type: conversion | revenue, event, window_hours}, guardrails [{event}], bandit "
        "{floor_percent, min_exposures, cadence_hours}.")}}}}}


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _now(request: Request) -> Any:
    return request.app.state.services.clock()


async def _definition(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_DEFINITION_BYTES:
        raise PayloadTooLarge("an experiment definition is at most 64 KB",
                              {"field": "(body)", "reason": f"limit is {MAX_DEFINITION_BYTES} bytes"})
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("the body is not valid JSON", [{"field": "", "reason": str(exc)[:300]}]) from exc
    if not isinstance(body, dict):
        raise BadRequest("an experiment definition is an object", [{"field": "", "reason": "expected an object"}])
    return body


class WinnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    arm: str = Field(pattern=ARM_NAME, max_length=40)


class FlagsIn(BaseModel):
    """Which arm a visitor of the shop's pages gets in each experiment."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    anonymous_id: str = Field(alias="anonymousId", min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$",
                              description="analytics.js's anonymous id")
    user_id: str | None = Field(None, alias="userId", min_length=1, max_length=256, pattern=r"^[^\x00-\x20\x7f]+$",
                                description="A signed-in customer's user id (with user_hash where the workspace "
                                            "signs identities)")
    experiments: list[Annotated[str, Field(pattern=EXPERIMENT_ID, max_length=120)]] = Field(
        min_length=1, max_length=20)
    page_url: str | None = Field(None, alias="pageUrl", max_length=2048)


@router.get("", response_class=JSONBody, summary="Experiments with their status and current weights")
async def list_experiments(request: Request, principal: Admin) -> JSONBody:
    rows = await run_in_threadpool(service.list_experiments, _stores(request), principal.workspace_id)
    return JSONBody({"experiments": rows})


@router.post("", response_class=JSONBody, status_code=201, responses=errors(409, 413),
             openapi_extra=DEFINITION_BODY, summary="Create an experiment (draft)")
async def create(request: Request, principal: Admin) -> JSONBody:
    """Refused with 422 naming each problem: weights that do not sum to 100, a control that is not an arm,
    a metric or guardrail on an event the workspace never had."""
    body = await _definition(request)
    row = await run_in_threadpool(lambda: service.create(_stores(request), principal.workspace_id, body,
                                                         now=_now(request)))
    return JSONBody(row, status_code=201)


@router.get("/{experiment_id}", response_class=JSONBody, responses=errors(404), summary="One experiment")
async def get(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get, _stores(request), principal.workspace_id, experiment_id))


@router.put("/{experiment_id}", response_class=JSONBody, responses=errors(404, 409, 413),
            openapi_extra=DEFINITION_BODY, summary="Replace an experiment's definition")
async def replace(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    body = await _definition(request)
    return JSONBody(await run_in_threadpool(lambda: service.replace(
        _stores(request), principal.workspace_id, experiment_id, body, now=_now(request))))


@router.post("/{experiment_id}/start", response_class=JSONBody, responses=errors(404, 409),
             summary="Start (or restart) the experiment")
async def start(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.start(
        _stores(request), principal.workspace_id, experiment_id, now=_now(request))))


@router.post("/{experiment_id}/stop", response_class=JSONBody, responses=errors(404, 409),
             summary="Stop: everyone gets the control")
async def stop(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.stop(
        _stores(request), principal.workspace_id, experiment_id, now=_now(request))))


@router.post("/{experiment_id}/winner", response_class=JSONBody, responses=errors(404, 409),
             summary="Declare a winner: all traffic goes to it")
async def winner(request: Request, principal: Admin, experiment_id: ExperimentId, body: WinnerIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.declare_winner(
        _stores(request), principal.workspace_id, experiment_id, body.arm, now=_now(request))))


@router.get("/{experiment_id}/results", response_class=JSONBody, responses=errors(404),
            summary="The readout: arms, lift with intervals, chance to beat control, SRM, guardrails, verdict")
async def results(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.readout, _stores(request), principal.workspace_id, experiment_id))


@router.get("/{experiment_id}/weights", response_class=JSONBody, responses=errors(404),
            summary="A bandit's weight changes, each with the data behind it")
async def weight_changes(request: Request, principal: Admin, experiment_id: ExperimentId) -> JSONBody:
    rows = await run_in_threadpool(service.weights_history, _stores(request), principal.workspace_id, experiment_id)
    return JSONBody({"weights": rows})


@flags_router.post("/flags", response_class=JSONBody, summary="A visitor's arm in each experiment (write key)")
async def flags(request: Request, principal: Writer, body: FlagsIn) -> JSONBody:
    """The shop's page asks which arm to show; the first time a visitor is put in an arm of a running
    experiment an ``Experiment Viewed`` event is recorded (the exposure). The same visitor always gets the
    same arm; a stopped experiment answers its control, a decided one its winner."""
    if body.user_id is not None:
        verify_customer(request, principal, body.user_id, None)
    answer = await run_in_threadpool(lambda: service.flags(
        _stores(request), principal.workspace_id, anonymous_id=body.anonymous_id, user_id=body.user_id,
        experiment_ids=body.experiments, page_url=body.page_url, now=_now(request)))
    return JSONBody({"flags": answer})
