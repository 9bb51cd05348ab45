"""A shopper's own orders, as the assistant tells them: the order events in, one line per order out.

An order's state is its newest event among :data:`ORDER_EVENTS` (the Segment e-commerce names: completed
= placed and paid, then shipped, delivered, or cancelled / refunded), matched by ``order_id``. Who may hear
it is decided by the caller: only a customer whose identity the channel proved (:data:`SIGN_IN` for anyone
else). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

__all__ = ["NO_ORDERS", "ORDER_EVENTS", "SIGN_IN", "OrderStatus", "order_text", "orders_of"]

ORDER_EVENTS: Final = ("Order Completed", "Order Shipped", "Order Delivered", "Order Cancelled", "Order Refunded")
_STATE = {"Order Completed": "placed", "Order Shipped": "shipped", "Order Delivered": "delivered",
          "Order Cancelled": "cancelled", "Order Refunded": "refunded"}
_RANK = {"placed": 0, "shipped": 1, "delivered": 2, "cancelled": 3, "refunded": 4}
_WORDS = {
    "ko": {"placed": "결제 완료, 출고 준비 중", "shipped": "배송 중", "delivered": "배송 완료",
           "cancelled": "주문 취소", "refunded": "환불 완료"},
    "en": {"placed": "paid, being prepared for shipping", "shipped": "on its way", "delivered": "delivered",
           "cancelled": "cancelled", "refunded": "refunded"},
}
SIGN_IN: Final = {
    "ko": "주문 정보는 본인 확인이 된 경우에만 알려드릴 수 있어요. 쇼핑몰에 로그인한 뒤 채팅으로 다시 물어봐 주시거나, "
          "주문하신 휴대폰 번호로 문자나 카카오톡으로 문의해 주세요.",
    "en": "For your privacy I can only share order details once you're signed in. Please sign in to the shop and "
          "ask again here, or message us from the phone number on your order.",
}
NO_ORDERS: Final = {
    "ko": "확인되는 주문 내역이 없어요. 다른 번호나 계정으로 주문하셨다면 상담원을 연결해 드릴까요?",
    "en": "I can't find any orders for you. If you ordered with another account, shall I connect you with a person?",
}
_SHOWN = 3


@dataclass(frozen=True)
class OrderStatus:
    order_id: str
    placed_at: dt.datetime
    updated_at: dt.datetime
    state: str  # placed | shipped | delivered | cancelled | refunded
    total: float | None
    tracking_number: str | None
    carrier: str | None


def _amount(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").replace("원", "").strip())
        except ValueError:
            return None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:100]
    return None


def orders_of(rows: Iterable[Mapping[str, Any]]) -> list[OrderStatus]:
    """Orders from order events (``event``, ``timestamp``, ``properties``), newest placed first. Events
    without an ``order_id``, or with values stored dirty, are skipped rather than failing the answer."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        name, at, props = row.get("event"), row.get("timestamp"), row.get("properties")
        if name not in _STATE or not isinstance(at, dt.datetime) or not isinstance(props, Mapping):
            continue
        order_id = _text(props.get("order_id"))
        if order_id is None:
            continue
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        order = found.setdefault(order_id, {"placed_at": at, "updated_at": at, "state": "placed", "total": None,
                                            "tracking_number": None, "carrier": None})
        state = _STATE[str(name)]
        if name == "Order Completed":
            order["placed_at"] = min(order["placed_at"], at)
            order["total"] = _amount(props.get("total", props.get("revenue")))
        if (at, _RANK[state]) >= (order["updated_at"], _RANK[order["state"]]):
            order["updated_at"], order["state"] = at, state
        order["tracking_number"] = _text(props.get("tracking_number")) or order["tracking_number"]
        order["carrier"] = _text(props.get("carrier") or props.get("shipping_carrier")) or order["carrier"]
    out = [OrderStatus(order_id=k, **v) for k, v in found.items()]
    return sorted(out, key=lambda o: (o.placed_at, o.order_id), reverse=True)


def _line(order: OrderStatus, lang: str, zone: ZoneInfo) -> str:
    day = order.placed_at.astimezone(zone).strftime("%Y-%m-%d")
    state = _WORDS[lang][order.state]
    if lang == "ko":
        money = f", {order.total:,.0f}원" if order.total is not None else ""
        line = f"주문번호 {order.order_id} ({day}{money}): {state}"
    else:
        money = f", {order.total:,.0f} KRW" if order.total is not None else ""
        line = f"Order {order.order_id} ({day}{money}): {state}"
    if order.state == "shipped" and order.tracking_number:
        carrier = f"{order.carrier} " if order.carrier else ""
        line += f" ({'운송장' if lang == 'ko' else 'tracking'} {carrier}{order.tracking_number})"
    return line


def order_text(orders: list[OrderStatus], lang: str, *, order_number: str | None = None,
               timezone: str = "Asia/Seoul") -> str:
    """What the assistant says of a verified customer's orders: the one they named, else the newest few."""
    lang = lang if lang in _WORDS else "ko"
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Asia/Seoul")
    if not orders:
        return NO_ORDERS[lang]
    named = [o for o in orders if order_number and o.order_id.lower().lstrip("#") == order_number.lower().lstrip("#")]
    shown = named or orders[:_SHOWN]
    lines = [_line(o, lang, zone) for o in shown]
    if order_number and not named:
        lines.insert(0, f"주문번호 {order_number}은(는) 찾지 못했어요. 최근 주문은 다음과 같아요." if lang == "ko"
                     else f"I couldn't find order {order_number}. Your latest orders:")
    return "\n".join(lines)
