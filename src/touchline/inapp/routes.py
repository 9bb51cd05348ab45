"""In-app messages over HTTP: what a customer may be shown and what they did with it (write key, from the
shop's pages through ``/sdk/inapp.js`` and from its apps; cross-origin like the chat), the script itself,
and the management API (admin token): the messages and their rules, the workspace's frequency rule, and
the per-message report."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from touchline import assets
from touchline.errors import ValidationFailed, field_error
from touchline.http import JSONBody, admin_principal, errors, verify_customer, write_principal
from touchline.inapp import service
from touchline.inapp.rules import GlobalRule, Message
from touchline.inapp.rules import Strict as _Strict
from touchline.workspaces.service import Principal

__all__ = ["admin", "public", "script"]

public = APIRouter(prefix="/v1/inapp", tags=["in-app messages"], responses=errors(400, 401, 403, 422))
admin = APIRouter(prefix="/v1/inapp/admin", tags=["in-app messages"], responses=errors(400, 401, 403, 422))
script = APIRouter(tags=["tracking"])
Writer = Annotated[Principal, Depends(write_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
SCRIPT = pathlib.Path(__file__).parent / "static" / "inapp.js"

USER = r"^[^\x00-\x20\x7f]+$"
User = Annotated[str, Query(min_length=1, max_length=512, pattern=USER, description=(
    "The customer: `anonymous_id:…` (analytics.js's anonymous id, `ajs_anonymous_id`), `user_id:…` or a bare "
    "user id for a signed-in customer (with their user_hash once the workspace verifies identities)"))]
UserHash = Annotated[str | None, Query(max_length=128, description=(
    "HMAC-SHA256 of `user`, signed on the shop's server (or `X-Touchline-User-Hash`); needed for a user id "
    "once the workspace has an identity secret"))]
MessageRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class InteractionIn(_Strict):
    """An impression, a click or a dismissal of one message, from the SDK or an app."""

    type: Literal["impression", "click", "dismiss"]
    message_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]{32}$", description="The message's id")
    user: str = Field(min_length=1, max_length=512, pattern=USER, description="As in GET /v1/inapp/messages")
    anonymous_id: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$",
                                     description="analytics.js's anonymous id, when `user` is a user id: the "
                                                 "browser joins the customer's profile")
    key: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                     description="The client's own id for this interaction: a retry records one")
    platform: Literal["web", "ios", "android"] = "web"
    language: Literal["ko", "en"] | None = None
    page_url: str | None = Field(None, max_length=2048, pattern=r"^[^\x00]*$")


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _verifies(request: Request, principal: Principal) -> bool:
    return principal.kind != "admin" and bool(request.app.state.services.keys.verifies_identities(
        principal.workspace_id))


def _check(request: Request, principal: Principal, user: str, user_hash: str | None) -> None:
    """A user id needs its user_hash once the workspace verifies identities (an anonymous id is checked by
    the service: it must not be a signed-in customer's)."""
    if service.identity_of(user)[0] == "user_id":
        verify_customer(request, principal, user, user_hash)


# --- the customer's side (write key) -------------------------------------------------------------------


@public.get("/messages", response_class=JSONBody, summary="What a customer may be shown now (write key)",
            responses={200: {"description": "`messages`: each rendered for the customer (`title`, `body`, `url`, "
                                            "`button`), with its `layout`, `position`, `trigger` (a page rule for "
                                            "the page or app to evaluate) and whether a journey or an event made "
                                            "it `pending`; the most pressing first"}})
async def messages(request: Request, principal: Writer, user: User,
                   platform: Annotated[Literal["web", "ios", "android"], Query()] = "web",
                   lang: Annotated[Literal["ko", "en"] | None, Query()] = None,
                   user_hash: UserHash = None) -> JSONBody:
    """The web SDK (``/sdk/inapp.js``) and the apps read the same: messages the frequency rules and the
    customer's consent allow now, triggered for them or waiting for a rule on the page. Show at most one,
    and report it with ``POST /v1/inapp/events`` (``impression``) before showing it."""
    _check(request, principal, user, user_hash)
    verifies, clock = _verifies(request, principal), request.app.state.services.clock
    return JSONBody(await run_in_threadpool(lambda: service.messages_for(
        _stores(request), principal.workspace_id, user, platform=platform, language=lang, verifies=verifies,
        now=clock())))


@public.post("/events", response_class=JSONBody, status_code=201, responses={
    200: {"description": "Nothing recorded: a repeat of the same `key` (`duplicate`), or an impression the "
                         "frequency rules or the consent refuse now (`show: false` and the `reason`)"},
    **errors(404, 413)}, summary="An impression, click or dismissal (write key)")
async def interaction(request: Request, principal: Writer, body: InteractionIn,
                      user_hash: Annotated[str | None, Header(alias="X-Touchline-User-Hash", max_length=128)] = None,
                      ) -> JSONBody:
    """Recorded as an event on the customer's profile through ingestion (``In-App Message Viewed``,
    ``In-App Message Clicked``, ``In-App Message Dismissed``). An impression is decided once more with the
    frequency rules first: show the message only when the answer says ``show: true``."""
    _check(request, principal, body.user, user_hash)
    verifies, clock = _verifies(request, principal), request.app.state.services.clock
    answer = await run_in_threadpool(lambda: service.interact(
        _stores(request), principal.workspace_id, kind=body.type, message_id=body.message_id, user=body.user,
        anonymous_id=body.anonymous_id, key=body.key, platform=body.platform, language=body.language,
        page_url=body.page_url, verifies=verifies, now=clock()))
    return JSONBody(answer, status_code=201 if answer["recorded"] and not answer.get("duplicate") else 200)


@script.get("/sdk/inapp.js", response_class=Response, summary="In-app messages for a shop's pages (a script tag)",
            responses={200: {"description": "The script",
                             "content": {"text/javascript": {"schema": {"type": "string"}}}}})
async def inapp_script(request: Request) -> Response:
    """``<script src=".../sdk/inapp.js" defer data-write-key=... [data-product-id=...] [data-cart-value=...]
    [data-identifier=... data-user-hash=...] [data-lang=ko]>``."""
    item = await run_in_threadpool(assets.asset, SCRIPT)
    return assets.respond(request, item, immutable=False, extra={
        "Cache-Control": "public, max-age=3600", "Cross-Origin-Resource-Policy": "cross-origin"})


# --- management (admin token) --------------------------------------------------------------------------


@admin.get("/messages", response_class=JSONBody, summary="In-app messages and their rules")
async def list_messages(request: Request, principal: Admin) -> JSONBody:
    return JSONBody({"messages": await run_in_threadpool(service.list_messages, _stores(request),
                                                         principal.workspace_id)})


@admin.post("/messages", response_class=JSONBody, status_code=201, responses=errors(409),
            summary="Create an in-app message")
async def create_message(request: Request, principal: Admin, body: Message) -> JSONBody:
    """Its content is an ``in_app`` template of the workspace (``PUT /v1/templates/{key}/in_app``: title,
    body, url), named by ``template``; 422 names each bad field, 409 a key in use."""
    return JSONBody(await run_in_threadpool(service.save_message, _stores(request), principal.workspace_id,
                                            body.model_dump(mode="json")), status_code=201)


@admin.get("/messages/{message}", response_class=JSONBody, responses=errors(404), summary="One in-app message")
async def get_message(request: Request, principal: Admin, message: MessageRef) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_message, _stores(request), principal.workspace_id, message))


@admin.put("/messages/{message}", response_class=JSONBody, responses=errors(404, 409),
           summary="Replace an in-app message (by id or key)")
async def put_message(request: Request, principal: Admin, message: MessageRef, body: Message) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.save_message(
        _stores(request), principal.workspace_id, body.model_dump(mode="json"), id_or_key=message)))


@admin.delete("/messages/{message}", response_class=JSONBody, responses=errors(404),
              summary="Delete an in-app message, with its pending copies and its interactions")
async def delete_message(request: Request, principal: Admin, message: MessageRef) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.delete_message, _stores(request), principal.workspace_id,
                                            message))


class FrequencyIn(_Strict):
    """Fields left out keep their value; ``max_per_day: null`` takes the daily cap away (``min_minutes_between:
    null`` leaves it as it is)."""

    max_per_day: int | None = Field(default=None, ge=1, le=100)
    min_minutes_between: int | None = Field(default=None, ge=0, le=24 * 60)


@admin.get("/frequency", response_class=JSONBody, summary="The workspace's frequency rule across messages")
async def get_frequency(request: Request, principal: Admin) -> JSONBody:
    rule: GlobalRule = await run_in_threadpool(service.frequency_rule, _stores(request), principal.workspace_id)
    return JSONBody(rule.model_dump())


@admin.put("/frequency", response_class=JSONBody, summary="Change the frequency rule across messages")
async def put_frequency(request: Request, principal: Admin, body: FrequencyIn) -> JSONBody:
    """At most ``max_per_day`` impressions of any in-app message per customer in 24 hours, and
    ``min_minutes_between`` minutes between two."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("min_minutes_between", 0) is None:  # null: as it is (it cannot be taken away)
        del changes["min_minutes_between"]
    rule = await run_in_threadpool(service.set_frequency_rule, _stores(request), principal.workspace_id, changes)
    return JSONBody(rule.model_dump())


DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _date(value: str | None, name: str) -> dt.date | None:
    """A date as the document says (``2026-11-23``): pydantic would also take ``0`` as 1970-01-01."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{name} is not a date", [field_error(f"query.{name}", "a date: YYYY-MM-DD")]) from None


@admin.get("/report", response_class=JSONBody, summary="Impressions, clicks and dismissals per message")
async def report(request: Request, principal: Admin,
                 start: Annotated[str | None, Query(pattern=DATE, json_schema_extra={"format": "date"},
                                                    description="First day (the shop's local date)")] = None,
                 end: Annotated[str | None, Query(pattern=DATE, json_schema_extra={"format": "date"},
                                                  description="Last day, inclusive (default: today)")] = None,
                 ) -> JSONBody:
    """Per message and day, in the shop's time zone; the last 30 days by default, at most a year."""
    stores = _stores(request)
    today = service.today(stores.settings.default_timezone, request.app.state.services.clock())
    last = _date(end, "end") or today
    first = _date(start, "start") or last - dt.timedelta(days=29)
    if first > last or (last - first).days > 366:
        raise ValidationFailed("start must be on or before end, at most a year apart",
                               [field_error("query.start", "on or before end, within 366 days")])
    return JSONBody(await run_in_threadpool(service.report, stores, principal.workspace_id, first, last))

