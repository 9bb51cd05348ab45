"""The predictions' features and labels, computed inside the event store: one SQLAlchemy Core query, the
same SQL on DuckDB and PostgreSQL (compiled per engine, values bound as parameters).

For a ``cutoff`` the query reads each customer's events before it (features: recency, frequency, money,
active days as sessions, channels and devices, cart behaviour (distinct carts too), store visits and
chats, the messages they opened and clicked)
and, given a ``horizon``, their orders in ``[cutoff, cutoff + horizon)`` (the label). One scan of the
events between ``cutoff - lookback`` and ``cutoff + horizon`` with conditional aggregates, grouped by the
canonical customer (a profile merged into another counts as the survivor, as in the reports).

Times come back as epoch seconds (doubles): the training turns them into ages in days.

This layer sits below the reports (``touchline.analytics``), so the few helpers the reports share are
spelled here again (``_customer_events``, ``_revenue``): the same definitions, kept small.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from touchline.store.dialect import inline_cte, json_amount, json_path_text, json_value
from touchline.store.schema import events, profile_snapshots

__all__ = ["ENGAGED_EVENTS", "FEATURE_COLUMNS", "ORDER", "customer_features"]

ORDER = "Order Completed"
VIEWED = "Product Viewed"
ADDED = "Product Added"
CHECKOUT = "Checkout Started"
STORE_VISIT = "Store Visited"
CHAT = "Chat Started"
# Touchline's own receipts about a customer (they carry only a profile id, no user or anonymous id).
SENT_EVENTS = ("Message Sent", "Message Delivered")
ENGAGED_EVENTS = ("Message Opened", "Message Clicked", "Message Replied")

# Select of any number of columns.
Select = sa.Select[*tuple[Any, ...]]

# What :func:`customer_features` returns besides ``customer`` and ``future_orders`` (the label's count).
FEATURE_COLUMNS = (
    "first_at", "last_at", "events_30", "events_90", "active_days_30", "active_days_90",
    "orders", "orders_30", "orders_90", "revenue", "first_order_at", "last_order_at",
    "views_30", "views_90", "adds_30", "adds_90", "checkouts_30", "checkouts_90",
    "channels", "app_events", "web_events", "store_events", "chat_events",
    "last_app_at", "last_web_at", "ios_events", "android_events",
    "messages_received", "messages_opened", "messages_clicked",
    "events_14", "active_days_14", "active_days", "carts", "store_visits", "store_orders", "chats",
)
_DAY = 86_400.0


def _epoch(ts: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    return sa.cast(sa.extract("epoch", ts), sa.Double)


def _merged(workspace_id: str) -> sa.Subquery:
    """Profiles merged into another one, with the survivor (as ``touchline.analytics.queries``)."""
    snap = profile_snapshots
    return (
        sa.select(snap.c.profile_id, snap.c.canonical_id)
        .where(snap.c.workspace_id == workspace_id, snap.c.canonical_id != snap.c.profile_id)
        .subquery("merged")
    )


def _revenue(properties: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An order's value in minor units: ``revenue``, else ``total``, when it reads as an amount."""
    return sa.func.coalesce(json_amount(json_value(properties, "revenue")),
                            json_amount(json_value(properties, "total")))


def customer_features(workspace_id: str, cutoff: dt.datetime, *, horizon: dt.timedelta | None,
                      lookback: dt.timedelta) -> Select:
    """Per customer with an event in ``[cutoff - lookback, cutoff)``: the features of :data:`FEATURE_COLUMNS`
    as of ``cutoff`` and, with a ``horizon``, ``future_orders`` (orders in ``[cutoff, cutoff + horizon)``;
    NULL without one). Ordered by customer, so that a run is repeatable."""
    start = cutoff - lookback
    end = cutoff + horizon if horizon is not None else cutoff
    merged = _merged(workspace_id)
    customer = sa.func.coalesce(merged.c.canonical_id, events.c.profile_id)
    joined = events.outerjoin(merged, merged.c.profile_id == events.c.profile_id)
    os_name = sa.func.lower(sa.func.coalesce(json_path_text(events.c.context, "os", "name"),
                                             json_path_text(events.c.context, "device", "type")))
    ev = inline_cte(
        sa.select(
            customer.label("customer"), events.c.event, events.c.type, events.c.channel,
            events.c.timestamp.label("ts"), _epoch(events.c.timestamp).label("t"),
            sa.case((events.c.event == ORDER, _revenue(events.c.properties))).label("revenue"),
            sa.case((events.c.channel == "app", os_name)).label("os"),
            sa.case((events.c.event == ADDED, json_path_text(events.c.properties, "cart_id"))).label("cart"),
            sa.or_(events.c.user_id.is_not(None), events.c.anonymous_id.is_not(None)).label("own"),
        )
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, events.c.timestamp >= start, events.c.timestamp < end)
        .cte("ev")
    )
    c = ev.c
    before = c.ts < cutoff
    own = sa.and_(before, c.own)
    last_30 = sa.and_(own, c.ts >= cutoff - dt.timedelta(days=30))
    last_90 = sa.and_(own, c.ts >= cutoff - dt.timedelta(days=90))
    last_14 = sa.and_(own, c.ts >= cutoff - dt.timedelta(days=14))
    order = c.event == ORDER
    day = sa.func.floor(c.t / _DAY)

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count(sa.case((sa.and_(*conditions), 1)))

    def latest(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[float]:
        return sa.func.max(sa.case((sa.and_(*conditions), c.t)))

    label = (count(c.own, c.ts >= cutoff, order) if horizon is not None
             else sa.cast(sa.null(), sa.Integer))
    return (
        sa.select(
            c.customer,
            sa.func.min(sa.case((own, c.t))).label("first_at"),
            latest(own).label("last_at"),
            count(last_30).label("events_30"),
            count(last_90).label("events_90"),
            sa.func.count(sa.distinct(sa.case((last_30, day)))).label("active_days_30"),
            sa.func.count(sa.distinct(sa.case((last_90, day)))).label("active_days_90"),
            count(own, order).label("orders"),
            count(last_30, order).label("orders_30"),
            count(last_90, order).label("orders_90"),
            sa.func.coalesce(sa.func.sum(sa.case((own, c.revenue))), 0).label("revenue"),
            sa.func.min(sa.case((sa.and_(own, order), c.t))).label("first_order_at"),
            latest(own, order).label("last_order_at"),
            count(last_30, c.event == VIEWED).label("views_30"),
            count(last_90, c.event == VIEWED).label("views_90"),
            count(last_30, c.event == ADDED).label("adds_30"),
            count(last_90, c.event == ADDED).label("adds_90"),
            count(last_30, c.event == CHECKOUT).label("checkouts_30"),
            count(last_90, c.event == CHECKOUT).label("checkouts_90"),
            sa.func.count(sa.distinct(sa.case((own, c.channel)))).label("channels"),
            count(own, c.channel == "app").label("app_events"),
            count(own, c.channel == "web").label("web_events"),
            count(own, c.channel == "store").label("store_events"),
            count(own, c.channel == "chat").label("chat_events"),
            latest(own, c.channel == "app").label("last_app_at"),
            latest(own, c.channel == "web").label("last_web_at"),
            count(own, c.os.in_(("ios", "ipados"))).label("ios_events"),
            count(own, c.os == "android").label("android_events"),
            count(before, sa.not_(c.own), c.event.in_(SENT_EVENTS)).label("messages_received"),
            count(before, sa.not_(c.own), c.event == "Message Opened").label("messages_opened"),
            count(before, sa.not_(c.own), c.event.in_(ENGAGED_EVENTS[1:])).label("messages_clicked"),
            count(last_14).label("events_14"),
            sa.func.count(sa.distinct(sa.case((last_14, day)))).label("active_days_14"),
            sa.func.count(sa.distinct(sa.case((own, day)))).label("active_days"),
            sa.func.count(sa.distinct(sa.case((own, c.cart)))).label("carts"),
            count(own, c.event == STORE_VISIT).label("store_visits"),
            count(own, order, c.channel == "store").label("store_orders"),
            count(own, c.event == CHAT).label("chats"),
            label.label("future_orders"),
        )
        .group_by(c.customer)
        .having(sa.func.count(sa.case((own, 1))) > 0)
        .order_by(c.customer)
    )
