"""The dashboard over HTTP (both backends): sign-in, sessions, CSRF, roles, and pages filled from the
stores. The browser tests (test_web_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.analytics import service as analytics
from touchline.app import create_app
from touchline.eventlog import SystemEvent, append_system_events
from touchline.settings import Settings
from touchline.store.engines import Stores
from web_helpers import PASSWORD, add_user, form_token, sign_in

BUYER_RULE = {"mode": "builder", "match": "and", "c-0-kind": "event", "c-0-event": "Order Completed",
              "c-0-count_op": "at_least", "c-0-count": "1"}


def shop(client: TestClient, stores: Stores) -> None:
    now = dt.datetime.now(dt.UTC)
    at = (now - dt.timedelta(days=2)).isoformat()
    later = (now - dt.timedelta(days=2) + dt.timedelta(minutes=3)).isoformat()
    batch = [
        {"type": "identify", "userId": "u1", "messageId": "i1", "timestamp": at,
         "traits": {"name": "김지은", "email": "jieun@example.com"}, "context": {"channel": "web"}},
        {"type": "track", "userId": "u1", "event": "Product Added", "messageId": "a1", "timestamp": at,
         "properties": {"cart_id": "c1", "price": 59000}, "context": {"channel": "app", "device": {"type": "ios"}}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "o1", "timestamp": later,
         "properties": {"cart_id": "c1", "revenue": 59000}, "context": {"channel": "web"}},
        {"type": "track", "anonymousId": "anon-2", "event": "Product Added", "messageId": "a2", "timestamp": at,
         "properties": {"cart_id": "c2"}, "context": {"channel": "web"}},
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()


def test_sign_in_pages_and_sign_out(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    add_user(stores, "marketer@example.com", "marketer")
    first = client.get("/overview", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2Foverview"
    csrf = sign_in(client, "marketer@example.com", next_path="/overview")
    cookie = next(c for c in client.cookies.jar if c.name == "tl_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure

    page = client.get("/overview?days=7")
    assert page.status_code == 200
    assert 'data-kpi="visitors">2<' in page.text and 'data-kpi="identified">1<' in page.text
    assert 'data-kpi="conversion">50.0%<' in page.text and 'data-kpi="abandonment">50.0%<' in page.text
    assert 'data-kpi="revenue">₩59,000<' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    korean = client.get("/overview?days=7&lang=ko")
    assert "방문자" in korean.text and 'data-kpi="revenue">59,000원<' in korean.text
    assert client.get("/overview").text.count("방문자") > 0  # the language is remembered
    client.get("/overview?lang=en")

    funnel = client.get("/funnels", params=[("step", "Product Added"), ("step", "Order Completed"), ("days", "7")])
    assert "<td class=\"num\">2</td>" in funnel.text and "50.0%" in funnel.text
    assert client.get("/cohorts?period=week").status_code == 200
    found = client.get("/customers?q=jieun")
    assert "김지은" in found.text
    customer = client.get("/customers/u1")
    assert "jieun@example.com" in customer.text and "Order Completed" in customer.text and "App" in customer.text

    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    client.cookies.set("tl_session", cookie.value)  # the old cookie no longer signs anyone in
    assert client.get("/overview", follow_redirects=False).status_code == 303


def test_wrong_password_and_login_csrf(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    token = form_token(client.get("/login").text)
    wrong = client.post("/login", data={"email": "m@example.com", "password": "nope" * 3, "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong e-mail or password" in wrong.text
    token = form_token(wrong.text)  # every sign-in form carries a fresh token
    unknown = client.post("/login", data={"email": "x@example.com", "password": PASSWORD, "csrf_token": token})
    assert unknown.status_code == 401
    forged = client.post("/login", data={"email": "m@example.com", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert not any(c.name == "tl_session" for c in client.cookies.jar)


def test_forms_need_the_session_csrf_token(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    form = {**BUYER_RULE, "name": "Buyers"}
    assert client.post("/segments", data=form).status_code == 403
    assert client.post("/segments", data={**form, "csrf_token": "wrong"}).status_code == 403
    cross_site = client.post("/segments", data={**form, "csrf_token": csrf}, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403 and "another site" in cross_site.text
    assert client.post("/logout", data={}).status_code == 403
    assert "No segments yet" in client.get("/segments").text
    created = client.post("/segments", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"].startswith("/segments/seg_")


def test_roles(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    add_user(stores, "agent@example.com", "agent")
    csrf = sign_in(client, "agent@example.com")
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/customers"
    nav = client.get("/customers").text
    assert 'href="/segments"' in nav and 'href="/overview"' not in nav
    assert client.get("/overview").status_code == 403
    refused = client.post("/segments", data={**BUYER_RULE, "name": "x", "csrf_token": csrf})
    assert refused.status_code == 403 and "(agent)" in refused.text
    assert client.get("/segments/new").status_code == 403
    # Agents record a consent change the customer asks for.
    saved = client.post("/customers/u1/consents", data={"csrf_token": csrf, "consent-sms": "denied"})
    assert saved.status_code == 200 and "Consents saved" in saved.text
    assert client.get("/v1/profiles/u1", headers=bearer()).json()["consents"]["sms"]["status"] == "denied"


def test_segment_builder_preview_save_and_export(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    preview = client.post("/segments/preview", data={**BUYER_RULE, "csrf_token": csrf}, headers={"X-Partial": "1"})
    assert 'data-preview-count="1"' in preview.text and "김지은" in preview.text
    bad = client.post("/segments/preview", data={"mode": "json", "definition_json": '{"type": "trait"}',
                                                 "csrf_token": csrf})
    assert "The rule has problems" in bad.text and "/trait" in bad.text
    invalid = client.post("/segments", data={"name": "J", "mode": "json", "definition_json": "{", "csrf_token": csrf})
    assert invalid.status_code == 422 and "invalid JSON" not in invalid.text and "(json)" in invalid.text
    saved = client.post("/segments", data={**BUYER_RULE, "name": "구매자", "live": "on", "csrf_token": csrf})
    assert saved.status_code == 200 and "Segment saved" in saved.text and 'data-members>1<' in saved.text
    segment_id = str(saved.url).rsplit("/", 1)[-1].split("?")[0]
    export = client.get(f"/segments/{segment_id}/export.csv")
    assert export.headers["content-type"].startswith("text/csv") and "jieun@example.com" in export.text
    edit = client.get(f"/segments/{segment_id}/edit")
    assert 'value="Order Completed"' in edit.text
    deleted = client.post(f"/segments/{segment_id}/delete", data={"csrf_token": csrf})
    assert "deleted" in deleted.text and "No segments yet" in deleted.text


def test_api_keeps_its_own_auth(client: TestClient, stores: Stores) -> None:
    add_user(stores, "admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    assert client.get("/v1/segments").status_code == 401  # a dashboard session is no API token
    assert client.get("/v1/segments", headers=bearer()).status_code == 200


def test_secure_cookies_over_https(stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    with TestClient(create_app(stores=stores, run_pump=False), base_url="https://dash.example") as https:
        sign_in(https, "m@example.com")
        assert next(c for c in https.cookies.jar if c.name == "tl_session").secure


def test_overview_service(client: TestClient, stores: Stores, workspace_id: str) -> None:
    shop(client, stores)
    now = dt.datetime.now(dt.UTC)
    o = analytics.overview(stores, workspace_id, now - dt.timedelta(days=7), now, "Asia/Seoul")
    total = o.total
    assert (total.visitors, total.identified, total.buyers, total.orders, total.revenue) == (2, 1, 1, 1, 59000)
    assert set(o.channels) == {"web", "app"} and o.channels["app"].visitors == 1
    assert sum(a.orders for _, a in o.days) == 1 and len(o.days) in (8, 9)
    assert o.carts.carts == 2 and o.carts.abandoned == 1


def test_users_cli(settings: Settings) -> None:
    import orjson
    from typer.testing import CliRunner

    from touchline.cli.main import app

    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "Kim@Example.com", "--role", "agent", "--password-stdin"],
                          input=PASSWORD + "\n", env=env)
    assert added.exit_code == 0, added.output
    short = runner.invoke(app, ["users", "add", "b@example.com", "--password-stdin"], input="short\n", env=env)
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    role = runner.invoke(app, ["users", "add", "c@example.com", "--role", "boss", "--password-stdin"],
                         input=PASSWORD + "\n", env=env)
    assert role.exit_code == 1 and "unknown role" in role.output
    listed = orjson.loads(runner.invoke(app, ["users", "list", "--json"], env=env).stdout)
    assert [(u["email"], u["role"], u["workspace"]) for u in listed] == [("kim@example.com", "agent", "default")]
    assert runner.invoke(app, ["users", "disable", "kim@example.com"], env=env).exit_code == 0


def test_migration_4_adds_the_dashboard_tables(stores: Stores) -> None:
    """A store made before the dashboard (stamped 2) gets its users and sessions tables on upgrade."""
    import sqlalchemy as sa

    from touchline.store.migrations import STATE_MIGRATIONS, current_version, schema_versions, upgrade
    from touchline.store.schema import dashboard_users, web_sessions

    with stores.state.begin() as conn:
        web_sessions.drop(conn)
        dashboard_users.drop(conn)
        conn.execute(schema_versions.update().where(schema_versions.c.store == "state").values(version=2))
    assert upgrade(stores)["state"] == (2, STATE_MIGRATIONS[-1].version)
    with stores.state.begin() as conn:
        assert current_version(conn, "state") == STATE_MIGRATIONS[-1].version
        assert set(sa.inspect(conn).get_table_names()) >= {"dashboard_users", "web_sessions"}
    add_user(stores, "after@example.com", "admin")


def test_an_empty_report_points_to_where_the_events_are(client: TestClient, stores: Stores, workspace_id: str
                                                         ) -> None:
    """History imported from last year is outside "the last 30 days": each empty report says where the
    events are and links to them; Touchline's own events (Segment Entered, ...) do not count."""
    def at(day: int, minute: int = 0) -> str:
        return dt.datetime(2011, 3, day, 10, minute, tzinfo=dt.UTC).isoformat()

    batch = [
        {"type": "track", "userId": "h1", "event": "Product Added", "messageId": "h-a1", "timestamp": at(1),
         "properties": {"cart_id": "c1"}},
        {"type": "track", "userId": "h1", "event": "Order Completed", "messageId": "h-o1", "timestamp": at(1, 5),
         "properties": {"cart_id": "c1", "revenue": 20}},
        {"type": "track", "userId": "h1", "event": "Order Completed", "messageId": "h-o2", "timestamp": at(20),
         "properties": {"revenue": 20}},
    ]
    assert client.post("/v1/import", json={"batch": batch}, headers=basic()).status_code == 200
    now = dt.datetime.now(dt.UTC)
    profile_id = client.get("/v1/profiles/h1", headers=bearer()).json()["id"]
    with stores.write() as conn:
        append_system_events(conn, workspace_id, [SystemEvent(profile_id, "Segment Entered", {"segment_id": "s"}, now,
                                                             "sys-1")], now)
    stores.pump()
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")

    empty = client.get("/overview?days=30")
    assert 'data-kpi="visitors">0<' in empty.text
    assert "This workspace&#39;s events run from" in empty.text or "This workspace's events run from" in empty.text
    assert 'href="/overview?start=2011-03-01&amp;end=2011-03-20"' in empty.text
    shown = client.get("/overview?start=2011-03-01&end=2011-03-20")
    assert 'data-kpi="visitors">1<' in shown.text and "data-elsewhere" not in shown.text

    funnel = client.get("/funnels", params=[("step", "Product Added"), ("step", "Order Completed"), ("days", "7")])
    assert "data-elsewhere" in funnel.text
    assert "start=2011-03-01&amp;end=2011-03-20" in funnel.text and "step=Product+Added" in funnel.text

    cohorts = client.get("/cohorts?months=3")
    assert 'href="/cohorts?months=3&amp;end=2011-03-20"' in cohorts.text
    filled = client.get("/cohorts?months=3&end=2011-03-20")
    assert "data-elsewhere" not in filled.text and "chart-cohorts" in filled.text
    assert client.get("/cohorts?end=March").status_code == 400


def test_revenue_in_the_shops_currency(client: TestClient, stores: Stores, monkeypatch: object) -> None:
    """A shop selling in pounds sees pounds and pence, not won (TOUCHLINE_DEFAULT_CURRENCY)."""
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    batch = [{"type": "track", "userId": "uk1", "event": "Order Completed", "messageId": "gbp-1", "timestamp": at,
              "properties": {"order_id": "536365", "revenue": 33.2, "currency": "GBP"}}]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    monkeypatch.setattr(stores.settings, "default_currency", "GBP")  # type: ignore[attr-defined]
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")
    page = client.get("/overview?days=7")
    assert 'data-kpi="revenue">£33.20<' in page.text
    assert 'data-kpi="revenue">£33.20<' in client.get("/overview?days=7&lang=ko").text
    client.get("/overview?lang=en")


def test_customer_search_by_kind_with_the_total_and_pages(client: TestClient, stores: Stores) -> None:
    shop(client, stores)
    batch = [{"type": "identify", "userId": f"park-{i:02}", "messageId": f"park-{i}",
              "traits": {"name": f"박서준 {i:02}", "email": f"seojun{i:02}@example.com"}} for i in range(35)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    by_email = client.get("/customers", params={"q": "email:jieun@example.com", "lang": "ko"}).text
    assert "김지은" in by_email and 'data-total="1"' in by_email and "전체 1명 중 1–1" in by_email
    first = client.get("/customers", params={"q": "seojun", "lang": "en"}).text
    assert 'data-total="35"' in first and "1–30 of 35" in first and first.count('<li><a href="/customers/') == 30
    assert 'href="/customers?q=seojun&amp;offset=30"' in first
    second = client.get("/customers", params={"q": "seojun", "offset": 30}).text
    assert "31–35 of 35" in second and second.count('<li><a href="/customers/') == 5 and "Previous" in second
