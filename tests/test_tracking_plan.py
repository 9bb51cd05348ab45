"""The tracking plan's typing rules (touchline.ingest.plan): pure, no store."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.ingest import plan as plan_module
from touchline.ingest.normalize import IMPLAUSIBLE_PAST, IN_THE_FUTURE
from touchline.ingest.plan import (
    ECOMMERCE_EVENTS,
    ECOMMERCE_PROPERTIES,
    MAX_NUMBER,
    PRODUCT_PROPERTIES,
    Invalid,
    TrackingPlan,
    parse_declaration,
    read_value,
)
from touchline.web.i18n import PROBLEMS

PLAN = TrackingPlan.builtin(default_currency="KRW")


@pytest.mark.parametrize(("kind", "sent", "read"), [
    ("money", "12,000", 12000), ("money", "59,000원", 59000), ("money", "₩1,234,567", 1234567),
    ("money", "５９，０００원", 59000), ("money", "-₩5,000", -5000), ("money", "KRW 5,000", 5000),
    ("money", "5000 krw", 5000), ("money", "12.50", 12.5), ("money", "1e3", 1000), ("money", 59000.0, 59000),
    ("money", "US$33.20", 33.2), ("money", "€10", 10), ("integer", "3", 3), ("integer", 2.0, 2),
    ("integer", "1,000", 1000), ("id", 1234, "1234"), ("id", " o-1 ", "o-1"), ("id", 12.0, "12"),
    ("string", 12, "12"), ("currency", "krw", "KRW"), ("currency", "₩", "KRW"), ("currency", "원", "KRW"),
    ("boolean", "TRUE", True), ("boolean", "false", False), ("number", "4.5", 4.5),
])
def test_values_read_unambiguously(kind: str, sent: Any, read: Any) -> None:
    assert read_value(kind, sent) == read and type(read_value(kind, sent)) is type(read)


@pytest.mark.parametrize(("kind", "sent", "reason"), [
    ("money", "1,5", "ambiguous digit grouping (thousands are grouped by three: 12,000)"),
    ("money", "12.000,50", "not a number"), ("money", "약 만원", "not a number"), ("money", True, "not a number"),
    ("money", 1e20, "out of range (beyond ±2^53)"), ("money", "NaN", "not a number"),
    ("money", "Infinity", "not a number"), ("money", "1e400", "not a finite number"),
    ("money", "₩5 €", "two different currencies"), ("money", [1], "not a number"), ("money", "", "empty"),
    ("money", "١٢", "not a number"), ("number", "5원", "not a number"), ("integer", "2.5", "not a whole number"),
    ("id", "", "empty"), ("id", True, "not an identifier (text or a whole number)"), ("id", "x" * 1025,
                                                                                   "longer than 1024 characters"),
    ("string", {"a": 1}, "not text"), ("currency", "$", "ambiguous currency symbol (send an ISO 4217 code)"),
    ("currency", "ABC", "not an ISO 4217 currency code"), ("boolean", "yes", "not true or false"),
    ("object", [], "not an object"), ("array", {}, "not an array"),
])
def test_values_that_cannot_be_read(kind: str, sent: Any, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        read_value(kind, sent)
    assert caught.value.reason == reason


def test_currency_markers_name_the_event_currency_or_must_agree_with_it() -> None:
    checked = PLAN.check("Order Completed", {"revenue": "59,000원", "products": [{"price": "₩59,000"}]})
    assert checked is not None and not checked.problems
    assert checked.properties == {"revenue": 59000, "currency": "KRW", "products": [{"price": 59000}]}
    usd = PLAN.check("Order Completed", {"revenue": "$5", "currency": "USD"})
    assert usd is not None and usd.properties == {"revenue": 5, "currency": "USD"} and not usd.problems
    clash = PLAN.check("Order Completed", {"revenue": "59,000원", "currency": "USD"})
    assert clash is not None and clash.properties["revenue"] == "59,000원"
    assert [(p.field, p.reason) for p in clash.problems] == [
        ("properties.revenue", "written in another currency than the event's")]
    dollars_shop = TrackingPlan.builtin(default_currency="USD").check("Order Completed", {"revenue": "$5"})
    assert dollars_shop is not None and dollars_shop.properties == {"revenue": 5, "currency": "USD"}


def test_canonical_properties_cost_nothing_and_unplanned_events_pass() -> None:
    clean = {"order_id": "o-1", "revenue": 59000, "currency": "KRW", "products": [{"product_id": "p", "price": 1.5,
                                                                                   "quantity": 2}], "extra": "x"}
    assert PLAN.check("Order Completed", clean) is None
    assert PLAN.check("Signed Up", {"revenue": "anything"}) is None
    assert PLAN.check(None, {"revenue": "anything"}) is None


def test_declarations_lay_over_the_builtin_plan() -> None:
    name, declared = parse_declaration(" Order Completed ", {"store_id": {"type": "id", "required": True},
                                                             "revenue": "string"})
    plan = TrackingPlan.of({name: declared})
    checked = plan.check("Order Completed", {"revenue": 59000, "quantity": "2"})
    assert checked is not None
    assert checked.properties == {"revenue": "59000", "quantity": 2}
    assert [(p.field, p.reason) for p in checked.problems] == [
        ("properties.store_id", "missing (required by the tracking plan)")]
    with pytest.raises(Exception) as caught:
        parse_declaration("", {"a": "decimal", "b": {"type": "id", "required": "yes"}, "c": {"typ": "id"}})
    fields = [d["field"] for d in caught.value.detail]  # type: ignore[attr-defined]
    assert fields == ["event", "properties.a", "properties.b.required", "properties.c", "properties.c"]


def test_every_reason_has_a_korean_translation() -> None:
    """The dashboard shows each reason in Korean: every literal reason in plan.py has a translation."""
    tree = ast.parse(Path(plan_module.__file__).read_text(encoding="utf-8"))
    literals = {node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Invalid"
                and node.args and isinstance(node.args[0], ast.Constant)}
    literals |= {node.args[1].value for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("Problem",)
                 and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)}
    literals |= {node.args[1].value for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "reject"
                 and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)}
    literals |= {IMPLAUSIBLE_PAST, IN_THE_FUTURE, "not an e-mail address: not applied",
                 "not a phone number: not applied"}
    assert len(literals) > 20
    assert sorted(literals - set(PROBLEMS)) == []


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                      st.text(max_size=12), st.sampled_from(["12,000", "59,000원", "", " ", "krw", "$5", "1e400",
                                                             "-₩5,000", "١٢", "1,5", "true"]))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
product = st.one_of(json_value, st.dictionaries(st.sampled_from(sorted(PRODUCT_PROPERTIES)), json_value, max_size=4))
properties = st.dictionaries(st.sampled_from(sorted(ECOMMERCE_PROPERTIES)), json_value, max_size=6).flatmap(
    lambda d: st.just(d) if "products" in d else st.builds(lambda p: {**d, "products": p}, st.lists(product,
                                                                                                    max_size=3)))


def _canonical(kind: str, value: Any) -> bool:
    return plan_module._CANONICAL[kind](value)


@settings(max_examples=300, deadline=None)
@given(event=st.sampled_from(ECOMMERCE_EVENTS), props=properties)
def test_every_typed_value_comes_out_typed_or_named(event: str, props: dict[str, Any]) -> None:
    """Whatever JSON arrives, the check never raises, leaves the input alone, and every typed value it
    returns is of its type, or absent, or named in a problem with its field."""
    snapshot = repr(props)
    checked = PLAN.check(event, props)
    assert repr(props) == snapshot
    if checked is None:
        return
    problems = {p.field for p in checked.problems}
    for key, value in checked.properties.items():
        kind = ECOMMERCE_PROPERTIES.get(key)
        if kind is None or value is None or f"properties.{key}" in problems:
            continue
        if kind == "products":
            for i, item in enumerate(value):
                if f"properties.products[{i}]" in problems:
                    continue
                for name, inner in item.items():
                    inner_kind = PRODUCT_PROPERTIES.get(name)
                    if inner_kind and inner is not None and f"properties.products[{i}].{name}" not in problems:
                        assert _canonical(inner_kind, inner), (name, inner)
            continue
        assert _canonical(kind, value), (key, value)
        if kind in ("money", "number", "integer"):
            assert math.isfinite(value) and abs(value) <= MAX_NUMBER
    again = PLAN.check(event, checked.properties)  # normalising twice changes nothing more
    assert again is None or (not again.originals and {p.field for p in again.problems} <= problems)
