"""Journey definitions shared by the journey tests, and a tiny driver that applies signals in order."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from touchline.journeys.definition import JourneyDefinition, parse
from touchline.journeys.engine import Facts, RunState, Signal, Transition, new_run, step

T0 = dt.datetime(2024, 6, 1, 3, 0, tzinfo=dt.UTC)

# Product Added -> wait 1 h or until Order Completed for the same cart -> reminder on the preferred
# channel -> wait 24 h -> bought since entry? -> coupon. The goal (same cart, 3 days) converts the run.
ABANDONED_CART: dict[str, Any] = {
    "id": "abandoned-cart",
    "name": "Abandoned cart",
    "version": 1,
    "trigger": {"type": "event", "event": "Product Added",
                "where": [{"property": "cart_id", "operator": "exists"}]},
    "reentry": {"mode": "every", "days": 7},
    "goal": {"event": "Order Completed", "key": "cart_id", "within": "3d"},
    "exit_on": [{"type": "event", "event": "Unsubscribed"}],
    "holdout_percent": 10,
    "start": "wait_for_order",
    "nodes": [
        {"type": "wait", "id": "wait_for_order",
         "until_event": {"event": "Order Completed", "key": "cart_id", "timeout": "1h"},
         "next": "bought", "timeout_next": "reminder"},
        {"type": "send", "id": "reminder", "channel": "preferred", "template": "cart-reminder",
         "kind": "advertising", "next": "wait_a_day"},
        {"type": "wait", "id": "wait_a_day", "duration": "24h", "next": "has_bought"},
        {"type": "condition", "id": "has_bought",
         "condition": {"type": "event", "event": "Order Completed", "key": "cart_id"},
         "yes": "bought", "no": "coupon"},
        {"type": "send", "id": "coupon", "channel": "preferred", "template": "cart-coupon-10",
         "kind": "advertising", "next": "done"},
        {"type": "exit", "id": "bought"},
        {"type": "exit", "id": "done"},
    ],
}


def doc(**changes: Any) -> dict[str, Any]:
    """A copy of the abandoned-cart document with top-level fields replaced (None removes one)."""
    d = copy.deepcopy(ABANDONED_CART)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def journey(nodes: list[dict[str, Any]], start: str | None = None, *, validate: bool = True,
            **top: Any) -> JourneyDefinition:
    """A definition around ``nodes`` (event trigger ``Product Added``, no holdout, no goal)."""
    d: dict[str, Any] = {"id": "j", "name": "J", "version": 1,
                         "trigger": {"type": "event", "event": "Product Added"},
                         "start": start or nodes[0]["id"], "nodes": nodes, **top}
    return parse(d) if validate else JourneyDefinition.model_validate(d)


def run_for(definition: JourneyDefinition, run_id: str = "run-1", customer_id: str = "c1",
            at: dt.datetime = T0, **trigger: Any) -> RunState:
    return new_run(definition, run_id=run_id, customer_id=customer_id, entered_at=at, trigger=trigger)


def drive(definition: JourneyDefinition, run: RunState, *signals: tuple[Signal, dt.datetime],
          facts: Facts | None = None) -> list[Transition]:
    out = []
    for signal, now in signals:
        t = step(definition, run, signal, now, facts)
        out.append(t)
        run = t.run
    return out
