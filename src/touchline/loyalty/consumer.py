"""Points move when the event arrives: the programs' consumer of the event log.

:func:`capture` is an event-log subscriber (wired by :mod:`touchline.platform`): inside the ingesting
transaction it queues, in ``loyalty_inbox``, the events some active program listens to (its rules' events,
orders, refunds, referral codes, the journeys' ``Points Award Requested``); everything else costs one set
look-up. :func:`process` (the loyalty worker's round, or the demo's simulated clock) applies them in
order, in its own transaction: it records orders (first orders, the tier's spend, the referral checks'
fingerprints), reverses what a refunded order earned, asks the rules (:func:`touchline.loyalty.rules.awards`)
what each event earns given the customer's tier, first order, what they earned today and what a
``once_per`` rule already paid, writes it to the ledger with a key made of the event's messageId and the
rule (so an event is never paid twice), moves customers up a tier at once, and tells referrals about
first orders. Nothing in ingestion waits for it, and nothing below knows it exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from touchline.errors import TouchlineError
from touchline.loyalty import referrals, rewards, store
from touchline.loyalty.ledger import Shortfall
from touchline.loyalty.rules import BirthdayRule, EventRule, Facts, amount_minor, awards, order_amount, refund_events
from touchline.loyalty.service import Book, Program, forget_listened, listened_cache, programs_of, upgrade_tiers

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["AWARD_EVENT", "ORDER_EVENT", "TTL", "capture", "fingerprint", "invalidate", "process"]

log = logging.getLogger("touchline.loyalty")
TTL = 1.0
ORDER_EVENT = "Order Completed"
AWARD_EVENT = "Points Award Requested"  # appended by a journey's award_points step
REFERRAL_EVENTS = ("Signed Up", "Referral Code Used")
_lock = threading.Lock()


def _listened(p: Program) -> set[str]:
    names = {ORDER_EVENT, AWARD_EVENT, *REFERRAL_EVENTS, *refund_events(p.definition)}
    names.update(rule.event for rule in p.definition.earn if not isinstance(rule, BirthdayRule))
    return names


def _names(conn: Connection, workspace_id: str) -> frozenset[str]:
    engine = conn.engine
    now = time.monotonic()
    with _lock:
        cached = listened_cache.get(id(engine))
    if cached is None or now - cached[0] > TTL:
        by_workspace: dict[str, set[str]] = {}
        for p in programs_of(conn):
            if p.status == "active":
                by_workspace.setdefault(p.workspace_id, set()).update(_listened(p))
        cached = (now, {ws: frozenset(names) for ws, names in by_workspace.items()})
        with _lock:
            listened_cache[id(engine)] = cached
    return cached[1].get(workspace_id, frozenset())


def invalidate() -> None:
    forget_listened()


def capture(conn: Connection, workspace_id: str, events: Iterable[Any], received_at: dt.datetime) -> int:
    """Queue the events an active program listens to. Returns 0: nothing for the journey runner."""
    names = _names(conn, workspace_id)
    if not names:
        return 0
    store.queue(conn, [
        {"workspace_id": workspace_id, "profile_id": e.profile_id, "message_id": e.message_id, "event": e.event,
         "properties": e.properties or {}, "timestamp": e.timestamp, "received_at": received_at}
        for e in events if e.type == "track" and e.event in names])
    return 0


# --- applying them -----------------------------------------------------------------------------------


def fingerprint(value: Any) -> str | None:
    """SHA-256 of a payment or address, normalised (case, spaces, punctuation of an address object's
    parts), so the referral checks compare without keeping the value."""
    if value is None or value == "" or value == {}:
        return None
    def clean(text: Any) -> str:
        return " ".join("".join(ch for ch in str(text).lower() if ch.isalnum() or ch.isspace()).split())

    if isinstance(value, Mapping):
        normal = "|".join(clean(value.get(k, "")) for k in ("country", "postal_code", "zip", "state", "city", "line1",
                                                            "line2", "street", "address1", "address2"))
    else:
        normal = clean(value)
    return hashlib.sha256(normal.encode()).hexdigest() if normal.strip("| ") else None


def payment_of(properties: Mapping[str, Any]) -> str | None:
    for key in ("payment_fingerprint", "card_fingerprint", "payment_token", "payment_method_id"):
        found = fingerprint(properties.get(key))
        if found:
            return found
    return None


def address_of(properties: Mapping[str, Any]) -> str | None:
    """The order's delivery address (``shipping_address`` or ``address``: an object or a line of text; not
    ``shipping``, which Segment's spec uses for the shipping cost)."""
    for key in ("shipping_address", "address"):
        value = properties.get(key)
        if not isinstance(value, Mapping | str):
            continue
        found = fingerprint(value)
        if found:
            return found
    return None


def _day_start(moment: dt.datetime, tz: str | None, default_tz: str) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(tz or default_tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(default_tz)
    local = moment.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def process(stores: Stores, *, now: dt.datetime | None = None, limit: int = 2_000) -> int:
    """Apply queued events, oldest first, ``limit`` at a time, until none is left; returns how many were
    applied. A batch that fails is applied again one event at a time, and an event that fails alone is
    logged and dropped (the ledger is never left half-written: each try is one transaction)."""
    done = 0
    while True:
        with stores.read() as conn:
            rows = store.queued(conn, limit)
        if not rows:
            return done
        try:
            with stores.write() as conn:
                _apply(conn, stores, rows, now or dt.datetime.now(dt.UTC))
                store.unqueue(conn, [r["seq"] for r in rows])
        except Exception:
            log.exception("applying %s loyalty events failed; applying them one at a time", len(rows))
            for row in rows:
                try:
                    with stores.write() as conn:
                        _apply(conn, stores, [row], now or dt.datetime.now(dt.UTC))
                        store.unqueue(conn, [row["seq"]])
                except Exception:
                    log.exception("loyalty event %s (%s) cannot be applied; dropped", row["message_id"], row["event"])
                    with stores.write() as conn:
                        store.unqueue(conn, [row["seq"]])
        done += len(rows)
        if len(rows) < limit:
            return done


def _apply(conn: Connection, stores: Stores, rows: Sequence[Mapping[str, Any]], now: dt.datetime) -> None:
    by_workspace: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_workspace.setdefault(row["workspace_id"], []).append(row)
    for workspace_id, events in by_workspace.items():
        survivors = store.canonical(conn, list({e["profile_id"] for e in events}))
        events = [{**e, "profile_id": survivors[e["profile_id"]]} for e in events if e["profile_id"] in survivors]
        for p in programs_of(conn, workspace_id):
            if p.status == "active" and events:
                _apply_program(conn, stores, p, events, now)


def _candidate_keys(p: Program, e: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The ledger keys an event's earnings would have: (once keys, rule keys)."""
    props, pid = e["properties"] or {}, e["profile_id"]
    once, per_event = [], []
    for rule in p.definition.earn:
        if isinstance(rule, BirthdayRule) or rule.event != e["event"]:
            continue
        if isinstance(rule, EventRule) and rule.once_per:
            if props.get(rule.once_per) is not None:
                once.append(f"once:{rule.id}:{pid}:{props.get(rule.once_per)}")
        else:
            per_event.append(f"rule:{e['message_id']}:{rule.id}")
    return once, per_event


def _apply_program(conn: Connection, stores: Stores, p: Program, events: Sequence[Mapping[str, Any]],
                   now: dt.datetime) -> None:
    """Apply a batch of events to one program with a fixed number of statements (the batch's accounts,
    orders, keys, today's earnings and referrals are read at once), then one flush."""
    listened = _listened(p)
    mine = [e for e in events if e["event"] in listened]
    if not mine:
        return
    book = Book(conn, p, now)
    customers = sorted({e["profile_id"] for e in mine})
    book.open(customers)
    facts = store.profile_traits(conn, customers)
    default_tz = stores.settings.default_timezone
    refunds = refund_events(p.definition)
    currency = p.definition.currency

    def day_of(pid: str, moment: dt.datetime) -> dt.datetime:
        return _day_start(moment, (facts.get(pid) or {}).get("timezone"), default_tz)

    # What the batch needs to know, read at once.
    order_ids = [str(e["properties"].get("order_id")) for e in mine if e["properties"].get("order_id") is not None]
    orders = store.orders_by_ids(conn, p.id, order_ids)
    with_orders = store.customers_with_orders(conn, p.id, customers)
    candidates = {e["message_id"]: _candidate_keys(p, e) for e in mine}
    book.preload_keys(sorted({k for once, rule in candidates.values() for k in (*once, *rule)}))
    days = [day_of(e["profile_id"], e["timestamp"]) for e in mine]
    today: dict[tuple[str, dt.datetime], dict[str, int]] = {}
    if days:
        for pid, rule, points, earned_at in store.earned_between(conn, p.id, customers, min(days),
                                                                 max(days) + dt.timedelta(days=1)):
            bucket = today.setdefault((pid, day_of(pid, earned_at)), {})
            bucket[rule] = bucket.get(rule, 0) + points
    referred = {r["referred_id"] for r in store.pending_referrals_of(conn, p.id, customers)}
    # Orders first, all of the batch's (first orders, the referral checks' fingerprints).
    new_orders: list[dict[str, Any]] = []
    first_orders: set[str] = set()
    for e in mine:
        props = e["properties"] or {}
        order_id = str(props["order_id"]) if props.get("order_id") is not None else None
        if e["event"] == ORDER_EVENT and order_id is not None and order_id not in orders:
            amount = order_amount(props)
            row = {"program_id": p.id, "order_id": order_id, "workspace_id": p.workspace_id,
                   "profile_id": e["profile_id"],
                   "amount": amount_minor(amount, currency) if amount is not None and amount > 0 else 0,
                   "refunded": 0, "ordered_at": e["timestamp"], "payment_hash": payment_of(props),
                   "address_hash": address_of(props), "_message": e["message_id"]}
            orders[order_id] = row
            new_orders.append(row)
            if e["profile_id"] not in with_orders:
                first_orders.add(e["message_id"])
                with_orders.add(e["profile_id"])
    store.insert_orders(conn, [{k: v for k, v in r.items() if k != "_message"} for r in new_orders])
    fresh = {r["_message"] for r in new_orders}
    for e, day in zip(mine, days, strict=True):
        pid, props, name, at = e["profile_id"], e["properties"] or {}, e["event"], e["timestamp"]
        order_id = str(props["order_id"]) if props.get("order_id") is not None else None
        if name == AWARD_EVENT:
            _award(book, e)
            continue
        if name in REFERRAL_EVENTS and props.get("referral_code") and referrals.claim_in(
                conn, p, pid, str(props["referral_code"]), now, device_id=props.get("device_id")):
            referred.add(pid)
        if name in refunds:
            if order_id is not None:
                _refund(conn, book, p, pid, order_id, props, orders, e["message_id"])
            continue
        first = e["message_id"] in first_orders
        if name == ORDER_EVENT and order_id is not None:
            if e["message_id"] not in fresh:
                continue  # the same order again (another messageId, or a second pass): it earned once
            if pid in referred:
                referrals.on_order(conn, p, pid, orders[order_id], first, now)
        earned_today = today.setdefault((pid, day), {})
        once_keys, _ = candidates[e["message_id"]]
        seen = {k for k in once_keys if k in book._keys}
        found = awards(p.definition, name, props, Facts(
            tier=book.account(pid).tier, first_order=first,
            seen_once=frozenset((key.split(":")[1], key.split(":", 3)[3]) for key in seen),
            earned_today=earned_today, total_today=sum(earned_today.values())))
        for award in found:
            key = f"once:{award.rule}:{pid}:{award.once}" if award.once is not None else \
                f"rule:{e['message_id']}:{award.rule}"
            if book.replay(key, pid, "earn", award.points) is not None:
                continue
            book.earn(pid, award.points, award.reason, key, order_id=order_id, rule=f"{award.rule}@{p.version}", at=at,
                      details={"event": name, "message_id": e["message_id"]})
            earned_today[award.rule] = earned_today.get(award.rule, 0) + award.points
    upgrade_tiers(book, customers)
    reached = [(e.profile_id, str(e.properties["to"])) for e in book.tier_events if e.properties["direction"] == "up"]
    book.flush()
    if reached:
        rewards.issue_tier_coupons(conn, p, reached, now)


def _refund(conn: Connection, book: Book, p: Program, pid: str, order_id: str, props: Mapping[str, Any],
            orders: dict[str, dict[str, Any]], message_id: str) -> None:
    """Reverse what the order earned: all of it, or the refunded share when the event names an amount."""
    order = orders.get(order_id)
    fraction = 1.0
    amount = order_amount(props)
    if order is not None and amount is not None and amount > 0 and order["amount"] > 0:
        refunded = min(order["amount"], order["refunded"] + amount_minor(amount, p.definition.currency))
        fraction = refunded / order["amount"]
        store.set_refunded(conn, p.id, order_id, refunded)
        order["refunded"] = refunded
    elif order is not None:
        store.set_refunded(conn, p.id, order_id, order["amount"])
        order["refunded"] = order["amount"]
    referrals.on_refund(conn, p, pid, order_id, fraction)
    book.reverse_order(pid, order_id, f"refund:{message_id}", f"order {order_id} refunded", fraction=fraction)


def _award(book: Book, e: Mapping[str, Any]) -> None:
    """A journey's award_points step: ``{"program", "points", "reason", "key"}``."""
    props = e["properties"] or {}
    if props.get("program") not in (book.program.key, book.program.id):
        return
    points = props.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= 10**9:
        log.warning("Points Award Requested with points %r ignored", points)
        return
    key = f"award:{props.get('key') or e['message_id']}"
    try:
        if book.replay(key, e["profile_id"], "earn", points) is None:
            book.earn(e["profile_id"], points, str(props.get("reason") or "journey award")[:500], key,
                      rule="journey", details={"journey_id": props.get("journey_id")})
    except (TouchlineError, Shortfall) as exc:
        log.warning("journey award %s not applied: %s", key, exc)


def backfill(stores: Stores, workspace_id: str, since: dt.datetime, until: dt.datetime, *,
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Queue the logged events of [since, until) that the workspace's programs listen to (a program
    started after its shop's history: that history earns as it would have); the rows queued. Their
    messageIds make the earnings' keys, so a second backfill of the same days pays nothing twice."""
    with stores.read() as conn:
        names = sorted(_listened_all(conn, workspace_id))
    if not names:
        return []
    with stores.events_conn() as conn:
        rows = store.logged_events(conn, workspace_id, names, since, until)
    queued = [{"workspace_id": workspace_id, "profile_id": r["profile_id"], "message_id": r["message_id"],
               "event": r["event"], "properties": r["properties"] or {}, "timestamp": r["timestamp"],
               "received_at": now or r["timestamp"]} for r in rows]
    with stores.write() as conn:
        for start in range(0, len(queued), 5_000):
            store.queue(conn, queued[start:start + 5_000])
    return queued


def _listened_all(conn: Connection, workspace_id: str) -> set[str]:
    names: set[str] = set()
    for p in programs_of(conn, workspace_id):
        if p.status == "active":
            names.update(_listened(p))
    return names
