"""SQL for segment definitions and their members (state store)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import profiles, segment_members, segments


def all_segments(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    query = sa.select(segments).where(segments.c.workspace_id == workspace_id).order_by(segments.c.name)
    return [dict(r) for r in conn.execute(query).mappings()]


def segment_row(conn: Connection, workspace_id: str, segment_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(segments).where(segments.c.workspace_id == workspace_id, segments.c.id == segment_id)
    ).mappings().first()
    return dict(row) if row else None


def segment_by_name(conn: Connection, workspace_id: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(segments).where(segments.c.workspace_id == workspace_id, segments.c.name == name)
    ).mappings().first()
    return dict(row) if row else None


def insert_segment(conn: Connection, **values: Any) -> None:
    conn.execute(segments.insert().values(**values))


def update_segment(conn: Connection, workspace_id: str, segment_id: str, **values: Any) -> None:
    conn.execute(segments.update().where(segments.c.workspace_id == workspace_id, segments.c.id == segment_id)
                 .values(**values))


def delete_segment(conn: Connection, workspace_id: str, segment_id: str) -> None:
    conn.execute(segment_members.delete().where(segment_members.c.segment_id == segment_id))
    conn.execute(segments.delete().where(segments.c.workspace_id == workspace_id, segments.c.id == segment_id))


def member_counts(conn: Connection, workspace_id: str) -> dict[str, int]:
    query = (sa.select(segment_members.c.segment_id, sa.func.count())
             .where(segment_members.c.workspace_id == workspace_id).group_by(segment_members.c.segment_id))
    return {sid: int(n) for sid, n in conn.execute(query)}


def member_ids(conn: Connection, segment_id: str, among: Sequence[str] | None = None) -> set[str]:
    query = sa.select(segment_members.c.profile_id).where(segment_members.c.segment_id == segment_id)
    if among is None:
        return set(conn.execute(query).scalars())
    found: set[str] = set()
    for i in range(0, len(among), 900):
        found.update(conn.execute(query.where(dialect.in_values(conn, segment_members.c.profile_id,
                                                                among[i : i + 900]))).scalars())
    return found


def members_among(conn: Connection, segment_ids: Sequence[str], among: Sequence[str]) -> dict[str, set[str]]:
    """{segment id: the ones of ``among`` that are members}, for several segments in one pass."""
    found: dict[str, set[str]] = {sid: set() for sid in segment_ids}
    if not segment_ids:
        return found
    for i in range(0, len(among), 900):
        query = sa.select(segment_members.c.segment_id, segment_members.c.profile_id).where(
            dialect.in_values(conn, segment_members.c.segment_id, list(segment_ids)),
            dialect.in_values(conn, segment_members.c.profile_id, among[i : i + 900]))
        for sid, pid in conn.execute(query):
            found[sid].add(pid)
    return found


def mark_refreshed(conn: Connection, workspace_id: str, segment_ids: Sequence[str], now: dt.datetime) -> None:
    conn.execute(segments.update().where(segments.c.workspace_id == workspace_id,
                                         dialect.in_values(conn, segments.c.id, list(segment_ids)))
                 .values(refreshed_at=now))


def add_members(conn: Connection, workspace_id: str, memberships: Iterable[tuple[str, str]], now: dt.datetime
                ) -> None:
    """Insert (segment id, profile id) memberships, of any number of segments at once."""
    dialect.bulk_insert(conn, segment_members, [
        {"segment_id": sid, "profile_id": pid, "workspace_id": workspace_id, "entered_at": now}
        for sid, pid in memberships
    ])


def remove_members(conn: Connection, segment_id: str, ids: Sequence[str]) -> None:
    if not ids:
        return
    for i in range(0, len(ids), 900):
        conn.execute(segment_members.delete().where(
            segment_members.c.segment_id == segment_id,
            dialect.in_values(conn, segment_members.c.profile_id, ids[i : i + 900])))


# What ``erase_customer`` deletes from (PostgreSQL vacuums them after an erase).
ERASED_TABLES = (segment_members,)


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> None:
    """The customer's memberships, in the erase's own transaction: left for the next refresh, they would
    linger, and their removal would be recorded as a ``Segment Exited`` event about the erased id."""
    ids = list(profile_ids)
    for i in range(0, len(ids), 900):
        conn.execute(segment_members.delete().where(
            segment_members.c.workspace_id == workspace_id,
            dialect.in_values(conn, segment_members.c.profile_id, ids[i : i + 900])))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The segments the customer is in, with when they entered."""
    query = (
        sa.select(segments.c.id, segments.c.name, segment_members.c.profile_id, segment_members.c.entered_at)
        .join(segments, segments.c.id == segment_members.c.segment_id)
        .where(segment_members.c.workspace_id == workspace_id,
               segment_members.c.profile_id.in_(list(profile_ids)))
        .order_by(segments.c.name)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def members_page(conn: Connection, workspace_id: str, segment_id: str, limit: int, after: str | None
                 ) -> list[dict[str, Any]]:
    """Members with their main traits, in profile-id order, ``limit`` after the ``after`` cursor."""
    query = (
        sa.select(segment_members.c.profile_id, segment_members.c.entered_at, profiles.c.user_id, profiles.c.traits)
        .join(profiles, profiles.c.id == segment_members.c.profile_id, isouter=True)
        .where(segment_members.c.segment_id == segment_id, segment_members.c.workspace_id == workspace_id)
        .order_by(segment_members.c.profile_id)
        .limit(limit)
    )
    if after:
        query = query.where(segment_members.c.profile_id > after)
    return [dict(r) for r in conn.execute(query).mappings()]


def segments_of(conn: Connection, workspace_id: str, profile_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(segments.c.id, segments.c.name, segment_members.c.entered_at)
        .join(segments, segments.c.id == segment_members.c.segment_id)
        .where(segment_members.c.workspace_id == workspace_id, segment_members.c.profile_id == profile_id)
        .order_by(segments.c.name)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The segments the customer (the surviving profile, first of ``profile_ids``) is in, by name."""
    return segments_of(conn, workspace_id, profile_ids[0])


def canonical_ids(conn: Connection, workspace_id: str, ids: Sequence[str]) -> set[str]:
    """The surviving profile of each id (itself unless merged)."""
    found: set[str] = set()
    for i in range(0, len(ids), 900):
        query = sa.select(profiles.c.workspace_id, profiles.c.id, profiles.c.merged_into).where(
            dialect.in_values(conn, profiles.c.id, ids[i : i + 900]))
        found.update(m or pid for ws, pid, m in conn.execute(query) if ws == workspace_id)
    return found
