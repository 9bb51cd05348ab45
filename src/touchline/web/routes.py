"""The dashboard's pages: sign-in, overview, funnels, cohorts, segments and customers; Journeys and
Messages live in :mod:`touchline.web.journey_pages` and :mod:`touchline.web.message_pages`.

HTTP only: parse the request, call the services (analytics, segments, profiles, journeys, messaging),
render a template.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from touchline.analytics import service as analytics
from touchline.customers import service as customers
from touchline.errors import BadRequest, TouchlineError
from touchline.http import JSONBody, bounded_float, bounded_int
from touchline.messaging.store import CUSTOMER_VIEW_MESSAGES
from touchline.profiles import service as profiles
from touchline.segments import service as segments
from touchline.segments.templates import TEMPLATES
from touchline.segments.validate import SegmentDefinitionError
from touchline.web import auth, charts, forms, throttle
from touchline.web.http import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    formatter,
    page,
    problem_details,
    redirect,
    render,
    router,
    same_origin,
    services,
    set_cookie,
    viewer,
)
from touchline.web.i18n import Formatter
from touchline.web.periods import PERIOD_CHOICES, period_of

__all__ = ["router"]

DEFAULT_FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")


def _stores(request: Request) -> Any:
    return services(request).stores


# --- signing in and out ------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //elsewhere or a full URL) is followed after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_form(request: Request, *, error: str | None = None, email: str = "", status: int = 200,
                headers: dict[str, str] | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status_code=status, login_csrf=token, error=error, email=email,
                      next=_safe_next(request.query_params.get("next")))
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    response.headers.update(headers or {})
    return response


def _locked_out(request: Request, email: str, until: dt.datetime, now: dt.datetime) -> Response:
    """429 with ``Retry-After``, and the page says when (local time) and in how long."""
    f = formatter(request)
    seconds = throttle.retry_after(until, now)
    error = f.t("login.locked", time=f.datetime(until, "short"), wait=f.duration(seconds))
    return _login_form(request, error=error, email=email, status=429, headers={"Retry-After": str(seconds)})


async def login_page(request: Request) -> Response:
    return _login_form(request)


async def login(request: Request) -> Response:
    form = await request.form()
    f = formatter(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    if not same_origin(request) or not auth.same_token(str(form.get(CSRF_FIELD, "")),
                                                         request.cookies.get(LOGIN_CSRF_COOKIE, "") or ""):
        return _login_form(request, error=f.t("login.expired"), email=email, status=403)
    stores, client = _stores(request), request.client.host if request.client else "unknown"
    now = dt.datetime.now(dt.UTC)
    # While the account or the client is locked, the password is not even checked: a right one is
    # refused too.
    attempt = await run_in_threadpool(throttle.begin, stores, email, client, now)
    if attempt.refused_until is not None:
        return _locked_out(request, email, attempt.refused_until, now)
    user = await run_in_threadpool(auth.authenticate, stores, email, password)
    if user is None:
        until = throttle.failed(attempt)
        if until is not None:
            return _locked_out(request, email, until, now)
        return _login_form(request, error=f.t("login.failed"), email=email, status=401)
    await run_in_threadpool(throttle.succeeded, stores, attempt)
    idle = dt.timedelta(hours=_stores(request).settings.web_session_idle_hours)
    token = await run_in_threadpool(auth.start_session, _stores(request), user["id"], idle)
    response = redirect(_safe_next(str(form.get("next", "/"))))
    set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


router.add_api_route("/login", login_page, methods=["GET"], include_in_schema=False)
router.add_api_route("/login", login, methods=["POST"], include_in_schema=False)


@page("/logout", permission="customers.view", methods=("POST",))
async def logout(request: Request) -> Response:
    await run_in_threadpool(auth.end_session, _stores(request), request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login?done=logged_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page("/", permission="customers.view")
async def home(request: Request) -> Response:
    """The overview for those who read reports; customers for agents."""
    return redirect("/overview" if viewer(request).can("reports.view") else "/customers")


# --- reports -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataHint:
    """An empty report's pointer to where the workspace's events are (an import of last year, say)."""

    first: dt.date
    last: dt.date
    url: str


async def _data_hint(request: Request, f: Formatter, first_day: dt.date, last_day: dt.date, *,
                     range_link: bool = True) -> DataHint | None:
    """None when the workspace has no events, or has some between ``first_day`` and ``last_day``. The
    link shows the last 90 days of data (``range_link``), or reports up to the last day of data."""
    span = await run_in_threadpool(analytics.event_span, _stores(request), viewer(request).workspace_id)
    if span is None:
        return None
    first, last = (f.local_date(moment) for moment in span)
    if first <= last_day and last >= first_day:
        return None
    link = ({"start": max(first, last - dt.timedelta(days=89)).isoformat(), "end": last.isoformat()}
            if range_link else {"end": last.isoformat()})
    url = request.url.remove_query_params(["days", *link]).include_query_params(**link)
    return DataHint(first, last, f"{url.path}?{url.query}")


@page("/overview", permission="reports.view", nav="nav.overview")
async def overview(request: Request) -> Response:
    f = formatter(request)
    period = period_of(request, f)
    o = await run_in_threadpool(analytics.overview, _stores(request), viewer(request).workspace_id,
                                period.start, period.end, f.tz)
    partial = period.end > dt.datetime.now(dt.UTC)  # the period ends today: its last day is not over
    figures = {
        "daily": charts.daily_visitors(f, o, partial), "revenue": charts.daily_revenue(f, o, partial),
        "channels": charts.by_group(f, o.channels), "devices": charts.by_group(f, o.devices),
    }
    hint = await _data_hint(request, f, period.first_day, period.last_day) if o.total.visitors == 0 else None
    return render(request, "overview.html", o=o, period=period, figures=figures, choices=PERIOD_CHOICES, hint=hint)


async def _event_names(request: Request) -> list[str]:
    rows = await run_in_threadpool(analytics.event_names, _stores(request), viewer(request).workspace_id)
    return [name for name, _ in rows]


@page("/funnels", permission="reports.view", nav="nav.funnels")
async def funnels(request: Request) -> Response:
    f = formatter(request)
    period = period_of(request, f)
    q = request.query_params
    given = "step" in q
    steps = forms.funnel_steps(q.getlist("step")) if given else list(DEFAULT_FUNNEL)
    breakdown: analytics.Breakdown | None = None
    match requested := q.get("breakdown"):  # a match narrows the text to the Literal; ``in`` would not
        case "channel" | "device_type" | "first_touch_source":
            breakdown = requested
    window = bounded_float(q.get("window"), 168.0, 1.0, 24 * 365.0)
    result, error = None, None
    if steps:
        result = await run_in_threadpool(
            analytics.funnel, _stores(request), viewer(request).workspace_id,
            [analytics.Step(s) for s in steps], dt.timedelta(hours=window), period.start, period.end, breakdown)
    else:
        error = f.t("funnel.need_step")
    figure = charts.funnel(f, result.groups) if result and result.groups else None
    hint = await _data_hint(request, f, period.first_day, period.last_day) if result and not result.groups else None
    return render(request, "funnels.html", steps=steps or [""], breakdown=breakdown or "", window=window,
                  period=period, choices=PERIOD_CHOICES, result=result, figure=figure, error=error,
                  event_names=await _event_names(request), hint=hint)


@page("/cohorts", permission="reports.view", nav="nav.cohorts")
async def cohorts(request: Request) -> Response:
    f = formatter(request)
    q = request.query_params
    period: Literal["week", "month"] = "month"
    match requested := q.get("period"):
        case "week" | "month":
            period = requested
    months = bounded_int(q.get("months"), 6, 1, 24)
    cohort_event = (q.get("cohort_event") or "").strip() or None
    return_event = (q.get("return_event") or "").strip() or None
    end = dt.datetime.now(dt.UTC)
    last_day = end.astimezone(f.zone).date()
    try:
        if q.get("end"):  # reports up to another day than today (``YYYY-MM-DD``, inclusive)
            last_day = dt.date.fromisoformat(q["end"])
            end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), f.zone).astimezone(dt.UTC)
        start = end - dt.timedelta(days=round(months * 30.44))
    except (ValueError, OverflowError) as exc:  # OverflowError: the calendar's first or last days
        raise BadRequest("end must be a date (YYYY-MM-DD)", {"field": "end", "reason": "not a date"}) from exc
    rows = await run_in_threadpool(analytics.retention_cohorts, _stores(request), viewer(request).workspace_id,
                                   period, cohort_event, return_event, start, end, f.tz)
    today = dt.datetime.now(f.zone).date()
    running = (today - dt.timedelta(days=today.weekday()) if period == "week" else today.replace(day=1)) \
        if last_day >= today else None  # the week or month still under way
    figure = charts.cohorts(f, rows, period, running) if rows else None
    width = max((len(c.percent) for c in rows), default=0)
    hint = (await _data_hint(request, f, start.astimezone(f.zone).date(), last_day, range_link=False)
            if not rows else None)
    return render(request, "cohorts.html", rows=rows, figure=figure, period=period, months=months, width=width,
                  running=running,
                  cohort_event=cohort_event or "", return_event=return_event or "",
                  event_names=await _event_names(request), hint=hint, end=q.get("end", ""))


# --- segments ----------------------------------------------------------------------------------------


@page("/segments", permission="segments.view", nav="nav.segments")
async def segment_list(request: Request) -> Response:
    rows = await run_in_threadpool(segments.list_segments, _stores(request), viewer(request).workspace_id)
    return render(request, "segments.html", segments=rows)


def _pretty(definition: Any) -> str:
    return orjson.dumps(definition, option=orjson.OPT_INDENT_2).decode() if definition is not None else ""


async def _editor(request: Request, *, segment: dict[str, Any] | None, name: str, description: str, live: bool,
                  builder: forms.Builder | None, json_text: str, mode: str, errors: list[dict[str, Any]] | None = None,
                  status: int = 200) -> Response:
    others = await run_in_threadpool(segments.list_segments, _stores(request), viewer(request).workspace_id)
    if builder is None:
        builder, mode = forms.Builder(), "json"
    rows = builder.rows or [forms.Row()]
    return render(request, "segment_edit.html", status_code=status, segment=segment, name=name,
                  description=description, live=live, match=builder.match, rows=rows, json_text=json_text, mode=mode,
                  errors=errors, others=[s for s in others if not segment or s["id"] != segment["id"]],
                  templates=list(TEMPLATES), event_names=await _event_names(request), forms=forms,
                  trait_names=await _trait_names(request))


async def _trait_names(request: Request) -> list[tuple[str, int]]:
    found = await run_in_threadpool(profiles.trait_suggestions, _stores(request), viewer(request).workspace_id)
    return [(t["name"], t["customers"]) for t in found["traits"]]


@page("/segments/new", permission="segments.edit")
async def segment_new(request: Request) -> Response:
    template = request.query_params.get("template")
    definition = TEMPLATES.get(template or "")
    builder = forms.builder_of(definition) if definition else forms.Builder()
    return await _editor(request, segment=None, name="", description="", live=True, builder=builder,
                         json_text=_pretty(definition), mode="builder" if builder else "json")


@page("/segments/suggestions", permission="segments.edit")
async def segment_suggestions(request: Request) -> Response:
    """JSON for the rule builder: the workspace's trait names, and the values of ``?trait=`` that customers
    share (read from the most recently updated customers). For those who may edit segments."""
    trait = (request.query_params.get("trait") or "").strip()[:200] or None
    found = await run_in_threadpool(profiles.trait_suggestions, _stores(request), viewer(request).workspace_id,
                                    trait)
    return JSONBody(found, headers={"Cache-Control": "private, max-age=60"})


def _definition_from(form: Any) -> tuple[Any, forms.Builder | None, str]:
    """(definition, builder, mode) from an editor form: the builder's rows, or the JSON text."""
    mode = "json" if form.get("mode") == "json" else "builder"
    if mode == "json":
        text = str(form.get("definition_json", ""))
        try:
            definition = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SegmentDefinitionError("invalid JSON", [{"field": "(json)", "reason": str(exc)}]) from exc
        return definition, (forms.builder_of(definition) if isinstance(definition, dict) else None), mode
    builder = forms.builder_from_form(form)
    definition = forms.definition_of(builder)
    if definition is None:
        raise SegmentDefinitionError("empty rule", [{"field": "/", "reason": "add at least one condition"}])
    return definition, builder, mode


@page("/segments/preview", permission="segments.edit", methods=("POST",))
async def segment_preview(request: Request) -> Response:
    """The live count under the builder: a fragment (``#preview``) for the page's script to swap in."""
    form = await request.form()
    if form.get("mode") != "json" and forms.definition_of(forms.builder_from_form(form)) is None:
        return render(request, "_preview.html", errors=None, result=None, definition_json="", empty=True)
    try:
        definition, _builder, _mode = _definition_from(form)
        result = await run_in_threadpool(segments.preview, _stores(request), viewer(request).workspace_id,
                                         definition, sample=5)
    except TouchlineError as exc:
        return render(request, "_preview.html", errors=problem_details(exc), result=None, definition_json="")
    return render(request, "_preview.html", errors=None, result=result, definition_json=_pretty(definition))


async def _save(request: Request, segment: dict[str, Any] | None) -> Response:
    form = await request.form()
    name, description = str(form.get("name", "")).strip(), str(form.get("description", ""))
    live = form.get("live") == "on"
    workspace_id = viewer(request).workspace_id
    builder: forms.Builder | None = None
    mode, json_text = str(form.get("mode", "builder")), str(form.get("definition_json", ""))
    try:
        definition, builder, mode = _definition_from(form)
        if not name:
            raise SegmentDefinitionError("invalid segment", [{"field": "name", "reason": "must not be empty"}])
        if segment is None:
            saved = await run_in_threadpool(segments.create_segment, _stores(request), workspace_id, name, definition,
                                            description=description, live=live)
        else:
            saved = await run_in_threadpool(segments.update_segment, _stores(request), workspace_id, segment["id"],
                                            name=name, definition=definition, description=description, live=live)
    except TouchlineError as exc:
        if builder is None and mode != "json":
            builder = forms.builder_from_form(form)
        return await _editor(request, segment=segment, name=name, description=description, live=live,
                             builder=builder, json_text=json_text, mode=mode, errors=problem_details(exc), status=422)
    return redirect(f"/segments/{quote(saved['id'])}?done=segment.saved")


@page("/segments", permission="segments.edit", methods=("POST",))
async def segment_create(request: Request) -> Response:
    return await _save(request, None)


@page("/segments/{segment_id}", permission="segments.view")
async def segment_detail(request: Request, segment_id: str) -> Response:
    workspace_id = viewer(request).workspace_id
    segment = await run_in_threadpool(segments.get_segment, _stores(request), workspace_id, segment_id)
    after = request.query_params.get("after") or None
    members = await run_in_threadpool(segments.members, _stores(request), workspace_id, segment["id"], limit=50,
                                      after=after)
    return render(request, "segment.html", segment=segment, members=members, definition_json=_pretty(
        segment["definition"]))


@page("/segments/{segment_id}/edit", permission="segments.edit")
async def segment_edit(request: Request, segment_id: str) -> Response:
    segment = await run_in_threadpool(segments.get_segment, _stores(request), viewer(request).workspace_id, segment_id)
    builder = forms.builder_of(segment["definition"])
    return await _editor(request, segment=segment, name=segment["name"], description=segment["description"],
                         live=segment["live"], builder=builder, json_text=_pretty(segment["definition"]),
                         mode="builder" if builder else "json")


@page("/segments/{segment_id}", permission="segments.edit", methods=("POST",))
async def segment_update(request: Request, segment_id: str) -> Response:
    segment = await run_in_threadpool(segments.get_segment, _stores(request), viewer(request).workspace_id, segment_id)
    return await _save(request, segment)


@page("/segments/{segment_id}/delete", permission="segments.edit", methods=("POST",))
async def segment_delete(request: Request, segment_id: str) -> Response:
    workspace_id = viewer(request).workspace_id
    segment = await run_in_threadpool(segments.get_segment, _stores(request), workspace_id, segment_id)
    await run_in_threadpool(segments.delete_segment, _stores(request), workspace_id, segment["id"])
    return redirect("/segments?" + urlencode({"done": "segment.deleted", "name": segment["name"]}))


@page("/segments/{segment_id}/refresh", permission="segments.edit", methods=("POST",))
async def segment_refresh(request: Request, segment_id: str) -> Response:
    workspace_id = viewer(request).workspace_id
    segment = await run_in_threadpool(segments.get_segment, _stores(request), workspace_id, segment_id)
    changes = await run_in_threadpool(segments.refresh, _stores(request), workspace_id, [segment["id"]])
    query = urlencode({"done": "segment.refreshed_now", "entered": changes[0].entered, "exited": changes[0].exited})
    return redirect(f"/segments/{quote(segment['id'])}?{query}")


@page("/segments/{segment_id}/export.csv", permission="segments.export")
async def segment_export(request: Request, segment_id: str) -> Response:
    workspace_id = viewer(request).workspace_id
    segment = await run_in_threadpool(segments.get_segment, _stores(request), workspace_id, segment_id)
    lines = segments.export_csv(_stores(request), workspace_id, segment["id"])
    return StreamingResponse(iterate_in_threadpool(lines), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{segment["id"]}.csv"'})


# --- customers ---------------------------------------------------------------------------------------


CUSTOMERS_PAGE = 30


@page("/customers", permission="customers.view", nav="nav.customers")
async def customer_search(request: Request) -> Response:
    q = request.query_params.get("q", "")[:256]
    try:
        offset = min(max(int(request.query_params.get("offset", 0)), 0), 1_000_000)
    except ValueError:
        offset = 0
    found = await run_in_threadpool(profiles.search_page, _stores(request), viewer(request).workspace_id, q,
                                    CUSTOMERS_PAGE, offset)

    def page_url(at: int) -> str:
        return "/customers?" + urlencode([*([("q", q)] if q else []), *([("offset", str(at))] if at else [])])

    return render(request, "customers.html", q=q, customers=found.profiles, total=found.total, capped=found.capped,
                  offset=offset,
                  previous=page_url(max(offset - CUSTOMERS_PAGE, 0)), next=page_url(offset + CUSTOMERS_PAGE),
                  more=offset + len(found.profiles) < found.total)


TIMELINE_STEP = 50


@page("/customers/{profile_id}", permission="customers.view")
async def customer(request: Request, profile_id: str) -> Response:
    limit = bounded_int(request.query_params.get("limit"), TIMELINE_STEP, 1, 2000)
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    # The one-customer view: journeys and messages of this customer and of every profile merged into it.
    view = await run_in_threadpool(customers.view, stores, workspace_id, profile_id, timeline_limit=limit)
    orders = sum(1 for e in view["timeline"] if e.get("event") == "Order Completed")
    runs, sent = view["journeys"], view["messages"]
    goals = [r for r in runs if r["converted_at"] is not None]
    return render(request, "customer.html", c=view, limit=limit, step=TIMELINE_STEP, orders=orders,
                  consent_channels=forms.REACH_CHANNELS, runs=runs, sent=sent, goals=goals,
                  more_messages=len(sent) >= CUSTOMER_VIEW_MESSAGES)


@page("/customers/{profile_id}/consents", permission="consents.edit", methods=("POST",))
async def customer_consents(request: Request, profile_id: str) -> Response:
    form = await request.form()
    changes = {c: form.get(f"consent-{c}") == "granted" for c in forms.REACH_CHANNELS
               if form.get(f"consent-{c}") in ("granted", "denied")}
    if changes:
        await run_in_threadpool(profiles.set_consents, _stores(request), viewer(request).workspace_id, profile_id,
                                changes, source=f"dashboard:{viewer(request).email}")
    return redirect(f"/customers/{quote(profile_id)}?done=customer.consent.saved")



