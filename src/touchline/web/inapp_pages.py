"""The dashboard's in-app messages page (issue 17): each message's impressions, clicks and dismissals in a
period (a chart per message and per day, with the numbers in a table), the messages with their rules in
words (what shows each, how often, where), pausing and resuming one, and the workspace's frequency rule
across messages. Marketers and admins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.errors import TouchlineError
from touchline.inapp import service as inapp
from touchline.inapp.rules import GlobalRule
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer
from touchline.web.i18n import Formatter
from touchline.web.periods import PERIOD_CHOICES, period_of

__all__ = ["BASE", "describe"]

BASE = "/inapp"
KINDS = ("impression", "click", "dismiss")


def _stores(request: Request) -> Any:
    return services(request).stores


def describe(f: Formatter, message: dict[str, Any]) -> dict[str, Any]:
    """A message's rules as the viewer reads them: what shows it, its frequency, where it sits."""
    trigger = message.get("trigger") or {}
    kind = trigger.get("type")
    if kind == "page":
        rule = trigger.get("rule") or {}
        if rule.get("kind") == "product_views":
            when = f.t("inapp.rule.product_views", n=f.number(rule.get("at_least")),
                       days=f.number(rule.get("within_days")))
        elif rule.get("kind") == "cart_value":
            when = f.t("inapp.rule.cart_value", amount=f.money(rule.get("at_least")))
        else:
            when = f.t("inapp.rule.any_page")
    elif kind == "journey":
        journey = trigger.get("journey_id")
        when = f.t("inapp.trigger.journey", journey=journey) if journey else f.t("inapp.trigger.any_journey")
    else:
        when = f.t("inapp.trigger.event", event=f.event(trigger.get("event")))
    frequency = message.get("frequency") or {}
    parts = [f.t("inapp.freq.max", n=f.number(frequency["max_impressions"])) if frequency.get("max_impressions")
             else f.t("inapp.freq.unlimited")]
    if frequency.get("min_hours_between"):
        parts.append(f.t("inapp.freq.between", hours=f.number(frequency["min_hours_between"])))
    if frequency.get("stop_after_dismiss"):
        parts.append(f.t("inapp.freq.dismiss"))
    if frequency.get("stop_after_click"):
        parts.append(f.t("inapp.freq.click"))
    layout = f.t("inapp.layout." + str(message.get("layout")))
    where = f.t("inapp.position." + str(message.get("position")))
    return {"when": when, "waits": f.t("inapp.waits", hours=f.number(message.get("expires_hours")))
            if kind in ("journey", "event") else None,
            "frequency": ", ".join(parts), "layout": f"{layout} · {where}",
            "platforms": ", ".join(f.t("inapp.platform." + p) for p in message.get("platforms") or [])}


async def _page(request: Request, rule: GlobalRule | dict[str, Any] | None = None,
                problems: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
    f = formatter(request)
    period = period_of(request, f)
    stores, workspace_id = _stores(request), viewer(request).workspace_id

    def read() -> tuple[dict[str, Any], list[dict[str, Any]], GlobalRule]:
        return (inapp.report(stores, workspace_id, period.first_day, period.last_day),
                inapp.list_messages(stores, workspace_id), inapp.frequency_rule(stores, workspace_id))

    report, messages, saved_rule = await run_in_threadpool(read)
    shown_rule = rule if rule is not None else saved_rule.model_dump()
    if isinstance(shown_rule, GlobalRule):
        shown_rule = shown_rule.model_dump()
    items = report["messages"]
    totals = {k: sum(int(m[k]) for m in items) for k in KINDS}
    per_day = {k: [sum(m["by_day"][k][i] for m in items) for i in range(len(report["days"]))] for k in KINDS}
    rates = {"click": totals["click"] / totals["impression"] if totals["impression"] else None,
             "dismiss": totals["dismiss"] / totals["impression"] if totals["impression"] else None}
    figures = {"messages": charts.inapp_per_message(f, items),
               "days": charts.inapp_per_day(f, report["days"], per_day)}
    described = [{**m, "rules": describe(f, m)} for m in messages]
    return render(request, "inapp.html", status_code=status, period=period, choices=PERIOD_CHOICES,
                  report=report, items=items, totals=totals, rates=rates, figures=figures, messages=described,
                  rule=shown_rule, problems=problems or [], saved_rule=saved_rule)


@page(BASE, permission="inapp.view", nav="nav.inapp", nav_after="nav.messages")
async def inapp_page(request: Request) -> Response:
    return await _page(request)


@page(BASE + "/{message}/status", permission="inapp.edit", methods=("POST",))
async def inapp_status(request: Request, message: str) -> Response:
    form = await request.form()
    status = "paused" if form.get("status") == "paused" else "active"
    saved = await run_in_threadpool(inapp.set_status, _stores(request), viewer(request).workspace_id, message, status)
    done = "inapp.paused.saved" if status == "paused" else "inapp.resumed.saved"
    return redirect(f"{BASE}?" + urlencode({"done": done, "name": saved["name"]}) + f"#message-{saved['id']}")


def _number(value: Any) -> int | str | None:
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 7 else text


@page(BASE + "/frequency", permission="inapp.edit", methods=("POST",))
async def inapp_frequency(request: Request) -> Response:
    form = await request.form()
    minutes = _number(form.get("min_minutes_between"))
    payload = {"max_per_day": _number(form.get("max_per_day")),
               "min_minutes_between": 0 if minutes is None else minutes}
    try:
        await run_in_threadpool(inapp.set_frequency_rule, _stores(request), viewer(request).workspace_id, payload)
    except TouchlineError as exc:
        if exc.status >= 500:
            raise
        f = formatter(request)
        detail = exc.detail if isinstance(exc.detail, list) else []
        problems = [(f.t("inapp.field." + str(d.get("field"))) if str(d.get("field")) in payload
                     else str(d.get("field")), str(d.get("reason"))) for d in detail]
        return await _page(request, payload, problems, status=422)
    return redirect(f"{BASE}?done=inapp.frequency.saved#frequency")
