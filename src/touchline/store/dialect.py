"""The one place that knows how SQLite, PostgreSQL and DuckDB differ."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from touchline.store.schema import PAYLOAD_PARTS, STAGED_COLUMNS, events, sync_state
from touchline.store.types import JSONDocument, RawJSON, UTCDateTime, dumps

SQLITE = "sqlite"
POSTGRES = "postgresql"
DUCKDB = "duckdb"


def name(conn: Connection) -> str:
    return conn.dialect.name


def in_values(conn: Connection, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL as ``= ANY(array)``, one parameter instead of hundreds,
    which PostgreSQL plans far faster."""
    if name(conn) == POSTGRES:
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def in_parameter(conn: Connection, column: sa.ColumnElement[Any], parameter: str) -> sa.ColumnElement[bool]:
    """:func:`in_values` with the values given at execution as ``parameter`` (a list): for a statement
    built once and run many times."""
    if name(conn) == POSTGRES:
        return column == sa.any_(sa.bindparam(parameter, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(parameter, expanding=True))


def in_list(conn: Connection, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)`` with the values as ONE parameter on every state store: on SQLite a JSON
    array read by ``json_each`` (as ``select_by_keys``; the planner still probes the column's index), so
    that the statement text does not change with the number of values: no chunking to SQLite's
    parameter limit, no per-value parameter processing, the compiled and prepared statements reused
    (a batch of 4,000 customers' runs was read 900 expanded parameters at a time). Values: strings or
    integers. Elsewhere ``in_values``."""
    if name(conn) != SQLITE:
        return in_values(conn, column, values)
    listed = sa.func.json_each(sa.bindparam(None, orjson.dumps(list(values)).decode(), type_=sa.Text))
    return column.in_(sa.select(listed.table_valued("value").c.value))


def any_of(column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column = ANY(array)`` for the event store (DuckDB and PostgreSQL): one parameter, however many
    values; both engines plan it far faster than a long IN list."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.Text())))


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the state store."""
    if name(conn) == POSTGRES:
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def upsert_adding(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *, keys: Sequence[str],
                  add: Sequence[str] = (), keep: Sequence[str] = ()) -> None:
    """Insert rows (all with the same keys); a row whose ``keys`` exist already adds its ``add`` columns to
    the stored ones, leaves ``keep`` columns as they are, and replaces the rest (``INSERT ... ON CONFLICT
    DO UPDATE`` on both state-store dialects)."""
    if not rows:
        return
    insert = postgresql.insert(table) if name(conn) == POSTGRES else sqlite.insert(table)
    updates: dict[str, Any] = {}
    for column in rows[0]:
        if column in keys or column in keep:
            continue
        updates[column] = table.c[column] + insert.excluded[column] if column in add else insert.excluded[column]
    conn.execute(insert.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows))


def lock_workspace_identities(conn: Connection, workspace_id: str) -> None:
    """Serialise ingestion within a workspace for the rest of the transaction.

    SQLite needs nothing: every write transaction starts with BEGIN IMMEDIATE (see engines.py).
    PostgreSQL takes a transaction-scoped advisory lock, so two API processes cannot both create a
    profile for the same new identifier, or both claim the same messageId.
    """
    lock_key(conn, "identities:" + workspace_id)


def lock_key(conn: Connection, key: str) -> None:
    """Hold a named lock until the transaction ends: a PostgreSQL advisory lock; SQLite needs none, its
    write transactions already exclude each other (BEGIN IMMEDIATE)."""
    if name(conn) == POSTGRES:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))


def lock_keys(conn: Connection, keys: Sequence[str]) -> None:
    """``lock_key`` for many keys in one round trip, taken in sorted order (two workers locking
    overlapping sets cannot deadlock on each other)."""
    if name(conn) == POSTGRES and keys:
        ordered = sorted(set(keys))
        k = sa.func.unnest(sa.bindparam("keys", ordered, type_=postgresql.ARRAY(sa.Text()))) \
            .table_valued("k", with_ordinality="n").render_derived()
        inner = sa.select(k.c.k).order_by(k.c.n).subquery()
        conn.execute(sa.select(sa.func.count(sa.func.pg_advisory_xact_lock(sa.func.hashtext(inner.c.k)))))


def try_lock_key(conn: Connection, key: sa.ColumnElement[str]) -> sa.ColumnElement[bool] | None:
    """A condition that takes the named lock of each row's ``key`` where nobody holds it (PostgreSQL),
    for claiming only rows of keys no other worker is busy with; None where there is one writer."""
    if name(conn) == POSTGRES:
        return sa.func.pg_try_advisory_xact_lock(sa.func.hashtext(key))
    return None


def state_json_text(conn: Connection, column: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[str]:
    """A top-level key of a state-store JSON column as text (NULL when absent or JSON null)."""
    if name(conn) == POSTGRES:
        return sa.cast(column, postgresql.JSONB)[key].astext
    quoted = key.replace('"', '""')
    return sa.func.json_extract(column, f'$."{quoted}"').cast(sa.Text)


def lock_for_claim(conn: Connection, query: sa.Select[Any], *, of: Any = None) -> sa.Select[Any]:
    """Rows a worker claims: ``FOR UPDATE SKIP LOCKED`` (of the table ``of`` in a join) where several
    processes may compete."""
    if name(conn) == POSTGRES:
        return query.with_for_update(of=of, skip_locked=True)
    return query


def lock_rows(conn: Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    """Rows read to be rewritten: ``FOR UPDATE`` where several processes may write them."""
    if name(conn) == POSTGRES:
        return query.with_for_update()
    return query


def add_missing_columns(conn: Connection, table: sa.Table, columns: Sequence[str]) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` (of the current schema's ``table``) that the
    database's table lacks; the names added. SQLite and PostgreSQL both add a column with a constant
    default without rewriting the table (PostgreSQL since 11); SQLite has no ``ADD COLUMN IF NOT EXISTS``,
    so the columns there are read first, on both."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    added = []
    for column in columns:
        if column in present:
            continue
        spec = sa.schema.CreateColumn(table.c[column]).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {spec}')
        added.append(column)
    return added


# SQLSTATE classes of errors that pass by themselves: connection exception, transaction rollback
# (deadlock, serialization failure), insufficient resources, operator intervention.
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57")
_TRANSIENT_SQLITE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may pass if the same statements run again later (a lock, a deadlock, a
    lost connection, a full disk) rather than come back every time for these rows (a constraint, a value
    a column refuses). The driver's error is found through SQLAlchemy's wrapper and the causes (the stores
    re-raise some as ``StoreUnavailable``); PostgreSQL says which with its SQLSTATE, SQLite with its error
    name; another driver's operational error counts as transient."""
    seen: BaseException | None = exc
    operational = False
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, sa.exc.DBAPIError):
            if seen.connection_invalidated:
                return True
            operational = operational or isinstance(seen, sa.exc.OperationalError)
            seen = seen.orig
            continue
        sqlite_name = getattr(seen, "sqlite_errorname", None)
        if sqlite_name is not None:
            return str(sqlite_name).startswith(_TRANSIENT_SQLITE)
        if hasattr(seen, "sqlstate"):  # psycopg: no SQLSTATE when the server could not be reached
            code = getattr(seen, "sqlstate", None)
            return code is None or str(code)[:2] in _TRANSIENT_SQLSTATE
        seen = seen.__cause__
    return operational


def extra_event_store_ddl(conn: Connection) -> list[str]:
    """Indexes for the event store. DuckDB gets none: its zone maps serve scans and an ART index
    would slow every append; PostgreSQL needs the usual B-trees."""
    if name(conn) == POSTGRES:
        return [
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_events_seq ON events (seq)",
            "CREATE INDEX IF NOT EXISTS ix_events_ws_profile_ts ON events (workspace_id, profile_id, timestamp)",
            "CREATE INDEX IF NOT EXISTS ix_events_ws_ts ON events (workspace_id, timestamp)",
            # Funnel steps, segment event conditions, RFM: the events of one name in a time range, with
            # the profile they belong to in the index itself (an index-only scan skips the wide rows).
            "CREATE INDEX IF NOT EXISTS ix_events_ws_event_ts ON events (workspace_id, event, timestamp) "
            "INCLUDE (profile_id)",
            "CREATE INDEX IF NOT EXISTS ix_events_ws_message ON events (workspace_id, message_id)",
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_profile_snapshots_id ON profile_snapshots (profile_id)",
            "CREATE INDEX IF NOT EXISTS ix_profile_snapshots_canonical "
            "ON profile_snapshots (workspace_id, canonical_id)",
            # Every analytics query maps events to customers: profile -> canonical id, index-only.
            "CREATE INDEX IF NOT EXISTS ix_profile_snapshots_ws_profile "
            "ON profile_snapshots (workspace_id, profile_id) INCLUDE (canonical_id)",
        ]
    return []


# --- bulk writes to the state store ------------------------------------------------------------------
# SQLAlchemy's per-parameter processing costs more than SQLite itself on the ingestion path, so on
# SQLite the hot bulk statements go straight to the driver, with values converted the way the column
# types would convert them (same text formats, so reads through SQLAlchemy see no difference).


@functools.lru_cache(maxsize=8192)
def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    # Cached: one batch writes the same instants several times (event time, last seen, first seen).
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


def _sqlite_json(value: Any) -> str | None:
    if value is None:
        return None
    if value == {}:  # most new profiles: no traits, no consents yet
        return "{}"
    return dumps(value)


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column.type, JSONDocument):
        return _sqlite_json
    return None


def _params(rows: Sequence[dict[str, Any]], columns: Sequence[str],
            converters: Sequence[Callable[[Any], Any] | None]) -> list[tuple[Any, ...]]:
    # Column by column: a comprehension per column is several times cheaper than a generator per row, and
    # map() with itemgetter cheaper again (the loop runs in C).
    by_column = [list(map(f, map(itemgetter(c), rows))) if f else list(map(itemgetter(c), rows))
                 for c, f in zip(columns, converters, strict=True)]
    return list(zip(*by_column, strict=True))


# Rows per multi-row INSERT on SQLite, largest first: a batch is cut into these sizes, so that a few
# statement texts serve every batch size and stay in the driver's statement cache.
_SQLITE_ROWS_PER_INSERT = (256, 64, 16, 4, 1)


def _sqlite_insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], params: list[tuple[Any, ...]],
                        suffix: str = "") -> None:
    """``INSERT ... VALUES (...), (...), ...``: one statement step for up to 256 rows.

    Not ``executemany``: the driver releases the GIL around every row it steps, and the ingestion
    writer then waits to get it back from the threads parsing the next requests, once per row.
    """
    head = f'INSERT INTO "{table.name}" ({_quoted(table, columns)}) VALUES '  # noqa: S608 - schema names
    one = "(" + ", ".join("?" * len(columns)) + ")"
    width = len(columns)
    start = 0
    for size in _SQLITE_ROWS_PER_INSERT:
        if size * width > 32_766:  # SQLite's limit on parameters per statement
            continue
        sql = head + ", ".join([one] * size) + suffix
        while len(params) - start >= size:
            chunk = params[start : start + size]
            conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(chunk)))
            start += size


def _quoted(table: sa.Table, columns: Sequence[str]) -> str:
    return ", ".join(f'"{table.c[c].name}"' for c in columns)


def _pg_json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _pg_converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _utc
    if isinstance(column.type, JSONDocument):
        return _pg_json
    return None


# The tables a transaction wrote, in its connection's ``info``: statements compiled by SQLAlchemy are
# noted by a listener (``touchline.store.engines``), the driver's own paths here note theirs.
WRITTEN_TABLES = "touchline.written_tables"


def note_written(conn: Connection, table: sa.Table) -> None:
    conn.info.setdefault(WRITTEN_TABLES, set()).add(table.name)


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows that all have the same keys.

    PostgreSQL: ``COPY ... FROM STDIN`` on the transaction's own connection (one stream, no statement
    per row, no SQLAlchemy parameter processing); values are converted the way the column types would
    (JSON as text, time stamps as aware UTC). SQLite: multi-row INSERTs straight to the driver.
    """
    if not rows:
        return
    note_written(conn, table)
    if name(conn) == POSTGRES:
        columns = list(rows[0])
        params = _params(rows, columns, [_pg_converter(table.c[c]) for c in columns])
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(
                f'COPY "{table.name}" ({_quoted(table, columns)}) FROM STDIN') as copy:
            for row in params:
                copy.write_row(row)
        return
    if name(conn) != SQLITE:
        conn.execute(table.insert(), list(rows))
        return
    _sqlite_insert_rows(conn, table, *_sqlite_values(table, rows, list(rows[0])))


def _sqlite_values(table: sa.Table, rows: Sequence[dict[str, Any]], columns: Sequence[str]
                   ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns and row tuples of a multi-row INSERT on SQLite (``_params``), leaving out a column that
    is NULL in every row and has no server default (NULL all the same): the driver binds None through
    its adapter look-up (see ``engines``), and a new run carries half a dozen such columns."""
    converters = [_converter(table.c[c]) for c in columns]
    by_column = [list(map(f, map(itemgetter(c), rows))) if f else list(map(itemgetter(c), rows))
                 for c, f in zip(columns, converters, strict=True)]
    n = len(rows)
    kept = [i for i, (c, values) in enumerate(zip(columns, by_column, strict=True))
            if values.count(None) < n or table.c[c].server_default is not None]
    if len(kept) < len(columns) and kept:
        columns, by_column = [columns[i] for i in kept], [by_column[i] for i in kept]
    return list(columns), list(zip(*by_column, strict=True))


def bulk_insert_ignoring_conflicts(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """``insert_ignoring_conflicts`` for many rows; on SQLite straight to the driver like ``bulk_insert``
    (rows are grouped by their keys, so they need not all have the same ones)."""
    if not rows:
        return
    note_written(conn, table)
    if name(conn) != SQLITE:
        conn.execute(insert_ignoring_conflicts(conn, table), list(rows))
        return
    shapes = set(map(tuple, rows))  # in C: most batches have one shape, grouped without a loop here
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    if len(shapes) == 1:
        groups[shapes.pop()] = list(rows)
    else:
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
    for columns, group in groups.items():
        _sqlite_insert_rows(conn, table, *_sqlite_values(table, group, columns), " ON CONFLICT DO NOTHING")


def insert_new_keys(conn: Connection, table: sa.Table, key: str, values: Sequence[str], **fixed: Any) -> set[str]:
    """Insert a row ``(fixed..., key=value)`` for each value whose row is not there yet, and return the
    values inserted: one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` statement, the
    values travelling as one parameter (a JSON array read by ``json_each`` on SQLite, an array on
    PostgreSQL), so a batch of any size is one round trip and one compiled statement."""
    if not values:
        return set()
    note_written(conn, table)
    if name(conn) == SQLITE:
        columns = list(fixed)
        converters = [_converter(table.c[c]) for c in columns]
        fixed_values = [f(fixed[c]) if f else fixed[c] for c, f in zip(columns, converters, strict=True)]
        sql = (f'INSERT INTO "{table.name}" ({_quoted(table, [*columns, key])}) '  # noqa: S608 - schema names
               f'SELECT {"?, " * len(columns)}value FROM json_each(?) WHERE true '
               f'ON CONFLICT DO NOTHING RETURNING "{key}"')
        rows = conn.exec_driver_sql(sql, (*fixed_values, orjson.dumps(list(values)).decode())).cursor.fetchall()
        return {v for (v,) in rows}
    source = sa.select(*(sa.literal(v, table.c[c].type) for c, v in fixed.items()),
                       sa.func.unnest(sa.bindparam(None, list(values), type_=postgresql.ARRAY(table.c[key].type))))
    stmt = (postgresql.insert(table).from_select([*fixed, key], source)
            .on_conflict_do_nothing().returning(table.c[key]))
    return set(conn.execute(stmt).scalars())


def bulk_update(conn: Connection, table: sa.Table, key: str | Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET ... WHERE key = ...`` for many rows that all have the same keys (``key`` may name
    several columns: a composite primary key)."""
    if not rows:
        return
    note_written(conn, table)
    keys = [key] if isinstance(key, str) else list(key)
    columns = [c for c in rows[0] if c not in keys]
    if name(conn) != SQLITE:
        stmt = (
            table.update()
            .where(*(table.c[k] == sa.bindparam(f"_key_{k}") for k in keys))
            .values({c: sa.bindparam(c) for c in columns})
        )
        conn.execute(stmt, [{**{c: r[c] for c in columns}, **{f"_key_{k}": r[k] for k in keys}} for r in rows])
        return
    converters = [_converter(table.c[c]) for c in [*columns, *keys]]
    assignments = ", ".join(f'"{c}" = ?' for c in columns)
    where = " AND ".join(f'"{k}" = ?' for k in keys)
    sql = f'UPDATE "{table.name}" SET {assignments} WHERE {where}'  # noqa: S608
    conn.exec_driver_sql(sql, _params(rows, [*columns, *keys], converters))


@functools.lru_cache(maxsize=8192)
def _sqlite_read_datetime(value: str | None) -> dt.datetime | None:
    # Cached: a batch of outbox rows or runs shares most of its time stamps (created, due, updated).
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _sqlite_read_json(value: str | bytes | None) -> Any:
    return None if value is None else orjson.loads(value)


def _read_converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _sqlite_read_datetime
    if isinstance(column.type, JSONDocument):
        return _sqlite_read_json
    return None


def select_by_keys(conn: Connection, table: sa.Table, columns: Sequence[str], key: str, values: Sequence[Any],
                   *, for_update: bool = False, **equal: Any) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE key IN values AND col = value ...`` as tuples of Python values,
    for the ingestion path's look-ups of a whole batch at once.

    The values travel as ONE parameter (an array on PostgreSQL, a JSON array read by ``json_each`` on
    SQLite, where the planner still probes the key's index), so the statement text never changes with
    the batch size: no chunking, no per-value parameter compilation, and SQLite's statement cache hits.
    On SQLite the rows come straight from the driver, converted the way the column types would.
    ``for_update`` locks the rows found for the rest of the transaction where several processes may
    write them (``lock_rows``).
    """
    if not values:
        return []
    if name(conn) != SQLITE:
        query = sa.select(*(table.c[c] for c in columns)).where(
            in_values(conn, table.c[key], values), *(table.c[c] == v for c, v in equal.items()))
        return [tuple(r) for r in conn.execute(lock_rows(conn, query) if for_update else query)]
    conditions = "".join(f' AND "{c}" = ?' for c in equal)
    sql = (f'SELECT {_quoted(table, columns)} FROM "{table.name}" '  # noqa: S608 - names come from the schema
           f'WHERE "{key}" IN (SELECT value FROM json_each(?)){conditions}')
    rows = conn.exec_driver_sql(sql, (orjson.dumps(list(values)).decode(), *equal.values())).cursor.fetchall()
    converters = [_read_converter(table.c[c]) for c in columns]
    if not rows or not any(converters):
        return rows  # type: ignore[return-value]  # sqlite3's fetchall() is a list of tuples; SQLAlchemy types it as any sequence
    # Column by column, each converted by map() in C (see fetch_dicts).
    return list(zip(*(list(map(f, column)) if f is not None else column
                      for column, f in zip(zip(*rows, strict=True), converters, strict=True)), strict=True))


def fetch_dicts(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    """The rows of a state-store query as dicts of Python values. On SQLite straight from the driver's
    cursor, converted the way the column types would (as ``select_by_keys`` does): for the runner's and
    the outbox's batches of wide rows, SQLAlchemy's per-value result processing and row mappings cost
    more than the query."""
    result = conn.execute(query)
    if name(conn) != SQLITE:
        return [dict(r) for r in result.mappings()]
    keys = list(result.keys())
    converters = [_read_converter(c) if isinstance(c, sa.Column) else None for c in query.selected_columns]
    rows = result.cursor.fetchall()
    result.close()
    if not rows:
        return []
    # Column by column (as ``_params``): map() converts a column in C, where a loop over each row's
    # converters ran in Python for every value.
    columns = [list(map(f, column)) if f is not None else column
               for column, f in zip(zip(*rows, strict=True), converters, strict=True)]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]


# --- the event store --------------------------------------------------------------------------------

_ARROW_TS = pa.timestamp("us", tz="UTC")
_TIME_COLUMNS = {"timestamp", "original_timestamp", "sent_at", "received_at"}


def payload_parts(payload: Any) -> dict[str, Any]:
    """properties / traits / context of an original message (empty objects where absent)."""
    doc = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
    return {part: doc.get(part) if isinstance(doc.get(part), dict) else {} for part in PAYLOAD_PARTS}


def append_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Append staged rows (``seq`` + STAGED_COLUMNS) to the event store, deriving the payload parts,
    and skipping any ``seq`` already there (a retried pump)."""
    if not rows:
        return 0
    seqs = [r["seq"] for r in rows]
    # Sequence numbers only grow, so a range scan (zone maps on DuckDB, the index on PostgreSQL) finds
    # any already there; an IN list of thousands of values would cost more to plan than to run.
    present = set(conn.execute(sa.select(events.c.seq).where(events.c.seq.between(min(seqs), max(seqs)))).scalars())
    fresh = [r for r in rows if r["seq"] not in present]
    if not fresh:
        return 0
    if name(conn) == DUCKDB:
        _append_arrow(conn, fresh)
    else:
        conn.execute(events.insert(), [
            {**r, **{c: _as_datetime(r[c]) for c in _TIME_COLUMNS}, "payload": RawJSON(_json_text(r["payload"])),
             **payload_parts(r["payload"])}
            for r in fresh
        ])
    return len(fresh)


def read_staged(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    """Staged rows for the pump. On SQLite straight from the driver: time stamps stay text (the event
    store parses them in bulk) and the payload stays JSON text."""
    if name(conn) != SQLITE:
        return [dict(r) for r in conn.execute(query).mappings()]
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    cursor = conn.exec_driver_sql(str(compiled))
    keys = [d[0] for d in cursor.cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.cursor.fetchall()]


def as_utc_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    """A time stamp as a driver returns it (text on SQLite, naive meaning UTC) as an aware datetime."""
    return _as_datetime(value)


def _as_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    return value


def _append_arrow(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """DuckDB appends a columnar batch about 300x faster than parameterised inserts, and parses time
    stamps and extracts the payload parts itself, vectorised."""
    columns: dict[str, pa.Array] = {"seq": pa.array([r["seq"] for r in rows], pa.int64())}
    for col in STAGED_COLUMNS:
        values = [r[col] for r in rows]
        if col in _TIME_COLUMNS:
            text = any(isinstance(v, str) for v in values)
            columns[col] = pa.array(values, pa.string()) if text else pa.array([_utc(v) for v in values], _ARROW_TS)
        elif col == "payload":
            columns[col] = pa.array([_json_text(v) for v in values], pa.string())
        else:
            columns[col] = pa.array(values, pa.string())
    batch = pa.table(columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.register("_touchline_batch", batch)
    try:
        # One parse of each payload for all three parts (a JSON null part becomes an empty object).
        parts = ", ".join(f"coalesce(nullif(_parts[{i}]::VARCHAR, 'null'), '{{}}')::JSON"
                          for i in range(1, len(PAYLOAD_PARTS) + 1))
        paths = ", ".join(f"'$.{p}'" for p in PAYLOAD_PARTS)
        target = ", ".join(f'"{c}"' for c in ["seq", *STAGED_COLUMNS, *PAYLOAD_PARTS])
        source = ", ".join(
            f'CAST("{c}" AS TIMESTAMPTZ)' if c in _TIME_COLUMNS else f'"{c}"' for c in ["seq", *STAGED_COLUMNS]
        )
        conn.exec_driver_sql(
            f"INSERT INTO events ({target}) SELECT {source}, {parts} "  # noqa: S608
            f"FROM (SELECT *, json_extract(payload, [{paths}]) AS _parts FROM _touchline_batch)"
        )
    finally:
        raw.unregister("_touchline_batch")


def _arrow_times(values: list[Any]) -> pa.Array:
    """Time stamps for DuckDB: text (SQLite's naive UTC) is left for DuckDB to cast, in bulk, on insert
    (its session time zone is UTC); datetimes go as UTC time stamps."""
    if any(isinstance(v, str) for v in values):
        return pa.array([v if v is None or isinstance(v, str) else _utc(v).isoformat() for v in values],  # type: ignore[union-attr]
                        pa.string())
    return pa.array([_utc(v) for v in values], _ARROW_TS)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def move_staged_in_place(conn: Connection, limit: int) -> list[tuple[str, str]]:
    """When staging and the event store are one PostgreSQL database: move a chunk in one statement
    (DELETE ... RETURNING feeding INSERT ... SELECT), with no row passing through Python."""
    from touchline.store.schema import event_staging

    claimed = (
        sa.select(event_staging.c.seq).order_by(event_staging.c.seq).limit(limit)
        .with_for_update(skip_locked=True).scalar_subquery()
    )
    moved = (
        event_staging.delete().where(event_staging.c.seq.in_(claimed))
        .returning(event_staging.c.seq, *(event_staging.c[c] for c in STAGED_COLUMNS))
        .cte("moved")
    )
    payload = sa.type_coerce(moved.c.payload, postgresql.JSONB)
    parts = [
        sa.case((sa.func.jsonb_typeof(payload[p]) == "object", payload[p]),
                else_=sa.cast(sa.literal("{}"), postgresql.JSONB)).label(p)
        for p in PAYLOAD_PARTS
    ]
    select = sa.select(moved.c.seq, *(moved.c[c] for c in STAGED_COLUMNS), *parts)
    appended = (
        postgresql.insert(events)
        .from_select(["seq", *STAGED_COLUMNS, *PAYLOAD_PARTS], select)
        .on_conflict_do_nothing(index_elements=["seq"])  # moved before a crash: already there
        .cte("appended")
    )
    # PostgreSQL runs every data-modifying CTE, referenced or not; report what left staging.
    stmt = sa.select(moved.c.workspace_id, moved.c.profile_id).add_cte(appended)
    return [(ws, pid) for ws, pid in conn.execute(stmt)]


def copy_snapshots_in_place(conn: Connection, changed: sa.Select[Any]) -> tuple[int, tuple[dt.datetime, str] | None]:
    """When the state store and the event store are one PostgreSQL database: upsert the snapshot rows
    ``changed`` selects (ordered by updated_at, profile id) in one statement, with no row passing
    through Python. Returns how many, and the (updated_at, profile id) of the last."""
    from touchline.store.schema import profile_snapshots as snap

    rows = changed.cte("changed")
    columns = [c.name for c in snap.c]
    upsert = postgresql.insert(snap).from_select(columns, sa.select(*(rows.c[c] for c in columns)))
    upsert = upsert.on_conflict_do_update(
        index_elements=["profile_id"], set_={c: upsert.excluded[c] for c in columns if c != "profile_id"})
    # PostgreSQL runs a data-modifying CTE whether or not the outer query reads it.
    stmt = (
        sa.select(sa.func.count().over(), rows.c.updated_at, rows.c.profile_id)
        .order_by(rows.c.updated_at.desc(), rows.c.profile_id.desc()).limit(1)
        .add_cte(upsert.cte("upserted"))
    )
    found = conn.execute(stmt).first()
    if found is None:
        return 0, None
    return int(found[0]), (_utc(found[1]), found[2])  # type: ignore[return-value]


def replace_snapshots(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Put these profile snapshots in place of any older ones with the same profile_id."""
    from touchline.store.schema import profile_snapshots as snap

    if not rows:
        return
    ids = [r["profile_id"] for r in rows]
    if name(conn) == DUCKDB:
        batch = pa.table({
            "workspace_id": pa.array([r["workspace_id"] for r in rows], pa.string()),
            "profile_id": pa.array(ids, pa.string()),
            "canonical_id": pa.array([r["canonical_id"] for r in rows], pa.string()),
            "user_id": pa.array([r["user_id"] for r in rows], pa.string()),
            "traits": pa.array([_json_text(r["traits"]) for r in rows], pa.string()),
            "consents": pa.array([_json_text(r["consents"]) for r in rows], pa.string()),
            "timezone": pa.array([r["timezone"] for r in rows], pa.string()),
            "locale": pa.array([r["locale"] for r in rows], pa.string()),
            "created_at": _arrow_times([r["created_at"] for r in rows]),
            "updated_at": _arrow_times([r["updated_at"] for r in rows]),
        })
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.register("_touchline_snapshots", batch)
        try:
            conn.exec_driver_sql(
                "DELETE FROM profile_snapshots WHERE profile_id IN (SELECT profile_id FROM _touchline_snapshots)")
            cols = ", ".join(f'"{c}"' for c in batch.column_names)
            conn.exec_driver_sql(
                f"INSERT INTO profile_snapshots ({cols}) SELECT {cols} FROM _touchline_snapshots")  # noqa: S608
        finally:
            raw.unregister("_touchline_snapshots")
        return
    for i in range(0, len(ids), 900):
        conn.execute(snap.delete().where(in_values(conn, snap.c.profile_id, ids[i : i + 900])))
    conn.execute(snap.insert(), [
        {**r, "traits": RawJSON(_json_text(r["traits"])), "consents": RawJSON(_json_text(r["consents"])),
         "created_at": _as_datetime(r["created_at"]), "updated_at": _as_datetime(r["updated_at"])}
        for r in rows
    ])


def checkpoint(engine: sa.Engine, *, restart: bool = False) -> None:
    """Fold SQLite's write-ahead log back into the database, off the ingestion path.

    PASSIVE copies what it can without holding anyone back. It never lets the log start over while a
    writer commits all the time, though: under steady ingestion the log grew by ~4 KB an event without
    end. ``restart`` (RESTART) copies the rest and makes the next writer start the log from its
    beginning; it holds writers back while it runs, so the ingestion writer calls it itself, between
    two transactions, right after a passive round did most of the copying; it waits for readers a
    moment at most (a short busy timeout) and otherwise gives up until the next time.

    On the driver connection itself, outside any transaction: SQLAlchemy would open one first (a
    ``BEGIN IMMEDIATE`` here), and SQLite refuses to checkpoint inside it ("database table is locked").
    """
    if engine.dialect.name != SQLITE:
        return
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if not restart:
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return
        driver.execute("PRAGMA busy_timeout=200")
        try:
            driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            driver.execute("PRAGMA busy_timeout=30000")
    finally:
        raw.close()


def truncate_log(engine: sa.Engine, *, wait_seconds: float = 2.0) -> bool:
    """Fold SQLite's write-ahead log into the database and cut the log file to nothing (TRUNCATE), so
    that no old copy of a page (one holding an erased customer's rows, say) stays behind in it; with
    ``secure_delete`` the database's own pages hold zeros where deleted rows were. Waits for readers
    and writers up to ``wait_seconds``; False when one kept it from finishing (try again later). True
    at once on other engines (nothing to do). On the driver connection, outside any transaction (see
    ``checkpoint``)."""
    if engine.dialect.name != SQLITE:
        return True
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
        try:
            busy, _log, _done = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            driver.execute("PRAGMA busy_timeout=30000")
        return not busy
    finally:
        raw.close()


def vacuum(engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
    """PostgreSQL: VACUUM these tables, so that the space of deleted rows is marked free and gets
    reused (it is not zeroed: see README, erase); in autocommit, as VACUUM requires. Nothing elsewhere:
    SQLite zeroes deleted rows itself (``secure_delete``), DuckDB gets a new file instead."""
    if engine.dialect.name != POSTGRES or not tables:
        return
    names = ", ".join(f'"{t.name}"' for t in dict.fromkeys(tables))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM {names}")


def copy_database(engine: sa.Engine, target: str, *, stamp: str) -> None:
    """DuckDB: copy the whole database (schema and rows) into a new file at ``target`` (ATTACH, COPY FROM
    DATABASE, DETACH: the new file is complete and closed when this returns), on the driver connection
    outside any transaction. The copy holds only live rows; the old file's freed blocks stay behind.
    ``stamp`` is written into the copy's ``touchline_sync_state`` as ``file``, to tell the copy from
    the original once it is in place."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        current = driver.execute("SELECT current_database()").fetchone()[0]
        quoted_db = current.replace('"', '""')
        driver.execute(f"ATTACH '{target.replace(chr(39), chr(39) * 2)}' AS touchline_rewrite")
        try:
            driver.execute(f'COPY FROM DATABASE "{quoted_db}" TO touchline_rewrite')
            table = f"touchline_rewrite.{sync_state.name}"
            driver.execute(f"DELETE FROM {table} WHERE name = 'file'")  # noqa: S608 - a schema name
            driver.execute(f"INSERT INTO {table} (name, value) VALUES ('file', ?)", [stamp])  # noqa: S608
        finally:
            driver.execute("DETACH touchline_rewrite")
    finally:
        raw.close()


def database_stamp(conn: Connection) -> str | None:
    """The ``stamp`` ``copy_database`` left in this event store, if any."""
    return conn.execute(sa.select(sync_state.c.value).where(sync_state.c.name == "file")).scalar_one_or_none()


def delete_in_chunks(conn: Connection, table: sa.Table, column: sa.Column[Any], values: Sequence[Any]) -> int:
    """DELETE ... WHERE column IN (...), chunked below every engine's parameter limit."""
    total = 0
    for i in range(0, len(values), 500):
        result = conn.execute(table.delete().where(column.in_(values[i : i + 500])))
        total += max(result.rowcount or 0, 0)
    return total


# --- CTEs in analytics and segment queries ------------------------------------------------------------


def inline_cte(cte: sa.CTE) -> sa.CTE:
    """A CTE that every use reads afresh, so that each use's filters reach the table scan (and its
    indexes and statistics). PostgreSQL otherwise materialises a CTE used more than once, and estimates
    the materialised rows blind; DuckDB decides for itself and reads the same SQL without the hint."""
    return cte.prefix_with("NOT MATERIALIZED", dialect="postgresql")


def materialized_cte(cte: sa.CTE) -> sa.CTE:
    """A CTE computed once however often the statement reads it (both engines take the hint)."""
    return cte.prefix_with("MATERIALIZED", dialect="postgresql").prefix_with("MATERIALIZED", dialect="duckdb")


# --- analytics expressions ----------------------------------------------------------------------------
# Constructs rather than functions of a connection: an analytics query is built once, without a
# connection, and each engine compiles its own spelling (which is also what the SQL snapshot tests pin).


class json_path_text(sa.sql.functions.FunctionElement[str]):  # lower case: it reads as the SQL function
    """The text at ``keys`` inside a JSON column (NULL when absent): ``json_path_text(events.c.context,
    "campaign", "source")``. Keys are bound as parameters, never spliced into the SQL."""

    type = sa.Text()
    inherit_cache = True
    name = "json_path_text"

    def __init__(self, document: sa.ColumnElement[Any], *keys: str) -> None:
        # Both spellings are bound up front (PostgreSQL's key list, DuckDB's JSON pointer) so that a
        # cached compilation never carries another statement's path; each engine renders its own.
        pointer = "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in keys)
        super().__init__(document, sa.bindparam(None, pointer, type_=sa.Text),
                         *(sa.bindparam(None, k, type_=sa.Text) for k in keys))


@compiles(json_path_text, "postgresql")
def _json_path_text_postgres(element: json_path_text, compiler: Any, **kw: Any) -> str:
    document, _pointer, *keys = element.clauses
    return f"jsonb_extract_path_text({', '.join(compiler.process(c, **kw) for c in (document, *keys))})"


@compiles(json_path_text, "duckdb")
def _json_path_text_duckdb(element: json_path_text, compiler: Any, **kw: Any) -> str:
    document, pointer, *_keys = element.clauses
    return f"json_extract_string({compiler.process(document, **kw)}, {compiler.process(pointer, **kw)})"


class local_period(sa.sql.functions.FunctionElement[dt.datetime]):
    """The start of the local ``unit`` ('day' | 'week' | 'month') holding the time stamp ``ts`` in the
    time zone ``tz``, as a local (naive) time stamp: ``date_trunc(unit, timezone(tz, ts))``.

    DuckDB converts time zones through ICU at ~240 ns a row (2.4 s for 10M events, most of a retention
    report), where adding a UTC offset to the epoch microseconds costs ~10 ns. So on DuckDB the offset
    comes from a CASE over the zone's UTC offsets between its transitions in ``window`` (computed here,
    from the zone database), and only rows outside ``window`` go through ICU. PostgreSQL converts
    natively and gets the plain spelling."""

    type = sa.DateTime()
    inherit_cache = True
    name = "local_period"

    def __init__(self, unit: str, ts: sa.ColumnElement[Any], tz: str,
                 window: tuple[dt.datetime, dt.datetime]) -> None:
        us = epoch_us(ts)
        lo, hi = (_as_epoch_us(t) for t in window)
        whens: list[tuple[Any, Any]] = [(us < lo, sa.null())]
        for until, offset in _offsets_between(tz, lo, hi):
            whens.append((us < sa.bindparam(None, until, sa.BigInteger),
                          sa.bindparam(None, offset, sa.BigInteger)))
        super().__init__(sa.bindparam(None, unit, sa.Text), ts, sa.bindparam(None, tz, sa.Text),
                         sa.case(*whens, else_=sa.null()))


def _as_epoch_us(value: dt.datetime) -> int:
    return int((value - _EPOCH) // dt.timedelta(microseconds=1))


@functools.lru_cache(maxsize=256)
def _offsets_between(tz: str, lo_us: int, hi_us: int) -> tuple[tuple[int, int], ...]:
    """``(until_us, offset_us)`` pieces covering [lo_us, hi_us): the zone's UTC offset holds from the
    previous piece's ``until`` (or ``lo_us``) up to ``until_us``. Transitions are found a day at a time
    and then to the second (zones change offset at most a few times a year, and never twice a day)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)

    def offset(us: int) -> int:
        moment = from_epoch_us(us).astimezone(zone)
        return int((moment.utcoffset() or dt.timedelta()) // dt.timedelta(microseconds=1))

    day, second = 86_400_000_000, 1_000_000
    pieces: list[tuple[int, int]] = []
    at, current = lo_us, offset(lo_us)
    while at < hi_us:
        nxt = min(at + day, hi_us)
        if offset(nxt) == current:
            at = nxt
            continue
        low, high = at, nxt  # offset(low) == current != offset(high): the change lies in (low, high]
        while high - low > second:
            mid = (low + high) // 2 // second * second
            if mid <= low:
                break
            low, high = (mid, high) if offset(mid) == current else (low, mid)
        pieces.append((high, current))
        at, current = high, offset(high)
    pieces.append((hi_us, current))
    return tuple(pieces)


@compiles(local_period, "postgresql")
def _local_period_postgres(element: local_period, compiler: Any, **kw: Any) -> str:
    unit, ts, tz, _offsets = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_trunc({unit}, timezone({tz}, {ts}))"


@compiles(local_period, "duckdb")
def _local_period_duckdb(element: local_period, compiler: Any, **kw: Any) -> str:
    unit, ts, tz, offsets = (compiler.process(c, **kw) for c in element.clauses)
    return (f"date_trunc({unit}, coalesce(make_timestamp(epoch_us({ts}) + {offsets}), "
            f"timezone({tz}, {ts})))")


# --- JSON, time and ordering in segment queries (PostgreSQL and DuckDB) -------------------------------
# Expressions that render per engine when the statement is compiled, so a segment query is built once,
# with no connection at hand, and runs on either event store. JSON kinds are normalised to
# PostgreSQL's jsonb_typeof names: 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null'.

from sqlalchemy.ext.compiler import compiles  # noqa: E402
from sqlalchemy.sql.compiler import SQLCompiler  # noqa: E402
from sqlalchemy.sql.functions import FunctionElement  # noqa: E402

from touchline.values import ISO_DATE_PATTERN, ISO_DATETIME_PATTERN, MAX_NUMBER, NUMBER_PATTERN  # noqa: E402

# How report and segment queries read a number or a date out of JSON: as touchline.values defines them,
# alike on every engine and in the Python evaluator.
_DUCKDB_NUMBERS = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


def _pg_bounded(numeric: str) -> str:
    """A NUMERIC expression as a double within the bound, else NULL. PostgreSQL refuses to cast what a
    double cannot hold (1e400, and 1e-400, which a double rounds to 0), so the bound is checked on the
    NUMERIC first, and below 2.5e-324 the double is 0."""
    return (f"CASE WHEN abs({numeric}) <= {MAX_NUMBER} THEN CASE WHEN abs({numeric}) >= 2.5e-324 "
            f"THEN CAST({numeric} AS DOUBLE PRECISION) ELSE CAST(0 AS DOUBLE PRECISION) END END")


def _duckdb_bounded(value: str) -> str:
    """A JSON value or text as a double within the bound, else NULL (1e400 casts to inf, out of bounds)."""
    double = f"TRY_CAST({value} AS DOUBLE)"
    return f"CASE WHEN abs({double}) <= {MAX_NUMBER} THEN {double} END"


class json_amount(FunctionElement[float]):
    """A JSON value read as an amount: a number, or a string holding one (``"12000"``), within the bound; NULL
    for anything else. A number is cast straight from the JSON value: on either engine that costs little
    more than the unchecked cast it replaces (+0.2-0.4 µs a row on PostgreSQL)."""

    inherit_cache = True
    type = sa.Double()


@compiles(json_amount, "postgresql")
def _pg_json_amount(element: json_amount, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    text = f"({value} #>> '{{}}')"
    return (f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN {_pg_bounded(f'CAST({value} AS NUMERIC)')} "
            f"WHEN jsonb_typeof({value}) = 'string' AND {text} ~ '^{NUMBER_PATTERN}$' "
            f"THEN {_pg_bounded(f'CAST({text} AS NUMERIC)')} END)")


@compiles(json_amount, "duckdb")
def _duckdb_json_amount(element: json_amount, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    text = f"json_extract_string({value}, '$')"
    return (f"(CASE WHEN json_type({value}) IN {_DUCKDB_NUMBERS} THEN {_duckdb_bounded(value)} "
            f"WHEN json_type({value}) = 'VARCHAR' AND regexp_full_match({text}, '{NUMBER_PATTERN}') "
            f"THEN {_duckdb_bounded(text)} END)")


class json_value(FunctionElement[Any]):
    """The JSON value under ``key`` (and ``more`` keys inside it, one level each) of a JSON document (SQL
    NULL when absent). The keys are bound as parameters on every engine: as themselves for PostgreSQL,
    as one JSON path (``$."key"."more"``) for DuckDB, so that a nested value costs one parse there."""

    inherit_cache = True
    type = JSONDocument()

    def __init__(self, doc: Any, key: str, *more: str) -> None:
        keys = (key, *more)
        path = "$" + "".join('."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
        super().__init__(doc, sa.literal(path, sa.Text()), *(sa.literal(k, sa.Text()) for k in keys))


class json_kind(FunctionElement[str]):
    inherit_cache = True
    type = sa.Text()


class json_is(FunctionElement[bool]):
    """Whether a JSON value is of one kind (``json_kind(v) == kind``, NULL when absent), with one type
    test: DuckDB's CASE over every kind evaluates the type once per branch, and a trait test is in
    every segment. Arguments: value, kind (a Python string, rendered as a constant)."""

    inherit_cache = True
    type = sa.Boolean()

    def __init__(self, value: Any, kind: str) -> None:
        super().__init__(value, sa.literal_column(f"'{_KIND_NAMES[kind][0]}'"))
        self.kind = kind


class epoch_us(FunctionElement[int]):
    """A time stamp as integer microseconds since 1970-01-01 UTC: bulk reads turn it back into a
    datetime in Python (``from_epoch_us``) far faster than DuckDB's driver converts a TIMESTAMPTZ."""

    inherit_cache = True
    type = sa.BigInteger()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def from_epoch_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


@compiles(epoch_us, "postgresql")
def _pg_epoch_us(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    (ts,) = _args(compiler, element, **kw)
    return f"CAST(extract(epoch FROM {ts}) * 1000000 AS BIGINT)"


@compiles(epoch_us, "duckdb")
def _duckdb_epoch_us(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    (ts,) = _args(compiler, element, **kw)
    return f"epoch_us({ts})"


class json_is_string(FunctionElement[bool]):
    """Whether a JSON value is the string ``needle`` (NULL when absent). DuckDB compares the extracted
    value's JSON text with the needle's (both written by the same JSON writer), one parse of the
    document instead of a type test and a text extraction. Arguments: value, needle."""

    inherit_cache = True
    type = sa.Boolean()


class json_is_filled_string(FunctionElement[bool]):
    """Whether a JSON value is a non-empty string (NULL when absent): on DuckDB one LIKE on the value's
    JSON text (a string's text is quoted, so at least three characters), one parse of the document."""

    inherit_cache = True
    type = sa.Boolean()


@compiles(json_is_filled_string, "postgresql")
def _pg_json_is_filled_string(element: json_is_filled_string, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"(jsonb_typeof({value}) = 'string' AND ({value} #>> '{{}}') <> '')"


@compiles(json_is_filled_string, "duckdb")
def _duckdb_json_is_filled_string(element: json_is_filled_string, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"(CAST({value} AS VARCHAR) LIKE '\"__%')"


# PostgreSQL's jsonb_typeof name of each kind, then DuckDB's json_type names for it.
_KIND_NAMES = {
    "string": ("string", "VARCHAR"), "boolean": ("boolean", "BOOLEAN"), "array": ("array", "ARRAY"),
    "object": ("object", "OBJECT"), "null": ("null", "NULL"),
    "number": ("number", "BIGINT", "UBIGINT", "DOUBLE", "HUGEINT"),
}


class json_text(FunctionElement[str]):
    """A JSON scalar as text: a string unquoted, a number or boolean as written."""

    inherit_cache = True
    type = sa.Text()


class json_number(FunctionElement[float]):
    """A JSON number as a double (within ±MAX_NUMBER, see ``json_amount``); NULL for anything else."""

    inherit_cache = True
    type = sa.Double()


class json_array_has(FunctionElement[bool]):
    """Whether a JSON array holds an element of the given kind equal to the needle (a string compared
    as text, a number as a double, a boolean as 'true'/'false'); false for anything not an array.
    Arguments: value, kind (literal), needle."""

    inherit_cache = True
    type = sa.Boolean()


class iso_timestamp(FunctionElement[dt.datetime]):
    """Text holding an ISO date (midnight UTC) or date-time with offset, as a UTC time stamp; else NULL."""

    inherit_cache = True
    type = UTCDateTime()


class plus_hours(FunctionElement[dt.datetime]):
    inherit_cache = True
    type = UTCDateTime()


class binary_order(FunctionElement[str]):
    """Text ordered by code point whatever the database's collation (so Python's sort agrees)."""

    inherit_cache = True
    type = sa.Text()


def _args(compiler: SQLCompiler, element: FunctionElement[Any], **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(json_value, "postgresql")
def _pg_json_value(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    doc, _path, *keys = element.clauses
    steps = "".join(f" -> CAST({compiler.process(key, **kw)} AS TEXT)" for key in keys)
    return f"(CAST({compiler.process(doc, **kw)} AS JSONB){steps})"


@compiles(json_value, "duckdb")
def _duckdb_json_value(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path, *_keys = element.clauses
    return f"json_extract({compiler.process(doc, **kw)}, {compiler.process(path, **kw)})"


@compiles(json_kind, "postgresql")
def _pg_json_kind(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"jsonb_typeof({value})"


@compiles(json_kind, "duckdb")
def _duckdb_json_kind(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return (f"(CASE json_type({value}) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' "
            f"WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' WHEN 'NULL' THEN 'null' "
            f"WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            f"WHEN 'HUGEINT' THEN 'number' END)")


@compiles(json_is, "postgresql")
def _pg_json_is(element: json_is, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses.clauses[0], **kw)
    return f"(jsonb_typeof({value}) = '{_KIND_NAMES[element.kind][0]}')"


@compiles(json_is, "duckdb")
def _duckdb_json_is(element: json_is, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses.clauses[0], **kw)
    names = ", ".join(f"'{n}'" for n in _KIND_NAMES[element.kind][1:])
    return f"(json_type({value}) IN ({names}))"


@compiles(json_is_string, "postgresql")
def _pg_json_is_string(element: json_is_string, compiler: SQLCompiler, **kw: Any) -> str:
    value, needle = _args(compiler, element, **kw)
    return f"(jsonb_typeof({value}) = 'string' AND ({value} #>> '{{}}') = {needle})"


@compiles(json_is_string, "duckdb")
def _duckdb_json_is_string(element: json_is_string, compiler: SQLCompiler, **kw: Any) -> str:
    value, needle = _args(compiler, element, **kw)
    return f"({value} = to_json(CAST({needle} AS VARCHAR)))"


@compiles(json_text, "postgresql")
def _pg_json_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"({value} #>> '{{}}')"


@compiles(json_text, "duckdb")
def _duckdb_json_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"json_extract_string({value}, '$')"


@compiles(json_number, "postgresql")
def _pg_json_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN {_pg_bounded(f'CAST({value} AS NUMERIC)')} END)"


@compiles(json_number, "duckdb")
def _duckdb_json_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"(CASE WHEN json_type({value}) IN {_DUCKDB_NUMBERS} THEN {_duckdb_bounded(value)} END)"


def _element_match(compiler: SQLCompiler, element: json_array_has, x: str, **kw: Any) -> str:
    _value, kind_clause, needle_clause = element.clauses
    kind, needle = kind_clause.value, compiler.process(needle_clause, **kw)
    elem = sa.literal_column(x, JSONDocument())
    kind_sql = compiler.process(json_kind(elem), **kw)
    if kind == "number":
        return f"{kind_sql} = 'number' AND {compiler.process(json_number(elem), **kw)} = {needle}"
    return f"{kind_sql} = '{kind}' AND {compiler.process(json_text(elem), **kw)} = {needle}"


@compiles(json_array_has, "postgresql")
def _pg_json_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses.clauses[0], **kw)
    match = _element_match(compiler, element, "_el.x", **kw)
    array = f"CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} ELSE CAST('[]' AS JSONB) END"
    return f"EXISTS (SELECT 1 FROM jsonb_array_elements({array}) AS _el(x) WHERE {match})"  # noqa: S608


@compiles(json_array_has, "duckdb")
def _duckdb_json_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses.clauses[0], **kw)
    match = _element_match(compiler, element, "_el.x", **kw)
    array = f"CASE WHEN json_type({value}) = 'ARRAY' THEN json_extract({value}, '$[*]') ELSE [] END"
    return f"EXISTS (SELECT 1 FROM unnest({array}) AS _el(x) WHERE {match})"  # noqa: S608


@compiles(iso_timestamp, "postgresql")
def _pg_iso_timestamp(element: iso_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _args(compiler, element, **kw)
    return (f"(CASE WHEN {text} ~ '^{ISO_DATETIME_PATTERN}$' THEN CAST({text} AS TIMESTAMPTZ) "
            f"WHEN {text} ~ '^{ISO_DATE_PATTERN}$' THEN CAST({text} || 'T00:00:00+00:00' AS TIMESTAMPTZ) END)")


@compiles(iso_timestamp, "duckdb")
def _duckdb_iso_timestamp(element: iso_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _args(compiler, element, **kw)
    return (f"(CASE WHEN regexp_full_match({text}, '{ISO_DATETIME_PATTERN}') THEN TRY_CAST({text} AS TIMESTAMPTZ) "
            f"WHEN regexp_full_match({text}, '{ISO_DATE_PATTERN}') "
            f"THEN TRY_CAST({text} || 'T00:00:00+00:00' AS TIMESTAMPTZ) END)")


@compiles(plus_hours, "postgresql")
def _pg_plus_hours(element: plus_hours, compiler: SQLCompiler, **kw: Any) -> str:
    ts, hours = _args(compiler, element, **kw)
    return f"({ts} + make_interval(hours => {hours}))"


@compiles(plus_hours, "duckdb")
def _duckdb_plus_hours(element: plus_hours, compiler: SQLCompiler, **kw: Any) -> str:
    ts, hours = _args(compiler, element, **kw)
    return f"({ts} + to_hours({hours}))"


@compiles(binary_order, "postgresql")
def _pg_binary_order(element: binary_order, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _args(compiler, element, **kw)
    return f'({text} COLLATE "C")'


@compiles(binary_order, "duckdb")
def _duckdb_binary_order(element: binary_order, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _args(compiler, element, **kw)
    return text


def is_lock_error(exc: BaseException) -> bool:
    """DuckDB's answer when another process holds the file."""
    return "lock" in str(exc).lower()
