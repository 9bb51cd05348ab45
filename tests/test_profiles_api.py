"""One customer across channels and devices; search, consents, export, erase, workspace isolation."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores
from touchline.store.schema import event_staging, events, identities, profiles
from touchline.workspaces import service as workspaces


def send(client: TestClient, *messages: dict, key: str | None = None) -> dict:
    batch = {"batch": [{"messageId": f"m-{i}-{m.get('event', m['type'])}-{m.get('anonymousId', '')}", **m}
                       for i, m in enumerate(messages)]}
    response = client.post("/v1/batch", json=batch, headers=basic(key) if key else basic())
    assert response.status_code == 200, response.text
    return response.json()


SHOPPER = (
    {"type": "page", "anonymousId": "web-1", "name": "Home", "timestamp": "2026-11-01T01:00:00Z",
     "context": {"userAgent": "Mozilla/5.0 (Windows NT 10.0)", "channel": "web"}},
    {"type": "track", "anonymousId": "app-1", "event": "Product Added", "timestamp": "2026-11-01T02:00:00Z",
     "properties": {"cart_id": "c1", "price": 59000, "currency": "KRW"},
     "context": {"channel": "app", "device": {"id": "iphone-1", "type": "ios"}}},
    {"type": "identify", "anonymousId": "app-1", "userId": "u-100", "timestamp": "2026-11-01T02:01:00Z",
     "traits": {"name": "박지훈", "email": "JiHoon@Example.COM", "phone": "010-1234-5678",
                "consent": {"email": True, "sms": False}, "kakao_id": "jihoon_k"},
     "context": {"channel": "app", "device": {"id": "iphone-1", "type": "ios"}, "timezone": "Asia/Seoul",
                 "locale": "ko-KR"}},
    {"type": "identify", "anonymousId": "web-1", "timestamp": "2026-11-01T03:00:00Z",
     "traits": {"email": "jihoon@example.com"}, "context": {"channel": "web"}},
    {"type": "track", "userId": "u-100", "event": "Order Completed", "timestamp": "2026-11-02T05:00:00Z",
     "properties": {"order_id": "o1", "revenue": 59000, "currency": "KRW"}, "context": {"channel": "store"}},
)


def test_profile_by_any_identifier_shows_the_whole_customer(client: TestClient, stores: Stores) -> None:
    send(client, *SHOPPER)
    stores.pump()
    views = [client.get(f"/v1/profiles/{ident}", headers=bearer()).json()
             for ident in ("u-100", "email:JIHOON@example.com", "phone:010-1234-5678", "+821012345678",
                           "anonymous_id:web-1", "device_id:iphone-1", "kakao_id:jihoon_k", "jihoon_k")]
    assert len({v["id"] for v in views}) == 1
    view = views[0]
    kinds = {(i["kind"], i["value"]) for i in view["identities"]}
    assert {("user_id", "u-100"), ("anonymous_id", "web-1"), ("anonymous_id", "app-1"),
            ("email", "jihoon@example.com"), ("phone", "+821012345678"), ("device_id", "iphone-1"),
            ("kakao_id", "jihoon_k")} <= kinds
    assert view["traits"]["name"] == "박지훈"
    assert view["traits"]["email"] == "jihoon@example.com"
    assert "consent" not in view["traits"]
    assert view["consents"]["email"]["status"] == "granted"
    assert view["consents"]["sms"]["status"] == "denied"
    assert view["timezone"] == "Asia/Seoul" and view["locale"] == "ko-KR"
    assert view["stats"]["channels"] == {"web": 2, "app": 2, "store": 1}
    assert [e["event"] for e in view["timeline"]] == ["Order Completed", None, None, "Product Added", "Home"]
    assert {e["channel"] for e in view["timeline"]} == {"web", "app", "store"}
    assert len(view["merged_profiles"]) == 1


def test_timeline_includes_events_not_yet_moved_to_the_event_store(client: TestClient) -> None:
    send(client, *SHOPPER[:2])
    view = client.get("/v1/profiles/app-1", headers=bearer()).json()
    assert [e["event"] for e in view["timeline"]] == ["Product Added"]


def test_unknown_profile_is_404_with_the_field(client: TestClient) -> None:
    response = client.get("/v1/profiles/email:nobody@example.com", headers=bearer())
    assert response.status_code == 404
    assert response.json()["detail"] == [{"field": "identifier", "reason": "unknown identifier"}]


def test_management_needs_an_admin_token(client: TestClient) -> None:
    assert client.get("/v1/profiles?q=x").status_code == 401
    assert client.get("/v1/profiles?q=x", headers=bearer("wrong")).status_code == 401


def test_search_finds_by_identifier_prefix_and_trait_text(client: TestClient) -> None:
    send(client, *SHOPPER)
    by_email = client.get("/v1/profiles", params={"q": "jihoon@"}, headers=bearer()).json()
    assert [p["user_id"] for p in by_email["profiles"]] == ["u-100"]
    by_name = client.get("/v1/profiles", params={"q": "박지"}, headers=bearer()).json()
    assert [p["user_id"] for p in by_name["profiles"]] == ["u-100"]
    # As people type them: the email in any case, the phone in the national format or in part.
    for q in ("JiHoon@Example", "010-1234-5678", "010 1234", "01012345678", "+82 10-1234"):
        found = client.get("/v1/profiles", params={"q": q}, headers=bearer()).json()
        assert [p["user_id"] for p in found["profiles"]] == ["u-100"], q
    assert client.get("/v1/profiles", params={"q": "010-9999"}, headers=bearer()).json()["profiles"] == []
    assert client.get("/v1/profiles", params={"limit": 0}, headers=bearer()).status_code == 422


def test_consents_can_be_set_and_bad_ones_are_refused(client: TestClient) -> None:
    send(client, *SHOPPER)
    response = client.put("/v1/profiles/u-100/consents", json={"sms": True, "push": False}, headers=bearer())
    assert response.status_code == 200
    consents = client.get("/v1/profiles/u-100", headers=bearer()).json()["consents"]
    assert consents["sms"]["status"] == "granted" and consents["sms"]["source"] == "api"
    assert consents["push"]["status"] == "denied"
    assert consents["email"]["status"] == "granted"
    bad = client.put("/v1/profiles/u-100/consents", json={"fax": True}, headers=bearer())
    assert bad.status_code == 400 and bad.json()["detail"][0]["field"] == "fax"
    bad = client.put("/v1/profiles/u-100/consents", json={"sms": "yes"}, headers=bearer())
    assert bad.status_code == 400 and bad.json()["detail"][0]["field"] == "sms"


def test_export_holds_everything(client: TestClient, stores: Stores) -> None:
    send(client, *SHOPPER)
    stores.pump()
    response = client.get("/v1/profiles/u-100/export", headers=bearer())
    assert response.status_code == 200
    data = response.json()
    assert len(data["events"]) == len(SHOPPER)
    assert all("payload" in e for e in data["events"])
    assert data["traits"]["phone"] == "+821012345678"


def test_erase_removes_identities_traits_and_events_everywhere(client: TestClient, stores: Stores,
                                                               workspace_id: str) -> None:
    send(client, *SHOPPER[:3])
    stores.pump()  # some events in the event store ...
    send(client, *SHOPPER[3:])  # ... and some still staged
    response = client.delete("/v1/profiles/email:jihoon@example.com", headers=bearer())
    assert response.status_code == 200
    assert response.json()["erased"]["events"] == len(SHOPPER)
    assert client.get("/v1/profiles/u-100", headers=bearer()).status_code == 404
    assert client.get("/v1/profiles/web-1", headers=bearer()).status_code == 404
    stores.pump()
    with stores.read() as conn:
        for table in (identities, profiles, event_staging):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    with stores.events_conn() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 0


def test_workspaces_never_see_each_other(client: TestClient, stores: Stores) -> None:
    with stores.write() as conn:
        other = workspaces.create_workspace(conn, "staging")
        other_write = workspaces.create_key(conn, other, "write")
        other_admin = workspaces.create_key(conn, other, "admin")
    send(client, *SHOPPER)
    # The same customer ids in the other workspace make a separate customer there.
    send(client, SHOPPER[2], key=other_write)
    mine = client.get("/v1/profiles/u-100", headers=bearer()).json()
    theirs = client.get("/v1/profiles/u-100", headers=bearer(other_admin)).json()
    assert mine["id"] != theirs["id"]
    assert theirs["stats"]["event_count"] == 1
    assert client.get("/v1/profiles/web-1", headers=bearer(other_admin)).status_code == 404
    assert client.get("/v1/profiles", params={"q": "jihoon"}, headers=bearer(other_admin)).json()["count"] == 1
    # Erasing in one workspace leaves the other untouched.
    assert client.delete("/v1/profiles/u-100", headers=bearer(other_admin)).status_code == 200
    assert client.get("/v1/profiles/u-100", headers=bearer()).json()["stats"]["event_count"] == len(SHOPPER)


def test_revoked_key_stops_working(client: TestClient, stores: Stores, workspace_id: str) -> None:
    import datetime as dt

    from touchline.workspaces import store as key_store

    with stores.write() as conn:
        key = workspaces.create_key(conn, workspace_id, "write")
    assert client.post("/v1/track", json={**SHOPPER[1], "messageId": "r1"}, headers=basic(key)).status_code == 200
    with stores.write() as conn:
        key_id = next(k["id"] for k in key_store.list_keys(conn, workspace_id) if k["prefix"] == key[:8])
        assert key_store.revoke_key(conn, workspace_id, key_id, dt.datetime.now(dt.UTC))
    client.app.state.services.keys.forget()  # type: ignore[attr-defined]
    response = client.post("/v1/track", json={**SHOPPER[1], "messageId": "r2"}, headers=basic(key))
    assert response.status_code == 401


def test_search_by_kind_and_the_total_across_pages(client: TestClient) -> None:
    send(client, *SHOPPER)
    by_kind = client.get("/v1/profiles", params={"q": "email:JiHoon@example.com"}, headers=bearer()).json()
    assert [p["user_id"] for p in by_kind["profiles"]] == ["u-100"] and by_kind["total"] == 1
    for q in ("email:jihoon@", "phone:010-1234-5678", "phone:+8210", "user_id:u-1"):
        found = client.get("/v1/profiles", params={"q": q}, headers=bearer()).json()
        assert [p["user_id"] for p in found["profiles"]] == ["u-100"], q
    # A kind restricts the search to it: the email is no user id.
    assert client.get("/v1/profiles", params={"q": "user_id:jihoon"}, headers=bearer()).json()["total"] == 0
    batch = [{"type": "identify", "userId": f"kim-{i:02}", "messageId": f"kim-{i}",
              "traits": {"name": f"김민수 {i}", "email": f"minsu{i:02}@example.com"}} for i in range(25)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get("/v1/profiles", params={"q": "minsu", "limit": 10, "offset": offset},
                          headers=bearer()).json()
        assert page["total"] == 25 and page["count"] == len(page["profiles"]) <= 10
        seen += [p["user_id"] for p in page["profiles"]]
        offset = page["next_offset"]
    assert sorted(seen) == [f"kim-{i:02}" for i in range(25)]  # every one once
    by_name = client.get("/v1/profiles", params={"q": "김민수", "limit": 5}, headers=bearer()).json()
    assert (by_name["count"], by_name["total"], by_name["next_offset"]) == (5, 25, 5)
    everyone = client.get("/v1/profiles", params={"limit": 1}, headers=bearer()).json()
    assert everyone["count"] == 1 and everyone["total"] == 26
    assert client.get("/v1/profiles", params={"q": "email:minsu0", "limit": 3}, headers=bearer()).json()["total"] == 10
    assert by_name["total_capped"] is False


def test_search_counts_up_to_a_cap(client: TestClient, stores: Stores) -> None:
    """Counting every trait match reads every profile: past the cap the total says 'at least'."""
    from touchline.profiles import store
    from touchline.workspaces.service import workspace_id_by_name

    batch = [{"type": "identify", "userId": f"lee-{i:02}", "messageId": f"lee-{i}",
              "traits": {"name": f"이서연 {i}", "email": f"seoyeon{i:02}@example.com"}} for i in range(12)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
        by_text = store.search_profiles(conn, workspace_id, "이서연", 4, [], cap=10)
        by_prefix = store.search_profiles(conn, workspace_id, "x", 4, ["seoyeon"], text=False, cap=10)
        everyone = store.search_profiles(conn, workspace_id, "", 4, [], cap=10)
        exact = store.search_profiles(conn, workspace_id, "이서연", 4, [], cap=12)
    for found in (by_text, by_prefix, everyone):
        assert (found.total, found.capped, len(found.rows)) == (10, True, 4)
    assert (exact.total, exact.capped) == (12, False)
    times = [str(r["updated_at"]) for r in by_text.rows]
    assert times == sorted(times, reverse=True)  # the most recently updated first
