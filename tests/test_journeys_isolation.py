"""One bad journey must not stop the others (issue 12, defect 3), on both backends, through the HTTP API.

A poisoned workspace holds a journey whose webhook body does not compile (saved before bodies were
checked), one whose body leaves the sandbox, one whose body fails for every customer and one whose
webhook endpoint answers 500. A healthy journey in another workspace still sends on time; each poisoned
run is recorded, retried with backoff and then failed with its reason; a journey that keeps failing is
paused with an alert that the API shows and resuming clears."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import journey_versions
from touchline.workspaces import service as workspaces

# 11:00 in Seoul: outside quiet hours.
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

HELLO = {"default_locale": "ko", "variants": {"ko": {"subject": "{{ profile.traits.name }}님 안녕하세요",
                                                      "text": "장바구니: {{ event.product }}"}}}


def _webhook_journey(journey_id: str, body: str | None, url: str = "https://hooks.example/cart") -> dict[str, Any]:
    node: dict[str, Any] = {"type": "webhook", "id": "notify", "url": url, "next": "done"}
    if body is not None:
        node["body"] = body
    return {"id": journey_id, "name": journey_id, "trigger": {"type": "event", "event": "Product Added"},
            "start": "notify", "nodes": [node, {"type": "exit", "id": "done"}]}


HEALTHY = {"id": "healthy", "name": "Healthy", "trigger": {"type": "event", "event": "Product Added"},
           "start": "hello", "nodes": [
               {"type": "send", "id": "hello", "channel": "email", "template": "hello", "kind": "transactional",
                "next": "done"},
               {"type": "exit", "id": "done"}]}


def _create(client: TestClient, admin: str, body: dict[str, Any]) -> None:
    r = client.post("/v1/journeys", json=body, headers=bearer(admin))
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/journeys/{body['id']}/publish", headers=bearer(admin))
    assert r.status_code == 200, r.text


def _plant_body(stores: Stores, workspace_id: str, journey_id: str, body: str) -> None:
    """A published version whose webhook body is ``body`` as it was stored before bodies were compiled at
    validation (the API no longer accepts such a body)."""
    with stores.write() as conn:
        raw = conn.execute(sa.select(journey_versions.c.definition).where(
            journey_versions.c.workspace_id == workspace_id, journey_versions.c.journey_id == journey_id)
        ).scalar_one()
        raw["nodes"][0]["body"] = body
        conn.execute(journey_versions.update().where(
            journey_versions.c.workspace_id == workspace_id, journey_versions.c.journey_id == journey_id)
            .values(definition=raw))


def _track(user: str, at: dt.datetime, message_id: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Product Added", "timestamp": at.isoformat(),
            "messageId": message_id, "properties": {"cart_id": f"c-{message_id}", "product": "니트"}}


def _identify(user: str, at: dt.datetime) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "timestamp": at.isoformat(), "messageId": f"id-{user}",
            "traits": {"name": "민지", "email": f"{user}@example.com", "consent": {"email": True}}}


def _batch(client: TestClient, key: str, *items: dict[str, Any]) -> None:
    r = client.post("/v1/batch", json={"batch": list(items)}, headers=basic(key))
    assert r.status_code == 200, r.text


class Hooks:
    """The webhook endpoints: 500 for /fail, 200 otherwise; every call kept."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return httpx.Response(500 if request.url.path == "/fail" else 200)


@pytest.fixture
def email() -> MemoryChannel:
    return MemoryChannel("email")


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def runner(stores: Stores, email: MemoryChannel, hooks: Hooks) -> Runner:
    http = httpx.Client(transport=httpx.MockTransport(hooks))
    return Runner(stores, outbox=Outbox(stores, channels={"email": email}, http=http))


@pytest.fixture
def poisoned(client: TestClient, stores: Stores) -> dict[str, str]:
    """A second workspace with four poisoned journeys; its write key and admin token."""
    with stores.write() as conn:
        other = workspaces.create_workspace(conn, "poisoned")
        keys = {"id": other, "write": workspaces.create_key(conn, other, "write"),
                "admin": workspaces.create_key(conn, other, "admin")}
    _create(client, keys["admin"], _webhook_journey("bad-body", '{"cart": "{{ event.cart_id }}"}'))
    _plant_body(stores, other, "bad-body", '{"cart": "{{ oops')
    _create(client, keys["admin"], _webhook_journey("hostile", "{{ ''.__class__.__mro__ }}"))
    _create(client, keys["admin"], _webhook_journey("erroring", "{{ event.product / 0 }}"))
    _create(client, keys["admin"], _webhook_journey("failing-hook", '{"cart": "{{ event.cart_id }}"}',
                                                    url="https://hooks.example/fail"))
    return keys


def test_a_poisoned_workspace_leaves_a_healthy_journey_sending_on_time(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel, hooks: Hooks,
        poisoned: dict[str, str]) -> None:
    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", HEALTHY)
    # The poisoned journeys' first events come first, then the healthy one's customer.
    _batch(client, poisoned["write"], _track("p1", T0, "p-1"))
    _batch(client, "test-write-key", _identify("u1", T0 - dt.timedelta(minutes=5)), _track("u1", T0, "h-1"))

    report = runner.tick(T0)

    assert [m.to for m in email.messages] == ["u1@example.com"]  # sent in the same round
    assert report.signals == 2
    runs = client.get("/v1/journeys/healthy/runs", headers=bearer()).json()["runs"]
    assert [r["status"] for r in runs] == ["completed"]
    # The failing webhook was called (and failed); no webhook went out without its body.
    assert [c.url.path for c in hooks.calls] == ["/fail"]
    assert all(c.content for c in hooks.calls)
    # Each poisoned run is recorded with its reason and waits for a retry.
    admin = poisoned["admin"]
    for journey_id, reason in (("bad-body", "does not compile"), ("hostile", "sandbox violation"),
                               ("erroring", "TypeError: unsupported operand")):
        (run,) = client.get(f"/v1/journeys/{journey_id}/runs", headers=bearer(admin)).json()["runs"]
        assert run["status"] == "active" and run["errors"] == 1, run
        assert "notify" in run["last_error"] and reason in run["last_error"], run["last_error"]
    # A second healthy customer later is not held up either.
    _batch(client, "test-write-key", _identify("u2", T0), _track("u2", T0 + dt.timedelta(minutes=1), "h-2"))
    runner.tick(T0 + dt.timedelta(minutes=1))
    assert [m.to for m in email.messages] == ["u1@example.com", "u2@example.com"]
