"""Segment definitions: precise validation errors, and JSON / YAML round trips."""

from __future__ import annotations

from typing import Any

import pytest

from touchline.segments import SegmentDefinitionError, dump_yaml, parse, parse_yaml, to_json
from touchline.segments.templates import TEMPLATES


def problems(doc: Any, segments: Any = None, segment_id: str | None = None) -> list[dict[str, str]]:
    with pytest.raises(SegmentDefinitionError) as caught:
        parse(doc, segments, segment_id=segment_id)
    assert caught.value.status == 422
    return list(caught.value.detail)


def test_unknown_operator_is_reported_at_its_path() -> None:
    doc = {"type": "and", "children": [
        {"type": "trait", "trait": "tier", "operator": "=", "value": "gold"},
        {"type": "not", "child": {"type": "trait", "trait": "age", "operator": ">=", "value": 3}},
    ]}
    [p] = problems(doc)
    assert p["field"] == "/children/1/child/operator"
    assert "'>='" in p["reason"] and "within_last_days" in p["reason"]


def test_unknown_node_type_and_missing_field() -> None:
    assert problems({"type": "bogus"})[0]["field"] == ""
    assert "unknown node type 'bogus'" in problems({"type": "bogus"})[0]["reason"]
    [p] = problems({"type": "or", "children": [{"type": "event", "event": "X", "count": {"operator": "most"}},
                                                {"type": "trait", "operator": "exists"}]})[:1]
    assert p["field"] == "/children/0/count/operator"
    missing = problems({"type": "or", "children": [{"type": "trait", "operator": "exists"}]})
    assert missing == [{"field": "/children/0/trait", "reason": "missing field"}]


@pytest.mark.parametrize(("node", "field", "reason"), [
    ({"type": "trait", "trait": "age", "operator": ">", "value": "3"}, "/value", "'>' needs a number value"),
    ({"type": "trait", "trait": "t", "operator": "between", "value": [5, 1]}, "/value", "low <= high"),
    ({"type": "trait", "trait": "t", "operator": "in", "value": "gold"}, "/value", "non-empty list"),
    ({"type": "trait", "trait": "t", "operator": "exists", "value": 1}, "/value", "takes no value"),
    ({"type": "trait", "trait": "t", "operator": "within_last_days", "value": 1.5}, "/value", "whole number"),
    ({"type": "trait", "trait": "t", "operator": "=", "value": [1]}, "/value", "string, number or boolean"),
    ({"type": "event", "event": "E", "where": [{"property": "p", "operator": "<", "value": True}]},
     "/where/0/value", "'<' needs a number"),
    ({"type": "computed", "field": "preferred_channel", "operator": ">", "value": 1}, "/value",
     "does not apply to a channel"),
    ({"type": "computed", "field": "orders_count", "operator": "=", "value": "2"}, "/value", "needs a number"),
    ({"type": "rfm", "recency": {"operator": ">=", "value": "4"}}, "/recency/value", "needs a number"),
    ({"type": "event", "event": "E", "aggregate": {"function": "sum", "property": "p", "operator": ">",
                                                  "value": None}}, "/aggregate/value", "needs a number"),
])
def test_wrong_value_type_for_the_operator(node: dict[str, Any], field: str, reason: str) -> None:
    [p] = problems({"type": "not", "child": node})
    assert p["field"] == "/child" + field
    assert reason in p["reason"]


def test_event_measures_are_exclusive() -> None:
    [p] = problems({"type": "event", "event": "E", "count": {"value": 2}, "first_time":
                    {"operator": "within_last_days", "value": 3}})
    assert "only one of" in p["reason"]


def test_unknown_segment_and_cycles() -> None:
    segments = {"a": {"type": "segment", "id": "b"}, "b": {"type": "or", "children": [{"type": "segment", "id": "a"}]},
                "c": {"type": "trait", "trait": "x", "operator": "exists"}}
    doc = {"type": "and", "children": [{"type": "segment", "id": "c"}, {"type": "segment", "id": "nope"}]}
    assert problems(doc, segments) == [{"field": "/children/1/id", "reason": "unknown segment 'nope'"}]
    [cycle] = problems({"type": "segment", "id": "a"}, segments)
    assert cycle["field"] == "/id" and "a -> b -> a" in cycle["reason"]
    # a definition stored as "c" that refers to itself through "d"
    [own] = problems({"type": "segment", "id": "d"}, {"d": {"type": "segment", "id": "c"}}, segment_id="c")
    assert "c -> d -> c" in own["reason"]
    # resolution through a callable works the same
    assert parse({"type": "segment", "id": "c"}, segments.get).type == "segment"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_json_and_yaml_round_trip(name: str) -> None:
    node = parse(TEMPLATES[name])
    assert parse(to_json(node)) == node
    assert parse_yaml(dump_yaml(node)) == node


def test_yaml_errors_keep_paths() -> None:
    text = "type: and\nchildren:\n  - type: trait\n    trait: tier\n    operator: '~'\n"
    with pytest.raises(SegmentDefinitionError) as caught:
        parse_yaml(text)
    assert caught.value.detail[0]["field"] == "/children/0/operator"
