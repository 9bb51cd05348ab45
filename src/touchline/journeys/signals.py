"""Capturing the events journeys listen to, inside the ingestion transaction.

Ingestion calls ``capture`` with the events it just staged. Those whose name some live journey listens
to (a trigger, a goal, an exit condition, an awaited event) are queued as signals in the same
transaction, so an event accepted by the API is never lost on its way to the runner and is queued once
(ingestion already drops resent messageIds). Everything else costs one set lookup.

Which names matter is cached per state-store engine for ``TTL`` seconds and dropped at once when this
process publishes, pauses or archives a journey; another process (a second API server) sees a change
within ``TTL``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
from sqlalchemy.engine import Connection, Engine

from touchline.errors import TouchlineError
from touchline.journeys import store
from touchline.journeys.definition import (
    AwaitEvent,
    EventExit,
    EventTrigger,
    GeofenceTrigger,
    JourneyDefinition,
    SegmentEnteredTrigger,
    SegmentExit,
    SegmentExitedTrigger,
    WaitNode,
    parse,
)

__all__ = ["SEGMENT_ENTERED", "SEGMENT_EXITED", "TTL", "capture", "invalidate", "listened_names"]

TTL = 1.0
SEGMENT_ENTERED = "Segment Entered"
SEGMENT_EXITED = "Segment Exited"

log = logging.getLogger("touchline.journeys")
_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Engine, tuple[float, dict[str, frozenset[str]]]] = weakref.WeakKeyDictionary()


def listened_names(definition: JourneyDefinition, *, entering: bool) -> set[str]:
    """Event names a run of ``definition`` reacts to; with ``entering``, also what starts one."""
    names: set[str] = set()
    t = definition.trigger
    if entering:
        if isinstance(t, EventTrigger | GeofenceTrigger) and t.event:  # a geofence's may be None: any event
            names.add(t.event)
        elif isinstance(t, SegmentEnteredTrigger):
            names.add(SEGMENT_ENTERED)
        elif isinstance(t, SegmentExitedTrigger):
            names.add(SEGMENT_EXITED)
    if definition.goal is not None:
        names.add(definition.goal.event)
    for cond in definition.exit_on:
        if isinstance(cond, EventExit):
            names.add(cond.event)
        elif isinstance(cond, SegmentExit):
            names.add(SEGMENT_ENTERED if cond.entered else SEGMENT_EXITED)
    for node in definition.nodes:
        if isinstance(node, WaitNode) and isinstance(node.until_event, AwaitEvent):
            names.add(node.until_event.event)
    return names


def _load(conn: Connection) -> dict[str, frozenset[str]]:
    by_workspace: dict[str, set[str]] = {}
    for row in store.live_journeys(conn):
        if row["status"] == "published":
            by_workspace.setdefault(row["workspace_id"], set()).update(_listened(row, entering=True))
    for row in store.versions_with_active_runs(conn):
        by_workspace.setdefault(row["workspace_id"], set()).update(_listened(row, entering=False))
    return {ws: frozenset(names) for ws, names in by_workspace.items()}


def _listened(row: Mapping[str, Any], *, entering: bool) -> set[str]:
    """``listened_names`` of a stored version; none for one that does not parse (the runner pauses its
    journey and fails its runs), so that it never stops ingestion in any workspace."""
    try:
        return listened_names(parse(row["definition"]), entering=entering)
    except (TouchlineError, pydantic.ValidationError, ValueError, TypeError) as exc:
        log.error("journey %s/%s: a stored version cannot be read, its events are not captured: %s",
                  row["workspace_id"], row.get("id") or row.get("journey_id"), exc)
        return set()


def _names(conn: Connection, workspace_id: str) -> frozenset[str]:
    engine = conn.engine
    now = time.monotonic()
    with _lock:
        cached = _cache.get(engine)
    if cached is None or now - cached[0] > TTL:
        cached = (now, _load(conn))
        with _lock:
            _cache[engine] = cached
    return cached[1].get(workspace_id, frozenset())


def invalidate(engine: Engine) -> None:
    with _lock:
        _cache.pop(engine, None)


def capture(conn: Connection, workspace_id: str, events: Iterable[Any], received_at: Any) -> int:
    """Queue the events (``NormalizedEvent``-like: ``type``, ``event``, ``profile_id``, ``message_id``,
    ``properties``, ``timestamp``) that live journeys listen to. Returns how many were queued."""
    names = _names(conn, workspace_id)
    if not names:
        return 0
    rows: list[dict[str, Any]] = [
        {"workspace_id": workspace_id, "profile_id": e.profile_id, "message_id": e.message_id, "event": e.event,
         "properties": e.properties or {}, "timestamp": e.timestamp, "received_at": received_at}
        for e in events if e.type == "track" and e.event in names
    ]
    store.insert_signals(conn, rows)
    return len(rows)

