"""Conversations' use cases: receiving a customer's message from any channel, and what agents (and later
the bot) do: reply, note, assign, snooze, resolve, reopen, tag; teams, presence, canned responses; the
live feed's reads; measures.

Each function is one state-store transaction. What a change means for the rest of Touchline goes to the
event log in the same transaction (``Conversation Started``, ``Message Received``, ``Message Replied``,
``Conversation Assigned``, ``Conversation Resolved``, ``Conversation Reopened``, each with ``channel``
and ``conversation_id``, under deterministic message ids); what an inbox shows goes to the live feed
(:mod:`touchline.conversations.feed`), written last.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.engine import Connection

from touchline.assistant.store import faq_fingerprint
from touchline.channels import MAX_QUICK_REPLIES
from touchline.conversations import feed, metrics, placement, ratings, routing, rules, store
from touchline.conversations import hours as team_hours
from touchline.conversations.channel_rules import RULES, ReplyRefused, check_reply, reply_subject
from touchline.conversations.types import (
    CONVERSATION_CHANNELS,
    STATUSES,
    SYSTEM,
    Attachment,
    Author,
    Inbound,
    Received,
    Status,
)
from touchline.errors import Conflict, NotFound, TouchlineError, ValidationFailed, field_error
from touchline.eventlog import SystemEvent, append_system_events
from touchline.ids import uuid5_hex
from touchline.ingest.service import ingest_each_in, ingest_in, parse_items
from touchline.messaging.channels.smtp import message_id_for
from touchline.messaging.outbox import ReadyMessage, enqueue_ready
from touchline.messaging.templates import TemplateRenderError, validate_template
from touchline.messaging.types import language_of
from touchline.profiles import service as profile_service
from touchline.profiles import store as profile_store
from touchline.profiles.contacts import normalize_email, normalize_phone

if TYPE_CHECKING:
    from touchline.ingest.normalize import NormalizedEvent
    from touchline.store.engines import Stores

__all__ = [
    "REPLY_SOURCE",
    "UNSET",
    "agents",
    "ask_in_chat",
    "assign",
    "canned_responses",
    "create_canned",
    "create_team",
    "delete_canned",
    "delete_member",
    "delete_team",
    "delivery_update",
    "feed_since",
    "get_conversation",
    "heartbeat",
    "housekeeping",
    "list_conversations",
    "messages",
    "note",
    "rate",
    "rating_settings",
    "receive",
    "receive_many",
    "render_canned",
    "reopen",
    "reply",
    "resolve",
    "set_member",
    "set_rating_settings",
    "set_status",
    "snooze",
    "stats",
    "tag",
    "team",
    "teams",
    "update_canned",
    "update_team",
    "wake_snoozed",
]

_NS = uuid.UUID("0b6f3c1e-5d2a-4e8f-9a7b-3c4d5e6f7a81")
# What the outbox's message log shows as a reply's template; its receipts come back under it.
REPLY_SOURCE: Final = "conversation_reply"
MAX_ATTACHMENTS = 20
MAX_TAGS = 50
_TAG = re.compile(r"^[\w][\w .:/+-]{0,63}$")
_LIBRARY = {"name": "touchline-conversations"}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""An argument left alone (``assign(..., team_id=UNSET)`` keeps the team; ``None`` clears it)."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- ids ---------------------------------------------------------------------------------------------


def inbound_message_id(workspace_id: str, channel: str, provider_message_id: str) -> str:
    """A customer's message's id, from the provider's: a repeat delivery has the same."""
    return "msg_" + uuid5_hex(_NS, f"in:{workspace_id}:{channel}:{provider_message_id}")[:24]


def _conversation_id(first_message_id: str) -> str:
    return "cnv_" + uuid5_hex(_NS, f"conversation:{first_message_id}")[:24]


def _authored_message_id(conversation_id: str, client_key: str | None) -> str:
    """An agent's message's id: from the client's key when it sends one (a retried request is the same
    message), else new."""
    if client_key:
        return "msg_" + uuid5_hex(_NS, f"out:{conversation_id}:{client_key}")[:24]
    return "msg_" + uuid.uuid4().hex[:24]


def reply_outbox_id(message_id: str) -> str:
    """The outbox row (and the providers' idempotency key) of a reply: one per reply message."""
    return "cr_" + uuid5_hex(_NS, f"reply:{message_id}")


def _event_id(*parts: str) -> str:
    return "conv-" + uuid5_hex(_NS, ":".join(parts))


# --- views -------------------------------------------------------------------------------------------


def _state(row: Mapping[str, Any]) -> rules.State:
    return rules.State(row["status"], row["snoozed_until"], row["resolved_at"])


def conversation_view(row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A conversation as the API shows it (its status as of ``now``: a snooze that ran out is open)."""
    state = rules.effective(_state(row), now)
    return {"id": row["id"], "profile_id": row["profile_id"], "status": state.status,
            "assignee_id": row["assignee_id"], "team_id": row["team_id"], "channel": row["channel"],
            "language": row["language"], "subject": row["subject"], "tags": list(row["tags"] or []),
            "snoozed_until": state.snoozed_until, "created_at": row["created_at"], "updated_at": row["updated_at"],
            "last_message_at": row["last_message_at"], "last_inbound_at": row["last_inbound_at"],
            "first_response_at": row["first_response_at"], "resolved_at": row["resolved_at"],
            "version": row["version"]}


def _quick_replies(value: Any) -> list[str]:
    """Stored quick replies; anything but a list of strings (a dirty row) is none."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def message_view(row: Mapping[str, Any]) -> dict[str, Any]:
    view = {"id": row["id"], "conversation_id": row["conversation_id"], "direction": row["direction"],
            "private": row["direction"] == "note", "channel": row["channel"],
            "author": {"kind": row["author_kind"], "id": row["author_id"]}, "body": row["body"],
            "attachments": list(row["attachments"] or []), "address": row["address"],
            "delivery_status": row["delivery_status"], "delivery_reason": row["delivery_reason"],
            "provider_message_id": row["provider_message_id"], "subject": row["subject"],
            "verified": bool(row.get("verified")), "quick_replies": _quick_replies(row.get("quick_replies")),
            "sent_at": row["sent_at"], "created_at": row["created_at"]}
    if isinstance(row.get("survey"), Mapping):
        view["survey"] = dict(row["survey"])
        view["rating"] = dict(row["rating"]) if isinstance(row.get("rating"), Mapping) else None
    if row["email_message_id"] or row["in_reply_to"] or row["email_references"]:
        view["email"] = {"message_id": row["email_message_id"], "in_reply_to": row["in_reply_to"],
                         "references": list(row["email_references"] or [])}
    return view


def _feed_row(kind: str, conversation: Mapping[str, Any], now: dt.datetime, *, private: bool = False,
              **payload: Any) -> dict[str, Any]:
    return {"workspace_id": conversation["workspace_id"], "conversation_id": conversation["id"],
            "profile_id": conversation["profile_id"], "kind": kind, "private": private,
            "payload": {"conversation": conversation_view(conversation, now), **payload}, "created_at": now}


def _event(conversation: Mapping[str, Any], name: str, event_id: str, at: dt.datetime, **properties: Any
            ) -> SystemEvent:
    """A system event about the conversation's customer, under the deterministic ``event_id``."""
    props = {"conversation_id": conversation["id"], "channel": conversation["channel"], **properties}
    return SystemEvent(profile_id=conversation["profile_id"], event=name, properties=props, timestamp=at,
                       message_id=event_id)


# --- validation --------------------------------------------------------------------------------------


def _check_body(stores: Stores, body: str, field: str = "body") -> None:
    limit = stores.settings.conversation_body_chars
    if len(body) > limit:
        raise ValidationFailed(f"{field} is longer than {limit:,} characters",
                               [field_error(field, f"at most {limit:,} characters", length=len(body))])
    if "\x00" in body:
        raise ValidationFailed(f"{field} contains a NUL character", [field_error(field, "NUL character")])


def _check_attachments(attachments: Sequence[Attachment]) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationFailed("too many attachments", [field_error("attachments", f"at most {MAX_ATTACHMENTS}")])
    for i, a in enumerate(attachments):
        if not re.match(r"^https?://\S+$", a.url or "") or len(a.url) > 2048:
            raise ValidationFailed("an attachment needs an http(s) link",
                                   [field_error(f"attachments.{i}.url", "an http(s) URL of at most 2,048 characters")])


def _conversation(conn: Connection, workspace_id: str, conversation_id: str, *, for_update: bool = False
                  ) -> dict[str, Any]:
    row = store.conversation_row(conn, workspace_id, conversation_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no conversation {conversation_id!r}",
                       {"field": "conversation_id", "reason": "unknown conversation"})
    return row


def _agent(conn: Connection, workspace_id: str, user_id: str, field: str) -> dict[str, Any]:
    """A dashboard user of the workspace, active; another workspace's user is unknown here (404)."""
    user = store.workspace_users(conn, workspace_id, [user_id]).get(user_id)
    if user is None:
        raise NotFound(f"no agent {user_id!r}", {"field": field, "reason": "unknown user"})
    if user["disabled_at"] is not None:
        raise Conflict(f"agent {user_id!r} is disabled", {"field": field, "reason": "disabled user"})
    return user


def _check_author(conn: Connection, workspace_id: str, author: Author, allowed: Sequence[str]) -> None:
    if author.kind not in allowed:
        raise ValidationFailed(f"author must be one of {', '.join(allowed)}",
                               [field_error("author.kind", f"one of {', '.join(allowed)}")])
    if author.kind == "agent" and author.id is not None:
        _agent(conn, workspace_id, author.id, "author.id")
    if author.kind == "bot" and not author.id:
        raise ValidationFailed("a bot author needs its name", [field_error("author.id", "the bot's name")])


def _customer_ids(conn: Connection, workspace_id: str, profile_id: str) -> list[str]:
    canonical = profile_store.canonical_profile_id(conn, workspace_id, profile_id)
    ids = profile_store.merged_profile_ids(conn, workspace_id, canonical)
    return list(dict.fromkeys([*ids, profile_id]))


# --- receiving -----------------------------------------------------------------------------------------


class _Repeat(Exception):
    """The message was stored by a concurrent delivery: roll back its savepoint, answer with the stored one."""


@dataclass(frozen=True)
class _Identity:
    keys: list[tuple[str, str]]  # the identities the message names, spelled as ingestion spells them
    message: dict[str, Any]  # the identify ingestion records when they are not all one known profile
    address: str | None  # the customer's address on the channel, where a reply goes


def _nfc(value: str) -> str:
    text = value.strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _identity(stores: Stores, inbound: Inbound, message_id: str, now: dt.datetime) -> _Identity:
    """The customer's identifiers as identities, and the ``identify`` that records them through
    ingestion: the handles (phone, e-mail, WhatsApp and Kakao ids) as ``context.externalIds`` (identities
    without touching the traits), the anonymous id and user id as themselves. A message naming neither of
    the last two (an SMS, a WhatsApp message) gets a stable anonymous id made of its first handle."""
    given = inbound.customer.present()
    if not given:
        raise ValidationFailed("the customer needs an identifier on the channel",
                               [field_error("customer", "one of phone, whatsapp_id, kakao_id, email, anonymous_id, "
                                                        "user_id")])
    externals: list[tuple[str, str]] = []
    for kind in ("phone", "whatsapp_id", "kakao_id", "email"):
        raw = given.get(kind)
        if raw is None:
            continue
        if kind == "phone":
            value = normalize_phone(raw, stores.settings.default_phone_region)
        elif kind == "email":
            value = normalize_email(raw)
        else:
            value = _nfc(raw)[:512] or None
        if not value:
            raise ValidationFailed(f"customer.{kind} is not valid",
                                   [field_error(f"customer.{kind}", f"not a {kind.replace('_', ' ')}")])
        externals.append((kind, value))
    user_id = _nfc(given["user_id"])[:1024] if "user_id" in given else None
    anonymous_id = _nfc(given["anonymous_id"])[:1024] if "anonymous_id" in given else None
    if not user_id and not anonymous_id:
        anonymous_id = f"{externals[0][0]}:{externals[0][1]}"
    keys: list[tuple[str, str]] = []
    message: dict[str, Any] = {
        "type": "identify", "messageId": f"conv-identify-{message_id}",
        "timestamp": _sent_at(inbound, now).isoformat(),
        "context": {"channel": RULES[inbound.channel].ingest_channel, "library": _LIBRARY,
                    "externalIds": [{"id": v, "type": k, "collection": "users", "encoding": "none"}
                                    for k, v in externals]},
        "traits": dict(inbound.traits),
    }
    if user_id:
        message["userId"] = user_id
        keys.append(("user_id", user_id))
    if anonymous_id:
        message["anonymousId"] = anonymous_id
        keys.append(("anonymous_id", anonymous_id))
    keys += externals
    spelled = dict(externals)
    # The address the customer wrote from: the first of the channel's address kinds they gave (the web
    # chat's customer is their anonymous or user id).
    kinds = RULES[inbound.channel].address_kinds
    address = next((spelled[k] for k in kinds if spelled.get(k)), None) if kinds else (anonymous_id or user_id)
    return _Identity(keys, message, address)


def _sent_at(inbound: Inbound, now: dt.datetime) -> dt.datetime:
    sent = inbound.sent_at
    if sent is None:
        return now
    sent = sent.replace(tzinfo=dt.UTC) if sent.tzinfo is None else sent.astimezone(dt.UTC)
    return min(sent, now)


def _identify_events(stores: Stores, identity: _Identity, now: dt.datetime) -> list[NormalizedEvent]:
    """The ``identify`` that records the customer's identifiers, parsed as ingestion parses it."""
    settings = stores.settings
    events, bad = parse_items([identity.message], received_at=now, batch_sent_at=None, default_type=None,
                              max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region,
                              source=_LIBRARY["name"])
    if bad:
        problem = bad[0]
        field = "customer" if problem.get("field") in (None, "(message)") else f"customer.{problem['field']}"
        raise ValidationFailed("the customer's identifiers cannot be recorded",
                               [field_error(field, str(problem.get("reason")))])
    return events


def _resolve_customer(conn: Connection, stores: Stores, workspace_id: str, identity: _Identity,
                      traits: Mapping[str, Any], now: dt.datetime) -> tuple[str, int]:
    """The customer's profile (canonical) and how many signals ingestion queued. A known customer (every
    identifier already on one profile, no traits to apply) is read; anyone else goes through ingestion,
    exactly as an analytics ``identify`` would: new identities join the profile, identifiers on two
    profiles merge them under the identity graph's rules, an unknown customer gets a new profile."""
    if not traits:
        known = profile_store.load_identities(conn, workspace_id, identity.keys)
        if len(known) == len(set(identity.keys)):
            owners = {profile_store.canonical_profile_id(conn, workspace_id, pid) for pid in set(known.values())}
            if len(owners) == 1:
                return owners.pop(), 0
    result = ingest_in(conn, stores, workspace_id, _identify_events(stores, identity, now), now=now)
    if result.profile_ids:
        return profile_store.canonical_profile_id(conn, workspace_id, result.profile_ids[0]), result.signals
    # The identify was recorded before (this message, received earlier and erased since): look it up.
    known = profile_store.load_identities(conn, workspace_id, identity.keys)
    if not known:
        raise Conflict("the customer could not be resolved", {"field": "customer", "reason": "try again"})
    return profile_store.canonical_profile_id(conn, workspace_id, next(iter(known.values()))), result.signals


def receive(stores: Stores, workspace_id: str, inbound: Inbound, *, now: dt.datetime | None = None) -> Received:
    """A customer's message from any channel: the one entry point of every inbound channel.

    1. De-duplicated by the provider's message id: a second delivery stores nothing and answers with
       the first delivery's message (``duplicate``).
    2. The customer is resolved to a profile through ingestion (:func:`_resolve_customer`).
    3. The message is placed (:func:`touchline.conversations.placement.place`): the customer's active
       conversation on any channel, a recently resolved one reopened, or a new conversation, which is
       assigned automatically when a team says so (:mod:`touchline.conversations.routing`).
    4. Stored, with ``Conversation Started`` / ``Conversation Reopened``, ``Message Received`` and
       ``Conversation Assigned`` in the event log, and the change in the live feed.

    Concurrent messages are better sent through :func:`receive_many` together (the HTTP edge does so
    with :class:`touchline.conversations.writer.InboundWriter`): one transaction for all of them.
    """
    outcome = receive_many(stores, [(workspace_id, inbound)], now=now)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def receive_many(stores: Stores, messages: Sequence[tuple[str, Inbound]], *, now: dt.datetime | None = None
                 ) -> list[Received | TouchlineError]:
    """:func:`receive` for several messages (``(workspace_id, inbound)``) in ONE write transaction, in
    their order, with the event log's and the live feed's writes done once for all of them (what a
    message costs alone is mostly statements run once per message). Each message has its own
    outcome: one refused (its error, in its place in the list) undoes only its own writes (a savepoint
    each) and its neighbours are stored. A repeat of an earlier message of the same group is its
    ``duplicate``. Each message gets its own moment, later than the one before it, so that a customer's
    messages keep their order in the conversation. An error of the store itself (the transaction could
    not commit) raises for the whole group: nothing of it was stored."""
    moments = _moments(now)
    first = next(moments)
    checked: list[_Prepared | TouchlineError] = []
    for workspace_id, inbound in messages:
        try:
            checked.append(_prepare(stores, workspace_id, inbound, first))
        except TouchlineError as exc:
            checked.append(exc)
    todo = [(i, message, first if n == 0 else next(moments))
            for n, (i, message) in enumerate((i, m) for i, m in enumerate(checked) if isinstance(m, _Prepared))]
    stored: dict[int, Received | TouchlineError] = {}
    signals = 0
    if todo:
        deferred = _Deferred()
        with stores.write() as conn:
            stored, signals = _store_messages(conn, stores, todo, deferred)
            deferred.write(conn, todo[-1][2])
        if signals:
            stores.wakeup.set()
        feed.notify(stores)  # once for the group: the poller reads all its feed rows in one round
    return [message if isinstance(message, TouchlineError) else stored[i] for i, message in enumerate(checked)]


def _moments(now: dt.datetime | None) -> Iterator[dt.datetime]:
    """The moments of a group's messages, each later than the one before (messages sort by their moment,
    then by id: two messages of a customer in one group keep their order): the clock's, or ``now`` (a
    caller's clock) and a microsecond more for each next one."""
    last: dt.datetime | None = None
    while True:
        moment = now or dt.datetime.now(dt.UTC)
        if last is not None and moment <= last:
            moment = last + dt.timedelta(microseconds=1)
        last = moment
        yield moment


@dataclass(frozen=True)
class _Prepared:
    """A message checked and its ids computed, before its transaction."""

    workspace_id: str
    inbound: Inbound
    provider_id: str
    message_id: str
    identity: _Identity


def _prepare(stores: Stores, workspace_id: str, inbound: Inbound, now: dt.datetime) -> _Prepared:
    if inbound.channel not in CONVERSATION_CHANNELS:
        raise ValidationFailed(f"unknown channel {inbound.channel!r}",
                               [field_error("channel", f"one of {', '.join(CONVERSATION_CHANNELS)}")])
    provider_id = (inbound.provider_message_id or "").strip()
    if not provider_id or len(provider_id) > 512:
        raise ValidationFailed("provider_message_id is required",
                               [field_error("provider_message_id", "1 to 512 characters")])
    _check_body(stores, inbound.body)
    _check_attachments(inbound.attachments)
    if not inbound.body.strip() and not inbound.attachments:
        raise ValidationFailed("a message needs a body or an attachment", [field_error("body", "empty")])
    if inbound.subject is not None and len(inbound.subject) > 1000:
        raise ValidationFailed("subject is too long", [field_error("subject", "at most 1,000 characters")])
    message_id = inbound_message_id(workspace_id, inbound.channel, provider_id)
    return _Prepared(workspace_id, inbound, provider_id, message_id, _identity(stores, inbound, message_id, now))


@dataclass
class _Deferred:
    """What a group's stored messages add to the event log and the live feed, written once at the end of
    the group's transaction (one de-duplication and one insert for all; the feed rows last, see
    :mod:`touchline.conversations.feed`)."""

    events: dict[str, list[SystemEvent]] = field(default_factory=dict)  # by workspace
    feed_rows: list[dict[str, Any]] = field(default_factory=list)

    def write(self, conn: Connection, now: dt.datetime) -> None:
        for workspace_id, events in self.events.items():
            append_system_events(conn, workspace_id, events, now)
        store.insert_feed(conn, self.feed_rows)

    def extend(self, other: _Deferred) -> None:
        for workspace_id, events in other.events.items():
            self.events.setdefault(workspace_id, []).extend(events)
        self.feed_rows.extend(other.feed_rows)


# A message and its moment, as a group's messages are stored: (its place in the group, it, its moment).
_Todo = tuple[int, _Prepared, dt.datetime]


def _store_messages(conn: Connection, stores: Stores, todo: Sequence[_Todo], deferred: _Deferred
                    ) -> tuple[dict[int, Received | TouchlineError], int]:
    """The group's messages in the caller's transaction, in order: as many together as can be
    (:class:`_Together`: one statement of each kind for all of them), the others one at a time
    (:func:`_receive_in`). Each message's outcome by its place, and how many signals ingestion queued."""
    stored: dict[int, Received | TouchlineError] = {}
    signals = 0
    start = 0
    while start < len(todo):
        together = _Together(conn, stores, todo[start:])
        if not together.plans:  # the first needs what only one at a time does (an e-mail reply, ...)
            signals += _one_at_a_time(conn, stores, todo[start:start + 1], deferred, stored)
            start += 1
            continue
        theirs = _Deferred()
        try:
            with conn.begin_nested():
                outcomes, queued = together.store(theirs)
        except _Apart:
            signals += _one_at_a_time(conn, stores, todo[start:start + len(together.plans)], deferred, stored)
        else:
            stored.update(outcomes)
            signals += queued
            deferred.extend(theirs)
        start += len(together.plans)
    return stored, signals


def _one_at_a_time(conn: Connection, stores: Stores, todo: Sequence[_Todo], deferred: _Deferred,
                   stored: dict[int, Received | TouchlineError]) -> int:
    """Each message with :func:`_receive_in`; how many signals ingestion queued."""
    signals = 0
    for i, message, at in todo:
        try:
            stored[i], queued = _receive_in(conn, stores, message, at, deferred)
        except TouchlineError as exc:  # refused (an unknown conversation, an unresolvable customer, ...)
            stored[i] = exc
            continue
        signals += queued
    return signals


def _receive_in(conn: Connection, stores: Stores, message: _Prepared, now: dt.datetime, deferred: _Deferred
                ) -> tuple[Received, int]:
    """One message in the caller's transaction, inside a savepoint of its own (its events and feed row go
    to ``deferred`` once it is stored); what it was and how many signals ingestion queued."""
    workspace_id, inbound = message.workspace_id, message.inbound
    found = store.message_by_provider_id(conn, workspace_id, inbound.channel, message.provider_id)
    if found is None:
        try:
            with conn.begin_nested():
                profile_id, signals = _resolve_customer(conn, stores, workspace_id, message.identity, inbound.traits,
                                                        now)
                profile_store.lock_customers(conn, [profile_id])  # one placement at a time per customer
                received = _place_and_store(conn, stores, workspace_id, profile_id, inbound, message.provider_id,
                                            message.message_id, message.identity.address, now, deferred)
            return received, signals
        except _Repeat:  # stored by a concurrent transaction meanwhile (PostgreSQL): now visible
            found = store.message_by_provider_id(conn, workspace_id, inbound.channel, message.provider_id)
            assert found is not None
    return _repeat(conn, workspace_id, found, now), 0


def _repeat(conn: Connection, workspace_id: str, message: dict[str, Any], now: dt.datetime) -> Received:
    conversation = _conversation(conn, workspace_id, message["conversation_id"])
    return Received(conversation_view(conversation, now), message_view(message), "duplicate", duplicate=True)


def _place_and_store(conn: Connection, stores: Stores, workspace_id: str, profile_id: str, inbound: Inbound,
                     provider_id: str, message_id: str, address: str | None, now: dt.datetime, deferred: _Deferred
                     ) -> Received:
    ids = _customer_ids(conn, workspace_id, profile_id)
    rows = store.customer_conversations(conn, workspace_id, ids, for_update=True)
    _check_hint(inbound, rows)
    headers = inbound.email
    referenced: list[str] = []
    if headers is not None and headers.is_reply:
        refs = headers.referenced()
        matched = store.conversations_by_email_ids(conn, workspace_id, refs, ids)
        referenced = list(dict.fromkeys(matched[r] for r in refs if r in matched))
    return _place(_Writes(conn), stores, workspace_id, profile_id, rows, referenced, inbound, provider_id, message_id,
                  address, now, deferred)


def _check_hint(inbound: Inbound, rows: Sequence[Mapping[str, Any]]) -> None:
    if inbound.conversation_id is not None and all(r["id"] != inbound.conversation_id for r in rows):
        # Unknown, or another customer's: the same answer, so nothing leaks.
        raise NotFound(f"no conversation {inbound.conversation_id!r} for this customer",
                       {"field": "conversation_id", "reason": "unknown conversation"})


class _Writes:
    """Where a placed message's rows go: to the store at once (one message at a time); :class:`_Held`
    holds them for its group's statements instead."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def locale(self, workspace_id: str, profile_id: str) -> str | None:
        return (profile_store.profile_row(self.conn, workspace_id, profile_id) or {}).get("locale")

    def insert_conversation(self, row: dict[str, Any]) -> None:
        store.insert_conversation(self.conn, row)

    def update_conversation(self, workspace_id: str, conversation: Mapping[str, Any], values: dict[str, Any]) -> None:
        store.update_conversation(self.conn, workspace_id, conversation["id"], **values)

    def add_participants(self, rows: list[dict[str, Any]]) -> None:
        store.add_participants(self.conn, rows)

    def insert_message(self, row: dict[str, Any]) -> bool:
        return store.insert_message(self.conn, row)

    def route(self, workspace_id: str, conversation: dict[str, Any], now: dt.datetime) -> dict[str, Any] | None:
        """A conversation new or reopened without an agent: routed to people at once (:func:`_auto_assign`)
        unless the assistant takes the first turn. The conversation assigned, or None."""
        if _assistant_first(self.conn, workspace_id):
            return None
        return _auto_assign(self.conn, workspace_id, conversation, now)


def _place(writes: _Writes, stores: Stores, workspace_id: str, profile_id: str, rows: Sequence[dict[str, Any]],
           referenced: Sequence[str], inbound: Inbound, provider_id: str, message_id: str, address: str | None,
           now: dt.datetime, deferred: _Deferred) -> Received:
    """Place the message among the customer's conversations ``rows`` (:mod:`placement`) and store it with
    ``writes``; its events and feed row go to ``deferred``."""
    settings = stores.settings
    by_id = {r["id"]: r for r in rows}
    candidates = [placement.Candidate(r["id"], r["status"], r["last_message_at"], r["subject"], r["resolved_at"])
                  for r in rows]
    decided = placement.place(candidates, now=now, reopen_window=dt.timedelta(hours=settings.conversation_reopen_hours),
                              hinted=inbound.conversation_id, referenced=referenced, subject=inbound.subject)
    sent_at = _sent_at(inbound, now)
    headers = inbound.email
    events: list[SystemEvent] = []
    if isinstance(decided, placement.Join):
        conversation = by_id[decided.conversation_id]
        change = rules.on_customer_message(_state(conversation), now)
        outcome = "reopened" if change.event == rules.REOPENED_EVENT else "joined"
        values: dict[str, Any] = {"status": change.after.status, "snoozed_until": change.after.snoozed_until,
                                  "resolved_at": change.after.resolved_at, "channel": inbound.channel,
                                  "last_message_at": now, "last_inbound_at": now, "updated_at": now,
                                  "version": conversation["version"] + 1}
        if not conversation["subject"] and inbound.subject:
            values["subject"] = inbound.subject.strip()
        writes.update_conversation(workspace_id, conversation, values)
        conversation = {**conversation, **values}
        if change.event == rules.REOPENED_EVENT:
            events.append(_event(conversation, rules.REOPENED_EVENT,
                                 _event_id(conversation["id"], "reopened", str(conversation["version"])), now,
                                 by="customer"))
    else:
        outcome = "started"
        conversation = {
            "id": _conversation_id(message_id), "workspace_id": workspace_id, "profile_id": profile_id,
            "status": "open", "assignee_id": None, "team_id": None, "channel": inbound.channel,
            "language": language_of(inbound.language) or language_of(writes.locale(workspace_id, profile_id)),
            "subject": (inbound.subject or "").strip() or None, "tags": [], "snoozed_until": None,
            "created_at": now, "updated_at": now, "last_message_at": now, "last_inbound_at": now,
            "first_response_at": None, "resolved_at": None, "version": 1}
        writes.insert_conversation(conversation)
        writes.add_participants([{"conversation_id": conversation["id"], "kind": "customer",
                                  "participant_id": profile_id, "workspace_id": workspace_id,
                                  "profile_id": profile_id, "joined_at": now}])
        events.append(_event(conversation, "Conversation Started", _event_id(conversation["id"], "started"), now))
    message = {
        "id": message_id, "workspace_id": workspace_id, "conversation_id": conversation["id"],
        "profile_id": conversation["profile_id"], "direction": "inbound", "channel": inbound.channel,
        "author_kind": "customer", "author_id": profile_id, "body": inbound.body,
        "attachments": [a.as_dict() for a in inbound.attachments], "address": address,
        "delivery_status": "received", "delivery_reason": None, "outbox_id": None,
        "provider_message_id": provider_id, "subject": (inbound.subject or "").strip() or None,
        "email_message_id": headers.message_id if headers else None,
        "in_reply_to": headers.in_reply_to if headers else None,
        "email_references": list(headers.references) if headers and headers.references else None,
        "verified": inbound.verified, "sent_at": sent_at, "created_at": now}
    if not writes.insert_message(message):
        raise _Repeat
    events.append(_event(conversation, "Message Received", _event_id(message_id, "received"), now,
                         message_id=message_id, attachments=len(inbound.attachments)))
    if outcome != "joined" and conversation["assignee_id"] is None:
        assigned = writes.route(workspace_id, conversation, now)
        if assigned is not None:
            conversation = assigned
            events.append(_automatic_assignment(conversation, now))
    deferred.events.setdefault(workspace_id, []).extend(events)
    deferred.feed_rows.append(_feed_row("message", conversation, now, message=message_view(message)))
    return Received(conversation_view(conversation, now), message_view(message), outcome)


# --- receiving several messages together ----------------------------------------------------------------


class _Apart(Exception):
    """What the messages stored together did would differ from what storing them one at a time does (an
    ingestion merged profiles, another process stored one of them meanwhile, ...): their savepoint is
    rolled back and they are stored one at a time."""


class _Held(_Writes):
    """The rows of messages stored together, held and written with one statement of each kind
    (:meth:`flush`); the conversations as they stand after each message, for the next."""

    def __init__(self, conn: Connection, conversations: dict[str, dict[str, Any]]) -> None:
        super().__init__(conn)
        self.conversations = conversations  # by id, as they stand
        self.customers: dict[tuple[str, str], list[str]] = {}  # their conversations' ids, by (workspace, profile)
        self._locales: dict[tuple[str, str], str | None] = {}
        self._new: dict[str, dict[str, Any]] = {}
        self._changes: dict[tuple[str, str], dict[str, Any]] = {}
        self._participants: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        self._routed: dict[str, bool] = {}

    def locale(self, workspace_id: str, profile_id: str) -> str | None:
        if (workspace_id, profile_id) not in self._locales:  # the workspace's customers of the group at once
            customers = list(dict.fromkeys([*(p for w, p in self.customers if w == workspace_id), profile_id]))
            found = profile_store.profile_locales(self.conn, workspace_id, customers)
            self._locales.update(((workspace_id, p), locale) for p, locale in found.items())
        return self._locales[(workspace_id, profile_id)]

    def insert_conversation(self, row: dict[str, Any]) -> None:
        self._new[row["id"]] = self.conversations[row["id"]] = row
        self.customers.setdefault((row["workspace_id"], row["profile_id"]), []).append(row["id"])

    def update_conversation(self, workspace_id: str, conversation: Mapping[str, Any], values: dict[str, Any]) -> None:
        cid = conversation["id"]
        if cid in self._new:
            self._new[cid] = {**self._new[cid], **values}
        else:
            self._changes[(workspace_id, cid)] = {**self._changes.get((workspace_id, cid), {}), **values}
        self.conversations[cid] = {**self.conversations[cid], **values}

    def add_participants(self, rows: list[dict[str, Any]]) -> None:
        self._participants.extend(rows)

    def insert_message(self, row: dict[str, Any]) -> bool:
        self._messages.append(row)
        return True  # a message stored meanwhile by another process is found when they are written

    def route(self, workspace_id: str, conversation: dict[str, Any], now: dt.datetime) -> dict[str, Any] | None:
        routed = self._routed.get(workspace_id)
        if routed is None:  # the assistant first, or no team that assigns: nothing to read each time
            routed = self._routed[workspace_id] = not _assistant_first(self.conn, workspace_id) and any(
                t["auto_assign"] for t in store.team_rows(self.conn, workspace_id))
        if not routed:
            return None
        self.flush()  # the routing reads the agents' loads from the store
        assigned = _auto_assign(self.conn, workspace_id, conversation, now)
        if assigned is not None:
            self.conversations[assigned["id"]] = assigned
        return assigned

    def flush(self) -> None:
        store.insert_conversations(self.conn, list(self._new.values()))
        by_workspace: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for (workspace_id, cid), values in self._changes.items():
            by_workspace.setdefault(workspace_id, []).append((cid, values))
        for workspace_id, changes in by_workspace.items():
            store.update_conversations(self.conn, workspace_id, changes)
        store.add_participants(self.conn, self._participants)
        if len(store.insert_messages(self.conn, self._messages)) != len(self._messages):
            raise _Apart  # stored by a concurrent transaction meanwhile (PostgreSQL)
        self._new, self._changes, self._participants, self._messages = {}, {}, [], []


@dataclass
class _Plan:
    """A message of a group stored together, and what is known of it before."""

    index: int
    message: _Prepared
    at: dt.datetime
    stored: dict[str, Any] | None = None  # a repeat of a message stored before the group
    repeats: int | None = None  # a repeat of this earlier message of the group (its place among the plans)
    same_customer_as: int | None = None  # the earlier message that named the same identifiers
    profile_id: str | None = None  # the customer: known before, or once ingestion recorded them
    ingested: bool = False
    error: TouchlineError | None = None


class _Together:
    """Messages of a group stored together: the statements that one at a time run for each message (the
    repeat look-up, the identities, ingestion of new customers, the customers' locks and conversations,
    the message and conversation rows) run once for all of them, and each message is placed in order
    with the conversations as the ones before it left them (:func:`_place`), so each outcome is the one
    storing them one at a time gives.

    Made with the group's messages from the first not yet stored on, it reads what is stored and keeps
    (``plans``) the longest run of them it can store so: up to the first one whose customer's
    identifiers overlap those of an earlier one without being the same ones (ingestion would resolve the
    first before the second is seen), that names the same ones with traits to record, that is an e-mail
    reply (threading reads the referenced messages), or that hints at a conversation of a customer
    ingestion must resolve first. None when the first one is such a message.
    """

    def __init__(self, conn: Connection, stores: Stores, todo: Sequence[_Todo]) -> None:
        self.conn, self.stores = conn, stores
        by_channel: dict[tuple[str, str], list[str]] = {}
        keys: dict[str, list[tuple[str, str]]] = {}
        for _, message, _ in todo:
            by_channel.setdefault((message.workspace_id, message.inbound.channel), []).append(message.provider_id)
            keys.setdefault(message.workspace_id, []).extend(message.identity.keys)
        stored = {(workspace_id, channel, pid): row for (workspace_id, channel), pids in by_channel.items()
                  for pid, row in store.messages_by_provider_ids(conn, workspace_id, channel, pids).items()}
        owners: dict[tuple[str, tuple[str, str]], str] = {}  # (workspace, identity) -> its customer
        for workspace_id, wanted in keys.items():
            known = profile_store.load_identities(conn, workspace_id, wanted)
            canonical = profile_store.canonical_profile_ids(conn, workspace_id, set(known.values()))
            owners.update(((workspace_id, key), canonical[pid]) for key, pid in known.items())
        self.plans: list[_Plan] = []
        first_of: dict[tuple[str, str, str], int] = {}  # a message's first place, by its provider id
        named: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}  # identifiers -> the first to name them
        taken: set[tuple[str, tuple[str, str]]] = set()
        for i, message, at in todo:
            plan = _Plan(i, message, at)
            workspace_id, inbound = message.workspace_id, message.inbound
            provider_key = (workspace_id, inbound.channel, message.provider_id)
            if provider_key in stored or provider_key in first_of:
                plan.stored, plan.repeats = stored.get(provider_key), first_of.get(provider_key)
                self.plans.append(plan)
                continue
            if inbound.email is not None and inbound.email.is_reply:
                break
            identifiers = (workspace_id, frozenset(message.identity.keys))
            same = named.get(identifiers)
            if same is not None:
                if inbound.traits:
                    break
                plan.same_customer_as = same
            else:
                if any((workspace_id, key) in taken for key in identifiers[1]):
                    break
                found = {owners.get((workspace_id, key)) for key in message.identity.keys}
                if not inbound.traits and len(found) == 1 and None not in found:
                    plan.profile_id = found.pop()
                elif inbound.conversation_id is not None and found - {None}:
                    break
                named[identifiers] = len(self.plans)
                taken.update((workspace_id, key) for key in identifiers[1])
            first_of[provider_key] = len(self.plans)
            self.plans.append(plan)

    def store(self, deferred: _Deferred) -> tuple[dict[int, Received | TouchlineError], int]:
        """Store the planned messages (in the caller's savepoint: :class:`_Apart` when storing them one at a
        time would do otherwise); each outcome by the message's place in the group, and how many signals
        ingestion queued."""
        conn = self.conn
        signals = self._resolve()
        customers: dict[str, set[str]] = {}
        for plan in self.plans:
            if plan.profile_id is not None and plan.error is None:
                customers.setdefault(plan.message.workspace_id, set()).add(plan.profile_id)
        conversations: dict[str, dict[str, Any]] = {}
        held = _Held(conn, conversations)
        for workspace_id, profile_ids in customers.items():
            merged = profile_store.merged_profile_ids_of(conn, workspace_id, sorted(profile_ids))
            profile_store.lock_customers(conn, sorted(profile_ids))  # one placement at a time per customer
            customer_of = {pid: customer for customer, ids in merged.items() for pid in ids}
            for customer in profile_ids:
                held.customers[(workspace_id, customer)] = []
            for row in store.conversations_of(conn, workspace_id, list(customer_of), for_update=True):
                conversations[row["id"]] = row
                held.customers[(workspace_id, customer_of[row["profile_id"]])].append(row["id"])
        outcomes: dict[int, Received | TouchlineError] = {}
        for plan in self.plans:
            message, inbound = plan.message, plan.message.inbound
            workspace_id = message.workspace_id
            if plan.stored is not None or plan.repeats is not None:
                outcomes[plan.index] = self._repeat(plan, held, outcomes)
                continue
            if plan.error is not None:
                outcomes[plan.index] = plan.error
                continue
            assert plan.profile_id is not None
            # The customer's 50 most recently active conversations, as customer_conversations reads them.
            ids = held.customers[(workspace_id, plan.profile_id)]
            rows = sorted(sorted((conversations[cid] for cid in ids), key=lambda r: r["id"]),
                          key=lambda r: r["last_message_at"], reverse=True)[:50]
            try:
                _check_hint(inbound, rows)
            except NotFound as exc:
                outcomes[plan.index] = exc
                continue
            try:
                outcomes[plan.index] = _place(held, self.stores, workspace_id, plan.profile_id, rows, (), inbound,
                                              message.provider_id, message.message_id, message.identity.address,
                                              plan.at, deferred)
            except TouchlineError as exc:  # after some of its rows were held: one at a time undoes them
                raise _Apart from exc
        held.flush()
        return outcomes, signals

    def _resolve(self) -> int:
        """Each planned message's customer: the customers nobody knew (or with traits to record) through
        ingestion, as one identify each, all at once; how many signals ingestion queued."""
        conn, signals = self.conn, 0
        to_ingest: dict[str, list[_Plan]] = {}
        for plan in self.plans:
            if plan.stored is not None or plan.repeats is not None or plan.same_customer_as is not None \
                    or plan.profile_id is not None:
                continue
            if plan.message.inbound.conversation_id is not None:  # nobody knew them: they have no conversation
                plan.error = NotFound(f"no conversation {plan.message.inbound.conversation_id!r} for this customer",
                                      {"field": "conversation_id", "reason": "unknown conversation"})
                continue
            plan.ingested = True
            to_ingest.setdefault(plan.message.workspace_id, []).append(plan)
        for workspace_id, plans in to_ingest.items():
            parsed: list[tuple[_Plan, NormalizedEvent]] = []
            for plan in plans:
                try:
                    events = _identify_events(self.stores, plan.message.identity, plan.at)
                except ValidationFailed as exc:
                    plan.error = exc
                    continue
                if len(events) != 1:
                    raise _Apart
                parsed.append((plan, events[0]))
            if not parsed:
                continue
            results = ingest_each_in(conn, self.stores, workspace_id, [e for _, e in parsed], now=parsed[0][0].at)
            for (plan, _), result in zip(parsed, results, strict=True):
                if result.merges or not result.profile_ids:  # merged profiles others of the group may name
                    raise _Apart
                plan.profile_id = result.profile_ids[0]
                signals = max(signals, result.signals)
            canonical = profile_store.canonical_profile_ids(conn, workspace_id, [p.profile_id for p, _ in parsed
                                                                                 if p.profile_id is not None])
            for plan, _ in parsed:
                if plan.profile_id is not None:
                    plan.profile_id = canonical[plan.profile_id]
        recheck: dict[str, list[_Plan]] = {}
        for plan in self.plans:
            if plan.same_customer_as is None:
                continue
            first = self.plans[plan.same_customer_as]
            if first.ingested:
                if first.error is not None:  # it would have gone through ingestion itself
                    raise _Apart
                recheck.setdefault(plan.message.workspace_id, []).append(plan)
            plan.profile_id = first.profile_id
        for workspace_id, plans in recheck.items():
            # One at a time, a second message naming them is known now, unless ingestion left its
            # identifiers apart (a conflict): then it would be ingested again.
            wanted = [key for plan in plans for key in plan.message.identity.keys]
            known = profile_store.load_identities(conn, workspace_id, wanted)
            canonical = profile_store.canonical_profile_ids(conn, workspace_id, set(known.values()))
            for plan in plans:
                if any(canonical.get(known.get(key, "")) != plan.profile_id for key in plan.message.identity.keys):
                    raise _Apart
        return signals

    def _repeat(self, plan: _Plan, held: _Held, outcomes: dict[int, Received | TouchlineError]
                ) -> Received | TouchlineError:
        """A repeat delivery: the message as first stored, in its conversation as it stands."""
        if plan.stored is not None:
            cid, message = plan.stored["conversation_id"], message_view(plan.stored)
        else:
            assert plan.repeats is not None
            first = outcomes[self.plans[plan.repeats].index]
            if isinstance(first, TouchlineError):  # refused: so is the same message again
                return first
            cid, message = first.conversation["id"], first.message
        conversation = held.conversations.get(cid)
        if conversation is None:
            try:
                conversation = _conversation(self.conn, plan.message.workspace_id, cid)
            except TouchlineError as exc:
                return exc
        return Received(conversation_view(conversation, plan.at), message, "duplicate", duplicate=True)


def _automatic_assignment(conversation: Mapping[str, Any], now: dt.datetime) -> SystemEvent:
    """``Conversation Assigned`` (automatic) for a conversation just routed (its assignee, team and version
    as updated): one id per assignment, so a repeat writes it once."""
    return _event(conversation, "Conversation Assigned",
                  _event_id(conversation["id"], "assigned", str(conversation["version"])), now,
                  assignee_id=conversation["assignee_id"], team_id=conversation["team_id"], automatic=True)


def _assistant_first(conn: Connection, workspace_id: str) -> bool:
    """Whether the shop assistant takes a new conversation's first turn (the workspace has an FAQ entry in
    use): then it is routed to people when the assistant hands it over (:func:`hand_over`), not at once."""
    return bool(faq_fingerprint(conn, workspace_id)[1])


def hand_over(stores: Stores, workspace_id: str, conversation_id: str, *, now: dt.datetime | None = None
              ) -> dict[str, Any]:
    """The assistant hands the conversation to people: routed as a new conversation is (the team that
    assigns automatically and, when someone is eligible, the agent whose turn it is), with ``Conversation
    Assigned`` (automatic). Unchanged when someone has it already or it is closed."""
    now = _now(now)
    with stores.write() as conn:
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        if conversation["assignee_id"] is not None or conversation["status"] == "resolved":
            return conversation_view(conversation, now)
        assigned = _auto_assign(conn, workspace_id, conversation, now)
        if assigned is None:
            return conversation_view(conversation, now)
        append_system_events(conn, workspace_id, [_automatic_assignment(assigned, now)], now)
        store.insert_feed(conn, [_feed_row("conversation", assigned, now, private=True, change="assignment")])
    feed.notify(stores)
    return conversation_view(assigned, now)


def _auto_assign(conn: Connection, workspace_id: str, conversation: dict[str, Any], now: dt.datetime
                 ) -> dict[str, Any] | None:
    """Route a new (or reopened, unassigned) conversation: the team and, when someone is eligible, the
    agent whose turn it is (:mod:`touchline.conversations.routing`). The conversation updated, or None."""
    team_rows = [t for t in store.team_rows(conn, workspace_id) if t["auto_assign"]]
    if not team_rows:
        return None
    chosen_row = next((t for t in team_rows if not t["channels"] or conversation["channel"] in t["channels"]), None)
    if chosen_row is None:
        return None
    # The team's row is locked (PostgreSQL) so that two conversations arriving at once take turns.
    locked = store.team_row(conn, workspace_id, chosen_row["id"], for_update=True) or chosen_row
    team = _team_rule(conn, workspace_id, locked, now)
    agent = routing.next_agent(team, language=conversation["language"], now=now)
    values: dict[str, Any] = {"team_id": team.id, "assignee_id": agent, "updated_at": now,
                              "version": conversation["version"] + 1}
    store.update_conversation(conn, workspace_id, conversation["id"], **values)
    if agent is not None:
        store.update_team(conn, workspace_id, team.id, last_assigned_user_id=agent)
        store.add_participants(conn, [{"conversation_id": conversation["id"], "kind": "agent", "participant_id": agent,
                                       "workspace_id": workspace_id, "profile_id": conversation["profile_id"],
                                       "joined_at": now}])
    return {**conversation, **values}


def _team_rule(conn: Connection, workspace_id: str, team: Mapping[str, Any], now: dt.datetime) -> routing.TeamRule:
    members = store.members_of(conn, workspace_id, [team["id"]])
    user_ids = [m["user_id"] for m in members]
    users = store.workspace_users(conn, workspace_id, user_ids)
    online = store.presence(conn, workspace_id)
    loads = store.active_loads(conn, workspace_id, user_ids)
    return routing.TeamRule(
        id=team["id"], auto_assign=bool(team["auto_assign"]), language_routing=bool(team["language_routing"]),
        channels=tuple(team["channels"] or ()), last_assigned_user_id=team["last_assigned_user_id"],
        members=tuple(routing.Member(m["user_id"], int(m["capacity"]), tuple(m["languages"] or ()),
                                     online.get(m["user_id"]), loads.get(m["user_id"], 0))
                      for m in members if m["user_id"] in users and users[m["user_id"]]["disabled_at"] is None))


# How many of a team's waiting conversations one pass over its queue reads (the oldest first).
BACKLOG_SCAN = 200


def _work_off_backlog(conn: Connection, workspace_id: str, user_id: str, now: dt.datetime, *,
                      exclude: str | None = None) -> list[dict[str, Any]]:
    """The agent ``user_id`` came online or freed capacity: in the caller's transaction, assign the
    waiting conversations of each automatically assigning team they are in (:func:`routing.backlog`),
    with ``Conversation Assigned`` (automatic) in the event log. The feed rows for the caller to write
    last.

    Each team's row is locked (PostgreSQL) as :func:`_auto_assign` locks it, so that turns and loads are
    read by one pass at a time; the conversations are claimed skipping those another transaction holds,
    and each is assigned only if it is still open and unassigned, so a conversation never gets two
    assignees however many processes do this at once. Nothing waiting: nothing written."""
    mine = set(store.teams_of(conn, workspace_id, user_id))
    team_rows = store.team_rows(conn, workspace_id)
    if not any(t["auto_assign"] and t["id"] in mine for t in team_rows):
        return []
    routes = [routing.TeamRule(t["id"], bool(t["auto_assign"]), bool(t["language_routing"]),
                               tuple(t["channels"] or ())) for t in team_rows]
    events: list[SystemEvent] = []
    feed_rows: list[dict[str, Any]] = []
    for row in team_rows:  # in the order teams were created: two passes lock them in the same order
        if not row["auto_assign"] or row["id"] not in mine:
            continue
        locked = store.team_row(conn, workspace_id, row["id"], for_update=True)
        if locked is None or not locked["auto_assign"]:
            continue
        channels = routing.served_channels(routes, locked["id"], CONVERSATION_CHANNELS)
        waiting = store.team_queue(conn, workspace_id, locked["id"], channels, exclude=exclude, limit=BACKLOG_SCAN)
        if not waiting:
            continue
        team = _team_rule(conn, workspace_id, locked, now)
        by_id = {w["id"]: w for w in waiting}
        plan = routing.backlog(team, [routing.Waiting(w["id"], w["language"], w["created_at"]) for w in waiting],
                               now=now)
        last = None
        for conversation_id, agent in plan:
            conversation = by_id[conversation_id]
            values: dict[str, Any] = {"team_id": team.id, "assignee_id": agent, "updated_at": now,
                                      "version": conversation["version"] + 1}
            if not store.assign_waiting(conn, workspace_id, conversation_id, conversation["version"], **values):
                continue  # taken (or closed) meanwhile
            last = agent
            conversation = {**conversation, **values}
            store.add_participants(conn, [{"conversation_id": conversation_id, "kind": "agent",
                                           "participant_id": agent, "workspace_id": workspace_id,
                                           "profile_id": conversation["profile_id"], "joined_at": now}])
            events.append(_automatic_assignment(conversation, now))
            feed_rows.append(_feed_row("conversation", conversation, now, private=True, change="assignment"))
        if last is not None:
            store.update_team(conn, workspace_id, team.id, last_assigned_user_id=last)
    if events:
        append_system_events(conn, workspace_id, events, now)
    return feed_rows


# --- what agents do ------------------------------------------------------------------------------------


def reply(stores: Stores, workspace_id: str, conversation_id: str, body: str, *, author: Author,
          channel: str | None = None, attachments: Sequence[Attachment] = (), client_key: str | None = None,
          template_code: str | None = None, template_params: Mapping[str, str] | None = None,
          status: Status | None = None, in_place: bool = False, quick_replies: Sequence[str] = (),
          now: dt.datetime | None = None) -> dict[str, Any]:
    """Answer the customer: on ``channel`` (by default the one they last wrote on), sent exactly once.

    The reply is a conversation message and, unless the channel delivers in place (web chat), an outbox
    row with literal content (:class:`touchline.messaging.outbox.ReadyMessage`) under
    ``reply_outbox_id(message id)``, both in one transaction: a crash before the commit leaves neither,
    after it the outbox sends it once. With ``client_key`` a retried request returns the same reply.
    The channel's rules apply (:func:`touchline.conversations.channel_rules.check_reply`): length, an
    address, WhatsApp's 24-hour window (a text outside it is refused; ``template_code`` sends an
    approved template). ``status`` changes the conversation's status in the same step (reply and set
    pending, reply and resolve). ``in_place``: the channel's own answer carries it (a KakaoTalk skill
    response), so it is recorded as sent and nothing is queued. Returns ``{"conversation", "message",
    "channel_info"}``."""
    now = _now(now)
    if channel is not None and channel not in CONVERSATION_CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}",
                               [field_error("channel", f"one of {', '.join(CONVERSATION_CHANNELS)}")])
    with stores.write() as conn:
        _check_author(conn, workspace_id, author, ("agent", "bot"))
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        _check_body(stores, body)
        _check_attachments(attachments)
        message_id = _authored_message_id(conversation_id, client_key)
        existing = store.message_row(conn, workspace_id, message_id)
        if existing is not None:
            return {"conversation": conversation_view(conversation, now), "message": message_view(existing),
                    "channel_info": {}}
        chosen = channel or conversation["channel"]
        rule = RULES[chosen]
        ids = _customer_ids(conn, workspace_id, conversation["profile_id"])
        last = store.last_inbound(conn, workspace_id, ids, chosen)
        to = _reply_address(conn, workspace_id, ids, chosen, last)
        try:
            info = check_reply(chosen, body, to=to, last_inbound_at=last["created_at"] if last else None, now=now,
                               template=bool(template_code))
        except ReplyRefused as exc:
            error = Conflict if exc.conflict else ValidationFailed
            raise error(exc.reason, [field_error(exc.field, exc.code or exc.reason, message=exc.reason)]) from exc
        transition = _status_change(conversation, status, now) if status is not None else None
        outbox_id = reply_outbox_id(message_id) if rule.outbox_channel is not None and not in_place else None
        content, email = _reply_content(stores, chosen, body, attachments, conversation, last, outbox_id,
                                        template_code, template_params)
        message = {
            "id": message_id, "workspace_id": workspace_id, "conversation_id": conversation_id,
            "profile_id": conversation["profile_id"], "direction": "outbound", "channel": chosen,
            "author_kind": author.kind, "author_id": author.id, "body": body,
            "attachments": [a.as_dict() for a in attachments], "address": to,
            # Web chat: delivered in place, the chat window reads it from the conversation.
            "delivery_status": "queued" if outbox_id else "sent", "delivery_reason": None, "outbox_id": outbox_id,
            "provider_message_id": None, "subject": content.get("subject"),
            "email_message_id": email.get("message_id"), "in_reply_to": email.get("in_reply_to"),
            "email_references": email.get("references"), "sent_at": None if outbox_id else now,
            "quick_replies": list(quick_replies[:MAX_QUICK_REPLIES]) if rule.quick_replies and quick_replies else None,
            "created_at": now}
        store.insert_message(conn, message)
        if outbox_id is not None and rule.outbox_channel is not None and to is not None:
            enqueue_ready(conn, ReadyMessage(
                id=outbox_id, workspace_id=workspace_id, customer_id=conversation["profile_id"],
                channel=rule.outbox_channel, to_address=to, content=content, source=REPLY_SOURCE,
                context={"conversation_id": conversation_id, "conversation_message_id": message_id,
                         "conversation_channel": chosen}), now)
        values: dict[str, Any] = {"last_message_at": now, "updated_at": now, "version": conversation["version"] + 1}
        if author.kind == "agent" and conversation["first_response_at"] is None:
            values["first_response_at"] = now
        events: list[SystemEvent] = []
        if transition is not None and transition.changed:
            values |= {"status": transition.after.status, "snoozed_until": transition.after.snoozed_until,
                       "resolved_at": transition.after.resolved_at}
        store.update_conversation(conn, workspace_id, conversation_id, **values)
        conversation = {**conversation, **values}
        if author.kind in ("agent", "bot") and author.id:
            store.add_participants(conn, [{"conversation_id": conversation_id, "kind": author.kind,
                                           "participant_id": author.id, "workspace_id": workspace_id,
                                           "profile_id": conversation["profile_id"], "joined_at": now}])
        events.append(_event(conversation, "Message Replied", _event_id(message_id, "replied"), now,
                             channel=chosen, message_id=message_id, author_kind=author.kind, agent_id=author.id))
        if transition is not None and transition.event is not None:
            events.append(_status_event(conversation, transition, now, author))
        append_system_events(conn, workspace_id, events, now)
        asked = _ask_for_rating(conn, conversation, now) if transition is not None and transition.changed else None
        store.insert_feed(conn, [_feed_row("message", conversation, now, message=message_view(m))
                                 for m in (message, asked) if m is not None])
    if outbox_id is not None:
        stores.wakeup.set()  # the runner's outbox sends it now rather than at its next poll
    feed.notify(stores)
    return {"conversation": conversation_view(conversation, now), "message": message_view(message),
            "channel_info": info}


def _reply_address(conn: Connection, workspace_id: str, profile_ids: Sequence[str], channel: str,
                   last: Mapping[str, Any] | None) -> str | None:
    """Where a reply on ``channel`` goes: the address the customer last wrote from there, else their
    newest identity of the channel's kinds."""
    if last is not None and last["address"]:
        return str(last["address"])
    kinds = RULES[channel].address_kinds
    found = store.identity_values(conn, workspace_id, profile_ids, kinds)
    return next((found[k] for k in kinds if k in found), None)


def _reply_content(stores: Stores, channel: str, body: str, attachments: Sequence[Attachment],
                   conversation: Mapping[str, Any], last: Mapping[str, Any] | None, outbox_id: str | None,
                   template_code: str | None, template_params: Mapping[str, str] | None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outbox content of a reply (the channel's parts), and its e-mail threading headers."""
    text = body
    if attachments:  # links, on channels that carry text only
        text = "\n".join([body, *(a.url for a in attachments)]).strip()
    locale = conversation["language"] or "ko"
    content: dict[str, Any] = {"locale": locale, "text": text}
    email: dict[str, Any] = {}
    if channel == "email":
        content["subject"] = reply_subject(conversation["subject"] or (last or {}).get("subject"))
        if last is not None and last["email_message_id"]:
            references = [*(last["email_references"] or []), last["email_message_id"]]
            email = {"in_reply_to": last["email_message_id"], "references": references[-20:]}
            content["headers"] = {"In-Reply-To": email["in_reply_to"], "References": " ".join(email["references"])}
        sender = stores.settings.smtp_from
        if outbox_id is not None and sender and "@" in sender:
            # The Message-ID the SMTP channel gives this reply: a customer's answer to it threads here.
            email["message_id"] = message_id_for(outbox_id, sender.rsplit("@", 1)[-1])
    if template_code:
        content["template_code"] = template_code
        content["params"] = dict(template_params or {})
    return content, email


def note(stores: Stores, workspace_id: str, conversation_id: str, body: str, *, author: Author,
         client_key: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """A private note: for agents only, never sent, never in the customer's feed, no event."""
    now = _now(now)
    with stores.write() as conn:
        _check_author(conn, workspace_id, author, ("agent", "bot", "system"))
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        _check_body(stores, body)
        if not body.strip():
            raise ValidationFailed("a note needs a body", [field_error("body", "empty")])
        message_id = _authored_message_id(conversation_id, client_key)
        existing = store.message_row(conn, workspace_id, message_id)
        if existing is not None:
            return {"conversation": conversation_view(conversation, now), "message": message_view(existing)}
        message = {
            "id": message_id, "workspace_id": workspace_id, "conversation_id": conversation_id,
            "profile_id": conversation["profile_id"], "direction": "note", "channel": conversation["channel"],
            "author_kind": author.kind, "author_id": author.id, "body": body, "attachments": [], "address": None,
            "delivery_status": None, "delivery_reason": None, "outbox_id": None, "provider_message_id": None,
            "subject": None, "email_message_id": None, "in_reply_to": None, "email_references": None,
            "sent_at": None, "created_at": now}
        store.insert_message(conn, message)
        values = {"updated_at": now, "version": conversation["version"] + 1}
        store.update_conversation(conn, workspace_id, conversation_id, **values)
        conversation = {**conversation, **values}
        store.insert_feed(conn, [_feed_row("message", conversation, now, private=True, message=message_view(message))])
    feed.notify(stores)
    return {"conversation": conversation_view(conversation, now), "message": message_view(message)}


def assign(stores: Stores, workspace_id: str, conversation_id: str, *, assignee_id: str | _Unset | None = UNSET,
           team_id: str | _Unset | None = UNSET, by: Author = SYSTEM, now: dt.datetime | None = None
           ) -> dict[str, Any]:
    """Assign to an agent and/or a team (None: unassign; UNSET: leave as it is). An agent or team of
    another workspace is unknown here (404)."""
    now = _now(now)
    with stores.write() as conn:
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        values: dict[str, Any] = {}
        if not isinstance(assignee_id, _Unset):
            if assignee_id is not None:
                _agent(conn, workspace_id, assignee_id, "assignee_id")
            values["assignee_id"] = assignee_id
        if not isinstance(team_id, _Unset):
            if team_id is not None and store.team_row(conn, workspace_id, team_id) is None:
                raise NotFound(f"no team {team_id!r}", {"field": "team_id", "reason": "unknown team"})
            values["team_id"] = team_id
        if all(conversation[k] == v for k, v in values.items()):
            return conversation_view(conversation, now)
        values |= {"updated_at": now, "version": conversation["version"] + 1}
        store.update_conversation(conn, workspace_id, conversation_id, **values)
        before, conversation = conversation, {**conversation, **values}
        if conversation["assignee_id"] is not None:
            store.add_participants(conn, [{"conversation_id": conversation_id, "kind": "agent",
                                           "participant_id": conversation["assignee_id"], "workspace_id": workspace_id,
                                           "profile_id": conversation["profile_id"], "joined_at": now}])
        append_system_events(conn, workspace_id, [_event(
            conversation, "Conversation Assigned", _event_id(conversation_id, "assigned", str(conversation["version"])),
            now, assignee_id=conversation["assignee_id"], team_id=conversation["team_id"], automatic=False,
            by_kind=by.kind, by_id=by.id)], now)
        freed = _frees_capacity(before, conversation)
        # The conversation just taken from an agent is not handed straight back by the same pass.
        backlog = _work_off_backlog(conn, workspace_id, freed, now, exclude=conversation_id) if freed else []
        store.insert_feed(conn, [_feed_row("conversation", conversation, now, private=True, change="assignment"),
                                 *backlog])
    feed.notify(stores)
    return conversation_view(conversation, now)


def _frees_capacity(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """The agent whose capacity the change frees (the conversation no longer counts against it: resolved,
    snoozed, unassigned or given to someone else), or None."""
    agent = before["assignee_id"]
    if agent is None or before["status"] not in store.LOADED:
        return None
    if after["assignee_id"] != agent or after["status"] not in store.LOADED:
        return str(agent)
    return None


def _status_change(conversation: Mapping[str, Any], status: Status, now: dt.datetime,
                   snoozed_until: dt.datetime | None = None) -> rules.Transition:
    if status not in STATUSES:
        raise ValidationFailed(f"unknown status {status!r}", [field_error("status", f"one of {', '.join(STATUSES)}")])
    try:
        return rules.transition(_state(conversation), status, now, snoozed_until=snoozed_until)
    except rules.BadTransition as exc:
        if exc.field == "status":
            raise Conflict(exc.reason, {"field": "status", "reason": exc.reason,
                                        "current": rules.effective(_state(conversation), now).status}) from exc
        raise ValidationFailed(exc.reason, [field_error(exc.field, exc.reason)]) from exc


def _status_event(conversation: Mapping[str, Any], change: rules.Transition, now: dt.datetime, by: Author
                  ) -> SystemEvent:
    assert change.event is not None
    extra: dict[str, Any] = {"by_kind": by.kind, "by_id": by.id}
    if change.event == rules.RESOLVED_EVENT:
        extra["duration_seconds"] = round((now - conversation["created_at"]).total_seconds(), 3)
    return _event(conversation, change.event, _event_id(conversation["id"], change.event, str(conversation["version"])),
                  now, **extra)


def set_status(stores: Stores, workspace_id: str, conversation_id: str, status: Status, *,
               snoozed_until: dt.datetime | None = None, by: Author = SYSTEM, now: dt.datetime | None = None
               ) -> dict[str, Any]:
    """Move the conversation to ``status`` (:mod:`touchline.conversations.rules`): 409 for a transition
    the machine refuses, 422 for a bad ``snoozed_until``; the status it has already changes nothing."""
    now = _now(now)
    with stores.write() as conn:
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        change = _status_change(conversation, status, now, snoozed_until)
        if not change.changed:
            return conversation_view(conversation, now)
        values: dict[str, Any] = {"status": change.after.status, "snoozed_until": change.after.snoozed_until,
                                  "resolved_at": change.after.resolved_at, "updated_at": now,
                                  "version": conversation["version"] + 1}
        store.update_conversation(conn, workspace_id, conversation_id, **values)
        before, conversation = conversation, {**conversation, **values}
        if change.event is not None:
            append_system_events(conn, workspace_id, [_status_event(conversation, change, now, by)], now)
        freed = _frees_capacity(before, conversation)
        backlog = _work_off_backlog(conn, workspace_id, freed, now) if freed else []
        asked = _ask_for_rating(conn, conversation, now)
        store.insert_feed(conn, [_feed_row("conversation", conversation, now, change="status"), *backlog,
                                 *([_feed_row("message", conversation, now, message=message_view(asked))]
                                   if asked else [])])
    feed.notify(stores)
    return conversation_view(conversation, now)


# --- rating a web chat (touchline.conversations.ratings) ----------------------------------------------


def rating_settings(stores: Stores, workspace_id: str) -> dict[str, Any]:
    """The workspace's inbox settings: ``rate_on_resolve`` (off until the shop switches it on)."""
    with stores.read() as conn:
        row = store.settings_row(conn, workspace_id)
    return {"rate_on_resolve": bool(row and row["rate_on_resolve"])}


def set_rating_settings(stores: Stores, workspace_id: str, *, rate_on_resolve: bool,
                        now: dt.datetime | None = None) -> dict[str, Any]:
    with stores.write() as conn:
        store.save_settings(conn, workspace_id, {"rate_on_resolve": rate_on_resolve, "updated_at": _now(now)})
    return {"rate_on_resolve": rate_on_resolve}


def _ask_for_rating(conn: Connection, conversation: Mapping[str, Any], now: dt.datetime) -> dict[str, Any] | None:
    """On a resolution (``conversation`` as it now is), the rating request posted in the chat window when
    :func:`touchline.conversations.ratings.should_ask` says so: the message stored, or None. Its id is the
    resolution's (conversation and version): a retried resolution asks once."""
    if conversation["status"] != "resolved":
        return None
    settings = store.settings_row(conn, conversation["workspace_id"])
    if not ratings.should_ask(enabled=bool(settings and settings["rate_on_resolve"]),
                              channel=conversation["channel"],
                              answered_by_agent=conversation["first_response_at"] is not None):
        return None
    # Just after the reply that resolved it, so the chat window lists it last.
    return _post_question(conn, conversation, _event_id(conversation["id"], "rating", str(conversation["version"])),
                          dict(ratings.SURVEY), now, created_at=now + dt.timedelta(microseconds=1))


def _post_question(conn: Connection, conversation: Mapping[str, Any], message_id: str, request: dict[str, Any],
                   now: dt.datetime, *, created_at: dt.datetime | None = None) -> dict[str, Any] | None:
    """Store a question with a button per score (``request``: its survey) at the end of ``conversation``,
    in the customer's language, sent in place (the chat window reads it); None if ``message_id`` exists."""
    language = "ko" if language_of(conversation["language"]) == "ko" else "en"
    message = {
        "id": message_id, "workspace_id": conversation["workspace_id"], "conversation_id": conversation["id"],
        "profile_id": conversation["profile_id"], "direction": "outbound", "channel": "chat",
        "author_kind": "system", "author_id": None, "body": ratings.question(request, language), "attachments": [],
        "address": None, "delivery_status": "sent", "delivery_reason": None, "outbox_id": None,
        "provider_message_id": None, "subject": None, "email_message_id": None, "in_reply_to": None,
        "email_references": None, "sent_at": now, "quick_replies": None, "survey": request, "rating": None,
        "created_at": created_at or now}
    return message if store.insert_message(conn, message) else None


def ask_in_chat(conn: Connection, workspace_id: str, profile_id: str, *, survey: str, scale: str, key: str,
                now: dt.datetime) -> dict[str, Any] | None:
    """A journey's survey step on the chat (:mod:`touchline.conversations.ratings`), in ``conn``'s
    transaction: the question at the end of the customer's latest conversation, when they have written on
    the web chat and that conversation is resolved (in the middle of an exchange, or never on the chat:
    not asked). The message stored, or None; ``key`` (the step's) makes a repeat one question."""
    if scale not in ratings.SCALES:
        return None
    ids = _customer_ids(conn, workspace_id, profile_id)
    latest = store.customer_conversations(conn, workspace_id, ids, limit=1)
    if not latest or latest[0]["status"] != "resolved" or store.last_inbound(conn, workspace_id, ids, "chat") is None:
        return None
    conversation = latest[0]
    message = _post_question(conn, conversation, _event_id(key, "chat-survey"), {"kind": scale, "survey": survey}, now)
    if message is None:
        return None
    store.insert_feed(conn, [_feed_row("message", conversation, now, message=message_view(message))])
    return message


def rate(stores: Stores, workspace_id: str, profile_ids: Sequence[str], message_id: str, score: int,
         comment: str | None = None, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The customer's answer to a rating request of one of their own conversations (``profile_ids``: the
    customer's profiles): the first score is recorded with a ``Conversation Rated`` event; a comment can
    follow; a retry changes nothing; another score is refused (409). 404 for a message that is not a
    rating request of this customer's. Returns the message as the API shows it."""
    now = _now(now)
    text = comment.strip() if comment else None
    if text is not None:
        _check_body(stores, text, "comment")
    with stores.write() as conn:
        message = store.message_row(conn, workspace_id, message_id)
        if message is None or message["profile_id"] not in profile_ids or not isinstance(message.get("survey"),
                                                                                          Mapping):
            raise NotFound("no rating request of this customer has that id",
                           field_error("message_id", "not a rating request of this customer's"))
        survey = message["survey"]
        scale = ratings.scale_of(survey)
        if not ratings.in_scale(score, scale):
            low, high = ratings.SCALES[scale]
            raise ValidationFailed(f"score must be an integer {low}-{high} for this {scale} question",
                                   [field_error("score", f"{low}-{high}")])
        decided = ratings.answer(message.get("rating"), score, text or None, now.isoformat(), scale)
        if decided.action == "refuse":
            raise Conflict(decided.reason or "rated already", {"field": "score", "reason": decided.reason,
                                                                "rating": decided.rating})
        if decided.action in ("record", "comment"):
            store.update_message(conn, message_id, rating=decided.rating)
            message = {**message, "rating": decided.rating}
            conversation = _conversation(conn, workspace_id, message["conversation_id"])
            properties: dict[str, Any] = {"message_id": message_id, "score": score, "scale": scale,
                                          "survey": str(survey.get("survey") or ratings.SURVEY_NAME),
                                          "agent_id": conversation["assignee_id"],
                                          "team_id": conversation["team_id"], "channel": "chat",
                                          "language": conversation["language"]}
            if decided.rating.get("comment"):
                properties["comment"] = decided.rating["comment"]
            suffix = "rated" if decided.action == "record" else "commented"
            append_system_events(conn, workspace_id, [_event(conversation, ratings.answered_event(survey),
                                                             _event_id(message_id, suffix), now, **properties)], now)
            store.insert_feed(conn, [_feed_row("conversation", conversation, now, change="rating",
                                               message=message_view(message))])
    if decided.action in ("record", "comment"):
        feed.notify(stores)
    return message_view(message)


def resolve(stores: Stores, workspace_id: str, conversation_id: str, *, by: Author = SYSTEM,
            now: dt.datetime | None = None) -> dict[str, Any]:
    return set_status(stores, workspace_id, conversation_id, "resolved", by=by, now=now)


def reopen(stores: Stores, workspace_id: str, conversation_id: str, *, by: Author = SYSTEM,
           now: dt.datetime | None = None) -> dict[str, Any]:
    return set_status(stores, workspace_id, conversation_id, "open", by=by, now=now)


def snooze(stores: Stores, workspace_id: str, conversation_id: str, until: dt.datetime, *, by: Author = SYSTEM,
           now: dt.datetime | None = None) -> dict[str, Any]:
    return set_status(stores, workspace_id, conversation_id, "snoozed", snoozed_until=until, by=by, now=now)


def _tag(value: str, field: str) -> str:
    tag = unicodedata.normalize("NFC", value.strip()).lower()
    if not _TAG.match(tag):
        raise ValidationFailed(f"invalid tag {value!r}",
                               [field_error(field, "1 to 64 letters, digits, spaces or . : / + - _")])
    return tag


def tag(stores: Stores, workspace_id: str, conversation_id: str, *, add: Iterable[str] = (),
        remove: Iterable[str] = (), now: dt.datetime | None = None) -> dict[str, Any]:
    """Add and remove tags (lower-cased); at most 50 on a conversation."""
    now = _now(now)
    with stores.write() as conn:
        conversation = _conversation(conn, workspace_id, conversation_id, for_update=True)
        adding = [_tag(t, f"add.{i}") for i, t in enumerate(add)]
        removing = {_tag(t, f"remove.{i}") for i, t in enumerate(remove)}
        tags = sorted((set(conversation["tags"] or []) | set(adding)) - removing)
        if len(tags) > MAX_TAGS:
            raise ValidationFailed("too many tags", [field_error("add", f"a conversation has at most {MAX_TAGS} tags")])
        if tags == sorted(conversation["tags"] or []):
            return conversation_view(conversation, now)
        values = {"tags": tags, "updated_at": now, "version": conversation["version"] + 1}
        store.update_conversation(conn, workspace_id, conversation_id, **values)
        conversation = {**conversation, **values}
        store.insert_feed(conn, [_feed_row("conversation", conversation, now, private=True, change="tags")])
    feed.notify(stores)
    return conversation_view(conversation, now)


def delivery_update(stores: Stores, workspace_id: str, *, channel: str, provider_message_id: str, status: str,
                    reason: str | None = None, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """A provider's report on a reply it carries (WhatsApp's statuses webhook: delivered, read, failed),
    by its message id; None when no reply has that id. The status only moves forward."""
    now = _now(now)
    with stores.write() as conn:
        message = store.message_by_provider_id(conn, workspace_id, channel, provider_message_id)
        if message is None or message["direction"] != "outbound":
            return None
        changed = apply_delivery(conn, message, status, reason, None, now)
    if changed:
        feed.notify(stores)
    return message_view({**message, **(changed or {})})


def apply_delivery(conn: Connection, message: Mapping[str, Any], reported: str, reason: str | None,
                   provider_id: str | None, now: dt.datetime) -> dict[str, Any] | None:
    """Record a reply's delivery status (and the provider's id for it) in the caller's transaction, with
    its feed row; the values changed, or None."""
    values: dict[str, Any] = {}
    status = rules.advance_delivery(message["delivery_status"], reported)
    if status is not None:
        values["delivery_status"] = status
        values["delivery_reason"] = (reason or None) if status == "failed" else None
    if provider_id and not message["provider_message_id"]:
        values["provider_message_id"] = provider_id
        if message["channel"] == "email" and not message["email_message_id"] and provider_id.startswith("<"):
            values["email_message_id"] = provider_id  # the SMTP channel's id is the Message-ID
    if status in ("sent", "delivered", "read") and message["sent_at"] is None:
        values["sent_at"] = now
    if not values:
        return None
    store.update_message(conn, message["id"], **values)
    conversation = store.conversation_row(conn, message["workspace_id"], message["conversation_id"])
    if conversation is not None and status is not None:
        store.insert_feed(conn, [_feed_row("delivery", conversation, now, message=message_view({**message, **values}))])
    return values


# --- reading -------------------------------------------------------------------------------------------


def get_conversation(stores: Stores, workspace_id: str, conversation_id: str, *, now: dt.datetime | None = None
                     ) -> dict[str, Any]:
    now = _now(now)
    with stores.read() as conn:
        conversation = _conversation(conn, workspace_id, conversation_id)
        people = store.participants(conn, conversation_id)
    return {**conversation_view(conversation, now), "participants": people}


def messages(stores: Stores, workspace_id: str, conversation_id: str, *, limit: int = 50,
             before: dt.datetime | None = None, include_notes: bool = True) -> list[dict[str, Any]]:
    """The conversation's messages, oldest first (the newest ``limit`` before ``before``)."""
    with stores.read() as conn:
        _conversation(conn, workspace_id, conversation_id)
        rows = store.messages_page(conn, workspace_id, conversation_id, limit=limit, before=before)
    return [message_view(r) for r in rows if include_notes or r["direction"] != "note"]


def list_conversations(stores: Stores, workspace_id: str, *, status: str | None = None,
                       assignee_id: str | None = None, unassigned: bool = False, team_id: str | None = None,
                       channel: str | None = None, language: str | None = None, tag: str | None = None,
                       customer: str | None = None, limit: int = 50, offset: int = 0,
                       now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """A queue: ``status`` one status, ``active`` (open, pending, snoozed) or ``all`` (default: active);
    unassigned, an agent's, a team's; by channel, language, tag or customer (any identifier)."""
    now = _now(now)
    if status in (None, "active"):
        statuses: Sequence[str] = rules.ACTIVE
    elif status == "all":
        statuses = ()
    elif status in STATUSES:
        statuses = (status,)
    else:
        raise ValidationFailed(f"unknown status {status!r}",
                               [field_error("query.status", f"one of {', '.join(STATUSES)}, active, all")])
    profile_ids: list[str] = []
    if customer:
        pid = profile_service.resolve(stores, workspace_id, customer)
        with stores.read() as conn:
            profile_ids = _customer_ids(conn, workspace_id, pid)
    with stores.read() as conn:
        rows = store.conversations_page(conn, workspace_id, statuses=statuses, assignee_id=assignee_id,
                                        unassigned=unassigned, team_id=team_id, channel=channel, language=language,
                                        profile_ids=profile_ids, tag=tag.lower() if tag else None, limit=limit,
                                        offset=offset)
    return [conversation_view(r, now) for r in rows]


def customer_profile_ids(stores: Stores, workspace_id: str, profile_id: str) -> list[str]:
    """The profile and every profile merged with it (what one customer's conversations hang on)."""
    with stores.read() as conn:
        return _customer_ids(conn, workspace_id, profile_id)


def signed_in_customer(stores: Stores, workspace_id: str, profile_ids: Sequence[str]) -> bool:
    """Whether any of these profiles is known by a user id (a customer who signs in to the shop)."""
    with stores.read() as conn:
        return any(i["kind"] == "user_id" for pid in profile_ids
                   for i in profile_store.identities_of(conn, workspace_id, pid))


def latest_conversation(stores: Stores, workspace_id: str, profile_ids: Sequence[str], *,
                        now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The customer's most recently active conversation (what the chat window shows), or None."""
    if not profile_ids:
        return None
    with stores.read() as conn:
        rows = store.customer_conversations(conn, workspace_id, profile_ids, limit=1)
    return conversation_view(rows[0], _now(now)) if rows else None


# --- the live feed ---------------------------------------------------------------------------------------


FEED_REPLAY_LIMIT = 5000


def feed_since(stores: Stores, workspace_id: str, after: int, until: int | None = None,
               limit: int = FEED_REPLAY_LIMIT) -> list[feed.FeedItem]:
    """The workspace's feed items after ``after`` (up to ``until``), from the store: what a client that
    reconnects with ``Last-Event-ID`` missed."""
    with stores.read() as conn:
        rows = store.feed_after(conn, after, limit=limit, workspace_id=workspace_id, until=until)
    return [feed.item_from_row(r) for r in rows]


def wake_snoozed(stores: Stores, *, now: dt.datetime | None = None) -> int:
    """Open the snoozed conversations whose time has come (across workspaces); how many."""
    now = _now(now)
    with stores.read() as conn:  # a read first: an idle pump round takes no write lock
        if not store.any_snoozed_due(conn, now):
            return 0
    with stores.write() as conn:
        rows = store.snoozed_due(conn, now)
        feed_rows = []
        for row in rows:
            values = {"status": "open", "snoozed_until": None, "updated_at": now, "version": row["version"] + 1}
            store.update_conversation(conn, row["workspace_id"], row["id"], **values)
            feed_rows.append(_feed_row("conversation", {**row, **values}, now, change="status"))
        store.insert_feed(conn, feed_rows)
    if rows:
        feed.notify(stores)
    return len(rows)


_PRUNED = "touchline.conversations.pruned_at"
PRUNE_EVERY = dt.timedelta(minutes=10)


def housekeeping(stores: Stores) -> None:
    """What rides on the pump's rounds (a pump hook): wake snoozed conversations; every ten minutes,
    drop feed rows older than ``conversation_feed_retention_hours``."""
    now = dt.datetime.now(dt.UTC)
    wake_snoozed(stores, now=now)
    last = stores.extensions.get(_PRUNED)
    if not isinstance(last, dt.datetime) or now - last >= PRUNE_EVERY:
        stores.extensions[_PRUNED] = now
        with stores.write() as conn:
            store.prune_feed(conn, now - dt.timedelta(hours=stores.settings.conversation_feed_retention_hours))


# --- teams, members, presence -------------------------------------------------------------------------


def _team_view(team: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"id": team["id"], "name": team["name"], "auto_assign": bool(team["auto_assign"]),
            "language_routing": bool(team["language_routing"]), "channels": list(team["channels"] or []),
            "hours": _hours_view(team.get("hours")),
            "members": [{"user_id": m["user_id"], "capacity": m["capacity"], "languages": list(m["languages"] or []),
                         "joined_at": m["joined_at"]} for m in members],
            "created_at": team["created_at"], "updated_at": team["updated_at"]}


def _hours_view(doc: Any) -> dict[str, Any] | None:
    found = team_hours.from_doc(doc)
    return team_hours.to_doc(found) if found else None


def _hours(doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Hours as stored: None (always there) when no day is given."""
    if not doc or not doc.get("days"):
        return None
    found = team_hours.from_doc(dict(doc))
    if found is None:
        raise ValidationFailed("unreadable team hours", [field_error("hours", "days, opens, closes and timezone")])
    return team_hours.to_doc(found)


def team_hours_for(stores: Stores, workspace_id: str, conversation: Mapping[str, Any]) -> team_hours.Hours | None:
    """The hours of the people a conversation goes to: its team's, else the team that would route it (the
    first that assigns automatically on its channel); None when nobody keeps hours (always there)."""
    with stores.read() as conn:
        rows = store.team_rows(conn, workspace_id)
    mine = [t for t in rows if t["id"] == conversation.get("team_id")]
    routing = [t for t in rows if t["auto_assign"] and (not t["channels"] or conversation["channel"] in t["channels"])]
    chosen = (mine or routing)[:1]
    return team_hours.from_doc(chosen[0].get("hours")) if chosen else None


def _channels(channels: Sequence[str]) -> list[str]:
    for i, c in enumerate(channels):
        if c not in CONVERSATION_CHANNELS:
            raise ValidationFailed(f"unknown channel {c!r}",
                                   [field_error(f"channels.{i}", f"one of {', '.join(CONVERSATION_CHANNELS)}")])
    return sorted(set(channels))


def teams(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = store.team_rows(conn, workspace_id)
        members = store.members_of(conn, workspace_id, [t["id"] for t in rows])
    return [_team_view(t, [m for m in members if m["team_id"] == t["id"]]) for t in rows]


def team(stores: Stores, workspace_id: str, team_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = store.team_row(conn, workspace_id, team_id)
        if row is None:
            raise NotFound(f"no team {team_id!r}", {"field": "team_id", "reason": "unknown team"})
        return _team_view(row, store.members_of(conn, workspace_id, [team_id]))


def create_team(stores: Stores, workspace_id: str, name: str, *, auto_assign: bool = False,
                language_routing: bool = False, channels: Sequence[str] = (),
                hours: Mapping[str, Any] | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    now = _now(now)
    name = name.strip()
    if not name:
        raise ValidationFailed("a team needs a name", [field_error("name", "empty")])
    row = {"id": "team_" + uuid.uuid4().hex[:16], "workspace_id": workspace_id, "name": name,
           "auto_assign": auto_assign, "language_routing": language_routing, "channels": _channels(channels),
           "hours": _hours(hours), "last_assigned_user_id": None, "created_at": now, "updated_at": now}
    with stores.write() as conn:
        if store.team_by_name(conn, workspace_id, name) is not None:
            raise Conflict(f"a team named {name!r} exists", {"field": "name", "reason": "taken"})
        store.insert_team(conn, row)
    return _team_view(row, [])


def update_team(stores: Stores, workspace_id: str, team_id: str, *, name: str | None = None,
                auto_assign: bool | None = None, language_routing: bool | None = None,
                channels: Sequence[str] | None = None, hours: Mapping[str, Any] | None = None,
                now: dt.datetime | None = None) -> dict[str, Any]:
    now = _now(now)
    values: dict[str, Any] = {"updated_at": now}
    if hours is not None:
        values["hours"] = _hours(hours)
    if name is not None:
        if not name.strip():
            raise ValidationFailed("a team needs a name", [field_error("name", "empty")])
        values["name"] = name.strip()
    if auto_assign is not None:
        values["auto_assign"] = auto_assign
    if language_routing is not None:
        values["language_routing"] = language_routing
    if channels is not None:
        values["channels"] = _channels(channels)
    with stores.write() as conn:
        current = store.team_row(conn, workspace_id, team_id, for_update=True)
        if current is None:
            raise NotFound(f"no team {team_id!r}", {"field": "team_id", "reason": "unknown team"})
        if "name" in values and values["name"] != current["name"] and \
                store.team_by_name(conn, workspace_id, values["name"]) is not None:
            raise Conflict(f"a team named {values['name']!r} exists", {"field": "name", "reason": "taken"})
        store.update_team(conn, workspace_id, team_id, **values)
    return team(stores, workspace_id, team_id)


def delete_team(stores: Stores, workspace_id: str, team_id: str) -> None:
    """Delete a team; its conversations keep their agents and leave the team's queue."""
    with stores.write() as conn:
        if not store.delete_team(conn, workspace_id, team_id):
            raise NotFound(f"no team {team_id!r}", {"field": "team_id", "reason": "unknown team"})


def set_member(stores: Stores, workspace_id: str, team_id: str, user_id: str, *, capacity: int = 10,
               languages: Sequence[str] = (), now: dt.datetime | None = None) -> dict[str, Any]:
    """Add an agent to a team, or change their capacity and languages there."""
    now = _now(now)
    langs = []
    for i, raw in enumerate(languages):
        lang = language_of(raw)
        if lang is None or not re.match(r"^[a-z]{2,3}$", lang):
            raise ValidationFailed(f"invalid language {raw!r}",
                                   [field_error(f"languages.{i}", "a language code (ko, en)")])
        langs.append(lang)
    with stores.write() as conn:
        if store.team_row(conn, workspace_id, team_id) is None:
            raise NotFound(f"no team {team_id!r}", {"field": "team_id", "reason": "unknown team"})
        _agent(conn, workspace_id, user_id, "user_id")
        store.upsert_member(conn, {"team_id": team_id, "user_id": user_id, "workspace_id": workspace_id,
                                   "capacity": capacity, "languages": sorted(set(langs)), "joined_at": now})
    return team(stores, workspace_id, team_id)


def delete_member(stores: Stores, workspace_id: str, team_id: str, user_id: str) -> dict[str, Any]:
    with stores.write() as conn:
        if not store.delete_member(conn, workspace_id, team_id, user_id):
            raise NotFound(f"{user_id!r} is not in team {team_id!r}", {"field": "user_id", "reason": "not a member"})
    return team(stores, workspace_id, team_id)


MAX_HEARTBEAT = 600


def heartbeat(stores: Stores, workspace_id: str, user_id: str, *, seconds: float = 60,
              now: dt.datetime | None = None) -> dict[str, Any]:
    """The agent is online for ``seconds`` more (0: offline now). The dashboard sends one a minute."""
    now = _now(now)
    if not 0 <= seconds <= MAX_HEARTBEAT:
        raise ValidationFailed("seconds out of range", [field_error("seconds", f"0 to {MAX_HEARTBEAT}")])
    until = now + dt.timedelta(seconds=seconds)
    with stores.write() as conn:
        _agent(conn, workspace_id, user_id, "user_id")
        before = store.presence_of(conn, workspace_id, user_id)
        store.set_presence(conn, workspace_id, user_id, until, now)
        # Back online: the conversations that waited for an agent meanwhile are handed out.
        feed_rows = _work_off_backlog(conn, workspace_id, user_id, now) if (
            seconds > 0 and (before is None or before <= now)) else []
        store.insert_feed(conn, feed_rows)
    if feed_rows:
        feed.notify(stores)
    return {"user_id": user_id, "online": seconds > 0, "online_until": until}


def agents(stores: Stores, workspace_id: str, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The workspace's users with their presence, active conversations and teams."""
    now = _now(now)
    with stores.read() as conn:
        users = store.workspace_users(conn, workspace_id)
        online = store.presence(conn, workspace_id)
        loads = store.active_loads(conn, workspace_id, list(users))
        team_rows = store.team_rows(conn, workspace_id)
        members = store.members_of(conn, workspace_id, [t["id"] for t in team_rows])
    out = []
    for uid, user in users.items():
        until = online.get(uid)
        out.append({"id": uid, "name": user["name"], "email": user["email"], "role": user["role"],
                    "disabled": user["disabled_at"] is not None, "online": until is not None and until > now,
                    "online_until": until, "active_conversations": loads.get(uid, 0),
                    "teams": [m["team_id"] for m in members if m["user_id"] == uid]})
    return out


# --- canned responses ---------------------------------------------------------------------------------

_SHORTCUT = re.compile(r"^[\w][\w.-]{0,63}$")


def _compiled_canned(body: str, field: str = "body") -> Any:
    """A canned response's body, checked and compiled by the messages' sandbox (one text part)."""
    try:
        return validate_template({"key": "canned", "channel": "sms", "variants": {"xx": {"text": body}},
                                  "default_locale": "xx"}, strict=True)
    except ValidationFailed as exc:
        detail = [{**d, "field": field} for d in (exc.detail or [])]
        raise ValidationFailed("the canned response does not compile", detail) from exc


def _canned_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "shortcut", "title", "body", "language", "created_at", "updated_at")}


def _shortcut(value: str) -> str:
    shortcut = value.strip().lstrip("/")
    if not _SHORTCUT.match(shortcut):
        raise ValidationFailed("invalid shortcut", [field_error("shortcut", "1 to 64 letters, digits, . - _")])
    return shortcut


def canned_responses(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [_canned_view(r) for r in store.canned_rows(conn, workspace_id)]


def create_canned(stores: Stores, workspace_id: str, *, shortcut: str, title: str, body: str,
                  language: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    now = _now(now)
    shortcut = _shortcut(shortcut)
    _compiled_canned(body)
    row = {"id": "cr_" + uuid.uuid4().hex[:16], "workspace_id": workspace_id, "shortcut": shortcut,
           "title": title.strip() or shortcut, "body": body, "language": language_of(language), "created_at": now,
           "updated_at": now}
    with stores.write() as conn:
        if store.canned_by_shortcut(conn, workspace_id, shortcut) is not None:
            raise Conflict(f"a canned response /{shortcut} exists", {"field": "shortcut", "reason": "taken"})
        store.insert_canned(conn, row)
    return _canned_view(row)


def _canned(conn: Connection, workspace_id: str, canned_id: str) -> dict[str, Any]:
    row = store.canned_row(conn, workspace_id, canned_id)
    if row is None:
        raise NotFound(f"no canned response {canned_id!r}", {"field": "canned_id", "reason": "unknown canned response"})
    return row


def update_canned(stores: Stores, workspace_id: str, canned_id: str, *, shortcut: str | None = None,
                  title: str | None = None, body: str | None = None, language: str | _Unset | None = UNSET,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    now = _now(now)
    values: dict[str, Any] = {"updated_at": now}
    if shortcut is not None:
        values["shortcut"] = _shortcut(shortcut)
    if title is not None:
        values["title"] = title.strip()
    if body is not None:
        _compiled_canned(body)
        values["body"] = body
    if not isinstance(language, _Unset):
        values["language"] = language_of(language)
    with stores.write() as conn:
        current = _canned(conn, workspace_id, canned_id)
        if "shortcut" in values and values["shortcut"] != current["shortcut"] and \
                store.canned_by_shortcut(conn, workspace_id, values["shortcut"]) is not None:
            raise Conflict(f"a canned response /{values['shortcut']} exists", {"field": "shortcut", "reason": "taken"})
        store.update_canned(conn, workspace_id, current["id"], **values)
        return _canned_view({**current, **values})


def delete_canned(stores: Stores, workspace_id: str, canned_id: str) -> None:
    with stores.write() as conn:
        current = _canned(conn, workspace_id, canned_id)
        store.delete_canned(conn, workspace_id, current["id"])


def render_canned(stores: Stores, workspace_id: str, conversation_id: str, canned_id: str, *,
                  agent_id: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """A canned response rendered for a conversation, in the sandbox: ``customer`` (name, first_name,
    email, phone, traits, locale), ``agent`` (name, email), ``conversation`` (id, channel, subject,
    language). An undefined variable renders empty. The agent sends (or edits) the text as a reply."""
    now = _now(now)
    with stores.read() as conn:
        row = _canned(conn, workspace_id, canned_id)
        conversation = _conversation(conn, workspace_id, conversation_id)
        pid = profile_store.canonical_profile_id(conn, workspace_id, conversation["profile_id"])
        profile = profile_store.profile_row(conn, workspace_id, pid) or {}
        agent = _agent(conn, workspace_id, agent_id, "agent_id") if agent_id else {}
    traits = profile.get("traits") or {}
    customer = {"id": pid, "name": traits.get("name"),
                "first_name": traits.get("firstName") or traits.get("first_name"), "email": traits.get("email"),
                "phone": traits.get("phone"), "traits": traits, "locale": profile.get("locale")}
    context = {"customer": customer, "agent": {"id": agent.get("id"), "name": agent.get("name"),
                                               "email": agent.get("email")},
               "conversation": {"id": conversation["id"], "channel": conversation["channel"],
                                "subject": conversation["subject"], "language": conversation["language"]}}
    try:
        rendered = _compiled_canned(row["body"]).render(context, locale="xx", timezone=profile.get("timezone"))
    except TemplateRenderError as exc:
        raise ValidationFailed(exc.message, exc.detail) from exc
    return {"canned_id": row["id"], "shortcut": row["shortcut"], "conversation_id": conversation_id,
            "body": rendered.text or "", "rendered_at": now}


# --- measures -----------------------------------------------------------------------------------------


def _facts(row: Mapping[str, Any], now: dt.datetime) -> metrics.Facts:
    status = rules.effective(rules.State(row["status"], row.get("snoozed_until"), row["resolved_at"]), now).status
    return metrics.Facts(id=row["id"], channel=row["channel"], status=status, created_at=row["created_at"],
                         last_message_at=row["last_message_at"], assignee_id=row["assignee_id"],
                         team_id=row["team_id"], first_response_at=row["first_response_at"],
                         resolved_at=row["resolved_at"])


def stats(stores: Stores, workspace_id: str, start: dt.datetime, end: dt.datetime, *,
          now: dt.datetime | None = None, timezone: str | None = None) -> dict[str, Any]:
    """The inbox's measures for conversations started in [start, end), and the backlog now
    (:mod:`touchline.conversations.metrics`); hours of the day in ``timezone`` (by default the
    installation's, ``TOUCHLINE_DEFAULT_TIMEZONE``)."""
    now = _now(now)
    timezone = timezone or stores.settings.default_timezone
    if end <= start:
        raise ValidationFailed("end must be after start", [field_error("query.end", "must be after start")])
    with stores.read() as conn:
        started = [_facts(r, now) for r in store.facts_started(conn, workspace_id, start, end)]
        active = [_facts(r, now) for r in store.facts_active(conn, workspace_id)]
        asked = [(rating, agent) for survey, rating, agent in store.rating_requests(conn, workspace_id, start, end)
                 if ratings.is_chat_rating(survey)]
    out = metrics.inbox_stats(started, active, now=now, timezone=timezone)
    return {"start": start, "end": end, "now": now, "timezone": timezone, **out, "ratings": ratings.summary(asked)}

