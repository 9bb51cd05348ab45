"""Ingestion throughput, end to end: HTTP -> stored -> profile and identities updated.

Starts `touchline serve` in a subprocess on a fresh store, sends pre-built Segment batches over HTTP from
a pool of client threads (keep-alive connections, Basic auth as Segment's clients do), waits until every
request has answered 200 (an answer means the events and their profile changes are committed), then
stops the server (which drains staging into the event store) and checks the counts.

Where the time goes: the server's CPU time split by thread (the event loop does HTTP, JSON decoding and
validation; the writer runs the transactions; the pump moves staged events to the event store), and the
same workload replayed in-process, without HTTP, with the CPU time of each stage. CPU time is the figure
to compare on a shared machine: wall time there depends on what else runs.

    python bench/ingest.py                                   # embedded default (SQLite + DuckDB)
    python bench/ingest.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ADMIN_TOKEN, WRITE_KEY, Post, cpu_seconds, fresh_postgres, post_all, serving

UA_PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
UA_DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
EVENTS = ["Product Viewed", "Product Viewed", "Product Viewed", "Products Searched", "Product Added",
          "Checkout Started", "Order Completed"]


def build_batches(n_events: int, batch_size: int, n_users: int, seed: int) -> list[bytes]:
    """A realistic mix: 10 % identify (email + Korean phone), pages, and commerce tracks; each user has
    an app device and a browser, so identity merges happen along the way."""
    rng = random.Random(seed)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    batches = []
    for b in range(n_events // batch_size):
        items = []
        for i in range(batch_size):
            u = rng.randrange(n_users)
            app = rng.random() < 0.5
            anon = f"{'app' if app else 'web'}-{u}"
            ts = (base + dt.timedelta(seconds=b * batch_size + i)).isoformat()
            context: dict[str, Any] = (
                {"channel": "app", "device": {"id": f"dev-{u}", "type": "ios"}, "os": {"name": "iOS"}}
                if app else {"userAgent": UA_PHONE if u % 3 else UA_DESKTOP,
                             "page": {"url": f"https://shop.example.kr/p/{u % 500}"}}
            )
            kind = rng.random()
            if kind < 0.1:
                items.append({"type": "identify", "anonymousId": anon, "userId": f"user-{u}",
                              "messageId": uuid.uuid4().hex, "timestamp": ts, "context": context,
                              "traits": {"email": f"Customer{u}@Example.com", "name": "김민지",
                                         "phone": f"010-{1000 + u % 9000:04d}-{u % 10000:04d}"}})
            elif kind < 0.25:
                items.append({"type": "page", "anonymousId": anon, "name": "Product", "timestamp": ts,
                              "messageId": uuid.uuid4().hex, "context": context,
                              "properties": {"path": f"/p/{u % 500}", "title": "울 니트 스웨터"}})
            else:
                items.append({"type": "track", "anonymousId": anon, "event": rng.choice(EVENTS), "timestamp": ts,
                              "messageId": uuid.uuid4().hex, "context": context,
                              "properties": {"product_id": f"p-{u % 500}", "name": "울 니트 스웨터",
                                             "price": 59000, "currency": "KRW", "quantity": 1,
                                             "cart_id": f"cart-{u}"}})
        batches.append(orjson.dumps({"batch": items, "sentAt": base.isoformat()}))
    return batches


def run_http(label: str, env: dict[str, str], batches: list[bytes], n_events: int, concurrency: int) -> dict[str, Any]:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
            "Content-Type": "application/json"}
    with serving(env) as server:
        threads_before = _thread_cpu_seconds(server.process.pid)
        server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
        wall, latencies = post_all(server.url, [Post("/v1/batch", b, {}) for b in batches], concurrency,
                                   headers=auth)
        server_cpu, client_cpu = cpu_seconds(server.process.pid) - server_cpu, time.process_time() - client_cpu
        threads = _thread_cpu_seconds(server.process.pid)
        for name, seconds in threads_before.items():
            threads[name] = threads.get(name, 0.0) - seconds
        sample = httpx.get(server.url + "/v1/profiles/user-1",
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    latencies.sort()
    return {
        "label": label,
        "events_per_s": n_events / wall,
        "wall_s": wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "shutdown_drain_s": server.shutdown_s,
        "sample_identities": len(sample.get("identities", [])),
        "server_cpu_s": server_cpu,
        "server_threads_cpu_s": threads,
        "client_cpu_s": client_cpu,
    }


# Thread names as the server gives them to the OS (touchline.threads); the rest run under the process name.
_THREAD_ROLES = {
    "touchline-inges": "writer thread: the transactions (group commit)",
    "touchline-pump": "pump thread: staging -> event store + profile mirror",
    "touchline-journ": "journey runner thread",
}
_OTHER_THREADS = "event loop (HTTP, JSON, validation) + request threads"


def _thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread role of a process, from /proc/<pid>/task (Linux)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        role = _THREAD_ROLES.get(comm, _OTHER_THREADS)
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def verify(settings_env: dict[str, str], n_events: int) -> dict[str, int]:
    os.environ.update(settings_env)
    from touchline.platform import open_stores
    from touchline.settings import Settings
    from touchline.store.schema import event_staging, events, identities, profiles

    stores = open_stores(Settings())
    try:
        with stores.read() as conn:
            staged = conn.execute(sa.select(sa.func.count()).select_from(event_staging)).scalar_one()
            n_profiles = conn.execute(sa.select(sa.func.count()).select_from(profiles)
                                      .where(profiles.c.merged_into.is_(None))).scalar_one()
            n_identities = conn.execute(sa.select(sa.func.count()).select_from(identities)).scalar_one()
        with stores.events_conn() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    finally:
        stores.dispose()
        for key in settings_env:
            os.environ.pop(key, None)
    if staged + stored != n_events:
        raise SystemExit(f"lost events: {stored} stored + {staged} staged != {n_events} sent")
    return {"stored": int(stored), "staged": int(staged), "profiles": int(n_profiles),
            "identities": int(n_identities)}


def run_in_process(settings_env: dict[str, str], batches: list[bytes], group: int) -> dict[str, float]:
    """The same work without HTTP: parse + validate, then ingest ``group`` batches per transaction
    (as the server's group commit does under concurrent load), then the pump. CPU seconds per stage
    (the process's: DuckDB works in threads of its own), and the wall time of the whole under "wall"."""
    os.environ.update(settings_env)
    from touchline.ingest.service import IngestResult, ingest_many, parse_items
    from touchline.platform import open_stores
    from touchline.settings import Settings
    from touchline.workspaces.service import workspace_id_by_name

    stores = open_stores(Settings())
    with stores.read() as conn:
        workspace = workspace_id_by_name(conn, "default")
    totals: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    pending: list[tuple[str, list[Any]]] = []
    for body in batches:
        t = time.process_time()
        doc = orjson.loads(body)
        now = dt.datetime.now(dt.UTC)
        good, _ = parse_items(doc["batch"], received_at=now, batch_sent_at=now, default_type=None,
                              max_event_bytes=32 * 1024, phone_region="KR")
        totals["JSON decoding + validation + normalisation"] += time.process_time() - t
        pending.append((workspace, good))
        if len(pending) == group or body is batches[-1]:
            t = time.process_time()
            results = ingest_many(stores, pending, results=[IngestResult() for _ in pending])
            totals["transaction (total)"] += time.process_time() - t
            for k, v in results[0].timings.items():
                totals["  " + k] += v
            pending = []
    t = time.process_time()
    moved = stores.pump()
    stores.checkpoint()
    totals["pump: staging -> event store + profile mirror"] += time.process_time() - t
    totals["wall"] = time.perf_counter() - started
    stores.dispose()
    for key in settings_env:
        os.environ.pop(key, None)
    assert moved == sum(len(orjson.loads(b)["batch"]) for b in batches)
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", help="also run on PostgreSQL (a database 'touchline_bench' is recreated)")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    batches = build_batches(args.events, args.batch, args.users, args.seed)
    n_events = len(batches) * args.batch
    print(f"workload: {n_events:,} events in {len(batches):,} batches of {args.batch}, {args.users:,} users, "
          f"{args.concurrency} concurrent clients, {os.cpu_count()} CPUs; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    setups = []
    tmp = Path(tempfile.mkdtemp(prefix="touchline-bench-"))
    if not args.skip_embedded:
        setups.append(("embedded (SQLite + DuckDB)", {"TOUCHLINE_DATA_DIR": str(tmp / "http")},
                       {"TOUCHLINE_DATA_DIR": str(tmp / "inproc")}))
    if args.postgres:
        http_url = fresh_postgres(args.postgres, "touchline_bench")
        inproc_url = fresh_postgres(args.postgres, "touchline_bench_inproc")
        setups.append(("PostgreSQL (both stores)",
                       {"TOUCHLINE_DATABASE_URL": http_url, "TOUCHLINE_EVENTS_URL": http_url,
                        "TOUCHLINE_DATA_DIR": str(tmp / "pg")},
                       {"TOUCHLINE_DATABASE_URL": inproc_url, "TOUCHLINE_EVENTS_URL": inproc_url,
                        "TOUCHLINE_DATA_DIR": str(tmp / "pg2")}))
    try:
        for label, http_env, inproc_env in setups:
            result = run_http(label, http_env, batches, n_events, args.concurrency)
            counts = verify(http_env, n_events)
            print(f"== {label}: HTTP end to end")
            print(f"   {result['events_per_s']:>10,.0f} events/s   ({n_events:,} events in {result['wall_s']:.1f} s; "
                  f"request p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms)")
            print(f"   stored {counts['stored']:,} (+{counts['staged']} staged), {counts['profiles']:,} profiles, "
                  f"{counts['identities']:,} identities; shutdown drain {result['shutdown_drain_s']:.1f} s")
            server_us = result["server_cpu_s"] / n_events * 1e6
            print(f"   CPU: server {server_us:.1f} µs/event (= {1e6 / server_us:,.0f} events per server CPU-second), "
                  f"bench client {result['client_cpu_s'] / n_events * 1e6:.1f} µs/event; load average after: "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print("   where the server's CPU goes, by thread:")
            for role, seconds in sorted(result["server_threads_cpu_s"].items(), key=lambda kv: -kv[1]):
                print(f"     {role:<56} {seconds / n_events * 1e6:7.1f} µs/event")
            breakdown = run_in_process(inproc_env, batches, group=min(args.concurrency, 8))
            wall = breakdown.pop("wall")
            print(f"   the same work in-process, without HTTP ({n_events / wall:,.0f} events/s wall), CPU per stage:")
            for key, seconds in breakdown.items():
                print(f"     {key:<56} {seconds / n_events * 1e6:7.1f} µs/event")
            print()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
