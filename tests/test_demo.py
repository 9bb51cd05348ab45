"""The demo shop: realistic, deterministic, and stored through the real ingestion path."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from touchline.customers.service import view as get_profile
from touchline.demo import catalog
from touchline.demo.generator import DemoSummary, generate, iter_messages
from touchline.demo.run import summarize
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import identity_conflicts
from touchline.workspaces.service import workspace_id_by_name

NOW = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
CUSTOMERS = 300
FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")


@dataclass
class Demo:
    stores: Stores
    workspace_id: str
    summary: DemoSummary
    progress: list[int]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("demo")))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    progress: list[int] = []
    summary = generate(stores, workspace_id, customers=CUSTOMERS, seed=42, now=NOW, progress=progress.append)
    yield Demo(stores, workspace_id, summary, progress)
    stores.dispose()


@pytest.fixture(scope="module")
def messages() -> list[dict[str, Any]]:
    return list(iter_messages(customers=CUSTOMERS, seed=42, now=NOW))


def test_everything_is_accepted(demo: Demo) -> None:
    s = demo.summary
    assert s.rejected == 0, s.rejections
    assert s.customers == CUSTOMERS
    assert s.accepted == s.messages > CUSTOMERS * 20
    assert s.duplicates == 0
    assert demo.progress[-1] == s.messages and demo.progress == sorted(demo.progress)
    assert set(s.events_by_channel) == {"web", "app", "store", "chat"}
    assert set(s.preferred_channels) == {"web", "app", "store", "chat"}
    assert 0 < s.identified < s.customers  # some visitors never sign up


def test_stores_hold_what_was_sent(demo: Demo) -> None:
    stored = summarize(demo.stores, demo.workspace_id)
    assert stored["events"] == demo.summary.accepted
    assert stored["events_by_channel"] == demo.summary.events_by_channel
    assert stored["identified"] == demo.summary.identified
    # Anonymous visits were merged into the customers who later signed up.
    assert stored["merges"] > 0
    assert stored["identified"] < stored["profiles"] < demo.summary.customers * 1.5
    funnel = [stored["funnel"][step] for step in FUNNEL]
    assert funnel == sorted(funnel, reverse=True) and funnel[-1] == demo.summary.orders
    assert stored["sample_identifier"].startswith("email:")
    # E-mails, phones and Kakao ids are unique per person: no two customers claim one identifier.
    with demo.stores.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(identity_conflicts)).scalar_one() == 0


def test_a_customer_is_one_profile_across_devices_and_channels(demo: Demo) -> None:
    assert demo.summary.examples
    for identifier in demo.summary.examples[:3]:
        profile = get_profile(demo.stores, demo.workspace_id, identifier)
        kinds = Counter(i["kind"] for i in profile["identities"])
        assert {"user_id", "email", "anonymous_id"} <= set(kinds)
        assert kinds["anonymous_id"] >= 2  # browsed anonymously on two devices, then logged in on both
        assert profile["merged_profiles"]
        channels = {k for k, n in profile["stats"]["channels"].items() if n}
        assert len(channels) >= 2
        assert profile["user_id"] and profile["traits"]["email"] == identifier.removeprefix("email:")
        assert profile["timezone"] and profile["locale"] in ("ko-KR", "en-US")
        assert set(profile["consents"]) == {"email", "sms", "messenger", "push"}


def test_cart_abandonment_is_realistic(demo: Demo) -> None:
    s = demo.summary
    assert s.carts > 100
    assert 0.6 <= s.abandonment_rate <= 0.8
    assert s.orders == s.online_orders + s.store_orders and s.online_orders > 0 and s.store_orders > 0
    assert s.revenue > 0


def test_running_again_adds_nothing(demo: Demo) -> None:
    again = generate(demo.stores, demo.workspace_id, customers=CUSTOMERS, seed=42, now=NOW)
    assert again.accepted == 0
    assert again.duplicates == again.messages == demo.summary.messages
    assert again.rejected == 0


def test_generation_is_deterministic() -> None:
    first = list(iter_messages(customers=25, seed=7, now=NOW))
    assert first == list(iter_messages(customers=25, seed=7, now=NOW))
    # Person n is the same whatever the total, so a bigger run only adds people.
    assert first == list(iter_messages(customers=40, seed=7, now=NOW))[: len(first)]
    other = list(iter_messages(customers=25, seed=8, now=NOW))
    assert {m["messageId"] for m in first}.isdisjoint(m["messageId"] for m in other)


def test_messages_follow_the_segment_spec(messages: list[dict[str, Any]]) -> None:
    ids = [m["messageId"] for m in messages]
    assert len(set(ids)) == len(ids)
    start = NOW - dt.timedelta(days=90)
    for m in messages:
        assert m["type"] in ("track", "identify", "page", "screen")
        assert "sentAt" not in m
        assert m.get("userId") or m.get("anonymousId")
        when = dt.datetime.fromisoformat(m["timestamp"])
        assert m["timestamp"].endswith("Z") and start <= when <= NOW
        ctx = m["context"]
        channel = ctx["channel"]
        assert channel in ("web", "app", "store", "chat")
        if channel == "web":
            assert ctx["userAgent"].startswith("Mozilla/5.0")
        elif channel == "app":
            assert ctx["device"]["type"] in ("ios", "android") and ctx["device"]["id"]
            assert ctx["os"]["name"] in ("iOS", "Android")
        elif channel == "store":
            assert ctx["device"] == {"type": "pos"}  # a shared till must never become a person's identity
        if m["type"] == "track":
            assert m["event"]
        if m["type"] == "identify" and "name" in m["traits"]:
            traits = m["traits"]
            assert traits["email"].endswith(catalog.EMAIL_DOMAINS)
            assert traits["locale"] in ("ko-KR", "en-US") and traits["timezone"]
            assert set(traits["consent"]) == {"email", "sms", "messenger", "push"}
    names = Counter(m.get("event") or m["type"] for m in messages)
    for event in (*FUNNEL, "Products Searched", "Store Visited", "Chat Started", "Chat Message Sent", "Signed Up",
                  "page", "screen", "identify"):
        assert names[event] > 0, event
    seoul_hours = Counter((dt.datetime.fromisoformat(m["timestamp"]).hour + 9) % 24 for m in messages)
    assert sum(seoul_hours[h] for h in (20, 21, 22)) > 3 * sum(seoul_hours[h] for h in (3, 4, 5))


def test_orders_tie_to_carts(messages: list[dict[str, Any]]) -> None:
    added: dict[str, set[str]] = {}
    orders = 0
    repeat_buyers: Counter[str] = Counter()
    for m in messages:
        props = m.get("properties", {})
        if m.get("event") == "Product Added":
            added.setdefault(props["cart_id"], set()).add(props["product_id"])
            assert props["currency"] == "KRW" and isinstance(props["price"], int) and props["quantity"] >= 1
        elif m.get("event") == "Order Completed":
            orders += 1
            repeat_buyers[m["userId"]] += 1
            assert props["order_id"] and props["currency"] == "KRW"
            for key in ("revenue", "total", "subtotal", "discount", "tax"):
                assert isinstance(props[key], int), key
            assert props["subtotal"] == sum(p["price"] * p["quantity"] for p in props["products"])
            assert props["revenue"] == props["subtotal"] - props["discount"]
            assert props["total"] == props["revenue"] + props["shipping"]
            if m["context"]["channel"] == "store":
                assert props["store_id"].startswith("ST")
            else:
                # An online order buys a cart that was filled before (maybe on another device).
                assert props["cart_id"] in added
                assert {p["product_id"] for p in props["products"]} <= added[props["cart_id"]]
    assert orders > 0
    assert any(n >= 2 for n in repeat_buyers.values())


def test_catalog_is_bilingual_with_krw_prices() -> None:
    products = catalog.build_catalog()
    assert len(products) >= 200
    assert len({p.product_id for p in products}) == len({p.sku for p in products}) == len(products)
    assert {p.category.slug for p in products} == {c.slug for c in catalog.CATEGORIES}
    for p in products:
        assert isinstance(p.price, int) and catalog.MIN_PRICE <= p.price <= catalog.MAX_PRICE
        assert p.price % 100 == 0
        assert any("가" <= ch <= "힣" for ch in p.name) and p.name_en.isascii()
    prices = {p.price for p in products}
    assert min(prices) == 9_900 and max(prices) >= 1_000_000


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days"):
        next(iter_messages(customers=1, days=0, now=NOW))
    assert list(iter_messages(customers=0, now=NOW)) == []


@pytest.fixture(scope="module")
def inbox_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo shop of its own (its conversations add identifies: the event counts above stay exact)."""
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("demo-inbox")))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    summary = generate(stores, workspace_id, customers=200, seed=42)
    stores.pump()
    yield Demo(stores, workspace_id, summary, [])
    stores.dispose()


def test_the_demo_inbox_is_alive_on_every_channel(inbox_demo: Demo) -> None:
    """Agents, a team, and conversations on every channel from the demo's customers (with their orders),
    through the inbound endpoints; a second run adds nothing."""
    from fastapi.testclient import TestClient

    from touchline.app import create_app
    from touchline.conversations import service as conversations
    from touchline.demo.inbox import AGENTS, SCENARIOS, TEAM, open_inbox
    from touchline.web import auth
    from web_helpers import PASSWORD, sign_in

    stores, workspace_id = inbox_demo.stores, inbox_demo.workspace_id

    def make_app(clock: Any) -> Any:
        return create_app(stores=stores, run_pump=False, run_journeys=False, clock=clock)

    first = open_inbox(stores, workspace_id, make_app, seed=42)
    assert set(first.delivered) == {"chat", "sms", "whatsapp", "kakao", "email"}, first
    assert sum(first.delivered.values()) == len(SCENARIOS) and first.existing == 0
    rows = conversations.list_conversations(stores, workspace_id, status="all", limit=100)
    assert len(rows) == len(SCENARIOS)
    assert {r["status"] for r in rows} == {"open", "pending", "resolved"}
    assert any(r["tags"] for r in rows) and any(r["assignee_id"] for r in rows)
    assert any(r["assignee_id"] is None for r in rows)  # the evening's and e-mail wait for someone
    for row in rows:  # the demo's own customers, who signed up: not new contacts
        profile = get_profile(stores, workspace_id, row["profile_id"], timeline_limit=200)
        assert profile["user_id"], row
        assert any(e.get("event") == "Order Completed" for e in profile["timeline"]), row
    agents = {a["email"]: a for a in conversations.agents(stores, workspace_id)}
    assert {a.email for a in AGENTS} <= set(agents)
    team = next(t for t in conversations.teams(stores, workspace_id) if t["name"] == TEAM)
    assert team["auto_assign"] and len(team["members"]) == len(AGENTS)
    notes = [m for r in rows for m in conversations.messages(stores, workspace_id, r["id"], limit=50)
             if m["direction"] == "note"]
    assert notes
    # The resolved web chats asked for a rating; the customers who answered are CSAT answers.
    asked = [m for r in rows for m in conversations.messages(stores, workspace_id, r["id"], limit=50)
             if m.get("survey")]
    rated = sorted(m["rating"]["score"] for m in asked if m["rating"])
    assert rated == sorted(s.rating for s in SCENARIOS if s.rating is not None) and len(asked) > len(rated)
    ratings = conversations.stats(stores, workspace_id, min(r["created_at"] for r in rows) - dt.timedelta(days=1),
                                  dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))["ratings"]
    assert (ratings["asked"], ratings["answered"]) == (len(asked), len(rated))

    again = open_inbox(stores, workspace_id, make_app, seed=42)
    assert again.delivered == {} and again.existing == len(SCENARIOS)
    assert len(conversations.list_conversations(stores, workspace_id, status="all", limit=100)) == len(SCENARIOS)

    auth.create_user(stores, "boss@example.com", PASSWORD, "admin", name="Boss")
    with TestClient(create_app(stores=stores, run_pump=False, run_journeys=False)) as client:
        sign_in(client, "boss@example.com")
        inbox = client.get("/inbox?lang=en&status=all").text
        for label in ("Web chat", "SMS", "WhatsApp", "KakaoTalk", "E-mail"):
            assert f'<span class="badge">{label}</span>' in inbox, label
        assert "김지은" in inbox or "박민준" in inbox or "Emma Wilson" in inbox
        sms = next(r for r in rows if r["channel"] == "sms")
        panel = client.get(f"/inbox?lang=en&status=all&c={sms['id']}").text
        orders = panel.split("Recent orders")[1].split("</ul>")[0]
        assert "<li>" in orders and 'class="muted"' not in orders  # the customer panel shows their orders
        report = client.get("/inbox/report?lang=ko&days=30").text
        assert f'data-kpi="started">{len(SCENARIOS)}<' in report and "김지은" in report
        assert 'data-kpi="csat">100.0%<' in report and "<td class=\"num\" data-csat>100.0%" in report
