"""The Segment-compatible tracking API, on both backends."""

from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores


def track(message_id: str, **extra: object) -> dict[str, object]:
    return {"anonymousId": "anon-1", "event": "Product Viewed", "messageId": message_id,
            "properties": {"sku": "KR-001", "price": 29900}, **extra}


def profile(client: TestClient, identifier: str) -> dict:
    response = client.get(f"/v1/profiles/{identifier}", headers=bearer())
    assert response.status_code == 200, response.text
    return response.json()


def test_track_is_stored_and_answered_with_plain_200(client: TestClient, stores: Stores) -> None:
    response = client.post("/v1/track", json=track("m-1"), headers=basic())
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0}
    stores.pump()
    timeline = profile(client, "anonymous_id:anon-1")["timeline"]
    assert [(e["event"], e["properties"]["sku"]) for e in timeline] == [("Product Viewed", "KR-001")]


def test_every_call_type_is_accepted(client: TestClient) -> None:
    calls = {
        "identify": {"userId": "u-1", "anonymousId": "anon-1", "traits": {"name": "김민지"}},
        "page": {"anonymousId": "anon-1", "name": "Home"},
        "screen": {"anonymousId": "anon-1", "name": "Cart"},
        "group": {"userId": "u-1", "groupId": "company-1", "traits": {"name": "Acme"}},
        "alias": {"previousId": "anon-1", "userId": "u-1"},
        "track": {"userId": "u-1", "event": "Signed Up"},
    }
    for i, (kind, body) in enumerate(calls.items()):
        response = client.post(f"/v1/{kind}", json={**body, "messageId": f"m-{i}"}, headers=basic())
        assert response.status_code == 200, (kind, response.text)
    view = profile(client, "u-1")
    assert view["stats"]["event_count"] == len(calls)
    assert {e["type"] for e in view["timeline"]} == set(calls)


def test_resend_with_same_message_id_is_stored_once(client: TestClient, stores: Stores) -> None:
    for _ in range(3):
        assert client.post("/v1/track", json=track("same"), headers=basic()).status_code == 200
    batch = {"batch": [{"type": "track", **track("same")}, {"type": "track", **track("same")}]}
    response = client.post("/v1/batch", json=batch, headers=basic())
    assert response.json()["duplicates"] == 2
    stores.pump()
    assert profile(client, "anon-1")["stats"]["event_count"] == 1
    assert len(profile(client, "anon-1")["timeline"]) == 1


def test_batch_keeps_good_items_and_reports_bad_ones_by_index(client: TestClient) -> None:
    batch = {"batch": [
        {"type": "track", **track("good-1")},
        {"type": "track", "anonymousId": "anon-1", "messageId": "bad-1"},  # no event name
        {"type": "identify", "messageId": "bad-2", "traits": {}},  # no ids at all
        {"type": "track", **track("bad-3", userId={"not": "a string"})},
        "not an object",
        {"type": "teleport", **track("bad-5")},
        {"type": "track", **track("good-2", timestamp="2026-11-01T10:00:00+09:00")},
    ]}
    response = client.post("/v1/batch", json=batch, headers=basic())
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 2
    by_index = {d["index"]: d for d in body["detail"]}
    assert set(by_index) == {1, 2, 3, 4, 5}
    assert "event" in by_index[1]["reason"]
    assert "userId or anonymousId" in by_index[2]["reason"]
    assert by_index[3]["field"] == "userId" and "string" in by_index[3]["reason"]
    assert by_index[5]["field"] == "type"
    assert profile(client, "anon-1")["stats"]["event_count"] == 2


def test_clock_skew_is_corrected_as_segment_documents(client: TestClient) -> None:
    # The device clock runs 2 hours fast: it stamps the event at 12:00 and sends at 12:05.
    device_event = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    batch = {"sentAt": "2026-11-01T12:05:00Z",
             "batch": [{"type": "track", **track("skew", timestamp=device_event.isoformat())}]}
    before = dt.datetime.now(dt.UTC)
    assert client.post("/v1/batch", json=batch, headers=basic()).status_code == 200
    after = dt.datetime.now(dt.UTC)
    event = profile(client, "anon-1")["timeline"][0]
    stored = dt.datetime.fromisoformat(event["timestamp"])
    received = dt.datetime.fromisoformat(event["received_at"])
    assert before <= received <= after
    assert stored == received - dt.timedelta(minutes=5)


def test_gzip_bodies_are_accepted(client: TestClient) -> None:
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", **track(f"gz-{i}")} for i in range(20)]}))
    response = client.post("/v1/batch", content=body,
                           headers={**basic(), "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 20


def test_gzip_bomb_is_refused_without_inflating_it(client: TestClient) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 100 * 1024
    response = client.post("/v1/batch", content=bomb, headers={**basic(), "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]


def test_corrupt_gzip_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/batch", content=b"\x1f\x8bnot gzip at all",
                           headers={**basic(), "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


@pytest.mark.parametrize("path,size", [("/v1/track", 33 * 1024), ("/v1/batch", 501 * 1024)])
def test_size_limits_follow_segment(client: TestClient, path: str, size: int) -> None:
    padding = "x" * size
    body = track("big", properties={"blob": padding})
    if path == "/v1/batch":
        body = {"batch": [{"type": "track", **body}]}
    response = client.post(path, json=body, headers=basic())
    assert response.status_code == 413
    assert "KB" in response.json()["error"]


def test_oversized_item_in_batch_is_rejected_alone(client: TestClient) -> None:
    batch = {"batch": [{"type": "track", **track("ok")},
                       {"type": "track", **track("huge", properties={"blob": "x" * 40_000})}]}
    response = client.post("/v1/batch", json=batch, headers=basic())
    assert response.status_code == 400
    assert response.json()["accepted"] == 1
    assert response.json()["detail"][0]["index"] == 1
    assert "32 KB" in response.json()["detail"][0]["reason"]


@pytest.mark.parametrize(
    "content,reason",
    [(b"{not json", "malformed JSON"), (b"", "empty"), (b"[1, 2]", "JSON object"), (b'{"batch": {}}', "array")],
)
def test_malformed_bodies_are_400_with_a_reason(client: TestClient, content: bytes, reason: str) -> None:
    response = client.post("/v1/batch", content=content, headers={**basic(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert reason in response.text


def test_wrong_types_name_the_field(client: TestClient) -> None:
    response = client.post("/v1/track", json=track("t", properties=["not", "an", "object"]), headers=basic())
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "properties"
    response = client.post("/v1/track", json=track("t", timestamp="yesterday-ish"), headers=basic())
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "timestamp"


def test_missing_and_unknown_write_keys_are_401(client: TestClient) -> None:
    missing = client.post("/v1/track", json=track("k"))
    assert missing.status_code == 401
    assert "write key" in missing.json()["error"]
    unknown = client.post("/v1/track", json=track("k"), headers=basic("nope"))
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "unknown or revoked key"


def test_write_key_in_body_is_accepted_and_not_stored(client: TestClient) -> None:
    from support import WRITE_KEY

    response = client.post("/v1/track", json={**track("wk"), "writeKey": WRITE_KEY})
    assert response.status_code == 200
    exported = client.get("/v1/profiles/anon-1/export", headers=bearer()).json()
    assert WRITE_KEY not in str(exported)


def test_write_key_cannot_read_profiles(client: TestClient) -> None:
    client.post("/v1/track", json=track("w"), headers=basic())
    from support import WRITE_KEY

    response = client.get("/v1/profiles/anon-1", headers=bearer(WRITE_KEY))
    assert response.status_code == 403


def test_import_endpoint_works_like_batch(client: TestClient) -> None:
    response = client.post("/v1/import", json={"batch": [{"type": "track", **track("imp")}]}, headers=basic())
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.post("/v1/teleport", json={}, headers=basic())
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "code": "not_found", "message": "Not Found"}
