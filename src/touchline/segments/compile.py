"""A segment AST as one SQLAlchemy Core SELECT of the customers in it, for the event store.

The statement is engine-neutral: JSON access, date parsing, interval arithmetic and ordering render
per engine through ``touchline.store.dialect``. Every relative time is computed here from ``now``
(never the database clock) and bound as a parameter.

Shape: ``customers`` (the canonical ids of the workspace: survivors of merges, seen in
``profile_snapshots`` or in ``events``), ``history`` (every event with its customer's canonical id),
and one boolean predicate per node over a customer row and its survivor's snapshot (traits,
consents). Each leaf is TRUE or FALSE, never NULL, so NOT means what it says.

The semantics are the evaluator's (``touchline.segments.evaluate``); a property test holds them equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from touchline.channels import ADDRESS_TRAITS
from touchline.segments.ast import (
    ORDER_EVENT,
    REVENUE_PROPERTY,
    SERVER_CHANNEL,
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
from touchline.segments.validate import SegmentDefinitionError, SegmentLookup, lookup, parse
from touchline.store import dialect as d
from touchline.store.schema import events, profile_snapshots
from touchline.store.types import UTCDateTime

__all__ = ["MESSENGER_TRAITS", "compile_segment", "property_conditions", "rfm_cutoffs"]

# ADDRESS_TRAITS (touchline.channels): the traits, one of which filled makes a customer reachable on a
# channel besides consent; messenger takes any of its handles; in_app needs none.
MESSENGER_TRAITS = ADDRESS_TRAITS["messenger"]


def compile_segment(
    node: Node, workspace_id: str, now: dt.datetime, segments: SegmentLookup | None = None,
    *, only: Sequence[str] | None = None,
) -> sa.Select[tuple[str]]:
    """``SELECT customer_id`` of every customer of ``workspace_id`` in the segment as of ``now``; with
    ``only`` (canonical customer ids), of those customers alone, reading only their events (live
    membership re-evaluates the few customers who just did something)."""
    return _Compiler(workspace_id, now, segments, only).select(node)


def property_conditions(properties: sa.ColumnElement[Any], where: Sequence[PropertyFilter], now: dt.datetime
                        ) -> list[sa.ColumnElement[bool]]:
    """Event property filters (``where``) on an event store's ``properties`` column, read exactly as a
    segment's event condition reads them: for the readouts of other domains (an experiment's metric)."""
    compiler = _Compiler("", now, None)
    return [_bool(compiler.value_condition(d.json_value(properties, f.property), f.operator, f.value))
            for f in where]


def rfm_cutoffs(workspace_id: str, now: dt.datetime) -> sa.Select[Any]:
    """One row: the RFM quintile cut-offs of every buyer as of ``now`` (``recency_1`` .. ``monetary_4``,
    see ``evaluate.Context``), so that live membership scores a few customers in memory against the
    whole population, one query per round."""
    compiler = _Compiler(workspace_id, now, None)
    buyers = compiler.buyers().subquery("buyers")
    n = sa.func.count().over()
    ranked = sa.select(
        *(buyers.c[m] for m in ("r", "f", "m")), n.label("n"),
        *(sa.func.row_number().over(order_by=buyers.c[m]).label(f"p_{m}") for m in ("r", "f", "m")),
    ).subquery("ranked")
    columns = []
    for name, m in (("recency", "r"), ("frequency", "f"), ("monetary", "m")):
        position, count = ranked.c[f"p_{m}"], ranked.c.n
        for k in range(1, 5):  # the value at position ceil(k * n / 5): integers only, as in the quintiles
            at_cut = sa.and_(5 * position >= k * count, 5 * (position - 1) < k * count)
            columns.append(sa.func.max(sa.case((at_cut, ranked.c[m]))).label(f"{name}_{k}"))
    return sa.select(*columns)


def _at(value: dt.datetime) -> sa.BindParameter[dt.datetime]:
    return sa.bindparam(None, value, type_=UTCDateTime())


def _bool(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """TRUE or FALSE, never NULL."""
    return sa.func.coalesce(expr, sa.false())


def _num(value: Any) -> sa.BindParameter[float]:
    return sa.bindparam(None, float(value), type_=sa.Double())


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    return "number"


class _Compiler:
    """Builds the predicate of a rule tree while collecting, for each event, computed or RFM condition,
    one per-customer grouped subquery (``SELECT customer_id, aggregate ... GROUP BY customer_id``) that
    ``select`` left-joins to the customers. Every engine plans that as a few hash joins and grouped scans;
    a correlated subquery per condition and customer (the earlier shape) PostgreSQL runs once per row."""

    def __init__(self, workspace_id: str, now: dt.datetime, segments: SegmentLookup | None,
                 only: Sequence[str] | None = None) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.ws = workspace_id
        self.now = now.astimezone(dt.UTC)
        self.segments = segments
        self.only = only
        self.profile: Any = None  # customers: customer_id, and the values the rule reads from their snapshot
        self.values: dict[tuple[str, tuple[str, ...]], str] = {}  # (traits | consents, keys): column name
        self.joins: list[sa.Subquery] = []  # grouped per-customer subqueries, each with a customer_id
        self._rfm: sa.Subquery | None = None
        self._histories = 0

    def history(self, *, everyone: bool = False) -> sa.Subquery:
        """Every event with its customer (the survivor of merges); with ``only`` (unless ``everyone``),
        just those customers' events, found through the profile ids that make them up (the events carry
        those). A fresh subquery at each use, so that each engine pushes that use's filters into the scan."""
        e, s = events.alias("e"), profile_snapshots.alias("s")
        joined = e.outerjoin(s, sa.and_(s.c.profile_id == e.c.profile_id, s.c.workspace_id == self.ws))
        query = sa.select(
            sa.func.coalesce(s.c.canonical_id, e.c.profile_id).label("customer_id"),
            e.c.event, e.c.timestamp, e.c.channel, e.c.properties,
        ).select_from(joined).where(e.c.workspace_id == self.ws)
        if self.only is not None and not everyone:
            members = profile_snapshots.alias("m")
            parts = sa.select(members.c.profile_id).where(members.c.workspace_id == self.ws,
                                                          d.any_of(members.c.canonical_id, self.only))
            query = query.where(sa.or_(d.any_of(e.c.profile_id, self.only), e.c.profile_id.in_(parts)))
        self._histories += 1
        return query.subquery(f"h{self._histories}")

    def grouped(self, query: sa.Select[Any]) -> sa.Subquery:
        """Register a per-customer subquery (its first column is ``customer_id``) to be left-joined."""
        sub = query.subquery(f"c{len(self.joins) + 1}")
        self.joins.append(sub)
        return sub

    def customers(self, node: Node) -> sa.CTE:
        """The canonical customers of the workspace, each with the values the rule reads from its own
        snapshot (each JSON path extracted once, here, and only those: the documents themselves never
        travel through the joins):
        survivors of merges (a snapshot that is its own canonical profile); canonical ids that other
        snapshots name without being survivors themselves (their snapshot if any); and the profiles of
        events that have no snapshot yet (they count as themselves, with no traits), unless the rule
        cannot hold for a customer without a snapshot (then that scan of every event is skipped). The
        parts do not overlap; the first, nearly everyone, is read straight from the snapshots."""
        self.values = {path: f"v{i}" for i, path in enumerate(dict.fromkeys(_snapshot_paths(node, (), self.segments)))}

        def values(snapshot: Any) -> list[sa.ColumnElement[Any]]:
            return [d.json_value(snapshot.c[doc], *keys).label(name) for (doc, keys), name in self.values.items()]

        t = profile_snapshots.alias("t")
        survivors = sa.select(t.c.profile_id.label("customer_id"), *values(t)).where(
            t.c.workspace_id == self.ws, t.c.canonical_id == t.c.profile_id)
        p, q = profile_snapshots.alias("p"), profile_snapshots.alias("q")
        others = sa.select(p.c.canonical_id.label("customer_id")).where(
            p.c.workspace_id == self.ws, p.c.canonical_id != p.c.profile_id,
            ~sa.exists().where(q.c.workspace_id == self.ws, q.c.profile_id == p.c.canonical_id,
                               q.c.canonical_id == q.c.profile_id))
        if self.only is not None:
            survivors = survivors.where(d.any_of(t.c.profile_id, self.only))
            others = others.where(d.any_of(p.c.canonical_id, self.only))
        if _without_snapshot(node, (), self.segments) is False:
            extra = others.distinct().subquery("extra")
        else:
            e, s = events.alias("o"), profile_snapshots.alias("os")
            orphans = sa.select(e.c.profile_id).where(
                e.c.workspace_id == self.ws,
                ~sa.exists().where(s.c.workspace_id == self.ws, s.c.profile_id == e.c.profile_id))
            if self.only is not None:
                orphans = orphans.where(d.any_of(e.c.profile_id, self.only))
            extra = sa.union(others, orphans).subquery("extra")
        r = profile_snapshots.alias("r")
        extra_rows = sa.select(extra.c.customer_id, *values(r)).select_from(
            extra.outerjoin(r, sa.and_(r.c.workspace_id == self.ws, r.c.profile_id == extra.c.customer_id)))
        return sa.union_all(survivors, extra_rows).cte("customers")

    def select(self, node: Node) -> sa.Select[tuple[str]]:
        self.profile = customers = self.customers(node)
        where = self.predicate(node, ())
        joined: Any = customers
        for sub in self.joins:
            joined = joined.outerjoin(sub, sub.c.customer_id == customers.c.customer_id)
        return sa.select(customers.c.customer_id).select_from(joined).where(where)

    # --- nodes ---------------------------------------------------------------------------------------

    def predicate(self, node: Node, stack: tuple[str, ...]) -> sa.ColumnElement[bool]:
        if isinstance(node, And):
            return sa.and_(*(self.predicate(c, stack) for c in node.children))
        if isinstance(node, Or):
            return sa.or_(*(self.predicate(c, stack) for c in node.children))
        if isinstance(node, Not):
            return sa.not_(self.predicate(node.child, stack))
        if isinstance(node, Trait):  # "address.city": a key inside an object trait
            value = self.snapshot_value("traits", tuple(node.trait.split(".")))
            return _bool(self.value_condition(value, node.operator, node.value))
        if isinstance(node, EventCondition):
            return _bool(self.event(node))
        if isinstance(node, SequenceAbsence):
            return self.sequence_absence(node)
        if isinstance(node, Rfm):
            return self.rfm(node)
        if isinstance(node, Computed):
            return _bool(self.computed(node))
        if isinstance(node, Reachable):
            return _bool(self.reachable(node))
        if isinstance(node, SegmentRef):
            return self.predicate(_referenced(node, stack, self.segments), (*stack, node.id))
        raise TypeError(f"not a segment node: {node!r}")  # pragma: no cover

    # --- values (traits and event properties) -------------------------------------------------------

    def snapshot_value(self, doc: str, keys: tuple[str, ...]) -> sa.ColumnElement[Any]:
        """The customer's value at ``keys`` in their snapshot's ``doc`` (traits or consents), as extracted
        by ``customers`` (``_snapshot_paths`` lists every one the rule reads)."""
        return self.profile.c[self.values[doc, keys]]

    def value_condition(self, v: sa.ColumnElement[Any], operator: str, value: Any) -> sa.ColumnElement[bool]:
        kind = d.json_kind(v)
        if operator == "=":
            return self.equals(v, value)
        if operator == "!=":
            return sa.not_(_bool(self.equals(v, value)))
        if operator == "in":
            return sa.or_(*(self.equals(v, x) for x in value))
        if operator == "contains":
            member = d.json_array_has(v, sa.literal(_kind_of(value)), self.needle(value))
            if isinstance(value, str):
                found = sa.func.strpos(d.json_text(v), sa.bindparam(None, value)) > 0
                substring = sa.and_(d.json_is(v, "string"), found)
                return sa.or_(_bool(substring), member)
            return member
        if operator == ">":
            return d.json_number(v) > _num(value)
        if operator == "<":
            return d.json_number(v) < _num(value)
        if operator == "between":
            return d.json_number(v).between(_num(value[0]), _num(value[1]))
        if operator == "exists":
            return sa.and_(kind.is_not(None), kind != "null")
        ts = d.iso_timestamp(sa.case((d.json_is(v, "string"), d.json_text(v))))
        cutoff = _at(self.now - dt.timedelta(days=value))
        if operator == "within_last_days":
            return sa.and_(ts >= cutoff, ts <= _at(self.now))
        if operator == "more_than_days_ago":
            return ts < cutoff
        raise ValueError(f"unknown operator {operator!r}")  # pragma: no cover

    def needle(self, value: Any) -> sa.BindParameter[Any]:
        if isinstance(value, bool):
            return sa.bindparam(None, "true" if value else "false", type_=sa.Text())
        if isinstance(value, str):
            return sa.bindparam(None, value, type_=sa.Text())
        return _num(value)

    def equals(self, v: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
        if isinstance(value, bool):
            return sa.and_(d.json_is(v, "boolean"), d.json_text(v) == self.needle(value))
        if isinstance(value, str):
            return d.json_is_string(v, self.needle(value))
        return d.json_number(v) == _num(value)

    def compare(self, expr: sa.ColumnElement[Any], cmp: Comparison | Any, *, text: bool = False
                ) -> sa.ColumnElement[bool]:
        operator, value = cmp.operator, cmp.value

        def lit(x: Any) -> sa.BindParameter[Any]:
            return sa.bindparam(None, x, type_=sa.Text()) if text else _num(x)

        if operator == "=":
            return expr == lit(value)
        if operator == "!=":
            return sa.not_(_bool(expr == lit(value)))
        if operator == "in":
            assert isinstance(value, list)  # validate.py: 'in' takes a list
            return sa.or_(*(expr == lit(x) for x in value))
        if operator == "between":
            assert isinstance(value, list)  # validate.py: 'between' takes [low, high]
            return expr.between(lit(value[0]), lit(value[1]))
        ops = {">": expr > lit(value), ">=": expr >= lit(value), "<": expr < lit(value), "<=": expr <= lit(value)}
        return ops[operator]

    # --- events ---------------------------------------------------------------------------------------

    def matching(self, h: Any, name: str | None, where: list[PropertyFilter], within_days: int | None
                 ) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = [h.c.timestamp <= _at(self.now)]
        if name is not None:
            conditions.append(h.c.event == name)
        if within_days is not None:
            conditions.append(h.c.timestamp >= _at(self.now - dt.timedelta(days=within_days)))
        for f in where:
            conditions.append(_bool(self.value_condition(d.json_value(h.c.properties, f.property), f.operator,
                                                         f.value)))
        return conditions

    def event(self, node: EventCondition) -> sa.ColumnElement[bool]:
        h = self.history()
        conditions = self.matching(h, node.event, node.where, node.within_days)
        measure = node.measure

        def per_customer(*columns: sa.ColumnElement[Any]) -> sa.Subquery:
            return self.grouped(sa.select(h.c.customer_id, *columns).where(*conditions).group_by(h.c.customer_id))

        if isinstance(measure, EventTime):
            agg = sa.func.min if node.first_time is not None else sa.func.max
            when = per_customer(agg(h.c.timestamp).label("at")).c.at  # NULL without any: the test is false
            cutoff = _at(self.now - dt.timedelta(days=measure.value))
            return when >= cutoff if measure.operator == "within_last_days" else when < cutoff
        if node.aggregate is not None:
            a = node.aggregate
            number = d.json_amount(d.json_value(h.c.properties, a.property))
            sub = per_customer(sa.func.sum(number).label("total"), sa.func.count(number).label("n"))
            n = sa.func.coalesce(sub.c.n, 0)
            if a.function == "sum":
                value: Any = sa.func.coalesce(sub.c.total, 0.0)
            elif a.function == "count":
                value = n
            else:
                value = sa.case((n > 0, sub.c.total / n))
            return self.compare(value, a)
        count = sa.func.coalesce(per_customer(sa.func.count().label("n")).c.n, 0)
        times = sa.bindparam(None, measure.value, type_=sa.Integer())
        return {"at_least": count >= times, "at_most": count <= times, "exactly": count == times}[measure.operator]

    def sequence_absence(self, node: SequenceAbsence) -> sa.ColumnElement[bool]:
        a, b = self.history(), self.history()
        hours = sa.bindparam(None, node.within_hours, type_=sa.Integer())
        first = [a.c.event == node.event, a.c.timestamp <= _at(self.now - dt.timedelta(hours=node.within_hours))]
        if node.within_days is not None:
            first.append(a.c.timestamp >= _at(self.now - dt.timedelta(days=node.within_days)))
        then = [b.c.customer_id == a.c.customer_id, b.c.event == node.absent_event,
                b.c.timestamp >= a.c.timestamp, b.c.timestamp <= d.plus_hours(a.c.timestamp, hours)]
        if node.key is not None:
            ka, kb = d.json_value(a.c.properties, node.key), d.json_value(b.c.properties, node.key)
            first.append(d.json_is(ka, "string"))
            then += [d.json_is(kb, "string"), d.json_text(kb) == d.json_text(ka)]
        followed = sa.exists(sa.select(sa.literal_column("1")).select_from(b).where(*then))
        sub = self.grouped(sa.select(a.c.customer_id).where(*first, sa.not_(followed)).group_by(a.c.customer_id))
        return sub.c.customer_id.is_not(None)

    # --- computed and RFM ---------------------------------------------------------------------------

    def computed(self, node: Computed) -> sa.ColumnElement[bool]:
        h = self.history()
        mine = h.c.timestamp <= _at(self.now)
        if node.field in ("lifetime_value", "orders_count"):
            revenue = d.json_amount(d.json_value(h.c.properties, REVENUE_PROPERTY))
            sub = self.grouped(
                sa.select(h.c.customer_id, sa.func.sum(revenue).label("revenue"), sa.func.count().label("orders"))
                .where(mine, h.c.event == ORDER_EVENT).group_by(h.c.customer_id))
            if node.field == "lifetime_value":
                return self.compare(sa.func.coalesce(sub.c.revenue, 0.0), node)
            return self.compare(sa.func.coalesce(sub.c.orders, 0), node)
        # A channel the customer used: "server" is the shop's back end, or Touchline's own records (a
        # campaign's Message Sent / Delivered would soon make it everyone's preferred channel).
        touchpoint = sa.and_(mine, h.c.channel != SERVER_CHANNEL)
        if node.field == "last_channel":  # the newest event's; a tie goes to the first in code-point order
            rows = sa.select(h.c.customer_id, h.c.channel, h.c.timestamp.label("key")).where(touchpoint).subquery("r")
            order: tuple[Any, ...] = (rows.c.key.desc(), d.binary_order(rows.c.channel))
        else:  # preferred_channel: the most events; a tie goes to the first in code-point order
            rows = (sa.select(h.c.customer_id, h.c.channel, sa.func.count().label("key")).where(touchpoint)
                    .group_by(h.c.customer_id, h.c.channel).subquery("r"))
            order = (rows.c.key.desc(), d.binary_order(rows.c.channel))
        ranked = sa.select(
            rows.c.customer_id, rows.c.channel,
            sa.func.row_number().over(partition_by=rows.c.customer_id, order_by=order).label("rank"),
        ).subquery("ranked")
        sub = self.grouped(sa.select(ranked.c.customer_id, ranked.c.channel).where(ranked.c.rank == 1))
        return self.compare(sub.c.channel, node, text=True)

    def buyers(self) -> sa.Select[Any]:
        """Every buyer's RFM measures: last order time, orders, revenue (over every customer, whatever
        ``only`` says: quintiles rank a customer among all buyers)."""
        h = self.history(everyone=True)
        revenue = d.json_amount(d.json_value(h.c.properties, REVENUE_PROPERTY))
        return (
            sa.select(h.c.customer_id, sa.func.max(h.c.timestamp).label("r"), sa.func.count().label("f"),
                      sa.func.coalesce(sa.func.sum(revenue), 0.0).label("m"))
            .where(h.c.event == ORDER_EVENT, h.c.timestamp <= _at(self.now))
            .group_by(h.c.customer_id)
        )

    def rfm_table(self) -> sa.Subquery:
        if self._rfm is None:
            buyers = self.buyers().subquery("buyers")
            n = sa.func.count().over()

            def score(column: Any) -> sa.ColumnElement[int]:
                # 1 + how many of the quintile cuts k/5 the share of buyers strictly below reaches:
                # ties score alike, and the arithmetic is exact integers (see evaluate.quintile).
                below = sa.func.rank().over(order_by=column) - 1
                return 1 + sum((sa.case((5 * below >= k * n, 1), else_=0) for k in range(1, 5)),
                               start=sa.literal(0))

            self._rfm = self.grouped(sa.select(
                buyers.c.customer_id, score(buyers.c.r).label("recency"), score(buyers.c.f).label("frequency"),
                score(buyers.c.m).label("monetary"),
            ))
        return self._rfm

    def rfm(self, node: Rfm) -> sa.ColumnElement[bool]:
        table = self.rfm_table()
        conditions: list[sa.ColumnElement[bool]] = [table.c.customer_id.is_not(None)]
        for name in ("recency", "frequency", "monetary"):
            cmp = getattr(node, name)
            if cmp is not None:
                conditions.append(_bool(self.compare(table.c[name], cmp)))
        return sa.and_(*conditions)

    # --- reachability -------------------------------------------------------------------------------

    def reachable(self, node: Reachable) -> sa.ColumnElement[bool]:
        status = self.snapshot_value("consents", (node.channel, "status"))
        granted = d.json_is_string(status, sa.bindparam(None, "granted", type_=sa.Text()))
        names = ADDRESS_TRAITS[node.channel]
        if not names:
            return granted
        addresses = []
        for name in names:
            addresses.append(_bool(d.json_is_filled_string(self.snapshot_value("traits", (name,)))))
        return sa.and_(granted, sa.or_(*addresses))


# --- which customers a rule can hold for --------------------------------------------------------------


def _referenced(node: SegmentRef, stack: tuple[str, ...], segments: SegmentLookup | None) -> Node:
    if node.id in stack:
        raise SegmentDefinitionError("segments refer to each other in a cycle",
                                     [{"field": "/id", "reason": " -> ".join([*stack, node.id])}])
    doc = lookup(segments, node.id) if segments is not None else None
    if doc is None:
        raise SegmentDefinitionError(f"unknown segment {node.id!r}", [{"field": "/id", "reason": "unknown"}])
    return parse(doc)


def _snapshot_paths(node: Node, stack: tuple[str, ...], segments: SegmentLookup | None
                    ) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every (traits | consents, keys) the rule reads from a customer's snapshot, in rule order."""
    if isinstance(node, And | Or):
        for child in node.children:
            yield from _snapshot_paths(child, stack, segments)
    elif isinstance(node, Not):
        yield from _snapshot_paths(node.child, stack, segments)
    elif isinstance(node, Trait):
        yield "traits", tuple(node.trait.split("."))
    elif isinstance(node, Reachable):
        yield "consents", (node.channel, "status")
        for name in ADDRESS_TRAITS[node.channel]:
            yield "traits", (name,)
    elif isinstance(node, SegmentRef):
        yield from _snapshot_paths(_referenced(node, stack, segments), (*stack, node.id), segments)


def _without_snapshot(node: Node, stack: tuple[str, ...], segments: SegmentLookup | None) -> bool | None:
    """Whether the rule holds for a customer with no snapshot (no traits, no consents), whatever their
    events: True, False, or None when it depends on the events."""
    if isinstance(node, And):
        parts = [_without_snapshot(c, stack, segments) for c in node.children]
        return False if False in parts else True if all(p is True for p in parts) else None
    if isinstance(node, Or):
        parts = [_without_snapshot(c, stack, segments) for c in node.children]
        return True if True in parts else False if all(p is False for p in parts) else None
    if isinstance(node, Not):
        inner = _without_snapshot(node.child, stack, segments)
        return None if inner is None else not inner
    if isinstance(node, Trait):
        return node.operator == "!="  # a missing value: only "not equal" holds (see evaluate.value_condition)
    if isinstance(node, Reachable):
        return False
    if isinstance(node, SegmentRef):
        return _without_snapshot(_referenced(node, stack, segments), (*stack, node.id), segments)
    return None
