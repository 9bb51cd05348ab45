"""The web chat (``/sdk/chat.js`` on the shop's own pages): write-key endpoints under the tracking API.

A customer only ever reads their own conversations' messages that are meant for them (inbound and
outbound, never notes, assignments or tags). Who the customer is: the anonymous id analytics.js keeps
in the browser (``ajs_anonymous_id``), and for a signed-in customer their ``identifier`` too, which
needs the ``user_hash`` signed on the shop's server once the workspace has an identity secret
(:func:`touchline.http.verify_customer`, as the in-app inbox)."""

from __future__ import annotations

import pathlib
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from touchline import assets
from touchline.conversations import feed, proactive_service, service, sse
from touchline.conversations.schemas import CustomerIdentifier, HesitationIn, VisitorId
from touchline.conversations.types import CustomerIds, Inbound
from touchline.conversations.writer import inbound_writer
from touchline.errors import Forbidden, NotFound
from touchline.http import JSONBody, errors, verify_customer, write_principal
from touchline.profiles import service as profiles
from touchline.validation import Body
from touchline.workspaces.service import Principal

__all__ = ["router", "script"]

router = APIRouter(prefix="/v1/chat", tags=["chat"], responses=errors(400, 401, 403, 422))
script = APIRouter(tags=["tracking"])
Writer = Annotated[Principal, Depends(write_principal)]
CHAT_SCRIPT = pathlib.Path(__file__).parent / "static" / "chat.js"
HISTORY = 100

AnonymousId = Annotated[str, Query(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$",
                                   description="analytics.js's anonymous id (ajs_anonymous_id)")]
IDENTIFIER = r"^[^\x00-\x20\x7f]+$"
Identifier = Annotated[str | None, Query(min_length=1, max_length=512, pattern=IDENTIFIER,
                                         description="A signed-in customer's identifier (with user_hash)")]


class ChatMessageIn(BaseModel):
    anonymous_id: VisitorId = Field(description="analytics.js's anonymous id, so the chat joins the visitor's "
                                                "profile")
    identifier: CustomerIdentifier | None = Field(None, description="A signed-in customer's user id (user_id:… "
                                                                    "or bare)")
    client_message_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                                   description="The window's own id for the message: a retry stores one message")
    text: str = Field(min_length=1, max_length=4000, pattern=r"\S", description="The customer's message "
                      "(not only white space)")
    language: str | None = Field(None, pattern=r"^(ko|en)$")
    page_url: str | None = Field(None, max_length=2048)


class ChatRatingIn(Body):
    anonymous_id: VisitorId = Field(description="analytics.js's anonymous id")
    identifier: CustomerIdentifier | None = Field(None, description="A signed-in customer's user id (with "
                                                                    "user_hash)")
    message_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                            description="The rating request's message id (a message with ``survey``)")
    score: int = Field(ge=0, le=10, description="The request's scale: 1-5 for a CSAT question (the chat's "
                                                "rating), 0-10 for an NPS one")
    comment: str | None = Field(None, max_length=2000, pattern=r"^[^\x00]*$",
                                description="What the customer adds (optional)")


_USER_ID = re.compile(r"^user_id:")


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _user_id(identifier: str | None) -> str | None:
    if identifier is None:
        return None
    return _USER_ID.sub("", identifier.strip()) or None


def _profile_ids(stores: Any, workspace_id: str, anonymous_id: str, identifier: str | None,
                 verifies: bool = False) -> list[str]:
    """The customer's profiles (merged ones included); none yet: an empty list (they never wrote).

    With ``verifies`` (the workspace signs identities), an anonymous id that has become a signed-in
    customer's reads nothing without that customer's identifier and user_hash: the anonymous id sits in
    the browser, and whoever copies it must not read a known customer's conversation."""
    user_id = _user_id(identifier)
    wanted = f"user_id:{user_id}" if user_id else f"anonymous_id:{anonymous_id}"
    try:
        pid = profiles.resolve(stores, workspace_id, wanted)
    except NotFound:
        return []
    ids = service.customer_profile_ids(stores, workspace_id, pid)
    if verifies and identifier is None and service.signed_in_customer(stores, workspace_id, ids):
        raise Forbidden("this visitor is a signed-in customer: send their identifier and user_hash",
                        {"field": "identifier", "reason": "required for a signed-in customer in a workspace "
                                                          "that verifies identities"})
    return ids


def _verifies(request: Request, principal: Principal) -> bool:
    return principal.kind != "admin" and bool(request.app.state.services.keys.verifies_identities(
        principal.workspace_id))


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """What the customer sees of a message: no addresses, no agent ids, no provider ids."""
    public = {"id": message["id"], "conversation_id": message["conversation_id"], "direction": message["direction"],
              "author": message["author"]["kind"], "body": message["body"], "attachments": message["attachments"],
              "channel": message["channel"], "quick_replies": message.get("quick_replies") or [],
              "created_at": message["created_at"]}
    if "survey" in message:  # a rating request, and the customer's answer once given
        public |= {"survey": message["survey"], "rating": message.get("rating")}
    return public


def _check(request: Request, principal: Principal, identifier: str | None) -> None:
    if identifier is not None:
        verify_customer(request, principal, identifier, None)  # the chat sends it as X-Touchline-User-Hash


@router.post("/messages", response_class=JSONBody, status_code=201, responses={
    200: {"description": "A repeat of the same client_message_id: nothing stored, the first message "
                         "(duplicate: true)"}, **errors(404, 413)},
             summary="A customer's chat message (write key)")
async def post_message(request: Request, principal: Writer, body: ChatMessageIn) -> JSONBody:
    """Goes through the conversations' one entry point (channel ``chat``): the customer by their anonymous
    id (and user id when signed in), threaded into their conversation; a retry of the same
    ``client_message_id`` stores nothing more."""
    _check(request, principal, body.identifier)
    # A signed-in customer is proven only where the workspace signs identities (the user_hash just checked).
    verified = body.identifier is not None and _verifies(request, principal)
    inbound = Inbound(channel="chat", provider_message_id=f"{body.anonymous_id}:{body.client_message_id}",
                      customer=CustomerIds(anonymous_id=body.anonymous_id, user_id=_user_id(body.identifier)),
                      body=body.text, language=body.language, verified=verified)
    received = await inbound_writer(_stores(request)).receive(principal.workspace_id, inbound,
                                                              clock=request.app.state.services.clock)
    return JSONBody({"message": _public(received.message), "conversation_id": received.conversation["id"],
                     "duplicate": received.duplicate}, status_code=200 if received.duplicate else 201)


@router.get("/messages", response_class=JSONBody, summary="The customer's chat history (write key)")
async def history(request: Request, principal: Writer, anonymous_id: AnonymousId,
                  identifier: Identifier = None) -> JSONBody:
    """The messages of the customer's latest conversation meant for them (no notes), oldest first."""
    _check(request, principal, identifier)
    stores, workspace_id, verifies = _stores(request), principal.workspace_id, _verifies(request, principal)

    def read() -> dict[str, Any]:
        ids = _profile_ids(stores, workspace_id, anonymous_id, identifier, verifies)
        latest = service.latest_conversation(stores, workspace_id, ids)
        if latest is None:
            return {"conversation_id": None, "status": None, "messages": []}
        rows = service.messages(stores, workspace_id, latest["id"], limit=HISTORY, include_notes=False)
        return {"conversation_id": latest["id"], "status": latest["status"], "messages": [_public(m) for m in rows]}

    return JSONBody(await run_in_threadpool(read))


@router.get("/stream", response_class=StreamingResponse, summary="The customer's chat, live (Server-Sent Events)",
            responses={200: {"description": "`event: message`, `data: {message}`: the customer's own messages and "
                                            "the replies to them, never notes",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(request: Request, principal: Writer, anonymous_id: AnonymousId, identifier: Identifier = None,
                 last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                             pattern=r"^\s*[0-9]{1,18}\s*$")] = None,
                 ) -> StreamingResponse:
    _check(request, principal, identifier)
    stores, workspace_id, verifies = _stores(request), principal.workspace_id, _verifies(request, principal)
    # Who the customer is may change while the stream is open (their first message creates the profile),
    # so the match asks the profiles again when it sees a profile it does not know yet.
    known: set[str] = set(await run_in_threadpool(_profile_ids, stores, workspace_id, anonymous_id, identifier,
                                                  verifies))
    checked: set[str] = set()

    def mine(item: feed.FeedItem) -> bool:
        if item.private or item.kind != "message":
            return False
        # A profile not looked at yet may be this customer's new one: the stream looks it up (once).
        return item.profile_id in known or item.profile_id not in checked

    async def belongs(item: feed.FeedItem) -> bool:
        if item.profile_id in known:
            return True
        checked.add(item.profile_id)
        try:
            fresh = await run_in_threadpool(_profile_ids, stores, workspace_id, anonymous_id, identifier, verifies)
        except Forbidden:  # the visitor signed in meanwhile: this anonymous stream reads no more
            return False
        known.update(fresh)
        return item.profile_id in known

    def event(item: feed.FeedItem) -> str:
        data = orjson.dumps({"message": _public(item.payload["message"])}).decode()
        return f"id: {item.seq}\nevent: message\ndata: {data}\n\n"

    resume = int(last_event_id) if last_event_id is not None else None
    # What a reconnecting window missed is read from the workspace's changes, at most the replay limit of
    # them: past it, ``event: reset`` (chat.js then reloads the conversation's history) rather than a gap.
    # A window that fell behind just reconnects with its last id and reads the rest.
    opened = await sse.open_stream(stores, workspace_id, match=mine, resume=resume,
                                   replay_limit=service.FEED_REPLAY_LIMIT)
    return sse.response(sse.events(opened, event, accept=belongs, reset_when_behind=False))


@router.post("/rating", response_class=JSONBody, responses=errors(404, 409),
             summary="The customer rates a resolved chat (write key)")
async def rate(request: Request, principal: Writer, body: ChatRatingIn) -> JSONBody:
    """The answer to a rating request the chat window showed (a message with ``survey``), from the customer
    whose conversation it is: the score (1-5 for CSAT, 0-10 for NPS) is recorded once, as a ``Conversation
    Rated`` event (a journey's survey: ``Chat Survey Answered``) that the surveys report counts; a ``comment``
    may follow with the same score; another score is 409."""
    _check(request, principal, body.identifier)
    stores, workspace_id, verifies = _stores(request), principal.workspace_id, _verifies(request, principal)

    def run() -> dict[str, Any]:
        ids = _profile_ids(stores, workspace_id, body.anonymous_id, body.identifier, verifies)
        return service.rate(stores, workspace_id, ids, body.message_id, body.score, body.comment,
                            now=request.app.state.services.clock())

    return JSONBody({"message": _public(await run_in_threadpool(run))})


@router.get("/proactive", response_class=JSONBody, summary="What the chat window watches for (write key)")
async def proactive_config(request: Request, principal: Writer) -> JSONBody:
    """Whether the workspace's proactive chat is on, the signals it answers and the idle time on the
    checkout page: what ``chat.js`` needs to watch a shopper hesitate (the messages stay on the server)."""
    rule = await run_in_threadpool(proactive_service.rule, _stores(request), principal.workspace_id)
    return JSONBody({"enabled": rule.enabled, "signals": list(rule.signals), "idle_seconds": rule.idle_seconds})


@router.post("/hesitation", response_class=JSONBody, summary="A shopper hesitates (write key)")
async def hesitation(request: Request, principal: Writer, body: HesitationIn) -> JSONBody:
    """Recorded as an event on the visitor's profile (``Checkout Hesitated``, ``Cart Abandoned On Page``,
    ``Exit Intent Shown``: journeys can trigger on them); the workspace's proactive rule then decides
    whether the chat opens (``open`` with the ``message`` to show) or the customer is in the holdout.
    A retry with the same ``key`` gets the same answer and records nothing more."""
    _check(request, principal, body.identifier)
    answer = await run_in_threadpool(lambda: proactive_service.hesitated(
        _stores(request), principal.workspace_id, anonymous_id=body.anonymous_id, user_id=_user_id(body.identifier),
        signal=body.signal, key=body.key, page_url=body.page_url, language=body.language,
        cart_value=body.cart_value, now=request.app.state.services.clock()))
    return JSONBody(answer)


@script.get("/sdk/chat.js", response_class=Response, summary="The web chat for a shop's pages (a script tag)",
            responses={200: {"description": "The script",
                             "content": {"text/javascript": {"schema": {"type": "string"}}}}})
async def chat_script(request: Request) -> Response:
    """``<script src=".../sdk/chat.js" data-write-key=... [data-identifier=... data-user-hash=...] [data-lang=ko]>``."""
    item = await run_in_threadpool(assets.asset, CHAT_SCRIPT)
    return assets.respond(request, item, immutable=False, extra={
        "Cache-Control": "public, max-age=3600", "Cross-Origin-Resource-Policy": "cross-origin"})

