"""In-app messages' SQL (SQLAlchemy Core): the messages, the workspace's frequency rule, messages pending
for a customer, and the impressions, clicks and dismissals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.customer_rows import rows_about
from touchline.store.schema import inapp_interactions, inapp_messages, inapp_pending, inapp_settings

__all__ = [
    "ERASED_TABLES", "customer_view", "delete_message", "erase_customer", "export_customer", "history_rows",
    "insert_interaction", "insert_pending", "interaction", "live_messages", "mark_shown", "message_row",
    "message_rows", "pending_rows", "report_rows", "save_settings", "settings_row", "upsert_message",
]

# --- messages ------------------------------------------------------------------------------------------


def message_rows(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    query = sa.select(inapp_messages).where(inapp_messages.c.workspace_id == workspace_id)
    return [dict(r) for r in conn.execute(query.order_by(inapp_messages.c.created_at, inapp_messages.c.id)).mappings()]


def live_messages(conn: Connection) -> list[dict[str, Any]]:
    """Every workspace's active messages (what the event log's subscriber watches for)."""
    query = sa.select(inapp_messages).where(inapp_messages.c.status == "active")
    return [dict(r) for r in conn.execute(query).mappings()]


def message_row(conn: Connection, workspace_id: str, id_or_key: str) -> dict[str, Any] | None:
    c = inapp_messages.c
    query = sa.select(inapp_messages).where(c.workspace_id == workspace_id, sa.or_(c.id == id_or_key,
                                                                                   c.key == id_or_key))
    row = conn.execute(query.order_by(sa.case((c.id == id_or_key, 0), else_=1)).limit(1)).mappings().first()
    return dict(row) if row else None


def upsert_message(conn: Connection, row: dict[str, Any]) -> None:
    """Insert, or replace the definition of the message with ``row['id']`` (its version goes up)."""
    updated = conn.execute(inapp_messages.update().where(inapp_messages.c.id == row["id"]).values(
        key=row["key"], status=row["status"], definition=row["definition"], updated_at=row["updated_at"],
        version=inapp_messages.c.version + 1))
    if not updated.rowcount:
        conn.execute(inapp_messages.insert().values(**row, version=1))


def key_taken(conn: Connection, workspace_id: str, key: str, other_than: str | None) -> bool:
    c = inapp_messages.c
    query = sa.select(c.id).where(c.workspace_id == workspace_id, c.key == key)
    if other_than is not None:
        query = query.where(c.id != other_than)
    return conn.execute(query.limit(1)).first() is not None


def delete_message(conn: Connection, workspace_id: str, message_id: str) -> int:
    """The message, what is pending of it and its interactions (its events stay in the event log)."""
    for table in (inapp_pending, inapp_interactions):
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id, table.c.message_id == message_id))
    deleted = conn.execute(inapp_messages.delete().where(inapp_messages.c.workspace_id == workspace_id,
                                                         inapp_messages.c.id == message_id))
    return int(deleted.rowcount or 0)


# --- the workspace's frequency rule --------------------------------------------------------------------


def settings_row(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    query = sa.select(inapp_settings).where(inapp_settings.c.workspace_id == workspace_id)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def save_settings(conn: Connection, workspace_id: str, values: dict[str, Any]) -> None:
    updated = conn.execute(inapp_settings.update().where(inapp_settings.c.workspace_id == workspace_id)
                           .values(**values))
    if not updated.rowcount:
        conn.execute(inapp_settings.insert().values(workspace_id=workspace_id, **values))


# --- pending messages ----------------------------------------------------------------------------------


def insert_pending(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, inapp_pending, rows)


def pending_rows(conn: Connection, workspace_id: str, profile_ids: Sequence[str], now: dt.datetime
                 ) -> list[dict[str, Any]]:
    """The customer's messages waiting to be shown (not expired, not shown), the newest first."""
    if not profile_ids:
        return []
    query = _statement(conn, "pending", _pending_query)
    return [dict(r) for r in conn.execute(query, {"ws": workspace_id, "ids": list(profile_ids), "now": now})
            .mappings()]


def _pending_query(conn: Connection) -> sa.Select[Any]:
    c = inapp_pending.c
    return sa.select(c.message_id, c.event, c.context, c.created_at).where(
        c.workspace_id == sa.bindparam("ws"), dialect.in_parameter(conn, c.profile_id, "ids"),
        c.shown_at.is_(None), c.expires_at > sa.bindparam("now")).order_by(c.created_at.desc()).limit(100)


def mark_shown(conn: Connection, workspace_id: str, profile_ids: Sequence[str], message_id: str,
               now: dt.datetime) -> None:
    c = inapp_pending.c
    conn.execute(inapp_pending.update().where(
        c.workspace_id == workspace_id, dialect.in_values(conn, c.profile_id, list(profile_ids)),
        c.message_id == message_id, c.shown_at.is_(None)).values(shown_at=now))


# --- impressions, clicks and dismissals ----------------------------------------------------------------


def interaction(conn: Connection, interaction_id: str) -> dict[str, Any] | None:
    query = sa.select(inapp_interactions).where(inapp_interactions.c.id == interaction_id)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def insert_interaction(conn: Connection, row: dict[str, Any]) -> bool:
    """The interaction, once: False when its id is recorded already (a retry)."""
    inserted = conn.execute(dialect.insert_ignoring_conflicts(conn, inapp_interactions).values(**row))
    return bool(inserted.rowcount)


def history_rows(conn: Connection, workspace_id: str, profile_ids: Sequence[str], since: dt.datetime
                 ) -> list[dict[str, Any]]:
    """Per message and kind: how many, the last time, and how many since ``since`` (one statement, built once:
    every page of the shop asks it)."""
    if not profile_ids:
        return []
    query = _statement(conn, "history", _history_query)
    return [dict(r) for r in conn.execute(query, {"ws": workspace_id, "ids": list(profile_ids), "since": since})
            .mappings()]


def _history_query(conn: Connection) -> sa.Select[Any]:
    c = inapp_interactions.c
    recent = sa.func.sum(sa.case((c.created_at >= sa.bindparam("since"), 1), else_=0))
    return sa.select(c.message_id, c.kind, sa.func.count().label("n"), sa.func.max(c.created_at).label("last_at"),
                     recent.label("recent")).where(
        c.workspace_id == sa.bindparam("ws"), dialect.in_parameter(conn, c.profile_id, "ids"),
    ).group_by(c.message_id, c.kind)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(conn: Connection, name: str, build: Any) -> Any:
    """A statement built once per dialect (its values are parameters): SQLAlchemy's building of an
    expression costs more than running it on the state store."""
    key = (conn.dialect.name, name)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build(conn)
    return found


def report_rows(conn: Connection, workspace_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
    """Per message, kind and day (the shop's local dates, inclusive): how many."""
    c = inapp_interactions.c
    query = sa.select(c.message_id, c.kind, c.day, sa.func.count().label("n")).where(
        c.workspace_id == workspace_id, c.day >= first_day, c.day <= last_day,
    ).group_by(c.message_id, c.kind, c.day).order_by(c.day)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- the customer-wide view, export and erase ----------------------------------------------------------

ERASED_TABLES = (inapp_pending, inapp_interactions)


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
    ids = list(profile_ids)
    if not ids:
        return
    for table in ERASED_TABLES:
        dialect.delete_in_chunks(conn, table, table.c.profile_id, ids)


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "pending": rows_about(conn, inapp_pending, "profile_id", workspace_id, profile_ids,
                              order_by=["created_at", "id"]),
        "interactions": rows_about(conn, inapp_interactions, "profile_id", workspace_id, profile_ids,
                                   order_by=["created_at", "id"]),
    }


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The customer's 20 latest impressions, clicks and dismissals, with the message's key."""
    if not profile_ids:
        return []
    i, m = inapp_interactions.c, inapp_messages.c
    query = (sa.select(i.message_id, m.key, i.kind, i.platform, i.created_at)
             .select_from(inapp_interactions.outerjoin(inapp_messages, m.id == i.message_id))
             .where(i.workspace_id == workspace_id, dialect.in_values(conn, i.profile_id, list(profile_ids)))
             .order_by(i.created_at.desc()).limit(20))
    return [dict(r) for r in conn.execute(query).mappings()]
