"""The demo shop's loyalty program: 하루마켓 멤버십, with tiers, rewards, coupon codes and referrals, run over
the shop's recent history on a simulated clock, so the dashboard's loyalty page has life.

The program (1 point per ₩100, more for outerwear, a first-order bonus, points for reviews, birthday
bonuses; 일반 / 실버 / 골드 / VIP on a year's spend; points pending 7 days and lasting 60, so expiry shows
within the history) starts ``days`` before now. Then, one simulated day at a time: the day's orders and
sign-ups are taken from the event log (:func:`touchline.loyalty.consumer.backfill`) and earn as they
would have, some customers spend points at checkout or buy a reward and use its coupon later, new
customers come with a friend's referral code (a few of them the friend themself on another device, or a
second account on the friend's phone, which the abuse checks refuse), and the day closes with the
loyalty worker's round at that moment (expiry, its notices, referral payouts, birthdays). The last day
reviews the tiers. Deterministic (seeded) and idempotent: a second run finds its keys and writes nothing
new.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from touchline.errors import TouchlineError
from touchline.loyalty import consumer, referrals, rewards, service, store, sweeps

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["PROGRAM", "LoyaltySummary", "definition", "run_loyalty"]

PROGRAM = "members"
NAME = "하루마켓 멤버십 Haru Members"
SPEND_RATE = 0.2  # of orders: the customer spends points at checkout, if they have some
BUY_RATE = 0.1  # of orders: the customer buys a reward with points, if they have enough
REFERRED_RATE = 0.25  # of new customers' first orders that came with a friend's code
ABUSE_RATE = 0.15  # of those, the friend themself or someone sharing their device


@dataclass
class LoyaltySummary:
    days: int = 0
    events: int = 0
    spends: int = 0
    rewards_bought: int = 0
    coupons_used: int = 0
    referrals_claimed: int = 0
    referrals_refused: int = 0
    referrals_paid: int = 0
    expired: int = 0
    carried: int = 0
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)
    referral_counts: dict[str, int] = field(default_factory=dict)


def definition() -> dict[str, Any]:
    return {
        "currency": "KRW",
        "points": {"pending_days": 7, "expiry_days": 60, "expiring_notice_days": 14, "daily_cap": 30_000},
        "earn": [
            {"type": "order", "id": "purchase", "per_amount": 100, "points": 1,
             "categories": {"outer": 2, "shoes": 1.5}},
            {"type": "first_order", "id": "first-order", "points": 2_000},
            {"type": "event", "id": "review", "event": "Product Reviewed", "points": 300, "once_per": "product_id",
             "daily_cap": 900},
            {"type": "birthday", "id": "birthday", "points": 3_000},
        ],
        "tiers": {"measure": "spend", "window_days": 365, "downgrade": "one_step", "review_every_days": 90,
                  "levels": [
                      {"key": "basic", "name_ko": "일반", "name_en": "Basic", "threshold": 0},
                      {"key": "silver", "name_ko": "실버", "name_en": "Silver", "threshold": 150_000,
                       "multiplier": 1.2},
                      {"key": "gold", "name_ko": "골드", "name_en": "Gold", "threshold": 400_000, "multiplier": 1.5,
                       "free_shipping": True},
                      {"key": "vip", "name_ko": "VIP", "name_en": "VIP", "threshold": 1_000_000, "multiplier": 2.0,
                       "free_shipping": True},
                  ]},
        "referrals": {"referrer_points": 5_000, "referred_points": 3_000, "max_per_referrer": 5,
                      "return_window_days": 7},
    }


REWARDS: tuple[dict[str, Any], ...] = (
    {"key": "3000-off", "name_ko": "3,000원 할인 쿠폰", "name_en": "₩3,000 off", "cost": 3_000, "kind": "amount_off",
     "value": 3_000, "valid_days": 30},
    {"key": "free-shipping", "name_ko": "무료 배송 쿠폰", "name_en": "Free shipping", "cost": 2_500,
     "kind": "free_shipping", "value": 0, "valid_days": 30},
    {"key": "10-percent", "name_ko": "10% 할인 쿠폰", "name_en": "10% off", "cost": 8_000, "kind": "percent_off",
     "value": 10, "valid_days": 14},
    {"key": "spring-gift", "name_ko": "봄맞이 사은품", "name_en": "Spring gift", "cost": 0, "kind": "gift",
     "value": 0, "valid_days": 30},
)


def _setup(stores: Stores, workspace_id: str, start: dt.datetime) -> bool:
    """The program and its rewards; False when the program was there already (a second demo run)."""
    if any(p["key"] == PROGRAM for p in service.list_programs(stores, workspace_id)):
        return False
    service.create_program(stores, workspace_id, PROGRAM, NAME, definition(), now=start)
    existing = {r["key"] for r in rewards.list_rewards(stores, workspace_id, PROGRAM)}
    for reward in REWARDS:
        if reward["key"] not in existing:
            rewards.create_reward(stores, workspace_id, PROGRAM, now=start, **reward)
    return True


def _carry_over(stores: Stores, workspace_id: str, start: dt.datetime, rng: random.Random) -> int:
    """Points carried over from the shop's old stamp card for customers who ordered in the two months
    before the program: spendable at once, lasting two weeks (so the page shows expiry)."""
    with stores.events_conn() as conn:
        before = store.logged_events(conn, workspace_id, ["Order Completed"], start - dt.timedelta(days=60), start)
    customers = sorted({r["profile_id"] for r in before})
    rng.shuffle(customers)
    chosen = customers[: max(1, len(customers) // 3)] if customers else []
    with stores.write() as conn:
        book = service.Book(conn, service.program(conn, workspace_id, PROGRAM), start)
        survivors = store.canonical(conn, chosen)
        chosen = sorted({survivors[pid] for pid in chosen if pid in survivors})
        book.open(chosen)
        book.preload_keys([f"carried:{pid}" for pid in chosen])
        for pid in chosen:
            points = rng.choice((1_000, 1_500, 2_000, 3_000, 5_000))
            if book.replay(f"carried:{pid}", pid, "adjust", points) is None:
                book.earn(pid, points, "carried over from the old stamp card", f"carried:{pid}", kind="adjust",
                          pending_days=0, expiry_days=14)
        return len(book.flush())


def _devices(stores: Stores, workspace_id: str, profile_ids: list[str]) -> dict[str, str]:
    """A device id of each customer (for the abuse the demo plays: the referrer's own phone)."""
    with stores.read() as conn:
        found = store.identities_of(conn, workspace_id, profile_ids)
    return {pid: value for pid, kind, value in found if kind == "device_id"}


def run_loyalty(stores: Stores, workspace_id: str, *, seed: int = 42, days: int = 30,
                now: dt.datetime | None = None) -> LoyaltySummary:
    """Run the program over the last ``days`` of the shop's history (see the module's text)."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed)
    summary = LoyaltySummary(days=days)
    first_day = (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    if not _setup(stores, workspace_id, first_day):
        return _read(stores, workspace_id, summary, started)  # a second run: the program has its history
    codes = rewards.generate_codes(stores, workspace_id, PROGRAM, "spring-gift", count=200,
                                   expires_at=now + dt.timedelta(days=30), prefix="HARU", batch="spring-2026",
                                   now=first_day)["codes"]
    summary.carried = _carry_over(stores, workspace_id, first_day, rng)
    referrers: list[str] = []  # customers who share their code
    code_of: dict[str, str] = {}
    seen_customers: set[str] = set()
    day = first_day
    while day < now:
        until = min(day + dt.timedelta(days=1), now)
        rows = consumer.backfill(stores, workspace_id, day, until, now=until)
        orders = [r for r in rows if r["event"] == "Order Completed"]
        # Referrals: some of today's new customers came with a friend's code, claimed before their order.
        new = [r["profile_id"] for r in orders if r["profile_id"] not in seen_customers]
        if referrers:
            devices = _devices(stores, workspace_id, referrers) if rng.random() < 0.5 else {}
            for pid in dict.fromkeys(new):
                if rng.random() >= REFERRED_RATE:
                    continue
                friend = rng.choice(referrers)
                abuse = rng.random() < ABUSE_RATE
                who: str = friend if abuse and rng.random() < 0.5 else pid
                device: str | None = None
                if abuse and who == pid and friend in devices:
                    device = devices[friend]  # signs up on the friend's phone
                try:
                    found = referrals.claim(stores, workspace_id, PROGRAM, who, code_of[friend], device_id=device,
                                            now=day)
                    summary.referrals_claimed += 1
                    summary.referrals_refused += found["status"] == "rejected"
                except TouchlineError:
                    pass
        seen_customers.update(r["profile_id"] for r in orders)
        summary.events += consumer.process(stores, now=until)
        # Checkout: some customers spend points, or buy a reward and use its coupon on a later order.
        for r in orders:
            pid, order_id = r["profile_id"], str(r["properties"].get("order_id"))
            acting = rng.random()
            if acting >= SPEND_RATE + BUY_RATE:
                spendable = 0
            else:
                spendable = service.balance(stores, workspace_id, PROGRAM, pid, now=until)["available"]
            if spendable >= 3_000 and acting < BUY_RATE:
                try:
                    bought = rewards.buy(stores, workspace_id, PROGRAM, rng.choice(("3000-off", "free-shipping")),
                                         pid, key=f"demo-buy:{order_id}", now=until)
                    summary.rewards_bought += not bought["replayed"]
                    if rng.random() < 0.6:
                        rewards.redeem(stores, workspace_id, bought["coupon"]["code"], key=f"demo-use:{order_id}",
                                       profile_id=pid, order_id=f"{order_id}-next", now=until)
                        summary.coupons_used += 1
                except TouchlineError:
                    pass
            elif spendable >= 500:
                points = min(spendable, rng.choice((500, 1_000, 2_000, 5_000)))
                try:
                    service.spend(stores, workspace_id, PROGRAM, pid, points, key=f"demo-spend:{order_id}",
                                  reason="spent at checkout", order_id=order_id, now=until)
                    summary.spends += 1
                except TouchlineError:
                    pass
            if len(referrers) < 60 and rng.random() < 0.08 and pid not in code_of:
                code_of[pid] = referrals.code_for(stores, workspace_id, PROGRAM, pid, now=until)["code"]
                referrers.append(pid)
        if codes and orders and rng.random() < 0.5:  # the spring gift's codes, handed out at the stores
            code = codes.pop()
            try:
                rewards.redeem(stores, workspace_id, code, key=f"demo-gift:{code}", profile_id=orders[0]["profile_id"],
                               now=until)
                summary.coupons_used += 1
            except TouchlineError:
                pass
        # Birthdays are swept a week at a time (one scan of the profiles for seven days).
        weekly = (until - first_day).days % 7 == 0 or until >= now
        counts = sweeps.tick(stores, now=until, housekeeping=True,
                             birthday_days=min(7, (until - first_day).days) if weekly else 0)
        summary.expired += counts.get("expired", 0)
        summary.referrals_paid += counts.get("referrals_paid", 0)
        day = until
    sweeps.review_tiers(stores, workspace_id, PROGRAM, now=now)
    return _read(stores, workspace_id, summary, started)


def _read(stores: Stores, workspace_id: str, summary: LoyaltySummary, started: float) -> LoyaltySummary:
    with stores.read() as conn:
        p = service.program(conn, workspace_id, PROGRAM)
        summary.totals = store.program_totals(conn, p.id)
        summary.tiers = {str(k): v for k, v in store.tier_counts(conn, p.id).items()}
        summary.referral_counts = store.referral_counts(conn, p.id)
    summary.seconds = time.perf_counter() - started
    return summary
