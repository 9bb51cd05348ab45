"""The recommender's pure core: co-occurrence, popularity, the rules, the fallbacks, storage, and the
offline evaluation's split and measures."""

from __future__ import annotations

import math

import pytest

from touchline.personalization import evaluate, training
from touchline.personalization.model import Interaction, Model, Rules, build, index, recommend, similar

DAY = 86_400.0
PRODUCTS = {
    "tee": {"category": "fashion", "name": "Tee"}, "jeans": {"category": "fashion", "name": "Jeans"},
    "belt": {"category": "fashion", "name": "Belt"}, "coat": {"category": "fashion", "name": "Coat"},
    "milk": {"category": "food", "name": "Milk"}, "bread": {"category": "food", "name": "Bread"},
    "tv": {"category": "electronics", "name": "TV"}, "new": {"category": "fashion", "name": "Brand new"},
}


def _buy(customer: str, order: str, at: float, *products: str) -> list[Interaction]:
    return [Interaction(customer, p, "purchase", at, order) for p in products]


def _shop() -> list[Interaction]:
    rows: list[Interaction] = []
    # Jeans go with a tee and a belt; milk with bread; the TV is bought by many on its own.
    for k in range(6):
        rows += _buy(f"c{k}", f"o{k}", k * DAY, "jeans", "tee", "belt")
    for k in range(6, 10):
        rows += _buy(f"c{k}", f"o{k}", k * DAY, "milk", "bread")
    for k in range(10, 20):
        rows += _buy(f"c{k}", f"o{k}", k * DAY, "tv")
    rows += [Interaction("viewer", "coat", "view", 3 * DAY), Interaction("viewer", "jeans", "view", 3 * DAY + 60)]
    return rows


@pytest.fixture(scope="module")
def model() -> Model:
    return build(index(_shop(), items=list(PRODUCTS)), PRODUCTS, segments={"s-food": ["c6", "c7"]})


def test_bought_together_and_viewed_together(model: Model) -> None:
    jeans = model.item_index["jeans"]
    picks = recommend(model, {}, set(), 2, Rules(), context=jeans, kind="bought_together")
    assert {p.product_id for p in picks} == {"tee", "belt"}
    assert all(p.reason == "bought_together" for p in picks)
    viewed = recommend(model, {}, set(), 1, Rules(), context=model.item_index["coat"], kind="viewed_together")
    assert viewed == [viewed[0]] and viewed[0].product_id == "jeans" and viewed[0].reason == "viewed_together"


def test_for_you_follows_the_history_and_leaves_out_what_was_bought(model: Model) -> None:
    history, bought = model.customer_history("c0")
    assert {model.items[k] for k in bought} == {"jeans", "tee", "belt"}
    picks = recommend(model, history, bought, 3, Rules())
    # Fashion bought is not bought again: the coat (viewed with the jeans by another customer), then the
    # fashion best sellers not bought yet (none), then the shop's.
    assert [(p.product_id, p.reason) for p in picks] == [("coat", "for_you"), ("tv", "popular"), ("milk", "popular")]


def test_consumables_come_back_and_rules_apply_to_the_fallback_too(model: Model) -> None:
    history, bought = model.customer_history("c6")
    rules = Rules(consumable_categories=frozenset({"food"}))
    picks = recommend(model, history, bought, 2, rules)
    assert {p.product_id for p in picks} == {"milk", "bread"}
    assert all(p.reason == "for_you" for p in picks)
    stocked = recommend(model, history, bought, 3, Rules(consumable_categories=frozenset({"food"}),
                                                        out_of_stock=frozenset({"milk"}), excluded=frozenset({"tv"})))
    assert "milk" not in {p.product_id for p in stocked} and "tv" not in {p.product_id for p in stocked}
    no_fashion = recommend(model, {}, set(), 8, Rules(excluded_categories=frozenset({"fashion"})))
    assert {PRODUCTS[p.product_id]["category"] for p in no_fashion} <= {"food", "electronics"}


def test_a_customer_with_no_history_gets_popularity_by_segment_then_shop(model: Model) -> None:
    assert model.customer_history("stranger") == ({}, set())
    picks = recommend(model, {}, set(), 3, Rules(), segments=["s-food", "unknown-segment"])
    assert [p.reason for p in picks][:2] == ["popular_in_segment", "popular_in_segment"]
    assert {p.product_id for p in picks[:2]} == {"milk", "bread"}
    assert recommend(model, {}, set(), 1, Rules())[0] == recommend(model, {}, set(), 1, Rules())[0]
    assert recommend(model, {}, set(), 1, Rules())[0].product_id == "tv"
    assert recommend(model, {}, set(), 0, Rules()) == []


def test_a_product_nobody_touched_gets_its_category(model: Model) -> None:
    picks = recommend(model, {}, set(), 3, Rules(), context=model.item_index["new"], kind="bought_together")
    assert picks[0].reason == "popular_in_category"
    assert PRODUCTS[picks[0].product_id]["category"] == "fashion"
    assert "new" not in {p.product_id for p in picks}


def test_similar_items_for_the_assistant(model: Model) -> None:
    picks = similar(model, model.item_index["tee"], 3, Rules())
    assert [p.product_id for p in picks[:2]] in (["jeans", "belt"], ["belt", "jeans"])


def test_the_model_survives_storage(model: Model) -> None:
    again = Model.from_bytes(model.to_bytes())
    history, bought = again.customer_history("c0")
    assert recommend(again, history, bought, 4, Rules()) == recommend(model, *model.customer_history("c0"), 4, Rules())
    assert again.popular_by_segment.keys() == model.popular_by_segment.keys()


def test_split_holds_out_the_last_order_and_the_day_before_it() -> None:
    rows = [*_buy("a", "o1", 0.0, "x"), Interaction("a", "y", "view", 10 * DAY - 3600),
            Interaction("a", "z", "view", 5 * DAY), *_buy("a", "o2", 10 * DAY, "y", "w"), *_buy("b", "o3", 0.0, "x")]
    split = evaluate.split_last_orders(rows)
    assert split.held_out == {"a": {"y", "w"}}
    assert {(r.customer, r.product) for r in split.train} == {("a", "x"), ("a", "z"), ("b", "x")}


def test_measures() -> None:
    held = {"a": {"x", "y"}, "b": {"z"}}
    ranked = {"a": ["x", "q", "y"], "b": ["q", "r"]}
    m = evaluate.score(lambda c: ranked[c], held, k=3)
    assert m.precision == pytest.approx((2 / 3 + 0) / 2)
    assert m.recall == pytest.approx((1 + 0) / 2)
    ideal = 1 + 1 / math.log2(3)
    assert m.ndcg == pytest.approx(((1 + 1 / math.log2(4)) / ideal + 0) / 2)
    assert evaluate.score(lambda c: [], {}, k=10).customers == 0


def test_training_evaluates_and_keeps_cooccurrence_unless_beaten() -> None:
    rows = []
    for k in range(40):  # each customer buys a pair twice: the pair comes back for them
        first, second = ("milk", "bread") if k % 2 else ("tee", "jeans")
        rows += _buy(f"c{k}", f"a{k}", k * DAY, first)
        rows += _buy(f"c{k}", f"b{k}", (k + 5) * DAY, second)
        rows += _buy(f"c{k}", f"c{k}", (k + 10) * DAY, first, second)
    rows += _buy("big", "t", 0.0, "tv")
    rules = Rules(all_consumable=True)
    model = training.train(rows, PRODUCTS, rules, algorithms=("cooccurrence",))
    assert model.algorithm == "cooccurrence"
    evaluation = training.evaluate_algorithms(rows, PRODUCTS, rules, algorithms=("cooccurrence",))
    assert evaluation.metrics["cooccurrence"].ndcg > evaluation.metrics["popularity"].ndcg
    assert training.choose(evaluation) == "cooccurrence"


def test_an_erased_customer_leaves_the_model(model: Model) -> None:
    copy = Model.from_bytes(model.to_bytes())
    assert copy.forget(["c0", "nobody"]) and not copy.forget(["c0"])
    again = Model.from_bytes(copy.to_bytes())
    assert again.customer_history("c0") == ({}, set())
    assert again.customer_history("c1") == model.customer_history("c1")
