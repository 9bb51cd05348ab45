"""The two evaluators agree: for random rule trees and random customer histories, the compiled SQL
selects exactly the customers the Python evaluator accepts, on both event stores."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from segment_helpers import customers, load, profile_id, python_members, set_snapshots, sql_members
from touchline.segments import Context, parse
from touchline.segments.compile import rfm_cutoffs
from touchline.store.engines import Stores
from touchline.store.schema import profile_snapshots
from touchline.workspaces.service import create_workspace

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
USERS = ["u0", "u1", "u2", "u3"]
EVENTS = ["Product Added", "Order Completed", "Product Viewed"]
CHANNELS = ["web", "app", "store", "email", "messenger", "in_app"]
TRAITS = ["tier", "age", "tags", "signup_at", "email", "phone", "kakao_id"]
SEGMENTS = {"buyers": {"type": "event", "event": "Order Completed"},
            "gold": {"type": "trait", "trait": "tier", "operator": "=", "value": "gold"}}
_workspaces = itertools.count()

# --- histories -------------------------------------------------------------------------------------------

# Offsets in hours, biased towards the edges of the windows that rules use (7, 30, 60, 90 days; 24 h).
hours_ago = st.one_of(st.integers(-48, 24 * 120), st.sampled_from([0, 1, 24, 25, 48, 168, 720, 1440, 2160]))
iso_days_ago = st.integers(-30, 800).map(lambda d: (NOW - dt.timedelta(days=d)))
scalar = st.one_of(st.sampled_from(["gold", "silver", "", "g", "1"]), st.integers(-5, 200),
                   st.sampled_from([0.5, 2.5, 100.0]), st.booleans())
trait_value = st.one_of(
    scalar, st.none(), st.lists(st.one_of(st.sampled_from(["a", "b", "gold"]), st.integers(0, 3), st.booleans()),
                                max_size=3),
    iso_days_ago.map(lambda t: t.isoformat()), iso_days_ago.map(lambda t: t.date().isoformat()),
    iso_days_ago.map(lambda t: t.astimezone(dt.timezone(dt.timedelta(hours=9))).isoformat(timespec="seconds")),
)
properties = st.fixed_dictionaries({}, optional={
    "cart_id": st.sampled_from(["c1", "c2", 7]),
    "revenue": st.one_of(st.integers(0, 100000), st.just("12")),
})


@st.composite
def world(draw: Any) -> dict[str, Any]:
    items, snapshots = [], {}
    for user in USERS:
        for _ in range(draw(st.integers(0, 5))):
            at = NOW - dt.timedelta(hours=draw(hours_ago), minutes=draw(st.sampled_from([0, 0, 30])))
            items.append({"type": "track", "userId": user, "event": draw(st.sampled_from(EVENTS)),
                          "timestamp": at.isoformat(), "properties": draw(properties),
                          "context": {"channel": draw(st.sampled_from(CHANNELS))}})
        # every user exists as a profile, with or without events
        items.append({"type": "identify", "userId": user,
                      "timestamp": (NOW - dt.timedelta(hours=draw(hours_ago))).isoformat()})
        snapshots[user] = {
            "traits": draw(st.dictionaries(st.sampled_from(TRAITS), trait_value, max_size=4)),
            "consents": draw(st.dictionaries(st.sampled_from(["email", "sms", "messenger", "push", "in_app"]),
                                             st.sampled_from([{"status": "granted"}, {"status": "denied"}]),
                                             max_size=3)),
        }
    # orphan_u2: u2's snapshot is missing (the mirror has not caught up): u2 counts as itself, no traits
    return {"items": items, "snapshots": snapshots, "merge_u3": draw(st.booleans()), "orphan_u2": draw(st.booleans())}


# --- rules -----------------------------------------------------------------------------------------------

def _filter_value(operator: str) -> st.SearchStrategy[Any]:
    return {
        "=": scalar, "!=": scalar, "contains": scalar,
        "in": st.lists(scalar, min_size=1, max_size=3),
        ">": st.integers(-5, 100000), "<": st.integers(-5, 100000),
        "between": st.tuples(st.integers(-5, 200), st.integers(0, 100000)).map(lambda t: sorted(t)),
        "exists": st.none(),
        "within_last_days": st.sampled_from([0, 1, 7, 30, 365]),
        "more_than_days_ago": st.sampled_from([0, 1, 7, 30, 365]),
    }[operator]


@st.composite
def trait_rule(draw: Any) -> dict[str, Any]:
    op = draw(st.sampled_from(["=", "!=", "in", "contains", ">", "<", "between", "exists", "within_last_days",
                               "more_than_days_ago"]))
    node = {"type": "trait", "trait": draw(st.sampled_from(TRAITS)), "operator": op}
    value = draw(_filter_value(op))
    return node if value is None else {**node, "value": value}


def _comparison(values: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    single = st.builds(lambda op, v: {"operator": op, "value": v},
                       st.sampled_from(["=", "!=", ">", ">=", "<", "<="]), values)
    between = st.tuples(values, values).map(lambda t: {"operator": "between", "value": sorted(t)})
    within = st.lists(values, min_size=1, max_size=3).map(lambda v: {"operator": "in", "value": v})
    return st.one_of(single, between, within)


@st.composite
def event_rule(draw: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "event"}
    name = draw(st.one_of(st.none(), st.sampled_from(EVENTS)))
    if name:
        node["event"] = name
    if draw(st.booleans()):
        op = draw(st.sampled_from(["=", "!=", "in", "contains", ">", "<", "between", "exists"]))
        prop = {"property": draw(st.sampled_from(["cart_id", "revenue"])), "operator": op}
        value = draw(_filter_value(op))
        node["where"] = [prop if value is None else {**prop, "value": value}]
    measure = draw(st.sampled_from(["count", "first_time", "last_time", "aggregate"]))
    if measure == "count":
        node["count"] = {"operator": draw(st.sampled_from(["at_least", "at_most", "exactly"])),
                         "value": draw(st.integers(0, 3))}
    elif measure == "aggregate":
        node["aggregate"] = {"function": draw(st.sampled_from(["sum", "avg", "count"])), "property": "revenue",
                             **draw(_comparison(st.sampled_from([0, 1, 2, 5000, 50000, 100000])))}
    else:
        node[measure] = {"operator": draw(st.sampled_from(["within_last_days", "more_than_days_ago"])),
                         "value": draw(st.sampled_from([0, 1, 7, 30, 90]))}
    if measure in ("count", "aggregate") and draw(st.booleans()):
        node["within_days"] = draw(st.sampled_from([0, 1, 7, 30, 90]))
    return node


leaf = st.one_of(
    trait_rule(),
    event_rule(),
    st.builds(lambda hours, key, days: {"type": "sequence_absence", "event": "Product Added",
                                        "absent_event": "Order Completed", "within_hours": hours,
                                        **({"key": key} if key else {}), **({"within_days": days} if days else {})},
              st.sampled_from([1, 24, 48]), st.sampled_from([None, "cart_id"]), st.sampled_from([None, 7, 30])),
    st.builds(lambda name, cmp: {"type": "rfm", name: cmp}, st.sampled_from(["recency", "frequency", "monetary"]),
              _comparison(st.integers(1, 5))),
    st.builds(lambda f, cmp: {"type": "computed", "field": f, **cmp},
              st.sampled_from(["lifetime_value", "orders_count"]), _comparison(st.sampled_from([0, 1, 2, 50000]))),
    st.builds(lambda f, op, v: {"type": "computed", "field": f, "operator": op, "value": v if op != "in" else [v]},
              st.sampled_from(["last_channel", "preferred_channel"]), st.sampled_from(["=", "!=", "in"]),
              st.sampled_from(CHANNELS)),
    st.builds(lambda ch: {"type": "reachable", "channel": ch},
              st.sampled_from(["email", "sms", "messenger", "push", "in_app"])),
    st.builds(lambda sid: {"type": "segment", "id": sid}, st.sampled_from(sorted(SEGMENTS))),
)

rules = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda cs: {"type": "and", "children": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"type": "or", "children": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"type": "not", "child": c}, children),
    ),
    max_leaves=6,
)


def test_compiled_sql_and_python_evaluator_agree(stores: Stores, backend: str) -> None:
    @settings(max_examples=30 if backend == "embedded" else 10, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(history=world(), definitions=st.lists(rules, min_size=1, max_size=4))
    def check(history: dict[str, Any], definitions: list[dict[str, Any]]) -> None:
        with stores.write() as conn:
            workspace_id = create_workspace(conn, f"prop-{next(_workspaces)}")
        items = [{**item, "messageId": f"m{i}"} for i, item in enumerate(history["items"])]
        load(stores, workspace_id, items, NOW)
        ids = {user: profile_id(stores, workspace_id, user) for user in USERS}
        rows = {ids[u]: dict(history["snapshots"][u]) for u in USERS}
        if history["merge_u3"]:
            rows[ids["u3"]]["canonical_id"] = ids["u0"]
        set_snapshots(stores, workspace_id, rows, NOW)
        if history["orphan_u2"]:
            with stores.events_conn() as conn:
                conn.execute(profile_snapshots.delete().where(profile_snapshots.c.profile_id == ids["u2"]))
        everyone = customers(stores, workspace_id)
        with stores.events_conn() as conn:  # live membership scores RFM against cut-offs the SQL computes
            cutoffs = conn.execute(rfm_cutoffs(workspace_id, NOW)).mappings().one()
        assert Context.from_cutoffs(cutoffs) == Context.build(everyone, NOW)
        for definition in definitions:
            note(f"rule: {definition}")
            node = parse(definition, SEGMENTS)
            assert sql_members(stores, workspace_id, node, NOW, SEGMENTS) == \
                python_members(everyone, node, NOW, SEGMENTS)

    check()
