"""The demo shop's customers and what they do, sent through the one ingestion path.

Each simulated person gets their own random generator, seeded from the demo seed and their number, so
a run is deterministic and person *n* is the same whatever the total: running 10,000 customers after
300 with the same seed re-sends the first 300 (skipped as duplicates by messageId) and adds the rest.
Messages are built as Segment-spec dicts (exactly what a client library would post), then validated
and stored in batches with :func:`touchline.ingest.service.parse_items` and
:func:`touchline.ingest.service.ingest`, as ``/v1/batch`` does. Generation streams: memory stays
bounded by one batch and one person, whatever ``customers`` is.

The world (see :mod:`touchline.demo.catalog`): 하루마켓 / Haru Market, an online shop with a web site,
iOS and Android apps, ten stores and a chat desk (web widget and KakaoTalk). People browse anonymously
on one to three devices, sign up (on the web, in the app or at a store's POS), log in on their other
devices, put things in carts (about 70% of carts are abandoned; some are bought later, on another
device), buy again at their own pace, visit stores and chat, and about half of them lapse (stop coming)
after a while. Each person prefers one channel: the app, the web, a store or chat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from touchline.demo import catalog as cat
from touchline.errors import StoreUnavailable
from touchline.ingest.normalize import utc
from touchline.ingest.service import IngestResult, ingest, parse_items

if TYPE_CHECKING:
    from touchline.store.engines import Stores

BATCH_SIZE = 500
# What 10,000 customers produce on average, per customer; for progress bars (see estimate_messages).
MESSAGES_PER_CUSTOMER = 38
# Move staged events to the event store every this many batches, so staging stays small.
PUMP_EVERY_BATCHES = 40
# Share of online carts that end in an order. With non-buyers' and anonymous visitors' carts (always
# abandoned) this lands the overall abandonment rate near 70%.
_CART_CONVERSION = 0.38

# Customers who lapse (stop visiting for good within the window) and after how long, on average; each
# buyer's pace: orders per 30 days on average over buyers, gamma-distributed with this shape (smaller:
# more spread between occasional and frequent buyers).
_LAPSING_SHARE = 0.55
_LAPSE_AFTER_DAYS = 30.0
_ORDERS_PER_30_DAYS = 1.1
_ORDER_RATE_SHAPE = 0.9
_MAX_ORDERS = 9

_DAY = 86_400
_HOUR = 3_600
_NAMESPACE = uuid.UUID("6f0b8a52-2d0e-5c1a-9f1e-7a4c1d0b5e33")
_LOW48 = (1 << 48) - 1

# Share of activity by local hour (Asia/Seoul): quiet nights, a lunch bump, busiest 20:00-23:00.
_ONLINE_HOURS = (3.0, 1.8, 1.0, 0.6, 0.4, 0.4, 0.8, 1.6, 2.5, 3.0, 3.5, 4.0,
                 5.0, 4.5, 3.8, 3.8, 4.0, 4.2, 4.8, 5.5, 6.5, 7.5, 7.0, 5.0)
_STORE_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.0, 3.0,
                4.0, 4.5, 4.5, 4.5, 5.0, 5.5, 6.0, 5.5, 4.0, 2.0, 0, 0)
_HOURS = tuple(range(24))


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


_ONLINE_CUM = _cumulative(_ONLINE_HOURS)
_STORE_CUM = _cumulative(_STORE_HOURS)
_FAMILY_CUM = _cumulative(tuple(w for _, _, w in cat.FAMILY_NAMES))
_CITY_CUM = _cumulative(tuple(c.weight for c in cat.CITIES))
_PAYMENT_NAMES = tuple(m for m, _ in cat.PAYMENT_METHODS)
_PAYMENT_CUM = _cumulative(tuple(w for _, w in cat.PAYMENT_METHODS))
_CHAT_TOPICS = tuple(cat.CHAT_LINES)


@dataclass
class DemoSummary:
    """What one demo run generated and what ingestion did with it."""

    customers: int = 0
    identified: int = 0  # people who signed up (the rest only ever browsed anonymously)
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    events_by_channel: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    preferred_channels: dict[str, int] = field(default_factory=dict)
    orders: int = 0  # online and in-store
    online_orders: int = 0
    store_orders: int = 0
    carts: int = 0  # online carts (a cart exists once something is added to it)
    abandoned_carts: int = 0
    revenue: int = 0  # KRW, after discounts, excluding shipping
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)  # identifiers of a few well-connected customers
    rejections: list[dict[str, Any]] = field(default_factory=list)  # the first few, to debug with

    @property
    def abandonment_rate(self) -> float:
        return self.abandoned_carts / self.carts if self.carts else 0.0

    @property
    def revenue_krw(self) -> int:
        return self.revenue

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers, "identified": self.identified, "messages": self.messages,
            "accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected,
            "events_by_channel": dict(self.events_by_channel), "events_by_type": dict(self.events_by_type),
            "preferred_channels": dict(self.preferred_channels), "orders": self.orders,
            "online_orders": self.online_orders, "store_orders": self.store_orders, "carts": self.carts,
            "abandoned_carts": self.abandoned_carts, "abandonment_rate": round(self.abandonment_rate, 4),
            "revenue": self.revenue, "seconds": round(self.seconds, 2), "examples": list(self.examples),
        }


def estimate_messages(customers: int) -> int:
    """Roughly how many messages ``customers`` people produce (a progress bar's total)."""
    return customers * MESSAGES_PER_CUSTOMER


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's product of uniforms: the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _iso(t: float) -> str:
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t))}.{int(t * 1000) % 1000:03d}Z"


class _Catalog:
    """The catalog in the shapes the simulation samples from."""

    def __init__(self) -> None:
        by_category = cat.products_by_category()
        self.slugs = tuple(c.slug for c in cat.CATEGORIES)
        self.products = {s: by_category[s] for s in self.slugs}
        self.cum = {s: _cumulative(tuple(p.popularity for p in self.products[s])) for s in self.slugs}
        # How much of the shop's traffic each category gets, before a person's own taste.
        self.category_weights = {"fashion": 26, "beauty": 20, "food": 16, "electronics": 12, "home": 12,
                                 "sports": 8, "kids": 6}


_CATALOG: _Catalog | None = None


def _catalog() -> _Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = _Catalog()
    return _CATALOG


class _Device:
    __slots__ = ("anon", "channel", "ctx", "kind", "logged_in", "opened")

    def __init__(self, kind: str, anon: str, channel: str, ctx: dict[str, Any]) -> None:
        self.kind = kind  # "desktop" | "mobile_web" | "app"
        self.anon = anon
        self.channel = channel
        self.ctx = ctx
        self.logged_in = False
        self.opened = False


class _Tally:
    """Counts across the whole run (only numbers and a handful of examples: memory stays flat)."""

    def __init__(self) -> None:
        self.customers = 0
        self.identified = 0
        self.messages = 0
        self.by_channel: dict[str, int] = {}
        self.by_type: dict[str, int] = {}
        self.preferred: dict[str, int] = {}
        self.online_orders = 0
        self.store_orders = 0
        self.carts = 0
        self.converted_carts = 0
        self.revenue = 0
        self.examples: list[str] = []


class _Person:
    """One simulated customer from first visit to last; :meth:`run` returns their messages in time order."""

    def __init__(self, sim: Simulation, idx: int) -> None:
        self.sim = sim
        self.idx = idx
        self.rng = random.Random((sim.seed << 40) ^ idx)
        self.base = uuid.uuid5(sim.namespace, str(idx)).int
        self.k = 0
        self.out: list[tuple[float, dict[str, Any]]] = []
        self.channels: dict[str, int] = {}
        self.user_id: str | None = None  # set once they sign up
        self.orders = 0
        self.merged_devices = 0  # devices that browsed anonymously before logging in to an existing account
        self.last_t = 0.0  # when their latest message so far happened
        self.push = False  # granted push consent (their app then registers a push token)
        # Behaviour added after the original calibration draws from its own stream, so that it leaves
        # everything drawn from ``rng`` (and the rates tuned on it) as it was.
        self.side = random.Random((sim.seed << 40) ^ idx ^ (0x5EED << 64))

    # -- messages ------------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(64):016x}"

    def emit(self, t: float, channel: str, ctx: dict[str, Any], anon: str | None, kind: str,
             body: dict[str, Any]) -> None:
        self.k += 1
        h = f"{self.base ^ self.k:032x}"
        msg: dict[str, Any] = {
            "type": kind, "messageId": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
            "timestamp": _iso(t), "context": ctx,
        }
        if anon is not None:
            msg["anonymousId"] = anon
        if self.user_id is not None and (anon is None or self._logged_in_anon(anon)):
            msg["userId"] = self.user_id
        msg.update(body)
        self.out.append((t, msg))
        self.channels[channel] = self.channels.get(channel, 0) + 1
        if t > self.last_t:
            self.last_t = t

    def _logged_in_anon(self, anon: str) -> bool:
        for d in self.devices:
            if d.anon == anon:
                return d.logged_in
        return False

    # -- who they are --------------------------------------------------------------------------------
    def _make_identity(self) -> None:
        rng, sim, idx = self.rng, self.sim, self.idx
        self.english = rng.random() < 0.12
        self.locale = "en-US" if self.english else "ko-KR"
        self.timezone = "Asia/Seoul"
        if self.english and rng.random() < 0.4:
            self.timezone = rng.choice(("America/Los_Angeles", "America/New_York"))
        self.tz_offset = sim.tz_offsets[self.timezone]
        in_korea = self.timezone == "Asia/Seoul"
        if self.english:
            first, last = rng.choice(cat.EN_FIRST_NAMES), rng.choice(cat.EN_LAST_NAMES)
            self.first_name, self.last_name, self.name = first, last, f"{first} {last}"
            local = f"{first.lower()}.{last.lower()}"
        else:
            fam_ko, fam_rom, _ = rng.choices(cat.FAMILY_NAMES, cum_weights=_FAMILY_CUM)[0]
            giv_ko, giv_rom = rng.choice(cat.GIVEN_NAMES)
            self.first_name, self.last_name, self.name = giv_ko, fam_ko, fam_ko + giv_ko
            local = f"{giv_rom}.{fam_rom}" if rng.random() < 0.5 else f"{fam_rom}{giv_rom}"
        # Bijections of the person's number keep e-mails, phones and Kakao ids unique within a run.
        n = (idx * 7_654_321 + sim.offset) % 100_000_000
        self.email = f"{local}{n % 10_000:04d}{n // 10_000:04d}@{cat.EMAIL_DOMAINS[idx % 3]}"
        # People abroad give no phone: the only fictional US numbers (555-01xx) are too few to be unique.
        self.phone: str | None = (
            f"010-{n // 10_000:04d}-{n % 10_000:04d}" if in_korea and rng.random() < 0.9 else None
        )
        self.user_id_value = f"u_{uuid.uuid5(sim.namespace, f'user:{idx}').int & _LOW48:012x}"
        self.city = rng.choices(cat.CITIES, cum_weights=_CITY_CUM)[0]
        self.district = rng.choice(self.city.districts)
        self.birthday = (
            f"{rng.randint(1960, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            if rng.random() < 0.75 else None
        )
        # Channel preference: where this person mostly turns up.
        r = rng.random()
        if not in_korea:
            self.pref = "web" if r < 0.55 else ("app" if r < 0.85 else "chat")
        else:
            self.pref = "app" if r < 0.34 else "web" if r < 0.64 else "store" if r < 0.82 else "chat"
        self.identifies = self.pref in ("store", "chat") or rng.random() < 0.72
        self.has_kakao = not self.english and rng.random() < (0.9 if self.pref == "chat" else 0.3)
        self.kakao_id = str(1_000_000_000 + (idx * 48_271 + sim.offset) % 1_000_000_000) if self.has_kakao else None
        # Taste: a couple of favourite categories on top of the shop-wide mix.
        weights = dict(sim.catalog.category_weights)
        for slug in rng.sample(sim.catalog.slugs, 2):
            weights[slug] *= rng.choice((3, 5, 8))
        self.cat_slugs = tuple(weights)
        self.cat_cum = _cumulative(tuple(weights.values()))
        self.home_stores = cat.stores_near(self.city.name)
        # The app reports where they are when they open it, if they allowed it to.
        self.shares_location = self.side.random() < 0.6

    def _make_devices(self) -> None:
        rng, pref = self.rng, self.pref
        wants = {
            "app": (0.45, 0.4, 1.0), "web": (0.7, 0.6, 0.25), "store": (0.3, 0.45, 0.5), "chat": (0.45, 0.7, 0.4),
        }[pref]
        kinds = [k for k, p in zip(("desktop", "mobile_web", "app"), wants, strict=True) if rng.random() < p]
        if not kinds:
            kinds = ["app" if pref == "app" else "mobile_web"]
        self.devices: list[_Device] = [self._device(k) for k in kinds]
        self.web_devices = [d for d in self.devices if d.kind != "app"]

    def _device(self, kind: str) -> _Device:
        rng = self.rng
        anon = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        base = {"locale": self.locale, "timezone": self.timezone}
        if kind == "app":
            ios = rng.random() < 0.3
            maker, model, os_version = rng.choice(cat.IOS_MODELS if ios else cat.ANDROID_MODELS)
            device_id = (str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper() if ios
                         else f"{rng.getrandbits(64):016x}")
            ctx = {
                "channel": "app",
                "library": {"name": "analytics-swift" if ios else "analytics-kotlin", "version": "1.16.1"},
                "app": {"name": cat.SHOP_NAME_EN, "namespace": "example.harumarket", "version": cat.APP_VERSION[0],
                        "build": cat.APP_VERSION[1]},
                "device": {"id": device_id, "type": "ios" if ios else "android", "manufacturer": maker,
                           "model": model},
                "os": {"name": "iOS" if ios else "Android", "version": os_version},
                "network": {"wifi": rng.random() < 0.6},
                **base,
            }
            return _Device(kind, anon, "app", ctx)
        agent = rng.choice(cat.DESKTOP_AGENTS if kind == "desktop" else cat.MOBILE_AGENTS)
        ctx = {"channel": "web", "library": {"name": "analytics.js", "version": "next-1.70.0"},
               "userAgent": agent, **base}
        return _Device(kind, anon, "web", ctx)

    # -- when ----------------------------------------------------------------------------------------
    def _when(self, lo: float, hi: float, store: bool = False) -> float:
        """A moment in [lo, hi] following the day's rhythm in the person's time zone."""
        rng, off = self.rng, self.tz_offset
        day0, day1 = int((lo + off) // _DAY), int((hi + off) // _DAY)
        cum = _STORE_CUM if store else _ONLINE_CUM
        for _ in range(12):
            day = rng.randint(day0, day1)
            if store and (day + 3) % 7 < 5 and rng.random() < 0.4:
                continue  # stores are busier at weekends
            hour = rng.choices(_HOURS, cum_weights=cum)[0]
            t = day * _DAY - off + hour * _HOUR + rng.random() * _HOUR
            if lo <= t <= hi:
                return t
        return lo + rng.random() * (hi - lo)

    # -- the plan ------------------------------------------------------------------------------------
    def run(self) -> list[tuple[float, dict[str, Any]]]:
        sim, rng = self.sim, self.rng
        self._make_identity()
        self._make_devices()
        tally = sim.tally
        tally.customers += 1
        tally.preferred[self.pref] = tally.preferred.get(self.pref, 0) + 1

        # When they arrive, and when (if ever) they stop coming: a real shop's customers lapse, which is
        # what churn scores and win-back campaigns are for. Each buyer orders at their own pace (a rate
        # drawn once) for as long as they stay, so how often and how lately someone bought foretells
        # whether they buy again, as in a real shop's history.
        window_lo = sim.start_ts
        first_lo = window_lo + rng.random() ** 1.6 * (sim.end_ts - window_lo) * 0.85
        side = self.side
        active_hi = sim.end_ts
        if side.random() < _LAPSING_SHARE:
            active_hi = min(sim.end_ts, first_lo + side.expovariate(1 / _LAPSE_AFTER_DAYS) * _DAY + 2 * _HOUR)

        # How many orders online, how many carts that takes, and the rest of their visits.
        target = 0
        if self.identifies:
            r = rng.random()
            if r < 0.62:
                per_day = side.gammavariate(_ORDER_RATE_SHAPE, _ORDERS_PER_30_DAYS / _ORDER_RATE_SHAPE / 30)
                target = min(_MAX_ORDERS, _poisson(side, per_day * (active_hi - first_lo) / _DAY))
                if target == 0 and side.random() < 0.6:
                    target = 1  # a buyer who came, bought once and went
            if self.pref == "store" and target:
                target = max(0, target - 1)
        carts: list[bool] = []  # one entry per cart: does it end in an order?
        done = 0
        while done < target:
            converts = rng.random() < _CART_CONVERSION
            carts.append(converts)
            done += converts
        extra = rng.choices((0, 1, 2), weights=(60, 28, 12))[0] if self.identifies else (
            1 if rng.random() < 0.3 else 0)
        carts.extend([False] * extra)

        intents: list[tuple[str, Any]] = [("shop", c) for c in carts]
        n_browse = 1 + min(4, int(rng.expovariate(1.6)))
        intents += [("browse", None)] * n_browse
        in_korea = self.timezone == "Asia/Seoul"
        if self.identifies and in_korea:
            n_store = rng.randint(1, 4) if self.pref == "store" else (1 if rng.random() < 0.12 else 0)
            intents += [("store", None)] * n_store
        n_chat = rng.randint(1, 4) if self.pref == "chat" else (1 if rng.random() < 0.1 else 0)
        intents += [("chat", None)] * n_chat
        rng.shuffle(intents)

        sessions: list[list[Any]] = []  # [time, kind, payload, device, cart made there]
        for kind, payload in intents:
            t = self._when(first_lo, active_hi, store=kind == "store")
            sessions.append([t, kind, payload, None, None])
        sessions.sort(key=lambda s: s[0])

        # Where each online visit happens, and carts bought later, maybe on another device.
        pref_app = self.pref == "app"
        app = next((d for d in self.devices if d.kind == "app"), None)
        resumed = []
        for s in sessions:
            if s[1] in ("shop", "browse"):
                s[3] = app if app is not None and (pref_app and rng.random() < 0.75) else rng.choice(self.devices)
            if s[1] == "shop" and s[2]:
                if rng.random() < 0.3:
                    later = s[0] + rng.uniform(2 * _HOUR, 4 * _DAY)
                    if later < sim.end_ts:
                        s[2] = "later"
                        other = rng.choice(self.devices) if rng.random() < 0.5 else s[3]
                        resumed.append([later, "resume", s, other, None])
                        continue
                s[2] = "now"
        if resumed:
            sessions.extend(resumed)
            sessions.sort(key=lambda s: s[0])

        # Sign-up: in the first visits, and at the latest when they first buy or meet a store.
        signup_at = -1
        if self.identifies:
            online = [i for i, s in enumerate(sessions) if s[1] in ("shop", "browse", "resume")]
            natural = online[min(len(online) - 1, int(rng.expovariate(1.0)))] if online else len(sessions)
            required = next((i for i, s in enumerate(sessions)
                             if s[1] in ("store", "resume") or (s[1] == "shop" and s[2] == "now")), len(sessions))
            signup_at = min(natural, required)
            if signup_at >= len(sessions):
                signup_at = -1
        self.consent_change_at = rng.randrange(len(sessions)) if rng.random() < 0.08 else -1

        latest_start = sim.end_ts + 600  # every visit still ends before `now`
        for i, s in enumerate(sessions):
            t, kind, payload, device, _ = s
            if t < self.last_t:  # one visit at a time: start after the previous one ended
                t = min(latest_start, self.last_t + rng.uniform(300, 1_800))
            signup = i == signup_at
            if kind == "store":
                self._store_visit(t, signup)
            elif kind == "chat":
                self._chat(t)
            else:
                s[4] = self._online(t, device, kind, payload, signup)
            if i == self.consent_change_at and self.user_id is not None:
                self._consent_change(self.last_t + rng.uniform(30, 300))

        if self.user_id is not None:
            tally.identified += 1
            linked = sum(d.logged_in for d in self.devices)  # devices whose anonymous history joined
            if len(tally.examples) < 5 and len(self.channels) >= 2 and linked >= 2 and self.merged_devices:
                tally.examples.append(f"email:{self.email}")
        self.out.sort(key=lambda m: m[0])
        return self.out

    # -- sign-up and login ---------------------------------------------------------------------------
    def _traits(self, t: float, channel: str) -> dict[str, Any]:
        rng = self.rng
        has_app = any(d.kind == "app" for d in self.devices)
        chatty = self.pref == "chat"
        traits: dict[str, Any] = {
            "name": self.name, "firstName": self.first_name, "lastName": self.last_name, "email": self.email,
            "locale": self.locale, "timezone": self.timezone, "createdAt": _iso(t), "signup_channel": channel,
        }
        if self.phone:
            traits["phone"] = self.phone
        if self.birthday:
            traits["birthday"] = self.birthday
        if self.timezone == "Asia/Seoul" and rng.random() < 0.8:
            traits["address"] = {"country": "KR", "city": self.city.name, "district": self.district}
        if self.kakao_id:
            traits["kakao_id"] = self.kakao_id
        consent = {
            "email": rng.random() < (0.55 if chatty else 0.72),
            "sms": self.phone is not None and rng.random() < 0.38,
            "messenger": self.kakao_id is not None and rng.random() < (0.95 if chatty else 0.7),
            "push": has_app and rng.random() < (0.85 if self.pref == "app" else 0.6),
        }
        traits["consent"] = consent
        traits["preferred_channel"] = self._message_channel()
        self.push = consent["push"]
        return traits

    def _message_channel(self) -> str:
        """Where they would rather hear from the shop, from where they turn up: app people read push
        notifications, chat people KakaoTalk, store people text messages, the rest e-mail."""
        if self.pref == "app":
            return "push"
        if self.pref == "chat" and self.kakao_id:
            return "messenger"
        if self.pref == "store" and self.phone:
            return "sms"
        return "email"

    def _location_fix(self) -> dict[str, Any]:
        """A location fix: around the new store for some people in Seoul (it is near offices and the
        park), otherwise somewhere in their city."""
        side = self.side
        if self.city.name == cat.NEW_STORE.city and side.random() < 0.3:
            lat, lon = cat.NEW_STORE_LAT, cat.NEW_STORE_LON
            spread = 0.005  # about 500 m
        else:
            lat, lon = cat.CITY_CENTRES[self.city.name]
            spread = 0.06  # about 6 km
        return {"latitude": round(lat + side.uniform(-spread, spread), 5),
                "longitude": round(lon + side.uniform(-spread, spread) * 1.25, 5),
                "accuracy_m": side.choice((5, 10, 20, 35, 65))}

    def _sign_up(self, t: float, device: _Device) -> float:
        self.user_id = self.user_id_value
        device.logged_in = True
        self._push_token(device)
        method = "kakao" if self.kakao_id and self.rng.random() < 0.5 else "email"
        self.emit(t, device.channel, device.ctx, device.anon, "identify", {"traits": self._traits(t, device.channel)})
        t += 1.5
        self.emit(t, device.channel, device.ctx, device.anon, "track",
                  {"event": "Signed Up", "properties": {"method": method, "platform": device.kind}})
        return t + self.rng.uniform(5, 40)

    def _log_in(self, t: float, device: _Device) -> float:
        if any(m.get("anonymousId") == device.anon and "userId" not in m for _, m in self.out):
            self.merged_devices += 1  # this device's anonymous profile joins the customer's
        device.logged_in = True
        self._push_token(device)
        self.emit(t, device.channel, device.ctx, device.anon, "identify", {"traits": {"email": self.email}})
        self.emit(t + 0.8, device.channel, device.ctx, device.anon, "track",
                  {"event": "Signed In", "properties": {"method": "kakao" if self.kakao_id else "email"}})
        return t + self.rng.uniform(3, 20)

    def _push_token(self, device: _Device) -> None:
        if device.kind == "app" and self.push and "token" not in device.ctx["device"]:
            token = f"{self.rng.getrandbits(256):064x}"
            device.ctx = {**device.ctx, "device": {**device.ctx["device"], "token": token}}

    def _consent_change(self, t: float) -> None:
        device = next((d for d in self.devices if d.logged_in), None)
        if device is None:
            return
        rng = self.rng
        change = rng.choice(({"sms": False}, {"email": False}, {"messenger": True}, {"sms": True}, {"push": False}))
        self.emit(t, device.channel, device.ctx, device.anon, "identify", {"traits": {"consent": change}})

    # -- online visits -------------------------------------------------------------------------------
    def _page(self, t: float, device: _Device, name: str, path: str, title: str, extra: dict[str, Any] | None = None,
              ctx: dict[str, Any] | None = None) -> None:
        if device.kind == "app":
            props = dict(extra) if extra else {}
            self.emit(t, "app", ctx or device.ctx, device.anon, "screen",
                      {"name": _SCREEN_NAMES.get(name, name), "properties": props})
            return
        props = {"path": path, "url": cat.SHOP_URL + path, "title": title}
        if extra:
            props.update(extra)
        self.emit(t, "web", ctx or device.ctx, device.anon, "page", {"name": name, "properties": props})

    def _pick_product(self) -> cat.Product:
        rng, catalog = self.rng, self.sim.catalog
        slug = rng.choices(self.cat_slugs, cum_weights=self.cat_cum)[0]
        return rng.choices(catalog.products[slug], cum_weights=catalog.cum[slug])[0]

    def _online(self, t: float, device: _Device, kind: str, payload: Any, signup: bool) -> dict[str, Any] | None:
        rng = self.rng
        ch = device.channel
        title_suffix = f" | {cat.SHOP_NAME}"
        # Arrive. A web visit's first page carries the campaign that brought them, if any.
        landing: dict[str, Any] | None = None
        if device.kind == "app":
            if not device.opened:
                device.opened = True
                self.emit(t, ch, device.ctx, device.anon, "track",
                          {"event": "Application Installed",
                           "properties": {"version": cat.APP_VERSION[0], "build": cat.APP_VERSION[1]}})
                t += rng.uniform(2, 15)
            self.emit(t, ch, device.ctx, device.anon, "track",
                      {"event": "Application Opened", "properties": {"from_background": rng.random() < 0.4}})
            if self.shares_location and self.timezone == "Asia/Seoul":
                self.emit(t + 0.5, ch, device.ctx, device.anon, "track",
                          {"event": "Location Updated", "properties": self._location_fix()})
            self._page(t + 1.0, device, "Home", "/", cat.SHOP_NAME)
            t += rng.uniform(4, 30)
        else:
            if rng.random() < 0.35:
                source, medium, name = rng.choice(cat.CAMPAIGNS)
                landing = {**device.ctx, "campaign": {"source": source, "medium": medium, "name": name}}
            if kind == "resume" or rng.random() < 0.5:
                self._page(t, device, "Home", "/", f"{cat.SHOP_NAME} - 오늘의 추천", ctx=landing)
                landing = None
                t += rng.uniform(4, 30)

        if self.user_id is not None and not device.logged_in and rng.random() < 0.5:
            t = self._log_in(t, device)

        # Look around: a search or a category (or straight to a product), then a few products.
        seen: list[cat.Product] = []
        if kind != "resume":
            first = self._pick_product()
            slug = first.category.slug
            r = rng.random()
            if r < 0.3:
                ko, en = rng.choice(cat.SEARCH_TERMS[slug])
                query = en if self.english else ko
                self.emit(t, ch, device.ctx, device.anon, "track",
                          {"event": "Products Searched", "properties": {"query": query}})
                self._page(t + 0.4, device, "Search", "/search?q=" + quote(query),
                           f"'{query}' 검색결과{title_suffix}", {"search": query}, ctx=landing)
                landing = None
                t += rng.uniform(5, 40)
            elif r < 0.8:
                c = first.category
                self._page(t, device, "Category", f"/category/{c.slug}", c.name + title_suffix,
                           {"category": c.name}, ctx=landing)
                landing = None
                t += rng.uniform(5, 40)
            n_views = 1 + min(4, int(rng.expovariate(0.9)))
            for j in range(n_views):
                p = first if j == 0 else self._pick_product()
                seen.append(p)
                self._page(t, device, "Product", f"/products/{p.product_id}", p.name + title_suffix,
                           {"product_id": p.product_id, "category": p.category.name}, ctx=landing)
                landing = None
                self.emit(t + 0.3, ch, device.ctx, device.anon, "track",
                          {"event": "Product Viewed", "properties": p.props})
                t += rng.uniform(8, 90)

        if signup:
            t = self._sign_up(t, device)

        if kind == "browse":
            return None
        if kind == "resume":
            cart = payload[4]
            self._page(t, device, "Cart", "/cart", "장바구니" + title_suffix)
            self.emit(t + 0.3, ch, device.ctx, device.anon, "track",
                      {"event": "Cart Viewed", "properties": {"cart_id": cart["cart_id"],
                                                              "products": _lines(cart["items"])}})
            t += rng.uniform(5, 30)
            self._checkout(t, device, cart, completes=True)
            return None

        # Shop: put one to three things in a new cart.
        cart = {"cart_id": self._id("cart_"), "items": []}
        self.sim.tally.carts += 1
        n_add = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
        for j in range(n_add):
            p = seen[j] if j < len(seen) else self._pick_product()
            qty = 1 if p.category.slug != "food" or rng.random() < 0.6 else rng.randint(2, 3)
            cart["items"].append((p, qty))
            self.emit(t, ch, device.ctx, device.anon, "track",
                      {"event": "Product Added",
                       "properties": {**p.props, "quantity": qty, "cart_id": cart["cart_id"]}})
            t += rng.uniform(10, 60)
        if len(cart["items"]) > 1 and rng.random() < 0.12:
            p, qty = cart["items"].pop()
            self.emit(t, ch, device.ctx, device.anon, "track",
                      {"event": "Product Removed",
                       "properties": {**p.props, "quantity": qty, "cart_id": cart["cart_id"]}})
            t += rng.uniform(5, 20)
        self._page(t, device, "Cart", "/cart", "장바구니" + title_suffix)
        t += rng.uniform(5, 40)

        if payload == "now":
            self._checkout(t, device, cart, completes=True)
        elif payload != "later" and rng.random() < 0.4:
            # Abandoned at checkout; a "later" cart is left as it is, for a later visit to buy.
            self._checkout(t, device, cart, completes=False)
        return cart

    def _checkout(self, t: float, device: _Device, cart: dict[str, Any], *, completes: bool) -> None:
        rng = self.rng
        ch = device.channel
        if completes and self.user_id is not None and not device.logged_in:
            t = self._log_in(t, device)
        elif completes and self.user_id is None:
            t = self._sign_up(t, device)
        checkout_id = self._id("chk_")
        items = cart["items"]
        subtotal = sum(p.price * q for p, q in items)
        lines = _lines(items)
        self._page(t, device, "Checkout", "/checkout", "주문/결제" + f" | {cat.SHOP_NAME}")
        self.emit(t + 0.3, ch, device.ctx, device.anon, "track",
                  {"event": "Checkout Started",
                   "properties": {"checkout_id": checkout_id, "cart_id": cart["cart_id"], "value": subtotal,
                                  "revenue": subtotal, "currency": cat.CURRENCY, "products": lines}})
        t += rng.uniform(20, 120)
        pays = completes or rng.random() < 0.4
        method = rng.choices(_PAYMENT_NAMES, cum_weights=_PAYMENT_CUM)[0]
        if pays:
            self.emit(t, ch, device.ctx, device.anon, "track",
                      {"event": "Payment Info Entered",
                       "properties": {"checkout_id": checkout_id, "payment_method": method}})
            t += rng.uniform(10, 60)
        if not completes:
            return
        coupon = None
        discount = 0
        if self.orders == 0:
            coupon, discount = "WELCOME10", min(10_000, subtotal // 10 // 10 * 10)
        elif subtotal >= 50_000 and rng.random() < 0.15:
            coupon, discount = "HARU5000", 5_000
        revenue = subtotal - discount
        shipping = 0 if revenue >= 50_000 else 3_000
        props: dict[str, Any] = {
            "order_id": self._order_id(t), "checkout_id": checkout_id, "cart_id": cart["cart_id"],
            "affiliation": f"{cat.SHOP_NAME} {'앱' if device.kind == 'app' else '온라인몰'}",
            "subtotal": subtotal, "discount": discount, "revenue": revenue, "shipping": shipping,
            "tax": revenue * 10 // 110, "total": revenue + shipping, "currency": cat.CURRENCY,
            "payment_method": method, "products": lines,
        }
        if coupon:
            props["coupon"] = coupon
        self.emit(t, ch, device.ctx, device.anon, "track", {"event": "Order Completed", "properties": props})
        self._count_order(revenue, online=True)

    def _order_id(self, t: float) -> str:
        return f"{time.strftime('%Y%m%d', time.gmtime(t + 9 * _HOUR))}-{self.rng.getrandbits(33):010d}"

    def _count_order(self, revenue: int, *, online: bool) -> None:
        tally = self.sim.tally
        self.orders += 1
        tally.revenue += revenue
        if online:
            tally.online_orders += 1
            tally.converted_carts += 1
        else:
            tally.store_orders += 1

    # -- stores and chat ---------------------------------------------------------------------------------
    def _store_visit(self, t: float, signup: bool) -> None:
        rng = self.rng
        store = self.home_stores[0] if rng.random() < 0.7 else rng.choice(self.home_stores)
        ctx = self.sim.store_ctx[store.store_id][self.locale]
        if signup:
            # Membership at the counter: the clerk types the phone number into the POS.
            self.user_id = self.user_id_value
            traits = self._traits(t, "store")
            self.emit(t, "store", ctx, None, "identify", {"traits": traits})
            self.emit(t + 2, "store", ctx, None, "track",
                      {"event": "Signed Up", "properties": {"method": "pos", "store_id": store.store_id}})
            t += 60
        elif self.user_id is None:
            return
        self.emit(t, "store", ctx, None, "track",
                  {"event": "Store Visited", "properties": {"store_id": store.store_id, "store_name": store.name,
                                                            "city": store.city}})
        t += rng.uniform(600, 2_400)
        if rng.random() >= 0.65:
            return
        items = []
        for _ in range(1 + (rng.random() < 0.45) + (rng.random() < 0.2)):
            p = self._pick_product()
            items.append((p, 1 if p.category.slug != "food" else rng.randint(1, 3)))
        subtotal = sum(p.price * q for p, q in items)
        discount = 0 if rng.random() < 0.8 else min(subtotal // 20 // 10 * 10, 20_000)
        revenue = subtotal - discount
        self.emit(t, "store", ctx, None, "track", {"event": "Order Completed", "properties": {
            "order_id": self._order_id(t), "cart_id": self._id("pos_"), "store_id": store.store_id,
            "affiliation": store.name, "subtotal": subtotal, "discount": discount, "revenue": revenue,
            "shipping": 0, "tax": revenue * 10 // 110, "total": revenue, "currency": cat.CURRENCY,
            "payment_method": rng.choices(("card", "samsungpay", "cash", "kakaopay"), weights=(65, 20, 5, 10))[0],
            "products": _lines(items),
        }})
        self._count_order(revenue, online=False)

    def _chat(self, t: float) -> None:
        rng = self.rng
        kakao = self.user_id is not None and self.kakao_id is not None and rng.random() < 0.7
        if kakao:
            ctx = {**self.sim.kakao_ctx[self.locale], "traits": {"kakao_id": self.kakao_id}}
            anon = None
            platform = "kakaotalk"
        else:
            web = self.web_devices or self.devices
            device = rng.choice(web)
            ctx = {**device.ctx, "channel": "chat"}
            anon = device.anon
            platform = "web_widget" if device.kind != "app" else "in_app"
        if self.orders and rng.random() < 0.6:
            topic = rng.choice(("order_status", "return"))
        else:
            topic = rng.choice(("product_question", "coupon"))
        conversation_id = self._id("conv_")
        self.emit(t, "chat", ctx, anon, "track", {"event": "Chat Started", "properties": {
            "conversation_id": conversation_id, "platform": platform, "topic": topic}})
        lines = cat.CHAT_LINES[topic]
        for j in range(1 + min(4, int(rng.expovariate(0.7)))):
            t += rng.uniform(8, 120)
            ko, en = rng.choice(lines)
            self.emit(t, "chat", ctx, anon, "track", {"event": "Chat Message Sent", "properties": {
                "conversation_id": conversation_id, "platform": platform, "topic": topic, "message_index": j,
                "text": en if self.english else ko}})


_SCREEN_NAMES = {"Product": "Product Detail"}


def _lines(items: list[tuple[cat.Product, int]]) -> list[dict[str, Any]]:
    return [{**p.line, "quantity": q} for p, q in items]


class Simulation:
    """The whole run's settings and counters; :meth:`messages` streams every person's messages."""

    def __init__(self, *, customers: int, seed: int, days: int, now: dt.datetime) -> None:
        if customers < 0:
            raise ValueError("customers must not be negative")
        if days < 1:
            raise ValueError("days must be at least 1")
        self.customers = customers
        self.seed = seed
        self.days = days
        self.now = now
        self.namespace = uuid.uuid5(_NAMESPACE, f"touchline-demo:{seed}")
        self.offset = self.namespace.int % 100_000_000
        self.end_ts = now.timestamp() - _HOUR  # the last visit starts an hour before `now`
        self.start_ts = now.timestamp() - days * _DAY
        self.catalog = _catalog()
        self.tally = _Tally()
        self.tz_offsets = {
            tz: int(now.astimezone(ZoneInfo(tz)).utcoffset().total_seconds())  # type: ignore[union-attr]
            for tz in ("Asia/Seoul", "America/Los_Angeles", "America/New_York")
        }
        self.store_ctx = {
            s.store_id: {
                loc: {"channel": "store", "library": {"name": "haru-pos", "version": "2.4.0"},
                      "device": {"type": "pos"}, "locale": loc, "timezone": "Asia/Seoul",
                      "location": {"city": s.city, "district": s.district}, "store": {"id": s.store_id, "name": s.name}}
                for loc in ("ko-KR", "en-US")
            }
            for s in cat.STORES
        }
        self.kakao_ctx = {
            loc: {"channel": "chat", "library": {"name": "haru-chat-kakao", "version": "1.3.0"},
                  "device": {"type": "mobile"}, "locale": loc, "timezone": "Asia/Seoul"}
            for loc in ("ko-KR", "en-US")
        }

    def messages(self) -> Iterator[dict[str, Any]]:
        for idx in range(self.customers):
            for _, msg in _Person(self, idx).run():
                yield msg

    def batches(self, size: int = BATCH_SIZE, *, until: float | None = None,
                held_back: list[tuple[float, dict[str, Any]]] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Everyone's messages in batches of ``size``; with ``until``, those at or after it go to
        ``held_back`` (with their time) instead."""
        batch: list[dict[str, Any]] = []
        tally = self.tally
        by_channel, by_type = tally.by_channel, tally.by_type
        for idx in range(self.customers):
            person = _Person(self, idx)
            for t, msg in person.run():
                if until is not None and t >= until:
                    if held_back is not None:
                        held_back.append((t, msg))
                    continue
                batch.append(msg)
                if len(batch) >= size:
                    yield batch
                    batch = []
            tally.messages += person.k
            for ch, n in person.channels.items():
                by_channel[ch] = by_channel.get(ch, 0) + n
            for _, msg in person.out:
                name = msg.get("event") or msg["type"]
                by_type[name] = by_type.get(name, 0) + 1
        if batch:
            yield batch

    def summary(self) -> DemoSummary:
        t = self.tally
        return DemoSummary(
            customers=t.customers, identified=t.identified, messages=t.messages,
            events_by_channel=dict(sorted(t.by_channel.items(), key=lambda kv: -kv[1])),
            events_by_type=dict(sorted(t.by_type.items(), key=lambda kv: -kv[1])),
            preferred_channels=dict(sorted(t.preferred.items(), key=lambda kv: -kv[1])),
            orders=t.online_orders + t.store_orders, online_orders=t.online_orders, store_orders=t.store_orders,
            carts=t.carts, abandoned_carts=t.carts - t.converted_carts, revenue=t.revenue,
            examples=list(t.examples),
        )


def _pump_quietly(stores: Stores) -> None:
    """Move staged events on; if a running server holds the event store, its own pump will."""
    with contextlib.suppress(StoreUnavailable):
        stores.pump()


def generate(
    stores: Stores,
    workspace_id: str,
    *,
    customers: int = 10_000,
    seed: int = 42,
    days: int = 90,
    now: dt.datetime | None = None,
    progress: Callable[[int], Any] | None = None,
    until: dt.datetime | None = None,
    held_back: list[tuple[float, dict[str, Any]]] | None = None,
) -> DemoSummary:
    """Simulate ``customers`` people over the ``days`` before ``now`` and ingest what they do.

    Deterministic for a given seed (messageIds included), so running it again on the same data adds
    nothing. ``progress`` is called with the number of messages sent so far after every batch.

    With ``until``, only what happened before it is ingested; the rest goes, with its time (epoch
    seconds), to ``held_back``, for :mod:`touchline.demo.simulate` to replay on a simulated clock
    with the journeys running. ``messages`` still counts every message generated.
    """
    started = time.perf_counter()
    now = utc(now) or dt.datetime.now(dt.UTC)
    settings = stores.settings
    sim = Simulation(customers=customers, seed=seed, days=days, now=now)
    accepted = duplicates = rejected = sent = 0
    rejections: list[dict[str, Any]] = []
    until_utc = utc(until)
    until_ts = until_utc.timestamp() if until_utc is not None else None
    for n_batch, batch in enumerate(sim.batches(BATCH_SIZE, until=until_ts, held_back=held_back), start=1):
        events, bad = parse_items(
            batch, received_at=now, batch_sent_at=None, default_type=None,
            max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region,
        )
        if bad:
            rejected += len({b["index"] for b in bad})
            rejections.extend({**b, "messageId": batch[b["index"]].get("messageId")}
                              for b in bad[: max(0, 10 - len(rejections))])
        if events:
            # A fresh result per batch: IngestResult keeps every profile id, which must not pile up.
            result = ingest(stores, workspace_id, events, now=now, result=IngestResult())
            accepted += result.accepted
            duplicates += result.duplicates
        sent += len(batch)
        if n_batch % PUMP_EVERY_BATCHES == 0:
            _pump_quietly(stores)
        if progress is not None:
            progress(sent)
    _pump_quietly(stores)
    summary = sim.summary()
    summary.accepted, summary.duplicates, summary.rejected = accepted, duplicates, rejected
    summary.rejections = rejections
    summary.seconds = time.perf_counter() - started
    return summary


def iter_messages(*, customers: int = 10_000, seed: int = 42, days: int = 90,
                  now: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """The demo's messages without ingesting them (to write them to a file, or to post them to a server)."""
    now = utc(now) or dt.datetime.now(dt.UTC)
    yield from Simulation(customers=customers, seed=seed, days=days, now=now).messages()


