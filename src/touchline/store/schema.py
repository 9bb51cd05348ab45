"""Every table, as SQLAlchemy Core. Two metadata objects: the state store and the event store."""

from __future__ import annotations

from typing import Any

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
    # What ingestion does with a message whose typed property cannot be read (migration 11): "flag" it
    # (stored as sent, with a data-quality flag: what was accepted before stays accepted) or "reject" it
    # (reported by index, field and reason).
    sa.Column("invalid_values", sa.Text, nullable=False, server_default="flag"),
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


def _event_columns(*, with_parts: bool = True) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
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
    # Every profile id erased (the customer's merged profiles too), for the purge's second sweep; then
    # when the purge (file rewrite, log truncation, vacuum) was done: NULL while it is pending.
    sa.Column("profile_ids", JSONDocument),
    sa.Column("purged_at", UTCDateTime),
    sa.Index("ix_erasures_pending", "purged_at"),
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

# --- the tracking plan and data quality (migration 11) -------------------------------------------------

# A workspace's own event types: {property: {"type": ..., "required": bool}} per event name, laid over the
# built-in e-commerce plan (touchline.ingest.plan).
event_types = sa.Table(
    "event_types",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("event", sa.Text, primary_key=True),
    sa.Column("properties", JSONDocument, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Problems found at the edge, counted by event, field ("properties.products[].price") and reason: one row
# each, however many messages had it, so the table stays small. The latest value is kept masked (its
# shape: "99,999원"), and no message id: this table outlives an erasure, so it holds nothing of a customer.
tracking_violations = sa.Table(
    "tracking_violations",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("event", sa.Text, primary_key=True),
    sa.Column("field", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, primary_key=True),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("flagged", sa.BigInteger, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("example", sa.Text, nullable=False),
    sa.Index("ix_tracking_violations_recent", "workspace_id", "last_seen_at"),
)

# --- journeys and messaging ------------------------------------------------------------------------

# A message template per (key, channel): a journey's send step names the key, and the channel chosen at
# send time (the customer's preferred one, or the next in the fallback order) picks the variant.
message_templates = sa.Table(
    "message_templates",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JSONDocument, nullable=False),  # {"variants": {...}, "default_locale": "ko"}
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

journeys = sa.Table(
    "journeys",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # draft -> published <-> paused -> archived
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("published_version", sa.Integer),  # the version new runs enter
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Why the runner paused the journey ({"kind", "reason", "error", ...}), and when (null: no alert);
    # resuming clears it. Runs that started to fail since failure_window_at: a window of
    # settings.journey_pause_window_minutes (state migration 8).
    sa.Column("alert", JSONDocument),
    sa.Column("alert_at", UTCDateTime),
    sa.Column("failure_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failure_window_at", UTCDateTime),
)

# Every saved version stays: a customer finishes the version they entered.
journey_versions = sa.Table(
    "journey_versions",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("journey_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

journey_runs = sa.Table(
    "journey_runs",
    state_metadata,
    sa.Column("run_id", sa.Text, primary_key=True),  # deterministic: run_id_for(journey, customer, entry)
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("journey_id", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("node_id", sa.Text),
    sa.Column("state", JSONDocument, nullable=False),  # the engine's RunState
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("exit_reason", sa.Text),
    sa.Column("converted_at", UTCDateTime),
    sa.Column("holdout", sa.Boolean, nullable=False, server_default=sa.false()),
    # Failed steps in a row (0 once a retry succeeds), the last one's reason and time (state migration 8).
    # A failing run keeps its status and waits for a retry timer; after settings.journey_retry_attempts
    # it ends as "failed".
    sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("failed_at", UTCDateTime),
    sa.Index("ix_journey_runs_customer", "workspace_id", "customer_id", "journey_id"),
    sa.Index("ix_journey_runs_journey", "workspace_id", "journey_id", "status"),
    # "Is any run still in this version?" for each version, without reading the runs (signal capture
    # asks every second; reading every run ever made cost 9 ms at 100k runs).
    sa.Index("ix_journey_runs_version", "workspace_id", "journey_id", "version", "status"),
)

# One row per step a run took (the engine's RecordStep, under its deterministic id).
journey_steps = sa.Table(
    "journey_steps",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("journey_id", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("node_id", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_journey_steps_journey", "workspace_id", "journey_id", "node_id"),
    sa.Index("ix_journey_steps_run", "run_id"),
)

journey_timers = sa.Table(
    "journey_timers",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("node_id", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Index("ix_journey_timers_due", "due_at"),
    sa.Index("ix_journey_timers_run", "run_id"),
)

# Events journeys listen to, captured in the ingestion transaction (so none is lost between the API
# and the runner) and consumed in order by the runner.
journey_signals = sa.Table(
    "journey_signals",
    state_metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("properties", JSONDocument, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# Signals the runner could not apply even alone (a database error while writing what they did), moved
# out of the queue so that they hold up nothing else; kept with the error for an operator.
journey_signal_failures = sa.Table(
    "journey_signal_failures",
    state_metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=False),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("properties", JSONDocument, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", UTCDateTime, nullable=False),
)

# Per journey, where a periodic scan got to (date-trait triggers).
journey_cursors = sa.Table(
    "journey_cursors",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("journey_id", sa.Text, primary_key=True),
    sa.Column("scanned_until", UTCDateTime, nullable=False),
)

# The last location seen per customer, so a geofence triggers on entering a circle, not on every fix
# inside it.
customer_locations = sa.Table(
    "customer_locations",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.Text, primary_key=True),
    sa.Column("properties", JSONDocument, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# The outbox: one row per message, keyed by the engine's deterministic send id (run, step, attempt),
# which is also the idempotency key handed to providers.
outbox = sa.Table(
    "outbox",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("journey_id", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Column("node_id", sa.Text),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # advertising | transactional
    sa.Column("requested_channel", sa.Text, nullable=False),  # a channel, "preferred" or "best"
    sa.Column("channel", sa.Text),  # chosen at send time
    sa.Column("to_address", sa.Text),
    # pending -> sending -> sent | failed | suppressed; pending again on a retryable failure or deferral
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime),  # a claimed row whose worker died is claimable again after this
    # The claim that holds the lease (a random token per dispatch): a worker renews a lease, and records
    # an outcome, only where the token is still its own, so it never sends a row another worker took over.
    sa.Column("claim_token", sa.Text),
    sa.Column("context", JSONDocument, nullable=False),  # the trigger event etc., for rendering
    sa.Column("content", JSONDocument),  # what was rendered, kept for the log and for retries
    sa.Column("provider_id", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("opened_at", UTCDateTime),
    sa.Column("clicked_at", UTCDateTime),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_customer", "workspace_id", "customer_id", "sent_at"),
    sa.Index("ix_outbox_journey", "workspace_id", "journey_id", "status"),
    # The message log (dashboard, /v1/messages) pages newest first within a period.
    sa.Index("ix_outbox_log", "workspace_id", "created_at"),
)

# The in-app / web inbox: what the in_app channel delivers, read by apps and the web snippet.
inbox_messages = sa.Table(
    "inbox_messages",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),  # the outbox id
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("locale", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("read_at", UTCDateTime),
    sa.Index("ix_inbox_profile", "workspace_id", "profile_id", "created_at"),
)

# --- conversations: the inbox across channels (migration 12) -----------------------------------------

# One thread with one customer, whatever the channels its messages came by. ``status``: open | pending
# (waiting on the customer) | snoozed (until ``snoozed_until``) | resolved (touchline.conversations.rules).
# ``channel`` is the channel of the customer's last message (where a reply goes by default); ``version``
# counts the conversation's changes (events of a change are keyed by it).
conversations = sa.Table(
    "conversations",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("assignee_id", sa.Text),  # a dashboard user of the workspace
    sa.Column("team_id", sa.Text),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("language", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("tags", JSONDocument, nullable=False),  # sorted list of strings
    sa.Column("snoozed_until", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_message_at", UTCDateTime, nullable=False),
    sa.Column("last_inbound_at", UTCDateTime),
    sa.Column("first_response_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_conversations_profile", "workspace_id", "profile_id", "status"),
    sa.Index("ix_conversations_queue", "workspace_id", "status", "last_message_at"),
    sa.Index("ix_conversations_assignee", "workspace_id", "assignee_id", "status"),
    sa.Index("ix_conversations_team", "workspace_id", "team_id", "status"),
    sa.Index("ix_conversations_created", "workspace_id", "created_at"),
    sa.Index("ix_conversations_snoozed", "status", "snoozed_until"),
)

# Every message of a conversation: the customer's (inbound), the agents' and the bot's replies
# (outbound, sent through the outbox under ``outbox_id``), and private notes (direction "note", never
# sent). A provider that delivers a webhook twice stores one message: (workspace, channel,
# provider_message_id) is unique. E-mail keeps its threading headers.
conversation_messages = sa.Table(
    "conversation_messages",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),  # the conversation's customer (erase, export)
    sa.Column("direction", sa.Text, nullable=False),  # inbound | outbound | note
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("author_kind", sa.Text, nullable=False),  # customer | agent | bot | system
    sa.Column("author_id", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("attachments", JSONDocument, nullable=False),  # [{url, content_type, name, size}]
    sa.Column("address", sa.Text),  # the customer's address on the channel: sender (inbound), recipient
    # received (inbound) | queued -> sent -> delivered -> read | failed; NULL for a note
    sa.Column("delivery_status", sa.Text),
    sa.Column("delivery_reason", sa.Text),
    sa.Column("outbox_id", sa.Text),
    sa.Column("provider_message_id", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("email_message_id", sa.Text),
    sa.Column("in_reply_to", sa.Text),
    sa.Column("email_references", JSONDocument),  # the References header, a list of Message-IDs
    sa.Column("sent_at", UTCDateTime),  # when the customer sent it, as the provider says
    sa.Column("verified", sa.Boolean),  # the sender's identity proven on the channel (inbound; migration 14)
    # answers the customer can tap (web chat buttons, KakaoTalk quickReplies): ["상담원 연결", ...] (migration 21)
    sa.Column("quick_replies", JSONDocument),
    # A rating request (the web chat's "how did we do?" after an agent resolved the chat): {"kind": "csat"};
    # the customer's answer to it: {"score": 1-5, "comment": str | None, "answered_at": ISO} (migration 23)
    sa.Column("survey", JSONDocument),
    sa.Column("rating", JSONDocument),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "channel", "provider_message_id", name="uq_conversation_messages_provider"),
    sa.Index("ix_conversation_messages_conversation", "conversation_id", "created_at"),
    sa.Index("ix_conversation_messages_profile", "workspace_id", "profile_id"),
    sa.Index("ix_conversation_messages_email", "workspace_id", "email_message_id"),
    sa.Index("ix_conversation_messages_outbox", "outbox_id"),
)

# Who takes part: the customer, the agents who were assigned or wrote, later the bot.
conversation_participants = sa.Table(
    "conversation_participants",
    state_metadata,
    sa.Column("conversation_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),  # customer | agent | bot
    sa.Column("participant_id", sa.Text, primary_key=True),  # profile id, user id, bot name
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),  # the conversation's customer (erase)
    sa.Column("joined_at", UTCDateTime, nullable=False),
    sa.Index("ix_conversation_participants_profile", "workspace_id", "profile_id"),
)

teams = sa.Table(
    "teams",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # New conversations (of ``channels``; empty: every channel) go to the team's round-robin.
    sa.Column("auto_assign", sa.Boolean, nullable=False),
    sa.Column("language_routing", sa.Boolean, nullable=False),  # only to members who speak its language
    sa.Column("channels", JSONDocument, nullable=False),
    # {"days": [0..6], "opens": "09:00", "closes": "18:00", "timezone"}; NULL: always there (migration 21)
    sa.Column("hours", JSONDocument),
    sa.Column("last_assigned_user_id", sa.Text),  # where the round-robin continues
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name", name="uq_teams_ws_name"),
)

team_members = sa.Table(
    "team_members",
    state_metadata,
    sa.Column("team_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),  # open conversations at most, for auto-assignment
    sa.Column("languages", JSONDocument, nullable=False),  # ["ko", "en"]
    sa.Column("joined_at", UTCDateTime, nullable=False),
)

# An agent is online until the last heartbeat's ``online_until``.
agent_presence = sa.Table(
    "agent_presence",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("online_until", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

canned_responses = sa.Table(
    "canned_responses",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("shortcut", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # sandboxed Jinja2: {{ customer.name }}, {{ agent.name }}
    sa.Column("language", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "shortcut", name="uq_canned_responses_ws_shortcut"),
)

# The shop assistant's FAQ (migration 13): one row per entry, its Korean and English versions side by side
# (example questions and the answer; a version with no answer is absent), so the two stay one entry.
# ``key`` is the entry's stable name in the workspace (``shipping_fee``; the seed's ids). Shop data, not
# customer data: nothing here is exported or erased with a customer.
faq_entries = sa.Table(
    "faq_entries",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),  # shipping, returns, exchanges, payment, sizes, ...
    sa.Column("ko_questions", JSONDocument, nullable=False),  # ["배송비 얼마예요?", ...]
    sa.Column("ko_answer", sa.Text),
    sa.Column("en_questions", JSONDocument, nullable=False),
    sa.Column("en_answer", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False),  # a disabled entry is kept but not answered from
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "key", name="uq_faq_entries_ws_key"),
    sa.Index("ix_faq_entries_ws_topic", "workspace_id", "topic"),
)

# Proactive chat (migration 14): the workspace's rule (off until the shop switches it on) and every offer
# made to a hesitating shopper, in the treatment or the holdout group, for the frequency cap and the lift.
chat_proactive_rules = sa.Table(
    "chat_proactive_rules",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("signals", JSONDocument, nullable=False),  # ["checkout_idle", "exit_intent", ...]
    sa.Column("idle_seconds", sa.Integer, nullable=False),
    sa.Column("cap_hours", sa.Integer, nullable=False),  # at most one offer per customer in this time
    sa.Column("holdout_percent", sa.Integer, nullable=False),
    sa.Column("message_ko", sa.Text, nullable=False),
    sa.Column("message_en", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
# The workspace's inbox settings (migration 23): whether a web chat an agent answered asks the customer for
# a rating (1-5) when it is resolved.
conversation_settings = sa.Table(
    "conversation_settings",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("rate_on_resolve", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
chat_proactive_offers = sa.Table(
    "chat_proactive_offers",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),  # deterministic: the page's hesitation key, so a retry is one
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("signal", sa.Text, nullable=False),
    sa.Column("grp", sa.Text, nullable=False),  # treatment | holdout
    sa.Column("page_url", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_chat_proactive_offers_profile", "workspace_id", "profile_id", "created_at"),
)

# The assistant's turns (migration 14): what the customer asked and how the bot took it (intent, language,
# confidence, a handover), one row per answer (its id is the bot's message id), for the containment report
# and the list of questions the shop's FAQ does not answer yet. Customer data: exported and erased.
assistant_turns = sa.Table(
    "assistant_turns",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("intent", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False),  # a confident answer (not "not sure", not a handover)
    sa.Column("handover", sa.Boolean, nullable=False),  # this turn handed the conversation to people
    sa.Column("faq_id", sa.Text),
    # where this turn left a return/exchange request: kind:step (touchline.assistant.flows; migration 21)
    sa.Column("flow_step", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_assistant_turns_ws_created", "workspace_id", "created_at"),
    sa.Index("ix_assistant_turns_conversation", "conversation_id"),
)

# Predictions (migration 19): each training of a workspace's purchase-propensity or churn-risk model, with
# its backtest's quality (AUC, Brier score, calibration, lift in the top decile) and what it scored; the
# scores themselves are the customers' computed traits (``purchase_propensity``, ``churn_risk``).
prediction_models = sa.Table(
    "prediction_models",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),  # "purchase" | "churn"
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),  # "trained" | "insufficient_data"
    sa.Column("trained_at", UTCDateTime, nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=False),  # the moment the scores hold for
    sa.Column("details", JSONDocument, nullable=False),  # algorithm, cutoffs, rows, quality, timings, reason
    sa.Column("scored", sa.Integer, nullable=False),
)

# Which process retrains a workspace's models, and until when (several workers on PostgreSQL: one claims).
prediction_schedule = sa.Table(
    "prediction_schedule",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("last_started_at", UTCDateTime),
)

# Recommendations (migration 18): each workspace's trained model (issue 17; touchline.personalization), one
# row replaced at each training: the arrays and catalog as one compressed .npz, its figures beside it; and
# the shop's rules for what is never recommended. Shop data, not customer data: the model holds customers'
# histories by profile id, and an erased profile's row is dropped from it at the next training.
recommendation_models = sa.Table(
    "recommendation_models",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, nullable=False),  # changes at every training (the caches' key)
    sa.Column("algorithm", sa.Text, nullable=False),  # cooccurrence | item_knn | als
    sa.Column("trained_at", UTCDateTime, nullable=False),
    sa.Column("high_water", sa.BigInteger, nullable=False),  # the newest event sequence number it learned from
    sa.Column("meta", JSONDocument, nullable=False),  # sizes, timings, the evaluation's figures
    sa.Column("model", sa.LargeBinary, nullable=False),
)
recommendation_rules = sa.Table(
    "recommendation_rules",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("excluded", JSONDocument, nullable=False),  # product ids never recommended
    sa.Column("out_of_stock", JSONDocument, nullable=False),  # product ids
    sa.Column("excluded_categories", JSONDocument, nullable=False),
    sa.Column("consumable_categories", JSONDocument, nullable=False),  # bought again: recommended again
    sa.Column("all_consumable", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Experiments (migration 17): a definition per experiment (arms, control, holdout, metric, guardrails; a
# journey's split and bandit nodes make theirs when the journey is published), each customer's sticky arm
# (the first assignment wins: exported and erased with the customer), and every change of a bandit's
# weights with the data behind it.
experiments = sa.Table(
    "experiments",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # ab | bandit
    sa.Column("source", sa.Text, nullable=False),  # flag | journey
    sa.Column("status", sa.Text, nullable=False),  # draft | running | stopped | completed
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("journey_id", sa.Text),
    sa.Column("node_id", sa.Text),
    sa.Column("winner", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("stopped_at", UTCDateTime),
)
experiment_assignments = sa.Table(
    "experiment_assignments",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("experiment_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("arm", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # web | journey:<journey id>
    sa.Column("assigned_at", UTCDateTime, nullable=False),
    sa.Index("ix_experiment_assignments_customer", "workspace_id", "customer_id"),
)
experiment_weights = sa.Table(
    "experiment_weights",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("experiment_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("weights", JSONDocument, nullable=False),  # {arm: share}, summing to 1 (the holdout apart)
    sa.Column("data", JSONDocument, nullable=False),  # per arm exposures, conversions, chance of being best
    sa.Column("reason", sa.Text, nullable=False),  # start | thompson | winner
)

# The live feed: one row per change an inbox shows (a message, a status, an assignment, a delivery),
# in commit order of ``seq`` (touchline.conversations.feed). Kept for a few days, for clients that
# reconnect with Last-Event-ID.
conversation_feed = sa.Table(
    "conversation_feed",
    state_metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("private", sa.Boolean, nullable=False),  # agents only (a note, an assignment)
    sa.Column("payload", JSONDocument, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_conversation_feed_ws", "workspace_id", "seq"),
    sa.Index("ix_conversation_feed_profile", "workspace_id", "profile_id"),
    sa.Index("ix_conversation_feed_created", "created_at"),
    # A drained table must never hand out a number a client has seen.
    sqlite_autoincrement=True,
)

# --- loyalty (migration 15): programs, the points ledger, tiers, rewards and coupons, referrals --------
# A program is the shop's rules (earning, tiers, expiry, referrals) as versioned documents, like journeys.
loyalty_programs = sa.Table(
    "loyalty_programs",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),  # the program's stable name in the workspace ("members")
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("live_version", sa.Integer, nullable=False),  # the version events are earned by
    sa.Column("status", sa.Text, nullable=False),  # active | paused (a paused program earns nothing)
    sa.Column("reviewed_at", UTCDateTime),  # the last tier review (downgrades wait for the next one)
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "key", name="uq_loyalty_programs_ws_key"),
)
loyalty_program_versions = sa.Table(
    "loyalty_program_versions",
    state_metadata,
    sa.Column("program_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("definition", JSONDocument, nullable=False),  # validated when saved (touchline.loyalty.rules)
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One account per customer and program: the ledger's sum kept beside it (``balance``, what the ledger
# adds up to; never negative), what a refund could not take back (``owed``, paid from the next earnings)
# and the tier. The row is what concurrent writers lock (FOR UPDATE on PostgreSQL; SQLite has one writer).
loyalty_accounts = sa.Table(
    "loyalty_accounts",
    state_metadata,
    sa.Column("program_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("owed", sa.BigInteger, nullable=False),
    sa.Column("earned", sa.BigInteger, nullable=False),  # lifetime, reversals deducted
    sa.Column("spent", sa.BigInteger, nullable=False),  # lifetime, reversed spends deducted
    sa.Column("tier", sa.Text),
    sa.Column("tier_since", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_loyalty_accounts_ws_program", "workspace_id", "program_id", "tier"),
)

# The ledger: append-only movements (earn, spend, expire, adjust, reverse), each with its reason and an
# idempotency key unique in the program (a retry finds the movement it made). Signed points.
loyalty_ledger = sa.Table(
    "loyalty_ledger",
    state_metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("program_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # earn | spend | expire | adjust | reverse
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("order_id", sa.Text),
    sa.Column("rule", sa.Text),  # the earning rule and program version ("purchase@3"), for earnings by rules
    sa.Column("reverses", sa.BigInteger),  # the spend a reversal gives back (earnings are found by order)
    sa.Column("available_at", UTCDateTime),  # an earning: spendable from then (pending until)
    sa.Column("expires_at", UTCDateTime),  # an earning: what is left of it expires then
    sa.Column("details", JSONDocument),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("program_id", "idempotency_key", name="uq_loyalty_ledger_key"),
    sa.Index("ix_loyalty_ledger_account", "program_id", "profile_id", "id"),
    sa.Index("ix_loyalty_ledger_order", "program_id", "order_id"),
    sa.Index("ix_loyalty_ledger_ws_created", "workspace_id", "created_at"),
    sqlite_autoincrement=True,
)

# What is left of each earning (a lot): spending takes the oldest first, expiry takes what is left of
# the lots it reaches. ``remaining`` adds up to the account's balance.
loyalty_lots = sa.Table(
    "loyalty_lots",
    state_metadata,
    sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("program_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("remaining", sa.BigInteger, nullable=False),
    sa.Column("earned_at", UTCDateTime, nullable=False),
    sa.Column("available_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("order_id", sa.Text),
    sa.Index("ix_loyalty_lots_account", "program_id", "profile_id", "earned_at"),
    sa.Index("ix_loyalty_lots_expiry", "program_id", "expires_at"),
)
# Which lots a negative movement took its points from (a reversed spend gives them back to the same lots).
loyalty_allocations = sa.Table(
    "loyalty_allocations",
    state_metadata,
    sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("lot_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Index("ix_loyalty_allocations_lot", "lot_id"),
)

# Events the programs' rules listen to, queued by the event-log subscriber in the ingesting transaction
# and applied by the loyalty worker (touchline.loyalty.consumer) in its own.
loyalty_inbox = sa.Table(
    "loyalty_inbox",
    state_metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("properties", JSONDocument, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_loyalty_inbox_profile", "profile_id"),
    sqlite_autoincrement=True,
)

# Orders as the programs saw them (from ``Order Completed``, refunds from ``Order Refunded``/``Order
# Cancelled``): first orders, the spend a tier qualifies on, what a refund reverses, and the payment and
# address fingerprints (SHA-256, never the values) that referral checks compare.
loyalty_orders = sa.Table(
    "loyalty_orders",
    state_metadata,
    sa.Column("program_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),  # minor units of the program's currency
    sa.Column("refunded", sa.BigInteger, nullable=False),
    sa.Column("ordered_at", UTCDateTime, nullable=False),
    sa.Column("payment_hash", sa.Text),
    sa.Column("address_hash", sa.Text),
    sa.Index("ix_loyalty_orders_account", "program_id", "profile_id", "ordered_at"),
    sa.Index("ix_loyalty_orders_time", "program_id", "ordered_at"),
    sa.Index("ix_loyalty_orders_payment", "program_id", "payment_hash"),
    sa.Index("ix_loyalty_orders_address", "program_id", "address_hash"),
)

# The rewards catalogue (bought with points) and unique coupon codes (bulk, single-use, with expiry).
loyalty_rewards = sa.Table(
    "loyalty_rewards",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("program_id", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name_ko", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    sa.Column("cost", sa.BigInteger, nullable=False),  # points; 0: not bought with points (codes only)
    sa.Column("kind", sa.Text, nullable=False),  # amount_off | percent_off | free_shipping | gift
    sa.Column("value", sa.BigInteger, nullable=False),  # minor units or percent
    sa.Column("valid_days", sa.Integer, nullable=False),  # a coupon bought with points is good this long
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("program_id", "key", name="uq_loyalty_rewards_program_key"),
)
loyalty_coupons = sa.Table(
    "loyalty_coupons",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("program_id", sa.Text, nullable=False),
    sa.Column("reward_id", sa.Text, nullable=False),
    sa.Column("batch", sa.Text, nullable=False),  # the bulk generation (or "points:<entry>" when bought)
    sa.Column("profile_id", sa.Text),  # whose coupon (bought with points, or handed out); None: anyone's
    sa.Column("issue_key", sa.Text),  # the purchase's idempotency key, for a coupon bought with points
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("redeemed_at", UTCDateTime),
    sa.Column("redeemed_by", sa.Text),
    sa.Column("redeem_key", sa.Text),  # the checkout's idempotency key: the same redemption again is no reuse
    sa.Column("order_id", sa.Text),
    sa.Index("ix_loyalty_coupons_reward", "reward_id", "batch"),
    sa.Index("ix_loyalty_coupons_profile", "profile_id"),
    sa.Index("ix_loyalty_coupons_issue_key", "program_id", "issue_key"),
)

# Referrals: a code per customer, and each referred customer once per program with what the abuse checks
# found; the reward is paid once the referred first order is past the return window.
loyalty_referral_codes = sa.Table(
    "loyalty_referral_codes",
    state_metadata,
    sa.Column("program_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "code", name="uq_loyalty_referral_codes_code"),
)
loyalty_referrals = sa.Table(
    "loyalty_referrals",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("program_id", sa.Text, nullable=False),
    sa.Column("referrer_id", sa.Text, nullable=False),
    sa.Column("referred_id", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    # pending (no order yet) | ordered (first order inside the return window) | rewarded | rejected
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),  # why rejected: self_referral, same_device, cap_reached, same_payment, ...
    sa.Column("order_id", sa.Text),
    sa.Column("ordered_at", UTCDateTime),
    sa.Column("payable_at", UTCDateTime),
    sa.Column("rewarded_at", UTCDateTime),
    sa.Column("details", JSONDocument),  # what the abuse checks compared, and what was paid
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("program_id", "referred_id", name="uq_loyalty_referrals_referred"),
    sa.Index("ix_loyalty_referrals_referrer", "program_id", "referrer_id"),
    sa.Index("ix_loyalty_referrals_due", "status", "payable_at"),
)

# --- in-app messages: banners, modals and slide-ins on the shop's pages and apps (migration 20) -------

# A message and its rules (touchline.inapp.rules): layout, the in_app template its content comes from, what
# shows it (a rule on the page, a journey, an event), platforms, frequency. ``key`` is the workspace's own
# name for it; ``id`` is what the SDK and the events carry.
inapp_messages = sa.Table(
    "inapp_messages",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # active | paused
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "key", name="uq_inapp_messages_ws_key"),
)
# The workspace's frequency rule across every in-app message (defaults until a shop saves its own).
inapp_settings = sa.Table(
    "inapp_settings",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("max_per_day", sa.Integer),  # impressions of any message per customer in 24 hours; NULL: no cap
    sa.Column("min_minutes_between", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
# A message a journey or an event triggered for one customer, waiting to be shown (until ``expires_at``;
# ``shown_at`` once it was). Its id is deterministic over the triggering event: recorded once. Customer data.
inapp_pending = sa.Table(
    "inapp_pending",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # what triggered it
    sa.Column("context", JSONDocument, nullable=False),  # the event's properties, for the template
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("shown_at", UTCDateTime),
    sa.Index("ix_inapp_pending_profile", "workspace_id", "profile_id"),
    sa.Index("ix_inapp_pending_message", "message_id"),
)
# Impressions, clicks and dismissals, one row each (also an event through ingestion): the frequency rules
# and the per-message report read them. ``day`` is the shop's local date. Customer data.
inapp_interactions = sa.Table(
    "inapp_interactions",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),  # deterministic over the client's key: a retry is one
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # impression | click | dismiss
    sa.Column("platform", sa.Text, nullable=False),  # web | ios | android
    sa.Column("day", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_inapp_interactions_profile", "workspace_id", "profile_id", "message_id"),
    sa.Index("ix_inapp_interactions_report", "workspace_id", "day", "message_id"),
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

# Failed dashboard sign-ins per account and per client address (touchline.web.throttle). The key is
# the SHA-256 of "account:<e-mail>" or "client:<address>": no typed e-mail (a password typed into the
# wrong field, say) or address is kept in clear. A row is deleted once quiet for the forget period.
sign_in_failures = sa.Table(
    "sign_in_failures",
    state_metadata,
    sa.Column("key_hash", sa.Text, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", UTCDateTime, nullable=False),
    sa.Column("locked_until", UTCDateTime),
    sa.Index("ix_sign_in_failures_last", "last_failed_at"),
)

# --- feedback (migration 16): surveys' answers, product reviews, and the key that signs their links ---

# One signing key per workspace for the survey and review links in messages (HMAC-SHA256), made on
# first use.
feedback_secrets = sa.Table(
    "feedback_secrets",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One row per answer: the id is the link's (or the API caller's) key, so a retry stores one answer.
survey_answers = sa.Table(
    "survey_answers",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("survey", sa.Text, nullable=False),  # the survey's name (nps, csat, post-purchase...)
    sa.Column("kind", sa.Text, nullable=False),  # "nps" (0-10) | "csat" (1-5)
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("channel", sa.Text),  # where it was answered from: the link's message channel, in_app, api
    sa.Column("source_message_id", sa.Text),  # the outbox message that carried the link
    sa.Column("language", sa.Text),
    sa.Column("answered_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_survey_answers_time", "workspace_id", "kind", "answered_at"),
    sa.Index("ix_survey_answers_profile", "workspace_id", "profile_id"),
)

# Product reviews; one per customer, order and product (the id is made from them: a retry is one review).
reviews = sa.Table(
    "reviews",
    state_metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("profile_id", sa.Text, nullable=False),
    sa.Column("product_id", sa.Text, nullable=False),
    sa.Column("order_id", sa.Text),
    sa.Column("rating", sa.Integer, nullable=False),  # 1-5
    sa.Column("title", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("author", sa.Text),  # the name shown on the product page (masked: 김**)
    sa.Column("language", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # "pending" | "approved" | "rejected"
    sa.Column("flagged", JSONDocument, nullable=False),  # the profanity filter's findings ([] when clean)
    sa.Column("reply", sa.Text),  # the shop's public answer
    sa.Column("replied_at", UTCDateTime),
    sa.Column("moderated_by", sa.Text),
    sa.Column("moderated_at", UTCDateTime),
    sa.Column("source", sa.Text, nullable=False),  # "form" | "api" | "event"
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_reviews_queue", "workspace_id", "status", "created_at"),
    sa.Index("ix_reviews_product", "workspace_id", "product_id", "status"),
    sa.Index("ix_reviews_profile", "workspace_id", "profile_id"),
)

# --- the shop's catalog (migration 22): products per workspace, from an import and from the shop's events ---

# One row per product. ``sources`` says where each field's value came from ({"name": "import", "price":
# "events", ...}): an import's value is never overwritten by an event. ``price`` is in major units of
# ``currency`` (null: the shop's currency, ``TOUCHLINE_DEFAULT_CURRENCY``); whole for a currency without a
# minor unit (KRW). ``seen_at`` is the time of the newest event that changed the product (an older one
# arriving late fills only what is missing). No customer's data: nothing here is exported or erased.
catalog_products = sa.Table(
    "catalog_products",
    state_metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),  # the shop's product id (Segment's product_id, else its sku)
    sa.Column("name", sa.Text),  # in the shop's own language
    sa.Column("name_en", sa.Text),
    sa.Column("category", sa.Text),  # the category's slug
    sa.Column("category_name", sa.Text),
    sa.Column("category_name_en", sa.Text),
    sa.Column("price", sa.Float),
    sa.Column("currency", sa.Text),
    sa.Column("stock", sa.Integer),  # null: not known
    sa.Column("url", sa.Text),
    sa.Column("image_url", sa.Text),
    sa.Column("attributes", JSONDocument, nullable=False),  # {"sizes": {"S": 3, "M": 0}, "material": "울", ...}
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("sources", JSONDocument, nullable=False),
    sa.Column("seen_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_catalog_products_category", "workspace_id", "category"),
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
