"""Dirty data for the tests of issue 13: values as shops send them, events stored straight into the event
store (as they were before the tracking plan typed anything), and every report and dashboard page."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi.testclient import TestClient

from support import bearer
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.web.http import router as web_router

# What shops send as amounts: Korean Excel exports, form fields, booleans, floats beyond any price.
DIRTY_VALUES: list[Any] = [
    "59,000원", "", True, False, 1e20, "12,000", None, [1], {"a": 1}, -1e308, "NaN", "Infinity", "1e400", 1e300,
    0.1, -5, "  12 ", "12000", 2**62, "١٢", "12.5", "₩1,000", "$5", "null", "-", "1,5", 5e-324, -0.0,
]

_seq = itertools.count(50_000_000)


def raw_event(workspace_id: str, profile_id: str, user_id: str, event: str | None, at: dt.datetime,
              properties: Any, *, channel: str = "web", device_type: str = "desktop", type_: str = "track"
              ) -> dict[str, Any]:
    """A row as the pump hands it to the event store: nothing between the sender and the store."""
    message_id = f"raw-{next(_seq)}"
    payload = {"type": type_, "event": event, "userId": user_id, "messageId": message_id,
               "timestamp": at.isoformat(), "properties": properties, "context": {"channel": channel}}
    return {"seq": next(_seq), "workspace_id": workspace_id, "message_id": message_id, "type": type_, "event": event,
            "profile_id": profile_id, "anonymous_id": None, "user_id": user_id, "timestamp": at,
            "original_timestamp": at, "sent_at": None, "received_at": at, "channel": channel,
            "device_type": device_type, "device_id": None, "payload": orjson.dumps(payload).decode()}


def store_raw(stores: Stores, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows straight into the event store (DuckDB or PostgreSQL), as ingestion did before."""
    with stores.events_conn() as conn:
        dialect.append_events(conn, rows)


# The pages whose content comes from event properties: the reports, the customers, the data-quality list.
REPORT_PAGES = ["/overview?days=90", "/funnels?step=Product+Added&step=Order+Completed&days=90&breakdown=channel",
                "/cohorts?period=month&months=3", "/data-quality", "/customers?q=p"]


def page_paths(extra: Iterable[str] = ()) -> list[str]:
    """Every dashboard page without a path parameter, with the query variants the reports take."""
    plain = sorted({r.path for r in web_router.routes  # type: ignore[attr-defined]
                    if "GET" in getattr(r, "methods", ()) and "{" not in r.path
                    and r.path not in ("/login", "/logout")
                    and not r.path.endswith("/stream")})  # a live stream (Server-Sent Events) never ends
    variants = ["/overview?days=7", "/overview?days=90", "/overview?start=1999-01-01&end=2031-01-01",
                "/funnels?step=Product+Added&step=Order+Completed&days=90",
                "/funnels?step=Product+Added&step=Order+Completed&days=90&breakdown=channel",
                "/funnels?step=Product+Added&step=Order+Completed&days=90&breakdown=first_touch_source",
                "/cohorts?period=week", "/cohorts?period=month&months=24", "/customers?q=u",
                "/customers?q=%ED%95%9C", "/overview?lang=ko", "/data-quality?lang=ko", "/inbox/report?lang=ko&days=90"]
    return [*plain, *variants, *extra]


def api_paths() -> list[str]:
    return ["/v1/analytics/cart-abandonment", "/v1/analytics/conversion?by=channel",
            "/v1/analytics/conversion?by=device_type", "/v1/analytics/cross-channel",
            "/v1/analytics/cohorts?period=week", "/v1/analytics/cohorts?period=month", "/v1/analytics/cltv",
            "/v1/analytics/cltv?top=1000", "/v1/analytics/paths?from=Product+Added&to=Order+Completed",
            "/v1/analytics/cart-abandonment?start=1999-01-01T00:00:00Z&end=2031-01-01T00:00:00Z",
            "/v1/tracking-plan", "/v1/tracking-plan/violations", "/v1/segments"]


FUNNELS = [{"steps": [{"event": "Product Added"}, {"event": "Order Completed"}], "breakdown": b}
           for b in (None, "channel", "device_type", "first_touch_source")]


def server_errors(client: TestClient, *, customers: Iterable[str] = (), segments: Iterable[str] = (),
                  reports_only: bool = False) -> list[tuple[str, int]]:
    """(path, status) of every page and report that answers 5xx (``reports_only``: of the pages that read
    event properties, and every report); the client is signed in to the dashboard."""
    failed = []
    customers, segments = list(customers), list(segments)
    own = [*(f"/customers/{c}" for c in customers), *(f"/segments/{s}" for s in segments),
           *(f"/segments/{s}/export.csv" for s in segments)]
    pages = [*REPORT_PAGES, *own] if reports_only else page_paths(own)
    for path in pages:
        response = client.get(path)
        if response.status_code >= 500:
            failed.append((path, response.status_code))
    for path in [*api_paths(), *(f"/v1/profiles/{c}" for c in customers),
                 *(f"/v1/profiles/{c}/export" for c in customers), *(f"/v1/segments/{s}/members" for s in segments)]:
        response = client.get(path, headers=bearer())
        if response.status_code >= 500:
            failed.append((path, response.status_code))
    for body in FUNNELS:
        response = client.post("/v1/analytics/funnel", json=body, headers=bearer())
        if response.status_code >= 500:
            failed.append(("/v1/analytics/funnel " + str(body["breakdown"]), response.status_code))
    return failed


# Rules that read numbers from events and traits: what dirty values could break in a segment query.
NUMERIC_RULES: list[dict[str, Any]] = [
    {"type": "computed", "field": "lifetime_value", "operator": ">", "value": 0},
    {"type": "computed", "field": "lifetime_value", "operator": "between", "value": [1, 100000]},
    {"type": "event", "event": "Order Completed", "aggregate": {"function": "sum", "property": "revenue",
                                                                "operator": ">=", "value": 1}},
    {"type": "event", "event": "Order Completed", "aggregate": {"function": "avg", "property": "price",
                                                                "operator": "<", "value": 100}},
    {"type": "event", "event": "Order Completed", "aggregate": {"function": "count", "property": "total",
                                                                "operator": ">=", "value": 1}},
    {"type": "event", "event": "Order Completed", "where": [{"property": "revenue", "operator": ">", "value": 10}]},
    {"type": "event", "event": "Order Completed", "where": [{"property": "revenue", "operator": "=", "value": 12}]},
    {"type": "rfm", "monetary": {"operator": ">=", "value": 3}},
    {"type": "trait", "trait": "age", "operator": ">", "value": 20},
    {"type": "trait", "trait": "points", "operator": "between", "value": [0, 1000]},
    {"type": "trait", "trait": "name", "operator": "=", "value": "한가람"},
]

