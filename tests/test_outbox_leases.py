"""The outbox's leases (issue 12), in one process on both backends: two dispatchers and a provider slower
than the lease send each message once; a worker that dies re-sends at most its group in flight; a
worker whose rows were taken over sends none of them again and records nothing over the new holder's
outcome; the claim size is the outbox's own setting; migration 7 adds the claim token."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.journeys.runner import Runner
from touchline.messaging import service as messaging
from touchline.messaging import store as message_store
from touchline.messaging.channels import OutboundMessage, SendResult, Sent
from touchline.messaging.outbox import Outbox
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.migrations import STATE_MIGRATIONS, current_version, upgrade
from touchline.store.schema import event_staging, outbox
from touchline.workspaces.service import workspace_id_by_name
from webhook_helpers import publish_webhook_journey


class Provider:
    """A webhook provider in memory: counts each idempotency key, takes ``delay`` seconds a message, and
    runs ``hook`` (if any) before accepting the n-th message it is given."""

    name = "webhook"

    def __init__(self, delay: float = 0.0, label: str = "p") -> None:
        self.delay = delay
        self.label = label
        self.keys: list[str] = []
        self.lock = threading.Lock()
        self.hook: tuple[int, Callable[[], None]] | None = None

    def send(self, message: OutboundMessage) -> SendResult:
        with self.lock:
            n = len(self.keys) + 1
        if self.hook is not None and self.hook[0] == n:
            _, run = self.hook
            self.hook = None
            run()
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.keys.append(message.idempotency_key)
        return Sent(f"{self.label}-{message.idempotency_key}")


class _Killed(BaseException):
    """The worker process dying (not an ``Exception``: nothing in the outbox may catch it)."""


@pytest.fixture
def leased(settings: Settings) -> Iterator[Callable[..., Stores]]:
    """Opens stores with small groups (10 messages recorded at a time, sent one by one) and a lease of
    30 s unless told (tests that move the dispatch clock need no short one)."""
    opened: list[Stores] = []

    def open_tuned(lease: float = 30.0) -> Stores:
        tuned = settings.model_copy(update={"outbox_lease_seconds": lease, "outbox_group": 10,
                                            "outbox_group_ms": 1000.0, "outbox_send_threads": 1})
        opened.append(open_stores(tuned))
        return opened[-1]

    yield open_tuned
    for stores in opened:
        stores.dispose()


def _messages(stores: Stores, n: int, now: dt.datetime) -> list[str]:
    """``n`` customers each with one webhook message waiting in the outbox; their ids."""
    with stores.read() as conn:
        ws = workspace_id_by_name(conn, "default")
    publish_webhook_journey(stores, ws, "hello", "hi {{ event.n }}")
    items, rejected = parse_items(
        [{"type": "track", "userId": f"u{i}", "event": "Signed Up", "messageId": f"m{i}", "properties": {"n": i},
          "timestamp": now.isoformat()} for i in range(n)],
        received_at=now, batch_sent_at=None, default_type=None, max_event_bytes=32_000, phone_region="KR")
    assert not rejected
    ingest(stores, ws, items)
    Runner(stores, clock=lambda: now).tick(now, dispatch=False)
    with stores.read() as conn:
        ids = list(conn.execute(sa.select(outbox.c.id)).scalars())
    assert len(ids) == n
    return ids


def _rows(stores: Stores) -> dict[str, dict[str, Any]]:
    with stores.read() as conn:
        return {r["id"]: dict(r) for r in conn.execute(sa.select(outbox)).mappings()}


def _sent_receipts(stores: Stores) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(event_staging)
                                .where(event_staging.c.event == "Message Sent")).scalar_one())


def test_two_workers_and_a_provider_slower_than_the_lease_send_each_message_once(
        leased: Callable[..., Stores]) -> None:
    """Issue 12, defect 1: the sends of one claim outlast its lease (120 messages at 10 ms = 1.2 s, lease
    0.6 s). Before the fix the other worker claimed the same rows when the lease ran out and sent them
    again; now each group's lease is renewed before it is sent, and rows another worker took over are
    dropped."""
    stores = leased(0.6)
    ids = _messages(stores, 120, dt.datetime.now(dt.UTC))
    provider = Provider(delay=0.01)
    workers = [Outbox(stores, channels={"webhook": provider}) for _ in range(2)]
    done = threading.Event()
    errors: list[BaseException] = []

    def work(box: Outbox) -> None:
        try:
            while not done.is_set():
                if not box.dispatch().claimed:
                    time.sleep(0.02)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=work, args=(box,)) for box in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and not done.is_set():
            if all(r["status"] == "sent" for r in _rows(stores).values()):
                break
            time.sleep(0.05)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    received = Counter(provider.keys)
    assert set(received) == set(ids)
    assert [k for k, n in received.items() if n > 1] == []
    rows = _rows(stores)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("sent", 1)}
    assert _sent_receipts(stores) == len(ids)


def test_a_worker_that_dies_resends_at_most_its_group_in_flight(leased: Callable[..., Stores]) -> None:
    """Issue 12, defect 2: outcomes are recorded as sends complete, 10 at a time (``outbox_group``), so a
    worker dying at its 37th send leaves at most that group unrecorded; before the fix all 36 messages
    already accepted were sent again once the lease ran out."""
    stores = leased()
    t0 = dt.datetime.now(dt.UTC)
    ids = _messages(stores, 60, t0)
    dying = Provider()

    def die() -> None:
        raise _Killed

    dying.hook = (37, die)
    with pytest.raises(_Killed):
        Outbox(stores, channels={"webhook": dying}).dispatch(now=t0)
    assert len(dying.keys) == 36
    recorded = {i for i, r in _rows(stores).items() if r["status"] == "sent"}
    assert recorded == set(dying.keys[:30])  # three groups recorded, the fourth was in flight

    healthy = Provider()
    # Every lease has run out: the claim's (from t0) and the renewals', which count from t0 plus the time the
    # dying dispatch had taken (seconds on a loaded machine; "lease + 1 s" failed once in CI).
    later = t0 + dt.timedelta(seconds=2 * stores.settings.outbox_lease_seconds)
    report = Outbox(stores, channels={"webhook": healthy}).dispatch(now=later)
    assert report.sent == len(ids) - 30
    twice = set(dying.keys) & set(healthy.keys)
    assert twice == set(dying.keys[30:36])  # the group in flight, and nothing else
    assert len(twice) <= stores.settings.outbox_group
    assert set(dying.keys) | set(healthy.keys) == set(ids)
    assert {r["status"] for r in _rows(stores).values()} == {"sent"}
    assert _sent_receipts(stores) == len(ids)


def test_rows_another_worker_took_over_are_neither_sent_nor_recorded_again(leased: Callable[..., Stores]) -> None:
    """Worker A stalls in its first send past the lease (simulated with the dispatch clock); worker B
    claims every row, sends and records them. A then finishes its group (at most ``outbox_group``
    repeats: the bound), records none of it over B's outcomes, and drops the rest of its claim."""
    stores = leased()
    t0 = dt.datetime.now(dt.UTC)
    ids = _messages(stores, 35, t0)
    a, b = Provider(label="a"), Provider(label="b")
    worker_a = Outbox(stores, channels={"webhook": a})
    worker_b = Outbox(stores, channels={"webhook": b})
    later = t0 + dt.timedelta(seconds=stores.settings.outbox_lease_seconds + 1)
    b_reports = []
    a.hook = (1, lambda: b_reports.append(worker_b.dispatch(now=later)))

    a_report = worker_a.dispatch(now=t0)

    assert b_reports[0].sent == len(ids) and set(b.keys) == set(ids)
    assert 1 <= len(a.keys) <= stores.settings.outbox_group  # (part of) its first group, then nothing
    assert a_report.sent == 0 and a_report.fenced == len(ids)
    rows = _rows(stores)
    assert {r["provider_id"].split("-")[0] for r in rows.values()} == {"b"}
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("sent", 1)}
    assert _sent_receipts(stores) == len(ids)
    with stores.read() as conn:
        ws = workspace_id_by_name(conn, "default")
    logged = messaging.messages(stores, ws, limit=5)
    assert logged and not {"claim_token", "lease_until", "context"} & set(logged[0])  # internal to the outbox


def test_the_outbox_claims_its_own_batch_not_the_journey_batch(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tuned = settings.model_copy(update={"journey_batch": 4000, "outbox_batch": 7})
    stores = open_stores(tuned)
    try:
        now = dt.datetime.now(dt.UTC)
        _messages(stores, 30, now)
        limits: list[int] = []
        claim = message_store.claim_due

        def spy(conn: Any, at: dt.datetime, limit: int) -> list[dict[str, Any]]:
            limits.append(limit)
            return claim(conn, at, limit)

        monkeypatch.setattr(message_store, "claim_due", spy)
        provider = Provider()
        report = Runner(stores, outbox=Outbox(stores, channels={"webhook": provider}), clock=lambda: now).tick(now)
    finally:
        stores.dispose()
    assert report.outbox.sent == 30 and len(provider.keys) == 30
    assert set(limits) == {7} and len(limits) == 5  # 7 + 7 + 7 + 7 + 2
    # Unset: 500 where workers share the outbox, 4,000 where one process sends everything.
    stores = open_stores(settings.model_copy(update={"journey_batch": 100}))
    try:
        assert Outbox(stores).batch == (500 if settings.database_url else 4000)
    finally:
        stores.dispose()


def test_migration_7_adds_the_claim_token(stores: Stores) -> None:
    with stores.state.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN claim_token")
        conn.exec_driver_sql("UPDATE touchline_schema_versions SET version = 6 WHERE store = 'state'")
    assert "claim_token" not in {c["name"] for c in sa.inspect(stores.state).get_columns("outbox")}
    assert upgrade(stores)["state"] == (6, STATE_MIGRATIONS[-1].version)
    assert "claim_token" in {c["name"] for c in sa.inspect(stores.state).get_columns("outbox")}
    with stores.state.begin() as conn:
        assert current_version(conn, "state") == STATE_MIGRATIONS[-1].version


def test_a_tick_leases_from_the_clock_at_dispatch_not_at_its_start(leased: Callable[..., Stores],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick that spends long on signals first (100 s here, more than the lease) must not claim rows
    under a lease counted from its start: it would run out before the sends, and another worker would
    take the rows over and send them again (issue 12: the duplicates on PostgreSQL without any kill)."""
    stores = leased()
    t0 = dt.datetime.now(dt.UTC)
    _messages(stores, 5, t0)
    clock = [t0]
    provider = Provider()
    runner = Runner(stores, outbox=Outbox(stores, channels={"webhook": provider}, clock=lambda: clock[0]),
                    clock=lambda: clock[0])
    process_signals = runner.process_signals

    def slow_signals(now: dt.datetime) -> tuple[int, int]:
        clock[0] += dt.timedelta(seconds=100)
        return process_signals(now)

    monkeypatch.setattr(runner, "process_signals", slow_signals)
    leases: list[dt.datetime] = []

    def look() -> None:
        with stores.read() as conn:
            leases.extend(conn.execute(sa.select(outbox.c.lease_until).where(outbox.c.status == "sending")).scalars())

    provider.hook = (1, look)
    report = runner.tick()
    assert report.outbox.sent == 5
    assert leases and min(leases) > clock[0]  # every row being sent is leased beyond the clock
