"""All of loyalty's SQL (SQLAlchemy Core): programs and versions, accounts (locked for writing), the
ledger with its lots and allocations, the rules' inbox, orders, rewards and coupons, referrals; and what a
customer-wide export or erase reads and deletes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.schema import (
    loyalty_accounts,
    loyalty_allocations,
    loyalty_coupons,
    loyalty_inbox,
    loyalty_ledger,
    loyalty_lots,
    loyalty_orders,
    loyalty_program_versions,
    loyalty_programs,
    loyalty_referral_codes,
    loyalty_referrals,
    loyalty_rewards,
    profiles,
)

ERASED_TABLES = (loyalty_accounts, loyalty_ledger, loyalty_lots, loyalty_allocations, loyalty_inbox, loyalty_orders,
                 loyalty_referral_codes, loyalty_referrals, loyalty_coupons)

ENTRY_COLUMNS = [c.name for c in loyalty_ledger.columns]


# --- programs ----------------------------------------------------------------------------------------


def programs(conn: Connection, workspace_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(loyalty_programs).order_by(loyalty_programs.c.created_at, loyalty_programs.c.key)
    if workspace_id is not None:
        query = query.where(loyalty_programs.c.workspace_id == workspace_id)
    return [dict(r) for r in conn.execute(query).mappings()]


_PROGRAM_BY_REF = sa.select(loyalty_programs).where(
    loyalty_programs.c.workspace_id == sa.bindparam("ws"),
    sa.or_(loyalty_programs.c.id == sa.bindparam("ref"), loyalty_programs.c.key == sa.bindparam("ref")))
_FIRST_PROGRAM = (sa.select(loyalty_programs.c.id).where(loyalty_programs.c.workspace_id == sa.bindparam("ws"))
                  .order_by(loyalty_programs.c.created_at, loyalty_programs.c.key).limit(1))


def program_row(conn: Connection, workspace_id: str, ref: str) -> dict[str, Any] | None:
    row = conn.execute(_PROGRAM_BY_REF, {"ws": workspace_id, "ref": ref}).mappings().first()
    return dict(row) if row else None


def first_program_id(conn: Connection, workspace_id: str) -> str | None:
    """The workspace's first program: its points and tier are the plain ``loyalty_points`` traits."""
    return conn.execute(_FIRST_PROGRAM, {"ws": workspace_id}).scalar_one_or_none()


def insert_program(conn: Connection, **values: Any) -> None:
    conn.execute(loyalty_programs.insert().values(**values))


def update_program(conn: Connection, program_id: str, **values: Any) -> None:
    conn.execute(loyalty_programs.update().where(loyalty_programs.c.id == program_id).values(**values))


def insert_version(conn: Connection, program_id: str, version: int, definition: Any, now: dt.datetime) -> None:
    conn.execute(loyalty_program_versions.insert().values(program_id=program_id, version=version,
                                                          definition=definition, created_at=now))


def latest_version(conn: Connection, program_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(loyalty_program_versions.c.version), 0))
                            .where(loyalty_program_versions.c.program_id == program_id)).scalar_one())


def version_row(conn: Connection, program_id: str, version: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_program_versions).where(
        loyalty_program_versions.c.program_id == program_id,
        loyalty_program_versions.c.version == version)).mappings().first()
    return dict(row) if row else None


def versions(conn: Connection, program_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(loyalty_program_versions.c.version, loyalty_program_versions.c.created_at)
        .where(loyalty_program_versions.c.program_id == program_id)
        .order_by(loyalty_program_versions.c.version.desc())).mappings()]


# --- accounts ----------------------------------------------------------------------------------------

_ACCOUNT = ["profile_id", "balance", "owed", "earned", "spent", "tier", "tier_since", "created_at"]


def lock_accounts(conn: Connection, workspace_id: str, program_id: str, profile_ids: Sequence[str],
                  now: dt.datetime, tier: str | None) -> dict[str, dict[str, Any]]:
    """The accounts of ``profile_ids`` (created empty where missing, in ``tier``), locked for the rest of
    the transaction: ``FOR UPDATE`` on PostgreSQL, in sorted order so that two writers cannot deadlock;
    SQLite's write transactions already exclude each other (BEGIN IMMEDIATE)."""
    ids = sorted(set(profile_ids))
    if not ids:
        return {}
    dialect.bulk_insert_ignoring_conflicts(conn, loyalty_accounts, [
        {"program_id": program_id, "profile_id": pid, "workspace_id": workspace_id, "balance": 0, "owed": 0,
         "earned": 0, "spent": 0, "tier": tier, "tier_since": now if tier else None, "created_at": now,
         "updated_at": now} for pid in ids])
    if dialect.name(conn) == dialect.POSTGRES:
        query = (sa.select(*(loyalty_accounts.c[c] for c in _ACCOUNT))
                 .where(loyalty_accounts.c.program_id == program_id,
                        dialect.in_values(conn, loyalty_accounts.c.profile_id, ids))
                 .order_by(loyalty_accounts.c.profile_id).with_for_update())
        rows = [tuple(r) for r in conn.execute(query)]
    else:
        rows = dialect.select_by_keys(conn, loyalty_accounts, _ACCOUNT, "profile_id", ids, program_id=program_id)
    return {r[0]: dict(zip(_ACCOUNT, r, strict=True)) for r in rows}


def save_accounts(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write the accounts' new figures (rows with program_id, profile_id and the changed columns)."""
    dialect.bulk_update(conn, loyalty_accounts, ("program_id", "profile_id"), rows)


def account(conn: Connection, program_id: str, profile_id: str) -> dict[str, Any] | None:
    query = sa.select(loyalty_accounts).where(loyalty_accounts.c.program_id == program_id,
                                              loyalty_accounts.c.profile_id == profile_id)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def accounts_page(conn: Connection, program_id: str, *, tier: str | None, limit: int, offset: int
                  ) -> list[dict[str, Any]]:
    query = (sa.select(loyalty_accounts, profiles.c.traits)
             .join(profiles, profiles.c.id == loyalty_accounts.c.profile_id, isouter=True)
             .where(loyalty_accounts.c.program_id == program_id)
             .order_by(loyalty_accounts.c.balance.desc(), loyalty_accounts.c.profile_id).limit(limit).offset(offset))
    if tier is not None:
        query = query.where(loyalty_accounts.c.tier == tier)
    return [dict(r) for r in conn.execute(query).mappings()]


def tier_counts(conn: Connection, program_id: str) -> dict[str | None, int]:
    rows = conn.execute(sa.select(loyalty_accounts.c.tier, sa.func.count()).where(
        loyalty_accounts.c.program_id == program_id).group_by(loyalty_accounts.c.tier))
    return {r[0]: int(r[1]) for r in rows}


def program_totals(conn: Connection, program_id: str) -> dict[str, int]:
    row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(loyalty_accounts.c.balance), 0),
                                 sa.func.coalesce(sa.func.sum(loyalty_accounts.c.earned), 0),
                                 sa.func.coalesce(sa.func.sum(loyalty_accounts.c.spent), 0),
                                 sa.func.coalesce(sa.func.sum(loyalty_accounts.c.owed), 0))
                       .where(loyalty_accounts.c.program_id == program_id)).one()
    return {"accounts": int(row[0]), "balance": int(row[1]), "earned": int(row[2]), "spent": int(row[3]),
            "owed": int(row[4])}


def all_account_ids(conn: Connection, program_id: str) -> list[str]:
    return list(conn.execute(sa.select(loyalty_accounts.c.profile_id)
                             .where(loyalty_accounts.c.program_id == program_id)).scalars())


# --- the ledger --------------------------------------------------------------------------------------


def entries_by_keys(conn: Connection, program_id: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = dialect.select_by_keys(conn, loyalty_ledger, ENTRY_COLUMNS, "idempotency_key", list(keys),
                                  program_id=program_id)
    return {r[ENTRY_COLUMNS.index("idempotency_key")]: dict(zip(ENTRY_COLUMNS, r, strict=True)) for r in rows}


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Append movements; their ids, in the order of ``rows``. The ids are drawn first (SQLite: after the
    table's sequence, under the transaction's write lock; PostgreSQL: from its sequence) and the rows go
    in with one bulk insert (COPY on PostgreSQL)."""
    if not rows:
        return []
    n = len(rows)
    if dialect.name(conn) == dialect.POSTGRES:
        ids = [int(i) for i in conn.execute(sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(
            "loyalty_ledger", "id"))).select_from(sa.func.generate_series(1, n))).scalars()]
    else:
        # AUTOINCREMENT keeps the highest id ever handed out in sqlite_sequence (ids are never reused after
        # a delete); an explicit larger id moves it on.
        top = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'loyalty_ledger'").scalar()
        first = int(top or 0) + 1
        ids = list(range(first, first + n))
    dialect.bulk_insert(conn, loyalty_ledger, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


def entry(conn: Connection, entry_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_ledger).where(loyalty_ledger.c.id == entry_id)).mappings().first()
    return dict(row) if row else None


def order_entries(conn: Connection, program_id: str, profile_id: str, order_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_ledger).where(
        loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.order_id == order_id,
        loyalty_ledger.c.profile_id == profile_id).order_by(loyalty_ledger.c.id)).mappings()]


def spend_reversed(conn: Connection, program_id: str, spend_id: int) -> bool:
    return conn.execute(sa.select(loyalty_ledger.c.id).where(
        loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.reverses == spend_id).limit(1)).first() is not None


def ledger_page(conn: Connection, program_id: str, profile_ids: Sequence[str], *, limit: int,
                before: int | None = None) -> list[dict[str, Any]]:
    query = (sa.select(loyalty_ledger).where(loyalty_ledger.c.program_id == program_id,
                                             loyalty_ledger.c.profile_id.in_(list(profile_ids)))
             .order_by(loyalty_ledger.c.id.desc()).limit(limit))
    if before is not None:
        query = query.where(loyalty_ledger.c.id < before)
    return [dict(r) for r in conn.execute(query).mappings()]


def ledger_sum(conn: Connection, program_id: str, profile_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(loyalty_ledger.c.points), 0)).where(
        loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.profile_id == profile_id)).scalar_one())


def earned_between(conn: Connection, program_id: str, profile_ids: Sequence[str], start: dt.datetime,
                   end: dt.datetime) -> list[tuple[str, str, int, dt.datetime]]:
    """(profile, rule, points, when the event happened) of what rules paid for events in [start, end): the
    daily caps count by the day of the event that earned the points, so history applied at once is
    capped day by day."""
    if not profile_ids:
        return []
    rows = conn.execute(sa.select(loyalty_ledger.c.profile_id, loyalty_ledger.c.rule, loyalty_ledger.c.points,
                                  loyalty_lots.c.earned_at)
                        .join(loyalty_lots, loyalty_lots.c.entry_id == loyalty_ledger.c.id)
                        .where(loyalty_ledger.c.program_id == program_id,
                               dialect.in_values(conn, loyalty_ledger.c.profile_id, list(profile_ids)),
                               loyalty_ledger.c.kind == "earn", loyalty_ledger.c.rule.is_not(None),
                               loyalty_lots.c.earned_at >= start, loyalty_lots.c.earned_at < end))
    return [(r[0], str(r[1]).split("@")[0], int(r[2]), r[3]) for r in rows]


def once_keys(conn: Connection, program_id: str, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` (``once:<rule>:<profile>:<value>``) already used by an earning."""
    return set(entries_by_keys(conn, program_id, keys))


def points_by_kind(conn: Connection, program_id: str, since: dt.datetime) -> list[dict[str, Any]]:
    """Points moved per day and kind since ``since`` (the dashboard's chart)."""
    day = sa.func.date(loyalty_ledger.c.created_at)
    rows = conn.execute(sa.select(day.label("day"), loyalty_ledger.c.kind, sa.func.sum(loyalty_ledger.c.points),
                                  sa.func.count())
                        .where(loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.created_at >= since)
                        .group_by(day, loyalty_ledger.c.kind).order_by(day))
    return [{"day": str(r[0]), "kind": r[1], "points": int(r[2]), "entries": int(r[3])} for r in rows]


def kind_totals(conn: Connection, program_id: str, since: dt.datetime | None = None) -> dict[str, int]:
    query = sa.select(loyalty_ledger.c.kind, sa.func.sum(loyalty_ledger.c.points)).where(
        loyalty_ledger.c.program_id == program_id).group_by(loyalty_ledger.c.kind)
    if since is not None:
        query = query.where(loyalty_ledger.c.created_at >= since)
    return {r[0]: int(r[1]) for r in conn.execute(query)}


# --- lots and allocations ----------------------------------------------------------------------------

_LOT = ["entry_id", "profile_id", "points", "remaining", "earned_at", "available_at", "expires_at", "order_id"]


def open_lots(conn: Connection, program_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Lots with points left, of ``profile_ids``."""
    if not profile_ids:
        return []
    if dialect.name(conn) == dialect.POSTGRES:
        query = sa.select(*(loyalty_lots.c[c] for c in _LOT)).where(
            loyalty_lots.c.program_id == program_id,
            dialect.in_values(conn, loyalty_lots.c.profile_id, list(profile_ids)),
            loyalty_lots.c.remaining > 0)
        return [dict(r) for r in conn.execute(query).mappings()]
    rows = dialect.select_by_keys(conn, loyalty_lots, _LOT, "profile_id", list(profile_ids), program_id=program_id)
    return [dict(zip(_LOT, r, strict=True)) for r in rows if r[3] > 0]


def lots_by_ids(conn: Connection, entry_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = dialect.select_by_keys(conn, loyalty_lots, _LOT, "entry_id", list(entry_ids))
    return [dict(zip(_LOT, r, strict=True)) for r in rows]


def insert_lots(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_insert(conn, loyalty_lots, rows)


def update_lots(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_update(conn, loyalty_lots, "entry_id", rows)


def insert_allocations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_insert(conn, loyalty_allocations, rows)


def allocations(conn: Connection, entry_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_allocations).where(
        loyalty_allocations.c.entry_id == entry_id)).mappings()]


def lots_due(conn: Connection, program_id: str, until: dt.datetime, *, after: dt.datetime | None = None,
             limit: int = 10_000) -> list[dict[str, Any]]:
    """Lots with points left whose expiry is at or before ``until`` (and after ``after``)."""
    query = (sa.select(*(loyalty_lots.c[c] for c in _LOT))
             .where(loyalty_lots.c.program_id == program_id, loyalty_lots.c.remaining > 0,
                    loyalty_lots.c.expires_at.is_not(None), loyalty_lots.c.expires_at <= until)
             .order_by(loyalty_lots.c.expires_at).limit(limit))
    if after is not None:
        query = query.where(loyalty_lots.c.expires_at > after)
    return [dict(r) for r in conn.execute(query).mappings()]


def lots_of(conn: Connection, program_id: str, profile_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_lots).where(
        loyalty_lots.c.program_id == program_id, loyalty_lots.c.profile_id == profile_id)
        .order_by(loyalty_lots.c.earned_at, loyalty_lots.c.entry_id)).mappings()]


# --- the rules' inbox and orders ---------------------------------------------------------------------


def queue(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_insert(conn, loyalty_inbox, rows)


def queued(conn: Connection, limit: int) -> list[dict[str, Any]]:
    return dialect.fetch_dicts(conn, sa.select(loyalty_inbox).order_by(loyalty_inbox.c.seq).limit(limit))


def unqueue(conn: Connection, seqs: Sequence[int]) -> None:
    if seqs:
        conn.execute(loyalty_inbox.delete().where(loyalty_inbox.c.seq.in_(list(seqs))))


def queued_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(loyalty_inbox)).scalar_one())


def orders_by_ids(conn: Connection, program_id: str, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not order_ids:
        return {}
    rows = conn.execute(sa.select(loyalty_orders).where(loyalty_orders.c.program_id == program_id,
                                                        loyalty_orders.c.order_id.in_(list(order_ids)))).mappings()
    return {r["order_id"]: dict(r) for r in rows}


def insert_orders(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_insert_ignoring_conflicts(conn, loyalty_orders, rows)


def set_refunded(conn: Connection, program_id: str, order_id: str, refunded: int) -> None:
    conn.execute(loyalty_orders.update().where(loyalty_orders.c.program_id == program_id,
                                               loyalty_orders.c.order_id == order_id).values(refunded=refunded))


def customers_with_orders(conn: Connection, program_id: str, profile_ids: Sequence[str]) -> set[str]:
    if not profile_ids:
        return set()
    return set(conn.execute(sa.select(loyalty_orders.c.profile_id).distinct().where(
        loyalty_orders.c.program_id == program_id,
        dialect.in_values(conn, loyalty_orders.c.profile_id, list(profile_ids)))).scalars())


def first_order(conn: Connection, program_id: str, profile_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_orders).where(loyalty_orders.c.program_id == program_id,
                                                       loyalty_orders.c.profile_id == profile_id)
                       .order_by(loyalty_orders.c.ordered_at, loyalty_orders.c.order_id).limit(1)).mappings().first()
    return dict(row) if row else None


def fingerprints_of(conn: Connection, program_id: str, profile_ids: Sequence[str]) -> tuple[set[str], set[str]]:
    """The payment and address fingerprints of the customers' orders."""
    rows = conn.execute(sa.select(loyalty_orders.c.payment_hash, loyalty_orders.c.address_hash).where(
        loyalty_orders.c.program_id == program_id, loyalty_orders.c.profile_id.in_(list(profile_ids))))
    payments, addresses = set(), set()
    for payment, address in rows:
        if payment:
            payments.add(payment)
        if address:
            addresses.add(address)
    return payments, addresses


def spend_in_window(conn: Connection, program_id: str, since: dt.datetime, profile_ids: Sequence[str] | None = None
                    ) -> tuple[list[str], list[int]]:
    """(profile ids, order amounts less refunds since ``since``): the tier measure ``spend``, column-wise."""
    query = (sa.select(loyalty_orders.c.profile_id, sa.func.sum(loyalty_orders.c.amount - loyalty_orders.c.refunded))
             .where(loyalty_orders.c.program_id == program_id, loyalty_orders.c.ordered_at >= since)
             .group_by(loyalty_orders.c.profile_id))
    if profile_ids is not None:
        query = query.where(dialect.in_values(conn, loyalty_orders.c.profile_id, list(profile_ids)))
    ids, values = [], []
    for pid, amount in conn.execute(query):
        ids.append(pid)
        values.append(int(amount or 0))
    return ids, values


def points_in_window(conn: Connection, program_id: str, since: dt.datetime, profile_ids: Sequence[str] | None = None
                     ) -> tuple[list[str], list[int]]:
    """(profile ids, points earned since ``since`` less their reversals): the tier measure ``points``."""
    query = (sa.select(loyalty_ledger.c.profile_id, sa.func.sum(loyalty_ledger.c.points))
             .where(loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.created_at >= since,
                    sa.or_(loyalty_ledger.c.kind == "earn",
                           sa.and_(loyalty_ledger.c.kind == "reverse", loyalty_ledger.c.reverses.is_(None))))
             .group_by(loyalty_ledger.c.profile_id))
    if profile_ids is not None:
        query = query.where(dialect.in_values(conn, loyalty_ledger.c.profile_id, list(profile_ids)))
    ids, values = [], []
    for pid, points in conn.execute(query):
        ids.append(pid)
        values.append(int(points or 0))
    return ids, values


def review_columns(conn: Connection, program_id: str, since: dt.datetime, measure: str, levels: Sequence[str]
                   ) -> tuple[list[str], list[int], list[int]]:
    """Every account of the program as three aligned columns, from one query: profile ids, the index of
    their tier in ``levels`` (0 for none or an unknown one) and their measure since ``since`` (spend less
    refunds, or points earned less reversed), 0 for nothing in the window."""
    if measure == "spend":
        window = (sa.select(loyalty_orders.c.profile_id.label("pid"),
                            sa.func.sum(loyalty_orders.c.amount - loyalty_orders.c.refunded).label("value"))
                  .where(loyalty_orders.c.program_id == program_id, loyalty_orders.c.ordered_at >= since)
                  .group_by(loyalty_orders.c.profile_id).subquery())
    else:
        window = (sa.select(loyalty_ledger.c.profile_id.label("pid"),
                            sa.func.sum(loyalty_ledger.c.points).label("value"))
                  .where(loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.created_at >= since,
                         sa.or_(loyalty_ledger.c.kind == "earn",
                                sa.and_(loyalty_ledger.c.kind == "reverse", loyalty_ledger.c.reverses.is_(None))))
                  .group_by(loyalty_ledger.c.profile_id).subquery())
    index = sa.case({key: i for i, key in enumerate(levels)}, value=loyalty_accounts.c.tier, else_=0)
    query = (sa.select(loyalty_accounts.c.profile_id, index, sa.func.coalesce(window.c.value, 0))
             .select_from(loyalty_accounts.outerjoin(window, window.c.pid == loyalty_accounts.c.profile_id))
             .where(loyalty_accounts.c.program_id == program_id))
    if dialect.name(conn) == dialect.SQLITE:
        # Straight from the driver: a million rows through SQLAlchemy's row processing cost more than the query.
        compiled = query.compile(conn, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        rows = conn.exec_driver_sql(str(compiled), tuple(params[k] for k in compiled.positiontup or ())
                                    ).cursor.fetchall()
    else:
        rows = conn.execute(query).all()
    if not rows:
        return [], [], []
    ids, tiers, values = (list(column) for column in zip(*rows, strict=True))
    return ids, [int(t) for t in tiers], [int(v or 0) for v in values]


def set_tiers(conn: Connection, program_id: str, changes: Sequence[tuple[str, str, dt.datetime]]) -> None:
    dialect.bulk_update(conn, loyalty_accounts, ("program_id", "profile_id"), [
        {"program_id": program_id, "profile_id": pid, "tier": tier, "tier_since": at, "updated_at": at}
        for pid, tier, at in changes])


# --- profiles: what the programs read of them, and the traits they write ------------------------------


def profile_traits(conn: Connection, profile_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = dialect.select_by_keys(conn, profiles, ["id", "traits", "timezone", "merged_into"], "id", list(profile_ids))
    return {r[0]: {"traits": r[1] or {}, "timezone": r[2], "merged_into": r[3]} for r in rows}


def write_traits(conn: Connection, workspace_id: str, traits: Mapping[str, Mapping[str, Any]], now: dt.datetime,
                 source: str) -> int:
    """Set traits of many profiles at once (last write wins, each with its time and source), in one read
    and one batched update; profiles that are gone are skipped. Returns how many were written."""
    if not traits:
        return 0
    # By the primary key alone (ids are unique across workspaces): with the workspace in SQL as well, SQLite
    # scanned the workspace's profiles instead of probing the key (see touchline.profiles.store).
    rows = dialect.select_by_keys(conn, profiles, ["id", "traits", "trait_meta", "workspace_id"], "id", list(traits))
    stamp = {"at": now.isoformat(), "source": source}
    updates = []
    for pid, current, meta, owner in rows:
        if owner != workspace_id:
            continue
        merged, merged_meta = dict(current or {}), dict(meta or {})
        changed = False
        for key, value in traits[pid].items():
            if merged.get(key) != value or key not in merged:
                merged[key] = value
                merged_meta[key] = stamp
                changed = True
        if changed:
            updates.append({"id": pid, "traits": merged, "trait_meta": merged_meta, "updated_at": now})
    dialect.bulk_update(conn, profiles, "id", updates)
    return len(updates)


def identity_profiles(conn: Connection, workspace_id: str, kind: str, values: Iterable[str]) -> dict[str, str]:
    """value -> profile of identities of ``kind`` (device ids, phones, e-mails)."""
    from touchline.store.schema import identities

    wanted = list(set(values))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(identities.c.value, identities.c.profile_id).where(
        identities.c.workspace_id == workspace_id, identities.c.kind == kind, identities.c.value.in_(wanted)))
    return {r[0]: r[1] for r in rows}


def identities_of(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(profile, kind, value) of every identity of ``profile_ids``."""
    from touchline.store.schema import identities

    rows = conn.execute(sa.select(identities.c.profile_id, identities.c.kind, identities.c.value).where(
        identities.c.workspace_id == workspace_id, identities.c.profile_id.in_(list(profile_ids))))
    return [(r[0], r[1], r[2]) for r in rows]


def canonical(conn: Connection, profile_ids: Sequence[str]) -> dict[str, str]:
    """Each profile's survivor (itself when not merged), following merges."""
    out: dict[str, str] = {}
    pending = {pid: pid for pid in profile_ids}
    for _ in range(16):
        if not pending:
            break
        rows = dialect.select_by_keys(conn, profiles, ["id", "merged_into"], "id", list(set(pending.values())))
        onward = {r[0]: r[1] for r in rows}
        nxt = {}
        for pid, current in pending.items():
            target = onward.get(current)
            if target:
                nxt[pid] = target
            elif current in onward:
                out[pid] = current
        pending = nxt
    return out


# --- rewards and coupons -----------------------------------------------------------------------------


def rewards(conn: Connection, program_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_rewards).where(loyalty_rewards.c.program_id == program_id)
                                          .order_by(loyalty_rewards.c.cost, loyalty_rewards.c.key)).mappings()]


def reward_row(conn: Connection, program_id: str, ref: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_rewards).where(
        loyalty_rewards.c.program_id == program_id,
        sa.or_(loyalty_rewards.c.id == ref, loyalty_rewards.c.key == ref))).mappings().first()
    return dict(row) if row else None


def insert_reward(conn: Connection, **values: Any) -> None:
    conn.execute(loyalty_rewards.insert().values(**values))


def update_reward(conn: Connection, reward_id: str, **values: Any) -> None:
    conn.execute(loyalty_rewards.update().where(loyalty_rewards.c.id == reward_id).values(**values))


def insert_coupons(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert coupons whose code is free; the codes inserted."""
    if not rows:
        return set()
    taken = {r[0] for r in dialect.select_by_keys(conn, loyalty_coupons, ["code"], "code", [r["code"] for r in rows],
                                                  workspace_id=rows[0]["workspace_id"])}
    fresh = [r for r in rows if r["code"] not in taken]
    dialect.bulk_insert_ignoring_conflicts(conn, loyalty_coupons, fresh)
    return {r["code"] for r in fresh}


def coupon(conn: Connection, workspace_id: str, code: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = sa.select(loyalty_coupons).where(loyalty_coupons.c.workspace_id == workspace_id,
                                             loyalty_coupons.c.code == code)
    if for_update:
        query = dialect.lock_rows(conn, query)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def coupon_by_issue_key(conn: Connection, program_id: str, issue_key: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_coupons).where(loyalty_coupons.c.program_id == program_id,
                                                        loyalty_coupons.c.issue_key == issue_key)).mappings().first()
    return dict(row) if row else None


def redeem_coupon(conn: Connection, workspace_id: str, code: str, **values: Any) -> bool:
    """Mark a coupon used, only if nobody did (a conditional update: two checkouts cannot both use it)."""
    result = conn.execute(loyalty_coupons.update().where(
        loyalty_coupons.c.workspace_id == workspace_id, loyalty_coupons.c.code == code,
        loyalty_coupons.c.redeemed_at.is_(None)).values(**values))
    return (result.rowcount or 0) == 1


def coupon_counts(conn: Connection, program_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(loyalty_coupons.c.reward_id, sa.func.count(),
                                  sa.func.count(loyalty_coupons.c.redeemed_at))
                        .where(loyalty_coupons.c.program_id == program_id).group_by(loyalty_coupons.c.reward_id))
    return [{"reward_id": r[0], "issued": int(r[1]), "redeemed": int(r[2])} for r in rows]


def coupons_of(conn: Connection, program_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_coupons).where(
        loyalty_coupons.c.program_id == program_id, loyalty_coupons.c.profile_id.in_(list(profile_ids)))
        .order_by(loyalty_coupons.c.created_at.desc())).mappings()]


def coupons_page(conn: Connection, program_id: str, *, reward_id: str | None, batch: str | None, limit: int,
                 offset: int) -> list[dict[str, Any]]:
    query = (sa.select(loyalty_coupons).where(loyalty_coupons.c.program_id == program_id)
             .order_by(loyalty_coupons.c.created_at.desc(), loyalty_coupons.c.code).limit(limit).offset(offset))
    if reward_id is not None:
        query = query.where(loyalty_coupons.c.reward_id == reward_id)
    if batch is not None:
        query = query.where(loyalty_coupons.c.batch == batch)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- referrals ---------------------------------------------------------------------------------------


def referral_code(conn: Connection, program_id: str, profile_id: str) -> str | None:
    return conn.execute(sa.select(loyalty_referral_codes.c.code).where(
        loyalty_referral_codes.c.program_id == program_id,
        loyalty_referral_codes.c.profile_id == profile_id)).scalar_one_or_none()


def insert_referral_code(conn: Connection, **values: Any) -> bool:
    result = conn.execute(dialect.insert_ignoring_conflicts(conn, loyalty_referral_codes).values(**values))
    return (result.rowcount or 0) == 1


def code_owner(conn: Connection, workspace_id: str, code: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_referral_codes).where(
        loyalty_referral_codes.c.workspace_id == workspace_id,
        loyalty_referral_codes.c.code == code)).mappings().first()
    return dict(row) if row else None


def referral_of(conn: Connection, program_id: str, referred_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(loyalty_referrals).where(loyalty_referrals.c.program_id == program_id,
                                                          loyalty_referrals.c.referred_id == referred_id)
                       ).mappings().first()
    return dict(row) if row else None


def insert_referral(conn: Connection, **values: Any) -> bool:
    result = conn.execute(dialect.insert_ignoring_conflicts(conn, loyalty_referrals).values(**values))
    return (result.rowcount or 0) == 1


def update_referral(conn: Connection, referral_id: str, **values: Any) -> None:
    conn.execute(loyalty_referrals.update().where(loyalty_referrals.c.id == referral_id).values(**values))


def rewarded_count(conn: Connection, program_id: str, referrer_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(
        loyalty_referrals.c.program_id == program_id, loyalty_referrals.c.referrer_id == referrer_id,
        loyalty_referrals.c.status.in_(["rewarded", "ordered"]))).scalar_one())


def referrals_due(conn: Connection, now: dt.datetime, limit: int = 1000) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(loyalty_referrals).where(
        loyalty_referrals.c.status == "ordered", loyalty_referrals.c.payable_at <= now)
        .order_by(loyalty_referrals.c.payable_at).limit(limit)).mappings()]


def pending_referrals_of(conn: Connection, program_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not profile_ids:
        return []
    return [dict(r) for r in conn.execute(sa.select(loyalty_referrals).where(
        loyalty_referrals.c.program_id == program_id, loyalty_referrals.c.status.in_(["pending", "ordered"]),
        loyalty_referrals.c.referred_id.in_(list(profile_ids)))).mappings()]


def referrals_page(conn: Connection, program_id: str, *, status: str | None, limit: int, offset: int
                   ) -> list[dict[str, Any]]:
    query = (sa.select(loyalty_referrals).where(loyalty_referrals.c.program_id == program_id)
             .order_by(loyalty_referrals.c.created_at.desc(), loyalty_referrals.c.id).limit(limit).offset(offset))
    if status is not None:
        query = query.where(loyalty_referrals.c.status == status)
    return [dict(r) for r in conn.execute(query).mappings()]


def referral_counts(conn: Connection, program_id: str) -> dict[str, int]:
    rows = conn.execute(sa.select(loyalty_referrals.c.status, sa.func.count()).where(
        loyalty_referrals.c.program_id == program_id).group_by(loyalty_referrals.c.status))
    return {r[0]: int(r[1]) for r in rows}


def rejection_counts(conn: Connection, program_id: str) -> dict[str, int]:
    rows = conn.execute(sa.select(loyalty_referrals.c.reason, sa.func.count()).where(
        loyalty_referrals.c.program_id == program_id, loyalty_referrals.c.status == "rejected")
        .group_by(loyalty_referrals.c.reason))
    return {str(r[0]): int(r[1]) for r in rows}


# --- the customer-wide operations --------------------------------------------------------------------


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
    ids = list(profile_ids)
    entry_ids = list(conn.execute(sa.select(loyalty_ledger.c.id).where(
        loyalty_ledger.c.workspace_id == workspace_id, loyalty_ledger.c.profile_id.in_(ids))).scalars())
    if entry_ids:
        dialect.delete_in_chunks(conn, loyalty_allocations, loyalty_allocations.c.entry_id, entry_ids)
    conn.execute(loyalty_lots.delete().where(loyalty_lots.c.profile_id.in_(ids)))
    for table in (loyalty_ledger, loyalty_accounts, loyalty_inbox, loyalty_orders, loyalty_referral_codes):
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(ids)))
    conn.execute(loyalty_referrals.delete().where(
        loyalty_referrals.c.workspace_id == workspace_id,
        sa.or_(loyalty_referrals.c.referred_id.in_(ids), loyalty_referrals.c.referrer_id.in_(ids))))
    conn.execute(loyalty_coupons.update().where(loyalty_coupons.c.workspace_id == workspace_id,
                                                loyalty_coupons.c.profile_id.in_(ids)).values(profile_id=None))
    conn.execute(loyalty_coupons.update().where(loyalty_coupons.c.workspace_id == workspace_id,
                                                loyalty_coupons.c.redeemed_by.in_(ids)).values(redeemed_by=None))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    ids = list(profile_ids)

    def rows(table: sa.Table, *where: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(sa.select(table).where(*where)).mappings()]

    return {
        "accounts": rows(loyalty_accounts, loyalty_accounts.c.workspace_id == workspace_id,
                         loyalty_accounts.c.profile_id.in_(ids)),
        "ledger": rows(loyalty_ledger, loyalty_ledger.c.workspace_id == workspace_id,
                       loyalty_ledger.c.profile_id.in_(ids)),
        "lots": rows(loyalty_lots, loyalty_lots.c.profile_id.in_(ids)),
        "orders": rows(loyalty_orders, loyalty_orders.c.workspace_id == workspace_id,
                       loyalty_orders.c.profile_id.in_(ids)),
        "coupons": rows(loyalty_coupons, loyalty_coupons.c.workspace_id == workspace_id,
                        sa.or_(loyalty_coupons.c.profile_id.in_(ids), loyalty_coupons.c.redeemed_by.in_(ids))),
        "referral_codes": rows(loyalty_referral_codes, loyalty_referral_codes.c.workspace_id == workspace_id,
                               loyalty_referral_codes.c.profile_id.in_(ids)),
        "referrals": rows(loyalty_referrals, loyalty_referrals.c.workspace_id == workspace_id,
                          sa.or_(loyalty_referrals.c.referred_id.in_(ids), loyalty_referrals.c.referrer_id.in_(ids))),
    }


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The customer's accounts, one per program: balance, owed and tier."""
    rows = conn.execute(sa.select(loyalty_accounts.c.program_id, loyalty_programs.c.key, loyalty_programs.c.name,
                                  loyalty_accounts.c.balance, loyalty_accounts.c.owed, loyalty_accounts.c.tier)
                        .join(loyalty_programs, loyalty_programs.c.id == loyalty_accounts.c.program_id)
                        .where(loyalty_accounts.c.workspace_id == workspace_id,
                               loyalty_accounts.c.profile_id.in_(list(profile_ids)))).mappings()
    return [dict(r) for r in rows]


# --- the event store: what happened before a program existed ----------------------------------------


def logged_events(conn: Connection, workspace_id: str, names: Sequence[str], since: dt.datetime,
                  until: dt.datetime) -> list[dict[str, Any]]:
    """Track events named ``names`` in [since, until), oldest first, from the event store."""
    from touchline.store.schema import events

    query = (sa.select(events.c.profile_id, events.c.message_id, events.c.event, events.c.properties,
                       events.c.timestamp)
             .where(events.c.workspace_id == workspace_id, events.c.type == "track",
                    events.c.event.in_(list(names)), events.c.timestamp >= since, events.c.timestamp < until)
             .order_by(events.c.timestamp, events.c.message_id))
    return [dict(r) for r in conn.execute(query).mappings()]
