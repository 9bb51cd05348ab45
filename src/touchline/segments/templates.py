"""The shop's everyday segments, as definitions a marketer can start from (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from touchline.segments.ast import Node
from touchline.segments.validate import parse

__all__ = ["TEMPLATES", "template"]

CART_ABANDONERS: dict[str, Any] = {
    # Added something to a cart in the last 7 days and did not order that cart within 24 hours.
    "type": "sequence_absence",
    "event": "Product Added",
    "absent_event": "Order Completed",
    "within_hours": 24,
    "key": "cart_id",
    "within_days": 7,
}

HIGH_VALUE_LOYAL: dict[str, Any] = {
    "type": "rfm",
    "recency": {"operator": ">=", "value": 4},
    "frequency": {"operator": ">=", "value": 4},
    "monetary": {"operator": ">=", "value": 4},
}

AT_RISK: dict[str, Any] = {
    # Ordered at least twice, but not in the last 60 days.
    "type": "and",
    "children": [
        {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 2}},
        {"type": "not", "child": {"type": "event", "event": "Order Completed", "within_days": 60}},
    ],
}

NEW_VISITORS: dict[str, Any] = {
    # First seen (any event) within 7 days, and never ordered.
    "type": "and",
    "children": [
        {"type": "event", "first_time": {"operator": "within_last_days", "value": 7}},
        {"type": "not", "child": {"type": "event", "event": "Order Completed"}},
    ],
}


def _prefers(channel: str) -> dict[str, Any]:
    return {"type": "computed", "field": "preferred_channel", "operator": "=", "value": channel}


TEMPLATES: dict[str, dict[str, Any]] = {
    "cart_abandoners": CART_ABANDONERS,
    "high_value_loyal": HIGH_VALUE_LOYAL,
    "at_risk": AT_RISK,
    "new_visitors": NEW_VISITORS,
    "prefers_messenger": _prefers("messenger"),
    "prefers_email": _prefers("email"),
    "prefers_store": _prefers("store"),
}


def template(name: str) -> Node:
    """The named template as a validated AST (KeyError for an unknown name)."""
    return parse(TEMPLATES[name])
