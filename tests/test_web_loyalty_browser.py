"""The loyalty page in Debian's Chromium over a small demo shop with its loyalty program: the charts draw,
the customer look-up works, nothing fails in the console (the strict Content-Security-Policy included), the
page fits a phone; screenshots in English and Korean go to screenshots/."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from touchline.app import create_app
from touchline.demo.generator import generate
from touchline.demo.loyalty import run_loyalty
from touchline.platform import open_stores
from touchline.settings import Settings
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("loyalty-dashboard")))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    now = dt.datetime.now(dt.UTC)
    generate(stores, workspace_id, customers=400, seed=5, days=60, now=now)
    stores.pump()
    run_loyalty(stores, workspace_id, seed=5, days=21, now=now)
    stores.pump()
    add_user(stores, "marketer@example.com", "marketer")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(stores=stores, run_pump=False), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="loyalty-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    stores.dispose()


def _shoot(page: object, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size(PHONE)  # type: ignore[attr-defined]
    page.evaluate(RESIZE_CHARTS)  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)  # type: ignore[attr-defined]
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"] + 1, f"{name}: the page is {width}px wide on a phone"
    page.set_viewport_size(DESKTOP)  # type: ignore[attr-defined]


def test_the_loyalty_page_in_a_browser(site: str) -> None:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    expect = playwright_api.expect
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul")
        context.set_default_timeout(20_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(site + "/login?next=/loyalty")
        page.get_by_label("E-mail").fill("marketer@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        expect(page.get_by_role("heading", name="Loyalty", exact=True)).to_be_visible()
        expect(page.locator("#chart-tiers .main-svg").first).to_be_visible()
        expect(page.locator("#chart-moved .main-svg").first).to_be_visible()
        expect(page.locator("[data-top]").first).to_be_visible()
        _shoot(page, "60-loyalty")
        page.locator("[data-top] a").first.click()
        page.wait_for_load_state("load")
        expect(page.locator("[data-ledger] [data-entry]").first).to_be_visible()
        _shoot(page, "61-loyalty-customer")
        page.goto(site + "/loyalty?lang=ko")
        expect(page.get_by_role("heading", name="멤버십 포인트", exact=True)).to_be_visible()
        expect(page.locator("[data-tier='vip'] th")).to_have_text("VIP")
        _shoot(page, "62-loyalty-ko")
        context.close()
        browser.close()
    assert not errors, errors
