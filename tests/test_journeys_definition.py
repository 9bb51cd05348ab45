"""Journey definitions: structure and graph validation with JSON-pointer errors; JSON / YAML round trips."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from journey_helpers import ABANDONED_CART, doc
from touchline.journeys.definition import (
    JourneyDefinitionError,
    WaitNode,
    format_duration,
    parse,
    parse_yaml,
    to_json,
)


def problems(d: Any) -> list[dict[str, str]]:
    with pytest.raises(JourneyDefinitionError) as caught:
        parse(d)
    assert caught.value.status == 422
    return list(caught.value.detail)


def one(d: Any) -> dict[str, str]:
    found = problems(d)
    assert len(found) == 1, found
    return found[0]


def nodes_with(*changes: tuple[int, dict[str, Any]], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The abandoned-cart document with some nodes updated (a value of None deletes the key)."""
    d = doc()
    for i, update in changes:
        for k, v in update.items():
            if v is None:
                d["nodes"][i].pop(k, None)
            else:
                d["nodes"][i][k] = v
    d["nodes"] += extra or []
    return d


def test_the_example_parses_and_round_trips_through_json_and_yaml() -> None:
    d = parse(ABANDONED_CART)
    assert d.version == 1 and d.start == "wait_for_order"
    wait = d.node("wait_for_order")
    assert isinstance(wait, WaitNode) and wait.until_event is not None
    assert wait.until_event.timeout == dt.timedelta(hours=1)
    assert d.goal is not None and d.goal.within == dt.timedelta(days=3)
    assert parse(to_json(d)) == d
    assert parse_yaml(yaml.safe_dump(to_json(d), allow_unicode=True)) == d
    assert to_json(d)["nodes"][2]["duration"] == "1d"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("90m", 5400), ("1d12h", 129600), ("2w", 1209600),
                                               ("PT1H", 3600), (600, 600)])
def test_durations(text: Any, seconds: int) -> None:
    d = nodes_with((2, {"duration": text}))
    wait = parse(d).node("wait_a_day")
    assert isinstance(wait, WaitNode) and wait.duration == dt.timedelta(seconds=seconds)
    assert format_duration(dt.timedelta(seconds=seconds)) in {"30s", "1h30m", "1d12h", "2w", "1h", "10m"}


# --- structure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "field", "reason"), [
    (nodes_with((1, {"type": "sms"})), "/nodes/1", "unknown type 'sms'"),
    (nodes_with((1, {"type": None})), "/nodes/1", "missing field 'type'"),
    (nodes_with((1, {"template": None})), "/nodes/1/template", "missing field"),
    (nodes_with((1, {"colour": "red"})), "/nodes/1/colour", "unknown field"),
    (nodes_with((1, {"channel": "pigeon"})), "/nodes/1/channel", "unknown value 'pigeon'"),
    (nodes_with((1, {"kind": "promo"})), "/nodes/1/kind", "'advertising'"),
    (nodes_with((2, {"duration": "1 day"})), "/nodes/2/duration", "expected a duration"),
    (nodes_with((2, {"duration": "0s"})), "/nodes/2/duration", "must be positive"),
    (nodes_with((2, {"duration": None, "until_time": "24:00"})), "/nodes/2/until_time", "HH:MM"),
    (nodes_with((2, {"until_time": "09:00"})), "/nodes/2", "exactly one of duration, until_time, until_event"),
    (nodes_with((2, {"duration": None})), "/nodes/2", "exactly one of"),
    (nodes_with((0, {"timeout_next": None})), "/nodes/0", "'until_event' needs 'timeout_next'"),
    (nodes_with((2, {"timeout_next": "done"})), "/nodes/2", "'timeout_next' applies only to 'until_event'"),
    (nodes_with((0, {"until_event": {"event": "Order Completed"}})), "/nodes/0/until_event/timeout",
     "missing field"),
    (nodes_with((3, {"condition": {"type": "rfm"}})), "/nodes/3/condition", "unknown type 'rfm'"),
    (nodes_with((3, {"condition": {"type": "trait", "trait": "age", "operator": ">="}})),
     "/nodes/3/condition/operator", "unknown value '>='"),
    (doc(trigger={"type": "birthday"}), "/trigger", "unknown type 'birthday'"),
    (doc(trigger={"type": "geofence_entered", "stores": [{"id": "s1", "lat": 95, "lon": 0, "radius_m": 100}]}),
     "/trigger/stores/0/lat", "less than or equal to 90"),
    (doc(trigger={"type": "date_trait", "trait": "birthday", "time": "9am"}), "/trigger/time", "HH:MM"),
    (doc(reentry={"mode": "every"}), "/reentry", "mode 'every' needs 'days'"),
    (doc(reentry={"mode": "once", "days": 3}), "/reentry", "'days' applies only to mode 'every'"),
    (doc(holdout_percent=101), "/holdout_percent", "less than or equal to 100"),
    (doc(version=0), "/version", "greater than or equal to 1"),
    (doc(start=None), "/start", "missing field"),
    (doc(goal={"event": "Order Completed", "within": "soon"}), "/goal/within", "expected a duration"),
    (doc(exit_on=[{"type": "segment"}]), "/exit_on/0/segment_id", "missing field"),
])
def test_structure_errors_point_at_the_field(d: dict[str, Any], field: str, reason: str) -> None:
    p = one(d)
    assert p["field"] == field
    assert reason in p["reason"]


def test_every_structure_problem_is_reported_at_once() -> None:
    d = nodes_with((1, {"channel": "pigeon"}), (4, {"kind": "promo"}))
    assert [p["field"] for p in problems(d)] == ["/nodes/1/channel", "/nodes/4/kind"]


# --- graph and semantics -------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "field"), [
    (nodes_with((1, {"next": "nowhere"})), "/nodes/1/next"),
    (nodes_with((0, {"timeout_next": "nowhere"})), "/nodes/0/timeout_next"),
    (nodes_with((3, {"yes": "nowhere"})), "/nodes/3/yes"),
    (nodes_with((3, {"no": "nowhere"})), "/nodes/3/no"),
])
def test_unknown_next_node(d: dict[str, Any], field: str) -> None:
    found = problems(d)
    assert {"field": field, "reason": "unknown node 'nowhere'"} in found
    # a node only that edge led to becomes unreachable; that is reported too, nothing else
    assert all(p["field"] == field or "cannot be reached" in p["reason"] for p in found)


def test_unknown_split_branch_and_percentages() -> None:
    split = {"type": "split", "id": "ab", "branches": [{"percent": 50, "next": "reminder"},
                                                      {"percent": 40, "next": "ghost"}]}
    d = nodes_with((0, {"timeout_next": "ab"}), extra=[split])
    found = problems(d)
    assert {"field": "/nodes/7/branches/1/next", "reason": "unknown node 'ghost'"} in found
    assert {"field": "/nodes/7/branches", "reason": "percentages sum to 90, not 100"} in found
    assert len(found) == 2


def test_missing_start_node() -> None:
    found = problems(doc(start="begin"))
    assert found[0] == {"field": "/start", "reason": "unknown start node 'begin'"}


def test_duplicate_node_id() -> None:
    d = nodes_with(extra=[{"type": "exit", "id": "done"}])
    assert one(d) == {"field": "/nodes/7/id", "reason": "duplicate node id 'done' (also /nodes/6)"}


def test_unreachable_node() -> None:
    d = nodes_with(extra=[{"type": "send", "id": "orphan", "channel": "email", "template": "t",
                           "kind": "transactional", "next": "done"}])
    assert one(d) == {"field": "/nodes/7", "reason": "node 'orphan' cannot be reached from the start node"}


def test_cycle_without_a_wait_is_rejected() -> None:
    d = nodes_with((4, {"next": "has_bought"}))  # coupon -> has_bought -> no -> coupon
    p = [p for p in problems(d) if "cycle" in p["reason"]]
    assert len(p) == 1
    assert p[0]["reason"] == "a cycle without a wait would loop forever: has_bought -> coupon -> has_bought"
    assert p[0]["field"] in ("/nodes/3", "/nodes/4")


def test_a_self_loop_is_a_cycle() -> None:
    d = nodes_with((3, {"no": "has_bought"}))
    found = problems(d)
    assert {"field": "/nodes/3", "reason": "a cycle without a wait would loop forever: has_bought -> has_bought"} \
        in found


def test_a_cycle_through_a_wait_is_allowed() -> None:
    d = nodes_with((4, {"next": "wait_a_day"}))  # coupon -> wait a day -> has_bought -> coupon ...
    d["nodes"] = [n for n in d["nodes"] if n["id"] != "done"]
    parse(d)


def test_keys_need_an_event_trigger() -> None:
    found = problems(doc(trigger={"type": "segment_entered", "segment_id": "vip"}))
    reason = "'key' compares with the trigger event's properties; a 'segment_entered' trigger has none"
    assert found == [{"field": "/goal/key", "reason": reason},
                     {"field": "/nodes/0/until_event/key", "reason": reason},
                     {"field": "/nodes/3/condition/key", "reason": reason}]
    geofence = {"type": "geofence_entered", "stores": [{"id": "s", "lat": 37.5, "lon": 127.0, "radius_m": 300}]}
    parse(doc(trigger=geofence))  # location events carry properties too


@pytest.mark.parametrize(("d", "field", "reason"), [
    (doc(trigger={"type": "event", "event": "Product Added",
                  "where": [{"property": "price", "operator": ">", "value": "10"}]}),
     "/trigger/where/0/value", "'>' needs a number value"),
    (doc(goal={"event": "Order Completed", "where": [{"property": "total", "operator": "between", "value": [9, 1]}]}),
     "/goal/where/0/value", "low <= high"),
    (nodes_with((0, {"until_event": {"event": "Order Completed", "timeout": "1h",
                                     "where": [{"property": "x", "operator": "exists", "value": 1}]}})),
     "/nodes/0/until_event/where/0/value", "takes no value"),
    (nodes_with((3, {"condition": {"type": "trait", "trait": "tier", "operator": "in", "value": "gold"}})),
     "/nodes/3/condition/value", "non-empty list"),
    (doc(exit_on=[{"type": "event", "event": "Refunded", "where": [{"property": "a", "operator": "<",
                                                                     "value": True}]}]),
     "/exit_on/0/where/0/value", "'<' needs a number"),
])
def test_filter_values_are_checked_like_segment_rules(d: dict[str, Any], field: str, reason: str) -> None:
    p = one(d)
    assert p["field"] == field
    assert reason in p["reason"]


def test_webhook_needs_an_absolute_http_url() -> None:
    hook = {"type": "webhook", "id": "hook", "url": "ftp://crm.example/x", "next": "done"}
    d = nodes_with((4, {"next": "hook"}), extra=[hook])
    assert one(d) == {"field": "/nodes/7/url", "reason": "expected an absolute http(s) URL"}
    hook["url"] = "https://crm.example/hooks/cart?x=1"
    parse(nodes_with((4, {"next": "hook"}), extra=[hook]))


def test_yaml_errors() -> None:
    with pytest.raises(JourneyDefinitionError) as caught:
        parse_yaml("id: [unclosed")
    assert caught.value.detail[0]["field"] == ""
    text = yaml.safe_dump(nodes_with((1, {"kind": "promo"})))
    with pytest.raises(JourneyDefinitionError) as caught:
        parse_yaml(text)
    assert caught.value.detail[0]["field"] == "/nodes/1/kind"


def test_every_trigger_kind_parses() -> None:
    for trigger in [
        {"type": "segment_exited", "segment_id": "active-buyers"},
        {"type": "date_trait", "trait": "birthday", "annual": True, "time": "10:00"},
        {"type": "date_trait", "trait": "signed_up_at", "offset_days": 30},
        {"type": "api"},
    ]:
        d = doc(trigger=trigger, goal={"event": "Order Completed", "within": "3d"})
        d["nodes"][0]["until_event"].pop("key")
        d["nodes"][3]["condition"].pop("key")
        assert parse(d).trigger.type == trigger["type"]
