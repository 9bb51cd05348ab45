"""All SQL for profiles and identities (state store) and for a profile's events (both stores)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.profiles.identity import STATE_FIELDS, IdentityGraph, Key, ProfileState
from touchline.store import dialect
from touchline.store.schema import (
    erasures,
    event_staging,
    events,
    identities,
    identity_conflicts,
    message_ids,
    profile_merges,
    profile_snapshots,
    profiles,
)

_PROFILE_STATE_FIELDS = STATE_FIELDS


# --- identity resolution ---------------------------------------------------------------------------


def load_identities(conn: Connection, workspace_id: str, keys: Sequence[Key]) -> dict[Key, str]:
    """Owners of the given identifiers, in one query. Looked up by value (an index range on every
    engine; a row-value IN list is not, on SQLite) and filtered by kind here."""
    wanted = set(keys)
    values = list({value for _, value in wanted})
    rows = dialect.select_by_keys(conn, identities, ("kind", "value", "profile_id"), "value", values,
                                  workspace_id=workspace_id)
    return {(kind, value): profile_id for kind, value, profile_id in rows if (kind, value) in wanted}


def _profiles_by_id(conn: Connection, workspace_id: str, ids: Sequence[str], *columns: Any) -> list[dict[str, Any]]:
    """Profiles by id, through the primary key. The workspace is checked here, not in SQL: with both in
    the WHERE clause, SQLite prefers the (workspace, user_id) index for a long IN list and scans."""
    names = [c.name for c in (columns or tuple(profiles.c))]
    rows = dialect.select_by_keys(conn, profiles, ["workspace_id", *names], "id", list(ids))
    return [dict(zip(names, r[1:], strict=True)) for r in rows if r[0] == workspace_id]


def load_profile_states(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> list[ProfileState]:
    """The profiles, following merge pointers so that a stale pointer still lands on the survivor."""
    wanted = set(profile_ids)
    loaded: dict[str, ProfileState] = {}
    while wanted:
        ids = list(wanted - loaded.keys())
        wanted = set()
        for row in _profiles_by_id(conn, workspace_id, ids, profiles.c.id,
                                   *[profiles.c[f] for f in _PROFILE_STATE_FIELDS]):
            state = ProfileState(**row)
            loaded[state.id] = state
            if state.merged_into and state.merged_into not in loaded:
                wanted.add(state.merged_into)
    return list(loaded.values())


def save_graph(conn: Connection, workspace_id: str, graph: IdentityGraph, now: dt.datetime) -> None:
    new_rows = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for p in graph.profiles.values():
        if p.is_new:
            values = {f: getattr(p, f) for f in _PROFILE_STATE_FIELDS}
            new_rows.append({"id": p.id, "workspace_id": workspace_id, "updated_at": now, **values})
        elif p.changed:
            fields = tuple(sorted(p.changed))
            changed.setdefault(fields, []).append({"id": p.id, "updated_at": now, **{f: getattr(p, f) for f in fields}})
    dialect.bulk_insert(conn, profiles, new_rows)
    for rows in changed.values():
        dialect.bulk_update(conn, profiles, "id", rows)
    for merge in graph.merges:
        # Identities not loaded into this batch's view still move with their profile.
        conn.execute(
            identities.update()
            .where(identities.c.workspace_id == workspace_id, identities.c.profile_id == merge.from_profile_id)
            .values(profile_id=merge.into_profile_id)
        )
        conn.execute(
            profiles.update()
            .where(profiles.c.workspace_id == workspace_id, profiles.c.merged_into == merge.from_profile_id)
            .values(merged_into=merge.into_profile_id)
        )
    if graph.merges:
        conn.execute(
            profile_merges.insert(),
            [
                {"workspace_id": workspace_id, "from_profile_id": m.from_profile_id,
                 "into_profile_id": m.into_profile_id, "merged_at": now, "reason": m.reason,
                 "message_id": m.message_id}
                for m in graph.merges
            ],
        )
    # Plain inserts are safe: the caller holds the workspace's ingestion lock, and the graph looked
    # every one of these identifiers up under it.
    dialect.bulk_insert(conn, identities, [
        {"workspace_id": workspace_id, "kind": n.kind, "value": n.value, "profile_id": n.profile_id,
         "first_seen_at": n.first_seen_at, "source": n.source}
        for n in graph.new_identities.values()
    ])
    if graph.conflicts:
        conn.execute(
            identity_conflicts.insert(),
            [
                {"workspace_id": workspace_id, "kind": c.kind, "value": c.value, "profile_id": c.profile_id,
                 "other_profile_id": c.other_profile_id, "message_id": c.message_id, "detected_at": now,
                 "reason": c.reason}
                for c in graph.conflicts
            ],
        )


# --- reads -----------------------------------------------------------------------------------------


def find_profile_id(conn: Connection, workspace_id: str, candidates: Sequence[Key]) -> str | None:
    """The canonical profile for the first identifier that is known."""
    for key in candidates:
        if key[0] == "profile_id":
            row = conn.execute(
                sa.select(profiles.c.id, profiles.c.merged_into).where(
                    profiles.c.workspace_id == workspace_id, profiles.c.id == key[1]
                )
            ).first()
            if row is not None:
                return canonical_profile_id(conn, workspace_id, row.id)
            continue
        found = conn.execute(
            sa.select(identities.c.profile_id).where(
                identities.c.workspace_id == workspace_id, identities.c.kind == key[0], identities.c.value == key[1]
            )
        ).scalar_one_or_none()
        if found is not None:
            return canonical_profile_id(conn, workspace_id, found)
    return None


# Built once (the values go as parameters): these run for every inbound message, where building the
# statement cost more than running it.
_MERGED_INTO = sa.select(profiles.c.merged_into).where(profiles.c.workspace_id == sa.bindparam("workspace_id"),
                                                       profiles.c.id == sa.bindparam("profile_id"))
_PROFILE_ROW = sa.select(profiles).where(profiles.c.workspace_id == sa.bindparam("workspace_id"),
                                         profiles.c.id == sa.bindparam("profile_id"))
_MERGED_FROM = sa.select(profiles.c.id).where(profiles.c.workspace_id == sa.bindparam("workspace_id"),
                                              profiles.c.merged_into == sa.bindparam("profile_id"))


def canonical_profile_id(conn: Connection, workspace_id: str, profile_id: str) -> str:
    for _ in range(64):
        merged_into = conn.execute(_MERGED_INTO, {"workspace_id": workspace_id, "profile_id": profile_id}
                                   ).scalar_one_or_none()
        if merged_into is None:
            return profile_id
        profile_id = merged_into
    return profile_id


def canonical_profile_ids(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> dict[str, str]:
    """:func:`canonical_profile_id` of many profiles: one query per link of the longest merge chain
    (merges point straight at the survivor, so usually one)."""
    merged_into: dict[str, str | None] = {}
    wanted = set(profile_ids)
    while wanted:
        rows = _profiles_by_id(conn, workspace_id, list(wanted), profiles.c.id, profiles.c.merged_into)
        merged_into.update((r["id"], r["merged_into"]) for r in rows)
        merged_into.update((pid, None) for pid in wanted if pid not in merged_into)  # unknown: itself
        wanted = {into for into in merged_into.values() if into is not None and into not in merged_into}

    def canonical(profile_id: str) -> str:
        for _ in range(64):
            into = merged_into.get(profile_id)
            if into is None:
                return profile_id
            profile_id = into
        return profile_id

    return {pid: canonical(pid) for pid in merged_into}


def merged_profile_ids_of(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, list[str]]:
    """:func:`merged_profile_ids` of many profiles, in one query."""
    out = {pid: [pid] for pid in profile_ids}
    for pid, into in dialect.select_by_keys(conn, profiles, ("id", "merged_into"), "merged_into", list(out),
                                            workspace_id=workspace_id):
        out[into].append(pid)
    return out


def profile_locales(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, str | None]:
    """Each profile's ``locale`` (None for one not found)."""
    rows = _profiles_by_id(conn, workspace_id, list(profile_ids), profiles.c.id, profiles.c.locale)
    found = {r["id"]: r["locale"] for r in rows}
    return {pid: found.get(pid) for pid in profile_ids}


def profile_row(conn: Connection, workspace_id: str, profile_id: str) -> dict[str, Any] | None:
    row = conn.execute(_PROFILE_ROW, {"workspace_id": workspace_id, "profile_id": profile_id}).mappings().first()
    return dict(row) if row else None


def merged_profile_ids(conn: Connection, workspace_id: str, profile_id: str) -> list[str]:
    """The profile and every profile that was merged into it (whose events are its history too)."""
    return [profile_id, *conn.execute(_MERGED_FROM, {"workspace_id": workspace_id, "profile_id": profile_id}).scalars()]


def identities_of(conn: Connection, workspace_id: str, profile_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(identities.c.kind, identities.c.value, identities.c.first_seen_at, identities.c.source)
        .where(identities.c.workspace_id == workspace_id, identities.c.profile_id == profile_id)
        .order_by(identities.c.kind, identities.c.first_seen_at)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def merges_into(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    query = (
        sa.select(profile_merges.c.from_profile_id, profile_merges.c.into_profile_id, profile_merges.c.merged_at,
                  profile_merges.c.reason, profile_merges.c.message_id)
        .where(profile_merges.c.workspace_id == workspace_id, profile_merges.c.into_profile_id.in_(profile_ids))
        .order_by(profile_merges.c.merged_at)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def conflicts_of(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    query = (
        sa.select(identity_conflicts.c.kind, identity_conflicts.c.value, identity_conflicts.c.profile_id,
                  identity_conflicts.c.other_profile_id, identity_conflicts.c.reason,
                  identity_conflicts.c.detected_at, identity_conflicts.c.message_id)
        .where(
            identity_conflicts.c.workspace_id == workspace_id,
            sa.or_(identity_conflicts.c.profile_id.in_(profile_ids),
                   identity_conflicts.c.other_profile_id.in_(profile_ids)),
        )
        .order_by(identity_conflicts.c.detected_at)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


_TIMELINE_COLUMNS = ("message_id", "type", "event", "timestamp", "received_at", "channel", "device_type",
                     "device_id", "anonymous_id", "user_id")


def _events_query(table: sa.Table, workspace_id: str, profile_ids: Sequence[str], extra: Sequence[str]
                  ) -> sa.Select[Any]:
    cols = [table.c.seq, *(table.c[c] for c in (*_TIMELINE_COLUMNS, *extra))]
    query = sa.select(*cols).where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(profile_ids)))
    return query.order_by(table.c.timestamp.desc())


def staged_events(conn: Connection, workspace_id: str, profile_ids: Sequence[str], *, limit: int | None,
                  full: bool = False) -> list[dict[str, Any]]:
    """Events still in staging, shaped like the event store's (payload parts derived here)."""
    query = _events_query(event_staging, workspace_id, profile_ids, ["payload"])
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for r in conn.execute(query).mappings():
        row = dict(r)
        row.update(dialect.payload_parts(row["payload"]))
        if not full:
            del row["payload"]
        rows.append(row)
    return rows


def stored_events(conn: Connection, workspace_id: str, profile_ids: Sequence[str], *, limit: int | None,
                  full: bool = False) -> list[dict[str, Any]]:
    query = _events_query(events, workspace_id, profile_ids,
                          ["properties", "context", "traits", *(["payload"] if full else [])])
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def events_named(conn: Connection, table: sa.Table, workspace_id: str, event: str,
                 profile_ids: Sequence[str] | None, *, limit: int) -> list[dict[str, Any]]:
    """The newest events named ``event`` in ``table`` (staging or the event store), of these profiles or, with
    None, of anyone, newest first, with their properties: what a journey's trigger started runs with."""
    staged = table is event_staging
    query = sa.select(table.c.seq, table.c.profile_id, table.c.message_id, table.c.event, table.c.timestamp,
                      table.c.payload if staged else table.c.properties
                      ).where(table.c.workspace_id == workspace_id, table.c.event == event)
    if profile_ids is not None:
        query = query.where(table.c.profile_id.in_(list(profile_ids)))
    rows = []
    for r in conn.execute(query.order_by(table.c.timestamp.desc(), table.c.seq.desc()).limit(limit)).mappings():
        row = dict(r)
        if staged:
            row["properties"] = dialect.payload_parts(row.pop("payload"))["properties"]
        rows.append(row)
    return rows


def activity(conn: Connection, table: sa.Table, workspace_id: str, profile_ids: Sequence[str]
             ) -> list[dict[str, Any]]:
    """Events per (channel, device type) with first and last time, for staging or the event store."""
    query = (
        sa.select(table.c.channel, table.c.device_type, sa.func.count().label("events"),
                  sa.func.min(table.c.timestamp).label("first"), sa.func.max(table.c.timestamp).label("last"))
        .where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(profile_ids)))
        .group_by(table.c.channel, table.c.device_type)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


# Matches a search counts (and pages through) at most: beyond it ``total`` says "at least this many". Counting
# every trait-text match means reading every profile, where a page of the newest matches stops early.
SEARCH_CAP = 10_000


@dataclass(frozen=True)
class Found:
    rows: list[dict[str, Any]]
    total: int  # every match, up to SEARCH_CAP
    capped: bool  # there are more than SEARCH_CAP


def search_profiles(conn: Connection, workspace_id: str, q: str, limit: int, prefixes: Sequence[str] = (),
                    *, kind: str | None = None, text: bool = True, offset: int = 0, cap: int = SEARCH_CAP) -> Found:
    """A page of the customers (survivors of merges) with an identifier starting with one of ``prefixes``
    (the forms identifiers are stored in: a lower-cased email, an E.164 phone; index range scans), of
    ``kind`` when given, or, with ``text``, traits whose JSON text contains ``q``; identifier matches first,
    then the most recently updated. Also how many there are, up to ``cap`` (each kind of match stops there,
    the newest trait matches first through the index on ``updated_at``). An empty search lists everyone.

    The matches are read once, as ids (a few tens of thousands at most), ranked here, and only the page's
    profiles are read whole."""
    p = profiles
    live = sa.and_(p.c.workspace_id == workspace_id, p.c.merged_into.is_(None))
    starts = list(dict.fromkeys(x for x in prefixes if x))
    if not starts and not (text and q):
        some = sa.select(sa.literal(1).label("one")).select_from(p).where(live).limit(cap + 1).subquery("some")
        total = int(conn.execute(sa.select(sa.func.count()).select_from(some)).scalar_one())
        query = sa.select(p).where(live).order_by(p.c.updated_at.desc(), p.c.id).limit(limit).offset(offset)
        return Found([dict(r) for r in conn.execute(query).mappings()], min(total, cap), total > cap)
    ranked: dict[str, None] = {}
    capped = False
    if starts:
        ident = identities.c
        owners = list(conn.execute(
            sa.select(ident.profile_id)
            .where(ident.workspace_id == workspace_id,
                   sa.or_(*(sa.and_(ident.value >= start, ident.value < start + "\U0010ffff") for start in starts)),
                   *([ident.kind == kind] if kind else []))
            .limit(cap + 1)
        ).scalars())
        capped = len(owners) > cap
        owner_rows = _profiles_by_id(conn, workspace_id, list(dict.fromkeys(owners)), p.c.id, p.c.merged_into)
        survivors = list(dict.fromkeys(r["merged_into"] or r["id"] for r in owner_rows))
        live_rows = _profiles_by_id(conn, workspace_id, survivors, p.c.id, p.c.merged_into, p.c.updated_at)
        newest_first = sorted((r for r in live_rows if r["merged_into"] is None),
                              key=lambda r: (_sortable(r["updated_at"]), r["id"]), reverse=True)
        ranked.update((r["id"], None) for r in newest_first)
    if text and q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        by_text = list(conn.execute(
            sa.select(p.c.id).where(live, sa.cast(p.c.traits, sa.Text).like(pattern, escape="\\"))
            .order_by(p.c.updated_at.desc(), p.c.id.desc()).limit(cap + 1)
        ).scalars())
        capped = capped or len(by_text) > cap
        ranked.update((pid, None) for pid in by_text)
    ids = list(ranked)
    page = ids[offset:offset + limit]
    rows = {r["id"]: r for r in _profiles_by_id(conn, workspace_id, page)} if page else {}
    return Found([rows[i] for i in page if i in rows], min(len(ids), cap), capped or len(ids) > cap)


def _sortable(value: Any) -> str:
    """A time stamp as it sorts (SQLite gives text, PostgreSQL datetimes; one store gives only one kind)."""
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def recent_traits(conn: Connection, workspace_id: str, sample: int) -> list[dict[str, Any]]:
    """The traits of the ``sample`` most recently updated customers that have any (newest first, through the
    index on ``updated_at``): what the segment builder suggests names and values from."""
    query = (sa.select(profiles.c.traits)
             .where(profiles.c.workspace_id == workspace_id, profiles.c.merged_into.is_(None),
                    sa.cast(profiles.c.traits, sa.Text) != "{}")  # anonymous visitors have nothing to offer
             .order_by(profiles.c.updated_at.desc()).limit(sample))
    return [traits for traits in conn.execute(query).scalars() if isinstance(traits, dict)]


def count_profiles(conn: Connection, workspace_id: str) -> dict[str, int]:
    total = conn.execute(
        sa.select(sa.func.count()).select_from(profiles).where(profiles.c.workspace_id == workspace_id,
                                                                profiles.c.merged_into.is_(None))
    ).scalar_one()
    merged = conn.execute(
        sa.select(sa.func.count()).select_from(profile_merges).where(profile_merges.c.workspace_id == workspace_id)
    ).scalar_one()
    known = conn.execute(
        sa.select(sa.func.count()).select_from(profiles).where(
            profiles.c.workspace_id == workspace_id, profiles.c.merged_into.is_(None), profiles.c.user_id.is_not(None)
        )
    ).scalar_one()
    ids = conn.execute(
        sa.select(sa.func.count()).select_from(identities).where(identities.c.workspace_id == workspace_id)
    ).scalar_one()
    return {"profiles": int(total), "identified": int(known), "merges": int(merged), "identities": int(ids)}


def update_consents(conn: Connection, workspace_id: str, profile_id: str, consents: dict[str, Any],
                    now: dt.datetime) -> None:
    conn.execute(
        profiles.update()
        .where(profiles.c.workspace_id == workspace_id, profiles.c.id == profile_id)
        .values(consents=consents, updated_at=now)
    )


# --- erase -----------------------------------------------------------------------------------------

# What ``erase_state`` deletes from in the state store and ``erase_events`` in the event store (PostgreSQL
# vacuums them after an erase).
ERASED_TABLES = (identities, event_staging, identity_conflicts, profile_merges, profiles, message_ids)
ERASED_EVENT_TABLES = (events, profile_snapshots)


def erase_state(conn: Connection, workspace_id: str, profile_ids: Sequence[str],
                stored_message_ids: Sequence[str] = ()) -> dict[str, int]:
    """Delete the customer's identities, staged events, identity conflicts, merges and profiles, and the
    messageIds of their events (``stored_message_ids``: those already in the event store; the staged
    ones are found here) from the de-duplication table, which keeps what clients sent as ids."""
    ids = list(profile_ids)
    staged_message_ids = conn.execute(sa.select(event_staging.c.message_id).where(
        event_staging.c.workspace_id == workspace_id, event_staging.c.profile_id.in_(ids))).scalars().all()
    counts = {
        "identities": conn.execute(
            identities.delete().where(identities.c.workspace_id == workspace_id, identities.c.profile_id.in_(ids))
        ).rowcount,
        "staged_events": conn.execute(
            event_staging.delete().where(event_staging.c.workspace_id == workspace_id,
                                         event_staging.c.profile_id.in_(ids))
        ).rowcount,
    }
    conn.execute(identity_conflicts.delete().where(
        identity_conflicts.c.workspace_id == workspace_id,
        sa.or_(identity_conflicts.c.profile_id.in_(ids), identity_conflicts.c.other_profile_id.in_(ids))))
    conn.execute(profile_merges.delete().where(
        profile_merges.c.workspace_id == workspace_id,
        sa.or_(profile_merges.c.into_profile_id.in_(ids), profile_merges.c.from_profile_id.in_(ids))))
    counts["profiles"] = conn.execute(
        profiles.delete().where(profiles.c.workspace_id == workspace_id, profiles.c.id.in_(ids))
    ).rowcount
    seen = list(dict.fromkeys([*stored_message_ids, *staged_message_ids]))
    for i in range(0, len(seen), 500):
        conn.execute(message_ids.delete().where(message_ids.c.workspace_id == workspace_id,
                                                dialect.in_values(conn, message_ids.c.message_id, seen[i : i + 500])))
    return counts


def record_erasure(conn: Connection, workspace_id: str, profile_ids: Sequence[str], now: dt.datetime,
                   counts: dict[str, int]) -> None:
    """The erasure, for the record and as pending work: its bytes still sit in the store files until
    ``mark_purged``."""
    ids = list(profile_ids)
    conn.execute(erasures.insert().values(
        workspace_id=workspace_id, profile_id=ids[0], erased_at=now, identities=counts["identities"],
        profiles=counts["profiles"], events=counts["events"], profile_ids=ids, purged_at=None))


def pending_erasures(conn: Connection) -> list[dict[str, Any]]:
    """Erasures (of every workspace) whose store files have not been purged yet, oldest first."""
    query = (sa.select(erasures.c.id, erasures.c.workspace_id, erasures.c.profile_id, erasures.c.profile_ids,
                       erasures.c.erased_at)
             .where(erasures.c.purged_at.is_(None)).order_by(erasures.c.id))
    return [dict(r) for r in conn.execute(query).mappings()]


def mark_purged(conn: Connection, erasure_ids: Sequence[int], now: dt.datetime) -> None:
    conn.execute(erasures.update().where(erasures.c.id.in_(list(erasure_ids))).values(purged_at=now))


def event_message_ids(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[str]:
    """The messageIds of the customer's events in the event store."""
    return list(conn.execute(sa.select(events.c.message_id).where(
        events.c.workspace_id == workspace_id, dialect.any_of(events.c.profile_id, list(profile_ids)))).scalars())


def erase_events(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> int:
    """The customer's events and profile mirror in the event store."""
    conn.execute(profile_snapshots.delete().where(profile_snapshots.c.workspace_id == workspace_id,
                                                  profile_snapshots.c.profile_id.in_(list(profile_ids))))
    result = conn.execute(
        events.delete().where(events.c.workspace_id == workspace_id, events.c.profile_id.in_(list(profile_ids)))
    )
    return max(result.rowcount or 0, 0)


def set_traits(conn: Connection, workspace_id: str, profile_id: str, traits: dict[str, Any], now: dt.datetime,
               source: str) -> bool:
    """Write traits as of ``now`` from ``source`` (a journey step, say); last write wins, as for events."""
    row = conn.execute(sa.select(profiles.c.traits, profiles.c.trait_meta).where(
        profiles.c.workspace_id == workspace_id, profiles.c.id == profile_id)).first()
    if row is None:
        return False
    merged, meta = dict(row[0] or {}), dict(row[1] or {})
    for key, value in traits.items():
        merged[key] = value
        meta[key] = {"at": now.isoformat(), "source": source}
    conn.execute(profiles.update().where(profiles.c.workspace_id == workspace_id, profiles.c.id == profile_id)
                 .values(traits=merged, trait_meta=meta, updated_at=now))
    return True


def set_traits_many(conn: Connection, workspace_id: str, traits: dict[str, dict[str, Any]], now: dt.datetime,
                    source: str) -> int:
    """``set_traits`` for many profiles at once (profile id -> traits): one read, one batched update.
    Profiles that do not exist are left out; returns how many were written."""
    if not traits:
        return 0
    rows = _profiles_by_id(conn, workspace_id, sorted(traits), profiles.c.id, profiles.c.traits,
                           profiles.c.trait_meta)
    changes = []
    for row in rows:
        merged, meta = dict(row["traits"] or {}), dict(row["trait_meta"] or {})
        for key, value in traits[row["id"]].items():
            merged[key] = value
            meta[key] = {"at": now.isoformat(), "source": source}
        changes.append({"id": row["id"], "traits": merged, "trait_meta": meta, "updated_at": now})
    dialect.bulk_update(conn, profiles, "id", changes)
    return len(changes)


def profile_facts(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> traits, time zone, locale, merged_into: what journey conditions and waits read. Through the
    primary key (see ``_profiles_by_id``): with the workspace in SQL, SQLite scanned the workspace's
    profiles for every batch of runs, so a campaign slowed down as the shop grew."""
    if not profile_ids:
        return {}
    rows = _profiles_by_id(conn, workspace_id, profile_ids, profiles.c.id, profiles.c.traits, profiles.c.timezone,
                           profiles.c.locale, profiles.c.merged_into)
    return {r["id"]: r for r in rows}


# --- the customer lock ------------------------------------------------------------------------------
# One named lock per customer serialises what several workers do about them: journey runs advance and
# the outbox decides (frequency caps count a customer's sends) under it (PostgreSQL; SQLite has one
# writer). The name is kept from when journeys alone took it, so that mixed versions still exclude.
CUSTOMER_LOCK = "journey-customer:"


def lock_customers(conn: Connection, customer_ids: Sequence[str]) -> None:
    """Take the customer lock of each of ``customer_ids`` in one statement, in sorted order."""
    dialect.lock_keys(conn, [CUSTOMER_LOCK + cid for cid in customer_ids])
