"""The segment AST evaluated in Python for one customer: live membership, no I/O.

Same semantics as ``touchline.segments.compile`` (a property test holds them equal):
- only events at or before ``now`` count; a window of N days is ``now - N days <= t <= now``;
- values are compared with their JSON kind: ``1`` never equals ``"1"`` or ``true``; ``!=`` is exactly
  ``not =`` (so it holds when the value is missing); any other operator on a missing value is false;
- a date trait is an ISO date (midnight UTC) or date-time with an offset; anything else is no date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from touchline.segments.ast import (
    ORDER_EVENT,
    REVENUE_PROPERTY,
    And,
    Comparison,
    Computed,
    EventCondition,
    EventTime,
    Node,
    Not,
    Or,
    PropertyFilter,
    Reachable,
    Rfm,
    SegmentRef,
    SequenceAbsence,
    Trait,
)
from touchline.segments.compile import ADDRESS_TRAITS
from touchline.segments.validate import SegmentDefinitionError, SegmentLookup, lookup, parse
from touchline.store.dialect import ISO_DATE_PATTERN, ISO_DATETIME_PATTERN

__all__ = ["Context", "CustomerState", "matches", "matching_customers", "quintile"]

_MISSING = object()


@dataclass(frozen=True)
class CustomerState:
    """One (canonical) customer: the survivor's traits and consents, and every event of every profile
    merged into it, as dicts with ``event``, ``timestamp`` (aware datetime), ``channel``, ``properties``."""

    customer_id: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    consents: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Rfm3:
    recency: dt.datetime
    frequency: int
    monetary: float


@dataclass(frozen=True)
class Context:
    """What some nodes need about the whole workspace: the RFM quintile cut-offs of every buyer (for
    each measure, the four values ``ordered[ceil(k * n / 5) - 1]``, k = 1..4, of the n buyers' sorted
    measures; empty without buyers). Build it once per workspace and ``now``: ``Context.build`` from
    customers in memory, or ``Context.from_cutoffs`` with what the event store computed
    (``compile.rfm_cutoffs``)."""

    recency: tuple[dt.datetime, ...] = ()
    frequency: tuple[int, ...] = ()
    monetary: tuple[float, ...] = ()

    @classmethod
    def build(cls, customers: Iterable[CustomerState], now: dt.datetime) -> Context:
        measures = [m for c in customers if (m := rfm_measures(c, now)) is not None]
        return cls(
            recency=cutoffs(sorted(m.recency for m in measures)),
            frequency=cutoffs(sorted(m.frequency for m in measures)),
            monetary=cutoffs(sorted(m.monetary for m in measures)),
        )

    @classmethod
    def from_cutoffs(cls, row: Mapping[str, Any]) -> Context:
        """From ``{recency_1: ..., ..., monetary_4: ...}`` (``compile.rfm_cutoffs``; NULLs without buyers)."""
        def four(measure: str) -> tuple[Any, ...]:
            values = tuple(row[f"{measure}_{k}"] for k in range(1, 5))
            return () if values[0] is None else values

        return cls(recency=four("recency"), frequency=four("frequency"), monetary=four("monetary"))


def cutoffs(ordered: Sequence[Any]) -> tuple[Any, ...]:
    """The quintile cut-offs of sorted values: ``ordered[ceil(k * n / 5) - 1]`` for k = 1..4."""
    n = len(ordered)
    return tuple(ordered[(k * n + 4) // 5 - 1] for k in range(1, 5)) if n else ()


def quintile(cuts: Sequence[Any], value: Any) -> int:
    """1..5: one plus how many of the cuts 1/5..4/5 the share of buyers strictly below ``value``
    reaches; ties score alike, as in the SQL. With n buyers, at least ceil(k * n / 5) of them are
    below ``value`` exactly when the ceil(k * n / 5)-th smallest is, so counting the cut-offs below
    ``value`` is the same integer test."""
    return 1 + sum(1 for c in cuts if c < value)


def rfm_measures(customer: CustomerState, now: dt.datetime) -> Rfm3 | None:
    orders = [e for e in customer.events if e.get("event") == ORDER_EVENT and e["timestamp"] <= now]
    if not orders:
        return None
    return Rfm3(max(e["timestamp"] for e in orders), len(orders), _revenue(orders))


def _revenue(orders: Iterable[Mapping[str, Any]]) -> float:
    return float(sum(n for e in orders if (n := _number(_get(e.get("properties"), REVENUE_PROPERTY))) is not None))


def matches(
    node: Node,
    customer: CustomerState,
    now: dt.datetime,
    segments: SegmentLookup | None = None,
    *,
    context: Context | None = None,
) -> bool:
    """Whether ``customer`` is in the segment as of ``now``. ``segments`` resolves ``segment`` nodes;
    ``context`` is needed by ``rfm`` nodes."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return _Evaluator(customer, now.astimezone(dt.UTC), segments, context).test(node, ())


def matching_customers(
    nodes: Sequence[Node],
    customers: Iterable[CustomerState],
    now: dt.datetime,
    segments: SegmentLookup | None = None,
    *,
    context: Context | None = None,
) -> list[set[str]]:
    """For each of ``nodes``, the ids of ``customers`` in that segment as of ``now``: ``matches`` for
    every pair, with each customer's history sorted out once for all the segments."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(dt.UTC)
    found: list[set[str]] = [set() for _ in nodes]
    for customer in customers:
        evaluator = _Evaluator(customer, now, segments, context)
        for i, node in enumerate(nodes):
            if evaluator.test(node, ()):
                found[i].add(customer.customer_id)
    return found


# --- JSON values -----------------------------------------------------------------------------------------


def _get(doc: Any, key: str) -> Any:
    return doc.get(key, _MISSING) if isinstance(doc, Mapping) else _MISSING


def _kind(v: Any) -> str | None:
    if v is _MISSING:
        return None
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, str):
        return "string"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, list | tuple):
        return "array"
    return "object"


def _number(v: Any) -> float | int | None:
    return v if _kind(v) == "number" else None


def _same(v: Any, value: Any) -> bool:
    """JSON equality of a stored value with a rule's scalar."""
    kind = _kind(v)
    if kind is None or kind != ("boolean" if isinstance(value, bool) else "string" if isinstance(value, str)
                                else "number"):
        return False
    return bool(v == value)


_ISO_DATETIME = re.compile(ISO_DATETIME_PATTERN)
_ISO_DATE = re.compile(ISO_DATE_PATTERN)


def _timestamp(v: Any) -> dt.datetime | None:
    if not isinstance(v, str):
        return None
    try:
        if _ISO_DATETIME.fullmatch(v):
            return dt.datetime.fromisoformat(v).astimezone(dt.UTC)
        if _ISO_DATE.fullmatch(v):
            return dt.datetime.fromisoformat(v + "T00:00:00+00:00")
    except ValueError:
        return None
    return None


def value_condition(v: Any, operator: str, value: Any, now: dt.datetime) -> bool:
    kind = _kind(v)
    if operator == "=":
        return _same(v, value)
    if operator == "!=":
        return not _same(v, value)
    if operator == "in":
        return any(_same(v, x) for x in value)
    if operator == "contains":
        if kind == "string" and isinstance(value, str) and value in v:
            return True
        return kind == "array" and any(_same(x, value) for x in v)
    if operator in (">", "<", "between"):
        n = _number(v)
        if n is None:
            return False
        if operator == ">":
            return bool(n > value)
        if operator == "<":
            return bool(n < value)
        return bool(value[0] <= n <= value[1])
    if operator == "exists":
        return kind not in (None, "null")
    ts = _timestamp(v)
    if ts is None:
        return False
    cutoff = now - dt.timedelta(days=value)
    if operator == "within_last_days":
        return cutoff <= ts <= now
    if operator == "more_than_days_ago":
        return ts < cutoff
    raise ValueError(f"unknown operator {operator!r}")  # pragma: no cover


def compare(x: Any, cmp: Comparison | Any) -> bool:
    """A computed value (None: there is none) against ``{operator, value}``."""
    operator, value = cmp.operator, cmp.value
    if operator == "!=":
        return not (x is not None and x == value)
    if x is None:
        return False
    if operator == "=":
        return bool(x == value)
    if operator == "in":
        return x in value
    if operator == "between":
        return bool(value[0] <= x <= value[1])
    return bool({">": x > value, ">=": x >= value, "<": x < value, "<=": x <= value}[operator])


# --- nodes ---------------------------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, customer: CustomerState, now: dt.datetime, segments: SegmentLookup | None,
                 context: Context | None) -> None:
        self.customer = customer
        self.now = now
        self.segments = segments
        self.context = context
        self.history = [e for e in customer.events if e["timestamp"] <= now]
        self._named: dict[str, list[Mapping[str, Any]]] | None = None
        self._rfm: Any = _MISSING  # this customer's RFM measures, once computed

    def named(self, name: str) -> list[Mapping[str, Any]]:
        """The history's events called ``name`` (indexed on first use)."""
        if self._named is None:
            self._named = {}
            for e in self.history:
                self._named.setdefault(e.get("event"), []).append(e)  # type: ignore[arg-type]
        return self._named.get(name, [])

    def test(self, node: Node, stack: tuple[str, ...]) -> bool:
        c = self.customer
        if isinstance(node, And):
            return all(self.test(child, stack) for child in node.children)
        if isinstance(node, Or):
            return any(self.test(child, stack) for child in node.children)
        if isinstance(node, Not):
            return not self.test(node.child, stack)
        if isinstance(node, Trait):
            value: Any = c.traits
            for key in node.trait.split("."):  # "address.city": a key inside an object trait
                value = _get(value, key)
            return value_condition(value, node.operator, node.value, self.now)
        if isinstance(node, EventCondition):
            return self.event(node)
        if isinstance(node, SequenceAbsence):
            return self.sequence_absence(node)
        if isinstance(node, Rfm):
            return self.rfm(node)
        if isinstance(node, Computed):
            return self.computed(node)
        if isinstance(node, Reachable):
            return self.reachable(node)
        if isinstance(node, SegmentRef):
            if node.id in stack:
                raise SegmentDefinitionError("segments refer to each other in a cycle",
                                             [{"field": "/id", "reason": " -> ".join([*stack, node.id])}])
            doc = lookup(self.segments, node.id) if self.segments is not None else None
            if doc is None:
                raise SegmentDefinitionError(f"unknown segment {node.id!r}", [{"field": "/id", "reason": "unknown"}])
            return self.test(parse(doc), (*stack, node.id))
        raise TypeError(f"not a segment node: {node!r}")  # pragma: no cover

    def matching(self, name: str | None, where: Sequence[PropertyFilter], within_days: int | None
                 ) -> list[Mapping[str, Any]]:
        since = None if within_days is None else self.now - dt.timedelta(days=within_days)
        return [
            e for e in (self.history if name is None else self.named(name))
            if (since is None or e["timestamp"] >= since)
            and all(value_condition(_get(e.get("properties"), f.property), f.operator, f.value, self.now)
                    for f in where)
        ]

    def event(self, node: EventCondition) -> bool:
        found = self.matching(node.event, node.where, node.within_days)
        measure = node.measure
        if isinstance(measure, EventTime):
            if not found:
                return False
            times = [e["timestamp"] for e in found]
            when = min(times) if node.first_time is not None else max(times)
            cutoff = self.now - dt.timedelta(days=measure.value)
            return when >= cutoff if measure.operator == "within_last_days" else when < cutoff
        if node.aggregate is not None:
            a = node.aggregate
            numbers = [n for e in found if (n := _number(_get(e.get("properties"), a.property))) is not None]
            value: float | int | None
            if a.function == "sum":
                value = float(sum(numbers))
            elif a.function == "count":
                value = len(numbers)
            else:
                value = float(sum(numbers)) / len(numbers) if numbers else None
            return compare(value, a)
        n = len(found)
        return {"at_least": n >= measure.value, "at_most": n <= measure.value, "exactly": n == measure.value}[
            measure.operator]

    def sequence_absence(self, node: SequenceAbsence) -> bool:
        span = dt.timedelta(hours=node.within_hours)
        latest = self.now - span
        since = None if node.within_days is None else self.now - dt.timedelta(days=node.within_days)
        for a in self.named(node.event):
            if a["timestamp"] > latest or (since and a["timestamp"] < since):
                continue
            key = _get(a.get("properties"), node.key) if node.key else None
            if node.key and not isinstance(key, str):
                continue
            followed = any(
                a["timestamp"] <= b["timestamp"] <= a["timestamp"] + span
                and (not node.key or _get(b.get("properties"), node.key) == key)
                for b in self.named(node.absent_event)
            )
            if not followed:
                return True
        return False

    def rfm(self, node: Rfm) -> bool:
        if self.context is None:
            raise ValueError("an rfm condition needs a Context (Context.build over the workspace's customers)")
        if self._rfm is _MISSING:
            self._rfm = rfm_measures(self.customer, self.now)
        m = self._rfm
        if m is None:
            return False
        scores = {"recency": quintile(self.context.recency, m.recency),
                  "frequency": quintile(self.context.frequency, m.frequency),
                  "monetary": quintile(self.context.monetary, m.monetary)}
        return all(compare(scores[name], getattr(node, name)) for name in scores if getattr(node, name) is not None)

    def computed(self, node: Computed) -> bool:
        orders = self.named(ORDER_EVENT)
        if node.field == "lifetime_value":
            return compare(_revenue(orders), node)
        if node.field == "orders_count":
            return compare(len(orders), node)
        channel: str | None = None
        if self.history and node.field == "last_channel":
            newest = max(e["timestamp"] for e in self.history)
            channel = min(e["channel"] for e in self.history if e["timestamp"] == newest)
        elif self.history:
            counts = Counter(e["channel"] for e in self.history)
            channel = min(counts, key=lambda ch: (-counts[ch], ch))
        return compare(channel, node)

    def reachable(self, node: Reachable) -> bool:
        consent = _get(self.customer.consents, node.channel)
        if _get(consent, "status") != "granted":
            return False
        names = ADDRESS_TRAITS[node.channel]
        return not names or any(
            isinstance(v := _get(self.customer.traits, name), str) and v != "" for name in names
        )
