"""Loyalty (issue 18): ledger writes per second on each backend, and the time to review the tiers of 1M
customers.

Ledger writes, for each backend (embedded SQLite; PostgreSQL with ``--postgres URL``), over
``--customers`` customers whose profiles are bulk-loaded first:

- **one at a time**: ``service.earn`` / ``service.spend`` as the API calls them, each its own transaction
  (lock the account, read its lots, write the movement, its lot or allocations, the account, the event,
  the traits);
- **batched**: ``service.write_many`` (``POST /v1/loyalty/programs/{p}/batch``), ``--batch`` movements a
  transaction, the same rows and events written in bulk.

Tier review: ``--review-customers`` accounts (1M by default) with an order each in the window, bulk-loaded
into the embedded state store, then ``sweeps.review_tiers`` end to end (read every tier and the window's
spend, decide, write the changes with their ``Tier Changed`` events), and the pure decision alone
(``tiers.review`` over the arrays).

    python bench/loyalty.py                                   # embedded; 1M tier review
    python bench/loyalty.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    python bench/loyalty.py --review-customers 100000 --writes 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from touchline.loyalty import rules, service, sweeps
from touchline.loyalty.tiers import review
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.store.schema import loyalty_accounts, loyalty_orders, profiles
from touchline.workspaces.service import workspace_id_by_name

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _stores(postgres: str | None, name: str) -> Stores:
    if postgres is None:
        return open_stores(Settings(data_dir=Path(tempfile.mkdtemp(prefix=f"loyalty-{name}-"))))
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.rsplit("/", 1)[0] + f"/{name}"
    return open_stores(Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url, events_url=url))


def _workspace(stores: Stores) -> str:
    with stores.read() as conn:
        return workspace_id_by_name(conn, "default")


def _profiles(stores: Stores, workspace_id: str, n: int, prefix: str) -> list[str]:
    ids = [f"{prefix}{i:07d}" for i in range(n)]
    with stores.write() as conn:
        for start in range(0, n, 50_000):
            dialect.bulk_insert(conn, profiles, [
                {"id": pid, "workspace_id": workspace_id, "created_at": NOW, "updated_at": NOW, "merged_into": None,
                 "user_id": pid, "traits": {}, "trait_meta": {}, "consents": {}, "timezone": None, "locale": None}
                for pid in ids[start:start + 50_000]])
    return ids


def ledger_writes(stores: Stores, label: str, *, customers: int, writes: int, batch: int) -> dict[str, Any]:
    workspace_id = _workspace(stores)
    service.create_program(stores, workspace_id, "bench", "Bench", now=NOW)
    ids = _profiles(stores, workspace_id, customers, "c")
    rng = random.Random(7)
    # One at a time: earns, then spends of part of them (the spends read and update lots).
    single = max(200, writes // 10)
    cpu = time.process_time()
    started = time.perf_counter()
    for i in range(single):
        service.earn(stores, workspace_id, "bench", rng.choice(ids), rng.randint(100, 2_000), key=f"one-{i}",
                     pending_days=0, now=NOW)
    earned_s = time.perf_counter() - started
    earned_cpu = time.process_time() - cpu
    started = time.perf_counter()
    spent = 0
    for i in range(single // 2):
        try:
            service.spend(stores, workspace_id, "bench", rng.choice(ids), 50, key=f"spend-{i}", now=NOW)
            spent += 1
        except Exception:  # a customer with no points drawn: refused, nothing written
            pass
    spend_s = time.perf_counter() - started
    # Batched: earns in transactions of ``batch``.
    cpu = time.process_time()
    started = time.perf_counter()
    for start in range(0, writes, batch):
        service.write_many(stores, workspace_id, "bench", [
            {"kind": "earn", "customer": ids[(start + j) % len(ids)], "points": 100 + j % 500,
             "idempotency_key": f"b-{start + j}"} for j in range(min(batch, writes - start))], now=NOW)
    batch_s = time.perf_counter() - started
    batch_cpu = time.process_time() - cpu
    return {"backend": label, "single_earn_per_s": single / earned_s, "single_cpu_us": earned_cpu / single * 1e6,
            "batched_cpu_us": batch_cpu / writes * 1e6, "single_spend_per_s": (single // 2) / spend_s,
            "spends_ok": spent, "batched_per_s": writes / batch_s, "batched_writes": writes, "batch": batch}


def tier_review(customers: int) -> dict[str, Any]:
    stores = _stores(None, "review")
    workspace_id = _workspace(stores)
    service.create_program(stores, workspace_id, "bench", "Bench", now=NOW)
    with stores.read() as conn:
        p = service.program(conn, workspace_id, "bench")
    rng = np.random.default_rng(7)
    levels = ["basic", "silver", "gold", "vip"]
    started = time.perf_counter()
    # The window's spend, and the tier each customer holds now: mostly what that spend qualifies for; one in
    # ten a level above it (downgrades at this review) or below it (upgrades the rules' consumer missed).
    spend = rng.lognormal(12.5, 1.2, customers).astype(np.int64)  # median ~₩270,000 a year
    thresholds_now = [0, 300_000, 1_000_000, 3_000_000]
    tiers_now = np.searchsorted(np.asarray(thresholds_now), spend, side="right") - 1
    shift = rng.choice([-1, 0, 1], size=customers, p=[0.03, 0.90, 0.07])
    tiers_now = np.clip(tiers_now + shift, 0, 3)
    with stores.write() as conn:
        for start in range(0, customers, 100_000):
            stop = min(customers, start + 100_000)
            dialect.bulk_insert(conn, loyalty_accounts, [
                {"program_id": p.id, "profile_id": f"r{i:07d}", "workspace_id": workspace_id, "balance": 0, "owed": 0,
                 "earned": 0, "spent": 0, "tier": levels[int(tiers_now[i])], "tier_since": NOW, "created_at": NOW,
                 "updated_at": NOW} for i in range(start, stop)])
            dialect.bulk_insert(conn, loyalty_orders, [
                {"program_id": p.id, "order_id": f"o{i:07d}", "workspace_id": workspace_id, "profile_id": f"r{i:07d}",
                 "amount": int(spend[i]), "refunded": 0, "ordered_at": NOW - dt.timedelta(days=30),
                 "payment_hash": None, "address_hash": None} for i in range(start, stop)])
    load_s = time.perf_counter() - started
    tiers = p.definition.tiers
    assert tiers is not None
    thresholds = [level.threshold * 10 ** rules.minor_exponent("KRW") for level in tiers.levels]
    started = time.perf_counter()
    decided = review(tiers_now.astype(np.int64), spend.astype(np.float64), thresholds, tiers.downgrade)
    pure_s = time.perf_counter() - started
    result = sweeps.review_tiers(stores, workspace_id, "bench", now=NOW)
    stores.dispose()
    return {"customers": customers, "load_s": load_s, "pure_s": pure_s,
            "changed_pure": int(np.sum(decided != tiers_now)), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="also measure PostgreSQL (a database is made and dropped)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=50_000, help="batched movements")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--review-customers", type=int, default=1_000_000)
    args = parser.parse_args()

    rows = [ledger_writes(_stores(None, "embedded"), "embedded (SQLite)", customers=args.customers,
                          writes=args.writes, batch=args.batch)]
    if args.postgres:
        rows.append(ledger_writes(_stores(args.postgres, "touchline_bench_loyalty"), "PostgreSQL",
                                  customers=args.customers, writes=args.writes, batch=args.batch))
    print(f"{'backend':<20} {'one at a time: earn/s':>22} {'CPU/earn':>9} {'spend/s':>8} {'batched/s':>10} "
          f"{'CPU/write':>10}  (target >= 5,000/s embedded)")
    for r in rows:
        print(f"{r['backend']:<20} {r['single_earn_per_s']:>22,.0f} {r['single_cpu_us']:>7,.0f}µs "
              f"{r['single_spend_per_s']:>8,.0f} {r['batched_per_s']:>10,.0f} {r['batched_cpu_us']:>8,.0f}µs  "
              f"({r['batched_writes']:,} in batches of {r['batch']:,}; CPU of this process)")
    if args.review_customers:
        r = tier_review(args.review_customers)
        print(f"tier review, {r['customers']:,} customers (embedded): {r['seconds']:.1f} s end to end "
              f"(read {r['read_seconds']:.1f} s, decide {r['decide_seconds']:.2f} s, {r['upgraded']:,} up, "
              f"{r['downgraded']:,} down written with their events); the decision alone over the arrays "
              f"{r['pure_s'] * 1000:.0f} ms; loading the accounts took {r['load_s']:.0f} s (target <= 60 s)")


if __name__ == "__main__":
    main()
