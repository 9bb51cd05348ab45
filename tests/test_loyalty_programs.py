"""Loyalty programs on events (issue 18): earning rules applied from the event log, versioned and validated
definitions, tiers (upgrade at once, downgrade at review, events), expiry notices, rewards and coupons,
and referrals with each abuse case refused."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import sqlalchemy as sa

from loyalty_helpers import NOW, customer, invariants, ledger_count, program
from segment_helpers import load
from support import basic, bearer
from touchline.errors import Conflict, Forbidden, NotFound, ValidationFailed
from touchline.loyalty import consumer, referrals, rewards, service, sweeps
from touchline.loyalty.rules import ProgramDefinitionError, default_definition, parse
from touchline.profiles.service import resolve
from touchline.store.engines import Stores
from touchline.store.schema import event_staging, events, loyalty_ledger

_ids = itertools.count()


def track(stores: Stores, workspace_id: str, user: str, event: str, at: dt.datetime, *,
          context: dict[str, Any] | None = None, **properties: Any) -> None:
    load(stores, workspace_id, [{"type": "track", "userId": user, "event": event, "timestamp": at.isoformat(),
                                 "properties": properties, "messageId": f"ev-{next(_ids)}",
                                 "context": context or {"channel": "web"}}], at)


def order(stores: Stores, workspace_id: str, user: str, order_id: str, total: float, at: dt.datetime,
          **properties: Any) -> None:
    track(stores, workspace_id, user, "Order Completed", at, order_id=order_id, total=total, currency="KRW",
          **properties)


def entries(stores: Stores, pid: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(loyalty_ledger).where(loyalty_ledger.c.profile_id == pid)
                                              .order_by(loyalty_ledger.c.id)).mappings()]


def system_events(stores: Stores, name: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        staged = [dict(r) for r in conn.execute(sa.select(event_staging.c.profile_id, event_staging.c.payload)
                                                .where(event_staging.c.event == name)).mappings()]
    with stores.events_conn() as conn:
        stored = [dict(r) for r in conn.execute(sa.select(events.c.profile_id, events.c.payload)
                                                .where(events.c.event == name)).mappings()]
    return staged + stored


# --- earning rules ---------------------------------------------------------------------------------------


def test_orders_earn_by_the_rules_and_a_refund_reverses_exactly(stores: Stores, workspace_id: str) -> None:
    definition = default_definition()
    definition["earn"][0]["categories"] = {"outer": 2}
    program_id = program(stores, workspace_id, earn=definition["earn"])
    pid = customer(stores, workspace_id, "kim-01")
    order(stores, workspace_id, "kim-01", "o-1", 100_000, NOW, products=[
        {"product_id": "coat", "category": "outer", "price": 50_000, "quantity": 1},
        {"product_id": "tee", "category": "tops", "price": 25_000, "quantity": 2}])
    assert consumer.process(stores, now=NOW) == 1
    rows = entries(stores, pid)
    # 1 point per ₩100, the outer half doubled: 1,500; plus the first-order bonus.
    assert [(r["kind"], r["points"], r["rule"]) for r in rows] == [("earn", 1500, "purchase@1"),
                                                                   ("earn", 2000, "first-order@1")]
    assert all(r["available_at"] == NOW + dt.timedelta(days=14) for r in rows)  # pending through the return window
    with pytest.raises(Conflict):
        service.spend(stores, workspace_id, "members", pid, 100, key="too-early", now=NOW + dt.timedelta(days=1))
    # The second order is no first order; the same order sent again (another messageId) earns nothing.
    order(stores, workspace_id, "kim-01", "o-2", 20_000, NOW + dt.timedelta(days=2))
    order(stores, workspace_id, "kim-01", "o-2", 20_000, NOW + dt.timedelta(days=2))
    consumer.process(stores, now=NOW + dt.timedelta(days=2))
    assert [r["points"] for r in entries(stores, pid)][2:] == [200]
    # Spend some of o-1's points after the window, then o-1 is refunded in full: exactly its 3,500 are taken
    # back, first from what is left of its own lots, the rest from o-2's; nothing goes below zero.
    service.spend(stores, workspace_id, "members", pid, 3_000, key="cart", now=NOW + dt.timedelta(days=15))
    track(stores, workspace_id, "kim-01", "Order Refunded", NOW + dt.timedelta(days=16), order_id="o-1")
    consumer.process(stores, now=NOW + dt.timedelta(days=16))
    last = entries(stores, pid)[-1]
    assert (last["kind"], last["points"], last["details"]["owed"]) == ("reverse", -700, 2_800)
    assert invariants(stores, program_id)[pid] == 0
    # What is owed is paid from the next earnings.
    order(stores, workspace_id, "kim-01", "o-3", 500_000, NOW + dt.timedelta(days=20))
    consumer.process(stores, now=NOW + dt.timedelta(days=20))
    figures = service.balance(stores, workspace_id, "members", pid, now=NOW + dt.timedelta(days=40))
    # The order earns at the tier its customer had when ordering (basic, x1); it then makes them silver.
    assert (figures["owed"], figures["balance"], figures["tier"]["key"]) == (0, 5_000 - 2_800, "silver")


def test_reviews_once_per_product_and_the_daily_cap(stores: Stores, workspace_id: str) -> None:
    program_id = program(stores, workspace_id)
    pid = customer(stores, workspace_id, "lee-02")
    for product in ("a", "a", "b", "c", "d"):
        track(stores, workspace_id, "lee-02", "Product Reviewed", NOW, product_id=product)
    consumer.process(stores, now=NOW)
    # 500 each, once per product (a twice earns once), at most 1,500 a day.
    assert [r["points"] for r in entries(stores, pid)] == [500, 500, 500]
    track(stores, workspace_id, "lee-02", "Product Reviewed", NOW + dt.timedelta(days=1), product_id="d")
    consumer.process(stores, now=NOW + dt.timedelta(days=1))
    assert [r["points"] for r in entries(stores, pid)] == [500, 500, 500, 500]
    invariants(stores, program_id)


def test_a_birthday_bonus_once_a_year(stores: Stores, workspace_id: str) -> None:
    program(stores, workspace_id)
    pid = customer(stores, workspace_id, "choi-03", birthday="1990-03-02")
    assert sweeps.birthdays(stores, now=NOW) == 1
    assert sweeps.birthdays(stores, now=NOW + dt.timedelta(hours=3)) == 0
    assert [(r["reason"], r["points"]) for r in entries(stores, pid)] == [("birthday bonus", 3_000)]


def test_definitions_are_validated_at_save_and_versioned(stores: Stores, workspace_id: str, client: Any) -> None:
    bad = default_definition()
    bad["earn"][0]["per_amount"] = -1
    answer = client.post("/v1/loyalty/programs", headers=bearer(), json={"key": "m", "name": "M", "definition": bad})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "/earn/0/per_amount"
    bad = default_definition()
    bad["tiers"]["levels"][2]["threshold"] = 100
    with pytest.raises(ProgramDefinitionError) as caught:
        parse(bad)
    assert "thresholds must go up" in str(caught.value.detail)
    assert client.get("/v1/loyalty/programs", headers=bearer()).json()["programs"] == []
    made = client.post("/v1/loyalty/programs", headers=bearer(), json={"key": "members", "name": "Members"})
    assert made.status_code == 201 and made.json()["version"] == 1
    changed = default_definition()
    changed["earn"][0]["points"] = 2
    saved = client.put("/v1/loyalty/programs/members", headers=bearer(), json={"definition": changed})
    assert saved.json()["version"] == 2 and [v["version"] for v in saved.json()["versions"]] == [2, 1]
    pid = customer(stores, workspace_id, "park-04")
    order(stores, workspace_id, "park-04", "o-9", 10_000, NOW)
    consumer.process(stores, now=NOW)
    assert entries(stores, pid)[0]["rule"] == "purchase@2" and entries(stores, pid)[0]["points"] == 200


# --- tiers ---------------------------------------------------------------------------------------------------


def test_tiers_upgrade_at_once_and_downgrade_at_review(stores: Stores, workspace_id: str) -> None:
    program(stores, workspace_id)
    pid = customer(stores, workspace_id, "jung-05")
    order(stores, workspace_id, "jung-05", "big", 1_200_000, NOW)
    consumer.process(stores, now=NOW)
    assert service.balance(stores, workspace_id, "members", pid, now=NOW)["tier"]["key"] == "gold"
    changed = [e["payload"]["properties"] for e in system_events(stores, "Tier Changed")]
    assert [(c["from"], c["to"], c["direction"]) for c in changed] == [("basic", "gold", "up")]
    # A year and a day later nothing is in the window: the review moves them down one step.
    later = NOW + dt.timedelta(days=366)
    result = sweeps.review_tiers(stores, workspace_id, "members", now=later)
    assert (result["reviewed"], result["downgraded"]) == (1, 1)
    assert service.balance(stores, workspace_id, "members", pid, now=later)["tier"]["key"] == "silver"
    from touchline.profiles.service import profile_view

    assert profile_view(stores, workspace_id, pid)["traits"]["loyalty_tier"] == "silver"


def test_tier_review_is_vectorised() -> None:
    import numpy as np

    from touchline.loyalty.tiers import review

    current = np.array([3, 3, 0, 1, 2], dtype=np.int64)
    spend = np.array([0, 2_000_000, 5_000_000, 0, 400_000], dtype=np.float64)
    thresholds = [0, 300_000, 1_000_000, 3_000_000]
    assert review(current, spend, thresholds, "one_step").tolist() == [2, 2, 3, 0, 1]
    assert review(current, spend, thresholds, "by_balance").tolist() == [0, 2, 3, 0, 1]


def test_points_expiring_is_announced_once(stores: Stores, workspace_id: str) -> None:
    program(stores, workspace_id)
    pid = customer(stores, workspace_id, "han-06")
    service.earn(stores, workspace_id, "members", pid, 700, key="old", now=NOW)
    soon = NOW + dt.timedelta(days=340)
    assert sweeps.expiring_notices(stores, now=soon) == 1
    assert sweeps.expiring_notices(stores, now=soon + dt.timedelta(days=1)) == 0
    (notice,) = system_events(stores, "Points Expiring")
    assert notice["payload"]["properties"]["points"] == 700


# --- rewards and coupons -------------------------------------------------------------------------------------


def test_rewards_coupons_and_their_refusals(stores: Stores, workspace_id: str, client: Any) -> None:
    program(stores, workspace_id)
    pid = customer(stores, workspace_id, "yoon-07")
    service.earn(stores, workspace_id, "members", pid, 6_000, key="seed", pending_days=0)
    made = client.post("/v1/loyalty/programs/members/rewards", headers=bearer(), json={
        "key": "5000-off", "name_ko": "5,000원 할인", "name_en": "₩5,000 off", "cost": 5_000, "kind": "amount_off",
        "value": 5_000, "valid_days": 30})
    assert made.status_code == 201, made.text
    rows = ledger_count(stores)
    for body, status, field in [
        ({"customer": "user_id:yoon-07", "idempotency_key": "buy-1"}, 404, "reward"),  # unknown reward (below)
    ]:
        answer = client.post("/v1/loyalty/programs/members/rewards/nope/redeem", headers=basic(), json=body)
        assert (answer.status_code, answer.json()["detail"][0]["field"]) == (status, field)
    assert ledger_count(stores) == rows
    bought = client.post("/v1/loyalty/programs/members/rewards/5000-off/redeem", headers=basic(),
                         json={"customer": "user_id:yoon-07", "idempotency_key": "buy-1"})
    again = client.post("/v1/loyalty/programs/members/rewards/5000-off/redeem", headers=basic(),
                        json={"customer": "user_id:yoon-07", "idempotency_key": "buy-1"})
    assert bought.status_code == again.status_code == 200
    assert again.json()["replayed"] and again.json()["coupon"]["code"] == bought.json()["coupon"]["code"]
    assert bought.json()["balance"]["available"] == 1_000
    short = client.post("/v1/loyalty/programs/members/rewards/5000-off/redeem", headers=basic(),
                        json={"customer": "user_id:yoon-07", "idempotency_key": "buy-2"})
    assert short.status_code == 409 and short.json()["code"] == "insufficient_points"
    assert short.json()["detail"][0]["field"] == "reward"
    code = bought.json()["coupon"]["code"]
    used = client.post(f"/v1/loyalty/coupons/{code}/redeem", headers=basic(),
                       json={"customer": "user_id:yoon-07", "order_id": "o-1", "idempotency_key": "checkout-1"})
    assert used.status_code == 200 and used.json()["order_id"] == "o-1"
    same = client.post(f"/v1/loyalty/coupons/{code}/redeem", headers=basic(),
                       json={"customer": "user_id:yoon-07", "order_id": "o-1", "idempotency_key": "checkout-1"})
    assert same.status_code == 200 and same.json()["replayed"] is True
    reused = client.post(f"/v1/loyalty/coupons/{code}/redeem", headers=basic(),
                         json={"customer": "user_id:yoon-07", "order_id": "o-2", "idempotency_key": "checkout-2"})
    assert reused.status_code == 409 and reused.json()["code"] == "coupon_used"
    assert reused.json()["detail"][0]["field"] == "code"
    unknown = client.post("/v1/loyalty/coupons/NOPE1234/redeem", headers=basic(), json={"idempotency_key": "k"})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["field"] == "code"
    # Bulk codes: unique, single-use, expiring; the same batch again is the same batch.
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    batch = client.post("/v1/loyalty/programs/members/rewards/5000-off/codes", headers=bearer(),
                        json={"count": 500, "expires_at": expires, "prefix": "SPRING", "batch": "spring"})
    assert batch.status_code == 201
    codes = batch.json()["codes"]
    assert len(codes) == len(set(codes)) == 500 and all(c.startswith("SPRING") for c in codes)
    retry = client.post("/v1/loyalty/programs/members/rewards/5000-off/codes", headers=bearer(),
                        json={"count": 500, "expires_at": expires, "prefix": "SPRING", "batch": "spring"})
    assert retry.status_code == 200 and sorted(retry.json()["codes"]) == sorted(codes)
    past = client.post("/v1/loyalty/programs/members/rewards/5000-off/codes", headers=bearer(),
                       json={"count": 5, "expires_at": "2020-01-01"})
    assert past.status_code == 409 and past.json()["detail"][0]["field"] == "expires_at"
    with pytest.raises(Conflict) as expired:
        rewards.redeem(stores, workspace_id, codes[0], key="late", now=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert expired.value.code == "coupon_expired"
    other = customer(stores, workspace_id, "someone-else")
    service.earn(stores, workspace_id, "members", pid, 5_000, key="more", pending_days=0)
    mine = rewards.buy(stores, workspace_id, "members", "5000-off", pid, key="buy-3")["coupon"]["code"]
    with pytest.raises(Forbidden):
        rewards.redeem(stores, workspace_id, mine, key="theirs", profile_id=other)
    with pytest.raises(NotFound):
        rewards.buy(stores, workspace_id, "members", "missing", pid, key="x")


# --- referrals -------------------------------------------------------------------------------------------------


def _referral_program(stores: Stores, workspace_id: str, cap: int = 10) -> None:
    program(stores, workspace_id, referrals={"referrer_points": 5_000, "referred_points": 3_000,
                                             "max_per_referrer": cap, "return_window_days": 14})


def _code(stores: Stores, workspace_id: str, pid: str) -> str:
    return str(referrals.code_for(stores, workspace_id, "members", pid)["code"])


def test_a_referral_pays_after_the_return_window(stores: Stores, workspace_id: str) -> None:
    _referral_program(stores, workspace_id)
    referrer = customer(stores, workspace_id, "ref-1", email="ref1@example.com")
    code = _code(stores, workspace_id, referrer)
    track(stores, workspace_id, "new-1", "Signed Up", NOW, referral_code=code.lower())
    consumer.process(stores, now=NOW)
    new = resolve(stores, workspace_id, "user_id:new-1")
    order(stores, workspace_id, "new-1", "n-1", 50_000, NOW + dt.timedelta(days=1), payment_fingerprint="card-new")
    consumer.process(stores, now=NOW + dt.timedelta(days=1))
    assert referrals.pay_due(stores, now=NOW + dt.timedelta(days=10)) == 0  # inside the return window
    assert referrals.pay_due(stores, now=NOW + dt.timedelta(days=16)) == 1
    assert referrals.pay_due(stores, now=NOW + dt.timedelta(days=17)) == 0
    assert service.balance(stores, workspace_id, "members", referrer, now=NOW + dt.timedelta(days=16))["available"] \
        == 5_000
    paid = [r for r in entries(stores, new) if r["rule"] == "referral"]
    assert [r["points"] for r in paid] == [3_000]


def _rejected(stores: Stores, workspace_id: str, referred: str) -> str | None:
    view = referrals.referrals_view(stores, workspace_id, "members")
    found = [r for r in view["referrals"] if r["referred_id"] == referred]
    return found[0]["reason"] if found and found[0]["status"] == "rejected" else None


def test_self_referral_through_a_second_email_on_the_same_device(stores: Stores, workspace_id: str) -> None:
    _referral_program(stores, workspace_id)
    load(stores, workspace_id, [{"type": "identify", "userId": "ref-2", "traits": {"email": "me@example.com"},
                                 "context": {"device": {"id": "phone-A"}}, "messageId": "s1",
                                 "timestamp": NOW.isoformat()}], NOW)
    referrer = resolve(stores, workspace_id, "user_id:ref-2")
    code = _code(stores, workspace_id, referrer)
    # "A new customer" signs up with another e-mail on the referrer's phone: the identity graph merges them.
    load(stores, workspace_id, [{"type": "track", "anonymousId": "anon-x", "event": "Signed Up",
                                 "properties": {"referral_code": code, "email": "other@example.com"},
                                 "context": {"device": {"id": "phone-A"}}, "messageId": "s2",
                                 "timestamp": NOW.isoformat()}], NOW)
    consumer.process(stores, now=NOW)
    assert _rejected(stores, workspace_id, referrer) == "self_referral"


@pytest.mark.parametrize(("shared", "reason"), [("device", "same_device"), ("phone", "same_phone")])
def test_a_second_account_sharing_a_device_or_phone(stores: Stores, workspace_id: str, shared: str,
                                                    reason: str) -> None:
    _referral_program(stores, workspace_id)
    context = {"device": {"id": "tablet-9"}} if shared == "device" else {}
    traits = {"phone": "010-2222-3333"} if shared == "phone" else {}
    load(stores, workspace_id, [{"type": "identify", "userId": "ref-3", "traits": traits, "context": context,
                                 "messageId": "c1", "timestamp": NOW.isoformat()}], NOW)
    referrer = resolve(stores, workspace_id, "user_id:ref-3")
    code = _code(stores, workspace_id, referrer)
    # Another userId on the same device (or phone): the graph keeps two profiles and records the conflict.
    load(stores, workspace_id, [{"type": "identify", "userId": "second-3", "traits": traits, "context": context,
                                 "messageId": "c2", "timestamp": NOW.isoformat()}], NOW)
    second = resolve(stores, workspace_id, "user_id:second-3")
    assert second != referrer
    with pytest.raises(NotFound):
        referrals.claim(stores, workspace_id, "members", second, "NOSUCHCODE")
    assert referrals.claim(stores, workspace_id, "members", second, code)["reason"] == reason


def test_a_device_the_referrer_uses_named_at_sign_up(stores: Stores, workspace_id: str) -> None:
    _referral_program(stores, workspace_id)
    load(stores, workspace_id, [{"type": "identify", "userId": "ref-4", "context": {"device": {"id": "pc-4"}},
                                 "messageId": "d1", "timestamp": NOW.isoformat()}], NOW)
    referrer = resolve(stores, workspace_id, "user_id:ref-4")
    new = customer(stores, workspace_id, "new-4")
    found = referrals.claim(stores, workspace_id, "members", new, _code(stores, workspace_id, referrer),
                            device_id="pc-4")
    assert found["reason"] == "same_device"


@pytest.mark.parametrize("same", ["payment", "address"])
def test_the_same_payment_or_address_as_the_referrer(stores: Stores, workspace_id: str, same: str) -> None:
    _referral_program(stores, workspace_id)
    referrer = customer(stores, workspace_id, "ref-5")
    details = {"payment_fingerprint": "card-123"} if same == "payment" else \
        {"shipping_address": {"city": "서울", "line1": "여의대로 24", "postal_code": "07320"}}
    order(stores, workspace_id, "ref-5", "r-1", 30_000, NOW, **details)
    consumer.process(stores, now=NOW)
    new = customer(stores, workspace_id, "new-5")
    referrals.claim(stores, workspace_id, "members", new, _code(stores, workspace_id, referrer))
    if same == "address":  # spelt another way: the fingerprint normalises it
        details = {"shipping_address": {"city": "서울 ", "line1": "여의대로  24", "postal_code": "07320"}}
    order(stores, workspace_id, "new-5", "n-5", 30_000, NOW + dt.timedelta(days=1), **details)
    consumer.process(stores, now=NOW + dt.timedelta(days=1))
    assert _rejected(stores, workspace_id, new) == f"same_{same}"
    assert referrals.pay_due(stores, now=NOW + dt.timedelta(days=30)) == 0


def test_the_cap_per_referrer_and_customers_who_ordered_before(stores: Stores, workspace_id: str) -> None:
    _referral_program(stores, workspace_id, cap=1)
    referrer = customer(stores, workspace_id, "ref-6")
    code = _code(stores, workspace_id, referrer)
    first, second, old = (customer(stores, workspace_id, u) for u in ("new-6a", "new-6b", "old-6"))
    order(stores, workspace_id, "old-6", "before", 10_000, NOW)
    consumer.process(stores, now=NOW)
    assert referrals.claim(stores, workspace_id, "members", old, code)["reason"] == "not_new"
    for user, pid in (("new-6a", first), ("new-6b", second)):
        referrals.claim(stores, workspace_id, "members", pid, code)
        order(stores, workspace_id, user, f"o-{user}", 10_000, NOW + dt.timedelta(days=1))
    consumer.process(stores, now=NOW + dt.timedelta(days=1))
    assert _rejected(stores, workspace_id, first) is None
    assert _rejected(stores, workspace_id, second) == "cap_reached"
    assert referrals.pay_due(stores, now=NOW + dt.timedelta(days=30)) == 1


def test_a_refunded_first_order_pays_no_referral(stores: Stores, workspace_id: str) -> None:
    _referral_program(stores, workspace_id)
    referrer = customer(stores, workspace_id, "ref-7")
    new = customer(stores, workspace_id, "new-7")
    referrals.claim(stores, workspace_id, "members", new, _code(stores, workspace_id, referrer))
    order(stores, workspace_id, "new-7", "n-7", 20_000, NOW)
    track(stores, workspace_id, "new-7", "Order Refunded", NOW + dt.timedelta(days=3), order_id="n-7")
    consumer.process(stores, now=NOW + dt.timedelta(days=3))
    assert _rejected(stores, workspace_id, new) == "order_refunded"
    with pytest.raises(ValidationFailed):
        service.create_program(stores, workspace_id, "Bad Key", "x")


# --- a journey's award_points step (journeys never import loyalty: the request goes through the log) ------


def test_a_journey_awards_points_through_the_event_log(stores: Stores, workspace_id: str, client: Any) -> None:
    from touchline.journeys.runner import Runner

    program(stores, workspace_id)
    journey = {"id": "welcome-points", "name": "Welcome points", "version": 1, "holdout_percent": 0,
               "trigger": {"type": "event", "event": "Signed Up"}, "start": "give",
               "nodes": [{"type": "award_points", "id": "give", "program": "members", "points": 1_000,
                          "reason": "welcome", "next": "done"}, {"type": "exit", "id": "done"}]}
    assert client.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/welcome-points/publish", headers=bearer()).status_code == 200
    bad = {**journey, "id": "bad", "nodes": [{**journey["nodes"][0], "points": -5}, journey["nodes"][1]]}
    refused = client.post("/v1/journeys", json=bad, headers=bearer())
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "/nodes/0/points"
    pid = customer(stores, workspace_id, "song-08")
    track(stores, workspace_id, "song-08", "Signed Up", NOW)
    runner = Runner(stores)
    runner.tick(NOW)
    runner.tick(NOW + dt.timedelta(minutes=1))  # nothing more: the step ran once
    stores.pump()
    consumer.process(stores, now=NOW)
    rows = entries(stores, pid)
    assert [(r["points"], r["reason"], r["rule"]) for r in rows] == [(1_000, "welcome", "journey")]
    assert consumer.process(stores, now=NOW) == 0


def test_reaching_a_tier_hands_out_its_coupons_once(stores: Stores, workspace_id: str) -> None:
    tiers = default_definition()["tiers"]
    tiers["levels"][2]["coupons"] = ["gold-welcome"]
    program(stores, workspace_id, tiers=tiers)
    rewards.create_reward(stores, workspace_id, "members", key="gold-welcome", name_ko="골드 환영 쿠폰",
                          name_en="Gold welcome", cost=0, kind="amount_off", value=10_000, now=NOW)
    pid = customer(stores, workspace_id, "gold-09")
    order(stores, workspace_id, "gold-09", "g-1", 1_100_000, NOW)
    consumer.process(stores, now=NOW)
    order(stores, workspace_id, "gold-09", "g-2", 10_000, NOW + dt.timedelta(days=1))
    consumer.process(stores, now=NOW + dt.timedelta(days=1))
    from touchline.loyalty import store as loyalty_store

    with stores.read() as conn:
        mine = loyalty_store.coupons_of(conn, service.program(conn, workspace_id, "members").id, [pid])
    assert [(c["batch"], c["profile_id"]) for c in mine] == [("tier:gold", pid)]
