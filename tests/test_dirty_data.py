"""Issue 13: dirty data never breaks a report (both backends where a store is involved).

A tracking plan types the e-commerce properties at the edge; values stored before it (written here
straight into the event store) are read safely by every report and segment query; Hangul is NFC at the
edge; invalid e-mail and phone traits never replace valid ones; implausible times are refused or clamped."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi.testclient import TestClient

from dirty_helpers import DIRTY_VALUES, NUMERIC_RULES, raw_event, server_errors, store_raw
from segment_helpers import customers, python_members, sql_members
from support import basic, bearer
from touchline.analytics import service as analytics
from touchline.segments import parse
from touchline.segments.evaluate import _amount
from touchline.store.engines import Stores
from touchline.store.schema import profiles
from web_helpers import add_user, sign_in

NOW = dt.datetime.now(dt.UTC)


def _identify(client: TestClient, *users: str) -> dict[str, str]:
    batch = [{"type": "identify", "userId": u, "messageId": f"id-{u}", "traits": {"name": u}} for u in users]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    return {u: client.get(f"/v1/profiles/{u}", headers=bearer()).json()["id"] for u in users}


def _order_revenue(properties: Any) -> float | None:
    """What the reports count for an order: revenue, else total, each when it reads as an amount."""
    if not isinstance(properties, dict):
        return None
    found = _amount(properties.get("revenue"))
    return found if found is not None else _amount(properties.get("total"))


# --- reports never fail -------------------------------------------------------------------------------


def test_reports_and_segments_read_values_stored_before_the_plan(client: TestClient, stores: Stores,
                                                                 workspace_id: str) -> None:
    """Bad values written straight into the event store (as ingestion stored them before this change):
    every report, API analytics endpoint, dashboard page and segment query answers, counts what reads
    as an amount, and the SQL segments still agree with the Python evaluator."""
    users = [f"d{i}" for i in range(len(DIRTY_VALUES))]
    ids = _identify(client, "clean", "times", *users)
    stores.pump()
    day = NOW - dt.timedelta(days=3)
    rows = [raw_event(workspace_id, ids["clean"], "clean", "Order Completed", day, {"revenue": 59000}),
            raw_event(workspace_id, ids["clean"], "clean", "Product Added", day - dt.timedelta(hours=1),
                      {"cart_id": "c-clean", "price": 59000})]
    for user, value in zip(users, DIRTY_VALUES, strict=True):
        pid = ids[user]
        for k, name in enumerate(("revenue", "total", "price", "quantity")):
            props = {name: value, "cart_id": value, "currency": value, "products": value,
                     "order_id": value, "name": value}
            rows.append(raw_event(workspace_id, pid, user, "Order Completed", day + dt.timedelta(minutes=k), props,
                                  channel="app" if k % 2 else "web"))
        rows.append(raw_event(workspace_id, pid, user, "Product Added", day - dt.timedelta(minutes=5),
                              {"cart_id": value, "price": value, "products": [value, {"price": value}]}))
    # Times no sender should have sent, stored anyway: year 1, the epoch, a year far ahead.
    for at in (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
               dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC), NOW + dt.timedelta(days=400)):
        rows.append(raw_event(workspace_id, ids["times"], "times", "Order Completed", at, {"revenue": 1000}))
        rows.append(raw_event(workspace_id, ids["times"], "times", "Product Added", at, {"cart_id": "t"}))
    rows.append(raw_event(workspace_id, ids["clean"], "clean", None, day, {"revenue": "x"}))
    store_raw(stores, rows)
    # Traits as dirty as the properties, for the segments that read them.
    dirty_traits = {"d0": {"age": "abc", "points": [1], "name": {"a": 1}}, "d1": {"age": 1e300, "points": "12,000"},
                    "d2": {"age": True, "points": -1e308, "name": "한가람"}}
    with stores.write() as conn:
        for user, traits in dirty_traits.items():
            conn.execute(profiles.update().where(profiles.c.id == ids[user]).values(traits=traits, updated_at=NOW))
    stores.pump()

    # Services: each report answers, and the CLTV counts exactly the amounts that read as numbers.
    start, end = NOW - dt.timedelta(days=30), NOW
    expected = 59000 + sum(n for v in DIRTY_VALUES for n in [_order_revenue({"revenue": v})] if n is not None)
    cltv = analytics.cltv(stores, workspace_id, now=NOW)
    readable_total = [_order_revenue({"total": v}) for v in DIRTY_VALUES]
    expected += sum(n for n in readable_total if n is not None)
    expected += 2 * 1000  # the "times" customer's orders up to now: year 1 and 1970 (not 9999, not next year)
    assert math.isclose(cltv.revenue, round(expected, 2), rel_tol=1e-9, abs_tol=0.01), (cltv.revenue, expected)
    overview = analytics.overview(stores, workspace_id, start, end)
    assert overview.total.revenue >= 59000 and overview.total.orders == 1 + 4 * len(DIRTY_VALUES)
    analytics.cart_abandonment(stores, workspace_id, start, end)
    analytics.cross_channel(stores, workspace_id, dt.datetime(1, 1, 2, tzinfo=dt.UTC), end)
    analytics.retention_cohorts(stores, workspace_id, "week", None, None, start, end)
    analytics.retention_cohorts(stores, workspace_id, "month", "Order Completed", None, start, end)
    for breakdown in (None, "channel", "device_type", "first_touch_source"):
        analytics.funnel(stores, workspace_id, [analytics.Step("Product Added"), analytics.Step("Order Completed")],
                         dt.timedelta(days=7), start, end, breakdown)  # type: ignore[arg-type]
    analytics.top_paths(stores, workspace_id, "Product Added", "Order Completed")
    analytics.event_span(stores, workspace_id)

    # Segments: every numeric rule runs on the event store and agrees with the Python evaluator.
    everyone = customers(stores, workspace_id)
    for rule in NUMERIC_RULES:
        node = parse(rule)
        assert sql_members(stores, workspace_id, node, NOW) == python_members(everyone, node, NOW), rule
    buyers = sql_members(stores, workspace_id, parse(NUMERIC_RULES[0]), NOW)
    assert ids["clean"] in buyers and ids["d0"] not in buyers  # "59,000원" as stored is no amount...
    assert ids[users[DIRTY_VALUES.index("12000")]] in buyers  # ...but "12000" is

    # Every page and report over HTTP: no 5xx anywhere.
    add_user(stores, "m@example.com", "admin")
    sign_in(client, "m@example.com")
    created = client.post("/v1/segments", json={"name": "LTV", "definition": NUMERIC_RULES[0]}, headers=bearer())
    assert created.status_code in (200, 201), created.text
    assert server_errors(client, customers=["clean", "times", *users], segments=[created.json()["id"]]) == []
