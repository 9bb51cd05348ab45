"""Referrals: a code per customer; the reward is paid once the referred customer's first order is past the
return window, and abuse is refused with its reason.

A referral is claimed (the API, or a ``Signed Up`` / ``Referral Code Used`` event with ``referral_code``)
and checked at once: not the referrer themself (the same profile, which the identity graph sees through a
second e-mail on the same device or phone: they merged), nor a profile the identity graph found sharing
an identifier with the referrer but kept apart because both had a userId (``identity_conflicts``: the
same device, phone or e-mail), nor a device the referrer uses, nor a customer who has ordered before. At
the referred customer's first order: not paid with the referrer's payment, nor shipped to the referrer's
address, and the referrer's cap not reached; the order waits out the return window (``ordered``), and
:func:`pay_due` then pays both sides (``rewarded``), unless the order was refunded meanwhile.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.errors import Conflict, NotFound, field_error
from touchline.loyalty import store
from touchline.loyalty.service import Book, Program, program, programs_of
from touchline.store.schema import identity_conflicts

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["REASONS", "claim", "claim_in", "code_for", "on_order", "on_refund", "pay_due", "referrals_view"]

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from a phone
REASONS = {
    "self_referral": "the referrer's own profile",
    "same_device": "a device the referrer uses",
    "same_phone": "the referrer's phone number",
    "same_email": "the referrer's e-mail address",
    "same_person": "an identifier the referrer's profile also has",
    "not_new": "ordered before the referral",
    "cap_reached": "the referrer's referrals reached the program's cap",
    "same_payment": "paid with the referrer's payment method",
    "same_address": "shipped to the referrer's address",
    "order_refunded": "the first order was refunded within the return window",
    "below_minimum": "the first order is below the program's minimum",
}


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def code_for(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, *,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """The customer's referral code in the program (made on first ask)."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        code = store.referral_code(conn, p.id, profile_id)
        while code is None:
            candidate = _new_code()
            if store.code_owner(conn, workspace_id, candidate) is None and store.insert_referral_code(
                    conn, program_id=p.id, profile_id=profile_id, workspace_id=workspace_id, code=candidate,
                    created_at=now):
                code = candidate
            else:
                code = store.referral_code(conn, p.id, profile_id)
        counts = store.rewarded_count(conn, p.id, profile_id)
    cap = p.definition.referrals.max_per_referrer if p.definition.referrals else 0
    return {"program": p.key, "customer": profile_id, "code": code, "referrals": counts, "cap": cap}


def _identity_conflict(conn: Connection, workspace_id: str, a: str, b: str) -> str | None:
    """The kind of identifier the identity graph found shared by two profiles it kept apart."""
    row = conn.execute(sa.select(identity_conflicts.c.kind).where(
        identity_conflicts.c.workspace_id == workspace_id,
        sa.or_(sa.and_(identity_conflicts.c.profile_id == a, identity_conflicts.c.other_profile_id == b),
               sa.and_(identity_conflicts.c.profile_id == b, identity_conflicts.c.other_profile_id == a)))
        .limit(1)).first()
    return None if row is None else str(row[0])


_KIND_REASON = {"device_id": "same_device", "phone": "same_phone", "email": "same_email"}


def _claim_problem(conn: Connection, p: Program, referrer: str, referred: str, device_id: Any) -> str | None:
    if referrer == referred:
        return "self_referral"
    shared = _identity_conflict(conn, p.workspace_id, referrer, referred)
    if shared is not None:
        return _KIND_REASON.get(shared, "same_person")
    if device_id:
        owner = store.identity_profiles(conn, p.workspace_id, "device_id", [str(device_id)]).get(str(device_id))
        if owner is not None and store.canonical(conn, [owner]).get(owner) == referrer:
            return "same_device"
    if store.first_order(conn, p.id, referred) is not None:
        return "not_new"
    return None


def claim_in(conn: Connection, p: Program, referred: str, code: str, now: dt.datetime, *,
             device_id: Any = None) -> dict[str, Any] | None:
    """Record that ``referred`` came with ``code`` (once per program: the first claim stands); checked at
    once. None when the code is unknown in this program."""
    owner = store.code_owner(conn, p.workspace_id, code.strip().upper())
    if owner is None or owner["program_id"] != p.id:
        return None
    existing = store.referral_of(conn, p.id, referred)
    if existing is not None:
        return existing
    survivors = store.canonical(conn, [owner["profile_id"], referred])
    referrer = survivors.get(owner["profile_id"], owner["profile_id"])
    referred = survivors.get(referred, referred)
    problem = _claim_problem(conn, p, referrer, referred, device_id)
    row = {"id": uuid.uuid4().hex, "workspace_id": p.workspace_id, "program_id": p.id, "referrer_id": referrer,
           "referred_id": referred, "code": owner["code"], "status": "rejected" if problem else "pending",
           "reason": problem, "created_at": now,
           "details": {"device_id_checked": bool(device_id)}}
    store.insert_referral(conn, **row)
    return store.referral_of(conn, p.id, referred)


def claim(stores: Stores, workspace_id: str, program_ref: str, referred: str, code: str, *,
          device_id: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """The API's claim: 404 naming ``code`` for an unknown code; the referral as recorded (rejected with its
    reason, or pending its first order)."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        if p.definition.referrals is None:
            raise Conflict("this program has no referrals", field_error("program", "referrals are not set up"),
                           code="referrals_off")
        found = claim_in(conn, p, referred, code, now, device_id=device_id)
        if found is None:
            raise NotFound(f"no referral code {code!r} in this program", field_error("code", "unknown code"))
        return _view(found)


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "referrer_id", "referred_id", "code", "status", "reason", "order_id",
                               "ordered_at", "payable_at", "rewarded_at", "created_at")}
    if row.get("reason"):
        out["reason_text"] = REASONS.get(row["reason"], row["reason"])
    return out


def on_order(conn: Connection, p: Program, referred: str, order: Mapping[str, Any], first: bool,
             now: dt.datetime) -> None:
    """The referred customer's order: their first one is checked and waits out the return window."""
    settings = p.definition.referrals
    if settings is None:
        return
    for referral in store.pending_referrals_of(conn, p.id, [referred]):
        if referral["status"] != "pending":
            continue
        problem = None
        if not first:
            problem = "not_new"
        elif order["amount"] < settings.min_order_amount * 10 ** _exponent(p):
            problem = "below_minimum"
        else:
            payments, addresses = store.fingerprints_of(conn, p.id, [referral["referrer_id"]])
            if order.get("payment_hash") and order["payment_hash"] in payments:
                problem = "same_payment"
            elif order.get("address_hash") and order["address_hash"] in addresses:
                problem = "same_address"
            elif store.rewarded_count(conn, p.id, referral["referrer_id"]) >= settings.max_per_referrer:
                problem = "cap_reached"
        if problem:
            store.update_referral(conn, referral["id"], status="rejected", reason=problem, order_id=order["order_id"],
                                  ordered_at=order["ordered_at"])
        else:
            store.update_referral(conn, referral["id"], status="ordered", order_id=order["order_id"],
                                  ordered_at=order["ordered_at"],
                                  payable_at=order["ordered_at"] + p.definition.return_window())


def _exponent(p: Program) -> int:
    from touchline.loyalty.rules import minor_exponent

    return minor_exponent(p.definition.currency)


def on_refund(conn: Connection, p: Program, referred: str, order_id: str, fraction: float) -> None:
    """A first order refunded in full before the referral was paid: no reward."""
    if fraction < 1:
        return
    for referral in store.pending_referrals_of(conn, p.id, [referred]):
        if referral["status"] == "ordered" and referral["order_id"] == order_id:
            store.update_referral(conn, referral["id"], status="rejected", reason="order_refunded")


def pay_due(stores: Stores, *, now: dt.datetime | None = None) -> int:
    """Pay the referrals whose first order is past the return window; returns how many were paid."""
    now = now or dt.datetime.now(dt.UTC)
    paid = 0
    with stores.read() as conn:  # the worker asks every minute: no write transaction for nothing
        if not store.referrals_due(conn, now, limit=1):
            return 0
    with stores.write() as conn:
        due = store.referrals_due(conn, now)
        if not due:
            return 0
        by_program = {p.id: p for p in programs_of(conn)}
        for referral in due:
            p = by_program.get(referral["program_id"])
            if p is None or p.definition.referrals is None:
                continue
            settings = p.definition.referrals
            done = store.rewarded_count(conn, p.id, referral["referrer_id"]) - 1  # "ordered" counts itself
            if done >= settings.max_per_referrer:
                store.update_referral(conn, referral["id"], status="rejected", reason="cap_reached")
                continue
            book = Book(conn, p, now)
            rid = referral["id"]
            if settings.referrer_points:
                book.earn(referral["referrer_id"], settings.referrer_points, "referral reward",
                          f"referral:{rid}:referrer", rule="referral", pending_days=0, details={"referral": rid})
            if settings.referred_points:
                book.earn(referral["referred_id"], settings.referred_points, "referred welcome",
                          f"referral:{rid}:referred", rule="referral", pending_days=0, details={"referral": rid})
            book.flush()
            store.update_referral(conn, rid, status="rewarded", rewarded_at=now)
            paid += 1
    return paid


def referrals_view(stores: Stores, workspace_id: str, program_ref: str, *, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> dict[str, Any]:
    with stores.read() as conn:
        p = program(conn, workspace_id, program_ref)
        rows = store.referrals_page(conn, p.id, status=status, limit=limit, offset=offset)
        counts = store.referral_counts(conn, p.id)
        reasons = store.rejection_counts(conn, p.id)
    return {"program": p.key, "counts": counts, "rejected_by_reason": reasons, "referrals": [_view(r) for r in rows]}
