"""The agents' inbox: queues (unassigned, mine, my team, all) filtered by channel, status, tag and
language; one conversation beside the customer panel; replies on the customer's channel under its rules,
private notes, canned responses, assignment, snooze and resolve; changes arrive live over a
session-authenticated Server-Sent Events stream (``/inbox/stream``) that ``static/inbox.js`` reads."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.conversations import channel_rules, feed, sse
from touchline.conversations import service as conversations
from touchline.conversations.types import CONVERSATION_CHANNELS, STATUSES, Author
from touchline.customers import service as customers
from touchline.errors import BadRequest, TouchlineError
from touchline.web import charts
from touchline.web.http import formatter, page, redirect, render, services, viewer
from touchline.web.periods import PERIOD_CHOICES, period_of

__all__ = ["QUEUES"]

log = logging.getLogger("touchline.web.inbox")

QUEUES = ("unassigned", "mine", "team", "all")
STATUS_FILTERS = ("active", *STATUSES, "all")
SNOOZES = {"1h": dt.timedelta(hours=1), "4h": dt.timedelta(hours=4), "1d": dt.timedelta(days=1)}


def _stores(request: Request) -> Any:
    return services(request).stores


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def _queue(stores: Any, workspace_id: str, user_id: str, queue: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    if queue == "unassigned":
        return conversations.list_conversations(stores, workspace_id, unassigned=True, **filters)
    if queue == "mine":
        return conversations.list_conversations(stores, workspace_id, assignee_id=user_id, **filters)
    if queue == "team":
        mine = [t["id"] for t in conversations.teams(stores, workspace_id)
                if any(m["user_id"] == user_id for m in t["members"])]
        rows: dict[str, dict[str, Any]] = {}
        for team_id in mine:
            for row in conversations.list_conversations(stores, workspace_id, team_id=team_id, **filters):
                rows[row["id"]] = row
        return sorted(rows.values(), key=lambda r: r["last_message_at"], reverse=True)
    return conversations.list_conversations(stores, workspace_id, **filters)


def _customer(stores: Any, workspace_id: str, profile_id: str) -> dict[str, Any] | None:
    try:
        return customers.view(stores, workspace_id, profile_id, timeline_limit=100)
    except TouchlineError:  # erased meanwhile
        return None


def _names(stores: Any, workspace_id: str, profile_ids: set[str]) -> dict[str, str]:
    """A display name per profile: the name trait, else an e-mail or phone, else None (shown as a guest)."""
    names: dict[str, str] = {}
    for pid in profile_ids:
        view = _customer(stores, workspace_id, pid)
        if view is None:
            continue
        traits = view.get("traits") or {}
        name = traits.get("name") or traits.get("email") or traits.get("phone")
        if name:
            names[pid] = str(name)
    return names


def _rules(conversation: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What the reply box says about the customer's channel."""
    channel = conversation["channel"]
    rule = channel_rules.RULES[channel]
    window_closed = False
    if rule.window is not None:
        last = conversation["last_inbound_at"]
        window_closed = last is None or now - last > rule.window
    return {"channel": channel, "max_chars": rule.max_chars, "window_closed": window_closed}


@page("/inbox", permission="inbox.use", nav="nav.inbox", nav_after="nav.customers")
async def inbox(request: Request) -> Response:
    q = request.query_params
    user = viewer(request)
    stores, workspace_id = _stores(request), user.workspace_id
    queue = _choice(q.get("queue"), QUEUES, "all")
    status = _choice(q.get("status"), STATUS_FILTERS, "active")
    channel = _choice(q.get("channel"), CONVERSATION_CHANNELS, "")
    language = (q.get("language") or "").strip()[:35]
    tag = (q.get("tag") or "").strip().lower()[:64]
    selected = (q.get("c") or "").strip()[:64]
    filters = {"status": status, "channel": channel or None, "language": language or None, "tag": tag or None,
               "limit": 100}
    now = dt.datetime.now(dt.UTC)

    def read() -> dict[str, Any]:
        rows = _queue(stores, workspace_id, user.id, queue, filters)
        conversation = messages = customer = None
        canned: list[dict[str, Any]] = []
        if selected:
            conversation = conversations.get_conversation(stores, workspace_id, selected)
            messages = conversations.messages(stores, workspace_id, selected, limit=200)
            customer = _customer(stores, workspace_id, conversation["profile_id"])
            for c in conversations.canned_responses(stores, workspace_id):
                try:
                    rendered = conversations.render_canned(stores, workspace_id, selected, c["id"],
                                                           agent_id=user.id)
                except TouchlineError:
                    continue
                canned.append({**c, "rendered": rendered.get("body", "")})
        names = _names(stores, workspace_id, {r["profile_id"] for r in rows})
        agents = {a["id"]: a for a in conversations.agents(stores, workspace_id)}
        return {"rows": rows, "conversation": conversation, "messages": messages, "customer": customer,
                "canned": canned, "names": names, "agents": agents}

    data = await run_in_threadpool(read)
    keep = [(k, v) for k, v in (("queue", queue), ("status", status), ("channel", channel), ("language", language),
                                ("tag", tag)) if v]

    def link(conversation_id: str) -> str:
        return "/inbox?" + urlencode([*keep, ("c", conversation_id)])

    conversation = data["conversation"]
    customer = data["customer"]
    orders: list[dict[str, Any]] = []
    cart: list[dict[str, Any]] = []
    if customer is not None:
        timeline = customer.get("timeline") or []
        orders = [e for e in timeline if e.get("event") == "Order Completed"][:5]
        cart = [e for e in timeline if e.get("event") in ("Product Added", "Cart Viewed")][:5]
    return render(request, "inbox.html", queue=queue, queues=QUEUES, status=status, statuses=STATUS_FILTERS,
                  channel=channel, channels=CONVERSATION_CHANNELS, language=language, tag=tag, link=link,
                  here=link(selected) if selected else "/inbox?" + urlencode(keep), selected=selected,
                  rules=_rules(conversation, now) if conversation else None, orders=orders, cart=cart,
                  snoozes=SNOOZES, **data)


def _per(stats: dict[str, Any], key: str, names: dict[str, str], none: str, unknown: str) -> list[dict[str, Any]]:
    """One row per agent (``key`` = ``by_agent``) or team (``by_team``): first response and resolution in the
    period, active conversations now; named, the busiest first, the unassigned last."""
    backlog = dict(stats["backlog"]["per_agent" if key == "by_agent" else "per_team"])
    if key == "by_agent" and stats["backlog"]["unassigned"]:
        backlog["(none)"] = stats["backlog"]["unassigned"]  # waiting for someone to take them
    first, resolved = stats["first_response"][key], stats["resolution"][key]
    rated = stats["ratings"]["by_agent"] if key == "by_agent" else {}
    rows = []
    for who in {*first, *resolved, *backlog}:
        empty = {"count": 0, "median": None, "p90": None}
        label = none if who == "(none)" else names.get(who) or unknown
        rows.append({"id": who, "name": label, "first": first.get(who, empty), "resolved": resolved.get(who, empty),
                     "active": backlog.get(who, 0 if who != "(none)" else None), "csat": rated.get(who)})
    return sorted(rows, key=lambda r: (r["id"] == "(none)", -r["first"]["count"] - r["resolved"]["count"],
                                       r["name"]))


@page("/inbox/report", permission="inbox.use", nav="nav.inbox_report", nav_after="nav.inbox")
async def report(request: Request) -> Response:
    """First response and resolution times, conversations by channel and by hour of the day (in the viewer's
    time zone), the backlog now, per agent and per team: :func:`touchline.conversations.service.stats`."""
    f = formatter(request)
    period = period_of(request, f)
    stores, workspace_id = _stores(request), viewer(request).workspace_id

    def read() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        stats = conversations.stats(stores, workspace_id, period.start, period.end, timezone=f.tz)
        agents = {a["id"]: a["name"] or a["email"] for a in conversations.agents(stores, workspace_id)}
        teams = {t["id"]: t["name"] for t in conversations.teams(stores, workspace_id)}
        return stats, agents, teams

    stats, agents, teams = await run_in_threadpool(read)
    per_channel = [{"channel": c, "started": n, "first": stats["first_response"]["by_channel"].get(c),
                    "resolved": stats["resolution"]["by_channel"].get(c)}
                   for c, n in sorted(stats["conversations"]["by_channel"].items(), key=lambda kv: (-kv[1], kv[0]))]
    backlog = stats["backlog"]
    figures = {"channels": charts.conversations_by_channel(f, stats["conversations"]["by_channel"]),
               "hours": charts.conversations_by_hour(f, stats["by_hour"]),
               "backlog": charts.backlog(f, backlog["by_status"], backlog["unassigned"])}
    return render(request, "inbox_report.html", stats=stats, period=period, choices=PERIOD_CHOICES, figures=figures,
                  per_channel=per_channel, known={"inbox.status." + s for s in STATUSES},
                  per_agent=_per(stats, "by_agent", agents, f.t("inbox.nobody"), f.t("report.unknown_agent")),
                  per_team=_per(stats, "by_team", teams, f.t("report.no_team"), f.t("report.team")))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _back(form: dict[str, str], conversation_id: str) -> Response:
    target = form.get("back") or ""
    if not target.startswith("/inbox?"):
        target = "/inbox?c=" + quote(conversation_id)
    return redirect(target)


@page("/inbox/{conversation_id}/reply", permission="inbox.use", methods=("POST",))
async def reply(request: Request, conversation_id: str) -> Response:
    form = await _form(request)
    user = viewer(request)
    body = form.get("body", "")
    if not body.strip():
        raise BadRequest(formatter(request).t("inbox.empty_reply"), {"field": "body", "reason": "empty"})
    kind = form.get("kind", "reply")
    author = Author("agent", user.id)
    if kind == "note":
        await run_in_threadpool(conversations.note, _stores(request), user.workspace_id, conversation_id, body,
                                author=author, client_key=form.get("client_key") or None)
    else:
        await run_in_threadpool(conversations.reply, _stores(request), user.workspace_id, conversation_id, body,
                                author=author, client_key=form.get("client_key") or None)
    return _back(form, conversation_id)


@page("/inbox/{conversation_id}/action", permission="inbox.use", methods=("POST",))
async def action(request: Request, conversation_id: str) -> Response:
    form = await _form(request)
    user = viewer(request)
    stores, workspace_id, by = _stores(request), user.workspace_id, Author("agent", user.id)
    what = form.get("action", "")
    if what == "assign_me":
        await run_in_threadpool(conversations.assign, stores, workspace_id, conversation_id, assignee_id=user.id, by=by)
    elif what == "assign":
        assignee = form.get("assignee_id") or None
        await run_in_threadpool(conversations.assign, stores, workspace_id, conversation_id, assignee_id=assignee,
                                by=by)
    elif what == "resolve":
        await run_in_threadpool(conversations.resolve, stores, workspace_id, conversation_id, by=by)
    elif what == "reopen":
        await run_in_threadpool(conversations.reopen, stores, workspace_id, conversation_id, by=by)
    elif what in {f"snooze_{k}" for k in SNOOZES}:
        until = dt.datetime.now(dt.UTC) + SNOOZES[what.removeprefix("snooze_")]
        await run_in_threadpool(conversations.snooze, stores, workspace_id, conversation_id, until, by=by)
    else:
        raise BadRequest(f"unknown action {what!r}", {"field": "action", "reason": "unknown"})
    return _back(form, conversation_id)


@page("/inbox/stream", permission="inbox.use")
async def stream(request: Request) -> Response:
    """The workspace's conversation changes for the signed-in agent (notes included), as Server-Sent
    Events: what the inbox page listens to so that it updates without reloading."""
    opened = await sse.open_stream(_stores(request), viewer(request).workspace_id)

    def change(item: feed.FeedItem) -> str:
        data = orjson.dumps({"seq": item.seq, "kind": item.kind, "conversation_id": item.conversation_id})
        return f"id: {item.seq}\nevent: change\ndata: {data.decode()}\n\n"

    # The page reloads its parts on any change: no resume, and a stream that fell behind just ends.
    body = sse.events(opened, change, reset_when_behind=False)
    user = viewer(request)
    return sse.response(_online_while_open(body, _stores(request), user.workspace_id, user.id),
                        headers={"X-Accel-Buffering": "no"})


# An agent is online while an inbox page is open: its stream renews their presence (what automatic
# assignment reads) every minute, for a minute and a half, so a closed tab or a lost connection lets it
# lapse within 90 s, while a second open tab keeps it.
PRESENCE_SECONDS = 90
PRESENCE_RENEW_SECONDS = 60


async def _online_while_open(body: AsyncIterator[str], stores: Any, workspace_id: str, user_id: str
                             ) -> AsyncIterator[str]:
    async def renew() -> None:
        try:
            await run_in_threadpool(conversations.heartbeat, stores, workspace_id, user_id,
                                    seconds=PRESENCE_SECONDS)
        except TouchlineError as exc:  # a disabled user, a store that is busy: the stream goes on
            log.warning("inbox presence not renewed for %s: %s", user_id, exc)

    await renew()
    renewed = time.monotonic()
    async for text in body:  # keep-alives every 15 s: the loop turns at least that often
        if time.monotonic() - renewed >= PRESENCE_RENEW_SECONDS:
            await renew()
            renewed = time.monotonic()
        yield text
