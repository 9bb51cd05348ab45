"""Storage: the state store (SQLite | PostgreSQL) and the event store (DuckDB | PostgreSQL)."""

from touchline.store.engines import Stores, open_stores

__all__ = ["Stores", "open_stores"]
