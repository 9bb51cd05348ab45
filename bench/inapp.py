"""In-app messages (issue 17): the latency of ``GET /v1/inapp/messages``, what the web SDK and the apps ask on
every page or screen, on a real `touchline serve` (embedded stores by default, ``--postgres URL`` for
PostgreSQL).

The workspace gets the demo's banner (a page rule: a product viewed three times), a journey-triggered modal
and an event-triggered slide-in, ``--messages`` in all (the rest more page banners), each from an in_app
template rendered in the sandbox for the customer. ``--customers`` known customers are identified first
(name, locale, consent); a third of them have seen a message (an impression recorded, so their frequency
history is read), a tenth have an event-triggered message pending. Then, warm:

1. ``GET /v1/inapp/messages?user=…`` for random customers, one request at a time (``--requests``): p50, p99
   and max in ms, beside ``GET /health`` on the same connection (what the server costs anyway);
2. the same from ``--concurrency`` client threads: requests per second, p50 / p99;
3. ``POST /v1/inapp/events`` impressions (decided under the customer's lock, recorded through ingestion):
   p50 / p99.

    python bench/inapp.py
    python bench/inapp.py --customers 20000 --requests 5000 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ADMIN_TOKEN,
    WRITE_KEY,
    cpu_seconds,
    fresh_postgres,
    load_average,
    percentile,
    serving,
)

TARGET_P99_MS = 20.0
TEMPLATE = {"default_locale": "ko", "variants": {
    "ko": {"title": "{% if profile.traits.name %}{{ profile.traits.name }}님, {% endif %}이 상품 아직 고민 중이세요?",
           "body": "오늘 주문하시면 10% 할인해 드려요. 쿠폰 코드 COMEBACK10", "url": "https://shop.example/cart"},
    "en": {"title": "Still thinking it over{% if profile.traits.name %}, {{ profile.traits.name }}{% endif %}?",
           "body": "Order today for 10% off with the code COMEBACK10.", "url": "https://shop.example/cart"}}}


def _messages(n: int) -> list[dict[str, Any]]:
    base = {"template": "bench-banner", "button": {"ko": "쿠폰 받기", "en": "Get the coupon"}}
    out = [
        {**base, "key": "viewed-three-times", "name": "Viewed three times", "layout": "banner",
         "trigger": {"type": "page", "rule": {"kind": "product_views", "at_least": 3}}},
        {**base, "key": "journey-modal", "name": "Cart journey", "layout": "modal",
         "trigger": {"type": "journey", "journey_id": "cart-nudge"}},
        {**base, "key": "big-cart", "name": "Big cart", "layout": "slide_in",
         "trigger": {"type": "event", "event": "Cart Viewed"}},
    ]
    for i in range(3, n):
        out.append({**base, "key": f"banner-{i}", "name": f"Banner {i}", "layout": "banner", "priority": i % 10,
                    "trigger": {"type": "page", "rule": {"kind": "cart_value", "at_least": 50000 + i}}})
    return out[:max(n, 1)]


def _setup(client: httpx.Client, customers: int, messages: int, rng: random.Random) -> list[str]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client.put("/v1/templates/bench-banner/in_app", json=TEMPLATE, headers=admin).raise_for_status()
    created = []
    for message in _messages(messages):
        response = client.post("/v1/inapp/admin/messages", json=message, headers=admin)
        response.raise_for_status()
        created.append(response.json()["id"])
    client.put("/v1/inapp/admin/frequency", json={"min_minutes_between": 0, "max_per_day": None},
               headers=admin).raise_for_status()
    users = [f"bench-{i:06d}" for i in range(customers)]
    now = time.time()
    for start in range(0, customers, 500):
        batch = []
        for user in users[start:start + 500]:
            batch.append({"type": "identify", "userId": user, "anonymousId": f"anon-{user}",
                          "traits": {"name": f"고객{user[-4:]}", "locale": rng.choice(["ko-KR", "en-US"]),
                                     "consent": {"in_app": rng.random() > 0.05}}})
            if rng.random() < 0.1:
                batch.append({"type": "track", "userId": user, "event": "Cart Viewed",
                              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
        client.post("/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, "")).raise_for_status()
    for user in rng.sample(users, customers // 3):
        client.post("/v1/inapp/events", auth=(WRITE_KEY, ""), json={
            "type": "impression", "message_id": created[0], "user": f"user_id:{user}",
            "key": f"bench-{user}"}).raise_for_status()
    return users


def _timed_gets(client: httpx.Client, paths: list[str]) -> list[float]:
    latencies = []
    for path in paths:
        t = time.perf_counter()
        response = client.get(path, auth=(WRITE_KEY, ""))
        latencies.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return latencies


def _concurrent(url: str, paths: list[str], threads: int) -> tuple[float, list[float]]:
    chunks = [paths[i::threads] for i in range(threads)]
    results: list[list[float]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            results[i] = _timed_gets(client, chunks[i])

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, [x for r in results for x in r]


def _line(name: str, values: list[float]) -> str:
    return (f"{name}: p50 {percentile(values, 0.5):.2f} ms, p99 {percentile(values, 0.99):.2f} ms, "
            f"max {max(values):.2f} ms ({len(values):,} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres", help="a PostgreSQL server's URL: the bench makes a database of its own there")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as data:
        env = {"TOUCHLINE_DATA_DIR": data}
        if args.postgres:
            url = fresh_postgres(args.postgres, "touchline_bench_inapp")
            env.update({"TOUCHLINE_DATABASE_URL": url, "TOUCHLINE_EVENTS_URL": url})
        backend = "PostgreSQL" if args.postgres else "embedded (SQLite + DuckDB)"
        print(f"In-app messages: {backend}, {args.customers:,} customers, {args.messages} messages; "
              f"load average {load_average()}")
        with serving(env) as server, httpx.Client(base_url=server.url, timeout=120) as client:
            t = time.perf_counter()
            users = _setup(client, args.customers, args.messages, rng)
            print(f"set-up (customers identified, impressions recorded): {time.perf_counter() - t:.1f} s")
            # What a page asks: a known customer by user id, or a browser by its anonymous id.
            paths = [f"/v1/inapp/messages?user={'user_id:' if rng.random() < 0.5 else 'anonymous_id:anon-'}"
                     f"{rng.choice(users)}&platform=web" for _ in range(args.requests)]
            sample = client.get(paths[0], auth=(WRITE_KEY, "")).json()
            shown = sum(len(client.get(p, auth=(WRITE_KEY, "")).json()["messages"]) for p in paths[:200]) / 200
            _timed_gets(client, paths[:300])  # warm: caches, prepared statements, compiled templates
            cpu = cpu_seconds(server.process.pid)
            sequential = _timed_gets(client, paths)
            cpu_each = (cpu_seconds(server.process.pid) - cpu) / len(paths) * 1000
            cpu = cpu_seconds(server.process.pid)
            health = _timed_gets(client, ["/health"] * min(args.requests, 2000))
            health_cpu = (cpu_seconds(server.process.pid) - cpu) / len(health) * 1000
            wall, concurrent = _concurrent(server.url, paths, args.concurrency)
            keys = [f"imp-{i:08d}" for i in range(min(args.requests, 1000))]
            impressions = []
            for key in keys:
                user = rng.choice(users)
                t = time.perf_counter()
                response = client.post("/v1/inapp/events", auth=(WRITE_KEY, ""), json={
                    "type": "impression", "message_id": sample["messages"][0]["id"] if sample["messages"] else "0" * 32,
                    "user": f"user_id:{user}", "key": key})
                impressions.append((time.perf_counter() - t) * 1000)
                if response.status_code not in (200, 201):
                    raise SystemExit(f"impression: {response.status_code} {response.text[:200]}")
        p99 = percentile(sequential, 0.99)
        verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
        print(f"messages a customer is offered on average: {shown:.2f}")
        print(_line("GET /v1/inapp/messages, one at a time", sequential)
              + f"   (target p99 <= {TARGET_P99_MS:g} ms: {p99 / TARGET_P99_MS:.2f}x of it, {verdict})")
        print(f"   the server's CPU per request: {cpu_each:.2f} ms (all its threads, the pump's and the runner's "
              f"included)")
        print(_line("GET /health, same connection (reference)", health)
              + f"; server CPU {health_cpu:.2f} ms a request")
        print(_line(f"GET /v1/inapp/messages, {args.concurrency} clients", concurrent)
              + f"; {len(concurrent) / wall:,.0f} requests/s")
        print(_line("POST /v1/inapp/events (impression, decided and recorded)", impressions))
        if args.json:
            print(json.dumps({"backend": backend, "p50_ms": percentile(sequential, 0.5), "p99_ms": p99,
                              "cpu_ms": cpu_each,
                              "concurrent_per_s": len(concurrent) / wall,
                              "impression_p99_ms": percentile(impressions, 0.99)}))


if __name__ == "__main__":
    main()
