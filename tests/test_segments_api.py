"""Segments through the API: save, preview, members, CSV export, and live membership with
Segment Entered / Exited events in the event log."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.segments.service import refresh_live
from touchline.store.engines import Stores

BUYER = {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 1}}
SEOUL = {"type": "trait", "trait": "city", "operator": "=", "value": "서울"}


def send(client: TestClient, *messages: dict) -> None:
    response = client.post("/v1/batch", json={"batch": list(messages)}, headers=basic())
    assert response.status_code == 200, response.text


def shop(client: TestClient, stores: Stores) -> None:
    now = dt.datetime.now(dt.UTC)
    send(client,
         {"type": "identify", "userId": "u1", "messageId": "i1",
          "traits": {"city": "서울", "email": "a@example.com",
                     "address": {"city": "서울특별시", "district": "마포구"}}},
         {"type": "identify", "userId": "u2", "messageId": "i2", "traits": {"city": "부산", "email": "b@example.com"}},
         {"type": "identify", "userId": "u3", "messageId": "i3", "traits": {"city": "서울"}},
         {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "o1",
          "timestamp": (now - dt.timedelta(days=3)).isoformat(), "properties": {"revenue": 50000}},
         {"type": "track", "userId": "u2", "event": "Order Completed", "messageId": "o2",
          "timestamp": (now - dt.timedelta(days=2)).isoformat(), "properties": {"revenue": 70000}})
    stores.pump()


def test_preview_save_members_and_export(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    definition = {"type": "and", "children": [BUYER, SEOUL]}
    preview = client.post("/v1/segments/preview", json={"definition": definition}, headers=bearer()).json()
    assert preview["count"] == 1
    assert preview["sample"][0]["traits"]["email"] == "a@example.com"
    created = client.post("/v1/segments", json={"name": "서울 구매자", "definition": definition}, headers=bearer())
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["members"] == 1 and segment["version"] == 1
    assert client.get(f"/v1/segments/{segment['name']}", headers=bearer()).json()["id"] == segment["id"]
    page = client.get(f"/v1/segments/{segment['id']}/members", headers=bearer()).json()
    assert [m["user_id"] for m in page["members"]] == ["u1"] and page["next"] is None
    exported = client.get(f"/v1/segments/{segment['id']}/export.csv", headers=bearer())
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["user_id"], r["email"]) for r in rows] == [("u1", "a@example.com")]
    profile = client.get("/v1/profiles/u1", headers=bearer()).json()
    assert [s["name"] for s in profile["segments"]] == ["서울 구매자"]
    entered = [e for e in profile["timeline"] if e["event"] == "Segment Entered"]
    assert entered and entered[0]["properties"]["segment_id"] == segment["id"]


def test_nested_traits_are_reached_with_a_dotted_name(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    definition = {"type": "trait", "trait": "address.district", "operator": "=", "value": "마포구"}
    preview = client.post("/v1/segments/preview", json={"definition": definition}, headers=bearer()).json()
    assert preview["count"] == 1 and preview["sample"][0]["traits"]["email"] == "a@example.com"


def test_live_membership_follows_new_events(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    segment = client.post("/v1/segments", json={"name": "buyers", "definition": BUYER}, headers=bearer()).json()
    assert segment["members"] == 2
    stores.take_touched()
    send(client, {"type": "track", "userId": "u3", "event": "Order Completed", "messageId": "o3",
                  "properties": {"revenue": 9900}})
    stores.pump()
    changes = refresh_live(stores, stores.take_touched())
    assert [(c.entered, c.exited) for c in changes] == [(1, 0)]
    assert client.get(f"/v1/segments/{segment['id']}", headers=bearer()).json()["members"] == 3
    # Narrowing the definition makes a new version, and members who no longer match exit.
    updated = client.patch(f"/v1/segments/{segment['id']}", headers=bearer(),
                           json={"definition": {"type": "and", "children": [BUYER, SEOUL]}}).json()
    assert updated["version"] == 2 and updated["members"] == 2
    stores.pump()
    timeline = client.get("/v1/profiles/u2", headers=bearer()).json()["timeline"]
    assert [e["event"] for e in timeline if e["event"] and e["event"].startswith("Segment")] == [
        "Segment Exited", "Segment Entered"]
    # Recomputing changes nothing, and records nothing twice.
    assert [(c.entered, c.exited) for c in refresh_live(stores, None)] == [(0, 0)]


def test_bad_definitions_and_references_are_refused(client: TestClient, stores: Stores) -> None:
    bad = client.post("/v1/segments", headers=bearer(),
                      json={"name": "x", "definition": {"type": "trait", "trait": "age", "operator": "≈", "value": 3}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"].startswith("/")
    unknown = client.post("/v1/segments", headers=bearer(),
                          json={"name": "y", "definition": {"type": "segment", "id": "seg_nope"}})
    assert unknown.status_code == 422
    base = client.post("/v1/segments", json={"name": "base", "definition": SEOUL}, headers=bearer()).json()
    client.post("/v1/segments", json={"name": "derived", "definition": {"type": "segment", "id": base["id"]}},
                headers=bearer())
    in_use = client.delete(f"/v1/segments/{base['id']}", headers=bearer())
    assert in_use.status_code == 409
    taken = client.post("/v1/segments", json={"name": "base", "definition": SEOUL}, headers=bearer())
    assert taken.status_code == 409
    assert client.get("/v1/segments/nope", headers=bearer()).status_code == 404
    templates = client.get("/v1/segments/templates", headers=bearer()).json()["templates"]
    assert "cart_abandoners" in templates


def test_evaluating_some_customers_agrees_with_evaluating_all(client: TestClient, stores: Stores,
                                                             workspace_id: str) -> None:

    from touchline.profiles.service import resolve
    from touchline.segments import service
    from touchline.segments.compile import compile_segment
    from touchline.segments.evaluate import matches, property_events
    from touchline.segments.templates import TEMPLATES
    from touchline.segments.validate import parse

    shop(client, stores)
    now = dt.datetime.now(dt.UTC)
    some = [resolve(stores, workspace_id, "u1"), resolve(stores, workspace_id, "u3")]
    for definition in [BUYER, SEOUL, {"type": "not", "child": BUYER}, *TEMPLATES.values()]:
        node = parse(definition)
        with stores.events_conn() as conn:
            everyone = set(conn.execute(compile_segment(node, workspace_id, now)).scalars())
            subset = set(conn.execute(compile_segment(node, workspace_id, now, only=some)).scalars())
        assert subset == everyone & set(some), definition
        if not service._needs_population(node, {}):
            states = service._customer_states(stores, workspace_id, some, property_events([node]))
            in_memory = {c.customer_id for c in states if matches(node, c, now)}
            assert in_memory == subset, definition


def test_live_rfm_cutoffs_are_reused_within_their_max_age(client: TestClient, stores: Stores,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Live rounds score RFM against cut-offs at most ``segment_rfm_max_age_seconds`` old (batch SQL
    ranks exactly); past that, or at a full refresh, they are computed again."""
    from touchline.segments import service

    computed: list[dt.datetime] = []

    def counted(workspace_id: str, now: dt.datetime) -> Any:
        computed.append(now)
        return rfm_cutoffs(workspace_id, now)

    rfm_cutoffs = service.rfm_cutoffs
    monkeypatch.setattr(service, "rfm_cutoffs", counted)
    stores.settings.segment_rfm_max_age_seconds = 600
    t0 = dt.datetime.now(dt.UTC)
    shop(client, stores)  # buyers: u1 50,000, u2 70,000
    top = {"type": "rfm", "monetary": {"operator": "=", "value": 5}}
    assert client.post("/v1/segments", json={"name": "top", "definition": top}, headers=bearer()).json()["members"] == 0

    def order(user: str, message_id: str, revenue: int) -> None:
        send(client, {"type": "track", "userId": user, "event": "Order Completed", "messageId": message_id,
                      "properties": {"revenue": revenue}})
        stores.pump()

    def live(minutes: int) -> list[tuple[int, int]]:
        return [(c.entered, c.exited) for c in refresh_live(stores, stores.take_touched(),
                                                            now=t0 + dt.timedelta(minutes=minutes))]

    stores.take_touched()
    order("u3", "o3", 90000)  # monetary cut-offs now 50,000 70,000 70,000 90,000: u3 scores 4
    assert live(1) == [(0, 0)] and computed == [t0 + dt.timedelta(minutes=1)]
    order("u1", "o4", 45000)  # u1 at 95,000: 5 against the cut-offs of minute 1, 4 against today's
    assert live(5) == [(1, 0)] and len(computed) == 1
    preview = client.post("/v1/segments/preview", json={"definition": top}, headers=bearer()).json()
    assert preview["count"] == 0  # batch evaluation ranks exactly
    send(client, {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": "v1"})
    stores.pump()
    assert live(12) == [(0, 1)] and computed[-1] == t0 + dt.timedelta(minutes=12)  # 11 minutes old: renewed
    refresh_live(stores, None, now=t0 + dt.timedelta(minutes=13))
    assert computed[-1] == t0 + dt.timedelta(minutes=13)  # the full refresh renews them, fresh or not
    stores.settings.segment_rfm_max_age_seconds = 0
    order("u2", "o5", 1000)
    assert live(14) == [(0, 0)] and computed[-1] == t0 + dt.timedelta(minutes=14) and len(computed) == 4
