"""The inbox's teams (issue 14 and 15): who answers which channels, whether conversations are assigned
automatically (round-robin among online agents under their capacity, by language where the team says so), and
the hours the team keeps (outside them the shop assistant says when a person will answer). Agents read it;
admins change it, through the same service the API uses (:mod:`touchline.conversations.service`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.conversations import service as conversations
from touchline.conversations.types import CONVERSATION_CHANNELS
from touchline.errors import TouchlineError
from touchline.web.http import page, problem_details, redirect, render, services, viewer

__all__: list[str] = []

TEAMS = "/inbox/teams"
WEEK = tuple(range(7))  # 0 Monday ... 6 Sunday, as team hours store them


def _stores(request: Request) -> Any:
    return services(request).stores


async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    many = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in ("channels", "days")}
    return single, many


def _problem(exc: TouchlineError) -> str:
    first = problem_details(exc)[0]
    return f"{exc.message} ({first['field']}: {first.get('reason', '')})" if first.get("field") else exc.message


def _back(done: str | None = None, problem: str | None = None, team: str | None = None) -> Response:
    query = {k: v for k, v in (("done", done), ("problem", problem)) if v}
    anchor = f"#team-{team}" if team else ""
    return redirect(TEAMS + ("?" + urlencode(query) if query else "") + anchor)


@page(TEAMS, permission="inbox.use")
async def teams(request: Request) -> Response:
    stores, workspace_id = _stores(request), viewer(request).workspace_id

    def read() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
        return (conversations.teams(stores, workspace_id),
                {a["id"]: a for a in conversations.agents(stores, workspace_id) if not a["disabled"]},
                conversations.rating_settings(stores, workspace_id))

    rows, agents, settings = await run_in_threadpool(read)
    problem = request.query_params.get("problem")
    return render(request, "teams.html", teams=rows, agents=agents, channels=CONVERSATION_CHANNELS, week=WEEK,
                  settings=settings, problem=problem[:500] if problem else None)


@page(TEAMS + "/settings", permission="teams.edit", methods=("POST",))
async def settings(request: Request) -> Response:
    """The inbox settings: whether a resolved web chat asks for a rating."""
    single, _ = await _form(request)
    await run_in_threadpool(lambda: conversations.set_rating_settings(
        _stores(request), viewer(request).workspace_id, rate_on_resolve=single.get("rate_on_resolve") == "on"))
    return redirect(TEAMS + "?" + urlencode({"done": "teams.ratings.saved"}) + "#chat-ratings")


def _hours(single: dict[str, str], many: dict[str, list[str]]) -> dict[str, Any]:
    """The form's hours: no day ticked means always there (as the API's empty ``days``)."""
    days = sorted({int(d) for d in many.get("days", []) if d.isdigit() and int(d) in WEEK})
    return {"days": days, "opens": single.get("opens") or "09:00", "closes": single.get("closes") or "18:00",
            "timezone": single.get("timezone") or "Asia/Seoul"}


@page(TEAMS, permission="teams.edit", methods=("POST",))
async def create(request: Request) -> Response:
    single, many = await _form(request)
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    try:
        made = await run_in_threadpool(lambda: conversations.create_team(
            stores, workspace_id, single.get("name", ""), auto_assign=single.get("auto_assign") == "on",
            language_routing=single.get("language_routing") == "on", channels=many.get("channels", []),
            hours=_hours(single, many)))
    except TouchlineError as exc:
        return _back(problem=_problem(exc))
    return _back(done="teams.saved", team=made["id"])


@page(TEAMS + "/{team_id}", permission="teams.edit", methods=("POST",))
async def update(request: Request, team_id: str) -> Response:
    single, many = await _form(request)
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    try:
        await run_in_threadpool(lambda: conversations.update_team(
            stores, workspace_id, team_id, name=single.get("name", ""), auto_assign=single.get("auto_assign") == "on",
            language_routing=single.get("language_routing") == "on", channels=many.get("channels", []),
            hours=_hours(single, many)))
    except TouchlineError as exc:
        return _back(problem=_problem(exc), team=team_id)
    return _back(done="teams.saved", team=team_id)


@page(TEAMS + "/{team_id}/delete", permission="teams.edit", methods=("POST",))
async def delete(request: Request, team_id: str) -> Response:
    try:
        await run_in_threadpool(conversations.delete_team, _stores(request), viewer(request).workspace_id, team_id)
    except TouchlineError as exc:
        return _back(problem=_problem(exc))
    return _back(done="teams.deleted")


@page(TEAMS + "/{team_id}/members", permission="teams.edit", methods=("POST",))
async def set_member(request: Request, team_id: str) -> Response:
    single, _ = await _form(request)
    capacity = single.get("capacity", "10").strip()
    languages = [x.strip() for x in single.get("languages", "").replace("，", ",").split(",") if x.strip()]
    if not capacity.isdigit() or not 0 <= int(capacity) <= 1000:
        return _back(problem="capacity: 0 to 1,000", team=team_id)
    try:
        await run_in_threadpool(lambda: conversations.set_member(
            _stores(request), viewer(request).workspace_id, team_id, single.get("user_id", ""),
            capacity=int(capacity), languages=languages))
    except TouchlineError as exc:
        return _back(problem=_problem(exc), team=team_id)
    return _back(done="teams.saved", team=team_id)


@page(TEAMS + "/{team_id}/members/{user_id}/delete", permission="teams.edit", methods=("POST",))
async def remove_member(request: Request, team_id: str, user_id: str) -> Response:
    try:
        await run_in_threadpool(conversations.delete_member, _stores(request), viewer(request).workspace_id, team_id,
                                user_id)
    except TouchlineError as exc:
        return _back(problem=_problem(exc), team=team_id)
    return _back(done="teams.saved", team=team_id)
