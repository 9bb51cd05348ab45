"""Column types that hide how each engine spells time stamps and JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

UTC = dt.UTC


def dumps(value: Any) -> str:
    """JSON text; text already known to be JSON (``RawJSON``) passes through unchanged. This is also
    every engine's ``json_serializer``, so JSON columns never encode a value twice."""
    if isinstance(value, RawJSON):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in Python; SQLite keeps them as naive UTC text, the others as timestamptz."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDocument(sa.TypeDecorator[Any]):
    """A JSON value. Binds either a Python object or text that is already JSON (``RawJSON``), so hot
    paths serialise once; reads always give Python objects whatever the driver returns."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        if dialect.name == "duckdb":
            return dialect.type_descriptor(sa.JSON())
        return dialect.type_descriptor(sa.Text())

    def bind_expression(self, bindvalue: Any) -> Any:
        return bindvalue

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name in ("postgresql", "duckdb"):
            return value  # the JSON/JSONB impl serialises it with ``dumps``
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str | bytes):
            return loads(value)
        return value


class RawJSON(str):
    """Text known to be valid JSON; ``JSONDocument`` stores it without another round of encoding."""

    __slots__ = ()


def big_id() -> sa.types.TypeEngine[int]:
    """BIGINT everywhere, but INTEGER on SQLite so that it is the rowid and autoincrements."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
