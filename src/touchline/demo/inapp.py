"""The demo shop's in-app banner (issue 17): shoppers who viewed the same product three times get a banner
with a coupon, at most twice, a day apart, and never again once they dismissed or clicked it.

``install_inapp_banner`` saves its ``in_app`` template (Korean and English, in the messages' sandbox) and the
message with its page rule; run again, it changes nothing (a shop's edits stay as edited)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from touchline.demo.catalog import SHOP_URL
from touchline.errors import NotFound
from touchline.inapp import service as inapp
from touchline.messaging import service as messaging

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["BANNER_KEY", "COUPON", "install_inapp_banner"]

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
