"""Issue 13: dirty data never breaks a report (both backends where a store is involved).

A tracking plan types the e-commerce properties at the edge; values stored before it (written here
straight into the event store) are read safely by every report and segment query; Hangul is NFC at the
edge; invalid e-mail and phone traits never replace valid ones; implausible times are refused or clamped."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dirty_helpers import DIRTY_VALUES, NUMERIC_RULES, raw_event, server_errors, store_raw
from segment_helpers import customers, python_members, sql_members
from support import basic, bearer
from touchline.analytics import service as analytics
from touchline.segments import parse
from touchline.segments.evaluate import _amount
from touchline.store.engines import Stores
from touchline.store.schema import events, profiles
from web_helpers import add_user, sign_in

NOW = dt.datetime.now(dt.UTC)


def _identify(client: TestClient, *users: str) -> dict[str, str]:
    batch = [{"type": "identify", "userId": u, "messageId": f"id-{u}", "traits": {"name": u}} for u in users]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    return {u: client.get(f"/v1/profiles/{u}", headers=bearer()).json()["id"] for u in users}


def _order_revenue(properties: Any) -> float | None:
    """What the reports count for an order: revenue, else total, each when it reads as an amount."""
    if not isinstance(properties, dict):
        return None
    found = _amount(properties.get("revenue"))
    return found if found is not None else _amount(properties.get("total"))


# --- reports never fail -------------------------------------------------------------------------------


def test_reports_and_segments_read_values_stored_before_the_plan(client: TestClient, stores: Stores,
                                                                 workspace_id: str) -> None:
    """Bad values written straight into the event store (as ingestion stored them before this change):
    every report, API analytics endpoint, dashboard page and segment query answers, counts what reads
    as an amount, and the SQL segments still agree with the Python evaluator."""
    users = [f"d{i}" for i in range(len(DIRTY_VALUES))]
    ids = _identify(client, "clean", "times", *users)
    stores.pump()
    day = NOW - dt.timedelta(days=3)
    rows = [raw_event(workspace_id, ids["clean"], "clean", "Order Completed", day, {"revenue": 59000}),
            raw_event(workspace_id, ids["clean"], "clean", "Product Added", day - dt.timedelta(hours=1),
                      {"cart_id": "c-clean", "price": 59000})]
    for user, value in zip(users, DIRTY_VALUES, strict=True):
        pid = ids[user]
        for k, name in enumerate(("revenue", "total", "price", "quantity")):
            props = {name: value, "cart_id": value, "currency": value, "products": value,
                     "order_id": value, "name": value}
            rows.append(raw_event(workspace_id, pid, user, "Order Completed", day + dt.timedelta(minutes=k), props,
                                  channel="app" if k % 2 else "web"))
        rows.append(raw_event(workspace_id, pid, user, "Product Added", day - dt.timedelta(minutes=5),
                              {"cart_id": value, "price": value, "products": [value, {"price": value}]}))
    # Times no sender should have sent, stored anyway: year 1, the epoch, a year far ahead.
    for at in (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
               dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC), NOW + dt.timedelta(days=400)):
        rows.append(raw_event(workspace_id, ids["times"], "times", "Order Completed", at, {"revenue": 1000}))
        rows.append(raw_event(workspace_id, ids["times"], "times", "Product Added", at, {"cart_id": "t"}))
    rows.append(raw_event(workspace_id, ids["clean"], "clean", None, day, {"revenue": "x"}))
    store_raw(stores, rows)
    # Traits as dirty as the properties, for the segments that read them.
    dirty_traits = {"d0": {"age": "abc", "points": [1], "name": {"a": 1}}, "d1": {"age": 1e300, "points": "12,000"},
                    "d2": {"age": True, "points": -1e308, "name": "한가람"}}
    with stores.write() as conn:
        for user, traits in dirty_traits.items():
            conn.execute(profiles.update().where(profiles.c.id == ids[user]).values(traits=traits, updated_at=NOW))
    stores.pump()

    # Services: each report answers, and the CLTV counts exactly the amounts that read as numbers.
    start, end = NOW - dt.timedelta(days=30), NOW
    expected = 59000 + sum(n for v in DIRTY_VALUES for n in [_order_revenue({"revenue": v})] if n is not None)
    cltv = analytics.cltv(stores, workspace_id, as_of=NOW)
    readable_total = [_order_revenue({"total": v}) for v in DIRTY_VALUES]
    expected += sum(n for n in readable_total if n is not None)
    expected += 2 * 1000  # the "times" customer's orders up to now: year 1 and 1970 (not 9999, not next year)
    assert math.isclose(cltv.revenue, round(expected, 2), rel_tol=1e-9, abs_tol=0.01), (cltv.revenue, expected)
    overview = analytics.overview(stores, workspace_id, start, end)
    assert overview.total.revenue >= 59000 and overview.total.orders == 1 + 4 * len(DIRTY_VALUES)
    analytics.cart_abandonment(stores, workspace_id, start, end)
    analytics.cross_channel(stores, workspace_id, dt.datetime(1, 1, 2, tzinfo=dt.UTC), end)
    analytics.retention_cohorts(stores, workspace_id, "week", None, None, start, end)
    analytics.retention_cohorts(stores, workspace_id, "month", "Order Completed", None, start, end)
    for breakdown in (None, "channel", "device_type", "first_touch_source"):
        analytics.funnel(stores, workspace_id, [analytics.Step("Product Added"), analytics.Step("Order Completed")],
                         dt.timedelta(days=7), start, end, breakdown)  # type: ignore[arg-type]
    analytics.top_paths(stores, workspace_id, "Product Added", "Order Completed")
    analytics.event_span(stores, workspace_id)

    # Segments: every numeric rule runs on the event store and agrees with the Python evaluator.
    everyone = customers(stores, workspace_id)
    for rule in NUMERIC_RULES:
        node = parse(rule)
        assert sql_members(stores, workspace_id, node, NOW) == python_members(everyone, node, NOW), rule
    buyers = sql_members(stores, workspace_id, parse(NUMERIC_RULES[0]), NOW)
    assert ids["clean"] in buyers and ids["d0"] not in buyers  # "59,000원" as stored is no amount...
    assert ids[users[DIRTY_VALUES.index("12000")]] in buyers  # ...but "12000" is

    # Every page and report over HTTP: no 5xx anywhere.
    add_user(stores, "m@example.com", "admin")
    sign_in(client, "m@example.com")
    created = client.post("/v1/segments", json={"name": "LTV", "definition": NUMERIC_RULES[0]}, headers=bearer())
    assert created.status_code in (200, 201), created.text
    assert server_errors(client, customers=["clean", "times", *users], segments=[created.json()["id"]]) == []


# --- the tracking plan ------------------------------------------------------------------------------------


def _payload(stores: Stores, workspace_id: str, message_id: str) -> dict[str, Any]:
    """The message as the event store keeps it."""
    with stores.events_conn() as conn:
        payload = conn.execute(sa.select(events.c.payload).where(events.c.workspace_id == workspace_id,
                                                                 events.c.message_id == message_id)).scalar_one()
    return payload if isinstance(payload, dict) else orjson.loads(payload)


def _order(user: str, message_id: str, properties: dict[str, Any], event: str = "Order Completed",
           **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "messageId": message_id, "properties": properties,
            "timestamp": (NOW - dt.timedelta(hours=1)).isoformat(), **extra}


def test_ecommerce_values_are_normalised_and_the_originals_kept(client: TestClient, stores: Stores,
                                                                workspace_id: str) -> None:
    """"59,000원" is 59000 KRW and "12,000" is 12000 in the stores, the reports and the segments; the
    stored message keeps what was sent."""
    batch = [
        _order("k1", "n-1", {"order_id": 1234, "revenue": "59,000원",
                             "products": [{"product_id": "knit-01", "price": "12,000", "quantity": "2"}]}),
        _order("k2", "n-2", {"order_id": " o-2 ", "revenue": "12,000", "currency": "krw", "coupon": ""}),
        _order("k3", "n-3", {"order_id": "o-3", "total": "", "revenue": 5000}, event="Order Completed"),
        {"type": "track", "userId": "k3", "event": "Custom Thing", "messageId": "n-4",
         "properties": {"revenue": "not typed: no plan for this event"}},
    ]
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 4, "duplicates": 0}
    stores.pump()

    first = _payload(stores, workspace_id, "n-1")
    assert first["properties"] == {"order_id": "1234", "revenue": 59000, "currency": "KRW",
                                   "products": [{"product_id": "knit-01", "price": 12000, "quantity": 2}]}
    assert first["_touchline"]["original"] == {
        "properties.order_id": 1234, "properties.revenue": "59,000원",
        "properties.products[0].price": "12,000", "properties.products[0].quantity": "2"}
    second = _payload(stores, workspace_id, "n-2")
    assert second["properties"] == {"order_id": "o-2", "revenue": 12000, "currency": "KRW", "coupon": ""}
    assert _payload(stores, workspace_id, "n-3")["properties"] == {"order_id": "o-3", "total": None, "revenue": 5000}
    assert "_touchline" not in _payload(stores, workspace_id, "n-4")  # not planned: stored as sent

    assert analytics.cltv(stores, workspace_id).revenue == 59000 + 12000 + 5000
    assert analytics.overview(stores, workspace_id, NOW - dt.timedelta(days=1), NOW).total.revenue == 76000
    rich = parse({"type": "computed", "field": "lifetime_value", "operator": ">=", "value": 12000})
    k1, k2 = (client.get(f"/v1/profiles/{u}", headers=bearer()).json()["id"] for u in ("k1", "k2"))
    assert sql_members(stores, workspace_id, rich, NOW) == {k1, k2}
    priced = parse({"type": "event", "event": "Order Completed",
                    "where": [{"property": "revenue", "operator": "=", "value": 59000}]})
    assert sql_members(stores, workspace_id, priced, NOW) == {k1}
    timeline = client.get("/v1/profiles/k1", headers=bearer()).json()["timeline"]
    assert timeline[0]["properties"]["revenue"] == 59000


def test_unreadable_values_are_flagged_or_rejected_per_workspace(client: TestClient, stores: Stores,
                                                                 workspace_id: str) -> None:
    """By default a message with a value that cannot be read is stored as sent, flagged (what was accepted
    before the plan stays accepted); a workspace set to "reject" refuses it with index, field and reason."""
    batch = [
        _order("r1", "u-1", {"revenue": 1000}),
        _order("r2", "u-2", {"revenue": "about 10k"}),
        _order("r3", "u-3", {"revenue": 1e20, "products": [{"price": True}, "knit"]}),
        _order("r4", "u-4", {"revenue": "$5"}),  # the shop sells in won: "$" is not its currency
    ]
    assert client.get("/v1/tracking-plan", headers=bearer()).json()["invalid_values"] == "flag"
    flagged = client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["accepted"] == 4
    assert flagged.json()["flagged"] == [
        {"index": 1, "field": "properties.revenue", "reason": "not a number: \"about 10k\""},
        {"index": 2, "field": "properties.revenue", "reason": "out of range (beyond ±2^53): 1e+20"},
        {"index": 2, "field": "properties.products[0].price", "reason": "not a number: true"},
        {"index": 2, "field": "properties.products[1]", "reason": "not an object: \"knit\""},
        {"index": 3, "field": "properties.revenue",
         "reason": "ambiguous currency symbol (send the currency property): \"$5\""},
    ]
    stores.pump()
    stored = _payload(stores, workspace_id, "u-3")
    assert stored["properties"]["revenue"] == 1e20  # as sent, flagged
    assert [f["field"] for f in stored["_touchline"]["flags"]] == [
        "properties.revenue", "properties.products[0].price", "properties.products[1]"]
    assert analytics.cltv(stores, workspace_id).revenue == 1000  # the readable order only

    setting = client.put("/v1/tracking-plan/settings", json={"invalid_values": "reject"}, headers=bearer())
    assert setting.status_code == 200
    rejected = client.post("/v1/batch", json={"batch": [{**m, "messageId": m["messageId"] + "r"} for m in batch]},
                           headers=basic())
    assert rejected.status_code == 400
    assert rejected.json()["accepted"] == 1
    assert rejected.json()["detail"] == flagged.json()["flagged"]
    stores.pump()
    assert analytics.cltv(stores, workspace_id).revenue == 2000

    listed = client.get("/v1/tracking-plan/violations", headers=bearer()).json()["violations"]
    seen = {(v["event"], v["field"], v["reason"]): (v["rejected"], v["flagged"], v["example"]) for v in listed}
    assert seen[("Order Completed", "properties.revenue", "not a number")] == (1, 1, '"aaaaa 99a"')
    assert seen[("Order Completed", "properties.products[].price", "not a number")] == (1, 1, "true")
    assert seen[("Order Completed", "properties.revenue", "out of range (beyond ±2^53)")] == (1, 1, "9e+99")
    assert client.put("/v1/tracking-plan/settings", json={"invalid_values": "maybe"},
                      headers=bearer()).status_code == 422


def test_csv_import_of_a_korean_excel_export(stores: Stores, workspace_id: str, tmp_path: Any) -> None:
    """Every Korean Excel export writes "12,000" (and cp949): the import reads the amounts, and a cell that
    is no amount is reported with its line and field."""
    from touchline.ingest import quality
    from touchline.ingest.importer import import_file

    quality.set_invalid_values(stores, workspace_id, "reject")  # rows that cannot be read go to --rejects
    at = (NOW - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+09:00")
    rows = ["event,userId,properties.order_id,properties.revenue,properties.currency,timestamp",
            f"Order Completed,x1,A-1,\"12,000\",KRW,{at}",
            f"Order Completed,x2,A-2,\"59,000원\",,{at}",
            f"Order Completed,x3,A-3,\"1,234,500\",원,{at}",
            f"Order Completed,x4,A-4,약 만원,KRW,{at}"]
    path = tmp_path / "orders.csv"
    path.write_bytes("\r\n".join(rows).encode("cp949"))
    report = import_file(stores, workspace_id, path, encoding="cp949")
    assert (report.rows, report.accepted) == (4, 3)
    assert [(r.line, r.field, r.reason) for r in report.rejected] == [
        (5, "properties.revenue", "not a number: \"약 만원\"")]
    stores.pump()
    assert analytics.cltv(stores, workspace_id).revenue == 12000 + 59000 + 1234500
    assert analytics.overview(stores, workspace_id, NOW - dt.timedelta(days=3), NOW).total.revenue == 1305500


def test_declared_event_types_through_api_cli_and_dashboard(client: TestClient, stores: Stores,
                                                            workspace_id: str) -> None:
    from typer.testing import CliRunner

    from touchline.cli.main import app

    strict = client.put("/v1/tracking-plan/settings", json={"invalid_values": "reject"}, headers=bearer())
    assert strict.status_code == 200
    declared = client.put("/v1/tracking-plan/events/Gift Card Purchased", headers=bearer(), json={
        "properties": {"amount": {"type": "money", "required": True}, "card_id": "id", "gift": "boolean"}})
    assert declared.status_code == 200, declared.text
    assert declared.json()["properties"]["amount"] == {"type": "money", "required": True}
    bad = client.put("/v1/tracking-plan/events/X", headers=bearer(), json={"properties": {"a": "float", "b.c": "id"}})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["detail"]} == {"properties.a", "properties.b.c"}

    batch = [_order("g1", "g-1", {"amount": "10,000원", "card_id": 77, "gift": "true"}, event="Gift Card Purchased"),
             _order("g2", "g-2", {"card_id": "c-2"}, event="Gift Card Purchased"),
             _order("g3", "g-3", {"amount": "ten", "gift": "yes"}, event="Gift Card Purchased")]
    answer = client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert answer.status_code == 400
    assert answer.json()["detail"] == [
        {"index": 1, "field": "properties.amount", "reason": "missing (required by the tracking plan)"},
        {"index": 2, "field": "properties.amount", "reason": "not a number: \"ten\""},
        {"index": 2, "field": "properties.gift", "reason": "not true or false: \"yes\""},
    ]
    stores.pump()
    assert _payload(stores, workspace_id, "g-1")["properties"] == {"amount": 10000, "card_id": "77", "gift": True,
                                                                   "currency": "KRW"}

    settings = stores.settings
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    runner = CliRunner()
    stores.dispose()  # the CLI opens the embedded event store itself
    made = runner.invoke(app, ["plan", "declare", "Store Visited", "store_id=id!", "minutes=integer"], env=env)
    assert made.exit_code == 0, made.output
    wrong = runner.invoke(app, ["plan", "declare", "Store Visited", "store_id=uuid"], env=env)
    assert wrong.exit_code == 1 and "type must be one of" in wrong.output
    shown = orjson.loads(runner.invoke(app, ["plan", "show", "--json"], env=env).stdout)
    assert [e["event"] for e in shown["events"]] == ["Gift Card Purchased", "Store Visited"]
    assert shown["events"][1]["properties"]["store_id"] == {"type": "id", "required": True}
    listed = orjson.loads(runner.invoke(app, ["plan", "violations", "--json"], env=env).stdout)
    assert {(v["event"], v["field"]) for v in listed} >= {("Gift Card Purchased", "properties.amount"),
                                                          ("Gift Card Purchased", "properties.gift")}
    assert runner.invoke(app, ["plan", "invalid-values", "flag"], env=env).exit_code == 0
    assert client.get("/v1/tracking-plan", headers=bearer()).json()["invalid_values"] == "flag"
    stores.tracking_plans.clear()  # what the server's cache does within PLAN_TTL seconds
    visit = client.post("/v1/track", headers=basic(), json={"userId": "g4", "event": "Store Visited",
                                                             "messageId": "sv-1", "properties": {"minutes": "a lot"}})
    assert visit.status_code == 200 and [f["field"] for f in visit.json()["flagged"]] == [
        "properties.minutes", "properties.store_id"]
    stores.pump()

    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    page = client.get("/data-quality?lang=ko")
    assert page.status_code == 200
    assert "데이터 품질" in page.text and "정수가 아님" not in page.text and "숫자가 아님" in page.text
    assert 'data-event="Gift Card Purchased" data-field="properties.amount"' in page.text
    assert 'data-event="Store Visited" data-field="properties.minutes"' in page.text
    assert 'data-invalid-values="flag"' in page.text and "Store Visited" in page.text
    english = client.get("/data-quality?lang=en").text
    assert "Recent violations" in english and "missing (required by the tracking plan)" in english
    assert client.delete("/v1/tracking-plan/events/Store Visited", headers=bearer()).status_code == 200
    assert client.delete("/v1/tracking-plan/events/Store Visited", headers=bearer()).status_code == 404


# --- Unicode, traits, times ---------------------------------------------------------------------------------

DECOMPOSED = "\u1112\u1161\u11ab\u1100\u1161\u1105\u1161\u11b7"  # 한가람 as a Mac writes it (jamo)


def test_hangul_is_nfc_at_the_edge(client: TestClient, stores: Stores, workspace_id: str) -> None:
    assert DECOMPOSED != "한가람" and len(DECOMPOSED) == 8
    batch = [{"type": "identify", "userId": "mac", "messageId": "h-1",
              "traits": {"name": DECOMPOSED, "address": {"city": "서울특별시"}}},
             {"type": "track", "userId": "mac", "event": "Product Viewed", "messageId": "h-2",
              "properties": {"name": DECOMPOSED + " 니트", "brand": DECOMPOSED}},
             {"type": "identify", "userId": "pc", "messageId": "h-3", "traits": {"name": "한가람"}}]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    mac, pc = (client.get(f"/v1/profiles/{u}", headers=bearer()).json() for u in ("mac", "pc"))
    assert mac["traits"]["name"] == "한가람"
    assert _payload(stores, workspace_id, "h-2")["properties"]["brand"] == "한가람"
    now = dt.datetime.now(dt.UTC)
    for written in ("한가람", DECOMPOSED):  # a rule typed on a Mac matches too
        by_trait = parse({"type": "trait", "trait": "name", "operator": "=", "value": written})
        assert sql_members(stores, workspace_id, by_trait, now) == {mac["id"], pc["id"]}
        assert python_members(customers(stores, workspace_id), by_trait, now) == {mac["id"], pc["id"]}
        by_property = parse({"type": "event", "event": "Product Viewed",
                             "where": [{"property": "brand", "operator": "=", "value": written}]})
        assert sql_members(stores, workspace_id, by_property, now) == {mac["id"]}
    found = client.get("/v1/profiles", params={"q": DECOMPOSED}, headers=bearer()).json()
    assert {p["id"] for p in found["profiles"]} == {mac["id"], pc["id"]}


def test_an_invalid_email_or_phone_never_overwrites_a_valid_trait(client: TestClient, stores: Stores) -> None:
    first = {"type": "identify", "userId": "t1", "messageId": "t-1",
             "timestamp": (NOW - dt.timedelta(days=1)).isoformat(),
             "traits": {"email": "Jieun@Example.com", "phone": "010-1234-5678"}}
    assert client.post("/v1/identify", json=first, headers=basic()).status_code == 200
    later = {"type": "identify", "userId": "t1", "messageId": "t-2", "timestamp": NOW.isoformat(),
             "traits": {"email": "jieun at example", "phone": "12", "name": "지은"}}
    answer = client.post("/v1/identify", json=later, headers=basic())
    assert answer.status_code == 200
    assert answer.json()["flagged"] == [
        {"index": 0, "field": "traits.email", "reason": "not an e-mail address: not applied: \"jieun at example\""},
        {"index": 0, "field": "traits.phone", "reason": "not a phone number: not applied: \"12\""}]
    odd = {"type": "identify", "userId": "t1", "messageId": "t-3", "timestamp": NOW.isoformat(),
           "traits": {"email": {"work": "x@example.com"}, "phone": True}}
    assert client.post("/v1/identify", json=odd, headers=basic()).status_code == 200
    profile = client.get("/v1/profiles/t1", headers=bearer()).json()
    assert profile["traits"]["email"] == "jieun@example.com" and profile["traits"]["phone"] == "+821012345678"
    assert profile["traits"]["name"] == "지은"  # the rest of the message applies
    assert client.get("/v1/profiles/email:jieun@example.com", headers=bearer()).json()["id"] == profile["id"]
    stores.pump()
    listed = client.get("/v1/tracking-plan/violations", headers=bearer()).json()["violations"]
    assert {(v["event"], v["field"], v["flagged"]) for v in listed} == {("identify", "traits.email", 2),
                                                                        ("identify", "traits.phone", 2)}


def test_implausible_timestamps_are_refused_or_clamped(client: TestClient, stores: Stores,
                                                       workspace_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    batch = [
        {"type": "track", "userId": "c1", "event": "Order Completed", "messageId": "ts-1",
         "timestamp": "0001-01-01T00:00:00Z", "properties": {"revenue": 1}},
        {"type": "track", "userId": "c1", "event": "Order Completed", "messageId": "ts-2", "timestamp": 0},
        {"type": "track", "userId": "c1", "event": "Order Completed", "messageId": "ts-3",
         "timestamp": "2999-01-01T00:00:00Z", "properties": {"revenue": 3}},
        {"type": "track", "userId": "c1", "event": "Product Viewed", "messageId": "ts-4",
         "timestamp": (now + dt.timedelta(minutes=2)).isoformat()},  # a clock a little ahead: kept
        # a device clock 30 years behind, corrected by sentAt as Segment does: kept at the true time
        {"type": "track", "userId": "c1", "event": "Product Viewed", "messageId": "ts-5",
         "timestamp": "1995-01-01T00:00:00Z", "sentAt": "1995-01-01T00:00:10Z"},
    ]
    answer = client.post("/v1/batch", json={"batch": batch}, headers=basic())
    assert answer.status_code == 400
    assert answer.json()["detail"] == [
        {"index": 0, "field": "timestamp",
         "reason": "0001-01-01T00:00:00+00:00 is before 1990-01-01: not a plausible event time"},
        {"index": 1, "field": "timestamp",
         "reason": "1970-01-01T00:00:00+00:00 is before 1990-01-01: not a plausible event time"},
    ]
    assert answer.json()["accepted"] == 3
    stores.pump()
    with stores.events_conn() as conn:
        stored = {r.message_id: r for r in conn.execute(
            sa.select(events.c.message_id, events.c.timestamp, events.c.original_timestamp, events.c.received_at)
            .where(events.c.workspace_id == workspace_id))}
    clamped = stored["ts-3"]
    assert clamped.timestamp == clamped.received_at and clamped.original_timestamp.year == 2999
    assert _payload(stores, workspace_id, "ts-3")["_touchline"]["flags"] == [
        {"field": "timestamp", "reason": "in the future: stored at the time received: \"2999-01-01T00:00:00+00:00\""}]
    assert stored["ts-4"].timestamp > stored["ts-4"].received_at  # within the tolerance: as sent
    assert abs(stored["ts-5"].timestamp - stored["ts-5"].received_at) < dt.timedelta(minutes=1)
    assert analytics.cltv(stores, workspace_id).revenue == 3  # the clamped order happened when it arrived


def test_migration_11_adds_the_setting_to_an_existing_store(stores: Stores) -> None:
    from touchline.store.migrations import STATE_MIGRATIONS, schema_versions, upgrade
    from touchline.store.schema import event_types, tracking_violations, workspaces

    with stores.state.begin() as conn:
        event_types.drop(conn)
        tracking_violations.drop(conn)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ALTER TABLE workspaces DROP COLUMN invalid_values")
        else:
            conn.exec_driver_sql("ALTER TABLE workspaces DROP COLUMN invalid_values")
        conn.execute(schema_versions.update().where(schema_versions.c.store == "state").values(version=6))
    assert upgrade(stores)["state"] == (6, STATE_MIGRATIONS[-1].version) and STATE_MIGRATIONS[-1].version >= 11
    with stores.state.begin() as conn:
        assert "invalid_values" in {c["name"] for c in sa.inspect(conn).get_columns("workspaces")}
        assert set(conn.execute(sa.select(workspaces.c.invalid_values)).scalars()) == {"flag"}
        assert {"event_types", "tracking_violations"} <= set(sa.inspect(conn).get_table_names())
