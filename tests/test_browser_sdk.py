"""Segment's own browser library (analytics.js 2.0, ``@segment/analytics-next``), unchanged, in a real
headless Chromium, on a shop page served from another origin than Touchline.

The only set-up a shop does is the one Segment documents for a self-hosted CDN: ``cdnURL`` points at
Touchline, which answers ``/v1/projects/{writeKey}/settings`` with itself as the API host. The library
then posts ``text/plain`` bodies with the write key inside to ``/v1/t``, ``/v1/p``, ``/v1/i`` (or
batches to ``/v1/b``) across origins, so CORS has to be right for anything to arrive.

The library's bundle comes from npm (``.ci/run`` fetches it into ``.cache/analytics-next``); outside
CI a missing bundle or Chromium skips these tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_server import LiveServer
from support import WRITE_KEY, bearer

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BUNDLE = Path(os.environ.get("TOUCHLINE_TEST_ANALYTICS_JS",
                             Path(__file__).resolve().parent.parent / ".cache/analytics-next/package/dist/umd"))

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
SHOP_PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>울 니트 스웨터 - Example Shop</title>
<script src="/ajs/index.js"></script></head>
<body><h1>울 니트 스웨터</h1></body></html>
"""


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


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


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """The shop's web site: another port, so another origin than Touchline's."""
    shutil.copytree(BUNDLE, tmp_path / "ajs")
    (tmp_path / "product.html").write_text(SHOP_PAGE, encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="shop-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _open(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("requestfailed", lambda r: problems.append(f"failed: {r.method} {r.url} {r.failure}"))
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.goto(url)
    return context, tab, problems


def _wait_for_events(live: LiveServer, identifier: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        response = live.http.get(f"/v1/profiles/{identifier}", headers=bearer())
        if response.status_code == 200 and len(response.json()["timeline"]) >= count:
            return response.json()
        assert time.monotonic() < deadline, f"{identifier}: {response.status_code} {response.text[:500]}"
        time.sleep(0.1)


# What the shop's page does: load the library, then a page view, an add to cart and a sign-in.
CALLS = """async ([writeKey, cdnURL, options]) => {
        const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({writeKey, cdnURL}, options);
        await Promise.all([
          analytics.page("Product", {product_id: "knit-01"}),
          analytics.track("Product Added", {product_id: "knit-01", name: "울 니트", price: 59000,
                                            currency: "KRW", cart_id: "cart-9"}),
          analytics.identify("kim-01", {email: "JiEun.Kim@Example.com", name: "김지은",
                                        consent: {email: true, sms: false}}),
        ]);
        return analytics.user().anonymousId();
    }"""


def _assert_one_customer(view: dict[str, Any], anonymous_id: str) -> None:
    identities = {(i["kind"], i["value"]) for i in view["identities"]}
    assert ("user_id", "kim-01") in identities
    assert ("anonymous_id", anonymous_id) in identities
    assert ("email", "jieun.kim@example.com") in identities
    assert view["traits"]["name"] == "김지은"
    assert view["consents"]["email"]["status"] == "granted"
    assert view["consents"]["sms"]["status"] == "denied"
    events = {(e["type"], e["event"]): e for e in view["timeline"]}
    assert {("page", "Product"), ("track", "Product Added"), ("identify", None)} <= set(events)
    added = events[("track", "Product Added")]
    assert added["channel"] == "web"  # from context.library.name == "analytics.js"
    assert added["device_type"] == "desktop"  # from the browser's user agent
    assert added["properties"]["price"] == 59000
    assert added["context"]["library"]["name"] == "analytics.js"
    assert added["context"]["locale"] == "ko-KR"


def test_analytics_js_from_another_origin_reaches_one_profile(browser: Any, shop: str, live: LiveServer) -> None:
    context, tab, problems = _open(browser, shop + "/product.html")
    try:
        anonymous_id = tab.evaluate(CALLS, [WRITE_KEY, live.url, {}])
        view = _wait_for_events(live, "user_id:kim-01", 3)
        _assert_one_customer(view, anonymous_id)
        # One request per call, on the library's one-letter paths, each answered for the page to read.
        assert not problems, problems
    finally:
        context.close()


def test_analytics_js_batching_strategy_posts_to_v1_b(browser: Any, shop: str, live: LiveServer) -> None:
    batching = {"integrations": {"Segment.io": {"deliveryStrategy": {"strategy": "batching",
                                                                     "config": {"size": 3, "timeout": 100}}}}}
    context, tab, problems = _open(browser, shop + "/product.html")
    paths: list[str] = []
    tab.on("request", lambda r: paths.append(r.url.removeprefix(live.url)) if r.url.startswith(live.url) else None)
    try:
        anonymous_id = tab.evaluate(CALLS, [WRITE_KEY, live.url, batching])
        view = _wait_for_events(live, "user_id:kim-01", 3)
        _assert_one_customer(view, anonymous_id)
        assert "/v1/b" in paths, paths
        assert not problems, problems
    finally:
        context.close()


def test_an_unknown_write_key_stops_analytics_js_at_its_settings(browser: Any, shop: str, live: LiveServer) -> None:
    context, tab, _ = _open(browser, shop + "/product.html")
    try:
        error = tab.evaluate("""async ([cdnURL]) => {
            try { await AnalyticsNext.AnalyticsBrowser.load({writeKey: "no-such-key", cdnURL}); return null; }
            catch (e) { return String(e && e.message || e); }
        }""", [live.url])
        assert error is not None and "no source has this write key" in error
    finally:
        context.close()


def _inbox_page(tmp: Path, touchline: str, identifier: str, user_hash: str) -> None:
    (tmp / "account.html").write_text(
        '<!doctype html><html lang="ko"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f'<script src="{touchline}/sdk/inbox.js" defer data-write-key="{WRITE_KEY}" data-identifier="{identifier}"'
        f' data-user-hash="{user_hash}" data-lang="ko"></script></head><body><h1>내 계정</h1></body></html>',
        encoding="utf-8")


def test_the_inbox_script_shows_a_customers_messages_on_the_shops_page(
        browser: Any, shop: str, tmp_path: Path, live: LiveServer, workspace_id: str) -> None:
    """The shop's page (another origin) embeds /sdk/inbox.js with the customer's signed user_hash: the bell
    counts the unread messages, the panel lists them as text, and opening one marks it read."""
    from touchline.messaging import store as messaging_store
    from touchline.workspaces import service as workspaces

    stores = live.stores
    assert live.http.post("/v1/identify", auth=(WRITE_KEY, ""), json={
        "userId": "kim-01", "messageId": "inbox-widget-1"}).status_code == 200
    profile_id = live.profile("kim-01")["id"]
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        secret = workspaces.create_key(conn, workspace_id, "identity")
        for i, (title, body) in enumerate([("장바구니에 담은 상품", "울 니트가 기다리고 있어요."),
                                           ("<img src=x onerror=alert(1)>", "쿠폰 10%")]):
            messaging_store.insert_inbox(conn, {
                "id": f"msg-{i}", "workspace_id": workspace_id, "profile_id": profile_id, "title": title,
                "body": body, "url": None, "locale": "ko", "created_at": now - dt.timedelta(minutes=i)})
    _inbox_page(tmp_path, live.url, "kim-01", workspaces.user_hash(secret, "kim-01"))  # the shop serves tmp_path

    context, tab, problems = _open(browser, shop + "/account.html")
    try:
        host = tab.locator("[data-touchline-inbox]")
        bell = host.locator("button.bell")
        playwright_api.expect(host.locator(".badge")).to_have_text("2")
        assert bell.get_attribute("aria-label") == "메시지함, 2개 안 읽음"
        bell.click()
        items = host.locator(".item")
        playwright_api.expect(items).to_have_count(2)
        assert items.nth(0).locator(".title").inner_text() == "장바구니에 담은 상품"
        assert items.nth(1).locator(".title").inner_text() == "<img src=x onerror=alert(1)>"  # text, not markup
        assert host.locator("img").count() == 0
        SHOTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"inbox-widget-{os.getpid()}.png"))
        items.nth(0).click()
        playwright_api.expect(host.locator(".badge")).to_have_text("1")
        inbox = live.http.get("/v1/inbox/kim-01", headers=bearer()).json()
        assert inbox["unread"] == 1 and next(m for m in inbox["messages"] if m["id"] == "msg-0")["read_at"]
        tab.keyboard.press("Escape")
        playwright_api.expect(host.locator(".panel")).to_be_hidden()
        assert not problems, problems
    finally:
        context.close()
