"""The dashboard's Data quality page: recent violations of the tracking plan by event and field, the
workspace's setting for unreadable values, its own event types and the built-in e-commerce types."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.ingest import quality
from touchline.web.http import page, render, services, viewer

__all__ = ["VIOLATIONS_SHOWN"]

VIOLATIONS_SHOWN = 100


@page("/data-quality", permission="reports.view", nav="nav.quality")
async def data_quality(request: Request) -> Response:
    stores, workspace_id = services(request).stores, viewer(request).workspace_id
    plan = await run_in_threadpool(quality.plan_view, stores, workspace_id)
    rows = await run_in_threadpool(quality.violations, stores, workspace_id, limit=VIOLATIONS_SHOWN)
    return render(request, "quality.html", plan=plan, rows=rows)
