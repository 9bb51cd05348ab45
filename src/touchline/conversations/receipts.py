"""Replies' delivery, read back from the event log: an event-log subscriber.

The outbox records what became of each message it sent as receipts on the customer's profile
(``Message Sent``, ``Message Delivered``, ``Message Failed``, ``Message Suppressed``), in the transaction
that records the outcome. Those of a conversation's reply (``template`` is
:data:`touchline.conversations.service.REPLY_SOURCE`) update the reply's delivery status and the
provider's id for it, in that same transaction, and the change goes to the live feed. Messaging never
imports conversations: the composition root (:mod:`touchline.platform`) subscribes this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from touchline.conversations import store
from touchline.conversations.service import REPLY_SOURCE, apply_delivery
from touchline.eventlog import LoggedEvent

__all__ = ["RECEIPTS", "capture"]

RECEIPTS = {"Message Sent": "sent", "Message Delivered": "delivered", "Message Failed": "failed",
            "Message Suppressed": "failed"}


def capture(conn: Connection, workspace_id: str, events: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Apply the receipts of replies among ``events``; everything else costs a dictionary lookup.
    Returns 0: nothing is queued for the journey runner."""
    wanted = [e for e in events if e.event in RECEIPTS and e.properties.get("template") == REPLY_SOURCE]
    if not wanted:
        return 0
    by_outbox = {m["outbox_id"]: m for m in store.messages_by_outbox_ids(
        conn, list(dict.fromkeys(str(e.properties.get("message_id")) for e in wanted)))}
    for e in wanted:
        message = by_outbox.get(str(e.properties.get("message_id")))
        if message is None or message["workspace_id"] != workspace_id:
            continue
        reason = e.properties.get("reason")
        provider_id = e.properties.get("provider_id")
        changed = apply_delivery(conn, message, RECEIPTS[e.event or ""], str(reason) if reason else None,
                                 str(provider_id) if provider_id else None, e.timestamp)
        if changed:
            by_outbox[message["outbox_id"]] = {**message, **changed}
    return 0
