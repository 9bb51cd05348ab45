"""The journey runner: drives the pure engine (``engine.step``) with signals, timers and dates, and
persists each transition with its side effects in one state-store transaction.

- **Signals** (events captured at ingestion, API triggers) are claimed in order, applied to the
  customer's active runs, and start new runs of published journeys whose trigger matches. A run id is
  derived from the entry (journey, customer, the trigger's messageId), so a signal replayed after a
  crash finds its run already there and starts nothing twice.
- **Timers** that are due are claimed and fired; a stale timer changes nothing (the engine checks).
- **Date triggers** (birthday, N days after sign-up) are found by a periodic scan of profiles.
- Every command lands in the same transaction as the run's new state: steps, timers, outbox rows
  (under the engine's deterministic ids, inserted with on-conflict-do-nothing), trait updates.

A crash anywhere rolls the whole transaction back: the signal or timer is still there and is applied
again, producing the same ids. The outbox then sends each message once (see ``messaging.outbox``).

On the embedded default the runner is a thread of ``touchline serve``; on PostgreSQL any number of
``touchline worker`` processes share signals, timers and the outbox with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.journeys import store
from touchline.journeys.definition import (
    DateTraitTrigger,
    EventTrigger,
    GeofenceTrigger,
    JourneyDefinition,
    SegmentEnteredTrigger,
    SegmentExitedTrigger,
    parse,
)
from touchline.journeys.engine import (
    CallWebhook,
    CancelTimer,
    Converted,
    EventReceived,
    Facts,
    Needs,
    RecordStep,
    RunState,
    ScheduleTimer,
    SegmentChanged,
    Send,
    Signal,
    Start,
    Stop,
    TimerFired,
    Transition,
    UpdateTraits,
    facts_needed,
    message_node_ids,
    new_run,
    step,
)
from touchline.journeys.signals import SEGMENT_ENTERED, SEGMENT_EXITED, listened_names
from touchline.journeys.triggers import (
    PastRun,
    event_matches,
    geofence_entered,
    may_enter,
    next_date_trigger,
    run_id_for,
)
from touchline.messaging import store as message_store
from touchline.messaging.outbox import WEBHOOK_CALL, DispatchReport, Outbox
from touchline.messaging.templates import TemplateRenderError, validate_template
from touchline.profiles import store as profile_store
from touchline.segments import store as segment_store
from touchline.store import dialect
from touchline.store.schema import event_staging, events, profiles
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["API_SIGNAL_PREFIX", "Runner", "TickReport", "run_state", "state_document"]

log = logging.getLogger("touchline.journeys")

API_SIGNAL_PREFIX = "journey:api:"  # signal event name of an API trigger: prefix + journey id
DATE_SCAN_EVERY = dt.timedelta(minutes=5)
_START = Start()  # signals are frozen: one start serves every new run


@dataclass
class TickReport:
    signals: int = 0
    timers: int = 0
    entered: int = 0
    dates: int = 0
    outbox: DispatchReport = field(default_factory=DispatchReport)

    @property
    def busy(self) -> bool:
        return bool(self.signals or self.timers or self.dates or self.outbox.claimed)


@dataclass
class _Live:
    journey_id: str
    status: str
    definition: JourneyDefinition


class _Batch:
    """What one transaction writes, gathered while the engine steps runs."""

    def __init__(self) -> None:
        self.new_runs: list[dict[str, Any]] = []
        self.new_ids: set[str] = set()  # of new_runs: their rows carry every update already
        self.updates: dict[str, dict[str, Any]] = {}
        self.steps: list[dict[str, Any]] = []
        self.timers: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.traits: list[tuple[str, str, dict[str, Any], str]] = []
        self.entered = 0


class Runner:
    """One process's journey worker. ``tick`` does one round of everything; ``start`` runs rounds in a
    thread until ``stop``."""

    def __init__(self, stores: Stores, *, outbox: Outbox | None = None,
                 clock: Callable[[], dt.datetime] | None = None, batch: int | None = None) -> None:
        self.stores = stores
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.outbox = outbox or Outbox(stores, clock=self.clock)
        # Signals, timers and outbox rows per transaction (settings.journey_batch, see there).
        self.batch = batch or stores.settings.journey_batch
        self._definitions: dict[tuple[str, str, int], JourneyDefinition] = {}
        # Derived once per version: the event names its runs react to, the facts its conditions read.
        self._listens: dict[tuple[str, str, int], set[str]] = {}
        self._needs: dict[tuple[str, str, int], Needs] = {}
        self._message_nodes: dict[tuple[str, str, int], frozenset[str]] = {}
        self._last_date_scan: dt.datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loop

    def tick(self, now: dt.datetime | None = None, *, dispatch: bool = True) -> TickReport:
        given, now = now, now or self.clock()
        report = TickReport()
        while True:
            n, entered = self.process_signals(now)
            report.signals += n
            report.entered += entered
            if n < self.batch:
                break
        while True:
            n = self.fire_timers(now)
            report.timers += n
            if n < self.batch:
                break
        if self._last_date_scan is None or now - self._last_date_scan >= DATE_SCAN_EVERY:
            self._last_date_scan = now
            report.dates = self.scan_date_triggers(now)
        if dispatch:
            while True:
                # The outbox claims its own batch (settings.outbox_batch) and, unless given a time, reads
                # its clock for each: leases counted from the tick's start would be short by the time
                # spent since (another worker would take rows over while they are being sent).
                r = self.outbox.dispatch(now=given)
                report.outbox.add(r)
                if r.claimed < self.outbox.batch:
                    break
        return report

    def start(self) -> None:
        self._thread = named_thread(self._run, "touchline-journeys")
        self._thread.start()

    def _run(self) -> None:
        poll = self.stores.settings.runner_poll_seconds
        while not self._stop.is_set():
            self.stores.wakeup.clear()
            try:
                report = self.tick()
            except Exception:
                log.exception("journey round failed; retrying")
                report = TickReport()
            if not report.busy:
                self.stores.wakeup.wait(poll)

    def stop(self) -> None:
        self._stop.set()
        self.stores.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # --- definitions

    def definition(self, conn: Connection, workspace_id: str, journey_id: str, version: int
                   ) -> JourneyDefinition | None:
        key = (workspace_id, journey_id, version)
        found = self._definitions.get(key)
        if found is None:
            raw = store.version_definition(conn, workspace_id, journey_id, version)
            if raw is None:
                return None
            found = self._definitions[key] = parse(raw)
            self._listens[key] = listened_names(found, entering=False)
            self._needs[key] = facts_needed(found)
            self._message_nodes[key] = message_node_ids(found)
        return found

    def _live(self, conn: Connection) -> dict[str, list[_Live]]:
        out: dict[str, list[_Live]] = {}
        for row in store.live_journeys(conn):
            d = self.definition(conn, row["workspace_id"], row["id"], row["published_version"])
            if d is not None:
                out.setdefault(row["workspace_id"], []).append(_Live(row["id"], row["status"], d))
        return out

    def _statuses(self, conn: Connection, workspace_id: str) -> dict[str, str]:
        return {j["id"]: j["status"] for j in store.all_journeys(conn, workspace_id)}

    # --- signals

    def process_signals(self, now: dt.datetime) -> tuple[int, int]:
        """Apply up to ``batch`` queued signals in one transaction; (signals applied, runs entered)."""
        with self.stores.read() as conn:
            if not store.any_signal(conn):
                return 0, 0
        with self.stores.write() as conn:
            signals = store.claim_signals(conn, self.batch)
            if not signals:
                return 0, 0
            live = self._live(conn)
            batch = _Batch()
            by_ws: dict[str, list[dict[str, Any]]] = {}
            for s in signals:
                by_ws.setdefault(s["workspace_id"], []).append(s)
            for workspace_id, items in by_ws.items():
                self._signals_of_workspace(conn, workspace_id, items, live.get(workspace_id, []), batch, now)
            self._write(conn, batch, now)
            store.delete_signals(conn, [s["seq"] for s in signals])
        if batch.messages:
            self.stores.wakeup.set()
        return len(signals), batch.entered

    def _signals_of_workspace(self, conn: Connection, workspace_id: str, items: list[dict[str, Any]],
                              live: list[_Live], batch: _Batch, now: dt.datetime) -> None:
        facts = profile_store.profile_facts(conn, workspace_id, sorted({s["profile_id"] for s in items}))
        canonical = {pid: (f["merged_into"] or pid) for pid, f in facts.items()}
        survivors = sorted(set(canonical.values()) - set(facts))
        facts.update(profile_store.profile_facts(conn, workspace_id, survivors))
        customers = sorted(set(canonical.values()))
        store.lock_customers(conn, customers)
        runs = store.runs_of_customers(conn, workspace_id, customers, for_update=True)
        statuses = self._statuses(conn, workspace_id)
        max_age = dt.timedelta(hours=self.stores.settings.journey_entry_max_age_hours)
        for s in items:
            cid = canonical.get(s["profile_id"], s["profile_id"])
            name: str = s["event"]
            properties = dict(s["properties"] or {})
            at = s["timestamp"]
            if name.startswith(API_SIGNAL_PREFIX):
                journey_id = name[len(API_SIGNAL_PREFIX):]
                for j in live:
                    if j.journey_id == journey_id and j.status == "published":
                        self._enter(conn, workspace_id, j, cid, f"api:{s['message_id']}", properties,
                                    now, runs, facts, batch)
                continue
            # First the runs already there (an event that starts a run is not also its first event).
            for run in [r for r in runs.get(cid, []) if r["status"] in store.ACTIVE]:
                if statuses.get(run["journey_id"]) == "paused":
                    continue
                d = self.definition(conn, workspace_id, run["journey_id"], run["version"])
                if d is None or name not in self._listens[(workspace_id, d.id, d.version)]:
                    continue
                signal: Signal
                if name in (SEGMENT_ENTERED, SEGMENT_EXITED) and properties.get("segment_id"):
                    signal = SegmentChanged(segment_id=str(properties["segment_id"]), entered=name == SEGMENT_ENTERED)
                else:
                    signal = EventReceived(name=name, properties=properties, at=at)
                self._step(conn, workspace_id, d, run, signal, now, facts.get(cid), batch)
            if now - at > max_age:
                continue  # a late or imported old event updates runs but starts none
            previous_location = None
            location_checked = False
            for j in live:
                if j.status != "published":
                    continue
                t = j.definition.trigger
                key: str | None = None
                trigger_props = properties
                if isinstance(t, EventTrigger) and event_matches(t, name, properties, now):
                    key = s["message_id"]
                elif isinstance(t, SegmentEnteredTrigger | SegmentExitedTrigger):
                    wanted = SEGMENT_ENTERED if isinstance(t, SegmentEnteredTrigger) else SEGMENT_EXITED
                    if name == wanted and properties.get("segment_id") == t.segment_id:
                        key = s["message_id"]
                elif isinstance(t, GeofenceTrigger):
                    if not location_checked:
                        previous_location = store.last_location(conn, workspace_id, cid)
                        location_checked = True
                    entered = geofence_entered(t, name, properties, previous_location)
                    if entered is not None:
                        key = s["message_id"]
                        trigger_props = {**properties, "store_id": entered.id, "store_name": entered.name}
                if key is not None:
                    self._enter(conn, workspace_id, j, cid, key, trigger_props, at, runs, facts, batch,
                                step_now=now)
            if "latitude" in properties and "longitude" in properties:
                store.set_location(conn, workspace_id, cid, properties, at)

    def _enter(self, conn: Connection, workspace_id: str, j: _Live, customer_id: str, entry_key: str,
               trigger: Mapping[str, Any], entered_at: dt.datetime, runs: dict[str, list[dict[str, Any]]],
               facts: Mapping[str, Mapping[str, Any]], batch: _Batch, *, step_now: dt.datetime | None = None) -> None:
        past = [r for r in runs.get(customer_id, []) if r["journey_id"] == j.journey_id]
        run_id = run_id_for(j.journey_id, customer_id, entry_key)
        if any(r["run_id"] == run_id for r in past):
            return  # this entry was already applied
        history = [PastRun(r["entered_at"], r["ended_at"]) for r in past]
        now = step_now or entered_at
        if not may_enter(j.definition.reentry, history, now):
            return
        run = new_run(j.definition, run_id=run_id, customer_id=customer_id, entered_at=min(entered_at, now),
                      trigger=dict(trigger))
        row = {"run_id": run_id, "workspace_id": workspace_id, "journey_id": j.journey_id,
               "version": j.definition.version, "customer_id": customer_id, "status": run.status,
               "node_id": None, "state": None, "entered_at": run.entered_at,
               "updated_at": now, "ended_at": None, "exit_reason": None, "converted_at": None, "holdout": False}
        batch.new_runs.append(row)
        batch.new_ids.add(run_id)
        runs.setdefault(customer_id, []).append(row)
        batch.entered += 1
        self._step(conn, workspace_id, j.definition, row, _START, now, facts.get(customer_id), batch, state=run)
        if row["state"] is None:  # the start changed nothing (the step writes the state it produced)
            row["state"] = state_document(run)

    # --- timers

    def fire_timers(self, now: dt.datetime) -> int:
        with self.stores.read() as conn:
            if not store.any_due_timer(conn, now):
                return 0
        with self.stores.write() as conn:
            due = store.claim_due_timers(conn, now, self.batch)
            if not due:
                return 0
            batch = _Batch()
            by_ws: dict[str, list[dict[str, Any]]] = {}
            for t in due:
                by_ws.setdefault(t["workspace_id"], []).append(t)
            for workspace_id, timers in by_ws.items():
                run_rows = store.runs_by_id(conn, [t["run_id"] for t in timers], for_update=True)
                facts = profile_store.profile_facts(conn, workspace_id,
                                                    sorted({r["customer_id"] for r in run_rows.values()}))
                for t in sorted(timers, key=lambda t: (t["due_at"], t["id"])):
                    row = run_rows.get(t["run_id"])
                    if row is None or row["status"] not in store.ACTIVE:
                        continue
                    d = self.definition(conn, workspace_id, row["journey_id"], row["version"])
                    if d is None:
                        continue
                    self._step(conn, workspace_id, d, row, TimerFired(node_id=t["node_id"], attempt=t["attempt"]),
                               now, facts.get(row["customer_id"]), batch)
            store.delete_timers(conn, [t["id"] for t in due])
            self._write(conn, batch, now)
        if batch.messages:
            self.stores.wakeup.set()
        return len(due)

    # --- dates

    def scan_date_triggers(self, now: dt.datetime) -> int:
        """Start date-trait journeys whose moment (trait date + offset at a local time) fell between
        the last scan and ``now``."""
        started = 0
        with self.stores.write() as conn:
            live = self._live(conn)
            for workspace_id, journeys_ in live.items():
                for j in journeys_:
                    t = j.definition.trigger
                    if j.status != "published" or not isinstance(t, DateTraitTrigger):
                        continue
                    since = store.cursor(conn, workspace_id, j.journey_id)
                    if since is None:
                        store.set_cursor(conn, workspace_id, j.journey_id, now)
                        continue
                    started += self._scan_one(conn, workspace_id, j, t, since, now)
                    store.set_cursor(conn, workspace_id, j.journey_id, now)
        if started:
            self.stores.wakeup.set()
        return started

    def _scan_one(self, conn: Connection, workspace_id: str, j: _Live, t: DateTraitTrigger, since: dt.datetime,
                  now: dt.datetime) -> int:
        value = dialect.state_json_text(conn, profiles.c.traits, t.trait)
        rows = conn.execute(sa.select(profiles.c.id, value, profiles.c.timezone).where(
            profiles.c.workspace_id == workspace_id, profiles.c.merged_into.is_(None), value.is_not(None)))
        # The moment in (since, now]: the next one after ``since`` that is not after ``now``.
        due = [(pid, at) for pid, raw, tz in rows
               if (at := next_date_trigger(t, raw, tz, since)) is not None and at <= now]
        started = 0
        for i in range(0, len(due), self.batch):
            chunk = due[i:i + self.batch]
            ids = [pid for pid, _ in chunk]
            runs = store.runs_of_customers(conn, workspace_id, ids)
            facts = profile_store.profile_facts(conn, workspace_id, ids)
            batch = _Batch()
            for pid, at in chunk:
                self._enter(conn, workspace_id, j, pid, f"date:{at.date().isoformat()}", {"date": at.isoformat()},
                            at, runs, facts, batch, step_now=now)
            self._write(conn, batch, now)
            started += batch.entered
        return started

    # --- API

    def stop_runs(self, workspace_id: str, journey_id: str, reason: str, now: dt.datetime | None = None) -> int:
        """Exit every active run of a journey (archiving it)."""
        now = now or self.clock()
        stopped = 0
        while True:
            with self.stores.write() as conn:
                ids = store.active_run_ids(conn, workspace_id, journey_id, self.batch)
                if not ids:
                    return stopped
                batch = _Batch()
                for run_id in ids:
                    row = store.run_row(conn, run_id, for_update=True)
                    if row is None:
                        continue
                    d = self.definition(conn, workspace_id, journey_id, row["version"])
                    if d is not None:
                        self._step(conn, workspace_id, d, row, Stop(reason=reason), now, None, batch)
                self._write(conn, batch, now)
                stopped += len(ids)

    # --- stepping and writing

    def _step(self, conn: Connection, workspace_id: str, d: JourneyDefinition, row: dict[str, Any],
              signal: Signal, now: dt.datetime, profile: Mapping[str, Any] | None, batch: _Batch, *,
              state: RunState | None = None) -> None:
        """``state``: the run's state when the caller has it as an object already (a run just made)."""
        if state is None:
            state = run_state(row)
        facts = self._facts(conn, workspace_id, d, state, profile, now)
        transition = step(d, state, signal, now, facts)
        if not transition.commands:
            return
        self._collect(workspace_id, d, row, transition, now, profile, batch)

    def _facts(self, conn: Connection, workspace_id: str, d: JourneyDefinition, run: RunState,
               profile: Mapping[str, Any] | None, now: dt.datetime) -> Facts:
        needs = self._needs[(workspace_id, d.id, d.version)]
        traits = (profile or {}).get("traits") or {}
        segments = None
        if needs.segments:
            member_of = {s["id"] for s in segment_store.segments_of(conn, workspace_id, run.customer_id)}
            segments = {sid: sid in member_of for sid in needs.segments}
        history = None
        if needs.events:
            history = self._events_since(conn, workspace_id, run.customer_id, run.entered_at, needs.events)
        return Facts(timezone=(profile or {}).get("timezone"), traits=traits, segments=segments, events=history)

    def _events_since(self, conn: Connection, workspace_id: str, customer_id: str, since: dt.datetime,
                      names: frozenset[str]) -> list[EventReceived]:
        ids = profile_store.merged_profile_ids(conn, workspace_id, customer_id) or [customer_id]
        out: list[EventReceived] = []
        staged = sa.select(event_staging.c.event, event_staging.c.timestamp, event_staging.c.payload).where(
            event_staging.c.workspace_id == workspace_id, event_staging.c.profile_id.in_(ids),
            event_staging.c.event.in_(sorted(names)), event_staging.c.timestamp >= since)
        for name, at, payload in conn.execute(staged):
            props = dialect.payload_parts(payload).get("properties") or {}
            out.append(EventReceived(name=name, properties=props, at=at))
        with self.stores.events_conn() as econn:
            stored = sa.select(events.c.event, events.c.timestamp, events.c.properties).where(
                events.c.workspace_id == workspace_id, dialect.any_of(events.c.profile_id, ids),
                dialect.any_of(events.c.event, sorted(names)), events.c.timestamp >= since)
            out += [EventReceived(name=n, properties=p or {}, at=a) for n, a, p in econn.execute(stored)]
        return out

    def _collect(self, workspace_id: str, d: JourneyDefinition, row: dict[str, Any], transition: Transition,
                 now: dt.datetime, profile: Mapping[str, Any] | None, batch: _Batch) -> None:
        run = transition.run
        run_id = run.run_id
        values = {"status": run.status, "node_id": run.node_id, "state": state_document(run),
                  "updated_at": now, "ended_at": run.ended_at, "exit_reason": run.exit_reason}
        messages_at = self._message_nodes[(workspace_id, d.id, d.version)]
        for c in transition.commands:
            if isinstance(c, RecordStep):
                if c.outcome == "exit" or (c.outcome == "entered" and c.node_id in messages_at):
                    continue  # the completed run's row says it, or the message's (engine.exit_step, entered_steps)
                batch.steps.append({"id": c.id, "workspace_id": workspace_id, "journey_id": d.id,
                                    "version": d.version, "run_id": run_id, "node_id": c.node_id,
                                    "attempt": c.attempt, "outcome": c.outcome, "at": c.at})
                if c.outcome == "holdout":
                    values["holdout"] = True
            elif isinstance(c, ScheduleTimer):
                batch.timers.append({"id": c.id, "workspace_id": workspace_id, "run_id": run_id,
                                     "node_id": c.node_id, "attempt": c.attempt, "due_at": c.at})
            elif isinstance(c, CancelTimer):
                batch.cancelled.append(c.id)
            elif isinstance(c, Send):
                batch.messages.append(self._message(workspace_id, d, run, c.id, c.node_id, c.template, c.kind,
                                                    c.channel, {}, now))
            elif isinstance(c, CallWebhook):
                batch.messages.append(self._webhook(workspace_id, d, run, c, profile, now))
            elif isinstance(c, UpdateTraits):
                batch.traits.append((workspace_id, run.customer_id, dict(c.traits), f"journey:{d.id}"))
            elif isinstance(c, Converted):
                values["converted_at"] = c.at
        row.update(values)
        if run_id not in batch.new_ids:
            batch.updates[run_id] = values

    def _message(self, workspace_id: str, d: JourneyDefinition, run: RunState, message_id: str, node_id: str,
                 template: str, kind: str, channel: str, extra: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        context = {"event": run.trigger, "journey": {"id": d.id, "name": d.name, "version": d.version}, **extra}
        return {"id": message_id, "workspace_id": workspace_id, "customer_id": run.customer_id,
                "journey_id": d.id, "run_id": run.run_id, "node_id": node_id, "template": template, "kind": kind,
                "requested_channel": channel, "channel": None, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "context": context, "created_at": now, "updated_at": now}

    def _webhook(self, workspace_id: str, d: JourneyDefinition, run: RunState, c: CallWebhook,
                 profile: Mapping[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
        body = None
        if c.body is not None:
            variables = {"profile": {"id": run.customer_id, "traits": (profile or {}).get("traits") or {}},
                         "event": run.trigger, "journey": {"id": d.id, "name": d.name}, "run_id": run.run_id}
            try:
                body = validate_template({"key": f"{d.id}:{c.node_id}", "channel": "webhook",
                                          "variants": {"en": {"text": c.body}}, "default_locale": "en"}
                                         ).render(variables).text
            except TemplateRenderError as exc:
                body = None
                log.warning("webhook body of %s/%s did not render: %s", d.id, c.node_id, exc)
        call = {"url": c.url, "method": c.method, "headers": dict(c.headers), "rendered_body": body}
        return self._message(workspace_id, d, run, c.id, c.node_id, f"webhook:{c.node_id}", "transactional",
                             WEBHOOK_CALL, {"webhook": call}, now) | {"channel": "webhook"}

    def _write(self, conn: Connection, batch: _Batch, now: dt.datetime) -> None:
        """Everything a batch gathered, in the caller's transaction; a batch is written once."""
        store.insert_runs(conn, batch.new_runs)
        for run_id, values in batch.updates.items():
            store.save_run(conn, run_id, **values)
        store.insert_steps(conn, batch.steps)
        store.delete_timers(conn, batch.cancelled)
        cancelled = set(batch.cancelled)
        store.insert_timers(conn, [t for t in batch.timers if t["id"] not in cancelled])
        message_store.insert_messages(conn, batch.messages)
        for workspace_id, customer_id, traits, source in batch.traits:
            profile_store.set_traits(conn, workspace_id, customer_id, traits, now, source)


# A run's row holds its RunState: the columns what they hold (and what queries filter on), the ``state``
# document the rest. Not the whole state again: that doubled what a run writes and the JSON to encode.
# A row written before holds the whole state there; the columns agree with it.
_RUN_COLUMNS = ("run_id", "journey_id", "customer_id", "version", "entered_at", "status", "node_id", "ended_at",
                "exit_reason")


def state_document(run: RunState) -> dict[str, Any]:
    """The part of ``run`` its row keeps in the ``state`` column."""
    return {"trigger": run.trigger, "wait": None if run.wait is None else run.wait.model_dump(mode="json"),
            "attempts": dict(run.attempts), "visited": run.visited}


def run_state(row: Mapping[str, Any]) -> RunState:
    """The RunState of a run's row (``state_document`` and the columns)."""
    return RunState.model_validate({**row["state"], **{k: row[k] for k in _RUN_COLUMNS}})


def queue_api_trigger(conn: Connection, workspace_id: str, journey_id: str, profile_id: str, key: str,
                      properties: Mapping[str, Any], now: dt.datetime) -> None:
    store.insert_signals(conn, [{"workspace_id": workspace_id, "profile_id": profile_id, "message_id": key,
                                 "event": API_SIGNAL_PREFIX + journey_id, "properties": dict(properties),
                                 "timestamp": now, "received_at": now}])

