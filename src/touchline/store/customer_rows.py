"""Reading every row a table holds about some customers, for the customer-wide export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect

__all__ = ["rows_about"]

_CHUNK = 900  # SQLite binds at most 999 parameters in one statement


def rows_about(conn: Connection, table: sa.Table, column: str, workspace_id: str, ids: Sequence[str],
               *, order_by: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every row of ``table`` whose ``column`` is one of ``ids`` in the workspace, all columns, oldest
    first by ``order_by``."""
    found: list[dict[str, Any]] = []
    for i in range(0, len(ids), _CHUNK):
        query = sa.select(table).where(table.c.workspace_id == workspace_id,
                                       dialect.in_values(conn, table.c[column], list(ids[i : i + _CHUNK])))
        found += [dict(r) for r in conn.execute(query.order_by(*(table.c[c] for c in order_by))).mappings()]
    return found
