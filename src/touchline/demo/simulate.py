"""The demo's journeys, run on a simulated clock.

``touchline demo`` generates its shop's history up to ``now - days`` (:func:`generate` with ``until``)
and keeps what happens after that aside. Then, at that moment of simulated time, the predictions are
trained on the history (:func:`touchline.demo.predictions.train_demo_predictions`: every customer gets a
purchase propensity and, buyers, a churn risk) and :func:`install` saves the journeys' message templates
(ko/en, every channel), the "At risk" segment (with the churn score behind it) and the five journeys
shipped in ``touchline/demo/journeys/*.yaml``, and publishes them; :func:`replay` then moves a
simulated clock to ``now`` an hour at a time. Each step

1. ingests, through the same path as ``/v1/batch``, the generated activity that happened in the hour,
   and the answers customers give to the messages they got (see :class:`Responder`);
2. once a simulated day, refreshes the "At risk" segment (membership changes with time);
3. calls ``Runner.tick(now)``: signals start and move runs, timers (1 h, 24 h, 2 d, 7 d...) fire when
   the simulated clock reaches them, and the outbox decides (consent, caps, quiet hours in the
   customer's time zone, preferred channel) and sends due messages through development channels,
   which record them in the outbox and deliver nothing;
4. reads the messages sent in the hour, and lets each recipient answer (or not) later in simulated time.

So waits of days take no real time, and every conversion the report shows was reached by the engine
from events in the log: an order of that cart, a visit to that store, a review of that order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from touchline.channels import CHANNEL_PARTS, CONSENT_CHANNELS, PROVIDER_SETTINGS
from touchline.demo import catalog as cat
from touchline.demo import store as demo_store
from touchline.demo.generator import DemoSummary, generate
from touchline.demo.predictions import WIN_BACK, WIN_BACK_DESCRIPTION, train_demo_predictions
from touchline.demo.recommendations import train_demo
from touchline.errors import Conflict, StoreUnavailable
from touchline.ingest.normalize import utc
from touchline.ingest.service import IngestResult, ingest, parse_items
from touchline.journeys import service as journeys
from touchline.journeys.runner import Runner
from touchline.messaging.channels.base import AdMarking
from touchline.messaging.channels.registry import DevChannel
from touchline.messaging.outbox import Outbox
from touchline.messaging.service import save_template
from touchline.segments import service as segments

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "AT_RISK_SEGMENT",
    "JOURNEYS",
    "RESPONSES",
    "ReplaySummary",
    "Responder",
    "definitions",
    "install",
    "message_templates",
    "replay",
    "run",
]

# The shipped journeys, in the order the report shows them (file names in touchline/demo/journeys/).
JOURNEYS = ("abandoned-cart", "welcome-series", "win-back", "new-store", "review-request")
AT_RISK_SEGMENT = "At risk"
TEMPLATE_CHANNELS = CONSENT_CHANNELS  # every channel a customer can be sent to
DEV_CHANNELS = tuple(PROVIDER_SETTINGS)  # every channel sent through a provider
# What the demo shop's Korean advertising SMS carry (정보통신망법 제50조), unless the settings name a shop's
# own (TOUCHLINE_SMS_AD_SENDER_NAME, TOUCHLINE_SMS_AD_OPT_OUT_LINE): the outbox log shows them as sent.
DEMO_MARKING = AdMarking(sender_name=cat.SHOP_NAME, opt_out_line="무료수신거부 080-000-0000")
STEP = dt.timedelta(hours=1)
INGEST_BATCH = 500
PUMP_EVERY_STEPS = 24
_SEOUL = ZoneInfo("Asia/Seoul")
_NAMESPACE = uuid.UUID("0c6d4f3e-5b7a-5e21-8a9d-3f1e2b4c6d70")


# --- what ships ------------------------------------------------------------------------------------


def definitions() -> list[dict[str, Any]]:
    """The five demo journeys as stored definitions (dicts), in :data:`JOURNEYS` order."""
    root = resources.files("touchline.demo") / "journeys"
    return [yaml.safe_load((root / f"{name}.yaml").read_text("utf-8")) for name in JOURNEYS]


def message_templates() -> dict[str, dict[str, dict[str, str]]]:
    """template key -> locale -> ``title`` / ``body`` / ``url`` (Jinja2 sources)."""
    loaded: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(
        (resources.files("touchline.demo") / "messages.yaml").read_text("utf-8"))
    return loaded


_FOOTER = {"ko": "수신을 원하지 않으시면 여기에서 거부하세요: {{ unsubscribe_url }}",
           "en": "Unsubscribe: {{ unsubscribe_url }}"}


# "For you" products in an e-mail (a template whose messages.yaml entry has a ``for_you`` heading): three of
# the customer's recommendations (touchline.personalization; the shop's best sellers for a customer with no
# history), each a link with its price.
_FOR_YOU_COUNT = 3
_PRODUCT_NAME = "{{ p.name_en if locale == 'en' and p.name_en else p.name }}"
_FOR_YOU_HTML = ("{%% set picks = recommendations(%d) %%}{%% if picks %%}<h2>%s</h2>\n<ul>{%% for p in picks %%}"
                 '<li><a href="{{ p.url }}">' + _PRODUCT_NAME + "</a> {{ p.price|krw }}</li>"
                 "{%% endfor %%}</ul>{%% endif %%}\n")
_FOR_YOU_TEXT = ("{%% set picks = recommendations(%d) %%}{%% if picks %%}%s\n{%% for p in picks %%}- "
                 + _PRODUCT_NAME + " {{ p.price|krw }} {{ p.url }}\n{%% endfor %%}\n{%% endif %%}")


def _parts(channel: str, locale: str, v: Mapping[str, str]) -> dict[str, str]:
    """One locale's parts for one channel, from the title, body and link (and, in an e-mail, the "for you"
    products under the ``for_you`` heading when there is one)."""
    title, body, url = v["title"], v["body"], v["url"]
    if channel == "email":
        heading = v.get("for_you")
        html_picks = _FOR_YOU_HTML % (_FOR_YOU_COUNT, heading) if heading else ""
        text_picks = _FOR_YOU_TEXT % (_FOR_YOU_COUNT, heading) if heading else ""
        return {"subject": title,
                "text": f"{body}\n\n{text_picks}{url}\n\n{_FOOTER[locale]}",
                "html": f'<h1>{title}</h1>\n<p>{body}</p>\n{html_picks}<p><a href="{url}">{cat.SHOP_URL}</a></p>\n'
                        f'<p><small><a href="{{{{ unsubscribe_url }}}}">{_FOOTER[locale].split(":")[0]}</a>'
                        f"</small></p>"}
    if "text" in CHANNEL_PARTS[channel][0]:  # sms, messenger: one text
        return {"text": f"{title}\n{body}\n{url}"}
    return {"title": title, "body": body, "url": url}


def install(stores: Stores, workspace_id: str, *, now: dt.datetime) -> tuple[list[str], str]:
    """Save the templates (every key for every channel, ko and en), the "At risk" segment and the
    journeys, and publish the journeys, all at ``now``. Running it again keeps what is there.
    Returns the journey ids and the segment id."""
    for key, variants in message_templates().items():
        for channel in TEMPLATE_CHANNELS:
            save_template(stores, workspace_id, key, channel,
                          {locale: _parts(channel, locale, v) for locale, v in variants.items()},
                          default_locale="ko", now=now)
    segment_id = _at_risk(stores, workspace_id, now)
    ids = []
    for raw in definitions():
        if raw["trigger"].get("segment_id") == "at_risk":
            raw["trigger"]["segment_id"] = segment_id
        with contextlib.suppress(Conflict):  # a previous demo run made it
            journeys.create(stores, workspace_id, raw, now=now)
        if journeys.get(stores, workspace_id, raw["id"])["status"] != "published":
            journeys.publish(stores, workspace_id, raw["id"], now=now)
        ids.append(raw["id"])
    return ids, segment_id


def _at_risk(stores: Stores, workspace_id: str, now: dt.datetime) -> str:
    try:
        return str(segments.create_segment(
            stores, workspace_id, AT_RISK_SEGMENT, WIN_BACK, live=True, now=now, description=WIN_BACK_DESCRIPTION,
        )["id"])
    except Conflict:
        return str(segments.get_segment(stores, workspace_id, AT_RISK_SEGMENT)["id"])


# --- customers answering ---------------------------------------------------------------------------

# template -> (share who answer, earliest and latest answer in hours after the message, what they do).
# Rates in the range shops report for such messages; the holdout shows what happens without them.
RESPONSES: dict[str, tuple[float, float, float, str]] = {
    "cart-reminder": (0.14, 0.3, 18.0, "buy_cart"),
    "cart-coupon-10": (0.16, 0.5, 30.0, "buy_cart"),
    "welcome": (0.08, 1.0, 72.0, "buy"),
    "welcome-tips": (0.05, 1.0, 48.0, "buy"),
    "winback-coupon": (0.12, 2.0, 120.0, "buy"),
    "new-store-coupon": (0.25, 2.0, 72.0, "visit_store"),
    "review-request": (0.22, 0.2, 48.0, "review"),
}
_COUPONS = {"cart-coupon-10": ("CART10", 10), "winback-coupon": ("COMEBACK15", 15)}
_HOUR = 3_600.0


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Responder:
    """How customers answer the journeys' messages: some come back and buy the cart they left, use the
    coupon, visit the new store or review their order, at a plausible later time in their day. Each
    answer is a function of the seed and the message id only (deterministic), and is sent as the
    Segment messages a client library would post."""

    def __init__(self, seed: int, bought_later: set[str]) -> None:
        self.seed = seed
        self.bought = bought_later  # carts the generated history buys anyway: nobody buys one twice
        self.products = cat.build_catalog()
        self.weights = [p.popularity for p in self.products]
        self.store_ctx = {
            loc: {"channel": "store", "library": {"name": "haru-pos", "version": "2.4.0"}, "device": {"type": "pos"},
                  "locale": loc, "timezone": "Asia/Seoul",
                  "location": {"city": cat.NEW_STORE.city, "district": cat.NEW_STORE.district},
                  "store": {"id": cat.NEW_STORE.store_id, "name": cat.NEW_STORE.name}}
            for loc in ("ko-KR", "en-US")
        }

    def answer(self, sent: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
        """What the recipient of one sent message does about it (often nothing)."""
        rule = RESPONSES.get(sent["template"])
        user_id = sent.get("user_id")
        if rule is None or not user_id:
            return []
        share, lo, hi, action = rule
        rng = random.Random(f"{self.seed}:{sent['id']}")
        if rng.random() >= share:
            return []
        event = (sent.get("context") or {}).get("event") or {}
        tz = ZoneInfo(sent.get("timezone") or "Asia/Seoul")
        t = self._daytime(sent["sent_at"].timestamp() + rng.uniform(lo, hi) * _HOUR, tz, rng,
                          store=action == "visit_store")
        out = _Out(sent, user_id, rng)
        if action == "buy_cart":
            cart_id = event.get("cart_id")
            if not cart_id or cart_id in self.bought or "product_id" not in event:
                return []
            self.bought.add(str(cart_id))
            line = {k: event.get(k) for k in ("product_id", "sku", "name", "category", "brand", "variant", "price")}
            line["quantity"] = int(event.get("quantity") or 1)
            self._order(out, t, str(cart_id), [line], _COUPONS.get(sent["template"]))
        elif action == "buy":
            p = rng.choices(self.products, weights=self.weights)[0]
            cart_id = f"cart_{rng.getrandbits(64):016x}"
            out.add(t, "Product Added", {**p.props, "quantity": 1, "cart_id": cart_id})
            self.bought.add(cart_id)
            self._order(out, t + rng.uniform(30, 300), cart_id, [{**p.line, "quantity": 1}],
                        _COUPONS.get(sent["template"]))
        elif action == "visit_store":
            s = cat.NEW_STORE
            locale = "en-US" if str(sent.get("locale") or "").startswith("en") else "ko-KR"
            ctx = self.store_ctx[locale]
            out.add(t, "Store Visited", {"store_id": s.store_id, "store_name": s.name, "city": s.city}, ctx)
            if rng.random() < 0.6:
                p = rng.choices(self.products, weights=self.weights)[0]
                subtotal = p.price
                discount = min(5_000, subtotal // 2)
                revenue = subtotal - discount
                out.add(t + rng.uniform(600, 2_400), "Order Completed", {
                    "order_id": _order_id(t, rng), "cart_id": f"pos_{rng.getrandbits(64):016x}",
                    "store_id": s.store_id, "affiliation": s.name, "subtotal": subtotal, "discount": discount,
                    "coupon": "YEOUIDO5000", "revenue": revenue, "shipping": 0, "tax": revenue * 10 // 110,
                    "total": revenue, "currency": cat.CURRENCY, "payment_method": "card",
                    "products": [{**p.line, "quantity": 1}]}, ctx)
        elif action == "review":
            order_id = event.get("order_id")
            if not order_id:
                return []
            products = event.get("products") or [{}]
            out.add(t, "Review Submitted", {
                "order_id": order_id, "product_id": products[0].get("product_id"),
                "rating": rng.choices((5, 4, 3, 2, 1), weights=(55, 27, 10, 5, 3))[0]})
        return out.messages

    def _order(self, out: _Out, t: float, cart_id: str, lines: list[dict[str, Any]],
               coupon: tuple[str, int] | None) -> None:
        rng = out.rng
        subtotal = sum(int(line["price"] or 0) * int(line["quantity"]) for line in lines)
        checkout_id = f"chk_{rng.getrandbits(64):016x}"
        out.add(t, "Cart Viewed", {"cart_id": cart_id, "products": lines})
        t += rng.uniform(10, 60)
        out.add(t, "Checkout Started", {"checkout_id": checkout_id, "cart_id": cart_id, "value": subtotal,
                                        "revenue": subtotal, "currency": cat.CURRENCY, "products": lines})
        t += rng.uniform(20, 90)
        method = rng.choice(("card", "kakaopay", "naverpay", "tosspay"))
        out.add(t, "Payment Info Entered", {"checkout_id": checkout_id, "payment_method": method})
        t += rng.uniform(10, 40)
        discount = subtotal * coupon[1] // 100 // 10 * 10 if coupon else 0
        revenue = subtotal - discount
        shipping = 0 if revenue >= 50_000 else 3_000
        props: dict[str, Any] = {
            "order_id": _order_id(t, rng), "checkout_id": checkout_id, "cart_id": cart_id,
            "affiliation": f"{cat.SHOP_NAME} 온라인몰", "subtotal": subtotal, "discount": discount,
            "revenue": revenue, "shipping": shipping, "tax": revenue * 10 // 110, "total": revenue + shipping,
            "currency": cat.CURRENCY, "payment_method": method, "products": lines,
        }
        if coupon:
            props["coupon"] = coupon[0]
        out.add(t, "Order Completed", props)

    @staticmethod
    def _daytime(t: float, tz: ZoneInfo, rng: random.Random, *, store: bool) -> float:
        """``t``, or later the same day if it falls while they sleep (or outside store hours)."""
        local = dt.datetime.fromtimestamp(t, tz)
        opens, closes = (11, 20) if store else (8, 24)
        if opens <= local.hour < closes:
            return t
        day = local.date() if local.hour < opens else local.date() + dt.timedelta(days=1)
        at = dt.datetime.combine(day, dt.time(opens), tzinfo=tz) + dt.timedelta(hours=rng.uniform(0, 3))
        return at.timestamp()


def _order_id(t: float, rng: random.Random) -> str:
    return f"{dt.datetime.fromtimestamp(t, _SEOUL):%Y%m%d}-{rng.getrandbits(33):010d}"


class _Out:
    """The messages of one answer, with the context of the channel the message came through."""

    def __init__(self, sent: Mapping[str, Any], user_id: str, rng: random.Random) -> None:
        self.sent, self.user_id, self.rng = sent, user_id, rng
        self.messages: list[tuple[float, dict[str, Any]]] = []
        locale = sent.get("locale") or "ko-KR"
        base = {"locale": locale, "timezone": sent.get("timezone") or "Asia/Seoul",
                "campaign": {"source": "touchline", "medium": sent.get("channel"), "name": sent.get("journey_id"),
                             "content": sent.get("template")}}
        if sent.get("channel") == "push":
            self.ctx = {"channel": "app", "library": {"name": "analytics-kotlin", "version": "1.16.1"}, **base}
        else:
            self.ctx = {"channel": "web", "library": {"name": "analytics.js", "version": "next-1.70.0"},
                        "userAgent": cat.MOBILE_AGENTS[0], **base}

    def add(self, t: float, event: str, properties: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        n = len(self.messages)
        self.messages.append((t, {
            "type": "track", "event": event, "properties": properties, "userId": self.user_id,
            "messageId": str(uuid.uuid5(_NAMESPACE, f"{self.sent['id']}:{n}")), "timestamp": _iso(t),
            "context": ctx or self.ctx,
        }))


# --- the clock ----------------------------------------------------------------------------------------


@dataclass
class ReplaySummary:
    """What the simulated stretch did (the journeys' own numbers are in the stores; see run.journey_report)."""

    start: dt.datetime
    end: dt.datetime
    journeys: list[str] = field(default_factory=list)
    segment_id: str = ""
    steps: int = 0
    replayed: int = 0  # generated messages fed in on the clock
    answers: int = 0  # messages customers sent in answer to journey messages
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    runs_entered: int = 0
    sent: int = 0
    seconds: float = 0.0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    # How the predictions trained at the start of the stretch did (lines to print), and the churn score
    # they wrote is behind the "At risk" segment (touchline.demo.predictions).
    predictions: list[str] = field(default_factory=list)


def _ingest(stores: Stores, workspace_id: str, items: list[dict[str, Any]], now: dt.datetime,
            summary: ReplaySummary) -> None:
    settings = stores.settings
    for i in range(0, len(items), INGEST_BATCH):
        batch = items[i:i + INGEST_BATCH]
        events, bad = parse_items(batch, received_at=now, batch_sent_at=None, default_type=None,
                                  max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region)
        if bad:
            summary.rejected += len({b["index"] for b in bad})
            summary.rejections.extend(bad[: max(0, 10 - len(summary.rejections))])
        if events:
            result = ingest(stores, workspace_id, events, now=now, result=IngestResult())
            summary.accepted += result.accepted
            summary.duplicates += result.duplicates


def _pump(stores: Stores) -> None:
    with contextlib.suppress(StoreUnavailable):  # a running server holds the event store; its pump moves them
        stores.pump()


def replay(stores: Stores, workspace_id: str, held_back: list[tuple[float, dict[str, Any]]], *,
           start: dt.datetime, end: dt.datetime, seed: int, segment_id: str, step: dt.timedelta = STEP,
           progress: Callable[[int, int], Any] | None = None) -> ReplaySummary:
    """Move a simulated clock from ``start`` to ``end`` in ``step``s, feeding in ``held_back`` (time,
    message) and the customers' answers as their time comes, and ticking the journey runner."""
    started = time.perf_counter()
    start, end = utc(start) or start, utc(end) or end
    summary = ReplaySummary(start=start, end=end, segment_id=segment_id)
    held_back.sort(key=lambda tm: tm[0])
    bought_later = {str(m["properties"]["cart_id"]) for _, m in held_back
                    if m.get("event") == "Order Completed" and m.get("properties", {}).get("cart_id")}
    responder = Responder(seed, bought_later)
    clock = [start]
    outbox = Outbox(stores, channels={name: DevChannel(name) for name in DEV_CHANNELS}, clock=lambda: clock[0],
                    marking=None if stores.settings.sms_ad_opt_out_line else DEMO_MARKING)
    runner = Runner(stores, outbox=outbox, clock=lambda: clock[0])
    answers: list[tuple[float, int, dict[str, Any]]] = []
    total = max(1, -(-int((end - start).total_seconds()) // int(step.total_seconds())))
    i, n_answers, day = 0, 0, start.astimezone(_SEOUL).date()
    t = start
    while t < end:
        nxt = min(t + step, end)
        clock[0] = nxt
        cutoff = nxt.timestamp()
        due: list[tuple[float, dict[str, Any]]] = []
        while i < len(held_back) and held_back[i][0] < cutoff:
            due.append(held_back[i])
            i += 1
        summary.replayed += len(due)
        while answers and answers[0][0] < cutoff:
            at, _, msg = heapq.heappop(answers)
            due.append((at, msg))
            summary.answers += 1
        due.sort(key=lambda tm: tm[0])
        _ingest(stores, workspace_id, [m for _, m in due], nxt, summary)
        summary.steps += 1
        if nxt.astimezone(_SEOUL).date() != day:  # a new day in Seoul: who is at risk now
            day = nxt.astimezone(_SEOUL).date()
            _pump(stores)
            segments.refresh(stores, workspace_id, [segment_id], now=nxt)
        elif summary.steps % PUMP_EVERY_STEPS == 0:
            _pump(stores)
        report = runner.tick(nxt)
        summary.runs_entered += report.entered
        summary.sent += report.outbox.sent
        if report.outbox.sent:
            with stores.read() as conn:
                sent = demo_store.sent_between(conn, workspace_id, t, nxt)
            for row in sent:
                for at, msg in responder.answer(row):
                    n_answers += 1
                    heapq.heappush(answers, (at, n_answers, msg))
        t = nxt
        if progress is not None:
            progress(summary.steps, total)
    _pump(stores)
    summary.seconds = time.perf_counter() - started
    return summary


def run(stores: Stores, workspace_id: str, *, customers: int, seed: int = 42, days: int = 90,
        simulated_days: int = 14, now: dt.datetime | None = None, step: dt.timedelta = STEP,
        progress: Callable[[int], Any] | None = None,
        clock_progress: Callable[[int, int], Any] | None = None) -> tuple[DemoSummary, ReplaySummary]:
    """The whole demo: history up to ``now - simulated_days`` ingested at once, then the journeys
    installed and the last ``simulated_days`` replayed on the simulated clock."""
    now = utc(now) or dt.datetime.now(dt.UTC)
    if not 1 <= simulated_days < days:
        raise ValueError("simulated_days must be at least 1 and less than days")
    start = now - dt.timedelta(days=simulated_days)
    held_back: list[tuple[float, dict[str, Any]]] = []
    summary = generate(stores, workspace_id, customers=customers, seed=seed, days=days, now=now, progress=progress,
                       until=start, held_back=held_back)
    predictions = train_demo_predictions(stores, workspace_id, now=start)
    ids, segment_id = install(stores, workspace_id, now=start)
    train_demo(stores, workspace_id, now=start)  # the win-back e-mail's "for you" products
    replayed = replay(stores, workspace_id, held_back, start=start, end=now, seed=seed, segment_id=segment_id,
                      step=step, progress=clock_progress)
    replayed.journeys = ids
    replayed.predictions = predictions
    return summary, replayed
