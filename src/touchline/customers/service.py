"""The one-customer view, export and erase, across the profile and every registered domain."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from touchline.customers.registry import registered
from touchline.profiles import service as profiles
from touchline.profiles import store as profile_store
from touchline.store import dialect

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["delete_customer", "erase", "export", "purge_erased", "view"]

log = logging.getLogger("touchline.customers")


def view(stores: Stores, workspace_id: str, identifier: str, *, timeline_limit: int = 50) -> dict[str, Any]:
    """One customer by any identifier: the profile with its newest events, and what each domain shows
    of them (their segments, journey runs and messages...)."""
    profile_id = profiles.resolve(stores, workspace_id, identifier)
    found = profiles.profile_view(stores, workspace_id, profile_id, timeline_limit=timeline_limit)
    parts = [data for data in registered() if data.view is not None]
    with stores.read() as conn:
        ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id)
        for data in parts:
            assert data.view is not None
            found[data.name] = data.view(conn, workspace_id, ids)
    return found


def export(stores: Stores, workspace_id: str, identifier: str) -> dict[str, Any]:
    """Everything Touchline holds about one customer (GDPR Art. 15 / PIPA access request): the profile,
    every event, and every registered domain's data under its name."""
    profile_id = profiles.resolve(stores, workspace_id, identifier)
    found = profiles.profile_view(stores, workspace_id, profile_id, timeline_limit=None, full=True)
    found["events"] = found.pop("timeline")
    with stores.read() as conn:
        ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id)
        for data in registered():
            found[data.name] = data.export(conn, workspace_id, ids)
    found["exported_at"] = dt.datetime.now(dt.UTC)
    return found


def erase(stores: Stores, workspace_id: str, identifier: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Remove the customer: identities, traits and consents, merged profiles, every event, and what every
    registered domain holds (journey runs, messages and inbox, segment memberships...). Returns what was
    erased and by when the bytes are gone from the store files too (``purge``: ``by``,
    ``within_seconds``; see ``purge_erased``).

    This process's pump is paused throughout; the event store is cleared before and after the
    state-store transaction, so that what a pump of another process (PostgreSQL) moved from staging
    meanwhile is caught too.
    """
    profile_id = profiles.resolve(stores, workspace_id, identifier)
    now = now or dt.datetime.now(dt.UTC)
    with stores.pump_paused():
        with stores.read() as conn:
            ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id)
        counts = delete_customer(stores, workspace_id, ids, erased_at=now)
    within = stores.settings.erase_purge_seconds
    return {"erased": {"profiles": counts["profiles"], "identities": counts["identities"], "events": counts["events"]},
            "purge": {"by": now + dt.timedelta(seconds=within), "within_seconds": within}}


def delete_customer(stores: Stores, workspace_id: str, profile_ids: list[str], *,
                    erased_at: dt.datetime | None = None) -> dict[str, int]:
    """Delete every row about these profiles in every store, each domain its own; with ``erased_at``,
    record the erasure (pending its purge) in the same transaction. The caller holds ``pump_paused``."""
    domains = registered()
    with stores.events_conn() as econn:
        stored_message_ids = profile_store.event_message_ids(econn, workspace_id, profile_ids)
        erased_events = profile_store.erase_events(econn, workspace_id, profile_ids)
    with stores.write() as conn:
        counts = profile_store.erase_state(conn, workspace_id, profile_ids, stored_message_ids)
        counts["events"] = erased_events + counts["staged_events"]
        # Every domain's rows go in the same transaction: segment membership now, say, not at the next
        # refresh (which would record their leaving as an event about the erased id).
        for data in domains:
            data.erase(conn, workspace_id, profile_ids)
        if erased_at is not None:
            profile_store.record_erasure(conn, workspace_id, profile_ids, erased_at, counts)
    with stores.events_conn() as econn:
        counts["events"] += profile_store.erase_events(econn, workspace_id, profile_ids)
    return counts


def purge_erased(stores: Stores, *, now: dt.datetime | None = None, force: bool = False) -> int:
    """Make pending erasures final in the store files, and return how many were (0: none pending, not
    yet due, or a store kept the purge from finishing: the next call tries again).

    Deleted rows leave bytes behind: DuckDB in freed blocks of its file, SQLite in old copies of pages in
    its write-ahead log (its own pages are zeroed: ``secure_delete``), PostgreSQL in dead tuples. So, for
    every erasure not yet purged: delete its profiles' rows again everywhere (anything written about
    them by a transaction that overlapped the erase, on PostgreSQL), truncate SQLite's log, vacuum
    PostgreSQL's tables, and copy the DuckDB file into a fresh one. Run by the process that holds the
    event store's writer (the server's pump; a command when no server runs). Unless ``force``, only
    when due (``_purge_due``), so that a burst of erases shares one purge.
    """
    now = now or dt.datetime.now(dt.UTC)
    with stores.read() as conn:
        pending = profile_store.pending_erasures(conn)
    if not pending or not (force or _purge_due(stores, min(e["erased_at"] for e in pending), now)):
        return 0
    started = time.monotonic()
    with stores.pump_paused():
        for erasure in pending:
            delete_customer(stores, erasure["workspace_id"], erasure["profile_ids"] or [erasure["profile_id"]])
        dialect.vacuum(stores.state, [*profile_store.ERASED_TABLES,
                                      *(table for data in registered() for table in data.tables)])
        dialect.vacuum(stores.events, profile_store.ERASED_EVENT_TABLES)
        if not dialect.truncate_log(stores.state):
            return 0
        stores.rewrite_event_store()
        with stores.write() as conn:
            profile_store.mark_purged(conn, [e["id"] for e in pending], dt.datetime.now(dt.UTC))
    ended = time.monotonic()
    stores.last_purge = (ended, ended - started)
    bound = stores.settings.erase_purge_seconds
    late = (dt.datetime.now(dt.UTC) - min(e["erased_at"] for e in pending)).total_seconds() - bound
    if late > 0 and not force:
        log.warning("purging %d erasures took %.1f s and ended %.1f s after the %.0f s promised; set "
                    "TOUCHLINE_ERASE_PURGE_SECONDS to at least %.0f", len(pending), ended - started, late, bound,
                    2 * (ended - started))
    return len(pending)


def _purge_due(stores: Stores, oldest: dt.datetime, now: dt.datetime) -> bool:
    """Whether to purge now, the oldest pending erasure made at ``oldest``. At once after a quiet spell;
    within half of ``erase_purge_seconds`` after the last purge ended, only if waiting any longer would
    end the purge after the oldest erasure's bound (reckoning with 1.5 times the last purge's time):
    erases that come in a burst share the next purge, and each is purged within the bound while a
    purge takes less than half of it."""
    if stores.last_purge is None:
        return True
    ended, took = stores.last_purge
    bound = stores.settings.erase_purge_seconds
    if time.monotonic() - ended >= bound / 2:
        return True
    return (now - oldest).total_seconds() >= bound - 1.5 * took - stores.settings.pump_interval_seconds
