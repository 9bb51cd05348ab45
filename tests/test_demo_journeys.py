"""The demo's journeys on a simulated clock: on both backends, every journey runs on the generated
shop, the engine's rules hold (quiet hours, one message per run, step and channel, coupon only for
carts not bought), and conversions come from what the simulated customers did."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from touchline.cli._common import console
from touchline.cli.main import app
from touchline.demo import catalog
from touchline.demo.generator import iter_messages
from touchline.demo.run import journey_report
from touchline.demo.simulate import JOURNEYS, RESPONSES, Responder, definitions, install, message_templates, run
from touchline.journeys.definition import parse
from touchline.journeys.triggers import distance_m
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import events, journey_runs, outbox, profiles

NOW = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
CUSTOMERS = 250
IDS = ("abandoned-cart", "welcome-series", "win-back", "new-store-yeouido", "review-request")


def _orders(stores: Stores, workspace_id: str) -> dict[str, list[dt.datetime]]:
    """cart_id -> times of the orders of that cart (from the event log)."""
    out: dict[str, list[dt.datetime]] = {}
    with stores.events_conn() as econn:
        for at, props in econn.execute(sa.select(events.c.timestamp, events.c.properties).where(
                events.c.workspace_id == workspace_id, events.c.event == "Order Completed")):
            if props and props.get("cart_id"):
                out.setdefault(props["cart_id"], []).append(at)
    return out


def test_journeys_run_on_the_simulated_clock(stores: Stores, workspace_id: str) -> None:
    summary, replay = run(stores, workspace_id, customers=CUSTOMERS, seed=42, now=NOW, simulated_days=14)
    start = NOW - dt.timedelta(days=14)
    assert summary.rejected == replay.rejected == 0, replay.rejections
    assert tuple(replay.journeys) == IDS
    assert replay.steps == 14 * 24 and replay.start == start and replay.end == NOW
    assert replay.replayed > 0 and replay.answers > 0 and replay.accepted == replay.replayed + replay.answers

    report = {j["journey_id"]: j for j in journey_report(stores, workspace_id, list(IDS))}
    for journey_id, j in report.items():
        assert j["entered"] > 0, journey_id
        assert j["failed"] == 0, journey_id
    for journey_id in ("abandoned-cart", "welcome-series", "new-store-yeouido", "review-request"):
        assert sum(report[journey_id]["sent"].values()) > 0, journey_id
    # Suppressions are part of the story: customers without marketing consent on any reachable channel.
    assert sum(n for j in report.values() for n in j["suppressed"].values()) > 0
    cart = report["abandoned-cart"]
    assert cart["converted"] > 0 and cart["holdout"] > 0 and cart["lift"] is not None
    low, high = cart["lift_interval"]
    assert low <= cart["lift"] <= high

    with stores.read() as conn:
        runs = [dict(r) for r in conn.execute(sa.select(journey_runs).where(
            journey_runs.c.workspace_id == workspace_id)).mappings()]
        sent = [dict(r) for r in conn.execute(
            sa.select(outbox.c.id, outbox.c.run_id, outbox.c.node_id, outbox.c.channel, outbox.c.kind,
                      outbox.c.status, outbox.c.sent_at, outbox.c.created_at, outbox.c.journey_id,
                      outbox.c.customer_id)
            .where(outbox.c.workspace_id == workspace_id)).mappings()]
        zones = dict(conn.execute(sa.select(profiles.c.id, profiles.c.timezone)).all())
        merged = dict(conn.execute(sa.select(profiles.c.id, profiles.c.merged_into)).all())
    assert len(runs) == sum(j["entered"] for j in report.values())
    # Every run entered on the simulated clock, after the journeys were published.
    assert all(start - dt.timedelta(hours=1) <= r["entered_at"] <= NOW for r in runs)

    # No (run, step, channel) was sent twice; the holdout heard nothing.
    keys = [(m["run_id"], m["node_id"], m["channel"]) for m in sent if m["status"] == "sent"]
    assert len(keys) == len(set(keys)) > 0
    held = {r["run_id"] for r in runs if r["holdout"]}
    assert held and not any(m["run_id"] in held for m in sent)

    # Nobody got advertising in quiet hours (21:00-08:00) in their own time zone.
    def local_hour(m: dict[str, Any]) -> int:
        cid = m["customer_id"]
        while merged.get(cid):
            cid = merged[cid]
        return int(m["sent_at"].astimezone(ZoneInfo(zones.get(cid) or "Asia/Seoul")).hour)

    ads = [m for m in sent if m["status"] == "sent" and m["kind"] == "advertising"]
    assert ads and all(8 <= local_hour(m) < 21 for m in ads)
    assert {m["channel"] for m in ads} >= {"email", "push"}

    # The coupon went only to carts not bought by then; every converted cart run was bought.
    orders = _orders(stores, workspace_id)
    cart_runs = {r["run_id"]: r for r in runs if r["journey_id"] == "abandoned-cart"}
    coupons = [m for m in sent if m["journey_id"] == "abandoned-cart" and m["node_id"] == "coupon"]
    assert coupons
    for m in coupons:
        cart_id = cart_runs[m["run_id"]]["state"]["trigger"]["cart_id"]
        assert not any(at <= m["created_at"] for at in orders.get(cart_id, [])), cart_id
    converted = [r for r in cart_runs.values() if r["status"] == "converted"]
    # The report's conversions are each group's own, beside its rate: the treated runs', the holdout's.
    assert len([r for r in converted if not r["holdout"]]) == cart["converted"] > 0
    assert len([r for r in converted if r["holdout"]]) == cart["holdout_converted"]
    assert cart["rate"] == round(cart["converted"] / (cart["entered"] - cart["holdout"]), 4)
    for r in converted:
        bought = orders.get(r["state"]["trigger"]["cart_id"], [])
        assert any(r["entered_at"] - dt.timedelta(hours=1) <= at <= r["converted_at"] for at in bought)
    # Some of those orders were customers answering the reminder or the coupon.
    answered = {m["run_id"] for m in sent if m["journey_id"] == "abandoned-cart" and m["status"] == "sent"}
    assert any(r["run_id"] in answered for r in converted)

    # Waits ran on the simulated clock: a reminder no sooner than an hour after entering, a review
    # request no sooner than a week after the order.
    # (A send node's entered step is its message: engine.entered_steps.)
    reminded = [m for m in sent if m["journey_id"] == "abandoned-cart" and m["node_id"] == "reminder"]
    assert reminded and all(m["created_at"] - cart_runs[m["run_id"]]["entered_at"] >= dt.timedelta(hours=1)
                            for m in reminded)
    review_runs = {r["run_id"]: r for r in runs if r["journey_id"] == "review-request"}
    asked = [m for m in sent if m["node_id"] == "ask" and m["run_id"] in review_runs]
    assert asked and all(m["created_at"] - review_runs[m["run_id"]]["entered_at"] >= dt.timedelta(days=7)
                         for m in asked)

    # The win-back e-mail carries "for you" products: the model was trained as the journeys started. A buyer
    # gets their own (none they already bought, unless food or beauty), someone with no history the fallback.
    from touchline.journeys.preview import preview

    with stores.read() as conn:
        buyer = conn.execute(sa.select(profiles.c.user_id).where(
            profiles.c.id == next(iter(review_runs.values()))["customer_id"])).scalar_one()
    shown = preview(stores, workspace_id, "winback-coupon", "email", identifier=f"user_id:{buyer}")["content"]
    assert "고객님을 위해 고른 상품" in shown["html"] or "Picked for you" in shown["html"]
    assert shown["html"].count("<li>") == 3  # each a tracked link to the product
    assert shown["text"].count("https://www.haru-market.example/products/P") == 3

    # Installing again (a second demo run) keeps what is there.
    again, _ = install(stores, workspace_id, now=NOW)
    assert tuple(again) == IDS


def test_the_shipped_journeys_and_templates_fit_together() -> None:
    raws = definitions()
    assert [r["id"] for r in raws] == list(IDS) and len(JOURNEYS) == len(IDS)
    templates = message_templates()
    used = set()
    for raw in raws:
        d = parse(raw)
        used |= {n.template for n in d.nodes if getattr(n, "template", None)}
        assert d.goal is not None
    assert used == set(templates) == set(RESPONSES)
    for key, variants in templates.items():
        assert set(variants) == {"ko", "en"}, key
        assert any("가" <= ch <= "힣" for ch in variants["ko"]["title"]) and variants["en"]["title"].isascii(), key
    fence = parse(raws[3]).trigger
    assert fence.type == "geofence_entered" and fence.stores[0].id == catalog.NEW_STORE.store_id


def test_the_generator_feeds_the_journeys() -> None:
    messages = list(iter_messages(customers=CUSTOMERS, seed=42, now=NOW))
    fixes = [m["properties"] for m in messages if m.get("event") == "Location Updated"]
    near = [p for p in fixes if distance_m(p["latitude"], p["longitude"], catalog.NEW_STORE_LAT,
                                           catalog.NEW_STORE_LON) <= catalog.NEW_STORE_RADIUS_M]
    assert fixes and 0 < len(near) < len(fixes) / 2
    preferred = {m["traits"]["preferred_channel"] for m in messages
                 if m["type"] == "identify" and "preferred_channel" in m.get("traits", {})}
    assert preferred == {"push", "email", "sms", "messenger"}


def test_answers_are_deterministic_and_follow_the_message() -> None:
    sent_at = dt.datetime(2025, 5, 20, 2, 0, tzinfo=dt.UTC)  # 11:00 in Seoul
    product = catalog.build_catalog()[0]
    rows = [{"id": f"m{i}", "template": "cart-reminder", "user_id": "u1", "channel": "push",
             "journey_id": "abandoned-cart", "locale": "ko-KR", "timezone": "Asia/Seoul", "sent_at": sent_at,
             "context": {"event": {**product.props, "quantity": 1, "cart_id": f"cart_{i}"}}} for i in range(200)]
    first = [Responder(7, set()).answer(r) for r in rows]
    assert first == [Responder(7, set()).answer(r) for r in rows]
    answered = [a for a in first if a]
    assert 0.05 < len(answered) / len(rows) < 0.3  # the reminder's answer rate, about 14%
    for answer in answered:
        names = [m["event"] for _, m in answer]
        assert names[-1] == "Order Completed" and "Checkout Started" in names
        t, order = answer[-1]
        assert t > sent_at.timestamp()
        assert 8 <= dt.datetime.fromtimestamp(answer[0][0], ZoneInfo("Asia/Seoul")).hour < 24
        assert order["properties"]["products"][0]["product_id"] == product.product_id
        assert order["context"]["campaign"]["name"] == "abandoned-cart"
    # A cart the history buys anyway is not bought a second time.
    row = rows[answered and first.index(answered[0])]
    assert Responder(7, {row["context"]["event"]["cart_id"]}).answer(row) == []


def test_the_command_prints_the_journeys(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)  # wide enough that no journey id wraps in the table
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    result = CliRunner().invoke(app, ["demo", "--customers", "60", "--days", "30", "--simulate-days", "2"], env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Journeys (simulated clock)" in out and "not delivered" in out
    for journey_id in IDS:
        assert journey_id in out
    assert "touchline journeys stats abandoned-cart" in out and "/v1/journeys/abandoned-cart/stats" in out
    assert re.search(r"assistant FAQ entries[\s│]+46 \(46 added\)", out), out  # the seed FAQ, loaded
    bad = CliRunner().invoke(app, ["demo", "--customers", "5", "--days", "3", "--simulate-days", "3"], env=env)
    assert bad.exit_code == 2


def test_try_it_commands_paste_whole_on_a_narrow_terminal(settings: Settings,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """80 columns: the suggested commands are printed on lines of their own, not broken or boxed, so that
    copying one from the terminal gives a command that runs."""
    monkeypatch.setattr(console, "width", 80)
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    result = CliRunner().invoke(app, ["demo", "--customers", "30", "--days", "20", "--simulate-days", "1"], env=env)
    assert result.exit_code == 0, result.output
    tail = result.stdout[result.stdout.index("Try it"):].splitlines()
    commands = [line.strip() for line in tail if line.startswith("  ")]
    assert commands[0].startswith("export WRITE_KEY=tlw_") and commands[1].startswith("export ADMIN_TOKEN=tla_")
    assert "touchline serve &" in commands
    curls = [c for c in commands if c.startswith("curl ")]
    assert len(curls) == 6 and all(len(c) > 80 for c in curls)  # longer than the terminal, still one line
    assert re.fullmatch(r'curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" http://127\.0\.0\.1:8000/v1/profiles/'
                        r"\S+:\S+", curls[0]), curls[0]
    assert curls[1].endswith("/v1/assistant/answer") and "배송비" in curls[1], curls[1]
    assert re.fullmatch(r'curl -s -u "\$WRITE_KEY:" http://127\.0\.0\.1:8000/v1/loyalty/programs/members/customers/'
                        r"\S+:\S+", curls[2]), curls[2]
    assert re.fullmatch(r"""curl -s -u "\$WRITE_KEY:" 'http://127\.0\.0\.1:8000/v1/inapp/messages\?user=user_id:\S+'""",
                        curls[3]), curls[3]
    assert not any(mark in "\n".join(tail) for mark in "│╭╰")  # no box to copy along
