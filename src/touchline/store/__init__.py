"""Storage: the state store (SQLite | PostgreSQL) and the event store (DuckDB | PostgreSQL)."""

from touchline.store.engines import Stores

__all__ = ["Stores"]
