"""Rewards and coupons: a catalogue of rewards bought with points, unique single-use coupon codes made in
bulk with an expiry, and redemption for the shop's checkout.

Buying a reward spends its cost (a ledger movement with the purchase's idempotency key) and issues the
customer a coupon in the same transaction: the same purchase again answers the same coupon. A coupon is
used once: the checkout's redemption marks it with a conditional update (``redeemed_at IS NULL``), so two
checkouts cannot both use it; the same redemption again (its idempotency key) answers the first, any other
use is refused (``coupon_used``), as are an expired code, an unknown one and another customer's.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from touchline.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from touchline.eventlog import SystemEvent, append_system_events
from touchline.ids import uuid5_hex
from touchline.loyalty import store
from touchline.loyalty.ledger import Shortfall
from touchline.loyalty.service import NAMESPACE, Book, Program, program

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from touchline.store.engines import Stores

__all__ = ["buy", "check_coupon", "create_reward", "generate_codes", "issue_coupon", "issue_tier_coupons",
           "list_rewards", "redeem", "update_reward"]

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # 32^10 ≈ 10^15 codes: guessing one of a million issued takes ~10^9 tries
KINDS = ("amount_off", "percent_off", "free_shipping", "gift")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _reward_view(row: Mapping[str, Any], counts: Mapping[str, Mapping[str, int]] | None = None) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "key", "name_ko", "name_en", "cost", "kind", "value", "valid_days", "active",
                               "created_at", "updated_at")}
    if counts is not None:
        found = counts.get(row["id"], {})
        out["issued"], out["redeemed"] = int(found.get("issued", 0)), int(found.get("redeemed", 0))
    return out


def _reward(conn: Connection, p: Program, ref: str) -> dict[str, Any]:
    row = store.reward_row(conn, p.id, ref)
    if row is None:
        raise NotFound(f"no reward {ref!r} in this program", field_error("reward", "unknown reward"))
    return row


def _checked(kind: str, value: int) -> None:
    if kind not in KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(KINDS)}", field_error("kind", "unknown kind"))
    if kind == "percent_off" and not 1 <= value <= 100:
        raise ValidationFailed("a percentage off is 1 to 100", field_error("value", "1 to 100 for percent_off"))
    if kind == "amount_off" and value <= 0:
        raise ValidationFailed("an amount off is positive", field_error("value", "must be positive for amount_off"))


def list_rewards(stores: Stores, workspace_id: str, program_ref: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        p = program(conn, workspace_id, program_ref)
        counts = {c["reward_id"]: c for c in store.coupon_counts(conn, p.id)}
        return [_reward_view(r, counts) for r in store.rewards(conn, p.id)]


def create_reward(stores: Stores, workspace_id: str, program_ref: str, *, key: str, name_ko: str, name_en: str,
                  cost: int, kind: str, value: int = 0, valid_days: int = 30, active: bool = True,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    _checked(kind, value)
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        if store.reward_row(conn, p.id, key) is not None:
            raise Conflict(f"a reward {key!r} exists", field_error("key", "taken"))
        reward_id = uuid.uuid4().hex
        store.insert_reward(conn, id=reward_id, workspace_id=workspace_id, program_id=p.id, key=key, name_ko=name_ko,
                            name_en=name_en, cost=cost, kind=kind, value=value, valid_days=valid_days, active=active,
                            created_at=now, updated_at=now)
        return _reward_view(_reward(conn, p, reward_id))


def update_reward(stores: Stores, workspace_id: str, program_ref: str, reward_ref: str, *,
                  now: dt.datetime | None = None, **values: Any) -> dict[str, Any]:
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        row = _reward(conn, p, reward_ref)
        changed = {k: v for k, v in values.items() if v is not None and k != "key"}
        _checked(changed.get("kind", row["kind"]), changed.get("value", row["value"]))
        store.update_reward(conn, row["id"], updated_at=_now(now), **changed)
        return _reward_view(_reward(conn, p, row["id"]))


def _codes(n: int, prefix: str) -> list[str]:
    return [prefix + "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(n)]


def generate_codes(stores: Stores, workspace_id: str, program_ref: str, reward_ref: str, *, count: int,
                   expires_at: dt.datetime, prefix: str = "", batch: str | None = None,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """``count`` unique single-use codes for the reward, expiring at ``expires_at``. A named ``batch`` made
    before is answered as it is (nothing more is made): a retried request makes no second batch."""
    now = _now(now)
    if expires_at <= now:  # 409, not 422: the document cannot say "after now"
        raise Conflict("the codes would be expired already", field_error("expires_at", "must be in the future"),
                       code="already_expired")
    batch = batch or uuid.uuid4().hex[:12]
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        reward = _reward(conn, p, reward_ref)
        existing = store.coupons_page(conn, p.id, reward_id=reward["id"], batch=batch, limit=count + 1, offset=0)
        if existing:
            codes = [r["code"] for r in existing]
            return {"reward": reward["key"], "batch": batch, "count": len(codes),
                    "expires_at": existing[0]["expires_at"], "codes": codes, "replayed": True}
        made: list[str] = []
        while len(made) < count:
            want = min(count - len(made), 5_000)
            rows = [{"workspace_id": workspace_id, "code": code, "program_id": p.id, "reward_id": reward["id"],
                     "batch": batch, "profile_id": None, "issue_key": None, "expires_at": expires_at,
                     "created_at": now} for code in dict.fromkeys(_codes(want, prefix))]
            made.extend(sorted(store.insert_coupons(conn, rows)))
    return {"reward": reward["key"], "batch": batch, "count": len(made), "expires_at": expires_at, "codes": made,
            "replayed": False}


def issue_coupon(conn: Connection, p: Program, reward: Mapping[str, Any], profile_id: str, issue_key: str,
                 now: dt.datetime, batch: str) -> dict[str, Any]:
    """A coupon of ``reward`` for the customer (the one issued before under ``issue_key``, if any)."""
    found = store.coupon_by_issue_key(conn, p.id, issue_key)
    if found is not None:
        return found
    expires = now + dt.timedelta(days=int(reward["valid_days"]))
    while True:
        code = _codes(1, "")[0]
        if store.insert_coupons(conn, [{"workspace_id": p.workspace_id, "code": code, "program_id": p.id,
                                        "reward_id": reward["id"], "batch": batch, "profile_id": profile_id,
                                        "issue_key": issue_key, "expires_at": expires, "created_at": now}]):
            found = store.coupon(conn, p.workspace_id, code)
            assert found is not None
            return found


def _coupon_view(row: Mapping[str, Any], reward: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {"code": row["code"], "expires_at": row["expires_at"], "customer": row["profile_id"],
           "redeemed_at": row["redeemed_at"], "order_id": row["order_id"]}
    if reward is not None:
        out["reward"] = {k: reward[k] for k in ("key", "name_ko", "name_en", "kind", "value")}
    return out


def buy(stores: Stores, workspace_id: str, program_ref: str, reward_ref: str, profile_id: str, *, key: str,
        now: dt.datetime | None = None) -> dict[str, Any]:
    """Buy a reward with points: its cost spent (oldest points first) and a coupon issued, in one
    transaction; the same ``key`` again answers the same purchase and writes nothing."""
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        reward = _reward(conn, p, reward_ref)
        if not reward["active"] or int(reward["cost"]) <= 0:
            raise Conflict("this reward is not offered for points", field_error("reward", "not for sale"),
                           code="reward_unavailable")
        book = Book(conn, p, now)
        book.open([profile_id])
        entry = book.replay(key, profile_id, "spend", int(reward["cost"]))
        replayed = entry is not None
        if entry is None:
            try:
                entry = book.spend(profile_id, int(reward["cost"]), f"reward {reward['key']}", key,
                                   details={"reward": reward["key"]})
            except Shortfall as exc:
                raise Conflict(f"not enough points: {reward['key']} costs {exc.wanted:,}, {exc.have:,} available",
                               field_error("reward", f"costs {exc.wanted} points; {exc.have} available",
                                           available=exc.have), code="insufficient_points") from exc
            book.flush()
        coupon = issue_coupon(conn, p, reward, profile_id, key, now, f"points:{p.key}")
        if not replayed:
            append_system_events(conn, workspace_id, [SystemEvent(profile_id, "Reward Redeemed", {
                "program": p.key, "reward": reward["key"], "points": int(reward["cost"]), "code": coupon["code"],
                "expires_at": coupon["expires_at"].isoformat()}, now, uuid5_hex(NAMESPACE, f"{p.id}:reward:{key}"))],
                now)
        return {"replayed": replayed, "points": int(reward["cost"]), "balance": book.figures(profile_id),
                "coupon": _coupon_view(coupon, reward)}


def _coupon(conn: Connection, workspace_id: str, code: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.coupon(conn, workspace_id, code.strip().upper(), for_update=for_update)
    if row is None:
        raise NotFound("no such coupon code", field_error("code", "unknown code"))
    return row


def check_coupon(stores: Stores, workspace_id: str, code: str, profile_id: str | None = None, *,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """Whether a code can be used now (by ``profile_id``), and what it gives; nothing is written."""
    now = _now(now)
    with stores.read() as conn:
        row = _coupon(conn, workspace_id, code)
        reward = store.reward_row(conn, row["program_id"], row["reward_id"])
    problem = _problem(row, profile_id, now, None)
    return {**_coupon_view(row, reward), "usable": problem is None, "reason": problem}


def _problem(row: Mapping[str, Any], profile_id: str | None, now: dt.datetime, key: str | None) -> str | None:
    if row["redeemed_at"] is not None and (key is None or row["redeem_key"] != key):
        return "used"
    if row["redeemed_at"] is None and row["expires_at"] <= now:
        return "expired"
    if row["profile_id"] is not None and profile_id is not None and row["profile_id"] != profile_id:
        return "another_customer"
    return None


def redeem(stores: Stores, workspace_id: str, code: str, *, key: str, profile_id: str | None = None,
           order_id: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Use a coupon at checkout, once. 404 for an unknown code, 409 ``coupon_expired`` or ``coupon_used``
    naming ``code``, 403 naming ``customer`` for another customer's coupon; the same redemption again
    (``key``) answers the first with ``replayed``."""
    now = _now(now)
    with stores.write() as conn:
        row = _coupon(conn, workspace_id, code, for_update=True)
        reward = store.reward_row(conn, row["program_id"], row["reward_id"])
        problem = _problem(row, profile_id, now, key)
        if problem == "used":
            raise Conflict("this coupon was used already", field_error("code", "already used"), code="coupon_used")
        if problem == "expired":
            raise Conflict(f"this coupon expired at {row['expires_at'].isoformat()}",
                           field_error("code", "expired"), code="coupon_expired")
        if problem == "another_customer":
            raise Forbidden("this coupon belongs to another customer", field_error("customer", "not this coupon's"),
                            code="coupon_not_yours")
        if row["redeemed_at"] is not None:  # the same redemption again
            return {**_coupon_view(row, reward), "replayed": True}
        if not store.redeem_coupon(conn, workspace_id, row["code"], redeemed_at=now, redeemed_by=profile_id,
                                   redeem_key=key, order_id=order_id):
            raise Conflict("this coupon was used already", field_error("code", "already used"), code="coupon_used")
        if profile_id is not None:
            p_key = next((p["key"] for p in store.programs(conn, workspace_id) if p["id"] == row["program_id"]), None)
            append_system_events(conn, workspace_id, [SystemEvent(profile_id, "Coupon Redeemed", {
                "program": p_key, "code": row["code"], "reward": reward["key"] if reward else None,
                "order_id": order_id}, now, uuid5_hex(NAMESPACE, f"coupon:{workspace_id}:{row['code']}"))], now)
        used = _coupon(conn, workspace_id, row["code"])
        return {**_coupon_view(used, reward), "replayed": False}


def coupons_view(stores: Stores, workspace_id: str, program_ref: str, *, reward_ref: str | None = None,
                 batch: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    with stores.read() as conn:
        p = program(conn, workspace_id, program_ref)
        reward_id = _reward(conn, p, reward_ref)["id"] if reward_ref else None
        rows = store.coupons_page(conn, p.id, reward_id=reward_id, batch=batch, limit=limit, offset=offset)
    return {"coupons": [_coupon_view(r, None) | {"batch": r["batch"]} for r in rows]}


def issue_tier_coupons(conn: Connection, p: Program, reached: list[tuple[str, str]], now: dt.datetime) -> int:
    """A tier's benefit coupons (its ``coupons``: reward keys) for each customer who just reached it; once per
    customer and level, whatever happens to their tier later. Unknown or inactive rewards are skipped."""
    issued = 0
    for profile_id, level_key in reached:
        level = p.definition.level(level_key)
        if level is None:
            continue
        for reward_key in level.coupons:
            reward = store.reward_row(conn, p.id, reward_key)
            if reward is None or not reward["active"]:
                continue
            issue_coupon(conn, p, reward, profile_id, f"tier:{level_key}:{reward_key}:{profile_id}", now,
                         f"tier:{level_key}")
            issued += 1
    return issued
