"""The shop's catalog through the HTTP API, on both backends, as a shop uses it: a batch imported with bad
items beside good ones (each refused by index, field and reason, the others stored); the same batch again
changing nothing; the shop's events filling products without overwriting what an import set, and their dirty
values skipped field by field; reading, filtering and taking a product off sale; the assistant answering
product questions from the imported catalog in Korean and English, and seeing a change at once."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.assistant import service as assistant_service
from touchline.demo.shop_assistant import demo_products, load_catalog
from touchline.store.engines import Stores

KNIT = {"id": "knit-01", "name": "캐시미어 울 니트", "name_en": "Cashmere Wool Knit", "category": "니트",
        "category_en": "Knitwear", "price": 59000, "currency": "KRW", "stock": 7,
        "url": "https://shop.example/products/knit-01",
        "attributes": {"type": "니트", "type_en": "Knit", "sizes": {"S": 2, "M": 5, "L": 0},
                       "material": "캐시미어 30%, 울 70%", "colours": ["베이지", "네이비"]}}
KNIT_2 = {"id": "knit-02", "name": "라운드넥 코튼 니트", "name_en": "Crew-Neck Cotton Knit", "category": "니트",
          "price": "45,000원", "stock": 3, "attributes": {"type": "니트", "type_en": "Knit", "sizes": ["S", "M"]}}
COAT = {"id": "coat-01", "name": "롱 울 코트", "name_en": "Long Wool Coat", "category": "아우터",
        "category_slug": "outer", "category_en": "Outerwear", "price": 189000, "stock": 2,
        "attributes": {"type": "코트", "type_en": "Coat", "sizes": "S, M, L"}}


def _import(client: TestClient, products: list[Any]) -> Any:
    return client.post("/v1/catalog/products", headers=bearer(), json={"products": products})


def _product(client: TestClient, product_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/catalog/products/{product_id}", headers=bearer())
    assert response.status_code == 200, response.text
    return dict(response.json())


def _track(client: TestClient, batch: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", headers=basic(), json={"batch": batch})
    assert response.status_code == 200, response.text


def test_a_bad_item_is_refused_by_index_and_the_good_ones_beside_it_are_stored(client: TestClient) -> None:
    response = _import(client, [
        KNIT,
        {"id": "bad-price", "name": "반값 양말", "price": "5,000.5원"},  # KRW has no minor unit
        COAT,
        {"id": "bad-field", "name": "모자", "colour": "red"},  # attributes go under attributes
        {"name": "id 없는 상품"},
        {"id": "bad-stock", "name": "장갑", "stock": -3},
        {"id": "bad-url", "name": "목도리", "url": "javascript:alert(1)"},
        {"id": "knit-01", "name": "두 번째 니트"},  # the same id twice in one batch
        {"id": "bad-currency", "name": "벨트", "price": 10, "currency": "ZZZ"},
        KNIT_2,
    ])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "products_refused"
    assert (body["added"], body["updated"], body["unchanged"], body["refused"]) == (3, 0, 0, 7)
    problems = {(d["index"], d["field"]) for d in body["detail"]}
    assert problems == {(1, "price"), (3, "colour"), (4, "id"), (5, "stock"), (6, "url"), (7, "id"), (8, "currency")}
    reasons = {d["index"]: d["reason"] for d in body["detail"]}
    assert "KRW has no minor unit" in reasons[1] and reasons[3] == "unknown field" and reasons[4] == "missing"
    assert reasons[5] == "must not be negative" and "item 0" in reasons[7]
    assert [i["result"] for i in body["items"]] == ["added", "refused", "added", "refused", "refused", "refused",
                                                   "refused", "refused", "refused", "added"]
    knit = _product(client, "knit-01")
    assert knit["name"] == "캐시미어 울 니트" and knit["price"] == 59000 and knit["currency"] == "KRW"
    assert knit["category"] == {"slug": "니트", "name": "니트", "name_en": "Knitwear"}
    assert knit["attributes"]["sizes"] == {"S": 2, "M": 5, "L": 0} and knit["stock"] == 7
    assert set(knit["sources"].values()) == {"import"}
    assert _product(client, "knit-02")["price"] == 45000  # as the shop wrote it: "45,000원"
    assert _product(client, "coat-01")["category"]["slug"] == "outer"
    for missing in ("bad-price", "bad-field", "bad-stock", "bad-url", "bad-currency"):
        assert client.get(f"/v1/catalog/products/{missing}", headers=bearer()).status_code == 404


def test_the_same_batch_twice_changes_nothing(client: TestClient) -> None:
    batch = [KNIT, KNIT_2, COAT]
    first = _import(client, batch)
    assert first.status_code == 200 and first.json()["added"] == 3
    before = {p["id"]: p for p in client.get("/v1/catalog/products", headers=bearer()).json()["products"]}
    again = _import(client, copy.deepcopy(batch))
    assert again.status_code == 200, again.text
    assert (again.json()["added"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 3)
    after = {p["id"]: p for p in client.get("/v1/catalog/products", headers=bearer()).json()["products"]}
    assert after == before  # updated_at included
    changed = _import(client, [{**KNIT, "price": 49000}])
    assert changed.json()["updated"] == 1 and _product(client, "knit-01")["price"] == 49000


def test_events_fill_a_product_and_never_overwrite_what_the_import_set(client: TestClient) -> None:
    # Events alone make a product: a list page's products[] and an order's lines, with the order's currency.
    _track(client, [
        {"type": "track", "event": "Product List Viewed", "userId": "u1", "messageId": "cat-e1",
         "timestamp": "2026-11-01T01:00:00Z",
         "properties": {"category": "Outer / Coats", "products": [
             {"product_id": "coat-09", "name": "더블 코트", "price": 250000, "category": "Outer / Coats",
              "image_url": "https://cdn.example/coat-09.jpg"},
             {"sku": "SKU-77", "name": "체크 머플러", "price": 39000}]}},
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "cat-e2",
         "timestamp": "2026-11-01T02:00:00Z",
         "properties": {"order_id": "o-1", "currency": "USD", "products": [
             {"product_id": "tee-01", "name": "Basic Tee", "price": 12.5, "quantity": 2}]}},
    ])
    coat = _product(client, "coat-09")
    assert (coat["name"], coat["price"], coat["category"]["slug"]) == ("더블 코트", 250000, "outer-coats")
    assert coat["sources"] == {"name": "events", "price": "events", "category": "events", "image_url": "events"}
    assert _product(client, "SKU-77")["name"] == "체크 머플러"
    tee = _product(client, "tee-01")
    assert (tee["price"], tee["currency"]) == (12.5, "USD")
    # The import's fields stand; what it left out (the image), events fill.
    assert _import(client, [KNIT]).status_code == 200
    _track(client, [{"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "cat-e3",
                     "timestamp": "2026-11-02T01:00:00Z",
                     "properties": {"product_id": "knit-01", "name": "이벤트가 보낸 이름", "price": 1000,
                                    "category": "세일", "image_url": "https://cdn.example/knit-01.jpg"}}])
    knit = _product(client, "knit-01")
    assert (knit["name"], knit["price"], knit["category"]["slug"]) == ("캐시미어 울 니트", 59000, "니트")
    assert knit["image_url"] == "https://cdn.example/knit-01.jpg"
    assert knit["sources"]["image_url"] == "events" and knit["sources"]["price"] == "import"
    # An import given later takes over a field events had filled; events no longer change it.
    assert _import(client, [{"id": "coat-09", "price": 230000}]).json()["updated"] == 1
    _track(client, [{"type": "track", "event": "Product Added", "userId": "u1", "messageId": "cat-e4",
                     "timestamp": "2026-11-03T01:00:00Z",
                     "properties": {"product_id": "coat-09", "price": 260000, "name": "더블 울 코트"}}])
    coat = _product(client, "coat-09")
    assert (coat["price"], coat["name"]) == (230000, "더블 울 코트")
    assert coat["sources"]["price"] == "import" and coat["sources"]["name"] == "events"
    # A late event (older than the newest that changed the product) does not undo it.
    _track(client, [{"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "cat-e5",
                     "timestamp": "2026-10-01T01:00:00Z", "properties": {"product_id": "coat-09", "name": "옛 이름"}}])
    assert _product(client, "coat-09")["name"] == "더블 울 코트"


def test_dirty_values_in_events_are_skipped_field_by_field(client: TestClient) -> None:
    long_name = "니트" * 5000  # 10,000 characters
    _track(client, [
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "dirty-1",
         "timestamp": "2026-11-01T01:00:00Z",
         "properties": {"product_id": "p-dirty", "name": long_name, "price": "₩5,000", "stock": -4,
                        "url": "not a url", "category": None, "image_url": None}},
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "dirty-2",
         "timestamp": "2026-11-01T02:00:00Z",
         "properties": {"product_id": "p-dirty-2", "name": "  맨투맨  ", "price": "오천원", "stock": "12",
                        "currency": "won?"}},
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "dirty-3",
         "timestamp": "2026-11-01T03:00:00Z", "properties": {"product_id": None, "name": "id 없음"}},
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "dirty-4",
         "timestamp": "2026-11-01T04:00:00Z",
         "properties": {"products": "not a list", "order_id": "o-9"}},
        {"type": "track", "event": "Product List Viewed", "userId": "u1", "messageId": "dirty-5",
         "timestamp": "2026-11-01T05:00:00Z",
         "properties": {"products": [None, 7, {"product_id": {"an": "object"}, "name": "x"},
                                     {"product_id": "p-ctl", "name": "a\x01b", "price": 1e300},
                                     {"product_id": "p-neg", "name": "음수 가격", "price": -100}]}},
    ])
    dirty = _product(client, "p-dirty")
    # "₩5,000" is an amount written as shops write it: 5,000 won. The rest was unreadable and left out.
    assert (dirty["name"], dirty["price"], dirty["currency"], dirty["stock"], dirty["url"]) == (
        None, 5000, "KRW", None, None)
    second = _product(client, "p-dirty-2")
    assert (second["name"], second["price"], second["stock"]) == ("맨투맨", None, 12)
    assert _product(client, "p-neg")["price"] is None and _product(client, "p-neg")["name"] == "음수 가격"
    for missing in ("p-ctl",):
        assert client.get(f"/v1/catalog/products/{missing}", headers=bearer()).status_code == 404
    listed = client.get("/v1/catalog/products", headers=bearer()).json()
    assert {p["id"] for p in listed["products"]} == {"p-dirty", "p-dirty-2", "p-neg"}


def test_list_filters_pages_and_takes_a_product_off_sale(client: TestClient) -> None:
    assert _import(client, [KNIT, KNIT_2, COAT]).status_code == 200
    knits = client.get("/v1/catalog/products", headers=bearer(), params={"category": "니트"}).json()
    assert [p["id"] for p in knits["products"]] == ["knit-02", "knit-01"] and knits["total"] == 2  # by name
    coats = client.get("/v1/catalog/products", headers=bearer(), params={"category": "outer"}).json()
    assert [p["id"] for p in coats["products"]] == ["coat-01"]
    found = client.get("/v1/catalog/products", headers=bearer(), params={"q": "CASHMERE"}).json()
    assert [p["id"] for p in found["products"]] == ["knit-01"]
    assert client.get("/v1/catalog/products", headers=bearer(), params={"q": "100%"}).json()["total"] == 0
    page = client.get("/v1/catalog/products", headers=bearer(), params={"limit": 2, "offset": 2}).json()
    assert len(page["products"]) == 1 and page["total"] == 3
    gone = client.delete("/v1/catalog/products/coat-01", headers=bearer())
    assert gone.status_code == 200 and gone.json()["active"] is False
    on_sale = client.get("/v1/catalog/products", headers=bearer(), params={"active": "true"}).json()
    assert {p["id"] for p in on_sale["products"]} == {"knit-01", "knit-02"}
    assert client.delete("/v1/catalog/products/nope", headers=bearer()).status_code == 404
    assert _import(client, [{"id": "coat-01", "active": True}]).json()["updated"] == 1
    assert _product(client, "coat-01")["active"] is True
    # An id with a slash and Korean letters, percent-encoded in the path.
    assert _import(client, [{"id": "상품/77", "name": "슬래시 상품"}]).status_code == 200
    assert _product(client, "%EC%83%81%ED%92%88%2F77")["name"] == "슬래시 상품"


def test_bad_requests_are_4xx_naming_the_field(client: TestClient) -> None:
    for params, field in (({"limit": 0}, "query.limit"), ({"offset": 2**31}, "query.offset"),
                          ({"category": "a\x01"}, "query.category")):
        response = client.get("/v1/catalog/products", headers=bearer(), params=params)
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == field, response.text
    for body in ({}, {"products": []}, {"products": "x"}, {"products": [KNIT], "extra": 1}):
        response = client.post("/v1/catalog/products", headers=bearer(), json=body)
        assert response.status_code == 422, (body, response.text)
    too_many = client.post("/v1/catalog/products", headers=bearer(),
                           json={"products": [{"id": f"p{i}"} for i in range(5001)]})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "products"
    assert client.post("/v1/catalog/products", headers=bearer(WRITE_KEY), json={"products": [KNIT]}).status_code == 403
    nonsense = _import(client, [None, 3, [], {"id": 5}, {"id": " padded "}, {"id": "ok", "price": True},
                                {"id": "ok2", "attributes": {"sizes": [[1]]}}, {"id": "ok3", "stock": 2**40}])
    assert nonsense.status_code == 422 and nonsense.json()["refused"] == 8


def test_the_assistant_answers_product_questions_from_the_imported_catalog(client: TestClient, stores: Stores,
                                                                           workspace_id: str) -> None:
    assert _import(client, [KNIT, KNIT_2, COAT]).status_code == 200

    def ask(question: str, language: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"question": question}
        if language:
            body["language"] = language
        response = client.post("/v1/assistant/answer", headers=bearer(), json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    reply = ask("이 니트 M 사이즈 있어요?")
    assert (reply["intent"], reply["language"], reply["option"]) == ("product", "ko", "M")
    assert reply["product_ids"][0] in ("knit-01", "knit-02") and set(reply["product_ids"]) == {"knit-01", "knit-02"}
    assert "캐시미어 울 니트: 59,000원, M 재고 5개" in reply["text"]
    assert "라운드넥 코튼 니트: 45,000원, M 사이즈 있음" in reply["text"]
    assert "L 품절" in ask("캐시미어 니트 L 사이즈 재고 있나요?")["text"]
    english = ask("Do you have the cashmere knit in size S?")
    assert english["intent"] == "product" and english["language"] == "en" and english["product_ids"][0] == "knit-01"
    assert "Cashmere Wool Knit: 59,000 KRW, S 2 in stock" in english["text"]
    coat = ask("롱 코트 사이즈 뭐 있어요?")
    assert coat["product_ids"][0] == "coat-01" and "사이즈 S·M·L" in coat["text"] and "189,000원" in coat["text"]
    assert "no size XL" in ask("long wool coat in XL?", "en")["text"]
    # A change to the catalog is seen at the next question; a product off sale is no answer any more.
    assert _import(client, [{"id": "knit-01", "price": 52000, "attributes": {
        **KNIT["attributes"], "sizes": {"S": 2, "M": 0, "L": 0}}}]).json()["updated"] == 1
    assert "캐시미어 울 니트: 52,000원, M 품절" in ask("이 니트 M 사이즈 있어요?")["text"]
    client.delete("/v1/catalog/products/coat-01", headers=bearer())
    assert "coat-01" not in ask("롱 코트 사이즈 뭐 있어요?")["product_ids"]
    # Events change what the import left to them, and the assistant sees that too.
    _track(client, [{"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "as-e1",
                     "timestamp": "2026-11-02T01:00:00Z",
                     "properties": {"product_id": "scarf-01", "name": "캐시미어 머플러", "price": 69000,
                                    "category": "잡화"}}])
    assert "scarf-01" in ask("캐시미어 머플러 얼마예요?")["product_ids"]
    # Only products with a name are known; the workspace's knowledge reads the catalog as the answers do.
    known = {p.id for p in assistant_service.knowledge(stores, workspace_id).products}
    assert known == {"knit-01", "knit-02", "scarf-01"}


def test_the_demo_catalog_through_the_import_is_what_the_assistant_knew_of_it(stores: Stores,
                                                                             workspace_id: str) -> None:
    loaded = load_catalog(stores, workspace_id).summary()
    assert loaded["added"] == len(demo_products()) and loaded["refused"] == 0
    assert load_catalog(stores, workspace_id).summary()["unchanged"] == len(demo_products())
    known = assistant_service.knowledge(stores, workspace_id).products
    assert sorted(known, key=lambda p: p.id) == sorted(demo_products(), key=lambda p: p.id)
