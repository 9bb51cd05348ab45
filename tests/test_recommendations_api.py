"""Recommendations over HTTP, on both backends: trained from the events, answered with the write key, under the
shop's rules, refreshed by new events, in message templates (the fallback for a customer with no history,
never an error), and bad requests refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.personalization import service
from touchline.store.engines import Stores

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PRODUCTS = {
    "jeans": ("패션", 59_000), "tee": ("패션", 19_900), "belt": ("패션", 29_000), "coat": ("패션", 189_000),
    "milk": ("식품", 2_900), "bread": ("식품", 4_500), "tv": ("가전", 1_090_000),
}


def _props(pid: str) -> dict[str, Any]:
    category, price = PRODUCTS[pid]
    return {"product_id": pid, "name": f"상품 {pid}", "name_en": f"Product {pid}", "category": category,
            "price": price, "currency": "KRW", "url": f"https://shop.example/p/{pid}"}


def _order(user: str, order: str, days_ago: float, *products: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Order Completed", "messageId": f"{order}-{user}",
            "timestamp": (NOW - dt.timedelta(days=days_ago)).isoformat(),
            "properties": {"order_id": order, "revenue": sum(PRODUCTS[p][1] for p in products), "currency": "KRW",
                           "products": [{**_props(p), "quantity": 1} for p in products]}}


def _view(user: str, pid: str, days_ago: float, n: int) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Product Viewed", "messageId": f"v-{user}-{pid}-{n}",
            "timestamp": (NOW - dt.timedelta(days=days_ago)).isoformat(), "properties": _props(pid)}


def load(client: TestClient, stores: Stores) -> None:
    batch: list[dict[str, Any]] = []
    for k in range(6):
        batch += [_view(f"f{k}", "jeans", 30 - k, 0), _order(f"f{k}", f"of{k}", 29 - k, "jeans", "tee", "belt")]
    for k in range(4):
        batch += [_order(f"g{k}", f"og{k}a", 20 - k, "milk", "bread"), _order(f"g{k}", f"og{k}b", 10 - k, "milk")]
    for k in range(10):
        batch.append(_order(f"t{k}", f"ot{k}", 5 + k, "tv"))
    batch += [_view("viewer", "coat", 3, 0), _view("viewer", "jeans", 3, 1)]
    batch.append({"type": "identify", "userId": "newbie", "messageId": "id-newbie",
                  "traits": {"email": "newbie@example.com", "name": "새 고객"}})
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert response.status_code == 200, response.text
    stores.pump()


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["product_id"] for item in answer["items"]]


def test_before_training_the_api_answers_an_empty_fallback(client: TestClient, stores: Stores) -> None:
    load(client, stores)
    answer = client.get("/v1/recommendations", params={"user": "f0"}, headers=basic())
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == [] and answer.json()["model"] is None and answer.json()["fallback"] is True
    missing = client.get("/v1/recommendations/model", headers=bearer())
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_trained_from_the_events_and_answered_with_the_write_key(client: TestClient, stores: Stores) -> None:
    load(client, stores)
    assert client.post("/v1/recommendations/train", headers=bearer(WRITE_KEY)).status_code == 403
    trained = client.post("/v1/recommendations/train", headers=bearer())
    assert trained.status_code == 200, trained.text
    summary = trained.json()
    assert summary["algorithm"] in ("cooccurrence", "item_knn", "als")
    assert summary["customers"] == 21 and summary["products"] == 7
    figures = summary["evaluation"]["algorithms"]
    assert {"popularity", "cooccurrence", "item_knn", "als"} <= figures.keys()
    assert client.get("/v1/recommendations/model", headers=bearer()).json()["version"] == summary["version"]

    page = client.get("/v1/recommendations", params={"context": "product:jeans", "kind": "bought_together", "n": 2},
                      headers=basic()).json()
    assert set(ids(page)) == {"tee", "belt"} and {i["reason"] for i in page["items"]} == {"bought_together"}
    assert page["items"][0]["name_en"].startswith("Product ") and page["items"][0]["price"] in (19_900, 29_000)
    viewed = client.get("/v1/recommendations", params={"context": "product:coat", "kind": "viewed_together"},
                        headers=basic()).json()
    assert ids(viewed)[0] == "jeans" and viewed["items"][0]["reason"] == "viewed_together"

    # A fashion buyer is not offered what they bought; the viewer's coat goes to them "for you".
    mine = client.get("/v1/recommendations", params={"user": "f0", "n": 5}, headers=basic()).json()
    assert not set(ids(mine)) & {"jeans", "tee", "belt"}
    assert mine["profile_id"] and mine["fallback"] is False
    assert len(ids(mine)) == len(set(ids(mine))) == 4  # coat, tv, milk, bread: nothing else is left
    # Someone with no history (known or not) gets the shop's best sellers, never an error.
    for who in ("newbie", "email:newbie@example.com", "anonymous-visitor-never-seen"):
        fallback = client.get("/v1/recommendations", params={"user": who, "n": 3}, headers=basic()).json()
        assert fallback["fallback"] is True and ids(fallback)[0] == "tv"
        assert {i["reason"] for i in fallback["items"]} <= {"popular", "popular_in_category", "popular_in_segment"}
    anyone = client.get("/v1/recommendations", headers=basic()).json()
    assert ids(anyone)[0] == "tv" and len(ids(anyone)) == 7
    similar = client.get("/v1/recommendations/similar/tee", headers=basic()).json()
    assert set(ids(similar)[:2]) == {"jeans", "belt"}


def test_rules_leave_out_stock_exclusions_and_bring_back_consumables(client: TestClient, stores: Stores) -> None:
    load(client, stores)
    assert client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": False}).status_code == 200
    before = client.get("/v1/recommendations", params={"user": "g0", "n": 3}, headers=basic()).json()
    assert not {"milk", "bread"} & set(ids(before))  # bought: left out while food is not a consumable
    rules = client.put("/v1/recommendations/rules", headers=bearer(), json={
        "consumable_categories": ["식품"], "out_of_stock": ["bread"], "excluded": ["tv"]})
    assert rules.status_code == 200, rules.text
    assert rules.json()["consumable_categories"] == ["식품"] and rules.json()["all_consumable"] is False
    after = client.get("/v1/recommendations", params={"user": "g0", "n": 3}, headers=basic()).json()
    assert ids(after)[0] == "milk" and "bread" not in ids(after) and "tv" not in ids(after)
    assert client.get("/v1/recommendations/rules", headers=bearer()).json()["excluded"] == ["tv"]
    # Only the lists sent change.
    client.put("/v1/recommendations/rules", headers=bearer(), json={"excluded": []})
    kept = client.get("/v1/recommendations/rules", headers=bearer()).json()
    assert kept["excluded"] == [] and kept["out_of_stock"] == ["bread"]


def test_the_catalogs_stock_and_deactivations_apply_without_retraining(client: TestClient, stores: Stores,
                                                                        monkeypatch: Any) -> None:
    load(client, stores)
    assert client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": False}).status_code == 200
    before = ids(client.get("/v1/recommendations", params={"user": "newbie", "n": 7}, headers=basic()).json())
    assert {"tv", "milk", "jeans"} <= set(before), before
    imported = client.post("/v1/catalog/products", headers=bearer(), json={"products": [
        {"id": "tv", "name": "TV", "stock": 0}, {"id": "milk", "name": "우유", "stock": 12}]})
    assert imported.status_code == 200, imported.text
    assert client.delete("/v1/catalog/products/jeans", headers=bearer()).status_code == 200
    # The next answer computed looks at the catalog again (here at once; a server looks every few seconds,
    # and an answer already cached stands for its cache time).
    monkeypatch.setattr(service, "_RELOAD_SECONDS", 0.0)
    after = ids(client.get("/v1/recommendations", params={"user": "newbie", "n": 6}, headers=basic()).json())
    assert "milk" in after and not {"tv", "jeans"} & set(after), after
    # Back in stock: recommended again, still without retraining.
    client.post("/v1/catalog/products", headers=bearer(), json={"products": [{"id": "tv", "name": "TV", "stock": 3}]})
    again = ids(client.get("/v1/recommendations", params={"user": "newbie", "n": 5}, headers=basic()).json())
    assert "tv" in again and "jeans" not in again, again
    # The shop's own list still lists only what it set.
    assert client.get("/v1/recommendations/rules", headers=bearer()).json()["out_of_stock"] == []


def test_new_events_count_before_the_next_training(client: TestClient, stores: Stores, workspace_id: str) -> None:
    load(client, stores)
    client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": False})
    first = client.get("/v1/recommendations", params={"user": "newbie", "n": 2}, headers=basic()).json()
    assert first["fallback"] is True
    batch = [_view("newbie", "jeans", 0.01, 0), _view("newbie", "jeans", 0.005, 1)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    assert service.refresh(stores, workspace_id) == 2
    now = client.get("/v1/recommendations", params={"user": "newbie", "n": 3}, headers=basic()).json()
    assert now["fallback"] is False and {"tee", "belt"} & set(ids(now))


def test_templates_call_recommendations_and_render_the_fallback(client: TestClient, stores: Stores) -> None:
    load(client, stores)
    html = ("<ul>{% for p in recommendations(3) %}<li>{{ p.name }} {{ p.price|krw }} ({{ p.reason }})</li>"
            "{% endfor %}</ul>")
    saved = client.put("/v1/templates/for-you/email", headers=bearer(), json={
        "variants": {"ko": {"subject": "추천 상품", "html": html}}})
    assert saved.status_code == 200, saved.text
    # No model yet: the loop renders nothing, and nothing fails.
    empty = client.post("/v1/templates/for-you/email/preview", headers=bearer(), json={"identifier": "newbie"})
    assert empty.status_code == 200, empty.text
    assert "<li>" not in empty.json()["content"]["html"]
    client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": False})
    fallback = client.post("/v1/templates/for-you/email/preview", headers=bearer(), json={"identifier": "newbie"})
    assert fallback.status_code == 200, fallback.text
    assert "상품 tv 1,090,000원 (popular)" in fallback.json()["content"]["html"]
    personal = client.post("/v1/templates/for-you/email/preview", headers=bearer(), json={"identifier": "f0"})
    assert "(for_you)" in personal.json()["content"]["html"] and "상품 jeans" not in personal.json()["content"]["html"]


BAD_REQUESTS: list[tuple[dict[str, Any], int, str]] = [
    ({"context": "category:fashion"}, 422, "query.context"),
    ({"context": "product:"}, 422, "query.context"),
    ({"kind": "everything"}, 422, "query.kind"),
    ({"n": 0}, 422, "query.n"),
    ({"n": 51}, 422, "query.n"),
    ({"n": "ten"}, 422, "query.n"),
    ({"user": "x" * 513}, 422, "query.user"),
    ({"customer_id": "f0"}, 400, "query.customer_id"),
]


def test_bad_requests(client: TestClient) -> None:
    for params, status, field in BAD_REQUESTS:
        answer = client.get("/v1/recommendations", params=params, headers=basic())
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["detail"][0]["field"] == field


def test_bad_rules_store_nothing(client: TestClient) -> None:
    for body in ({"excluded": "tv"}, {"excluded": [1, 2]}, {"all_consumable": "yes"}, {"stock": ["tv"]},
                 {"excluded": ["x" * 257]}, {"consumable_categories": [None]}):
        answer = client.put("/v1/recommendations/rules", headers=bearer(), json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert client.put("/v1/recommendations/rules", headers=bearer(WRITE_KEY), json={}).status_code == 403
    assert client.get("/v1/recommendations/rules", headers=bearer()).json()["updated_at"] is None
    assert client.get("/v1/recommendations").status_code == 401
    assert client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": "no"}).status_code == 422


def test_the_dashboard_page_in_korean_and_english(client: TestClient, stores: Stores) -> None:
    from web_helpers import add_user, sign_in

    load(client, stores)
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    empty = client.get("/recommendations")
    assert empty.status_code == 200 and "data-no-model" in empty.text and 'href="/recommendations"' in empty.text
    assert client.post("/recommendations/train", data={}).status_code == 403  # no CSRF token
    trained = client.post("/recommendations/train", data={"csrf_token": csrf}, follow_redirects=False)
    assert trained.status_code == 303 and trained.headers["location"] == "/recommendations?done=recs.saved"
    english = client.get(trained.headers["location"] + "&lang=en").text
    assert "The model was trained again." in english and "Quality on held-out last orders" in english
    assert 'id="chart-quality"' in english and 'data-algorithm="popularity"' in english
    assert "data-sample=" in english and 'data-reason="' in english
    korean = client.get("/recommendations?lang=ko&customer=f0").text
    assert "마지막 주문으로 본 추천 품질" in korean and "인기순 (기준)" in korean and "상품 추천" in korean
    assert korean.count("data-sample=") == 1 and "맞춤" in korean
    unknown = client.get("/recommendations?customer=nobody-at-all").text
    assert "data-unknown" in unknown
    add_user(stores, "a@example.com", "agent")
    client.cookies.clear()
    sign_in(client, "a@example.com")
    assert client.get("/recommendations").status_code == 403


def test_export_holds_the_history_and_erase_removes_it(client: TestClient, stores: Stores,
                                                       workspace_id: str) -> None:
    load(client, stores)
    client.post("/v1/recommendations/train", headers=bearer(), json={"evaluate": False})
    exported = client.get("/v1/profiles/user_id:f0/export", headers=bearer()).json()
    assert {row["product_id"] for row in exported["recommendations"]} == {"jeans", "tee", "belt"}
    version = client.get("/v1/recommendations/model", headers=bearer()).json()["version"]
    profile_id = client.get("/v1/recommendations", params={"user": "f0"}, headers=basic()).json()["profile_id"]
    assert client.delete("/v1/profiles/user_id:f0", headers=bearer()).status_code == 200
    assert client.get("/v1/recommendations/model", headers=bearer()).json()["version"] != version
    from touchline.personalization import store as rec_store
    from touchline.personalization.model import Model

    with stores.read() as conn:
        model = Model.from_bytes(rec_store.load_model(conn, workspace_id)["model"])
    assert len(model.customers) == 20 and profile_id not in model.customers


def test_training_an_empty_workspace(client: TestClient) -> None:
    trained = client.post("/v1/recommendations/train", content=b"null",
                          headers={**bearer(), "Content-Type": "application/json"})
    assert trained.status_code == 200, trained.text
    assert trained.json()["customers"] == 0 and trained.json()["evaluation"]["held_out_customers"] == 0
    assert client.get("/v1/recommendations", params={"user": "anyone"}, headers=basic()).json()["items"] == []
