"""Opening the two stores from settings, and the pump that moves staged events to the event store."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg.types.json
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine

from touchline.errors import BadRequest, StoreUnavailable
from touchline.settings import Settings
from touchline.store import dialect
from touchline.store.schema import STAGED_COLUMNS, event_staging, profiles, sync_state
from touchline.store.types import dumps

# What a store that cannot answer raises: through SQLAlchemy, or straight from the driver where a hot path
# talks to it directly (PostgreSQL's COPY, SQLite's bulk reads).
UNAVAILABLE = (sa.exc.OperationalError, psycopg.OperationalError, sqlite3.OperationalError)

READ_ONLY = {"touchline_read_only": True}
# What PostgreSQL says of a NUL character (U+0000) in a parameter or a JSON value: text cannot hold one.
REFUSED_DATA = (sa.exc.DataError, psycopg.DataError)


@contextlib.contextmanager
def _translated(unavailable: str, hint: Callable[[Exception], str]) -> Iterator[None]:
    """A store's errors as the edge answers them: unreachable -> StoreUnavailable (503), a NUL character
    PostgreSQL refuses -> BadRequest (400); anything else as it is."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise StoreUnavailable(unavailable, hint(exc)) from exc
    except REFUSED_DATA as exc:
        if (refused := _nul_refused(exc)) is None:
            raise
        raise refused from exc


def _nul_refused(exc: BaseException) -> BadRequest | None:
    """A NUL that reached PostgreSQL from a request: the request's fault (400), not the server's (500).
    The embedded stores keep it; ingestion refuses it on both (the event log must move between them)."""
    text = str(getattr(exc, "orig", None) or exc)
    if "NUL (0x00)" in text or "\\u0000 cannot be converted" in text:
        return BadRequest("text contains a NUL character (\\u0000), which cannot be stored",
                          {"field": "(request)", "reason": "NUL character"})
    return None


# The sqlite3 driver binds exact ints, floats and strings as they are, and looks every other value up in
# its adapter registry first: None and bool, found in none, then fail two attribute look-ups (each one
# formatting an AttributeError) before being bound as they are, ~0.3 us a value (a campaign's run and
# outbox rows carry a dozen). Registered, the look-up finds them at once; what is bound is the same.
_NULL: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NULL.get)  # a C function of one argument that returns None: NULL
sqlite3.register_adapter(bool, int)  # 0 / 1, as sqlite3 binds an int subclass


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        json_serializer=dumps,
    )

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN, so that writes can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # The server's pump checkpoints in the background (Stores.checkpoint); this is the safety net
        # for processes without one, at ~200 MB of WAL rather than SQLite's 4 MB.
        cur.execute("PRAGMA wal_autocheckpoint=50000")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MB of page cache: identity and profile B-trees stay hot
        cur.execute("PRAGMA mmap_size=268435456")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not merely unlinked (erase; many builds default to it).
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # BEGIN IMMEDIATE: a writer waits for the lock at the start instead of failing at commit.
        read_only = conn.get_execution_options().get("touchline_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _duckdb_engine(url: str) -> Engine:
    engine = sa.create_engine(url, json_serializer=dumps)

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("SET TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on stdout for queries over 2 s, into the CLI's output and tables.
        dbapi_conn.execute("SET enable_progress_bar = false")

    return engine


def _postgres_engine(url: str, work_mem: str | None = None) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=dumps)

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # JSONB numbers beyond 64 bits come back as floats, as they went in; the standard json module
        # would make Python ints that orjson (our serializer) refuses.
        psycopg.types.json.set_json_loads(orjson.loads, dbapi_conn)
        if work_mem:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT set_config('work_mem', %s, false)", (work_mem,))
            dbapi_conn.commit()

    return engine


def create_engine(url: str, *, work_mem: str | None = None) -> Engine:
    """An engine for a store's URL; ``work_mem`` is the sort and hash memory of each PostgreSQL session
    (the event store's reports), ignored by the embedded engines."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("duckdb"):
        return _duckdb_engine(url)
    return _postgres_engine(url, work_mem)


_Kept = TypeVar("_Kept")


@dataclass
class Stores:
    """Both stores of one installation. Engines are created lazily: a CLI command that only needs the
    state store must still work while a server holds the DuckDB file."""

    settings: Settings
    _state: Engine | None = None
    _events: Engine | None = None
    _pump_lock: threading.Lock = field(default_factory=threading.Lock)
    # Profiles whose events the pump moved since the last look, by workspace (live segments read it).
    touched: dict[str, set[str]] = field(default_factory=dict)
    # Set when work for the journey runner was committed (signals queued, messages to send), so it
    # wakes at once instead of at its next poll.
    wakeup: threading.Event = field(default_factory=threading.Event)
    _last_sweep: float | None = None  # monotonic time of the last look back behind the sync mark
    # Transactions of this process that wrote profiles, counted after their commit, and the count the
    # last sync round started from: while it has not moved, a round reads only what is past the mark.
    _profile_commits: int = 0
    _profile_commits_synced: int | None = None
    # Live segments' RFM cut-offs by workspace, with the time they hold for (touchline.segments.service
    # reuses them for settings.segment_rfm_max_age_seconds).
    rfm_cutoffs: dict[str, tuple[dt.datetime, Any]] = field(default_factory=dict)
    # The report pickers' event names by (workspace, limit), with the newest event sequence number they
    # were counted at (touchline.analytics.service counts again when it moves).
    event_names: dict[tuple[str, int], tuple[int, list[tuple[str, int]]]] = field(default_factory=dict)
    # First and last customer event by workspace, likewise (an empty report points to them).
    event_spans: dict[str, tuple[int, tuple[dt.datetime, dt.datetime] | None]] = field(default_factory=dict)
    # Each workspace's tracking plan as ingestion applies it, with the monotonic time it is good until
    # (touchline.ingest.quality.plan_for).
    tracking_plans: dict[str, tuple[float, Any]] = field(default_factory=dict)
    # What a layer above keeps for the life of these stores, by name (the data-quality problems found at
    # the edge, counted in memory: touchline.ingest.quality.violation_log); this layer never reads it.
    extensions: dict[str, Any] = field(default_factory=dict)
    _extensions_lock: threading.Lock = field(default_factory=threading.Lock)
    # Called after every pump round, with these stores, even when the event store was busy: work that
    # rides on the pump's schedule (ingestion adds its data-quality counts to the state store). A hook
    # that raises StoreUnavailable is retried on the next round.
    pump_hooks: list[Callable[[Stores], object]] = field(default_factory=list)
    # When the last purge after an erase ended (monotonic) and how long it took, in seconds
    # (touchline.profiles.service.purge_erased schedules the next one by them).
    last_purge: tuple[float, float] | None = None
    # Who is using the event store's engine now, and whether a rewrite of its file waits for them to
    # leave before it swaps the file (``rewrite_event_store``); a thread already inside may nest.
    _events_gate: threading.Condition = field(default_factory=threading.Condition)
    _events_users: int = 0
    _events_closed: bool = False
    _events_depth: threading.local = field(default_factory=threading.local)

    def extension(self, key: str, kind: type[_Kept], make: Callable[[], _Kept]) -> _Kept:
        """What a layer above keeps under ``key`` for the life of these stores (a feed hub, a writer
        thread), made by ``make`` on first use, once however many threads ask at the same time."""
        with self._extensions_lock:
            found = self.extensions.get(key)
            if not isinstance(found, kind):
                found = self.extensions[key] = make()
            return found

    def drop_extension(self, key: str) -> Any:
        """Forget what is kept under ``key``; returns it (None if nothing was)."""
        with self._extensions_lock:
            return self.extensions.pop(key, None)

    @property
    def state(self) -> Engine:
        if self._state is None:
            self._state = create_engine(self.settings.state_url)
            sa_event.listen(self._state, "after_execute", _note_written)
        return self._state

    @property
    def events(self) -> Engine:
        if self._events is None:
            self._events = create_engine(self.settings.event_store_url, work_mem=self.settings.events_work_mem)
        return self._events

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A state-store transaction that may write; the caller (the edge) owns it."""
        with _translated("the state store is unavailable", _reason):
            with self.state.begin() as conn:
                conn.info.pop(dialect.WRITTEN_TABLES, None)
                yield conn
                wrote_profiles = profiles.name in conn.info.pop(dialect.WRITTEN_TABLES, ())
            if wrote_profiles:  # committed: the pump's next round looks at the mark's own time stamp again
                self._profile_commits += 1

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with (_translated("the state store is unavailable", _reason),
              self.state.connect().execution_options(**READ_ONLY) as conn, conn.begin()):
            yield conn

    @contextlib.contextmanager
    def events_conn(self) -> Iterator[Connection]:
        with (self._using_events(), _translated("the event store is unavailable", _lock_hint),
              self.events.begin() as conn):
            yield conn

    @contextlib.contextmanager
    def _using_events(self) -> Iterator[None]:
        depth = getattr(self._events_depth, "n", 0)
        if not depth:
            with self._events_gate:
                while self._events_closed:
                    self._events_gate.wait()
                self._events_users += 1
        self._events_depth.n = depth + 1
        try:
            yield
        finally:
            self._events_depth.n = depth
            if not depth:
                with self._events_gate:
                    self._events_users -= 1
                    self._events_gate.notify_all()

    @contextlib.contextmanager
    def _events_shut(self) -> Iterator[None]:
        """No one uses the event store's engine inside the block: new users wait, current ones finish."""
        if getattr(self._events_depth, "n", 0):
            raise RuntimeError("the event store cannot be shut from inside one of its connections")
        with self._events_gate:
            self._events_closed = True
            try:
                while self._events_users:
                    self._events_gate.wait()
                yield
            finally:
                self._events_closed = False
                self._events_gate.notify_all()

    def rewrite_event_store(self) -> bool:
        """Put a fresh copy of the embedded event store in place of its file, so that the bytes of rows
        deleted from it (an erased customer's events) are gone: DuckDB leaves them in freed blocks,
        which it reuses but never zeroes. False (nothing done) when the event store is no DuckDB file.

        The caller holds the pump lock (``pump_paused``), so nothing writes meanwhile; readers go on
        during the copy and wait only for the swap. The copy is synced to disk, the old file
        checkpointed and every connection to it closed, and the copy renamed over it; a stamp written
        into the copy proves that new connections open it (an engine elsewhere in this process holding
        the old file open would keep it alive: then the old file is put back and this raises). A crash
        at any point leaves a whole database at the path; leftovers are removed by the next rewrite.
        """
        if self.events.dialect.name != dialect.DUCKDB:
            return False
        database = self.events.url.database
        assert database
        path = Path(database)
        fresh, old = path.with_name(path.name + ".rewrite"), path.with_name(path.name + ".old")
        for leftover in (fresh, _wal(fresh), old):  # from a rewrite that crashed half-way
            leftover.unlink(missing_ok=True)
        stamp = uuid.uuid4().hex
        with self._using_events():
            dialect.copy_database(self.events, str(fresh), stamp=stamp)
        if _wal(fresh).exists():  # DETACH checkpoints the copy: all of it must be in the file we move
            raise RuntimeError(f"{fresh} was left with a write-ahead log; {path} was not rewritten")
        _fsync(fresh)
        with self._events_shut():
            # Everything the old file's log holds goes into the old file and the log away (the copy has
            # it all already): a log left at the path would be replayed into the copy.
            with self.events.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")
            self.events.dispose()
            if _wal(path).exists():
                if _wal(path).stat().st_size:
                    raise RuntimeError(f"{path} still has a write-ahead log (held open elsewhere in this "
                                       "process?); it was not rewritten")
                _wal(path).unlink()
            # A second name for the old file while the copy takes its place (atomically: the path always
            # names a whole database), so that it can be put back.
            os.link(path, old)
            os.replace(fresh, path)
            try:
                with self.events.connect() as conn:
                    found = dialect.database_stamp(conn)
            except Exception:
                found = None
            if found != stamp:
                self.events.dispose()
                os.replace(old, path)
                _fsync(path.parent)
                raise RuntimeError(f"{path} is held open elsewhere in this process; it was not rewritten")
            old.unlink()
            _fsync(path.parent)
        return True

    def pump(self, max_rows: int | None = None) -> int:
        """Move every staged event into the event store; returns how many moved.

        Exactly once: rows are appended before they leave staging, and the append skips sequence
        numbers the event store already holds, so a crash between the two steps only repeats work.
        """
        limit = self.settings.pump_batch_rows
        moved = 0
        try:
            with self._pump_lock:
                while max_rows is None or moved < max_rows:
                    n = self._pump_chunk(limit)
                    moved += n
                    if n < limit:
                        break
                self._sync_profiles(limit)
        finally:
            # Even when the event store is busy (an import while a server holds DuckDB).
            for hook in list(self.pump_hooks):
                with contextlib.suppress(StoreUnavailable):
                    hook(self)
        return moved

    def _sync_profiles(self, limit: int) -> int:
        """Copy profiles changed since the last sync into the event store's ``profile_snapshots``.

        Each round copies what changed at or after the watermark's time stamp, so a change is copied
        once, or again while it is the newest. A writer in another process (or one that waited for the lock) may commit
        a change stamped a little earlier than one already copied; every ``SYNC_LAG / 2`` a sweep goes
        back ``SYNC_LAG`` behind the watermark to catch those. (Going back on every round re-read a
        minute of changes four times a second: under load the pump spent most of its time there.)
        Copies are idempotent.
        """
        with self.events_conn() as econn:
            mark = econn.execute(
                sa.select(sync_state.c.value).where(sync_state.c.name == "profiles")
            ).scalar_one_or_none()
        mark_at, mark_id = _parse_sync_mark(mark)
        now = time.monotonic()
        sweep = self._last_sweep is None or now - self._last_sweep >= SYNC_LAG.total_seconds() / 2
        # Read before the query: a commit counted later is looked at again by the next round.
        commits = self._profile_commits
        if mark_at is None:
            since, after_id = None, ""
        elif sweep:
            since, after_id = mark_at - SYNC_LAG, ""
        elif commits == self._profile_commits_synced:
            # Nothing written here since the last round: only what is past the mark's row. (Re-reading
            # the mark's whole time stamp each round re-copied every profile of a bulk write, such as
            # the predictions' traits stamped alike, four times a second while nothing else changed.)
            since, after_id = mark_at, mark_id
        else:
            # From the mark's time stamp itself, not after its row: one transaction stamps all its
            # changes alike, and a later one may reuse the stamp (a caller passing ``now``). Another
            # process reusing a stamp is caught by the sweep.
            since, after_id = mark_at, ""
        copied = 0
        in_place = self._one_postgres_database()
        while True:
            query = _changed_profiles(since, after_id, limit, as_text=not in_place)
            last: tuple[dt.datetime, str] | None = None
            if in_place:
                with self.events_conn() as econn:
                    n, last = dialect.copy_snapshots_in_place(econn, query)
                    if last is not None and (mark_at is None or last > (mark_at, mark_id)):
                        mark_at, mark_id = last
                        _set_sync_mark(econn, "profiles", f"{mark_at.isoformat()}|{mark_id}")
            else:
                with self.read() as sconn:
                    result = sconn.execute(query)
                    keys = list(result.keys())
                    rows = [dict(zip(keys, r, strict=True)) for r in result.all()]
                n = len(rows)
                if rows:
                    last_at = dialect.as_utc_datetime(rows[-1]["updated_at"])
                    assert last_at is not None
                    last = (last_at, rows[-1]["profile_id"])
                    with self.events_conn() as econn:
                        dialect.replace_snapshots(econn, rows)
                        if mark_at is None or last > (mark_at, mark_id):
                            mark_at, mark_id = last
                            _set_sync_mark(econn, "profiles", f"{mark_at.isoformat()}|{mark_id}")
            copied += n
            if n < limit:
                if sweep:
                    self._last_sweep = now
                self._profile_commits_synced = commits
                return copied
            assert last is not None
            since, after_id = last

    def _one_postgres_database(self) -> bool:
        """Both stores in one PostgreSQL database: rows can move between them in SQL alone."""
        return self.settings.state_url == self.settings.event_store_url and self.state.dialect.name == dialect.POSTGRES

    def checkpoint(self, *, restart: bool = False) -> None:
        dialect.checkpoint(self.state, restart=restart)

    @contextlib.contextmanager
    def pump_paused(self) -> Iterator[None]:
        """No pump of this process runs inside the block (erase uses it to leave nothing behind)."""
        with self._pump_lock:
            yield

    def take_touched(self) -> dict[str, set[str]]:
        with self._pump_lock:
            touched, self.touched = self.touched, {}
        return touched

    def _touch(self, pairs: list[tuple[str, str]]) -> int:
        for workspace_id, profile_id in pairs:
            self.touched.setdefault(workspace_id, set()).add(profile_id)
        return len(pairs)

    def _pump_chunk(self, limit: int) -> int:
        if self._one_postgres_database():
            with self.state.begin() as conn:
                return self._touch(dialect.move_staged_in_place(conn, limit))
        columns = [event_staging.c.seq] + [
            sa.type_coerce(event_staging.c[c], sa.Text).label(c) if c == "payload" else event_staging.c[c]
            for c in STAGED_COLUMNS
        ]  # payload as text: it goes to the event store as it is
        query = sa.select(*columns).order_by(event_staging.c.seq).limit(limit)
        with self.state.connect() as sconn:
            holds_locks = sconn.dialect.name == dialect.POSTGRES
            claim = sconn.execution_options(**READ_ONLY).begin()
            try:
                rows = dialect.read_staged(sconn, dialect.lock_for_claim(sconn, query))
                if not holds_locks:
                    claim.commit()
                if not rows:
                    return 0
                with self.events_conn() as econn:
                    dialect.append_events(econn, rows)
                seqs = [r["seq"] for r in rows]
                if holds_locks:
                    dialect.delete_in_chunks(sconn, event_staging, event_staging.c.seq, seqs)
                    claim.commit()
                else:
                    with sconn.begin():
                        sconn.execute(
                            event_staging.delete().where(event_staging.c.seq.between(min(seqs), max(seqs)))
                        )
                return self._touch([(r["workspace_id"], r["profile_id"]) for r in rows])
            finally:
                if claim.is_active:
                    claim.rollback()

    def dispose(self) -> None:
        for engine in (self._state, self._events):
            if engine is not None:
                engine.dispose()
        self._state = self._events = None


SYNC_LAG = dt.timedelta(minutes=1)


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log of the database file ``path``."""
    return path.with_name(path.name + ".wal")


def _fsync(path: Path) -> None:
    """Force a file (or a directory's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _changed_profiles(since: dt.datetime | None, after_id: str, limit: int, *, as_text: bool) -> sa.Select[Any]:
    """The next ``limit`` profiles changed after ``(since, after_id)``, shaped as snapshot rows;
    ``as_text``: JSON and time stamps as the driver gives them (text on SQLite), for the event store to
    parse in bulk."""
    def raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.type_coerce(column, sa.Text) if as_text else column

    query = sa.select(
        profiles.c.workspace_id, profiles.c.id.label("profile_id"),
        sa.func.coalesce(profiles.c.merged_into, profiles.c.id).label("canonical_id"),
        profiles.c.user_id, raw(profiles.c.traits).label("traits"), raw(profiles.c.consents).label("consents"),
        profiles.c.timezone, profiles.c.locale,
        raw(profiles.c.created_at).label("created_at"), raw(profiles.c.updated_at).label("updated_at"),
    ).order_by(profiles.c.updated_at, profiles.c.id).limit(limit)
    if since is not None:
        query = query.where(sa.or_(profiles.c.updated_at > since,
                                   sa.and_(profiles.c.updated_at == since, profiles.c.id > after_id)))
    return query


def _note_written(conn: Connection, clauseelement: Any, *_: Any) -> None:
    """Notes the table an INSERT, UPDATE or DELETE compiled by SQLAlchemy wrote (``Stores.write`` counts
    a transaction that wrote profiles at its commit, for the pump's sync of profiles)."""
    if isinstance(clauseelement, sa.Insert | sa.Update | sa.Delete) and isinstance(clauseelement.table, sa.Table):
        dialect.note_written(conn, clauseelement.table)


def _parse_sync_mark(mark: str | None) -> tuple[dt.datetime | None, str]:
    """``"<iso time>|<profile id>"``; older installs stored the time alone."""
    if not mark:
        return None, ""
    at, _, profile_id = mark.partition("|")
    return dt.datetime.fromisoformat(at), profile_id


def _set_sync_mark(conn: Connection, name: str, value: str) -> None:
    updated = conn.execute(sync_state.update().where(sync_state.c.name == name).values(value=value))
    if not updated.rowcount:
        conn.execute(sync_state.insert().values(name=name, value=value))


def _reason(exc: Exception) -> str:
    return str(exc.orig) if isinstance(exc, sa.exc.DBAPIError) else str(exc)


def _lock_hint(exc: Exception) -> str:
    if isinstance(exc, sa.exc.OperationalError) and dialect.is_lock_error(exc):
        return ("another process (a running `touchline serve`?) holds the embedded event store; "
                "read through its API instead, or stop it first")
    return _reason(exc)
