"""The event log, the bottom of the one-way flow: producers append to it, consumers subscribe to it.

Every event goes through the log's staging table (``event_staging``; the pump moves it to the event
store). Ingestion appends what customers did; Touchline's own domains append what they observed about a
customer they know (:class:`SystemEvent`: a message sent, a segment entered), through
:func:`append_system_events`. Either way :func:`publish` then hands the new events to every subscriber,
inside the producer's transaction: a consumer (the journeys' signal capture, later conversations and
loyalty) queues what it needs in the same commit, so an accepted event is never lost on its way to
it, and a producer never imports its consumers. Subscribers are wired once at start-up by
:mod:`touchline.platform`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import orjson
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import event_staging, message_ids, profiles
from touchline.store.types import RawJSON

__all__ = [
    "LoggedEvent", "Subscriber", "SystemEvent", "append", "append_system_events", "claim_message_ids",
    "existing_profile_ids", "publish", "subscribe", "subscribers",
]


class LoggedEvent(Protocol):
    """What a subscriber reads of an event just appended (ingestion's ``NormalizedEvent``, a
    :class:`SystemEvent`)."""

    @property
    def type(self) -> str: ...
    @property
    def event(self) -> str | None: ...
    @property
    def profile_id(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def properties(self) -> dict[str, Any]: ...
    @property
    def timestamp(self) -> dt.datetime: ...


# (connection in the producer's transaction, workspace, the new events, when they were received) ->
# how many the subscriber queued.
Subscriber = Callable[[Connection, str, Sequence[LoggedEvent], dt.datetime], int]

_lock = threading.Lock()
_subscribers: dict[str, Subscriber] = {}


def subscribe(name: str, subscriber: Subscriber) -> None:
    """Hand every event appended from now on to ``subscriber`` (idempotent by ``name``)."""
    with _lock:
        _subscribers[name] = subscriber


def subscribers() -> dict[str, Subscriber]:
    with _lock:
        return dict(_subscribers)


class NotWired(RuntimeError):
    """An event was appended before anything subscribed: its consumers would never see it."""


def publish(conn: Connection, workspace_id: str, appended: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Hand events just appended (in ``conn``'s transaction) to every subscriber; returns how many they
    queued in all. Refuses to run unwired, which would drop the events on the consumers' floor."""
    if not appended:
        return 0
    with _lock:
        wired = list(_subscribers.values())
    if not wired:
        raise NotWired("the event log has no subscribers; call touchline.platform.wire() at start-up")
    return sum(subscriber(conn, workspace_id, appended, received_at) for subscriber in wired)


def append(conn: Connection, workspace_id: str, rows: list[dict[str, Any]], appended: Sequence[LoggedEvent],
           received_at: dt.datetime) -> int:
    """Stage the events' rows (``event_staging``'s columns, messageIds already claimed) and publish them;
    returns how many the subscribers queued."""
    dialect.bulk_insert(conn, event_staging, rows)
    return publish(conn, workspace_id, appended, received_at)


def claim_message_ids(conn: Connection, workspace_id: str, ids: Sequence[str], received_at: dt.datetime) -> set[str]:
    """Record messageIds and return those not seen before (inserted now): an event is logged once."""
    unique_ids = list(dict.fromkeys(ids))
    return dialect.insert_new_keys(conn, message_ids, "message_id", unique_ids, workspace_id=workspace_id,
                                   received_at=received_at)


def existing_profile_ids(conn: Connection, profile_ids: Iterable[str]) -> set[str]:
    """Those of ``profile_ids`` that are profiles (merged ones included): an erased customer's are not,
    and nothing may be written about them any more. By the primary key alone (ids are unique across
    workspaces), which answers from the key's index: this guards every system event and membership."""
    wanted = list(set(profile_ids))
    if not wanted:
        return set()
    return {row[0] for row in dialect.select_by_keys(conn, profiles, ["id"], "id", wanted)}


@dataclass(frozen=True)
class SystemEvent:
    """An event Touchline records itself about a customer it already knows (``Segment Entered``, ...)."""

    profile_id: str
    event: str
    properties: dict[str, Any]
    timestamp: dt.datetime
    message_id: str  # deterministic, so that recording it twice stores it once
    type: ClassVar[str] = "track"


_SYSTEM_CONTEXT = {"library": {"name": "touchline"}, "channel": "server"}


def append_system_events(conn: Connection, workspace_id: str, items: Sequence[SystemEvent],
                         now: dt.datetime) -> int:
    """Append system events to the log, idempotently by messageId, and publish the new ones. The
    caller owns the transaction. Returns how many were new.

    Staging rows are built here directly, not through ingestion's ``NormalizedEvent``: a first
    evaluation of live segments records tens of thousands of these at once, and the per-event objects
    cost more than the inserts."""
    if not items:
        return 0
    # Nothing is written about a customer erased meanwhile (a message sent as they were erased, say).
    # Checked in the caller's transaction: on SQLite, which runs one writer at a time, an erase commits
    # either before (the profile is gone here) or after (and deletes what this staged); on PostgreSQL
    # what an overlapping transaction writes is deleted again by the purge (touchline.customers).
    alive = existing_profile_ids(conn, {item.profile_id for item in items})
    items = [item for item in items if item.profile_id in alive]
    if not items:
        return 0
    fresh = claim_message_ids(conn, workspace_id, [item.message_id for item in items], now)
    new = [item for item in items if item.message_id in fresh]
    stamps: dict[dt.datetime, str] = {}  # a round stamps all its events alike
    rows = []
    for item in new:
        stamp = stamps.get(item.timestamp)
        if stamp is None:
            stamp = stamps[item.timestamp] = item.timestamp.isoformat()
        payload = {"type": "track", "event": item.event, "messageId": item.message_id, "timestamp": stamp,
                   "properties": item.properties, "context": _SYSTEM_CONTEXT}
        rows.append({
            "workspace_id": workspace_id, "message_id": item.message_id, "type": "track", "event": item.event,
            "profile_id": item.profile_id, "anonymous_id": None, "user_id": None, "timestamp": item.timestamp,
            "original_timestamp": item.timestamp, "sent_at": None, "received_at": now, "channel": "server",
            "device_type": "server", "device_id": None, "payload": RawJSON(orjson.dumps(payload).decode()),
        })
    append(conn, workspace_id, rows, new, now)
    return len(new)
