"""Issue 12's fault test: a journey sends 2,000 webhook messages to a receiver that counts each idempotency
key, through real processes with the default outbox settings (a 5 s lease, so that it ends quickly): on
PostgreSQL ``touchline serve`` plus two ``touchline worker``, on the embedded default ``touchline serve``.

Without kills nothing may reach the receiver twice. With three ``kill -9`` during dispatch (of serve, then of
each worker in turn on PostgreSQL, where the others carry on; each restarted at once), nothing may be
missing, and the keys received twice may be no more than the documented in-flight bound:
``outbox_group`` messages per process killed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.schema import outbox
from touchline.workspaces.service import workspace_id_by_name
from webhook_helpers import Receiver, publish_webhook_journey, receiving

pytestmark = pytest.mark.slow

MESSAGES = 2000
LEASE_SECONDS = 5.0
WORKERS = 2  # beside serve, on PostgreSQL
KILL_AT = (0.2, 0.45, 0.7)  # of the messages received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(delay=0.003) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Run:
    received: Counter[str]
    ids: set[str]
    statuses: dict[str, int]
    processes_killed: int
    seconds: float


def _prepare(settings: Settings) -> None:
    stores = open_stores(settings)
    try:
        with stores.read() as conn:
            ws = workspace_id_by_name(conn, "default")
        publish_webhook_journey(stores, ws, "notify", "order {{ event.n }}")
        now = dt.datetime.now(dt.UTC)
        items, rejected = parse_items(
            [{"type": "track", "userId": f"u{i}", "event": "Signed Up", "messageId": f"m{i}", "properties": {"n": i},
              "timestamp": now.isoformat()} for i in range(MESSAGES)],
            received_at=now, batch_sent_at=None, default_type=None, max_event_bytes=32_000, phone_region="KR")
        assert not rejected
        ingest(stores, ws, items)
    finally:
        stores.dispose()  # the processes own the stores now (DuckDB admits one process)


def _run(settings: Settings, receiver: Receiver, kills: int) -> Run:
    _prepare(settings)
    env = {**os.environ, "TOUCHLINE_DATA_DIR": str(settings.data_dir),
           "TOUCHLINE_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_port}/hook",
           "TOUCHLINE_WEBHOOK_SECRET": "s3cret", "TOUCHLINE_RUNNER_POLL_SECONDS": "0.05",
           "TOUCHLINE_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS)}
    if settings.database_url:
        env["TOUCHLINE_DATABASE_URL"] = settings.database_url
        env["TOUCHLINE_EVENTS_URL"] = settings.events_url or settings.database_url
    cli = [sys.executable, "-c", "from touchline.cli.main import app; app()"]
    commands = [[*cli, "serve", "--port", str(_free_port()), "--log-level", "warning"]]
    if settings.database_url:
        commands += [[*cli, "worker"]] * WORKERS
    state = sa.create_engine(settings.state_url)

    def start(command: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def unfinished() -> int:
        with state.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                    .where(outbox.c.status != "sent")).scalar_one())

    started = time.monotonic()
    procs = [start(c) for c in commands]
    killed = processes_killed = 0
    try:
        deadline = started + 150
        while time.monotonic() < deadline:
            distinct = receiver.distinct()
            if killed < kills and distinct >= KILL_AT[killed] * MESSAGES:
                # One process at a time, in turn (serve, then each worker): the others carry on, and take
                # over its leased rows once the lease has run out.
                victim = killed % len(procs)
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                procs[victim] = start(commands[victim])
                processes_killed += 1
                killed += 1
            elif distinct == MESSAGES and killed == kills and unfinished() == 0:
                break
            time.sleep(0.01 if distinct < MESSAGES else 0.2)
        seconds = time.monotonic() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    with state.connect() as conn:
        ids = set(conn.execute(sa.select(outbox.c.id)).scalars())
        statuses = {str(status): int(n) for status, n in conn.execute(
            sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))}
    state.dispose()
    with receiver.lock:
        received = Counter(receiver.keys)
    return Run(received, ids, statuses, processes_killed, seconds)


@pytest.mark.parametrize("kills", [0, 3])
def test_two_thousand_webhooks_through_kill_9(settings: Settings, receiver: Receiver, kills: int) -> None:
    run = _run(settings, receiver, kills)
    duplicates = sum(n - 1 for n in run.received.values())
    bound = run.processes_killed * settings.outbox_group
    print(f"\n{'PostgreSQL, serve + 2 workers' if settings.database_url else 'embedded, serve'}: {kills} kills "
          f"({run.processes_killed} processes), {len(run.received)} keys received, {duplicates} twice or more "
          f"(bound {bound}), {run.seconds:.1f} s")
    assert run.statuses == {"sent": MESSAGES}, run.statuses
    assert set(run.received) == run.ids and len(run.ids) == MESSAGES  # nothing missing, no key unknown
    assert run.processes_killed == kills
    assert duplicates <= bound
    if not kills:
        assert duplicates == 0
