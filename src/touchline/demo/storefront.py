"""The demo shop's product page: a storefront with Segment's analytics.js and Touchline's in-app messages
(``/sdk/inapp.js``), for trying the in-app banner of ``touchline demo`` in a browser.

``touchline serve`` answers ``/demo-shop/product/{id}`` (a product of the demo catalog, ``P10001`` say) only
with ``TOUCHLINE_DEMO_STOREFRONT=true``: it is a demo, not the shop's site. The page loads analytics.js from
``TOUCHLINE_DEMO_ANALYTICS_JS_URL`` (Segment's browser library, unchanged; the browser fetches it) and sends
a page view and ``Product Viewed`` with it; the in-app SDK counts the view and shows the banner on the third.
The write key is the configured one (``TOUCHLINE_WRITE_KEY``) or ``?write_key=``. The tests serve the same
page from another origin (:func:`product_page`)."""

from __future__ import annotations

import html
import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from touchline.demo.catalog import SHOP_NAME, SHOP_NAME_EN, Product, build_catalog
from touchline.errors import BadRequest, NotFound

__all__ = ["product_page", "router"]

router = APIRouter(include_in_schema=False)


def _product(product_id: str) -> Product:
    found = next((p for p in build_catalog() if p.product_id == product_id), None)
    if found is None:
        raise NotFound(f"no product {product_id!r} in the demo catalog", {"field": "product_id", "reason": "unknown"})
    return found


def product_page(product: Product, *, touchline_url: str, write_key: str, analytics_js: str, lang: str = "ko",
                 others: tuple[Product, ...] = ()) -> str:
    """A product page of the demo shop: analytics.js tracks the view, ``inapp.js`` shows what may be shown."""
    ko = lang == "ko"
    name = product.name if ko else product.name_en
    shop = SHOP_NAME if ko else SHOP_NAME_EN
    price = f"{product.price:,}원" if ko else f"₩{product.price:,}"
    category = product.category.name if ko else product.category.name_en
    properties = {k: product.props[k] for k in ("product_id", "sku", "name", "category", "brand", "price", "currency")}
    key, url = json.dumps(write_key), json.dumps(touchline_url)
    page_props = json.dumps({"product_id": product.product_id})
    viewed = json.dumps(properties, ensure_ascii=False)
    shop_js = (
        f"window.shopReady = AnalyticsNext.AnalyticsBrowser.load({{writeKey: {key}, cdnURL: {url}}})"
        ".then(function (loaded) { var analytics = loaded[0];"
        f" return analytics.page('Product', {page_props}).then(function () {{"
        f" return analytics.track('Product Viewed', {viewed}); }})"
        ".then(function () { return analytics.user().anonymousId(); }); });"
    )
    shop_js = shop_js.replace("</", "<\\/")  # nothing in it ends the script element
    e = html.escape
    links = "".join(
        f'<li><a href="{e(p.product_id)}?lang={lang}">{e(p.name if ko else p.name_en)}</a></li>' for p in others)
    heading = "함께 보면 좋은 상품" if ko else "You may also like"
    more = f"<h2>{heading}</h2><ul>{links}</ul>" if links else ""
    buy = "장바구니 담기" if ko else "Add to cart"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>{e(name)} - {e(shop)}</title>
<script src="{e(analytics_js)}"></script>
<script>{shop_js}</script>
<script src="{e(touchline_url)}/sdk/inapp.js" defer data-write-key="{e(write_key)}"
        data-product-id="{e(product.product_id)}" data-lang="{lang}"></script>
<style>
body{{margin:0;font:16px/1.5 system-ui,'Noto Sans KR',sans-serif;color:#1b2430;background:#fafaf9}}
header{{padding:14px 20px;background:#fff;border-bottom:1px solid #e7e5e4;font-weight:700;font-size:20px}}
main{{max-width:960px;margin:0 auto;padding:24px 20px 120px;display:grid;grid-template-columns:1fr 1fr;gap:32px}}
.photo{{aspect-ratio:1;border-radius:16px;background:linear-gradient(135deg,#fde68a,#f97316 60%,#9a3412)}}
.crumb{{color:#78716c;font-size:14px}} h1{{margin:4px 0 8px;font-size:26px;word-break:keep-all}}
.price{{font-size:24px;font-weight:700;color:#c2410c}} .brand{{color:#57534e}}
button.buy{{margin-top:20px;width:100%;padding:14px;border:0;border-radius:10px;background:#1c1917;color:#fff;font:inherit;font-weight:600}}
ul{{padding-left:18px}} a{{color:#1d4ed8}}
@media (max-width:640px){{main{{grid-template-columns:1fr;gap:16px}}}}
</style></head>
<body><header>{e(shop)}</header>
<main><div class="photo" role="img" aria-label="{e(name)}"></div>
<section><p class="crumb">{e(category)}</p><h1>{e(name)}</h1>
<p class="brand">{e(product.brand if ko else product.brand_en)}</p>
<p class="price">{e(price)}</p>
<button class="buy" type="button">{buy}</button>
{more}
</section></main></body></html>
"""


@router.get("/demo-shop/product/{product_id}", response_class=HTMLResponse)
async def demo_product(request: Request, product_id: str) -> HTMLResponse:
    settings = request.app.state.services.stores.settings
    key = request.query_params.get("write_key") or (settings.write_key.get_secret_value() if settings.write_key
                                                     else None)
    if not key:
        raise BadRequest("the demo storefront needs a write key: TOUCHLINE_WRITE_KEY or ?write_key=",
                         {"field": "write_key", "reason": "missing"})
    lang = "en" if request.query_params.get("lang") == "en" else "ko"
    product = _product(product_id)
    catalog = build_catalog()
    at = catalog.index(product)
    others = tuple(catalog[(at + i) % len(catalog)] for i in (1, 2, 3))
    page = product_page(product, touchline_url=str(request.base_url).rstrip("/"), write_key=key,
                        analytics_js=settings.demo_analytics_js_url, lang=lang, others=others)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
