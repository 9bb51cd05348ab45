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
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

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
from touchline.segments.validate import SegmentDefinitionError, SegmentLookup, lookup, parse
from touchline.store import dialect as d
from touchline.store.schema import events, profile_snapshots
from touchline.store.types import UTCDateTime

__all__ = ["MESSENGER_TRAITS", "compile_segment"]

# The trait that holds each channel's address; messenger takes any of its handles; in_app needs none.
ADDRESS_TRAITS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "messenger": ("kakao_id", "whatsapp_id", "line_id"),
    "push": ("push_token",),
    "in_app": (),
}
MESSENGER_TRAITS = ADDRESS_TRAITS["messenger"]


def compile_segment(
    node: Node, workspace_id: str, now: dt.datetime, segments: SegmentLookup | None = None,
    *, only: Sequence[str] | None = None,
) -> sa.Select[tuple[str]]:
    """``SELECT customer_id`` of every customer of ``workspace_id`` in the segment as of ``now``; with
    ``only`` (canonical customer ids), of those customers alone, reading only their events (live
    membership re-evaluates the few customers who just did something)."""
    return _Compiler(workspace_id, now, segments, only).select(node)


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
    def __init__(self, workspace_id: str, now: dt.datetime, segments: SegmentLookup | None,
                 only: Sequence[str] | None = None) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.ws = workspace_id
        self.now = now.astimezone(dt.UTC)
        self.segments = segments
        self.all_history = self._history(None)
        self.history = self.all_history if only is None else self._history(only)
        snap = profile_snapshots.alias("p")
        known = sa.select(snap.c.canonical_id).where(snap.c.workspace_id == workspace_id)
        if only is not None:
            known = known.where(d.any_of(snap.c.canonical_id, only))
        self.customers = sa.union(sa.select(self.history.c.customer_id), known).cte("customers")
        self.customer_id = self.customers.c.customer_id
        self.profile = profile_snapshots.alias("t")  # the survivor's own snapshot: traits, consents
        self._rfm: sa.CTE | None = None

    def _history(self, only: Sequence[str] | None) -> sa.CTE:
        """Every event with its customer (the survivor of merges); with ``only``, just those customers'
        events, found through the profile ids that make them up (the events carry those)."""
        e, s = events.alias("e"), profile_snapshots.alias("s")
        joined = e.outerjoin(s, sa.and_(s.c.profile_id == e.c.profile_id, s.c.workspace_id == self.ws))
        query = sa.select(
            sa.func.coalesce(s.c.canonical_id, e.c.profile_id).label("customer_id"),
            e.c.event, e.c.timestamp, e.c.channel, e.c.properties,
        ).select_from(joined).where(e.c.workspace_id == self.ws)
        if only is None:
            return query.cte("history")
        members = profile_snapshots.alias("m")
        parts = sa.select(members.c.profile_id).where(members.c.workspace_id == self.ws,
                                                      d.any_of(members.c.canonical_id, only))
        query = query.where(sa.or_(d.any_of(e.c.profile_id, only), e.c.profile_id.in_(parts)))
        return query.cte("history_of_some")

    def select(self, node: Node) -> sa.Select[tuple[str]]:
        t = self.profile
        joined = self.customers.outerjoin(t, sa.and_(t.c.workspace_id == self.ws, t.c.profile_id == self.customer_id))
        return sa.select(self.customer_id).select_from(joined).where(self.predicate(node, ()))

    # --- nodes ---------------------------------------------------------------------------------------

    def predicate(self, node: Node, stack: tuple[str, ...]) -> sa.ColumnElement[bool]:
        if isinstance(node, And):
            return sa.and_(*(self.predicate(c, stack) for c in node.children))
        if isinstance(node, Or):
            return sa.or_(*(self.predicate(c, stack) for c in node.children))
        if isinstance(node, Not):
            return sa.not_(self.predicate(node.child, stack))
        if isinstance(node, Trait):
            value: Any = self.profile.c.traits
            for key in node.trait.split("."):  # "address.city": a key inside an object trait
                value = d.json_value(value, key)
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
            return self.segment(node, stack)
        raise TypeError(f"not a segment node: {node!r}")  # pragma: no cover

    def segment(self, node: SegmentRef, stack: tuple[str, ...]) -> sa.ColumnElement[bool]:
        if node.id in stack:
            raise SegmentDefinitionError("segments refer to each other in a cycle",
                                         [{"field": "/id", "reason": " -> ".join([*stack, node.id])}])
        doc = lookup(self.segments, node.id) if self.segments is not None else None
        if doc is None:
            raise SegmentDefinitionError(f"unknown segment {node.id!r}", [{"field": "/id", "reason": "unknown"}])
        return self.predicate(parse(doc), (*stack, node.id))

    # --- values (traits and event properties) -------------------------------------------------------

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
                substring = sa.and_(kind == "string", sa.func.strpos(d.json_text(v), sa.bindparam(None, value)) > 0)
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
        ts = d.iso_timestamp(sa.case((kind == "string", d.json_text(v))))
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
            return sa.and_(d.json_kind(v) == "boolean", d.json_text(v) == self.needle(value))
        if isinstance(value, str):
            return sa.and_(d.json_kind(v) == "string", d.json_text(v) == self.needle(value))
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
            return sa.or_(*(expr == lit(x) for x in value))
        if operator == "between":
            return expr.between(lit(value[0]), lit(value[1]))
        ops = {">": expr > lit(value), ">=": expr >= lit(value), "<": expr < lit(value), "<=": expr <= lit(value)}
        return ops[operator]

    # --- events -------------------------------------------------------------------------------------

    def matching(self, h: Any, name: str | None, where: list[PropertyFilter], within_days: int | None
                 ) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = [h.c.customer_id == self.customer_id, h.c.timestamp <= _at(self.now)]
        if name is not None:
            conditions.append(h.c.event == name)
        if within_days is not None:
            conditions.append(h.c.timestamp >= _at(self.now - dt.timedelta(days=within_days)))
        for f in where:
            conditions.append(_bool(self.value_condition(d.json_value(h.c.properties, f.property), f.operator,
                                                         f.value)))
        return conditions

    def event(self, node: EventCondition) -> sa.ColumnElement[bool]:
        h = self.history.alias()
        conditions = self.matching(h, node.event, node.where, node.within_days)
        measure = node.measure
        if isinstance(measure, EventTime):
            agg = sa.func.min if node.first_time is not None else sa.func.max
            when = sa.select(agg(h.c.timestamp)).where(*conditions).scalar_subquery()
            cutoff = _at(self.now - dt.timedelta(days=measure.value))
            return when >= cutoff if measure.operator == "within_last_days" else when < cutoff
        if node.aggregate is not None:
            a = node.aggregate
            number = d.json_number(d.json_value(h.c.properties, a.property))
            if a.function == "sum":
                value: Any = sa.func.coalesce(sa.func.sum(number), 0.0)
            elif a.function == "count":
                value = sa.func.count(number)
            else:
                value = sa.case((sa.func.count(number) > 0, sa.func.sum(number) / sa.func.count(number)))
            return self.compare(sa.select(value).where(*conditions).scalar_subquery(), a)
        count = sa.select(sa.func.count()).where(*conditions).scalar_subquery()
        n = sa.bindparam(None, measure.value, type_=sa.Integer())
        return {"at_least": count >= n, "at_most": count <= n, "exactly": count == n}[measure.operator]

    def sequence_absence(self, node: SequenceAbsence) -> sa.ColumnElement[bool]:
        a, b = self.history.alias(), self.history.alias()
        hours = sa.bindparam(None, node.within_hours, type_=sa.Integer())
        first = [a.c.customer_id == self.customer_id, a.c.event == node.event,
                 a.c.timestamp <= _at(self.now - dt.timedelta(hours=node.within_hours))]
        if node.within_days is not None:
            first.append(a.c.timestamp >= _at(self.now - dt.timedelta(days=node.within_days)))
        then = [b.c.customer_id == a.c.customer_id, b.c.event == node.absent_event,
                b.c.timestamp >= a.c.timestamp, b.c.timestamp <= d.plus_hours(a.c.timestamp, hours)]
        if node.key is not None:
            ka, kb = d.json_value(a.c.properties, node.key), d.json_value(b.c.properties, node.key)
            first.append(d.json_kind(ka) == "string")
            then += [d.json_kind(kb) == "string", d.json_text(kb) == d.json_text(ka)]
        followed = sa.exists(sa.select(sa.literal_column("1")).select_from(b).where(*then))
        return sa.exists(sa.select(sa.literal_column("1")).select_from(a).where(*first, sa.not_(followed)))

    # --- computed and RFM ---------------------------------------------------------------------------

    def orders(self, h: Any) -> list[sa.ColumnElement[bool]]:
        return [h.c.customer_id == self.customer_id, h.c.event == ORDER_EVENT, h.c.timestamp <= _at(self.now)]

    def computed(self, node: Computed) -> sa.ColumnElement[bool]:
        h = self.history.alias()
        if node.field == "lifetime_value":
            revenue = d.json_number(d.json_value(h.c.properties, REVENUE_PROPERTY))
            value = sa.select(sa.func.coalesce(sa.func.sum(revenue), 0.0)).where(*self.orders(h)).scalar_subquery()
            return self.compare(value, node)
        if node.field == "orders_count":
            return self.compare(sa.select(sa.func.count()).where(*self.orders(h)).scalar_subquery(), node)
        mine = [h.c.customer_id == self.customer_id, h.c.timestamp <= _at(self.now)]
        if node.field == "last_channel":
            query = (sa.select(h.c.channel).where(*mine)
                     .order_by(h.c.timestamp.desc(), d.binary_order(h.c.channel)).limit(1))
        else:  # preferred_channel: the most events; a tie goes to the first name in code-point order
            query = (sa.select(h.c.channel).where(*mine).group_by(h.c.channel)
                     .order_by(sa.func.count().desc(), d.binary_order(h.c.channel)).limit(1))
        return self.compare(query.scalar_subquery(), node, text=True)

    def rfm_table(self) -> sa.CTE:
        if self._rfm is None:
            h = self.all_history  # quintiles are over every buyer, not only the customers asked about
            revenue = d.json_number(d.json_value(h.c.properties, REVENUE_PROPERTY))
            buyers = (
                sa.select(h.c.customer_id, sa.func.max(h.c.timestamp).label("r"), sa.func.count().label("f"),
                          sa.func.coalesce(sa.func.sum(revenue), 0.0).label("m"))
                .where(h.c.event == ORDER_EVENT, h.c.timestamp <= _at(self.now))
                .group_by(h.c.customer_id).cte("buyers")
            )
            n = sa.func.count().over()

            def score(column: Any) -> sa.ColumnElement[int]:
                # 1 + how many of the quintile cuts k/5 the share of buyers strictly below reaches:
                # ties score alike, and the arithmetic is exact integers (see evaluate.quintile).
                below = sa.func.rank().over(order_by=column) - 1
                return 1 + sum((sa.case((5 * below >= k * n, 1), else_=0) for k in range(1, 5)),
                               start=sa.literal(0))

            self._rfm = sa.select(
                buyers.c.customer_id, score(buyers.c.r).label("recency"), score(buyers.c.f).label("frequency"),
                score(buyers.c.m).label("monetary"),
            ).cte("rfm")
        return self._rfm

    def rfm(self, node: Rfm) -> sa.ColumnElement[bool]:
        table = self.rfm_table()
        conditions = [table.c.customer_id == self.customer_id]
        for name in ("recency", "frequency", "monetary"):
            cmp = getattr(node, name)
            if cmp is not None:
                conditions.append(_bool(self.compare(table.c[name], cmp)))
        return sa.exists(sa.select(sa.literal_column("1")).select_from(table).where(*conditions))

    # --- reachability -------------------------------------------------------------------------------

    def reachable(self, node: Reachable) -> sa.ColumnElement[bool]:
        status = d.json_value(d.json_value(self.profile.c.consents, node.channel), "status")
        granted = sa.and_(d.json_kind(status) == "string", d.json_text(status) == "granted")
        names = ADDRESS_TRAITS[node.channel]
        if not names:
            return granted
        addresses = []
        for name in names:
            v = d.json_value(self.profile.c.traits, name)
            addresses.append(_bool(sa.and_(d.json_kind(v) == "string", d.json_text(v) != "")))
        return sa.and_(granted, sa.or_(*addresses))
