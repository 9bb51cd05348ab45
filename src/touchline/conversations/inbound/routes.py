"""The providers' webhooks, under ``/webhooks/{provider}/{token}``: the token is a workspace's
``inbound`` key (``touchline keys create --kind inbound``), since providers send no Touchline key. An
unknown or revoked token is a 404, whatever else is wrong, so nothing tells one workspace from another.

Each request is checked in this order: the token, the body's size (413), the provider's signature
(403, nothing stored), the payload (400 naming the field), then the message goes to
:func:`touchline.conversations.service.receive` (through the group commit of
:mod:`touchline.conversations.writer`), which de-duplicates by the provider's message id.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from touchline.conversations import bot, service
from touchline.conversations.inbound import kakao, twilio, whatsapp
from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.writer import inbound_writer
from touchline.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, TouchlineError
from touchline.http import JSONBody, errors

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["inbound webhooks"], responses=errors(400, 403, 404, 413, 422))


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _clock(request: Request) -> Any:
    """The app's clock (:class:`touchline.app.Services`): the wall clock, or the demo's simulated one."""
    return request.app.state.services.clock


def _workspace(request: Request, token: str) -> str:
    principal = request.app.state.services.keys.resolve(token) if token.startswith("tlh_") else None
    if principal is None or principal.kind != "inbound":
        raise NotFound("unknown webhook token", {"field": "token", "reason": "not an inbound token of any workspace"})
    return str(principal.workspace_id)


async def _body(request: Request) -> bytes:
    limit = _stores(request).settings.inbound_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes",
                              {"field": "(body)", "reason": f"limit is {limit} bytes", "size": int(declared)})
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes",
                                  {"field": "(body)", "reason": f"limit is {limit} bytes"})
    return bytes(raw)


async def _checked(request: Request, token: str, *, secret: SecretStr | None, setting: str, what: str,
                   header: str, verify: Callable[[str, bytes], bool]) -> tuple[str, bytes]:
    """What every webhook checks first, in this order: the token (404), the body's size (413), then the
    provider's signature with ``secret`` (403: ``setting`` unset, or ``verify(secret, body)`` false).
    The workspace and the body."""
    workspace_id = _workspace(request, token)
    raw = await _body(request)
    if secret is None:
        raise Forbidden(f"{setting} is not set: {what} cannot be checked",
                        {"field": header, "reason": "not configured"})
    if not verify(secret.get_secret_value(), raw):
        raise Forbidden(f"{header} does not match", {"field": header, "reason": "wrong or missing"})
    return workspace_id, raw


def _form(raw: bytes) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise BadRequest("the form is not UTF-8", {"field": "(body)", "reason": "not UTF-8"}) from exc


def _bad(exc: Malformed) -> BadRequest:
    return BadRequest(f"malformed payload: {exc.field}: {exc.reason}", {"field": exc.field, "reason": exc.reason})


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("malformed JSON", {"field": "(body)", "reason": "malformed JSON"}) from exc


# --- Twilio SMS / MMS --------------------------------------------------------------------------------


@router.post("/twilio/sms/{token}", summary="Twilio inbound message webhook", response_class=Response,
             responses={200: {"content": {"text/xml": {"schema": {"type": "string"}}},
                              "description": "Empty TwiML: nothing sent back"}})
async def twilio_sms(request: Request, token: str,
                     x_twilio_signature: Annotated[str | None, Header()] = None) -> Response:
    """Twilio's inbound message webhook (form-encoded), checked with ``X-Twilio-Signature`` and the
    account's auth token over ``TOUCHLINE_PUBLIC_URL`` + this path; answered with empty TwiML."""
    settings = _stores(request).settings
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    parsed: list[list[tuple[str, str]]] = []  # the form, parsed once: to check the signature, then read

    def verify(key: str, body: bytes) -> bool:
        parsed.append(_form(body))
        return twilio.verify(key, url, parsed[0], x_twilio_signature)

    workspace_id, _ = await _checked(
        request, token, secret=settings.twilio_auth_token, setting="TOUCHLINE_TWILIO_AUTH_TOKEN",
        what="Twilio's signature", header="X-Twilio-Signature", verify=verify)
    params = parsed[0]
    try:
        inbound = twilio.parse(params)
    except Malformed as exc:
        raise _bad(exc) from exc
    await inbound_writer(_stores(request)).receive(workspace_id, inbound, clock=_clock(request))
    return Response(twilio.TWIML_EMPTY, media_type="text/xml")


# --- WhatsApp Cloud API ------------------------------------------------------------------------------


@router.get("/whatsapp/{token}", summary="WhatsApp webhook verification", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "hub.challenge, echoed"}})
async def whatsapp_verify(request: Request, token: str,
                          mode: Annotated[str | None, Query(alias="hub.mode")] = None,
                          verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
                          challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=200)] = None
                          ) -> Response:
    """Meta's subscription check: ``hub.challenge`` back when ``hub.verify_token`` is
    ``TOUCHLINE_WHATSAPP_VERIFY_TOKEN``."""
    _workspace(request, token)
    configured = _stores(request).settings.whatsapp_verify_token
    if configured is None or not whatsapp.verify_subscription(configured.get_secret_value(), mode, verify_token):
        raise Forbidden("hub.verify_token does not match", {"field": "hub.verify_token", "reason": "wrong or missing"})
    return PlainTextResponse(challenge or "")


@router.post("/whatsapp/{token}", summary="WhatsApp Cloud API webhook")
async def whatsapp_events(request: Request, token: str,
                          x_hub_signature_256: Annotated[str | None, Header()] = None) -> Response:
    """Messages (text, media as links to the Graph API's media id, button replies) and statuses (the
    delivery of our replies, by ``wamid``), checked with ``X-Hub-Signature-256`` and the app secret."""
    stores = _stores(request)
    workspace_id, raw = await _checked(
        request, token, secret=stores.settings.whatsapp_app_secret, setting="TOUCHLINE_WHATSAPP_APP_SECRET",
        what="Meta's signature", header="X-Hub-Signature-256",
        verify=lambda key, body: whatsapp.verify(key, body, x_hub_signature_256))
    try:
        parsed = whatsapp.parse(_json(raw), base_url=stores.settings.whatsapp_base_url)
    except Malformed as exc:
        raise _bad(exc) from exc

    received = 0
    for inbound in parsed.messages:  # one after another: each at a later moment, so a batch keeps its order
        received += not (await inbound_writer(stores).receive(workspace_id, inbound, clock=_clock(request))).duplicate

    def record_statuses() -> int:
        updated = 0
        for status in parsed.statuses:
            updated += service.delivery_update(stores, workspace_id, channel="whatsapp",
                                               provider_message_id=status.provider_message_id,
                                               status=status.status, reason=status.reason) is not None
        return updated

    updated = await run_in_threadpool(record_statuses)
    return JSONBody({"received": received, "statuses": updated})


# --- KakaoTalk (Kakao i Open Builder skill) ----------------------------------------------------------


@router.post("/kakao/{token}", summary="Kakao i Open Builder skill")
async def kakao_skill(request: Request, token: str) -> Response:
    """An Open Builder skill request: checked with the header ``X-Touchline-Skill-Secret``
    (``TOUCHLINE_KAKAO_SKILL_SECRET``, set on the skill server in Open Builder) and, when
    ``TOUCHLINE_KAKAO_BOT_ID`` is set, ``bot.id``; answered with a ``simpleText`` skill response."""
    stores = _stores(request)
    workspace_id, raw = await _checked(
        request, token, secret=stores.settings.kakao_skill_secret, setting="TOUCHLINE_KAKAO_SKILL_SECRET",
        what="the skill request", header=kakao.SECRET_HEADER,
        verify=lambda key, _body: kakao.verify(key, request.headers.get(kakao.SECRET_HEADER)))
    payload = _json(raw)
    bot_id = stores.settings.kakao_bot_id
    if bot_id is not None and not kakao.bot_matches(payload, bot_id):
        raise Forbidden("bot.id is not the configured bot", {"field": "bot.id", "reason": "another bot"})
    try:
        inbound = kakao.parse(payload, raw)
    except Malformed as exc:
        raise _bad(exc) from exc
    received = await inbound_writer(stores).receive(workspace_id, inbound, clock=_clock(request))
    text = ("메시지를 받았습니다. 상담원이 곧 답변드리겠습니다." if inbound.language != "en"
            else "Thanks, we got your message. An agent will answer shortly.")
    if not received.duplicate:
        # Kakao shows only what this response says, and waits 5 s for it: the assistant answers here and now
        # (recorded as delivered in place), or, past its budget, leaves it to an agent or its worker.
        deadline = time.monotonic() + bot.KAKAO_BUDGET
        try:
            answer = await run_in_threadpool(lambda: bot.respond(
                stores, workspace_id, received.conversation["id"], in_place=True, deadline=deadline,
                now=_clock(request)()))
        except TouchlineError:  # a rule refused the answer: the worker hands it over to people
            answer = None
        if answer is not None and answer["message"]["body"]:
            return JSONBody(kakao.answer(answer["message"]["body"], answer["message"]["quick_replies"]))
    return JSONBody(kakao.answer(text))
