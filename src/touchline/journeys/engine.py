"""The journey engine: a pure state machine.

``step(definition, run, signal, now, facts) -> Transition`` takes a run's state and one signal (start,
a timer, an event, a segment change, a stop) and returns the new state and the ordered commands a
runner carries out (send, schedule or cancel a timer, update traits, call a webhook, record the step,
converted / completed / exited). The runner does all I/O: it persists the new ``RunState`` and writes
the commands in the same transaction (outbox), each under its deterministic ``id`` with
on-conflict-do-nothing, so replaying a signal after a crash repeats no side effect.

Rules:
- one call advances through every node that does not wait (send, update_traits, webhook, condition,
  split) until a wait or an exit, at most ``MAX_STEPS_PER_SIGNAL`` nodes (then the run exits with reason
  ``loop``; ``parse`` rejects such definitions, so this guards hand-built or corrupt ones); a node id
  the definition lacks ends the run with ``Exited("missing node '...'")``;
- ids are UUIDv5 over (command kind, run id, node id, attempt), ``attempt`` being how many times the
  run has entered that node: the same step gives the same ids, a second pass through a loop new ones;
- the goal is checked on every event, before anything else: a matching event (same key value as the
  trigger when the goal has a key) at or before ``entered_at + within`` converts the run, cancelling
  its timer; then exit conditions; then the awaited event of the current wait;
- events stamped before the run was entered, timers that are stale (another node or attempt) or early,
  and any signal to an ended run change nothing and produce no commands;
- facts the engine cannot fetch (segment membership, traits, events since entry, time zone, preferred
  channel) come in ``Facts``; a condition whose fact is absent raises ``MissingFact`` rather than guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field

from touchline.errors import TouchlineError
from touchline.experiments.assignment import HOLDOUT, Plan
from touchline.experiments.sendtime import DEFAULT_HOUR
from touchline.journeys.definition import (
    CHAT_SURVEY,
    AwardPointsNode,
    BanditNode,
    ConditionNode,
    EventExit,
    EventHappened,
    ExitNode,
    ExperimentHolder,
    ExperimentNode,
    JourneyDefinition,
    Node,
    SegmentExit,
    SegmentMember,
    SendNode,
    SplitNode,
    SurveyNode,
    TraitCompare,
    UpdateTraitsNode,
    WaitNode,
    WebhookNode,
    arm_weights,
    experiment_id_of,
)
from touchline.journeys.schedule import next_time_of_day
from touchline.journeys.triggers import NAMESPACE, bucket, filters_pass, in_holdout, uuid5_text
from touchline.segments.evaluate import value_condition

__all__ = [
    "MAX_STEPS_PER_SIGNAL",
    "MAX_VISITS_PER_RUN",
    "TERMINAL",
    "AskInChat",
    "AwardPoints",
    "CallWebhook",
    "CancelTimer",
    "Command",
    "Completed",
    "Converted",
    "EventReceived",
    "Exited",
    "Expose",
    "Facts",
    "MissingFact",
    "Needs",
    "RecordStep",
    "RunState",
    "ScheduleTimer",
    "SegmentChanged",
    "Send",
    "Signal",
    "Start",
    "Status",
    "Stop",
    "TimerFired",
    "Transition",
    "UpdateTraits",
    "VersionMismatch",
    "Waiting",
    "command_id",
    "entered_steps",
    "exit_step",
    "facts_needed",
    "message_node_ids",
    "new_run",
    "step",
]

MAX_STEPS_PER_SIGNAL = 100
MAX_VISITS_PER_RUN = 1_000  # a loop through a wait is legal; one that never ends is stopped here

# "failed" is the runner's: a run whose steps kept failing (``step`` never gives it, and treats it as ended).
Status = Literal["active", "waiting", "completed", "converted", "exited", "failed"]
TERMINAL: frozenset[str] = frozenset({"completed", "converted", "exited", "failed"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MissingFact(TouchlineError):
    """A condition needs a fact the runner did not pass in ``Facts`` (see ``facts_needed``)."""

    status = 500


class VersionMismatch(TouchlineError):
    """The run was started under another journey or definition version than the one given."""

    status = 409


def command_id(kind: str, run_id: str, node_id: str, attempt: int) -> str:
    return uuid5_text(NAMESPACE, f"{kind}/{run_id}/{node_id}/{attempt}")


# --- state ------------------------------------------------------------------------------------------


class Waiting(_Model):
    """What a waiting run waits for: its timer (always) and, for ``until_event``, an event."""

    node_id: str
    attempt: int
    until: dt.datetime
    timer_id: str
    event: str | None = None


class RunState(_Model):
    """One customer's run through one version of a journey; JSON-serialisable for the runner.
    ``trigger`` holds the trigger event's properties (what keyed waits and goals compare with)."""

    run_id: str = Field(min_length=1)
    journey_id: str
    customer_id: str
    version: int
    entered_at: dt.datetime
    status: Status = "active"
    node_id: str | None = None
    trigger: dict[str, Any] = Field(default_factory=dict)
    wait: Waiting | None = None
    attempts: dict[str, int] = Field(default_factory=dict)
    visited: int = 0
    ended_at: dt.datetime | None = None
    exit_reason: str | None = None


def new_run(definition: JourneyDefinition, *, run_id: str, customer_id: str, entered_at: dt.datetime,
            trigger: Mapping[str, Any] | None = None) -> RunState:
    """A run not yet started; ``step`` it with ``Start()``."""
    return RunState(run_id=run_id, journey_id=definition.id, customer_id=customer_id,
                    version=definition.version, entered_at=entered_at, trigger=dict(trigger or {}))


# --- signals ----------------------------------------------------------------------------------------


class Start(_Model):
    type: Literal["start"] = "start"


class TimerFired(_Model):
    """The timer of ``ScheduleTimer(node_id, attempt)`` is due."""

    type: Literal["timer"] = "timer"
    node_id: str
    attempt: int


class EventReceived(_Model):
    """An event of the run's customer (also the shape of ``Facts.events``)."""

    type: Literal["event"] = "event"
    name: str
    properties: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime


class SegmentChanged(_Model):
    type: Literal["segment"] = "segment"
    segment_id: str
    entered: bool


class Stop(_Model):
    """Leave the run now (the journey was paused or archived, the customer erased, an operator)."""

    type: Literal["stop"] = "stop"
    reason: str = "stopped"


Signal = Annotated[Start | TimerFired | EventReceived | SegmentChanged | Stop, Field(discriminator="type")]


# --- commands ---------------------------------------------------------------------------------------
# Plain frozen dataclasses rather than pydantic models: the engine makes several per run and step (a
# campaign makes hundreds of thousands), nothing validates them on the way in, and pydantic's
# TypeAdapter still reads and writes them as JSON (``Command``). Each class spells out its
# decorator: mypy only sees a dataclass (and its keyword arguments) through ``@dataclass`` itself.


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Queue a message; ``id`` is its message id (the outbox's idempotency key). ``channel`` is
    ``"preferred"`` when the node asked for it and ``Facts.preferred_channel`` was not given."""

    type: Literal["send"] = "send"
    id: str
    node_id: str
    attempt: int
    channel: str
    template: str
    kind: Literal["advertising", "transactional"]
    survey: tuple[str, str] | None = None  # a survey step's (survey name, scale): its template links to it


@dataclass(frozen=True, slots=True, kw_only=True)
class AskInChat:
    """A survey step on the web chat: the question goes into the customer's chat window (``id``: the
    request's key, the same on a retry). Journeys know no conversations: the runner appends the request to
    the event log, whose conversations consumer posts it."""

    type: Literal["ask_in_chat"] = "ask_in_chat"
    id: str
    node_id: str
    attempt: int
    survey: str
    scale: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleTimer:
    type: Literal["schedule_timer"] = "schedule_timer"
    id: str
    node_id: str
    attempt: int
    at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    type: Literal["cancel_timer"] = "cancel_timer"
    id: str
    node_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTraits:
    type: Literal["update_traits"] = "update_traits"
    id: str
    node_id: str
    attempt: int
    traits: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AwardPoints:
    """Ask a loyalty program for points (``id``: the request's key, the same on a retry)."""

    type: Literal["award_points"] = "award_points"
    id: str
    node_id: str
    attempt: int
    program: str
    points: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallWebhook:
    """An HTTP call; the runner renders ``body`` (a template) with the run's context."""

    type: Literal["webhook"] = "webhook"
    id: str
    node_id: str
    attempt: int
    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordStep:
    """A row of the run's history (and of journey analytics): ``outcome`` is ``entered`` (send,
    update_traits, webhook), ``yes``/``no``, ``branch:<i>``, ``waiting``, ``elapsed``, ``event``,
    ``timeout``, ``exit``, ``holdout``, ``missing`` or ``loop``. Its ``id`` is made when asked: the
    runner derives some steps rather than storing them (see ``entered_steps``), and needs no id for those."""

    type: Literal["record_step"] = "record_step"
    run_id: str
    node_id: str
    attempt: int
    outcome: str
    at: dt.datetime

    @property
    def id(self) -> str:
        return command_id(f"step:{self.outcome}", self.run_id, self.node_id, self.attempt)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose:
    """A customer's first exposure to an experiment (the runner records the sticky arm and an ``Experiment
    Viewed`` event, each once per experiment and customer)."""

    type: Literal["expose"] = "expose"
    id: str
    node_id: str
    attempt: int
    experiment: str
    arm: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Converted:
    type: Literal["converted"] = "converted"
    id: str
    event: str
    at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed:
    """The run ended at an exit node (its ``id``, made when asked, like ``RecordStep``'s)."""

    type: Literal["completed"] = "completed"
    run_id: str
    node_id: str
    attempt: int

    @property
    def id(self) -> str:
        return command_id("completed", self.run_id, self.node_id, self.attempt)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exited:
    type: Literal["exited"] = "exited"
    id: str
    reason: str


Command = Annotated[
    Send | ScheduleTimer | CancelTimer | UpdateTraits | AwardPoints | AskInChat | CallWebhook | RecordStep | Expose
    | Converted | Completed
    | Exited,
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class Transition:
    run: RunState
    commands: tuple[Command, ...] = ()

    def of(self, kind: type[Any]) -> list[Any]:
        """The commands of one class, in order."""
        return [c for c in self.commands if isinstance(c, kind)]


# --- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What conditions and waits read about the customer, fetched by the runner. ``segments`` maps a
    segment id to membership (or is a callable doing so); ``events`` are the customer's events since
    the run was entered (older ones are ignored); ``timezone`` is an IANA name (UTC when None or
    unknown); ``preferred_channel`` resolves ``channel: preferred``."""

    timezone: str | None = None
    traits: Mapping[str, Any] | None = None
    segments: Mapping[str, bool] | Callable[[str], bool] | None = None
    events: Sequence[EventReceived] | None = None
    preferred_channel: str | None = None
    experiments: Mapping[str, Plan] | None = None
    # the customer's (or the audience's) best hour for ``until_best_hour`` (or a callable answering it)
    best_hour: int | Callable[[], int] | None = None
    arms: Mapping[str, str] | Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Needs:
    segments: frozenset[str] = field(default_factory=frozenset)
    traits: frozenset[str] = field(default_factory=frozenset)
    events: frozenset[str] = field(default_factory=frozenset)


def facts_needed(definition: JourneyDefinition) -> Needs:
    """Every fact a condition of ``definition`` may read, so a runner can fetch them up front."""
    segments: set[str] = set()
    traits: set[str] = set()
    events: set[str] = set()
    for node in definition.nodes:
        if isinstance(node, ConditionNode):
            c = node.condition
            if isinstance(c, SegmentMember):
                segments.add(c.segment_id)
            elif isinstance(c, TraitCompare):
                traits.add(c.trait)
            else:
                events.add(c.event)
    return Needs(frozenset(segments), frozenset(traits), frozenset(events))


# --- the machine ------------------------------------------------------------------------------------


def step(definition: JourneyDefinition, run: RunState, signal: Signal, now: dt.datetime,
         facts: Facts | None = None) -> Transition:
    """The run's next state and the commands that get it there. Pure: the same arguments give the same
    transition, ids included."""
    if now.tzinfo is None:
        raise ValueError("'now' must be an aware datetime")
    if run.journey_id != definition.id or run.version != definition.version:
        raise VersionMismatch(
            f"run {run.run_id} belongs to journey {run.journey_id!r} version {run.version}, "
            f"not {definition.id!r} version {definition.version}")
    if run.status in TERMINAL:
        return Transition(run)
    return _Machine(definition, run, now, facts or Facts()).handle(signal)


class _Machine:
    def __init__(self, definition: JourneyDefinition, run: RunState, now: dt.datetime, facts: Facts) -> None:
        self.d = definition
        self.run = run
        self.now = now
        self.facts = facts
        self.status: Status = run.status
        self.node_id = run.node_id
        self.wait = run.wait
        self.attempts = dict(run.attempts)
        self.visited = run.visited
        self.ended_at = run.ended_at
        self.exit_reason = run.exit_reason
        self.commands: list[Command] = []

    # --- signals

    def handle(self, signal: Signal) -> Transition:
        started = self.run.visited > 0 or self.run.node_id is not None
        if isinstance(signal, Start):
            if started:
                return Transition(self.run)
            if in_holdout(self.d.id, self.run.customer_id, self.d.holdout_percent):
                self._record(self.d.start, 0, "holdout")
                self._hold()
            else:
                self._advance(self.d.start)
        elif isinstance(signal, Stop):
            self._exit(signal.reason)
        elif not started:
            return Transition(self.run)
        elif isinstance(signal, EventReceived):
            self._event(signal)
        elif isinstance(signal, TimerFired):
            self._timer(signal)
        elif isinstance(signal, SegmentChanged):
            for cond in self.d.exit_on:
                if isinstance(cond, SegmentExit) and cond.segment_id == signal.segment_id \
                        and cond.entered == signal.entered:
                    what = "entered" if signal.entered else "left"
                    self._exit(f"{what} segment {signal.segment_id!r}")
                    break
        else:  # a new kind of signal must be handled above: mypy fails here until it is
            assert_never(signal)
        return self._result()

    def _event(self, e: EventReceived) -> None:
        if e.at < self.run.entered_at:
            return
        goal = self.d.goal
        if goal is not None and e.name == goal.event and self._passes(goal.where, goal.key, e) \
                and (goal.within is None or e.at <= self.run.entered_at + goal.within):
            self._cancel_timer()
            self.commands.append(Converted(id=command_id("converted", self.run.run_id, "", 0), event=e.name, at=e.at))
            self._end("converted")
            return
        for cond in self.d.exit_on:
            if isinstance(cond, EventExit) and e.name == cond.event and self._passes(cond.where, cond.key, e):
                self._exit(f"exit event {e.name!r}")
                return
        w = self.wait
        if self.status != "waiting" or w is None or w.event != e.name or e.at > w.until:
            return
        node = self.d.node(w.node_id)
        if not isinstance(node, WaitNode) or node.until_event is None:
            self._missing(w.node_id)
            return
        if self._passes(node.until_event.where, node.until_event.key, e):
            self._cancel_timer()
            self._record(w.node_id, w.attempt, "event")
            self._advance(node.next)

    def _timer(self, t: TimerFired) -> None:
        w = self.wait
        if self.status != "waiting" or w is None or (w.node_id, w.attempt) != (t.node_id, t.attempt) \
                or self.now < w.until:
            return
        if w.attempt == _HOLDOUT_ATTEMPT:
            self._exit("holdout")  # the goal's window is over without a conversion
            return
        node = self.d.node(w.node_id)
        if not isinstance(node, WaitNode):
            self._missing(w.node_id)
            return
        self.wait = None
        self.status = "active"
        if node.until_event is not None and node.timeout_next is not None:
            self._record(node.id, w.attempt, "timeout")
            self._advance(node.timeout_next)
        else:
            self._record(node.id, w.attempt, "elapsed")
            self._advance(node.next)

    # --- nodes

    def _advance(self, node_id: str) -> None:
        self.status = "active"
        current: str | None = node_id
        for _ in range(MAX_STEPS_PER_SIGNAL):
            if current is None:
                return
            if self.visited >= MAX_VISITS_PER_RUN:
                break
            node = self.d.node(current)
            if node is None:
                self._missing(current)
                return
            attempt = self.attempts[current] = self.attempts.get(current, 0) + 1
            self.visited += 1
            self.node_id = current
            current = self._enter(node, attempt)
        if current is None:
            return
        self._record(current, self.attempts.get(current, 0), "loop")
        self._exit("loop")

    def _enter(self, node: Node, attempt: int) -> str | None:
        """Carry out ``node``; the id of the next node, or None when the run stops here."""
        run_id, nid = self.run.run_id, node.id
        if isinstance(node, SendNode):
            channel: str = node.channel
            template = node.template
            if node.variants:  # an A/B/n test of the message: the customer's sticky variant
                arm = self._arm(node, attempt)
                variant = next((v for v in node.variants if v.name == arm), None)
                if variant is None:
                    self._missing_arm(node, arm)
                    return None
                self._record(nid, attempt, f"arm:{arm}")
                template, channel = variant.template or template, variant.channel or channel
            if channel == "preferred" and self.facts.preferred_channel:
                channel = self.facts.preferred_channel
            self._record(nid, attempt, "entered")
            self.commands.append(Send(id=command_id("send", run_id, nid, attempt), node_id=nid, attempt=attempt,
                                      channel=channel, template=template, kind=node.kind))
            return node.next
        if isinstance(node, SurveyNode) and node.channel == CHAT_SURVEY:
            self._record(nid, attempt, "entered")
            self.commands.append(AskInChat(id=command_id("ask_in_chat", run_id, nid, attempt), node_id=nid,
                                           attempt=attempt, survey=node.survey, scale=node.survey_scale))
            return node.next
        if isinstance(node, SurveyNode):
            channel = node.channel
            if channel == "preferred" and self.facts.preferred_channel:
                channel = self.facts.preferred_channel
            self._record(nid, attempt, "entered")
            self.commands.append(Send(id=command_id("send", run_id, nid, attempt), node_id=nid, attempt=attempt,
                                      channel=channel, template=node.template_key, kind="transactional",
                                      survey=(node.survey, node.survey_scale)))
            return node.next
        if isinstance(node, UpdateTraitsNode):
            self._record(nid, attempt, "entered")
            self.commands.append(UpdateTraits(id=command_id("update_traits", run_id, nid, attempt), node_id=nid,
                                              attempt=attempt, traits=dict(node.traits)))
            return node.next
        if isinstance(node, AwardPointsNode):
            self._record(nid, attempt, "entered")
            self.commands.append(AwardPoints(id=command_id("award_points", run_id, nid, attempt), node_id=nid,
                                             attempt=attempt, program=node.program, points=node.points,
                                             reason=node.reason))
            return node.next
        if isinstance(node, WebhookNode):
            self._record(nid, attempt, "entered")
            self.commands.append(CallWebhook(id=command_id("webhook", run_id, nid, attempt), node_id=nid,
                                             attempt=attempt, url=node.url, method=node.method,
                                             headers=dict(node.headers), body=node.body))
            return node.next
        if isinstance(node, ConditionNode):
            yes = self._holds(node)
            self._record(nid, attempt, "yes" if yes else "no")
            return node.yes if yes else node.no
        if isinstance(node, SplitNode):
            i = _branch(node, bucket("split", run_id, nid))
            self._record(nid, attempt, f"branch:{i}")
            return node.branches[i].next
        if isinstance(node, ExperimentNode | BanditNode):
            arm = self._arm(node, attempt)
            self._record(nid, attempt, f"arm:{arm}")
            if arm == HOLDOUT and node.holdout is not None:
                return node.holdout.next
            target = next((a.next for a in node.arms if a.name == arm), None)
            if target is None:
                self._missing_arm(node, arm)
            return target
        if isinstance(node, WaitNode):
            self._start_wait(node, attempt)
            return None
        if isinstance(node, ExitNode):
            self._record(nid, attempt, "exit")
            self.commands.append(Completed(run_id=run_id, node_id=nid, attempt=attempt))
            self._end("completed")
            return None
        assert_never(node)  # a new node type must be carried out above: mypy fails here until it is

    def _arm(self, node: ExperimentHolder, attempt: int) -> str:
        """The customer's arm: sticky (recorded, else the hash of experiment and customer under the plan's
        weights); a first exposure is a command."""
        key = experiment_id_of(self.d, node)
        plan = (self.facts.experiments or {}).get(key) or plan_of_node(self.d, node)
        arms = self.facts.arms
        existing = (arms(key) if callable(arms) else arms.get(key)) if arms is not None else None
        arm, new = plan.choose(self.run.customer_id, existing)
        if new:
            self.commands.append(Expose(id=command_id("expose", self.run.run_id, node.id, attempt), node_id=node.id,
                                        attempt=attempt, experiment=key, arm=arm))
        return arm

    def _missing_arm(self, node: ExperimentHolder, arm: str) -> None:
        """An arm the node does not have (a plan of another version): the run exits, loudly."""
        self._record(node.id, 0, "missing")
        self._exit(f"experiment {node.id!r} has no path for arm {arm!r}")

    def _start_wait(self, node: WaitNode, attempt: int) -> None:
        if node.duration is not None:
            until = self.now + node.duration
        elif node.until_time is not None:
            until = next_time_of_day(self.now, node.until_time, self.facts.timezone)
        elif node.until_best_hour:
            found = self.facts.best_hour
            hour = found() if callable(found) else found if found is not None else DEFAULT_HOUR
            until = next_time_of_day(self.now, f"{hour:02d}:00", self.facts.timezone)
        else:
            assert node.until_event is not None
            until = self.now + node.until_event.timeout
        timer_id = command_id("timer", self.run.run_id, node.id, attempt)
        self._record(node.id, attempt, "waiting")
        self.commands.append(ScheduleTimer(id=timer_id, node_id=node.id, attempt=attempt, at=until))
        self.status = "waiting"
        self.wait = Waiting(node_id=node.id, attempt=attempt, until=until, timer_id=timer_id,
                            event=node.until_event.event if node.until_event else None)

    def _holds(self, node: ConditionNode) -> bool:
        c = node.condition
        f = self.facts
        if isinstance(c, SegmentMember):
            if f.segments is None:
                raise MissingFact(f"condition {node.id!r} needs segment membership; pass Facts(segments=...)")
            if callable(f.segments):
                return bool(f.segments(c.segment_id))
            if c.segment_id not in f.segments:
                raise MissingFact(f"condition {node.id!r} needs membership of segment {c.segment_id!r}")
            return bool(f.segments[c.segment_id])
        if isinstance(c, TraitCompare):
            if f.traits is None:
                raise MissingFact(f"condition {node.id!r} needs the customer's traits; pass Facts(traits=...)")
            return value_condition(f.traits.get(c.trait), c.operator, c.value, self.now)
        assert isinstance(c, EventHappened)
        if f.events is None:
            raise MissingFact(f"condition {node.id!r} needs events since entry; pass Facts(events=...)")
        return any(e.name == c.event and self.run.entered_at <= e.at <= self.now and self._passes(c.where, c.key, e)
                   for e in f.events)

    # --- helpers

    def _passes(self, where: Sequence[Any], key: str | None, e: EventReceived) -> bool:
        if not filters_pass(where, e.properties, self.now):
            return False
        if key is None:
            return True
        expected = self.run.trigger.get(key)
        if expected is None or isinstance(expected, dict | list):
            return False  # a run whose trigger lacks the key matches no keyed event
        return value_condition(e.properties.get(key), "=", expected, self.now)

    def _record(self, node_id: str, attempt: int, outcome: str) -> None:
        self.commands.append(RecordStep(run_id=self.run.run_id, node_id=node_id, attempt=attempt, outcome=outcome,
                                        at=self.now))

    def _hold(self) -> None:
        """A holdout run sends nothing. With a goal that has a window, it waits that window out (at
        the start node, under attempt 0, which no real visit uses) so that reaching the goal converts
        it like a treated run: the holdout's conversion rate, and so the lift, mean something.
        Without a window there is nothing to compare over, and it exits at once."""
        goal = self.d.goal
        if goal is None or goal.within is None:
            self._exit("holdout")
            return
        until = self.run.entered_at + goal.within
        timer_id = command_id("timer", self.run.run_id, self.d.start, _HOLDOUT_ATTEMPT)
        self.commands.append(ScheduleTimer(id=timer_id, node_id=self.d.start, attempt=_HOLDOUT_ATTEMPT, at=until))
        self.status = "waiting"
        self.node_id = self.d.start
        self.wait = Waiting(node_id=self.d.start, attempt=_HOLDOUT_ATTEMPT, until=until, timer_id=timer_id)

    def _cancel_timer(self) -> None:
        if self.wait is not None:
            self.commands.append(CancelTimer(id=self.wait.timer_id, node_id=self.wait.node_id))
            self.wait = None

    def _missing(self, node_id: str) -> None:
        self._record(node_id, 0, "missing")
        self._exit(f"missing node {node_id!r}")

    def _exit(self, reason: str) -> None:
        self._cancel_timer()
        self.commands.append(Exited(id=command_id("exited", self.run.run_id, "", 0), reason=reason))
        self.exit_reason = reason
        self._end("exited")

    def _end(self, status: Status) -> None:
        self.wait = None
        self.status = status
        self.ended_at = self.now

    def _result(self) -> Transition:
        if not self.commands:
            return Transition(self.run)
        run = self.run.model_copy(update={
            "status": self.status, "node_id": self.node_id, "wait": self.wait, "attempts": self.attempts,
            "visited": self.visited, "ended_at": self.ended_at, "exit_reason": self.exit_reason,
        })
        return Transition(run, tuple(self.commands))


# --- steps the runner derives instead of storing ------------------------------------------------------
# Two kinds of step are stated in full by rows the same transition writes anyway: a send or webhook
# node's ``entered`` by its outbox row (the message id is the command id of that node and attempt, its
# creation time the step's), and ``exit`` by the completed run (only an exit node completes a run). The
# runner stores neither as a step row; the run's history and the step counts derive them from there.


def message_node_ids(definition: JourneyDefinition) -> frozenset[str]:
    """The nodes whose ``entered`` step is their message (send and webhook nodes; a survey but in the chat,
    which writes no message row: its step is stored)."""
    return frozenset(n.id for n in definition.nodes if isinstance(n, SendNode | WebhookNode)
                     or (isinstance(n, SurveyNode) and n.channel != CHAT_SURVEY))


def entered_steps(definition: JourneyDefinition, run: RunState,
                  messages: Sequence[tuple[str, str, dt.datetime]]) -> list[RecordStep]:
    """The ``entered`` steps of the run's send and webhook nodes, from its messages (message id, node,
    created at), as ``step`` recorded them."""
    out: list[RecordStep] = []
    attempts: dict[str, dict[str, int]] = {}  # node -> message id -> attempt
    for message_id, node_id, at in messages:
        node = definition.node(node_id)
        if not isinstance(node, SendNode | SurveyNode | WebhookNode):
            continue
        ids = attempts.get(node_id)
        if ids is None:
            kind = "webhook" if isinstance(node, WebhookNode) else "send"
            ids = attempts[node_id] = {command_id(kind, run.run_id, node_id, a): a
                                       for a in range(1, run.attempts.get(node_id, 0) + 1)}
        attempt = ids.get(message_id)
        if attempt is not None:
            out.append(RecordStep(run_id=run.run_id, node_id=node_id, attempt=attempt, outcome="entered", at=at))
    return out


def exit_step(run: RunState) -> RecordStep | None:
    """The ``exit`` step of a run that completed, as ``step`` recorded it."""
    if run.status != "completed" or run.node_id is None or run.ended_at is None:
        return None
    attempt = run.attempts.get(run.node_id, 0)
    return RecordStep(run_id=run.run_id, node_id=run.node_id, attempt=attempt, outcome="exit", at=run.ended_at)


_HOLDOUT_ATTEMPT = 0  # a holdout run's wait for its goal window; visits of nodes count from 1


def plan_of_node(d: JourneyDefinition, node: ExperimentHolder) -> Plan:
    """The plan a node runs when the runner gives none: its own weights (a bandit's even), running."""
    arms = arm_weights(node)
    if not isinstance(node, BanditNode) and all(w is not None for _, w in arms):
        weights = tuple((name, float(w or 0.0)) for name, w in arms)
    else:
        weights = tuple((name, 1.0) for name, _ in arms)
    holdout = getattr(node, "holdout", None)
    return Plan(experiment_id_of(d, node), "running", node.control or arms[0][0], weights,
                holdout.percent if holdout else 0.0)


def _branch(node: SplitNode, point: float) -> int:
    """The branch whose share of [0, 100) holds ``point``; the last branch with a share absorbs
    rounding at the top."""
    total = 0.0
    last = 0
    for i, b in enumerate(node.branches):
        if b.percent <= 0:
            continue
        total += b.percent
        last = i
        if point < total:
            return i
    return last
