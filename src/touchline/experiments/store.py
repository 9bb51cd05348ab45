"""Every query of the experiments domain: definitions, sticky assignments and bandit weights in the state
store; the readout (exposures and what the exposed customers did after) in the event store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.segments.ast import PropertyFilter
from touchline.segments.compile import property_conditions
from touchline.store import dialect
from touchline.store.dialect import json_amount, json_path_text, json_value
from touchline.store.schema import (
    event_staging,
    event_types,
    events,
    experiment_assignments,
    experiment_weights,
    experiments,
    profile_snapshots,
)

ERASED_TABLES = (experiment_assignments,)
Select = sa.Select[*tuple[Any, ...]]  # a select of any number of columns

__all__ = [
    "ERASED_TABLES", "arm_outcomes", "assignment_of", "erase_customer", "event_names", "experiment_row",
    "experiment_rows",
    "export_customer", "insert_assignments", "insert_experiment", "insert_weights", "latest_weights",
    "update_experiment", "weights_history",
]


# --- definitions -----------------------------------------------------------------------------------


def experiment_row(conn: Connection, workspace_id: str, experiment_id: str, *, for_update: bool = False
                   ) -> dict[str, Any] | None:
    query = sa.select(experiments).where(experiments.c.workspace_id == workspace_id, experiments.c.id == experiment_id)
    if for_update:
        query = dialect.lock_rows(conn, query)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def experiment_rows(conn: Connection, workspace_id: str, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    query = sa.select(experiments).where(experiments.c.workspace_id == workspace_id)
    if ids is not None:
        if not ids:
            return []
        query = query.where(experiments.c.id.in_(list(ids)))
    return [dict(r) for r in conn.execute(query.order_by(experiments.c.created_at, experiments.c.id)).mappings()]


def insert_experiment(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(experiments.insert().values(**row))


def update_experiment(conn: Connection, workspace_id: str, experiment_id: str, **values: Any) -> None:
    conn.execute(experiments.update().where(experiments.c.workspace_id == workspace_id,
                                            experiments.c.id == experiment_id).values(**values))


# --- assignments -----------------------------------------------------------------------------------


def assignment_of(conn: Connection, workspace_id: str, experiment_id: str, customer_ids: Sequence[str]
                  ) -> str | None:
    """The arm of the customer (any of their profile ids: merged profiles keep their first arm)."""
    if not customer_ids:
        return None
    row = conn.execute(
        sa.select(experiment_assignments.c.arm).where(
            experiment_assignments.c.workspace_id == workspace_id,
            experiment_assignments.c.experiment_id == experiment_id,
            experiment_assignments.c.customer_id.in_(list(customer_ids)))
        .order_by(experiment_assignments.c.assigned_at).limit(1)).first()
    return str(row[0]) if row else None


def assignments_of_customers(conn: Connection, workspace_id: str, experiment_ids: Sequence[str],
                             customer_ids: Sequence[str]) -> dict[tuple[str, str], str]:
    """(experiment, customer) -> arm, for many at once (the journey runner's batch)."""
    if not experiment_ids or not customer_ids:
        return {}
    rows = conn.execute(sa.select(experiment_assignments.c.experiment_id, experiment_assignments.c.customer_id,
                                  experiment_assignments.c.arm).where(
        experiment_assignments.c.workspace_id == workspace_id,
        experiment_assignments.c.experiment_id.in_(list(experiment_ids)),
        experiment_assignments.c.customer_id.in_(list(customer_ids))))
    return {(str(e), str(c)): str(a) for e, c, a in rows}


def insert_assignments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """First assignment wins (on conflict nothing): a retry or a second path never changes a customer's arm."""
    if rows:
        dialect.bulk_insert_ignoring_conflicts(conn, experiment_assignments, list(rows))


def assignment_counts(conn: Connection, workspace_id: str, experiment_id: str) -> dict[str, int]:
    rows = conn.execute(sa.select(experiment_assignments.c.arm, sa.func.count()).where(
        experiment_assignments.c.workspace_id == workspace_id,
        experiment_assignments.c.experiment_id == experiment_id).group_by(experiment_assignments.c.arm))
    return {str(a): int(n) for a, n in rows}


def erase_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
    conn.execute(experiment_assignments.delete().where(experiment_assignments.c.workspace_id == workspace_id,
                                                       experiment_assignments.c.customer_id.in_(list(profile_ids))))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> list[dict[str, Any]]:
    query = sa.select(experiment_assignments.c.experiment_id, experiment_assignments.c.arm,
                      experiment_assignments.c.source, experiment_assignments.c.assigned_at).where(
        experiment_assignments.c.workspace_id == workspace_id,
        experiment_assignments.c.customer_id.in_(list(profile_ids))).order_by(experiment_assignments.c.assigned_at)
    return [{**dict(r), "assigned_at": r["assigned_at"].isoformat()} for r in conn.execute(query).mappings()]


# --- bandit weights --------------------------------------------------------------------------------


def latest_weights(conn: Connection, workspace_id: str, experiment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """experiment -> its latest weights row (seq, at, weights, data, reason)."""
    if not experiment_ids:
        return {}
    w = experiment_weights
    latest = (sa.select(w.c.experiment_id, sa.func.max(w.c.seq).label("seq"))
              .where(w.c.workspace_id == workspace_id, w.c.experiment_id.in_(list(experiment_ids)))
              .group_by(w.c.experiment_id).subquery())
    rows = conn.execute(sa.select(w).join(latest, sa.and_(w.c.experiment_id == latest.c.experiment_id,
                                                          w.c.seq == latest.c.seq))
                        .where(w.c.workspace_id == workspace_id)).mappings()
    return {str(r["experiment_id"]): dict(r) for r in rows}


def insert_weights(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(experiment_weights.insert().values(**row))


def weights_history(conn: Connection, workspace_id: str, experiment_id: str, limit: int = 500
                    ) -> list[dict[str, Any]]:
    w = experiment_weights
    rows = conn.execute(sa.select(w).where(w.c.workspace_id == workspace_id, w.c.experiment_id == experiment_id)
                        .order_by(w.c.seq.desc()).limit(limit)).mappings()
    return [dict(r) for r in reversed(list(rows))]


# --- events the workspace knows --------------------------------------------------------------------


def declared_events(conn: Connection, workspace_id: str) -> set[str]:
    """Events the tracking plan declares, and those waiting in the log's staging table."""
    declared = {str(r[0]) for r in conn.execute(sa.select(event_types.c.event).where(
        event_types.c.workspace_id == workspace_id))}
    staged = {str(r[0]) for r in conn.execute(sa.select(event_staging.c.event).distinct().where(
        event_staging.c.workspace_id == workspace_id, event_staging.c.event.is_not(None)))}
    return declared | staged


def event_names(workspace_id: str) -> sa.Select[Any]:
    """Every event name the event store holds for the workspace (event store)."""
    return sa.select(events.c.event).distinct().where(events.c.workspace_id == workspace_id,
                                                      events.c.event.is_not(None))


# --- when customers engage (event store) ------------------------------------------------------------


def engagement_times(workspace_id: str, profile_ids: Sequence[str], names: Sequence[str], since: Any,
                     limit: int = 1000) -> sa.Select[Any]:
    """When the customer engaged (``names``, page and screen calls) since ``since``, newest first."""
    return (sa.select(events.c.timestamp)
            .where(events.c.workspace_id == workspace_id, dialect.any_of(events.c.profile_id, list(profile_ids)),
                   sa.or_(dialect.any_of(events.c.event, list(names)), events.c.type.in_(("page", "screen"))),
                   events.c.timestamp >= since)
            .order_by(events.c.timestamp.desc()).limit(limit))


def engagement_by_utc_hour(workspace_id: str, names: Sequence[str], since: Any) -> Select:
    """The workspace's engagements per hour of the day in UTC (the audience's best hour)."""
    epoch = sa.cast(sa.extract("epoch", events.c.timestamp), sa.Double)
    hour = sa.cast(sa.func.floor(epoch / 3600), sa.BigInteger) % 24
    query: Select = (sa.select(hour.label("hour"), sa.func.count().label("n"))
            .where(events.c.workspace_id == workspace_id,
                   sa.or_(dialect.any_of(events.c.event, list(names)), events.c.type.in_(("page", "screen"))),
                   events.c.timestamp >= since)
            .group_by(hour))
    return query


# --- the readout (event store) ---------------------------------------------------------------------


def arm_outcomes(workspace_id: str, experiment_id: str, exposure_event: str, outcome_event: str,
                 window_seconds: float, where: Sequence[PropertyFilter] = (), now: dt.datetime | None = None
                 ) -> sa.Select[Any]:
    """Per arm (``variation_id`` of the exposure events of ``experiment_id``): ``exposures`` (customers, at
    their first exposure), ``converted`` (of those, the customers with ``outcome_event`` after it within
    ``window_seconds``), and ``value_sum`` / ``value_sq`` (each customer's revenue of those events, summed
    and squared: revenue per recipient and its variance). Exposures are system events that carry only a
    profile id, so both sides are counted for the canonical customer. ``where``: the outcome events' property
    filters, as segments read them (``now``: what "within the last days" of a property counts from)."""
    snap = profile_snapshots
    merged = (sa.select(snap.c.profile_id, snap.c.canonical_id)
              .where(snap.c.workspace_id == workspace_id, snap.c.canonical_id != snap.c.profile_id)
              .subquery("merged"))
    customer = sa.func.coalesce(merged.c.canonical_id, events.c.profile_id)
    joined = events.outerjoin(merged, merged.c.profile_id == events.c.profile_id)
    exposed_rows = (
        sa.select(customer.label("customer"), json_path_text(events.c.properties, "variation_id").label("arm"),
                  events.c.timestamp.label("at"))
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, events.c.event == exposure_event,
               json_path_text(events.c.properties, "experiment_id") == experiment_id)
        .cte("exposed_rows")
    )
    first = (sa.select(exposed_rows.c.customer, sa.func.min(exposed_rows.c.at).label("at"))
             .group_by(exposed_rows.c.customer).cte("first_exposure"))
    exposed = (
        sa.select(first.c.customer, sa.func.min(exposed_rows.c.arm).label("arm"), first.c.at)
        .select_from(first.join(exposed_rows, sa.and_(exposed_rows.c.customer == first.c.customer,
                                                        exposed_rows.c.at == first.c.at)))
        .group_by(first.c.customer, first.c.at).cte("exposed")
    )
    amount = sa.func.coalesce(json_amount(json_value(events.c.properties, "revenue")),
                              json_amount(json_value(events.c.properties, "total")))
    outcomes = (
        sa.select(customer.label("customer"), events.c.timestamp.label("ts"), amount.label("amount"))
        .select_from(joined)
        .where(events.c.workspace_id == workspace_id, events.c.event == outcome_event,
               *property_conditions(events.c.properties, where, now or dt.datetime.now(dt.UTC)))
        .cte("outcomes")
    )
    epoch = sa.cast(sa.extract("epoch", outcomes.c.ts), sa.Double) - sa.cast(sa.extract("epoch", exposed.c.at),
                                                                             sa.Double)
    per_customer = (
        sa.select(exposed.c.customer, sa.func.sum(sa.func.coalesce(outcomes.c.amount, 0)).label("value"))
        .select_from(exposed.join(outcomes, outcomes.c.customer == exposed.c.customer))
        .where(outcomes.c.ts >= exposed.c.at, epoch <= window_seconds)
        .group_by(exposed.c.customer)
        .cte("per_customer")
    )
    value = sa.cast(sa.func.coalesce(per_customer.c.value, 0), sa.Double)
    return (
        sa.select(exposed.c.arm, sa.func.count().label("exposures"),
                  sa.func.count(per_customer.c.customer).label("converted"),
                  sa.func.sum(value).label("value_sum"), sa.func.sum(value * value).label("value_sq"))
        .select_from(exposed.outerjoin(per_customer, per_customer.c.customer == exposed.c.customer))
        .group_by(exposed.c.arm)
    )
