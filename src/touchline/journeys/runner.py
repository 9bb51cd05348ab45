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

One bad journey stops nothing else:

- **A run's failure is its own.** Stepping a run (facts, the engine, rendering a webhook body) happens in
  memory before the batch is written; whatever goes wrong there (a body that does not render, a bug) is
  caught for that run alone, and the rest of the batch is written. The run keeps its state, records the
  error (``errors``, ``last_error``, ``failed_at``) and keeps the signal it failed on, with the signals
  that come for it meanwhile, for a retry timer (``journey_retry_seconds``, doubling); after
  ``journey_retry_attempts`` failures in a row it ends as ``failed`` with the reason.
- **A journey that keeps failing is paused** with an alert (reason, time) once
  ``journey_pause_failures`` of its runs started to fail within ``journey_pause_window_minutes``;
  resuming clears it.
- **A batch the database refuses** (an error while writing it, not a lock or a lost connection) is
  tried again in halves down to one signal or timer; one that fails alone while others pass is set aside
  (a signal into ``journey_signal_failures``, a timer as its run's failure).
- **Each phase of a round** (signals, timers, the date scan, outbox dispatch) runs even when another
  failed.

On the embedded default the runner is a thread of ``touchline serve``; on PostgreSQL any number of
``touchline worker`` processes share signals, timers and the outbox with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.errors import TouchlineError
from touchline.eventlog import SystemEvent, append_system_events
from touchline.experiments import sendtime
from touchline.experiments import service as experiment_service
from touchline.experiments import store as experiment_store
from touchline.experiments.assignment import Plan
from touchline.journeys import signals as signal_capture
from touchline.journeys import store
from touchline.journeys.definition import (
    BanditNode,
    DateTraitTrigger,
    EventTrigger,
    GeofenceTrigger,
    JourneyDefinition,
    SegmentEnteredTrigger,
    SegmentExitedTrigger,
    WaitNode,
    experiment_id_of,
    experiment_nodes,
    parse,
    webhook_bodies,
)
from touchline.journeys.engine import (
    AskInChat,
    AwardPoints,
    CallWebhook,
    CancelTimer,
    Completed,
    Converted,
    EventReceived,
    Exited,
    Expose,
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
    command_id,
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
from touchline.messaging.templates import CompiledTemplate
from touchline.profiles import store as profile_store
from touchline.segments import store as segment_store
from touchline.store import dialect
from touchline.store.schema import event_staging, events, profiles
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["API_SIGNAL_PREFIX", "RETRY_TIMER", "Runner", "TickReport", "run_state", "state_document"]

log = logging.getLogger("touchline.journeys")

API_SIGNAL_PREFIX = "journey:api:"  # signal event name of an API trigger: prefix + journey id
DATE_SCAN_EVERY = dt.timedelta(minutes=5)
BANDIT_CHECK_EVERY = dt.timedelta(minutes=5)  # how often the runner asks whether a bandit's weights are due
_START = Start()  # signals are frozen: one start serves every new run
# The node id of a retry timer (node ids are never empty): when due, the run's kept signals are applied.
RETRY_TIMER = ""
MAX_RETRY_DELAY = dt.timedelta(hours=6)
MAX_KEPT_SIGNALS = 100  # signals kept for a run waiting for its retry; later ones are dropped (logged)
SUSPECT_ROUNDS = 3  # a signal or timer failing alone with nothing else to compare is set aside after this
MAX_SUSPECTS = 3  # more failing alone in a row: the fault is not theirs
_SIGNAL: pydantic.TypeAdapter[Signal] = pydantic.TypeAdapter(Signal)


class _BatchFailed(Exception):
    """A batch could not be written; ``keys``: the signal seqs or timer ids it had claimed."""

    def __init__(self, keys: list[Any]) -> None:
        super().__init__(f"a batch of {len(keys)} failed")
        self.keys = keys


@dataclass
class TickReport:
    signals: int = 0
    timers: int = 0
    entered: int = 0
    dates: int = 0
    failures: int = 0  # run steps that failed (each recorded on its run)
    set_aside: int = 0  # signals and timers that failed alone
    failed_phases: list[str] = field(default_factory=list)
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
        # by workspace: what other domains are asked to do (Points Award Requested, Chat Survey Requested)
        self.awards: dict[str, list[SystemEvent]] = {}
        # workspace -> first exposures to experiments (experiment, customer, arm, source)
        self.exposures: dict[str, list[tuple[str, str, str, str]]] = {}
        self.entered = 0
        self.failures = 0
        # per (workspace, journey, version): runs that started to fail, and the last reason
        self.failing: dict[tuple[str, str, int], tuple[int, str]] = {}
        self.paused = False  # a journey was paused for failing


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
        # The experiments a version's split and bandit nodes run, and their plans read once per batch.
        self._experiments: dict[tuple[str, str, int], tuple[str, ...]] = {}
        self._plans: dict[tuple[str, str], Plan | None] = {}
        self._last_bandit_check: dt.datetime | None = None
        # Versions with a wait until the customer's best hour; the audience's best hour per workspace and day.
        self._best_hour_waits: dict[tuple[str, str, int], bool] = {}
        self._audience_hour: dict[tuple[str, dt.date], int | None] = {}
        # Webhook bodies compiled once per version: node -> template, or why it does not compile.
        self._bodies: dict[tuple[str, str, int], dict[str, CompiledTemplate | str]] = {}
        self._unreadable: dict[tuple[str, str, int], str] = {}  # versions that do not parse, and why
        # Signals and timers that failed alone: how many rounds in a row (see ``_drain``).
        self._suspects: dict[Any, int] = {}
        self._last_date_scan: dt.datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loop

    def tick(self, now: dt.datetime | None = None, *, dispatch: bool = True) -> TickReport:
        """One round: signals, due timers, the date scan (every DATE_SCAN_EVERY) and outbox dispatch. A
        phase that fails is logged and the next one runs all the same."""
        given, now = now, now or self.clock()
        report = TickReport()
        self._phase("signals", report, lambda: self._drain(
            "signals", lambda limit, skip: self._signals(now, limit, skip, report),
            lambda seq, exc: self._set_signal_aside(seq, exc, now), report))
        self._phase("timers", report, lambda: self._drain(
            "timers", lambda limit, skip: self._timers(now, limit, skip, report),
            lambda timer_id, exc: self._set_timer_aside(timer_id, exc, now), report))
        if self._last_date_scan is None or now - self._last_date_scan >= DATE_SCAN_EVERY:
            self._last_date_scan = now

            def scan() -> None:
                report.dates = self.scan_date_triggers(now)
            self._phase("dates", report, scan)
        if self._last_bandit_check is None or now - self._last_bandit_check >= BANDIT_CHECK_EVERY:
            self._last_bandit_check = now

            def bandits() -> None:
                self.update_bandits(now)
            self._phase("bandits", report, bandits)
        if dispatch:
            def send() -> None:
                while True:
                    # The outbox claims its own batch (settings.outbox_batch) and, unless given a time, reads
                    # its clock for each: leases counted from the tick's start would be short by the time
                    # spent since (another worker would take rows over while they are being sent).
                    r = self.outbox.dispatch(now=given)
                    report.outbox.add(r)
                    if r.claimed < self.outbox.batch:
                        break
            self._phase("outbox", report, send)
        return report

    @staticmethod
    def _phase(name: str, report: TickReport, work: Callable[[], None]) -> None:
        """One phase of a round; one that fails is logged and the next runs all the same."""
        try:
            work()
        except Exception:
            log.exception("journey %s failed this round; the other phases go on", name)
            report.failed_phases.append(name)

    def _drain(self, what: str, work: Callable[[int, frozenset[Any]], int],
               set_aside: Callable[[Any, BaseException], None], report: TickReport) -> None:
        """Batches of ``work(limit, skip)`` until one comes back short. A batch the database refuses is
        tried again in halves down to one signal or timer, a suspect, skipped while the rest goes on. The
        suspects are set aside as soon as another item passes without them (the fault is theirs), or after
        SUSPECT_ROUNDS rounds with nothing else to compare. When more than MAX_SUSPECTS fail alone in a
        row, the fault is not the items' (a bug, the schema): nothing is set aside and the phase fails
        this round."""
        limit = self.batch
        suspects: dict[Any, BaseException] = {}
        while True:
            try:
                n = work(limit, frozenset(suspects))
            except _BatchFailed as failed:
                cause = failed.__cause__ or failed
                if len(failed.keys) > 1:
                    limit = max(1, len(failed.keys) // 2)
                    log.warning("a batch of %d journey %s failed (%s); trying %d at a time", len(failed.keys),
                                what, _reason(cause), limit)
                    continue
                suspects[failed.keys[0]] = cause
                if len(suspects) > MAX_SUSPECTS:
                    raise cause from None
                limit = self.batch
                continue
            for key, cause in suspects.items():
                rounds = self._suspects[key] = self._suspects.get(key, 0) + 1
                if n or rounds >= SUSPECT_ROUNDS:
                    set_aside(key, cause)
                    self._suspects.pop(key, None)
                    report.set_aside += 1
            suspects.clear()
            if n < limit:
                return

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
        """The version, parsed once; None when it is missing or does not parse (``unreadable`` says why)."""
        key = (workspace_id, journey_id, version)
        found = self._definitions.get(key)
        if found is None:
            if key in self._unreadable:
                return None
            raw = store.version_definition(conn, workspace_id, journey_id, version)
            if raw is None:
                self._unreadable[key] = f"version {version} of journey {journey_id!r} does not exist"
                return None
            try:
                found = parse(raw)
            except (TouchlineError, pydantic.ValidationError, ValueError, TypeError) as exc:
                self._unreadable[key] = f"version {version} of journey {journey_id!r} cannot be read: {_reason(exc)}"
                log.error("%s", self._unreadable[key])
                return None
            compiled, problems = webhook_bodies(found)
            bodies: dict[str, CompiledTemplate | str] = dict(compiled)
            bodies.update((str(p["node"]), str(p["reason"])) for p in problems)
            self._bodies[key] = bodies
            self._listens[key] = listened_names(found, entering=False)
            self._needs[key] = facts_needed(found)
            self._message_nodes[key] = message_node_ids(found)
            self._experiments[key] = tuple(experiment_id_of(found, n) for _, n in experiment_nodes(found))
            self._best_hour_waits[key] = any(isinstance(n, WaitNode) and n.until_best_hour for n in found.nodes)
            self._definitions[key] = found
        return found

    def unreadable(self, workspace_id: str, journey_id: str, version: int) -> str:
        return self._unreadable.get((workspace_id, journey_id, version), f"version {version} cannot be read")

    def _live(self, conn: Connection, now: dt.datetime) -> dict[str, list[_Live]]:
        """Published and paused journeys by workspace. A published one whose version cannot be read is
        paused with that alert."""
        out: dict[str, list[_Live]] = {}
        for row in store.live_journeys(conn):
            d = self.definition(conn, row["workspace_id"], row["id"], row["published_version"])
            if d is not None:
                out.setdefault(row["workspace_id"], []).append(_Live(row["id"], row["status"], d))
            elif row["status"] == "published":
                reason = self.unreadable(row["workspace_id"], row["id"], row["published_version"])
                alert = {"kind": "unreadable", "reason": f"paused: {reason}", "error": reason}
                store.pause_with_alert(conn, row["workspace_id"], row["id"], alert, now)
                log.error("journey %s/%s paused: %s", row["workspace_id"], row["id"], reason)
        return out

    def _statuses(self, conn: Connection, workspace_id: str) -> dict[str, str]:
        return {j["id"]: j["status"] for j in store.all_journeys(conn, workspace_id)}

    # --- signals

    def process_signals(self, now: dt.datetime, *, limit: int | None = None) -> tuple[int, int]:
        """Apply up to ``limit`` (the batch) queued signals in one transaction; (signals applied, runs
        entered)."""
        report = TickReport()
        n = self._signals(now, limit or self.batch, frozenset(), report)
        return n, report.entered

    def _signals(self, now: dt.datetime, limit: int, skip: frozenset[int], report: TickReport) -> int:
        with self.stores.read() as conn:
            if not store.any_signal(conn):
                return 0
        claimed: list[int] = []
        try:
            with self.stores.write() as conn:
                signals = store.claim_signals(conn, limit, skip=skip)
                if not signals:
                    return 0
                self._plans = {}
                claimed = [s["seq"] for s in signals]
                live = self._live(conn, now)
                batch = _Batch()
                by_ws: dict[str, list[dict[str, Any]]] = {}
                for s in signals:
                    by_ws.setdefault(s["workspace_id"], []).append(s)
                for workspace_id, items in by_ws.items():
                    self._signals_of_workspace(conn, workspace_id, items, live.get(workspace_id, []), batch, now)
                self._write(conn, batch, now)
                store.delete_signals(conn, claimed)
        except Exception as exc:
            if not claimed or dialect.is_transient(exc):
                raise
            raise _BatchFailed(claimed) from exc
        self._after(batch, report)
        report.signals += len(signals)
        report.entered += batch.entered
        return len(signals)

    def _set_signal_aside(self, seq: int, exc: BaseException, now: dt.datetime) -> None:
        with self.stores.write() as conn:
            store.set_signal_aside(conn, seq, _reason(exc), now)
        log.error("journey signal %s set aside: it fails alone while others pass (%s)", seq, _reason(exc))

    def _signals_of_workspace(self, conn: Connection, workspace_id: str, items: list[dict[str, Any]],
                              live: list[_Live], batch: _Batch, now: dt.datetime) -> None:
        facts = profile_store.profile_facts(conn, workspace_id, sorted({s["profile_id"] for s in items}))
        canonical = {pid: (f["merged_into"] or pid) for pid, f in facts.items()}
        survivors = sorted(set(canonical.values()) - set(facts))
        facts.update(profile_store.profile_facts(conn, workspace_id, survivors))
        customers = sorted(set(canonical.values()))
        profile_store.lock_customers(conn, customers)
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
                if d is not None and name not in self._listens[(workspace_id, d.id, d.version)]:
                    continue
                signal: Signal
                if name in (SEGMENT_ENTERED, SEGMENT_EXITED) and properties.get("segment_id"):
                    signal = SegmentChanged(segment_id=str(properties["segment_id"]), entered=name == SEGMENT_ENTERED)
                else:
                    signal = EventReceived(name=name, properties=properties, at=at)
                if d is None:  # kept for when the version reads again: its runs may listen to it
                    self._unreadable_run(workspace_id, run, signal, now, batch)
                else:
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
               "updated_at": now, "ended_at": None, "exit_reason": None, "converted_at": None, "holdout": False,
               "errors": 0, "last_error": None, "failed_at": None}
        batch.new_runs.append(row)
        batch.new_ids.add(run_id)
        runs.setdefault(customer_id, []).append(row)
        batch.entered += 1
        self._step(conn, workspace_id, j.definition, row, _START, now, facts.get(customer_id), batch, state=run)
        if row["state"] is None:  # the start changed nothing (the step writes the state it produced)
            row["state"] = state_document(run)

    # --- timers

    def fire_timers(self, now: dt.datetime, *, limit: int | None = None) -> int:
        """Fire up to ``limit`` (the batch) due timers in one transaction; how many."""
        return self._timers(now, limit or self.batch, frozenset(), TickReport())

    def _timers(self, now: dt.datetime, limit: int, skip: frozenset[str], report: TickReport) -> int:
        with self.stores.read() as conn:
            if not store.any_due_timer(conn, now):
                return 0
        claimed: list[str] = []
        try:
            with self.stores.write() as conn:
                due = store.claim_due_timers(conn, now, limit, skip=skip)
                if not due:
                    return 0
                self._plans = {}
                claimed = [t["id"] for t in due]
                batch = _Batch()
                by_ws: dict[str, list[dict[str, Any]]] = {}
                for t in due:
                    by_ws.setdefault(t["workspace_id"], []).append(t)
                for workspace_id, timers in by_ws.items():
                    self._timers_of_workspace(conn, workspace_id, timers, batch, now)
                store.delete_timers(conn, claimed)
                self._write(conn, batch, now)
        except Exception as exc:
            if not claimed or dialect.is_transient(exc):
                raise
            raise _BatchFailed(claimed) from exc
        self._after(batch, report)
        report.timers += len(due)
        return len(due)

    def _timers_of_workspace(self, conn: Connection, workspace_id: str, timers: list[dict[str, Any]], batch: _Batch,
                             now: dt.datetime) -> None:
        run_rows = store.runs_by_id(conn, [t["run_id"] for t in timers], for_update=True)
        facts = profile_store.profile_facts(conn, workspace_id, sorted({r["customer_id"] for r in run_rows.values()}))
        for t in sorted(timers, key=lambda t: (t["due_at"], t["id"])):
            row = run_rows.get(t["run_id"])
            if row is None or row["status"] not in store.ACTIVE:
                continue
            retry = t["node_id"] == RETRY_TIMER
            if retry and (not _kept(row) or t["attempt"] != row["errors"]):
                continue  # a retry that another one, a stop or an operator overtook
            d = self.definition(conn, workspace_id, row["journey_id"], row["version"])
            if d is None:
                fired = None if retry else TimerFired(node_id=t["node_id"], attempt=t["attempt"])
                self._unreadable_run(workspace_id, row, fired, now, batch)
                continue
            profile = facts.get(row["customer_id"])
            if retry:
                self._retry(conn, workspace_id, d, row, now, profile, batch)
            else:
                self._step(conn, workspace_id, d, row, TimerFired(node_id=t["node_id"], attempt=t["attempt"]),
                           now, profile, batch)

    def _set_timer_aside(self, timer_id: str, exc: BaseException, now: dt.datetime) -> None:
        """A timer whose batch fails alone: its run records the failure (and retries the timer later, or
        fails); when even that cannot be written, the timer is dropped."""
        reason = f"the database refused this step: {_reason(exc)}"
        try:
            with self.stores.write() as conn:
                timer = store.timer_row(conn, timer_id)
                row = store.run_row(conn, timer["run_id"], for_update=True) if timer else None
                store.delete_timers(conn, [timer_id])
                if timer is not None and row is not None and row["status"] in store.ACTIVE:
                    kept = [] if timer["node_id"] == RETRY_TIMER else [
                        TimerFired(node_id=timer["node_id"], attempt=timer["attempt"])]
                    batch = _Batch()
                    self._failed(row["workspace_id"], row, kept, reason, now, batch, keep_queue=True)
                    self._write(conn, batch, now)
        except Exception:
            log.exception("journey timer %s: its failure cannot be recorded either; dropping it", timer_id)
            with self.stores.write() as conn:
                store.delete_timers(conn, [timer_id])
        log.error("journey timer %s set aside: %s", timer_id, reason)

    # --- dates

    def scan_date_triggers(self, now: dt.datetime) -> int:
        """Start date-trait journeys whose moment (trait date + offset at a local time) fell between
        the last scan and ``now``. Each journey in its own transactions: one that fails is logged and
        scanned again next time, the others go on."""
        started = 0
        with self.stores.write() as conn:
            live = self._live(conn, now)
        for workspace_id, journeys_ in live.items():
            for j in journeys_:
                t = j.definition.trigger
                if j.status != "published" or not isinstance(t, DateTraitTrigger):
                    continue
                try:
                    started += self._scan_journey(workspace_id, j, t, now)
                except Exception:
                    log.exception("date scan of journey %s/%s failed; the others go on", workspace_id, j.journey_id)
        if started:
            self.stores.wakeup.set()
        return started

    def _scan_journey(self, workspace_id: str, j: _Live, t: DateTraitTrigger, now: dt.datetime) -> int:
        with self.stores.write() as conn:
            since = store.cursor(conn, workspace_id, j.journey_id)
            if since is None:
                store.set_cursor(conn, workspace_id, j.journey_id, now)
                return 0
            started = self._scan_one(conn, workspace_id, j, t, since, now)
            store.set_cursor(conn, workspace_id, j.journey_id, now)
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
            self._after(batch, TickReport())
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
                    if row["status"] in store.ACTIVE:  # a version that cannot be read, or a stop that failed
                        self._end(row, "exited", reason, now, batch)
                self._write(conn, batch, now)
                stopped += len(ids)

    # --- stepping and writing

    def _step(self, conn: Connection, workspace_id: str, d: JourneyDefinition, row: dict[str, Any],
              signal: Signal, now: dt.datetime, profile: Mapping[str, Any] | None, batch: _Batch, *,
              state: RunState | None = None, then: Sequence[Signal] | None = None) -> bool:
        """Apply ``signal`` to the run of ``row``; whether it was applied. ``state``: the run's state when the
        caller has it as an object already (a run just made). A run waiting for a retry keeps the signal
        behind the ones it failed on (a stop applies at once); ``then`` (a retry): the kept signals after
        this one. Whatever fails here but the database is this run's alone: recorded on it (``_failed``),
        the signal kept for a retry, and the batch goes on."""
        if then is None and not isinstance(signal, Stop) and _kept(row):
            self._keep(row, signal, now, batch)
            return False
        try:
            if state is None:
                state = run_state(row)
            facts = self._facts(conn, workspace_id, d, state, profile, now)
            transition = step(d, state, signal, now, facts)
            if transition.commands:
                self._collect(workspace_id, d, row, transition, now, profile, batch)
        except sa.exc.SQLAlchemyError:
            raise  # the transaction may be unusable: the batch fails (``_drain``)
        except Exception as exc:
            self._failed(workspace_id, row, [signal, *(then or ())], exc, now, batch,
                         fallback=state_document(state) if state is not None else None)
            return False
        return True

    def _retry(self, conn: Connection, workspace_id: str, d: JourneyDefinition, row: dict[str, Any], now: dt.datetime,
               profile: Mapping[str, Any] | None, batch: _Batch) -> None:
        """The retry timer of a failing run: its kept signals, in order. All applied: the run is well again
        (``errors`` back to 0, the last error kept as history); one failing: it and the rest are kept for
        the next retry."""
        doc = dict(row["state"])
        try:
            kept = [_SIGNAL.validate_python(s) for s in doc.pop("retry")]
        except pydantic.ValidationError as exc:
            self._end(row, "failed", f"its kept signals cannot be read: {_reason(exc)}", now, batch)
            return
        row["state"] = doc
        for i, signal in enumerate(kept):
            if not self._step(conn, workspace_id, d, row, signal, now, profile, batch, then=kept[i + 1:]):
                return
        self._update(row, {"errors": 0, "state": row["state"], "updated_at": now}, batch)
        log.info("run %s of journey %s/%s recovered", row["run_id"], workspace_id, d.id)

    def _unreadable_run(self, workspace_id: str, row: dict[str, Any], signal: Signal | None, now: dt.datetime,
                        batch: _Batch) -> None:
        """A signal (None: its retry) for a run whose version cannot be read: a failure like any other, the
        signal kept, so that the run goes on if the version reads again (a fixed release) before it fails."""
        if signal is not None and _kept(row):
            self._keep(row, signal, now, batch)
            return
        reason = self.unreadable(workspace_id, row["journey_id"], row["version"])
        self._failed(workspace_id, row, [signal] if signal is not None else [], reason, now, batch, keep_queue=True)

    def _keep(self, row: dict[str, Any], signal: Signal, now: dt.datetime, batch: _Batch) -> None:
        doc = dict(row["state"])
        kept = list(doc["retry"])
        if len(kept) >= MAX_KEPT_SIGNALS:
            log.warning("run %s waits for a retry with %d signals kept; dropping %s", row["run_id"], len(kept),
                        signal.type)
            return
        doc["retry"] = [*kept, _SIGNAL.dump_python(signal, mode="json")]
        self._update(row, {"state": doc, "updated_at": now}, batch)

    def _failed(self, workspace_id: str, row: dict[str, Any], signals: Sequence[Signal], exc: BaseException | str,
                now: dt.datetime, batch: _Batch, *, fallback: dict[str, Any] | None = None,
                keep_queue: bool = False) -> None:
        """Record a failed step of the run of ``row``: ``signals`` (the one that failed first) are kept for a
        retry timer, ``journey_retry_seconds`` doubling with each failure in a row; after
        ``journey_retry_attempts`` the run ends as ``failed`` with the reason. ``fallback``: the run's state
        document when the row has none yet (a run whose start failed). ``keep_queue``: put ``signals``
        before those the run kept already."""
        settings = self.stores.settings
        reason = exc if isinstance(exc, str) else _reason(exc)
        errors = int(row.get("errors") or 0) + 1
        journey_id = row["journey_id"]
        if errors == 1:
            key = (workspace_id, journey_id, int(row["version"]))
            n, _ = batch.failing.get(key, (0, ""))
            batch.failing[key] = (n + 1, reason)
        batch.failures += 1
        doc = dict(row["state"] or fallback or {})
        earlier = doc.pop("retry", None) or []
        if not keep_queue:
            earlier = []  # a run that steps keeps none (a retry takes them out first), but a stop: it drops them
        values: dict[str, Any] = {"errors": errors, "last_error": reason, "failed_at": now, "updated_at": now}
        if errors >= settings.journey_retry_attempts:
            log.error("run %s of journey %s/%s failed for good after %d attempts: %s", row["run_id"], workspace_id,
                      journey_id, errors, reason)
            self._update(row, values | {"state": doc}, batch)
            self._end(row, "failed", f"failed after {errors} attempts: {reason}", now, batch)
            return
        delay = min(dt.timedelta(seconds=settings.journey_retry_seconds * 2 ** (errors - 1)), MAX_RETRY_DELAY)
        doc["retry"] = [_SIGNAL.dump_python(s, mode="json") for s in signals] + list(earlier)
        # An id of its own even when the run failed, recovered and fails again (errors counts from 1 again).
        batch.timers.append({"id": command_id("retry", row["run_id"], now.isoformat(), errors),
                             "workspace_id": workspace_id, "run_id": row["run_id"], "node_id": RETRY_TIMER,
                             "attempt": errors, "due_at": now + delay})
        log.warning("run %s of journey %s/%s failed (attempt %d, retried in %s): %s", row["run_id"], workspace_id,
                    journey_id, errors, delay, reason)
        self._update(row, values | {"state": doc}, batch)

    def _end(self, row: dict[str, Any], status: str, reason: str, now: dt.datetime, batch: _Batch) -> None:
        """End the run of ``row`` outside the engine (``failed``; ``exited`` when its version cannot be read):
        its wait's timer is cancelled, signals it kept are dropped."""
        doc = dict(row["state"] or {})
        doc.pop("retry", None)
        wait = doc.get("wait")
        if isinstance(wait, Mapping) and wait.get("timer_id"):
            batch.cancelled.append(str(wait["timer_id"]))
        doc["wait"] = None
        self._update(row, {"status": status, "exit_reason": reason[:1000], "ended_at": now, "updated_at": now,
                           "state": doc}, batch)

    def _update(self, row: dict[str, Any], values: dict[str, Any], batch: _Batch) -> None:
        row.update(values)
        if row["run_id"] not in batch.new_ids:
            batch.updates.setdefault(row["run_id"], {}).update(values)

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
        experiment_ids = self._experiments[(workspace_id, d.id, d.version)]
        plans: dict[str, Plan] | None = None
        arms = None
        if experiment_ids:
            plans = {e: p for e in experiment_ids if (p := self._plan(conn, workspace_id, e)) is not None}

            def arms(experiment_id: str) -> str | None:
                ids = profile_store.merged_profile_ids(conn, workspace_id, run.customer_id) or [run.customer_id]
                return experiment_store.assignment_of(conn, workspace_id, experiment_id, ids)
        timezone = (profile or {}).get("timezone")
        best = None
        if self._best_hour_waits[(workspace_id, d.id, d.version)]:  # read only when a run reaches such a wait
            def best() -> int:
                return self.best_hour(conn, workspace_id, run.customer_id, timezone, now)
        return Facts(timezone=timezone, traits=traits, segments=segments, events=history,
                     experiments=plans, arms=arms, best_hour=best)

    def best_hour(self, conn: Connection, workspace_id: str, customer_id: str, timezone: str | None,
                  now: dt.datetime) -> int:
        """The hour (in the customer's time zone) they engage most, from their own opens, clicks, sessions
        and purchases over ``sendtime.WINDOW``; with too little of that, the audience's (read once a day per
        workspace, in the shop's default time zone); else ``sendtime.DEFAULT_HOUR``."""
        ids = profile_store.merged_profile_ids(conn, workspace_id, customer_id) or [customer_id]
        since = now - sendtime.WINDOW
        with self.stores.events_conn() as econn:
            times = [r[0] for r in econn.execute(experiment_store.engagement_times(
                workspace_id, ids, sendtime.ENGAGEMENT_EVENTS, since))]
            own = sendtime.best_hour(sendtime.local_hours(times, timezone))
            if own is not None:
                return own
            key = (workspace_id, now.date())
            if key not in self._audience_hour:
                utc = {int(h): int(n) for h, n in econn.execute(experiment_store.engagement_by_utc_hour(
                    workspace_id, sendtime.ENGAGEMENT_EVENTS, since))}
                self._audience_hour[key] = sendtime.best_hour(
                    sendtime.shift_hours(utc, self.stores.settings.default_timezone, now))
        audience = self._audience_hour[(workspace_id, now.date())]
        if audience is None:
            return sendtime.DEFAULT_HOUR
        if timezone:
            return audience
        # the audience's hour is the shop's; the engine reads a customer without a zone in UTC
        shop = self.stores.settings.default_timezone
        return next(iter(sendtime.shift_hours({audience: 1}, "UTC", now, source=shop)))

    def _plan(self, conn: Connection, workspace_id: str, experiment_id: str) -> Plan | None:
        """The experiment's plan (status, current weights, winner), read once per batch; None before the
        journey's publication made it (the node then runs its own weights)."""
        key = (workspace_id, experiment_id)
        if key not in self._plans:
            row = experiment_store.experiment_row(conn, workspace_id, experiment_id)
            latest = experiment_store.latest_weights(conn, workspace_id, [experiment_id]).get(experiment_id) \
                if row is not None else None
            self._plans[key] = experiment_service.plan_of(row, latest) if row is not None else None
        return self._plans[key]

    # --- bandits

    def update_bandits(self, now: dt.datetime) -> int:
        """Move the weights of every running bandit of a published journey that is due (its policy: every
        arm's minimum of exposures, the cadence), from each arm's exposures and how many of those customers
        reached the goal's event within its window (the event store, as the readout reads them); each change
        is recorded with its data. How many changed."""
        changed = 0
        with self.stores.write() as conn:
            for workspace_id, journeys_ in self._live(conn, now).items():
                for j in journeys_:
                    for _, node in experiment_nodes(j.definition):
                        if isinstance(node, BanditNode) and j.status == "published":
                            changed += self._update_bandit(conn, workspace_id, j, node, now)
        if changed:
            self._plans = {}
        return changed

    def _update_bandit(self, conn: Connection, workspace_id: str, j: _Live, node: BanditNode, now: dt.datetime) -> int:
        experiment_id = experiment_id_of(j.definition, node)
        row = experiment_store.experiment_row(conn, workspace_id, experiment_id, for_update=True)
        if row is None or row["status"] != "running":
            return 0
        latest = experiment_store.latest_weights(conn, workspace_id, [experiment_id]).get(experiment_id)
        cadence = dt.timedelta(hours=node.bandit.cadence_hours)
        if latest is not None and latest["reason"] != "start" and now - latest["at"] < cadence:
            return 0  # not due: spare the count
        stats = experiment_service.arm_stats(self.stores, workspace_id, row)
        return 1 if experiment_service.update_bandit(conn, workspace_id, row, stats, now) else 0

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
        """The transition's rows, added to the batch only once all of them are made (a webhook body that
        does not render leaves the batch as it was)."""
        run = transition.run
        run_id = run.run_id
        values: dict[str, Any] = {"status": run.status, "node_id": run.node_id, "state": state_document(run),
                                  "updated_at": now, "ended_at": run.ended_at, "exit_reason": run.exit_reason}
        messages_at = self._message_nodes[(workspace_id, d.id, d.version)]
        steps: list[dict[str, Any]] = []
        timers: list[dict[str, Any]] = []
        cancelled: list[str] = []
        messages: list[dict[str, Any]] = []
        traits: list[tuple[str, str, dict[str, Any], str]] = []
        exposures: list[tuple[str, str, str, str]] = []
        for c in transition.commands:
            if isinstance(c, RecordStep):
                if c.outcome == "exit" or (c.outcome == "entered" and c.node_id in messages_at):
                    continue  # the completed run's row says it, or the message's (engine.exit_step, entered_steps)
                steps.append({"id": c.id, "workspace_id": workspace_id, "journey_id": d.id,
                              "version": d.version, "run_id": run_id, "node_id": c.node_id,
                              "attempt": c.attempt, "outcome": c.outcome, "at": c.at})
                if c.outcome == "holdout":
                    values["holdout"] = True
            elif isinstance(c, ScheduleTimer):
                timers.append({"id": c.id, "workspace_id": workspace_id, "run_id": run_id,
                               "node_id": c.node_id, "attempt": c.attempt, "due_at": c.at})
            elif isinstance(c, CancelTimer):
                cancelled.append(c.id)
            elif isinstance(c, Send):
                extra = {"survey": {"name": c.survey[0], "scale": c.survey[1]}} if c.survey else {}
                messages.append(self._message(workspace_id, d, run, c.id, c.node_id, c.template, c.kind,
                                              c.channel, extra, now))
            elif isinstance(c, CallWebhook):
                messages.append(self._webhook(workspace_id, d, run, c, profile, now))
            elif isinstance(c, UpdateTraits):
                traits.append((workspace_id, run.customer_id, dict(c.traits), f"journey:{d.id}"))
            elif isinstance(c, AwardPoints):
                # Journeys know no loyalty program: the request goes to the event log, whose loyalty
                # consumer writes the points (once: the messageId and the key are the command's id).
                batch.awards.setdefault(workspace_id, []).append(SystemEvent(
                    run.customer_id, "Points Award Requested",
                    {"program": c.program, "points": c.points, "reason": c.reason, "key": c.id,
                     "journey_id": d.id, "run_id": run_id, "node_id": c.node_id}, now, c.id))
            elif isinstance(c, AskInChat):
                # Journeys know no conversations either: the conversations consumer posts the question.
                batch.awards.setdefault(workspace_id, []).append(SystemEvent(
                    run.customer_id, "Chat Survey Requested",
                    {"survey": c.survey, "scale": c.scale, "key": c.id, "journey_id": d.id, "run_id": run_id,
                     "node_id": c.node_id}, now, c.id))
            elif isinstance(c, Expose):
                exposures.append((c.experiment, run.customer_id, c.arm, f"journey:{d.id}"))
            elif isinstance(c, Converted):
                values["converted_at"] = c.at
            elif isinstance(c, Completed | Exited):
                pass  # the run's own row says it (status, ended_at, exit_reason: ``values`` above)
            else:  # a new engine command must be carried out above: mypy fails here until it is
                assert_never(c)
        batch.steps += steps
        batch.timers += timers
        batch.cancelled += cancelled
        batch.messages += messages
        batch.traits += traits
        if exposures:
            batch.exposures.setdefault(workspace_id, []).extend(exposures)
        self._update(row, values, batch)

    def _message(self, workspace_id: str, d: JourneyDefinition, run: RunState, message_id: str, node_id: str,
                 template: str, kind: str, channel: str, extra: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        context = {"event": run.trigger, "journey": {"id": d.id, "name": d.name, "version": d.version}, **extra}
        return {"id": message_id, "workspace_id": workspace_id, "customer_id": run.customer_id,
                "journey_id": d.id, "run_id": run.run_id, "node_id": node_id, "template": template, "kind": kind,
                "requested_channel": channel, "channel": None, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "context": context, "created_at": now, "updated_at": now}

    def _webhook(self, workspace_id: str, d: JourneyDefinition, run: RunState, c: CallWebhook,
                 profile: Mapping[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
        """The webhook call's outbox row, its body rendered with the version's compiled template. A body that
        does not compile or render fails the step (``_StepFailed``): no call goes out without its body."""
        body = None
        if c.body:
            template = self._bodies[(workspace_id, d.id, d.version)].get(c.node_id)
            if isinstance(template, str):
                raise _StepFailed(template)
            if template is None:  # the node's body differs from the version's (a hand-built command)
                raise _StepFailed(f"webhook {c.node_id!r}: no compiled body")
            variables = {"profile": {"id": run.customer_id, "traits": (profile or {}).get("traits") or {}},
                         "event": run.trigger, "journey": {"id": d.id, "name": d.name}, "run_id": run.run_id}
            try:
                body = template.render(variables).text
            except TouchlineError as exc:
                raise _StepFailed(f"webhook {c.node_id!r}: the body did not render: {_render_error(exc)}") from exc
        elif c.body is not None:
            body = ""
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
        for workspace_id, requested in batch.awards.items():
            append_system_events(conn, workspace_id, requested, now)
        for workspace_id, exposed in batch.exposures.items():
            experiment_service.record_exposures(conn, workspace_id, exposed, now)
        if batch.failing:
            self._count_failures(conn, batch, now)

    def _count_failures(self, conn: Connection, batch: _Batch, now: dt.datetime) -> None:
        """Runs of the published version that started to fail, counted per journey in a window of
        ``journey_pause_window_minutes``; at ``journey_pause_failures`` the journey is paused with an alert.
        Runs of an older version are not counted: publishing a fixed version is how a journey is mended.
        Only failing batches write here, so healthy journeys never contend for their row."""
        settings = self.stores.settings
        window = dt.timedelta(minutes=settings.journey_pause_window_minutes)
        for (workspace_id, journey_id, version), (n, reason) in sorted(batch.failing.items()):
            row = store.journey_row(conn, workspace_id, journey_id, for_update=True)
            if row is None or row["published_version"] != version:
                continue
            since = row["failure_window_at"]
            if since is None or not since <= now < since + window:
                since, count = now, n
            else:
                count = int(row["failure_count"]) + n
            store.update_journey(conn, workspace_id, journey_id, failure_count=count, failure_window_at=since)
            threshold = settings.journey_pause_failures
            if threshold and count >= threshold and row["status"] == "published":
                minutes = settings.journey_pause_window_minutes
                alert = {"kind": "failing_runs", "runs": count, "minutes": minutes, "error": reason,
                         "reason": f"paused: {count} runs failed within {minutes:g} minutes; the last: {reason}"}
                store.pause_with_alert(conn, workspace_id, journey_id, alert, now)
                batch.paused = True
                log.error("journey %s/%s %s", workspace_id, journey_id, alert["reason"])

    def _after(self, batch: _Batch, report: TickReport) -> None:
        """What follows a committed batch: wake the outbox for new messages, count failures, drop the
        listened-names cache when a journey was paused."""
        report.failures += batch.failures
        if batch.paused:
            signal_capture.invalidate(self.stores.state)
        if batch.messages:
            self.stores.wakeup.set()


class _StepFailed(Exception):
    """A step that cannot be carried out (its reason names the node)."""


def _reason(exc: BaseException) -> str:
    """An error as a run's ``last_error``: the domain message, else the exception's type and text (never a
    statement's parameters, which may hold a customer's data)."""
    if isinstance(exc, _StepFailed):
        text = str(exc)
    elif isinstance(exc, TouchlineError):
        text = exc.message
    elif isinstance(exc, sa.exc.DBAPIError):  # the driver's message: not the statement or its parameters
        text = f"{type(exc).__name__}: {exc.orig}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:1000]


def _render_error(exc: TouchlineError) -> str:
    """``TypeError: unsupported operand...`` / ``sandbox violation: access to ...`` from a template's error,
    without the part it names (a webhook body has one)."""
    detail = exc.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict) and detail[0].get("message"):
        return f"{detail[0].get('reason')}: {detail[0]['message']}"
    return exc.message


def _kept(row: Mapping[str, Any]) -> bool:
    """Whether the run waits for a retry (holds the signals it failed on)."""
    state = row.get("state")
    return bool(state and state.get("retry"))


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
    """The RunState of a run's row (``state_document`` and the columns; the signals a failing run keeps for
    its retry, ``retry``, are the runner's)."""
    state = row["state"]
    if "retry" in state:
        state = {k: v for k, v in state.items() if k != "retry"}
    return RunState.model_validate({**state, **{k: row[k] for k in _RUN_COLUMNS}})


def queue_api_trigger(conn: Connection, workspace_id: str, journey_id: str, profile_id: str, key: str,
                      properties: Mapping[str, Any], now: dt.datetime) -> None:
    store.insert_signals(conn, [{"workspace_id": workspace_id, "profile_id": profile_id, "message_id": key,
                                 "event": API_SIGNAL_PREFIX + journey_id, "properties": dict(properties),
                                 "timestamp": now, "received_at": now}])

