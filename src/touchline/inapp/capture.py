"""Messages a journey or an event triggers, caught on the event log: an event-log subscriber.

Every event appended (a customer's, through ingestion; Touchline's own, such as the ``Message Sent`` of a
journey's in-app send step) is handed here inside its producer's transaction. An event that an active
message's trigger names (:func:`touchline.inapp.rules.matches_event`) makes that message pending for the
event's customer, in the same commit, for the message's ``expires_hours``: the customer's next page or app
screen shows it. Journeys never import in-app messages: the composition root (:mod:`touchline.platform`)
subscribes this. Everything else costs a set lookup (the workspace's live messages are cached per process).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from touchline.eventlog import LoggedEvent
from touchline.ids import uuid5_hex
from touchline.inapp import rules, service, store

__all__ = ["capture"]

_PENDING = uuid.UUID("2b7d9e40-6c1f-4a53-8e2d-91f0b3c5a7d4")


def capture(conn: Connection, workspace_id: str, events: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Record the messages ``events`` trigger as pending for their customers. Returns 0: nothing is
    queued for the journey runner."""
    current = service.live(conn, workspace_id)
    names = current.listened()
    if not names:
        return 0
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.type != "track" or event.event not in names:
            continue
        properties = event.properties or {}
        # From when it happened (ingestion corrects the sender's clock): an event imported from long ago
        # triggers nothing any more.
        at = min(event.timestamp, received_at)
        for item in current.messages:
            expires = at + dt.timedelta(hours=item.message.expires_hours)
            if expires > received_at and rules.matches_event(item.message, event.event, properties):
                rows.append({
                    "id": uuid5_hex(_PENDING, f"{item.id}\x1f{event.message_id}"), "workspace_id": workspace_id,
                    "profile_id": event.profile_id, "message_id": item.id, "event": event.event or "",
                    "context": dict(properties), "created_at": at, "expires_at": expires})
    store.insert_pending(conn, rows)
    return 0
