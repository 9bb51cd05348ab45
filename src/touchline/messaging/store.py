"""All SQL of the messaging domain (state store): templates, the outbox, the in-app inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.messaging.types import MessageKind
from touchline.store import dialect
from touchline.store.customer_rows import rows_about
from touchline.store.schema import (
    identities,
    inbox_messages,
    message_templates,
    outbox,
    profiles,
    segment_members,
    segments,
)

# --- templates -------------------------------------------------------------------------------------


def templates(conn: Connection, workspace_id: str, key: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(message_templates).where(message_templates.c.workspace_id == workspace_id)
    if key is not None:
        query = query.where(message_templates.c.key == key)
    return [dict(r) for r in conn.execute(query.order_by(message_templates.c.key, message_templates.c.channel))
            .mappings()]


def segment_memberships(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, set[str]]:
    """{profile id: the ids and names of the segments it is in}, for adaptive blocks that choose by segment."""
    found: dict[str, set[str]] = {}
    for i in range(0, len(profile_ids), 900):
        query = (sa.select(segment_members.c.profile_id, segments.c.id, segments.c.name)
                 .join(segments, segments.c.id == segment_members.c.segment_id)
                 .where(segment_members.c.workspace_id == workspace_id,
                        dialect.in_values(conn, segment_members.c.profile_id, list(profile_ids[i:i + 900]))))
        for pid, sid, name in conn.execute(query):
            found.setdefault(pid, set()).update((sid, name))
    return found


def template_keys(conn: Connection, workspace_id: str) -> set[str]:
    return set(conn.execute(sa.select(message_templates.c.key).where(
        message_templates.c.workspace_id == workspace_id).distinct()).scalars())


def upsert_template(conn: Connection, workspace_id: str, key: str, channel: str, definition: Any,
                    now: dt.datetime) -> int:
    """Save a template; returns its new version."""
    current = conn.execute(sa.select(message_templates.c.version).where(
        message_templates.c.workspace_id == workspace_id, message_templates.c.key == key,
        message_templates.c.channel == channel)).scalar_one_or_none()
    if current is None:
        conn.execute(message_templates.insert().values(workspace_id=workspace_id, key=key, channel=channel,
                                                       version=1, definition=definition, created_at=now,
                                                       updated_at=now))
        return 1
    conn.execute(message_templates.update().where(
        message_templates.c.workspace_id == workspace_id, message_templates.c.key == key,
        message_templates.c.channel == channel).values(version=current + 1, definition=definition, updated_at=now))
    return current + 1


def delete_template(conn: Connection, workspace_id: str, key: str, channel: str | None) -> int:
    query = message_templates.delete().where(message_templates.c.workspace_id == workspace_id,
                                             message_templates.c.key == key)
    if channel is not None:
        query = query.where(message_templates.c.channel == channel)
    return int(conn.execute(query).rowcount)


# --- recipients ------------------------------------------------------------------------------------


def recipient_rows(conn: Connection, workspace_id: str, profile_ids: Sequence[str]
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[str, str]]]]:
    """Profiles (traits, consents, time zone, locale) and their identities (kind, value, oldest first),
    by id. Both through the profile id's index, the workspace checked here: with the workspace in SQL,
    SQLite chose the (workspace, ...) indexes and scanned every profile and identity of the workspace
    for each dispatch batch."""
    found: dict[str, dict[str, Any]] = {}
    idents: dict[str, list[tuple[str, str]]] = {}
    if not profile_ids:
        return found, idents
    names = ("id", "traits", "consents", "timezone", "locale", "user_id", "merged_into")
    for ws, *values in dialect.select_by_keys(conn, profiles, ("workspace_id", *names), "id", profile_ids):
        if ws == workspace_id:
            found[values[0]] = dict(zip(names, values, strict=True))
    rows = dialect.select_by_keys(conn, identities, ("workspace_id", "profile_id", "kind", "value", "first_seen_at"),
                                  "profile_id", profile_ids)
    for _, profile_id, kind, value, _ in sorted((r for r in rows if r[0] == workspace_id), key=itemgetter(4)):
        idents.setdefault(profile_id, []).append((kind, value))
    return found, idents
    for r in conn.execute(sa.select(profiles.c.id, profiles.c.traits, profiles.c.consents, profiles.c.timezone,
                                    profiles.c.locale, profiles.c.user_id, profiles.c.merged_into)
                          .where(profiles.c.workspace_id == workspace_id,
                                 dialect.in_values(conn, profiles.c.id, profile_ids))).mappings():
        found[r["id"]] = dict(r)
    for r in conn.execute(sa.select(identities.c.profile_id, identities.c.kind, identities.c.value,
                                    identities.c.first_seen_at)
                          .where(identities.c.workspace_id == workspace_id,
                                 dialect.in_values(conn, identities.c.profile_id, profile_ids))
                          .order_by(identities.c.first_seen_at)):
        idents.setdefault(r[0], []).append((r[1], r[2]))
    return found, idents


# --- outbox ----------------------------------------------------------------------------------------


def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, outbox, rows)


def insert_message(conn: Connection, row: dict[str, Any]) -> bool:
    """One outbox row unless its id exists; True if inserted."""
    return bool(conn.execute(dialect.insert_ignoring_conflicts(conn, outbox).values(**row)).rowcount)


def any_due(conn: Connection, now: dt.datetime) -> bool:
    """Whether ``claim_due`` would find something: a read, so an idle worker never takes the write lock."""
    pending = sa.select(outbox.c.id).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now).limit(1)
    expired = sa.select(outbox.c.id).where(outbox.c.status == "sending", outbox.c.lease_until < now).limit(1)
    return any(conn.execute(query).first() is not None for query in (pending, expired))


def claim_due(conn: Connection, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Due messages (pending, or sending with an expired lease: the worker died), oldest first; on
    PostgreSQL locked with ``FOR UPDATE SKIP LOCKED``, so workers share them. The caller leases them in
    the same transaction (``update_messages`` with ``status="sending"``, ``lease_until`` and its
    ``claim_token``).

    Two queries, each walking the (status, next_attempt_at) index in order and stopping at ``limit``: one
    query with OR made SQLite collect and sort every due row for each batch (with 100k due rows, a
    tenth of the campaign went into claiming)."""
    pending = (sa.select(outbox).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
               .order_by(outbox.c.next_attempt_at).limit(limit))
    expired = (sa.select(outbox).where(outbox.c.status == "sending", outbox.c.lease_until < now)
               .order_by(outbox.c.next_attempt_at).limit(limit))
    rows = [r for query in (expired, pending) for r in dialect.fetch_dicts(conn, dialect.lock_for_claim(conn, query))]
    return sorted(rows, key=lambda r: r["next_attempt_at"])[:limit]


def renew_leases(conn: Connection, ids: Sequence[str], token: str, lease_until: dt.datetime) -> set[str]:
    """Extend the lease of the rows among ``ids`` that the claim ``token`` still holds; the ids renewed.
    A row another worker claimed meanwhile (a new token, set in its claiming transaction) is not
    renewed: its former holder drops it. On PostgreSQL the UPDATE waits for a claim in progress on the
    same rows and then re-checks the token."""
    if not ids:
        return set()
    # The token alone (one per dispatch, written only with a lease): a condition on the status made
    # SQLite walk the (status, next_attempt_at) index of every row being sent instead of the ids.
    query = (outbox.update().where(dialect.in_values(conn, outbox.c.id, ids), outbox.c.claim_token == token)
             .values(lease_until=lease_until).returning(outbox.c.id))
    return set(conn.execute(query).scalars())


def held(conn: Connection, ids: Sequence[str], token: str) -> set[str]:
    """The rows among ``ids`` still held by the claim ``token``, locked for the rest of the transaction
    (PostgreSQL), so that their outcomes are written only by their holder."""
    return {r[0] for r in dialect.select_by_keys(conn, outbox, ("id",), "id", ids, for_update=True, claim_token=token)}


def update_message(conn: Connection, message_id: str, **values: Any) -> None:
    conn.execute(outbox.update().where(outbox.c.id == message_id).values(**values))


def update_messages(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """Many ``update_message`` calls in one statement per set of changed columns (each change holds
    ``id`` and the new values): a dispatch batch writes its outcomes in a handful of executemany calls
    instead of a statement per row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    if len(set(map(tuple, changes))) == 1:  # all alike (as a batch's leases): one group, found in C
        groups[()] = list(changes)
    else:
        for change in changes:
            groups.setdefault(tuple(sorted(change)), []).append(change)
    for rows in groups.values():
        dialect.bulk_update(conn, outbox, "id", rows)


def message_row(conn: Connection, message_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(outbox).where(outbox.c.id == message_id)).mappings().first()
    return dict(row) if row else None


def recent_sends(conn: Connection, workspace_id: str, customer_ids: Sequence[str], since: dt.datetime
                 ) -> dict[str, list[tuple[str, dt.datetime, MessageKind]]]:
    """(channel, sent at, kind) of messages sent to these customers since ``since``."""
    out: dict[str, list[tuple[str, dt.datetime, MessageKind]]] = {}
    if not customer_ids:
        return out
    rows = conn.execute(sa.select(outbox.c.customer_id, outbox.c.channel, outbox.c.sent_at, outbox.c.kind).where(
        outbox.c.workspace_id == workspace_id, dialect.in_list(conn, outbox.c.customer_id, customer_ids),
        outbox.c.sent_at >= since))
    for cid, channel, at, kind in rows:
        out.setdefault(cid, []).append((channel, at, kind))
    return out


def channel_engagement(conn: Connection, workspace_id: str, customer_ids: Sequence[str], since: dt.datetime
                       ) -> dict[str, dict[str, tuple[int, int]]]:
    """customer -> channel -> (messages sent since ``since``, of them opened or clicked): what ``channel:
    best`` ranks by."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    if not customer_ids:
        return out
    engaged = sa.func.count(sa.func.coalesce(outbox.c.opened_at, outbox.c.clicked_at))
    rows = conn.execute(
        sa.select(outbox.c.customer_id, outbox.c.channel, sa.func.count(), engaged).where(
            outbox.c.workspace_id == workspace_id, dialect.in_list(conn, outbox.c.customer_id, customer_ids),
            outbox.c.sent_at >= since, outbox.c.channel.is_not(None))
        .group_by(outbox.c.customer_id, outbox.c.channel))
    for cid, channel, sent, opened in rows:
        out.setdefault(cid, {})[channel] = (int(sent), int(opened))
    return out


def messages_page(conn: Connection, workspace_id: str, *, customer_ids: Sequence[str] | None = None,
                  journey_id: str | None = None, channel: str | None = None, status: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    query = _log_filters(conn, sa.select(outbox).where(outbox.c.workspace_id == workspace_id),
                         customer_ids=customer_ids, journey_id=journey_id, channel=channel, status=status,
                         start=None, end=None)
    query = query.order_by(outbox.c.created_at.desc(), outbox.c.id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


def message_stats(conn: Connection, workspace_id: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per channel and status (and reason): how many, and how many delivered, opened, clicked."""
    return stats_between(conn, workspace_id, start=since, end=None)


def mark_first(conn: Connection, message_id: str, column: str, at: dt.datetime) -> bool:
    """Set ``opened_at`` / ``clicked_at`` / ``delivered_at`` unless already set; True the first time."""
    col = outbox.c[column]
    result = conn.execute(outbox.update().where(outbox.c.id == message_id, col.is_(None)).values({col: at}))
    return bool(result.rowcount)


# What ``erase_customer`` deletes from (PostgreSQL vacuums them after an erase).
ERASED_TABLES = (outbox, inbox_messages)


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> None:
    """The customer's messages (addresses, context and rendered content) and in-app inbox."""
    ids = list(profile_ids)
    if ids:
        conn.execute(outbox.delete().where(outbox.c.workspace_id == workspace_id, outbox.c.customer_id.in_(ids)))
        conn.execute(inbox_messages.delete().where(inbox_messages.c.workspace_id == workspace_id,
                                                   inbox_messages.c.profile_id.in_(ids)))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    """What ``erase_customer`` deletes, as it is: every message (address, context, content, outcome)
    and the in-app inbox."""
    return {
        "sent": rows_about(conn, outbox, "customer_id", workspace_id, profile_ids, order_by=["created_at", "id"]),
        "inbox": rows_about(conn, inbox_messages, "profile_id", workspace_id, profile_ids,
                            order_by=["created_at", "id"]),
    }


CUSTOMER_VIEW_MESSAGES = 20


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The customer's most recent messages, newest first, for the one-customer view."""
    rows = log_page(conn, workspace_id, customer_ids=list(profile_ids), limit=CUSTOMER_VIEW_MESSAGES)
    return [{k: v for k, v in r.items() if k != "workspace_id"} for r in rows]


# --- inbox -----------------------------------------------------------------------------------------


def insert_inbox(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(dialect.insert_ignoring_conflicts(conn, inbox_messages).values(**row))


def insert_inbox_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Inbox rows for messages still in the outbox (the id is the outbox id): one whose customer was
    erased while it was being sent is gone from there, and must not come back here."""
    if not rows:
        return
    present = {r[0] for r in dialect.select_by_keys(conn, outbox, ["id"], "id", [r["id"] for r in rows])}
    rows = [r for r in rows if r["id"] in present]
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, inbox_messages, rows)


def inbox(conn: Connection, workspace_id: str, profile_ids: Sequence[str], *, unread_only: bool, limit: int
          ) -> list[dict[str, Any]]:
    query = sa.select(inbox_messages).where(inbox_messages.c.workspace_id == workspace_id,
                                            dialect.in_values(conn, inbox_messages.c.profile_id, profile_ids))
    if unread_only:
        query = query.where(inbox_messages.c.read_at.is_(None))
    query = query.order_by(inbox_messages.c.created_at.desc(), inbox_messages.c.id).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def mark_read(conn: Connection, workspace_id: str, profile_ids: Sequence[str], message_id: str,
              at: dt.datetime) -> bool:
    result = conn.execute(inbox_messages.update().where(
        inbox_messages.c.workspace_id == workspace_id, inbox_messages.c.id == message_id,
        dialect.in_values(conn, inbox_messages.c.profile_id, profile_ids),
        inbox_messages.c.read_at.is_(None)).values(read_at=at))
    return bool(result.rowcount)


# --- read-only views for the dashboard ---------------------------------------------------------------


def _log_filters(conn: Connection, query: Any, *, customer_ids: Sequence[str] | None, journey_id: str | None,
                 channel: str | None, status: str | None, start: dt.datetime | None, end: dt.datetime | None) -> Any:
    if customer_ids is not None:
        query = query.where(dialect.in_values(conn, outbox.c.customer_id, customer_ids))
    if journey_id:
        query = query.where(outbox.c.journey_id == journey_id)
    if channel:
        query = query.where(outbox.c.channel == channel)
    if status:
        query = query.where(outbox.c.status == status)
    if start is not None:
        query = query.where(outbox.c.created_at >= start)
    if end is not None:
        query = query.where(outbox.c.created_at < end)
    return query


def log_page(conn: Connection, workspace_id: str, *, customer_ids: Sequence[str] | None = None,
             journey_id: str | None = None, channel: str | None = None, status: str | None = None,
             start: dt.datetime | None = None, end: dt.datetime | None = None, limit: int = 50,
             offset: int = 0) -> list[dict[str, Any]]:
    """The delivery log, newest first, filtered, without the rendering context."""
    columns = [c for c in outbox.c if c.name not in ("context", "lease_until", "claim_token")]
    query = _log_filters(conn, sa.select(*columns).where(outbox.c.workspace_id == workspace_id),
                         customer_ids=customer_ids, journey_id=journey_id, channel=channel, status=status,
                         start=start, end=end)
    query = query.order_by(outbox.c.created_at.desc(), outbox.c.id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


def stats_between(conn: Connection, workspace_id: str, *, start: dt.datetime | None, end: dt.datetime | None,
                  journey_id: str | None = None) -> list[dict[str, Any]]:
    """``message_stats`` for messages created in [start, end) (of one journey when given)."""
    query = (
        sa.select(outbox.c.channel, outbox.c.status, outbox.c.reason, sa.func.count().label("n"),
                  sa.func.count(outbox.c.delivered_at).label("delivered"),
                  sa.func.count(outbox.c.opened_at).label("opened"),
                  sa.func.count(outbox.c.clicked_at).label("clicked"))
        .where(outbox.c.workspace_id == workspace_id)
        .group_by(outbox.c.channel, outbox.c.status, outbox.c.reason)
    )
    query = _log_filters(conn, query, customer_ids=None, journey_id=journey_id, channel=None, status=None,
                         start=start, end=end)
    return [dict(r) for r in conn.execute(query).mappings()]
