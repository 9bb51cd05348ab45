"""The dashboard's catalog page over HTTP (both backends), in Korean and English: products with search and a
category filter, prices in their currency, stock, attributes, and where each field came from; agents read it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in


def _catalog(client: TestClient) -> None:
    response = client.post("/v1/catalog/products", headers=bearer(), json={"products": [
        {"id": "knit-01", "name": "캐시미어 니트", "name_en": "Cashmere Knit", "category": "니트",
         "category_en": "Knitwear", "price": 59000, "stock": 0, "attributes": {"sizes": {"S": 0, "M": 0},
                                                                                 "소재": "캐시미어"}},
        {"id": "tee-01", "name_en": "Basic Tee", "category_slug": "tops", "category": "상의", "price": 12.5,
         "currency": "USD", "stock": 4}]})
    assert response.status_code == 200, response.text
    events = client.post("/v1/track", headers=basic(), json={
        "userId": "u1", "event": "Product Viewed", "properties": {
            "product_id": "knit-01", "image_url": "https://cdn.example/knit.jpg", "price": 1000}})
    assert events.status_code == 200


def test_catalog_page_in_korean_and_english(client: TestClient, stores: Stores) -> None:
    _catalog(client)
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    page = client.get("/catalog", params={"lang": "ko"})
    assert page.status_code == 200, page.text
    text = page.text
    assert "상품 목록" in text and 'href="/catalog"' in text  # in the navigation
    assert "상품 2개 중 1–2번째" in text and "59,000원" in text and "US$12.50" in text and "품절" in text
    assert text.index('data-product="tee-01"') < text.index('data-product="knit-01"')  # by name: Basic Tee first
    knit = text[text.index('data-product="knit-01"'):text.index("</tbody>")]
    assert 'data-source="import"' in knit and 'data-source="events"' in knit
    assert "가져오기</span> 상품명, 영문 상품명, 카테고리, 영문 카테고리, 가격, 재고, 속성" in knit
    assert "이벤트</span> 이미지" in knit and "캐시미어" in knit
    english = client.get("/catalog", params={"lang": "en", "category": "tops"}).text
    assert "Products 1–1 of 1" in english and "Basic Tee" in english and "Cashmere Knit" not in english
    assert ">Import</span> English name, category, price, stock" in english
    found = client.get("/catalog", params={"q": "캐시미어"}).text
    assert 'data-product="knit-01"' in found and 'data-product="tee-01"' not in found
    none = client.get("/catalog", params={"q": "없는 상품", "lang": "ko"}).text
    assert "조건에 맞는 상품이 없습니다." in none


def test_an_empty_catalog_says_how_to_fill_it(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    page = client.get("/catalog", params={"lang": "ko", "offset": "x"})
    assert page.status_code == 200 and "touchline catalog import" in page.text and "아직 상품이 없습니다" in page.text
