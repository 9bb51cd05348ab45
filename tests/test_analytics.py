"""Analytics on a small hand-made shop, checked against numbers worked out by hand, on both backends.

T0 is Monday 2 March 2026, 10:00 in Seoul (01:00 UTC). The customers:
- Alice (web, desktop, came from naver): views a product twice, adds cart c1, checks out, orders 30,000
  within 30 minutes; orders again (cart c2, app) on day 8.
- Bob browses on his phone's app (b-app), adds cart c3 on his laptop (b-web), then identifies on both
  as u-bob: b-web's profile is merged into b-app's. Orders c3 on the web (20,000), again on day 15.
- Carol (web, mobile, came from google) adds cart c4 and never buys.
- Dave signs up at a store and buys there (100,000 on day 2, 60,000 on 1 April).
- Erin (app) views, adds c5 and checks out on Saturday night; orders 26 hours after viewing (45,000),
  at 05:00 Monday in Seoul but still Sunday in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import sqlalchemy as sa

from touchline.analytics import btyd, service
from touchline.analytics.service import Step
from touchline.eventlog import SystemEvent, append_system_events
from touchline.ingest.service import ingest, parse_items
from touchline.store.engines import Stores
from touchline.store.schema import profile_snapshots

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)
DESKTOP = {"type": "desktop"}
MOBILE = {"type": "mobile"}


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, hours=hours, minutes=minutes)


def msg(when: dt.datetime, anon: str, channel: str, device: dict[str, str] | None, event: str | None = None,
        *, kind: str = "track", user: str | None = None, source: str | None = None, **props: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"channel": channel}
    if device:
        context["device"] = device
    if source:
        context["campaign"] = {"source": source, "medium": "cpc"}
    m: dict[str, Any] = {"type": kind, "anonymousId": anon, "timestamp": when.isoformat(), "context": context}
    if event:
        m["event"] = event
        m["properties"] = props
    if user:
        m["userId"] = user
    return m


def order(when: dt.datetime, anon: str, channel: str, device: dict[str, str] | None, cart: str,
          revenue: int) -> dict[str, Any]:
    return msg(when, anon, channel, device, "Order Completed", order_id=f"o-{cart}", cart_id=cart,
               revenue=revenue, currency="KRW")


SHOP = [
    # Alice
    msg(at(), "a1", "web", DESKTOP, "Product Viewed", source="naver", product_id="p1"),
    msg(at(minutes=5), "a1", "web", DESKTOP, "Product Viewed", product_id="p2"),
    msg(at(minutes=10), "a1", "web", DESKTOP, "Product Added", product_id="p2", cart_id="c1"),
    msg(at(minutes=20), "a1", "web", DESKTOP, "Checkout Started", cart_id="c1"),
    order(at(minutes=30), "a1", "web", DESKTOP, "c1", 30_000),
    msg(at(days=8), "a1", "app", MOBILE, "Product Added", product_id="p3", cart_id="c2"),
    order(at(days=8, minutes=5), "a1", "app", MOBILE, "c2", 50_000),
    # Bob, on two devices
    msg(at(hours=1), "b-app", "app", MOBILE, "Product Viewed", product_id="p1"),
    msg(at(hours=2), "b-web", "web", DESKTOP, "Product Added", product_id="p1", cart_id="c3"),
    msg(at(hours=3), "b-app", "app", MOBILE, kind="identify", user="u-bob"),
    msg(at(hours=3, minutes=1), "b-web", "web", DESKTOP, kind="identify", user="u-bob"),
    msg(at(hours=4), "b-web", "web", DESKTOP, "Checkout Started", user="u-bob", cart_id="c3"),
    order(at(hours=5), "b-web", "web", DESKTOP, "c3", 20_000),
    order(at(days=15), "b-web", "web", DESKTOP, "c6", 40_000),
    # Carol
    msg(at(days=1), "c1", "web", MOBILE, "Product Viewed", source="google", product_id="p4"),
    msg(at(days=1, minutes=5), "c1", "web", MOBILE, "Product Added", product_id="p4", cart_id="c4"),
    msg(at(days=3), "c1", "web", MOBILE, "Product Viewed", product_id="p4"),
    # Dave, in a store (the POS sends no device: the store channel makes it "pos")
    msg(at(days=2), "d1", "store", None, "Signed Up", user="u-dave", method="pos"),
    order(at(days=2, hours=1), "d1", "store", None, "pos-1", 100_000),
    order(at(days=30), "d1", "store", None, "pos-2", 60_000),
    # Erin: Saturday 7 March 18:00 UTC = Sunday 03:00 in Seoul
    msg(at(days=5, hours=17), "e1", "app", MOBILE, "Product Viewed", product_id="p5"),
    msg(at(days=5, hours=17, minutes=10), "e1", "app", MOBILE, "Product Added", product_id="p5", cart_id="c5"),
    msg(at(days=5, hours=18), "e1", "app", MOBILE, "Checkout Started", cart_id="c5"),
    order(at(days=6, hours=19), "e1", "app", MOBILE, "c5", 45_000),
]


def load_shop(stores: Stores, workspace_id: str) -> None:
    """One message per batch, in time order, as a shop's clients would send them: Bob's laptop events
    are stored under its own profile before the identify that merges it."""
    for i, m in enumerate(sorted(SHOP, key=lambda m: m["timestamp"])):
        good, bad = parse_items([{**m, "messageId": f"m{i}"}], received_at=at(days=40), batch_sent_at=None,
                                default_type=None, max_event_bytes=32 * 1024, phone_region="KR")
        assert not bad
        ingest(stores, workspace_id, good, now=at(days=40))
    stores.pump()
    with stores.events_conn() as conn:
        snaps = conn.execute(sa.select(profile_snapshots.c.profile_id, profile_snapshots.c.canonical_id)).all()
        merged = [s for s in snaps if s.profile_id != s.canonical_id]
        assert len(merged) == 1  # b-web's profile points at b-app's
        # Profiles too new for a snapshot count as themselves: leave only the merged one behind.
        snap = profile_snapshots.c
        conn.execute(profile_snapshots.delete().where(snap.profile_id == snap.canonical_id))


STEPS = [Step("Product Viewed"), Step("Product Added"), Step("Checkout Started"), Step("Order Completed")]


def test_funnel_counts_each_customer_once_with_window_and_medians(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    result = service.funnel(stores, workspace_id, STEPS, dt.timedelta(days=1), T0, T0 + WEEK)
    steps = result.groups["all"]
    # Alice, Bob (across his two devices), Carol and Erin view; Erin orders 26 h after viewing (> 1 day).
    assert [s.entered for s in steps] == [4, 4, 3, 2]
    assert [s.dropped for s in steps] == [0, 0, 1, 1]
    assert [s.conversion_from_previous for s in steps] == [1.0, 1.0, 0.75, 2 / 3]
    assert [s.conversion_from_first for s in steps] == [1.0, 1.0, 0.75, 0.5]
    # to Added: 600 (Alice), 3600 (Bob), 300 (Carol), 600 (Erin); to Checkout: 1200, 10800, 3600;
    # to Order: 1800, 14400
    assert [s.median_seconds for s in steps] == [0.0, 600.0, 3600.0, 8100.0]


def test_funnel_breakdowns_and_property_filters(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    window, end = dt.timedelta(days=1), T0 + WEEK
    by_channel = service.funnel(stores, workspace_id, STEPS, window, T0, end, "channel")
    assert {g: [s.entered for s in steps] for g, steps in by_channel.groups.items()} == {
        "app": [2, 2, 2, 1], "web": [2, 2, 1, 1],  # by where step 1 happened: Bob and Erin / Alice and Carol
    }
    by_device = service.funnel(stores, workspace_id, STEPS, window, T0, end, "device_type")
    assert {g: [s.entered for s in steps] for g, steps in by_device.groups.items()} == {
        "desktop": [1, 1, 1, 1], "mobile": [3, 3, 2, 1],
    }
    by_source = service.funnel(stores, workspace_id, STEPS, window, T0, end, "first_touch_source")
    assert {g: [s.entered for s in steps] for g, steps in by_source.groups.items()} == {
        "direct": [2, 2, 2, 1], "google": [1, 1, 0, 0], "naver": [1, 1, 1, 1],
    }
    assert by_source.groups["google"][2].median_seconds is None
    filtered = service.funnel(stores, workspace_id, [Step("Product Viewed", {"product_id": "p1"}),
                                                      Step("Order Completed", {"revenue": 20000})], window, T0, end)
    # Alice's first p1 view leads to a 30,000 order; Bob's to his 20,000 one.
    assert [s.entered for s in filtered.groups["all"]] == [2, 1]


def test_cart_abandonment(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    # carts c1, c3, c4, c5 in the first week (c2 is day 8); all but Carol's c4 ordered
    assert service.cart_abandonment(stores, workspace_id, T0, T0 + WEEK) == service.CartAbandonment(4, 3, 1, 0.25)


def test_conversion_by_channel_and_device(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    by_channel = service.conversion_by(stores, workspace_id, "channel", T0, T0 + WEEK)
    assert [(c.value, c.visitors, c.buyers) for c in by_channel] == [
        ("app", 2, 1),  # Bob (who bought on the web) and Erin
        ("store", 1, 1),
        ("web", 3, 2),  # Alice, Bob, Carol
    ]
    assert by_channel[2].rate == 2 / 3
    by_device = service.conversion_by(stores, workspace_id, "device_type", T0, T0 + WEEK)
    assert [(c.value, c.visitors, c.buyers) for c in by_device] == [
        ("desktop", 2, 2), ("mobile", 3, 1), ("pos", 1, 1),
    ]


def test_cross_channel(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    result = service.cross_channel(stores, workspace_id, T0, T0 + 8 * WEEK)
    assert (result.buyers, result.multi_channel, result.share) == (4, 1, 0.25)
    assert result.combinations == [(("app",), 1), (("app", "web"), 1), (("store",), 1), (("web",), 1)]


def test_weekly_purchase_cohorts_in_seoul_time(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    end = T0 + 5 * WEEK  # Monday 6 April, 10:00 in Seoul: offsets up to 5 weeks are observable
    cohorts = service.retention_cohorts(stores, workspace_id, "week", "Order Completed", "Order Completed",
                                        T0, end, tz="Asia/Seoul")
    assert cohorts == [
        # Alice returns in week 1, Bob in week 2, Dave in week 4 (1 April)
        service.Cohort(dt.date(2026, 3, 2), 3, [3, 1, 1, 0, 1, 0], [100.0, 33.33, 33.33, 0.0, 33.33, 0.0]),
        # Erin's first order is Sunday in UTC but Monday 9 March in Seoul
        service.Cohort(dt.date(2026, 3, 9), 1, [1, 0, 0, 0, 0], [100.0, 0.0, 0.0, 0.0, 0.0]),
    ]


def test_monthly_cohorts_from_first_seen(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    cohorts = service.retention_cohorts(stores, workspace_id, "month", None, None, T0, T0 + 5 * WEEK)
    # Five people (Bob once, though he used two devices); only Dave comes back in April.
    assert cohorts == [service.Cohort(dt.date(2026, 3, 1), 5, [5, 1], [100.0, 20.0])]


def test_touchlines_own_events_are_not_customer_activity(stores: Stores, workspace_id: str) -> None:
    """A campaign's sends and segment changes are written to the event log about a customer, but the customer
    did nothing: they make no visitor, no channel "server" and no returning customer."""
    load_shop(stores, workspace_id)
    with stores.events_conn() as conn:
        carol = conn.execute(sa.select(profile_snapshots.c.canonical_id)).scalars().first()
    assert carol is not None
    april = T0 + 5 * WEEK + dt.timedelta(days=2)
    with stores.write() as conn:
        append_system_events(conn, workspace_id, [
            SystemEvent(carol, name, {"channel": "email"}, april, f"sys-{name}")
            for name in ("Message Sent", "Message Delivered", "Segment Entered")], april)
    stores.pump()
    o = service.overview(stores, workspace_id, april - dt.timedelta(days=1), april + dt.timedelta(days=1), "UTC")
    assert o.total.visitors == 0 and "server" not in o.channels
    cohorts = service.retention_cohorts(stores, workspace_id, "month", None, None, T0, april + WEEK)
    assert cohorts == [service.Cohort(dt.date(2026, 3, 1), 5, [5, 1], [100.0, 20.0])]


def test_cltv_history_and_forecast(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    result = service.cltv(stores, workspace_id, as_of=T0 + 5 * WEEK)
    assert (result.customers, result.orders, result.revenue) == (4, 7, 345_000)
    assert result.average_order_value == 345_000 / 7
    assert result.purchase_frequency == 7 / 4
    assert result.average_cltv == 345_000 / 4
    # Four customers pin the history, not a fit: too few repeat buyers for a forecast.
    assert result.purchase_model is None and result.expected_value is None and result.top == []


def test_bgnbd_recovers_the_parameters_it_simulated() -> None:
    import random

    rng = random.Random(5)
    truth = btyd.BgNbd(r=0.8, alpha=20.0, a=0.9, b=3.0)
    customers = []
    for _ in range(3000):
        rate = rng.gammavariate(truth.r, 1 / truth.alpha)
        drop = rng.betavariate(truth.a, truth.b)
        age, t, last, x = rng.uniform(60, 365), 0.0, 0.0, 0
        while True:
            t += rng.expovariate(rate) if rate > 0 else age + 1
            if t > age:
                break
            x, last = x + 1, t
            if rng.random() < drop:
                break
        customers.append(btyd.Rfm(x=x, t_x=last, T=age, monetary=50_000.0 if x else 0.0))
    fit = btyd.fit_bgnbd(customers)
    assert math.isclose(fit.r, truth.r, rel_tol=0.25) and math.isclose(fit.alpha, truth.alpha, rel_tol=0.3)
    assert math.isclose(fit.a / (fit.a + fit.b), truth.a / (truth.a + truth.b), rel_tol=0.3)
    expected = [btyd.expected_purchases(fit, c, 90) for c in customers[:50]]
    assert all(math.isfinite(e) and e >= 0 for e in expected)


def test_top_paths_collapse_repeats_and_follow_merged_customers(stores: Stores, workspace_id: str) -> None:
    load_shop(stores, workspace_id)
    full = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
    paths = service.top_paths(stores, workspace_id, "Product Viewed", "Order Completed", start=T0, end=T0 + WEEK)
    # Alice's two views in a row count once; Bob's path crosses his devices; Erin's too (no window).
    assert paths == [service.Path(full, 3)]
    short = service.top_paths(stores, workspace_id, "Product Viewed", "Order Completed", max_steps=1)
    assert short == [service.Path(("Product Viewed", "Product Added", "…", "Order Completed"), 3)]


# --- the models, without a database -------------------------------------------------------------------


def test_hypergeometric_series_matches_a_closed_form() -> None:
    z = 0.6
    assert math.isclose(btyd.hyp2f1(1, 1, 2, z), -math.log(1 - z) / z, rel_tol=1e-12)


def test_bgnbd_expectations_behave() -> None:
    model = btyd.BgNbd(r=0.5, alpha=10.0, a=2.0, b=5.0)
    recent, lapsed = btyd.Rfm(x=3, t_x=80, T=90), btyd.Rfm(x=3, t_x=10, T=90)
    assert btyd.expected_purchases(model, recent, 90) > btyd.expected_purchases(model, lapsed, 90) > 0
    # Plain floats, not numpy.float64 (hyp2f1's type), which no JSON encoder of the API or the CLI takes.
    assert type(btyd.expected_purchases(model, recent, 90)) is float
    assert type(btyd.expected_spend(btyd.GammaGamma(p=6.0, q=4.0, v=15.0), recent)) is float
    # A customer with no history at all expects the population's rate: E[X(t)] (FHL 2005, eq. 7).
    t = 30.0
    population = (model.a + model.b - 1) / (model.a - 1) * (
        1 - (model.alpha / (model.alpha + t)) ** model.r
        * btyd.hyp2f1(model.r, model.b, model.a + model.b - 1, t / (model.alpha + t)))
    assert math.isclose(btyd.expected_purchases(model, btyd.Rfm(0, 0, 0), t), population)
    spend = btyd.GammaGamma(p=6.0, q=4.0, v=15.0)
    assert btyd.expected_spend(spend, btyd.Rfm(0, 0, 1)) == 6.0 * 15.0 / 3.0
