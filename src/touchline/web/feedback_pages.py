"""The dashboard's Surveys and Reviews pages (issue 18), in Korean and English: the NPS over time with its
95 % interval as a chart (and its numbers in a table), CSAT, the latest comments; the reviews' moderation
queue (waiting, approved, rejected) with the profanity filter's findings, approve, reject and reply
(marketers and admins; agents read)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.feedback import service as feedback
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer

__all__: list[str] = []

SURVEYS = "/surveys"
REVIEWS = "/reviews"
STATUSES = ("pending", "approved", "rejected")


def _stores(request: Request) -> Any:
    return services(request).stores


@page(SURVEYS, permission="feedback.view", nav="nav.surveys", nav_after="nav.faq")
async def surveys(request: Request) -> Response:
    f = formatter(request)
    until = dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(weeks=12)
    report = await run_in_threadpool(lambda: feedback.nps_report(
        _stores(request), viewer(request).workspace_id, since=since, until=until, interval="week", comments=30))
    for period in report["periods"]:
        period["day"] = dt.date.fromisoformat(period["start"])
    return render(request, "surveys.html", report=report, figure=charts.nps_over_time(f, report["periods"]))


@page(REVIEWS, permission="feedback.view", nav="nav.reviews", nav_after="nav.surveys")
async def reviews(request: Request) -> Response:
    status = request.query_params.get("status")
    status = status if status in STATUSES else "pending"
    stores, workspace_id = _stores(request), viewer(request).workspace_id

    def read() -> tuple[list[dict[str, Any]], dict[str, int]]:
        return (feedback.list_reviews(stores, workspace_id, status=status, limit=100),
                feedback.review_counts(stores, workspace_id))

    rows, counts = await run_in_threadpool(read)
    done = request.query_params.get("done")
    return render(request, "reviews.html", reviews=rows, counts=counts, status=status, statuses=STATUSES,
                  done=done if done in STATUSES or done == "replied" else None)


async def _moderate(request: Request, review_id: str, action: feedback.Action) -> Response:
    form = await request.form()
    text = form.get("reply")
    user = viewer(request)
    row = await run_in_threadpool(lambda: feedback.moderate(
        _stores(request), user.workspace_id, review_id, action, by=f"user:{user.email}",
        now=dt.datetime.now(dt.UTC), reply=text if isinstance(text, str) else None))
    back = str(form.get("back") or "pending")
    done = "replied" if action == "reply" else row["status"]
    return redirect(f"{REVIEWS}?" + urlencode({"status": back if back in STATUSES else "pending", "done": done}))


@page(REVIEWS + "/{review_id}/approve", permission="feedback.moderate", methods=("POST",))
async def approve(request: Request, review_id: str) -> Response:
    return await _moderate(request, review_id, "approve")


@page(REVIEWS + "/{review_id}/reject", permission="feedback.moderate", methods=("POST",))
async def reject(request: Request, review_id: str) -> Response:
    return await _moderate(request, review_id, "reject")


@page(REVIEWS + "/{review_id}/reply", permission="feedback.moderate", methods=("POST",))
async def reply(request: Request, review_id: str) -> Response:
    return await _moderate(request, review_id, "reply")
