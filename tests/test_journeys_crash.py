"""kill -9 in the middle of a run: worker processes die at random points while 150 customers go through a
two-message journey; after a final clean run every message has reached the provider, none under two
different keys, and every run is complete. On PostgreSQL two workers share the work."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.journeys import service as journeys
from touchline.journeys.runner import Runner
from touchline.messaging import service as messaging
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.schema import journey_runs, outbox
from webhook_helpers import Receiver, receiving

CUSTOMERS = 150


@pytest.fixture
def provider() -> Iterator[Receiver]:
    """Slow enough (5 ms a request) that kills land between "sent" and "recorded"."""
    with receiving(delay=0.005, keep_alive=False) as server:
        yield server


def _env(settings: Settings, provider: Receiver) -> dict[str, str]:
    env = {**os.environ, "TOUCHLINE_DATA_DIR": str(settings.data_dir),
           "TOUCHLINE_WEBHOOK_URL": f"http://127.0.0.1:{provider.server_port}/hook",
           "TOUCHLINE_WEBHOOK_SECRET": "s3cret", "TOUCHLINE_RUNNER_POLL_SECONDS": "0.05"}
    if settings.database_url:
        env["TOUCHLINE_DATABASE_URL"] = settings.database_url
        env["TOUCHLINE_EVENTS_URL"] = settings.events_url or settings.database_url
    return env


def test_kill_9_loses_nothing_and_sends_nothing_twice(settings: Settings, provider: Receiver) -> None:
    settings = settings.model_copy(update={"webhook_url": f"http://127.0.0.1:{provider.server_port}/hook",
                                           "webhook_secret": None})
    stores = open_stores(settings)
    ws = "default"
    from touchline.workspaces.service import workspace_id_by_name

    with stores.read() as conn:
        ws = workspace_id_by_name(conn, "default")
    messaging.save_template(stores, ws, "hook", "webhook", {"en": {"text": "{{ event.n }}"}}, "en")
    journeys.create(stores, ws, {
        "id": "two-step", "name": "Two steps", "version": 1, "trigger": {"type": "event", "event": "Signed Up"},
        "start": "first", "nodes": [
            {"type": "send", "id": "first", "channel": "webhook", "template": "hook", "kind": "transactional",
             "next": "pause"},
            {"type": "wait", "id": "pause", "duration": "1s", "next": "second"},
            {"type": "send", "id": "second", "channel": "webhook", "template": "hook", "kind": "transactional",
             "next": "end"},
            {"type": "exit", "id": "end"}]})
    journeys.publish(stores, ws, "two-step")
    now = dt.datetime.now(dt.UTC)
    items, _ = parse_items([{"type": "track", "userId": f"u{i}", "event": "Signed Up", "messageId": f"m{i}",
                             "properties": {"n": i}, "timestamp": now.isoformat()} for i in range(CUSTOMERS)],
                           received_at=now, batch_sent_at=None, default_type=None, max_event_bytes=32_000,
                           phone_region="KR")
    ingest(stores, ws, items)
    stores.dispose()  # the workers own the stores now (DuckDB admits one process)

    workers = 2 if settings.database_url else 1
    env = _env(settings, provider)
    cmd = [sys.executable, "-c", "from touchline.cli.main import app; app()", "worker"]
    kills = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
        time.sleep(1.2 + 0.3 * (kills % 3))
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        kills += 1
        if kills >= 4:
            break
    # A clean finish in-process: whatever the killed workers left half done is completed.
    stores = open_stores(settings)
    runner = Runner(stores)
    for _ in range(200):
        runner.tick(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.outbox_lease_seconds + 5))
        with stores.read() as conn:
            open_runs = conn.execute(sa.select(sa.func.count()).select_from(journey_runs)
                                     .where(journey_runs.c.status != "completed")).scalar_one()
            unsent = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                  .where(outbox.c.status != "sent")).scalar_one()
        if not open_runs and not unsent:
            break
        time.sleep(0.05)
    with stores.read() as conn:
        runs = conn.execute(sa.select(journey_runs.c.status, sa.func.count()).group_by(journey_runs.c.status)).all()
        sent = conn.execute(sa.select(outbox.c.id).where(outbox.c.status == "sent")).scalars().all()
        statuses = conn.execute(sa.select(outbox.c.status, outbox.c.reason, sa.func.count())
                                .group_by(outbox.c.status, outbox.c.reason)).all()
    stores.dispose()
    assert dict(runs) == {"completed": CUSTOMERS}, statuses
    assert [tuple(s) for s in statuses] == [("sent", None, 2 * CUSTOMERS)], statuses
    assert len(sent) == 2 * CUSTOMERS
    received = Counter(provider.keys)
    # Nothing lost: every message reached the provider; nothing sent twice: no message under a key the
    # outbox does not know (a second key would be a second message). A key seen twice is a retry after
    # a kill between the provider's answer and the commit, which the provider drops by its key.
    assert set(received) == set(sent)
    assert kills >= 4
