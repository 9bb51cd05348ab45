"""Every table, as SQLAlchemy Core. Two metadata objects: the state store and the event store."""

from __future__ import annotations

import sqlalchemy as sa

from touchline.store.types import JSONDocument, UTCDateTime, big_id

state_metadata = sa.MetaData()
events_metadata = sa.MetaData()

# --- state store -----------------------------------------------------------------------------------

workspaces = sa.Table(
    "workspaces",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # "write" | "admin"
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)

profiles = sa.Table(
    "profiles",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A profile merged into another keeps its row (and its id keeps resolving) but points onwards.
    sa.Column("merged_into", sa.Text),
    sa.Column("user_id", sa.Text),
    sa.Column("traits", JSONDocument, nullable=False),
    # {trait: {"at": iso time, "source": where it came from}}
    sa.Column("trait_meta", JSONDocument, nullable=False),
    # {channel: {"status": "granted"|"denied", "at": iso time, "source": ...}}
    sa.Column("consents", JSONDocument, nullable=False),
    sa.Column("timezone", sa.Text),
    sa.Column("locale", sa.Text),
    # Activity (events, channels, devices, first and last seen) is read from the events themselves,
    # so that an ordinary event adds a row to the log and rewrites nothing.
    sa.Index("ix_profiles_ws_user", "workspace_id", "user_id"),
    sa.Index("ix_profiles_updated", "updated_at"),  # the event store's profile mirror syncs by it
    sa.Index("ix_profiles_merged_into", "merged_into"),
)

identities = sa.Table(
    "identities",
    state_metadata,
    # Key order (workspace, value, kind): the lookup by value that ingestion does uses the key itself.
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_identities_profile", "profile_id"),
    # SQLite: the row lives in the key's B-tree, one write per identity instead of two.
    sqlite_with_rowid=False,
)

profile_merges = sa.Table(
    "profile_merges",
    state_metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("from_profile_id", sa.Text, nullable=False),
    sa.Column("into_profile_id", sa.Text, nullable=False),
    sa.Column("merged_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Index("ix_profile_merges_into", "into_profile_id"),
)

identity_conflicts = sa.Table(
    "identity_conflicts",
    state_metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("other_profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_identity_conflicts_ws", "workspace_id", "detected_at"),
)

message_ids = sa.Table(
    "message_ids",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)


# Parts of the original message that the event store keeps as columns of their own, for analytics.
# Staging keeps only the payload; the pump derives these from it.
PAYLOAD_PARTS = ("properties", "traits", "context")


def _event_columns(*, with_parts: bool = True) -> list[sa.Column]:  # type: ignore[type-arg]
    columns = [
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("event", sa.Text),  # track: event name; page/screen: name
        sa.Column("profile_id", sa.Text, nullable=False),
        sa.Column("anonymous_id", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sa.Column("original_timestamp", UTCDateTime),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("device_type", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text),
        sa.Column("payload", JSONDocument, nullable=False),  # the original message, untouched
    ]
    if with_parts:
        columns += [sa.Column(part, JSONDocument, nullable=False) for part in PAYLOAD_PARTS]
    return columns


EVENT_COLUMNS = [c.name for c in _event_columns()]
STAGED_COLUMNS = [c.name for c in _event_columns(with_parts=False)]

# Accepted events wait here, written in the same transaction as the profile changes they caused,
# until the pump moves them to the event store. This keeps ingestion atomic across two databases.
event_staging = sa.Table(
    "event_staging",
    state_metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
    *_event_columns(with_parts=False),
    # No secondary index: staging holds seconds' worth of events, and every index costs each insert.
    # AUTOINCREMENT: a drained table must never hand out a sequence number the event store has seen.
    sqlite_autoincrement=True,
)

erasures = sa.Table(
    "erasures",
    state_metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("erased_at", UTCDateTime, nullable=False),
    sa.Column("identities", sa.Integer, nullable=False),
    sa.Column("profiles", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
)

segments = sa.Table(
    "segments",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Live segments are re-evaluated as events arrive and as time passes; others on demand.
    sa.Column("live", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("refreshed_at", UTCDateTime),
    sa.UniqueConstraint("workspace_id", "name", name="uq_segments_ws_name"),
)

segment_members = sa.Table(
    "segment_members",
    state_metadata,
    sa.Column("segment_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Index("ix_segment_members_profile", "workspace_id", "profile_id"),
    sqlite_with_rowid=False,
)

# --- dashboard users and their sign-in sessions (migration 4) ---------------------------------------

dashboard_users = sa.Table(
    "dashboard_users",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-cased; signs in to one workspace
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("role", sa.Text, nullable=False),  # "admin" | "marketer" | "agent"
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, PHC string
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime),
    sa.Column("disabled_at", UTCDateTime),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a copy of the
# database signs nobody in. Deleting a row signs that browser out.
web_sessions = sa.Table(
    "web_sessions",
    state_metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, sa.ForeignKey("dashboard_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_web_sessions_user", "user_id"),
)

# --- event store -----------------------------------------------------------------------------------

events = sa.Table(
    "events",
    events_metadata,
    sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
    *_event_columns(),
)

# A mirror of every profile (merged ones included, pointing at their survivor), kept by the pump, so
# that segments and reports join traits and consents to events inside the event store.
profile_snapshots = sa.Table(
    "profile_snapshots",
    events_metadata,
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    # The profile this one is now part of (itself when not merged): group events by this.
    sa.Column("canonical_id", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text),
    sa.Column("traits", JSONDocument, nullable=False),
    sa.Column("consents", JSONDocument, nullable=False),
    sa.Column("timezone", sa.Text),
    sa.Column("locale", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

sync_state = sa.Table(
    "touchline_sync_state",
    events_metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
