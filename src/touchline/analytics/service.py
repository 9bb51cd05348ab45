"""Funnels, cart abandonment, conversion by channel and device, cross-channel buyers, retention cohorts,
customer lifetime value and paths: each runs the queries of :mod:`touchline.analytics.queries` on the
event store and returns plain data. Rates are fractions (0..1), 0.0 when there is nothing to divide."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from touchline.analytics import btyd, queries
from touchline.ingest.normalize import EARLIEST_EVENT_TIME
from touchline.journeys.lift import lift_interval
from touchline.store import dialect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from touchline.store.engines import Stores

T = TypeVar("T")

Breakdown = Literal["channel", "device_type", "first_touch_source"]
_DAY = 86_400.0


def _rate(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def amount(value: Any) -> float | int:
    """A sum of money in the shop's currency (``settings.default_currency``): whole amounts stay whole (59000 won),
    others keep their cents (33.2 dollars), where casting to int dropped them."""
    if value is None:
        return 0
    number = round(float(value), 2)
    return int(number) if number.is_integer() else number


# --- funnels -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A funnel step: an event name, and property values it must carry (compared as JSON text)."""

    event: str
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunnelStep:
    event: str
    entered: int
    conversion_from_previous: float
    conversion_from_first: float
    dropped: int  # reached the previous step but not this one
    median_seconds: float | None  # from step 1 to this step, among those who got here


@dataclass(frozen=True)
class Funnel:
    breakdown: str | None
    groups: dict[str, list[FunnelStep]]  # {"all": ...} without a breakdown


def funnel(stores: Stores, workspace_id: str, steps: Sequence[Step], window: dt.timedelta,
           start: dt.datetime, end: dt.datetime, breakdown: Breakdown | None = None) -> Funnel:
    if not steps:
        raise ValueError("a funnel needs at least one step")
    query = queries.funnel(workspace_id, [(s.event, s.where) for s in steps], window, start, end, breakdown)
    with stores.events_conn() as conn:
        rows = conn.execute(query).mappings().all()
    groups = {}
    for row in rows:
        entered = [int(row[f"entered_{k}"]) for k in range(1, len(steps) + 1)]
        groups[str(row["grp"])] = [
            FunnelStep(
                event=step.event, entered=n,
                conversion_from_previous=_rate(n, entered[i - 1]) if i else 1.0,
                conversion_from_first=_rate(n, entered[0]),
                dropped=entered[i - 1] - n if i else 0,
                median_seconds=(0.0 if n else None) if i == 0 else _float(row[f"median_{i + 1}"]),
            )
            for i, (step, n) in enumerate(zip(steps, entered, strict=True))
        ]
    return Funnel(breakdown=breakdown, groups=groups)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# --- carts, channels, devices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CartAbandonment:
    carts: int
    ordered: int
    abandoned: int
    abandonment_rate: float


def cart_abandonment(stores: Stores, workspace_id: str, start: dt.datetime, end: dt.datetime) -> CartAbandonment:
    with stores.events_conn() as conn:
        row = conn.execute(queries.cart_abandonment(workspace_id, start, end)).one()
    carts, ordered = int(row.carts), int(row.ordered)
    return CartAbandonment(carts, ordered, carts - ordered, _rate(carts - ordered, carts))


@dataclass(frozen=True)
class Conversion:
    value: str  # the channel or device type
    visitors: int
    buyers: int
    rate: float


def conversion_by(stores: Stores, workspace_id: str, dimension: Literal["channel", "device_type"],
                  start: dt.datetime, end: dt.datetime) -> list[Conversion]:
    if dimension not in ("channel", "device_type"):
        raise ValueError(f"unknown dimension {dimension!r}")
    with stores.events_conn() as conn:
        rows = conn.execute(queries.conversion_by(workspace_id, dimension, start, end)).all()
    return [Conversion(r.value, int(r.visitors), int(r.buyers), _rate(r.buyers, r.visitors)) for r in rows]


@dataclass(frozen=True)
class Activity:
    visitors: int
    identified: int  # visitors with a userId
    buyers: int
    orders: int
    revenue: float | int  # in the shop's currency (see ``amount``)

    @property
    def conversion_rate(self) -> float:
        return _rate(self.buyers, self.visitors)


@dataclass(frozen=True)
class Overview:
    """A period at a glance: totals, a row per local day (days without activity included), and a row
    per channel and per device type."""

    start: dt.datetime
    end: dt.datetime
    tz: str
    total: Activity
    days: list[tuple[dt.date, Activity]]
    channels: dict[str, Activity]
    devices: dict[str, Activity]
    carts: CartAbandonment


def overview(stores: Stores, workspace_id: str, start: dt.datetime, end: dt.datetime,
             tz: str = "Asia/Seoul") -> Overview:
    with stores.events_conn() as conn:
        rows = conn.execute(queries.overview(workspace_id, start, end, tz)).all()
    carts = cart_abandonment(stores, workspace_id, start, end)
    total, by_day, channels, devices = Activity(0, 0, 0, 0, 0), {}, {}, {}
    for r in rows:
        activity = Activity(int(r.visitors), int(r.identified), int(r.buyers), int(r.orders), amount(r.revenue))
        if r.grouping == "day":
            by_day[_as_date(r.day)] = activity
        elif r.grouping == "channel":
            channels[str(r.channel)] = activity
        elif r.grouping == "device_type":
            devices[str(r.device_type)] = activity
        else:
            total = activity
    zone = ZoneInfo(tz)
    first, last = start.astimezone(zone).date(), (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    empty = Activity(0, 0, 0, 0, 0)
    days = [(first + dt.timedelta(days=i), by_day.get(first + dt.timedelta(days=i), empty))
            for i in range((last - first).days + 1)]
    return Overview(start, end, tz, total, days, _by_visitors(channels), _by_visitors(devices), carts)


def _by_visitors(groups: dict[str, Activity]) -> dict[str, Activity]:
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1].visitors, kv[0])))


def _until_events_arrive(stores: Stores, workspace_id: str, cache: dict[Any, tuple[int, Any]], key: Any,
                         compute: Callable[[Connection], T]) -> T:
    """``compute`` over the workspace's events, kept in ``cache[key]`` until its newest event sequence
    number moves (the answers below change only when events arrive)."""
    with stores.events_conn() as conn:
        newest = int(conn.execute(queries.newest_seq(workspace_id)).scalar_one() or 0)
        seen = cache.get(key)
        if seen is not None and seen[0] == newest:
            return seen[1]
        value = compute(conn)
    cache[key] = (newest, value)
    return value


def event_names(stores: Stores, workspace_id: str, limit: int = 200) -> list[tuple[str, int]]:
    """Event names in use, most frequent first (for pickers). Every report page lists them, a count over
    all events (0.35 s at 10M), while the answer only changes when events arrive."""
    def count(conn: Connection) -> list[tuple[str, int]]:
        return [(str(r.event), int(r.n)) for r in conn.execute(queries.event_names(workspace_id, limit))]

    return list(_until_events_arrive(stores, workspace_id, stores.event_names, (workspace_id, limit), count))


def event_span(stores: Stores, workspace_id: str) -> tuple[dt.datetime, dt.datetime] | None:
    """When the workspace's customer events begin and end (None without any): what an empty report
    points to when an import of history lies outside the period looked at."""
    def span(conn: Connection) -> tuple[dt.datetime, dt.datetime] | None:
        plausible = (EARLIEST_EVENT_TIME, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        first, last = conn.execute(queries.event_span(workspace_id, plausible)).one()
        start, end = dialect.as_utc_datetime(first), dialect.as_utc_datetime(last)
        return (start, end) if start is not None and end is not None else None

    return _until_events_arrive(stores, workspace_id, stores.event_spans, workspace_id, span)


@dataclass(frozen=True)
class CrossChannel:
    buyers: int  # customers whose first order falls in the range
    multi_channel: int  # of those, who used two channels or more up to that order
    share: float
    combinations: list[tuple[tuple[str, ...], int]]  # (sorted channels, buyers), most frequent first


def cross_channel(stores: Stores, workspace_id: str, start: dt.datetime, end: dt.datetime,
                  top: int = 10) -> CrossChannel:
    with stores.events_conn() as conn:
        rows = conn.execute(queries.cross_channel(workspace_id, start, end)).all()
    buyers = sum(int(r.buyers) for r in rows)
    multi = sum(int(r.buyers) for r in rows if r.n >= 2)
    combos = [(tuple(r.channels.split(",")), int(r.buyers)) for r in rows[:top]]
    return CrossChannel(buyers, multi, _rate(multi, buyers), combos)


# --- retention -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    start: dt.date  # first day of the week (Monday) or month, local time
    size: int
    retained: list[int]  # customers active in period offset 0, 1, ... up to the end of the range
    percent: list[float]  # retained / size * 100


def retention_cohorts(stores: Stores, workspace_id: str, period: Literal["week", "month"],
                      cohort_event: str | None, return_event: str | None,
                      start: dt.datetime, end: dt.datetime, tz: str = "Asia/Seoul") -> list[Cohort]:
    """Cohorts by each customer's first ``cohort_event`` (first event of any kind when None) in
    [start, end); retained in offset k = did ``return_event`` (any event when None) in the k-th period
    after their cohort's, local time in ``tz``. Offset 0 includes the cohort event itself."""
    if period not in ("week", "month"):
        raise ValueError(f"unknown period {period!r}")
    with stores.events_conn() as conn:
        rows = conn.execute(queries.cohorts(workspace_id, cohort_event, return_event, period, tz, start, end)).all()
    sizes = sorted((r for r in rows if r.period is None), key=lambda r: _as_date(r.cohort))
    activity = [r for r in rows if r.period is not None]
    last = _period_start(period, (end - dt.timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date())
    counts = {(_as_date(r.cohort), _as_date(r.period)): int(r.customers) for r in activity}
    cohorts = []
    for row in sizes:
        first, size = _as_date(row.cohort), int(row.customers)
        retained = [0] * (_offset(period, first, last) + 1)
        for (cohort, when), n in counts.items():
            if cohort == first:
                retained[_offset(period, first, when)] = n
        cohorts.append(Cohort(first, size, retained, [round(100 * n / size, 2) for n in retained]))
    return cohorts


def _as_date(value: dt.datetime | dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _period_start(period: str, day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def _offset(period: str, first: dt.date, later: dt.date) -> int:
    if period == "week":
        return (later - first).days // 7
    return (later.year - first.year) * 12 + later.month - first.month


# --- customer lifetime value ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerValue:
    customer: str
    orders: int
    revenue: float | int
    expected_purchases: float  # in the horizon (purchase days when the report counts days)
    expected_value: float  # in the horizon: expected purchases x expected spend per purchase


Purchases = Literal["orders", "days"]


@dataclass(frozen=True)
class Cltv:
    as_of: dt.datetime  # history up to this moment; the forecast starts here
    purchases: Purchases  # what the models count as one purchase: an order, or a day with orders
    customers: int  # customers with at least one order
    orders: int
    revenue: float | int  # in the shop's currency
    average_order_value: float
    purchase_frequency: float  # orders per customer
    average_cltv: float  # revenue per customer so far
    horizon_days: int
    first_order_at: dt.datetime | None
    last_order_at: dt.datetime | None  # long before ``as_of``: imported history wants an earlier ``as_of``
    purchase_model: btyd.BgNbd | None  # None when there is too little history to fit
    spend_model: btyd.GammaGamma | None
    expected_purchases: float | None  # all customers, in the horizon
    expected_value: float | None  # all customers, in the horizon
    top: list[CustomerValue]  # highest expected value first


MIN_REPEAT_BUYERS = 20


def parse_as_of(text: str, tz: str) -> dt.datetime:
    """``--as-of`` / ``?as_of=``: an ISO date-time (without an offset: UTC), or a date, which counts that
    whole day in ``tz`` (the history runs to its end, as ``observation_period_end`` does in the literature's
    tools). Raises ValueError."""
    text = text.strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tz))
    return end.astimezone(dt.UTC)


def _utc(value: Any) -> dt.datetime:
    moment = dialect.as_utc_datetime(value)
    if moment is None:
        raise ValueError("an order without a time")
    return moment.astimezone(dt.UTC)


def cltv(stores: Stores, workspace_id: str, *, as_of: dt.datetime | None = None, horizon_days: int = 90,
         top: int = 10, purchases: Purchases = "orders", tz: str = "Asia/Seoul") -> Cltv:
    """History from every Order Completed before ``as_of`` (default: now); the forecast fits BG/NBD
    (purchases) and Gamma-Gamma (spend per purchase) to customers' (repeat purchases, recency, age) in days
    as of then, and looks ``horizon_days`` ahead of it. History imported from another system ends long
    ago: forecast from its end (``as_of`` = the day after its last order), or its buyers count as silent
    ever since. ``purchases="days"`` counts the local days (in ``tz``) with an order instead of orders, as
    the BTYD literature does (two orders on one day are one purchase, worth their sum)."""
    if purchases not in ("orders", "days"):
        raise ValueError(f"unknown purchase unit {purchases!r}")
    as_of = as_of or dt.datetime.now(dt.UTC)
    query = queries.orders_by_customer(workspace_id, until=as_of,
                                       purchase_days_tz=tz if purchases == "days" else None)
    with stores.events_conn() as conn:
        rows = [(r, _utc(r.first_at), _utc(r.last_at)) for r in conn.execute(query).all()]
    customers, orders = len(rows), sum(int(r.orders) for r, _, _ in rows)
    revenue = amount(sum(float(r.revenue) for r, _, _ in rows))
    rfm = [
        btyd.Rfm(x=int(r.purchases) - 1, t_x=(last - first).total_seconds() / _DAY,
                 T=(as_of - first).total_seconds() / _DAY,
                 monetary=float(r.repeat_revenue) / (int(r.purchases) - 1) if r.purchases > 1 else 0.0)
        for r, first, last in rows
    ]
    purchase_model = spend_model = None
    values: list[CustomerValue] = []
    # Below a few dozen repeat buyers a maximum-likelihood fit says nothing; report history only.
    if sum(c.x > 0 for c in rfm) >= MIN_REPEAT_BUYERS:
        purchase_model, spend_model = btyd.fit_bgnbd(rfm), btyd.fit_gamma_gamma(rfm)
        for (r, _, _), c in zip(rows, rfm, strict=True):
            n = btyd.expected_purchases(purchase_model, c, horizon_days)
            spend = btyd.expected_spend(spend_model, c)
            values.append(CustomerValue(str(r.customer), int(r.orders), amount(r.revenue), n, n * spend))
    finite = [v for v in values if math.isfinite(v.expected_value)]
    return Cltv(
        as_of=as_of, purchases=purchases,
        customers=customers, orders=orders, revenue=revenue, average_order_value=_rate(revenue, orders),
        purchase_frequency=_rate(orders, customers), average_cltv=_rate(revenue, customers),
        horizon_days=horizon_days,
        first_order_at=min((first for _, first, _ in rows), default=None),
        last_order_at=max((last for _, _, last in rows), default=None),
        purchase_model=purchase_model, spend_model=spend_model,
        expected_purchases=sum(v.expected_purchases for v in finite) if finite else None,
        expected_value=sum(v.expected_value for v in finite) if finite else None,
        top=sorted(finite, key=lambda v: (-v.expected_value, v.customer))[:top],
    )


# --- paths -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    steps: tuple[str, ...]  # from_event ... to_event; "…" stands for steps left out
    customers: int


def top_paths(stores: Stores, workspace_id: str, from_event: str, to_event: str, max_steps: int = 5,
              limit: int = 10, *, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[Path]:
    """Most frequent event sequences from each customer's first ``from_event`` (in [start, end) when given) to the
    next ``to_event``; repeats in a row count once; at most ``max_steps`` events in between are shown."""
    query = queries.top_paths(workspace_id, from_event, to_event, start, end, max_steps, limit)
    with stores.events_conn() as conn:
        rows = conn.execute(query).all()
    paths = []
    for r in rows:
        steps = tuple(r.path.split(queries.PATH_SEPARATOR))
        paths.append(Path((*steps[:-1], "…", steps[-1]) if r.truncated else steps, int(r.customers)))
    return paths


@dataclass(frozen=True)
class OfferLift:
    treated: int
    treated_converted: int
    held: int
    held_converted: int
    window_hours: int

    def as_dict(self) -> dict[str, Any]:
        treated_rate = self.treated_converted / self.treated if self.treated else None
        held_rate = self.held_converted / self.held if self.held else None
        interval = lift_interval(self.treated_converted, self.treated, self.held_converted, self.held)
        return {"treatment": {"offered": self.treated, "converted": self.treated_converted, "rate": treated_rate},
                "holdout": {"offered": self.held, "converted": self.held_converted, "rate": held_rate},
                "lift": None if treated_rate is None or held_rate is None else treated_rate - held_rate,
                "lift_interval": list(interval) if interval else None, "window_hours": self.window_hours}


def offer_lift(stores: Stores, workspace_id: str, offer_event: str, start: dt.datetime, end: dt.datetime,
               window_hours: int = 24) -> OfferLift:
    """An offer's effect measured against its holdout: customers offered (the treatment) and held out, and
    those of each who ordered within ``window_hours`` of it (proactive chat: did opening the chat at
    checkout keep carts from being abandoned)."""
    with stores.events_conn() as conn:
        rows = conn.execute(queries.offer_conversions(workspace_id, offer_event, start, end,
                                                      window_hours * 3600.0)).all()
    by_group = {str(r.grp): (int(r.offered), int(r.converted)) for r in rows}
    treated, held = by_group.get("treatment", (0, 0)), by_group.get("holdout", (0, 0))
    return OfferLift(treated[0], treated[1], held[0], held[1], window_hours)
