"""Management API for conversations (admin token): the inbox's queues, a conversation's messages, what
agents do, teams and presence, canned responses, measures, the generic inbound entry point, and the
live feed as Server-Sent Events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from touchline.conversations import bot, feed, proactive_service, service, sse
from touchline.conversations.schemas import (
    AssignIn,
    CannedIn,
    CannedPatch,
    InboundIn,
    MemberIn,
    NoteIn,
    PresenceIn,
    ProactiveRuleIn,
    ReplyIn,
    SettingsIn,
    SnoozeIn,
    StatusIn,
    TagsIn,
    TeamIn,
    TeamPatch,
)
from touchline.conversations.types import ConversationChannel
from touchline.conversations.writer import inbound_writer
from touchline.errors import BadRequest, PayloadTooLarge
from touchline.http import JSONBody, admin_principal, errors
from touchline.validation import Moment, Offset
from touchline.workspaces.service import Principal

# What a request body may weigh here (a message of the configured length, with room for the rest);
# bigger ones are refused before they are read.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def _limited(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MB",
                              {"field": "(body)", "reason": f"limit is {MAX_REQUEST_BYTES} bytes",
                               "size": int(declared)})


router = APIRouter(prefix="/v1/conversations", tags=["conversations"], responses=errors(400, 401, 403, 413, 422),
                   dependencies=[Depends(_limited)])
Admin = Annotated[Principal, Depends(admin_principal)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


# --- receiving -----------------------------------------------------------------------------------------


@router.post("/inbound", response_class=JSONBody, status_code=201, responses=errors(404),
             summary="Receive a customer's message from any channel")
async def inbound(request: Request, principal: Admin, body: InboundIn) -> JSONBody:
    """The channel-agnostic entry point (the provider webhooks and the chat window call the same
    service): resolves the customer through the identity graph, places the message in their conversation
    (``placement``: joined, reopened or started) and stores it once per ``provider_message_id`` (a repeat
    answers 200 with ``duplicate: true`` and the first delivery's message)."""
    received = await inbound_writer(_stores(request)).receive(principal.workspace_id, body.value())
    return JSONBody({"conversation": received.conversation, "message": received.message,
                     "placement": received.placement, "duplicate": received.duplicate},
                    status_code=200 if received.duplicate else 201)


# --- queues and measures ---------------------------------------------------------------------------------


@router.get("", response_class=JSONBody, responses=errors(404), summary="Conversations: a queue, filtered")
async def list_conversations(
    request: Request, principal: Admin,
    status: Annotated[Literal["open", "pending", "snoozed", "resolved", "active", "all"] | None,
                      Query(description="One status, active (open, pending, snoozed: the default) or all")] = None,
    assignee_id: Annotated[str | None, Query(max_length=128)] = None,
    unassigned: bool = False,
    team_id: Annotated[str | None, Query(max_length=128)] = None,
    channel: ConversationChannel | None = None,
    language: Annotated[str | None, Query(max_length=35)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    customer: Annotated[str | None, Query(max_length=1024, description="Any identifier of the customer")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JSONBody:
    rows = await run_in_threadpool(service.list_conversations, _stores(request), principal.workspace_id, status=status,
                                   assignee_id=assignee_id, unassigned=unassigned, team_id=team_id, channel=channel,
                                   language=language, tag=tag, customer=customer, limit=limit, offset=offset)
    return JSONBody({"conversations": rows})


@router.get("/stats", response_class=JSONBody,
            summary="First response, resolution, volume by channel and hour, backlog")
async def stats(request: Request, principal: Admin, start: Annotated[Moment, Query()],
                end: Annotated[Moment, Query()]) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.stats, _stores(request), principal.workspace_id, start, end))


@router.get("/stream", response_class=StreamingResponse, summary="Live changes as Server-Sent Events", responses={
    200: {"description": "`id: <seq>`, `event: message | conversation | delivery`, `data: <JSON>`; a comment "
                         "every 15 s keeps the connection open; `event: reset` asks the client to reload.",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(
    request: Request, principal: Admin,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^\s*[0-9]{1,18}\s*$")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Resume after this seq (Last-Event-ID)")] = None,
    conversation_id: Annotated[str | None, Query(max_length=64, description="Only this conversation")] = None,
) -> StreamingResponse:
    """Every change to the workspace's conversations as it happens (new messages, notes included; status,
    assignment, tags; replies' delivery). Reconnect with ``Last-Event-ID`` (browsers do it themselves):
    the changes missed meanwhile come first, from the store."""
    resume = after
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise BadRequest("Last-Event-ID must be the id of an event of this stream",
                             {"field": "Last-Event-ID", "reason": "not a number"})
        resume = int(last_event_id.strip())
    match = (lambda item: item.conversation_id == conversation_id) if conversation_id else None
    opened = await sse.open_stream(_stores(request), principal.workspace_id, match=match, resume=resume)
    return sse.response(sse.events(opened, feed.FeedItem.sse))


# --- agents and teams ------------------------------------------------------------------------------------


@router.get("/agents", response_class=JSONBody, summary="Agents with presence, load and teams")
async def agents(request: Request, principal: Admin) -> JSONBody:
    return JSONBody({"agents": await run_in_threadpool(service.agents, _stores(request), principal.workspace_id)})


@router.post("/agents/{user_id}/presence", response_class=JSONBody, responses=errors(404, 409),
             summary="An agent's heartbeat: online for a while more (0: offline)")
async def presence(request: Request, principal: Admin, user_id: str, body: PresenceIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.heartbeat, _stores(request), principal.workspace_id, user_id,
                                            seconds=body.seconds))


@router.get("/teams", response_class=JSONBody, summary="Teams and their members")
async def list_teams(request: Request, principal: Admin) -> JSONBody:
    return JSONBody({"teams": await run_in_threadpool(service.teams, _stores(request), principal.workspace_id)})


@router.post("/teams", response_class=JSONBody, status_code=201, responses=errors(409), summary="Create a team")
async def create_team(request: Request, principal: Admin, body: TeamIn) -> JSONBody:
    row = await run_in_threadpool(service.create_team, _stores(request), principal.workspace_id, body.name,
                                  auto_assign=body.auto_assign, language_routing=body.language_routing,
                                  channels=list(body.channels),
                                  hours=body.hours.model_dump() if body.hours else None)
    return JSONBody(row, status_code=201)


@router.get("/teams/{team_id}", response_class=JSONBody, responses=errors(404), summary="One team")
async def get_team(request: Request, principal: Admin, team_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.team, _stores(request), principal.workspace_id, team_id))


@router.patch("/teams/{team_id}", response_class=JSONBody, responses=errors(404, 409), summary="Change a team")
async def update_team(request: Request, principal: Admin, team_id: str, body: TeamPatch) -> JSONBody:
    fields = body.model_dump(exclude_none=True)
    return JSONBody(await run_in_threadpool(lambda: service.update_team(
        _stores(request), principal.workspace_id, team_id, **fields)))


@router.delete("/teams/{team_id}", response_class=JSONBody, responses=errors(404), summary="Delete a team")
async def delete_team(request: Request, principal: Admin, team_id: str) -> JSONBody:
    await run_in_threadpool(service.delete_team, _stores(request), principal.workspace_id, team_id)
    return JSONBody({"deleted": team_id})


@router.put("/teams/{team_id}/members/{user_id}", response_class=JSONBody, responses=errors(404, 409),
            summary="Add an agent to a team, or change their capacity and languages")
async def set_member(request: Request, principal: Admin, team_id: str, user_id: str, body: MemberIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.set_member(
        _stores(request), principal.workspace_id, team_id, user_id, capacity=body.capacity, languages=body.languages)))


@router.delete("/teams/{team_id}/members/{user_id}", response_class=JSONBody, responses=errors(404),
               summary="Take an agent out of a team")
async def delete_member(request: Request, principal: Admin, team_id: str, user_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.delete_member, _stores(request), principal.workspace_id, team_id,
                                            user_id))


# --- canned responses --------------------------------------------------------------------------------------


@router.get("/canned-responses", response_class=JSONBody, summary="Canned responses")
async def list_canned(request: Request, principal: Admin) -> JSONBody:
    rows = await run_in_threadpool(service.canned_responses, _stores(request), principal.workspace_id)
    return JSONBody({"canned_responses": rows})


@router.post("/canned-responses", response_class=JSONBody, status_code=201, responses=errors(409),
             summary="Save a canned response (its body is checked in the template sandbox)")
async def create_canned(request: Request, principal: Admin, body: CannedIn) -> JSONBody:
    row = await run_in_threadpool(lambda: service.create_canned(
        _stores(request), principal.workspace_id, shortcut=body.shortcut, title=body.title, body=body.body,
        language=body.language))
    return JSONBody(row, status_code=201)


@router.patch("/canned-responses/{canned_id}", response_class=JSONBody, responses=errors(404, 409),
              summary="Change a canned response")
async def update_canned(request: Request, principal: Admin, canned_id: str, body: CannedPatch) -> JSONBody:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True)
    return JSONBody(await run_in_threadpool(lambda: service.update_canned(
        _stores(request), principal.workspace_id, canned_id, **fields)))


@router.delete("/canned-responses/{canned_id}", response_class=JSONBody, responses=errors(404),
               summary="Delete a canned response")
async def delete_canned(request: Request, principal: Admin, canned_id: str) -> JSONBody:
    await run_in_threadpool(service.delete_canned, _stores(request), principal.workspace_id, canned_id)
    return JSONBody({"deleted": canned_id})


# --- the shop assistant and proactive chat -------------------------------------------------------------


@router.get("/assistant/report", response_class=JSONBody,
            summary="The assistant's containment and unanswered questions")
async def assistant_report(request: Request, principal: Admin,
                           days: Annotated[int, Query(ge=1, le=365)] = 30) -> JSONBody:
    """Conversations the bot took part in over the last ``days``: contained (resolved by the bot: resolved,
    or no further message from the customer within 24 h) or handed over, by intent and language; and the
    questions it was not sure of, most asked first."""
    return JSONBody(await run_in_threadpool(bot.report, _stores(request), principal.workspace_id, days=days))


@router.get("/proactive-chat", response_class=JSONBody, summary="The proactive chat rule")
async def get_proactive(request: Request, principal: Admin) -> JSONBody:
    rule = await run_in_threadpool(proactive_service.rule, _stores(request), principal.workspace_id)
    return JSONBody(rule.as_dict())


@router.put("/proactive-chat", response_class=JSONBody, summary="Change the proactive chat rule")
async def put_proactive(request: Request, principal: Admin, body: ProactiveRuleIn) -> JSONBody:
    """Switch the rule on or off, choose the signals, the idle time, the frequency cap, the holdout share
    and the message in each language. Fields left out keep their value."""
    rule = await run_in_threadpool(proactive_service.set_rule, _stores(request), principal.workspace_id,
                                   body.model_dump(exclude_none=True))
    return JSONBody(rule.as_dict())


@router.get("/settings", response_class=JSONBody, summary="The inbox settings (rating requests)")
async def get_settings(request: Request, principal: Admin) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.rating_settings, _stores(request), principal.workspace_id))


@router.put("/settings", response_class=JSONBody, summary="Change the inbox settings")
async def put_settings(request: Request, principal: Admin, body: SettingsIn) -> JSONBody:
    """``rate_on_resolve``: a web chat an agent answered asks the customer for a 1-5 rating when it is
    resolved (their answers are CSAT answers of the survey ``conversation``)."""
    return JSONBody(await run_in_threadpool(lambda: service.set_rating_settings(
        _stores(request), principal.workspace_id, rate_on_resolve=body.rate_on_resolve)))


# --- one conversation -----------------------------------------------------------------------------------


@router.get("/{conversation_id}", response_class=JSONBody, responses=errors(404),
            summary="One conversation with its participants")
async def get_conversation(request: Request, principal: Admin, conversation_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_conversation, _stores(request), principal.workspace_id,
                                            conversation_id))


@router.get("/{conversation_id}/messages", response_class=JSONBody, responses=errors(404),
            summary="A conversation's messages, oldest first (the newest page before `before`)")
async def list_messages(request: Request, principal: Admin, conversation_id: str, limit: Limit = 50,
                        before: Annotated[Moment | None, Query()] = None, notes: bool = True) -> JSONBody:
    rows = await run_in_threadpool(lambda: service.messages(
        _stores(request), principal.workspace_id, conversation_id, limit=limit, before=before, include_notes=notes))
    return JSONBody({"messages": rows})


@router.post("/{conversation_id}/replies", response_class=JSONBody, status_code=201, responses=errors(404, 409),
             summary="Reply to the customer (sent once, through the outbox)")
async def reply(request: Request, principal: Admin, conversation_id: str, body: ReplyIn) -> JSONBody:
    """On the channel the customer last used unless ``channel`` says otherwise, under the channel's rules:
    422 for a body the channel cannot carry or a customer without an address there, 409 outside
    WhatsApp's 24-hour window (send ``template_code``)."""
    result = await run_in_threadpool(lambda: service.reply(
        _stores(request), principal.workspace_id, conversation_id, body.body, author=body.author.value(),
        channel=body.channel, attachments=[a.value() for a in body.attachments], client_key=body.client_key,
        template_code=body.template_code, template_params=body.template_params, status=body.status))
    return JSONBody(result, status_code=201)


@router.post("/{conversation_id}/notes", response_class=JSONBody, status_code=201, responses=errors(404),
             summary="A private note for agents (never sent)")
async def note(request: Request, principal: Admin, conversation_id: str, body: NoteIn) -> JSONBody:
    result = await run_in_threadpool(lambda: service.note(
        _stores(request), principal.workspace_id, conversation_id, body.body, author=body.author.value(),
        client_key=body.client_key))
    return JSONBody(result, status_code=201)


@router.post("/{conversation_id}/assign", response_class=JSONBody, responses=errors(404, 409),
             summary="Assign to an agent and/or a team (null: unassign; absent: unchanged)")
async def assign(request: Request, principal: Admin, conversation_id: str, body: AssignIn) -> JSONBody:
    given = body.model_fields_set
    result = await run_in_threadpool(lambda: service.assign(
        _stores(request), principal.workspace_id, conversation_id,
        assignee_id=body.assignee_id if "assignee_id" in given else service.UNSET,
        team_id=body.team_id if "team_id" in given else service.UNSET, by=body.author.value()))
    return JSONBody(result)


@router.post("/{conversation_id}/status", response_class=JSONBody, responses=errors(404, 409),
             summary="Change the status (409: a transition the status machine refuses)")
async def set_status(request: Request, principal: Admin, conversation_id: str, body: StatusIn) -> JSONBody:
    result = await run_in_threadpool(lambda: service.set_status(
        _stores(request), principal.workspace_id, conversation_id, body.status, snoozed_until=body.snoozed_until,
        by=body.author.value()))
    return JSONBody(result)


@router.post("/{conversation_id}/snooze", response_class=JSONBody, responses=errors(404, 409),
             summary="Snooze until a time (then it is open again)")
async def snooze(request: Request, principal: Admin, conversation_id: str, body: SnoozeIn) -> JSONBody:
    result = await run_in_threadpool(lambda: service.snooze(
        _stores(request), principal.workspace_id, conversation_id, body.until, by=body.author.value()))
    return JSONBody(result)


@router.post("/{conversation_id}/resolve", response_class=JSONBody, responses=errors(404, 409), summary="Resolve")
async def resolve(request: Request, principal: Admin, conversation_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.resolve, _stores(request), principal.workspace_id,
                                            conversation_id))


@router.post("/{conversation_id}/reopen", response_class=JSONBody, responses=errors(404, 409),
             summary="Reopen (a resolved, pending or snoozed conversation is open again)")
async def reopen(request: Request, principal: Admin, conversation_id: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.reopen, _stores(request), principal.workspace_id, conversation_id))


@router.post("/{conversation_id}/tags", response_class=JSONBody, responses=errors(404), summary="Add and remove tags")
async def tags(request: Request, principal: Admin, conversation_id: str, body: TagsIn) -> JSONBody:
    result = await run_in_threadpool(lambda: service.tag(
        _stores(request), principal.workspace_id, conversation_id, add=body.add, remove=body.remove))
    return JSONBody(result)


@router.post("/{conversation_id}/canned-responses/{canned_id}/render", response_class=JSONBody,
             responses=errors(404), summary="A canned response rendered for this conversation")
async def render_canned(request: Request, principal: Admin, conversation_id: str, canned_id: str,
                        agent_id: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    result = await run_in_threadpool(lambda: service.render_canned(
        _stores(request), principal.workspace_id, conversation_id, canned_id, agent_id=agent_id))
    return JSONBody(result)

