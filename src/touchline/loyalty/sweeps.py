"""What loyalty does on a clock: expiry and its notice, birthday bonuses, tier reviews, referral payouts,
and the worker thread of ``touchline serve`` that runs them with the rules' consumer.

The tier review reads every account's tier and measure (spend or points over the window) as columns and
decides with :func:`touchline.loyalty.tiers.review` (numpy, pure): only the customers whose tier changes
are written, each with a ``Tier Changed`` event. ``Points Expiring`` goes to each customer once for the
earliest of their points that expire within the program's notice period (its messageId is made from that
lot, so a second sweep appends nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zoneinfo
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from touchline.eventlog import SystemEvent, append_system_events
from touchline.ids import uuid5_hex
from touchline.loyalty import consumer, referrals, rewards, store
from touchline.loyalty.rules import BirthdayRule, birthday_today, minor_exponent
from touchline.loyalty.service import (
    NAMESPACE,
    Book,
    Program,
    expire_due,
    program,
    programs_of,
    tier_event,
    write_loyalty_traits,
)
from touchline.loyalty.tiers import review
from touchline.store import dialect
from touchline.store.schema import profiles
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["LoyaltyWorker", "birthdays", "expiring_notices", "review_due", "review_tiers", "tick"]

log = logging.getLogger("touchline.loyalty")


def expiring_notices(stores: Stores, *, now: dt.datetime | None = None) -> int:
    """A ``Points Expiring`` event for each customer with points expiring within the notice period (once
    per earliest expiring lot); returns how many were appended."""
    now = now or dt.datetime.now(dt.UTC)
    appended = 0
    with stores.read() as conn:  # the worker asks every minute: no write transaction for nothing
        if not any(store.lots_due(conn, p.id, now + dt.timedelta(days=p.definition.points.expiring_notice_days),
                                  after=now, limit=1) for p in programs_of(conn)):
            return 0
    with stores.write() as conn:
        for p in programs_of(conn):
            horizon = now + dt.timedelta(days=p.definition.points.expiring_notice_days)
            lots = store.lots_due(conn, p.id, horizon, after=now, limit=200_000)
            by_customer: dict[str, list[dict[str, Any]]] = {}
            for lot in lots:
                by_customer.setdefault(lot["profile_id"], []).append(lot)
            balances = {r[0]: int(r[1]) for r in dialect.select_by_keys(
                conn, store.loyalty_accounts, ["profile_id", "balance"], "profile_id", list(by_customer),
                program_id=p.id)}
            events = []
            for pid, mine in by_customer.items():
                first = min(mine, key=lambda lot: (lot["expires_at"], lot["entry_id"]))
                events.append(SystemEvent(pid, "Points Expiring", {
                    "program": p.key, "points": sum(int(lot["remaining"]) for lot in mine),
                    "expires_at": first["expires_at"].isoformat(), "first_points": int(first["remaining"]),
                    "balance": balances.get(pid),
                    "within_days": p.definition.points.expiring_notice_days},
                    now, uuid5_hex(NAMESPACE, f"{p.id}:expiring:{first['entry_id']}")))
            appended += append_system_events(conn, p.workspace_id, events, now)
    return appended


def birthdays(stores: Stores, *, now: dt.datetime | None = None, days: int = 1, limit: int = 50_000) -> int:
    """Birthday bonuses for customers whose birthday is today in their time zone (once a year each); with
    ``days``, also for the birthdays of the days before (a sweep that catches up), in one scan."""
    now = now or dt.datetime.now(dt.UTC)
    paid = 0
    for back in range(days - 1, -1, -1):
        paid += _birthdays(stores, now - dt.timedelta(days=back), limit)
    return paid


def _birthdays(stores: Stores, now: dt.datetime, limit: int) -> int:
    paid = 0
    default_zone = zoneinfo.ZoneInfo(stores.settings.default_timezone)
    with stores.read() as conn:
        if not any(p.status == "active" and any(isinstance(r, BirthdayRule) for r in p.definition.earn)
                   for p in programs_of(conn)):
            return 0
    with stores.write() as conn:
        for p in programs_of(conn):
            rules = [r for r in p.definition.earn if isinstance(r, BirthdayRule)]
            if p.status != "active" or not rules:
                continue
            book = Book(conn, p, now)
            for rule in rules:
                # Today somewhere between UTC-12 and UTC+14: the days either side of the UTC date.
                days = {(now + dt.timedelta(hours=h)).date() for h in (-12, 0, 14)}
                trait = dialect.state_json_text(conn, profiles.c.traits, rule.trait)
                rows = conn.execute(sa.select(profiles.c.id, trait, profiles.c.timezone).where(
                    profiles.c.workspace_id == p.workspace_id, profiles.c.merged_into.is_(None),
                    sa.or_(*(trait.like(f"%{d:%m-%d}") for d in days))).limit(limit)).all()
                for pid, value, tz in rows:
                    try:
                        zone = zoneinfo.ZoneInfo(tz) if tz else default_zone
                    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                        zone = default_zone
                    today = now.astimezone(zone).date()
                    if not birthday_today(value, today):
                        continue
                    key = f"birthday:{rule.id}:{pid}:{today.year}"
                    if book.replay(key, pid, "earn", rule.points) is None:
                        book.earn(pid, rule.points, "birthday bonus", key, rule=f"{rule.id}@{p.version}",
                                  pending_days=0)
                        paid += 1
            book.flush()
    return paid


def review_tiers(stores: Stores, workspace_id: str, program_ref: str, *, now: dt.datetime | None = None
                 ) -> dict[str, Any]:
    """Review every customer's tier at once: upgrades missed, and the downgrades the program's rule
    allows (one step, or to the level qualified for). Returns counts and timings."""
    now = now or dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        result = _review(conn, p, now)
        store.update_program(conn, p.id, reviewed_at=now)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _review(conn: Any, p: Program, now: dt.datetime) -> dict[str, Any]:
    tiers = p.definition.tiers
    if tiers is None:
        return {"program": p.key, "reviewed": 0, "upgraded": 0, "downgraded": 0}
    read_started = time.perf_counter()
    keys = [level.key for level in tiers.levels]
    since = now - dt.timedelta(days=tiers.window_days)
    ids, tier_index, measured = store.review_columns(conn, p.id, since, tiers.measure, keys)
    read_seconds = time.perf_counter() - read_started
    decide_started = time.perf_counter()
    current = np.asarray(tier_index, dtype=np.int64)
    values = np.asarray(measured, dtype=np.float64)
    scale = 10 ** minor_exponent(p.definition.currency) if tiers.measure == "spend" else 1
    after = review(current, values, [level.threshold * scale for level in tiers.levels], tiers.downgrade)
    changed = np.nonzero(after != current)[0]
    decide_seconds = time.perf_counter() - decide_started
    changes = [(ids[i], tiers.levels[int(after[i])].key, now) for i in changed]
    store.set_tiers(conn, p.id, changes)
    events = [tier_event(p, ids[i], keys[int(current[i])], keys[int(after[i])],
                         "up" if after[i] > current[i] else "down", now) for i in changed]
    append_system_events(conn, p.workspace_id, events, now)
    rewards.issue_tier_coupons(conn, p, [(ids[i], keys[int(after[i])]) for i in changed if after[i] > current[i]], now)
    if changes:
        balances = {r[0]: int(r[1]) for r in dialect.select_by_keys(
            conn, store.loyalty_accounts, ["profile_id", "balance"], "profile_id", [c[0] for c in changes],
            program_id=p.id)}
        write_loyalty_traits(conn, p, {pid: (balances.get(pid, 0), tier) for pid, tier, _ in changes}, now)
    return {"program": p.key, "reviewed": len(ids), "upgraded": int(np.sum(after[changed] > current[changed])),
            "downgraded": int(np.sum(after[changed] < current[changed])), "read_seconds": round(read_seconds, 3),
            "decide_seconds": round(decide_seconds, 4)}


def review_due(stores: Stores, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Review the tiers of every program whose review date came (every ``review_every_days``)."""
    now = now or dt.datetime.now(dt.UTC)
    done = []
    with stores.read() as conn:
        rows = store.programs(conn)
        due = []
        for row in rows:
            p = program(conn, row["workspace_id"], row["id"])
            tiers = p.definition.tiers
            if tiers is None or p.status != "active":
                continue
            last = row["reviewed_at"] or row["created_at"]
            if now - last >= dt.timedelta(days=tiers.review_every_days):
                due.append(p)
    for p in due:
        done.append(review_tiers(stores, p.workspace_id, p.id, now=now))
    return done


def tick(stores: Stores, *, now: dt.datetime | None = None, housekeeping: bool = True,
         birthday_days: int = 1) -> dict[str, int]:
    """One round at ``now``: apply queued events; with ``housekeeping`` also expire what is due, send the
    expiry notices, pay due referrals, give birthday bonuses (of the last ``birthday_days`` days; 0: none
    this round) and run due tier reviews."""
    counts = {"events": consumer.process(stores, now=now)}
    with stores.read() as conn:
        if not store.programs(conn):
            return counts  # no program anywhere: nothing to sweep
    if housekeeping:
        counts["expired"] = expire_due(stores, now=now)
        counts["notices"] = expiring_notices(stores, now=now)
        counts["referrals_paid"] = referrals.pay_due(stores, now=now)
        counts["birthdays"] = birthdays(stores, now=now, days=birthday_days) if birthday_days else 0
        counts["reviews"] = len(review_due(stores, now=now))
    return counts


class LoyaltyWorker:
    """``touchline serve``'s loyalty thread: queued events every ``interval`` seconds, the housekeeping
    (expiry, notices, referral payouts, birthdays, tier reviews) every ``housekeeping_every`` seconds."""

    def __init__(self, stores: Stores, interval: float = 1.0, housekeeping_every: float = 60.0) -> None:
        self._stores, self._interval, self._every = stores, interval, housekeeping_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = 0.0
        self._last_birthdays = -3_600.0  # birthdays: a scan of the profiles, once an hour

    def start(self) -> None:
        self._thread = named_thread(self._run, "touchline-loyalty")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            due = time.monotonic() - self._last >= self._every
            hourly = time.monotonic() - self._last_birthdays >= 3_600
            try:
                tick(self._stores, housekeeping=due, birthday_days=1 if due and hourly else 0)
                if due and hourly:
                    self._last_birthdays = time.monotonic()
            except Exception:  # the store is down, a bug: the next round tries again; the inbox keeps the events
                log.exception("the loyalty round failed")
            if due:
                self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
