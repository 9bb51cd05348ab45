"""The return and exchange request: a short guided flow (pure; no I/O).

A confident FAQ answer on returns, exchanges or refunds ends with an offer to take the request; the
customer's next messages give the order and the reason, and the request goes to a person with both, in
a note the agent reads first. Where the request stands is kept with the bot's turn
(:attr:`FlowTurn.state`, the recorded turn's ``flow_step``), so a restart in the middle loses nothing. A
message that does not answer the step (another question) leaves the flow and is answered as usual; "no"
or "never mind" closes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from touchline.assistant.intents import order_number

# FAQ topics that offer the request, and the kind of request each starts.
TOPICS: Final = {"returns": "return", "refunds": "return", "exchanges": "exchange"}
KINDS: Final = ("return", "exchange")
ASK_ORDER: Final = "order"
ASK_REASON: Final = "reason"
DONE: Final = "done"
CLOSED: Final = "closed"
OPEN_STEPS: Final = (ASK_ORDER, ASK_REASON)

# An order number written on its own: letters and digits with a dash (HM-20481, ORD-2024-0001) or a long
# run of digits (20240512001); a bare small number is a quantity or a size, not an order.
_BARE_ORDER = re.compile(r"(?<![\w-])([A-Za-z]{1,5}-[A-Za-z0-9-]{3,}|\d{6,})(?![\w-])")
_NO = re.compile(r"^\s*(아니(요|오|에요)?|아뇨|괜찮아요|됐어요|취소(할게요|해주세요|해 주세요)?|그만|안 ?할게요|"
                 r"no|nope|no thanks|never ?mind|cancel|forget it)\s*[.!~]*\s*$", re.I)
_UNKNOWN_ORDER = re.compile(r"모르|몰라|기억(이)? ?안|못 ?찾|don'?t know|not sure|can'?t find|no idea", re.I)

_OFFER: Final[dict[str, dict[str, str]]] = {
    "return": {"ko": "반품 접수를 도와드릴까요? 반품할 주문의 주문번호를 알려 주세요 (예: HM-12345).",
               "en": "Shall I take your return request? Tell me the order number (for example HM-12345)."},
    "exchange": {"ko": "교환 접수를 도와드릴까요? 교환할 주문의 주문번호를 알려 주세요 (예: HM-12345).",
                 "en": "Shall I take your exchange request? Tell me the order number (for example HM-12345)."},
}
_REASON: Final[dict[str, dict[str, str]]] = {
    "return": {"ko": "주문 {order}의 반품 사유를 알려 주세요. (예: 사이즈가 맞지 않아요, 상품에 문제가 있어요, "
                     "단순 변심)",
               "en": "Why would you like to return order {order}? (for example: wrong size, damaged, "
                     "changed my mind)"},
    "exchange": {"ko": "주문 {order}을 어떻게 교환하고 싶으신가요? (예: M 사이즈로, 다른 색상으로)",
                 "en": "What would you like instead for order {order}? (for example: size M, another colour)"},
}
_ORDERS: Final[dict[str, str]] = {
    "ko": "최근 주문은 {orders}이에요. 어느 주문인지 주문번호로 알려 주세요.",
    "en": "Your recent orders are {orders}. Which one? Tell me its order number.",
}
_NO_ORDERS: Final[dict[str, str]] = {
    "ko": "주문번호는 주문 완료 문자나 이메일, 마이페이지의 주문 내역에서 확인하실 수 있어요.",
    "en": "You'll find the order number in the order confirmation message or e-mail, or under your orders "
          "in your account.",
}
_DONE: Final[dict[str, dict[str, str]]] = {
    "return": {"ko": "반품 요청(주문 {order}, 사유: {reason})을 담당자에게 전달했어요. 확인 후 회수 방법을 "
                     "안내해 드릴게요.",
               "en": "I've passed your return request (order {order}, reason: {reason}) to our team. "
                     "They'll confirm and tell you how to send it back."},
    "exchange": {"ko": "교환 요청(주문 {order}, {reason})을 담당자에게 전달했어요. 재고를 확인한 뒤 안내해 "
                       "드릴게요.",
                 "en": "I've passed your exchange request (order {order}: {reason}) to our team. "
                       "They'll check the stock and get back to you."},
}
_REASONS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "return": {"ko": ("사이즈가 맞지 않아요", "상품에 문제가 있어요", "단순 변심"),
               "en": ("Wrong size", "It's damaged", "Changed my mind")},
    "exchange": {"ko": ("다른 사이즈로", "다른 색상으로"), "en": ("Another size", "Another colour")},
}
_NEVER_MIND: Final[dict[str, str]] = {"ko": "아니요", "en": "Never mind"}
_CLOSED: Final[dict[str, str]] = {
    "ko": "알겠어요. 다른 궁금한 점이 있으면 편하게 물어봐 주세요.",
    "en": "No problem. Ask me anytime if there's anything else.",
}

_NOTE: Final[dict[str, dict[str, str]]] = {
    "return": {"ko": "반품 접수 (챗봇): 주문 {order}, 사유: {reason}",
               "en": "Return request (assistant): order {order}, reason: {reason}"},
    "exchange": {"ko": "교환 접수 (챗봇): 주문 {order}, 요청: {reason}",
                 "en": "Exchange request (assistant): order {order}, wanted: {reason}"},
}


@dataclass(frozen=True, slots=True)
class FlowTurn:
    kind: str  # "return" | "exchange"
    step: str  # the step this turn leaves the flow at: ASK_ORDER, ASK_REASON, DONE or CLOSED
    text: str  # what the bot says
    language: str  # "ko" | "en"
    order: str | None = None
    reason: str | None = None
    quick_replies: tuple[str, ...] = ()  # what the customer can tap (the channel shows them where it can)

    @property
    def state(self) -> str:
        """Where the request stands, kept with the bot's turn: ``kind:step``, and the order once given."""
        return f"{self.kind}:{self.step}:{self.order}" if self.step == ASK_REASON else f"{self.kind}:{self.step}"

    @property
    def hands_over(self) -> bool:
        """The request is complete: a person takes it from here."""
        return self.step == DONE

    def note(self) -> str:
        """The note the agent reads first (a complete request only), in the customer's language."""
        return _NOTE[self.kind][self.language].format(order=self.order, reason=self.reason)


def _lang(language: str) -> str:
    return language if language in ("ko", "en") else "ko"


def offer(topic: str | None, language: str) -> FlowTurn | None:
    """The offer after a confident FAQ answer on ``topic``; None when the topic takes no request."""
    kind = TOPICS.get(topic or "")
    if kind is None:
        return None
    lang = _lang(language)
    return FlowTurn(kind, ASK_ORDER, _OFFER[kind][lang], lang, quick_replies=(_NEVER_MIND[lang],))


def order_in(message: str, known: Sequence[str] = ()) -> str | None:
    """The order a message names: one of the customer's own (``known``, any case, with or without its
    dash), after 주문번호/order no., or a bare order-like number."""
    squashed = re.sub(r"[\s-]", "", message).lower()
    for order_id in known:
        if order_id and re.sub(r"[\s-]", "", order_id).lower() in squashed:
            return order_id
    named = order_number(message)
    if named and any(ch.isdigit() for ch in named):  # "order because ..." names no order
        return named.upper()
    bare = _BARE_ORDER.search(message)
    return bare.group(1).upper() if bare else None


def advance(kind: str, step: str, message: str, language: str, *, order: str | None = None,
            known_orders: Sequence[str] = ()) -> FlowTurn | None:
    """The customer's answer at ``step`` of a ``kind`` request: the next turn, or None when the message
    does not answer the step (the bot answers it as a new question and the flow ends). ``order``: the order
    given at the previous step (kept with the turn, :attr:`FlowTurn.state`); ``known_orders``: the
    customer's own order ids, newest first (a verified customer only)."""
    lang = _lang(language)
    text = message.strip()
    if kind not in KINDS or step not in OPEN_STEPS or not text:
        return None
    if _NO.match(text):
        return FlowTurn(kind, CLOSED, _CLOSED[lang], lang)
    if step == ASK_ORDER:
        found = order_in(text, known_orders)
        if found is not None:
            return FlowTurn(kind, ASK_REASON, _REASON[kind][lang].format(order=found), lang, order=found,
                            quick_replies=(*_REASONS[kind][lang], _NEVER_MIND[lang]))
        if _UNKNOWN_ORDER.search(text):
            if known_orders:
                listed = ", ".join(known_orders[:3])
                return FlowTurn(kind, ASK_ORDER, _ORDERS[lang].format(orders=listed), lang,
                                quick_replies=(*known_orders[:3], _NEVER_MIND[lang]))
            return FlowTurn(kind, ASK_ORDER, _NO_ORDERS[lang], lang)
        return None
    if not order:  # the order was not kept (a turn recorded before this flow existed); ask again
        return FlowTurn(kind, ASK_ORDER, _OFFER[kind][lang], lang)
    reason = text[:300]
    return FlowTurn(kind, DONE, _DONE[kind][lang].format(order=order, reason=reason), lang, order=order,
                    reason=reason)
