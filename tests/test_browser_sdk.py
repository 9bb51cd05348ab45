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
