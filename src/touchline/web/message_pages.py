"""The dashboard's Messages pages: per-channel outcomes (sent, delivered, opened, clicked, failed,
suppressed by reason) and the delivery log with filters and paging; message templates with a preview
rendered for one customer."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.channels import MESSAGE_CHANNELS
from touchline.errors import TouchlineError
from touchline.http import bounded_int
from touchline.journeys import preview as journey_preview
from touchline.journeys import service as journeys
from touchline.messaging import service as messaging
from touchline.messaging.templates import CHANNEL_PARTS
from touchline.validation import INT32_MAX
from touchline.web.http import formatter, page, render, services, viewer
from touchline.web.periods import PERIOD_CHOICES, period_of

__all__ = ["PAGE_SIZE"]

PAGE_SIZE = 50
STATUSES = ("sent", "suppressed", "failed", "pending", "sending")
CHANNELS = MESSAGE_CHANNELS


def _stores(request: Request) -> Any:
    return services(request).stores


@page("/messages", permission="messages.view", nav="nav.messages", nav_after="nav.journeys")
async def message_log(request: Request) -> Response:
    f = formatter(request)
    q = request.query_params
    period = period_of(request, f)
    channel = q.get("channel") if q.get("channel") in CHANNELS else None
    status = q.get("status") if q.get("status") in STATUSES else None
    journey_id = (q.get("journey") or "").strip()[:200] or None
    customer = (q.get("customer") or "").strip()[:256]
    offset = bounded_int(q.get("offset"), 0, 0, INT32_MAX)
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    all_journeys = await run_in_threadpool(journeys.list_journeys, stores, workspace_id)
    customer_ids: list[str] | None = None
    unknown_customer = False
    if customer:
        try:
            customer_ids = await run_in_threadpool(messaging.customer_ids, stores, workspace_id, customer)
        except TouchlineError:  # unknown (404) or empty / malformed (400): no customer, no messages
            unknown_customer, customer_ids = True, []
    rows = await run_in_threadpool(messaging.message_log, stores, workspace_id, customer_ids=customer_ids,
                                   journey_id=journey_id, channel=channel, status=status, start=period.start,
                                   end=period.end, limit=PAGE_SIZE + 1, offset=offset)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    stats = await run_in_threadpool(messaging.stats_between, stores, workspace_id, period.start, period.end,
                                    journey_id=journey_id)
    filters = [(k, v) for k, v in (("channel", channel), ("status", status), ("journey", journey_id),
                                   ("customer", customer)) if v]
    base = filters + parse_qsl(period.query())

    def page_url(at: int) -> str:
        return "?" + urlencode(base + ([("offset", str(at))] if at else []))

    names = {j["id"]: j["name"] for j in all_journeys}
    return render(request, "messages.html", rows=rows, stats=stats["channels"], period=period,
                  choices=PERIOD_CHOICES, channel=channel or "", status=status or "", journey=journey_id or "",
                  customer=customer, journeys=all_journeys, names=names, channels=CHANNELS, statuses=STATUSES,
                  offset=offset, more=more, page_size=PAGE_SIZE, newer=page_url(max(offset - PAGE_SIZE, 0)),
                  older=page_url(offset + PAGE_SIZE), extra=filters, unknown_customer=unknown_customer)


@page("/messages/templates", permission="messages.view")
async def template_list(request: Request) -> Response:
    """Every template by key and channel; ``?key=&channel=[&customer=][&journey=]`` renders one exactly as a
    journey's send step would send it (``journeys.preview``): for the customer named, else the journey's
    latest, with the context of the journey's trigger and what the channel adds."""
    q = request.query_params
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    rows = await run_in_threadpool(messaging.list_templates, stores, workspace_id)
    key, channel, customer = (q.get("key") or "")[:200], (q.get("channel") or "")[:40], (q.get("customer") or "")[:256]
    journey_id = (q.get("journey") or "").strip()[:200] or None
    preview: dict[str, Any] | None = None
    error: str | None = None
    if key and channel:
        try:
            preview = await run_in_threadpool(functools.partial(
                journey_preview.preview, stores, workspace_id, key, channel, customer.strip() or None,
                journey_id=journey_id))
        except TouchlineError as exc:
            error = exc.message
    adaptive: dict[str, Any] | None = None
    chosen = next((r for r in rows if r["key"] == key and r["channel"] == channel), None)
    if chosen is not None and chosen.get("blocks"):  # what each kind of customer gets from its blocks
        try:
            adaptive = await run_in_threadpool(functools.partial(
                messaging.preview_adaptive, stores, workspace_id, key=key, channel=channel))
        except TouchlineError as exc:
            error = error or exc.message
    names: dict[str, str] = {}
    if preview is not None:
        who = [preview["profile_id"], *([preview["context"]["customer_id"]] if "customer_id" in preview["context"]
                                       else [])]
        names = await run_in_threadpool(messaging.customer_labels, stores, workspace_id, who)
    return render(request, "templates.html", templates=rows, key=key, channel=channel, customer=customer,
                  journey=journey_id or "", preview=preview, error=error, parts=CHANNEL_PARTS, names=names,
                  adaptive=adaptive,
                  event_json=orjson.dumps(preview["context"]["event"], option=orjson.OPT_INDENT_2).decode()
                  if preview else "")
