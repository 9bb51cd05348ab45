"""Dashboard forms as plain data: the segment rule builder (form rows <-> a segment definition) and the
funnel step list. Pure functions, no I/O; the segment service validates what comes out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from touchline.channels import CONSENT_CHANNELS

KINDS = ("trait", "event", "no_event", "computed", "reachable", "segment")
TRAIT_OPERATORS = ("=", "!=", "contains", "in", ">", "<", "exists", "within_last_days", "more_than_days_ago")
COMPUTED_OPERATORS = ("=", "!=", ">", ">=", "<", "<=")
COMPUTED_FIELDS = ("lifetime_value", "orders_count", "last_channel", "preferred_channel")
COUNT_OPERATORS = ("at_least", "at_most", "exactly")
REACH_CHANNELS = CONSENT_CHANNELS  # "reachable on", and the consents a customer's page edits
_NUMERIC_TRAIT_OPERATORS = {">", "<", "within_last_days", "more_than_days_ago"}
_NUMERIC_FIELDS = {"lifetime_value", "orders_count"}
_ROW_KEY = re.compile(r"^c-(\d{1,3})-kind$")
MAX_ROWS = 50


@dataclass
class Row:
    """One condition of the builder, as the form shows it (every value a string)."""

    kind: str = "trait"
    trait: str = ""
    operator: str = "="
    value: str = ""
    event: str = ""
    count_op: str = "at_least"
    count: str = "1"
    within_days: str = ""
    field: str = "orders_count"
    channel: str = "email"
    segment: str = ""

    def is_blank(self) -> bool:
        return {"trait": not self.trait, "event": not self.event, "no_event": not self.event,
                "computed": not self.value, "reachable": False, "segment": not self.segment}.get(self.kind, True)


@dataclass
class Builder:
    match: str = "and"  # "and" | "or"
    rows: list[Row] = field(default_factory=list)


def builder_from_form(form: Mapping[str, Any]) -> Builder:
    """Rows named ``c-<n>-<field>``, in order of n; blank rows are dropped."""
    indices = sorted({int(m.group(1)) for key in form if (m := _ROW_KEY.match(key))})[:MAX_ROWS]
    rows = []
    for i in indices:
        values = {name: str(form.get(f"c-{i}-{name}", "")).strip() for name in Row.__dataclass_fields__}
        row = Row(**{k: v for k, v in values.items() if v != ""})
        if row.kind in KINDS and not row.is_blank():
            rows.append(row)
    match = str(form.get("match", "and"))
    return Builder(match if match in ("and", "or") else "and", rows)


def _scalar(text: str) -> Any:
    """A typed value: a number or true/false when it reads as one, else the text."""
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _number(text: str) -> Any:
    value = _scalar(text)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


def _days(text: str) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isdigit() else text  # a bad value goes on to validation, which names it


def row_to_node(row: Row) -> dict[str, Any]:
    if row.kind == "trait":
        node: dict[str, Any] = {"type": "trait", "trait": row.trait, "operator": row.operator}
        if row.operator == "in":
            node["value"] = [_scalar(v.strip()) for v in row.value.split(",") if v.strip()]
        elif row.operator in _NUMERIC_TRAIT_OPERATORS:
            node["value"] = _number(row.value)
        elif row.operator != "exists":
            node["value"] = _scalar(row.value)
        return node
    if row.kind in ("event", "no_event"):
        node = {"type": "event", "event": row.event}
        if row.kind == "event":
            node["count"] = {"operator": row.count_op, "value": _number(row.count or "1")}
        if (days := _days(row.within_days)) is not None:
            node["within_days"] = days
        return node if row.kind == "event" else {"type": "not", "child": node}
    if row.kind == "computed":
        value = _number(row.value) if row.field in _NUMERIC_FIELDS else row.value
        return {"type": "computed", "field": row.field, "operator": row.operator, "value": value}
    if row.kind == "reachable":
        return {"type": "reachable", "channel": row.channel}
    return {"type": "segment", "id": row.segment}


def definition_of(builder: Builder) -> dict[str, Any] | None:
    """The segment definition the builder describes; None when it has no condition."""
    nodes = [row_to_node(r) for r in builder.rows]
    if not nodes:
        return None
    if len(nodes) == 1 and builder.match == "and":
        return nodes[0]
    return {"type": builder.match, "children": nodes}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def node_to_row(node: Mapping[str, Any]) -> Row | None:
    """The builder row for a definition node, or None when the builder cannot show it."""
    kind = node.get("type")
    if kind == "trait":
        return Row("trait", trait=node["trait"], operator=node["operator"], value=_text(node.get("value")))
    if kind == "event" and set(node) <= {"type", "event", "count", "within_days"} and node.get("event"):
        count = node.get("count") or {}
        return Row("event", event=node["event"], count_op=count.get("operator", "at_least"),
                   count=_text(count.get("value", 1)), within_days=_text(node.get("within_days")))
    if kind == "not":
        child = node.get("child") or {}
        if child.get("type") == "event" and set(child) <= {"type", "event", "within_days"} and child.get("event"):
            return Row("no_event", event=child["event"], within_days=_text(child.get("within_days")))
        return None
    if kind == "computed":
        return Row("computed", field=node["field"], operator=node["operator"], value=_text(node.get("value")))
    if kind == "reachable":
        return Row("reachable", channel=node["channel"])
    if kind == "segment":
        return Row("segment", segment=node["id"])
    return None


def builder_of(definition: Mapping[str, Any]) -> Builder | None:
    """The builder showing a definition (one level of and/or over simple conditions), or None (also for a
    malformed one: validation reports that)."""
    try:
        return _builder_of(definition)
    except (KeyError, TypeError, AttributeError):
        return None


def _builder_of(definition: Mapping[str, Any]) -> Builder | None:
    if definition.get("type") in ("and", "or"):
        rows = [node_to_row(child) for child in definition.get("children", [])]
        if all(r is not None for r in rows):
            return Builder(str(definition["type"]), [r for r in rows if r is not None])
        return None
    row = node_to_row(definition)
    return Builder("and", [row]) if row is not None else None


def funnel_steps(values: list[str], limit: int = 20) -> list[str]:
    """Non-empty step names, in order, at most ``limit``."""
    return [v.strip() for v in values if v.strip()][:limit]
