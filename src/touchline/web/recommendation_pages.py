"""The dashboard's recommendations page (issue 17): the model in use and how it was chosen (precision,
recall and nDCG at 10 on held-out last orders, each algorithm beside popularity, as a chart with its
numbers), the shop's rules, and sample recommendations (the customers with the longest histories, or one
looked up), each product with the reason it is there. Marketers and admins read it and may train now."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.errors import NotFound
from touchline.personalization import service, training
from touchline.profiles import service as profile_service
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer

__all__: list[str] = []

BASE = "/recommendations"
LOOKUP_MAX_CHARS = 200


@page(BASE, permission="reports.view", nav="nav.recommendations", nav_after="nav.messages")
async def recommendations_page(request: Request) -> Response:
    f = formatter(request)
    stores, workspace_id = services(request).stores, viewer(request).workspace_id
    lookup = (request.query_params.get("customer") or "").replace("\x00", "").strip()[:LOOKUP_MAX_CHARS]

    def read() -> tuple[dict[str, Any] | None, dict[str, Any], list[dict[str, Any]], bool]:
        summary = service.model_summary(stores, workspace_id)
        rules = service.rules(stores, workspace_id)
        chosen: list[str] = []
        unknown = False
        if lookup:
            try:
                chosen = [profile_service.resolve(stores, workspace_id, lookup)]
            except NotFound:
                unknown = True
        sample = [] if unknown else service.samples(stores, workspace_id, customers=chosen)
        return summary, rules, sample, unknown

    summary, rules, sample, unknown = await run_in_threadpool(read)
    evaluation = (summary or {}).get("evaluation")
    if not (evaluation or {}).get("algorithms"):  # trained without one, or before anyone ordered twice
        evaluation = None
    figure = charts.recommendation_quality(f, evaluation) if evaluation else None
    algorithms = {name: f.t("recs.algorithm." + name) for name in ("popularity", *training.ALGORITHMS)}
    return render(request, "recommendations.html", summary=summary, rules=rules, sample=sample, lookup=lookup,
                  unknown=unknown, evaluation=evaluation, figure=figure, measures=charts.RECOMMENDATION_MEASURES,
                  algorithms=algorithms)


@page(BASE + "/train", permission="recommendations.edit", methods=("POST",))
async def train_now(request: Request) -> Response:
    stores, workspace_id = services(request).stores, viewer(request).workspace_id
    await run_in_threadpool(service.train, stores, workspace_id)
    return redirect(BASE + "?done=recs.saved")
