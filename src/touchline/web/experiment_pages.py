"""The dashboard's experiments (issue 16): every experiment with its status; per experiment the arms with
exposures, conversions, lift and its interval, the chance to beat control (on a chart), the SRM warning, a
plain-language verdict in the viewer's language, a bandit's weights over time; start, stop and declare a
winner (marketers and admins)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.errors import TouchlineError
from touchline.experiments import service as experiments
from touchline.experiments.assignment import HOLDOUT
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer

__all__: list[str] = []

BASE = "/experiments"


def _stores(request: Request) -> Any:
    return services(request).stores


@page(BASE, permission="journeys.view", nav="nav.experiments", nav_after="nav.journeys")
async def experiment_list(request: Request) -> Response:
    rows = await run_in_threadpool(experiments.list_experiments, _stores(request), viewer(request).workspace_id)
    return render(request, "experiments.html", experiments=rows)


@page(BASE + "/{experiment_id}", permission="journeys.view")
async def experiment_detail(request: Request, experiment_id: str) -> Response:
    f = formatter(request)
    result = await run_in_threadpool(experiments.readout, _stores(request), viewer(request).workspace_id,
                                     experiment_id)
    readout = result["readout"]
    # the charts name the holdout as the table does (홀드아웃 (미발송)), not by its arm name
    named = [{**a, "name": f.t("experiments.holdout") if a["name"] == HOLDOUT else a["name"]}
             for a in readout["arms"]]
    figures = {"chance": charts.chance_to_beat(f, named), "lift": charts.lift_intervals(f, named, readout["metric"])}
    if result["weights_history"]:
        figures["weights"] = charts.bandit_weights(f, result["weights_history"])
    return render(request, "experiment.html", e=result["experiment"], readout=readout,
                  guardrails=result["guardrails"], verdict=result["verdict_text"][f.lang], figures=figures,
                  history=result["weights_history"])


async def _act(request: Request, experiment_id: str, action: str) -> Response:
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    form = await request.form()
    try:
        if action == "start":
            await run_in_threadpool(lambda: experiments.start(stores, workspace_id, experiment_id))
        elif action == "stop":
            await run_in_threadpool(lambda: experiments.stop(stores, workspace_id, experiment_id))
        else:
            arm = str(form.get("arm") or "")
            await run_in_threadpool(lambda: experiments.declare_winner(stores, workspace_id, experiment_id, arm))
    except TouchlineError as exc:
        if exc.status >= 500 or exc.status == 404:
            raise
        return redirect(f"{BASE}/{quote(experiment_id)}?" + urlencode({"problem": exc.message}))
    return redirect(f"{BASE}/{quote(experiment_id)}?" + urlencode({"done": f"experiments.{action}.saved",
                                                                   "name": experiment_id}))


@page(BASE + "/{experiment_id}/start", permission="journeys.edit", methods=("POST",))
async def experiment_start(request: Request, experiment_id: str) -> Response:
    return await _act(request, experiment_id, "start")


@page(BASE + "/{experiment_id}/stop", permission="journeys.edit", methods=("POST",))
async def experiment_stop(request: Request, experiment_id: str) -> Response:
    return await _act(request, experiment_id, "stop")


@page(BASE + "/{experiment_id}/winner", permission="journeys.edit", methods=("POST",))
async def experiment_winner(request: Request, experiment_id: str) -> Response:
    return await _act(request, experiment_id, "winner")
