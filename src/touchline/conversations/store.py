"""All SQL of the conversations domain (state store): conversations, their messages and participants,
teams and members, agents' presence, canned responses and the live feed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.assistant import store as assistant_store
from touchline.store import dialect
from touchline.store.customer_rows import rows_about
from touchline.store.schema import (
    agent_presence,
    assistant_turns,
    canned_responses,
    chat_proactive_offers,
    chat_proactive_rules,
    conversation_feed,
    conversation_messages,
    conversation_participants,
    conversation_settings,
    conversations,
    dashboard_users,
    identities,
    team_members,
    teams,
)

ACTIVE = ("open", "pending", "snoozed")
LOADED = ("open", "pending")  # what counts against an agent's capacity

# --- conversations ---------------------------------------------------------------------------------


def conversation_row(conn: Connection, workspace_id: str, conversation_id: str, *, for_update: bool = False
                     ) -> dict[str, Any] | None:
    """One conversation of the workspace; ``for_update`` locks it for the rest of the transaction
    (PostgreSQL), so that two changes to one conversation apply one after the other."""
    query = sa.select(conversations).where(conversations.c.workspace_id == workspace_id,
                                           conversations.c.id == conversation_id)
    row = conn.execute(dialect.lock_rows(conn, query) if for_update else query).mappings().first()
    return dict(row) if row else None


# The statements of every inbound message, built once: the values go as parameters. Building one per
# call (``.values(**row)``) cost more than running it, for each of the thousand messages a second that
# the group commit stores.
_UPDATE_CONVERSATION = conversations.update().where(conversations.c.workspace_id == sa.bindparam("_workspace_id"),
                                                    conversations.c.id == sa.bindparam("_conversation_id"))
_MESSAGE_BY_PROVIDER_ID = sa.select(conversation_messages).where(
    conversation_messages.c.workspace_id == sa.bindparam("workspace_id"),
    conversation_messages.c.channel == sa.bindparam("channel"),
    conversation_messages.c.provider_message_id == sa.bindparam("provider_message_id"))
_INSERT_MESSAGE: dict[str, Any] = {}  # by dialect
_CUSTOMER_CONVERSATIONS: dict[tuple[str, int, bool], sa.Select[Any]] = {}  # by dialect, limit, locking


def insert_conversation(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(conversations.insert(), row)


def update_conversation(conn: Connection, workspace_id: str, conversation_id: str, **values: Any) -> bool:
    result = conn.execute(_UPDATE_CONVERSATION,
                          {"_workspace_id": workspace_id, "_conversation_id": conversation_id, **values})
    return bool(result.rowcount)


def insert_conversations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(conversations.insert(), list(rows))


def update_conversations(conn: Connection, workspace_id: str, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """:func:`update_conversation` of many conversations (``(id, values)``): one statement for those that
    change the same columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for conversation_id, values in changes:
        by_columns.setdefault(tuple(values), []).append(
            {"_workspace_id": workspace_id, "_conversation_id": conversation_id, **values})
    for params in by_columns.values():
        conn.execute(_UPDATE_CONVERSATION, params)


def conversations_of(conn: Connection, workspace_id: str, profile_ids: Sequence[str], *, for_update: bool = False
                     ) -> list[dict[str, Any]]:
    """Every conversation of these profiles (of several customers at once), in one query; ``for_update``
    locks them (PostgreSQL)."""
    names = [c.name for c in conversations.c]
    rows = dialect.select_by_keys(conn, conversations, names, "profile_id", list(profile_ids), for_update=for_update,
                                  workspace_id=workspace_id)
    return [dict(zip(names, row, strict=True)) for row in rows]


def customer_conversations(conn: Connection, workspace_id: str, profile_ids: Sequence[str], *, limit: int = 50,
                           for_update: bool = False) -> list[dict[str, Any]]:
    """The customer's conversations, the most recently active first (every active one, and the newest
    resolved ones up to ``limit`` in all)."""
    key = (dialect.name(conn), limit, for_update)
    query = _CUSTOMER_CONVERSATIONS.get(key)
    if query is None:  # built once per kind (run for every inbound message)
        query = (sa.select(conversations)
                 .where(conversations.c.workspace_id == sa.bindparam("workspace_id"),
                        dialect.in_parameter(conn, conversations.c.profile_id, "profile_ids"))
                 .order_by(conversations.c.last_message_at.desc(), conversations.c.id).limit(limit))
        query = _CUSTOMER_CONVERSATIONS[key] = dialect.lock_rows(conn, query) if for_update else query
    return [dict(r) for r in conn.execute(query, {"workspace_id": workspace_id,
                                                  "profile_ids": list(profile_ids)}).mappings()]


def conversations_page(conn: Connection, workspace_id: str, *, statuses: Sequence[str] = (),
                       assignee_id: str | None = None, unassigned: bool = False, team_id: str | None = None,
                       channel: str | None = None, language: str | None = None, profile_ids: Sequence[str] = (),
                       tag: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """A queue: filtered, the most recent message first."""
    query = sa.select(conversations).where(conversations.c.workspace_id == workspace_id)
    if statuses:
        query = query.where(conversations.c.status.in_(list(statuses)))
    if assignee_id is not None:
        query = query.where(conversations.c.assignee_id == assignee_id)
    if unassigned:
        query = query.where(conversations.c.assignee_id.is_(None))
    if team_id is not None:
        query = query.where(conversations.c.team_id == team_id)
    if channel is not None:
        query = query.where(conversations.c.channel == channel)
    if language is not None:
        query = query.where(conversations.c.language == language)
    if profile_ids:
        query = query.where(dialect.in_values(conn, conversations.c.profile_id, list(profile_ids)))
    if tag is not None:
        # Tags are few per conversation: filtered here rather than with each dialect's JSON operators,
        # over the rows the other conditions leave (read in pages of the same order).
        rows: list[dict[str, Any]] = []
        skipped = 0
        page = query.order_by(conversations.c.last_message_at.desc(), conversations.c.id)
        for row in conn.execute(page).mappings():
            if tag in (row["tags"] or []):
                if skipped < offset:
                    skipped += 1
                    continue
                rows.append(dict(row))
                if len(rows) >= limit:
                    break
        return rows
    query = query.order_by(conversations.c.last_message_at.desc(), conversations.c.id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


def team_queue(conn: Connection, workspace_id: str, team_id: str, channels: Sequence[str], *,
               exclude: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The open, unassigned conversations waiting in a team's queue (its own, and those on ``channels``
    that no team took), the oldest first; claimed to be assigned (PostgreSQL: locked, skipping those
    another transaction holds, so that two processes working the queue never wait on each other)."""
    queued = conversations.c.team_id == team_id
    if channels:
        queued = sa.or_(queued, sa.and_(conversations.c.team_id.is_(None), conversations.c.channel.in_(list(channels))))
    query = sa.select(conversations).where(conversations.c.workspace_id == workspace_id,
                                           conversations.c.status == "open", conversations.c.assignee_id.is_(None),
                                           queued)
    if exclude is not None:
        query = query.where(conversations.c.id != exclude)
    query = query.order_by(conversations.c.created_at, conversations.c.id).limit(limit)
    return [dict(r) for r in conn.execute(dialect.lock_for_claim(conn, query)).mappings()]


def assign_waiting(conn: Connection, workspace_id: str, conversation_id: str, expected_version: int,
                   **values: Any) -> bool:
    """Update a conversation read from :func:`team_queue` only if it is still open, unassigned and at
    ``expected_version``: True if it was (a conversation someone took meanwhile keeps its one assignee)."""
    result = conn.execute(conversations.update().where(
        conversations.c.workspace_id == workspace_id, conversations.c.id == conversation_id,
        conversations.c.status == "open", conversations.c.assignee_id.is_(None),
        conversations.c.version == expected_version).values(**values))
    return bool(result.rowcount)


def any_snoozed_due(conn: Connection, now: dt.datetime) -> bool:
    query = sa.select(conversations.c.id).where(conversations.c.status == "snoozed",
                                                conversations.c.snoozed_until <= now).limit(1)
    return conn.execute(query).first() is not None


def snoozed_due(conn: Connection, now: dt.datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Snoozed conversations whose time has come, across workspaces, locked to be woken (PostgreSQL:
    skipping those another process is waking)."""
    query = (sa.select(conversations).where(conversations.c.status == "snoozed", conversations.c.snoozed_until <= now)
             .order_by(conversations.c.snoozed_until).limit(limit))
    return [dict(r) for r in conn.execute(dialect.lock_for_claim(conn, query)).mappings()]


def active_loads(conn: Connection, workspace_id: str, user_ids: Sequence[str]) -> dict[str, int]:
    """Each agent's open and pending conversations (what counts against their capacity)."""
    if not user_ids:
        return {}
    query = (sa.select(conversations.c.assignee_id, sa.func.count())
             .where(conversations.c.workspace_id == workspace_id, conversations.c.status.in_(LOADED),
                    dialect.in_values(conn, conversations.c.assignee_id, list(user_ids)))
             .group_by(conversations.c.assignee_id))
    return {uid: int(n) for uid, n in conn.execute(query)}


def facts_started(conn: Connection, workspace_id: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    columns = [conversations.c[c] for c in ("id", "channel", "status", "created_at", "last_message_at", "assignee_id",
                                             "team_id", "first_response_at", "resolved_at")]
    query = sa.select(*columns).where(conversations.c.workspace_id == workspace_id,
                                      conversations.c.created_at >= start, conversations.c.created_at < end)
    return [dict(r) for r in conn.execute(query).mappings()]


def rating_requests(conn: Connection, workspace_id: str, start: dt.datetime, end: dt.datetime
                    ) -> list[tuple[Any, Any, str | None]]:
    """(the request, its rating, the conversation's agent) of every rating request asked in [start, end)."""
    query = (sa.select(conversation_messages.c.survey, conversation_messages.c.rating, conversations.c.assignee_id)
             .join(conversations, conversations.c.id == conversation_messages.c.conversation_id)
             .where(conversation_messages.c.workspace_id == workspace_id,
                    conversation_messages.c.created_at >= start, conversation_messages.c.created_at < end,
                    conversation_messages.c.survey.is_not(None)))
    return [(r.survey, r.rating, r.assignee_id) for r in conn.execute(query)]


def facts_active(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    columns = [conversations.c[c] for c in ("id", "channel", "status", "created_at", "last_message_at", "assignee_id",
                                             "team_id", "first_response_at", "resolved_at", "snoozed_until")]
    query = sa.select(*columns).where(conversations.c.workspace_id == workspace_id,
                                      conversations.c.status.in_(ACTIVE))
    return [dict(r) for r in conn.execute(query).mappings()]


# --- messages --------------------------------------------------------------------------------------


def message_by_provider_id(conn: Connection, workspace_id: str, channel: str, provider_message_id: str
                           ) -> dict[str, Any] | None:
    row = conn.execute(_MESSAGE_BY_PROVIDER_ID, {"workspace_id": workspace_id, "channel": channel,
                                                 "provider_message_id": provider_message_id}).mappings().first()
    return dict(row) if row else None


def messages_by_provider_ids(conn: Connection, workspace_id: str, channel: str, provider_message_ids: Sequence[str]
                             ) -> dict[str, dict[str, Any]]:
    """:func:`message_by_provider_id` of many messages of one channel, in one query: by provider id."""
    names = [c.name for c in conversation_messages.c]
    rows = dialect.select_by_keys(conn, conversation_messages, names, "provider_message_id", list(provider_message_ids),
                                  workspace_id=workspace_id, channel=channel)
    return {r["provider_message_id"]: r for r in (dict(zip(names, row, strict=True)) for row in rows)}


def message_row(conn: Connection, workspace_id: str, message_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(conversation_messages).where(
        conversation_messages.c.workspace_id == workspace_id, conversation_messages.c.id == message_id
    )).mappings().first()
    return dict(row) if row else None


def insert_message(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert a message unless one with its id or its provider message id exists; True if inserted."""
    statement = _INSERT_MESSAGE.get(dialect.name(conn))
    if statement is None:
        statement = _INSERT_MESSAGE[dialect.name(conn)] = dialect.insert_ignoring_conflicts(conn, conversation_messages)
    return bool(conn.execute(statement, row).rowcount)


def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """:func:`insert_message` of many messages (all with the same keys): the ids of those inserted."""
    if not rows:
        return set()
    if dialect.name(conn) == dialect.POSTGRES:
        # One statement each, the same text every time (psycopg prepares it): a multi-row INSERT of a
        # group's messages has a text of its own for each group size, which psycopg converted anew each
        # time: in a profile of the writer, more than any other statement of the group.
        return {row["id"] for row in rows if insert_message(conn, row)}
    statement = dialect.insert_ignoring_conflicts(conn, conversation_messages).returning(conversation_messages.c.id)
    return set(conn.execute(statement, list(rows)).scalars())


def update_message(conn: Connection, message_id: str, **values: Any) -> None:
    conn.execute(conversation_messages.update().where(conversation_messages.c.id == message_id).values(**values))


def messages_page(conn: Connection, workspace_id: str, conversation_id: str, *, limit: int,
                  before: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The conversation's messages, the newest ``limit`` (older than ``before``), oldest first."""
    query = sa.select(conversation_messages).where(conversation_messages.c.workspace_id == workspace_id,
                                                   conversation_messages.c.conversation_id == conversation_id)
    if before is not None:
        query = query.where(conversation_messages.c.created_at < before)
    query = query.order_by(conversation_messages.c.created_at.desc(), conversation_messages.c.id.desc()).limit(limit)
    return [dict(r) for r in reversed(conn.execute(query).mappings().all())]


def messages_by_outbox_ids(conn: Connection, outbox_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not outbox_ids:
        return []
    query = sa.select(conversation_messages).where(
        dialect.in_values(conn, conversation_messages.c.outbox_id, list(outbox_ids)))
    return [dict(r) for r in conn.execute(query).mappings()]


def conversations_by_email_ids(conn: Connection, workspace_id: str, email_message_ids: Sequence[str],
                               profile_ids: Sequence[str]) -> dict[str, str]:
    """Message-ID -> conversation, for the e-mail messages among ``email_message_ids`` in the customer's
    conversations (``profile_ids``): what a reply's In-Reply-To and References point to."""
    if not email_message_ids:
        return {}
    query = sa.select(conversation_messages.c.email_message_id, conversation_messages.c.conversation_id).where(
        conversation_messages.c.workspace_id == workspace_id,
        dialect.in_values(conn, conversation_messages.c.email_message_id, list(email_message_ids)),
        dialect.in_values(conn, conversation_messages.c.profile_id, list(profile_ids)))
    return {mid: cid for mid, cid in conn.execute(query)}


def last_inbound(conn: Connection, workspace_id: str, profile_ids: Sequence[str], channel: str
                 ) -> dict[str, Any] | None:
    """The customer's last message on ``channel`` (any of their conversations): when, from where, and
    its e-mail headers."""
    query = (sa.select(conversation_messages.c.created_at, conversation_messages.c.address,
                       conversation_messages.c.email_message_id, conversation_messages.c.email_references,
                       conversation_messages.c.subject, conversation_messages.c.conversation_id)
             .where(conversation_messages.c.workspace_id == workspace_id,
                    dialect.in_values(conn, conversation_messages.c.profile_id, list(profile_ids)),
                    conversation_messages.c.channel == channel, conversation_messages.c.direction == "inbound")
             .order_by(conversation_messages.c.created_at.desc()).limit(1))
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def identity_values(conn: Connection, workspace_id: str, profile_ids: Sequence[str], kinds: Sequence[str]
                    ) -> dict[str, str]:
    """kind -> the customer's newest identity of that kind (an address to reply to)."""
    if not profile_ids or not kinds:
        return {}
    query = (sa.select(identities.c.kind, identities.c.value)
             .where(identities.c.workspace_id == workspace_id,
                    dialect.in_values(conn, identities.c.profile_id, list(profile_ids)),
                    identities.c.kind.in_(list(kinds)))
             .order_by(identities.c.first_seen_at))
    return {kind: value for kind, value in conn.execute(query)}


# --- participants ----------------------------------------------------------------------------------


def add_participants(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, conversation_participants, rows)


def participants(conn: Connection, conversation_id: str) -> list[dict[str, Any]]:
    query = (sa.select(conversation_participants.c.kind, conversation_participants.c.participant_id,
                       conversation_participants.c.joined_at)
             .where(conversation_participants.c.conversation_id == conversation_id)
             .order_by(conversation_participants.c.joined_at, conversation_participants.c.kind))
    return [dict(r) for r in conn.execute(query).mappings()]


# --- users, teams, presence ------------------------------------------------------------------------


def workspace_users(conn: Connection, workspace_id: str, user_ids: Sequence[str] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """Dashboard users of the workspace (id, name, email, role, disabled_at), by id; a user of another
    workspace is not among them."""
    query = sa.select(dashboard_users.c.id, dashboard_users.c.name, dashboard_users.c.email, dashboard_users.c.role,
                      dashboard_users.c.disabled_at).where(dashboard_users.c.workspace_id == workspace_id)
    if user_ids is not None:
        if not user_ids:
            return {}
        query = query.where(dashboard_users.c.id.in_(list(user_ids)))
    return {r["id"]: dict(r) for r in conn.execute(query.order_by(dashboard_users.c.email)).mappings()}


def team_rows(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    query = sa.select(teams).where(teams.c.workspace_id == workspace_id).order_by(teams.c.created_at, teams.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def team_row(conn: Connection, workspace_id: str, team_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = sa.select(teams).where(teams.c.workspace_id == workspace_id, teams.c.id == team_id)
    row = conn.execute(dialect.lock_rows(conn, query) if for_update else query).mappings().first()
    return dict(row) if row else None


def team_by_name(conn: Connection, workspace_id: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(teams).where(teams.c.workspace_id == workspace_id, teams.c.name == name)
                       ).mappings().first()
    return dict(row) if row else None


def insert_team(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(teams.insert().values(**row))


def update_team(conn: Connection, workspace_id: str, team_id: str, **values: Any) -> None:
    conn.execute(teams.update().where(teams.c.workspace_id == workspace_id, teams.c.id == team_id).values(**values))


def delete_team(conn: Connection, workspace_id: str, team_id: str) -> int:
    conn.execute(team_members.delete().where(team_members.c.workspace_id == workspace_id,
                                             team_members.c.team_id == team_id))
    conn.execute(conversations.update().where(conversations.c.workspace_id == workspace_id,
                                              conversations.c.team_id == team_id).values(team_id=None))
    return int(conn.execute(teams.delete().where(teams.c.workspace_id == workspace_id, teams.c.id == team_id)).rowcount)


def members_of(conn: Connection, workspace_id: str, team_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not team_ids:
        return []
    query = (sa.select(team_members).where(team_members.c.workspace_id == workspace_id,
                                           team_members.c.team_id.in_(list(team_ids)))
             .order_by(team_members.c.joined_at, team_members.c.user_id))
    return [dict(r) for r in conn.execute(query).mappings()]


def teams_of(conn: Connection, workspace_id: str, user_id: str) -> list[str]:
    """The ids of the teams the agent is a member of."""
    query = sa.select(team_members.c.team_id).where(team_members.c.workspace_id == workspace_id,
                                                    team_members.c.user_id == user_id)
    return list(conn.execute(query).scalars())


def upsert_member(conn: Connection, row: dict[str, Any]) -> None:
    dialect.upsert_adding(conn, team_members, [row], keys=["team_id", "user_id"], keep=["joined_at"])


def delete_member(conn: Connection, workspace_id: str, team_id: str, user_id: str) -> int:
    return int(conn.execute(team_members.delete().where(
        team_members.c.workspace_id == workspace_id, team_members.c.team_id == team_id,
        team_members.c.user_id == user_id)).rowcount)


def set_presence(conn: Connection, workspace_id: str, user_id: str, online_until: dt.datetime, now: dt.datetime
                 ) -> None:
    dialect.upsert_adding(conn, agent_presence, [{"workspace_id": workspace_id, "user_id": user_id,
                                                  "online_until": online_until, "updated_at": now}],
                          keys=["workspace_id", "user_id"])


def presence_of(conn: Connection, workspace_id: str, user_id: str) -> dt.datetime | None:
    """Until when the agent is online (None: never was)."""
    query = sa.select(agent_presence.c.online_until).where(agent_presence.c.workspace_id == workspace_id,
                                                           agent_presence.c.user_id == user_id)
    return conn.execute(query).scalar_one_or_none()


def presence(conn: Connection, workspace_id: str) -> dict[str, dt.datetime]:
    query = sa.select(agent_presence.c.user_id, agent_presence.c.online_until).where(
        agent_presence.c.workspace_id == workspace_id)
    return {uid: until for uid, until in conn.execute(query)}


# --- canned responses ------------------------------------------------------------------------------


def canned_rows(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    query = sa.select(canned_responses).where(canned_responses.c.workspace_id == workspace_id) \
        .order_by(canned_responses.c.shortcut)
    return [dict(r) for r in conn.execute(query).mappings()]


def canned_row(conn: Connection, workspace_id: str, canned_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(canned_responses).where(
        canned_responses.c.workspace_id == workspace_id,
        sa.or_(canned_responses.c.id == canned_id, canned_responses.c.shortcut == canned_id))).mappings().first()
    return dict(row) if row else None


def canned_by_shortcut(conn: Connection, workspace_id: str, shortcut: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(canned_responses).where(
        canned_responses.c.workspace_id == workspace_id, canned_responses.c.shortcut == shortcut)).mappings().first()
    return dict(row) if row else None


def insert_canned(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(canned_responses.insert().values(**row))


def update_canned(conn: Connection, workspace_id: str, canned_id: str, **values: Any) -> None:
    conn.execute(canned_responses.update().where(canned_responses.c.workspace_id == workspace_id,
                                                 canned_responses.c.id == canned_id).values(**values))


def delete_canned(conn: Connection, workspace_id: str, canned_id: str) -> int:
    return int(conn.execute(canned_responses.delete().where(
        canned_responses.c.workspace_id == workspace_id, canned_responses.c.id == canned_id)).rowcount)


# --- the live feed ---------------------------------------------------------------------------------


def insert_feed(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(conversation_feed.insert(), list(rows))


def feed_after(conn: Connection, after: int, *, limit: int, workspace_id: str | None = None,
               until: int | None = None) -> list[dict[str, Any]]:
    """Feed rows with ``after < seq`` (``<= until``), in order; of one workspace when given."""
    query = sa.select(conversation_feed).where(conversation_feed.c.seq > after)
    if workspace_id is not None:
        query = query.where(conversation_feed.c.workspace_id == workspace_id)
    if until is not None:
        query = query.where(conversation_feed.c.seq <= until)
    return [dict(r) for r in conn.execute(query.order_by(conversation_feed.c.seq).limit(limit)).mappings()]


def feed_last_seq(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(conversation_feed.c.seq))).scalar_one_or_none() or 0)


def prune_feed(conn: Connection, before: dt.datetime) -> int:
    return int(conn.execute(conversation_feed.delete().where(conversation_feed.c.created_at < before)).rowcount)


# --- the customer-wide operations ------------------------------------------------------------------

# What ``erase_customer`` deletes from (PostgreSQL vacuums them after an erase).
ERASED_TABLES = (conversations, conversation_messages, conversation_participants, conversation_feed,
                 chat_proactive_offers, assistant_turns)


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> None:
    """Every conversation of the customer with all its messages (notes included), participants and
    feed rows."""
    ids = list(profile_ids)
    if not ids:
        return
    conversation_ids = list(conn.execute(sa.select(conversations.c.id).where(
        conversations.c.workspace_id == workspace_id, conversations.c.profile_id.in_(ids))).scalars())
    for table in (conversation_messages, conversation_participants, conversation_feed):
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(ids)))
        if conversation_ids:
            dialect.delete_in_chunks(conn, table, table.c.conversation_id, conversation_ids)
    conn.execute(conversations.delete().where(conversations.c.workspace_id == workspace_id,
                                              conversations.c.profile_id.in_(ids)))
    for table in (chat_proactive_offers, assistant_turns):
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(ids)))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    """What ``erase_customer`` deletes, as it is (the live feed aside: it repeats the messages)."""
    return {
        "conversations": rows_about(conn, conversations, "profile_id", workspace_id, profile_ids,
                                    order_by=["created_at", "id"]),
        "messages": rows_about(conn, conversation_messages, "profile_id", workspace_id, profile_ids,
                               order_by=["created_at", "id"]),
        "participants": rows_about(conn, conversation_participants, "profile_id", workspace_id, profile_ids,
                                   order_by=["joined_at", "conversation_id"]),
        "assistant_turns": rows_about(conn, assistant_turns, "profile_id", workspace_id, profile_ids,
                                      order_by=["created_at", "id"]),
        "proactive_chat_offers": rows_about(conn, chat_proactive_offers, "profile_id", workspace_id, profile_ids,
                                            order_by=["created_at", "id"]),
    }


CUSTOMER_VIEW_CONVERSATIONS = 10


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The customer's most recent conversations, the newest first, for the one-customer view."""
    rows = customer_conversations(conn, workspace_id, profile_ids, limit=CUSTOMER_VIEW_CONVERSATIONS)
    return [{k: v for k, v in r.items() if k != "workspace_id"} for r in rows]


def awaiting_an_answer(conn: Connection, since: dt.datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Open, unassigned conversations whose last message is the customer's, written since ``since``, in a
    workspace with an FAQ entry in use: where the shop assistant may have something to say (its own rules
    decide). A shop without one has no assistant, so its conversations are not read one by one each round."""
    with_faq = assistant_store.workspaces_with_faq_in_use(conn)
    if not with_faq:
        return []
    c = conversations.c
    query = (sa.select(c.workspace_id, c.id, c.channel, c.last_inbound_at).where(
        c.workspace_id.in_(with_faq), c.status == "open", c.assignee_id.is_(None), c.last_inbound_at.is_not(None),
        c.last_inbound_at >= since, c.last_message_at == c.last_inbound_at)
        .order_by(c.last_inbound_at).limit(limit))
    return [dict(r._mapping) for r in conn.execute(query)]


# --- proactive chat ---------------------------------------------------------------------------------


def _workspace_row(conn: Connection, table: sa.Table, workspace_id: str) -> dict[str, Any] | None:
    """The row of a table with one row per workspace (a rule, settings), or None."""
    row = conn.execute(sa.select(table).where(table.c.workspace_id == workspace_id)).mappings().first()
    return dict(row) if row else None


def _save_workspace_row(conn: Connection, table: sa.Table, workspace_id: str, values: dict[str, Any]) -> None:
    updated = conn.execute(table.update().where(table.c.workspace_id == workspace_id).values(**values))
    if not updated.rowcount:
        conn.execute(table.insert().values(workspace_id=workspace_id, **values))


def proactive_rule_row(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    return _workspace_row(conn, chat_proactive_rules, workspace_id)


def save_proactive_rule(conn: Connection, workspace_id: str, values: dict[str, Any]) -> None:
    _save_workspace_row(conn, chat_proactive_rules, workspace_id, values)


def settings_row(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    return _workspace_row(conn, conversation_settings, workspace_id)


def save_settings(conn: Connection, workspace_id: str, values: dict[str, Any]) -> None:
    _save_workspace_row(conn, conversation_settings, workspace_id, values)


def proactive_offer(conn: Connection, offer_id: str) -> dict[str, Any] | None:
    query = sa.select(chat_proactive_offers).where(chat_proactive_offers.c.id == offer_id)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def last_proactive_offer_at(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dt.datetime | None:
    if not profile_ids:
        return None
    found: dt.datetime | None = conn.execute(sa.select(sa.func.max(chat_proactive_offers.c.created_at)).where(
        chat_proactive_offers.c.workspace_id == workspace_id,
        chat_proactive_offers.c.profile_id.in_(list(profile_ids)))).scalar_one_or_none()
    return found


def insert_proactive_offer(conn: Connection, row: dict[str, Any]) -> bool:
    """The offer, once: False when this id was recorded already (a retry)."""
    inserted = conn.execute(dialect.insert_ignoring_conflicts(conn, chat_proactive_offers).values(**row))
    return bool(inserted.rowcount)


def proactive_offer_counts(conn: Connection, workspace_id: str, since: dt.datetime) -> dict[str, int]:
    rows = conn.execute(sa.select(chat_proactive_offers.c.grp, sa.func.count()).where(
        chat_proactive_offers.c.workspace_id == workspace_id, chat_proactive_offers.c.created_at >= since,
    ).group_by(chat_proactive_offers.c.grp)).all()
    return {str(grp): int(n) for grp, n in rows}


# --- the assistant's turns ------------------------------------------------------------------------------


def insert_assistant_turn(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(dialect.insert_ignoring_conflicts(conn, assistant_turns).values(**row))


def assistant_turns_since(conn: Connection, workspace_id: str, since: dt.datetime, until: dt.datetime | None = None
                          ) -> list[dict[str, Any]]:
    """Every turn since ``since`` with its conversation's status, tags, resolution and the customer's last
    message's time."""
    query = (
        sa.select(assistant_turns, conversations.c.status, conversations.c.tags.label("conversation_tags"),
                  conversations.c.resolved_at, conversations.c.last_inbound_at)
        .select_from(assistant_turns.join(conversations, conversations.c.id == assistant_turns.c.conversation_id))
        .where(assistant_turns.c.workspace_id == workspace_id, assistant_turns.c.created_at >= since)
        .order_by(assistant_turns.c.created_at)
    )
    if until is not None:
        query = query.where(assistant_turns.c.created_at < until)
    return [dict(r) for r in conn.execute(query).mappings()]



def last_assistant_turn(conn: Connection, workspace_id: str, conversation_id: str) -> dict[str, Any] | None:
    """The bot's latest turn in a conversation (where a return or exchange request stands)."""
    row = conn.execute(sa.select(assistant_turns).where(
        assistant_turns.c.workspace_id == workspace_id, assistant_turns.c.conversation_id == conversation_id,
    ).order_by(assistant_turns.c.created_at.desc(), assistant_turns.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None
