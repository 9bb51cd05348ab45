"""The customer-wide façade through the API, on both backends: the one-customer view, the export and the
erase reach every domain that holds data about a customer (segments, journeys, messages), and a domain
that registers later plugs in without any other change."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection

from journey_helpers import ABANDONED_CART
from support import basic, bearer
from touchline.customers import registry
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import inbox_messages, journey_runs, journey_steps, outbox, segment_members

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 11:00 in Seoul, outside quiet hours
REMINDER = {"default_locale": "ko", "variants": {"ko": {"subject": "{{ profile.traits.name }}님, 장바구니",
                                                        "html": "<p>{{ cart.product }}</p>"}}}


def _post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    r = client.post(path, json=body, headers=basic() if path == "/v1/batch" else bearer())
    assert r.status_code == status, r.text
    return dict(r.json())


@pytest.fixture
def shop(client: TestClient, stores: Stores) -> MemoryChannel:
    """민지 (u1) in a segment, with a journey run that sent her an e-mail; 하늘 (u2) in neither."""
    assert client.put("/v1/templates/cart-reminder/email", json=REMINDER, headers=bearer()).status_code == 200
    assert client.put("/v1/templates/cart-coupon-10/email", json=REMINDER, headers=bearer()).status_code == 200
    journey = copy.deepcopy(ABANDONED_CART)
    journey["holdout_percent"] = 0
    _post(client, "/v1/journeys", journey, 201)
    _post(client, "/v1/journeys/abandoned-cart/publish", {})
    _post(client, "/v1/batch", {"batch": [
        {"type": "identify", "userId": user, "messageId": f"id-{user}", "timestamp": T0.isoformat(),
         "traits": {"name": name, "city": city, "email": f"{user}@example.com", "consent": {"email": True}}}
        for user, name, city in (("u1", "민지", "서울"), ("u2", "하늘", "부산"))
    ] + [{"type": "track", "userId": "u1", "event": "Product Added", "messageId": "add-1",
          "timestamp": T0.isoformat(), "properties": {"cart_id": "c-1", "product": "에어팟"}}]})
    stores.pump()  # segments count from the event store's copy of profiles
    _post(client, "/v1/segments", {"name": "서울", "definition": {"type": "trait", "trait": "city", "operator": "=",
                                                                "value": "서울"}}, 201)
    email = MemoryChannel("email")
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email}))
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert len(email.messages) == 1
    stores.pump()
    return email


def _count(stores: Stores, table: sa.Table, column: str, ids: Sequence[str]) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c[column].in_(list(ids)))).scalar_one())


def test_view_shows_every_domain(client: TestClient, shop: MemoryChannel) -> None:
    view = client.get("/v1/profiles/u1", headers=bearer()).json()
    assert [s["name"] for s in view["segments"]] == ["서울"]
    assert [r["journey_id"] for r in view["journeys"]] == ["abandoned-cart"]
    assert view["journeys"][0]["journey_name"] == "Abandoned cart"
    assert [m["status"] for m in view["messages"]] == ["sent"]
    other = client.get("/v1/profiles/u2", headers=bearer()).json()
    assert other["segments"] == [] and other["journeys"] == [] and other["messages"] == []


def test_export_is_complete(client: TestClient, stores: Stores, shop: MemoryChannel) -> None:
    data = client.get("/v1/profiles/u1/export", headers=bearer()).json()
    assert {"Identify", "Product Added", "Segment Entered", "Message Sent"} <= {
        e.get("event") or e["type"].title() for e in data["events"]}
    assert [s["name"] for s in data["segments"]] == ["서울"]
    [run] = data["journeys"]["runs"]
    assert run["journey_id"] == "abandoned-cart" and run["state"]  # the run's state holds the trigger event
    assert {s["node_id"] for s in data["journeys"]["steps"]} >= {"wait_for_order"}
    [sent] = data["messages"]["sent"]
    assert sent["to_address"] == "u1@example.com" and "에어팟" in sent["content"]["html"]
    assert len(data["messages"]["inbox"]) == _count(stores, inbox_messages, "profile_id", [data["id"]])
    # Nothing of another customer.
    assert all(r["customer_id"] == data["id"] for r in data["journeys"]["runs"] + data["messages"]["sent"])


def test_erase_leaves_nothing_in_any_domain(client: TestClient, stores: Stores, shop: MemoryChannel) -> None:
    profile_id = client.get("/v1/profiles/u1", headers=bearer()).json()["id"]
    other_id = client.get("/v1/profiles/u2", headers=bearer()).json()["id"]
    assert client.delete("/v1/profiles/u1", headers=bearer()).status_code == 200
    for table, column in ((segment_members, "profile_id"), (journey_runs, "customer_id"), (outbox, "customer_id"),
                          (inbox_messages, "profile_id")):
        assert _count(stores, table, column, [profile_id]) == 0, table.name
    with stores.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journey_steps)).scalar_one() == 0
    assert client.get("/v1/profiles/u2", headers=bearer()).json()["id"] == other_id


def test_a_new_domain_plugs_in(client: TestClient, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """A domain that registers its customer data is in the view, the export and the erase, with no change
    to profiles or to the façade."""
    points: dict[str, int] = {}

    def erase(_conn: Connection, _workspace_id: str, ids: Sequence[str]) -> None:
        for profile_id in ids:
            points.pop(profile_id, None)

    def export(_conn: Connection, _workspace_id: str, ids: Sequence[str]) -> dict[str, Any]:
        return {"balance": sum(points.get(i, 0) for i in ids)}

    monkeypatch.setitem(registry._domains, "loyalty", registry.CustomerData(
        "loyalty", erase=erase, export=export, tables=(), view=export))
    _post(client, "/v1/batch", {"batch": [{"type": "identify", "userId": "u9", "messageId": "id-u9",
                                           "traits": {"name": "지수"}}]})
    profile_id = client.get("/v1/profiles/u9", headers=bearer()).json()["id"]
    points[profile_id] = 1200
    assert client.get("/v1/profiles/u9", headers=bearer()).json()["loyalty"] == {"balance": 1200}
    assert client.get("/v1/profiles/u9/export", headers=bearer()).json()["loyalty"] == {"balance": 1200}
    assert client.delete("/v1/profiles/u9", headers=bearer()).status_code == 200
    assert points == {}
