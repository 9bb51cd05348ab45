"""Versioned schema migrations for both stores (``touchline db upgrade``).

A fresh database gets the current schema in one step and is stamped with the newest version (the
approach Alembic recommends for new databases); an existing one runs, in order, every migration
newer than its stamp. A migration is a function of a connection, so it can branch on the dialect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from touchline.store import dialect
from touchline.store.schema import (
    assistant_turns,
    conversation_messages,
    erasures,
    events_metadata,
    journey_runs,
    journeys,
    outbox,
    state_metadata,
    teams,
    workspaces,
)

if TYPE_CHECKING:
    from touchline.store.engines import Stores


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_missing(metadata: sa.MetaData) -> Callable[[Connection], None]:
    """An additive migration: tables and indexes of the current schema that are not there yet.

    An index on a column that a later migration adds is left to that migration (which runs this again
    once it has added its columns)."""

    def apply(conn: Connection) -> None:
        metadata.create_all(conn)
        # duckdb-engine cannot reflect columns; the event store has added no column so far
        inspector = sa.inspect(conn) if metadata is state_metadata else None
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)} if inspector else None
            for index in table.indexes:
                if present is None or all(c.name in present for c in index.columns):
                    index.create(conn, checkfirst=True)
        if metadata is events_metadata:
            for ddl in dialect.extra_event_store_ddl(conn):
                conn.exec_driver_sql(ddl)

    return apply


def _outbox_claim_token(conn: Connection) -> None:
    """The claim token that fences the outbox's leases."""
    dialect.add_missing_columns(conn, outbox, ["claim_token"])
    _create_missing(state_metadata)(conn)


def _journey_failures(conn: Connection) -> None:
    """Runs that fail are retried and then failed with their reason; journeys that keep failing are paused
    with an alert; signals that cannot be applied are set aside (``journey_signal_failures``)."""
    dialect.add_missing_columns(conn, journeys, ["alert", "alert_at", "failure_count", "failure_window_at"])
    dialect.add_missing_columns(conn, journey_runs, ["errors", "last_error", "failed_at"])
    _create_missing(state_metadata)(conn)


def _erasure_purges(conn: Connection) -> None:
    """Erasures remember the profile ids erased and when their bytes were purged from the store files."""
    dialect.add_missing_columns(conn, erasures, ["profile_ids", "purged_at"])
    _create_missing(state_metadata)(conn)


def _tracking_plan(conn: Connection) -> None:
    """The workspace setting for unreadable values (a column: ALTER TABLE on both dialects), the
    workspace's event types and the violation counts (new tables)."""
    dialect.add_missing_columns(conn, workspaces, ["invalid_values"])
    _create_missing(state_metadata)(conn)


def _assistant_turns(conn: Connection) -> None:
    """Inbound messages say whether the sender's identity was proven on the channel; new tables for
    proactive chat and the assistant's turns."""
    dialect.add_missing_columns(conn, conversation_messages, ["verified"])
    _create_missing(state_metadata)(conn)


def _assistant_flows(conn: Connection) -> None:
    """The assistant's turns say where a return or exchange request stands; teams keep hours; messages
    carry quick replies."""
    dialect.add_missing_columns(conn, assistant_turns, ["flow_step"])
    dialect.add_missing_columns(conn, teams, ["hours"])
    dialect.add_missing_columns(conn, conversation_messages, ["quick_replies"])


def _chat_ratings(conn: Connection) -> None:
    """Messages carry a rating request and its answer; the workspace's inbox settings (a new table)."""
    dialect.add_missing_columns(conn, conversation_messages, ["survey", "rating"])
    _create_missing(state_metadata)(conn)


STATE_MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", _create_missing(state_metadata)),
    Migration(2, "segments and their members; profiles indexed by update time", _create_missing(state_metadata)),
    Migration(3, "journeys, runs, timers, signals; templates, outbox, inbox", _create_missing(state_metadata)),
    Migration(4, "dashboard users and sessions", _create_missing(state_metadata)),
    Migration(5, "outbox indexed by creation time for the message log", _create_missing(state_metadata)),
    Migration(6, "journey runs indexed by version and status", _create_missing(state_metadata)),
    Migration(7, "outbox: the claim token that fences leases", _outbox_claim_token),
    Migration(8, "journey run failures, retries and alerts; signals set aside", _journey_failures),
    Migration(9, "failed dashboard sign-ins per account and client", _create_missing(state_metadata)),
    Migration(10, "erasures: the profile ids erased and when their bytes were purged from the store files",
              _erasure_purges),
    Migration(11, "tracking plan: workspaces.invalid_values, event types, violations", _tracking_plan),
    Migration(12, "conversations: messages, participants, teams and members, agent presence, canned responses, "
                  "the live feed", _create_missing(state_metadata)),
    Migration(13, "the shop assistant's FAQ entries (Korean and English versions of each)",
              _create_missing(state_metadata)),
    Migration(14, "proactive chat (the rule, the offers made), the assistant's turns, inbound messages' "
                  "verified identity", _assistant_turns),
    Migration(15, "loyalty: programs and their versions, accounts, the points ledger with its lots and allocations, "
                  "the rules' inbox, rewards and coupons, referral codes and referrals",
              _create_missing(state_metadata)),
    Migration(16, "feedback: survey answers, product reviews, the workspace's link-signing key",
              _create_missing(state_metadata)),
    Migration(17, "experiments: definitions, customers' sticky arms, bandit weight changes",
              _create_missing(state_metadata)),
    Migration(18, "recommendations: each workspace's trained model and the shop's rules (issue 17)",
              _create_missing(state_metadata)),
    Migration(19, "predictions: each training of the purchase and churn models with its quality, and who "
                  "retrains them", _create_missing(state_metadata)),
    Migration(20, "in-app messages: the messages and their rules, the workspace's frequency rule, messages "
                  "pending for a customer, impressions, clicks and dismissals", _create_missing(state_metadata)),
    Migration(21, "the assistant's return and exchange requests (the step of each turn); teams' hours; "
                  "quick replies",
              _assistant_flows),
    Migration(22, "the shop's catalog: products per workspace, each field with where it came from (an import or "
                  "the shop's events)", _create_missing(state_metadata)),
    Migration(23, "web chat ratings: a message's rating request and the customer's answer; the inbox settings",
              _chat_ratings),
]
EVENT_MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", _create_missing(events_metadata)),
    Migration(2, "profile snapshots mirrored from the state store", _create_missing(events_metadata)),
    Migration(3, "PostgreSQL: events by name and time, snapshots by profile (index-only scans)",
              _create_missing(events_metadata)),
]

_version_metadata = sa.MetaData()
schema_versions = sa.Table(
    "touchline_schema_versions",
    _version_metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Text, nullable=False),
)


def current_version(conn: Connection, store: str) -> int:
    _version_metadata.create_all(conn)
    found = conn.execute(
        sa.select(schema_versions.c.version).where(schema_versions.c.store == store)
    ).scalar_one_or_none()
    return int(found or 0)


def _stamp(conn: Connection, store: str, version: int) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    updated = conn.execute(
        schema_versions.update().where(schema_versions.c.store == store).values(version=version, applied_at=now)
    )
    if not updated.rowcount:
        conn.execute(schema_versions.insert().values(store=store, version=version, applied_at=now))


def _upgrade_one(engine: Engine, store: str, migrations: list[Migration]) -> tuple[int, int]:
    with engine.begin() as conn:
        before = current_version(conn, store)
        latest = migrations[-1].version
        if before == 0:
            migrations[0].apply(conn)
            # A fresh database: the first migration builds today's schema, nothing else to replay.
            _stamp(conn, store, latest)
            return before, latest
        for migration in migrations:
            if migration.version > before:
                migration.apply(conn)
                _stamp(conn, store, migration.version)
        return before, latest


def upgrade(stores: Stores, *, events_busy_ok: bool = False) -> dict[str, tuple[int, int]]:
    """Bring both stores to the newest schema; returns {store: (version before, version after)}.

    With ``events_busy_ok``, an embedded event store held by another process (a running server, which
    migrated it when it started) is left alone, so commands that need only the state store still run.
    """
    result = {"state": _upgrade_one(stores.state, "state", STATE_MIGRATIONS)}
    try:
        result["events"] = _upgrade_one(stores.events, "events", EVENT_MIGRATIONS)
    except sa.exc.OperationalError as exc:
        if not (events_busy_ok and dialect.is_lock_error(exc)):
            raise
    return result
