"""The conversation status machine. Pure: no I/O, ``now`` is an argument.

Statuses:

- ``open``: the inbox's work: the customer waits for an answer;
- ``pending``: waiting on the customer (an agent asked something); out of the open queue;
- ``snoozed``: out of sight until ``snoozed_until``; when that passes it is ``open`` again;
- ``resolved``: done.

Transitions an agent may ask for (anything else is refused with :class:`BadTransition`, a 409 at the
API; asking for the status a conversation already has changes nothing, so a retried request is safe,
except a snooze, which moves its time):

=========  =====================================
from       to
=========  =====================================
open       pending, snoozed, resolved
pending    open, snoozed, resolved
snoozed    open, pending, snoozed (a new time), resolved
resolved   open (reopen)
=========  =====================================

What the customer does: a message to a ``pending`` or ``snoozed`` conversation makes it ``open``; a
message to a ``resolved`` one reopens it only within the reopening window (see
:mod:`touchline.conversations.placement`), otherwise it starts a new conversation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType

from touchline.conversations.types import Status

__all__ = [
    "ACTIVE", "ALLOWED", "DELIVERY_STATUSES", "MAX_SNOOZE", "REOPENED_EVENT", "RESOLVED_EVENT", "BadTransition",
    "State", "Transition", "advance_delivery", "effective", "on_customer_message", "transition",
]

ACTIVE: tuple[Status, ...] = ("open", "pending", "snoozed")
ALLOWED = MappingProxyType({
    "open": frozenset({"pending", "snoozed", "resolved"}),
    "pending": frozenset({"open", "snoozed", "resolved"}),
    "snoozed": frozenset({"open", "pending", "snoozed", "resolved"}),
    "resolved": frozenset({"open"}),
})
MAX_SNOOZE = dt.timedelta(days=365)

RESOLVED_EVENT = "Conversation Resolved"
REOPENED_EVENT = "Conversation Reopened"


@dataclass(frozen=True)
class State:
    status: Status
    snoozed_until: dt.datetime | None = None
    resolved_at: dt.datetime | None = None


@dataclass(frozen=True)
class Transition:
    before: State
    after: State
    event: str | None = None  # the event the change is recorded as ("Conversation Resolved", ...)

    @property
    def changed(self) -> bool:
        return self.before != self.after


class BadTransition(ValueError):
    """A change the machine refuses. ``field`` names what to fix: ``status`` (not from this status: a
    conflict with the conversation's state) or ``snoozed_until`` (an invalid time)."""

    def __init__(self, reason: str, field: str = "status") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def effective(state: State, now: dt.datetime) -> State:
    """The state as of ``now``: a snooze whose time has come is open."""
    if state.status == "snoozed" and (state.snoozed_until is None or state.snoozed_until <= now):
        return State("open")
    return state


def transition(state: State, wanted: Status, now: dt.datetime, *, snoozed_until: dt.datetime | None = None
               ) -> Transition:
    """The change an agent asks for: to ``wanted`` (with ``snoozed_until`` for a snooze)."""
    current = effective(state, now)
    if wanted == "snoozed":
        if snoozed_until is None:
            raise BadTransition("a snooze needs snoozed_until", "snoozed_until")
        if snoozed_until <= now:
            raise BadTransition("snoozed_until must be in the future", "snoozed_until")
        if snoozed_until - now > MAX_SNOOZE:
            raise BadTransition(f"snoozed_until must be within {MAX_SNOOZE.days} days", "snoozed_until")
    elif snoozed_until is not None:
        raise BadTransition("snoozed_until is only for status 'snoozed'", "snoozed_until")
    if wanted == current.status and wanted != "snoozed":
        return Transition(state, current)  # already there: a retried request changes nothing
    if wanted not in ALLOWED[current.status]:
        raise BadTransition(f"a {current.status} conversation cannot become {wanted}"
                            + ("; reopen it first" if current.status == "resolved" else ""))
    if wanted == "resolved":
        return Transition(state, State("resolved", None, now), RESOLVED_EVENT)
    if wanted == "snoozed":
        return Transition(state, State("snoozed", snoozed_until, None))
    event = REOPENED_EVENT if current.status == "resolved" else None
    return Transition(state, State(wanted, None, None), event)


def on_customer_message(state: State, now: dt.datetime) -> Transition:
    """What a customer's message does to the conversation it joins: open again (a resolved conversation
    is reopened: the caller only joins one within the reopening window)."""
    current = effective(state, now)
    if current.status == "open":
        return Transition(state, current)
    event = REOPENED_EVENT if current.status == "resolved" else None
    return Transition(state, State("open"), event)


# A reply's delivery, as receipts come back (in any order: a provider's "delivered" may overtake the
# outbox's "sent"): it only moves forward, and a failure after delivery is not believed.
DELIVERY_ORDER = MappingProxyType({"queued": 0, "sent": 1, "delivered": 2, "read": 3})
DELIVERY_STATUSES = ("queued", "sent", "delivered", "read", "failed")


def advance_delivery(current: str | None, reported: str) -> str | None:
    """The delivery status after ``reported`` arrives, or None when it changes nothing."""
    if reported not in DELIVERY_STATUSES or current == reported:
        return None
    if current == "failed":
        return reported if reported in ("delivered", "read") else None  # delivered after all
    if reported == "failed":
        return "failed" if current in (None, "queued", "sent") else None
    if DELIVERY_ORDER[reported] > DELIVERY_ORDER.get(current or "queued", -1):
        return reported
    return None


def bot_may_answer(status: str, assignee_id: str | None,
                   history: list[tuple[str, str, dt.datetime]], *, now: dt.datetime, fresh: dt.timedelta) -> bool:
    """Whether the shop assistant speaks now, from the conversation's status, assignee and messages
    (``(direction, author kind, created at)``, oldest first, notes left out): only in an open, unassigned
    conversation where no person has replied, to a customer's message that is the last one and recent."""
    if status != "open" or assignee_id is not None or not history:
        return False
    if any(direction == "outbound" and kind == "agent" for direction, kind, _at in history):
        return False
    direction, kind, at = history[-1]
    return direction == "inbound" and kind == "customer" and now - at <= fresh
