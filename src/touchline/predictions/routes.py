"""Predictions over HTTP (admin token): the models and their quality, a kind's trainings, and retraining
on request. The scores themselves are traits: ``GET /v1/profiles/{id}`` shows them, segments select on
them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from touchline.http import JSONBody, admin_principal, errors
from touchline.predictions import service
from touchline.validation import Body, Moment
from touchline.workspaces.service import Principal

router = APIRouter(prefix="/v1/predictions", tags=["predictions"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]
Kind = Literal["purchase", "churn"]


def _all_kinds() -> list[Kind]:
    return ["purchase", "churn"]


class RetrainIn(Body):

    kinds: list[Kind] = Field(default_factory=_all_kinds, min_length=1, max_length=2,
                              description="Which predictions to train; default both.")
    as_of: Moment | None = Field(None, description=(
        "The moment the scores hold for (default now); the backtest's cutoffs are taken back from it."))


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _catalogue(latest: list[dict[str, Any]], settings: Any) -> dict[str, Any]:
    by_kind = {m["kind"]: m for m in latest}
    return {
        "retrain_hours": settings.prediction_retrain_hours,
        "predictions": [
            {"kind": s.kind, "trait": s.trait, "description": s.description, "horizon_days": s.horizon.days,
             "population": "buyers" if s.buyers_only else "customers active in the last year",
             "model": by_kind.get(s.kind)}
            for s in service.SPECS.values()
        ],
    }


@router.get("", response_class=JSONBody, summary="The predictions, each with its newest model and its quality")
async def predictions(request: Request, principal: Admin) -> JSONBody:
    """Per prediction (``purchase``: orders in the next 30 days; ``churn``: a buyer orders nothing in the next
    60 days): the trait it writes and its newest training (``model``, null before the first): status, the
    backtest's ``quality`` (``auc``, ``brier``, ``calibration_error``, ``lift_top_decile``, the reliability
    chart's bins), the cutoffs, rows, timings and how many customers it scored."""
    stores = _stores(request)
    latest = await run_in_threadpool(service.latest, stores, principal.workspace_id)
    return JSONBody(_catalogue(latest, stores.settings))


@router.get("/{kind}", response_class=JSONBody, responses=errors(404), summary="A prediction's trainings, newest first")
async def trainings(request: Request, principal: Admin, kind: Annotated[str, Path(max_length=40)],
                    limit: Annotated[int, Query(ge=1, le=200)] = 20) -> JSONBody:
    rows = await run_in_threadpool(service.history, _stores(request), principal.workspace_id, kind, limit)
    return JSONBody({"kind": kind, "models": rows})


@router.post("/retrain", response_class=JSONBody, summary="Train the predictions now and score every customer")
async def retrain(request: Request, principal: Admin, body: RetrainIn | None = None) -> JSONBody:
    """Runs the backtest and the training, writes the scores as traits and returns the trainings recorded
    (also those without enough data, with the ``reason``). Takes seconds on a shop of 10,000 customers."""
    body = body or RetrainIn()
    as_of = body.as_of
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    kinds = list(dict.fromkeys(body.kinds))
    rows = await run_in_threadpool(lambda: service.train(_stores(request), principal.workspace_id, now=as_of,
                                                         kinds=kinds))
    return JSONBody({"models": rows})
