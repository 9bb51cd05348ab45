"""The dashboard's Journeys pages: the list, one journey (its steps as a graph with per-step counts, runs,
actions) and the definition editor (YAML or JSON, checked on the server with precise errors).

Actions call the same service functions as ``/v1/journeys``; every one is a CSRF-protected form post.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import yaml
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.errors import TouchlineError, ValidationFailed
from touchline.journeys import service as journeys
from touchline.journeys.definition import CHAT_SURVEY, SendNode, SurveyNode, parse
from touchline.messaging import service as messaging
from touchline.web import graph
from touchline.web.http import formatter, page, problem_details, redirect, render, services, viewer

__all__ = ["STARTER"]

FORMATS = ("yaml", "json")
MAX_DEFINITION = 256_000  # characters; the API's body limit is of the same order
RUNS_SHOWN = 20

# What a new journey starts from: every part named, small enough to read at a glance.
STARTER = """\
# A journey: who enters (trigger), what happens (nodes, from start), when it counts (goal).
id: welcome
name: Welcome series
trigger:
  type: event
  event: Signed Up
reentry:
  mode: once
goal:
  event: Order Completed
  within: 7d
exit_on:
  - type: event
    event: Unsubscribed
start: wait_a_day
nodes:
  - type: wait
    id: wait_a_day
    duration: 1d
    next: has_ordered
  - type: condition
    id: has_ordered
    condition: {type: event, event: Order Completed}
    "yes": done
    "no": welcome_offer
  - type: send
    id: welcome_offer
    channel: preferred
    template: welcome-offer
    kind: advertising
    next: done
  - type: exit
    id: done
"""


def _stores(request: Request) -> Any:
    return services(request).stores


def read_definition(text: str, fmt: str) -> dict[str, Any]:
    """The editor's text as a definition document; syntax errors name the line and column."""
    if len(text) > MAX_DEFINITION:
        raise ValidationFailed("definition too long", [{"field": "", "reason": f"at most {MAX_DEFINITION} characters"}])
    if fmt == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed("invalid JSON", [{"field": f"line {exc.lineno}, column {exc.colno}",
                                                     "reason": exc.msg}]) from exc
    else:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            reason = " ".join(str(p) for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
            raise ValidationFailed("invalid YAML", [{"field": where, "reason": reason or str(exc)}]) from exc
    if not isinstance(doc, dict):
        raise ValidationFailed("not a journey", [{"field": "", "reason": "a journey definition is a mapping (object)"}])
    return _yes_no_keys(doc)


def _yes_no_keys(value: Any) -> Any:
    """YAML 1.1 reads a bare ``yes:`` / ``no:`` key (a condition's branches) as a boolean; a marketer means
    the words."""
    if isinstance(value, dict):
        return {({True: "yes", False: "no"}.get(k, k) if isinstance(k, bool) else k): _yes_no_keys(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_yes_no_keys(v) for v in value]
    return value


def locate(text: str, pointer: str) -> int | None:
    """The line (1-based) of the value a JSON pointer (``/nodes/1/next``) names in the editor's text (YAML
    or JSON: YAML reads both), or of the nearest part of it that exists; None when the text does not parse."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None or not pointer.startswith("/"):
        return None
    for part in pointer.strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if str(k.value) == part
                          or (part in ("yes", "no") and k.value.lower() == part)), None)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            found = node.value[int(part)]
        else:
            found = None
        if found is None:
            break
        node = found
    return int(node.start_mark.line) + 1


def _with_lines(text: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "line": locate(text, str(p.get("field") or ""))} if str(p.get("field") or "").startswith("/")
            else p for p in problems]


def write_definition(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


# --- list --------------------------------------------------------------------------------------------


@page("/journeys", permission="journeys.view", nav="nav.journeys", nav_after="nav.segments")
async def journey_list(request: Request) -> Response:
    rows = await run_in_threadpool(journeys.list_journeys, _stores(request), viewer(request).workspace_id)
    for row in rows:
        runs = row["runs"]
        row["entered"] = sum(runs.values())
        row["active"] = runs.get("active", 0) + runs.get("waiting", 0)
        row["converted"] = runs.get("converted", 0)
    rows.sort(key=lambda r: r["updated_at"], reverse=True)
    rows.sort(key=lambda r: r["status"] == "archived")  # archived ones last, each part newest first
    return render(request, "journeys.html", journeys=rows)


# --- one journey -------------------------------------------------------------------------------------


async def _detail(request: Request, journey_id: str, *, errors: list[dict[str, Any]] | None = None,
                  errors_title: str = "journey.action_failed", valid: str | None = None, status: int = 200
                  ) -> Response:
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    stats = await run_in_threadpool(journeys.stats, stores, workspace_id, journey_id)
    journey = await run_in_threadpool(journeys.get, stores, workspace_id, journey_id,
                                      stats["published_version"] or None)
    by_node = await run_in_threadpool(journeys.runs_by_node, stores, workspace_id, journey_id)
    runs = await run_in_threadpool(journeys.runs, stores, workspace_id, journey_id, limit=RUNS_SHOWN)
    names = await run_in_threadpool(messaging.customer_labels, stores, workspace_id, [r["customer_id"] for r in runs])
    definition = parse(journey["definition"])
    f = formatter(request)
    picture = graph.layout(f, definition, stats, by_node)
    types = {n.id: n.type for n in definition.nodes}
    # Each send step's template, previewed as the step sends it (this journey's trigger and kind), per channel.
    saved = await run_in_threadpool(messaging.list_templates, stores, workspace_id)
    channels_of: dict[str, list[str]] = {}
    for t in saved:
        channels_of.setdefault(t["key"], []).append(t["channel"])
    sending = [(n.id, n.template_key if isinstance(n, SurveyNode) else n.template, n.channel)
               for n in definition.nodes if isinstance(n, SendNode | SurveyNode) and n.channel != CHAT_SURVEY]
    previews = {nid: [(ch, "/messages/templates?" + urlencode({"key": key, "channel": ch,
                                                                "journey": journey_id}) + "#preview")
                      for ch in channels_of.get(key, []) if channel in (ch, "preferred", "best")]
                for nid, key, channel in sending}
    return render(request, "journey.html", status_code=status, j=journey, d=definition, stats=stats,
                  graph=picture, types=types, by_node=by_node, runs=runs, names=names, errors=errors,
                  errors_title=errors_title, valid=valid, previews=previews)


@page("/journeys/new", permission="journeys.edit")
async def journey_new(request: Request) -> Response:
    fmt = request.query_params.get("format", "yaml")
    fmt = fmt if fmt in FORMATS else "yaml"
    text = STARTER if fmt == "yaml" else write_definition(yaml.safe_load(STARTER), "json")
    return render(request, "journey_edit.html", j=None, text=text, fmt=fmt, errors=None, valid=None)


async def _editor_post(request: Request, journey: dict[str, Any] | None) -> Response:
    form = await request.form()
    fmt = str(form.get("format", "yaml"))
    fmt = fmt if fmt in FORMATS else "yaml"
    text = str(form.get("definition", ""))
    action = str(form.get("action", "save"))
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    f = formatter(request)
    try:
        doc = read_definition(text, fmt)
        if journey is not None:
            doc.setdefault("id", journey["id"])
        if action == "validate":
            result = await run_in_threadpool(journeys.validate, stores, workspace_id, doc)
            if result["problems"]:
                raise ValidationFailed("invalid references", result["problems"])
            nodes = len(result["definition"]["nodes"])
            return render(request, "journey_edit.html", j=journey, text=text, fmt=fmt, errors=None,
                          valid=f.t("journey.valid", nodes=f.number(nodes)))
        if journey is None:
            saved = await run_in_threadpool(journeys.create, stores, workspace_id, doc)
        else:
            saved = await run_in_threadpool(journeys.save_version, stores, workspace_id, journey["id"], doc)
    except TouchlineError as exc:
        return render(request, "journey_edit.html", status_code=422 if exc.status < 500 else exc.status,
                      j=journey, text=text, fmt=fmt, errors=_with_lines(text, problem_details(exc)), valid=None)
    query = urlencode({"done": "journey.saved", "version": saved["latest_version"]})
    return redirect(f"/journeys/{quote(saved['id'], safe='')}?{query}")


@page("/journeys", permission="journeys.edit", methods=("POST",))
async def journey_create(request: Request) -> Response:
    return await _editor_post(request, None)


@page("/journeys/{journey_id}", permission="journeys.view")
async def journey_detail(request: Request, journey_id: str) -> Response:
    return await _detail(request, journey_id)


@page("/journeys/{journey_id}/edit", permission="journeys.edit")
async def journey_edit(request: Request, journey_id: str) -> Response:
    fmt = request.query_params.get("format", "yaml")
    fmt = fmt if fmt in FORMATS else "yaml"
    journey = await run_in_threadpool(journeys.get, _stores(request), viewer(request).workspace_id, journey_id)
    doc = dict(journey["definition"])
    doc.pop("version", None)  # every save makes the next version
    return render(request, "journey_edit.html", j=journey, text=write_definition(doc, fmt), fmt=fmt, errors=None,
                  valid=None)


@page("/journeys/{journey_id}", permission="journeys.edit", methods=("POST",))
async def journey_save(request: Request, journey_id: str) -> Response:
    journey = await run_in_threadpool(journeys.get, _stores(request), viewer(request).workspace_id, journey_id)
    return await _editor_post(request, journey)


@page("/journeys/{journey_id}/validate", permission="journeys.edit", methods=("POST",))
async def journey_validate(request: Request, journey_id: str) -> Response:
    """Check the latest saved version, as publishing it would."""
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    journey = await run_in_threadpool(journeys.get, stores, workspace_id, journey_id)
    try:
        result = await run_in_threadpool(journeys.validate, stores, workspace_id, journey["definition"])
    except TouchlineError as exc:
        return await _detail(request, journey_id, errors=problem_details(exc), errors_title="journey.invalid",
                             status=422)
    if result["problems"]:
        return await _detail(request, journey_id, errors=result["problems"], errors_title="journey.invalid",
                             status=422)
    f = formatter(request)
    return await _detail(request, journey_id, valid=f.t("journey.valid_saved", version=journey["latest_version"]))


ACTIONS = {
    "publish": (journeys.publish, "journey.published"),
    "pause": (journeys.pause, "journey.paused"),
    "resume": (journeys.resume, "journey.resumed"),
    "archive": (journeys.archive, "journey.archived"),
}


async def _act(request: Request, journey_id: str, action: str) -> Response:
    call, done = ACTIONS[action]
    try:
        await run_in_threadpool(call, _stores(request), viewer(request).workspace_id, journey_id)
    except ValidationFailed as exc:
        return await _detail(request, journey_id, errors=problem_details(exc), errors_title="journey.cannot_publish",
                             status=422)
    except TouchlineError as exc:
        if exc.status == 404:
            raise
        return await _detail(request, journey_id, errors=[{"field": "", "reason": exc.message}], status=exc.status)
    return redirect(f"/journeys/{quote(journey_id, safe='')}?done={done}")


@page("/journeys/{journey_id}/publish", permission="journeys.edit", methods=("POST",))
async def journey_publish(request: Request, journey_id: str) -> Response:
    return await _act(request, journey_id, "publish")


@page("/journeys/{journey_id}/pause", permission="journeys.edit", methods=("POST",))
async def journey_pause(request: Request, journey_id: str) -> Response:
    return await _act(request, journey_id, "pause")


@page("/journeys/{journey_id}/resume", permission="journeys.edit", methods=("POST",))
async def journey_resume(request: Request, journey_id: str) -> Response:
    return await _act(request, journey_id, "resume")


@page("/journeys/{journey_id}/archive", permission="journeys.edit", methods=("POST",))
async def journey_archive(request: Request, journey_id: str) -> Response:
    return await _act(request, journey_id, "archive")
