"""Journey definitions: one typed model (discriminated unions on ``type``), parsed from JSON or YAML.

Structure (field names, node and trigger kinds, formats of durations and times of day) is checked by
pydantic; what depends on the whole document (node ids that ``next`` edges name, reachability, cycles
without a wait, split percentages, keys that need an event trigger, property-filter values) is checked
by ``parse``. Every problem is reported with a JSON-pointer path (``/nodes/3/timeout_next``), like
segment definitions.

Webhook bodies are templates: ``webhook_bodies`` compiles them (the journey service calls it when a
definition is validated, saved or published; ``parse`` leaves it out, so that a version stored before
bodies were checked can still be read, and its runs fail alone).

A definition is a graph: ``start`` names the first node; every node but ``exit`` names its successor(s)
(``next``; ``yes``/``no``; ``branches[].next``; ``timeout_next``). A run ends at an ``exit`` node
(completed), when it reaches the goal (converted), or on an exit condition (exited).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from typing import Annotated, Any, Final, Literal, assert_never
from urllib.parse import urlsplit

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from touchline import validation
from touchline.channels import MESSAGE_CHANNELS, MessageChannel, SendChannel
from touchline.errors import TouchlineError, ValidationFailed
from touchline.experiments import definition as experiment_definition
from touchline.experiments.definition import ARM_NAME, EXPERIMENT_ID, BanditSettings, ExperimentDefinition
from touchline.experiments.definition import Guardrail as ExperimentGuardrail
from touchline.experiments.definition import Metric as ExperimentMetric
from touchline.messaging.templates import CompiledTemplate, validate_template
from touchline.segments.ast import PropertyFilter
from touchline.segments.validate import SegmentDefinitionError, filter_problems
from touchline.segments.validate import parse as parse_segment
from touchline.validation import MAX_DAYS, Version

__all__ = [
    "CHANNELS",
    "MAX_NODES",
    "SURVEY_TEMPLATES",
    "ApiTrigger",
    "ArmPath",
    "AwaitEvent",
    "AwardPointsNode",
    "BanditNode",
    "Condition",
    "ConditionNode",
    "DateTraitTrigger",
    "Duration",
    "EventExit",
    "EventHappened",
    "EventTrigger",
    "ExitCondition",
    "ExitNode",
    "ExperimentHolder",
    "ExperimentNode",
    "GeofenceTrigger",
    "Goal",
    "JourneyDefinition",
    "JourneyDefinitionError",
    "MessageVariant",
    "Node",
    "Reentry",
    "SegmentEnteredTrigger",
    "SegmentExit",
    "SegmentExitedTrigger",
    "SegmentMember",
    "SendNode",
    "SplitBranch",
    "SplitNode",
    "Store",
    "SurveyNode",
    "TraitCompare",
    "Trigger",
    "UpdateTraitsNode",
    "WaitNode",
    "WebhookNode",
    "arm_weights",
    "edges",
    "experiment_definition_of",
    "experiment_id_of",
    "experiment_nodes",
    "experiment_problems",
    "format_duration",
    "parse",
    "parse_duration",
    "parse_yaml",
    "to_json",
    "webhook_bodies",
]

MAX_NODES = 500  # also keeps the graph walks below far from any recursion or time limit

Channel = MessageChannel  # the channels are touchline.channels'
CHANNELS = MESSAGE_CHANNELS
JSONScalar = str | int | float | bool
JSONValue = JSONScalar | list[JSONScalar] | dict[str, Any] | None


class JourneyDefinitionError(ValidationFailed):
    """A definition that cannot be used; ``detail`` lists ``{"field": "/json/pointer", "reason": ...}``."""


# --- value types ------------------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(value: Any) -> Any:
    """``"1h"``, ``"1d12h"``, ``"2w"``, ``"90m"``, ``"30s"`` -> timedelta; anything else is left to
    pydantic (a number of seconds, ISO 8601 ``"PT1H"``, a timedelta)."""
    if isinstance(value, str) and value and not value.startswith("P"):
        m = _DURATION.fullmatch(value.strip())
        if m is None or not any(m.groups()):
            raise ValueError("expected a duration such as '30m', '1h', '1d12h' or '2w'")
        seconds = sum(int(g) * mult for g, (_, mult) in zip(m.groups(), _UNITS, strict=True) if g)
        if seconds > _MAX_DURATION.total_seconds():  # before timedelta() overflows
            raise ValueError(f"a duration is at most {MAX_DAYS} days")
        return dt.timedelta(seconds=seconds)
    return value


def format_duration(value: dt.timedelta) -> str:
    """The compact form ``parse_duration`` reads: ``1d12h``; whole seconds."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, mult in _UNITS:
        n, seconds = divmod(seconds, mult)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


# Waits and windows are added to "now" while runs are under way: a bound keeps that inside the calendar.
_MAX_DURATION = dt.timedelta(days=MAX_DAYS)


def _positive(value: dt.timedelta) -> dt.timedelta:
    if value <= dt.timedelta(0):
        raise ValueError("a duration must be positive")
    if value > _MAX_DURATION:
        raise ValueError(f"a duration is at most {MAX_DAYS} days")
    if value.microseconds:
        raise ValueError("a duration is a whole number of seconds")
    return value


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _time_of_day(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise ValueError("expected a time of day HH:MM (00:00-23:59)")
    return value


TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
NodeId = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- triggers ---------------------------------------------------------------------------------------


class EventTrigger(_Model):
    """Enter on a tracked event named ``event`` whose properties pass every ``where`` filter."""

    type: Literal["event"]
    event: str = Field(min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)


class SegmentEnteredTrigger(_Model):
    type: Literal["segment_entered"]
    segment_id: str = Field(min_length=1)


class SegmentExitedTrigger(_Model):
    type: Literal["segment_exited"]
    segment_id: str = Field(min_length=1)


class Store(_Model):
    """A circle around a shop: ``radius_m`` metres around (``lat``, ``lon``)."""

    id: str = Field(min_length=1)
    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=100_000)


class GeofenceTrigger(_Model):
    """Enter when a location event (``event``, or any event when null) puts the customer inside one of
    ``stores`` having been outside all of them (see ``touchline.journeys.triggers``). The location is
    read from the properties ``latitude`` and ``longitude``."""

    type: Literal["geofence_entered"]
    stores: list[Store] = Field(min_length=1)
    event: str | None = Field(default="Location Updated", min_length=1)


class DateTraitTrigger(_Model):
    """Enter at ``time`` (customer's time zone) on the date in trait ``trait`` plus ``offset_days``;
    every year on that date when ``annual`` (birthdays), once otherwise (N days after sign-up)."""

    type: Literal["date_trait"]
    trait: str = Field(min_length=1)
    offset_days: int = Field(default=0, ge=-366, le=3660)
    time: TimeOfDay = "09:00"
    annual: bool = False


class ApiTrigger(_Model):
    """Explicit enrolment through the API."""

    type: Literal["api"]


Trigger = Annotated[
    EventTrigger | SegmentEnteredTrigger | SegmentExitedTrigger | GeofenceTrigger | DateTraitTrigger | ApiTrigger,
    Field(discriminator="type"),
]

# triggers whose run carries the properties of an event (what ``key`` fields compare with)
EVENT_TRIGGERS = (EventTrigger, GeofenceTrigger)


# --- run-level rules --------------------------------------------------------------------------------


class Reentry(_Model):
    """``once``: a customer enters at most once; ``after_exit``: again once the previous run ended;
    ``every``: again once the previous run ended and ``days`` have passed since it was entered."""

    mode: Literal["once", "after_exit", "every"] = "once"
    days: int | None = Field(default=None, gt=0, le=MAX_DAYS)

    @model_validator(mode="after")
    def _days(self) -> Reentry:
        if self.mode == "every" and self.days is None:
            raise ValueError("mode 'every' needs 'days'")
        if self.mode != "every" and self.days is not None:
            raise ValueError(f"'days' applies only to mode 'every', not {self.mode!r}")
        return self


class Goal(_Model):
    """The run converts on an event ``event`` (passing ``where``) within ``within`` of entering; with
    ``key``, only when the event's property ``key`` equals the trigger event's (same cart_id)."""

    event: str = Field(min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)
    within: Duration | None = None
    key: str | None = Field(default=None, min_length=1)


class EventExit(_Model):
    """Leave the run on an event (``Unsubscribed``; with ``key``, for the same cart or order only)."""

    type: Literal["event"]
    event: str = Field(min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)
    key: str | None = Field(default=None, min_length=1)


class SegmentExit(_Model):
    """Leave the run when the customer enters (``entered: true``) or leaves a segment."""

    type: Literal["segment"]
    segment_id: str = Field(min_length=1)
    entered: bool = False


ExitCondition = Annotated[EventExit | SegmentExit, Field(discriminator="type")]


# --- nodes ------------------------------------------------------------------------------------------


class AwaitEvent(_Model):
    """Wait for ``event`` (passing ``where``; with ``key``, carrying the trigger event's value of that
    property) for at most ``timeout``."""

    event: str = Field(min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)
    key: str | None = Field(default=None, min_length=1)
    timeout: Duration


class WaitNode(_Model):
    """Exactly one of: ``duration``; ``until_time`` (next HH:MM in the customer's time zone);
    ``until_event`` (``next`` when it comes, ``timeout_next`` when it does not); ``until_best_hour: true``
    (the next start of the hour the customer engages most, in their time zone; the audience's when they
    have too little history; quiet hours still win at the send that follows)."""

    type: Literal["wait"]
    id: NodeId
    duration: Duration | None = None
    until_time: TimeOfDay | None = None
    until_event: AwaitEvent | None = None
    until_best_hour: Literal[True] | None = None
    next: NodeId
    timeout_next: NodeId | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> WaitNode:
        kinds = ("duration", "until_time", "until_event", "until_best_hour")
        given = [n for n in kinds if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of duration, until_time, until_event, until_best_hour"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.until_event is not None and self.timeout_next is None:
            raise ValueError("'until_event' needs 'timeout_next', the node taken when the event does not come")
        if self.until_event is None and self.timeout_next is not None:
            raise ValueError("'timeout_next' applies only to 'until_event'")
        return self


class SegmentMember(_Model):
    type: Literal["segment"]
    segment_id: str = Field(min_length=1)


class TraitCompare(_Model):
    """A trait compared like a segment's trait rule (same operators, same JSON-kind semantics)."""

    type: Literal["trait"]
    trait: str = Field(min_length=1)
    operator: Literal["=", "!=", "in", "contains", ">", "<", "between", "exists",
                      "within_last_days", "more_than_days_ago"]
    value: JSONValue = None


class EventHappened(_Model):
    """Has ``event`` (passing ``where``; with ``key``, for the trigger's value of it) happened since the
    run was entered?"""

    type: Literal["event"]
    event: str = Field(min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)
    key: str | None = Field(default=None, min_length=1)


Condition = Annotated[SegmentMember | TraitCompare | EventHappened, Field(discriminator="type")]


class ConditionNode(_Model):
    type: Literal["condition"]
    id: NodeId
    condition: Condition
    yes: NodeId
    no: NodeId


class SplitBranch(_Model):
    percent: float = Field(ge=0, le=100)
    next: NodeId
    name: str | None = None


class SplitNode(_Model):
    """A random split, the same branch for a given run every time (hash of run id and node id)."""

    type: Literal["split"]
    id: NodeId
    branches: list[SplitBranch] = Field(min_length=2, max_length=20)


class ArmPath(_Model):
    """One arm of an experiment or bandit node and the path its customers take (``next``)."""

    name: str = Field(pattern=ARM_NAME)
    weight: float | None = Field(default=None, ge=0, le=100)
    next: NodeId | None = None  # required: ``parse`` names an arm without a path


class HoldoutPath(_Model):
    """The fixed holdout of an experiment or bandit node (decided by its own hash, whatever the weights)."""

    percent: float = Field(gt=0, le=50)
    next: NodeId


class _ArmsNode(_Model):
    """An experiment in a journey: each customer gets a sticky arm (a hash of the experiment and the
    customer: the same arm on every channel and every run), recorded once as an exposure; each arm is a
    path. ``experiment``: the experiment's id (default ``<journey id>.<node id>``); ``metric``: what its
    readout measures (default: the journey's goal event within its window)."""

    id: NodeId
    experiment: str | None = Field(default=None, pattern=EXPERIMENT_ID)
    name: str | None = Field(default=None, max_length=200)
    control: str = Field(min_length=1, max_length=40)
    arms: list[ArmPath] = Field(min_length=2, max_length=20)
    holdout: HoldoutPath | None = None
    metric: ExperimentMetric | None = None
    guardrails: list[ExperimentGuardrail] = Field(default_factory=list, max_length=10)


class ExperimentNode(_ArmsNode):
    """An A/B/n split with fixed weights (percent, summing to 100; none: an even split)."""

    type: Literal["experiment"]


class BanditNode(_ArmsNode):
    """A bandit: Thompson sampling on the journey's goal conversion moves the arms' weights (a floor for
    each, only after a minimum of exposures per arm, at most once per cadence); the holdout stays fixed;
    every change is recorded with its data."""

    type: Literal["bandit"]
    bandit: BanditSettings = Field(default_factory=BanditSettings)


class MessageVariant(_Model):
    """One variant of a send step's message: its own template (subject, body) and/or channel."""

    name: str = Field(pattern=ARM_NAME)
    weight: float | None = Field(default=None, ge=0, le=100)
    template: str | None = Field(default=None, min_length=1)
    channel: SendChannel | None = None


class SendNode(_Model):
    """A message. With ``variants`` it is an A/B/n test of the message itself: each customer gets a sticky
    variant (``control`` names the one to beat; weights in percent, none: an even split), measured by the
    journey's goal (the experiment ``experiment``, default ``<journey id>.<node id>``)."""

    type: Literal["send"]
    id: NodeId
    channel: SendChannel  # "preferred": the customer's preferred channel; "best": their most engaging one
    template: str = Field(min_length=1)
    kind: Literal["advertising", "transactional"]
    next: NodeId
    variants: list[MessageVariant] | None = Field(default=None, min_length=2, max_length=20)
    experiment: str | None = Field(default=None, pattern=EXPERIMENT_ID)
    control: str | None = Field(default=None, min_length=1, max_length=40)


# A survey step's message template when it names none: the built-in one of its scale, which the feedback
# domain provides (``touchline.messaging.builtin``) and the journey's publication copies into the workspace,
# where the marketer can edit it like any other.
SURVEY_TEMPLATES: dict[str, str] = {"nps": "survey-nps", "csat": "survey-csat"}
# A survey step's channel that is no message channel: the question in the customer's web chat window, with
# a button per score (touchline.conversations.ratings posts it).
CHAT_SURVEY: Final = "chat"


class SurveyNode(_Model):
    """Ask for an NPS (0-10) or CSAT (1-5) answer: a transactional message on ``channel`` whose template
    links to the customer's signed answer page (``survey_link(survey.name, survey.scale)``; in e-mail a
    one-click button per score). ``survey`` names the survey its answers are counted under (the NPS report,
    the ``nps_score`` trait); ``template`` defaults to the built-in one of the scale."""

    type: Literal["survey"]
    id: NodeId
    survey: str = Field("nps", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    scale: Literal["nps", "csat"] | None = None  # none: csat when the survey is called "csat", else nps
    # "chat": the question and a button per score in the customer's web chat window, no template
    channel: SendChannel | Literal["chat"] = "preferred"
    template: str | None = Field(default=None, min_length=1)
    next: NodeId

    @model_validator(mode="after")
    def _chat_takes_no_template(self) -> SurveyNode:
        if self.channel == CHAT_SURVEY and self.template is not None:
            raise ValueError("a survey in the web chat asks its own question with a button per score: "
                             "leave template out, or choose another channel")
        return self

    @property
    def survey_scale(self) -> str:
        return self.scale or ("csat" if self.survey == "csat" else "nps")

    @property
    def template_key(self) -> str:
        return self.template or SURVEY_TEMPLATES[self.survey_scale]


class UpdateTraitsNode(_Model):
    type: Literal["update_traits"]
    id: NodeId
    traits: dict[str, JSONValue] = Field(min_length=1)
    next: NodeId


class AwardPointsNode(_Model):
    """Points from a loyalty program. Journeys know no program: the runner appends ``Points Award
    Requested`` to the event log (its messageId made from the run, step and attempt, so a retry asks once),
    and the program's consumer (``touchline.loyalty``) writes the points to the ledger."""

    type: Literal["award_points"]
    id: NodeId
    program: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    points: int = Field(ge=1, le=1_000_000_000)
    reason: str = Field("journey award", min_length=1, max_length=200)
    next: NodeId


class WebhookNode(_Model):
    """An HTTP call; ``body`` is a template the runner renders (sandboxed) with the run's context."""

    type: Literal["webhook"]
    id: NodeId
    url: str = Field(min_length=1, max_length=2048)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    next: NodeId


class ExitNode(_Model):
    type: Literal["exit"]
    id: NodeId


Node = Annotated[
    WaitNode | ConditionNode | SplitNode | ExperimentNode | BanditNode | SendNode | SurveyNode | UpdateTraitsNode
    | AwardPointsNode | WebhookNode | ExitNode,
    Field(discriminator="type"),
]


def edges(node: Node) -> list[tuple[str, str]]:
    """``(field, target id)`` for each outgoing edge of ``node``; ``field`` is a JSON pointer relative to
    the node (``next``, ``branches/1/next``)."""
    if isinstance(node, WaitNode):
        return [("next", node.next)] + ([("timeout_next", node.timeout_next)] if node.timeout_next else [])
    if isinstance(node, ConditionNode):
        return [("yes", node.yes), ("no", node.no)]
    if isinstance(node, SplitNode):
        return [(f"branches/{i}/next", b.next) for i, b in enumerate(node.branches)]
    if isinstance(node, ExperimentNode | BanditNode):
        arms = [(f"arms/{i}/next", a.next) for i, a in enumerate(node.arms) if a.next is not None]
        return arms + ([("holdout/next", node.holdout.next)] if node.holdout else [])
    if isinstance(node, ExitNode):
        return []
    if isinstance(node, SendNode | SurveyNode | UpdateTraitsNode | AwardPointsNode | WebhookNode):
        return [("next", node.next)]
    assert_never(node)  # a new node type must say its edges above: mypy fails here until it does


# --- the definition ---------------------------------------------------------------------------------


class JourneyDefinition(_Model):
    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    version: Version
    trigger: Trigger
    reentry: Reentry = Field(default_factory=Reentry)
    goal: Goal | None = None
    exit_on: list[ExitCondition] = Field(default_factory=list)
    holdout_percent: float = Field(default=0, ge=0, le=100)
    start: NodeId
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES)

    @functools.cached_property
    def _by_id(self) -> dict[str, Any]:
        # A cached property rather than a pydantic private attribute: reading one of those goes through
        # ``BaseModel.__getattr__``, a few microseconds for every node a run passes.
        by_id: dict[str, Any] = {}
        for node in self.nodes:
            by_id.setdefault(node.id, node)  # duplicates are reported by ``parse``; first wins
        return by_id

    def node(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)


_ADAPTER: pydantic.TypeAdapter[JourneyDefinition] = pydantic.TypeAdapter(JourneyDefinition)


def parse(doc: Any) -> JourneyDefinition:
    """A validated definition from a JSON-like dict (or a model already built, checked again)."""
    definition = _structure(doc)
    problems = list(_semantics(definition))
    if problems:
        raise JourneyDefinitionError("invalid journey definition", problems)
    return definition


def parse_yaml(text: str) -> JourneyDefinition:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JourneyDefinitionError("invalid YAML", [{"field": "", "reason": str(exc)}]) from exc
    return parse(doc)


def to_json(definition: JourneyDefinition) -> dict[str, Any]:
    """JSON-ready dict without defaults; ``parse`` reads it back to an equal definition."""
    doc: dict[str, Any] = definition.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    # ``type`` tags have no default, so they survive ``exclude_defaults``; the version always matters
    doc["version"] = definition.version
    return doc


def webhook_bodies(d: JourneyDefinition, *, strict: bool = False
                   ) -> tuple[dict[str, CompiledTemplate], list[dict[str, Any]]]:
    """Every webhook body of ``d`` compiled as a sandboxed template (the ``webhook`` channel's ``text``),
    by node id; and a problem for each that does not compile, naming the node. ``strict`` (saving or
    publishing) also refuses what the sandbox would refuse at render, as saving a template does; the
    runner compiles stored versions without it, so a version saved before still runs:
    ``{"field": "/nodes/3/body", "node": "notify", "reason": "webhook 'notify': the body does not compile:
    unexpected end of template ... (line 1 of the body)"}``. An empty body is sent empty."""
    compiled: dict[str, CompiledTemplate] = {}
    problems: list[dict[str, Any]] = []
    for i, node in enumerate(d.nodes):
        if not isinstance(node, WebhookNode) or not node.body:
            continue
        try:
            compiled[node.id] = validate_template({"key": f"{d.id}:{node.id}", "channel": "webhook",
                                                   "variants": {"en": {"text": node.body}}, "default_locale": "en"},
                                                  strict=strict)
        except TouchlineError as exc:
            details = exc.detail if isinstance(exc.detail, list) and exc.detail else [{"reason": exc.message}]
            for p in details:
                reason = str(p.get("reason") if isinstance(p, dict) else p).rstrip(".")
                line = p.get("line") if isinstance(p, dict) else None
                where = f" (line {line} of the body)" if line else ""
                problems.append({"field": f"/nodes/{i}/body", "node": node.id,
                                 "reason": f"webhook {node.id!r}: the body does not compile: {reason}{where}"})
    return compiled, problems


# --- structure --------------------------------------------------------------------------------------


def _structure(doc: Any) -> JourneyDefinition:
    if isinstance(doc, JourneyDefinition):
        return doc
    try:
        return _ADAPTER.validate_python(doc)
    except pydantic.ValidationError as exc:
        problems = validation.problems(exc, doc)
        raise JourneyDefinitionError("invalid journey definition", problems) from None


# --- semantics --------------------------------------------------------------------------------------


def _semantics(d: JourneyDefinition) -> Iterator[dict[str, str]]:
    yield from _filters(d)
    yield from _keys(d)
    yield from _graph(d)
    yield from _experiments(d)


# --- experiments ------------------------------------------------------------------------------------


# The nodes that run an experiment: split and bandit nodes, and send steps with message variants.
ExperimentHolder = ExperimentNode | BanditNode | SendNode


def experiment_nodes(d: JourneyDefinition) -> list[tuple[int, ExperimentHolder]]:
    return [(i, n) for i, n in enumerate(d.nodes)
            if isinstance(n, ExperimentNode | BanditNode) or (isinstance(n, SendNode) and n.variants)]


def experiment_id_of(d: JourneyDefinition, node: ExperimentHolder) -> str:
    return node.experiment or f"{d.id}.{node.id}"


def arm_weights(node: ExperimentHolder) -> list[tuple[str, float | None]]:
    """The node's arms (a send step's variants) with their weights as written."""
    if isinstance(node, SendNode):
        return [(v.name, v.weight) for v in node.variants or ()]
    return [(a.name, a.weight) for a in node.arms]


def _experiment_doc(d: JourneyDefinition, node: ExperimentHolder) -> dict[str, Any]:
    if isinstance(node, SendNode):
        return _experiment_doc_of_send(d, node)
    metric = node.metric or _goal_metric(d)
    doc: dict[str, Any] = {
        "id": experiment_id_of(d, node), "name": node.name or f"{d.name}: {node.id}", "kind": "ab",
        "arms": [{"name": n, **({"weight": w} if w is not None else {})} for n, w in arm_weights(node)],
        "control": node.control, "holdout_percent": node.holdout.percent if node.holdout else 0,
        "metric": metric.model_dump() if metric else None,
        "guardrails": [g.model_dump() for g in node.guardrails]}
    if isinstance(node, BanditNode):
        doc.update(kind="bandit", bandit=node.bandit.model_dump())
    return doc


def _goal_metric(d: JourneyDefinition) -> ExperimentMetric | None:
    if d.goal is None:
        return None
    hours = max(1, int((d.goal.within or dt.timedelta(days=3)).total_seconds() // 3600))
    # The goal's property filters come along; its ``key`` (the same cart as the trigger's) does not: an
    # experiment's exposure is the customer's, and carries no trigger event to match a key against.
    return ExperimentMetric(event=d.goal.event, window_hours=min(hours, experiment_definition.MAX_WINDOW_HOURS),
                            where=d.goal.where)


def _experiment_doc_of_send(d: JourneyDefinition, node: SendNode) -> dict[str, Any]:
    metric = _goal_metric(d)
    return {"id": experiment_id_of(d, node), "name": f"{d.name}: {node.id}", "kind": "ab",
            "arms": [{"name": n, **({"weight": w} if w is not None else {})} for n, w in arm_weights(node)],
            "control": node.control or "", "metric": metric.model_dump() if metric else None}


def experiment_definition_of(d: JourneyDefinition, node: ExperimentHolder,
                             known_events: Any = None) -> ExperimentDefinition:
    """The experiment a split or bandit node runs (``ExperimentDefinitionError`` when it cannot)."""
    return experiment_definition.parse(_experiment_doc(d, node), known_events=known_events)


def experiment_problems(d: JourneyDefinition, known_events: Any = None) -> list[dict[str, str]]:
    """What is wrong with the experiments of ``d``'s split and bandit nodes and message variants, each at the
    node's path (the metric's event against ``known_events`` when given)."""
    problems: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for i, node in experiment_nodes(d):
        path = f"/nodes/{i}"
        send = isinstance(node, SendNode)
        if not isinstance(node, SendNode):
            for j, arm in enumerate(node.arms):
                if arm.next is None:
                    problems.append({"field": f"{path}/arms/{j}/next",
                                     "reason": f"arm {arm.name!r} has no path: give 'next', the node its customers "
                                               "go to"})
        key = experiment_id_of(d, node)
        if key in seen:
            problems.append({"field": f"{path}/experiment",
                             "reason": f"experiment {key!r} is also run by /nodes/{seen[key]}"})
        seen.setdefault(key, i)
        if isinstance(node, BanditNode) and d.goal is None:
            problems.append({"field": "/goal",
                             "reason": f"bandit {node.id!r} learns from the journey's goal: give one"})
        if send and node.control is None:
            problems.append({"field": f"{path}/control", "reason": "a send step with variants names its control"})
            continue
        metric = None if isinstance(node, SendNode) else node.metric
        if metric is None and d.goal is None:
            problems.append({"field": f"{path}/variants" if send else f"{path}/metric",
                             "reason": "give the journey a goal to measure the variants by" if send
                             else "give a metric, or a goal to the journey"})
            continue
        try:
            experiment_definition_of(d, node, known_events)
        except experiment_definition.ExperimentDefinitionError as exc:
            for p in exc.detail:
                field = str(p["field"])
                if field == "/metric/event" and metric is None:
                    field = "/goal/event"
                elif field.startswith("/holdout_percent"):
                    field = f"{path}/holdout/percent"
                elif field == "/bandit/floor_percent":
                    field = f"{path}/bandit/floor_percent"
                elif field.startswith("/id"):
                    field = f"{path}/experiment"
                else:
                    field = path + (field.replace("/arms", "/variants", 1) if send else field)
                problems.append({"field": field, "reason": str(p["reason"])})
    return problems


def _experiments(d: JourneyDefinition) -> Iterator[dict[str, str]]:
    yield from experiment_problems(d)


def _segment_problems(doc: dict[str, Any], path: str) -> Iterator[dict[str, str]]:
    """Filter and trait values checked by the segment language, whose operators they share."""
    try:
        parse_segment(doc)
    except SegmentDefinitionError as exc:
        for p in exc.detail:
            yield {"field": path + p["field"], "reason": p["reason"]}


def _filters(d: JourneyDefinition) -> Iterator[dict[str, str]]:
    if isinstance(d.trigger, EventTrigger):
        yield from filter_problems(d.trigger.where, "/trigger")
    if d.goal is not None:
        yield from filter_problems(d.goal.where, "/goal")
    for i, cond in enumerate(d.exit_on):
        if isinstance(cond, EventExit):
            yield from filter_problems(cond.where, f"/exit_on/{i}")
    for i, node in enumerate(d.nodes):
        path = f"/nodes/{i}"
        if isinstance(node, WaitNode) and node.until_event is not None:
            yield from filter_problems(node.until_event.where, f"{path}/until_event")
        elif isinstance(node, ConditionNode):
            c = node.condition
            if isinstance(c, EventHappened):
                yield from filter_problems(c.where, f"{path}/condition")
            elif isinstance(c, TraitCompare):
                doc = {"type": "trait", "trait": c.trait, "operator": c.operator, "value": c.value}
                yield from _segment_problems(doc, f"{path}/condition")
        elif isinstance(node, WebhookNode):
            url = urlsplit(node.url)
            if url.scheme not in ("http", "https") or not url.netloc:
                yield {"field": f"{path}/url", "reason": "expected an absolute http(s) URL"}


def _keys(d: JourneyDefinition) -> Iterator[dict[str, str]]:
    """A ``key`` compares with the trigger event's properties: only event triggers have any."""
    if isinstance(d.trigger, EVENT_TRIGGERS):
        return
    reason = f"'key' compares with the trigger event's properties; a {d.trigger.type!r} trigger has none"
    if d.goal is not None and d.goal.key is not None:
        yield {"field": "/goal/key", "reason": reason}
    for i, cond in enumerate(d.exit_on):
        if isinstance(cond, EventExit) and cond.key is not None:
            yield {"field": f"/exit_on/{i}/key", "reason": reason}
    for i, node in enumerate(d.nodes):
        if isinstance(node, WaitNode) and node.until_event is not None and node.until_event.key is not None:
            yield {"field": f"/nodes/{i}/until_event/key", "reason": reason}
        if isinstance(node, ConditionNode) and isinstance(node.condition, EventHappened) and node.condition.key:
            yield {"field": f"/nodes/{i}/condition/key", "reason": reason}


def _graph(d: JourneyDefinition) -> Iterator[dict[str, str]]:
    index: dict[str, int] = {}
    for i, node in enumerate(d.nodes):
        if node.id in index:
            yield {"field": f"/nodes/{i}/id", "reason": f"duplicate node id {node.id!r} (also /nodes/{index[node.id]})"}
        else:
            index[node.id] = i
    if d.start not in index:
        yield {"field": "/start", "reason": f"unknown start node {d.start!r}"}
    for i, node in enumerate(d.nodes):
        for field, target in edges(node):
            if target not in index:
                yield {"field": f"/nodes/{i}/{field}", "reason": f"unknown node {target!r}"}
        if isinstance(node, SplitNode):
            total = sum(b.percent for b in node.branches)
            if abs(total - 100) > 1e-9:
                yield {"field": f"/nodes/{i}/branches", "reason": f"percentages sum to {total:g}, not 100"}

    by_id = {n.id: n for n in d.nodes}
    successors = {n.id: [t for _, t in edges(n) if t in by_id] for n in d.nodes}
    if d.start in by_id:
        seen = {d.start}
        todo = [d.start]
        while todo:
            for t in successors[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        for i, node in enumerate(d.nodes):
            if node.id not in seen and index.get(node.id) == i:
                yield {"field": f"/nodes/{i}", "reason": f"node {node.id!r} cannot be reached from the start node"}

    # A cycle through nodes that never wait would spin forever: look for cycles in the graph without
    # the edges leaving wait nodes. Iterative DFS, one report per cycle found.
    instant = {nid: ([] if isinstance(by_id[nid], WaitNode) else succ) for nid, succ in successors.items()}
    colour: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in by_id:
        if root in colour:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(instant[root]))]
        path = [root]
        colour[root] = 1
        while stack:
            nid, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[nid] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                yield {"field": f"/nodes/{index[nxt]}",
                       "reason": "a cycle without a wait would loop forever: " + " -> ".join(cycle)}
            elif nxt not in colour:
                colour[nxt] = 1
                stack.append((nxt, iter(instant[nxt])))
                path.append(nxt)
