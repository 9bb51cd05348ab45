"""Managing journeys: save (a new version each time), validate, publish, pause, resume, archive; runs and
per-step counts; API triggers. The request edge owns each transaction; SQL lives in ``store``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from touchline.errors import Conflict, NotFound, TouchlineError, ValidationFailed, field_error
from touchline.experiments import service as experiment_service
from touchline.journeys import signals, store
from touchline.journeys.definition import (
    CHAT_SURVEY,
    ConditionNode,
    JourneyDefinition,
    JourneyDefinitionError,
    SegmentEnteredTrigger,
    SegmentExit,
    SegmentExitedTrigger,
    SegmentMember,
    SendNode,
    SurveyNode,
    experiment_definition_of,
    experiment_nodes,
    experiment_problems,
    parse,
    to_json,
    webhook_bodies,
)
from touchline.journeys.engine import RecordStep, entered_steps, exit_step, message_node_ids
from touchline.journeys.lift import lift_interval
from touchline.journeys.runner import Runner, queue_api_trigger, run_state
from touchline.messaging import builtin
from touchline.messaging import service as message_service
from touchline.messaging import store as message_store
from touchline.messaging.templates import validate_template
from touchline.profiles import service as profile_service
from touchline.segments import store as segment_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

STATUSES = ("draft", "published", "paused", "archived")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def references(conn: Any, workspace_id: str, d: JourneyDefinition) -> list[dict[str, Any]]:
    """Problems with what a definition names outside itself: templates that do not exist or no longer
    compile (one saved before the sandbox changed), segments that do not exist."""
    problems = []
    keys = message_store.template_keys(conn, workspace_id)
    compiled: dict[str, list[str]] = {}  # template key -> why its channels do not compile
    for i, node in enumerate(d.nodes):
        if isinstance(node, SendNode):
            named = [(f"/nodes/{i}/template", node.template)] + [
                (f"/nodes/{i}/variants/{j}/template", v.template) for j, v in enumerate(node.variants or ())
                if v.template]
            for field, template in named:
                if template not in keys:
                    problems.append(field_error(field, f"no message template with key {template!r}", node=node.id))
                    continue
                if template not in compiled:
                    compiled[template] = _template_problems(conn, workspace_id, template)
                problems += [field_error(field, f"send {node.id!r}: {reason}", node=node.id)
                             for reason in compiled[template]]
        if isinstance(node, SurveyNode) and node.channel != CHAT_SURVEY:  # the chat's question is built in
            key, field = node.template_key, f"/nodes/{i}/template"
            if key not in keys:
                if node.template is None and builtin.of_key(key):
                    continue  # the built-in one, copied into the workspace when the journey is published
                problems.append(field_error(field, f"no message template with key {key!r}", node=node.id))
                continue
            if key not in compiled:
                compiled[key] = _template_problems(conn, workspace_id, key)
            problems += [field_error(field, f"survey {node.id!r}: {reason}", node=node.id) for reason in compiled[key]]
        if isinstance(node, ConditionNode) and isinstance(node.condition, SegmentMember) \
                and segment_store.segment_row(conn, workspace_id, node.condition.segment_id) is None:
            problems.append(field_error(f"/nodes/{i}/condition/segment_id",
                                        f"unknown segment {node.condition.segment_id!r}"))
    t = d.trigger
    if isinstance(t, SegmentEnteredTrigger | SegmentExitedTrigger) \
            and segment_store.segment_row(conn, workspace_id, t.segment_id) is None:
        problems.append(field_error("/trigger/segment_id", f"unknown segment {t.segment_id!r}"))
    for i, cond in enumerate(d.exit_on):
        if isinstance(cond, SegmentExit) and segment_store.segment_row(conn, workspace_id, cond.segment_id) is None:
            problems.append(field_error(f"/exit_on/{i}/segment_id", f"unknown segment {cond.segment_id!r}"))
    return problems


def _template_problems(conn: Any, workspace_id: str, key: str) -> list[str]:
    """Why the stored template ``key`` (any of its channels) does not compile now; empty when it does."""
    out = []
    for row in message_store.templates(conn, workspace_id, key):
        try:
            validate_template({"key": key, "channel": row["channel"], **row["definition"]})
        except TouchlineError as exc:
            detail = exc.detail if isinstance(exc.detail, list) and exc.detail else [{"reason": exc.message}]
            for p in detail:
                p = p if isinstance(p, dict) else {"reason": str(p)}
                where = f"{p['field']}: " if p.get("field") else ""
                line = f" (line {p['line']})" if p.get("line") else ""
                out.append(f"template {key!r} ({row['channel']}) does not compile: {where}{p.get('reason')}{line}")
    return out


def check_bodies(d: JourneyDefinition) -> None:
    """Every webhook body compiles, or ``JourneyDefinitionError`` naming each node that does not and why."""
    problems = webhook_bodies(d, strict=True)[1]
    if problems:
        raise JourneyDefinitionError("invalid journey definition", problems)


def _experiments_known(stores: Stores, workspace_id: str, d: JourneyDefinition, conn: Any = None) -> None:
    """The events the split and bandit nodes' metrics name are known to the workspace (422 naming each
    that is not); nothing to read for a journey without such nodes."""
    if not experiment_nodes(d):
        return
    problems = experiment_problems(d, experiment_service.known_events(stores, workspace_id, conn))
    if problems:
        raise JourneyDefinitionError("invalid journey definition", problems)


def _parse(raw: Mapping[str, Any], journey_id: str | None, version: int) -> JourneyDefinition:
    """A definition as the API, the dashboard and the CLI take it: structure, graph, and every webhook body
    compiled (``parse`` alone leaves the bodies, so that versions stored before can still be read)."""
    body = dict(raw)
    if journey_id is not None:
        if body.get("id") not in (None, journey_id):
            raise ValidationFailed("the definition's id does not match the journey",
                                   [field_error("/id", f"expected {journey_id!r}")])
        body["id"] = journey_id
    body["version"] = version
    d = parse(body)
    check_bodies(d)
    return d


def validate(stores: Stores, workspace_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check a definition without saving it: structure, then what it refers to."""
    d = _parse(raw, None, int(raw.get("version") or 1) if isinstance(raw.get("version"), int) else 1)
    _experiments_known(stores, workspace_id, d)
    with stores.read() as conn:
        problems = references(conn, workspace_id, d)
    return {"valid": not problems, "problems": problems, "definition": to_json(d)}


def _view(row: Mapping[str, Any], definition: Any | None = None) -> dict[str, Any]:
    out = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items() if k != "workspace_id"}
    if definition is not None:
        out["definition"] = definition
    return out


_JOURNEY_INTERNAL = ("alert", "alert_at", "failure_count", "failure_window_at")


def _journey_view(row: Mapping[str, Any], definition: Any | None = None) -> dict[str, Any]:
    """A journey as the API shows it: ``alert`` (``alert_of``) while the runner has paused it for failing runs
    (null otherwise); the failure window is the runner's."""
    out = _view({k: v for k, v in row.items() if k not in _JOURNEY_INTERNAL}, definition)
    out["alert"] = alert_of(row)
    return out


def alert_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The runner's alert on a journey row: ``kind`` (``failing_runs``: ``runs`` failed within ``minutes``;
    ``unreadable``: the published version cannot be read), ``reason`` (a sentence), ``error`` (the last
    one) and ``at``; None when there is none."""
    alert = row.get("alert")
    if not alert:
        return None
    at = row.get("alert_at")
    doc = dict(alert) if isinstance(alert, Mapping) else {"kind": "other", "reason": str(alert)}
    return {**doc, "at": at.isoformat() if isinstance(at, dt.datetime) else at}


def create(stores: Stores, workspace_id: str, raw: Mapping[str, Any], *, now: dt.datetime | None = None
           ) -> dict[str, Any]:
    now = _now(now)
    journey_id = str(raw.get("id") or "") or f"j-{uuid.uuid4().hex[:12]}"
    d = _parse(raw, journey_id, 1)
    _experiments_known(stores, workspace_id, d)
    with stores.write() as conn:
        if store.journey_row(conn, workspace_id, journey_id) is not None:
            raise Conflict(f"journey {journey_id!r} exists; save a new version with PUT /v1/journeys/{journey_id}",
                           [field_error("/id", "already exists")])
        store.insert_journey(conn, workspace_id=workspace_id, id=journey_id, name=d.name, status="draft",
                             latest_version=1, published_version=None, created_at=now, updated_at=now)
        store.insert_version(conn, workspace_id, journey_id, 1, to_json(d), now)
        row = store.journey_row(conn, workspace_id, journey_id)
    assert row is not None
    return _journey_view(row, to_json(d))


def save_version(stores: Stores, workspace_id: str, journey_id: str, raw: Mapping[str, Any], *,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """A new version; the published one stays live until this one is published."""
    now = _now(now)
    with stores.write() as conn:
        row = _row(conn, workspace_id, journey_id, for_update=True)
        if row["status"] == "archived":
            raise Conflict(f"journey {journey_id!r} is archived")
        version = int(row["latest_version"]) + 1
        d = _parse(raw, journey_id, version)
        _experiments_known(stores, workspace_id, d, conn)
        store.insert_version(conn, workspace_id, journey_id, version, to_json(d), now)
        store.update_journey(conn, workspace_id, journey_id, latest_version=version, name=d.name, updated_at=now)
        row = _row(conn, workspace_id, journey_id)
    return _journey_view(row, to_json(d))


def _row(conn: Any, workspace_id: str, journey_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.journey_row(conn, workspace_id, journey_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no journey {journey_id!r}")
    return row


def get(stores: Stores, workspace_id: str, journey_id: str, version: int | None = None) -> dict[str, Any]:
    with stores.read() as conn:
        row = _row(conn, workspace_id, journey_id)
        definition = store.version_definition(conn, workspace_id, journey_id, version or row["latest_version"])
        if definition is None:
            raise NotFound(f"journey {journey_id!r} has no version {version}")
    return _journey_view(row, definition)


def list_journeys(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = store.all_journeys(conn, workspace_id)
        out = []
        for row in rows:
            view = _journey_view(row)
            view["runs"] = store.run_counts(conn, workspace_id, row["id"])
            out.append(view)
    return out


def publish(stores: Stores, workspace_id: str, journey_id: str, version: int | None = None, *,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """Make ``version`` (the latest by default) the one new runs enter; runs already going stay on theirs."""
    now = _now(now)
    with stores.write() as conn:
        row = _row(conn, workspace_id, journey_id, for_update=True)
        if row["status"] == "archived":
            raise Conflict(f"journey {journey_id!r} is archived; create a new one")
        version = version or int(row["latest_version"])
        raw = store.version_definition(conn, workspace_id, journey_id, version)
        if raw is None:
            raise NotFound(f"journey {journey_id!r} has no version {version}")
        d = parse(raw)
        problems = webhook_bodies(d, strict=True)[1] + references(conn, workspace_id, d)
        if experiment_nodes(d):
            problems += experiment_problems(d, experiment_service.known_events(stores, workspace_id, conn))
        if problems:
            raise ValidationFailed(f"journey {journey_id!r} version {version} cannot be published", problems)
        for node in d.nodes:  # a survey step without a template of its own: the built-in one, now the workspace's
            if isinstance(node, SurveyNode) and node.template is None and node.channel != CHAT_SURVEY:
                message_service.install_builtin(conn, workspace_id, node.template_key, now)
        for _, node in experiment_nodes(d):  # each split and bandit node runs its experiment from now on
            experiment_service.ensure_for_journey(conn, workspace_id, experiment_definition_of(d, node), journey_id,
                                                  node.id, now)
        store.update_journey(conn, workspace_id, journey_id, status="published", published_version=version,
                             updated_at=now, alert=None, alert_at=None, failure_count=0, failure_window_at=None)
        row = _row(conn, workspace_id, journey_id)
    signals.invalidate(stores.state)
    return _journey_view(row)


def pause(stores: Stores, workspace_id: str, journey_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """No new entries, timers held and events ignored until resumed (published again)."""
    return _set_status(stores, workspace_id, journey_id, "paused", ("published",), now)


def resume(stores: Stores, workspace_id: str, journey_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Continue a paused journey; an alert the runner raised when it paused it is cleared, and its count of
    failing runs starts again."""
    return _set_status(stores, workspace_id, journey_id, "published", ("paused",), now,
                       alert=None, alert_at=None, failure_count=0, failure_window_at=None)


def archive(stores: Stores, workspace_id: str, journey_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Stop for good: every active run exits with reason ``archived``."""
    row = _set_status(stores, workspace_id, journey_id, "archived", ("draft", "published", "paused"), now)
    row["stopped_runs"] = Runner(stores).stop_runs(workspace_id, journey_id, "archived", _now(now))
    return row


def _set_status(stores: Stores, workspace_id: str, journey_id: str, status: str, allowed: tuple[str, ...],
                now: dt.datetime | None, **values: Any) -> dict[str, Any]:
    with stores.write() as conn:
        row = _row(conn, workspace_id, journey_id, for_update=True)
        if row["status"] not in allowed:
            raise Conflict(f"journey {journey_id!r} is {row['status']}; cannot change it to {status}",
                           [field_error("/status", f"allowed from: {', '.join(allowed)}")])
        store.update_journey(conn, workspace_id, journey_id, status=status, updated_at=_now(now), **values)
        row = _row(conn, workspace_id, journey_id)
    signals.invalidate(stores.state)
    return _journey_view(row)


def runs(stores: Stores, workspace_id: str, journey_id: str, *, status: str | None = None, limit: int = 100,
         offset: int = 0) -> list[dict[str, Any]]:
    with stores.read() as conn:
        _row(conn, workspace_id, journey_id)
        rows = store.runs_page(conn, workspace_id, journey_id, status=status, limit=limit, offset=offset)
    return [_view({k: v for k, v in r.items() if k != "state"}) for r in rows]


def run_detail(stores: Stores, workspace_id: str, run_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = store.run_row(conn, run_id)
        if row is None or row["workspace_id"] != workspace_id:
            raise NotFound(f"no run {run_id!r}")
        stored = store.steps_of_run(conn, run_id)
        sent = store.messages_of_run(conn, workspace_id, row["customer_id"], run_id)
        raw = store.version_definition(conn, workspace_id, row["journey_id"], row["version"])
        messages = [m for m in message_store.messages_page(conn, workspace_id, customer_ids=[row["customer_id"]],
                                                           journey_id=row["journey_id"], limit=100)
                    if m["run_id"] == run_id]
    run = run_state(row)
    d = parse(raw) if raw is not None else None
    # The steps the runner derives rather than stores (engine.entered_steps, exit_step); an entered row of
    # a message node stored before that is left out, so that it does not appear twice.
    at_messages = message_node_ids(d) if d is not None else frozenset()
    steps = [s for s in stored if not (s["outcome"] == "entered" and s["node_id"] in at_messages)]
    derived = entered_steps(d, run, sent) if d is not None else []
    steps += [_step_row(row, s) for s in derived]
    steps.sort(key=lambda s: (s["at"], s["id"]))
    done = exit_step(run)
    if done is not None:  # a run's last step
        steps.append(_step_row(row, done))
    view = _view({**row, "state": run.model_dump(mode="json")})
    view["steps"] = [_view(s) for s in steps]
    view["messages"] = [_view({k: v for k, v in m.items() if k not in ("context", "content")}) for m in messages]
    return view


def _step_row(run: Mapping[str, Any], step: RecordStep) -> dict[str, Any]:
    return {"id": step.id, "workspace_id": run["workspace_id"], "journey_id": run["journey_id"],
            "version": run["version"], "run_id": run["run_id"], "node_id": step.node_id, "attempt": step.attempt,
            "outcome": step.outcome, "at": step.at}


def stats(stores: Stores, workspace_id: str, journey_id: str) -> dict[str, Any]:
    """Per step: entered, waiting now, sent, suppressed by reason, failed; per journey: runs by status,
    conversions, and the holdout's conversion rate beside the treated group's (the lift)."""
    with stores.read() as conn:
        row = _row(conn, workspace_id, journey_id)
        steps = store.step_counts(conn, workspace_id, journey_id)
        sends = store.outbox_counts(conn, workspace_id, journey_id)
        by_status = store.run_counts(conn, workspace_id, journey_id)
        waiting = store.waiting_by_node(conn, workspace_id, journey_id)
        treated, treated_converted = store.converted_count(conn, workspace_id, journey_id)
        held, held_converted = store.holdout_count(conn, workspace_id, journey_id)
        failing = store.failing_count(conn, workspace_id, journey_id)
        shown = row["published_version"] or row["latest_version"]
        raw = store.version_definition(conn, workspace_id, journey_id, shown)
        # Per version, the nodes whose entered steps are their messages (rows stored before are left out).
        at_messages: dict[int, frozenset[str]] = {}
        for version in {s["version"] for s in steps if s["outcome"] == "entered"}:
            found = store.version_definition(conn, workspace_id, journey_id, version)
            at_messages[version] = message_node_ids(parse(found)) if found is not None else frozenset()
    d = parse(raw) if raw is not None else None
    types = {node.id: node.type for node in (d.nodes if d else [])}

    def counts(node_id: str) -> dict[str, Any]:
        return {"node_id": node_id, "type": types.get(node_id), "entered": 0, "outcomes": {}, "sent": 0,
                "suppressed": {}, "failed": 0, "pending": 0, "waiting": waiting.get(node_id, 0)}

    nodes = {node_id: counts(node_id) for node_id in types}
    # A node's messages are its entered steps (engine.entered_steps).
    entered = [{"node_id": m["node_id"], "outcome": "entered", "n": m["n"]} for m in sends if m["node_id"]]
    for s in [s for s in steps if not (s["outcome"] == "entered" and s["node_id"] in at_messages[s["version"]])] \
            + entered:
        n = nodes.setdefault(s["node_id"], counts(s["node_id"]))
        n["outcomes"][s["outcome"]] = n["outcomes"].get(s["outcome"], 0) + int(s["n"])
        if s["outcome"] in ("entered", "waiting", "yes", "no", "exit") or s["outcome"].startswith("branch:"):
            n["entered"] += int(s["n"])
    for m in sends:
        sent_from = nodes.get(m["node_id"])
        if sent_from is None:
            continue
        if m["status"] == "sent":
            sent_from["sent"] += int(m["n"])
        elif m["status"] == "suppressed":
            reason = m["reason"] or "unknown"
            sent_from["suppressed"][reason] = sent_from["suppressed"].get(reason, 0) + int(m["n"])
        elif m["status"] == "failed":
            sent_from["failed"] += int(m["n"])
        else:
            sent_from["pending"] += int(m["n"])

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    treated_rate, held_rate = rate(treated_converted, treated), rate(held_converted, held)
    interval = lift_interval(treated_converted, treated, held_converted, held)
    return {
        "journey_id": journey_id, "status": row["status"], "published_version": row["published_version"],
        # why the runner paused it (alert_of, until resumed); runs failing now, waiting for a retry
        "alert": alert_of(row), "failing": failing,
        "runs": by_status, "entered": sum(by_status.values()),
        "converted": treated_converted + held_converted,
        "treated": {"runs": treated, "converted": treated_converted, "rate": treated_rate},
        "holdout": {"runs": held, "converted": held_converted, "rate": held_rate},
        "lift": round(treated_rate - held_rate, 4) if treated_rate is not None and held_rate is not None else None,
        # 95 % interval of the lift (Newcombe); a lift whose interval holds 0 may be chance.
        "lift_interval": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
        "steps": list(nodes.values()),
    }


def trigger(stores: Stores, workspace_id: str, journey_id: str, identifier: str, properties: Mapping[str, Any],
            key: str | None, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Start a run of an ``api``-triggered (or any published) journey for one customer. ``key`` makes the
    call idempotent: the same key never starts a second run."""
    now = _now(now)
    profile_id = profile_service.resolve(stores, workspace_id, identifier)
    key = key or uuid.uuid4().hex
    with stores.write() as conn:
        row = _row(conn, workspace_id, journey_id)
        if row["status"] != "published":
            raise Conflict(f"journey {journey_id!r} is {row['status']}, not published")
        queue_api_trigger(conn, workspace_id, journey_id, profile_id, key, properties, now)
    stores.wakeup.set()
    return {"queued": True, "journey_id": journey_id, "profile_id": profile_id, "key": key}


# --- read-only views for the dashboard ---------------------------------------------------------------


def runs_by_node(stores: Stores, workspace_id: str, journey_id: str) -> dict[str, dict[str, int]]:
    """Per node: how many runs are there now or ended there, by run status (``waiting``, ``active``,
    ``converted``, ``exited``, ``completed``)."""
    with stores.read() as conn:
        _row(conn, workspace_id, journey_id)
        rows = store.runs_by_node(conn, workspace_id, journey_id)
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        node = out.setdefault(r["node_id"] or "", {})
        node[r["status"]] = node.get(r["status"], 0) + int(r["n"])
    return out

