"""Experiments through the HTTP API, on both backends: bad definitions refused at save time with the field
and the reason (nothing stored); the flags endpoint (write key, cross-origin) giving each visitor a sticky
arm and recording the exposure once; stop and declare a winner; the readout from what the visitors did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.experiments import assignment
from touchline.experiments import store as experiment_store
from touchline.store.engines import Stores

EXPERIMENTS = "/v1/experiments"

BANNER: dict[str, Any] = {
    "id": "home-banner", "name": "Home page banner",
    "arms": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}], "control": "a",
    "metric": {"type": "conversion", "event": "Order Completed", "window_hours": 48},
    "guardrails": [{"event": "Unsubscribed"}],
}


def _fields(response: Any) -> dict[str, str]:
    body = response.json()
    return {p["field"]: p["reason"] for p in body["detail"]}


BAD_DEFINITIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"arms": [{"name": "a", "weight": 50}, {"name": "b", "weight": 40}]}, "/arms", "sum to 90, not 100"),
    ({"control": None}, "/control", ""),
    ({"control": "z"}, "/control", "must be one of the arms"),
    ({"arms": [{"name": "a", "weight": 50}, {"name": "a", "weight": 50}]}, "/arms/1/name", "duplicate"),
    ({"arms": [{"name": "a", "weight": 50}, {"name": "holdout", "weight": 50}]}, "/arms/1/name", "holdout"),
    ({"metric": {"event": "Order Complete"}}, "/metric/event", "unknown event 'Order Complete'"),
    ({"guardrails": [{"event": "Spam Reported"}]}, "/guardrails/0/event", "unknown event"),
    ({"arms": "a,b"}, "/arms", ""),
    ({"arms": [{"name": "a"}]}, "/arms", ""),
    ({"holdout_percent": 80}, "/holdout_percent", ""),
    ({"kind": "bandit"}, "/arms", "bandit"),
    ({"kind": "bandit", "arms": [{"name": "a"}, {"name": "b"}], "bandit": {"floor_percent": 50}},
     "/bandit/floor_percent", "leaves nothing"),
    ({"kind": "bandit", "arms": [{"name": "a"}, {"name": "b"}],
      "metric": {"type": "revenue", "event": "Order Completed"}}, "/metric/type", "conversion"),
    ({"arms": [{"name": "a" * 41, "weight": 50}, {"name": "b", "weight": 50}]}, "/arms/0/name", ""),
    ({"id": "../etc"}, "/id", ""),
    ({"metric": {"event": "Order Completed", "where": [{"property": "revenue", "operator": ">", "value": "lots"}]}},
     "/metric/where/0/value", ""),
    ({"guardrails": [{"event": "Unsubscribed", "where": [{"property": "reason", "operator": "like"}]}]},
     "/guardrails/0/where/0/operator", ""),
]


def test_bad_definitions_are_refused_naming_the_field(client: TestClient) -> None:
    for change, field, words in BAD_DEFINITIONS:
        body = {**BANNER, **change}
        if change.get("control", "") is None:
            del body["control"]
        response = client.post(EXPERIMENTS, json=body, headers=bearer())
        assert response.status_code == 422, response.text
        fields = _fields(response)
        assert field in fields, (change, fields)
        assert words in fields[field], (change, fields)
    assert client.get(EXPERIMENTS, headers=bearer()).json() == {"experiments": []}


def test_bodies_that_are_not_definitions(client: TestClient) -> None:
    assert client.post(EXPERIMENTS, content=b"[1]", headers=bearer()).status_code == 400
    assert client.post(EXPERIMENTS, content=b"{", headers=bearer()).status_code == 400
    huge = client.post(EXPERIMENTS, content=b'{"name": "' + b"x" * 70_000 + b'"}', headers=bearer())
    assert huge.status_code == 413
    assert client.post(EXPERIMENTS, json=BANNER, headers=basic()).status_code == 401  # management needs a Bearer token
    assert client.get(f"{EXPERIMENTS}/nope", headers=bearer()).status_code == 404


def _flags(client: TestClient, anonymous_id: str, *experiments: str, **more: Any) -> dict[str, Any]:
    response = client.post("/v1/flags", json={"anonymousId": anonymous_id, "experiments": list(experiments), **more},
                           headers=basic())
    assert response.status_code == 200, response.text
    return response.json()["flags"]


def test_flags_are_sticky_record_one_exposure_and_follow_stop_and_winner(client: TestClient, stores: Stores,
                                                                         workspace_id: str) -> None:
    made = client.post(EXPERIMENTS, json=BANNER, headers=bearer())
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "draft" and made.json()["weights"] == {"a": 0.5, "b": 0.5}
    assert _flags(client, "v-1", "home-banner") == {"home-banner": {"arm": "a", "exposed": False}}  # draft: control
    assert client.post(f"{EXPERIMENTS}/home-banner/start", headers=bearer()).json()["status"] == "running"
    first = {f"v-{i}": _flags(client, f"v-{i}", "home-banner")["home-banner"] for i in range(40)}
    assert all(f["exposed"] for f in first.values())
    arms = {v: f["arm"] for v, f in first.items()}
    assert set(arms.values()) == {"a", "b"}
    again = {f"v-{i}": _flags(client, f"v-{i}", "home-banner")["home-banner"] for i in range(40)}
    assert {v: f["arm"] for v, f in again.items()} == arms and not any(f["exposed"] for f in again.values())
    with stores.read() as conn:
        assert sum(experiment_store.assignment_counts(conn, workspace_id, "home-banner").values()) == 40
    stores.pump()
    results = client.get(f"{EXPERIMENTS}/home-banner/results", headers=bearer()).json()
    assert sum(a["exposures"] for a in results["readout"]["arms"]) == 40
    # stop: the control for everyone; a winner: the winner for everyone; neither records anything
    client.post(f"{EXPERIMENTS}/home-banner/stop", headers=bearer())
    assert {_flags(client, f"v-{i}", "home-banner")["home-banner"]["arm"] for i in range(10)} == {"a"}
    bad = client.post(f"{EXPERIMENTS}/home-banner/winner", json={"arm": "c"}, headers=bearer())
    assert bad.status_code == 422 and "arm" in _fields(bad)
    assert client.post(f"{EXPERIMENTS}/home-banner/winner", json={"arm": "b"}, headers=bearer()).json()["winner"] == "b"
    assert {_flags(client, f"v-{i}", "home-banner")["home-banner"]["arm"] for i in range(50)} == {"b"}
    with stores.read() as conn:
        assert sum(experiment_store.assignment_counts(conn, workspace_id, "home-banner").values()) == 40
    assert client.post(f"{EXPERIMENTS}/home-banner/stop", headers=bearer()).status_code == 409


def test_flags_edges(client: TestClient) -> None:
    client.post(EXPERIMENTS, json=BANNER, headers=bearer())
    missing = client.post("/v1/flags", json={"anonymousId": "v", "experiments": ["home-banner", "other"]},
                          headers=basic())
    assert missing.status_code == 404 and "other" in missing.text
    for body in [{"anonymousId": "v", "experiments": []}, {"anonymousId": "v", "experiments": "home-banner"},
                 {"anonymousId": "", "experiments": ["home-banner"]}, {"anonymousId": 7, "experiments": ["x"]},
                 {"anonymousId": "v", "experiments": ["x"] * 21}, {"anonymousId": "v", "experiments": ["a b"]},
                 {"anonymousId": "v", "experiments": ["home-banner"], "extra": 1}]:
        assert client.post("/v1/flags", json=body, headers=basic()).status_code == 422, body
    assert client.post("/v1/flags", json={"anonymousId": "v", "experiments": ["home-banner"]}).status_code == 401
    # cross-origin, like the chat: the shop's own pages call it
    preflight = client.options("/v1/flags", headers={"Origin": "http://shop.example",
                                                     "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "http://shop.example")
    answered = client.post("/v1/flags", json={"anonymousId": "v", "experiments": ["home-banner"]},
                           headers={**basic(), "Origin": "http://shop.example"})
    assert answered.headers["access-control-allow-origin"] in ("*", "http://shop.example")
    managed = client.get(EXPERIMENTS, headers={**bearer(), "Origin": "http://shop.example"})
    assert "access-control-allow-origin" not in managed.headers


def test_readout_from_what_the_visitors_did(client: TestClient, stores: Stores) -> None:
    client.post(EXPERIMENTS, json={**BANNER, "holdout_percent": 10}, headers=bearer())
    client.post(f"{EXPERIMENTS}/home-banner/start", headers=bearer())
    visitors = [f"shopper-{i}" for i in range(300)]
    arms = {v: _flags(client, v, "home-banner")["home-banner"]["arm"] for v in visitors}
    assert assignment.HOLDOUT in arms.values()
    now = dt.datetime.now(dt.UTC)
    batch = []
    for i, (v, arm) in enumerate(arms.items()):
        # b converts every time, a one in three, the holdout never (an order before the exposure does not count)
        buys = arm == "b" or (arm == "a" and i % 3 == 0)
        if buys:
            batch.append({"type": "track", "event": "Order Completed", "anonymousId": v, "messageId": f"o-{v}",
                          "timestamp": (now + dt.timedelta(minutes=5)).isoformat(),
                          "properties": {"order_id": f"o-{v}", "revenue": 30000, "currency": "KRW"}})
        if arm == assignment.HOLDOUT:
            batch.append({"type": "track", "event": "Order Completed", "anonymousId": v, "messageId": f"early-{v}",
                          "timestamp": (now - dt.timedelta(hours=1)).isoformat(),
                          "properties": {"order_id": f"early-{v}", "revenue": 10000}})
    for i in range(0, len(batch), 100):
        assert client.post("/v1/batch", json={"batch": batch[i:i + 100]}, headers=basic()).status_code == 200
    stores.pump()
    body = client.get(f"{EXPERIMENTS}/home-banner/results", headers=bearer()).json()
    r = body["readout"]
    by = {a["name"]: a for a in r["arms"]}
    assert set(by) == {"a", "b", "holdout"}
    assert by["b"]["conversions"] == by["b"]["exposures"] == sum(1 for a in arms.values() if a == "b")
    assert by["holdout"]["conversions"] == 0
    assert by["a"]["exposures"] + by["b"]["exposures"] + by["holdout"]["exposures"] == 300
    assert by["b"]["lift"] > 0.5 and by["b"]["chance_to_beat"] > 0.99
    assert r["verdict"] == "winner" and r["winner"] == "b" and not r["srm"]
    assert body["verdict_text"]["en"].startswith("b wins") and "이겼습니다" in body["verdict_text"]["ko"]
    assert body["guardrails"][0]["event"] == "Unsubscribed" and body["guardrails"][0]["breached"] == []
    # revenue per recipient reads the same exposures
    client.put(f"{EXPERIMENTS}/home-banner", json={**BANNER, "holdout_percent": 10,
                                                   "metric": {"type": "revenue", "event": "Order Completed"}},
               headers=bearer())
    revenue = client.get(f"{EXPERIMENTS}/home-banner/results", headers=bearer()).json()["readout"]
    rb = {a["name"]: a for a in revenue["arms"]}["b"]
    assert revenue["metric"] == "revenue" and rb["mean"] == pytest.approx(30000)
    # while running, the arms cannot change
    changed = client.put(f"{EXPERIMENTS}/home-banner", json={**BANNER, "holdout_percent": 20}, headers=bearer())
    assert changed.status_code == 409 and "/holdout_percent" in _fields(changed)


def test_readout_counts_only_the_events_the_metric_filters(client: TestClient, stores: Stores) -> None:
    """A metric with ``where`` (orders of more than 50,000 won) counts a customer only for such an event: arm a
    buys small, arm b big, so a converts nobody and b everybody, though both ordered."""
    big_orders = {"type": "conversion", "event": "Order Completed", "window_hours": 48,
                  "where": [{"property": "revenue", "operator": ">", "value": 50000}]}
    created = client.post(EXPERIMENTS, json={**BANNER, "metric": big_orders}, headers=bearer())
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["metric"]["where"][0]["value"] == 50000
    client.post(f"{EXPERIMENTS}/home-banner/start", headers=bearer())
    arms = {v: _flags(client, v, "home-banner")["home-banner"]["arm"] for v in (f"buyer-{i}" for i in range(60))}
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    batch = [{"type": "track", "event": "Order Completed", "anonymousId": v, "messageId": f"o-{v}", "timestamp": later,
              "properties": {"order_id": f"o-{v}", "revenue": 80000 if arm == "b" else 20000, "currency": "KRW"}}
             for v, arm in arms.items()]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    by = {a["name"]: a for a in client.get(f"{EXPERIMENTS}/home-banner/results", headers=bearer()).json()
          ["readout"]["arms"]}
    assert by["a"]["exposures"] > 0 and by["a"]["conversions"] == 0
    assert by["b"]["exposures"] > 0 and by["b"]["conversions"] == by["b"]["exposures"]
