"""Predictions as traits: purchase propensity and churn risk, learned from the event store, backtested in
time, and written into every customer's profile as computed traits that segments, journeys and adaptive
content read like any other (``{"type": "trait", "trait": "churn_risk", "operator": ">", "value": 0.7}``).

- **purchase propensity** (``purchase_propensity``): will the customer complete an order in the next 30
  days? Every customer with an event in the last year is scored.
- **churn risk** (``churn_risk``): will a customer who has bought complete no order in the next 60 days?
  Buyers only; other customers get no churn score.

Training, for each kind (:func:`train`): cutoffs are taken back in time from ``now - horizon`` (the
latest moment whose outcome is fully known), every 15 days while at least 14 days of history precede
them. At each cutoff the event store computes the customers' features from events before it, and the
label from their orders in ``[cutoff, cutoff + horizon)``. The backtest holds 30 % of the customers
out (by a hash of their id) and trains on the others at every cutoff, then scores the held-out ones at
the latest cutoff: AUC, Brier score, calibration error and the lift in the top decile come from those
customers, whom the model never saw, with outcomes after the cutoff. The model that scores is then fit
on every customer at every cutoff, and applied to the features as of ``now``.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn
import sqlalchemy as sa

from touchline.errors import NotFound, field_error
from touchline.messaging import adaptive
from touchline.predictions import model as learn
from touchline.predictions import queries
from touchline.predictions import store as prediction_store
from touchline.store.schema import events

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["KINDS", "SPECS", "TRAITS", "Spec", "history", "latest", "train"]


@dataclass(frozen=True)
class Spec:
    kind: str
    trait: str
    horizon: dt.timedelta
    buyers_only: bool  # who is scored: buyers (churn) or every recent customer (purchase)
    positive_if_orders: bool  # the outcome is "ordered" (purchase) or "did not order" (churn)
    description: str


SPECS: dict[str, Spec] = {
    "purchase": Spec("purchase", "purchase_propensity", dt.timedelta(days=30), False, True,
                     "Completes an order in the next 30 days"),
    "churn": Spec("churn", "churn_risk", dt.timedelta(days=60), True, False,
                  "A customer who has bought completes no order in the next 60 days"),
}
KINDS = tuple(SPECS)
TRAITS = tuple(s.trait for s in SPECS.values())
# How far back features read, the step between cutoffs, how many cutoffs at most, and the history a
# cutoff needs before it.
LOOKBACK = dt.timedelta(days=365)
CUTOFF_STEP = dt.timedelta(days=15)
MAX_CUTOFFS = 4
MIN_HISTORY = dt.timedelta(days=14)
HELD_OUT = 3  # of 10 buckets of customers
# Fewer positives or negatives than this in training: no model, and no scores written.
MIN_CLASS = 10
# Fewer held-out customers with each outcome than this: no quality worth showing, so no model either.
MIN_TEST_CLASS = 5
SOURCE = "prediction"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _held_out(customer: str) -> bool:
    return zlib.crc32(customer.encode()) % 10 < HELD_OUT


def _first_event(stores: Stores, workspace_id: str) -> dt.datetime | None:
    with stores.events_conn() as conn:
        found = conn.execute(sa.select(sa.func.min(events.c.timestamp)).where(
            events.c.workspace_id == workspace_id,
            sa.or_(events.c.user_id.is_not(None), events.c.anonymous_id.is_not(None)))).scalar_one_or_none()
    if found is None:
        return None
    if isinstance(found, str):
        found = dt.datetime.fromisoformat(found)
    return found.replace(tzinfo=dt.UTC) if found.tzinfo is None else found.astimezone(dt.UTC)


def _features(stores: Stores, workspace_id: str, cutoff: dt.datetime, spec: Spec, *,
              labelled: bool) -> list[dict[str, Any]]:
    query = queries.customer_features(workspace_id, cutoff, horizon=spec.horizon if labelled else None,
                                      lookback=LOOKBACK)
    with stores.events_conn() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [r for r in rows if not spec.buyers_only or int(r["orders"] or 0) > 0]


def _label(spec: Spec, row: Mapping[str, Any]) -> int:
    ordered = int(row["future_orders"] or 0) > 0
    return int(ordered if spec.positive_if_orders else not ordered)


def cutoffs(spec: Spec, now: dt.datetime, first_event: dt.datetime | None) -> list[dt.datetime]:
    """The cutoffs to learn at, newest first: from ``now - horizon`` back, each with history before it."""
    if first_event is None:
        return []
    latest_cutoff = now - spec.horizon
    out = [latest_cutoff - k * CUTOFF_STEP for k in range(MAX_CUTOFFS)]
    return [c for c in out if c - first_event >= MIN_HISTORY]


def _train_one(stores: Stores, workspace_id: str, spec: Spec, now: dt.datetime, first: dt.datetime | None,
               seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    points = cutoffs(spec, now, first)
    details: dict[str, Any] = {
        "algorithm": learn.ALGORITHM, "library": f"scikit-learn {sklearn.__version__}", "trait": spec.trait,
        "description": spec.description, "horizon_days": spec.horizon.days, "lookback_days": LOOKBACK.days,
        "cutoffs": [c.isoformat() for c in points], "features": list(learn.FEATURES),
        "backtest": "customers held out (30 %) at the latest cutoff, trained on the others at every cutoff",
    }
    if not points:
        return {**details, "status": "insufficient_data",
                "reason": f"needs {spec.horizon.days + MIN_HISTORY.days} days of events; the workspace has "
                          f"{'none' if first is None else f'{(now - first).days}'}"}
    train_x: list[np.ndarray] = []
    train_y: list[np.ndarray] = []
    all_x: list[np.ndarray] = []
    all_y: list[np.ndarray] = []
    test_x = np.empty((0, len(learn.FEATURES)))
    test_y = np.empty(0)
    for i, cutoff in enumerate(points):
        rows = _features(stores, workspace_id, cutoff, spec, labelled=True)
        x = learn.design(rows, cutoff.timestamp())
        y = np.array([_label(spec, r) for r in rows], dtype=np.int64)
        held = np.array([_held_out(str(r["customer"])) for r in rows], dtype=bool)
        all_x.append(x)
        all_y.append(y)
        train_x.append(x[~held])
        train_y.append(y[~held])
        if i == 0:
            test_x, test_y = x[held], y[held]
    features_seconds = time.perf_counter() - started
    xtr, ytr = np.concatenate(train_x), np.concatenate(train_y)
    counts = {"train_rows": len(ytr), "train_positives": int(ytr.sum()), "test_rows": len(test_y),
              "test_positives": int(test_y.sum())}
    details.update(counts)
    if min(int(ytr.sum()), len(ytr) - int(ytr.sum())) < MIN_CLASS:
        return {**details, "status": "insufficient_data",
                "reason": f"training needs at least {MIN_CLASS} customers with each outcome; it had "
                          f"{int(ytr.sum())} positive and {len(ytr) - int(ytr.sum())} negative"}
    if min(int(test_y.sum()), len(test_y) - int(test_y.sum())) < MIN_TEST_CLASS:
        return {**details, "status": "insufficient_data",
                "reason": f"the backtest needs at least {MIN_TEST_CLASS} held-out customers with each outcome; it had "
                          f"{int(test_y.sum())} positive and {len(test_y) - int(test_y.sum())} negative"}
    t = time.perf_counter()
    backtest_model = learn.fit(xtr, ytr, seed=seed)
    train_seconds = time.perf_counter() - t
    measured = learn.quality(test_y, learn.predict(backtest_model, test_x))
    t = time.perf_counter()
    final = learn.fit(np.concatenate(all_x), np.concatenate(all_y), seed=seed)
    final_seconds = time.perf_counter() - t
    t = time.perf_counter()
    current = _features(stores, workspace_id, now, spec, labelled=False)
    scores = learn.predict(final, learn.design(current, now.timestamp()))
    details.update(status="trained", quality=measured.as_dict(),
                   scores={"customers": len(current), "mean": float(scores.mean()) if len(scores) else None},
                   seconds={"features": round(features_seconds, 3), "backtest_fit": round(train_seconds, 3),
                            "final_fit": round(final_seconds, 3)})
    details["_scores"] = {str(r["customer"]): round(float(p), 4) for r, p in zip(current, scores, strict=True)}
    details["seconds"]["score"] = round(time.perf_counter() - t, 3)
    return details


def train(stores: Stores, workspace_id: str, *, now: dt.datetime | None = None,
          kinds: Sequence[str] = KINDS, seed: int = 0) -> list[dict[str, Any]]:
    """Train each of ``kinds`` as of ``now`` (a backtest, then the model that scores), write the scores as
    the customers' traits, and record each training; also write where each customer was last seen
    (``last_platform``, ``last_os``). Returns the trainings recorded, as :func:`latest`
    shows them. A kind without enough history or outcomes is recorded as ``insufficient_data`` with the
    reason, and writes no scores."""
    for kind in kinds:
        if kind not in SPECS:
            raise NotFound(f"no prediction {kind!r}", [field_error("kind", f"kinds are {', '.join(KINDS)}")])
    now = now or _utc_now()
    first = _first_event(stores, workspace_id)
    out = []
    for kind in kinds:
        spec = SPECS[kind]
        started = time.perf_counter()
        details = _train_one(stores, workspace_id, spec, now, first, seed)
        scores: dict[str, float] = details.pop("_scores", {})
        written = 0
        if scores:
            t = time.perf_counter()
            with stores.write() as conn:
                live = prediction_store.profile_ids(conn, workspace_id, list(scores))
                prediction_store.write_traits(conn, workspace_id, {pid: {spec.trait: scores[pid]} for pid in live},
                                              now, SOURCE, written_at=_utc_now())
            written = len(live)
            details["seconds"]["write_traits"] = round(time.perf_counter() - t, 3)
        details.setdefault("seconds", {})["total"] = round(time.perf_counter() - started, 3)
        with stores.write() as conn:
            version = prediction_store.next_version(conn, workspace_id, kind)
            row = {"workspace_id": workspace_id, "kind": kind, "version": version, "status": details.pop("status"),
                   "trained_at": _utc_now(), "as_of": now, "details": details, "scored": written}
            prediction_store.insert_model(conn, row)
        out.append(_shown(row))
    devices = _last_devices(stores, workspace_id, now)
    if devices:
        with stores.write() as conn:
            live = prediction_store.profile_ids(conn, workspace_id, list(devices))
            prediction_store.write_traits(conn, workspace_id, {pid: devices[pid] for pid in live}, now, "events",
                                          written_at=_utc_now())
    return out


def _last_devices(stores: Stores, workspace_id: str, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Where each customer was last seen, from the same features: ``last_platform`` (app or web, whichever
    they used last) and ``last_os`` (ios or android, the one most of their app events came from), the
    computed traits adaptive content chooses by when a message does not know the device."""
    query = queries.customer_features(workspace_id, now, horizon=None, lookback=LOOKBACK)
    with stores.events_conn() as conn:
        rows = conn.execute(query).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        app, web = r["last_app_at"], r["last_web_at"]
        if app is None and web is None:
            continue
        traits: dict[str, Any] = {adaptive.PLATFORM_TRAIT: "app" if web is None or (app is not None and app >= web)
                                  else "web"}
        ios, android = int(r["ios_events"] or 0), int(r["android_events"] or 0)
        if ios != android:
            traits[adaptive.OS_TRAIT] = "ios" if ios > android else "android"
        out[str(r["customer"])] = traits
    return out


def _shown(row: Mapping[str, Any]) -> dict[str, Any]:
    details = dict(row["details"] or {})
    return {"kind": row["kind"], "version": row["version"], "status": row["status"],
            "trait": details.pop("trait", SPECS[row["kind"]].trait if row["kind"] in SPECS else None),
            "trained_at": row["trained_at"].isoformat(), "as_of": row["as_of"].isoformat(),
            "scored": row["scored"], **details}


def latest(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    """The newest training of each kind (kinds never trained are left out)."""
    with stores.read() as conn:
        return [_shown(r) for r in prediction_store.latest_models(conn, workspace_id)]


def history(stores: Stores, workspace_id: str, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    """A kind's trainings, newest first."""
    if kind not in SPECS:
        raise NotFound(f"no prediction {kind!r}", [field_error("kind", f"kinds are {', '.join(KINDS)}")])
    with stores.read() as conn:
        return [_shown(r) for r in prediction_store.model_history(conn, workspace_id, kind, limit)]
