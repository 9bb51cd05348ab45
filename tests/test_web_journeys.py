"""The dashboard's Journeys and Messages pages over HTTP, on both backends: a journey created, checked,
published, paused and resumed through forms; the runner driven with a clock; the graph, the delivery
log and the customer page read back. The same pages in Chromium: test_web_journeys_browser.py."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from journey_helpers import ABANDONED_CART
from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.web import graph
from touchline.web.i18n import Formatter, choose_locale
from touchline.web.journey_pages import STARTER, locate, read_definition
from web_helpers import add_user, sign_in

# Two days ago at 11:00 in Seoul: outside quiet hours, inside the Messages page's default 30 days.
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)

TEMPLATE = {"default_locale": "ko", "variants": {
    "ko": {"subject": "{{ profile.traits.name }}님, 장바구니를 잊으셨어요", "html": "<p>{{ cart.product }}</p>"},
    "en": {"subject": "{{ profile.traits.name }}, you left something", "html": "<p>{{ cart.product }}</p>"}}}


def journey_yaml(**changes: Any) -> str:
    d = copy.deepcopy(ABANDONED_CART)
    d.update({"holdout_percent": 0, **changes})
    d.pop("version", None)
    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)


def _templates(client: TestClient) -> None:
    for key in ("cart-reminder", "cart-coupon-10"):
        assert client.put(f"/v1/templates/{key}/email", json=TEMPLATE, headers=bearer()).status_code == 200


def _shoppers(client: TestClient) -> None:
    """u1 may get e-mail, u5 did not consent: both leave a cart at T0."""
    batch = []
    for user, consent in (("u1", True), ("u5", False)):
        batch += [
            {"type": "identify", "userId": user, "messageId": f"i-{user}", "timestamp": (T0 - dt.timedelta(minutes=5))
             .isoformat(), "traits": {"name": f"고객{user}", "email": f"{user}@example.com", "locale": "ko-KR",
                                     "consent": {"email": consent}}},
            {"type": "track", "userId": user, "event": "Product Added", "messageId": f"a-{user}",
             "timestamp": T0.isoformat(), "properties": {"cart_id": f"c-{user}", "product": "키보드", "price": 99000}},
        ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200


def _runner(stores: Stores) -> tuple[Runner, MemoryChannel]:
    email = MemoryChannel("email")
    return Runner(stores, outbox=Outbox(stores, channels={"email": email})), email


def test_create_validate_publish_pause_and_read_the_graph(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    _templates(client)
    csrf = sign_in(client, "m@example.com")

    new = client.get("/journeys/new")
    assert new.status_code == 200 and "Welcome series" in new.text and 'name="csrf_token"' in new.text

    # Syntax errors name the line and column; structural ones the JSON pointer of the field.
    broken = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "validate",
                                            "definition": "id: x\nnodes: [\n  - a: b"})
    assert broken.status_code == 422 and re.search(r"<code>line \d+, column \d+</code>", broken.text)
    wrong = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "save",
                                           "definition": journey_yaml(start="nowhere")})
    assert wrong.status_code == 422 and "<code>/start</code>" in wrong.text and "nowhere" in wrong.text
    start_line = journey_yaml(start="nowhere").splitlines().index("start: nowhere") + 1
    assert f"<code>/start</code> <span class=\"line\">(line {start_line})</span>" in wrong.text
    bad_json = client.post("/journeys", data={"csrf_token": csrf, "format": "json", "action": "validate",
                                              "definition": '{"id": "x",}'})
    assert bad_json.status_code == 422 and "<code>line 1, column 12</code>" in bad_json.text
    missing = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "validate",
                                             "definition": journey_yaml().replace("cart-coupon-10", "no-such")})
    assert missing.status_code == 422 and "no message template with key &#39;no-such&#39;" in missing.text

    good = journey_yaml()
    checked = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "validate",
                                             "definition": good})
    assert checked.status_code == 200 and "The definition is valid: 7 steps." in checked.text
    assert client.post("/journeys", data={"format": "yaml", "action": "save", "definition": good}).status_code == 403
    saved = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "save",
                                           "definition": good}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/journeys/abandoned-cart?")
    page = client.get(saved.headers["location"])
    assert "Journey saved as version 1." in page.text and "Publish version 1" in page.text

    assert client.post("/journeys/abandoned-cart/publish", data={}).status_code == 403
    published = client.post("/journeys/abandoned-cart/publish", data={"csrf_token": csrf})
    assert "Journey published." in published.text and 'st-published">published<' in published.text
    assert client.get("/v1/journeys/abandoned-cart", headers=bearer()).json()["status"] == "published"

    _shoppers(client)
    runner, email = _runner(stores)
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    assert len(email.messages) == 1

    page = client.get("/journeys/abandoned-cart").text
    assert 'data-stat="entered">2<' in page and 'data-stat="active">2<' in page
    # The graph: one box per step, with its counts.
    reminder = _box(page, "reminder")
    assert _count(reminder, "entered") == "2" and _count(reminder, "sent") == "1"
    assert _count(reminder, "suppressed") == "1" and "no consent" in reminder
    assert _count(_box(page, "wait_a_day"), "waiting") == "2"
    assert _count(_box(page, graph.TRIGGER), "entered") == "2"
    assert "timeout · 2" in page  # the edge the two runs took out of the first wait
    assert '<tr data-step="reminder">' in page

    # An order converts u1's run; the graph says where.
    order = {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "o-u1",
             "timestamp": (T0 + dt.timedelta(hours=2)).isoformat(), "properties": {"cart_id": "c-u1"}}
    assert client.post("/v1/batch", json={"batch": [order]}, headers=basic()).status_code == 200
    runner.tick(T0 + dt.timedelta(hours=2))
    page = client.get("/journeys/abandoned-cart").text
    assert 'data-stat="converted">1<' in page
    assert _count(_box(page, "wait_a_day"), "converted") == "1"

    paused = client.post("/journeys/abandoned-cart/pause", data={"csrf_token": csrf})
    assert "Journey paused" in paused.text and "Resume" in paused.text
    again = client.post("/journeys/abandoned-cart/pause", data={"csrf_token": csrf})
    assert again.status_code == 409 and "cannot change it to paused" in again.text
    resumed = client.post("/journeys/abandoned-cart/resume", data={"csrf_token": csrf})
    assert "Journey resumed." in resumed.text

    listing = client.get("/journeys").text
    row = listing[listing.index('data-journey="abandoned-cart"'):]
    assert re.search(r'data-col="entered">2<', row) and re.search(r'data-col="converted">1<', row)
    assert re.search(r'data-col="active">1<', row)

    # A new version through the editor; the live one stays until published.
    edit = client.get("/journeys/abandoned-cart/edit")
    assert edit.status_code == 200 and "wait_for_order" in edit.text
    v2 = client.post("/journeys/abandoned-cart", data={"csrf_token": csrf, "format": "yaml", "action": "save",
                                                       "definition": journey_yaml(name="Abandoned cart v2")})
    assert "Journey saved as version 2." in v2.text and "Publish version 2" in v2.text

    archived = client.post("/journeys/abandoned-cart/archive", data={"csrf_token": csrf})
    assert "Journey archived." in archived.text and "Every active run exits" not in archived.text


def _box(page: str, node: str) -> str:
    found = re.search(rf'<g class="node [^"]*" data-node="{re.escape(node)}".*?</g>', page, re.S)
    assert found, f"no box for {node}"
    return found.group(0)


def _count(box: str, key: str) -> str:
    found = re.search(rf'data-count="{key}">([^<]*)<', box)
    assert found, f"no {key} count in {box}"
    return found.group(1)


def test_messages_page_filters_and_customer_page(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    add_user(stores, "agent@example.com", "agent")
    _templates(client)
    assert client.post("/v1/journeys", content=journey_yaml(), headers={**bearer(), "Content-Type": "application/yaml"}
                       ).status_code == 201
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).status_code == 200
    _shoppers(client)
    runner, _ = _runner(stores)
    runner.tick(T0)
    runner.tick(T0 + dt.timedelta(minutes=61))
    sign_in(client, "m@example.com")

    everything = client.get("/messages").text
    assert everything.count("<tr data-message=") == 2
    email_row = re.search(r'<tr data-channel="email">.*?</tr>', everything, re.S)
    assert email_row and 'data-col="sent">1<' in email_row.group(0)
    none_row = re.search(r'<tr data-channel="\(none\)">.*?</tr>', everything, re.S)
    assert none_row and "no consent 1" in none_row.group(0)

    suppressed = client.get("/messages?status=suppressed").text
    assert suppressed.count("<tr data-message=") == 1 and 'data-status="suppressed"' in suppressed
    assert '<td data-col="reason">no consent</td>' in suppressed
    email_only = client.get("/messages?channel=email").text
    assert email_only.count("<tr data-message=") == 1 and "u1@example.com" in email_only
    of_u5 = client.get("/messages?customer=u5@example.com").text
    assert of_u5.count("<tr data-message=") == 1 and 'data-status="suppressed"' in of_u5
    assert "No customer with that identifier." in client.get("/messages?customer=nobody@example.com").text
    assert client.get("/messages?days=7&journey=abandoned-cart&status=sent").text.count("<tr data-message=") == 1
    korean = client.get("/messages?status=suppressed&lang=ko").text
    assert "수신 동의 없음" in korean and "발송 기록" in korean
    client.get("/messages?lang=en")

    templates = client.get("/messages/templates?key=cart-reminder&channel=email&customer=u1").text
    assert "cart-reminder" in templates and "고객u1님, 장바구니를 잊으셨어요" in templates

    customer = client.get("/customers/u1").text
    journeys_part = customer[customer.index('id="journeys"'):customer.index('id="messages"')]
    assert "Abandoned cart" in journeys_part and "wait_a_day" in journeys_part and "waiting" in journeys_part
    messages_part = customer[customer.index('id="messages"'):customer.index('id="timeline"')]
    assert "cart-reminder" in messages_part and "sent" in messages_part
    u5 = client.get("/customers/u5").text
    assert "no consent" in u5[u5.index('id="messages"'):]

    # Agents see a customer's journeys and messages, not the marketing pages.
    client.cookies.clear()
    sign_in(client, "agent@example.com")
    assert client.get("/journeys").status_code == 403 and client.get("/messages").status_code == 403
    agent_view = client.get("/customers/u1").text
    assert "Abandoned cart" in agent_view and 'href="/journeys/' not in agent_view


def _fact(page: str, stat: str) -> str:
    found = re.search(rf'data-stat="{stat}">([^<]*)<', page)
    assert found, f"no {stat} on the page"
    return found.group(1)


def test_the_journey_page_puts_each_groups_conversions_beside_its_rate(client: TestClient, stores: Stores) -> None:
    """Issue 13: "converted 1,901" (treated and holdout together) stood beside a rate computed without the
    holdout's 139, and the lift was written with ``%``. Now the treated group's conversions stand beside its
    rate, the holdout's beside its own, and the lift is in points: ``pts`` in English, ``%p`` in Korean."""
    add_user(stores, "m@example.com", "marketer")
    _templates(client)
    assert client.post("/v1/journeys", content=journey_yaml(holdout_percent=50),
                       headers={**bearer(), "Content-Type": "application/yaml"}).status_code == 201
    assert client.post("/v1/journeys/abandoned-cart/publish", headers=bearer()).status_code == 200
    batch = []
    for i in range(16):
        user = f"h{i}"
        batch += [{"type": "identify", "userId": user, "messageId": f"i-{user}", "timestamp": T0.isoformat(),
                   "traits": {"email": f"{user}@example.com", "consent": {"email": True}}},
                  {"type": "track", "userId": user, "event": "Product Added", "messageId": f"a-{user}",
                   "timestamp": T0.isoformat(), "properties": {"cart_id": f"c-{user}", "price": 1000}}]
    assert client.post("/v1/batch", json={"batch": batch}, headers=bearer()).status_code == 200
    runner, _ = _runner(stores)
    runner.tick(T0)
    runs = client.get("/v1/journeys/abandoned-cart/runs", headers=bearer()).json()["runs"]
    assert len(runs) == 16
    users = {client.get(f"/v1/profiles/{r['customer_id']}", headers=bearer()).json()["user_id"]: r["holdout"]
             for r in runs}
    treated = sorted(u for u, held in users.items() if not held)
    held = sorted(u for u, held in users.items() if held)
    assert len(treated) >= 3 and len(held) >= 2, users  # 50 % of 16: both groups have several
    # Three treated carts and one of the holdout's are bought: 4 conversions in all, 3 of them treated.
    buyers = treated[:3] + held[:1]
    orders = [{"type": "track", "userId": u, "event": "Order Completed", "messageId": f"o-{u}",
               "timestamp": (T0 + dt.timedelta(hours=2)).isoformat(), "properties": {"cart_id": f"c-{u}"}}
              for u in buyers]
    assert client.post("/v1/batch", json={"batch": orders}, headers=bearer()).status_code == 200
    runner.tick(T0 + dt.timedelta(hours=2))
    stats = client.get("/v1/journeys/abandoned-cart/stats", headers=bearer()).json()
    assert stats["converted"] == 4  # the API's field stays: every conversion
    assert stats["treated"] == {"runs": len(treated), "converted": 3, "rate": round(3 / len(treated), 4)}
    assert stats["holdout"] == {"runs": len(held), "converted": 1, "rate": round(1 / len(held), 4)}

    sign_in(client, "m@example.com")
    page = client.get("/journeys/abandoned-cart?lang=en").text
    f = Formatter("en", choose_locale("en", None), "Asia/Seoul")
    assert _fact(page, "converted") == "3" and f"of {len(treated)} runs" in page
    assert _fact(page, "rate") == f.percent(stats["treated"]["rate"])
    assert _fact(page, "holdout-converted") == "1" and f"of {len(held)} runs" in page
    assert _fact(page, "holdout-rate") == f.percent(stats["holdout"]["rate"])
    lift = stats["treated"]["rate"] - stats["holdout"]["rate"]
    assert _fact(page, "lift") == f"{lift * 100:+.1f} pts"
    interval = _fact(page, "lift-interval")
    assert interval.count(" pts") == 2 and "%" not in interval.replace("95%", "")
    korean = client.get("/journeys/abandoned-cart?lang=ko").text
    assert _fact(korean, "lift") == f"{lift * 100:+.1f}%p" and "전환 (실험군)" in korean and "전환 (대조군)" in korean
    assert _fact(korean, "lift-interval").count("%p") == 2
    client.get("/journeys/abandoned-cart?lang=en")


@pytest.mark.parametrize("text, fmt, where", [
    ("a: [1,", "yaml", "line 1, column 7"),
    ('{"a": }', "json", "line 1, column 7"),
    ("- 1\n- 2\n", "yaml", ""),
])
def test_editor_syntax_errors(text: str, fmt: str, where: str) -> None:
    from touchline.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        read_definition(text, fmt)
    assert caught.value.detail[0]["field"] == where


def test_errors_point_at_lines() -> None:
    text = STARTER
    lines = text.splitlines()
    assert locate(text, "/nodes/2/template") == lines.index("    template: welcome-offer") + 1
    assert locate(text, "/nodes/1/yes") == next(i for i, s in enumerate(lines) if s.strip().startswith('"yes"')) + 1
    assert locate(text, "/nodes/9/next") == lines.index("  - type: wait") + 1  # the nearest part that exists
    assert locate('{"a": [1, {"b": 2}]}', "/a/1/b") == 1 and locate("a: [", "/a") is None


def test_starter_and_yes_no_keys() -> None:
    doc = read_definition(STARTER, "yaml")
    assert doc["nodes"][1]["yes"] == "done" and doc["nodes"][1]["no"] == "welcome_offer"
    unquoted = read_definition("nodes:\n  - yes: a\n    no: b\n", "yaml")
    assert unquoted == {"nodes": [{"yes": "a", "no": "b"}]}


def test_graph_layout_rows_and_loops() -> None:
    from touchline.journeys.definition import parse

    d = parse({"id": "j", "name": "J", "version": 1, "trigger": {"type": "event", "event": "E"}, "start": "w",
               "nodes": [{"type": "wait", "id": "w", "duration": "1h", "next": "s"},
                         {"type": "split", "id": "s", "branches": [{"percent": 50, "next": "a"},
                                                                   {"percent": 50, "next": "b"}]},
                         {"type": "send", "id": "a", "channel": "email", "template": "t", "kind": "advertising",
                          "next": "w"},
                         {"type": "exit", "id": "b"}]})
    f = Formatter("en", choose_locale("en", None), "Asia/Seoul")
    stats = {"entered": 3, "runs": {"waiting": 1}, "converted": 0,
             "steps": [{"node_id": "s", "entered": 3, "outcomes": {"branch:0": 2, "branch:1": 1}},
                       {"node_id": "a", "entered": 2, "sent": 1, "suppressed": {"quiet_hours": 1}}]}
    g = graph.layout(f, d, stats, {"b": {"completed": 1}})
    boxes = {b.id: b for b in g.boxes}
    assert [boxes[k].depth for k in (graph.TRIGGER, "w", "s", "a", "b")] == [0, 1, 2, 3, 3]
    assert boxes["a"].y == boxes["b"].y and boxes["a"].x != boxes["b"].x
    assert all(b.x >= 0 and b.x + b.w <= g.width and b.y + b.h <= g.height for b in g.boxes)
    back = [link for link in g.links if link.back]
    assert [(link.source, link.target) for link in back] == [("a", "w")]
    labels = {link.label for link in g.links}
    assert "A 50% · 2" in labels and "B 50% · 1" in labels
    lines = {(line.label, line.value) for line in boxes["a"].lines}
    assert ("sent", "1") in lines and ("· quiet hours", "1") in lines
    assert ("finished here", "1") in {(line.label, line.value) for line in boxes["b"].lines}
