"""Experiments, with the stores: definitions checked at save time, start / stop / declare a winner, sticky
assignment (flags for the shop's pages; journeys' split and bandit nodes through the runner), bandit weight
changes with their data, and the readout with its verdict.

An exposure is recorded once per customer and experiment: an assignment row (the sticky arm) and an
``Experiment Viewed`` event (Segment's spec: ``experiment_id``, ``variation_id``) whose messageId is made
from the experiment and the customer, so a retry or a second page view logs nothing more. The readout
reads those events and what the exposed customers did after them from the event store.

What assignment does by status: ``running``, the customer's recorded arm or a new sticky one (recorded);
``completed`` (a winner declared), the winner for everyone; ``draft`` and ``stopped``, the control for
everyone. Only a running experiment records exposures, so what follows a decision leaves the readout as
it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from touchline.errors import Conflict, NotFound, ValidationFailed, field_error
from touchline.eventlog import SystemEvent, append_system_events
from touchline.experiments import assignment, bandit, stats, store
from touchline.experiments.assignment import Plan
from touchline.experiments.bandit import ArmStats
from touchline.experiments.definition import (
    EXPOSURE_EVENT,
    OWN_EVENTS,
    ExperimentDefinition,
    parse,
    weights,
)
from touchline.ids import uuid5_hex
from touchline.ingest.plan import ECOMMERCE_EVENTS
from touchline.ingest.service import ingest_in, parse_items
from touchline.profiles import store as profile_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "Plan", "arm_stats", "create", "declare_winner", "ensure_for_journey", "flags", "get", "known_events",
    "list_experiments",
    "plan_of", "readout", "record_exposures", "replace", "start", "stop", "update_bandit", "verdict_text",
    "weights_history",
]

_EXPOSURES = uuid.UUID("0f5c3f1e-7d7a-4b8e-9a55-61d2c1f0e4aa")
_LIBRARY = {"name": "touchline-flags", "version": "1"}
STATUSES = ("draft", "running", "stopped", "completed")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- the plan assignment follows --------------------------------------------------------------------


def plan_of(row: Mapping[str, Any], latest: Mapping[str, Any] | None = None) -> Plan:
    d = parse(row["definition"])
    current = latest["weights"] if latest and d.kind == "bandit" else None
    return Plan(row["id"], row["status"], d.control, tuple(weights(d, current)), d.holdout_percent, row["winner"])


def exposure_event(workspace_id: str, experiment_id: str, customer_id: str, arm: str, at: dt.datetime,
                   source: str) -> SystemEvent:
    message_id = "exposure-" + uuid5_hex(_EXPOSURES, f"{workspace_id}\x1f{experiment_id}\x1f{customer_id}")
    return SystemEvent(customer_id, EXPOSURE_EVENT, {"experiment_id": experiment_id, "variation_id": arm,
                                                     "source": source}, at, message_id)


def record_exposures(conn: Connection, workspace_id: str, items: Sequence[tuple[str, str, str, str]],
                     now: dt.datetime) -> None:
    """(experiment, customer, arm, source) exposures: the sticky assignment rows and their events, in the
    caller's transaction."""
    if not items:
        return
    store.insert_assignments(conn, [{"workspace_id": workspace_id, "experiment_id": e, "customer_id": c, "arm": a,
                                     "source": s, "assigned_at": now} for e, c, a, s in items])
    append_system_events(conn, workspace_id, [exposure_event(workspace_id, e, c, a, now, s) for e, c, a, s in items],
                         now)


# --- definitions ------------------------------------------------------------------------------------


def known_events(stores: Stores, workspace_id: str, conn: Connection | None = None) -> set[str]:
    """Events a metric may name: received (event store and staging), declared in the tracking plan,
    Segment's e-commerce events and Touchline's own."""
    with stores.events_conn() as econn:
        seen = {str(r[0]) for r in econn.execute(store.event_names(workspace_id))}
    if conn is None:
        with stores.read() as own:
            declared = store.declared_events(own, workspace_id)
    else:
        declared = store.declared_events(conn, workspace_id)
    return seen | declared | set(ECOMMERCE_EVENTS) | set(OWN_EVENTS)


def _view(row: Mapping[str, Any], latest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items() if k != "workspace_id"}
    plan = plan_of(row, latest)
    total = sum(w for _, w in plan.arms) or 1.0
    out["weights"] = {name: w / total for name, w in plan.arms}
    return out


def _row(conn: Connection, workspace_id: str, experiment_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.experiment_row(conn, workspace_id, experiment_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no experiment {experiment_id!r}", [field_error("experiment_id", "unknown experiment")])
    return row


def create(stores: Stores, workspace_id: str, raw: Mapping[str, Any], *, now: dt.datetime | None = None
           ) -> dict[str, Any]:
    """A new experiment (draft): 422 naming each problem, nothing saved; 409 when the id is taken."""
    now = _now(now)
    known = known_events(stores, workspace_id)
    d = parse(dict(raw), known_events=known)
    with stores.write() as conn:
        if store.experiment_row(conn, workspace_id, d.id) is not None:
            raise Conflict(f"experiment {d.id!r} exists", [field_error("/id", "already exists")])
        store.insert_experiment(conn, {"workspace_id": workspace_id, "id": d.id, "name": d.name, "kind": d.kind,
                                       "source": "flag", "status": "draft", "definition": d.model_dump(mode="json"),
                                       "version": 1, "journey_id": None, "node_id": None, "winner": None,
                                       "created_at": now, "updated_at": now, "started_at": None, "stopped_at": None})
        row = _row(conn, workspace_id, d.id)
    return _view(row)


def replace(stores: Stores, workspace_id: str, experiment_id: str, raw: Mapping[str, Any], *,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """A new version of the definition. While it runs, only its name, metric and guardrails may change:
    new arms, weights or holdout would split the exposures already recorded differently."""
    now = _now(now)
    body = {**raw, "id": experiment_id}
    d = parse(body, known_events=known_events(stores, workspace_id))
    with stores.write() as conn:
        row = _row(conn, workspace_id, experiment_id, for_update=True)
        if row["source"] == "journey":
            raise Conflict(f"experiment {experiment_id!r} belongs to journey {row['journey_id']!r}: change the journey",
                           [field_error("/id", "defined by a journey node")])
        if row["status"] == "running":
            before = parse(row["definition"])
            for key in ("kind", "arms", "control", "holdout_percent", "bandit"):
                if getattr(before, key) != getattr(d, key):
                    raise Conflict(f"experiment {experiment_id!r} is running: {key} cannot change; stop it first",
                                   [field_error(f"/{key}", "cannot change while the experiment runs")])
        store.update_experiment(conn, workspace_id, experiment_id, name=d.name, kind=d.kind,
                                definition=d.model_dump(mode="json"), version=int(row["version"]) + 1, updated_at=now)
        row = _row(conn, workspace_id, experiment_id)
    return _view(row)


def ensure_for_journey(conn: Connection, workspace_id: str, d: ExperimentDefinition, journey_id: str, node_id: str,
                       now: dt.datetime) -> None:
    """The experiment of a journey's split or bandit node, as the journey is published: made running, or
    its definition updated (a stopped or decided one keeps its status). 409 when another journey or a flag
    uses the id."""
    row = store.experiment_row(conn, workspace_id, d.id, for_update=True)
    doc = d.model_dump(mode="json")
    if row is None:
        store.insert_experiment(conn, {"workspace_id": workspace_id, "id": d.id, "name": d.name, "kind": d.kind,
                                       "source": "journey", "status": "running", "definition": doc, "version": 1,
                                       "journey_id": journey_id, "node_id": node_id, "winner": None,
                                       "created_at": now, "updated_at": now, "started_at": now, "stopped_at": None})
        if d.kind == "bandit":
            _record_weights(conn, workspace_id, d.id, 1, dict(weights(d)), {"arms": []}, "start", now)
        return
    if (row["source"], row["journey_id"], row["node_id"]) != ("journey", journey_id, node_id):
        raise Conflict(f"experiment id {d.id!r} is taken by another experiment",
                       [field_error("experiment", f"experiment {d.id!r} already exists")])
    if row["definition"] != doc:
        store.update_experiment(conn, workspace_id, d.id, name=d.name, kind=d.kind, definition=doc,
                                version=int(row["version"]) + 1, updated_at=now)


def get(stores: Stores, workspace_id: str, experiment_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = _row(conn, workspace_id, experiment_id)
        latest = store.latest_weights(conn, workspace_id, [experiment_id]).get(experiment_id)
    return _view(row, latest)


def list_experiments(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = store.experiment_rows(conn, workspace_id)
        latest = store.latest_weights(conn, workspace_id, [r["id"] for r in rows])
    return [_view(r, latest.get(r["id"])) for r in rows]


def _set(stores: Stores, workspace_id: str, experiment_id: str, status: str, allowed: tuple[str, ...],
         now: dt.datetime | None, **values: Any) -> dict[str, Any]:
    now = _now(now)
    with stores.write() as conn:
        row = _row(conn, workspace_id, experiment_id, for_update=True)
        if row["status"] not in allowed:
            raise Conflict(f"experiment {experiment_id!r} is {row['status']}; cannot make it {status}",
                           [field_error("/status", f"allowed from: {', '.join(allowed)}")])
        store.update_experiment(conn, workspace_id, experiment_id, status=status, updated_at=now, **values)
        row = _row(conn, workspace_id, experiment_id)
        latest = store.latest_weights(conn, workspace_id, [experiment_id]).get(experiment_id)
    return _view(row, latest)


def start(stores: Stores, workspace_id: str, experiment_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = _now(now)
    return _set(stores, workspace_id, experiment_id, "running", ("draft", "stopped"), now, started_at=now,
                stopped_at=None)


def stop(stores: Stores, workspace_id: str, experiment_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Stop: everyone gets the control from now on; nothing more is recorded."""
    now = _now(now)
    return _set(stores, workspace_id, experiment_id, "stopped", ("running",), now, stopped_at=now)


def declare_winner(stores: Stores, workspace_id: str, experiment_id: str, arm: str, *,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """All traffic to ``arm`` from now on (the experiment is completed)."""
    now = _now(now)
    with stores.read() as conn:
        d = parse(_row(conn, workspace_id, experiment_id)["definition"])
    if arm not in d.arm_names:
        raise ValidationFailed("no such arm", [field_error("arm", f"one of {', '.join(d.arm_names)}")])
    return _set(stores, workspace_id, experiment_id, "completed", ("running", "stopped"), now, winner=arm,
                stopped_at=now)


def weights_history(stores: Stores, workspace_id: str, experiment_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        _row(conn, workspace_id, experiment_id)
        rows = store.weights_history(conn, workspace_id, experiment_id)
    return [{"seq": r["seq"], "at": r["at"].isoformat(), "weights": r["weights"], "data": r["data"],
             "reason": r["reason"]} for r in rows]


# --- bandits -----------------------------------------------------------------------------------------


def _record_weights(conn: Connection, workspace_id: str, experiment_id: str, seq: int, new: Mapping[str, float],
                    data: Mapping[str, Any], reason: str, now: dt.datetime) -> None:
    store.insert_weights(conn, {"workspace_id": workspace_id, "experiment_id": experiment_id, "seq": seq, "at": now,
                                "weights": dict(new), "data": dict(data), "reason": reason})


def arm_stats(stores: Stores, workspace_id: str, row: Mapping[str, Any]) -> list[ArmStats]:
    """What a bandit learns from: per arm (the holdout apart), the customers exposed and of them those who
    reached the metric (the journey's goal event) within its window, read from the event store as the
    readout reads them."""
    d = parse(row["definition"])
    with stores.events_conn() as econn:
        rows = econn.execute(store.arm_outcomes(workspace_id, row["id"], EXPOSURE_EVENT, d.metric.event,
                                                d.metric.window_hours * 3600.0, d.metric.where)).all()
    counts = {str(r.arm): (int(r.exposures), int(r.converted)) for r in rows}
    return [ArmStats(a, *counts.get(a, (0, 0))) for a in d.arm_names]


def update_bandit(conn: Connection, workspace_id: str, row: Mapping[str, Any], arm_stats: Sequence[ArmStats],
                  now: dt.datetime) -> dict[str, float] | None:
    """Move a running bandit's weights when its policy says it is due (every arm has its minimum of
    exposures, the cadence has passed since the last change), recording the change with its data; the new
    weights, or None."""
    if row["status"] != "running" or row["kind"] != "bandit":
        return None
    d = parse(row["definition"])
    latest = store.latest_weights(conn, workspace_id, [row["id"]]).get(row["id"])
    last_change = latest["at"] if latest and latest["reason"] != "start" else None
    by_name = {s.name: s for s in arm_stats}
    ordered = [by_name.get(a, ArmStats(a, 0, 0)) for a in d.arm_names]
    policy = d.bandit_policy()
    if not bandit.due(policy, ordered, last_change, now):
        return None
    seq = int(latest["seq"]) + 1 if latest else 1
    new, data = bandit.next_weights(policy, ordered, experiment=row["id"], change=seq)
    _record_weights(conn, workspace_id, row["id"], seq, new, data, "thompson", now)
    return new


# --- flags: the shop's pages -------------------------------------------------------------------------


def flags(stores: Stores, workspace_id: str, *, anonymous_id: str, user_id: str | None,
          experiment_ids: Sequence[str], page_url: str | None = None, now: dt.datetime | None = None
          ) -> dict[str, dict[str, Any]]:
    """Each experiment's arm for the visitor: ``{"arm", "exposed"}`` (``exposed``: this call recorded the
    first exposure). Unknown experiments are 404 naming them. A visitor without a profile yet is split by
    their identifier (user id, else anonymous id); the exposure event, ingested like the page's own
    analytics, makes the profile."""
    now = _now(now)
    settings = stores.settings
    out: dict[str, dict[str, Any]] = {}
    who = f"user:{user_id}" if user_id else f"anonymous:{anonymous_id}"
    keys = [("user_id", user_id)] if user_id else [("anonymous_id", anonymous_id)]
    signals = False
    with stores.write() as conn:
        rows = {r["id"]: r for r in store.experiment_rows(conn, workspace_id, list(dict.fromkeys(experiment_ids)))}
        missing = [e for e in experiment_ids if e not in rows]
        if missing:
            raise NotFound(f"no experiment {missing[0]!r}",
                           [field_error("experiments", f"unknown experiment {e!r}") for e in missing])
        latest = store.latest_weights(conn, workspace_id, list(rows))
        found = next(iter(profile_store.load_identities(conn, workspace_id, keys).values()), None)
        profile_id = profile_store.canonical_profile_id(conn, workspace_id, found) if found else None
        ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id) if profile_id else []
        customer = profile_id or who
        for experiment_id in dict.fromkeys(experiment_ids):
            plan = plan_of(rows[experiment_id], latest.get(experiment_id))
            existing = store.assignment_of(conn, workspace_id, experiment_id, ids) if ids else None
            arm, new = plan.choose(customer, existing)
            out[experiment_id] = {"arm": arm, "exposed": False}
            if not new:
                continue
            message_id = "exposure-" + uuid5_hex(_EXPOSURES, f"{workspace_id}\x1f{experiment_id}\x1f{who}")
            message: dict[str, Any] = {
                "type": "track", "event": EXPOSURE_EVENT, "messageId": message_id, "anonymousId": anonymous_id,
                "timestamp": now.isoformat(),
                "properties": {"experiment_id": experiment_id, "variation_id": arm, "source": "web",
                               **({"page_url": page_url[:2048]} if page_url else {})},
                "context": {"channel": "web", "library": _LIBRARY}}
            if user_id:
                message["userId"] = user_id
            events, bad = parse_items([message], received_at=now, batch_sent_at=None, default_type=None,
                                      max_event_bytes=settings.max_event_bytes,
                                      phone_region=settings.default_phone_region, source=_LIBRARY["name"])
            if bad:
                problem = bad[0]
                raise ValidationFailed("the exposure cannot be recorded",
                                       [field_error(str(problem.get("field") or "anonymousId"),
                                                    str(problem.get("reason")))])
            result = ingest_in(conn, stores, workspace_id, events, now=now)
            signals = signals or bool(result.signals)
            if profile_id is None:
                made = result.profile_ids[0] if result.profile_ids else next(
                    iter(profile_store.load_identities(conn, workspace_id, keys).values()), None)
                if made is None:
                    continue
                profile_id = profile_store.canonical_profile_id(conn, workspace_id, made)
                ids = [profile_id]
            store.insert_assignments(conn, [{"workspace_id": workspace_id, "experiment_id": experiment_id,
                                             "customer_id": profile_id, "arm": arm, "source": "web",
                                             "assigned_at": now}])
            out[experiment_id]["exposed"] = True
    if signals:
        stores.wakeup.set()
    return out


# --- the readout ----------------------------------------------------------------------------------------


_VERDICTS = {
    "winner": ("{arm} wins: it beats the control ({control}) by {lift} and the sequential test says it is not "
               "chance.", "{arm}이(가) 이겼습니다: 대조군({control})보다 {lift} 높고, 순차 검정으로 우연이 아닙니다."),
    "control_better": ("The control ({control}) is better than every other arm.",
                       "대조군({control})이 다른 모든 변형보다 낫습니다."),
    "no_difference_yet": ("No detectable difference yet: keep it running (looking every day is safe).",
                          "아직 뚜렷한 차이가 없습니다. 계속 진행하세요 (매일 확인해도 괜찮습니다)."),
    "not_enough_data": ("Not enough data yet: every arm needs at least {min} exposures.",
                        "아직 데이터가 부족합니다. 변형마다 최소 {min}명의 노출이 필요합니다."),
    "srm": ("Stop: sample ratio mismatch (p = {p}). The arms did not get the traffic they were planned to get, "
            "so the results cannot be trusted; check the assignment.",
            "중단하세요: 표본 비율 불일치 (p = {p}). 변형별 트래픽이 계획과 달라 결과를 믿을 수 없습니다. "
            "배정을 확인하세요."),
}


def verdict_text(r: stats.Readout, control: str, lang: str = "en") -> str:
    english, korean = _VERDICTS[r.verdict]
    arm = next((a for a in r.arms if a.name == r.winner), None)
    if arm is not None and arm.lift is not None:
        lift = (f"{arm.lift * 100:+.1f} pts" if lang == "en" else f"{arm.lift * 100:+.1f}%p") \
            if r.metric == "conversion" else f"{arm.lift:+,.0f}"
    else:
        lift = ""
    return (english if lang == "en" else korean).format(arm=r.winner, control=control, lift=lift,
                                                        min=stats.MIN_EXPOSURES, p=f"{r.srm_p_value:.2g}")


def _summaries(rows: Sequence[Any], names: Sequence[str], planned: Mapping[str, float]) -> list[stats.ArmSummary]:
    by_arm = {str(r.arm): r for r in rows}
    out = []
    for name in names:
        r = by_arm.get(name)
        out.append(stats.ArmSummary(name, int(r.exposures) if r else 0, int(r.converted) if r else 0,
                                    float(r.value_sum or 0) if r else 0.0, float(r.value_sq or 0) if r else 0.0,
                                    planned.get(name, 0.0)))
    return out


def readout(stores: Stores, workspace_id: str, experiment_id: str) -> dict[str, Any]:
    """Per arm against the control: exposures, conversions (or revenue per recipient), lift with its
    fixed-horizon and sequential intervals, chance to beat control, expected loss; the SRM check; the
    guardrails; the verdict in English and Korean; a bandit's weights over time."""
    with stores.read() as conn:
        row = _row(conn, workspace_id, experiment_id)
        history = store.weights_history(conn, workspace_id, experiment_id)
    d = parse(row["definition"])
    names = d.arm_names + ([assignment.HOLDOUT] if d.holdout_percent > 0 else [])
    share = (100 - d.holdout_percent) / 100
    if d.kind == "bandit":
        # the weights moved on purpose: the SRM check reads the fixed holdout against the rest only
        planned = {}
    else:
        arms_w = weights(d)
        total = sum(w for _, w in arms_w)
        planned = {n: share * w / total for n, w in arms_w}
    if d.holdout_percent > 0:
        planned[assignment.HOLDOUT] = d.holdout_percent / 100
    with stores.events_conn() as econn:
        rows = econn.execute(store.arm_outcomes(workspace_id, experiment_id, EXPOSURE_EVENT, d.metric.event,
                                                d.metric.window_hours * 3600.0, d.metric.where)).all()
        guard_rows = [(g, econn.execute(store.arm_outcomes(
            workspace_id, experiment_id, EXPOSURE_EVENT, g.event,
            (g.window_hours or d.metric.window_hours) * 3600.0, g.where)).all()) for g in d.guardrails]
    arms = _summaries(rows, names, planned)
    holdout = assignment.HOLDOUT if d.holdout_percent > 0 else None
    result = stats.readout(arms, d.control, metric=d.metric.type, check_srm=d.kind != "bandit", holdout=holdout)
    if d.kind == "bandit" and d.holdout_percent:
        held = sum(a.exposures for a in arms if a.name == assignment.HOLDOUT)
        rest = sum(a.exposures for a in arms) - held
        srm_p = stats.srm([held, rest], [d.holdout_percent, 100 - d.holdout_percent])
        if srm_p < stats.SRM_P:
            result = stats.Readout(result.metric, result.arms, srm_p, True, "srm", None, result.correction)
        else:
            result = stats.Readout(result.metric, result.arms, srm_p, False, result.verdict, result.winner,
                                   result.correction)
    guardrails = []
    for g, g_rows in guard_rows:
        g_result = stats.readout(_summaries(g_rows, names, planned or {n: 1.0 for n in names}), d.control,
                                 holdout=holdout)
        guardrails.append({"event": g.event, "arms": [a.as_dict() for a in g_result.arms],
                           "breached": [a.name for a in g_result.arms if a.significant and (a.lift or 0) > 0]})
    latest = history[-1] if history else None
    return {"experiment": _view(row, latest), "readout": result.as_dict(), "guardrails": guardrails,
            "verdict_text": {"en": verdict_text(result, d.control, "en"), "ko": verdict_text(result, d.control, "ko")},
            "weights_history": [{"seq": h["seq"], "at": h["at"].isoformat(), "weights": h["weights"],
                                 "reason": h["reason"], "data": h["data"]} for h in history]}

