"""Experiment and bandit split nodes in journeys: the definition's checks (the field and the reason), the pure
engine (sticky arms, one exposure, the holdout path, the plan's status), and the runner on both backends (a
published journey makes its experiments; exposures recorded once; a bandit's weights move from the goal
conversions, each change recorded with its data)."""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.experiments import store as experiment_store
from touchline.experiments.assignment import HOLDOUT, Plan
from touchline.journeys.definition import JourneyDefinitionError, parse
from touchline.journeys.engine import Expose, Facts, RecordStep, Start, new_run, step
from touchline.journeys.runner import Runner
from touchline.profiles import store as profile_store
from touchline.store.engines import Stores

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

SPLIT: dict[str, Any] = {
    "id": "cart", "name": "Cart", "version": 1,
    "trigger": {"type": "event", "event": "Product Added"},
    "goal": {"event": "Order Completed", "within": "3d"},
    "start": "test",
    "nodes": [
        {"type": "experiment", "id": "test", "control": "a",
         "arms": [{"name": "a", "weight": 50, "next": "wait_a"}, {"name": "b", "weight": 50, "next": "wait_b"}],
         "holdout": {"percent": 10, "next": "held"}},
        {"type": "wait", "id": "wait_a", "duration": "1h", "next": "done"},
        {"type": "wait", "id": "wait_b", "duration": "2h", "next": "done"},
        {"type": "exit", "id": "held"},
        {"type": "exit", "id": "done"},
    ],
}


def _doc(**node_changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(SPLIT)
    d["nodes"][0].update(node_changes)
    return d


def _problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JourneyDefinitionError) as caught:
        parse(doc)
    return {p["field"]: p["reason"] for p in caught.value.detail}


def test_definition_checks_name_the_field() -> None:
    assert "/nodes/0/arms" in _problems(_doc(arms=[{"name": "a", "weight": 50, "next": "wait_a"},
                                                   {"name": "b", "weight": 30, "next": "wait_b"}]))
    assert "sum to 80" in _problems(_doc(arms=[{"name": "a", "weight": 50, "next": "wait_a"},
                                               {"name": "b", "weight": 30, "next": "wait_b"}]))["/nodes/0/arms"]
    assert "/nodes/0/control" in _problems(_doc(control="c"))
    no_control = _doc()
    del no_control["nodes"][0]["control"]
    assert "/nodes/0/control" in _problems(no_control)
    assert "has no path" in _problems(_doc(arms=[{"name": "a", "weight": 50, "next": "wait_a"},
                                                 {"name": "b", "weight": 50}]))["/nodes/0/arms/1/next"]
    nowhere = _doc(arms=[{"name": "a", "weight": 50, "next": "wait_a"}, {"name": "b", "weight": 50, "next": "nowhere"}])
    assert "unknown node" in _problems(nowhere)["/nodes/0/arms/1/next"]
    no_goal = _doc()
    del no_goal["goal"]
    assert "/nodes/0/metric" in _problems(no_goal)
    bandit = _doc(type="bandit", arms=[{"name": "a", "next": "wait_a"}, {"name": "b", "next": "wait_b"}])
    parse(bandit)
    del bandit["goal"]
    assert "/goal" in _problems(bandit)
    assert "/nodes/0/holdout/percent" in _problems(_doc(holdout={"percent": 70, "next": "held"}))
    # the metric's event against the workspace's events (at save time, through the service)
    from touchline.journeys.definition import experiment_problems

    unknown = _doc(metric={"event": "Order Complete"})
    assert {p["field"] for p in experiment_problems(parse(unknown), {"Order Completed"})} == {"/nodes/0/metric/event"}
    assert {p["field"] for p in experiment_problems(parse(SPLIT), {"Product Added"})} == {"/goal/event"}


def test_the_goals_filters_become_the_experiments_metric() -> None:
    """A journey whose goal is an order of more than 50,000 won measures its split by such orders too."""
    from touchline.journeys.definition import experiment_definition_of

    doc = copy.deepcopy(SPLIT)
    doc["goal"]["where"] = [{"property": "revenue", "operator": ">", "value": 50000}]
    d = parse(doc)
    metric = experiment_definition_of(d, d.nodes[0]).metric
    assert metric.event == "Order Completed" and metric.window_hours == 72
    assert [f.model_dump() for f in metric.where] == [{"property": "revenue", "operator": ">", "value": 50000}]


def _enter(d: Any, customer: str, facts: Facts | None = None) -> Any:
    run = new_run(d, run_id=f"r-{customer}", customer_id=customer, entered_at=T0)
    return step(d, run, Start(), T0, facts)


def test_engine_assigns_sticky_arms_and_exposes_once() -> None:
    d = parse(SPLIT)
    arms = Counter()
    for i in range(2000):
        t = _enter(d, f"c{i}")
        steps = [c for c in t.commands if isinstance(c, RecordStep) and c.node_id == "test"]
        arm = steps[0].outcome.removeprefix("arm:")
        arms[arm] += 1
        exposes = t.of(Expose)
        assert [(e.experiment, e.arm) for e in exposes] == [("cart.test", arm)]
        assert t.run.node_id == {"a": "wait_a", "b": "wait_b", HOLDOUT: "held"}[arm]
        # the same customer again: the same arm
        again = _enter(d, f"c{i}").of(Expose)
        assert again[0].arm == arm
    assert arms[HOLDOUT] / 2000 == pytest.approx(0.10, abs=0.02)
    assert arms["a"] / 2000 == pytest.approx(0.45, abs=0.03)
    # a recorded arm wins over the hash, and is not exposed again
    t = _enter(d, "c1", Facts(arms={"cart.test": "b"}))
    assert t.run.node_id == "wait_b" and not t.of(Expose)
    # a stopped experiment sends everyone to the control; a decided one to its winner; neither exposes
    stopped = Plan("cart.test", "stopped", "a", (("a", 50.0), ("b", 50.0)), 10)
    won = Plan("cart.test", "completed", "a", (("a", 50.0), ("b", 50.0)), 10, winner="b")
    for i in range(50):
        s = _enter(d, f"c{i}", Facts(experiments={"cart.test": stopped}))
        w = _enter(d, f"c{i}", Facts(experiments={"cart.test": won}))
        assert s.run.node_id == "wait_a" and w.run.node_id == "wait_b"
        assert not s.of(Expose) and not w.of(Expose)
    # a bandit's weights from the plan: all on b but the floor
    leaning = Plan("cart.test", "running", "a", (("a", 0.0), ("b", 1.0)), 10)
    assert {_enter(d, f"c{i}", Facts(experiments={"cart.test": leaning})).run.node_id for i in range(200)} \
        == {"wait_b", "held"}


BANDIT_JOURNEY: dict[str, Any] = {
    "id": "channel-bandit", "name": "Channel bandit", "version": 1,
    "trigger": {"type": "event", "event": "Product Added"},
    "goal": {"event": "Order Completed", "within": "2d"},
    "reentry": {"mode": "after_exit"},
    "start": "pick",
    "nodes": [
        {"type": "bandit", "id": "pick", "control": "email",
         "arms": [{"name": "email", "next": "wait_e"}, {"name": "sms", "next": "wait_s"},
                  {"name": "push", "next": "wait_p"}],
         "holdout": {"percent": 10, "next": "held"},
         "bandit": {"floor_percent": 5, "min_exposures": 20, "cadence_hours": 6}},
        {"type": "wait", "id": "wait_e", "duration": "2d", "next": "done"},
        {"type": "wait", "id": "wait_s", "duration": "2d", "next": "done"},
        {"type": "wait", "id": "wait_p", "duration": "2d", "next": "done"},
        {"type": "wait", "id": "held", "duration": "2d", "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}


def _batch(client: TestClient, items: list[dict[str, Any]]) -> None:
    for i in range(0, len(items), 200):
        r = client.post("/v1/batch", json={"batch": items[i:i + 200]}, headers=basic())
        assert r.status_code == 200, r.text


def test_bandit_in_a_published_journey_moves_its_weights(client: TestClient, stores: Stores,
                                                         workspace_id: str) -> None:
    bad = client.post("/v1/journeys", json={**BANDIT_JOURNEY, "nodes": [
        {**BANDIT_JOURNEY["nodes"][0], "metric": {"event": "Order Complete"}}, *BANDIT_JOURNEY["nodes"][1:]]},
        headers=bearer())
    assert bad.status_code == 422 and "/nodes/0/metric/event" in bad.text
    assert client.post("/v1/journeys", json=BANDIT_JOURNEY, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/channel-bandit/publish", headers=bearer()).status_code == 200
    experiment = client.get("/v1/experiments/channel-bandit.pick", headers=bearer()).json()
    assert experiment["status"] == "running" and experiment["kind"] == "bandit" and experiment["source"] == "journey"
    assert experiment["weights"] == pytest.approx({"email": 1 / 3, "sms": 1 / 3, "push": 1 / 3})
    runner = Runner(stores)
    users = [f"u{i}" for i in range(240)]
    _batch(client, [{"type": "track", "userId": u, "event": "Product Added", "messageId": f"add-{u}",
                     "timestamp": T0.isoformat(), "properties": {"cart_id": f"c-{u}"}} for u in users])
    runner.tick(T0 + dt.timedelta(minutes=1))
    stores.pump()  # the bandit reads exposures and conversions from the event store, as the readout does
    with stores.read() as conn:
        counts = experiment_store.assignment_counts(conn, workspace_id, "channel-bandit.pick")
    assert sum(counts.values()) == 240 and set(counts) == {"email", "sms", "push", HOLDOUT}
    # push converts everyone, the others nobody
    arms = {}
    with stores.read() as conn:
        for u in users:
            pid = next(iter(profile_store.load_identities(conn, workspace_id, [("user_id", u)]).values()))
            arms[u] = experiment_store.assignment_of(conn, workspace_id, "channel-bandit.pick", [pid])
    _batch(client, [{"type": "track", "userId": u, "event": "Order Completed", "messageId": f"order-{u}",
                     "timestamp": (T0 + dt.timedelta(hours=1)).isoformat(), "properties": {"order_id": f"o-{u}"}}
                    for u, arm in arms.items() if arm == "push"])
    runner.tick(T0 + dt.timedelta(minutes=10))
    # the first change came with the first exposures (each arm had its minimum), before any conversion
    first = client.get("/v1/experiments/channel-bandit.pick/weights", headers=bearer()).json()["weights"]
    assert [h["reason"] for h in first] == ["start", "thompson"]
    assert max(first[-1]["weights"].values()) < 0.6
    stores.pump()
    runner.tick(T0 + dt.timedelta(hours=5))  # converted, but the cadence (6 h) has not passed
    assert len(client.get("/v1/experiments/channel-bandit.pick/weights", headers=bearer()).json()["weights"]) == 2
    runner.tick(T0 + dt.timedelta(hours=7))
    history = client.get("/v1/experiments/channel-bandit.pick/weights", headers=bearer()).json()["weights"]
    assert [h["reason"] for h in history] == ["start", "thompson", "thompson"]
    change = history[-1]
    assert change["weights"]["push"] > 0.85 and min(change["weights"].values()) >= 0.05 - 1e-9, change
    by_arm = {a["name"]: a for a in change["data"]["arms"]}
    assert by_arm["push"]["conversions"] == by_arm["push"]["exposures"] > 0 and by_arm["email"]["conversions"] == 0
    # new customers now mostly take push; the holdout stays at its share
    more = [f"n{i}" for i in range(200)]
    _batch(client, [{"type": "track", "userId": u, "event": "Product Added", "messageId": f"add-{u}",
                     "timestamp": (T0 + dt.timedelta(hours=7)).isoformat(), "properties": {"cart_id": f"c-{u}"}}
                    for u in more])
    runner.tick(T0 + dt.timedelta(hours=7, minutes=1))
    with stores.read() as conn:
        after = experiment_store.assignment_counts(conn, workspace_id, "channel-bandit.pick")
    new = {k: after.get(k, 0) - counts.get(k, 0) for k in after}
    assert new["push"] > 140 and new[HOLDOUT] < 40
    # declaring the winner sends everyone there, exposing nobody
    client.post("/v1/experiments/channel-bandit.pick/winner", json={"arm": "push"}, headers=bearer())
    _batch(client, [{"type": "track", "userId": f"w{i}", "event": "Product Added", "messageId": f"add-w{i}",
                     "timestamp": (T0 + dt.timedelta(hours=8)).isoformat(), "properties": {}} for i in range(20)])
    runner.tick(T0 + dt.timedelta(hours=8, minutes=1))
    with stores.read() as conn:
        assert experiment_store.assignment_counts(conn, workspace_id, "channel-bandit.pick") == after
    runs = client.get("/v1/journeys/channel-bandit/runs", params={"limit": 500}, headers=bearer()).json()
    latest = [r for r in runs["runs"] if r["customer_id"] and r["entered_at"].startswith("2026-11-23T10")]
    assert latest and {r["node_id"] for r in latest} == {"wait_p"}


VARIANTS: dict[str, Any] = {
    "id": "welcome", "name": "Welcome", "version": 1, "trigger": {"type": "event", "event": "Signed Up"},
    "goal": {"event": "Order Completed", "within": "7d"}, "start": "hello",
    "nodes": [
        {"type": "send", "id": "hello", "channel": "email", "template": "welcome-a", "kind": "advertising",
         "next": "done", "control": "a",
         "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 30, "template": "welcome-b"},
                      {"name": "sms", "weight": 20, "channel": "sms"}]},
        {"type": "exit", "id": "done"},
    ],
}


def test_message_variants_on_a_send_step() -> None:
    from touchline.journeys.engine import Send

    d = parse(VARIANTS)
    seen = Counter()
    for i in range(600):
        t = _enter(d, f"c{i}")
        send = t.of(Send)[0]
        expose = t.of(Expose)[0]
        assert expose.experiment == "welcome.hello"
        assert (send.template, send.channel) == {"a": ("welcome-a", "email"), "b": ("welcome-b", "email"),
                                                 "sms": ("welcome-a", "sms")}[expose.arm]
        seen[expose.arm] += 1
    assert seen["a"] / 600 == pytest.approx(0.5, abs=0.06) and seen["sms"] / 600 == pytest.approx(0.2, abs=0.05)
    bad = copy.deepcopy(VARIANTS)
    bad["nodes"][0]["variants"][0]["weight"] = 40
    assert "sum to 90" in _problems(bad)["/nodes/0/variants"]
    del bad["nodes"][0]["control"]
    assert "/nodes/0/control" in _problems(bad)
    no_goal = copy.deepcopy(VARIANTS)
    del no_goal["goal"]
    assert "/nodes/0/variants" in _problems(no_goal)
