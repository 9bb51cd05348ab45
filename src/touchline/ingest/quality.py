"""A workspace's tracking plan and its data-quality violations: storage and service.

The typing rules are :mod:`touchline.ingest.plan` (pure); here they meet the state store: each
workspace's own event types (``event_types``) and its setting for unreadable values
(``workspaces.invalid_values``), read into a :class:`TrackingPlan` that the edge uses, kept a few seconds
(``PLAN_TTL``); and the problems found at the edge, counted in memory (:class:`ViolationLog`, no write
on the ingestion path) and added to ``tracking_violations`` by the pump.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from touchline.errors import BadRequest, NotFound
from touchline.ingest.plan import (
    ECOMMERCE_EVENTS,
    ECOMMERCE_PROPERTIES,
    INVALID_VALUES,
    PRODUCT_PROPERTIES,
    TYPES,
    InvalidValues,
    Problem,
    TrackingPlan,
    parse_declaration,
    show,
)
from touchline.store import dialect
from touchline.store.schema import event_types, tracking_violations, workspaces

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["PLAN_TTL", "ViolationLog", "declare_event", "plan_for", "plan_view", "remove_event",
           "set_invalid_values", "violations"]

PLAN_TTL = 5.0  # seconds a workspace's plan is reused by the edge; changes made here apply at once
MAX_PENDING = 10_000  # distinct (workspace, event, field, reason) counted in memory between two flushes
_INDEX = re.compile(r"\[\d+\]")

Noted = tuple[str, Problem, str, str]  # (event or message type, problem, "rejected" | "flagged", messageId)


@dataclass
class _Count:
    rejected: int
    flagged: int
    first: dt.datetime
    last: dt.datetime
    example: str


class ViolationLog:
    """Problems found at the edge, counted in memory by (workspace, event, field, reason); ``flush`` adds
    them to the state store (the pump calls it). A field's array positions are dropped
    (``properties.products[].price``), so one row counts a field whatever the position."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, str], _Count] = {}

    def add(self, workspace_id: str, noted: Sequence[Noted]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            for event, problem, outcome, _message_id in noted:
                key = (workspace_id, event[:512], _INDEX.sub("[]", problem.field)[:512], problem.reason[:200])
                count = self._pending.get(key)
                if count is None:
                    if len(self._pending) >= MAX_PENDING:
                        continue
                    count = self._pending[key] = _Count(0, 0, now, now, "")
                if outcome == "rejected":
                    count.rejected += 1
                else:
                    count.flagged += 1
                # A time is shown as sent (it says nothing of a customer), anything else masked.
                count.last = now
                count.example = show(problem.value, 60) if problem.field == "timestamp" else masked(problem.value)

    def flush(self, stores: Stores) -> int:
        """Add what was counted to the state store; returns how many rows it touched. Counts stay in
        memory when the store cannot take them (the next flush tries again)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [{"workspace_id": ws, "event": event, "field": field, "reason": reason, "rejected": c.rejected,
                 "flagged": c.flagged, "first_seen_at": c.first, "last_seen_at": c.last, "example": c.example}
                for (ws, event, field, reason), c in sorted(pending.items())]
        try:
            with stores.write() as conn:
                dialect.upsert_adding(conn, tracking_violations, rows,
                                      keys=("workspace_id", "event", "field", "reason"),
                                      add=("rejected", "flagged"), keep=("first_seen_at",))
        except Exception:
            with self._lock:
                for key, count in pending.items():
                    mine = self._pending.setdefault(key, count)
                    if mine is not count:
                        mine.rejected += count.rejected
                        mine.flagged += count.flagged
                        mine.first = min(mine.first, count.first)
            raise
        return len(rows)


_HANGUL = re.compile("[\uac00-\ud7a3]")
_UNITS = frozenset("원만천억")  # Korean amounts' own words ("5만원"), kept


def masked(value: Any, limit: int = 60) -> str:
    """A value's shape without its content, to show beside the count: digits become 9, a text's Latin
    letters a or A and Hangul syllables 가 (but the units 원, 만, 천, 억), other characters stay
    ("59,000 dollars" -> "99,999 aaaaaaa", "010-1234-5678" -> "999-9999-9999"); an object or array is
    named, not shown. The table keeping it outlives an erasure, so it keeps nothing that could be a
    customer's (a name, an address, a number)."""
    if isinstance(value, dict):
        return "(an object)"
    if isinstance(value, list):
        return f"(an array of {len(value)})"
    text = show(value, limit)
    out = []
    for c in text:
        if c.isdigit():
            out.append("9")
        elif c in _UNITS or not c.isalpha() or not isinstance(value, str):  # a number's e, true, null
            out.append(c)
        elif _HANGUL.match(c):
            out.append("가")
        else:
            out.append("A" if c.isupper() else "a")
    return "".join(out)


# --- the plan each workspace ingests with -------------------------------------------------------------


def violation_log(stores: Stores) -> ViolationLog:
    """The stores' problems counted at the edge; the pump adds them to the state store after each round
    (they stay counted in memory while the state store is down)."""
    def start() -> ViolationLog:
        counted = ViolationLog()
        stores.pump_hooks.append(counted.flush)
        return counted

    return stores.extension(_VIOLATIONS, ViolationLog, start)


_VIOLATIONS = "ingest.violations"


def plan_for(stores: Stores, workspace_id: str) -> TrackingPlan:
    """The workspace's plan as the edge applies it (kept ``PLAN_TTL`` seconds)."""
    now = time.monotonic()
    cached = stores.tracking_plans.get(workspace_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    with stores.read() as conn:
        declared, invalid = _load(conn, workspace_id)
    plan = TrackingPlan.of(declared, default_currency=stores.settings.default_currency, invalid=invalid,
                           sink=functools.partial(violation_log(stores).add, workspace_id))
    if len(stores.tracking_plans) > 10_000:
        stores.tracking_plans.clear()
    stores.tracking_plans[workspace_id] = (now + PLAN_TTL, plan)
    return plan


def _load(conn: sa.Connection, workspace_id: str) -> tuple[dict[str, dict[str, Any]], InvalidValues]:
    rows = conn.execute(sa.select(event_types.c.event, event_types.c.properties)
                        .where(event_types.c.workspace_id == workspace_id).order_by(event_types.c.event))
    declared = {str(r.event): dict(r.properties) for r in rows}
    invalid = conn.execute(sa.select(workspaces.c.invalid_values).where(workspaces.c.id == workspace_id)
                           ).scalar_one_or_none()
    return declared, invalid if invalid in INVALID_VALUES else "flag"


def _forget(stores: Stores, workspace_id: str) -> None:
    stores.tracking_plans.pop(workspace_id, None)


def declare_event(stores: Stores, workspace_id: str, event: Any, properties: Any) -> dict[str, Any]:
    """Declare (or redeclare: the new declaration replaces the old) the property types of one event."""
    name, declared = parse_declaration(event, properties)
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        dialect.upsert_adding(conn, event_types, [{"workspace_id": workspace_id, "event": name, "properties": declared,
                                                   "created_at": now, "updated_at": now}],
                              keys=("workspace_id", "event"), keep=("created_at",))
    _forget(stores, workspace_id)
    return {"event": name, "properties": declared}


def remove_event(stores: Stores, workspace_id: str, event: str) -> None:
    with stores.write() as conn:
        gone = conn.execute(event_types.delete().where(event_types.c.workspace_id == workspace_id,
                                                       event_types.c.event == event.strip())).rowcount
    if not gone:
        raise NotFound(f"no event type declared for {event!r}", {"field": "event", "reason": "not declared"})
    _forget(stores, workspace_id)


def set_invalid_values(stores: Stores, workspace_id: str, value: str) -> None:
    if value not in INVALID_VALUES:
        raise BadRequest("invalid_values must be 'reject' or 'flag'",
                         {"field": "invalid_values", "reason": f"one of {', '.join(INVALID_VALUES)}"})
    with stores.write() as conn:
        conn.execute(workspaces.update().where(workspaces.c.id == workspace_id).values(invalid_values=value))
    _forget(stores, workspace_id)


def plan_view(stores: Stores, workspace_id: str) -> dict[str, Any]:
    """The plan as the API, the CLI and the dashboard show it."""
    with stores.read() as conn:
        declared, invalid = _load(conn, workspace_id)
    return {
        "invalid_values": invalid,
        "types": list(TYPES),
        "ecommerce": {"events": list(ECOMMERCE_EVENTS), "properties": ECOMMERCE_PROPERTIES,
                      "product_properties": PRODUCT_PROPERTIES},
        "events": [{"event": event, "properties": properties, "ecommerce": event in ECOMMERCE_EVENTS}
                   for event, properties in declared.items()],
    }


def violations(stores: Stores, workspace_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent problems, by event and field (counts since the first one)."""
    v = tracking_violations
    query = (sa.select(v.c.event, v.c.field, v.c.reason, v.c.rejected, v.c.flagged, v.c.first_seen_at,
                       v.c.last_seen_at, v.c.example)
             .where(v.c.workspace_id == workspace_id)
             .order_by(v.c.last_seen_at.desc(), v.c.event, v.c.field, v.c.reason).limit(limit))
    with stores.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
