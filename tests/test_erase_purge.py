"""Erase means the bytes are gone: from every file of every store, within the stated time, and no event
about the erased customer is written afterwards.

The realistic test runs the server as ``touchline serve`` does (its own stores, the pump, live
segments, the journey runner and outbox): a customer sends events through the tracking API, is in a
live segment, enters journeys that send e-mail and in-app messages and remember a location, the
events reach ``events.duckdb``; then the admin API erases them, and after the stated time (and a
restart) not one byte of their distinctive values is left in any file of the data directory
(PostgreSQL: in any row of any table).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.app import create_app
from touchline.settings import Settings
from touchline.store.engines import Stores

# The customer to erase: every value below is theirs alone.
NAME = "황보세린"
EMAIL = "serin.hwangbo77@example.kr"
PHONE = "010-7341-2958"
PHONE_E164 = "+821073412958"
USER_ID = "cust-hwangbo-5521"
ANONYMOUS_ID = "anon-5f3ac9e1d2"
DEVICE_ID = "dev-galaxy-s24-88c1"
STREET = "여의대로 108 파크원타워 4217호"
ORDER_ID = "ORD-20261124-77341"
DISTINCTIVE = [NAME, EMAIL, PHONE, PHONE_E164, USER_ID, ANONYMOUS_ID, DEVICE_ID, STREET, ORDER_ID]

# Another customer, who stays.
OTHER_EMAIL = "minjun.lee@example.kr"
OTHER_USER_ID = "cust-lee-1020"

# A fix inside the geofence of the store below.
LAT, LON = 37.5253, 126.9249

THANKS = {
    "email": {"default_locale": "ko", "variants": {"ko": {
        "subject": "{{ profile.traits.name }}님, 주문 {{ event.order_id }} 감사합니다",
        "html": "<p>{{ profile.traits.name }}님 ({{ profile.traits.phone }}) {{ profile.traits.address.street }}"
                "로 보내드립니다. 주문 {{ event.order_id }}</p>"}}},
    "in_app": {"default_locale": "ko", "variants": {"ko": {
        "title": "{{ profile.traits.name }}님 감사합니다", "body": "주문 {{ event.order_id }} 배송지 "
                                                          "{{ profile.traits.address.street }}"}}},
}
NEARBY = {"in_app": {"default_locale": "ko", "variants": {"ko": {
    "title": "{{ profile.traits.name }}님, 여의도점이 가까워요", "body": "{{ event.address }}"}}}}

ORDER_THANKS = {
    "id": "order-thanks", "name": "Order thanks", "version": 1,
    "trigger": {"type": "event", "event": "Order Completed",
                "where": [{"property": "order_id", "operator": "exists"}]},
    "holdout_percent": 0, "start": "mail",
    "nodes": [
        {"type": "send", "id": "mail", "channel": "email", "template": "thanks", "kind": "transactional",
         "next": "inbox"},
        {"type": "send", "id": "inbox", "channel": "in_app", "template": "thanks", "kind": "transactional",
         "next": "later"},
        {"type": "wait", "id": "later", "duration": "7d", "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}
NEAR_STORE = {
    "id": "near-store", "name": "Near the store", "version": 1,
    "trigger": {"type": "geofence_entered", "event": "Location Updated",
                "stores": [{"id": "ST011", "name": "여의도점", "lat": 37.5252, "lon": 126.9250, "radius_m": 800}]},
    "holdout_percent": 0, "start": "coupon",
    "nodes": [
        {"type": "send", "id": "coupon", "channel": "in_app", "template": "nearby", "kind": "transactional",
         "next": "valid"},
        {"type": "wait", "id": "valid", "duration": "7d", "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}
BUYERS = {"type": "event", "event": "Order Completed", "count": {"operator": "at_least", "value": 1}}


def _customer_events(now: dt.datetime) -> list[dict[str, Any]]:
    at = (now - dt.timedelta(seconds=30)).isoformat()
    device = {"id": DEVICE_ID, "type": "android", "model": "SM-S921N"}
    return [
        {"type": "track", "anonymousId": ANONYMOUS_ID, "event": "Product Viewed", "timestamp": at,
         "messageId": "e-1", "properties": {"product_id": "knit-01", "price": 59000},
         "context": {"channel": "app", "device": device}},
        {"type": "identify", "anonymousId": ANONYMOUS_ID, "userId": USER_ID, "timestamp": at, "messageId": "e-2",
         "traits": {"name": NAME, "email": EMAIL, "phone": PHONE, "locale": "ko-KR",
                    "address": {"street": STREET, "city": "서울특별시"},
                    "consent": {"email": True, "sms": True, "in_app": True, "push": True}},
         "context": {"channel": "app", "device": device}},
        {"type": "track", "userId": USER_ID, "anonymousId": ANONYMOUS_ID, "event": "Location Updated",
         "timestamp": at, "messageId": "e-3",
         "properties": {"latitude": LAT, "longitude": LON, "address": STREET},
         "context": {"channel": "app", "device": device}},
        {"type": "track", "userId": USER_ID, "event": "Order Completed", "messageId": f"order-{ORDER_ID}",
         "timestamp": now.isoformat(),
         "properties": {"order_id": ORDER_ID, "revenue": 59000, "currency": "KRW",
                        "shipping": {"name": NAME, "phone": PHONE, "street": STREET}},
         "context": {"channel": "web", "userAgent": "Mozilla/5.0 (Linux; Android 14)"}},
    ]


def _other_events(now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {"type": "identify", "userId": OTHER_USER_ID, "messageId": "o-1", "timestamp": now.isoformat(),
         "traits": {"name": "이민준", "email": OTHER_EMAIL, "consent": {"email": True}}},
        {"type": "track", "userId": OTHER_USER_ID, "event": "Order Completed", "messageId": "o-2",
         "timestamp": now.isoformat(), "properties": {"order_id": "ORD-OTHER-1", "revenue": 1000}},
    ]


@pytest.fixture
def serve_settings(settings: Settings) -> Settings:
    """The test's settings as ``touchline serve`` would run with them: development channels record
    messages in the outbox; an erase is purged within 3 s instead of a minute."""
    return Settings(**{**{k: getattr(settings, k) for k in Settings.model_fields},
                       "dev_channels": True, "erase_purge_seconds": 3.0, "segment_live_interval_seconds": 0.5})


@pytest.fixture
def served(serve_settings: Settings) -> Callable[[], Any]:
    """A server started as ``touchline serve`` starts it (own stores, pump, runner): each use is a
    (re)start, and leaving the block stops it."""

    def start() -> TestClient:
        return TestClient(create_app(serve_settings))

    return start


def _stores(client: TestClient) -> Stores:
    return client.app.state.services.stores  # type: ignore[attr-defined,no-any-return]


def _wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _count(stores: Stores, table: sa.Table, *where: Any) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def _files(data_dir: Path) -> Iterator[Path]:
    return (p for p in sorted(data_dir.rglob("*")) if p.is_file())


def _grep(data_dir: Path, values: list[str]) -> dict[str, list[str]]:
    """Every file of the data directory (databases, -wal, -shm, .wal, temporary files) that holds a value's
    UTF-8 bytes: {value: [file name, ...]} for the values found."""
    hits: dict[str, list[str]] = {}
    for path in _files(data_dir):
        content = path.read_bytes()
        for value in values:
            if value.encode() in content:
                hits.setdefault(value, []).append(path.name)
    return hits


def _rows_holding(stores: Stores, values: list[str]) -> dict[str, list[str]]:
    """PostgreSQL: every table of the database with a row whose text holds a value."""
    hits: dict[str, list[str]] = {}
    with stores.state.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'").scalars().all()
        for table in tables:
            for value in values:
                found = conn.exec_driver_sql(
                    f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE %(p)s',  # noqa: S608 - catalog names
                    {"p": "%" + value + "%"}).scalar_one()
                if found:
                    hits.setdefault(value, []).append(table)
    return hits


def _set_up_shop(client: TestClient) -> None:
    for key, channels in (("thanks", THANKS), ("nearby", NEARBY)):
        for channel, body in channels.items():
            r = client.put(f"/v1/templates/{key}/{channel}", json=body, headers=bearer())
            assert r.status_code == 200, r.text
    for journey in (ORDER_THANKS, NEAR_STORE):
        r = client.post("/v1/journeys", json=journey, headers=bearer())
        assert r.status_code == 201, r.text
        r = client.post(f"/v1/journeys/{journey['id']}/publish", headers=bearer())
        assert r.status_code == 200, r.text
    r = client.post("/v1/segments", json={"name": "Buyers", "definition": BUYERS}, headers=bearer())
    assert r.status_code == 201, r.text


def test_erase_leaves_no_byte_of_the_customer_in_any_store_file(served: Callable[[], TestClient],
                                                                 serve_settings: Settings) -> None:
    from touchline.store.schema import (
        customer_locations,
        event_staging,
        inbox_messages,
        journey_runs,
        journey_signals,
        outbox,
        segment_members,
    )

    embedded = serve_settings.database_url is None
    now = dt.datetime.now(dt.UTC)
    with served() as client:
        stores = _stores(client)
        _set_up_shop(client)
        r = client.post("/v1/batch", json={"batch": _customer_events(now) + _other_events(now)}, headers=basic())
        assert r.status_code == 200 and r.json()["accepted"] == 6, r.text
        profile_id = client.get(f"/v1/profiles/email:{EMAIL}", headers=bearer()).json()["id"]
        # The pump, live segments, the runner and the outbox do their work.
        _wait_for("the events in the event store", lambda: _count(stores, event_staging) == 0)
        _wait_for("segment membership", lambda: _count(stores, segment_members,
                                                       segment_members.c.profile_id == profile_id))
        _wait_for("three messages sent", lambda: _count(stores, outbox, outbox.c.customer_id == profile_id,
                                                        outbox.c.status == "sent") == 3)
        assert _count(stores, inbox_messages, inbox_messages.c.profile_id == profile_id) == 2
        assert _count(stores, journey_runs, journey_runs.c.customer_id == profile_id) == 2
        assert _count(stores, customer_locations, customer_locations.c.profile_id == profile_id) == 1
        _wait_for("the signals consumed", lambda: _count(stores, journey_signals) == 0)
    # A restart: every event is in events.duckdb itself now (DuckDB checkpoints as it closes).
    with served() as client:
        stores = _stores(client)
        if embedded:
            before = _grep(serve_settings.data_dir, DISTINCTIVE)
            assert "events.duckdb" in before[ORDER_ID] and "state.sqlite3" in before[EMAIL], before
            assert set(before) == set(DISTINCTIVE), before  # the grep sees each value while it is there
        else:
            assert set(_rows_holding(stores, DISTINCTIVE)) == set(DISTINCTIVE)
        response = client.delete(f"/v1/profiles/{USER_ID}", headers=bearer())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["erased"]["profiles"] == 1 and body["erased"]["events"] >= 4
        purge = body["purge"]
        assert purge["within_seconds"] == 3.0
        deadline = dt.datetime.fromisoformat(purge["by"])
        assert dt.timedelta(0) < deadline - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=3)
        # Gone from segment membership at once, not at the next full refresh.
        assert _count(stores, segment_members, segment_members.c.profile_id == profile_id) == 0
        # Within the stated time, with the server still running: gone from every file.
        time.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
        if embedded:
            assert _grep(serve_settings.data_dir, DISTINCTIVE) == {}
        else:
            assert _rows_holding(stores, DISTINCTIVE) == {}
        # Nothing was written about them since (a live round, a message receipt), staged or stored.
        assert _about(stores, [profile_id]) == []
        # The other customer is all there.
        assert client.get(f"/v1/profiles/email:{OTHER_EMAIL}", headers=bearer()).json()["stats"]["event_count"] >= 2
    # And after another restart.
    with served() as client:
        stores = _stores(client)
        assert client.get(f"/v1/profiles/email:{EMAIL}", headers=bearer()).status_code == 404
        other = client.get(f"/v1/profiles/{OTHER_USER_ID}", headers=bearer()).json()
        assert other["traits"]["email"] == OTHER_EMAIL and other["stats"]["event_count"] >= 2
        if not embedded:
            assert _rows_holding(stores, DISTINCTIVE) == {}
    if embedded:
        assert _grep(serve_settings.data_dir, DISTINCTIVE) == {}
        assert _grep(serve_settings.data_dir, [OTHER_EMAIL]) != {}


def _about(stores: Stores, ids: list[str]) -> list[tuple[str, str | None]]:
    """(where, event name) of every event, staged or stored, about these profiles."""
    from touchline.store.schema import event_staging, events

    with stores.read() as conn:
        staged = conn.execute(sa.select(event_staging.c.event).where(event_staging.c.profile_id.in_(ids))).all()
    with stores.events_conn() as conn:
        stored = conn.execute(sa.select(events.c.event).where(events.c.profile_id.in_(ids))).all()
    return [("staged", e) for (e,) in staged] + [("stored", e) for (e,) in stored]


def test_no_event_is_written_about_an_erased_customer(client: TestClient, stores: Stores, workspace_id: str
                                                      ) -> None:
    """Live segments, a round that read the event store before the erase, and a message whose sending
    overlapped it: none of them writes an event, a membership or an inbox row about the erased id."""
    from touchline.eventlog import SystemEvent, append_system_events
    from touchline.messaging import store as message_store
    from touchline.profiles.service import resolve
    from touchline.segments import service as segments
    from touchline.store.schema import inbox_messages, segment_members

    now = dt.datetime.now(dt.UTC)
    r = client.post("/v1/batch", json={"batch": _customer_events(now) + _other_events(now)}, headers=basic())
    assert r.status_code == 200, r.text
    stores.pump()
    buyers = segments.create_segment(stores, workspace_id, "Buyers", BUYERS)
    profile_id = resolve(stores, workspace_id, USER_ID)
    other_id = resolve(stores, workspace_id, OTHER_USER_ID)
    assert _count(stores, segment_members, segment_members.c.profile_id == profile_id) == 1
    stores.pump()
    assert ("stored", "Segment Entered") in _about(stores, [profile_id])

    assert client.delete(f"/v1/profiles/{USER_ID}", headers=bearer()).status_code == 200
    # Membership goes with the erase itself.
    assert _count(stores, segment_members, segment_members.c.profile_id == profile_id) == 0
    assert _about(stores, [profile_id]) == []

    # The next live round for the customers the pump saw, and the periodic full refresh.
    segments.refresh_live(stores, {workspace_id: {profile_id, other_id}})
    segments.refresh_live(stores, None)
    # A round that read the event store before the erase (it still names the customer) and records
    # after it: neither enters them nor reports them leaving.
    with stores.write() as conn:
        changes = segments._apply(conn, workspace_id, [(buyers, {profile_id, other_id}, {other_id})], now)
    assert [(c.entered, c.exited) for c in changes] == [(0, 0)]
    # A message sent to them as they were erased: its receipt and its in-app copy are not recorded.
    with stores.write() as conn:
        receipt = SystemEvent(profile_id=profile_id, event="Message Sent", properties={"message_id": "m-9"},
                              timestamp=now, message_id="msg-m-9-sent")
        assert append_system_events(conn, workspace_id, [receipt], now) == 0
        message_store.insert_inbox_many(conn, [{
            "id": "m-9", "workspace_id": workspace_id, "profile_id": profile_id, "title": NAME, "body": STREET,
            "url": None, "locale": "ko", "created_at": now}])
    stores.pump()
    assert _about(stores, [profile_id]) == []
    assert _count(stores, segment_members, segment_members.c.profile_id == profile_id) == 0
    assert _count(stores, inbox_messages, inbox_messages.c.profile_id == profile_id) == 0
    # The other customer is still a member, and was never reported leaving.
    assert _count(stores, segment_members, segment_members.c.profile_id == other_id) == 1
    assert ("stored", "Segment Exited") not in _about(stores, [other_id])


def test_the_event_store_is_rewritten_whole_while_it_is_read(stores: Stores, workspace_id: str) -> None:
    """The rewrite keeps every table and row (schema versions, sync marks, snapshots, events), readers in
    other threads carry on across the swap, and the old file and its log are gone."""
    import threading

    from touchline.store.schema import events, profile_snapshots, sync_state

    if stores.settings.events_url is not None:
        assert stores.rewrite_event_store() is False  # PostgreSQL: nothing to rewrite
        return
    now = dt.datetime.now(dt.UTC)
    from touchline.ingest.service import ingest, parse_items

    items = [{"type": "track", "userId": f"u{i % 50}", "event": "Product Viewed", "messageId": f"v{i}",
              "timestamp": now.isoformat(), "properties": {"i": i}} for i in range(2000)]
    good, bad = parse_items(items, received_at=now, batch_sent_at=None, default_type=None,
                            max_event_bytes=32 * 1024, phone_region="KR")
    assert not bad
    ingest(stores, workspace_id, good, now=now)
    stores.pump()

    def contents() -> dict[str, Any]:
        with stores.events_conn() as conn:
            return {"events": conn.execute(sa.select(sa.func.count(), sa.func.sum(events.c.seq))).one(),
                    "snapshots": conn.execute(sa.select(sa.func.count()).select_from(profile_snapshots)).scalar(),
                    "marks": dict(conn.execute(sa.select(sync_state).where(sync_state.c.name != "file")).all()),
                    "versions": conn.exec_driver_sql("SELECT store, version FROM touchline_schema_versions").all()}

    before = contents()
    stop, seen, errors = threading.Event(), [], []

    def read() -> None:
        while not stop.is_set():
            try:
                with stores.events_conn() as conn:
                    seen.append(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar())
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        _wait_for("a read", lambda: seen)
        assert stores.rewrite_event_store() is True
        assert stores.rewrite_event_store() is True  # again, over a file that was itself a copy
        after = len(seen)
        _wait_for("a read of the new file", lambda: len(seen) > after)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors and set(seen) == {2000}
    assert contents() == before
    data = stores.settings.data_dir
    assert sorted(p.name for p in data.iterdir() if p.name.startswith("events.duckdb")) == ["events.duckdb"]
    stores.pump()  # and it takes appends as before
    with stores.events_conn() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 2000


def test_a_rewrite_never_swaps_a_file_that_another_engine_of_the_process_holds(stores: Stores) -> None:
    """DuckDB shares one open database per file within a process: an engine elsewhere that keeps the old
    file open would keep every new connection on it. The rewrite notices and puts the old file back."""
    from touchline.store.schema import sync_state

    if stores.settings.events_url is not None:
        pytest.skip("the embedded event store only")
    other = Stores(stores.settings)
    try:
        with other.events_conn() as conn:  # its pool keeps the connection open
            conn.execute(sa.select(sync_state)).all()
        with pytest.raises(RuntimeError, match="held open elsewhere"):
            stores.rewrite_event_store()
        with stores.events_conn() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(sync_state)
                                .where(sync_state.c.name == "file")).scalar() == 0
    finally:
        other.dispose()
    assert stores.rewrite_event_store() is True


def test_migration_10_adds_the_purge_columns_to_erasures(stores: Stores) -> None:
    """A store made before (stamped 6) gets the erasures' profile ids and purge time on upgrade."""
    from touchline.store.migrations import STATE_MIGRATIONS, schema_versions, upgrade
    from touchline.store.schema import erasures

    with stores.state.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_erasures_pending")
        for column in ("profile_ids", "purged_at"):
            conn.exec_driver_sql(f"ALTER TABLE erasures DROP COLUMN {column}")
        conn.execute(schema_versions.update().where(schema_versions.c.store == "state").values(version=6))
    assert upgrade(stores)["state"] == (6, STATE_MIGRATIONS[-1].version)
    with stores.state.begin() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("erasures")}
        assert {"profile_ids", "purged_at"} <= columns
        assert "ix_erasures_pending" in {i["name"] for i in sa.inspect(conn).get_indexes("erasures")}
        conn.execute(erasures.insert().values(workspace_id="w", profile_id="p", erased_at=dt.datetime.now(dt.UTC),
                                              identities=0, profiles=0, events=0, profile_ids=["p"]))


def test_the_state_store_zeroes_what_it_deletes(stores: Stores) -> None:
    if stores.settings.database_url is not None:
        pytest.skip("SQLite only")
    with stores.read() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_a_burst_of_erases_shares_one_purge_and_each_is_purged_within_the_bound(client: TestClient, stores: Stores,
                                                                                 workspace_id: str) -> None:
    from touchline.customers.service import _purge_due, purge_erased
    from touchline.store.schema import erasures

    now = dt.datetime.now(dt.UTC)
    batch = [{"type": "identify", "userId": f"b{i}", "messageId": f"b{i}", "traits": {"email": f"b{i}@example.kr"}}
             for i in range(3)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    for i in (0, 1):
        assert client.delete(f"/v1/profiles/b{i}", headers=bearer()).status_code == 200
    assert purge_erased(stores) == 2  # the first after a quiet spell: at once, both erasures together
    assert stores.last_purge is not None
    assert client.delete("/v1/profiles/b2", headers=bearer()).status_code == 200
    assert purge_erased(stores) == 0  # within half the bound of the last one: gathered for the next
    with stores.read() as conn:
        pending = conn.execute(sa.select(erasures.c.profile_ids).where(erasures.c.purged_at.is_(None))).all()
    assert len(pending) == 1 and len(pending[0][0]) == 1
    assert purge_erased(stores, force=True) == 1  # as a stopping server or a command does
    with stores.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(erasures)
                            .where(erasures.c.purged_at.is_(None))).scalar_one() == 0

    bound = stores.settings.erase_purge_seconds  # 60
    ended = time.monotonic()
    stores.last_purge = (ended, 10.0)  # ended just now, took 10 s
    assert not _purge_due(stores, now, now)
    # Late enough that a purge as long as the last one (and half again) must start now to end in time.
    assert _purge_due(stores, now - dt.timedelta(seconds=bound - 15.0), now)
    assert not _purge_due(stores, now - dt.timedelta(seconds=bound - 16.0), now)
    stores.last_purge = (ended - bound / 2, 10.0)  # half the bound ago: at once
    assert _purge_due(stores, now, now)


def test_a_command_purges_what_a_stopped_server_left_pending(settings: Settings) -> None:
    """No server runs: any ``touchline`` command owns the event store's writer, and purges."""
    from typer.testing import CliRunner

    from touchline.cli.main import app
    from touchline.customers.service import erase
    from touchline.ingest.service import ingest, parse_items
    from touchline.platform import open_stores
    from touchline.store.schema import erasures

    stores = open_stores(settings)
    try:
        now = dt.datetime.now(dt.UTC)
        good, bad = parse_items(_customer_events(now) + _other_events(now), received_at=now, batch_sent_at=None,
                                default_type=None, max_event_bytes=32 * 1024, phone_region="KR")
        assert not bad
        with stores.read() as conn:
            workspace_id = conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'default'")).scalar_one()
        ingest(stores, workspace_id, good, now=now)
        stores.pump()
        erase(stores, workspace_id, USER_ID)  # and the server stops before its pump purges
    finally:
        stores.dispose()
    if settings.database_url is None:
        assert ORDER_ID in _grep(settings.data_dir, DISTINCTIVE)  # still in events.duckdb's freed blocks
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    result = CliRunner().invoke(app, ["db", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    stores = open_stores(settings)
    try:
        with stores.read() as conn:
            assert conn.execute(sa.select(erasures.c.purged_at)).scalar_one() is not None
        if settings.database_url is None:
            stores.dispose()
            assert _grep(settings.data_dir, DISTINCTIVE) == {}
        else:
            assert _rows_holding(stores, DISTINCTIVE) == {}
    finally:
        stores.dispose()
