"""The predictions' state-store SQL: the models trained (their quality, what they scored), the retraining
claim, and the scores written into the customers' traits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import prediction_models, prediction_schedule, profiles

__all__ = ["claim", "insert_model", "latest_models", "model_history", "next_version", "release", "write_traits"]

# Profiles written per statement: their traits are read, merged and written back in one transaction.
CHUNK = 1_000


def next_version(conn: Connection, workspace_id: str, kind: str) -> int:
    found = conn.execute(sa.select(sa.func.max(prediction_models.c.version)).where(
        prediction_models.c.workspace_id == workspace_id, prediction_models.c.kind == kind)).scalar_one_or_none()
    return int(found or 0) + 1


def insert_model(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(prediction_models.insert().values(**row))


def _rows(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query).mappings()]


def latest_models(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    """The newest training of each kind."""
    m = prediction_models
    newest = (sa.select(m.c.kind, sa.func.max(m.c.version).label("version"))
              .where(m.c.workspace_id == workspace_id).group_by(m.c.kind).subquery("newest"))
    return _rows(conn, sa.select(m).join(newest, sa.and_(newest.c.kind == m.c.kind, newest.c.version == m.c.version))
                 .where(m.c.workspace_id == workspace_id).order_by(m.c.kind))


def model_history(conn: Connection, workspace_id: str, kind: str, limit: int) -> list[dict[str, Any]]:
    m = prediction_models
    return _rows(conn, sa.select(m).where(m.c.workspace_id == workspace_id, m.c.kind == kind)
                 .order_by(m.c.version.desc()).limit(limit))


def last_trained(conn: Connection) -> dict[str, dt.datetime]:
    """Per workspace, when its models were last trained (any kind)."""
    m = prediction_models
    return {r.workspace_id: r.at for r in conn.execute(
        sa.select(m.c.workspace_id, sa.func.max(m.c.trained_at).label("at")).group_by(m.c.workspace_id))}


def claim(conn: Connection, workspace_id: str, now: dt.datetime, until: dt.datetime) -> bool:
    """Claim the retraining of a workspace until ``until``, unless another process holds a claim still in
    force (a compare-and-set on one row: two workers never train the same workspace at once)."""
    s = prediction_schedule
    conn.execute(dialect.insert_ignoring_conflicts(conn, s).values(workspace_id=workspace_id))
    taken = conn.execute(
        s.update().where(s.c.workspace_id == workspace_id,
                         sa.or_(s.c.claimed_until.is_(None), s.c.claimed_until <= now))
        .values(claimed_until=until, last_started_at=now))
    return bool(taken.rowcount)


def release(conn: Connection, workspace_id: str) -> None:
    s = prediction_schedule
    conn.execute(s.update().where(s.c.workspace_id == workspace_id).values(claimed_until=None))


def write_traits(conn: Connection, workspace_id: str, scores: Mapping[str, Mapping[str, Any]], now: dt.datetime,
                 source: str, *, written_at: dt.datetime) -> int:
    """Set each profile's computed traits (``{profile id: {trait: value}}``) as of ``now`` from ``source``,
    keeping its other traits; the profiles' ``updated_at`` moves to ``written_at`` (the wall clock, even
    when ``now`` is a simulated time: the pump copies profiles changed since its watermark into the event
    store, where segments read traits). Rows are locked while they are rewritten where several processes
    write (PostgreSQL). Returns how many profiles were written (an erased one is skipped, and so is one
    whose traits hold these values already)."""
    ids = sorted(scores)
    written = 0
    at = now.isoformat()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        found = dialect.select_by_keys(conn, profiles, ["id", "traits", "trait_meta"], "id", chunk,
                                       for_update=True, workspace_id=workspace_id)
        rows = []
        for pid, traits, meta in found:
            if all((traits or {}).get(k) == v for k, v in scores[pid].items()):
                continue  # nothing new: the profile is left as it is (and not copied again)
            merged, merged_meta = dict(traits or {}), dict(meta or {})
            for key, value in scores[pid].items():
                merged[key] = value
                merged_meta[key] = {"at": at, "source": source}
            rows.append({"id": pid, "traits": merged, "trait_meta": merged_meta, "updated_at": written_at})
        dialect.bulk_update(conn, profiles, "id", rows)
        written += len(rows)
    return written


def profile_ids(conn: Connection, workspace_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are profiles of the workspace not merged into another one."""
    found = dialect.select_by_keys(conn, profiles, ["id", "merged_into"], "id", list(ids), workspace_id=workspace_id)
    return {pid for pid, merged_into in found if merged_into is None}
