"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a uvicorn server on
a free port over a small demo shop. Every page is visited, used and photographed (desktop and phone)
into screenshots/ for review.

Runs on the embedded backend only: the same pages on PostgreSQL are covered by test_web.py."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from touchline.app import create_app
from touchline.demo.generator import generate
from touchline.demo.inbox import SCENARIOS, open_inbox
from touchline.platform import open_stores
from touchline.segments import service as segments
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.web import auth as web_auth
from touchline.web import http as web_http
from touchline.workspaces.service import workspace_id_by_name
from web_helpers import PASSWORD, RESIZE_CHARTS, add_user

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CUSTOMERS = 200


@dataclass
class Site:
    url: str
    stores: Stores
    workspace_id: str
    example_email: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("dashboard")))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    summary = generate(stores, workspace_id, customers=CUSTOMERS, seed=7)
    stores.pump()
    open_inbox(stores, workspace_id, lambda clock: create_app(stores=stores, run_pump=False, run_journeys=False,
                                                                clock=clock), seed=7)  # as touchline demo does
    add_user(stores, "marketer@example.com", "marketer")
    add_user(stores, "agent@example.com", "agent")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(stores=stores), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", stores, workspace_id, summary.examples[0].removeprefix("email:"))
    server.should_exit = True
    thread.join(timeout=30)
    stores.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _context(browser: object) -> object:
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul")  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    return context


def _watched(context: object) -> tuple[object, list[str]]:
    """A new tab, and the problems it runs into: script errors, CSP violations, failed sub-resources (not
    the page itself: a wrong password is a 401 page)."""
    tab = context.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text)
           if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    tab.on("response", lambda r: errors.append(f"{r.status} {r.url}")
           if r.status >= 400 and r.request.resource_type != "document" else None)
    tab.on("dialog", lambda dialog: dialog.accept())
    return tab, errors


@pytest.fixture(scope="module")
def signed_in(browser: object, site: Site) -> Iterator[object]:
    """One marketer's browser for the tests that start signed in (its cache keeps plotly.js warm)."""
    context = _context(browser)
    tab, _ = _watched(context)
    sign_in(tab, site, then="/customers")
    tab.close()  # type: ignore[attr-defined]
    yield context
    context.close()  # type: ignore[attr-defined]


@pytest.fixture
def page(signed_in: object) -> Iterator[object]:
    tab, errors = _watched(signed_in)
    yield tab
    tab.close()  # type: ignore[attr-defined]
    assert not errors, errors


@pytest.fixture
def fresh(browser: object) -> Iterator[object]:
    """A browser nobody has signed in with yet."""
    context = _context(browser)
    tab, errors = _watched(context)
    yield tab
    context.close()  # type: ignore[attr-defined]
    assert not errors, errors


def sign_in(page: object, site: Site, email: str = "marketer@example.com", password: str = PASSWORD,
            then: str = "/") -> None:
    page.goto(site.url + "/login?next=" + then)  # type: ignore[attr-defined]
    page.get_by_label("E-mail").fill(email)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]


def go(page: object, link: str, *, exact: bool = True) -> None:
    """Follow a link and wait until the page is ready (scripts run: until then clicks do nothing)."""
    page.get_by_role("link", name=link, exact=exact).click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]


def shoot(page: object, name: str) -> None:
    """Desktop and phone screenshots of the current page (full length)."""
    SHOTS.mkdir(exist_ok=True)
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    page.evaluate(RESIZE_CHARTS)  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)  # type: ignore[attr-defined]
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"] + 1, f"{name}: the page is {width}px wide on a phone"
    page.set_viewport_size(DESKTOP)  # type: ignore[attr-defined]


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_sign_in_and_overview(fresh: object, site: Site) -> None:
    expect = playwright_api.expect
    page = fresh
    page.goto(site.url + "/overview")  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/login\?next="))
    shoot(page, "01-login")
    page.get_by_label("E-mail").fill("marketer@example.com")  # type: ignore[attr-defined]
    page.get_by_label("Password").fill("not the password")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")  # type: ignore[attr-defined]
    sign_in(page, site)
    expect(page).to_have_url(re.compile(r"/overview$"))
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    visitors = number(page.locator('[data-kpi="visitors"]').inner_text())  # type: ignore[attr-defined]
    assert 0 < visitors <= CUSTOMERS
    expect(page.locator('[data-kpi="revenue"]')).to_have_text(re.compile(r"^₩[\d,]+$"))  # type: ignore[attr-defined]
    expect(page.locator('[data-kpi="abandonment"]')).to_have_text(re.compile(r"^\d+\.\d%$"))  # type: ignore[attr-defined]
    expect(page.locator(".chart[data-drawn] .main-svg").first).to_be_visible()  # type: ignore[attr-defined]
    assert page.locator(".chart[data-drawn]").count() == 4  # type: ignore[attr-defined]
    channels = page.locator("table").first.inner_text()  # type: ignore[attr-defined]
    assert "Web" in channels and "App" in channels and "Store" in channels
    shoot(page, "02-overview")
    # A shorter period updates the report in place (and the address, to share it).
    page.get_by_role("link", name="Last 7 days").click()  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/overview\?days=7$"))
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")  # type: ignore[attr-defined]
    expect(page.locator(".chart[data-drawn]")).to_have_count(4)  # type: ignore[attr-defined]
    assert number(page.locator('[data-kpi="visitors"]').inner_text()) <= visitors  # type: ignore[attr-defined]


def test_build_a_funnel(page: object, site: Site) -> None:
    expect = playwright_api.expect
    page.goto(site.url + "/segments")  # type: ignore[attr-defined]
    go(page, "Funnels")
    steps = page.locator("#funnel-form input[name=step]")  # type: ignore[attr-defined]
    expect(steps).to_have_count(4)
    page.get_by_role("button", name="Remove step 4").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Remove step 3").click()  # type: ignore[attr-defined]
    expect(steps).to_have_count(2)
    steps.nth(0).fill("Product Viewed")
    steps.nth(1).fill("Product Added")
    page.get_by_role("button", name="Add a step").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("combobox", name="Step 3")).to_be_focused()  # type: ignore[attr-defined]
    page.get_by_role("combobox", name="Step 3").fill("Order Completed")  # type: ignore[attr-defined]
    page.get_by_label("Breakdown").select_option("channel")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Show funnel").click()  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"breakdown=channel"))
    expect(page.get_by_role("heading", name="Group: Web")).to_be_visible()  # type: ignore[attr-defined]
    web = page.locator("section", has=page.get_by_role("heading", name="Group: Web"))  # type: ignore[attr-defined]
    rows = web.locator("tbody tr")
    expect(rows).to_have_count(3)
    counts = [number(rows.nth(i).locator("td").first.inner_text()) for i in range(3)]
    assert counts[0] >= counts[1] >= counts[2] > 0
    expect(rows.nth(2)).to_contain_text("Order Completed")
    expect(page.locator("#chart-funnel[data-drawn] .main-svg").first).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "03-funnels")


def test_cohorts_heatmap(page: object, site: Site) -> None:
    expect = playwright_api.expect
    page.goto(site.url + "/cohorts?period=week&months=3")  # type: ignore[attr-defined]
    expect(page.locator("#chart-cohorts[data-drawn] .main-svg").first).to_be_visible()  # type: ignore[attr-defined]
    first_row = page.locator("table.heat tbody tr").first  # type: ignore[attr-defined]
    expect(first_row.locator("td").nth(1)).to_have_text("100.0%")  # offset 0 includes the cohort event
    shoot(page, "04-cohorts")


def test_segment_builder_with_live_count(page: object, site: Site) -> None:
    expect = playwright_api.expect
    page.goto(site.url + "/customers")  # type: ignore[attr-defined]
    go(page, "Segments")
    go(page, "New segment", exact=False)
    page.get_by_label("Name", exact=True).fill("Repeat buyers")  # type: ignore[attr-defined]
    condition = page.get_by_role("group", name="Condition 1")  # type: ignore[attr-defined]
    condition.get_by_label("Kind").select_option("event")
    expect(condition.get_by_label("Trait name")).to_be_hidden()
    condition.get_by_label("Event name").fill("Order Completed")
    condition.get_by_label("Times").fill("2")
    definition = {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 2}}
    expected = segments.preview(site.stores, site.workspace_id, definition)["count"]
    assert expected > 0
    count = page.locator("[data-preview-count]")  # type: ignore[attr-defined]
    expect(count).to_have_attribute("data-preview-count", str(expected))
    expect(count).to_contain_text(f"{expected} customers match")
    shoot(page, "05-segment-builder")
    # The JSON editor shows the same rule.
    page.get_by_role("radio", name="JSON").check()  # type: ignore[attr-defined]
    expect(page.locator("#definition-json")).to_have_value(re.compile(r'"Order Completed"'))  # type: ignore[attr-defined]
    page.get_by_role("radio", name="Builder").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save segment").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Segment saved.")  # type: ignore[attr-defined]
    expect(page.locator("[data-members]")).to_have_text(f"{expected:,}")  # type: ignore[attr-defined]
    expect(page.locator("#members tbody tr")).to_have_count(min(expected, 50))  # type: ignore[attr-defined]
    shoot(page, "06-segment")
    go(page, "Segments")
    expect(page.get_by_role("link", name="Repeat buyers")).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "07-segments")


def test_builder_suggests_trait_names_and_values(page: object, site: Site) -> None:
    """Trait names come with the page; the values of the trait typed are fetched for the row's value field."""
    expect = playwright_api.expect
    page.goto(site.url + "/segments/new")  # type: ignore[attr-defined]
    names = page.locator("#trait-names option")  # type: ignore[attr-defined]
    assert "preferred_channel" in [names.nth(i).get_attribute("value") for i in range(names.count())]
    condition = page.get_by_role("group", name="Condition 1")  # type: ignore[attr-defined]
    condition.get_by_label("Trait name").fill("preferred_channel")
    condition.get_by_label("Trait name").press("Tab")
    values = page.locator("#values-0 option")  # type: ignore[attr-defined]
    expect(values.first).to_be_attached()
    offered = {values.nth(i).get_attribute("value") for i in range(values.count())}
    assert offered and offered <= {"push", "messenger", "sms", "email", "store", "in_app"}, offered


def test_customer_timeline(page: object, site: Site) -> None:
    expect = playwright_api.expect
    page.goto(site.url + "/segments")  # type: ignore[attr-defined]
    go(page, "Customers")
    page.get_by_label("Search by e-mail, phone, id or name").fill(site.example_email)  # type: ignore[attr-defined]
    results = page.locator("#results .people li")  # type: ignore[attr-defined]
    expect(results).to_have_count(1)  # searched as you type, updated in place
    shoot(page, "08-customers")
    results.first.locator("a").click()
    expect(page.locator("table").first).to_contain_text(site.example_email)  # type: ignore[attr-defined]
    events = page.locator(".timeline .ev")  # type: ignore[attr-defined]
    assert events.count() > 3
    channels = {b.inner_text() for b in page.locator(".timeline .ev .badge:not(.alt)").all()}  # type: ignore[attr-defined]
    assert len(channels) >= 2, channels  # across channels
    shoot(page, "09-customer")


def test_korean(page: object, site: Site) -> None:
    expect = playwright_api.expect
    page.goto(site.url + "/overview?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="개요", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("html")).to_have_attribute("lang", "ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("navigation")).to_contain_text("퍼널")  # type: ignore[attr-defined]
    # Large sums in 만 and 억 (4,301만원), the exact amount in the title.
    expect(page.locator('[data-kpi="revenue"]')).to_have_text(  # type: ignore[attr-defined]
        re.compile(r"^([\d,]+원|([\d,]+억 ?)?([\d,]+만)?원)$"))
    expect(page.locator('[data-kpi="revenue"]')).to_have_attribute("title", re.compile(r"^[\d,]+원$"))  # type: ignore[attr-defined]
    expect(page.get_by_text("장바구니 이탈률")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_text("오늘 (집계 중)").first).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "10-overview-ko")
    # On a phone: every navigation entry in view, and Korean words kept whole in tables.
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    links = page.locator(".nav a")  # type: ignore[attr-defined]
    # Every page a marketer may open (each capability adds its own; recounted from the registry).
    assert links.count() == sum(1 for item in web_http.NAV if "marketer" in web_auth.PERMISSIONS[item.permission])
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (i, box)
    cell = page.locator("table td").first  # type: ignore[attr-defined]
    assert cell.evaluate("(el) => getComputedStyle(el).wordBreak") == "keep-all"
    label = page.locator("table tbody th").first  # type: ignore[attr-defined]
    assert label.evaluate("(el) => el.getClientRects().length") == 1  # one line: 채팅, not 채/팅
    page.set_viewport_size(DESKTOP)  # type: ignore[attr-defined]
    go(page, "세그먼트")
    go(page, "새 세그먼트", exact=False)
    expect(page.get_by_role("group", name="조건 1")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#preview")).to_contain_text("조건을 추가하면")  # type: ignore[attr-defined]
    go(page, "이탈 위험 고객")  # the template chips in words, not keys (at_risk)
    expect(page.get_by_role("group", name="조건 2")).to_contain_text("이벤트 미수행")  # type: ignore[attr-defined]
    expect(page.locator("[data-preview-count]")).to_contain_text("조건에 맞는 고객")  # type: ignore[attr-defined]
    shoot(page, "11-segment-builder-ko")
    go(page, "고객")
    page.locator("#results .people li a").first.click()  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="타임라인")).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "12-customer-ko")
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]


def test_data_quality_in_korean(page: object, site: Site) -> None:
    """Dirty values sent to the shop's workspace show up by event and field, in Korean."""
    import datetime as dt

    from touchline.ingest.quality import plan_for, set_invalid_values
    from touchline.ingest.service import ingest, parse_items

    expect = playwright_api.expect
    now = dt.datetime.now(dt.UTC)
    items = [
        {"type": "track", "userId": "dq-1", "event": "Order Completed", "properties": {"revenue": "약 5만원"}},
        {"type": "track", "userId": "dq-1", "event": "Order Completed", "properties": {"revenue": "1,5"}},
        {"type": "track", "userId": "dq-2", "event": "Product Added",
         "properties": {"price": "59,000원", "quantity": "두 개", "products": [{"price": True}]}},
        {"type": "identify", "userId": "dq-2", "traits": {"email": "jieun at example", "phone": "12"}},
        {"type": "track", "userId": "dq-3", "event": "Order Completed", "timestamp": "0001-01-01T00:00:00Z"},
    ]
    set_invalid_values(site.stores, site.workspace_id, "reject")
    good, bad = parse_items(items, received_at=now, batch_sent_at=None, default_type=None, max_event_bytes=32_768,
                            phone_region="KR", plan=plan_for(site.stores, site.workspace_id))
    assert len(bad) == 5 and len(good) == 1
    ingest(site.stores, site.workspace_id, good, now=now)
    site.stores.pump()
    page.goto(site.url + "/data-quality?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="데이터 품질", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    table = page.locator("table.violations")  # type: ignore[attr-defined]
    expect(table).to_contain_text("숫자가 아님")
    expect(table).to_contain_text("properties.products[].price")
    expect(table).to_contain_text("자릿수 구분이 모호함")
    expect(table).to_contain_text("이메일 주소가 아님")
    expect(page.locator("#builtin summary")).to_contain_text("기본 전자상거래 유형")  # type: ignore[attr-defined]
    shoot(page, "14-data-quality-ko")
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]


def test_agent_sees_customers_not_reports(fresh: object, site: Site) -> None:
    expect = playwright_api.expect
    page = fresh
    sign_in(page, site, "agent@example.com")
    expect(page).to_have_url(re.compile(r"/customers$"))
    nav = page.get_by_role("navigation", name="Main")  # type: ignore[attr-defined]  # the list has a pager too
    expect(nav).not_to_contain_text("Overview")
    page.goto(site.url + "/segments/new")  # type: ignore[attr-defined]
    expect(page.get_by_role("alert")).to_contain_text("Your role (agent) may not do this.")  # type: ignore[attr-defined]
    shoot(page, "13-forbidden")
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("You are signed out.")  # type: ignore[attr-defined]


def test_inbox_report(fresh: object, site: Site) -> None:
    """The demo's inbox, measured: headline times, charts by channel, hour and backlog, agents and the team
    by name; in English and in Korean, on a desktop and a phone."""
    expect = playwright_api.expect
    page = fresh
    sign_in(page, site, "agent@example.com", then="/inbox")
    expect(page.locator("#inbox-list li[data-conversation]").first).to_be_visible()  # type: ignore[attr-defined]
    go(page, "Report")
    expect(page).to_have_url(re.compile(r"/inbox/report$"))
    expect(page.get_by_role("heading", name="Inbox report", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator('[data-kpi="started"]')).to_have_text(str(len(SCENARIOS)))  # type: ignore[attr-defined]
    expect(page.locator('[data-kpi="first-response"]')).to_have_text(re.compile(r"^\d+ (minute|hour)s?$"))  # type: ignore[attr-defined]
    expect(page.locator(".chart[data-drawn]")).to_have_count(3)  # type: ignore[attr-defined]
    agents = page.locator("#per-agent tbody")  # type: ignore[attr-defined]
    expect(agents).to_contain_text("김지은")
    expect(agents).to_contain_text("Unassigned")
    expect(page.locator("#per-team tbody")).to_contain_text("Customer care")  # type: ignore[attr-defined]
    shoot(page, "15-inbox-report")
    page.get_by_role("link", name="Last 7 days").click()  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/inbox/report\?days=7$"))
    expect(page.locator(".chart[data-drawn]")).to_have_count(3)  # type: ignore[attr-defined]
    page.goto(site.url + "/inbox/report?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="상담 리포트", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_text("첫 응답 시간 (중앙값)")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator('[data-kpi="first-response"]')).to_have_text(re.compile(r"^\d+(분|시간)$"))  # type: ignore[attr-defined]
    expect(page.locator(".chart[data-drawn]")).to_have_count(3)  # type: ignore[attr-defined]
    expect(page.locator("#chart-hours")).to_contain_text(re.compile(r"\d+시"))  # type: ignore[attr-defined]
    shoot(page, "16-inbox-report-ko")
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    for label in page.locator(".kpi-label, table th").all():  # type: ignore[attr-defined]
        assert label.evaluate("(el) => getComputedStyle(el).wordBreak") == "keep-all"
    page.set_viewport_size(DESKTOP)  # type: ignore[attr-defined]
    go(page, "상담함")
    expect(page.locator("#inbox-list")).to_contain_text("카카오톡")  # type: ignore[attr-defined]
    page.locator("#inbox-list li[data-conversation] a").first.click()  # type: ignore[attr-defined]
    expect(page.locator("#thread .msg").first).to_be_visible()  # type: ignore[attr-defined]
    shoot(page, "17-inbox-ko")
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]


def test_assistant_faq_edit_and_try(page: object, site: Site) -> None:
    """The shop's FAQ (the demo seed): grouped by topic in both languages; a question tried shows the bot's
    answer and confidence; an entry added in the form is what the bot answers next; then in Korean."""
    from touchline.assistant import service as assistant

    expect = playwright_api.expect
    assistant.load_seed(site.stores, site.workspace_id)
    page.goto(site.url + "/customers?lang=en")  # type: ignore[attr-defined]
    go(page, "Assistant FAQ")
    expect(page.get_by_role("heading", name="Assistant FAQ", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("[data-count]")).to_have_text("46 of 46 entries in use")  # type: ignore[attr-defined]
    shipping = page.locator("#topic-shipping")  # type: ignore[attr-defined]
    expect(shipping.get_by_role("heading", name="Shipping")).to_be_visible()
    expect(shipping.locator('[data-key="shipping_fee"] [data-lang="ko"]')).to_contain_text("30,000원 이상")
    expect(shipping.locator('[data-key="shipping_fee"] [data-lang="en"]')).to_contain_text("free on orders")
    page.get_by_label("Question").fill("Can I pay with Kakao Pay?")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Ask").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    reply = page.locator("[data-reply]")  # type: ignore[attr-defined]
    expect(reply).to_have_attribute("data-intent", "faq")
    expect(reply.locator("[data-confidence]")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    shoot(page, "36-assistant-faq")

    # A new entry through the form; the bot answers from it at once.
    page.get_by_role("link", name="+ New entry").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    page.get_by_label("Topic").fill("stores")  # type: ignore[attr-defined]
    page.get_by_label("Key").fill("holiday_hours")  # type: ignore[attr-defined]
    page.locator("#faq-ko-answer").fill("설 연휴(2월 16~18일)에는 모든 매장이 쉬어요.")  # type: ignore[attr-defined]
    page.locator("#faq-ko-questions").fill("설 연휴에도 매장 문 열어요?\n명절에 매장 영업해요?")  # type: ignore[attr-defined]
    page.locator("#faq-en-answer").fill("All stores are closed over Seollal (February 16-18).")  # type: ignore[attr-defined]
    page.locator("#faq-en-questions").fill("Are stores open during Seollal?\nHoliday opening hours?")  # type: ignore[attr-defined]
    shoot(page, "37-assistant-faq-new")
    page.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("Saved holiday_hours.")  # type: ignore[attr-defined]
    expect(page.locator("[data-count]")).to_have_text("47 of 47 entries in use")  # type: ignore[attr-defined]

    page.goto(site.url + "/assistant/faq?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="챗봇 FAQ", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    page.get_by_label("질문", exact=True).fill("설 연휴에도 매장 문 열어요?")  # type: ignore[attr-defined]
    page.get_by_role("button", name="질문하기").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    expect(reply).to_have_attribute("data-confident", "yes")
    expect(reply.locator(".bubble")).to_have_text("설 연휴(2월 16~18일)에는 모든 매장이 쉬어요.")
    expect(reply.locator("[data-matched]")).to_have_attribute("data-matched", "holiday_hours")
    shoot(page, "38-assistant-faq-ko")

    # Stop using it: the bot no longer answers from it; then delete it.
    entry = page.locator('[data-key="holiday_hours"]')  # type: ignore[attr-defined]
    entry.get_by_role("button", name="사용 중지").click()
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("holiday_hours 항목을 사용하지 않습니다.")  # type: ignore[attr-defined]
    expect(entry.locator(".badge")).to_have_text("사용 안 함")
    entry.get_by_role("link", name="항목 수정").click()
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    shoot(page, "39-assistant-faq-edit-ko")
    page.get_by_role("button", name="삭제").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_have_text("holiday_hours 항목을 삭제했습니다.")  # type: ignore[attr-defined]
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]


def test_predictions_quality_in_korean(page: object, site: Site) -> None:
    from touchline.predictions import service as predictions

    expect = playwright_api.expect
    models = {m["kind"]: m for m in predictions.train(site.stores, site.workspace_id)}
    page.goto(site.url + "/predictions?lang=ko")  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="예측 모델", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    purchase = page.locator("#prediction-purchase")  # type: ignore[attr-defined]
    assert models["purchase"]["status"] == "trained", models["purchase"]
    expect(purchase.locator('[data-figure="auc"]')).to_have_text(f"{models['purchase']['quality']['auc']:.3f}")
    expect(purchase.locator("#chart-reliability-purchase[data-drawn] .main-svg").first).to_be_visible()
    expect(purchase).to_contain_text("브라이어 점수")
    shoot(page, "15-predictions-ko")
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="Predictions", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#prediction-purchase")).to_contain_text("Lift in the top decile")  # type: ignore[attr-defined]


def test_catalog_in_korean(page: object, site: Site) -> None:
    """The demo's products, learned from its events and then imported (every field the import gave is the
    import's now): searched and filtered by category, each field with where it came from, on a phone too."""
    from touchline.demo.shop_assistant import catalog_items, load_catalog

    expect = playwright_api.expect
    load_catalog(site.stores, site.workspace_id)
    page.goto(site.url + "/customers?lang=ko")  # type: ignore[attr-defined]
    go(page, "상품 목록")
    expect(page.get_by_role("heading", name="상품 목록", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("[data-total]")).to_have_text(f"상품 {len(catalog_items())}개 중 1–50번째")  # type: ignore[attr-defined]
    page.get_by_label("카테고리").select_option("fashion")  # type: ignore[attr-defined]
    page.get_by_label("상품명 또는 상품 ID로 검색").fill("니트")  # type: ignore[attr-defined]
    page.get_by_role("button", name="검색").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    rows = page.locator("[data-catalog] tbody tr")  # type: ignore[attr-defined]
    assert rows.count() >= 2
    first = rows.first
    expect(first.locator("th")).to_contain_text("니트")
    expect(first.locator('[data-source="import"]')).to_contain_text("가져오기")
    expect(first.locator('[data-source="events"]')).to_have_count(0)  # the import gave every field events did
    expect(first.locator("[data-price]")).to_have_text(re.compile(r"^[\d,]+원$"))
    shoot(page, "40-catalog-ko")
