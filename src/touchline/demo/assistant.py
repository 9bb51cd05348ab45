"""The demo shop's assistant at work: proactive chat with its holdout, and shoppers asking the bot.

After the FAQ is loaded, proactive chat is switched on (20 % holdout) and simulated shoppers hesitate on
the checkout page over the last days, through the web chat's real endpoints over ASGI on a simulated clock
(``POST /v1/chat/hesitation``, ``POST /v1/chat/messages``, ``POST /v1/track``): the rule opens the chat
for the treatment group and shows nothing to the holdout. Many of those offered the chat ask the bot a
question, in Korean or English (some want a person, some ask what the FAQ does not cover), and the bot
answers at that moment (:func:`touchline.conversations.bot.respond_all`, as ``touchline serve``'s worker
does). Shoppers who were helped complete their order a little more often, so the lift shows in the
report. Deterministic (seeded) and idempotent: the same keys and message ids on a second run store
nothing new.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from touchline.analytics import service as analytics
from touchline.conversations import bot, proactive, proactive_service
from touchline.store.engines import Stores
from touchline.workspaces import service as workspaces
from touchline.workspaces import store as key_store

__all__ = ["QUESTIONS", "AssistantSummary", "read_results", "run_assistant"]

KEY_LABEL = "demo-assistant"
BASE = "http://touchline.demo"
SHOPPERS = 240
HOLDOUT_PERCENT = 20
# How often a shopper who hesitated at checkout still orders within hours: the chat's help makes a
# difference (the demo's assumption, in the range the articles report for proactive chat).
ORDER_RATE = {"treatment": 0.46, "holdout": 0.32}
ASK_RATE = 0.7  # of those offered the chat, who write in it

# What hesitating shoppers ask, as they write it (FAQ questions in other words, a request for a person,
# a question the FAQ cannot answer).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("ko", "배송비 얼마예요?"), ("ko", "쿠폰 어디서 써요?"), ("ko", "무통장입금 되나요"), ("ko", "카드 할부 돼요?"),
    ("ko", "오늘 주문하면 언제 와요?"), ("ko", "교환은 어떻게 하나요"), ("ko", "적립금 사용 가능해요?"),
    ("ko", "네이버페이 결제 돼요?"), ("ko", "상담원 연결해 주세요"), ("ko", "결제가 자꾸 실패해요 사람이랑 얘기할래요"),
    ("ko", "선물 포장 되나요?"), ("ko", "제주도도 배송돼요?"), ("ko", "영수증 발행 되나요"),
    ("en", "how much is shipping?"), ("en", "can I pay with paypal"), ("en", "when will my order arrive if I buy now"),
    ("en", "where do I enter a coupon code"), ("en", "talk to a human please"), ("en", "do you ship to the US?"),
)


@dataclass
class AssistantSummary:
    shoppers: int = 0
    offered: int = 0
    held_out: int = 0
    questions: int = 0
    answers: int = 0
    orders: int = 0
    lift: dict[str, Any] = field(default_factory=dict)
    containment: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def _write_key(stores: Stores, workspace_id: str) -> str:
    with stores.write() as conn:
        return workspaces.create_key(conn, workspace_id, "write", KEY_LABEL)


def _revoke(stores: Stores, workspace_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        for key in key_store.list_keys(conn, workspace_id):
            if key["label"] == KEY_LABEL and key["revoked_at"] is None:
                key_store.revoke_key(conn, workspace_id, key["id"], now)


def run_assistant(stores: Stores, workspace_id: str, make_app: Callable[[Callable[[], dt.datetime]], Any], *,
                  seed: int = 42, days: int = 14, shoppers: int = SHOPPERS, now: dt.datetime | None = None
                  ) -> AssistantSummary:
    """Proactive chat on, shoppers hesitating over the last ``days`` and asking the bot; then the lift and
    the containment as the dashboard reports them (once the caller moved the staged events)."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    proactive_service.set_rule(stores, workspace_id, {"enabled": True, "holdout_percent": HOLDOUT_PERCENT,
                                                      "idle_seconds": 30, "cap_hours": 24}, now=now)
    summary = AssistantSummary()
    clock = _Clock(now - dt.timedelta(days=days))
    app = make_app(clock)
    write_key = _write_key(stores, workspace_id)
    try:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="demo-assistant") as runner:
            runner.submit(asyncio.run, _play(app, stores, workspace_id, write_key, clock, random.Random(seed),
                                             seed, days, shoppers, now, summary)).result()
    finally:
        app.state.services.writer.stop()
        _revoke(stores, workspace_id)
    summary.seconds = time.perf_counter() - started
    return summary


async def _play(app: Any, stores: Stores, workspace_id: str, write_key: str, clock: _Clock, rng: random.Random,
                seed: int, days: int, shoppers: int, now: dt.datetime, summary: AssistantSummary) -> None:
    auth = httpx.BasicAuth(write_key, "")
    moments = sorted(now - dt.timedelta(days=days) + dt.timedelta(seconds=rng.uniform(0, days * 86_400 - 7_200))
                     for _ in range(shoppers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, auth=auth) as client:
        for n, at in enumerate(moments):
            anonymous_id = f"demo-shopper-{seed}-{n:04d}"
            clock.at = at
            answer = await client.post("/v1/chat/hesitation", json={
                "anonymous_id": anonymous_id, "signal": "checkout_idle", "key": f"demo-{seed}-{n:04d}-idle",
                "page_url": "https://haru.example/checkout", "language": "ko", "cart_value": 59_000})
            answer.raise_for_status()
            decision = answer.json()
            summary.shoppers += 1
            group = decision["group"]
            summary.offered += group == "treatment"
            summary.held_out += group == "holdout"
            if decision["open"] and rng.random() < ASK_RATE:
                language, question = rng.choice(QUESTIONS)
                clock.at = at + dt.timedelta(seconds=rng.uniform(10, 90))
                sent = await client.post("/v1/chat/messages", json={
                    "anonymous_id": anonymous_id, "client_message_id": f"demo-{seed}-{n:04d}-q", "text": question,
                    "language": language, "page_url": "https://haru.example/checkout"})
                sent.raise_for_status()
                summary.questions += 1
                # this shopper's conversation only: the workspace's other chats are not this run's questions
                answered = await asyncio.to_thread(bot.respond, stores, workspace_id, sent.json()["conversation_id"],
                                                   now=clock.at)
                summary.answers += answered is not None
            if group is not None and rng.random() < ORDER_RATE[group]:
                ordered = at + dt.timedelta(minutes=rng.uniform(3, 180))
                clock.at = ordered
                order = await client.post("/v1/track", json={
                    "anonymousId": anonymous_id, "event": "Order Completed", "messageId": f"demo-{seed}-{n:04d}-order",
                    "timestamp": ordered.isoformat(),
                    "properties": {"order_id": f"HM-D{seed}{n:04d}", "total": 59_000, "revenue": 59_000,
                                   "currency": "KRW", "products": [{"product_id": "knit-01", "quantity": 1}]}})
                order.raise_for_status()
                summary.orders += 1


def read_results(stores: Stores, workspace_id: str, summary: AssistantSummary, *, days: int = 14,
                 now: dt.datetime | None = None) -> AssistantSummary:
    """The lift and the containment over the run's period (after the staged events reached the event store)."""
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=days + 1)
    summary.lift = analytics.offer_lift(stores, workspace_id, proactive.OFFERED_EVENT, start, now).as_dict()
    summary.containment = bot.report(stores, workspace_id, start=start, now=now)
    return summary
