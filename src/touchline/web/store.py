"""All SQL of the dashboard: its users and their sign-in sessions (state store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store.schema import dashboard_users, web_sessions, workspaces


def user_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(dashboard_users).where(dashboard_users.c.email == email)).mappings().first()
    return dict(row) if row else None


def insert_user(conn: Connection, **values: Any) -> None:
    conn.execute(dashboard_users.insert().values(**values))


def update_user(conn: Connection, user_id: str, **values: Any) -> bool:
    result = conn.execute(dashboard_users.update().where(dashboard_users.c.id == user_id).values(**values))
    return bool(result.rowcount)


def list_users(conn: Connection, workspace_id: str | None = None) -> list[dict[str, Any]]:
    query = (
        sa.select(dashboard_users.c.id, dashboard_users.c.email, dashboard_users.c.name, dashboard_users.c.role,
                  workspaces.c.name.label("workspace"), dashboard_users.c.created_at, dashboard_users.c.last_login_at,
                  dashboard_users.c.disabled_at)
        .join(workspaces, workspaces.c.id == dashboard_users.c.workspace_id)
        .order_by(dashboard_users.c.email)
    )
    if workspace_id is not None:
        query = query.where(dashboard_users.c.workspace_id == workspace_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def insert_session(conn: Connection, **values: Any) -> None:
    conn.execute(web_sessions.insert().values(**values))


def session_with_user(conn: Connection, token_hash: str, now: dt.datetime) -> dict[str, Any] | None:
    """The unexpired session and its enabled user, in one row."""
    u, s = dashboard_users, web_sessions
    row = conn.execute(
        sa.select(s.c.token_hash, s.c.csrf_token, s.c.last_seen_at, s.c.expires_at, u.c.id.label("user_id"),
                  u.c.workspace_id, u.c.email, u.c.name, u.c.role)
        .join(u, u.c.id == s.c.user_id)
        .where(s.c.token_hash == token_hash, s.c.expires_at > now, u.c.disabled_at.is_(None))
    ).mappings().first()
    return dict(row) if row else None


def touch_session(conn: Connection, token_hash: str, now: dt.datetime, expires_at: dt.datetime) -> None:
    conn.execute(web_sessions.update().where(web_sessions.c.token_hash == token_hash)
                 .values(last_seen_at=now, expires_at=expires_at))


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == token_hash))


def delete_sessions_of(conn: Connection, user_id: str) -> int:
    return int(conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id)).rowcount or 0)


def delete_expired_sessions(conn: Connection, now: dt.datetime) -> int:
    return int(conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= now)).rowcount or 0)
