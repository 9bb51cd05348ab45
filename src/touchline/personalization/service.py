"""Recommendations: trained from the event store, kept in the state store, answered from memory.

- :func:`train` reads every product view, cart addition and order line of the workspace (``queries``), the
  catalog as the newest events describe each product, the segment memberships and the shop's rules,
  evaluates the algorithms on held-out last orders, fits the chosen one on everything and replaces the
  workspace's model (``recommendation_models``). The worker (:class:`RecommendationWorker`, in
  ``touchline serve``) trains on a schedule (``TOUCHLINE_RECOMMENDATIONS_RETRAIN_HOURS``) and, between two
  trainings, refreshes incrementally: events newer than the model (by sequence number) are added to the
  customers' histories in memory every ``TOUCHLINE_RECOMMENDATIONS_REFRESH_SECONDS``, so a product just viewed
  or bought counts in the next answer. Products first seen after a training wait for the next one.
- :func:`recommend` answers ``GET /v1/recommendations`` from the model in memory (loaded once per process,
  checked for a newer version every few seconds), with answers cached for
  ``TOUCHLINE_RECOMMENDATIONS_CACHE_SECONDS`` (a customer's own new events end their cached answer at the
  next refresh).
- :func:`template_variables` gives message templates ``recommendations(n)``, :func:`similar_items` gives the
  shop assistant products like one it talks about.

A customer with no history (or unknown, or no model yet beyond popularity) gets the fallback: popularity in
their segments, in a category, over the shop. Nothing here raises for a customer it does not know.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from touchline.catalog import store as catalog_store
from touchline.errors import NotFound, ValidationFailed, field_error
from touchline.personalization import queries, store, training
from touchline.personalization.model import WEIGHTS, Interaction, Model, Pick, Rules
from touchline.personalization.model import recommend as model_recommend
from touchline.personalization.model import similar as model_similar
from touchline.profiles import service as profile_service
from touchline.threads import named_thread
from touchline.workspaces.store import list_workspaces

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["KINDS", "RecommendationWorker", "model_summary", "recommend", "rules", "sample_products", "samples",
           "save_rules", "similar_items", "template_variables", "train"]

log = logging.getLogger("touchline.personalization")

KINDS = ("for_you", "bought_together", "viewed_together", "similar")
MAX_ITEMS = 50
_KEY = "personalization"
_RELOAD_SECONDS = 5.0  # how often a process looks for a newer model or rules in the state store
_ANSWERS_KEPT = 20_000
_PRODUCT_FIELDS = ("name", "name_en", "category", "category_en", "brand", "price", "currency", "url", "image_url")


# --- the shop's rules ---------------------------------------------------------------------------------


def rules(stores: Stores, workspace_id: str) -> dict[str, Any]:
    """The workspace's rules (empty lists until set)."""
    with stores.read() as conn:
        row = store.rules(conn, workspace_id)
    return _rules_dict(row)


def _rules_dict(row: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: sorted((row or {}).get(name) or []) for name in store.RULE_LISTS}
    out["all_consumable"] = bool((row or {}).get("all_consumable", False))
    out["updated_at"] = row["updated_at"].isoformat() if row and row.get("updated_at") else None
    return out


def _rules_of(row: Mapping[str, Any] | None, unavailable: frozenset[str] = frozenset()) -> Rules:
    """The shop's rules, with what the catalog says cannot be bought (deactivated, stock 0) out of stock too."""
    r = row or {}
    return Rules(excluded=frozenset(r.get("excluded") or ()),
                 out_of_stock=frozenset(r.get("out_of_stock") or ()) | unavailable,
                 excluded_categories=frozenset(r.get("excluded_categories") or ()),
                 consumable_categories=frozenset(r.get("consumable_categories") or ()),
                 all_consumable=bool(r.get("all_consumable", False)))


def save_rules(stores: Stores, workspace_id: str, values: Mapping[str, Any], now: dt.datetime | None = None
               ) -> dict[str, Any]:
    """Replace the rules given (the lists: product ids or category names; ``all_consumable``), keep the rest."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        current = _rules_dict(store.rules(conn, workspace_id))
        merged = {name: sorted(set(values[name])) if name in values and values[name] is not None else current[name]
                  for name in store.RULE_LISTS}
        chosen = values.get("all_consumable")
        merged["all_consumable"] = bool(chosen) if chosen is not None else current["all_consumable"]
        store.save_rules(conn, workspace_id, merged, now)
        saved = store.rules(conn, workspace_id)
    cache = _cache(stores)
    with cache.lock:
        loaded = cache.loaded.get(workspace_id)
        if loaded is not None:
            loaded.set_rules(saved)
        cache.answers.clear()
    return _rules_dict(saved)


# --- the model in memory -------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """One workspace's model in this process, with the customers' histories since it was trained."""

    version: str
    model: Model
    high_water: int
    rules_stamp: Any = None
    catalog_stamp: Any = None  # the catalog's fingerprint when its unavailable products were read
    unavailable: frozenset[str] = frozenset()
    rules: Rules = field(default_factory=Rules)
    blocked: np.ndarray | None = None
    consumable: np.ndarray | None = None
    # customer -> ({product: weight}, {products bought}) from events newer than the model
    overlay: dict[str, tuple[dict[int, float], set[int]]] = field(default_factory=dict)
    overlay_seq: int = 0
    touched: dict[str, int] = field(default_factory=dict)  # customer -> how often the overlay changed for them
    checked_at: float = 0.0

    def set_rules(self, row: Mapping[str, Any] | None) -> None:
        self.rules_stamp = (row or {}).get("updated_at")
        self.rules = _rules_of(row, self.unavailable)
        self.blocked = self.model.blocked(self.rules)
        self.consumable = self.model.consumable(self.rules)

    def history(self, customer: str | None) -> tuple[dict[int, float], set[int]]:
        if customer is None:
            return {}, set()
        weights, bought = self.model.customer_history(customer)
        extra = self.overlay.get(customer)
        if extra:
            for k, w in extra[0].items():
                weights[k] = weights.get(k, 0.0) + w
            bought |= extra[1]
        return weights, bought


@dataclass
class _Cache:
    lock: threading.RLock = field(default_factory=threading.RLock)
    loaded: dict[str, _Loaded] = field(default_factory=dict)
    missing_checked: dict[str, float] = field(default_factory=dict)  # workspace -> when none was found
    answers: OrderedDict[tuple[Any, ...], tuple[float, str, str | None, int, dict[str, Any]]] = \
        field(default_factory=OrderedDict)


def _cache(stores: Stores) -> _Cache:
    return stores.extension(_KEY, _Cache, _Cache)


def _loaded(stores: Stores, workspace_id: str) -> _Loaded | None:
    """The workspace's model in memory, reloaded when the state store holds a newer one (looked at every
    few seconds); None while the workspace has none."""
    cache = _cache(stores)
    now = time.monotonic()
    with cache.lock:
        loaded = cache.loaded.get(workspace_id)
        if loaded is not None and now - loaded.checked_at < _RELOAD_SECONDS:
            return loaded
        if loaded is None and now - cache.missing_checked.get(workspace_id, -math.inf) < _RELOAD_SECONDS:
            return None
    with stores.read() as conn:
        version = store.model_version(conn, workspace_id)
        rules_row = store.rules(conn, workspace_id)
        row = store.load_model(conn, workspace_id) if version is not None and (
            loaded is None or loaded.version != version) else None
        # The catalog's stock and deactivations apply without retraining, as the rules do.
        catalog_stamp = catalog_store.fingerprint(conn, workspace_id) if version is not None else None
        unavailable = (catalog_store.unavailable(conn, workspace_id)
                       if version is not None and (row is not None or loaded is None
                                                   or loaded.catalog_stamp != catalog_stamp) else None)
    with cache.lock:
        if version is None:
            cache.loaded.pop(workspace_id, None)
            cache.missing_checked[workspace_id] = now
            return None
        if row is not None:
            fresh = _Loaded(row["version"], Model.from_bytes(row["model"]), int(row["high_water"]))
            fresh.overlay_seq = fresh.high_water
            fresh.unavailable, fresh.catalog_stamp = unavailable or frozenset(), catalog_stamp
            fresh.set_rules(rules_row)
            cache.loaded[workspace_id] = loaded = fresh
            cache.answers.clear()
        assert loaded is not None
        if unavailable is not None and row is None:
            loaded.unavailable, loaded.catalog_stamp = unavailable, catalog_stamp
            loaded.set_rules(rules_row)
            cache.answers.clear()
        elif rules_row is not None and rules_row.get("updated_at") != loaded.rules_stamp:
            loaded.set_rules(rules_row)
            cache.answers.clear()
        loaded.checked_at = now
        return loaded


# --- training ------------------------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _product_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    out = {f: source.get(f) for f in _PRODUCT_FIELDS if source.get(f) not in (None, "")}
    if "price" in out:
        out["price"] = _number(out["price"])
    return {k: v if isinstance(v, int | float) else str(v) for k, v in out.items() if v is not None}


def interactions_of(rows: Sequence[Any], products: dict[str, dict[str, Any]]) -> list[Interaction]:
    """Rows of ``queries.interactions`` as interactions; the lines of orders add to ``products`` what the
    catalog query did not know (a product only ever bought in a store)."""
    out: list[Interaction] = []
    for customer, seq, event, at_us, product_id, order_id, lines in rows:
        at = int(at_us) / 1e6
        kind = queries.KINDS.get(event)
        if kind == "purchase":
            try:
                parsed = orjson.loads(lines) if lines else None
            except orjson.JSONDecodeError:
                continue
            if not isinstance(parsed, list):
                continue
            group = order_id or f"seq-{seq}"
            for line in parsed:
                if not isinstance(line, dict) or line.get("product_id") in (None, ""):
                    continue
                pid = str(line["product_id"])
                out.append(Interaction(customer, pid, "purchase", at, group))
                if pid not in products:
                    products[pid] = _product_fields(line)
        elif kind is not None and product_id:
            out.append(Interaction(customer, product_id, kind, at))
    return out


def train(stores: Stores, workspace_id: str, *, algorithms: Sequence[str] = training.ALGORITHMS,
          evaluate: bool = True, now: dt.datetime | None = None, progress: Callable[[str], None] | None = None
          ) -> dict[str, Any]:
    """Train the workspace's model from its events and replace the stored one; returns its summary."""
    started, cpu = time.perf_counter(), time.process_time()
    now = now or dt.datetime.now(dt.UTC)
    with stores.events_conn() as conn:
        high_water = int(conn.execute(queries.newest_seq(workspace_id)).scalar() or 0)
        rows = [r for r in conn.execute(queries.interactions(workspace_id)) if r[1] <= high_water]
        catalog = conn.execute(queries.catalog(workspace_id)).mappings()
        products = {str(r["product_id"]): _product_fields(dict(r)) for r in catalog}
    read = time.perf_counter()
    interactions = interactions_of(rows, products)
    with stores.read() as conn:
        rules_row = store.rules(conn, workspace_id)
        segments = store.memberships(conn, workspace_id)
        unavailable = catalog_store.unavailable(conn, workspace_id)
        catalog_stamp = catalog_store.fingerprint(conn, workspace_id)
    model = training.train(interactions, products, _rules_of(rules_row), segments=segments, algorithms=algorithms,
                           evaluate_first=evaluate, progress=progress,
                           meta={"trained_at": now.isoformat(), "high_water": high_water, "events": len(rows)})
    model.meta["read_seconds"] = round(read - started, 3)
    blob = model.to_bytes()
    version = uuid.uuid4().hex
    model.meta["seconds"] = round(time.perf_counter() - started, 3)
    # The process's CPU time meanwhile (every thread's: on a busy machine, wall time says little).
    model.meta["cpu_seconds"] = round(time.process_time() - cpu, 3)
    with stores.write() as conn:
        store.save_model(conn, workspace_id, version=version, algorithm=model.algorithm, trained_at=now,
                         high_water=high_water, meta=model.meta, blob=blob)
    loaded = _Loaded(version, model, high_water, overlay_seq=high_water, checked_at=time.monotonic(),
                     catalog_stamp=catalog_stamp, unavailable=unavailable)
    loaded.set_rules(rules_row)
    cache = _cache(stores)
    with cache.lock:
        cache.loaded[workspace_id] = loaded
        cache.answers.clear()
    log.info("recommendations.trained workspace=%s algorithm=%s events=%d seconds=%.1f", workspace_id,
             model.algorithm, len(rows), model.meta["seconds"])
    return model_summary(stores, workspace_id) or {}


def model_summary(stores: Stores, workspace_id: str) -> dict[str, Any] | None:
    """The stored model's algorithm, time, size and figures; None when the workspace has none."""
    with stores.read() as conn:
        row = store.model_summary(conn, workspace_id)
    if row is None:
        return None
    return {"version": row["version"], "algorithm": row["algorithm"], "trained_at": row["trained_at"].isoformat(),
            "high_water": int(row["high_water"]), "bytes": int(row["bytes"] or 0), **(row["meta"] or {})}


def refresh(stores: Stores, workspace_id: str) -> int:
    """Add the events newer than what this process has seen to its customers' histories; returns how many
    interactions were added."""
    loaded = _loaded(stores, workspace_id)
    if loaded is None:
        return 0
    with stores.events_conn() as conn:
        rows = conn.execute(queries.interactions(workspace_id, after_seq=loaded.overlay_seq)).all()
    if not rows:
        return 0
    added = interactions_of(rows, {})
    cache = _cache(stores)
    with cache.lock:
        index = loaded.model.item_index
        for r in added:
            k = index.get(r.product)
            if k is None:  # a product the model has not met: the next training learns it
                continue
            weights, bought = loaded.overlay.setdefault(r.customer, ({}, set()))
            weights[k] = weights.get(k, 0.0) + WEIGHTS[r.kind]
            if r.kind == "purchase":
                bought.add(k)
            loaded.touched[r.customer] = loaded.touched.get(r.customer, 0) + 1
        loaded.overlay_seq = max(loaded.overlay_seq, max(int(r[1]) for r in rows))
    return len(added)


# --- answering -----------------------------------------------------------------------------------------


def _context_product(context: str | None) -> str | None:
    if context is None or context == "":
        return None
    kind, _, value = context.partition(":")
    if kind != "product" or not value.strip():
        raise ValidationFailed("context must be product:<product id>",
                               [field_error("query.context", "expected product:<product id>, e.g. product:P10001")])
    return value.strip()


def _item(model: Model, pick: Pick) -> dict[str, Any]:
    k = model.item_index[pick.product_id]
    return {"product_id": pick.product_id, **model.products[k], "score": round(pick.score, 6), "reason": pick.reason}


def _resolve(stores: Stores, workspace_id: str, user: str | None) -> str | None:
    if not user:
        return None
    try:
        return profile_service.resolve(stores, workspace_id, user)
    except NotFound:  # someone not seen yet (an anonymous id before its first event): the fallback
        return None


def recommend(stores: Stores, workspace_id: str, *, user: str | None = None, context: str | None = None,
              kind: str | None = None, n: int = 10, profile_id: str | None = None) -> dict[str, Any]:
    """Products for a customer (``user``: any identifier; or ``profile_id`` when known) and/or a product page
    (``context``: ``product:<id>``), best first, under the shop's rules. ``kind``: ``for_you`` (the default
    without a context), ``similar`` (bought together, then viewed together: the default with one),
    ``bought_together`` or ``viewed_together``."""
    product, kind, n = _request(context, kind, n)
    loaded = _loaded(stores, workspace_id)
    cache = _cache(stores)
    key = (workspace_id, user, profile_id, product, kind, n)
    ttl = stores.settings.recommendations_cache_seconds
    now = time.monotonic()
    hit = _cached(cache, loaded, key, now)
    if hit is not None:
        return hit
    customer = profile_id or _resolve(stores, workspace_id, user)
    if loaded is None:
        return {"user": user, "profile_id": customer, "context": context, "kind": kind, "model": None,
                "fallback": True, "items": []}
    model = loaded.model
    with cache.lock:
        history, bought = loaded.history(customer)
        touched = loaded.touched.get(customer or "", 0)
    segments: list[str] = []
    if customer is not None:
        with stores.read() as conn:
            segments = store.segments_of(conn, workspace_id, customer)
    picks = model_recommend(model, history, bought, n, loaded.rules, segments=segments,
                            context=model.item_index.get(product) if product is not None else None, kind=kind,
                            blocked=loaded.blocked, consumable=loaded.consumable)
    if product is not None and product not in model.item_index:
        # A product the model has not met: its page still gets the shop's best sellers (never itself).
        picks = [p for p in picks if p.product_id != product]
    answer = {
        "user": user, "profile_id": customer, "context": context, "kind": kind,
        "model": {"version": loaded.version, "algorithm": model.algorithm, "trained_at": model.meta.get("trained_at")},
        "fallback": not history and not any(p.reason in ("bought_together", "viewed_together") for p in picks),
        "items": [_item(model, p) for p in picks],
    }
    if ttl > 0:
        with cache.lock:
            cache.answers[key] = (now + ttl, loaded.version, customer, touched, answer)
            while len(cache.answers) > _ANSWERS_KEPT:
                cache.answers.popitem(last=False)
    return answer


def _request(context: str | None, kind: str | None, n: int) -> tuple[str | None, str, int]:
    product = _context_product(context)
    kind = kind or ("similar" if product is not None else "for_you")
    if kind not in KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", [field_error("query.kind", f"one of {', '.join(KINDS)}")])
    return product, kind, max(0, min(MAX_ITEMS, n))


def _cached(cache: _Cache, loaded: _Loaded | None, key: tuple[Any, ...], now: float) -> dict[str, Any] | None:
    """The answer kept for ``key``, while it is fresh: same model, the customer's history unchanged."""
    if loaded is None:
        return None
    with cache.lock:
        hit = cache.answers.get(key)
        if hit is None:
            return None
        expires, version, who, touched, answer = hit
        if expires > now and version == loaded.version and touched == loaded.touched.get(who or "", 0):
            cache.answers.move_to_end(key)
            return answer
    return None


def cached_answer(stores: Stores, workspace_id: str, *, user: str | None = None, context: str | None = None,
                  kind: str | None = None, n: int = 10) -> dict[str, Any] | None:
    """The cached answer of :func:`recommend` for these arguments, from memory only (no store is read, so
    the event loop may call it); None when there is none fresh. A model older than the reload period
    still answers: the next :func:`recommend` that computes looks for a newer one."""
    product, kind, n = _request(context, kind, n)
    cache = _cache(stores)
    with cache.lock:
        loaded = cache.loaded.get(workspace_id)
    return _cached(cache, loaded, (workspace_id, user, None, product, kind, n), time.monotonic())


def similar_items(stores: Stores, workspace_id: str, product_id: str, n: int = 5) -> list[dict[str, Any]]:
    """Products like ``product_id`` (bought together, viewed together, then its neighbours and its
    category's best sellers), under the shop's rules: what the shop assistant can offer. Empty without a
    model; the category's and the shop's best sellers for a product the model has not met."""
    loaded = _loaded(stores, workspace_id)
    if loaded is None:
        return []
    model = loaded.model
    k = model.item_index.get(product_id)
    n = max(0, min(MAX_ITEMS, n))
    if k is None:
        picks = model_recommend(model, {}, set(), n, loaded.rules, blocked=loaded.blocked, consumable=loaded.consumable)
    else:
        picks = model_similar(model, k, n, loaded.rules, blocked=loaded.blocked)
    return [_item(model, p) for p in picks if p.product_id != product_id]


# --- in message templates ------------------------------------------------------------------------------

TEMPLATE_MAX = 20


def template_variables(stores: Stores, workspace_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """``recommendations(n=4, context=None)`` for the customer a message is rendered for: a list of products
    (``product_id``, ``name``, ``name_en``, ``price``, ``url``, ``image_url``, ``category``, ``reason``...), the
    fallback for a customer with no history, an empty list while the workspace has no model."""
    customer = str(profile.get("id") or "") or None

    def recommendations(n: int = 4, context: str | None = None) -> list[dict[str, Any]]:
        count = n if isinstance(n, int) and not isinstance(n, bool) else 4
        ctx = f"product:{context}" if isinstance(context, str) and context and ":" not in context else context
        answer = recommend(stores, workspace_id, profile_id=customer, context=ctx if isinstance(ctx, str) else None,
                           n=max(0, min(TEMPLATE_MAX, count)))
        return list(answer["items"])

    return {"recommendations": recommendations}


def sample_products(n: int = 4, context: str | None = None) -> list[dict[str, Any]]:
    """What a save-time trial render gets from ``recommendations(n)``: products of the same shape."""
    count = n if isinstance(n, int) and not isinstance(n, bool) else 4
    return [{"product_id": f"sample-{k}", "name": f"추천 상품 {k}", "name_en": f"Recommended product {k}",
             "category": "샘플", "category_en": "Sample", "price": 10_000 * k, "currency": "KRW",
             "url": f"https://example.invalid/products/sample-{k}", "image_url": "https://example.invalid/p.jpg",
             "score": 1.0 / k, "reason": "popular"} for k in range(1, max(0, min(TEMPLATE_MAX, count)) + 1)]


# --- the schedule --------------------------------------------------------------------------------------


class RecommendationWorker:
    """``touchline serve``'s thread: every ``TOUCHLINE_RECOMMENDATIONS_REFRESH_SECONDS`` it adds new events to
    the histories in memory; a workspace whose model is older than ``TOUCHLINE_RECOMMENDATIONS_RETRAIN_HOURS``
    (or that has events and no model yet) is trained again."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = named_thread(self._run, "touchline-recs")
        self._thread.start()

    def _run(self) -> None:
        settings = self._stores.settings
        while not self._stop.wait(settings.recommendations_refresh_seconds):
            try:
                self.round(dt.datetime.now(dt.UTC))
            except Exception:  # the store is down, a bug: the next round tries again
                log.exception("the recommendations' round failed")

    def round(self, now: dt.datetime) -> None:
        retrain = dt.timedelta(hours=self._stores.settings.recommendations_retrain_hours)
        with self._stores.read() as conn:
            workspaces = [w["id"] for w in list_workspaces(conn)]
        for workspace_id in workspaces:
            if self._stop.is_set():
                return
            summary = model_summary(self._stores, workspace_id)
            trained_at = dt.datetime.fromisoformat(summary["trained_at"]) if summary else None
            if trained_at is None or now - trained_at >= retrain:
                with self._stores.events_conn() as conn:
                    has_events = conn.execute(queries.newest_seq(workspace_id)).scalar() is not None
                if has_events:
                    train(self._stores, workspace_id, now=now)
                continue
            refresh(self._stores, workspace_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


# --- for the dashboard ---------------------------------------------------------------------------------


def samples(stores: Stores, workspace_id: str, *, customers: Sequence[str] = (), count: int = 3, n: int = 5
            ) -> list[dict[str, Any]]:
    """What the model recommends to a few customers (``customers``, else the ``count`` with the strongest
    histories), beside what they did: ``[{"profile_id", "history": [products], "items": [products]}]``."""
    loaded = _loaded(stores, workspace_id)
    if loaded is None:
        return []
    model = loaded.model
    chosen = list(customers)
    if not chosen and model.customers:
        strength = np.asarray(model.history.sum(axis=1)).ravel()
        rows = np.argsort(-strength, kind="stable")[:count]
        by_row = {row: customer for customer, row in model.customers.items()}
        chosen = [by_row[int(r)] for r in rows]
    out = []
    for customer in chosen:
        with _cache(stores).lock:
            history, bought = loaded.history(customer)
        strongest = sorted(history, key=lambda k: (-history[k], k))[:n]
        answer = recommend(stores, workspace_id, profile_id=customer, n=n)
        out.append({"profile_id": customer,
                    "history": [{"product_id": model.items[k], **model.products[k], "bought": k in bought}
                                for k in strongest],
                    "items": answer["items"], "fallback": answer["fallback"]})
    return out
