"""Set-based batch ingestion: repeats and merges inside one batch, one-statement look-ups, and the
profile mirror's sync mark. On both backends."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.ingest.service import IngestResult, ingest, ingest_many, parse_items
from touchline.store import dialect
from touchline.store.engines import SYNC_LAG, Stores
from touchline.store.schema import event_staging, identities, identity_conflicts, profile_snapshots, profiles

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def parsed(*items: dict) -> list:
    good, bad = parse_items(list(items), received_at=NOW, batch_sent_at=None, default_type=None,
                            max_event_bytes=32 * 1024, phone_region="KR")
    assert not bad
    return good


def profile(client: TestClient, identifier: str) -> dict:
    response = client.get(f"/v1/profiles/{identifier}", headers=bearer())
    assert response.status_code == 200, response.text
    return response.json()


def test_a_new_message_id_repeated_inside_one_batch_is_stored_once(client: TestClient, stores: Stores) -> None:
    batch = {"batch": [
        {"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "messageId": "fresh",
         "properties": {"sku": "first"}},
        {"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "messageId": "other"},
        {"type": "track", "anonymousId": "a-2", "event": "Order Completed", "messageId": "fresh",
         "properties": {"sku": "second"}},
    ]}
    response = client.post("/v1/batch", json=batch, headers=basic())
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 2, "duplicates": 1}
    with stores.read() as conn:
        rows = conn.execute(sa.select(event_staging.c.message_id, event_staging.c.anonymous_id)
                            .order_by(event_staging.c.seq)).all()
    # The first occurrence wins; the repeat leaves no trace, not even an identity for a-2.
    assert [tuple(r) for r in rows] == [("fresh", "a-1"), ("other", "a-1")]
    assert client.get("/v1/profiles/a-2", headers=bearer()).status_code == 404
    # And a resend of the whole batch is all duplicates.
    assert client.post("/v1/batch", json=batch, headers=basic()).json()["duplicates"] == 3


def test_a_batch_mixing_merges_and_conflicts_resolves_like_one_event_at_a_time(
        client: TestClient, stores: Stores) -> None:
    app = {"device": {"id": "dev-1", "type": "ios"}}
    batch = {"batch": [
        {"type": "track", "anonymousId": "web-1", "event": "Product Viewed", "messageId": "m1"},
        {"type": "track", "anonymousId": "app-1", "event": "Product Viewed", "messageId": "m2", "context": app},
        {"type": "identify", "anonymousId": "web-1", "userId": "u1", "messageId": "m3",
         "traits": {"email": "Min@Example.com"}},
        # app-1 (with dev-1) joins u1: its profile, created two items earlier, merges into u1's.
        {"type": "identify", "anonymousId": "app-1", "userId": "u1", "messageId": "m4", "context": app},
        {"type": "track", "userId": "u2", "anonymousId": "web-2", "event": "Product Viewed", "messageId": "m5"},
        # u2 claims app-1, which is u1's: recorded as a conflict, never merged, the event goes to u2.
        {"type": "identify", "userId": "u2", "anonymousId": "app-1", "messageId": "m6"},
        {"type": "track", "context": app, "anonymousId": "app-9", "event": "Cart Viewed", "messageId": "m7"},
    ]}
    response = client.post("/v1/batch", json=batch, headers=basic())
    assert response.json() == {"success": True, "accepted": 7, "duplicates": 0}

    u1, u2 = profile(client, "u1"), profile(client, "u2")
    assert u1["id"] != u2["id"]
    assert {profile(client, name)["id"] for name in ("web-1", "dev-1", "app-9")} == {u1["id"]}
    assert profile(client, "email:min@example.com")["id"] == u1["id"]
    assert profile(client, "web-2")["id"] == u2["id"]
    assert len(u1["merged_profiles"]) == 1
    assert u1["stats"]["event_count"] == 5  # m1..m4 and m7, the merged profile's history included
    assert u2["stats"]["event_count"] == 2
    with stores.read() as conn:
        conflicts = conn.execute(sa.select(identity_conflicts.c.kind, identity_conflicts.c.value,
                                           identity_conflicts.c.message_id)).all()
        # Every staged event points at a profile that still exists unmerged (earlier items were
        # re-pointed at the survivor of a merge later in the batch).
        staged = conn.execute(sa.select(event_staging.c.message_id, event_staging.c.profile_id)).all()
        merged = set(conn.execute(sa.select(profiles.c.id).where(profiles.c.merged_into.is_not(None))).scalars())
    assert ("anonymous_id", "app-1", "m6") in {tuple(c) for c in conflicts}
    assert {pid for _, pid in staged}.isdisjoint(merged)
    assert dict(staged)["m2"] == u1["id"]


def test_concurrent_batches_in_one_transaction_give_each_its_own_answer(stores: Stores, workspace_id: str) -> None:
    first = parsed({"type": "identify", "anonymousId": "x-1", "userId": "ux", "messageId": "c1"},
                   {"type": "track", "anonymousId": "x-1", "event": "Viewed", "messageId": "c2"})
    second = parsed({"type": "track", "anonymousId": "x-1", "event": "Viewed", "messageId": "c2"},
                    {"type": "track", "anonymousId": "x-2", "event": "Viewed", "messageId": "c3"})
    a, b = ingest_many(stores, [(workspace_id, first), (workspace_id, second)], now=NOW,
                       results=[IngestResult(), IngestResult()])
    assert (a.accepted, a.duplicates, b.accepted, b.duplicates) == (2, 0, 1, 1)
    assert len(a.profile_ids) == 1 and len(b.profile_ids) == 1 and a.profile_ids != b.profile_ids
    assert {"begin (write lock)", "commit", "messageId de-dup"} <= a.timings.keys()


def test_key_lookups_take_any_number_of_keys_in_one_statement(stores: Stores, workspace_id: str) -> None:
    rows = [{"workspace_id": workspace_id, "kind": "anonymous_id", "value": f"v{i}", "profile_id": f"p{i % 3}",
             "first_seen_at": NOW, "source": "test"} for i in range(5_000)]
    with stores.write() as conn:
        dialect.bulk_insert(conn, identities, rows)
    wanted = [f"v{i}" for i in range(0, 40_000, 3)]  # beyond every engine's bound-parameter limit
    with stores.read() as conn:
        found = dialect.select_by_keys(conn, identities, ("value", "profile_id", "first_seen_at"), "value",
                                       wanted, workspace_id=workspace_id)
        assert dialect.select_by_keys(conn, identities, ("value",), "value", [], workspace_id=workspace_id) == []
        other = dialect.select_by_keys(conn, identities, ("value",), "value", wanted, workspace_id="elsewhere")
    assert sorted(v for v, _, _ in found) == sorted(f"v{i}" for i in range(0, 5_000, 3))
    assert {at for _, _, at in found} == {NOW}  # converted as the column type would: aware UTC
    assert other == []


def test_a_late_change_behind_the_sync_mark_reaches_the_mirror_at_the_next_sweep(
        stores: Stores, workspace_id: str) -> None:
    def mirrored() -> set[str]:
        with stores.events_conn() as conn:
            return set(conn.execute(sa.select(profile_snapshots.c.profile_id)).scalars())

    ingest(stores, workspace_id, parsed({"type": "track", "anonymousId": "on-time", "event": "V", "messageId": "t1"}),
           now=NOW)
    stores.pump()
    assert len(mirrored()) == 1
    # A writer that stamped its change before the mark but committed after this pump round.
    late = ingest(stores, workspace_id, parsed({"type": "track", "anonymousId": "late", "event": "V",
                                                "messageId": "t2"}), now=NOW - dt.timedelta(seconds=5))
    stores.pump()  # an ordinary round starts at the mark: the late change waits for the sweep
    stores._last_sweep = time.monotonic() - SYNC_LAG.total_seconds()
    stores.pump()
    assert late.profile_ids[0] in mirrored()
    assert len(mirrored()) == 2
