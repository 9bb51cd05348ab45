"""How long the dashboard's pages take on the server, over real data.

Opens the stores the way ``touchline serve`` does (``TOUCHLINE_DATABASE_URL`` / ``TOUCHLINE_EVENTS_URL``,
else the embedded stores in ``--data`` or ``TOUCHLINE_DATA_DIR``), signs in as a temporary admin (disabled
again at the end) through the sign-in form, and requests every page in-process (Starlette's TestClient:
no network, so the time is the server's: routing, queries, rendering). Each page is asked once cold,
then ``--repeat`` times; the table shows the cold time, the best and the median warm time, the size,
and flags pages over ``--limit`` seconds (issue 5 asks for under 2 s on the 1M-profile benchmark data).

The segment, journey and customer asked for are the ones with the most members / runs, and a member of
that segment (or the first customer a search finds), unless named with ``--segment``, ``--journey``,
``--customer``. No background threads run (no pump, no journey runner): only the pages are timed.

    python bench/dashboard.py --data ~/bench-10m/embedded
    TOUCHLINE_DATABASE_URL=postgresql://... TOUCHLINE_EVENTS_URL=postgresql://... python bench/dashboard.py
    python bench/dashboard.py --demo 2000          # a fresh demo shop in a temporary directory
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from touchline.app import create_app  # noqa: E402
from touchline.journeys import service as journeys  # noqa: E402
from touchline.platform import open_stores  # noqa: E402
from touchline.profiles import service as profiles  # noqa: E402
from touchline.segments import service as segments  # noqa: E402
from touchline.settings import Settings  # noqa: E402
from touchline.store.engines import Stores  # noqa: E402
from touchline.web import auth  # noqa: E402
from touchline.workspaces.service import workspace_id_by_name  # noqa: E402


def sign_in(client: TestClient, email: str, password: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert token, "no sign-in form"
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/"},
                    follow_redirects=False)
    if r.status_code != 303:
        raise SystemExit(f"sign-in failed: {r.status_code}")


def targets(stores: Stores, workspace_id: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    """(name, path) of every page to time."""
    pages = [("overview (30 days)", "/overview"), ("overview (90 days)", "/overview?days=90"),
             ("funnels (4 steps)", "/funnels"), ("funnels by channel", "/funnels?breakdown=channel"),
             ("cohorts (6 months)", "/cohorts"), ("segments", "/segments")]
    all_segments = segments.list_segments(stores, workspace_id)
    segment = args.segment or (max(all_segments, key=lambda s: s["members"])["id"] if all_segments else None)
    customer = args.customer
    if not segment:
        print("(no segment in this workspace: its members page is skipped)")
    if segment:
        pages.append(("a segment's members", f"/segments/{quote(segment, safe='')}"))
        if customer is None:
            members = segments.members(stores, workspace_id, segment, limit=1)["members"]
            customer = members[0]["profile_id"] if members else None
    pages.append(("journeys", "/journeys"))
    all_journeys = journeys.list_journeys(stores, workspace_id)
    journey = args.journey or (max(all_journeys, key=lambda j: sum(j["runs"].values()))["id"]
                               if all_journeys else None)
    if journey:
        pages.append(("a journey's graph", f"/journeys/{quote(journey, safe='')}"))
    else:
        print("(no journey in this workspace: the graph page is skipped)")
    pages += [("messages (30 days)", "/messages"), ("messages, suppressed", "/messages?status=suppressed"),
              ("messages, e-mail, page 3", "/messages?channel=email&offset=100"),
              ("message templates", "/messages/templates"), ("customer search", "/customers?q=kim")]
    if customer is None:
        found = profiles.search(stores, workspace_id, "", 1)
        customer = found[0]["id"] if found else None
    if customer:
        pages.append(("a customer", f"/customers/{quote(customer, safe='')}"))
        if journey or segment:
            pages.append(("a customer's messages", f"/messages?days=731&customer={quote(customer, safe='')}"))
    return pages


def time_page(client: TestClient, path: str, repeat: int) -> dict[str, Any]:
    times = []
    status, size = 0, 0
    for _ in range(repeat + 1):
        started = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - started)
        status, size = r.status_code, len(r.content)
    warm = times[1:] or times
    return {"status": status, "bytes": size, "cold": times[0], "best": min(warm), "median": statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="data directory of the embedded stores (else settings)")
    parser.add_argument("--workspace", default="default")
    parser.add_argument("--repeat", type=int, default=3, help="warm requests per page (after one cold)")
    parser.add_argument("--limit", type=float, default=2.0, help="seconds a page may take (flagged above)")
    parser.add_argument("--segment", help="segment id to open (default: the largest)")
    parser.add_argument("--journey", help="journey id to open (default: the one with most runs)")
    parser.add_argument("--customer", help="customer (profile id or identifier) to open")
    parser.add_argument("--demo", type=int, metavar="CUSTOMERS",
                        help="generate a demo shop of this many customers in a temporary directory first")
    args = parser.parse_args()

    overrides: dict[str, Any] = {}
    if args.demo:
        overrides["data_dir"] = Path(tempfile.mkdtemp(prefix="touchline-dashboard-"))
    elif args.data:
        overrides["data_dir"] = args.data
    settings = Settings(**overrides)
    stores = open_stores(settings)
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, args.workspace)
    if args.demo:
        from touchline.demo.generator import generate

        print(f"generating a demo shop of {args.demo:,} customers in {settings.data_dir} ...", flush=True)
        generate(stores, workspace_id, customers=args.demo, seed=7)
        stores.pump()

    email = f"bench-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(18)
    auth.create_user(stores, email, password, "admin", name="bench", workspace=args.workspace)
    over = []
    try:
        app = create_app(stores=stores, run_pump=False, run_journeys=False)
        with TestClient(app) as client:
            sign_in(client, email, password)
            pages = targets(stores, workspace_id, args)
            print(f"{'page':<28} {'status':>6} {'cold s':>8} {'best s':>8} {'median s':>9} {'KB':>7}  path")
            for name, path in pages:
                t = time_page(client, path, args.repeat)
                flag = "  OVER" if t["median"] > args.limit or t["status"] != 200 else ""
                if flag:
                    over.append(name)
                print(f"{name:<28} {t['status']:>6} {t['cold']:>8.3f} {t['best']:>8.3f} {t['median']:>9.3f} "
                      f"{t['bytes'] / 1024:>7.1f}  {path}{flag}", flush=True)
    finally:
        auth.disable_user(stores, email)
        stores.dispose()
        if args.demo:
            shutil.rmtree(settings.data_dir, ignore_errors=True)
    stores_desc = settings.database_url or f"embedded in {settings.data_dir}"
    print(f"\nstores: {stores_desc}; limit {args.limit} s (median of {args.repeat} warm requests)")
    if over:
        print("over the limit or failing: " + ", ".join(over))
        sys.exit(1)
    print("every page within the limit")


if __name__ == "__main__":
    main()
