"""The demo shop's experiments (issue 16): an A/B/n test of the abandoned-cart reminder's copy and a bandit
choosing the reminder's channel and timing, run on a simulated clock with shoppers who answer the arms
differently, so that a winner emerges in the readout and the bandit moves its traffic to it.

- ``exp-cart-copy`` (journey): a shopper leaves a cart, waits an hour, and an experiment node sends one of
  three e-mails (``plain`` the control, ``urgency``, ``free-shipping``), 10 % held out. Simulated shoppers
  buy after ``free-shipping`` most often.
- ``exp-cart-channel`` (journey): a bandit node with three paths (an e-mail at once, a text after an hour,
  an in-app message at 19:00 their time), a 10 % holdout, Thompson sampling on the journey's goal every six
  hours. Simulated shoppers answer the text best.

Both run on their own trigger (``Product Added`` with ``campaign`` ``exp-copy`` / ``exp-channel``, no
``cart_id``), so the demo's own abandoned-cart journey leaves these carts alone. Every message is recorded by
the development channels, as in the rest of the demo.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from typing import TYPE_CHECKING, Any

from touchline.demo.simulate import DEMO_MARKING, DEV_CHANNELS
from touchline.errors import Conflict, StoreUnavailable
from touchline.experiments import service as experiments
from touchline.ingest.service import IngestResult, ingest, parse_items
from touchline.journeys import service as journeys
from touchline.journeys.runner import Runner
from touchline.messaging.channels.registry import DevChannel
from touchline.messaging.outbox import Outbox
from touchline.messaging.service import save_template

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["BUY_AFTER", "CHANNEL_JOURNEY", "COPY_JOURNEY", "seed_experiments"]

COPY = {
    "plain": ("장바구니에 담은 상품이 기다리고 있어요", "{{ profile.traits.name }}님, 담아두신 상품을 잊지 마세요."),
    "urgency": ("재고가 얼마 남지 않았어요", "{{ profile.traits.name }}님, 담아두신 상품의 재고가 얼마 남지 않았어요."),
    "free-shipping": ("오늘 주문하면 무료배송", "{{ profile.traits.name }}님, 오늘 주문하시면 배송비가 무료예요."),
}
# How often a simulated shopper buys within a day of each message (the truth the readout should find);
# everybody, held out or not, also buys on their own at BASE_RATE within two days.
BUY_AFTER = {"copy-plain": 0.10, "copy-urgency": 0.12, "copy-free-shipping": 0.28,
             "channel-email": 0.07, "channel-sms": 0.22, "channel-in_app": 0.10}
BASE_RATE = 0.04

COPY_JOURNEY: dict[str, Any] = {
    "id": "exp-cart-copy", "name": "장바구니 리마인더 문구 A/B/n · Cart reminder copy",
    "trigger": {"type": "event", "event": "Product Added",
                "where": [{"property": "campaign", "operator": "=", "value": "exp-copy"}]},
    "goal": {"event": "Order Completed", "within": "3d"},
    "start": "wait",
    "nodes": [
        {"type": "wait", "id": "wait", "duration": "1h", "next": "copy"},
        {"type": "experiment", "id": "copy", "experiment": "cart-copy",
         "name": "장바구니 리마인더 문구 · Reminder copy",
         "control": "plain", "holdout": {"percent": 10, "next": "done"},
         "arms": [{"name": "plain", "weight": 34, "next": "send-plain"},
                  {"name": "urgency", "weight": 33, "next": "send-urgency"},
                  {"name": "free-shipping", "weight": 33, "next": "send-free-shipping"}],
         "guardrails": [{"event": "Unsubscribed"}]},
        *[{"type": "send", "id": f"send-{arm}", "channel": "email", "template": f"exp-copy-{arm}",
           "kind": "advertising", "next": "done"} for arm in COPY],
        {"type": "exit", "id": "done"},
    ],
}
# The bandit's arms: a channel each, and the path to its message (at once, after an hour, at 19:00).
_CHANNEL_ARMS = [{"name": "email", "next": "send-email"}, {"name": "sms", "next": "wait-1h"},
                 {"name": "in_app", "next": "wait-evening"}]
CHANNEL_JOURNEY: dict[str, Any] = {
    "id": "exp-cart-channel", "name": "리마인더 채널·시점 밴딧 · Reminder channel bandit",
    "trigger": {"type": "event", "event": "Product Added",
                "where": [{"property": "campaign", "operator": "=", "value": "exp-channel"}]},
    "goal": {"event": "Order Completed", "within": "2d"},
    "start": "channel",
    "nodes": [
        {"type": "bandit", "id": "channel", "experiment": "cart-channel",
         "name": "리마인더 채널·시점 · Reminder channel and timing", "control": "email",
         "holdout": {"percent": 10, "next": "done"},
         "arms": _CHANNEL_ARMS,
         "bandit": {"floor_percent": 2, "min_exposures": 30, "cadence_hours": 6}},
        {"type": "wait", "id": "wait-1h", "duration": "1h", "next": "send-sms"},
        {"type": "wait", "id": "wait-evening", "until_time": "19:00", "next": "send-in_app"},
        *[{"type": "send", "id": f"send-{ch}", "channel": ch, "template": "exp-channel-reminder",
           "kind": "advertising", "next": "done"} for ch in [arm["name"] for arm in _CHANNEL_ARMS]],
        {"type": "exit", "id": "done"},
    ],
}


def _templates(stores: Stores, workspace_id: str, now: dt.datetime) -> None:
    for arm, (subject, body) in COPY.items():
        save_template(stores, workspace_id, f"exp-copy-{arm}", "email",
                      {"ko": {"subject": subject, "text": body + "\nhttps://shop.example/cart"}}, now=now)
    reminder = "{{ profile.traits.name }}님, 장바구니에 담은 상품이 기다리고 있어요."
    save_template(stores, workspace_id, "exp-channel-reminder", "email",
                  {"ko": {"subject": "장바구니를 확인해 주세요", "text": reminder}}, now=now)
    save_template(stores, workspace_id, "exp-channel-reminder", "sms", {"ko": {"text": reminder}}, now=now)
    save_template(stores, workspace_id, "exp-channel-reminder", "in_app",
                  {"ko": {"title": "장바구니", "body": reminder}}, now=now)


def _install(stores: Stores, workspace_id: str, now: dt.datetime) -> None:
    _templates(stores, workspace_id, now)
    for doc in (COPY_JOURNEY, CHANNEL_JOURNEY):
        with contextlib.suppress(Conflict):  # a second run keeps the journey it made
            journeys.create(stores, workspace_id, {**doc, "version": 1}, now=now)
        journeys.publish(stores, workspace_id, doc["id"], now=now)


def _ingest(stores: Stores, workspace_id: str, items: list[dict[str, Any]], now: dt.datetime) -> None:
    settings = stores.settings
    for i in range(0, len(items), 500):
        events, _bad = parse_items(items[i:i + 500], received_at=now, batch_sent_at=None, default_type=None,
                                   max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region)
        if events:
            ingest(stores, workspace_id, events, now=now, result=IngestResult())


def _arm_of(journey_id: str, node_id: str) -> str | None:
    prefix = {"exp-cart-copy": "copy", "exp-cart-channel": "channel"}.get(journey_id)
    return f"{prefix}-{node_id.removeprefix('send-')}" if prefix and node_id.startswith("send-") else None


def seed_experiments(stores: Stores, workspace_id: str, *, shoppers: int = 1200, days: int = 6, seed: int = 16,
                     now: dt.datetime | None = None) -> dict[str, Any]:
    """Install the two experiment journeys at ``now - days`` and play ``shoppers`` shoppers per journey
    through them hour by hour up to ``now``; returns each experiment's readout (arms, verdict) and the
    seconds it took."""
    started = time.perf_counter()
    end = (now or dt.datetime.now(dt.UTC)).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=days)
    rng = random.Random(seed)
    _install(stores, workspace_id, start)
    # shoppers: identified (e-mail, phone, consents), then a cart left at a random time
    pending: list[tuple[dt.datetime, dict[str, Any]]] = []
    for campaign in ("exp-copy", "exp-channel"):
        for i in range(shoppers):
            user = f"{campaign}-{seed}-{i}"
            at = start + dt.timedelta(seconds=rng.random() * (days - 2) * 86_400)
            pending.append((at - dt.timedelta(minutes=5), {
                "type": "identify", "userId": user, "messageId": f"{user}-id",
                "traits": {"name": f"고객{i}", "email": f"{user}@example.com",
                           "phone": f"010-{rng.randrange(2000, 9999)}-{rng.randrange(1000, 9999)}",
                           "consent": {arm["name"]: True for arm in _CHANNEL_ARMS},
                           "timezone": "Asia/Seoul"}}))
            pending.append((at, {"type": "track", "userId": user, "event": "Product Added", "messageId": f"{user}-add",
                                 "properties": {"campaign": campaign, "product_id": "knit-01", "price": 59000}}))
            if rng.random() < BASE_RATE:  # buys anyway, whatever is sent
                pending.append((at + dt.timedelta(hours=2 + rng.random() * 40), _order(user, "self", rng)))
    pending.sort(key=lambda p: p[0])
    clock = [start]
    outbox = Outbox(stores, channels={name: DevChannel(name) for name in DEV_CHANNELS}, clock=lambda: clock[0],
                    marking=None if stores.settings.sms_ad_opt_out_line else DEMO_MARKING)
    runner = Runner(stores, outbox=outbox, clock=lambda: clock[0])
    seen: set[str] = set()
    t = start
    while t < end:
        nxt = t + dt.timedelta(hours=1)
        clock[0] = nxt
        due = [m | {"timestamp": at.isoformat()} for at, m in pending if t <= at < nxt]
        _ingest(stores, workspace_id, due, nxt)
        runner.tick(nxt)
        for row in _sent(stores, workspace_id, t, nxt):
            arm = _arm_of(str(row["journey_id"]), str(row["node_id"]))
            if arm is None or row["id"] in seen:
                continue
            seen.add(row["id"])
            if rng.random() < BUY_AFTER[arm]:
                at = row["sent_at"] + dt.timedelta(minutes=10 + rng.random() * 600)
                pending.append((at, _order(str(row["user_id"]), arm, rng)))
        if t.hour == 0:
            _pump(stores)
        t = nxt
    _pump(stores)
    out: dict[str, Any] = {"seconds": 0.0, "experiments": {}}
    for experiment_id in ("cart-copy", "cart-channel"):
        result = experiments.readout(stores, workspace_id, experiment_id)
        out["experiments"][experiment_id] = {
            "verdict": result["readout"]["verdict"], "winner": result["readout"]["winner"],
            "verdict_text": result["verdict_text"], "weights": result["experiment"]["weights"],
            "arms": {a["name"]: {"exposures": a["exposures"], "conversions": a["conversions"],
                                 "chance_to_beat": a["chance_to_beat"]} for a in result["readout"]["arms"]},
            "weight_changes": len(result["weights_history"])}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _order(user: str, why: str, rng: random.Random) -> dict[str, Any]:
    order_id = f"exp-{why}-{rng.getrandbits(40):x}"
    return {"type": "track", "userId": user, "event": "Order Completed", "messageId": order_id,
            "properties": {"order_id": order_id, "revenue": 59000, "currency": "KRW",
                           "products": [{"product_id": "knit-01", "price": 59000, "quantity": 1}]}}


def _sent(stores: Stores, workspace_id: str, after: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    from touchline.demo import store as demo_store

    with stores.read() as conn:
        return [r for r in demo_store.sent_between(conn, workspace_id, after, until)
                if r["journey_id"] in ("exp-cart-copy", "exp-cart-channel")]


def _pump(stores: Stores) -> None:
    with contextlib.suppress(StoreUnavailable):  # a running server holds the event store; its pump moves them
        stores.pump()
