"""All SQL of the journeys domain (state store): definitions, runs, steps, timers, signals, cursors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.profiles import store as profile_store
from touchline.store import dialect
from touchline.store.customer_rows import rows_about
from touchline.store.schema import (
    customer_locations,
    journey_cursors,
    journey_runs,
    journey_signal_failures,
    journey_signals,
    journey_steps,
    journey_timers,
    journey_versions,
    journeys,
    outbox,
)

ACTIVE = ("active", "waiting")


# --- definitions -----------------------------------------------------------------------------------


def journey_row(conn: Connection, workspace_id: str, journey_id: str, *, for_update: bool = False
                ) -> dict[str, Any] | None:
    query = sa.select(journeys).where(journeys.c.workspace_id == workspace_id, journeys.c.id == journey_id)
    if for_update:
        query = dialect.lock_rows(conn, query)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def all_journeys(conn: Connection, workspace_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(journeys).where(journeys.c.workspace_id == workspace_id).order_by(journeys.c.created_at)
    ).mappings()]


def insert_journey(conn: Connection, **values: Any) -> None:
    conn.execute(journeys.insert().values(**values))


def update_journey(conn: Connection, workspace_id: str, journey_id: str, **values: Any) -> None:
    conn.execute(journeys.update().where(journeys.c.workspace_id == workspace_id, journeys.c.id == journey_id)
                 .values(**values))


def pause_with_alert(conn: Connection, workspace_id: str, journey_id: str, alert: dict[str, Any],
                     now: dt.datetime) -> None:
    """Pause a published journey with an alert (``{"kind", "reason", "error", ...}``) that the dashboard and
    the API show until it is resumed."""
    conn.execute(journeys.update().where(journeys.c.workspace_id == workspace_id, journeys.c.id == journey_id,
                                         journeys.c.status == "published")
                 .values(status="paused", alert=alert, alert_at=now, updated_at=now))


def insert_version(conn: Connection, workspace_id: str, journey_id: str, version: int, definition: Any,
                   now: dt.datetime) -> None:
    conn.execute(journey_versions.insert().values(workspace_id=workspace_id, journey_id=journey_id,
                                                  version=version, definition=definition, created_at=now))


def version_definition(conn: Connection, workspace_id: str, journey_id: str, version: int) -> Any:
    return conn.execute(sa.select(journey_versions.c.definition).where(
        journey_versions.c.workspace_id == workspace_id, journey_versions.c.journey_id == journey_id,
        journey_versions.c.version == version)).scalar_one_or_none()


def live_journeys(conn: Connection) -> list[dict[str, Any]]:
    """Published and paused journeys of every workspace with the definition new runs enter."""
    query = (
        sa.select(journeys.c.workspace_id, journeys.c.id, journeys.c.status, journeys.c.published_version,
                  journey_versions.c.definition)
        .join(journey_versions, sa.and_(journey_versions.c.workspace_id == journeys.c.workspace_id,
                                        journey_versions.c.journey_id == journeys.c.id,
                                        journey_versions.c.version == journeys.c.published_version))
        .where(journeys.c.status.in_(("published", "paused")))
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def versions_with_active_runs(conn: Connection) -> list[dict[str, Any]]:
    """(workspace, journey, version, definition) of every version some run is still in."""
    v, r = journey_versions, journey_runs
    # One index probe per version (there are few), not a pass over every run.
    still_in = sa.exists().where(r.c.workspace_id == v.c.workspace_id, r.c.journey_id == v.c.journey_id,
                                 r.c.version == v.c.version, r.c.status.in_(ACTIVE))
    query = sa.select(v.c.workspace_id, v.c.journey_id, v.c.version, v.c.definition).where(still_in)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- runs ------------------------------------------------------------------------------------------


def runs_of_customers(conn: Connection, workspace_id: str, customer_ids: Sequence[str], *, for_update: bool = False
                      ) -> dict[str, list[dict[str, Any]]]:
    """Every run of these customers, by customer, oldest first (one query per 10,000 customers)."""
    out: dict[str, list[dict[str, Any]]] = {cid: [] for cid in customer_ids}
    ids = list(customer_ids)
    for i in range(0, len(ids), 10_000):
        query = sa.select(journey_runs).where(journey_runs.c.workspace_id == workspace_id,
                                              dialect.in_list(conn, journey_runs.c.customer_id, ids[i:i + 10_000]))
        if for_update:
            query = dialect.lock_rows(conn, query)
        for r in dialect.fetch_dicts(conn, query.order_by(journey_runs.c.entered_at)):
            out[r["customer_id"]].append(r)
    return out


def insert_runs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, journey_runs, rows)


def run_row(conn: Connection, run_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = sa.select(journey_runs).where(journey_runs.c.run_id == run_id)
    if for_update:
        query = dialect.lock_rows(conn, query)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def runs_by_id(conn: Connection, run_ids: Sequence[str], *, for_update: bool = False) -> dict[str, dict[str, Any]]:
    """These runs by id (one query per 900; locked in id order on PostgreSQL with ``for_update``, so two
    workers locking overlapping sets take the locks in the same order)."""
    out: dict[str, dict[str, Any]] = {}
    ids = sorted(set(run_ids))
    for i in range(0, len(ids), 900):
        query = sa.select(journey_runs).where(dialect.in_values(conn, journey_runs.c.run_id, ids[i:i + 900]))
        if for_update:
            query = dialect.lock_rows(conn, query.order_by(journey_runs.c.run_id))
        out.update((r["run_id"], r) for r in dialect.fetch_dicts(conn, query))
    return out


def save_run(conn: Connection, run_id: str, **values: Any) -> None:
    conn.execute(journey_runs.update().where(journey_runs.c.run_id == run_id).values(**values))


def runs_page(conn: Connection, workspace_id: str, journey_id: str, *, status: str | None, limit: int,
              offset: int) -> list[dict[str, Any]]:
    query = sa.select(journey_runs).where(journey_runs.c.workspace_id == workspace_id,
                                          journey_runs.c.journey_id == journey_id)
    if status:
        query = query.where(journey_runs.c.status == status)
    query = query.order_by(journey_runs.c.entered_at.desc(), journey_runs.c.run_id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


def active_run_ids(conn: Connection, workspace_id: str, journey_id: str, limit: int) -> list[str]:
    return list(conn.execute(
        sa.select(journey_runs.c.run_id).where(journey_runs.c.workspace_id == workspace_id,
                                               journey_runs.c.journey_id == journey_id,
                                               journey_runs.c.status.in_(ACTIVE)).limit(limit)).scalars())


def run_counts(conn: Connection, workspace_id: str, journey_id: str) -> dict[str, int]:
    rows = conn.execute(
        sa.select(journey_runs.c.status, sa.func.count()).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id)
        .group_by(journey_runs.c.status))
    return {status: int(n) for status, n in rows}


def waiting_by_node(conn: Connection, workspace_id: str, journey_id: str) -> dict[str, int]:
    """How many runs wait at each node now."""
    rows = conn.execute(
        sa.select(journey_runs.c.node_id, sa.func.count()).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id,
            journey_runs.c.status == "waiting").group_by(journey_runs.c.node_id))
    return {node: int(n) for node, n in rows}


def failing_count(conn: Connection, workspace_id: str, journey_id: str) -> int:
    """Runs still going whose last step failed (waiting for a retry)."""
    return int(conn.execute(
        sa.select(sa.func.count()).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id,
            journey_runs.c.status.in_(ACTIVE), journey_runs.c.errors > 0)).scalar_one())


def holdout_count(conn: Connection, workspace_id: str, journey_id: str) -> tuple[int, int]:
    """(runs in the holdout, of them converted)."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.count(journey_runs.c.converted_at)).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id,
            journey_runs.c.holdout)).one()
    return int(row[0]), int(row[1])


def converted_count(conn: Connection, workspace_id: str, journey_id: str) -> tuple[int, int]:
    """(runs not in the holdout, of them converted)."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.count(journey_runs.c.converted_at)).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id,
            sa.not_(journey_runs.c.holdout))).one()
    return int(row[0]), int(row[1])


# --- steps -----------------------------------------------------------------------------------------


def insert_steps(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, journey_steps, rows)


def step_counts(conn: Connection, workspace_id: str, journey_id: str) -> list[dict[str, Any]]:
    """(version, node, outcome, n) of the steps stored, and of the ``exit`` steps, counted from the
    completed runs (the runner stores no row for those: engine.exit_step; rows stored before are left
    out here, so that no exit counts twice). Messages stand for their nodes' ``entered`` steps
    (``outbox_counts``); the caller leaves out such rows stored before (engine.entered_steps)."""
    s, r = journey_steps, journey_runs
    rows = conn.execute(
        sa.select(s.c.version, s.c.node_id, s.c.outcome, sa.func.count().label("n"))
        .where(s.c.workspace_id == workspace_id, s.c.journey_id == journey_id, s.c.outcome != "exit")
        .group_by(s.c.version, s.c.node_id, s.c.outcome)).mappings()
    exits = conn.execute(
        sa.select(r.c.version, r.c.node_id, sa.func.count().label("n"))
        .where(r.c.workspace_id == workspace_id, r.c.journey_id == journey_id, r.c.status == "completed")
        .group_by(r.c.version, r.c.node_id))
    return [dict(r) for r in rows] + [{"version": v, "node_id": node, "outcome": "exit", "n": n}
                                      for v, node, n in exits]


def steps_of_run(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's stored steps, in order, without ``exit`` (see ``step_counts``)."""
    return [dict(r) for r in conn.execute(
        sa.select(journey_steps).where(journey_steps.c.run_id == run_id, journey_steps.c.outcome != "exit")
        .order_by(journey_steps.c.at, journey_steps.c.id)).mappings()]


def messages_of_run(conn: Connection, workspace_id: str, customer_id: str, run_id: str
                    ) -> list[tuple[str, str, dt.datetime]]:
    """(message id, node, created at) of the run's messages (through the outbox's customer index)."""
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.node_id, outbox.c.created_at).where(
        outbox.c.workspace_id == workspace_id, outbox.c.customer_id == customer_id, outbox.c.run_id == run_id))
    return [(i, node, at) for i, node, at in rows]


def outbox_counts(conn: Connection, workspace_id: str, journey_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(outbox.c.node_id, outbox.c.status, outbox.c.reason, sa.func.count().label("n"))
        .where(outbox.c.workspace_id == workspace_id, outbox.c.journey_id == journey_id)
        .group_by(outbox.c.node_id, outbox.c.status, outbox.c.reason)).mappings()
    return [dict(r) for r in rows]


# --- timers ----------------------------------------------------------------------------------------


def insert_timers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, journey_timers, rows)


def delete_timers(conn: Connection, ids: Sequence[str]) -> None:
    if ids:
        conn.execute(journey_timers.delete().where(journey_timers.c.id.in_(list(ids))))


def timer_row(conn: Connection, timer_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(journey_timers).where(journey_timers.c.id == timer_id)).mappings().first()
    return dict(row) if row else None


def any_due_timer(conn: Connection, now: dt.datetime) -> bool:
    """Whether a timer is due (paused journeys included): a read, so an idle runner never takes the
    write lock."""
    query = sa.select(journey_timers.c.run_id).where(journey_timers.c.due_at <= now).limit(1)
    return conn.execute(query).first() is not None


def any_signal(conn: Connection) -> bool:
    return conn.execute(sa.select(journey_signals.c.seq).limit(1)).first() is not None


def claim_due_timers(conn: Connection, now: dt.datetime, limit: int, *, skip: Collection[str] = ()
                     ) -> list[dict[str, Any]]:
    """Due timers of runs whose journey is not paused, oldest first, but those in ``skip``; on PostgreSQL
    rows another worker holds are skipped."""
    query = (
        sa.select(journey_timers)
        .join(journey_runs, journey_runs.c.run_id == journey_timers.c.run_id)
        .join(journeys, sa.and_(journeys.c.workspace_id == journey_runs.c.workspace_id,
                                journeys.c.id == journey_runs.c.journey_id))
        .where(journey_timers.c.due_at <= now, journeys.c.status != "paused")
        .order_by(journey_timers.c.due_at).limit(limit)
    )
    if skip:
        query = query.where(journey_timers.c.id.not_in(sorted(skip)))
    query = dialect.lock_for_claim(conn, query, of=journey_timers)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- signals ---------------------------------------------------------------------------------------


def insert_signals(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        dialect.bulk_insert(conn, journey_signals, rows)


def claim_signals(conn: Connection, limit: int, *, skip: Collection[int] = ()) -> list[dict[str, Any]]:
    """The oldest queued signals but those in ``skip``. On PostgreSQL a worker takes only customers no
    other worker is handling (a transaction-scoped advisory lock per customer), so one customer's
    signals are applied in order even with several workers."""
    query = sa.select(journey_signals).order_by(journey_signals.c.seq).limit(limit)
    if skip:
        query = query.where(journey_signals.c.seq.not_in(sorted(skip)))
    free = dialect.try_lock_key(conn, profile_store.CUSTOMER_LOCK + journey_signals.c.profile_id)
    if free is not None:
        query = query.where(free)
    return dialect.fetch_dicts(conn, dialect.lock_for_claim(conn, query))


def delete_signals(conn: Connection, seqs: Sequence[int]) -> None:
    if seqs:
        conn.execute(journey_signals.delete().where(dialect.in_list(conn, journey_signals.c.seq, seqs)))


def set_signal_aside(conn: Connection, seq: int, error: str, now: dt.datetime) -> None:
    """Move a signal out of the queue into ``journey_signal_failures``, with why."""
    columns = ["seq", "workspace_id", "profile_id", "message_id", "event", "properties", "timestamp"]
    source = sa.select(*(journey_signals.c[c] for c in columns), sa.literal(error, sa.Text),
                       sa.literal(now, journey_signal_failures.c.failed_at.type)).where(journey_signals.c.seq == seq)
    conn.execute(journey_signal_failures.insert().from_select([*columns, "error", "failed_at"], source))
    delete_signals(conn, [seq])


def signal_failures(conn: Connection, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Signals set aside, newest first."""
    return [dict(r) for r in conn.execute(
        sa.select(journey_signal_failures).where(journey_signal_failures.c.workspace_id == workspace_id)
        .order_by(journey_signal_failures.c.failed_at.desc()).limit(limit)).mappings()]


# --- cursors and locations -------------------------------------------------------------------------


def cursor(conn: Connection, workspace_id: str, journey_id: str) -> dt.datetime | None:
    return conn.execute(sa.select(journey_cursors.c.scanned_until).where(
        journey_cursors.c.workspace_id == workspace_id, journey_cursors.c.journey_id == journey_id)
    ).scalar_one_or_none()


def set_cursor(conn: Connection, workspace_id: str, journey_id: str, until: dt.datetime) -> None:
    updated = conn.execute(journey_cursors.update().where(
        journey_cursors.c.workspace_id == workspace_id, journey_cursors.c.journey_id == journey_id)
        .values(scanned_until=until))
    if not updated.rowcount:
        conn.execute(journey_cursors.insert().values(workspace_id=workspace_id, journey_id=journey_id,
                                                     scanned_until=until))


def last_location(conn: Connection, workspace_id: str, profile_id: str) -> dict[str, Any] | None:
    return conn.execute(sa.select(customer_locations.c.properties).where(
        customer_locations.c.workspace_id == workspace_id, customer_locations.c.profile_id == profile_id)
    ).scalar_one_or_none()


def set_location(conn: Connection, workspace_id: str, profile_id: str, properties: dict[str, Any],
                 at: dt.datetime) -> None:
    updated = conn.execute(customer_locations.update().where(
        customer_locations.c.workspace_id == workspace_id, customer_locations.c.profile_id == profile_id,
        customer_locations.c.at <= at).values(properties=properties, at=at))
    if not updated.rowcount:
        conn.execute(dialect.insert_ignoring_conflicts(conn, customer_locations).values(
            workspace_id=workspace_id, profile_id=profile_id, properties=properties, at=at))


# What ``erase_customer`` deletes from (PostgreSQL vacuums them after an erase).
ERASED_TABLES = (journey_timers, journey_steps, journey_runs, journey_signals, customer_locations)


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> None:
    """The customer's runs (their state holds the trigger event), steps, timers, queued signals (event
    properties) and last location."""
    ids = list(profile_ids)
    if not ids:
        return
    run_ids = sa.select(journey_runs.c.run_id).where(journey_runs.c.workspace_id == workspace_id,
                                                     journey_runs.c.customer_id.in_(ids))
    conn.execute(journey_timers.delete().where(journey_timers.c.run_id.in_(run_ids)))
    conn.execute(journey_steps.delete().where(journey_steps.c.run_id.in_(run_ids)))
    conn.execute(journey_runs.delete().where(journey_runs.c.workspace_id == workspace_id,
                                             journey_runs.c.customer_id.in_(ids)))
    conn.execute(journey_signals.delete().where(journey_signals.c.workspace_id == workspace_id,
                                                journey_signals.c.profile_id.in_(ids)))
    conn.execute(journey_signal_failures.delete().where(journey_signal_failures.c.workspace_id == workspace_id,
                                                        journey_signal_failures.c.profile_id.in_(ids)))
    conn.execute(customer_locations.delete().where(customer_locations.c.workspace_id == workspace_id,
                                                   customer_locations.c.profile_id.in_(ids)))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    """What ``erase_customer`` deletes, as it is: runs with their steps and timers, queued and set-aside
    signals, the last location."""
    runs = rows_about(conn, journey_runs, "customer_id", workspace_id, profile_ids, order_by=["entered_at", "run_id"])
    run_ids = [r["run_id"] for r in runs]
    return {
        "runs": runs,
        "steps": rows_about(conn, journey_steps, "run_id", workspace_id, run_ids, order_by=["at", "id"]),
        "timers": rows_about(conn, journey_timers, "run_id", workspace_id, run_ids, order_by=["due_at", "id"]),
        "queued_events": rows_about(conn, journey_signals, "profile_id", workspace_id, profile_ids, order_by=["seq"]),
        "events_set_aside": rows_about(conn, journey_signal_failures, "profile_id", workspace_id, profile_ids,
                                       order_by=["seq"]),
        "last_location": rows_about(conn, customer_locations, "profile_id", workspace_id, profile_ids),
    }


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every run of these profiles (one customer and the profiles merged into it), newest first, with the
    journey's name, for the one-customer view; datetimes kept as datetimes."""
    names = {r["id"]: r["name"] for r in all_journeys(conn, workspace_id)}
    runs = [{**{k: v for k, v in r.items() if k not in ("state", "workspace_id")},
             "journey_name": names.get(r["journey_id"], r["journey_id"])}
            for rows in runs_of_customers(conn, workspace_id, list(profile_ids)).values() for r in rows]
    return sorted(runs, key=lambda r: r["entered_at"], reverse=True)


# --- read-only views for the dashboard ---------------------------------------------------------------


def runs_by_node(conn: Connection, workspace_id: str, journey_id: str) -> list[dict[str, Any]]:
    """How many runs are at (or ended at) each node, by status."""
    rows = conn.execute(
        sa.select(journey_runs.c.node_id, journey_runs.c.status, sa.func.count().label("n")).where(
            journey_runs.c.workspace_id == workspace_id, journey_runs.c.journey_id == journey_id)
        .group_by(journey_runs.c.node_id, journey_runs.c.status)).mappings()
    return [dict(r) for r in rows]
