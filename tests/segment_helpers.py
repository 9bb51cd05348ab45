"""Loading customers into the event store and reading them back, for the segment tests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.profiles.service import resolve
from touchline.segments import Context, CustomerState, Node, compile_segment, matches
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.store.schema import events, profile_snapshots

_ids = itertools.count()


def track(user: str, event: str, at: dt.datetime, channel: str = "web", **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "timestamp": at.isoformat(),
            "properties": properties, "context": {"channel": channel}, "messageId": f"m{next(_ids)}"}


def load(stores: Stores, workspace_id: str, items: list[dict[str, Any]], now: dt.datetime) -> None:
    good, bad = parse_items(items, received_at=now, batch_sent_at=None, default_type=None,
                            max_event_bytes=64 * 1024, phone_region="KR")
    assert not bad, bad
    ingest(stores, workspace_id, good, now=now)
    stores.pump()


def profile_id(stores: Stores, workspace_id: str, user: str) -> str:
    return resolve(stores, workspace_id, f"user_id:{user}")


def set_snapshots(stores: Stores, workspace_id: str, rows: Mapping[str, Mapping[str, Any]],
                  now: dt.datetime) -> None:
    """Replace the snapshots of these profiles: {profile_id: {traits, consents, canonical_id}}."""
    snapshot_rows = [
        {"workspace_id": workspace_id, "profile_id": pid, "canonical_id": row.get("canonical_id", pid),
         "user_id": row.get("user_id"), "traits": row.get("traits", {}), "consents": row.get("consents", {}),
         "timezone": None, "locale": None, "created_at": now, "updated_at": now}
        for pid, row in rows.items()
    ]
    with stores.events_conn() as conn:
        dialect.replace_snapshots(conn, snapshot_rows)


def customers(stores: Stores, workspace_id: str) -> list[CustomerState]:
    """Every canonical customer of the workspace with its survivor's traits and all its events."""
    with stores.events_conn() as conn:
        snaps = [dict(r) for r in conn.execute(
            sa.select(profile_snapshots).where(profile_snapshots.c.workspace_id == workspace_id)).mappings()]
        rows = [dict(r) for r in conn.execute(
            sa.select(events.c.profile_id, events.c.event, events.c.timestamp, events.c.channel,
                      events.c.properties).where(events.c.workspace_id == workspace_id)).mappings()]
    canonical = {s["profile_id"]: s["canonical_id"] for s in snaps}
    own = {s["profile_id"]: s for s in snaps}
    history: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        history.setdefault(canonical.get(r["profile_id"], r["profile_id"]), []).append(r)
    ids = set(history) | {s["canonical_id"] for s in snaps}
    return [
        CustomerState(cid, traits=own[cid]["traits"] if cid in own else {},
                      consents=own[cid]["consents"] if cid in own else {}, events=history.get(cid, []))
        for cid in sorted(ids)
    ]


def sql_members(stores: Stores, workspace_id: str, node: Node, now: dt.datetime,
                segments: Mapping[str, Any] | None = None) -> set[str]:
    with stores.events_conn() as conn:
        return set(conn.execute(compile_segment(node, workspace_id, now, segments)).scalars())


def python_members(everyone: Iterable[CustomerState], node: Node, now: dt.datetime,
                   segments: Mapping[str, Any] | None = None) -> set[str]:
    everyone = list(everyone)
    context = Context.build(everyone, now)
    return {c.customer_id for c in everyone if matches(node, c, now, segments, context=context)}
