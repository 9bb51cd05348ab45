"""Recommendations over plain data (no I/O): interactions in, a model out; a model and one customer's
history in, products out.

- **Interactions** are what customers did with a product: viewed it, put it in a cart, bought it (a product
  line of an order). Each counts with a weight (``WEIGHTS``: a purchase says more than a view) that halves
  every ``half_life_days`` before the newest interaction, so last month's taste outweighs last year's.
- **Co-occurrence** (item-to-item): two products are similar when the same customers touched both (cosine
  over customers, each customer pairing only their ``HISTORY_CAP`` strongest products), *bought together*
  when they are in the same orders, *viewed together* when they are viewed in the same session (views less
  than ``SESSION_GAP`` apart). Each product keeps its ``TOP_K`` nearest neighbours.
- **For you** scores every product by the customer's history times the neighbours (``history @ S``), plus
  the product's own weight in the history (a product is its own nearest neighbour: what a customer keeps
  buying, a consumable, comes back). A model learned by ``implicit`` (``collaborative``) plugs in either as
  another neighbour matrix (item-kNN) or as item factors (ALS), the customer's factors solved from the
  history at request time, so a customer's newest events count at once.
- **Popularity**, over all customers, per category and per segment, fills what the personal list cannot
  (a new customer, a new product) and is the baseline the evaluation compares against.
- **Rules** (:class:`Rules`) leave out what the shop excludes, what is out of stock, and what the customer
  already bought unless it is a consumable; they apply at request time, to the personal list and the
  fallbacks alike, so a product going out of stock needs no retraining.

A :class:`Model` is what the service stores (``to_bytes``: NumPy arrays and a JSON header in one ``.npz``)
and keeps in memory to answer requests.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

__all__ = [
    "HISTORY_CAP",
    "TOP_K",
    "WEIGHTS",
    "Indexed",
    "Interaction",
    "Model",
    "Pick",
    "Rules",
    "build",
    "cosine_neighbours",
    "index",
    "popularity",
    "recommend",
    "similar",
]

WEIGHTS: dict[str, float] = {"view": 1.0, "cart": 2.0, "purchase": 4.0}
SESSION_GAP = 30 * 60.0  # seconds between two views of one session at most
TOP_K = 50  # neighbours kept per product
HISTORY_CAP = 50  # a customer's strongest products that pair with each other in the co-occurrence
BASKET_CAP = 40  # products of one order (or session) that pair with each other
POPULAR_KEPT = 200  # products kept per popularity list
HALF_LIFE_DAYS = 60.0
REASONS = ("for_you", "bought_together", "viewed_together", "similar", "popular_in_segment",
           "popular_in_category", "popular")


@dataclass(frozen=True, slots=True)
class Interaction:
    """One customer touching one product: ``kind`` is ``view``, ``cart`` or ``purchase``; ``at`` in epoch
    seconds; ``group`` the order id of a purchase (what was bought together)."""

    customer: str
    product: str
    kind: str
    at: float
    group: str | None = None


@dataclass(frozen=True)
class Rules:
    """What a marketer expects left out: products the shop excludes (and whole categories), products out of
    stock, and what the customer already bought, except consumables (categories bought again and again;
    ``all_consumable`` for a grocery)."""

    excluded: frozenset[str] = frozenset()
    out_of_stock: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    consumable_categories: frozenset[str] = frozenset()
    all_consumable: bool = False


@dataclass(frozen=True, slots=True)
class Pick:
    product_id: str
    score: float
    reason: str  # one of REASONS


@dataclass
class Indexed:
    """Interactions as matrices: customers x products (decayed weights, and purchases), orders x products,
    sessions x products."""

    items: list[str]
    item_index: dict[str, int]
    customers: list[str]
    customer_index: dict[str, int]
    weights: sparse.csr_matrix
    purchased: sparse.csr_matrix
    baskets: sparse.csr_matrix
    sessions: sparse.csr_matrix
    newest: float


def index(interactions: Iterable[Interaction], *, half_life_days: float = HALF_LIFE_DAYS,
          items: Sequence[str] = ()) -> Indexed:
    """Index interactions (any order). ``items`` are products known without interactions (the catalog):
    they get a column, so popularity and the rules can name them."""
    rows = list(interactions)
    item_index: dict[str, int] = {p: i for i, p in enumerate(dict.fromkeys(items))}
    customer_index: dict[str, int] = {}
    n = len(rows)
    cust = np.empty(n, dtype=np.int64)
    item = np.empty(n, dtype=np.int64)
    at = np.empty(n, dtype=np.float64)
    weight = np.empty(n, dtype=np.float64)
    bought = np.zeros(n, dtype=bool)
    group_keys: dict[str, int] = {}
    group = np.full(n, -1, dtype=np.int64)
    for k, r in enumerate(rows):
        cust[k] = customer_index.setdefault(r.customer, len(customer_index))
        item[k] = item_index.setdefault(r.product, len(item_index))
        at[k] = r.at
        weight[k] = WEIGHTS.get(r.kind, 1.0)
        if r.kind == "purchase":
            bought[k] = True
            group[k] = group_keys.setdefault(r.group or f"{r.customer}\x1f{r.at}", len(group_keys))
    n_c, n_i = len(customer_index), len(item_index)
    newest = float(at.max()) if n else 0.0
    if half_life_days > 0 and n:
        weight = weight * np.exp2(-(newest - at) / (half_life_days * 86_400.0))
    weights = sparse.csr_matrix((weight.astype(np.float32), (cust, item)), shape=(n_c, n_i))
    purchased = sparse.csr_matrix((np.ones(int(bought.sum()), dtype=np.float32), (cust[bought], item[bought])),
                                  shape=(n_c, n_i))
    baskets = _binary(group[bought], item[bought], len(group_keys), n_i)
    views = np.array([r.kind == "view" for r in rows], dtype=bool) if n else np.zeros(0, dtype=bool)
    sessions = _binary(*_sessions(cust[views], at[views], item[views]), n_i)
    return Indexed(list(item_index), item_index, list(customer_index), customer_index, weights, purchased,
                   baskets, sessions, newest)


def _binary(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, n_cols))
    matrix.data[:] = 1.0  # repeats summed: once is enough
    return matrix


def _sessions(cust: np.ndarray, at: np.ndarray, item: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Views grouped into sessions: a customer's views less than SESSION_GAP apart."""
    if not len(cust):
        return cust, item, 0
    order = np.lexsort((at, cust))
    c, t, i = cust[order], at[order], item[order]
    new = np.ones(len(c), dtype=bool)
    new[1:] = (c[1:] != c[:-1]) | (t[1:] - t[:-1] > SESSION_GAP)
    session = np.cumsum(new) - 1
    return session, i, int(session[-1]) + 1


def _capped(matrix: sparse.csr_matrix, cap: int) -> sparse.csr_matrix:
    """Each row's ``cap`` largest entries, as ones (the rest dropped)."""
    m = matrix.tocsr(copy=True)
    lengths = np.diff(m.indptr)
    for r in np.flatnonzero(lengths > cap):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        row = m.data[lo:hi]
        keep = np.argpartition(-row, cap)[:cap]
        mask = np.zeros(hi - lo, dtype=bool)
        mask[keep] = True
        row[~mask] = 0.0
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def top_k(similarity: sparse.spmatrix, k: int = TOP_K) -> sparse.csr_matrix:
    """Each row's ``k`` largest entries (the diagonal dropped)."""
    m = sparse.csr_matrix(similarity, dtype=np.float32, copy=True)
    m.setdiag(0.0)
    m.eliminate_zeros()
    lengths = np.diff(m.indptr)
    for r in np.flatnonzero(lengths > k):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        row = m.data[lo:hi]
        cut = np.partition(row, len(row) - k)[len(row) - k]
        row[row < cut] = 0.0
    m.eliminate_zeros()
    return m


def cosine_neighbours(groups: sparse.csr_matrix, k: int = TOP_K, *, cap: int | None = None) -> sparse.csr_matrix:
    """Products x products: how often two products share a group (a customer, an order, a session) over the
    square root of how often each occurs (cosine), each product's ``k`` nearest kept."""
    x = _capped(groups, cap) if cap else groups
    counts = (x.T @ x).tocsr().astype(np.float32)
    occurrences = np.asarray(counts.diagonal(), dtype=np.float32)
    scale = np.zeros_like(occurrences)
    np.divide(1.0, np.sqrt(occurrences), out=scale, where=occurrences > 0)
    cosine = sparse.diags(scale) @ counts @ sparse.diags(scale)
    return top_k(cosine, k)


def popularity(data: Indexed, customers: Sequence[int] | None = None) -> np.ndarray:
    """Per product: each customer's weight on it, capped at one purchase's, summed over customers (a purchase
    by many beats many views by one). ``customers`` limits it to those rows (a segment)."""
    m = data.weights if customers is None else data.weights[np.asarray(customers, dtype=np.int64)]
    strongest = m.copy()
    strongest.data = np.minimum(strongest.data, WEIGHTS["purchase"])
    return np.asarray(strongest.sum(axis=0)).ravel()


def _ranked(scores: np.ndarray, kept: int = POPULAR_KEPT) -> np.ndarray:
    positive = np.flatnonzero(scores > 0)
    order = positive[np.lexsort((positive, -scores[positive]))]
    return order[:kept].astype(np.int32)


@dataclass
class Model:
    """What answers requests: the products (with their catalog data), the customers' histories as of
    training, the neighbour matrices or factors, the popularity lists."""

    algorithm: str  # cooccurrence | item_knn | als | popularity
    items: list[str]
    products: list[dict[str, Any]]  # catalog data per product (name, category, price, url, image_url, ...)
    customers: dict[str, int]
    history: sparse.csr_matrix  # customers x products, decayed weights
    purchased: sparse.csr_matrix  # customers x products, 1 where bought
    neighbours: sparse.csr_matrix | None  # products x products, "for you" (cooccurrence, item_knn)
    bought_together: sparse.csr_matrix
    viewed_together: sparse.csr_matrix
    popular: np.ndarray
    popular_by_category: dict[str, np.ndarray]
    popular_by_segment: dict[str, np.ndarray]
    factors: np.ndarray | None = None  # products x factors (als)
    regularization: float = 0.05
    alpha: float = 1.0
    repeat: float = 1.0  # how much a product's own weight in the history counts (neighbours count 1)
    meta: dict[str, Any] = field(default_factory=dict)  # trained_at, high_water, metrics, sizes
    item_index: dict[str, int] = field(default_factory=dict, repr=False)
    categories: list[str | None] = field(default_factory=list, repr=False)
    _gram: np.ndarray | None = field(default=None, repr=False)
    _factors64: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.item_index:
            self.item_index = {p: i for i, p in enumerate(self.items)}
        if not self.categories:
            self.categories = [(p.get("category") if p else None) for p in self.products]
        if self.factors is not None and self._gram is None:
            self._factors64 = y = self.factors.astype(np.float64)  # converted once, not per request
            self._gram = y.T @ y

    # --- storage
    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"popular": self.popular}
        for name in ("history", "purchased", "neighbours", "bought_together", "viewed_together"):
            matrix = getattr(self, name)
            if matrix is not None:
                csr = matrix.tocsr()
                arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"] = \
                    csr.data, csr.indices, csr.indptr
        if self.factors is not None:
            arrays["factors"] = self.factors
        segments = sorted(self.popular_by_segment)
        categories = sorted(self.popular_by_category)
        for k, s in enumerate(segments):
            arrays[f"segment.{k}"] = self.popular_by_segment[s]
        for k, c in enumerate(categories):
            arrays[f"category.{k}"] = self.popular_by_category[c]
        header = {"algorithm": self.algorithm, "items": self.items, "products": self.products,
                  "customers": self._customers_by_row(), "segments": segments,
                  "categories": categories, "regularization": self.regularization, "alpha": self.alpha,
                  "repeat": self.repeat,
                  "meta": self.meta, "shapes": {"customers": self.history.shape[0], "items": len(self.items)}}
        arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), dtype=np.uint8)
        out = io.BytesIO()
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
        return out.getvalue()

    def _customers_by_row(self) -> list[str]:
        """Customer ids in row order; "" for a row whose customer was forgotten."""
        by_row = [""] * self.history.shape[0]
        for customer, row in self.customers.items():
            by_row[row] = customer
        return by_row

    @classmethod
    def from_bytes(cls, blob: bytes) -> Model:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop("header").tobytes().decode())
        n_c, n_i = header["shapes"]["customers"], header["shapes"]["items"]

        def csr(name: str, shape: tuple[int, int]) -> sparse.csr_matrix | None:
            if f"{name}.data" not in arrays:
                return None
            return sparse.csr_matrix((arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                                     shape=shape)

        square = (n_i, n_i)
        return cls(
            algorithm=header["algorithm"], items=header["items"], products=header["products"],
            customers={c: k for k, c in enumerate(header["customers"]) if c},
            history=csr("history", (n_c, n_i)), purchased=csr("purchased", (n_c, n_i)),
            neighbours=csr("neighbours", square), bought_together=csr("bought_together", square),
            viewed_together=csr("viewed_together", square), popular=arrays["popular"],
            popular_by_category={c: arrays[f"category.{k}"] for k, c in enumerate(header["categories"])},
            popular_by_segment={s: arrays[f"segment.{k}"] for k, s in enumerate(header["segments"])},
            factors=arrays.get("factors"), regularization=header["regularization"], alpha=header["alpha"],
            repeat=header.get("repeat", 1.0),
            meta=header["meta"],
        )

    def forget(self, customers: Iterable[str]) -> bool:
        """Drop customers' histories (an erase); returns whether any was held. What the neighbour matrices
        and popularity learned from them stays, as counts over everyone, until the next training."""
        rows = [self.customers.pop(c) for c in customers if c in self.customers]
        if not rows:
            return False
        for name in ("history", "purchased"):
            matrix = getattr(self, name).tolil()
            for r in rows:
                matrix.rows[r] = []
                matrix.data[r] = []
            setattr(self, name, matrix.tocsr())
        return True

    # --- request-time helpers
    def blocked(self, rules: Rules) -> np.ndarray:
        """Products the rules leave out for everyone (excluded, out of stock, excluded categories)."""
        out = np.zeros(len(self.items), dtype=bool)
        for pid in rules.excluded | rules.out_of_stock:
            k = self.item_index.get(pid)
            if k is not None:
                out[k] = True
        if rules.excluded_categories:
            out |= np.fromiter((c in rules.excluded_categories for c in self.categories), dtype=bool,
                               count=len(self.items))
        return out

    def consumable(self, rules: Rules) -> np.ndarray:
        if rules.all_consumable:
            return np.ones(len(self.items), dtype=bool)
        return np.fromiter((c in rules.consumable_categories for c in self.categories), dtype=bool,
                           count=len(self.items))

    def customer_history(self, customer: str) -> tuple[dict[int, float], set[int]]:
        """A customer's history as of training: {product: weight}, and the products they bought."""
        row = self.customers.get(customer)
        if row is None:
            return {}, set()
        h = self.history
        lo, hi = h.indptr[row], h.indptr[row + 1]
        weights = dict(zip(h.indices[lo:hi].tolist(), h.data[lo:hi].tolist(), strict=True))
        p = self.purchased
        bought = set(p.indices[p.indptr[row]:p.indptr[row + 1]].tolist())
        return weights, bought

    def personal_scores(self, history: Mapping[int, float]) -> np.ndarray | None:
        """Every product's "for you" score for a history ({product: weight}); None without one (or for the
        popularity model). The model's part (``history @ neighbours``, or the item factors times the
        customer's factors solved from the history) and the history itself (a product is its own nearest
        neighbour: what a customer keeps buying comes back), each scaled to a largest value of 1, are added
        with ``repeat`` weighing the second."""
        if not history or self.algorithm == "popularity":
            return None
        keys = np.fromiter(history, dtype=np.int64, count=len(history))
        values = np.fromiter(history.values(), dtype=np.float64, count=len(history))
        if self._factors64 is not None and self._gram is not None:
            y = self._factors64
            yu = y[keys]
            confidence = self.alpha * values
            a = self._gram + (yu.T * (confidence - 1.0)) @ yu + self.regularization * np.eye(y.shape[1])
            b = (yu * confidence[:, None]).sum(axis=0)
            try:
                user = np.linalg.solve(a, b)
            except np.linalg.LinAlgError:
                user = np.linalg.lstsq(a, b, rcond=None)[0]
            scores = y @ user
        elif self.neighbours is not None:
            scores = _weighted_rows(self.neighbours, keys, values)
        else:
            scores = np.zeros(len(self.items), dtype=np.float64)
        top = float(scores.max()) if len(scores) else 0.0
        if top > 0:
            scores /= top
        scores[keys] += self.repeat * values / float(values.max())
        return scores


def build(data: Indexed, products: Mapping[str, Mapping[str, Any]], *, algorithm: str = "cooccurrence",
          neighbours: sparse.spmatrix | None = None, factors: np.ndarray | None = None,
          regularization: float = 0.05, alpha: float = 1.0, repeat: float = 1.0,
          segments: Mapping[str, Sequence[str]] | None = None, meta: Mapping[str, Any] | None = None,
          item_to_item: bool = True) -> Model:
    """A model from indexed interactions. ``algorithm`` ``cooccurrence`` computes its neighbours here;
    ``item_knn`` and ``als`` take ``neighbours`` or ``factors`` learned elsewhere (``collaborative``);
    ``popularity`` has no personal part. ``segments`` ({segment id: customers}) get popularity lists of their
    own. The bought-together and viewed-together matrices and popularity are computed for every algorithm."""
    n_i = len(data.items)
    catalog = [dict(products.get(p) or {}) for p in data.items]
    if algorithm == "cooccurrence":
        neighbours = cosine_neighbours(data.weights, cap=HISTORY_CAP)
    elif algorithm == "item_knn":
        if neighbours is None:
            raise ValueError("item_knn needs its neighbour matrix")
        neighbours = top_k(neighbours)
    elif algorithm == "als":
        if factors is None:
            raise ValueError("als needs its item factors")
        neighbours = None
    elif algorithm == "popularity":
        neighbours = None
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    bought = cosine_neighbours(data.baskets, cap=BASKET_CAP) if item_to_item and data.baskets.shape[0] \
        else _empty(n_i)
    viewed = cosine_neighbours(data.sessions, cap=BASKET_CAP) if item_to_item and data.sessions.shape[0] \
        else _empty(n_i)
    overall = popularity(data)
    by_category: dict[str, np.ndarray] = {}
    categories = np.array([str(p.get("category") or "") for p in catalog], dtype=object)
    for category in sorted(set(categories.tolist()) - {""}):
        by_category[category] = _ranked(np.where(categories == category, overall, 0.0))
    by_segment: dict[str, np.ndarray] = {}
    for segment_id, members in (segments or {}).items():
        rows = [data.customer_index[c] for c in members if c in data.customer_index]
        if rows:
            ranked = _ranked(popularity(data, rows))
            if len(ranked):
                by_segment[segment_id] = ranked
    return Model(
        algorithm=algorithm, items=list(data.items), products=catalog, customers=dict(data.customer_index),
        history=data.weights, purchased=data.purchased,
        neighbours=sparse.csr_matrix(neighbours, dtype=np.float32) if neighbours is not None else None,
        bought_together=bought, viewed_together=viewed, popular=_ranked(overall),
        popular_by_category=by_category, popular_by_segment=by_segment,
        factors=factors.astype(np.float32) if factors is not None else None, regularization=regularization,
        alpha=alpha, repeat=repeat, meta={"customers": len(data.customers), "products": n_i,
                           "interactions": int(data.weights.nnz), **(meta or {})},
    )


def _empty(n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((n, n), dtype=np.float32)


def _top(scores: np.ndarray, allowed: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` best positive scores among ``allowed``, best first (ties by index)."""
    candidates = np.flatnonzero(allowed & (scores > 0))
    if len(candidates) > n:
        part = np.argpartition(-scores[candidates], n - 1)[:n]
        candidates = candidates[part]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order].tolist()


def recommend(model: Model, history: Mapping[int, float], bought: set[int], n: int, rules: Rules, *,
              segments: Sequence[str] = (), context: int | None = None, kind: str = "for_you",
              blocked: np.ndarray | None = None, consumable: np.ndarray | None = None) -> list[Pick]:
    """``n`` products for one customer (``history``: {product: weight}; ``bought``: products bought; both
    may be empty), best first, never one the rules leave out. With a ``context`` product, its
    ``bought_together`` / ``viewed_together`` / ``similar`` (both) neighbours come first (``kind``);
    otherwise the customer's "for you" list. What is missing is filled from popularity: in the customer's
    segments (the smallest segment with a list first), in the context product's category (or the
    customer's favourite category), then over the whole shop. ``blocked`` and ``consumable`` may be given
    precomputed (``Model.blocked(rules)``, ``Model.consumable(rules)``)."""
    n = max(0, n)
    allowed = ~(blocked if blocked is not None else model.blocked(rules))  # a new array: changed below
    consumable = consumable if consumable is not None else model.consumable(rules)
    for k in bought:
        if not consumable[k]:
            allowed[k] = False
    if context is not None:
        allowed[context] = False
    picks: list[Pick] = []

    def take(scores: np.ndarray, reason: str) -> None:
        if len(picks) >= n:
            return
        for k in _top(scores, allowed, n - len(picks)):
            picks.append(Pick(model.items[k], float(scores[k]), reason))
            allowed[k] = False

    if context is not None:
        if kind in ("bought_together", "similar"):
            take(_row(model.bought_together, context, len(model.items)), "bought_together")
        if kind in ("viewed_together", "similar"):
            take(_row(model.viewed_together, context, len(model.items)), "viewed_together")
        if kind == "for_you":
            personal = model.personal_scores({**history, context: history.get(context, 0.0) + WEIGHTS["view"]})
            if personal is not None:
                take(personal, "for_you")
    else:
        personal = model.personal_scores(history)
        if personal is not None:
            take(personal, "for_you")
    if len(picks) < n:
        lists = [model.popular_by_segment[s] for s in segments if s in model.popular_by_segment]
        for ranked in sorted(lists, key=len):
            take(_list_scores(ranked, len(model.items)), "popular_in_segment")
    if len(picks) < n:
        category = model.categories[context] if context is not None else _favourite_category(model, history)
        if category and category in model.popular_by_category:
            take(_list_scores(model.popular_by_category[category], len(model.items)), "popular_in_category")
    if len(picks) < n:
        take(_list_scores(model.popular, len(model.items)), "popular")
    return picks


def similar(model: Model, product: int, n: int, rules: Rules, *, blocked: np.ndarray | None = None) -> list[Pick]:
    """Products like ``product`` (bought together, then viewed together, then the co-occurrence or
    item-kNN neighbours, then its category's best sellers), for anyone: what the shop assistant offers."""
    picks = recommend(model, {}, set(), n, rules, context=product, kind="similar", blocked=blocked)
    if len(picks) < n and model.neighbours is not None:
        seen = {p.product_id for p in picks} | {model.items[product]}
        allowed = ~(blocked if blocked is not None else model.blocked(rules))
        row = _row(model.neighbours, product, len(model.items))
        extra = [Pick(model.items[k], float(row[k]), "similar") for k in _top(row, allowed, n)
                 if model.items[k] not in seen]
        popular_tail = [p for p in picks if p.reason.startswith("popular")]
        head = [p for p in picks if not p.reason.startswith("popular")]
        merged = head + extra
        merged += [p for p in popular_tail if p.product_id not in {m.product_id for m in merged}]
        picks = merged[:n]
    return picks


def _weighted_rows(matrix: sparse.csr_matrix, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights @ matrix[rows]`` as a dense vector, read straight from the CSR arrays (scipy's fancy row
    indexing builds a new matrix first: most of a request's time)."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(matrix.shape[1], dtype=np.float64)
    first = np.cumsum(lengths) - lengths  # where each row's entries begin in the gathered arrays
    positions = np.arange(total) + np.repeat(starts - first, lengths)
    return np.bincount(matrix.indices[positions], weights=matrix.data[positions] * np.repeat(weights, lengths),
                       minlength=matrix.shape[1]).astype(np.float64)


def _row(matrix: sparse.csr_matrix, k: int, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    lo, hi = matrix.indptr[k], matrix.indptr[k + 1]
    out[matrix.indices[lo:hi]] = matrix.data[lo:hi]
    return out


def _list_scores(ranked: np.ndarray, n: int) -> np.ndarray:
    """A ranked list as scores (1 for the first, falling), 0 for what it does not hold."""
    out = np.zeros(n, dtype=np.float64)
    out[ranked] = 1.0 / (1.0 + np.arange(len(ranked)))
    return out


def _favourite_category(model: Model, history: Mapping[int, float]) -> str | None:
    totals: dict[str, float] = {}
    for k, w in history.items():
        c = model.categories[k]
        if c:
            totals[c] = totals.get(c, 0.0) + w
    return max(sorted(totals), key=totals.__getitem__) if totals else None


def decay(weight: float, age_seconds: float, half_life_days: float = HALF_LIFE_DAYS) -> float:
    return weight * math.exp2(-max(0.0, age_seconds) / (half_life_days * 86_400.0)) if half_life_days > 0 else weight
