"""SQL for workspaces and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import api_keys, workspaces


def workspace_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(workspaces).where(workspaces.c.name == name)).mappings().first()
    return dict(row) if row else None


def list_workspaces(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(workspaces).order_by(workspaces.c.created_at)).mappings()]


def insert_workspace(conn: Connection, workspace_id: str, name: str, now: dt.datetime) -> None:
    conn.execute(dialect.insert_ignoring_conflicts(conn, workspaces).values(id=workspace_id, name=name, created_at=now))


def insert_key(conn: Connection, **values: Any) -> bool:
    result = conn.execute(dialect.insert_ignoring_conflicts(conn, api_keys).values(**values))
    return bool(result.rowcount)


def key_by_hash(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def identity_key_hashes(conn: Connection, workspace_id: str) -> list[str]:
    query = sa.select(api_keys.c.key_hash).where(api_keys.c.workspace_id == workspace_id,
                                                 api_keys.c.kind == "identity", api_keys.c.revoked_at.is_(None))
    return [str(h) for h in conn.execute(query).scalars()]


def list_keys(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    query = sa.select(api_keys).where(api_keys.c.workspace_id == workspace_id).order_by(api_keys.c.created_at)
    return [dict(r) for r in conn.execute(query).mappings()]


def revoke_key(conn: Connection, workspace_id: str, key_id: str, now: dt.datetime) -> bool:
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)
