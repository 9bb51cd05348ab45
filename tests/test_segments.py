"""Segments on hand-computed fixtures, on both backends: compiled SQL and the Python evaluator give the
member sets worked out by hand below. Plus the pinned SQL of one nested segment."""

from __future__ import annotations

import bisect
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from duckdb_engine import Dialect as DuckDBDialect
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from segment_helpers import customers, load, profile_id, python_members, set_snapshots, sql_members, track
from touchline.segments import compile_segment, parse
from touchline.segments.evaluate import cutoffs, quintile
from touchline.segments.templates import TEMPLATES
from touchline.store.engines import Stores

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)


def shop_events() -> list[dict[str, Any]]:
    order = "Order Completed"
    return [
        # alice: 4 orders (web) + 5 views (messenger, the latest events); frank (merged into her) 1 order (app)
        *(track("alice", order, NOW - d * DAY, "web", revenue=200000) for d in (5, 20, 40, 70)),
        *(track("alice", "Product Viewed", NOW - h * HOUR, "messenger") for h in (6, 7, 8, 9, 10)),
        track("frank", order, NOW - DAY, "app", revenue=100000),
        # bob: cart c1 abandoned 2 days ago; cart c2 bought an hour after adding it
        track("bob", "Product Added", NOW - 2 * DAY, "email", cart_id="c1"),
        track("bob", "Product Added", NOW - 3 * DAY, "email", cart_id="c2"),
        track("bob", order, NOW - 3 * DAY + HOUR, "web", cart_id="c2", revenue=30000),
        # carol: two store orders, the last 90 days ago
        track("carol", order, NOW - 100 * DAY, "store", revenue=50000),
        track("carol", order, NOW - 90 * DAY, "store", revenue=50000),
        # dave: first seen 3 days ago, no order
        track("dave", "Product Viewed", NOW - 3 * DAY, "web"),
        # erin: added a cart 10 hours ago (24 hours not yet passed)
        track("erin", "Product Added", NOW - 10 * HOUR, "app", cart_id="c9"),
        # gina: a cart 10 days ago, outside the 7-day window
        track("gina", "Product Added", NOW - 10 * DAY, "web", cart_id="c7"),
        # the shop's back end and Touchline's own records ("server") are no channel a customer used: erin's
        # last channel stays app, carol still prefers the store
        track("erin", "Message Sent", NOW - HOUR, "server"),
        *(track("carol", "Message Delivered", NOW - h * HOUR, "server") for h in (1, 2, 3)),
    ]


TRAITS: dict[str, dict[str, Any]] = {
    "alice": {"traits": {"tier": "gold", "email": "alice@example.com", "tags": ["vip", "newsletter"]},
              "consents": {"email": {"status": "granted", "at": "2025-01-01T00:00:00+00:00", "source": "web"}}},
    "bob": {"traits": {"tier": "vip", "email": "bob@example.com"},
            "consents": {"email": {"status": "denied", "at": "2025-01-01T00:00:00+00:00", "source": "web"}}},
    "carol": {"traits": {"tier": "silver", "kakao_id": "carol-k", "signup_at": "2024-01-01"},
              "consents": {"email": {"status": "granted"}, "messenger": {"status": "granted"}}},
    "dave": {"traits": {"signup_at": "2025-05-30T09:00:00+09:00", "tags": "newsletter-ish"}},
}


@pytest.fixture
def shop(stores: Stores, workspace_id: str) -> dict[str, str]:
    load(stores, workspace_id, shop_events(), NOW)
    users = ["alice", "bob", "carol", "dave", "erin", "gina", "frank"]
    ids = {u: profile_id(stores, workspace_id, u) for u in users}
    rows = {ids[u]: {**TRAITS.get(u, {}), "user_id": u} for u in users}
    rows[ids["frank"]]["canonical_id"] = ids["alice"]  # frank was merged into alice
    set_snapshots(stores, workspace_id, rows, NOW)
    return ids


SEGMENTS = {"buyers": {"type": "event", "event": "Order Completed"}}

RULES: list[tuple[str, dict[str, Any], set[str]]] = [
    *((name, TEMPLATES[name], members) for name, members in [
        ("cart_abandoners", {"bob"}),
        ("high_value_loyal", {"alice"}),
        ("at_risk", {"carol"}),
        ("new_visitors", {"dave", "erin"}),
        ("prefers_messenger", {"alice"}),
        ("prefers_email", {"bob"}),
        ("prefers_store", {"carol"}),
    ]),
    ("tier in", {"type": "trait", "trait": "tier", "operator": "in", "value": ["gold", "vip"]}, {"alice", "bob"}),
    ("tier !=", {"type": "trait", "trait": "tier", "operator": "!=", "value": "gold"},
     {"bob", "carol", "dave", "erin", "gina"}),
    ("tags contains", {"type": "trait", "trait": "tags", "operator": "contains", "value": "newsletter"},
     {"alice", "dave"}),
    ("reachable email", {"type": "reachable", "channel": "email"}, {"alice"}),
    ("reachable messenger", {"type": "reachable", "channel": "messenger"}, {"carol"}),
    ("reachable in_app", {"type": "reachable", "channel": "in_app"}, set()),
    ("revenue 90d", {"type": "event", "event": "Order Completed", "within_days": 90,
                     "aggregate": {"function": "sum", "property": "revenue", "operator": ">", "value": 500000}},
     {"alice"}),
    ("avg revenue", {"type": "event", "event": "Order Completed",
                     "aggregate": {"function": "avg", "property": "revenue", "operator": "between",
                                   "value": [40000, 190000]}}, {"alice", "carol"}),
    ("signup recent", {"type": "trait", "trait": "signup_at", "operator": "within_last_days", "value": 7}, {"dave"}),
    ("signup old", {"type": "trait", "trait": "signup_at", "operator": "more_than_days_ago", "value": 365},
     {"carol"}),
    ("buyers not at the store", {"type": "and", "children": [
        {"type": "segment", "id": "buyers"},
        {"type": "not", "child": {"type": "computed", "field": "preferred_channel", "operator": "=",
                                  "value": "store"}}]}, {"alice", "bob"}),
    ("cart c2", {"type": "event", "event": "Product Added",
                 "where": [{"property": "cart_id", "operator": "=", "value": "c2"}]}, {"bob"}),
    ("last channel app", {"type": "computed", "field": "last_channel", "operator": "=", "value": "app"}, {"erin"}),
    ("5+ orders", {"type": "computed", "field": "orders_count", "operator": ">=", "value": 5}, {"alice"}),
    ("ltv", {"type": "computed", "field": "lifetime_value", "operator": "=", "value": 900000}, {"alice"}),
    ("first order long ago", {"type": "event", "event": "Order Completed",
                              "first_time": {"operator": "more_than_days_ago", "value": 60}}, {"alice", "carol"}),
    ("last order recent", {"type": "event", "event": "Order Completed",
                           "last_time": {"operator": "within_last_days", "value": 2}}, {"alice"}),
    ("exactly 2 orders or a cart", {"type": "or", "children": [
        {"type": "event", "event": "Order Completed", "count": {"operator": "exactly", "value": 2}},
        {"type": "event", "event": "Product Added", "count": {"operator": "at_least", "value": 2}}]},
     {"bob", "carol"}),
    ("no events at all", {"type": "not", "child": {"type": "event"}}, set()),
]


@pytest.mark.parametrize(("name", "definition", "expected"), RULES, ids=[r[0] for r in RULES])
def test_members_are_the_hand_computed_ones(stores: Stores, workspace_id: str, shop: dict[str, str], name: str,
                                            definition: dict[str, Any], expected: set[str]) -> None:
    node = parse(definition, SEGMENTS)
    by_id = {pid: user for user, pid in shop.items()}
    assert {by_id[p] for p in sql_members(stores, workspace_id, node, NOW, SEGMENTS)} == expected
    everyone = customers(stores, workspace_id)
    assert "frank" not in {by_id[c.customer_id] for c in everyone}  # merged: his events are alice's
    assert {by_id[p] for p in python_members(everyone, node, NOW, SEGMENTS)} == expected


# --- the generated SQL, pinned ----------------------------------------------------------------------------

NESTED = {"type": "and", "children": [
    {"type": "trait", "trait": "tier", "operator": "=", "value": "gold"},
    {"type": "or", "children": [
        {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 2},
         "within_days": 30},
        {"type": "not", "child": {"type": "reachable", "channel": "sms"}},
    ]},
]}

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _sql(dialect: Any) -> str:
    query = compile_segment(parse(NESTED), "ws1", dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC))
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


@pytest.mark.parametrize("dialect", [postgresql.dialect(), DuckDBDialect()], ids=["postgresql", "duckdb"])
def test_generated_sql_is_pinned(dialect: Any) -> None:
    """A change here changes what every segment runs: review the diff, then update the file."""
    expected = (SNAPSHOTS / f"segment_nested.{dialect.name}.sql").read_text()
    assert _sql(dialect) + "\n" == expected


@given(st.lists(st.integers(0, 20), min_size=1, max_size=40), st.integers(-1, 21))
def test_quintile_by_cutoffs_is_the_share_of_buyers_below(values: list[int], value: int) -> None:
    """Live membership scores RFM with four cut-offs per measure; that is the definition the SQL uses:
    1 + how many of the cuts k/5 the share of buyers strictly below the value reaches."""
    ordered = sorted(values)
    below, n = bisect.bisect_left(ordered, value), len(ordered)
    assert quintile(cutoffs(ordered), value) == 1 + sum(1 for k in range(1, 5) if 5 * below >= k * n)
