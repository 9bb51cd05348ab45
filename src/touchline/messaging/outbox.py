"""The outbox worker: decide, render, send, record — and never send one message twice.

A journey's send step writes an outbox row under its deterministic id, in the same transaction as the
run's new state. ``Outbox.dispatch`` then:

1. claims up to ``outbox_batch`` due rows (``pending`` and due, or ``sending`` whose lease ran out
   because a worker died), leasing them under a fresh claim token; on PostgreSQL with ``FOR UPDATE
   SKIP LOCKED``, so workers share the work;
2. for rows not yet decided, applies the send policy (consent, unsubscribe, caps, quiet hours, channel
   preference and fallback), renders the template in the customer's locale with what the channel adds
   (Korean advertising's ``(광고)`` and opt-out line, ``channels.base.as_sent``), and commits the decision
   and the rendered content *before* sending: a retry resends exactly that content under the same key,
   and the delivery log shows what was sent;
3. sends in groups of at most ``outbox_group`` messages (a group stops taking new sends after
   ``outbox_group_ms``, or half-way through its lease), through the channel adapters, passing the row
   id as idempotency key to providers that accept one; a group's sends go out over up to
   ``outbox_send_threads`` connections at once (one customer's messages, and an SMTP session's, in
   order);
4. after each group, in one transaction: records the group's outcomes (``sent``; ``pending`` again with
   exponential backoff on a retryable failure; ``failed``; or ``suppressed`` with the policy's reason)
   with their receipts as events on the customer's profile (``Message Sent``, ``Message Delivered``,
   ``Message Failed``, ``Message Suppressed``; opens and clicks come from the tracking endpoints), and
   renews the lease of the next group.

Fencing: the lease renewal and the outcome are conditional on the claim token. A worker whose rows
another worker claimed (its lease ran out: it stalled, or its clock is off) finds its token gone, drops
those rows unsent and writes no outcome over the new holder's; and it never starts a send more than half
a lease after that lease was taken or renewed. So no worker sends a row that another worker holds.

The bound after a crash (``kill -9`` of any process, at any moment): only the messages of the group in
flight (whose send had started and whose outcome was not yet committed) may be sent again, once the
lease runs out, and always under the same idempotency key: at most ``outbox_group`` messages per
killed worker (50 by default). Nothing is lost: every claimed row is either recorded or leased, and a
lease that runs out makes the row claimable again. Providers that honour keys (NHN Cloud, Twilio, the
webhook channel) drop such a repeat; SMTP has no such key, so such an e-mail can arrive twice (with the
same Message-ID, which mail clients de-duplicate), and FCM carries the id for the app to drop it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from touchline.channels import PROFILE_ID, REGISTRY
from touchline.eventlog import SystemEvent, append_system_events, existing_profile_ids
from touchline.messaging import adaptive, store
from touchline.messaging import functions as template_functions
from touchline.messaging.channels.base import (
    AdMarking,
    BatchingChannel,
    Channel,
    Failed,
    OutboundMessage,
    SendResult,
    Sent,
    Skipped,
    as_sent,
)
from touchline.messaging.channels.registry import INBOX, DevChannel, build_channels
from touchline.messaging.context import variables as template_variables
from touchline.messaging.links import track_links
from touchline.messaging.policy import (
    BEST_WINDOW,
    Cap,
    MessageIntent,
    PastSend,
    PolicyConfig,
    Recipient,
    Suppressed,
    consent_status,
    decide,
    rank_channels,
)
from touchline.messaging.templates import CompiledTemplate, TemplateRenderError, validate_template
from touchline.messaging.types import MESSAGE_CHANNELS, RenderedContent
from touchline.profiles import store as profile_store
from touchline.settings import Settings
from touchline.store import dialect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from touchline.store.engines import Stores

__all__ = ["WEBHOOK_CALL", "DispatchReport", "Outbox", "ReadyMessage", "ad_marking", "compiled_template",
           "enqueue_ready", "policy_config", "receipt", "recipient_for", "render_content"]

log = logging.getLogger("touchline.outbox")

WEBHOOK_CALL = "webhook_call"  # a journey's webhook step: a system call, not a message to a person
SHARED_BATCH = 500  # rows a dispatch claims by default on PostgreSQL (workers share them)
EMBEDDED_BATCH = 4000  # and on the embedded store (one process sends everything)


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    suppressed: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    # Rows this worker dropped because another worker claimed them after its lease ran out: unsent, or
    # sent with their outcome left to the new holder.
    fenced: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    # Seconds per phase (claim, decide: policy + render + commit, send, record): wall clock, and CPU
    # of the dispatching thread.
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, other: DispatchReport) -> None:
        for name in ("claimed", "sent", "suppressed", "deferred", "retried", "failed", "fenced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n
        for phase, t in other.seconds.items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + t
        for phase, t in other.cpu_seconds.items():
            self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + t

    def _time(self, phase: str, since: tuple[float, float]) -> tuple[float, float]:
        """Add the time since ``since`` (a ``_clock()``) to ``phase``; the clock now."""
        now = _clock()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now[0] - since[0]
        self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + now[1] - since[1]
        return now


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _time(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


def policy_config(settings: Settings) -> PolicyConfig:
    return PolicyConfig(
        quiet_start=_time(settings.quiet_hours_start), quiet_end=_time(settings.quiet_hours_end),
        quiet_hours=settings.quiet_hours_mode,
        global_cap=Cap(settings.daily_cap) if settings.daily_cap else None,
        channel_caps={ch: Cap(n) for ch, n in settings.channel_daily_caps.items()},
        fallback_order=tuple(settings.fallback_order), default_timezone=settings.default_timezone,
    )


def ad_marking(settings: Settings) -> AdMarking:
    """What Korean advertising SMS carry besides their content, from the settings."""
    return AdMarking(sender_name=settings.sms_ad_sender_name, opt_out_line=settings.sms_ad_opt_out_line)


def recipient_for(profile: Mapping[str, Any], idents: Sequence[tuple[str, str]],
                  recent: Sequence[PastSend]) -> Recipient:
    """What the policy needs, from a profile row and its identities (oldest first)."""
    traits = profile.get("traits") or {}
    by_kind: dict[str, str] = {}
    for kind, value in idents:
        by_kind[kind] = value  # the newest identity of a kind wins
    profile_id = str(profile["id"])
    addresses = {name: _address(kinds, by_kind, traits, profile_id) for name, kinds in _ADDRESSES}
    consents = profile.get("consents") or {}
    preferred = traits.get("preferred_channel") or traits.get("preferredChannel")
    return Recipient(
        addresses=addresses, consents=consents, timezone=profile.get("timezone"),
        unsubscribed=consent_status(consents, "all") == "denied",
        night_consent=consent_status(consents, "night") == "granted",
        preferred_channels=(preferred,) if isinstance(preferred, str) and preferred in MESSAGE_CHANNELS else (),
        recent_sends=tuple(recent),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# channel -> where a message to it goes, the first found (touchline.channels: ChannelSpec.address)
_ADDRESSES: tuple[tuple[str, tuple[str, ...]], ...] = tuple((c.name, c.address) for c in REGISTRY)
# Identity kinds whose trait of the same name addresses a message too (ingestion checks those traits).
_TRAIT_ADDRESSES = frozenset(("email", "phone"))


def _address(kinds: tuple[str, ...], by_kind: Mapping[str, str], traits: Mapping[str, Any],
             profile_id: str) -> str | None:
    for kind in kinds:
        if kind == PROFILE_ID:
            return profile_id
        value = by_kind.get(kind) or (_str(traits.get(kind)) if kind in _TRAIT_ADDRESSES else None)
        if value:
            return value
    return None


def compiled_template(workspace_id: str, row: Mapping[str, Any]) -> CompiledTemplate:
    """A stored template, compiled once per version."""
    return _compiled(workspace_id, row["key"], row["channel"], row["version"], orjson.dumps(row["definition"]).decode())


@functools.lru_cache(maxsize=512)
def _compiled(workspace_id: str, key: str, channel: str, version: int, definition_json: str) -> CompiledTemplate:
    definition = orjson.loads(definition_json)
    return validate_template({"key": key, "channel": channel, **definition})


@dataclass(frozen=True)
class ReadyMessage:
    """A message whose content its sender has decided (an agent's reply in a conversation): literal
    content for one channel and one address, sent as it is. It is a service message, not advertising:
    no consent, frequency cap or quiet hours apply (the send policy decides nothing), and it goes out
    once under ``id``, its idempotency key, like every outbox row. Never to an erased customer: an erase
    deletes the customer's outbox rows, and a row whose customer is no profile any more when it is
    claimed is suppressed (``no_profile``).

    ``content`` holds the channel's parts (``text``; ``subject`` and ``text`` for e-mail; a messenger's
    ``template_code`` and ``params``) and may hold ``headers`` (e-mail In-Reply-To and References).
    ``source`` is what the message log shows as its template (``conversation_reply``); receipts
    (``Message Sent``, ``Message Failed``, ...) carry it as ``template``, which is how the sender finds
    the outcomes of its messages in the event log."""

    id: str
    workspace_id: str
    customer_id: str
    channel: str
    to_address: str
    content: Mapping[str, Any]
    source: str
    context: Mapping[str, Any] = field(default_factory=dict)


def enqueue_ready(conn: Connection, message: ReadyMessage, now: dt.datetime) -> bool:
    """Queue ``message`` in the caller's transaction; False when a row with its id exists already (the
    same reply queued twice is sent once)."""
    return store.insert_message(conn, {
        "id": message.id, "workspace_id": message.workspace_id, "customer_id": message.customer_id,
        "journey_id": None, "run_id": None, "node_id": None, "template": message.source, "kind": "transactional",
        "requested_channel": message.channel, "channel": message.channel, "to_address": message.to_address,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "context": dict(message.context),
        "content": dict(message.content), "created_at": now, "updated_at": now})


class Outbox:
    """Dispatches due outbox rows. Thread-safe to call from one runner thread per process; several
    processes share the work on PostgreSQL."""

    def __init__(self, stores: Stores, *, channels: Mapping[str, Channel] | None = None,
                 clock: Callable[[], dt.datetime] | None = None, http: httpx.Client | None = None,
                 marking: AdMarking | None = None) -> None:
        self.stores = stores
        self.settings = stores.settings
        self.channels: dict[str, Channel] = build_channels(stores.settings, channels)
        self.policy = policy_config(stores.settings)
        self.marking = marking or ad_marking(stores.settings)  # the demo brings its shop's
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._http = http
        self._lock = threading.Lock()

    @property
    def available(self) -> set[str]:
        return set(self.channels) | {INBOX}

    # --- the loop

    @property
    def batch(self) -> int:
        """Rows one dispatch claims: ``outbox_batch``, by default 500 where workers share the outbox
        (PostgreSQL) and 4,000 where one process sends everything (the embedded store; see settings)."""
        if self.settings.outbox_batch:
            return self.settings.outbox_batch
        return SHARED_BATCH if self.stores.state.dialect.name == dialect.POSTGRES else EMBEDDED_BATCH

    def dispatch(self, *, limit: int | None = None, now: dt.datetime | None = None) -> DispatchReport:
        """One round: claim up to ``limit`` (default ``outbox_batch``) due rows and carry each to an
        outcome.

        Claiming and deciding are one transaction: each claimed row is written once, with its lease and
        claim token and, when it was not decided yet, the decision and the rendered content (a crash
        before the commit leaves it pending, one after it leaves it leased with that content, resent as
        it is once the lease runs out). Sending follows outside any transaction, group by group, each
        group's outcomes committed before the next group is sent (``_send_in_groups``)."""
        with self._lock:
            now = now or self.clock()
            limit = limit or self.batch
            lease = now + dt.timedelta(seconds=self.settings.outbox_lease_seconds)
            token = uuid.uuid4().hex
            started = _clock()
            report = DispatchReport()
            with self.stores.read() as conn:
                idle = not store.any_due(conn, now)
            if idle:
                report._time("claim", started)
                return report
            ready: list[dict[str, Any]] = []
            with self.stores.write() as conn:
                rows = store.claim_due(conn, now, limit)
                report.claimed = len(rows)
                t = report._time("claim", started)
                if not rows:
                    return report
                by_ws: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    by_ws.setdefault(row["workspace_id"], []).append(row)
                changes: list[dict[str, Any]] = []
                for workspace_id, batch in by_ws.items():
                    undecided: list[dict[str, Any]] = []
                    decided: list[dict[str, Any]] = []
                    for r in batch:  # undecided: no policy decision and content yet (a webhook call has none)
                        (undecided if r["content"] is None and r["requested_channel"] != WEBHOOK_CALL
                         else decided).append(r)
                    if decided:  # decided earlier (a retry) or by its sender (a ready message)
                        decided = self._alive(conn, workspace_id, decided, now, changes, report)
                    changes += [{"id": r["id"], "status": "sending", "lease_until": lease, "claim_token": token,
                                 "updated_at": now} for r in decided]
                    ready += decided
                    if undecided:
                        ready += self._decide(conn, workspace_id, undecided, now, lease, token, changes, report)
                store.update_messages(conn, changes)
            report._time("decide", t)
            if ready:
                try:
                    self._send_in_groups(ready, token, now, started[0], report)
                finally:
                    self._end_batch()
            return report

    def _alive(self, conn: Connection, workspace_id: str, rows: list[dict[str, Any]], now: dt.datetime,
               changes: list[dict[str, Any]], report: DispatchReport) -> list[dict[str, Any]]:
        """The rows whose customer is still a profile; the others (erased meanwhile) are suppressed."""
        alive = existing_profile_ids(conn, {r["customer_id"] for r in rows})
        kept = []
        for row in rows:
            if row["customer_id"] in alive:
                kept.append(row)
            else:
                self._suppress(changes, row, "no_profile", now, report, [], row["customer_id"])
        return kept

    def _send_in_groups(self, ready: list[dict[str, Any]], token: str, now: dt.datetime, epoch: float,
                        report: DispatchReport) -> None:
        """Send the claimed rows group by group. A group holds at most ``outbox_group`` messages that
        leave this process (rows that do not — in-app, development channels — ride along uncounted:
        sending them again has no effect outside the outbox), is sent under a lease at most half spent
        when its last send starts, and its outcomes and the next group's renewed lease are one
        transaction: the messages in flight are never more than one group. ``epoch`` is the
        ``perf_counter`` at which the dispatch clock read ``now`` (the claim's lease counts from there);
        later times are ``now`` plus the time spent since, so a simulated clock stays consistent."""
        settings = self.settings
        lease_s = settings.outbox_lease_seconds
        waiting = deque(ready)
        group = self._fill([], waiting)
        leased_at = epoch  # the group's lease was taken (or renewed) at this perf_counter
        pool: ThreadPoolExecutor | None = None
        try:
            while True:
                t = _clock()
                results: list[tuple[dict[str, Any], SendResult]] = []
                unsent: list[dict[str, Any]] = []
                if group:
                    if pool is None and settings.outbox_send_threads > 1 and not all(map(self._local, group)):
                        pool = ThreadPoolExecutor(settings.outbox_send_threads, thread_name_prefix="touchline-send")
                    stop_at = min(leased_at + lease_s / 2, t[0] + settings.outbox_group_ms / 1000)
                    results, unsent = self._send_group(group, stop_at, pool)
                    t = report._time("send", t)
                following = self._fill(unsent, waiting)
                if not results and not following:
                    return
                leased_at = time.perf_counter()
                at = now + dt.timedelta(seconds=leased_at - epoch)
                renewed = self._record(results, token, at, report, renew=following,
                                       lease_until=at + dt.timedelta(seconds=lease_s))
                report._time("record", t)
                group = [r for r in following if r["id"] in renewed]
                if len(group) < len(following):
                    report.fenced += len(following) - len(group)
                    log.warning("outbox: %d claimed messages were taken over by another worker; dropped unsent",
                                len(following) - len(group))
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _fill(self, group: list[dict[str, Any]], waiting: deque[dict[str, Any]]) -> list[dict[str, Any]]:
        """``group`` topped up from ``waiting`` to ``outbox_group`` messages that leave the process."""
        outgoing = sum(not self._local(r) for r in group)
        while waiting and outgoing < self.settings.outbox_group:
            row = waiting.popleft()
            group.append(row)
            outgoing += not self._local(row)
        while waiting and self._local(waiting[0]):
            group.append(waiting.popleft())
        return group

    def _local(self, row: Mapping[str, Any]) -> bool:
        """Whether sending the row reaches nothing outside this process: the in-app inbox (written with
        the outcome), a development channel, or a channel with no adapter (an outcome of failure)."""
        if row["requested_channel"] == WEBHOOK_CALL:
            return False
        adapter = self.channels.get(row["channel"])
        return adapter is None or isinstance(adapter, DevChannel)

    def _send_group(self, group: list[dict[str, Any]], stop_at: float, pool: ThreadPoolExecutor | None
                    ) -> tuple[list[tuple[dict[str, Any], SendResult]], list[dict[str, Any]]]:
        """Send a group's rows, starting none that leaves the process after ``stop_at`` (a
        ``perf_counter``); (row, result) of those sent, and the rows not started. Local rows go at once
        in this thread; the others in lanes, each lane in order (an SMTP session's rows, or one
        customer's), over ``pool`` when there is one."""
        results: list[tuple[dict[str, Any], SendResult]] = []
        lanes: dict[Any, list[dict[str, Any]]] = {}
        for row in group:
            if self._local(row):
                results.append((row, self._send(row)))
            elif pool is None:
                lanes.setdefault(None, []).append(row)
            elif isinstance(adapter := self.channels.get(row["channel"]), BatchingChannel):
                lanes.setdefault(id(adapter), []).append(row)
            else:
                lanes.setdefault(row["customer_id"], []).append(row)
        if pool is None:
            for lane in lanes.values():
                results += self._send_lane(lane, stop_at)
        else:
            futures: list[Future[list[tuple[dict[str, Any], SendResult]]]] = [
                pool.submit(self._send_lane, lane, stop_at) for lane in lanes.values()]
            for future in futures:
                results += future.result()
        done = {row["id"] for row, _ in results}
        return results, [row for row in group if row["id"] not in done]

    def _send_lane(self, rows: list[dict[str, Any]], stop_at: float) -> list[tuple[dict[str, Any], SendResult]]:
        out: list[tuple[dict[str, Any], SendResult]] = []
        for row in rows:
            if time.perf_counter() >= stop_at:
                break
            out.append((row, self._send(row)))
        return out

    def _end_batch(self) -> None:
        """Adapters that keep a connection across sends (SMTP) close it at the end of a batch."""
        for adapter in self.channels.values():
            if isinstance(adapter, BatchingChannel):
                adapter.end_batch()

    # --- deciding and rendering

    def _decide(self, conn: Connection, workspace_id: str, rows: list[dict[str, Any]], now: dt.datetime,
                lease: dt.datetime, token: str, changes: list[dict[str, Any]], report: DispatchReport
                ) -> list[dict[str, Any]]:
        """Policy + render for each row, in the claiming transaction; appends each row's change (leased
        with its content, or its outcome) to ``changes`` and returns the rows to send (with content).

        The batch's facts are read once (profiles, identities, recent sends, templates), each row is
        decided and rendered in memory, and the receipts of the rows not sent are staged in one call."""
        keys = {r["template"] for r in rows}
        window = max([self.policy.global_cap.window] if self.policy.global_cap else [dt.timedelta(days=1)]
                     + [c.window for c in self.policy.channel_caps.values()])
        customer_ids = sorted({r["customer_id"] for r in rows})
        profile_store.lock_customers(conn, customer_ids)  # caps count a customer's sends: one decider per customer
        profiles, idents = store.recipient_rows(conn, workspace_id, customer_ids)
        survivors = {p["merged_into"] for p in profiles.values() if p["merged_into"]}
        if survivors:
            more_p, more_i = store.recipient_rows(conn, workspace_id, sorted(survivors))
            profiles.update(more_p)
            idents.update(more_i)
        templates: dict[tuple[str, str], CompiledTemplate] = {}
        for t in [t for key in sorted(keys) for t in store.templates(conn, workspace_id, key)]:
            templates[(t["key"], t["channel"])] = compiled_template(workspace_id, t)
        # Adaptive blocks that choose by segment: the batch's customers' memberships, read once.
        memberships: dict[str, set[str]] | None = None
        if any(adaptive.segment_refs(t.template.blocks) for t in templates.values()):
            memberships = store.segment_memberships(conn, workspace_id, sorted(set(customer_ids) | survivors))
        content_channels: dict[str, list[str]] = {}
        for key, ch in templates:
            content_channels.setdefault(key, []).append(ch)
        # Each row's customer after merges, found once (most customers were merged into nobody).
        canonical = [_canonical(profiles, r["customer_id"]) for r in rows] if survivors \
            else [r["customer_id"] for r in rows]
        recent_rows = store.recent_sends(conn, workspace_id, sorted(set(canonical)), now - window)
        recent: dict[str, list[PastSend]] = {
            cid: [PastSend(ch, at, kind) for ch, at, kind in sends if ch] for cid, sends in recent_rows.items()}
        recipients: dict[str, Recipient] = {}
        best_of = [cid for r, cid in zip(rows, canonical, strict=True) if r["requested_channel"] == "best"]
        engagement = store.channel_engagement(conn, workspace_id, sorted(set(best_of)), now - BEST_WINDOW) \
            if best_of else {}
        per_customer = Counter(canonical)
        to_send: list[dict[str, Any]] = []
        receipts: list[SystemEvent] = []
        available = self.available
        intents: dict[tuple[str, str, str], MessageIntent] = {}  # (template, requested channel, kind) -> intent
        for row, cid in zip(rows, canonical, strict=True):
            profile = profiles.get(cid)
            if profile is None:  # erased meanwhile
                self._suppress(changes, row, "no_profile", now, report, receipts, cid)
                continue
            intent_key = (row["template"], row["requested_channel"], row["kind"])
            intent = intents.get(intent_key)
            if intent is None:  # the same few for the whole batch
                channels_with_content = content_channels.get(row["template"], [])
                if row["requested_channel"] in ("preferred", "best"):
                    candidates = [ch for ch in channels_with_content if ch in available]
                    unconfigured = [ch for ch in channels_with_content if ch not in available]
                else:
                    wanted = [row["requested_channel"]] if row["requested_channel"] in channels_with_content else []
                    candidates = [ch for ch in wanted if ch in available]
                    unconfigured = [ch for ch in wanted if ch not in available]
                intent = intents[intent_key] = MessageIntent(row["kind"], tuple(candidates), tuple(unconfigured))
            recipient = recipients.get(cid)
            if recipient is None:  # built once per customer and batch
                recipient = recipients[cid] = recipient_for(profile, idents.get(cid, ()), recent.get(cid, ()))
            if row["requested_channel"] == "best":  # the customer's most engaging channels first
                ranked = rank_channels(engagement.get(cid, {}))
                recipient = replace(recipient, preferred_channels=(*ranked, *recipient.preferred_channels))
            decision = decide(intent, recipient, now, self.policy)
            if isinstance(decision, Suppressed):
                self._suppress(changes, row, decision.reason.value, now, report, receipts, cid)
                continue
            if decision.deferred and decision.not_before > now:
                changes.append({"id": row["id"], "status": "pending", "next_attempt_at": decision.not_before,
                                "reason": "deferred:quiet_hours", "lease_until": None, "updated_at": now})
                report.deferred += 1
                continue
            channel = decision.channel
            try:
                template = templates[(row["template"], channel)]
                who = (adaptive.audience_for(profile, now, segments=(memberships or {}).get(cid, ()),
                                             platform=_PLATFORM_OF.get(channel))
                       if template.template.blocks else None)
                content = render_content(self.settings.public_url, template, row, profile, channel,
                                         marking=self.marking, text_alternative=False, conn=conn, now=now,
                                         audience=who,
                                         extra=template_variables(self.stores, workspace_id, profile, template.names))
            except TemplateRenderError as exc:
                changes.append({"id": row["id"], "status": "failed", "reason": f"render: {exc}"[:500],
                                "channel": channel, "lease_until": None, "updated_at": now})
                receipts.append(receipt(row, cid, "Message Failed", now, channel=channel, reason="render"))
                report.failed += 1
                continue
            if isinstance(content, Skipped):  # the channel may not carry it (a Korean ad SMS without opt-out line)
                self._suppress(changes, row, content.reason, now, report, receipts, cid, channel=channel)
                continue
            to = recipient.addresses.get(channel)
            changes.append({"id": row["id"], "status": "sending", "lease_until": lease, "claim_token": token,
                            "channel": channel, "to_address": to, "content": content, "reason": None,
                            "updated_at": now})
            if per_customer[cid] > 1:  # the send counts against the customer's caps for the rest of the batch
                recipients[cid] = replace(recipient, recent_sends=(*recipient.recent_sends,
                                                                   PastSend(channel, now, row["kind"])))
            to_send.append({**row, "channel": channel, "to_address": to, "content": content,
                            "customer_id": cid})
        append_system_events(conn, workspace_id, receipts, now)
        return to_send

    def _suppress(self, changes: list[dict[str, Any]], row: dict[str, Any], reason: str, now: dt.datetime,
                  report: DispatchReport, receipts: list[SystemEvent], cid: str, *, channel: str | None = None) -> None:
        change = {"id": row["id"], "status": "suppressed", "reason": reason, "lease_until": None, "updated_at": now}
        changes.append(change if channel is None else {**change, "channel": channel})
        report.suppressed += 1
        report.by_reason[reason] = report.by_reason.get(reason, 0) + 1
        receipts.append(receipt(row, cid, "Message Suppressed", now, reason=reason))

    # --- sending

    def _send(self, row: dict[str, Any]) -> SendResult:
        if row["requested_channel"] == WEBHOOK_CALL:
            return self._call_webhook(row)
        channel = row["channel"]
        if channel == INBOX:
            return Sent(f"inbox-{row['id']}")  # written in _record, in the same transaction as the outcome
        adapter = self.channels.get(channel)
        if adapter is None:
            return Failed(f"channel {channel!r} is not configured", retryable=False)
        content = dict(row["content"])
        message = OutboundMessage(
            idempotency_key=row["id"], channel=channel, to=row["to_address"] or "",
            content=RenderedContent(**{k: v for k, v in content.items()
                                       if k in RenderedContent.__dataclass_fields__}),
            kind=row["kind"], profile_id=row["customer_id"], unsubscribe_url=content.get("unsubscribe_url"),
            data={"journey_id": row["journey_id"], "run_id": row["run_id"], "template": row["template"],
                  **({"headers": content["headers"]} if content.get("headers") else {})},
        )
        try:
            return adapter.send(message)
        except Exception as exc:  # an adapter bug must not stop the loop; the row is retried
            log.exception("channel %s raised", channel)
            return Failed(f"{channel}: {type(exc).__name__}: {exc}", retryable=True)

    def _call_webhook(self, row: dict[str, Any]) -> SendResult:
        call = row["context"].get("webhook") or {}
        headers = {**(call.get("headers") or {}), "Idempotency-Key": row["id"]}
        body = call.get("rendered_body")
        client = self._http or httpx.Client(timeout=10.0)
        try:
            response = client.request(call.get("method", "POST"), call["url"], headers=headers,
                                      content=body.encode() if isinstance(body, str) else None)
        except httpx.HTTPError as exc:
            return Failed(f"webhook: {type(exc).__name__}: {exc}", retryable=True)
        finally:
            if self._http is None:
                client.close()
        if response.is_success:
            return Sent(f"http-{response.status_code}")
        return Failed(f"webhook {response.status_code}", retryable=response.status_code >= 500
                      or response.status_code == 429)

    # --- recording

    def _record(self, results: list[tuple[dict[str, Any], SendResult]], token: str, now: dt.datetime,
                report: DispatchReport, *, renew: Sequence[dict[str, Any]] = (), lease_until: dt.datetime | None = None
                ) -> set[str]:
        """The outcomes of a group, in one transaction, written only for rows the claim ``token`` still
        holds: row changes in one executemany per set of changed columns, in-app inbox rows and receipts
        in one insert each (per workspace). The same transaction renews the lease of ``renew`` (the next
        group) until ``lease_until``; returns the ids renewed (those still held)."""
        with self.stores.write() as conn:
            # The renewal first: it may wait for another worker's claim of the same rows (PostgreSQL),
            # and should do so before this transaction holds anything that worker could need.
            renewed = store.renew_leases(conn, [r["id"] for r in renew], token, lease_until) \
                if renew and lease_until is not None else set()
            mine = store.held(conn, [row["id"] for row, _ in results], token)
            kept = [(row, result) for row, result in results if row["id"] in mine]
            if len(kept) < len(results):
                report.fenced += len(results) - len(kept)
                log.warning("outbox: %d messages sent after another worker took them over; their outcome is "
                            "that worker's", len(results) - len(kept))
            changes, inbox_rows, receipts = self._outcomes(kept, now, report)
            store.insert_inbox_many(conn, inbox_rows)
            store.update_messages(conn, changes)
            for workspace_id, staged in receipts.items():
                append_system_events(conn, workspace_id, staged, now)
        if kept:
            self.stores.wakeup.set()
        return renewed

    def _outcomes(self, results: list[tuple[dict[str, Any], SendResult]], now: dt.datetime, report: DispatchReport
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[SystemEvent]]]:
        """Row changes, in-app inbox rows and receipts (by workspace) for sends' results."""
        receipts: dict[str, list[SystemEvent]] = {}
        changes: list[dict[str, Any]] = []
        inbox_rows: list[dict[str, Any]] = []
        for row, result in results:
            attempts = int(row["attempts"]) + 1
            cid = row["customer_id"]
            workspace_id = row["workspace_id"]
            received = receipts.setdefault(workspace_id, [])
            if isinstance(result, Sent):
                values: dict[str, Any] = {"id": row["id"], "status": "sent", "sent_at": now,
                                          "provider_id": result.provider_id, "attempts": attempts,
                                          "lease_until": None, "updated_at": now, "reason": None}
                if row["channel"] == INBOX:
                    content = row["content"] or {}
                    inbox_rows.append({
                        "id": row["id"], "workspace_id": workspace_id, "profile_id": cid,
                        "title": content.get("title") or content.get("subject"),
                        "body": content.get("body") or content.get("text"), "url": content.get("url"),
                        "locale": content.get("locale"), "created_at": now})
                if row["channel"] == INBOX or result.provider_id.startswith("dev-"):
                    values["delivered_at"] = now
                changes.append(values)
                report.sent += 1
                if row["requested_channel"] != WEBHOOK_CALL:
                    received.append(receipt(row, cid, "Message Sent", now, provider_id=result.provider_id))
                    if "delivered_at" in values:
                        received.append(receipt(row, cid, "Message Delivered", now))
                continue
            retryable = isinstance(result, Failed) and result.retryable
            reason = result.reason
            if retryable and attempts < self.settings.outbox_max_attempts:
                delay = self.settings.outbox_backoff_seconds * 2 ** (attempts - 1)
                changes.append({"id": row["id"], "status": "pending", "attempts": attempts, "reason": reason[:500],
                                "next_attempt_at": now + dt.timedelta(seconds=delay), "lease_until": None,
                                "updated_at": now})
                report.retried += 1
                continue
            status = "suppressed" if isinstance(result, Skipped) else "failed"
            changes.append({"id": row["id"], "status": status, "attempts": attempts, "reason": reason[:500],
                            "lease_until": None, "updated_at": now})
            if status == "failed":
                report.failed += 1
            else:
                report.suppressed += 1
                report.by_reason[reason] = report.by_reason.get(reason, 0) + 1
            if row["requested_channel"] != WEBHOOK_CALL:
                received.append(receipt(row, cid, "Message Failed" if status == "failed" else "Message Suppressed",
                                        now, reason=reason[:200]))
        return changes, inbox_rows, receipts


# Where a channel reaches the customer, for adaptive blocks that choose by platform (the others: where
# the customer was last seen, a computed trait).
_PLATFORM_OF = {"push": "app"}


def render_content(public_url: str, template: CompiledTemplate, row: Mapping[str, Any],
                   profile: Mapping[str, Any], channel: str, *, marking: AdMarking,
                   text_alternative: bool = True, conn: Connection | None = None,
                   now: dt.datetime | None = None, audience: adaptive.Audience | None = None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any] | Skipped:
    """One outbox row rendered for its customer, exactly as its channel sends it: the template's parts in
    the customer's locale, what the channel adds to Korean advertising (``as_sent``: ``(광고)``, the
    sender's name and the opt-out line of an SMS, per ``marking``; ``Skipped`` when it may not be sent),
    links tracked and an open pixel added for email, the unsubscribe link for the message. The outbox and
    the preview both render through here. With ``text_alternative`` false an HTML-only e-mail is stored
    without the derived text part (see ``CompiledTemplate.render``). The functions layers above supply
    (``survey_link``...: :mod:`touchline.messaging.functions`) are bound to the message, and read what
    they need through ``conn`` (none: they render samples). ``extra`` holds the variables the registered
    context providers give this customer (``touchline.messaging.context``: ``recommendations``)."""
    base = public_url.rstrip("/")
    unsubscribe_url = f"{base}/u/{row['id']}"
    context = row["context"] or {}
    event = context.get("event") or {}
    variables = {
        **(extra or {}),
        "profile": {"id": profile["id"], "user_id": profile.get("user_id"), "traits": profile.get("traits") or {},
                    "locale": profile.get("locale"), "timezone": profile.get("timezone")},
        "event": event,
        "cart": event.get("cart") if isinstance(event.get("cart"), Mapping) else event,
        "journey": context.get("journey") or {},
        # a journey's survey step: what its template links to (survey_link(survey.name, survey.scale))
        "survey": context.get("survey") if isinstance(context.get("survey"), Mapping) else {},
        "message_id": row["id"],
        "unsubscribe_url": unsubscribe_url,
    }
    factories = template_functions.among(template.names)  # only what the template calls: usually nothing
    if factories:
        scope = template_functions.RenderScope(
            workspace_id=row.get("workspace_id"), public_url=base, profile=variables["profile"], message_id=row["id"],
            channel=channel, now=now or dt.datetime.now(dt.UTC), event=event if isinstance(event, Mapping) else {},
            conn=conn)
        variables.update({name: factory(scope) for name, factory in factories.items()})
    locale = profile.get("locale") or (profile.get("traits") or {}).get("locale")
    rendered = as_sent(channel, row["kind"], template.render(variables, locale=locale, timezone=profile.get("timezone"),
                                                             text_alternative=text_alternative, audience=audience),
                       marking)
    if isinstance(rendered, Skipped):
        return rendered
    content = rendered.as_dict()
    if channel == "email" and rendered.html:
        tracked = track_links(rendered.html, base_url=base, message_id=row["id"], skip=[unsubscribe_url])
        content["html"] = tracked.html
        content["links"] = list(tracked.links)
    content["unsubscribe_url"] = unsubscribe_url
    return content


def _canonical(profiles: Mapping[str, Mapping[str, Any]], customer_id: str) -> str:
    seen = set()
    while customer_id in profiles and profiles[customer_id].get("merged_into") and customer_id not in seen:
        seen.add(customer_id)
        customer_id = profiles[customer_id]["merged_into"]
    return customer_id


def receipt(row: Mapping[str, Any], customer_id: str, name: str, at: dt.datetime, **extra: Any) -> SystemEvent:
    properties = {"message_id": row["id"], "channel": extra.pop("channel", None) or row.get("channel"),
                  "template": row["template"], "kind": row["kind"], "journey_id": row.get("journey_id"),
                  "run_id": row.get("run_id"), "node_id": row.get("node_id"), **extra}
    return SystemEvent(profile_id=customer_id, event=name, properties=properties, timestamp=at,
                       message_id=f"msg-{row['id']}-{name.split()[-1].lower()}")

