"""In-app messages' Done-means test, in real Chromium: a shopper on the demo shop's product page, served from
another origin with Segment's analytics.js (unchanged) and /sdk/inapp.js, views the same product three
times; on the third view the demo's banner appears. The shopper dismisses it: the dismissal is an event on
the shopper's profile (the same one analytics.js's page views are on), and the banner does not come back
on later views, as its frequency rule says. A second shopper, in English, clicks the banner's button: the
click is recorded and the shop's page opens. Screenshots (desktop and phone, Korean and English) go to
screenshots/."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_server import LiveServer
from support import WRITE_KEY, bearer
from test_browser_sdk import BUNDLE, CHROMIUM, CHROMIUM_ARGS, _missing
from touchline.demo.catalog import SHOP_URL, build_catalog
from touchline.demo.inapp import BANNER_KEY, install_inapp_banner
from touchline.demo.storefront import product_page
from touchline.web import auth
from touchline.workspaces.service import workspace_id_by_name
from web_helpers import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PRODUCT, OTHER = build_catalog()[0], build_catalog()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
    if not (BUNDLE / "index.js").exists():
        _missing(f"analytics.js is missing at {BUNDLE} (npm pack @segment/analytics-next; see .ci/run)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def storefront(tmp_path: Path, live: LiveServer) -> Iterator[str]:
    """The demo shop's product pages on another port: another origin than Touchline's."""
    shutil.copytree(BUNDLE, tmp_path / "ajs")
    for product in (PRODUCT, OTHER):
        for lang in ("ko", "en"):
            page = product_page(product, touchline_url=live.url, write_key=WRITE_KEY, analytics_js="/ajs/index.js",
                                lang=lang)
            (tmp_path / f"{product.product_id}-{lang}.html").write_text(page, encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="storefront", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _watch(tab: Any, problems: list[str]) -> None:
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _shoot(tab: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.set_viewport_size(DESKTOP)
    tab.wait_for_timeout(100)
    tab.screenshot(path=str(SHOTS / f"{name}-desktop.png"))
    tab.set_viewport_size(PHONE)
    tab.wait_for_timeout(200)
    tab.screenshot(path=str(SHOTS / f"{name}-phone.png"))
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{name}: the page is {width}px wide on a phone"
    tab.set_viewport_size(DESKTOP)


def _view(tab: Any, url: str) -> tuple[str, list[dict[str, Any]]]:
    """Open the product page; returns analytics.js's anonymous id and what the SDK was offered."""
    with tab.expect_response(lambda r: "/v1/inapp/messages" in r.url) as offered:
        tab.goto(url)
    anonymous_id = tab.evaluate("window.shopReady")
    answer = offered.value.json()
    return str(anonymous_id), list(answer["messages"])


def _events(live: LiveServer, anonymous_id: str) -> list[str]:
    return [e.get("event") for e in live.profile(f"anonymous_id:{anonymous_id}")["timeline"]]


def test_the_banner_follows_three_views_and_its_frequency_rule(browser: Any, storefront: str,
                                                               live: LiveServer) -> None:
    with live.stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    banner = install_inapp_banner(live.stores, workspace_id)
    problems: list[str] = []
    context = browser.new_context(viewport=DESKTOP, locale="ko-KR", timezone_id="Asia/Seoul")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    _watch(tab, problems)
    shown = tab.locator("[data-touchline-inapp]")
    page = f"{storefront}/{PRODUCT.product_id}-ko.html"
    try:
        # Twice: offered (the page rule is for the page to check), not shown.
        for _ in range(2):
            anonymous_id, offered = _view(tab, page)
            assert [m["key"] for m in offered] == [BANNER_KEY]
            tab.wait_for_timeout(300)
            assert shown.count() == 0
        # The third view of the same product: the banner.
        with tab.expect_response(lambda r: "/v1/inapp/events" in r.url) as impression:
            _view(tab, page)
        assert impression.value.status == 201
        region = shown.get_by_role("region", name="상점 안내")
        region.wait_for()
        assert shown.get_attribute("data-touchline-inapp") == "banner"
        assert "이 상품 아직 고민 중이세요?" in region.inner_text()
        assert "COMEBACK10" in region.inner_text()
        link = region.get_by_role("link", name="쿠폰 받기")
        assert link.get_attribute("href") == f"{SHOP_URL}/cart?coupon=COMEBACK10"
        assert tab.evaluate(f"TouchlineInApp.views({PRODUCT.product_id!r})") == 3
        _shoot(tab, "inapp-banner-ko")

        # Dismissed: gone, and recorded as an event on the shopper's profile, beside analytics.js's views.
        with tab.expect_response(lambda r: "/v1/inapp/events" in r.url) as dismissal:
            region.get_by_role("button", name="닫기").click()
        assert dismissal.value.status == 201
        assert shown.count() == 0
        names = _events(live, anonymous_id)
        assert names.count("Product Viewed") == 3, names
        assert "In-App Message Viewed" in names and "In-App Message Dismissed" in names
        report = live.http.get("/v1/inapp/admin/report", headers=bearer()).json()
        [item] = [m for m in report["messages"] if m["id"] == banner["id"]]
        assert (item["impression"], item["dismiss"], item["click"]) == (1, 1, 0)

        # Beyond its frequency rule: not on the fourth view, nor on another product viewed three times.
        for url in (page, *[f"{storefront}/{OTHER.product_id}-ko.html"] * 3):
            _, offered = _view(tab, url)
            assert offered == []
            tab.wait_for_timeout(200)
            assert shown.count() == 0
        assert _events(live, anonymous_id).count("In-App Message Viewed") == 1
        _shoot(tab, "inapp-after-dismissal-ko")

        # The marketer's page: the message, its rules in words, its figures as a chart and a table.
        auth.create_user(live.stores, "marketer@example.com", PASSWORD, "marketer", name="이마케터")
        desk = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul")
        desk.set_default_timeout(15_000)
        dashboard = desk.new_page()
        _watch(dashboard, problems)
        dashboard.goto(live.url + "/login?next=/inapp")
        dashboard.get_by_label("E-mail").fill("marketer@example.com")
        dashboard.get_by_label("Password").fill(PASSWORD)
        dashboard.get_by_role("button", name="Sign in").click()
        dashboard.wait_for_load_state("load")
        for lang, when in (("ko", "같은 상품을 7일 안에 3번 봤을 때"), ("en", "the same product was viewed 3 times")):
            dashboard.goto(f"{live.url}/inapp?lang={lang}")
            dashboard.locator("#chart-inapp-messages .main-svg").first.wait_for()
            dashboard.locator("#chart-inapp-days .main-svg").first.wait_for()
            row = dashboard.locator(f"#messages tr[data-message='{BANNER_KEY}']")
            assert when in row.inner_text()
            assert dashboard.locator("[data-kpi=dismissals]").inner_text() == "1"
            _shoot(dashboard, f"inapp-dashboard-{lang}")
        desk.close()
        assert not [p for p in problems if "favicon" not in p], problems
    finally:
        context.close()


def test_an_english_shopper_clicks_through(browser: Any, storefront: str, live: LiveServer) -> None:
    with live.stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    install_inapp_banner(live.stores, workspace_id)
    problems: list[str] = []
    context = browser.new_context(viewport=PHONE, locale="en-US", timezone_id="Asia/Seoul")
    context.set_default_timeout(15_000)
    # The shop's own site is not on this machine: its cart page is answered here.
    context.route(f"{SHOP_URL}/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><meta charset='utf-8'><title>Cart</title>"))
    tab = context.new_page()
    _watch(tab, problems)
    page = f"{storefront}/{PRODUCT.product_id}-en.html"
    try:
        for _ in range(3):
            anonymous_id, _offered = _view(tab, page)
        region = tab.locator("[data-touchline-inapp]").get_by_role("region", name="Message from the shop")
        region.wait_for()
        assert "Still thinking it over?" in region.inner_text()
        _shoot(tab, "inapp-banner-en")
        with tab.expect_navigation(url=f"{SHOP_URL}/cart?coupon=COMEBACK10"):
            region.get_by_role("link", name="Get the coupon").click()
        assert "In-App Message Clicked" in _events(live, anonymous_id)
        assert not [p for p in problems if "favicon" not in p], problems
    finally:
        context.close()
