"""What the first chart page costs a browser: bytes transferred for the dashboard's scripts and styles (from the
sign-in page on, with an empty cache: a first visit), and the time from following the link to the overview until
its four charts are drawn; then the same page again (the cache warm).

    python bench/static_assets.py                      # localhost, no throttling
    python bench/static_assets.py --mbps 20 --rtt 40   # as over a 20 Mbit/s link with 40 ms round trips

Needs Debian's Chromium (/usr/bin/chromium) and Playwright. Prints one line per run and the medians.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

from touchline.app import create_app
from touchline.demo.generator import generate
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.web import auth
from touchline.workspaces.service import workspace_id_by_name

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--mbps", type=float, default=0, help="download throughput to emulate (0: none)")
    parser.add_argument("--rtt", type=float, default=0, help="round-trip latency to emulate, ms")
    parser.add_argument("--typing", type=float, default=3, help="seconds spent on the sign-in page")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="touchline-static-"))
    stores = open_stores(Settings(data_dir=data))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    generate(stores, workspace_id, customers=args.customers, seed=7)
    stores.pump()
    auth.create_user(stores, "marketer@example.com", PASSWORD, "marketer", name="marketer")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(stores=stores), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        cold, warm = [], []
        for run in range(args.runs):
            context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            tab = context.new_page()
            cdp = context.new_cdp_session(tab)
            cdp.send("Network.enable")
            if args.mbps or args.rtt:
                cdp.send("Network.emulateNetworkConditions", {
                    "offline": False, "latency": args.rtt,
                    "downloadThroughput": args.mbps * 125_000 if args.mbps else -1,
                    "uploadThroughput": args.mbps * 125_000 if args.mbps else -1})
            sent: dict[str, int] = {}  # file name -> bytes over the wire, every request of it
            names: dict[str, str] = {}
            encodings: dict[str, str] = {}

            def received(e: dict[str, Any], names: dict[str, str] = names,
                         encodings: dict[str, str] = encodings) -> None:
                names[e["requestId"]] = e["response"]["url"]
                headers = {k.lower(): v for k, v in e["response"]["headers"].items()}
                if "/static/" in e["response"]["url"]:
                    encodings[e["response"]["url"].rsplit("/", 1)[-1].split("?")[0]] = \
                        headers.get("content-encoding", "identity")

            def finished(e: dict[str, Any], names: dict[str, str] = names, sent: dict[str, int] = sent) -> None:
                address = names.get(e["requestId"], "")
                if "/static/" in address:
                    name = address.rsplit("/", 1)[-1].split("?")[0]
                    sent[name] = sent.get(name, 0) + int(e["encodedDataLength"])

            cdp.on("Network.responseReceived", received)
            cdp.on("Network.loadingFinished", finished)
            tab.goto(url + "/login?next=/customers")
            time.sleep(args.typing)  # someone types their e-mail and password
            tab.fill("#email", "marketer@example.com")
            tab.fill("#password", PASSWORD)
            tab.click("button[type=submit]")
            tab.wait_for_load_state("load")
            for label, results in (("first chart page", cold), ("again", warm)):
                started = time.perf_counter()
                tab.goto(url + "/overview?days=30")
                tab.wait_for_function("document.querySelectorAll('.chart[data-drawn] .main-svg').length >= 4")
                elapsed = time.perf_counter() - started
                timing = tab.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const plotly = performance.getEntriesByType('resource').find((r) => r.name.includes('plotly'));
                    return {server: nav.responseStart - nav.requestStart, html: nav.responseEnd,
                            plotly: plotly ? plotly.responseEnd : null, ready: nav.domContentLoadedEventEnd}}""")
                total = sum(sent.values())
                results.append((elapsed, total))
                detail = ", ".join(f"{name} {size / 1024:,.0f} KB ({encodings.get(name, '?')})"
                                   for name, size in sorted(sent.items()))
                print(f"run {run + 1}, {label}: charts drawn after {elapsed:.2f} s (page answered in "
                      f"{timing['server'] / 1000:.2f} s, plotly.js in by {(timing['plotly'] or 0) / 1000:.2f} s, "
                      f"scripts run by {timing['ready'] / 1000:.2f} s); static files transferred since the sign-in "
                      f"page {total / 1024:,.0f} KB [{detail}]")
            context.close()
        browser.close()
    for label, results in (("first chart page", cold), ("again", warm)):
        print(f"median, {label}: {statistics.median(t for t, _ in results):.2f} s; "
              f"{statistics.median(b for _, b in results) / 1024:,.0f} KB of static files transferred")
    server.should_exit = True
    thread.join(timeout=30)
    stores.dispose()


if __name__ == "__main__":
    main()
