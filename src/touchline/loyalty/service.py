"""Loyalty programs and the points ledger: the rules, no SQL and no commit (the caller's transaction).

Every movement goes through a :class:`Book`: it locks the accounts it touches (their rows, ``FOR UPDATE``
on PostgreSQL; SQLite has one writer), reads what is left of their lots, works out each movement with the
ledger's arithmetic (:mod:`touchline.loyalty.ledger`) and writes, at :meth:`Book.flush`, the movements,
the lots' new remainders, which lots each negative movement took from, the accounts' figures, the
events (``Points Earned``, ...) and the customers' loyalty traits, all in the caller's transaction.

Every movement carries an idempotency key unique in its program. The same key again, for the same
customer, kind and points, answers the movement already written (``replayed``) and writes nothing; for
anything else it is a conflict. Two requests with one key at once are serialised by the account's lock,
so the second finds the first's movement.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from touchline.errors import BadRequest, Conflict, NotFound, ValidationFailed, field_error
from touchline.eventlog import SystemEvent, append_system_events
from touchline.ids import uuid5_hex
from touchline.loyalty import store
from touchline.loyalty.ledger import (
    Lot,
    Shortfall,
    available,
    due_to_expire,
    fifo,
    pending,
    reversal_sources,
    spendable,
    take,
)
from touchline.loyalty.rules import MAX_POINTS, ProgramDefinition, default_definition, minor_exponent, parse
from touchline.profiles import service as profile_service

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "Book", "Program", "adjust", "balance", "create_program", "customer_ledger", "earn", "expire_due",
    "get_program", "list_programs", "movement_view", "program", "resolve_customer", "reverse", "save_definition",
    "spend", "write_many",
]

log = logging.getLogger("touchline.loyalty")
NAMESPACE = uuid.UUID("6f1d3c52-5a57-4d0f-9d4e-2f7d1b0c8a11")
KEY_MAX = 200
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
PROGRAM_KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PROGRAM_KEY = re.compile(PROGRAM_KEY)
TRAIT_SOURCE = "loyalty"
EVENT_NAMES = {"earn": "Points Earned", "spend": "Points Spent", "expire": "Points Expired",
               "adjust": "Points Adjusted", "reverse": "Points Reversed"}


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- programs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    id: str
    workspace_id: str
    key: str
    name: str
    version: int
    status: str
    definition: ProgramDefinition

    @property
    def entry_tier(self) -> str | None:
        tiers = self.definition.tiers
        return tiers.levels[0].key if tiers else None


_definitions: dict[tuple[str, int], ProgramDefinition] = {}
_definitions_lock = threading.Lock()
# The event names each workspace's programs listen to, by state-store engine (touchline.loyalty.consumer
# fills it); a program created or saved here empties it, another process sees a change within a second.
listened_cache: dict[Any, Any] = {}


def forget_listened() -> None:
    with _definitions_lock:
        listened_cache.clear()


def _definition(conn: Connection, program_id: str, version: int) -> ProgramDefinition:
    key = (program_id, version)
    with _definitions_lock:
        found = _definitions.get(key)
    if found is None:
        row = store.version_row(conn, program_id, version)
        if row is None:
            raise NotFound(f"program version {version} is missing", field_error("version", "unknown"))
        found = parse(row["definition"])
        with _definitions_lock:
            _definitions[key] = found
    return found


def _program(conn: Connection, row: Mapping[str, Any]) -> Program:
    return Program(row["id"], row["workspace_id"], row["key"], row["name"], int(row["live_version"]), row["status"],
                   _definition(conn, row["id"], int(row["live_version"])))


def program(conn: Connection, workspace_id: str, ref: str) -> Program:
    """The program named by id or key, or 404 naming ``program``."""
    row = store.program_row(conn, workspace_id, ref)
    if row is None:
        raise NotFound(f"no loyalty program {ref!r}", field_error("program", "unknown program"))
    return _program(conn, row)


def programs_of(conn: Connection, workspace_id: str | None = None) -> list[Program]:
    return [_program(conn, row) for row in store.programs(conn, workspace_id)]


def _program_view(p: Program, row: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out = {"id": p.id, "key": p.key, "name": p.name, "status": p.status, "version": p.version,
           "definition": p.definition.model_dump(mode="json")}
    if row is not None:
        out["created_at"], out["updated_at"] = row["created_at"], row["updated_at"]
    return out


def list_programs(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [_program_view(_program(conn, row), row) for row in store.programs(conn, workspace_id)]


def get_program(stores: Stores, workspace_id: str, ref: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = store.program_row(conn, workspace_id, ref)
        if row is None:
            raise NotFound(f"no loyalty program {ref!r}", field_error("program", "unknown program"))
        view = _program_view(_program(conn, row), row)
        view["versions"] = store.versions(conn, row["id"])
        view["totals"] = store.program_totals(conn, row["id"])
        return view


def create_program(stores: Stores, workspace_id: str, key: str, name: str, definition: Any = None, *,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """A new program (version 1 of ``definition``, the default one when None), validated before anything
    is written."""
    now = _now(now)
    problems = []
    if not isinstance(key, str) or not _PROGRAM_KEY.match(key):
        problems.append(field_error("key", "1 to 64 lower-case letters, digits, - and _"))
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        problems.append(field_error("name", "1 to 100 characters"))
    if problems:
        raise ValidationFailed(f"invalid program: {problems[0]['field']}: {problems[0]['reason']}", problems)
    document = default_definition() if definition is None else definition
    parsed = parse(document)
    with stores.write() as conn:
        if store.program_row(conn, workspace_id, key) is not None:
            raise Conflict(f"a program {key!r} exists", field_error("key", "taken"))
        program_id = uuid.uuid4().hex
        store.insert_program(conn, id=program_id, workspace_id=workspace_id, key=key, name=name.strip(),
                             live_version=1, status="active", created_at=now, updated_at=now)
        store.insert_version(conn, program_id, 1, parsed.model_dump(mode="json"), now)
    forget_listened()
    return get_program(stores, workspace_id, program_id)


def save_definition(stores: Stores, workspace_id: str, ref: str, definition: Any, *, name: str | None = None,
                    status: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """A new version of the program's definition, validated first (422 naming each problem by its place
    in the document); it is live at once. Earnings already written keep the version they were earned by."""
    now = _now(now)
    parsed = parse(definition) if definition is not None else None
    if status is not None and status not in ("active", "paused"):
        raise ValidationFailed("status is active or paused", field_error("status", "expected active or paused"))
    with stores.write() as conn:
        row = store.program_row(conn, workspace_id, ref)
        if row is None:
            raise NotFound(f"no loyalty program {ref!r}", field_error("program", "unknown program"))
        values: dict[str, Any] = {"updated_at": now}
        if parsed is not None:
            version = store.latest_version(conn, row["id"]) + 1
            store.insert_version(conn, row["id"], version, parsed.model_dump(mode="json"), now)
            values["live_version"] = version
        if name is not None:
            if not name.strip() or len(name) > 100:
                raise ValidationFailed("name is 1 to 100 characters", field_error("name", "1 to 100 characters"))
            values["name"] = name.strip()
        if status is not None:
            values["status"] = status
        store.update_program(conn, row["id"], **values)
    forget_listened()
    return get_program(stores, workspace_id, row["id"])


# --- customers ---------------------------------------------------------------------------------------


def resolve_customer(stores: Stores, workspace_id: str, identifier: str, field: str = "customer") -> str:
    """The profile an identifier names (``email:...``, ``user_id:...``, a bare id), or 404 naming ``field``."""
    try:
        return profile_service.resolve(stores, workspace_id, identifier)
    except NotFound as exc:
        raise NotFound(f"no customer with identifier {identifier!r}",
                       field_error(field, "unknown customer")) from exc
    except BadRequest as exc:
        raise BadRequest(exc.message, field_error(field, "empty identifier")) from exc


# --- the book ----------------------------------------------------------------------------------------


@dataclass
class Account:
    profile_id: str
    balance: int
    owed: int
    earned: int
    spent: int
    tier: str | None
    tier_since: dt.datetime | None
    lots: list[Lot]
    changed: bool = False


@dataclass
class Entry:
    """A movement on its way to the ledger (``id`` set once written), or one found there (``replayed``)."""

    profile_id: str
    kind: str
    points: int
    reason: str
    key: str
    created_at: dt.datetime
    order_id: str | None = None
    rule: str | None = None
    reverses: int | None = None
    available_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    details: dict[str, Any] | None = None
    balance_after: int = 0
    id: int = 0
    lot: Lot | None = None
    taken: list[tuple[Lot, int]] = field(default_factory=list)
    replayed: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Entry:
        return cls(row["profile_id"], row["kind"], int(row["points"]), row["reason"], row["idempotency_key"],
                   row["created_at"], row["order_id"], row["rule"], row["reverses"], row["available_at"],
                   row["expires_at"], row["details"], int(row["balance_after"]), int(row["id"]), replayed=True)


def movement_view(e: Entry, program_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.id, "customer": e.profile_id, "kind": e.kind, "points": e.points,
                           "balance": e.balance_after, "reason": e.reason, "idempotency_key": e.key,
                           "order_id": e.order_id, "rule": e.rule, "created_at": e.created_at,
                           "replayed": e.replayed}
    if e.kind in ("earn", "adjust") and e.points > 0:
        out["available_at"], out["expires_at"] = e.available_at, e.expires_at
    if e.reverses is not None:
        out["reverses"] = e.reverses
    if e.details:
        out["details"] = e.details
    if program_key is not None:
        out["program"] = program_key
    return out


def _check_key(key: Any, field_name: str = "idempotency_key") -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise BadRequest("an idempotency key is 1 to 200 printable ASCII characters without spaces",
                         field_error(field_name, "1 to 200 printable ASCII characters, no spaces"))
    return key


def _check_points(points: Any, field_name: str = "points", *, signed: bool = False) -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise BadRequest("points are a whole number", field_error(field_name, "must be an integer"))
    if signed:
        if points == 0 or abs(points) > MAX_POINTS:
            raise BadRequest(f"points must not be 0 and at most {MAX_POINTS:,} either way",
                             field_error(field_name, f"non-zero, at most {MAX_POINTS} either way"))
    elif points <= 0 or points > MAX_POINTS:
        raise BadRequest(f"points must be positive (1 to {MAX_POINTS:,})",
                         field_error(field_name, "must be positive" if points <= 0 else f"at most {MAX_POINTS}"))
    return points


class Book:
    """The movements of one transaction in one program (see the module's text)."""

    def __init__(self, conn: Connection, program: Program, now: dt.datetime, *, events: bool = True,
                 traits: bool = True) -> None:
        self.conn = conn
        self.program = program
        self.now = now
        self.events = events
        self.traits = traits
        self.accounts: dict[str, Account] = {}
        self.entries: list[Entry] = []
        self._keys: dict[str, Entry] = {}
        self._absent: set[str] = set()  # keys known to be free (looked up at once by preload_keys)
        self._seq = 0
        self.tier_events: list[SystemEvent] = []

    # reading
    def open(self, profile_ids: Iterable[str]) -> None:
        """Lock and read the accounts of ``profile_ids`` (created where missing)."""
        wanted = [pid for pid in dict.fromkeys(profile_ids) if pid not in self.accounts]
        if not wanted:
            return
        rows = store.lock_accounts(self.conn, self.program.workspace_id, self.program.id, wanted, self.now,
                                   self.program.entry_tier)
        lots: dict[str, list[Lot]] = {pid: [] for pid in wanted}
        for r in store.open_lots(self.conn, self.program.id, wanted):
            lots[r["profile_id"]].append(Lot(int(r["entry_id"]), int(r["points"]), int(r["remaining"]), r["earned_at"],
                                             r["available_at"], r["expires_at"], r["order_id"]))
        for pid in wanted:
            r = rows[pid]
            self.accounts[pid] = Account(pid, int(r["balance"]), int(r["owed"]), int(r["earned"]), int(r["spent"]),
                                         r["tier"], r["tier_since"], lots[pid])

    def account(self, profile_id: str) -> Account:
        found = self.accounts.get(profile_id)
        if found is None:
            self.open([profile_id])
            found = self.accounts[profile_id]
        return found

    def replay(self, key: str, profile_id: str, kind: str, points: int | None) -> Entry | None:
        """The movement already written with ``key`` (here or before), if it is this one; a conflict if
        the key was used for another."""
        found = self._keys.get(key)
        if found is None:
            if key in self._absent:
                return None
            row = store.entries_by_keys(self.conn, self.program.id, [key]).get(key)
            if row is None:
                return None
            found = Entry.from_row(row)
        same = found.profile_id == profile_id and found.kind == kind and (points is None or abs(found.points) == points
                                                                          or (found.details is not None and
                                                                          found.details.get("asked") == points))
        if not same:
            raise Conflict("this idempotency key was used for another movement",
                           field_error("idempotency_key", f"already used ({found.kind} of {found.points} points "
                                                          "for another request)"), code="idempotency_key_reused")
        return Entry(**{**found.__dict__, "replayed": True})

    def preload_keys(self, keys: Sequence[str]) -> dict[str, Entry]:
        """Movements already written for any of ``keys`` (a batch looks them up at once)."""
        rows = store.entries_by_keys(self.conn, self.program.id, list(keys)) if keys else {}
        found = {k: Entry.from_row(r) for k, r in rows.items()}
        self._keys.update(found)
        self._absent.update(k for k in keys if k not in found)
        return found

    # writing
    def _add(self, account: Account, entry: Entry) -> Entry:
        account.balance += entry.points
        if account.balance < 0:  # the arithmetic's own guard: never written
            raise AssertionError(f"balance of {account.profile_id} would go negative")
        account.changed = True
        entry.balance_after = account.balance
        self.entries.append(entry)
        self._keys[entry.key] = entry
        return entry

    def earn(self, profile_id: str, points: int, reason: str, key: str, *, kind: str = "earn",
             order_id: str | None = None, rule: str | None = None, at: dt.datetime | None = None,
             pending_days: int | None = None, expiry_days: int | bool | None = True,
             details: dict[str, Any] | None = None) -> Entry:
        """A lot of ``points`` earned at ``at`` (now), spendable after the program's pending days (or
        ``pending_days``), expiring after its expiry days (``expiry_days``: a number, None for never,
        True for the program's). What the account owes from a refund is paid from it first."""
        account = self.account(profile_id)
        at = at or self.now
        policy = self.program.definition.points
        wait = policy.pending_days if pending_days is None else pending_days
        days = policy.expiry_days if expiry_days is True else expiry_days
        available_at = at + dt.timedelta(days=wait)
        expires_at = at + dt.timedelta(days=int(days)) if days else None
        self._seq += 1
        lot = Lot(0, points, points, at, available_at, expires_at, order_id, seq=self._seq, changed=True)
        entry = Entry(profile_id, kind, points, reason, key, self.now, order_id, rule, None, available_at, expires_at,
                      details, lot=lot)
        account.lots.append(lot)
        if kind == "earn":
            account.earned += points
        self._add(account, entry)
        self._pay_owed(account, [lot], key, order_id)
        return entry

    def spend(self, profile_id: str, points: int, reason: str, key: str, *, order_id: str | None = None,
              details: dict[str, Any] | None = None) -> Entry:
        """Take ``points`` from the customer's spendable lots, oldest first (expiring what is due first).
        :class:`Shortfall` when they have fewer: nothing is taken."""
        account = self.account(profile_id)
        self.expire(profile_id)
        taken = take(spendable(account.lots, self.now), points)
        account.spent += points
        return self._add(account, Entry(profile_id, "spend", -points, reason, key, self.now, order_id,
                                        details=details, taken=taken))

    def deduct(self, profile_id: str, points: int, reason: str, key: str, *, details: dict[str, Any] | None = None
               ) -> Entry:
        """A negative adjustment: from spendable lots first, then pending ones; never below zero."""
        account = self.account(profile_id)
        self.expire(profile_id)
        live = [lot for lot in account.lots if lot.expires_at is None or lot.expires_at > self.now]
        waiting = fifo(lot for lot in live if lot.remaining > 0 and lot.available_at > self.now)
        ordered = spendable(live, self.now) + waiting
        taken = take(ordered, points)
        return self._add(account, Entry(profile_id, "adjust", -points, reason, key, self.now, details=details,
                                        taken=taken))

    def expire(self, profile_id: str) -> list[Entry]:
        """Expire what is left of the customer's lots whose time came (one movement per lot)."""
        account = self.account(profile_id)
        out = []
        for lot in due_to_expire(account.lots, self.now):
            if not lot.entry_id:
                continue  # written in this transaction with a past expiry: the next sweep takes it
            n = lot.remaining
            taken = take([lot], n)
            out.append(self._add(account, Entry(profile_id, "expire", -n, "expired", f"expire:{lot.entry_id}",
                                                self.now, lot.order_id, details={"lot": lot.entry_id}, taken=taken)))
        return out

    def reverse_order(self, profile_id: str, order_id: str, key: str, reason: str, *,
                      fraction: float = 1.0) -> Entry | None:
        """Reverse what ``order_id`` earned (``fraction`` of it for a partial refund), less what was
        reversed before: from the order's own lots first, then the customer's other points; what they do
        not hold is owed. None when nothing is left to reverse."""
        account = self.account(profile_id)
        rows = store.order_entries(self.conn, self.program.id, profile_id, order_id)
        rows += [e.__dict__ | {"idempotency_key": e.key} for e in self.entries
                 if e.profile_id == profile_id and e.order_id == order_id]
        earned = sum(int(r["points"]) for r in rows if r["kind"] == "earn")
        reversed_ = -sum(int(r["points"]) for r in rows if r["kind"] == "reverse" and (r.get("details") or {}).get("of")
                         in ("earn", None) and r.get("reverses") is None)
        owed_before = sum(int((r.get("details") or {}).get("owed", 0)) for r in rows if r["kind"] == "reverse")
        target = min(earned, round(earned * fraction)) if fraction < 1 else earned
        wanted = max(0, target - reversed_ - owed_before)
        if wanted <= 0:
            return None
        self.expire(profile_id)
        taken = take(reversal_sources(account.lots, order_id, self.now), wanted, partial=True)
        got = sum(n for _, n in taken)
        owed = wanted - got
        account.owed += owed
        account.earned -= wanted
        return self._add(account, Entry(profile_id, "reverse", -got, reason, key, self.now, order_id,
                                        details={"of": "earn", "asked": wanted, "owed": owed}, taken=taken))

    def reverse_spend(self, spend: Mapping[str, Any], key: str, reason: str) -> Entry:
        """Give a spend's points back to the lots it took them from, those not expired since; what came
        from lots that expired meanwhile would have expired unspent, and is not given back."""
        profile_id = spend["profile_id"]
        account = self.account(profile_id)
        self.expire(profile_id)
        allocations = store.allocations(self.conn, int(spend["id"]))
        by_id = {lot.entry_id: lot for lot in account.lots}
        missing = [a["lot_id"] for a in allocations if a["lot_id"] not in by_id]
        for r in store.lots_by_ids(self.conn, missing):
            lot = Lot(int(r["entry_id"]), int(r["points"]), int(r["remaining"]), r["earned_at"], r["available_at"],
                      r["expires_at"], r["order_id"])
            by_id[lot.entry_id] = lot
            account.lots.append(lot)
        restored: list[tuple[Lot, int]] = []
        for a in allocations:
            lot = by_id[a["lot_id"]]
            if lot.expires_at is not None and lot.expires_at <= self.now:
                continue
            lot.remaining += int(a["points"])
            lot.changed = True
            restored.append((lot, -int(a["points"])))
        back = -sum(n for _, n in restored)
        account.spent -= -int(spend["points"])
        entry = self._add(account, Entry(profile_id, "reverse", back, reason, key, self.now, spend["order_id"],
                                         reverses=int(spend["id"]),
                                         details={"of": "spend", "asked": -int(spend["points"]),
                                                  "lost_to_expiry": -int(spend["points"]) - back},
                                         taken=restored))
        self._pay_owed(account, fifo(lot for lot, _ in restored), key, spend["order_id"])
        return entry

    def _pay_owed(self, account: Account, lots: Sequence[Lot], key: str, order_id: str | None) -> None:
        """Points coming back to an account that owes from a refund pay the debt first."""
        if account.owed <= 0:
            return
        paid = min(account.owed, sum(lot.remaining for lot in lots))
        if paid <= 0:
            return
        taken = take(lots, paid)
        account.owed -= paid
        self._add(account, Entry(account.profile_id, "reverse", -paid, "owed from a refund", f"owed:{key}", self.now,
                                 order_id, details={"of": "owed"}, taken=taken))

    # the figures
    def figures(self, profile_id: str) -> dict[str, Any]:
        account = self.account(profile_id)
        return {"customer": profile_id, "balance": account.balance, "available": available(account.lots, self.now),
                "pending": pending(account.lots, self.now), "owed": account.owed, "tier": account.tier}

    def set_tier(self, profile_id: str, tier: str, direction: str) -> None:
        account = self.account(profile_id)
        before = account.tier
        if before == tier:
            return
        account.tier, account.tier_since, account.changed = tier, self.now, True
        self.tier_events.append(tier_event(self.program, profile_id, before, tier, direction, self.now))

    def flush(self) -> list[Entry]:
        """Write everything; returns the movements written, with their ids."""
        new = [e for e in self.entries if not e.replayed and not e.id]
        ids = store.insert_entries(self.conn, [{
            "workspace_id": self.program.workspace_id, "program_id": self.program.id, "profile_id": e.profile_id,
            "kind": e.kind, "points": e.points, "balance_after": e.balance_after, "reason": e.reason[:500],
            "idempotency_key": e.key, "order_id": e.order_id, "rule": e.rule, "reverses": e.reverses,
            "available_at": e.available_at, "expires_at": e.expires_at, "details": e.details,
            "created_at": e.created_at} for e in new])
        for e, entry_id in zip(new, ids, strict=True):
            e.id = entry_id
            if e.lot is not None:
                e.lot.entry_id = entry_id
        lots_new = [e.lot for e in new if e.lot is not None]
        store.insert_lots(self.conn, [{
            "entry_id": lot.entry_id, "program_id": self.program.id, "profile_id": e.profile_id, "points": lot.points,
            "remaining": lot.remaining, "earned_at": lot.earned_at, "available_at": lot.available_at,
            "expires_at": lot.expires_at, "order_id": lot.order_id} for e in new if (lot := e.lot) is not None])
        fresh = {id(lot) for lot in lots_new}
        changed = {}
        for account in self.accounts.values():
            for lot in account.lots:
                if lot.changed and id(lot) not in fresh:
                    changed[lot.entry_id] = {"entry_id": lot.entry_id, "remaining": lot.remaining}
                lot.changed = False
        store.update_lots(self.conn, list(changed.values()))
        store.insert_allocations(self.conn, [{"entry_id": e.id, "lot_id": lot.entry_id, "points": n}
                                             for e in new for lot, n in e.taken])
        touched = [a for a in self.accounts.values() if a.changed]
        store.save_accounts(self.conn, [{
            "program_id": self.program.id, "profile_id": a.profile_id, "balance": a.balance, "owed": a.owed,
            "earned": a.earned, "spent": a.spent, "tier": a.tier, "tier_since": a.tier_since,
            "updated_at": self.now} for a in touched])
        if self.events and (new or self.tier_events):
            append_system_events(self.conn, self.program.workspace_id,
                                 [self._event(e) for e in new] + self.tier_events, self.now)
        if self.traits and touched:
            figures = {a.profile_id: (a.balance, a.tier) for a in touched}
            write_loyalty_traits(self.conn, self.program, figures, self.now)
        for a in touched:
            a.changed = False
        self.tier_events = []
        self.entries = [e for e in self.entries if e.replayed]
        return new

    def _event(self, e: Entry) -> SystemEvent:
        properties: dict[str, Any] = {"program": self.program.key, "points": e.points, "balance": e.balance_after,
                                      "reason": e.reason, "entry_id": e.id}
        if e.order_id is not None:
            properties["order_id"] = e.order_id
        if e.rule is not None:
            properties["rule"] = e.rule
        if e.kind == "earn":
            properties["available_at"] = e.available_at.isoformat() if e.available_at else None
        return SystemEvent(e.profile_id, EVENT_NAMES[e.kind], properties, self.now,
                           uuid5_hex(NAMESPACE, f"{self.program.id}:{e.key}"))


def tier_event(program: Program, profile_id: str, before: str | None, after: str, direction: str,
               now: dt.datetime) -> SystemEvent:
    level = program.definition.level(after)
    properties = {"program": program.key, "from": before, "to": after, "direction": direction,
                  "name_ko": level.name_ko if level else after, "name_en": level.name_en if level else after,
                  "multiplier": level.multiplier if level else 1.0,
                  "free_shipping": bool(level.free_shipping) if level else False}
    return SystemEvent(profile_id, "Tier Changed", properties, now,
                       uuid5_hex(NAMESPACE, f"{program.id}:tier:{profile_id}:{now.isoformat()}:{after}"))


def write_loyalty_traits(conn: Connection, program: Program, figures: Mapping[str, tuple[int, str | None]],
                         now: dt.datetime) -> int:
    """The customers' ``loyalty_points`` and ``loyalty_tier`` traits (and ``loyalty_<program>_points`` /
    ``_tier`` for a program other than the workspace's first), in one batched update, so segments can use
    them ("Gold members with over 10,000 points")."""
    first = store.first_program_id(conn, program.workspace_id)
    primary = first is None or first == program.id
    prefix = "loyalty" if primary else f"loyalty_{program.key.replace('-', '_')}"
    traits = {pid: {f"{prefix}_points": points, f"{prefix}_tier": tier} for pid, (points, tier) in figures.items()}
    return store.write_traits(conn, program.workspace_id, traits, now, TRAIT_SOURCE)


# --- operations (each its own transaction) ------------------------------------------------------------


def _shortfall(exc: Shortfall, field_name: str = "points") -> Conflict:
    return Conflict(f"not enough points: {exc.wanted:,} asked, {exc.have:,} available",
                    field_error(field_name, f"more than the available balance ({exc.have})", available=exc.have),
                    code="insufficient_points")


def earn(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, points: int, *, key: str,
         reason: str = "earned", order_id: str | None = None, pending_days: int | None = None,
         expiry_days: int | bool | None = True, now: dt.datetime | None = None) -> dict[str, Any]:
    _check_points(points)
    _check_key(key)
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        book = Book(conn, p, now)
        book.open([profile_id])
        entry = book.replay(key, profile_id, "earn", points) or book.earn(
            profile_id, points, reason, key, order_id=order_id, pending_days=pending_days, expiry_days=expiry_days)
        if p.definition.tiers is not None and p.definition.tiers.measure == "points":
            upgrade_tiers(book, [profile_id])  # (spend moves only with orders: the rules' consumer upgrades then)
        book.flush()
        return {**movement_view(entry, p.key), "account": book.figures(profile_id)}


def spend(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, points: int, *, key: str,
          reason: str = "spent", order_id: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Spend points (the checkout's call): 409 ``insufficient_points`` naming ``points`` when the
    customer's spendable balance is short, with nothing written."""
    _check_points(points)
    _check_key(key)
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        book = Book(conn, p, now)
        book.open([profile_id])
        entry = book.replay(key, profile_id, "spend", points)
        if entry is None:
            try:
                entry = book.spend(profile_id, points, reason, key, order_id=order_id)
            except Shortfall as exc:
                raise _shortfall(exc) from exc
        book.flush()
        return {**movement_view(entry, p.key), "account": book.figures(profile_id)}


def adjust(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, points: int, *, key: str,
           reason: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A manual correction: positive points are a lot (spendable at once, expiring as earnings do),
    negative ones are taken from the customer's points (409 when they have fewer)."""
    _check_points(points, signed=True)
    _check_key(key)
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("an adjustment needs a reason", field_error("reason", "required"))
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        book = Book(conn, p, now)
        book.open([profile_id])
        entry = book.replay(key, profile_id, "adjust", abs(points))
        if entry is None:
            if points > 0:
                entry = book.earn(profile_id, points, reason, key, kind="adjust", pending_days=0)
            else:
                try:
                    entry = book.deduct(profile_id, -points, reason, key)
                except Shortfall as exc:
                    raise _shortfall(exc) from exc
        book.flush()
        return {**movement_view(entry, p.key), "account": book.figures(profile_id)}


def reverse(stores: Stores, workspace_id: str, program_ref: str, *, key: str, profile_id: str | None = None,
            order_id: str | None = None, spend_key: str | None = None, fraction: float = 1.0,
            reason: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Reverse what an order earned (``order_id``: a refund or cancellation; ``fraction`` for a partial
    one) or give back a spend (``spend_key``: the spend's idempotency key, when the checkout fails)."""
    _check_key(key)
    if (order_id is None) == (spend_key is None):
        raise BadRequest("name either order_id (reverse what an order earned) or spend_key (give a spend back)",
                         field_error("order_id", "give order_id or spend_key, not both"))
    if not 0 < fraction <= 1:
        raise BadRequest("fraction is more than 0 and at most 1", field_error("fraction", "out of (0, 1]"))
    now = _now(now)
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        book = Book(conn, p, now)
        if spend_key is not None:
            original = store.entries_by_keys(conn, p.id, [spend_key]).get(spend_key)
            if original is None or original["kind"] != "spend":
                raise NotFound(f"no spend with key {spend_key!r}", field_error("spend_key", "unknown spend"))
            if profile_id is not None and original["profile_id"] != profile_id:
                raise NotFound(f"no spend with key {spend_key!r} for this customer",
                               field_error("spend_key", "another customer's spend"))
            book.open([original["profile_id"]])
            entry = book.replay(key, original["profile_id"], "reverse", None)
            if entry is None:
                if store.spend_reversed(conn, p.id, int(original["id"])):
                    raise Conflict("this spend was given back already", field_error("spend_key", "already reversed"),
                                   code="already_reversed")
                entry = book.reverse_spend(original, key, reason or f"spend {spend_key} given back")
            book.flush()
            return {**movement_view(entry, p.key), "account": book.figures(entry.profile_id)}
        assert order_id is not None
        if profile_id is None:
            raise BadRequest("name the customer whose order it was", field_error("customer", "required"))
        book.open([profile_id])
        entry = book.replay(key, profile_id, "reverse", None)
        if entry is None:
            entry = book.reverse_order(profile_id, order_id, key, reason or f"order {order_id} refunded",
                                       fraction=fraction)
            if entry is None:
                raise Conflict(f"order {order_id!r} has nothing left to reverse",
                               field_error("order_id", "earned nothing, or reversed already"),
                               code="nothing_to_reverse")
        book.flush()
        return {**movement_view(entry, p.key), "account": book.figures(profile_id)}


def write_many(stores: Stores, workspace_id: str, program_ref: str, operations: Sequence[Mapping[str, Any]], *,
               now: dt.datetime | None = None, events: bool = True, traits: bool = True) -> list[dict[str, Any]]:
    """Many movements in one transaction (an import, a campaign's points): each ``{"kind": "earn" |
    "spend" | "adjust", "customer": profile id, "points", "idempotency_key", "reason", "order_id"}``.
    All or nothing: the first that cannot be made (bad input, a shortfall) is refused with its index and
    nothing is written; movements already written (their keys) are answered as ``replayed``."""
    now = _now(now)
    for i, op in enumerate(operations):
        kind = op.get("kind")
        if kind not in ("earn", "spend", "adjust"):
            raise BadRequest("kind is earn, spend or adjust", field_error(f"operations.{i}.kind", "unknown kind"))
        _check_points(op.get("points"), f"operations.{i}.points", signed=kind == "adjust")
        _check_key(op.get("idempotency_key"), f"operations.{i}.idempotency_key")
    with stores.write() as conn:
        p = program(conn, workspace_id, program_ref)
        book = Book(conn, p, now, events=events, traits=traits)
        book.open(sorted({str(op["customer"]) for op in operations}))
        book.preload_keys([op["idempotency_key"] for op in operations])
        results: list[Entry] = []
        for i, op in enumerate(operations):
            pid, points, key = str(op["customer"]), int(op["points"]), str(op["idempotency_key"])
            reason = str(op.get("reason") or op["kind"])
            try:
                found = book.replay(key, pid, op["kind"], abs(points))
            except Conflict as exc:
                raise Conflict(exc.message, field_error(f"operations.{i}.idempotency_key", "already used"),
                               code="idempotency_key_reused") from exc
            if found is not None:
                results.append(found)
                continue
            try:
                if op["kind"] == "earn" or (op["kind"] == "adjust" and points > 0):
                    results.append(book.earn(pid, points, reason, key, kind=op["kind"], order_id=op.get("order_id"),
                                             pending_days=0 if op["kind"] == "adjust" else None))
                elif op["kind"] == "spend":
                    results.append(book.spend(pid, points, reason, key, order_id=op.get("order_id")))
                else:
                    results.append(book.deduct(pid, -points, reason, key))
            except Shortfall as exc:
                raise _shortfall(exc, f"operations.{i}.points") from exc
        book.flush()
        return [movement_view(e) for e in results]


def expire_due(stores: Stores, *, now: dt.datetime | None = None, batch: int = 2_000) -> int:
    """Expire what is left of every lot whose time came, in every program; returns the movements written."""
    now = _now(now)
    written = 0
    with stores.read() as conn:
        all_programs = programs_of(conn)
    for p in all_programs:
        while True:
            with stores.read() as conn:  # the worker asks every minute: no write transaction for nothing
                if not store.lots_due(conn, p.id, now, limit=1):
                    break
            with stores.write() as conn:
                due = store.lots_due(conn, p.id, now, limit=batch)
                if not due:
                    break
                book = Book(conn, p, now)
                customers = sorted({r["profile_id"] for r in due})
                book.open(customers)
                for pid in customers:
                    book.expire(pid)
                written += len(book.flush())
            if len(due) < batch:
                break
    return written


# --- reading -----------------------------------------------------------------------------------------


def balance(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, *,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """The customer's figures: ``balance`` (the ledger's sum), ``available`` (spendable now), ``pending``
    (inside the return window), ``owed``, the tier with its benefits and what expires within the notice
    period."""
    now = _now(now)
    with stores.read() as conn:
        p = program(conn, workspace_id, program_ref)
        row = store.account(conn, p.id, profile_id)
        lots = [Lot(int(r["entry_id"]), int(r["points"]), int(r["remaining"]), r["earned_at"], r["available_at"],
                    r["expires_at"], r["order_id"]) for r in store.open_lots(conn, p.id, [profile_id])]
    notice = now + dt.timedelta(days=p.definition.points.expiring_notice_days)
    expiring = [lot for lot in lots
                if lot.remaining > 0 and lot.expires_at is not None and now < lot.expires_at <= notice]
    tier = row["tier"] if row else p.entry_tier
    level = p.definition.level(tier)
    out: dict[str, Any] = {
        "program": p.key, "customer": profile_id, "balance": int(row["balance"]) if row else 0,
        "available": available(lots, now), "pending": pending(lots, now),
        "owed": int(row["owed"]) if row else 0, "earned": int(row["earned"]) if row else 0,
        "spent": int(row["spent"]) if row else 0,
        "expiring": {"points": sum(lot.remaining for lot in expiring),
                     "first_at": min((lot.expires_at for lot in expiring if lot.expires_at), default=None),
                     "within_days": p.definition.points.expiring_notice_days},
        "tier": None if level is None else {"key": level.key, "name_ko": level.name_ko, "name_en": level.name_en,
                                            "multiplier": level.multiplier, "free_shipping": level.free_shipping,
                                            "since": row["tier_since"] if row else None},
    }
    nxt = next_tier(p, tier)
    if nxt is not None:
        out["next_tier"] = nxt
    return out


def next_tier(p: Program, tier: str | None) -> dict[str, Any] | None:
    tiers = p.definition.tiers
    if tiers is None:
        return None
    i = p.definition.level_index(tier)
    if i + 1 >= len(tiers.levels):
        return None
    level = tiers.levels[i + 1]
    return {"key": level.key, "name_ko": level.name_ko, "name_en": level.name_en, "threshold": level.threshold,
            "measure": tiers.measure, "window_days": tiers.window_days}


def customer_ledger(stores: Stores, workspace_id: str, program_ref: str, profile_id: str, *, limit: int = 50,
                    before: int | None = None) -> dict[str, Any]:
    with stores.read() as conn:
        p = program(conn, workspace_id, program_ref)
        rows = store.ledger_page(conn, p.id, [profile_id], limit=limit, before=before)
        lots = store.lots_of(conn, p.id, profile_id)
    entries = [movement_view(Entry.from_row(r)) for r in rows]
    for e in entries:
        del e["replayed"]
    return {"program": p.key, "customer": profile_id, "entries": entries,
            "next_before": rows[-1]["id"] if len(rows) == limit else None,
            "lots": [{"id": r["entry_id"], "points": int(r["points"]), "remaining": int(r["remaining"]),
                      "earned_at": r["earned_at"], "available_at": r["available_at"], "expires_at": r["expires_at"],
                      "order_id": r["order_id"]} for r in lots]}


# --- tiers on earning (upgrades at once) -------------------------------------------------------------


def upgrade_tiers(book: Book, profile_ids: Sequence[str]) -> None:
    """Move customers up to the tier they qualify for now (a downgrade waits for the review)."""
    from touchline.loyalty.tiers import qualified_index

    tiers = book.program.definition.tiers
    if tiers is None or not profile_ids:
        return
    since = book.now - dt.timedelta(days=tiers.window_days)
    measure = store.spend_in_window if tiers.measure == "spend" else store.points_in_window
    ids, values = measure(book.conn, book.program.id, since, list(profile_ids))
    by_id = dict(zip(ids, values, strict=True))
    scale = 10 ** _exponent(book.program) if tiers.measure == "spend" else 1
    # Points earned in this transaction and not written yet count too.
    if tiers.measure == "points":
        for e in book.entries:
            if e.kind == "earn" and not e.id:
                by_id[e.profile_id] = by_id.get(e.profile_id, 0) + e.points
    thresholds = [level.threshold * scale for level in tiers.levels]
    for pid in profile_ids:
        account = book.account(pid)
        current = book.program.definition.level_index(account.tier)
        reached = qualified_index(thresholds, by_id.get(pid, 0))
        if reached > current:
            book.set_tier(pid, tiers.levels[reached].key, "up")


def _exponent(p: Program) -> int:
    return minor_exponent(p.definition.currency)


def customers_ledger_sum(stores: Stores, program_id: str, profile_id: str) -> int:
    with stores.read() as conn:
        return store.ledger_sum(conn, program_id, profile_id)
