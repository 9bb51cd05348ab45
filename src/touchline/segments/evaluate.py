"""The segment AST evaluated in Python for one customer: live membership, no I/O.

Same semantics as ``touchline.segments.compile`` (a property test holds them equal):
- only events at or before ``now`` count; a window of N days is ``now - N days <= t <= now``;
- values are compared with their JSON kind: ``1`` never equals ``"1"`` or ``true``; ``!=`` is exactly
  ``not =`` (so it holds when the value is missing); any other operator on a missing value is false;
- a date trait is an ISO date (midnight UTC) or date-time with an offset; anything else is no date;
- a number is a JSON number within ±(2^53 - 1) (``touchline.values.MAX_NUMBER``); sums and averages of a property,
  lifetime value and RFM's monetary read an *amount*: such a number, or a string holding one in JSON's
  spelling (``"12000"``, as events stored before the tracking plan typed them may hold). Anything else
  (``"59,000원"``, ``true``, ``1e20``) counts as no value, never as an error.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from touchline.channels import ADDRESS_TRAITS
from touchline.segments.ast import (
    ORDER_EVENT,
    REVENUE_PROPERTY,
    SERVER_CHANNEL,
    Aggregate,
    And,
    Comparison,
    Computed,
    Count,
    EventCondition,
    EventTime,
    Node,
    Not,
    Or,
    Reachable,
    Rfm,
    SegmentRef,
    SequenceAbsence,
    Trait,
)
from touchline.segments.validate import SegmentDefinitionError, SegmentLookup, lookup, parse
from touchline.values import ISO_DATE_PATTERN, ISO_DATETIME_PATTERN, MAX_NUMBER, NUMBER_PATTERN

__all__ = ["Context", "CustomerState", "matches", "matching_customers", "property_events", "quintile"]

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
    def from_cutoffs(cls, row: Mapping[Any, Any]) -> Context:
        """From ``{recency_1: ..., ..., monetary_4: ...}`` (``compile.rfm_cutoffs``; NULLs without buyers).
        Any keys: a SQLAlchemy ``RowMapping`` is keyed by names and columns alike."""
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
    return float(sum(n for e in orders if (n := _amount(_get(e.get("properties"), REVENUE_PROPERTY))) is not None))


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
    now = now.astimezone(dt.UTC)
    return _Planner(now, segments, context).plan(node, ())(_Customer(customer, now))


def matching_customers(
    nodes: Sequence[Node],
    customers: Iterable[CustomerState],
    now: dt.datetime,
    segments: SegmentLookup | None = None,
    *,
    context: Context | None = None,
) -> list[set[str]]:
    """For each of ``nodes``, the ids of ``customers`` in that segment as of ``now``: ``matches`` for
    every pair, with each rule turned into a test once (windows, referenced segments, dispatch) and
    each customer's history sorted out once for all the segments."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(dt.UTC)
    planner = _Planner(now, segments, context)
    tests = [planner.plan(node, ()) for node in nodes]
    found: list[set[str]] = [set() for _ in nodes]
    for customer in customers:
        cached = _Customer(customer, now)
        for members, test in zip(found, tests, strict=True):
            if test(cached):
                members.add(customer.customer_id)
    return found


def property_events(nodes: Iterable[Node], segments: SegmentLookup | None = None) -> set[str] | None:
    """The names of the events whose properties the rules read (``None``: any event's), so that live
    membership fetches and parses only those. Referenced segments count; an unknown reference is left
    for the evaluator to report."""
    names: set[str] = set()
    seen: set[str] = set()
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, And | Or):
            pending.extend(node.children)
        elif isinstance(node, Not):
            pending.append(node.child)
        elif isinstance(node, EventCondition):
            if node.where or node.aggregate is not None:
                if node.event is None:
                    return None
                names.add(node.event)
        elif isinstance(node, SequenceAbsence):
            if node.key is not None:
                names.update((node.event, node.absent_event))
        elif isinstance(node, Rfm) or (isinstance(node, Computed) and node.field == "lifetime_value"):
            names.add(ORDER_EVENT)
        elif isinstance(node, SegmentRef) and node.id not in seen:
            seen.add(node.id)
            doc = lookup(segments, node.id) if segments is not None else None
            if doc is not None:
                pending.append(parse(doc))
    return names


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


_NUMBER_TEXT = re.compile(NUMBER_PATTERN)


def _within(x: float) -> float | None:
    return x if abs(x) <= MAX_NUMBER else None  # NaN fails too


def _number(v: Any) -> float | None:
    """A JSON number as the SQL reads it: its text as a double, within the bound."""
    if _kind(v) != "number":
        return None
    try:
        return _within(float(v))
    except OverflowError:  # an integer beyond any double
        return None


def _amount(v: Any) -> float | None:
    """A number, or a string holding one in JSON's spelling (``dialect.json_amount``)."""
    if isinstance(v, str):
        return _within(float(v)) if _NUMBER_TEXT.fullmatch(v) else None
    return _number(v)


def _same(v: Any, value: Any) -> bool:
    """JSON equality of a stored value with a rule's scalar."""
    kind = _kind(v)
    if kind is None or kind != ("boolean" if isinstance(value, bool) else "string" if isinstance(value, str)
                                else "number"):
        return False
    if kind == "number":  # as the SQL compares them: doubles, within the bound
        n = _number(v)
        return n is not None and n == float(value)
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
        assert isinstance(value, list)  # validate.py: 'in' takes a list
        return x in value
    if operator == "between":
        assert isinstance(value, list)  # validate.py: 'between' takes [low, high]
        return bool(value[0] <= x <= value[1])
    return bool({">": x > value, ">=": x >= value, "<": x < value, "<=": x <= value}[operator])


# --- nodes ---------------------------------------------------------------------------------------------

Test = Callable[["_Customer"], bool]


class _Customer:
    """One customer as the tests read it: the events up to ``now``, indexed by name and sorted by time on
    first use, and the computed values (revenue, channels, RFM measures) once each."""

    __slots__ = ("_channels", "_named", "_revenue", "_rfm", "_times", "consents", "history", "state", "traits")

    def __init__(self, state: CustomerState, now: dt.datetime) -> None:
        self.state = state
        self.traits = state.traits
        self.consents = state.consents
        self.history = [e for e in state.events if e["timestamp"] <= now]
        self._named: dict[str | None, list[Mapping[str, Any]]] | None = None
        self._times: dict[str | None, list[dt.datetime]] = {}
        self._revenue: float | None = None
        self._channels: dict[str, str | None] = {}
        self._rfm: Any = _MISSING

    def named(self, name: str | None) -> list[Mapping[str, Any]]:
        """The history's events called ``name`` (all of them for ``None``)."""
        if name is None:
            return self.history
        if self._named is None:
            self._named = {}
            for e in self.history:
                self._named.setdefault(e.get("event"), []).append(e)
        return self._named.get(name, [])

    def times(self, name: str | None) -> list[dt.datetime]:
        """The times of the history's events called ``name`` (all for ``None``), in order."""
        times = self._times.get(name)
        if times is None:
            times = self._times[name] = sorted(e["timestamp"] for e in self.named(name))
        return times

    def revenue(self) -> float:
        if self._revenue is None:
            self._revenue = _revenue(self.named(ORDER_EVENT))
        return self._revenue

    def channel(self, field: str) -> str | None:
        """The last channel (the newest event's; a tie goes to the first in code-point order) or the
        preferred one (the most events; the same tie rule); ``None`` without events."""
        if field not in self._channels:
            channel = None
            used = [e for e in self.history if e["channel"] != SERVER_CHANNEL]  # as compile.py says why
            if used and field == "last_channel":
                newest = max(e["timestamp"] for e in used)
                channel = min(e["channel"] for e in used if e["timestamp"] == newest)
            elif used:
                counts = Counter(e["channel"] for e in used)
                channel = min(counts, key=lambda ch: (-counts[ch], ch))
            self._channels[field] = channel
        return self._channels[field]

    def rfm(self, now: dt.datetime) -> Rfm3 | None:
        if self._rfm is _MISSING:
            self._rfm = rfm_measures(self.state, now)
        return self._rfm


_COUNTS: dict[str, Callable[[int, int], bool]] = {
    "at_least": lambda n, v: n >= v, "at_most": lambda n, v: n <= v, "exactly": lambda n, v: n == v,
}


class _Planner:
    """Turns a rule into a test of one customer, once for a round: the work that depends only on the
    rule, ``now`` and the workspace (windows, referenced segments, which node is which) is done here,
    not once per customer."""

    def __init__(self, now: dt.datetime, segments: SegmentLookup | None, context: Context | None) -> None:
        self.now = now
        self.segments = segments
        self.context = context

    def plan(self, node: Node, stack: tuple[str, ...]) -> Test:
        if isinstance(node, And):
            return _all([self.plan(child, stack) for child in node.children])
        if isinstance(node, Or):
            return _any([self.plan(child, stack) for child in node.children])
        if isinstance(node, Not):
            inner = self.plan(node.child, stack)
            return lambda c: not inner(c)
        if isinstance(node, Trait):
            return self.trait(node)
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
            return self.plan(parse(doc), (*stack, node.id))
        raise TypeError(f"not a segment node: {node!r}")  # pragma: no cover

    def trait(self, node: Trait) -> Test:
        keys = node.trait.split(".")  # "address.city": a key inside an object trait
        operator, expected, now = node.operator, node.value, self.now

        def test(c: _Customer) -> bool:
            value: Any = c.traits
            for key in keys:
                value = _get(value, key)
            return value_condition(value, operator, expected, now)

        return test

    def event(self, node: EventCondition) -> Test:
        name, where, now = node.event, node.where, self.now
        since = None if node.within_days is None else now - dt.timedelta(days=node.within_days)
        measure = node.measure
        if not where and isinstance(measure, Count | EventTime):  # times alone: counted in the sorted times
            if isinstance(measure, EventTime):
                first = node.first_time is not None
                cutoff = now - dt.timedelta(days=measure.value)
                within = measure.operator == "within_last_days"

                def when_test(c: _Customer) -> bool:
                    times = c.times(name)
                    start = 0 if since is None else bisect_left(times, since)
                    if start == len(times):
                        return False
                    when = times[start] if first else times[-1]
                    return when >= cutoff if within else when < cutoff

                return when_test
            holds, value = _COUNTS[measure.operator], measure.value

            def count_test(c: _Customer) -> bool:
                times = c.times(name)
                return holds(len(times) if since is None else len(times) - bisect_left(times, since), value)

            return count_test
        filters = [(f.property, f.operator, f.value) for f in where]

        def found(c: _Customer) -> list[Mapping[str, Any]]:
            return [
                e for e in c.named(name)
                if (since is None or e["timestamp"] >= since)
                and all(value_condition(_get(e.get("properties"), p), op, v, now) for p, op, v in filters)
            ]

        if isinstance(measure, EventTime):
            agg = min if node.first_time is not None else max
            cutoff = now - dt.timedelta(days=measure.value)
            within = measure.operator == "within_last_days"

            def filtered_when(c: _Customer) -> bool:
                events = found(c)
                if not events:
                    return False
                when = agg(e["timestamp"] for e in events)
                return when >= cutoff if within else when < cutoff

            return filtered_when
        if isinstance(measure, Aggregate):
            a = measure
            function, prop = a.function, a.property

            def aggregate_test(c: _Customer) -> bool:
                numbers = [n for e in found(c) if (n := _amount(_get(e.get("properties"), prop))) is not None]
                value: float | int | None
                if function == "sum":
                    value = float(sum(numbers))
                elif function == "count":
                    value = len(numbers)
                else:
                    value = float(sum(numbers)) / len(numbers) if numbers else None
                return compare(value, a)

            return aggregate_test
        holds, value = _COUNTS[measure.operator], measure.value
        return lambda c: holds(len(found(c)), value)

    def sequence_absence(self, node: SequenceAbsence) -> Test:
        span = dt.timedelta(hours=node.within_hours)
        latest = self.now - span
        since = None if node.within_days is None else self.now - dt.timedelta(days=node.within_days)
        event, absent, key_name = node.event, node.absent_event, node.key

        def test(c: _Customer) -> bool:
            for a in c.named(event):
                if a["timestamp"] > latest or (since and a["timestamp"] < since):
                    continue
                key = _get(a.get("properties"), key_name) if key_name else None
                if key_name and not isinstance(key, str):
                    continue
                followed = any(
                    a["timestamp"] <= b["timestamp"] <= a["timestamp"] + span
                    and (not key_name or _get(b.get("properties"), key_name) == key)
                    for b in c.named(absent)
                )
                if not followed:
                    return True
            return False

        return test

    def rfm(self, node: Rfm) -> Test:
        context, now = self.context, self.now
        if context is None:
            raise ValueError("an rfm condition needs a Context (Context.build over the workspace's customers)")
        wanted = [(cuts, attr, cmp) for cuts, attr, cmp in (
            (context.recency, "recency", node.recency), (context.frequency, "frequency", node.frequency),
            (context.monetary, "monetary", node.monetary)) if cmp is not None]

        def test(c: _Customer) -> bool:
            m = c.rfm(now)
            if m is None:
                return False
            return all(compare(quintile(cuts, getattr(m, attr)), cmp) for cuts, attr, cmp in wanted)

        return test

    def computed(self, node: Computed) -> Test:
        if node.field == "lifetime_value":
            return lambda c: compare(c.revenue(), node)
        if node.field == "orders_count":
            return lambda c: compare(len(c.named(ORDER_EVENT)), node)
        field_name = node.field
        return lambda c: compare(c.channel(field_name), node)

    def reachable(self, node: Reachable) -> Test:
        channel, names = node.channel, ADDRESS_TRAITS[node.channel]

        def test(c: _Customer) -> bool:
            if _get(_get(c.consents, channel), "status") != "granted":
                return False
            return not names or any(isinstance(v := _get(c.traits, name), str) and v != "" for name in names)

        return test


# Plain loops: all()/any() over a generator cost more than the tests on this path (50 rules x customers).
def _all(tests: list[Test]) -> Test:
    def test(c: _Customer) -> bool:
        for t in tests:  # noqa: SIM110
            if not t(c):
                return False
        return True

    return test


def _any(tests: list[Test]) -> Test:
    def test(c: _Customer) -> bool:
        for t in tests:  # noqa: SIM110
            if t(c):
                return True
        return False

    return test
