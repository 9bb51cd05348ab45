"""The one ingestion path: HTTP, bulk import and the demo all come through :func:`ingest`.

A batch is validated item by item; the good items are de-duplicated by messageId, resolved to
profiles, and written with their profile changes in one state-store transaction, so a batch is
either wholly applied or not at all, and a resend changes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from touchline import eventlog
from touchline.ingest.normalize import IMPLAUSIBLE_PAST, Implausible, NormalizedEvent, normalize, utc
from touchline.ingest.plan import Checked, Problem, TrackingPlan
from touchline.ingest.schemas import MESSAGE, MESSAGES, Message, missing_fields, validation_errors
from touchline.profiles import store as profile_store
from touchline.profiles.identity import IdentityGraph
from touchline.store import dialect
from touchline.store.types import RawJSON

if TYPE_CHECKING:
    from touchline.store.engines import Stores


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)  # stored with a data-quality flag
    profile_ids: list[str] = field(default_factory=list)
    # CPU seconds of the writing thread per stage (its own work, whatever else the process runs).
    timings: dict[str, float] = field(default_factory=dict)
    signals: int = 0  # what the event log's subscribers queued from the transaction (wakes the runner)
    merges: int = 0  # profiles merged by the batch these events were ingested with

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": not self.rejected, "accepted": self.accepted,
                                "duplicates": self.duplicates}
        if self.rejected:
            body["rejected"] = self.rejected
        if self.flagged:
            body["flagged"] = self.flagged
        return body


def parse_items(
    items: Sequence[Any],
    *,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None,
    default_type: str | None,
    max_event_bytes: int,
    phone_region: str,
    source: str | None = None,
    message_id_fallback: Any = None,
    plan: TrackingPlan | None = None,
) -> tuple[list[NormalizedEvent], list[dict[str, Any]]]:
    """Validate each item; a bad item is reported with its index and never spoils the rest.

    Text is NFC-normalised first (a Mac sends Hangul decomposed: 한가람 as jamo), so that every store,
    segment and report sees one spelling. With a ``plan`` (the workspace's, ``quality.plan_for``), the
    properties of planned track events are typed: values read as their type are stored normalised,
    with the values as sent kept in the stored message under ``_touchline.original``; a value that
    cannot be read rejects the message (``plan.invalid == "reject"``) or is stored as sent and listed
    under ``_touchline.flags`` (``"flag"``). Every problem goes to ``plan.sink``."""
    bad: list[dict[str, Any]] = []
    candidates: list[tuple[int, dict[str, Any], str]] = []  # (index, item, its JSON text)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            bad.append({"index": index, "field": "(message)", "reason": "must be a JSON object"})
            continue
        if default_type is not None:
            if item.get("type") not in (None, default_type):
                bad.append({"index": index, "field": "type",
                            "reason": f"this endpoint takes {default_type!r} messages, got {item.get('type')!r}"})
                continue
            item = {**item, "type": default_type}
        if ANNOTATION in item:  # only Touchline writes it
            item = {k: v for k, v in item.items() if k != ANNOTATION}
        try:
            encoded = orjson.dumps(item)
        except (TypeError, orjson.JSONEncodeError) as exc:
            bad.append({"index": index, "field": "(message)", "reason": f"not serialisable as JSON: {exc}"})
            continue
        if len(encoded) > max_event_bytes:
            bad.append({"index": index, "field": "(message)",
                        "reason": f"message is larger than {max_event_bytes // 1024} KB"})
            continue
        payload = encoded.decode()
        if not payload.isascii() and not unicodedata.is_normalized("NFC", payload):
            # JSON text is NFC exactly when every string in it is ('"' composes with nothing).
            payload = unicodedata.normalize("NFC", payload)
            item = orjson.loads(payload)
        if "\\u0000" in payload and _has_nul(item):
            bad.append({"index": index, "field": "(message)",
                        "reason": "text contains a NUL character (\\u0000), which cannot be stored"})
            continue
        candidates.append((index, item, payload))

    good: list[NormalizedEvent] = []
    noted: list[tuple[str, Problem, str, str]] = []  # for plan.sink: (event, problem, outcome, messageId)
    for (index, item, payload), message in _validated(candidates, bad):
        missing = missing_fields(message)
        if missing is not None:
            bad.append({"index": index, "field": "(message)", "reason": missing})
            continue
        message_id = message.get("messageId") or (
            message_id_fallback(index, payload) if message_id_fallback else None) or uuid.uuid4().hex
        checked: Checked | None = None
        if plan is not None and message["type"] == "track":
            checked = plan.check(message.get("event"), message.get("properties"))
            if checked is not None:
                if checked.problems and plan.invalid == "reject":
                    bad.extend({"index": index, **p.detail()} for p in checked.problems)
                    noted.extend((_label(message), p, "rejected", message_id) for p in checked.problems)
                    continue
                message = {**message, "properties": checked.properties}
        try:
            normalized = normalize(
                message,
                index=index,
                message_id=message_id,
                payload_json=payload,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                phone_region=phone_region,
                source=source or _source_of(message),
            )
        except OverflowError:
            bad.append({"index": index, "field": "timestamp",
                        "reason": "date-time out of range once corrected for clock skew (sentAt)"})
            continue
        except Implausible as exc:
            bad.append({"index": index, "field": exc.field, "reason": exc.reason})
            noted.append((_label(message), Problem(exc.field, IMPLAUSIBLE_PAST, exc.value), "rejected", message_id))
            continue
        flags = normalized.flags
        if checked is not None:
            flags = normalized.flags = [*checked.problems, *(flags or ())] or None
        if checked is not None or flags:
            normalized.payload_json = _annotated(item, checked, flags)
            noted.extend((_label(message), p, "flagged", message_id) for p in flags or ())
        good.append(normalized)
    if noted and plan is not None and plan.sink is not None:
        plan.sink(noted)
    bad.sort(key=lambda b: int(b["index"]))  # stable: one message's errors keep their order
    return good, bad


def _label(message: Message) -> str:
    """What a violation is counted under: the event's name, or the message type (identify, page ...)."""
    return str(message.get("event") if message["type"] == "track" else message["type"])


# The key of the stored message under which Touchline keeps what it changed or flagged.
ANNOTATION = "_touchline"


def _annotated(item: dict[str, Any], checked: Checked | None, flags: list[Problem] | None) -> str:
    """The message to store: typed properties, the values as sent of those normalised (by field), and
    the data-quality flags."""
    doc = dict(item)
    note: dict[str, Any] = {}
    if checked is not None:
        doc["properties"] = checked.properties
        if checked.originals:
            note["original"] = checked.originals
    if flags:
        note["flags"] = [p.detail() for p in flags]
    if note:
        doc[ANNOTATION] = note
    return orjson.dumps(doc).decode()


def _validated(candidates: list[tuple[int, dict[str, Any], str]], bad: list[dict[str, Any]]
               ) -> list[tuple[tuple[int, dict[str, Any], str], Message]]:
    """The candidates that pass field validation, with their validated fields; errors go to ``bad``.

    The whole batch goes through the validator in one call (the common case: every message is
    good); only a batch with a bad message is validated again message by message."""
    try:
        return list(zip(candidates, MESSAGES.validate_python([item for _, item, _ in candidates]), strict=True))
    except ValidationError:
        pass
    passed = []
    for candidate in candidates:
        try:
            passed.append((candidate, MESSAGE.validate_python(candidate[1])))
        except ValidationError as exc:
            bad.extend({"index": candidate[0], **e} for e in validation_errors(exc))
    return passed


def _has_nul(value: Any) -> bool:
    """PostgreSQL text cannot hold NUL; refuse it on every backend so that they behave alike."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _source_of(message: Message) -> str:
    library = (message.get("context") or {}).get("library")
    if isinstance(library, dict) and isinstance(library.get("name"), str):
        return str(library["name"])[:64]
    return "api"


def _claim_message_ids(conn: Connection, workspace_id: str, events: list[NormalizedEvent],
                       received_at: dt.datetime) -> set[str]:
    """Record the batch's messageIds and return those not seen before (inserted now)."""
    return eventlog.claim_message_ids(conn, workspace_id, [e.message_id for e in events], received_at)


def ingest(
    stores: Stores,
    workspace_id: str,
    events: list[NormalizedEvent],
    *,
    now: dt.datetime | None = None,
    result: IngestResult | None = None,
) -> IngestResult:
    """Store validated events and apply what they say to profiles, in one transaction."""
    return ingest_many(stores, [(workspace_id, events)], now=now, results=[result or IngestResult()])[0]


def ingest_many(
    stores: Stores,
    batches: Sequence[tuple[str, list[NormalizedEvent]]],
    *,
    now: dt.datetime | None = None,
    results: list[IngestResult] | None = None,
) -> list[IngestResult]:
    """Several batches (from concurrent requests, possibly of several workspaces) in ONE transaction:
    one lock, one commit, one identity lookup per workspace. Each batch gets its own result."""
    results = results or [IngestResult() for _ in batches]
    now = utc(now) or dt.datetime.now(dt.UTC)
    by_workspace: dict[str, list[int]] = {}
    for index, (workspace_id, events) in enumerate(batches):
        if events:
            by_workspace.setdefault(workspace_id, []).append(index)
    if not by_workspace:
        return results
    t0 = time.thread_time()
    with stores.write() as conn:
        t1 = time.thread_time()
        for workspace_id, indices in sorted(by_workspace.items()):
            _ingest_workspace(conn, stores.settings.user_id_conflict, workspace_id,
                              [(i, e) for i in indices for e in batches[i][1]], results, now)
        t2 = time.thread_time()
    t3 = time.thread_time()
    for r in results:
        if r.timings:
            r.timings = {"begin (write lock)": t1 - t0, **r.timings, "commit": t3 - t2}
    if any(r.signals for r in results):
        stores.wakeup.set()
    return results


def ingest_in(conn: Connection, stores: Stores, workspace_id: str, events: list[NormalizedEvent], *,
              now: dt.datetime) -> IngestResult:
    """:func:`ingest` inside the caller's state-store transaction: for a domain that records what a
    message tells about a customer (who they are on a channel) together with its own rows, all or
    nothing (a conversation's inbound message). The caller sets ``stores.wakeup`` when ``signals``."""
    result = IngestResult()
    if events:
        _ingest_workspace(conn, stores.settings.user_id_conflict, workspace_id, [(0, e) for e in events], [result],
                          utc(now) or now)
    return result


def ingest_each_in(conn: Connection, stores: Stores, workspace_id: str, events: Sequence[NormalizedEvent], *,
                   now: dt.datetime) -> list[IngestResult]:
    """:func:`ingest_in` for several events at once, each with a result of its own (its profile): one
    lock, one messageId de-duplication, one identity look-up for all of them."""
    results = [IngestResult() for _ in events]
    if events:
        _ingest_workspace(conn, stores.settings.user_id_conflict, workspace_id, list(enumerate(events)), results,
                          utc(now) or now)
    return results


def _ingest_workspace(conn: Connection, policy: Any, workspace_id: str,
                      tagged: list[tuple[int, NormalizedEvent]], results: list[IngestResult],
                      now: dt.datetime) -> None:
    t0 = time.thread_time()
    dialect.lock_workspace_identities(conn, workspace_id)
    fresh_ids = _claim_message_ids(conn, workspace_id, [e for _, e in tagged], now)
    seen: set[str] = set()
    todo: list[tuple[int, NormalizedEvent]] = []
    for owner, e in tagged:
        if e.message_id in fresh_ids and e.message_id not in seen:
            seen.add(e.message_id)
            todo.append((owner, e))
        else:
            results[owner].duplicates += 1
    t1 = time.thread_time()
    if not todo:
        return
    keys = list(dict.fromkeys(k for _, e in todo for k in _lookup_keys(e)))
    known = profile_store.load_identities(conn, workspace_id, keys)
    observations = [e for _, e in todo]  # a NormalizedEvent is what the graph observes
    # Preload, in one query, the profiles that events able to change a profile or merge two may touch;
    # an ordinary event whose identifiers all belong to one profile needs none.
    wanted = {
        known[k]
        for obs in observations
        if IdentityGraph.needs_state(obs) or len({known.get(k) for k in obs.identifiers}) != 1
        or any(k not in known for k in obs.identifiers)
        for k in obs.identifiers if k in known
    }
    states = profile_store.load_profile_states(conn, workspace_id, wanted)
    graph = IdentityGraph(known, states, policy=policy,
                          load=lambda ids: profile_store.load_profile_states(conn, workspace_id, ids))
    t2 = time.thread_time()
    for (_, e), obs in zip(todo, observations, strict=True):
        e.profile_id = graph.resolve(obs, now)
    t3 = time.thread_time()
    profile_store.save_graph(conn, workspace_id, graph, now)
    t4 = time.thread_time()
    # Profiles merged later in the same batch: point earlier events at the survivor.
    for _, e in todo:
        e.profile_id = graph.canonical(e.profile_id)
    queued = eventlog.append(conn, workspace_id, [_staging_row(workspace_id, e) for _, e in todo],
                             [e for _, e in todo], now)
    t5 = time.thread_time()
    timings = {"messageId de-dup": t1 - t0, "identity + profile load": t2 - t1, "identity resolution": t3 - t2,
               "profile + identity writes": t4 - t3, "stage + publish events": t5 - t4}
    listed = {owner: set(results[owner].profile_ids) for owner in {owner for owner, _ in todo}}
    for owner, e in todo:
        results[owner].accepted += 1
        if e.flags:
            results[owner].flagged.extend({"index": e.index, **p.detail()} for p in e.flags)
        if e.profile_id not in listed[owner]:
            listed[owner].add(e.profile_id)
            results[owner].profile_ids.append(e.profile_id)
    for owner in listed:
        results[owner].timings = timings
        results[owner].signals = queued
        results[owner].merges = len(graph.merges)


def _lookup_keys(e: NormalizedEvent) -> list[tuple[str, str]]:
    keys = list(e.identifiers)
    if e.previous_id:
        keys += [("user_id", e.previous_id), ("anonymous_id", e.previous_id)]
    return keys


def _staging_row(workspace_id: str, e: NormalizedEvent) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id, "message_id": e.message_id, "type": e.type, "event": e.event,
        "profile_id": e.profile_id, "anonymous_id": e.anonymous_id, "user_id": e.user_id,
        "timestamp": e.timestamp, "original_timestamp": e.original_timestamp, "sent_at": e.sent_at,
        "received_at": e.received_at, "channel": e.channel, "device_type": e.device_type,
        "device_id": e.device_id, "payload": RawJSON(e.payload_json),
    }
