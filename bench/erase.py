"""How long an erase takes to be purged from the store files, on a big store.

Builds (or, with ``--data``, reuses) the store of bench/analytics.py: ``--events`` events (1M by
default) of the demo shop bulk-loaded into the event store, every profile in the state store. Then,
for ``--customers`` customers with events, one after another: ``customers.service.erase`` (what
``DELETE /v1/profiles/{id}`` runs), timed; then one purge for all of them (``purge_erased``, what the
server's pump runs after an erase), timed by part: the second sweep of the deletes, SQLite's log
truncation, PostgreSQL's VACUUM, the DuckDB rewrite (copy + fsync + swap). Last, every store file is
searched for each erased customer's user id (0 hits expected), and for another customer's (found).

    python bench/erase.py                               # 1M events / 100k profiles, embedded
    python bench/erase.py --data ~/bench-1m             # build once there, later runs start from a copy
    python bench/erase.py --postgres postgresql://postgres@127.0.0.1:5432/postgres   # also PostgreSQL
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analytics  # the store builder

from touchline.customers import service as customer_service
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store import dialect
from touchline.store.engines import Stores


def _grep(directory: Path, needles: list[bytes]) -> dict[bytes, int]:
    """Occurrences of each needle in every file under ``directory``."""
    hits = dict.fromkeys(needles, 0)
    for path in directory.rglob("*"):
        if not path.is_file() or path.stat().st_size == 0:
            continue
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for needle in needles:
                start = data.find(needle)
                while start != -1:
                    hits[needle] += 1
                    start = data.find(needle, start + 1)
    return hits


def _timed(stores: Stores, parts: dict[str, tuple[float, float]]) -> None:
    """Wrap the purge's parts so that their time is added up in ``parts``: (wall clock, CPU of the
    process, every thread, DuckDB's included: what they would take on a machine of their own, give or
    take parallelism)."""
    def wrap(owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                wall, used = parts.get(label, (0.0, 0.0))
                parts[label] = (wall + time.perf_counter() - t, used + time.process_time() - cpu)

        setattr(owner, name, timed)

    wrap(customer_service, "delete_customer", "second sweep of the deletes")
    wrap(dialect, "vacuum", "VACUUM (PostgreSQL)")
    wrap(dialect, "truncate_log", "SQLite log truncation")
    wrap(stores, "rewrite_event_store", "DuckDB rewrite (copy, fsync, swap)")


def run(stores: Stores, workspace_id: str, customers: list[dict[str, Any]], keep: dict[str, Any],
        files: Path | None) -> None:
    label = "PostgreSQL" if stores.settings.database_url else "embedded (SQLite + DuckDB)"
    with stores.events_conn() as conn:
        n_events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
    if files is not None:
        size = sum(p.stat().st_size for p in files.iterdir() if p.name.startswith("events.duckdb"))
        print(f"\n== {label}: {n_events:,} events; events.duckdb {size / 1e6:,.0f} MB")
    else:
        print(f"\n== {label}: {n_events:,} events")
    erased = 0
    t = time.perf_counter()
    for c in customers:
        erased += customer_service.erase(stores, workspace_id, f"user_id:{c['user_id']}")["erased"]["events"]
    per = (time.perf_counter() - t) / len(customers)
    print(f"   erase (DELETE /v1/profiles/...): {per * 1000:.0f} ms each, {len(customers)} customers, "
          f"{erased:,} events")
    parts: dict[str, tuple[float, float]] = {}
    _timed(stores, parts)
    t, cpu = time.perf_counter(), time.process_time()
    purged = customer_service.purge_erased(stores, force=True)
    total, used = time.perf_counter() - t, time.process_time() - cpu
    assert purged == len(customers), purged
    print(f"   purge of the {purged} erasures: {total:.2f} s ({used:.2f} s CPU); load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, (wall, busy) in parts.items():
        if wall >= 0.005:
            print(f"     {name}: {wall:.2f} s ({busy:.2f} s CPU)")
    if files is not None:
        size = sum(p.stat().st_size for p in files.iterdir() if p.name.startswith("events.duckdb"))
        print(f"   events.duckdb after: {size / 1e6:,.0f} MB")
        # User ids only: the bench's dormant profiles are copies of generated people's traits, e-mail
        # included, so an erased customer's e-mail is rightly still there, in those other profiles.
        needles = [c["user_id"].encode() for c in customers]
        hits = _grep(files, [*needles, keep["user_id"].encode()])
        found = {k.decode(): v for k, v in hits.items() if v and k != keep["user_id"].encode()}
        print(f"   store files holding an erased customer's user id: {found or 'none'}; "
              f"another customer's user id: {hits[keep['user_id'].encode()]} hits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=5, help="customers erased before one purge")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", help="also on PostgreSQL (a database 'touchline_bench_analytics' is recreated)")
    parser.add_argument("--data", type=Path, help="build the data once into this directory (see bench/analytics.py)")
    args = parser.parse_args()
    args.skip_embedded = False
    args.pg_url = None
    tmp = Path(tempfile.mkdtemp(prefix="touchline-bench-erase-"))
    try:
        cache = args.data or tmp / "cache"
        meta = analytics._cache_matches(cache, args) if args.data else None
        if meta is None:
            t = time.perf_counter()
            meta = analytics.build_cache(args, cache)
            print(f"built {meta['n_events']:,} events in {time.perf_counter() - t:.0f} s")
        sample = orjson.loads((cache / "sample.json").read_bytes())
        people = [p for p in sample if p.get("user_id")]
        chosen = [{"user_id": p["user_id"]} for p in people[: args.customers]]
        keep = {"user_id": people[args.customers]["user_id"]}
        open_stores(Settings(data_dir=cache / "embedded")).dispose()  # migrated once, then copied
        shutil.copytree(cache / "embedded", tmp / "embedded")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        stores = open_stores(Settings(data_dir=tmp / "embedded"))
        try:
            with stores.read() as conn:
                ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
            run(stores, ws, chosen, keep, tmp / "embedded")
        finally:
            stores.dispose()
        if args.postgres:
            source = args.postgres.rsplit("/", 1)[0] + "/" + analytics.cache_db(args)
            open_stores(Settings(database_url=source, events_url=source, data_dir=tmp / "pg")).dispose()
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{analytics.RUN_DB}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{analytics.RUN_DB}" TEMPLATE "{analytics.cache_db(args)}"')
            url = args.postgres.rsplit("/", 1)[0] + "/" + analytics.RUN_DB
            stores = open_stores(Settings(database_url=url, events_url=url, data_dir=tmp / "pg"))
            try:
                with stores.read() as conn:
                    ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
                run(stores, ws, chosen, keep, None)
            finally:
                stores.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
