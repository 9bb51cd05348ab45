"""One fixture runs a test against both backends: embedded (SQLite + DuckDB) and PostgreSQL.

PostgreSQL comes from TOUCHLINE_TEST_POSTGRES_URL (default: the local server, trust auth). Each
pytest-xdist worker gets its own database; each test starts from an empty schema. Outside CI a
missing server skips the PostgreSQL half; in CI (CI=true) it fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from live_server import live  # noqa: F401 - a fixture, shared by the tests that run real clients
from support import ADMIN_TOKEN, WRITE_KEY
from touchline.app import create_app
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores

# Servers started by the tests, in this process or as subprocesses, leave the shop assistant to be built by
# its first question: a warm start costs seconds of CPU in every server with an FAQ (one test turns it on).
os.environ.setdefault("TOUCHLINE_ASSISTANT_WARM_START", "false")

PG_BASE = os.environ.get("TOUCHLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.OperationalError as exc:
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    problem = _pg_available()
    if problem is not None:
        message = f"PostgreSQL not reachable at {PG_BASE}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # The pid keeps two test runs on one machine (a developer and CI, say) out of each other's way.
    name = f"touchline_test_{worker_id}_{os.getpid()}".replace("-", "_")
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_BASE.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides this fixture; without xdist we are the only worker.
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


def _reset_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    # RFM cut-offs computed on every live round: tests compare live membership with batch exactly.
    common: dict[str, Any] = {"data_dir": tmp_path / "data", "write_key": WRITE_KEY, "admin_token": ADMIN_TOKEN,
                              "segment_rfm_max_age_seconds": 0}
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
        return Settings(database_url=url, events_url=url, **common)
    return Settings(**common)


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    opened = open_stores(settings)
    yield opened
    opened.dispose()


@pytest.fixture
def workspace_id(stores: Stores) -> str:
    from touchline.workspaces.service import workspace_id_by_name

    with stores.read() as conn:
        return workspace_id_by_name(conn, "default")


@pytest.fixture
def client(stores: Stores) -> Iterator[TestClient]:
    with TestClient(create_app(stores=stores, run_pump=False)) as test_client:
        yield test_client

