"""Messaging HTTP: templates and previews (admin), the delivery log and statistics (admin), the in-app
inbox (write key: apps and the web snippet read it), and the public tracking endpoints that customers'
mail clients hit (open pixel, tracked links, unsubscribe)."""

from __future__ import annotations

import base64
import html
import pathlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from touchline import assets
from touchline.errors import BadRequest, NotFound
from touchline.http import JSONBody, admin_principal, errors, verify_customer, write_principal
from touchline.messaging import adaptive, service
from touchline.messaging.templates import CHANNEL_PARTS
from touchline.validation import Body, Index, Offset
from touchline.workspaces.service import Principal

router = APIRouter(tags=["messaging"], responses=errors(400, 401, 403, 422))
tracking = APIRouter(tags=["tracking"], include_in_schema=True)
Admin = Annotated[Principal, Depends(admin_principal)]
Writer = Annotated[Principal, Depends(write_principal)]

# The in-app inbox for a shop's pages (/sdk/inbox.js), shipped in this package.
INBOX_SCRIPT = pathlib.Path(__file__).parent / "static" / "inbox.js"
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class TemplateIn(BaseModel):
    variants: dict[str, dict[str, Any]] = Field(description="Per locale ('ko', 'en'): the channel's parts.")
    default_locale: str = Field("ko", pattern="^[a-z]{2,3}$")
    blocks: dict[str, Any] | None = Field(None, description=(
        "Adaptive content: per block name, `rules` (each `when` conditions on platform, os, locale, local_hour, "
        "segment, trait or score, and a `content`) and a `default`; the parts show a block with "
        "`{{ blocks.NAME }}`. Checked at save time: a bad rule is refused naming the block and the field."))


class AudienceIn(Body):
    """A kind of customer, as adaptive blocks' rules see them."""

    label: str | None = Field(None, max_length=100)
    platform: Literal["app", "web"] | None = None
    os: Literal["ios", "android"] | None = None
    locale: str | None = Field(None, pattern="^[a-z]{2,3}$", description="A language code: ko, en.")
    local_hour: int | None = Field(None, ge=0, le=23, description="The hour in their time zone.")
    segments: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50,
                                                                  description="Ids or names of their segments.")
    traits: dict[str, Any] = Field(default_factory=dict, description=(
        "Their traits, predicted scores included (purchase_propensity, churn_risk)."))

    def audience(self) -> adaptive.Audience:
        return adaptive.Audience(platform=self.platform, os=self.os, locale=self.locale, local_hour=self.local_hour,
                                 segments=frozenset(self.segments), traits=self.traits)

    def name(self) -> str:
        if self.label:
            return self.label
        facts = [v for v in (self.platform, self.os, self.locale) if v]
        facts += [f"{self.local_hour}h"] if self.local_hour is not None else []
        facts += [f"segment {s}" for s in self.segments] + [f"{k}={v}" for k, v in self.traits.items()]
        return ", ".join(str(f) for f in facts) or "anyone"


class DraftIn(TemplateIn):
    channel: str = Field(json_schema_extra={"enum": list(CHANNEL_PARTS)})


class AdaptivePreviewIn(Body):
    key: str | None = Field(None, min_length=1, max_length=200, description="A saved template's key (with channel).")
    channel: str | None = Field(None, json_schema_extra={"enum": list(CHANNEL_PARTS)})
    template: DraftIn | None = Field(None, description="A template not saved yet, instead of key and channel.")
    audiences: list[AudienceIn] | None = Field(None, max_length=50, description=(
        "The kinds of customer to show; default: one meeting each rule of each block, and one meeting none."))


UserHash = Annotated[str | None, Query(
    max_length=128, description="HMAC-SHA256 of the identifier, from the shop's server (or `X-Touchline-User-Hash`); "
                                "needed once the workspace has an identity secret")]

# What validate_template knows (an unknown one is a 422 on save, a 404 on preview).
Channel = Annotated[str, Path(json_schema_extra={"enum": list(CHANNEL_PARTS)})]


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.get("/v1/templates", response_class=JSONBody, summary="Message templates")
async def list_templates(request: Request, principal: Admin, key: str | None = None) -> JSONBody:
    rows = await run_in_threadpool(service.list_templates, _stores(request), principal.workspace_id, key)
    return JSONBody({"templates": rows})


@router.put("/v1/templates/{key}/{channel}", response_class=JSONBody,
            summary="Save a template (validated in the sandbox now, not at send time)")
async def save_template(request: Request, principal: Admin, key: str, channel: Channel, body: TemplateIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.save_template(
        _stores(request), principal.workspace_id, key, channel, body.variants, body.default_locale,
        blocks=body.blocks)))


@router.post("/v1/templates/preview-adaptive", response_class=JSONBody, responses=errors(404),
             summary="What each kind of customer gets from a template's adaptive blocks")
async def preview_adaptive(request: Request, principal: Admin, body: AdaptivePreviewIn) -> JSONBody:
    """A saved template (``key``, ``channel``) or a draft (``template``), checked as saving checks it (a bad
    rule is a 422 naming the block and the field). Per audience: the rule of each block it meets (``rule``
    null: the default) and the message rendered for a sample customer with its locale and traits."""
    if body.template is None and not (body.key and body.channel):
        raise BadRequest("name a saved template (key and channel) or give a template",
                         {"field": "template", "reason": "required without key and channel"})
    draft = body.template.model_dump(exclude_none=True) if body.template else None
    audiences = [(a.name(), a.audience()) for a in body.audiences] if body.audiences is not None else None
    return JSONBody(await run_in_threadpool(lambda: service.preview_adaptive(
        _stores(request), principal.workspace_id, template=draft, key=body.key, channel=body.channel,
        audiences=audiences)))


@router.delete("/v1/templates/{key}", response_class=JSONBody, responses=errors(404),
               summary="Delete a template (one channel or all)")
async def delete_template(request: Request, principal: Admin, key: str, channel: str | None = None) -> JSONBody:
    n = await run_in_threadpool(service.delete_template, _stores(request), principal.workspace_id, key, channel)
    return JSONBody({"deleted": n})


@router.get("/v1/messages", response_class=JSONBody, responses=errors(404),
            summary="The delivery log, newest first")
async def messages(request: Request, principal: Admin, identifier: str | None = None, journey_id: str | None = None,
                   channel: str | None = None,
                   status: Annotated[str | None, Query(pattern="^(pending|sending|sent|failed|suppressed)$")] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[Offset, Query()] = 0) -> JSONBody:
    rows = await run_in_threadpool(service.messages, _stores(request), principal.workspace_id, identifier=identifier,
                                   journey_id=journey_id, channel=channel, status=status, limit=limit, offset=offset)
    return JSONBody({"messages": rows})


@router.get("/v1/messages/stats", response_class=JSONBody,
            summary="Per channel: sent, delivered, opened, clicked, failed, suppressed by reason")
async def message_stats(request: Request, principal: Admin) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.stats, _stores(request), principal.workspace_id))


@router.get("/v1/inbox/{identifier}", response_class=JSONBody, responses=errors(404),
            summary="A customer's in-app inbox")
async def inbox(request: Request, principal: Writer, identifier: str, unread: bool = False,
                limit: Annotated[int, Query(ge=1, le=200)] = 50, user_hash: UserHash = None) -> JSONBody:
    """With an identity secret in the workspace, the customer's ``user_hash`` (query or
    ``X-Touchline-User-Hash``) must come along: the write key is public in every page of the shop."""
    verify_customer(request, principal, identifier, user_hash)
    return JSONBody(await run_in_threadpool(service.inbox, _stores(request), principal.workspace_id, identifier,
                                            unread_only=unread, limit=limit))


@router.post("/v1/inbox/{identifier}/{message_id}/read", response_class=JSONBody, responses=errors(404),
             summary="Mark as read")
async def inbox_read(request: Request, principal: Writer, identifier: str, message_id: str,
                     user_hash: UserHash = None) -> JSONBody:
    verify_customer(request, principal, identifier, user_hash)
    changed = await run_in_threadpool(service.mark_inbox_read, _stores(request), principal.workspace_id,
                                      identifier, message_id)
    return JSONBody({"read": True, "changed": changed})


@tracking.get("/sdk/inbox.js", response_class=Response,
              summary="The in-app inbox for a shop's web pages (a script tag)",
              responses={200: {"description": "The script",
                               "content": {"text/javascript": {"schema": {"type": "string"}}}}})
async def inbox_script(request: Request) -> Response:
    """``<script src=".../sdk/inbox.js" data-write-key=... data-identifier=... [data-user-hash=...]>``:
    a bell with the unread count and a panel of the customer's messages, on any site (gzip-compressed
    when the browser takes it)."""
    item = await run_in_threadpool(assets.asset, INBOX_SCRIPT)
    return assets.respond(request, item, immutable=False, extra={
        "Cache-Control": "public, max-age=3600", "Cross-Origin-Resource-Policy": "cross-origin"})


@tracking.get("/t/o/{message_id}.gif", response_class=Response, summary="Open pixel", responses={
    200: {"description": "A transparent 1×1 GIF, whether the message is known or not",
          "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}, **errors(422)})
async def open_pixel(request: Request, message_id: str) -> Response:
    await run_in_threadpool(service.opened, _stores(request), message_id)
    return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"})


@tracking.get("/t/c/{message_id}/{index}", response_class=RedirectResponse, status_code=302,
              summary="Tracked link: records the click, redirects", responses={
                  302: {"description": "To the link's target",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                  **errors(404, 422)})
async def click(request: Request, message_id: str, index: Index) -> Response:
    url = await run_in_threadpool(service.clicked, _stores(request), message_id, index)
    if url is None:
        raise NotFound("unknown link")
    return RedirectResponse(url, status_code=302)


@tracking.post("/u/{message_id}", response_class=JSONBody, responses=errors(404, 422),
               summary="One-click unsubscribe (RFC 8058)")
async def unsubscribe_post(request: Request, message_id: str) -> JSONBody:
    done = await run_in_threadpool(service.unsubscribe, _stores(request), message_id)
    if done is None:
        raise NotFound("unknown message")
    return JSONBody({"unsubscribed": True, "channel": done["channel"]})


@tracking.get("/u/{message_id}", response_class=Response, responses={
    200: {"description": "A page with the button", "content": {"text/html": {"schema": {"type": "string"}}}},
    **errors(422)},
              summary="Unsubscribe page (a confirmation button; GET changes nothing)")
async def unsubscribe_page(message_id: str) -> HTMLResponse:
    # Mail scanners follow links: only the POST (button or RFC 8058 one-click) unsubscribes.
    mid = html.escape(message_id)
    return HTMLResponse(f"""<!doctype html><html lang="ko"><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>수신 거부 / Unsubscribe</title>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1>수신 거부 / Unsubscribe</h1><p>이 채널의 광고성 메시지를 더 이상 받지 않습니다.<br>
You will no longer receive marketing messages on this channel.</p>
<form method="post" action="/u/{mid}"><button type="submit">수신 거부 / Unsubscribe</button></form></body></html>""")
