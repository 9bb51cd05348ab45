"""The dashboard's Predictions page: each prediction's newest model and how good it is in its backtest
(AUC, the reliability chart with the Brier score and the calibration error, the lift in the top decile),
and retraining on request."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.predictions import service
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer

__all__: list[str] = []


@page("/predictions", permission="reports.view", nav="nav.predictions", nav_after="nav.segments")
async def predictions(request: Request) -> Response:
    f = formatter(request)
    stores, workspace_id = services(request).stores, viewer(request).workspace_id
    latest = {m["kind"]: m for m in await run_in_threadpool(service.latest, stores, workspace_id)}
    models = []
    for spec in service.SPECS.values():
        model = latest.get(spec.kind)
        quality = (model or {}).get("quality")
        figure = charts.reliability(f, quality["reliability"]) if quality else None
        cutoffs = [c[:10] for c in (model or {}).get("cutoffs", [])]  # the days; the time is the same in each
        models.append({"spec": spec, "model": model, "quality": quality, "figure": figure, "cutoffs": cutoffs})
    return render(request, "predictions.html", models=models, hours=stores.settings.prediction_retrain_hours)


@page("/predictions/retrain", permission="segments.edit", methods=("POST",))
async def retrain(request: Request) -> Response:
    stores, workspace_id = services(request).stores, viewer(request).workspace_id
    await run_in_threadpool(service.train, stores, workspace_id)
    return redirect("/predictions?done=predictions.saved")
