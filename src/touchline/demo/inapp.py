"""The demo shop's in-app banner (issue 17): shoppers who viewed the same product three times get a banner
with a coupon, at most twice, a day apart, and never again once they dismissed or clicked it.

``install_inapp_banner`` saves its ``in_app`` template (Korean and English, in the messages' sandbox) and the
message with its page rule; run again, it changes nothing (a shop's edits stay as edited).

``run_inapp_shoppers`` plays shoppers on the product pages over the last days, through the app's own
endpoints over ASGI on a simulated clock, as analytics.js and ``/sdk/inapp.js`` would: each view is a
``Product Viewed``, the SDK asks what it may show and, on the third view of the product, records the banner's
impression; the shopper then clicks it (and sometimes orders with the coupon), dismisses it, or ignores it and
may come back a day later, when the frequency rule allows the second and last impression. Deterministic
(seeded) and idempotent: a second run stores nothing new."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from touchline.demo.catalog import SHOP_URL, build_catalog
from touchline.errors import NotFound
from touchline.inapp import service as inapp
from touchline.messaging import service as messaging
from touchline.workspaces import service as workspaces
from touchline.workspaces import store as key_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["BANNER_KEY", "COUPON", "InAppSummary", "install_inapp_banner", "run_inapp_shoppers"]

BANNER_KEY = "viewed-three-times"
COUPON = "COMEBACK10"
TEMPLATE: dict[str, Any] = {
    "ko": {"title": "{% if profile.traits.name %}{{ profile.traits.name }}님, {% endif %}이 상품 아직 고민 중이세요?",
           "body": f"오늘 주문하시면 10% 할인해 드려요. 쿠폰 코드 {COUPON}",
           "url": f"{SHOP_URL}/cart?coupon={COUPON}"},
    "en": {"title": "{% if profile.traits.name %}{{ profile.traits.name }}, still{% else %}Still{% endif %} "
                    "thinking it over?",
           "body": f"Order today for 10% off with the code {COUPON}.",
           "url": f"{SHOP_URL}/cart?coupon={COUPON}"},
}
MESSAGE: dict[str, Any] = {
    "key": BANNER_KEY, "name": "세 번 본 상품 쿠폰 배너 (viewed a product 3 times)", "layout": "banner",
    "position": "top", "template": BANNER_KEY, "button": {"ko": "쿠폰 받기", "en": "Get the coupon"},
    "trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": 3, "within_days": 7}},
    "frequency": {"max_impressions": 2, "min_hours_between": 24, "stop_after_dismiss": True,
                  "stop_after_click": True},
    "priority": 50,
}


def install_inapp_banner(stores: Stores, workspace_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The banner and its template, unless the workspace has them already; returns the message."""
    if not any(t["channel"] == "in_app" for t in messaging.list_templates(stores, workspace_id, BANNER_KEY)):
        messaging.save_template(stores, workspace_id, BANNER_KEY, "in_app", TEMPLATE, "ko", now=now)
    try:
        return inapp.get_message(stores, workspace_id, BANNER_KEY)
    except NotFound:
        return inapp.save_message(stores, workspace_id, MESSAGE, now=now)


KEY_LABEL = "demo-inapp"
BASE = "http://touchline.demo"
SHOPPERS = 200
# What a shopper does with the banner (the demo's assumption): click it, close it, or leave it be.
CLICK_RATE, DISMISS_RATE = 0.18, 0.52
ORDER_AFTER_CLICK = 0.45
COME_BACK_RATE = 0.5  # of those who left it be: back a day or two later, viewing the product again


@dataclass
class InAppSummary:
    shoppers: int = 0
    shown: int = 0
    clicked: int = 0
    dismissed: int = 0
    refused: int = 0  # impressions the frequency rules refused (a second visit too soon, ...)
    orders: int = 0
    seconds: float = 0.0


class _Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def run_inapp_shoppers(stores: Stores, workspace_id: str, make_app: Callable[[Callable[[], dt.datetime]], Any], *,
                       seed: int = 42, days: int = 14, shoppers: int = SHOPPERS, now: dt.datetime | None = None
                       ) -> InAppSummary:
    """Shoppers viewing products over the last ``days``, the banner shown on the third view of one."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    install_inapp_banner(stores, workspace_id, now=now - dt.timedelta(days=days))
    summary = InAppSummary()
    clock = _Clock(now - dt.timedelta(days=days))
    app = make_app(clock)
    with stores.write() as conn:
        write_key = workspaces.create_key(conn, workspace_id, "write", KEY_LABEL)
    try:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="demo-inapp") as runner:
            runner.submit(asyncio.run, _play(app, write_key, clock, random.Random(seed), seed, days, shoppers, now,
                                             summary)).result()
    finally:
        app.state.services.writer.stop()
        with stores.write() as conn:
            for key in key_store.list_keys(conn, workspace_id):
                if key["label"] == KEY_LABEL and key["revoked_at"] is None:
                    key_store.revoke_key(conn, workspace_id, key["id"], dt.datetime.now(dt.UTC))
    summary.seconds = time.perf_counter() - started
    return summary


async def _play(app: Any, write_key: str, clock: _Clock, rng: random.Random, seed: int, days: int, shoppers: int,
                now: dt.datetime, summary: InAppSummary) -> None:
    catalog = build_catalog()
    span = max(days * 86_400 - 2 * 86_400, days * 43_200)  # room for a second visit before now
    moments = sorted(now - dt.timedelta(days=days) + dt.timedelta(seconds=rng.uniform(0, span))
                     for _ in range(shoppers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 auth=httpx.BasicAuth(write_key, "")) as client:
        for n, at in enumerate(moments):
            shopper = f"demo-inapp-{seed}-{n:04d}"
            language = "ko" if rng.random() < 0.8 else "en"
            product = rng.choice(catalog)
            summary.shoppers += 1
            views, visit = 0, 0
            while visit < 2:
                visit += 1
                outcome = None
                for _ in range(3 if visit == 1 else 1):
                    views += 1
                    at += dt.timedelta(minutes=rng.uniform(1, 25))
                    outcome = await _view(client, clock, at, shopper, language, product, views, f"{n:04d}-{views}",
                                          summary)
                if outcome == "click" and rng.random() < ORDER_AFTER_CLICK:
                    clock.at = at + dt.timedelta(minutes=rng.uniform(2, 30))
                    order = await client.post("/v1/track", json={
                        "anonymousId": shopper, "event": "Order Completed", "messageId": f"{shopper}-order",
                        "timestamp": clock.at.isoformat(),
                        "properties": {"order_id": f"HM-I{seed}{n:04d}", "total": product.price,
                                       "revenue": product.price, "currency": "KRW", "coupon": COUPON,
                                       "products": [{**product.line, "quantity": 1}]}})
                    order.raise_for_status()
                    summary.orders += 1
                if outcome != "ignore" or rng.random() >= COME_BACK_RATE or at + dt.timedelta(hours=41) > now:
                    break
                at += dt.timedelta(hours=rng.uniform(20, 40))  # back a day or so later (sometimes too soon)


async def _view(client: httpx.AsyncClient, clock: _Clock, at: dt.datetime, shopper: str, language: str,
                product: Any, views: int, key: str, summary: InAppSummary) -> str | None:
    """One product page: analytics.js's Product Viewed, then what the SDK does; what the shopper did with the
    banner (``click``, ``dismiss``, ``ignore``), or None when it was not shown."""
    clock.at = at
    viewed = await client.post("/v1/track", json={
        "anonymousId": shopper, "event": "Product Viewed", "messageId": f"{shopper}-view-{views}",
        "timestamp": at.isoformat(), "context": {"locale": "ko-KR" if language == "ko" else "en-US"},
        "properties": product.props})
    viewed.raise_for_status()
    offered = await client.get("/v1/inapp/messages", params={"user": f"anonymous_id:{shopper}", "lang": language})
    offered.raise_for_status()
    banner = next((m for m in offered.json()["messages"] if m["key"] == BANNER_KEY), None)
    if banner is None or views < banner["trigger"]["rule"]["at_least"]:  # the page rule, as the SDK counts
        return None
    user = f"anonymous_id:{shopper}"
    shown = await client.post("/v1/inapp/events", json={
        "type": "impression", "message_id": banner["id"], "user": user, "key": f"demo-{key}-i", "language": language,
        "page_url": product.url})
    shown.raise_for_status()
    if not shown.json().get("show"):
        summary.refused += 1
        return None
    summary.shown += 1
    roll = random.Random(f"{shopper}-{views}").random()
    outcome = "click" if roll < CLICK_RATE else "dismiss" if roll < CLICK_RATE + DISMISS_RATE else "ignore"
    if outcome != "ignore":
        clock.at = at + dt.timedelta(seconds=8 + 20 * roll)
        done = await client.post("/v1/inapp/events", json={
            "type": outcome, "message_id": banner["id"], "user": user, "key": f"demo-{key}-{outcome[0]}",
            "language": language, "page_url": product.url})
        done.raise_for_status()
        if outcome == "click":
            summary.clicked += 1
        else:
            summary.dismissed += 1
    return outcome
