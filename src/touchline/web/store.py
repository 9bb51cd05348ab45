"""All SQL of the dashboard: its users and their sign-in sessions (state store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import dashboard_users, sign_in_failures, web_sessions, workspaces


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


def sign_in_locks(conn: Connection, key_hashes: list[str], now: dt.datetime) -> list[dt.datetime]:
    """The locks on these keys that have not ended yet."""
    t = sign_in_failures
    rows = conn.execute(sa.select(t.c.locked_until).where(t.c.key_hash.in_(key_hashes), t.c.locked_until > now))
    return [r.locked_until for r in rows]


def count_sign_in_attempt(conn: Connection, key_hash: str, now: dt.datetime, forget_before: dt.datetime
                          ) -> tuple[int, dt.datetime | None]:
    """One more attempt counted against ``key_hash`` (the first, when the last is older than
    ``forget_before``), unless the key is locked; returns (the count, the lock's end). One statement
    that takes the row's lock, so attempts racing in several processes are all counted, and an attempt
    that arrives just after another one set the lock sees it."""
    t = sign_in_failures
    insert = postgresql.insert(t) if dialect.name(conn) == dialect.POSTGRES else sqlite.insert(t)
    locked = sa.and_(t.c.locked_until.is_not(None), t.c.locked_until > now)
    statement = insert.values(key_hash=key_hash, failures=1, last_failed_at=now).on_conflict_do_update(
        index_elements=[t.c.key_hash],
        set_={"failures": sa.case((locked, t.c.failures), (t.c.last_failed_at < forget_before, 1),
                                  else_=t.c.failures + 1),
              "last_failed_at": sa.case((locked, t.c.last_failed_at), else_=now)},
    ).returning(t.c.failures, t.c.locked_until)
    row = conn.execute(statement).one()
    return int(row.failures), row.locked_until


def uncount_sign_in_attempt(conn: Connection, key_hash: str, lock_set: dt.datetime | None) -> None:
    """An attempt that was no failure after all: one fewer, and the lock it set (if any) lifted."""
    t = sign_in_failures
    values: dict[str, Any] = {"failures": sa.case((t.c.failures > 0, t.c.failures - 1), else_=0)}
    if lock_set is not None:
        values["locked_until"] = sa.case((t.c.locked_until == lock_set, None), else_=t.c.locked_until)
    conn.execute(t.update().where(t.c.key_hash == key_hash).values(**values))


def lock_sign_in(conn: Connection, key_hash: str, until: dt.datetime) -> None:
    t = sign_in_failures
    conn.execute(t.update().where(t.c.key_hash == key_hash).values(locked_until=until))


def clear_sign_in_failures(conn: Connection, key_hash: str) -> None:
    conn.execute(sign_in_failures.delete().where(sign_in_failures.c.key_hash == key_hash))


def forget_sign_in_failures(conn: Connection, forget_before: dt.datetime, now: dt.datetime) -> int:
    """Rows quiet since ``forget_before`` and not locked any more."""
    t = sign_in_failures
    return int(conn.execute(t.delete().where(
        t.c.last_failed_at < forget_before, sa.or_(t.c.locked_until.is_(None), t.c.locked_until <= now))).rowcount or 0)
