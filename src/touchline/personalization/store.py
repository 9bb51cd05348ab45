"""The recommender's state-store SQL: the trained model (one row per workspace, replaced at each training),
the shop's rules, and the segment memberships popularity is counted for."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.personalization.model import Model
from touchline.store.schema import recommendation_models, recommendation_rules, segment_members

ERASED_TABLES = (recommendation_models,)
RULE_LISTS = ("excluded", "out_of_stock", "excluded_categories", "consumable_categories")


def model_version(conn: Connection, workspace_id: str) -> str | None:
    return conn.execute(sa.select(recommendation_models.c.version)
                        .where(recommendation_models.c.workspace_id == workspace_id)).scalar_one_or_none()


def load_model(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(recommendation_models)
                       .where(recommendation_models.c.workspace_id == workspace_id)).mappings().first()
    return dict(row) if row else None


def model_summary(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    t = recommendation_models
    row = conn.execute(sa.select(t.c.version, t.c.algorithm, t.c.trained_at, t.c.high_water, t.c.meta,
                                 sa.func.length(t.c.model).label("bytes"))
                       .where(t.c.workspace_id == workspace_id)).mappings().first()
    return dict(row) if row else None


def save_model(conn: Connection, workspace_id: str, *, version: str, algorithm: str, trained_at: dt.datetime,
               high_water: int, meta: dict[str, Any], blob: bytes) -> None:
    values = {"version": version, "algorithm": algorithm, "trained_at": trained_at, "high_water": high_water,
              "meta": meta, "model": blob}
    updated = conn.execute(recommendation_models.update()
                           .where(recommendation_models.c.workspace_id == workspace_id).values(**values))
    if not updated.rowcount:
        conn.execute(recommendation_models.insert().values(workspace_id=workspace_id, **values))


def workspaces_with_models(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(recommendation_models.c.workspace_id)).scalars())


def rules(conn: Connection, workspace_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(recommendation_rules)
                       .where(recommendation_rules.c.workspace_id == workspace_id)).mappings().first()
    return dict(row) if row else None


def save_rules(conn: Connection, workspace_id: str, values: dict[str, Any], now: dt.datetime) -> None:
    updated = conn.execute(recommendation_rules.update()
                           .where(recommendation_rules.c.workspace_id == workspace_id)
                           .values(**values, updated_at=now))
    if not updated.rowcount:
        conn.execute(recommendation_rules.insert().values(workspace_id=workspace_id, updated_at=now, **values))


def memberships(conn: Connection, workspace_id: str) -> dict[str, list[str]]:
    """{segment id: member profile ids} of the workspace."""
    out: dict[str, list[str]] = {}
    query = (sa.select(segment_members.c.segment_id, segment_members.c.profile_id)
             .where(segment_members.c.workspace_id == workspace_id))
    for segment_id, profile_id in conn.execute(query):
        out.setdefault(segment_id, []).append(profile_id)
    return out


def segments_of(conn: Connection, workspace_id: str, profile_id: str) -> list[str]:
    return list(conn.execute(sa.select(segment_members.c.segment_id).where(
        segment_members.c.workspace_id == workspace_id, segment_members.c.profile_id == profile_id)).scalars())


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
    """The customer's history leaves the stored model (rewritten under a new version, which every process
    loads within seconds); the counts the model learned over everyone stay until the next training."""
    row = load_model(conn, workspace_id)
    if row is None:
        return
    model = Model.from_bytes(row["model"])
    if model.forget(profile_ids):
        conn.execute(recommendation_models.update().where(recommendation_models.c.workspace_id == workspace_id)
                     .values(model=model.to_bytes(), version=uuid.uuid4().hex))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """What the stored model holds about the customer: the products of their history, with their weight."""
    row = load_model(conn, workspace_id)
    if row is None:
        return []
    model = Model.from_bytes(row["model"])
    out = []
    for profile_id in profile_ids:
        weights, bought = model.customer_history(profile_id)
        out += [{"profile_id": profile_id, "product_id": model.items[k], "weight": round(w, 4), "bought": k in bought}
                for k, w in sorted(weights.items())]
    return out
