"""Analytics and segment speed on a big store: Touchline's queries beside the same queries hand-written.

Builds an event store of ``--events`` events (10M by default) and ``--profiles`` profiles (1M) from the
demo shop generator, then times, best of 3 warm runs each:

  1. a 5-step funnel (Product Viewed -> Product Added -> Checkout Started -> Payment Info Entered ->
     Order Completed, 7-day window) through ``touchline.analytics.service.funnel``;
  2. a segment with 3 nested conditions, compiled by ``compile_segment`` and counted;
  3. a monthly retention cohort through ``touchline.analytics.service.retention_cohorts``;

each beside the same query hand-written in plain DuckDB SQL (results checked equal), on the embedded
default (SQLite + DuckDB) and, with ``--postgres``, on PostgreSQL. Then live membership: 50 live
segments, a few thousand new events ingested through the real path for existing customers, and
``refresh_live`` timed per event.

THE LOAD IS A BULK LOAD OF GENERATOR OUTPUT, NOT THE INGESTION PATH: ingestion runs at ~5k events/s
here (see bench/ingest.py), 30+ minutes for 10M. Each generated message becomes an event-store row
directly (channel and device derived with the ingestion code's own functions), with one profile per
simulated person (identity resolution assumed complete: no merges), appended to DuckDB with pyarrow
and to PostgreSQL with COPY. The generator yields ~38 events per person, so 10M events come from
~260k people; the rest of ``--profiles`` are dormant profiles (copies of generated people's traits
and consents, with no events), as a CRM import would leave.

    python bench/analytics.py                                     # 10M events / 1M profiles, embedded
    python bench/analytics.py --events 200000 --profiles 20000 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres   # quick, both engines
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import sqlalchemy as sa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fresh_postgres

from touchline.analytics import service as analytics
from touchline.demo.generator import iter_messages
from touchline.errors import StoreUnavailable
from touchline.ingest.normalize import derive_channel, derive_device
from touchline.ingest.service import IngestResult, ingest, parse_items
from touchline.platform import open_stores
from touchline.profiles.contacts import normalize_phone
from touchline.segments import store as segment_store
from touchline.segments.ast import to_json
from touchline.segments.compile import compile_segment
from touchline.segments.service import create_segment, rank_buyers, refresh_live
from touchline.segments.validate import parse
from touchline.settings import Settings
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.store.schema import identities, profiles

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # the generator's "now": data ends an hour before
DAYS = 365
TZ = "Asia/Seoul"
START, END = NOW - dt.timedelta(days=DAYS + 30), NOW + dt.timedelta(days=1)
EVENTS_PER_PERSON = 38.5  # measured: the generator's average over a year
CHUNK_ROWS = 250_000
RUNS = 3
TIMED_OUT = "timed out"
TARGET_SECONDS, TARGET_RATIO, TARGET_LIVE_MS = 2.0, 1.5, 1.0
RUN_DB = "touchline_bench_analytics"

FUNNEL_STEPS = ["Product Viewed", "Product Added", "Checkout Started", "Payment Info Entered", "Order Completed"]
FUNNEL_WINDOW = dt.timedelta(days=7)
# AND(trait, OR(event count, NOT reachable)): three conditions, nested two deep.
NESTED_SEGMENT: dict[str, Any] = {
    "type": "and",
    "children": [
        {"type": "trait", "trait": "signup_channel", "operator": "=", "value": "app"},
        {"type": "or", "children": [
            {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 2},
             "within_days": 90},
            {"type": "not", "child": {"type": "reachable", "channel": "sms"}},
        ]},
    ],
}

EVENT_COLUMNS = ["seq", "workspace_id", "message_id", "type", "event", "profile_id", "anonymous_id", "user_id",
                 "timestamp", "original_timestamp", "sent_at", "received_at", "channel", "device_type", "device_id",
                 "payload", "properties", "traits", "context"]
TIME_COLUMNS = {"timestamp", "original_timestamp", "sent_at", "received_at"}
SNAPSHOT_COLUMNS = ["workspace_id", "profile_id", "canonical_id", "user_id", "traits", "consents", "timezone",
                    "locale", "created_at", "updated_at"]


# --- bulk load -----------------------------------------------------------------------------------------


class Person:
    """What the profile of one simulated person looks like after ingestion (no merges)."""

    __slots__ = ("consents", "created_at", "locale", "profile_id", "timezone", "traits", "updated_at", "user_id")

    def __init__(self, profile_id: str, first_ts: str) -> None:
        self.profile_id = profile_id
        self.user_id: str | None = None
        self.traits: dict[str, Any] = {}
        self.consents: dict[str, Any] = {}
        self.timezone: str | None = None
        self.locale: str | None = None
        self.created_at = self.updated_at = first_ts

    def identify(self, msg: dict[str, Any]) -> None:
        traits = dict(msg.get("traits") or {})
        consent = traits.pop("consent", None)
        ts = msg["timestamp"]
        source = (msg["context"].get("library") or {}).get("name", "api")
        if isinstance(traits.get("email"), str):
            traits["email"] = traits["email"].strip().lower()
        if isinstance(traits.get("phone"), str):
            traits["phone"] = normalize_phone(traits["phone"], "KR") or traits["phone"]
        self.traits.update(traits)
        if isinstance(consent, dict):
            for channel, granted in consent.items():
                self.consents[channel] = {"status": "granted" if granted else "denied", "at": ts, "source": source}
        self.timezone = msg["context"].get("timezone") or traits.get("timezone") or self.timezone
        self.locale = msg["context"].get("locale") or traits.get("locale") or self.locale

    def row(self, workspace_id: str, profile_id: str | None = None, user_id: str | None = None) -> list[Any]:
        pid = profile_id or self.profile_id
        return [workspace_id, pid, pid, user_id if profile_id else self.user_id, orjson.dumps(self.traits).decode(),
                orjson.dumps(self.consents).decode(), self.timezone, self.locale, self.created_at, self.updated_at]


def people(n_events: int, seed: int) -> Iterator[tuple[Person, list[dict[str, Any]]]]:
    """Generated people and their messages, until ``n_events`` messages. A person's messageIds share
    their high bits (the generator XORs a per-person base with a counter): that is how one person's
    messages are told from the next one's, with nothing but the public ``iter_messages``."""
    customers = int(n_events / EVENTS_PER_PERSON * 1.1) + 10
    produced = 0
    current: Person | None = None
    batch: list[dict[str, Any]] = []
    key = ""
    for msg in iter_messages(customers=customers, seed=seed, days=DAYS, now=NOW):
        mkey = msg["messageId"].replace("-", "")[:24]
        if mkey != key:
            if current is not None:
                yield current, batch
                if produced >= n_events:
                    return
            key, current, batch = mkey, Person("p_" + mkey, msg["timestamp"]), []
        batch.append(msg)
        produced += 1
    if current is not None:
        yield current, batch
    if produced < n_events:
        print(f"  note: the generator ran out at {produced:,} events")


class Loader:
    """Rows column by column, appended in chunks to DuckDB (pyarrow) and PostgreSQL (COPY)."""

    def __init__(self, duck: Stores | None, duck_ws: str, pg: Stores | None, pg_ws: str) -> None:
        self.duck, self.duck_ws, self.pg, self.pg_ws = duck, duck_ws, pg, pg_ws
        self.columns: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS if c != "workspace_id"}
        self.snapshots: list[list[Any]] = []
        self.seq = 0
        self.seconds = {"duckdb": 0.0, "postgresql": 0.0}

    def add_person(self, person: Person, messages: list[dict[str, Any]]) -> None:
        c = self.columns
        for msg in messages:
            self.seq += 1
            ctx = msg["context"]
            channel = derive_channel(ctx, msg["type"])
            device_type, device_id = derive_device(ctx, channel)
            if msg["type"] == "identify":
                person.identify(msg)
            if "userId" in msg:
                person.user_id = msg["userId"]
            ts = msg["timestamp"]
            person.updated_at = ts
            c["seq"].append(self.seq)
            c["message_id"].append(msg["messageId"])
            c["type"].append(msg["type"])
            c["event"].append(msg.get("event") if msg["type"] == "track" else msg.get("name"))
            c["profile_id"].append(person.profile_id)
            c["anonymous_id"].append(msg.get("anonymousId"))
            c["user_id"].append(msg.get("userId"))
            c["timestamp"].append(ts)
            c["original_timestamp"].append(ts)
            c["sent_at"].append(None)
            c["received_at"].append(ts)
            c["channel"].append(channel)
            c["device_type"].append(device_type)
            c["device_id"].append(device_id)
            c["payload"].append(orjson.dumps(msg).decode())
            for part in ("properties", "traits", "context"):
                value = msg.get(part)
                c[part].append(orjson.dumps(value).decode() if isinstance(value, dict) else "{}")
        if len(c["seq"]) >= CHUNK_ROWS:
            self.flush_events()

    def add_snapshot(self, row: list[Any]) -> None:
        self.snapshots.append(row)
        if len(self.snapshots) >= CHUNK_ROWS:
            self.flush_snapshots()

    def flush_events(self) -> None:
        n = len(self.columns["seq"])
        if not n:
            return
        if self.duck is not None:
            t = time.perf_counter()
            arrays = {"seq": pa.array(self.columns["seq"], pa.int64()),
                      "workspace_id": pa.array([self.duck_ws] * n, pa.string())}
            arrays |= {k: pa.array(v, pa.string()) for k, v in self.columns.items() if k != "seq"}
            _duck_insert(self.duck, "events", pa.table({k: arrays[k] for k in EVENT_COLUMNS}), TIME_COLUMNS)
            self.seconds["duckdb"] += time.perf_counter() - t
        if self.pg is not None:
            t = time.perf_counter()
            cols = [self.columns[k] if k != "workspace_id" else [self.pg_ws] * n for k in EVENT_COLUMNS]
            _pg_copy(self.pg, "events", EVENT_COLUMNS, zip(*cols, strict=True))
            self.seconds["postgresql"] += time.perf_counter() - t
        for v in self.columns.values():
            v.clear()

    def flush_snapshots(self) -> None:
        if not self.snapshots:
            return
        if self.duck is not None:
            t = time.perf_counter()
            table = pa.table({k: pa.array([r[i] if i else self.duck_ws for r in self.snapshots], pa.string())
                              for i, k in enumerate(SNAPSHOT_COLUMNS)})
            _duck_insert(self.duck, "profile_snapshots", table, {"created_at", "updated_at"})
            self.seconds["duckdb"] += time.perf_counter() - t
        if self.pg is not None:
            t = time.perf_counter()
            _pg_copy(self.pg, "profile_snapshots", SNAPSHOT_COLUMNS, ([self.pg_ws, *r[1:]] for r in self.snapshots))
            self.seconds["postgresql"] += time.perf_counter() - t
        self.snapshots.clear()


def _duck_insert(stores: Stores, table: str, batch: pa.Table, times: set[str]) -> None:
    with stores.events_conn() as conn:
        raw = conn.connection.driver_connection
        raw.register("_bench_batch", batch)
        try:
            cols = ", ".join(f'"{c}"' for c in batch.column_names)
            source = ", ".join(f'CAST("{c}" AS TIMESTAMPTZ)' if c in times else f'"{c}"' for c in batch.column_names)
            raw.execute(f"INSERT INTO {table} ({cols}) SELECT {source} FROM _bench_batch")  # noqa: S608
        finally:
            raw.unregister("_bench_batch")


def time_order_events(stores: Stores) -> None:
    """Rewrite the event table in time order, sequence numbers renumbered in that order.

    The bulk load appends person after person, so each row group spans the whole year; ingestion
    appends events as they arrive, so a row group spans minutes and DuckDB's min/max zone maps skip
    most of the table for a 30- or 90-day report. Timing reports over the person-ordered file would
    measure a layout no real store has."""
    cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS if c != "seq")
    with stores.events_conn() as conn:
        raw = conn.connection.driver_connection
        raw.execute(f"CREATE TEMP TABLE _by_time AS SELECT row_number() OVER (ORDER BY timestamp, seq) AS seq, "  # noqa: S608
                    f"{cols} FROM events")
        raw.execute("DELETE FROM events")
        raw.execute(f"INSERT INTO events (seq, {cols}) SELECT seq, {cols} FROM _by_time ORDER BY seq")  # noqa: S608
        raw.execute("DROP TABLE _by_time")


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def fill_state_profiles(stores: Stores, ws: str) -> int:
    """Every bulk-loaded profile, and its user_id identity, in the state store as ingestion would have
    left them (the bulk load wrote only the event store's snapshots); the profile mirror's mark is set
    past them so that the first pump does not copy them all back. Returns how many."""
    from touchline.store.engines import _set_sync_mark

    columns = ["profile_id", "user_id", "traits", "consents", "timezone", "locale", "created_at", "updated_at"]
    with stores.events_conn() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM profile_snapshots").scalar_one()
    done, after = 0, ""
    mark: tuple[Any, str] | None = None  # the newest (updated_at, id) filled
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("profiles into the state store", total=total)
        while True:
            with stores.events_conn() as conn:
                rows = conn.execute(
                    sa.text(f"SELECT {', '.join(columns)} FROM profile_snapshots WHERE workspace_id = :ws "  # noqa: S608
                            "AND profile_id > :after ORDER BY profile_id LIMIT 50000"),
                    {"ws": ws, "after": after}).all()
            if not rows:
                break
            state_rows, ids = [], []
            for r in rows:
                state_rows.append({"id": r.profile_id, "workspace_id": ws, "created_at": r.created_at,
                                   "updated_at": r.updated_at, "merged_into": None, "user_id": r.user_id,
                                   "traits": _json(r.traits), "trait_meta": {},
                                   "consents": _json(r.consents), "timezone": r.timezone, "locale": r.locale})
                if r.user_id:
                    ids.append({"workspace_id": ws, "value": r.user_id, "kind": "user_id", "profile_id": r.profile_id,
                                "first_seen_at": r.created_at, "source": "bench"})
            with stores.write() as conn:
                dialect.bulk_insert(conn, profiles, state_rows)
                dialect.bulk_insert(conn, identities, ids)
            newest = max((row["updated_at"], row["id"]) for row in state_rows)
            mark = newest if mark is None else max(mark, newest)
            after = rows[-1].profile_id
            done += len(rows)
            bar.update(task, completed=done)
    if mark is not None:
        with stores.events_conn() as conn:
            _set_sync_mark(conn, "profiles", f"{dialect.as_utc_datetime(mark[0]).isoformat()}|{mark[1]}")
    return done


def _pg_copy(stores: Stores, table: str, columns: list[str], rows: Any) -> None:
    with stores.events.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()


def load(args: argparse.Namespace, duck: Stores | None, duck_ws: str, pg: Stores | None, pg_ws: str
         ) -> tuple[int, int, int, list[Person], dict[str, float]]:
    """Events, profiles with events, dormant profiles, a sample of identified people (for live
    membership) and seconds per engine."""
    loader = Loader(duck, duck_ws, pg, pg_ws)
    rng = random.Random(args.seed)
    identified: list[Person] = []  # a reservoir sample, also the source of the dormant profiles
    seen_identified = 0
    persons = 0
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns) as progress:
        task = progress.add_task("generate + bulk-append events", total=args.events)
        for person, messages in people(args.events, args.seed):
            loader.add_person(person, messages)
            loader.add_snapshot(person.row(duck_ws))
            persons += 1
            if person.user_id is not None:
                seen_identified += 1
                if len(identified) < 20_000:
                    identified.append(person)
                elif (j := rng.randrange(seen_identified)) < 20_000:
                    identified[j] = person
            progress.update(task, completed=loader.seq)
        loader.flush_events()
        dormant = max(0, args.profiles - persons)
        task = progress.add_task("dormant profiles (snapshots only)", total=dormant)
        for i in range(dormant):
            source = identified[i % len(identified)]
            loader.add_snapshot(source.row(duck_ws, f"p_dormant_{i:08d}", f"u_dormant_{i:08d}"))
            if i % 10_000 == 0:
                progress.update(task, completed=i)
        loader.flush_snapshots()
        progress.update(task, completed=dormant)
    if duck is not None:
        t = time.perf_counter()
        print("   putting the DuckDB events in time order (ingestion appends them as they arrive) ...")
        time_order_events(duck)
        loader.seconds["duckdb"] += time.perf_counter() - t
    if args.pg_url:
        t = time.perf_counter()
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE events")
            conn.execute("VACUUM ANALYZE profile_snapshots")
        loader.seconds["postgresql"] += time.perf_counter() - t
    return loader.seq, persons, dormant, identified, loader.seconds


# --- the three queries, Touchline's and hand-written -----------------------------------------------------


def touchline_funnel(stores: Stores, ws: str) -> tuple[list[int], list[float | None]]:
    result = analytics.funnel(stores, ws, [analytics.Step(e) for e in FUNNEL_STEPS], FUNNEL_WINDOW, START, END)
    steps = result.groups.get("all", [])
    return [s.entered for s in steps], [s.median_seconds for s in steps[1:]]


HAND_FUNNEL = """
WITH f AS (
    SELECT coalesce(s.canonical_id, e.profile_id) AS c, e.event, e.timestamp AS ts
    FROM events e LEFT JOIN profile_snapshots s ON s.workspace_id = e.workspace_id AND s.profile_id = e.profile_id
    WHERE e.workspace_id = $ws AND e.event IN ($e1, $e2, $e3, $e4, $e5)
),
s1 AS (SELECT c, min(ts) AS t1 FROM f WHERE event = $e1 AND ts >= $start AND ts < $end GROUP BY c),
s2 AS (SELECT s1.c, s1.t1, min(f.ts) AS t2 FROM s1 JOIN f ON f.c = s1.c AND f.event = $e2
       AND f.ts > s1.t1 AND f.ts <= s1.t1 + $window GROUP BY s1.c, s1.t1),
s3 AS (SELECT s2.c, s2.t1, min(f.ts) AS t3 FROM s2 JOIN f ON f.c = s2.c AND f.event = $e3
       AND f.ts > s2.t2 AND f.ts <= s2.t1 + $window GROUP BY s2.c, s2.t1),
s4 AS (SELECT s3.c, s3.t1, min(f.ts) AS t4 FROM s3 JOIN f ON f.c = s3.c AND f.event = $e4
       AND f.ts > s3.t3 AND f.ts <= s3.t1 + $window GROUP BY s3.c, s3.t1),
s5 AS (SELECT s4.c, s4.t1, min(f.ts) AS t5 FROM s4 JOIN f ON f.c = s4.c AND f.event = $e5
       AND f.ts > s4.t4 AND f.ts <= s4.t1 + $window GROUP BY s4.c, s4.t1),
j AS (SELECT s1.t1, s2.t2, s3.t3, s4.t4, s5.t5 FROM s1 LEFT JOIN s2 USING (c) LEFT JOIN s3 USING (c)
      LEFT JOIN s4 USING (c) LEFT JOIN s5 USING (c))
SELECT count(t1), count(t2), count(t3), count(t4), count(t5),
       quantile_cont(epoch(t2) - epoch(t1), 0.5), quantile_cont(epoch(t3) - epoch(t1), 0.5),
       quantile_cont(epoch(t4) - epoch(t1), 0.5), quantile_cont(epoch(t5) - epoch(t1), 0.5)
FROM j
"""


def hand_funnel(stores: Stores, ws: str) -> tuple[list[int], list[float | None]]:
    params = {"ws": ws, "start": START, "end": END, "window": FUNNEL_WINDOW,
              **{f"e{i}": e for i, e in enumerate(FUNNEL_STEPS, start=1)}}
    with stores.events_conn() as conn:
        row = conn.connection.driver_connection.execute(HAND_FUNNEL, params).fetchone()
    if not row[0]:
        return [], []
    return [int(x) for x in row[:5]], [None if x is None else float(x) for x in row[5:]]


def touchline_segment(stores: Stores, ws: str) -> int:
    query = compile_segment(parse(NESTED_SEGMENT), ws, NOW).subquery()
    with stores.events_conn() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query)).scalar_one())


HAND_SEGMENT = """
WITH buyers AS (
    SELECT coalesce(s.canonical_id, e.profile_id) AS c
    FROM events e LEFT JOIN profile_snapshots s ON s.workspace_id = e.workspace_id AND s.profile_id = e.profile_id
    WHERE e.workspace_id = $ws AND e.event = 'Order Completed' AND e.timestamp >= $since AND e.timestamp <= $now
    GROUP BY 1 HAVING count(*) >= 2
)
SELECT count(*) FROM profile_snapshots p
WHERE p.workspace_id = $ws AND p.canonical_id = p.profile_id
  AND json_extract_string(p.traits, '$.signup_channel') = 'app'
  AND (p.profile_id IN (SELECT c FROM buyers)
       OR NOT (coalesce(json_extract_string(p.consents, '$.sms.status') = 'granted', false)
               AND coalesce(json_extract_string(p.traits, '$.phone'), '') <> ''))
"""


def hand_segment(stores: Stores, ws: str) -> int:
    params = {"ws": ws, "now": NOW, "since": NOW - dt.timedelta(days=90)}
    with stores.events_conn() as conn:
        return int(conn.connection.driver_connection.execute(HAND_SEGMENT, params).fetchone()[0])


Cells = tuple[list[tuple[dt.date, int]], list[tuple[dt.date, dt.date, int]]]


def touchline_retention(stores: Stores, ws: str) -> Cells:
    cohorts = analytics.retention_cohorts(stores, ws, "month", None, None, START, END, tz=TZ)
    sizes = [(c.start, c.size) for c in cohorts]
    cells = []
    for c in cohorts:
        for k, n in enumerate(c.retained):
            if n:
                month = c.start.month - 1 + k
                cells.append((c.start, dt.date(c.start.year + month // 12, month % 12 + 1, 1), n))
    return sizes, cells


HAND_RETENTION = """
WITH ev AS (
    SELECT coalesce(s.canonical_id, e.profile_id) AS c, e.timestamp AS ts
    FROM events e LEFT JOIN profile_snapshots s ON s.workspace_id = e.workspace_id AND s.profile_id = e.profile_id
    WHERE e.workspace_id = $ws
),
per_month AS (  -- every (customer, local month) with activity, and the customer's first event in it
    SELECT c, date_trunc('month', timezone($tz, ts)) AS month, min(ts) AS first_ts FROM ev GROUP BY ALL
),
cohorts AS (
    SELECT c, arg_min(month, first_ts) AS cohort, min(first_ts) AS t0 FROM per_month GROUP BY c
    HAVING min(first_ts) >= $start AND min(first_ts) < $end
)
SELECT cohorts.cohort, p.month, count(*) FROM cohorts JOIN per_month p USING (c)
WHERE p.first_ts < $end  -- the cohort is the first month, so every later month counts
GROUP BY ALL ORDER BY ALL
"""


def hand_retention(stores: Stores, ws: str) -> Cells:
    params = {"ws": ws, "tz": TZ, "start": START, "end": END}
    with stores.events_conn() as conn:
        rows = conn.connection.driver_connection.execute(HAND_RETENTION, params).fetchall()
    cells = [(a.date(), b.date(), int(n)) for a, b, n in rows]
    sizes = [(a, n) for a, b, n in cells if a == b]  # offset 0 holds the whole cohort
    return sizes, cells


def best_of(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    try:
        result = fn()  # warm-up, and the result to compare
    except (sa.exc.OperationalError, StoreUnavailable) as exc:  # PostgreSQL's statement_timeout (--pg-timeout)
        if "statement timeout" not in repr(exc.__cause__ or exc):
            raise
        return TIMED_OUT, time.perf_counter() - t
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return result, min(times)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


QUERIES = [
    ("5-step funnel (7-day window)", touchline_funnel, hand_funnel),
    ("segment, 3 nested conditions", touchline_segment, hand_segment),
    ("monthly retention cohorts", touchline_retention, hand_retention),
]


def summary(name: str, result: Any) -> str:
    if name.startswith("5-step"):
        return "entered " + " > ".join(f"{n:,}" for n in result[0])
    if name.startswith("segment"):
        return f"{result:,} customers"
    return f"{len(result[0])} cohorts, {sum(n for _, n in result[0]):,} customers"


# One row per figure for the closing table: (what, engine, Touchline, hand-written, ratio, target, met).
Figure = tuple[str, str, str, str, str, str, str]


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def run_queries(duck: Stores | None, duck_ws: str, pg: Stores | None, pg_ws: str) -> list[Figure]:
    print("\n== queries (best of 3 warm runs; hand-written = plain DuckDB SQL on the same DuckDB file)")
    header = (f"   {'query':<31} {'Touchline s':>11} {'hand s':>8} {'ratio':>6}  {'≤2 s':<4} {'≤1.5×':<5} "
              f"{'same':<4} {'PostgreSQL s':>12}  result")
    print(header)
    figures: list[Figure] = []
    for name, ours, hand in QUERIES:
        cells = [f"   {name:<31}"]
        check = ""
        result: Any = None
        if duck is not None:
            result, t_ours = best_of(lambda ours=ours: ours(duck, duck_ws))
            hand_result, t_hand = best_of(lambda hand=hand: hand(duck, duck_ws))
            ratio = t_ours / t_hand if t_hand else float("inf")
            check = "✓" if same(result, hand_result) else "✗"
            fast, close = t_ours <= TARGET_SECONDS, ratio <= TARGET_RATIO
            cells.append(f"{t_ours:>11.3f} {t_hand:>8.3f} {ratio:>5.2f}×  {'yes' if fast else 'NO':<4} "
                         f"{'yes' if close else 'NO':<5} {check:<4}")
            figures.append((name, "embedded", f"{t_ours:.3f} s", f"{t_hand:.3f} s", f"{ratio:.2f}×",
                            f"≤ {TARGET_SECONDS:g} s, ≤ {TARGET_RATIO:g}×",
                            _yes(fast and close) + ("" if check == "✓" else " (results differ)")))
        else:
            cells.append(f"{'-':>11} {'-':>8} {'-':>6}  {'':<4} {'':<5} {'':<4}")
        if pg is not None:
            pg_result, t_pg = best_of(lambda ours=ours: ours(pg, pg_ws))
            pg_cell = f"> {t_pg:.0f}" if pg_result is TIMED_OUT else f"{t_pg:.3f}"
            cells.append(f"{pg_cell:>12}")
            pg_same = pg_result is not TIMED_OUT and (result is None or same(result, pg_result))
            figures.append((name, "PostgreSQL", f"{pg_cell} s", "-", "-", "(none; same result)",
                            "same result" if pg_same else "timed out" if pg_result is TIMED_OUT else "DIFFERS"))
            if pg_result is TIMED_OUT:
                check += " (PostgreSQL: cancelled by statement_timeout)"
            elif result is not None and not same(result, pg_result):
                check += " (PostgreSQL differs!)"
                print(f"     PostgreSQL result: {summary(name, pg_result)}")
            result = result if result is not None else pg_result
        else:
            cells.append(f"{'-':>12}")
        print(" ".join(cells) + "  " + summary(name, result) + (check[1:] if len(check) > 1 else ""), flush=True)
        if check.startswith("✗"):
            print(f"     MISMATCH: Touchline {result!r:.300}\n               hand-written {hand_result!r:.300}")
    return figures


# --- live membership -------------------------------------------------------------------------------------


def live_definitions(n: int) -> list[dict[str, Any]]:
    """``n`` segments of varied shapes (every node kind, varied parameters)."""
    shapes: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {"type": "event", "event": FUNNEL_STEPS[i % 5],
                   "count": {"operator": "at_least", "value": 1 + i % 3}, "within_days": 7 * (1 + i % 8)},
        lambda i: {"type": "trait", "trait": "signup_channel", "operator": "=",
                   "value": ["web", "app", "store"][i % 3]},
        lambda i: {"type": "and", "children": [{"type": "trait", "trait": "locale", "operator": "=", "value": "ko-KR"},
                                               {"type": "reachable", "channel": ["email", "sms", "messenger"][i % 3]}]},
        lambda i: {"type": "computed", "field": "lifetime_value", "operator": ">=", "value": 50_000 * (1 + i % 4)},
        lambda i: {"type": "computed", "field": "orders_count", "operator": ">=", "value": 1 + i % 3},
        lambda i: {"type": "computed", "field": "preferred_channel", "operator": "=",
                   "value": ["web", "app", "store", "chat"][i % 4]},
        lambda i: {"type": "rfm", "recency": {"operator": ">=", "value": 2 + i % 3},
                   "frequency": {"operator": ">=", "value": 2 + i % 3}},
        lambda i: {"type": "sequence_absence", "event": "Product Added", "absent_event": "Order Completed",
                   "within_hours": 24, "key": "cart_id", "within_days": 7 * (1 + i % 4)},
        lambda i: {"type": "event", "event": "Order Completed",
                   "where": [{"property": "payment_method", "operator": "=",
                              "value": ["card", "kakaopay", "naverpay", "samsungpay"][i % 4]}]},
        lambda i: {"type": "event", "last_time": {"operator": "within_last_days", "value": 7 + i % 30}},
        lambda i: {"type": "event", "event": "Order Completed", "within_days": 30 * (1 + i % 6),
                   "aggregate": {"function": "sum", "property": "revenue", "operator": ">",
                                 "value": 30_000 * (1 + i % 3)}},
        lambda i: NESTED_SEGMENT,
        lambda i: {"type": "not", "child": {"type": "event", "event": FUNNEL_STEPS[i % 5], "within_days": 30}},
    ]
    return [shapes[i % len(shapes)](i) for i in range(n)]


def seed_state_profiles(stores: Stores, ws: str, sample: list[Person]) -> None:
    """The state store's profile and user_id identity of the sampled customers, so that ingestion
    resolves their new events to the profiles the bulk load wrote (the bulk load bypassed it)."""
    with stores.read() as conn:
        have = {r[0] for r in dialect.select_by_keys(conn, profiles, ["id"], "id",
                                                     [p.profile_id for p in sample], workspace_id=ws)}
    rows, ids = [], []
    for p in sample:
        if p.profile_id in have:  # a cache built with its profiles in the state store
            continue
        created = dt.datetime.fromisoformat(p.created_at)
        updated = dt.datetime.fromisoformat(p.updated_at)
        rows.append({"id": p.profile_id, "workspace_id": ws, "created_at": created, "updated_at": updated,
                     "merged_into": None, "user_id": p.user_id, "traits": p.traits, "trait_meta": {},
                     "consents": p.consents, "timezone": p.timezone, "locale": p.locale})
        ids.append({"workspace_id": ws, "value": p.user_id, "kind": "user_id", "profile_id": p.profile_id,
                    "first_seen_at": created, "source": "bench"})
    with stores.write() as conn:
        dialect.bulk_insert(conn, profiles, rows)
        dialect.bulk_insert(conn, identities, ids)


def new_events(sample: list[Person], n: int, rng: random.Random, at: dt.datetime) -> list[dict[str, Any]]:
    names = ["Product Viewed", "Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
    items = []
    for i in range(n):
        p = rng.choice(sample)
        name = rng.choice(names)
        props: dict[str, Any] = {"product_id": f"P{rng.randrange(1000):04d}", "cart_id": f"cart_live_{i // 3}"}
        if name == "Order Completed":
            props |= {"order_id": f"live-{i}", "revenue": rng.randrange(10, 200) * 1000, "currency": "KRW",
                      "payment_method": rng.choice(["card", "kakaopay"])}
        items.append({"type": "track", "event": name, "userId": p.user_id, "messageId": uuid.uuid4().hex,
                      "timestamp": (at + dt.timedelta(seconds=i)).isoformat(), "properties": props,
                      "context": {"channel": "web", "library": {"name": "analytics.js"}}})
    return items


def ingest_items(stores: Stores, ws: str, items: list[dict[str, Any]], at: dt.datetime) -> set[str]:
    resolved: set[str] = set()
    for i in range(0, len(items), 500):
        good, bad = parse_items(items[i : i + 500], received_at=at, batch_sent_at=None, default_type=None,
                                max_event_bytes=stores.settings.max_event_bytes, phone_region="KR")
        assert not bad, bad[:3]
        resolved.update(ingest(stores, ws, good, now=at, result=IngestResult()).profile_ids)
    return resolved


def run_live(stores: Stores, ws: str, sample: list[Person], args: argparse.Namespace) -> list[Figure]:
    rng = random.Random(args.seed + 1)
    customers = rng.sample(sample, min(len(sample), args.live_customers))
    print(f"\n== live membership: {args.live_segments} live segments, {args.live_events:,} new events for "
          f"{len(customers):,} existing customers (real ingestion path: parse_items + ingest, then pump)")
    seed_state_profiles(stores, ws, customers)
    definitions = live_definitions(args.live_segments)
    t = time.perf_counter()
    created = create_segment(stores, ws, "bench live 00", definitions[0], now=NOW)
    t_create = time.perf_counter() - t
    t = time.perf_counter()
    moved = stores.pump()
    t_create_pump = time.perf_counter() - t
    print(f"   create_segment (full evaluation over every customer): {t_create:.2f} s, {created['members']:,} "
          f"members; moving its {moved:,} 'Segment Entered' events to the event store: {t_create_pump:.2f} s")
    # The other 49 are stored as create_segment stores them, without its one-off full evaluation (49 of those
    # would dominate the run at 10M events and say nothing about live cost); the first live round below
    # evaluates them for the customers it touches.
    with stores.write() as conn:
        for i, definition in enumerate(definitions[1:], start=1):
            segment_store.insert_segment(conn, id="seg_" + uuid.uuid4().hex[:12], workspace_id=ws,
                                         name=f"bench live {i:02d}", description="",
                                         definition=to_json(parse(definition)),
                                         version=1, live=True, created_at=NOW, updated_at=NOW)
    stores.take_touched()
    # A running server's full refresh (every minute, over every customer) ranks every buyer for the RFM
    # cut-offs, and live rounds until the next one reuse them; this run has no server, so it ranks once here.
    t, cpu = time.perf_counter(), time.process_time()
    rank_buyers(stores, ws, NOW + dt.timedelta(minutes=10))
    print(f"   RFM cut-offs over every buyer (as the server's periodic full refresh computes them): "
          f"{time.perf_counter() - t:.2f} s (CPU {time.process_time() - cpu:.2f} s)")
    wanted = {p.profile_id for p in customers}
    figures: list[Figure] = []
    for round_no, label in ((1, "first evaluation of these customers (nothing stored for them yet)"),
                            (2, "steady state (same customers, membership already current)")):
        at = NOW + dt.timedelta(minutes=10 * round_no)
        items = new_events(customers, args.live_events, rng, at)
        t = time.perf_counter()
        resolved = ingest_items(stores, ws, items, at)
        t_ingest = time.perf_counter() - t
        t = time.perf_counter()
        moved = stores.pump()
        t_pump = time.perf_counter() - t
        touched = stores.take_touched()
        cached = stores.rfm_cutoffs.get(ws)
        t, cpu = time.perf_counter(), time.process_time()
        changes = refresh_live(stores, touched, now=at + dt.timedelta(minutes=1))
        t_live, cpu = time.perf_counter() - t, time.process_time() - cpu
        # A running server's minute-by-minute full refresh keeps them fresh; this run has none.
        rfm = ("RFM cut-offs ranked over every buyer in this round" if stores.rfm_cutoffs.get(ws) is not cached
               else f"RFM cut-offs of {cached[0]:%H:%M} reused" if cached
               else "RFM cut-offs not kept (none needed, or max age 0)")
        ms, cpu_ms = t_live / len(items) * 1000, cpu / len(items) * 1000
        entered, exited = sum(c.entered for c in changes), sum(c.exited for c in changes)
        ok = "✓" if resolved <= wanted else f"✗ {len(resolved - wanted)} events resolved to new profiles"
        print(f"   round {round_no}, {label}:")
        print(f"     ingest {len(items):,} events {t_ingest:.2f} s ({ok} all resolved to the bulk-loaded profiles); "
              f"pump {moved:,} rows {t_pump:.2f} s")
        print(f"     refresh_live: {t_live:.2f} s for {len(items):,} events of {len(touched.get(ws, ())):,} customers "
              f"x {len(changes)} segments = {ms:.3f} ms per event (CPU {cpu_ms:.3f} ms) "
              f"(target ≤ {TARGET_LIVE_MS:g} ms: {'yes' if ms <= TARGET_LIVE_MS else 'NO'}); "
              f"{entered:,} entered, {exited:,} exited; {rfm}")
        stores.pump()  # the membership events refresh_live staged
        stores.take_touched()
        figures.append((f"live membership, round {round_no}", "embedded", f"{ms:.3f} ms/event (CPU {cpu_ms:.3f})",
                        "-", "-",
                        f"≤ {TARGET_LIVE_MS:g} ms/event", _yes(ms <= TARGET_LIVE_MS)))
    return figures


def print_figures(figures: list[Figure], args: argparse.Namespace) -> None:
    """Every figure of the run in one table (the details are above it)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n== figures: {args.events:,} events / {args.profiles:,} profiles; {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end")
    head = ("what", "engine", "Touchline", "hand-written", "ratio", "target", "met")
    widths = [max(len(str(row[i])) for row in [head, *figures]) for i in range(len(head))]
    for row in [head, *figures]:
        print("   " + "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip())


# --- main --------------------------------------------------------------------------------------------------


def cache_db(args: argparse.Namespace) -> str:
    """The PostgreSQL database that --data keeps the built data in (one per size and seed)."""
    return f"{RUN_DB}_cache_{args.events}_{args.profiles}_{args.seed}"


def _person(fields: dict[str, Any]) -> Person:
    person = Person(fields["profile_id"], fields["created_at"])
    for k, v in fields.items():
        setattr(person, k, v)
    return person


def _cache_matches(cache: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The built data in ``cache`` when it was built with these options, else None."""
    meta_file = cache / "bench.json"
    if not meta_file.exists():
        return None
    meta = orjson.loads(meta_file.read_bytes())
    wanted = {"events": args.events, "profiles": args.profiles, "seed": args.seed}
    have = {k: meta.get(k) for k in wanted}
    engines = {"embedded": not args.skip_embedded, "postgres": bool(args.postgres)}
    if have != wanted or any(need and not meta.get(engine) for engine, need in engines.items()):
        wanted |= engines
        have |= {engine: meta.get(engine) for engine in engines}
        print(f"--data {cache}: built with {have}, not {wanted}: building again")
        return None
    return dict(meta)


def build_cache(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """Build the data once into ``cache`` (the embedded data directory, the live-membership sample)
    and the PostgreSQL database ``cache_db(args)``, for later runs to copy."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    duck = pg = None
    duck_ws = pg_ws = ""
    try:
        if not args.skip_embedded:
            duck = open_stores(Settings(data_dir=cache / "embedded"))
            with duck.read() as conn:
                duck_ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
        if args.postgres:
            args.pg_url = fresh_postgres(args.postgres, cache_db(args))
            pg = open_stores(Settings(database_url=args.pg_url, events_url=args.pg_url, data_dir=cache / "pg"))
            with pg.read() as conn:
                pg_ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
        t = time.perf_counter()
        n_events, persons, dormant, sample, seconds = load(args, duck, duck_ws, pg, pg_ws)
        wall = time.perf_counter() - t
    finally:
        for stores in (duck, pg):
            if stores is not None:
                stores.dispose()
    for stores in (duck, pg):
        if stores is not None:
            stores = open_stores(stores.settings)
            ws = duck_ws if stores.settings.database_url is None else pg_ws
            try:
                fill_state_profiles(stores, ws)
            finally:
                stores.dispose()
    (cache / "sample.json").write_bytes(orjson.dumps([{k: getattr(p, k) for k in Person.__slots__} for p in sample]))
    meta = {"events": args.events, "profiles": args.profiles, "seed": args.seed,
            "embedded": not args.skip_embedded, "postgres": bool(args.postgres),
            "n_events": n_events, "persons": persons, "dormant": dormant, "seconds": seconds, "wall": wall}
    (cache / "bench.json").write_bytes(orjson.dumps(meta))
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--postgres",
                        help="also run on PostgreSQL (a database 'touchline_bench_analytics' is recreated)")
    parser.add_argument("--pg-timeout", type=float, default=120,
                        help="PostgreSQL statement_timeout for the timed queries, seconds (0: none)")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--live-segments", type=int, default=50)
    parser.add_argument("--live-events", type=int, default=3000)
    parser.add_argument("--live-customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (its path is printed)")
    parser.add_argument("--data", type=Path,
                        help="build the data once into this directory (and, with --postgres, a database "
                             f"'{RUN_DB}_cache_<events>_<profiles>_<seed>'), and on later runs with the same "
                             "options start from a copy of it")
    args = parser.parse_args()
    args.pg_url = None

    tmp = Path(tempfile.mkdtemp(prefix="touchline-bench-analytics-"))
    print(f"machine: {os.cpu_count()} CPUs; data in {tmp}")
    print(f"data: {args.events:,} events / {args.profiles:,} profiles from the demo generator "
          f"({DAYS} days to {NOW:%Y-%m-%d}, seed {args.seed})")
    print("load: BULK LOAD of generator output straight into the event store (pyarrow -> DuckDB, COPY -> "
          "PostgreSQL), NOT the ingestion path; one profile per simulated person (no identity merges)")
    meta = None
    if args.data is not None:
        meta = _cache_matches(args.data, args)
        if meta is None:
            meta = build_cache(args, args.data)
            print(f"built {meta['n_events']:,} events in {meta['wall']:.1f} s into {args.data}")
        else:
            print(f"reusing the data built in {args.data} (a copy of it: this run changes nothing there)")
        if not args.skip_embedded:  # migrate the cache once, then copy it
            open_stores(Settings(data_dir=args.data / "embedded")).dispose()
            shutil.copytree(args.data / "embedded", tmp / "embedded")
        if args.postgres:
            cache_url = args.postgres.rsplit("/", 1)[0] + "/" + cache_db(args)
            open_stores(Settings(database_url=cache_url, events_url=cache_url, data_dir=tmp / "pg")).dispose()
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{cache_db(args)}"')
    duck = pg = None
    duck_ws = pg_ws = ""
    try:
        if not args.skip_embedded:
            duck = open_stores(Settings(data_dir=tmp / "embedded"))
            with duck.read() as conn:
                duck_ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
        if args.postgres:
            if meta is not None:
                url = args.pg_url = args.postgres.rsplit("/", 1)[0] + "/" + RUN_DB
            else:
                url = args.pg_url = fresh_postgres(args.postgres, RUN_DB)
            pg = open_stores(Settings(database_url=url, events_url=url, data_dir=tmp / "pg"))
            with pg.read() as conn:
                pg_ws = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
        if meta is None:
            t = time.perf_counter()
            n_events, persons, dormant, sample, seconds = load(args, duck, duck_ws, pg, pg_ws)
            wall = time.perf_counter() - t
            writes = " + ".join(f"{k} {v:.1f} s" for k, v in seconds.items() if v)
            print(f"loaded {n_events:,} events, {persons + dormant:,} profiles ({persons:,} generated people with "
                  f"events, {dormant:,} dormant) in {wall:.1f} s ({writes} of it writing; the rest generating "
                  f"and converting)")
        else:
            assert args.data is not None
            sample = [_person(fields) for fields in orjson.loads((args.data / "sample.json").read_bytes())]
            print(f"data: {meta['n_events']:,} events, {meta['persons'] + meta['dormant']:,} profiles "
                  f"({meta['persons']:,} generated people with events, {meta['dormant']:,} dormant)")
        if duck is not None:
            size = sum(f.stat().st_size for f in (tmp / "embedded").iterdir() if f.name.startswith("events"))
            print(f"   DuckDB event store file: {size / 1e9:.2f} GB")
        if pg is not None:
            with pg.events.connect() as conn:
                pg_size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            print(f"   PostgreSQL database: {pg_size / 1e9:.2f} GB")
        if pg is not None and args.pg_timeout:
            pg.events.dispose()
            timeout_ms = int(args.pg_timeout * 1000)

            @sa.event.listens_for(pg.events, "connect")
            def _timeout(dbapi_conn: Any, _record: Any) -> None:
                with dbapi_conn.cursor() as cur:
                    cur.execute(f"SET statement_timeout = {timeout_ms}")
                dbapi_conn.commit()

        figures = run_queries(duck, duck_ws, pg, pg_ws)
        if duck is not None and sample and not args.skip_live:
            figures += run_live(duck, duck_ws, sample, args)
        print_figures(figures, args)
    finally:
        for stores in (duck, pg):
            if stores is not None:
                stores.dispose()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
