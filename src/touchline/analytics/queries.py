"""Every analytics query, as SQLAlchemy Core over the event store; the same SQL on DuckDB and PostgreSQL.

Events count for the canonical customer: ``coalesce(profile_snapshots.canonical_id, events.profile_id)``
(a profile merged into another counts as the survivor; a profile too new to have a snapshot counts as
itself). Values are bound parameters. Where PostgreSQL would compare a GROUP BY expression holding
parameters with the same expression in the SELECT list (and find them different), the expression is
computed in a CTE first and grouped by the CTE's column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from touchline.store.dialect import inline_cte, json_amount, json_path_text, json_value, local_period, materialized_cte
from touchline.store.schema import events, profile_snapshots

ORDER = "Order Completed"
PRODUCT_ADDED = "Product Added"
PATH_SEPARATOR = "\x1f"
_NAMED_TYPES = ("track", "page", "screen")

# A select of any number of columns (sa.Select[Any] would be a select of one).
Select = sa.Select[*tuple[Any, ...]]


def merged_profiles(workspace_id: str) -> sa.Subquery:
    """Profiles merged into another one, with the survivor (``canonical_id``). Joining events to these
    few rather than to every snapshot keeps the join's hash table small (1M snapshots cost a 1M-row
    build in every report that groups by customer); a profile missing here is its own customer."""
    snap = profile_snapshots
    return (
        sa.select(snap.c.profile_id, snap.c.canonical_id)
        .where(snap.c.workspace_id == workspace_id, snap.c.canonical_id != snap.c.profile_id)
        .subquery("merged")
    )


def customer_events(workspace_id: str) -> sa.CTE:
    """The workspace's events, each with the customer it belongs to: what customers did, not what Touchline
    recorded about them (``Segment Entered``, ``Message Sent``, ... carry neither a userId nor an
    anonymousId, which every ingested event has). Counted as activity, a campaign's sends made every
    recipient a "visitor" on a channel "server" and a "returning" customer in the cohorts."""
    merged = merged_profiles(workspace_id)
    joined = events.outerjoin(merged, merged.c.profile_id == events.c.profile_id)
    return inline_cte(
        sa.select(
            sa.func.coalesce(merged.c.canonical_id, events.c.profile_id).label("customer"),
            events.c.seq, events.c.type, events.c.event, events.c.timestamp.label("ts"), events.c.channel,
            events.c.device_type, events.c.properties, events.c.context,
        )
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, customers_own(events))
        .cte("ev")
    )


def customers_own(table: sa.Table) -> sa.ColumnElement[bool]:
    """Events a customer's client sent (not Touchline's own records about the customer)."""
    return sa.or_(table.c.user_id.is_not(None), table.c.anonymous_id.is_not(None))


def revenue(properties: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An order's value in minor units: ``properties.revenue``, else ``properties.total``; each counts only
    when it reads as an amount (``json_amount``: a JSON number, or text holding one, within ±2^53), so a
    value stored as sent ("59,000원", true, 1e20) is no revenue rather than a failed report."""
    return sa.func.coalesce(json_amount(json_value(properties, "revenue")),
                            json_amount(json_value(properties, "total")))


def epoch(ts: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    return sa.cast(sa.extract("epoch", ts), sa.Double)


# How far back a report that reads all history (a customer's first event ever) converts local time
# the fast way; older events still convert, through the engine's time zone functions.
HISTORY_WINDOW = dt.timedelta(days=3 * 366)


def _in_range(e: sa.CTE | sa.Alias, start: dt.datetime, end: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(e.c.ts >= start, e.c.ts < end)


def _json_scalar(value: Any) -> str:
    """A property value as the JSON text extraction returns it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def matches(e: sa.CTE | sa.Alias, event: str, where: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    return sa.and_(e.c.event == event,
                   *(json_path_text(e.c.properties, key) == _json_scalar(value) for key, value in where.items()))


def funnel(workspace_id: str, steps: Sequence[tuple[str, Mapping[str, Any]]], window: dt.timedelta,
           start: dt.datetime, end: dt.datetime, breakdown: str | None) -> Select:
    """One row per group: ``entered_k`` (customers reaching step k) and ``median_k`` (median seconds
    from step 1 to step k). Step 1 is a customer's first matching event in [start, end); step k is the
    first matching event strictly after step k-1 and no later than step 1 + window."""
    ev = customer_events(workspace_id)
    e = ev.alias("e")
    first = (
        sa.select(e.c.customer, sa.func.min(e.c.ts).label("t1"))
        .where(matches(e, *steps[0]), _in_range(e, start, end)).group_by(e.c.customer).cte("step1")
    )
    reached = [first]
    for k, step in enumerate(steps[1:], start=2):
        prev = reached[-1]
        reached.append(
            sa.select(prev.c.customer, prev.c.t1, sa.func.min(e.c.ts).label(f"t{k}"))
            .join(e, sa.and_(e.c.customer == prev.c.customer, matches(e, *step), e.c.ts > prev.c[f"t{k - 1}"],
                             e.c.ts <= prev.c.t1 + sa.literal(window, sa.Interval)))
            .group_by(prev.c.customer, prev.c.t1).cte(f"step{k}")
        )
    group = _funnel_groups(ev, first, steps[0], breakdown)
    journey = first
    for cte in reached[1:]:
        journey = journey.outerjoin(cte, cte.c.customer == first.c.customer)  # type: ignore[assignment]
    if group is not None:
        journey = journey.join(group, group.c.customer == first.c.customer)  # type: ignore[assignment]
    per_customer = sa.select(
        (group.c.grp if group is not None else sa.literal("all")).label("grp"), first.c.t1,
        *(cte.c[f"t{k}"] for k, cte in enumerate(reached[1:], start=2)),
    ).select_from(journey).cte("journeys")
    j = per_customer.c
    return (
        sa.select(
            j.grp,
            *(sa.func.count(j[f"t{k}"]).label(f"entered_{k}") for k in range(1, len(steps) + 1)),
            *(sa.func.percentile_cont(0.5).within_group(epoch(j[f"t{k}"]) - epoch(j.t1)).label(f"median_{k}")
              for k in range(2, len(steps) + 1)),
        )
        .group_by(j.grp).order_by(j.grp)
    )


def _funnel_groups(ev: sa.CTE, first: sa.CTE, step: tuple[str, Mapping[str, Any]],
                   breakdown: str | None) -> sa.CTE | None:
    """customer -> group: the channel or device of the step-1 event, or the campaign source of the
    customer's first event ever ('direct' without one). Ties go to the smallest value."""
    g = ev.alias("g")
    if breakdown in ("channel", "device_type"):
        return (
            sa.select(first.c.customer, sa.func.min(g.c[breakdown]).label("grp"))
            .join(g, sa.and_(g.c.customer == first.c.customer, g.c.ts == first.c.t1, matches(g, *step)))
            .group_by(first.c.customer).cte("groups")
        )
    if breakdown == "first_touch_source":
        seen = (
            sa.select(first.c.customer, sa.func.min(g.c.ts).label("first_ts"))
            .join(g, g.c.customer == first.c.customer).group_by(first.c.customer).cte("first_seen")
        )
        h = ev.alias("h")
        source = sa.func.coalesce(json_path_text(h.c.context, "campaign", "source"), "direct")
        return (
            sa.select(seen.c.customer, sa.func.min(source).label("grp"))
            .join(h, sa.and_(h.c.customer == seen.c.customer, h.c.ts == seen.c.first_ts))
            .group_by(seen.c.customer).cte("groups")
        )
    if breakdown is None:
        return None
    raise ValueError(f"unknown breakdown {breakdown!r}")


def cart_abandonment(workspace_id: str, start: dt.datetime, end: dt.datetime) -> Select:
    """``carts`` (distinct cart_id of Product Added in range) and ``ordered`` (of those, carts with an
    Order Completed carrying the same cart_id, from the range's start on: an order cannot complete a cart
    before the cart was filled, and bounding the scan saves reading a year of orders' properties)."""
    cart_id = json_path_text(events.c.properties, "cart_id")
    mine = events.c.workspace_id == workspace_id
    added = (
        sa.select(cart_id.label("cart_id")).distinct()
        .where(mine, events.c.event == PRODUCT_ADDED, events.c.timestamp >= start, events.c.timestamp < end)
        .cte("carts")
    )
    ordered = (
        sa.select(cart_id.label("cart_id")).distinct()
        .where(mine, events.c.event == ORDER, events.c.timestamp >= start)
        .cte("ordered")
    )
    return (
        sa.select(sa.func.count(added.c.cart_id).label("carts"), sa.func.count(ordered.c.cart_id).label("ordered"))
        .select_from(added.outerjoin(ordered, ordered.c.cart_id == added.c.cart_id))
    )


def conversion_by(workspace_id: str, dimension: str, start: dt.datetime, end: dt.datetime) -> Select:
    """Per value of ``dimension``: ``visitors`` (customers with any event there) and ``buyers``."""
    ev = customer_events(workspace_id)
    column = ev.c[dimension]
    return (
        sa.select(
            column.label("value"),
            sa.func.count(sa.distinct(ev.c.customer)).label("visitors"),
            sa.func.count(sa.distinct(sa.case((ev.c.event == ORDER, ev.c.customer)))).label("buyers"),
        )
        .where(_in_range(ev, start, end)).group_by(column).order_by(column)
    )


DIMENSIONS = ("day", "channel", "device_type")


def overview(workspace_id: str, start: dt.datetime, end: dt.datetime, tz: str) -> sa.CompoundSelect:
    """Activity in [start, end) for four groupings (``grouping``): per local ``day`` in ``tz``, per
    ``channel``, per ``device_type``, and the whole period ('total'). Each row: ``visitors``
    (customers with any event), ``identified`` (of those, customers with a userId), ``buyers``, ``orders``
    and ``revenue`` (minor units).

    One scan first folds the events into one row per customer and (day, channel, device); each grouping
    then folds those rows per customer and counts rows, where a COUNT(DISTINCT) over GROUPING SETS cost
    DuckDB three times as much. Whether a customer is identified is looked up once per customer."""
    ev = customer_events(workspace_id)
    is_order = ev.c.event == ORDER
    per = materialized_cte(
        sa.select(
            ev.c.customer, local_period("day", ev.c.ts, tz, (start, end)).label("day"), ev.c.channel,
            ev.c.device_type, sa.func.count(sa.case((is_order, 1))).label("orders"),
            sa.func.sum(sa.case((is_order, revenue(ev.c.properties)))).label("revenue"),
        )
        .where(_in_range(ev, start, end))
        .group_by(sa.text("1"), sa.text("2"), sa.text("3"), sa.text("4"))
        .cte("per_customer")
    )
    p = per.c
    customers = sa.select(p.customer).distinct().subquery("customers")
    identity = materialized_cte(
        sa.select(customers.c.customer, profile_snapshots.c.user_id.is_not(None).label("identified"))
        .select_from(customers.outerjoin(profile_snapshots, sa.and_(
            profile_snapshots.c.workspace_id == workspace_id, profile_snapshots.c.profile_id == customers.c.customer)))
        .cte("identity")
    )

    def grouping(*keys: str) -> Select:
        folded = (
            sa.select(p.customer, *(p[k] for k in keys), sa.func.sum(p.orders).label("orders"),
                      sa.func.sum(p.revenue).label("revenue"))
            .group_by(p.customer, *(p[k] for k in keys)).subquery()
        )
        f = folded.c
        who = identity.c
        return (
            sa.select(
                sa.literal_column(f"'{keys[0] if keys else 'total'}'").label("grouping"),
                *(f[k] if k in keys else sa.cast(sa.null(), p[k].type).label(k) for k in DIMENSIONS),
                sa.func.count().label("visitors"),
                sa.func.count(sa.case((who.identified, 1))).label("identified"),
                sa.func.count(sa.case((f.orders > 0, 1))).label("buyers"),
                sa.func.coalesce(sa.func.sum(f.orders), 0).label("orders"),
                sa.func.coalesce(sa.func.sum(f.revenue), 0).label("revenue"),
            )
            .select_from(folded.join(identity, who.customer == f.customer))
            .group_by(*(f[k] for k in keys))
        )

    return sa.union_all(grouping("day"), grouping("channel"), grouping("device_type"), grouping())


def newest_seq(workspace_id: str) -> Select:
    """The workspace's newest event sequence number (NULL without events): a version of its events."""
    return sa.select(sa.func.max(events.c.seq)).where(events.c.workspace_id == workspace_id)


def event_span(workspace_id: str, plausible: tuple[dt.datetime, dt.datetime] | None = None) -> Select:
    """First and last time stamp of the customers' own events (within ``plausible`` when given: an event
    stored at year 1 or 9999 before times were checked says nothing about where the data is)."""
    query = sa.select(sa.func.min(events.c.timestamp), sa.func.max(events.c.timestamp)).where(
        events.c.workspace_id == workspace_id, customers_own(events))
    if plausible is not None:
        query = query.where(events.c.timestamp >= plausible[0], events.c.timestamp <= plausible[1])
    return query


def event_names(workspace_id: str, limit: int) -> Select:
    """The most frequent event names (track, page and screen), with how often each occurs."""
    n = sa.func.count().label("n")
    return (
        sa.select(events.c.event, n)
        .where(events.c.workspace_id == workspace_id, events.c.event.is_not(None), events.c.type.in_(_NAMED_TYPES))
        .group_by(events.c.event).order_by(n.desc(), events.c.event).limit(limit)
    )


def cross_channel(workspace_id: str, start: dt.datetime, end: dt.datetime) -> Select:
    """For customers whose first order ever falls in [start, end): the channels they used up to and
    including it (``channels``, sorted, comma-separated), how many (``n``), and how many buyers each."""
    ev = customer_events(workspace_id)
    e = ev.alias("e")
    first_order = (
        sa.select(ev.c.customer, sa.func.min(ev.c.ts).label("ordered_at"))
        .where(ev.c.event == ORDER).group_by(ev.c.customer).cte("first_order")
    )
    touched = (
        sa.select(
            first_order.c.customer,
            sa.func.string_agg(sa.distinct(e.c.channel), ",").aggregate_order_by(e.c.channel).label("channels"),
            sa.func.count(sa.distinct(e.c.channel)).label("n"),
        )
        .join(e, sa.and_(e.c.customer == first_order.c.customer, e.c.ts <= first_order.c.ordered_at))
        .where(first_order.c.ordered_at >= start, first_order.c.ordered_at < end)
        .group_by(first_order.c.customer).cte("touched")
    )
    buyers = sa.func.count().label("buyers")
    return (
        sa.select(touched.c.channels, touched.c.n, buyers)
        .group_by(touched.c.channels, touched.c.n).order_by(buyers.desc(), touched.c.channels)
    )


def cohorts(workspace_id: str, cohort_event: str | None, return_event: str | None, unit: str, tz: str,
            start: dt.datetime, end: dt.datetime) -> sa.CompoundSelect:
    """Retention in one pass over the events: rows (cohort, period, customers). A cohort is the local
    period of a customer's first ``cohort_event`` ever (any event when None), for first ones in
    [start, end); ``customers`` is how many of it did ``return_event`` (any event when None) in each local
    period, from their cohort event (itself included) until ``end``; the row with a NULL period holds the
    cohort's size.

    One grouped pass gives, per customer and local period, the first cohort event and the last return
    event; a customer's cohort is the earliest of the first ones, and they count in a period when its last
    return event is not before their cohort event."""
    ev = customer_events(workspace_id)
    window = (min(start, end) - HISTORY_WINDOW, end)
    wanted = [ev.c.ts < end]
    if cohort_event is not None and return_event is not None:
        wanted.append(ev.c.event.in_(sorted({cohort_event, return_event})))
    dated = sa.select(ev.c.customer, ev.c.ts, ev.c.event, local_period(unit, ev.c.ts, tz, window).label("period")
                      ).where(*wanted).subquery("dated")
    d = dated.c
    first = sa.func.min(d.ts)
    last = sa.func.max(d.ts)
    per_period = materialized_cte(
        sa.select(d.customer, d.period,
                  (first.filter(d.event == cohort_event) if cohort_event is not None else first).label("first_ts"),
                  (last.filter(d.event == return_event) if return_event is not None else last).label("last_ts"))
        .group_by(d.customer, d.period).cte("per_period")
    )
    p = per_period.c
    cohort_ts = sa.func.min(p.first_ts)
    firsts = (sa.select(p.customer, cohort_ts.label("cohort_ts")).group_by(p.customer)
              .having(sa.and_(cohort_ts >= start, cohort_ts < end)).subquery("firsts"))
    members = materialized_cte(
        sa.select(firsts.c.customer, firsts.c.cohort_ts,
                  local_period(unit, firsts.c.cohort_ts, tz, window).label("cohort")).cte("cohorts")
    )
    m = members.c
    sizes = sa.select(m.cohort, sa.cast(sa.null(), sa.DateTime()).label("period"), sa.func.count().label("customers")
                      ).group_by(m.cohort)
    active = (sa.select(m.cohort, p.period, sa.func.count().label("customers"))
              .join(per_period, sa.and_(p.customer == m.customer, p.last_ts >= m.cohort_ts))
              .group_by(m.cohort, p.period))
    return sa.union_all(sizes, active)


def orders_by_customer(workspace_id: str, *, until: dt.datetime | None = None,
                       purchase_days_tz: str | None = None) -> Select:
    """Per buying customer: ``orders``, ``purchases`` (= orders, or the local days with an order when
    ``purchase_days_tz`` names a time zone: the BTYD literature's convention, several orders on one day
    being one purchase worth their sum), ``revenue``, ``repeat_revenue`` (of every purchase but the first),
    and the time of the first and the last purchase (a day's first order). Only orders before ``until``."""
    ev = customer_events(workspace_id)
    wanted = [ev.c.event == ORDER, *([ev.c.ts < until] if until is not None else [])]
    if purchase_days_tz is None:
        purchases = sa.select(ev.c.customer, ev.c.ts, sa.literal(1).label("orders"),
                              revenue(ev.c.properties).label("revenue"), ev.c.seq).where(*wanted).subquery("p")
    else:
        end = until or dt.datetime.now(dt.UTC)
        dated = sa.select(ev.c.customer, ev.c.ts, ev.c.seq, revenue(ev.c.properties).label("revenue"),
                          local_period("day", ev.c.ts, purchase_days_tz, (end - HISTORY_WINDOW, end)).label("day"),
                          ).where(*wanted).subquery("dated")
        d = dated.c
        purchases = (
            sa.select(d.customer, sa.func.min(d.ts).label("ts"), sa.func.count().label("orders"),
                      sa.func.sum(d.revenue).label("revenue"), sa.func.min(d.seq).label("seq"))
            .group_by(d.customer, d.day).subquery("p")
        )
    p = purchases.c
    numbered = sa.select(
        p.customer, p.ts, p.orders, p.revenue,
        sa.func.row_number().over(partition_by=p.customer, order_by=(p.ts, p.seq)).label("n"),
    ).cte("purchases")
    o = numbered.c
    return (
        sa.select(
            o.customer, sa.func.sum(o.orders).label("orders"), sa.func.count().label("purchases"),
            sa.func.coalesce(sa.func.sum(o.revenue), 0).label("revenue"),
            sa.func.coalesce(sa.func.sum(sa.case((o.n > 1, o.revenue))), 0).label("repeat_revenue"),
            sa.func.min(o.ts).label("first_at"), sa.func.max(o.ts).label("last_at"),
        )
        .group_by(o.customer).order_by(o.customer)
    )


def top_paths(workspace_id: str, from_event: str, to_event: str, start: dt.datetime | None,
              end: dt.datetime | None, max_steps: int, limit: int) -> Select:
    """The most frequent paths (event names joined by PATH_SEPARATOR, repeats in a row collapsed) from
    each customer's first ``from_event`` in [start, end) to the next ``to_event``. A path with more than
    ``max_steps`` events between the two keeps the first ``max_steps`` and is flagged ``truncated``."""
    ev = customer_events(workspace_id)
    starts = (
        sa.select(ev.c.customer, sa.func.min(ev.c.ts).label("t_from"))
        .where(ev.c.event == from_event, *([ev.c.ts >= start] if start else []), *([ev.c.ts < end] if end else []))
        .group_by(ev.c.customer).cte("starts")
    )
    e = ev.alias("e")
    ends = (
        sa.select(starts.c.customer, starts.c.t_from, sa.func.min(e.c.ts).label("t_to"))
        .join(e, sa.and_(e.c.customer == starts.c.customer, e.c.event == to_event, e.c.ts > starts.c.t_from))
        .group_by(starts.c.customer, starts.c.t_from).cte("ends")
    )
    f = ev.alias("f")
    order = (f.c.ts, f.c.seq)
    between = (
        sa.select(ends.c.customer, f.c.event, f.c.ts, f.c.seq,
                  sa.func.lag(f.c.event).over(partition_by=ends.c.customer, order_by=order).label("previous"))
        .join(f, sa.and_(f.c.customer == ends.c.customer, f.c.ts >= ends.c.t_from, f.c.ts <= ends.c.t_to,
                         f.c.type.in_(_NAMED_TYPES), f.c.event.is_not(None)))
        .cte("between")
    )
    b = between.c
    steps = (
        sa.select(b.customer, b.event,
                  sa.func.row_number().over(partition_by=b.customer, order_by=(b.ts, b.seq)).label("n"),
                  sa.func.count().over(partition_by=b.customer).label("total"))
        .where(sa.or_(b.previous.is_(None), b.previous != b.event)).cte("steps")
    )
    s = steps.c
    paths = (
        sa.select(
            s.customer,
            sa.func.string_agg(s.event, PATH_SEPARATOR).aggregate_order_by(s.n).label("path"),
            (sa.func.max(s.total) > max_steps + 2).label("truncated"),
        )
        .where(sa.or_(s.n <= max_steps + 1, s.n == s.total)).group_by(s.customer).cte("paths")
    )
    customers = sa.func.count().label("customers")
    return (
        sa.select(paths.c.path, paths.c.truncated, customers)
        .group_by(paths.c.path, paths.c.truncated)
        .order_by(customers.desc(), paths.c.path).limit(limit)
    )


def offer_conversions(workspace_id: str, offer_event: str, start: dt.datetime, end: dt.datetime,
                      window_seconds: float) -> Select:
    """Per ``group`` property of an offer event (``Proactive Chat Offered``: treatment, holdout): ``offered``
    (customers whose first such event in [start, end) was in the group) and ``converted`` (of those, the
    customers who completed an order within ``window_seconds`` after it). System events carry only a
    profile id, so both sides are counted for the canonical customer."""
    merged = merged_profiles(workspace_id)
    customer = sa.func.coalesce(merged.c.canonical_id, events.c.profile_id)
    joined = events.outerjoin(merged, merged.c.profile_id == events.c.profile_id)
    grp = json_path_text(events.c.properties, "group")
    offered_rows = (
        sa.select(customer.label("customer"), grp.label("grp"), events.c.timestamp.label("at"))
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, events.c.event == offer_event,
               events.c.timestamp >= start, events.c.timestamp < end)
        .cte("offered_rows")
    )
    first = (
        sa.select(offered_rows.c.customer, sa.func.min(offered_rows.c.at).label("at"))
        .group_by(offered_rows.c.customer).cte("first_offer")
    )
    offers = (
        sa.select(first.c.customer, sa.func.min(offered_rows.c.grp).label("grp"), first.c.at)
        .select_from(first.join(offered_rows, sa.and_(offered_rows.c.customer == first.c.customer,
                                                        offered_rows.c.at == first.c.at)))
        .group_by(first.c.customer, first.c.at).cte("offers")
    )
    orders = (
        sa.select(customer.label("customer"), events.c.timestamp.label("ts"))
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, events.c.event == ORDER, events.c.timestamp >= start)
        .cte("orders")
    )
    converted = (
        sa.select(offers.c.customer).distinct()
        .select_from(offers.join(orders, orders.c.customer == offers.c.customer))
        .where(orders.c.ts > offers.c.at, epoch(orders.c.ts) - epoch(offers.c.at) <= window_seconds)
        .cte("converted")
    )
    return (
        sa.select(offers.c.grp, sa.func.count().label("offered"),
                  sa.func.count(converted.c.customer).label("converted"))
        .select_from(offers.outerjoin(converted, converted.c.customer == offers.c.customer))
        .group_by(offers.c.grp)
    )
