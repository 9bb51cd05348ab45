"""Both stores: migrations, and the pump that moves staged events exactly once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.platform import open_stores
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.store.migrations import EVENT_MIGRATIONS, STATE_MIGRATIONS, current_version, upgrade
from touchline.store.schema import STAGED_COLUMNS, event_staging, events


def ingest_items(stores: Stores, workspace_id: str, items: list[dict], now: dt.datetime) -> None:
    """Items through the edge's parsing (every one valid) into ingestion, at ``now``."""
    good, bad = parse_items(items, received_at=now, batch_sent_at=None, default_type=None,
                            max_event_bytes=32 * 1024, phone_region="KR")
    assert not bad
    ingest(stores, workspace_id, good, now=now)


def stage(stores: Stores, workspace_id: str, n: int, prefix: str = "m") -> None:
    items = [{"type": "track", "anonymousId": f"a{i % 7}", "event": "Viewed", "messageId": f"{prefix}{i}"}
             for i in range(n)]
    ingest_items(stores, workspace_id, items, dt.datetime.now(dt.UTC))


def counts(stores: Stores) -> tuple[int, int]:
    with stores.read() as conn:
        staged = conn.execute(sa.select(sa.func.count()).select_from(event_staging)).scalar_one()
    with stores.events_conn() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    return int(staged), int(stored)


def test_migrations_stamp_the_latest_version_and_are_idempotent(stores: Stores) -> None:
    assert upgrade(stores) == {
        "state": (STATE_MIGRATIONS[-1].version, STATE_MIGRATIONS[-1].version),
        "events": (EVENT_MIGRATIONS[-1].version, EVENT_MIGRATIONS[-1].version),
    }
    with stores.state.begin() as conn:
        assert current_version(conn, "state") == STATE_MIGRATIONS[-1].version


def test_pump_moves_everything_once(stores: Stores, workspace_id: str) -> None:
    stage(stores, workspace_id, 250)
    assert counts(stores) == (250, 0)
    assert stores.pump() == 250
    assert counts(stores) == (0, 250)
    assert stores.pump() == 0


def test_pump_crash_after_append_does_not_duplicate(stores: Stores, workspace_id: str) -> None:
    stage(stores, workspace_id, 40)
    # Simulate a crash between "appended to the event store" and "removed from staging".
    with stores.read() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(event_staging.c.seq, *[event_staging.c[c] for c in
                                                                                 STAGED_COLUMNS])).mappings()]
    with stores.events_conn() as conn:
        dialect.append_events(conn, rows[:25])
    assert counts(stores) == (40, 25)
    assert stores.pump() == 40
    assert counts(stores) == (0, 40)
    with stores.events_conn() as conn:
        distinct = conn.execute(sa.select(sa.func.count(sa.distinct(events.c.seq)))).scalar_one()
    assert distinct == 40


def test_checkpoint_folds_the_write_ahead_log_back(stores: Stores, workspace_id: str) -> None:
    # The server's pump calls it after every round that moved events; it used to fail on SQLite
    # ("database table is locked": run inside a transaction), which skipped the live-segment refresh.
    stage(stores, workspace_id, 50)
    stores.pump()
    stores.checkpoint()
    if stores.state.dialect.name == "sqlite":
        raw = stores.state.raw_connection()
        try:
            busy, logged, folded = raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        assert busy == 0 and logged == folded  # nothing left to fold
    assert counts(stores) == (0, 50)


def test_sequence_numbers_never_repeat_after_staging_drains(stores: Stores, workspace_id: str) -> None:
    stage(stores, workspace_id, 5, "first")
    stores.pump()
    stage(stores, workspace_id, 5, "second")
    stores.pump()
    assert counts(stores) == (0, 10)


def test_reopening_keeps_data(stores: Stores, workspace_id: str) -> None:
    stage(stores, workspace_id, 3)
    settings = stores.settings
    stores.dispose()
    again = open_stores(settings)
    try:
        assert again.pump() == 3
    finally:
        again.dispose()


def test_profile_snapshots_mirror_profiles_in_the_event_store(stores: Stores, workspace_id: str) -> None:
    from touchline.customers.service import erase
    from touchline.profiles.service import resolve
    from touchline.store.schema import profile_snapshots

    now = dt.datetime.now(dt.UTC)

    def send(*items: dict) -> None:
        ingest_items(stores, workspace_id, list(items), now)
        stores.pump()

    def snapshots() -> dict[str, dict]:
        with stores.events_conn() as conn:
            return {r["profile_id"]: dict(r) for r in conn.execute(sa.select(profile_snapshots)).mappings()}

    send({"type": "track", "anonymousId": "phone", "event": "Viewed", "messageId": "s1"},
         {"type": "track", "anonymousId": "laptop", "event": "Viewed", "messageId": "s2"})
    assert len(snapshots()) == 2
    send({"type": "identify", "anonymousId": "phone", "userId": "u1", "messageId": "s3",
          "traits": {"tier": "gold", "consent": {"email": True}}},
         {"type": "identify", "anonymousId": "laptop", "userId": "u1", "messageId": "s4"})
    survivor = resolve(stores, workspace_id, "u1")
    mirror = snapshots()
    assert {s["canonical_id"] for s in mirror.values()} == {survivor}
    assert mirror[survivor]["traits"] == {"tier": "gold"}
    assert mirror[survivor]["consents"]["email"]["status"] == "granted"
    assert mirror[survivor]["user_id"] == "u1"
    erase(stores, workspace_id, "u1")
    assert snapshots() == {}


def test_a_bulk_write_stamped_alike_is_copied_once_not_every_round(stores: Stores, workspace_id: str) -> None:
    """A bulk write (the demo's customers, the predictions' traits) stamps every profile alike. The pump
    once re-read the mark's whole time stamp each round, re-copying them all four times a second while
    nothing else changed; an idle server then spent a third of a core on it."""
    now = dt.datetime.now(dt.UTC)
    ingest_items(stores, workspace_id, [{"type": "identify", "userId": f"bulk{i}", "traits": {"n": i},
                                         "messageId": f"b{i}"} for i in range(300)], now)
    stores.pump()
    limit = stores.settings.pump_batch_rows
    assert [stores._sync_profiles(limit) for _ in range(3)] == [0, 0, 0]
    # A later write here that reuses the stamp (a caller passing ``now``) is still copied at once.
    ingest_items(stores, workspace_id, [{"type": "identify", "userId": "bulk0", "traits": {"n": -1},
                                         "messageId": "b-again"}], now)
    stores.pump()
    from touchline.store.schema import profile_snapshots
    with stores.events_conn() as conn:
        traits = conn.execute(sa.select(profile_snapshots.c.traits)
                              .where(profile_snapshots.c.user_id == "bulk0")).scalar_one()
    assert traits["n"] == -1


def test_driver_errors_on_direct_paths_say_the_store_is_unavailable(stores: Stores) -> None:
    """Hot paths talk to the driver directly (COPY, bulk reads); its operational errors must reach the
    edge as StoreUnavailable (503 with the reason), like those that come through SQLAlchemy."""
    import sqlite3

    import psycopg

    from touchline.errors import StoreUnavailable

    driver_error = psycopg.OperationalError if stores.settings.database_url else sqlite3.OperationalError
    with pytest.raises(StoreUnavailable) as caught, stores.write() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raise driver_error("server closed the connection unexpectedly")
    assert caught.value.status == 503
    assert caught.value.detail == "server closed the connection unexpectedly"


def test_the_postgresql_event_store_sorts_in_memory_it_is_given(postgres_url: str, tmp_path: Path) -> None:
    from touchline.settings import Settings

    stores = open_stores(Settings(database_url=postgres_url, events_url=postgres_url, data_dir=tmp_path,
                                  events_work_mem="48MB"))
    try:
        with stores.events_conn() as conn:
            assert conn.exec_driver_sql("SHOW work_mem").scalar_one() == "48MB"
    finally:
        stores.dispose()


def test_duckdb_draws_no_progress_bar_into_the_cli_output(stores: Stores, backend: str) -> None:
    """DuckDB prints a progress bar on stdout for queries over 2 s (the demo's output had six); PostgreSQL
    has nothing of the kind."""
    if backend != "embedded":
        return
    with stores.events_conn() as conn:
        assert conn.execute(sa.text("SELECT current_setting('enable_progress_bar')")).scalar() is False
