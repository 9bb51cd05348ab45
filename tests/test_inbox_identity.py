"""Identity verification for the in-app inbox: the write key is public (it sits in every page of the
shop), so once a workspace has an identity secret, a customer's inbox opens only with the ``user_hash``
the shop's server signed for that customer."""

from __future__ import annotations

import hashlib
import hmac

from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.store.engines import Stores
from touchline.workspaces import service


def _customer(client: TestClient) -> None:
    response = client.post("/v1/identify", headers=basic(), json={
        "userId": "kim-01", "messageId": "inbox-1", "traits": {"email": "jieun@example.com"}})
    assert response.status_code == 200, response.text


def test_without_an_identity_secret_the_write_key_reads_the_inbox(client: TestClient) -> None:
    _customer(client)
    response = client.get("/v1/inbox/kim-01", headers=basic())
    assert response.status_code == 200 and response.json()["messages"] == []


def test_with_an_identity_secret_the_inbox_needs_the_customers_user_hash(
        client: TestClient, stores: Stores, workspace_id: str) -> None:
    _customer(client)
    with stores.write() as conn:
        secret = service.create_key(conn, workspace_id, "identity", "shop backend")
    client.app.state.services.keys.forget()  # type: ignore[attr-defined]
    assert secret.startswith("tli_")

    missing = client.get("/v1/inbox/kim-01", headers=basic())
    assert missing.status_code == 403
    assert missing.json()["detail"][0]["field"] == "user_hash"

    signed = service.user_hash(secret, "kim-01")
    # What the shop's server computes, spelled out: HMAC-SHA256 keyed by the secret's SHA-256 (hex).
    by_hand = hmac.new(hashlib.sha256(secret.encode()).hexdigest().encode(), b"kim-01", hashlib.sha256).hexdigest()
    assert signed == by_hand
    ok = client.get("/v1/inbox/kim-01", params={"user_hash": signed}, headers=basic())
    assert ok.status_code == 200, ok.text
    assert client.get("/v1/inbox/kim-01", headers={**basic(), "X-Touchline-User-Hash": signed.upper()}
                      ).status_code == 200

    # A hash signed for one customer does not open another's inbox, nor does it mark messages read.
    other = client.get("/v1/inbox/email:jieun@example.com", params={"user_hash": signed}, headers=basic())
    assert other.status_code == 403 and other.json()["detail"][0]["reason"] == "not signed for this identifier"
    assert client.post("/v1/inbox/kim-01/some-message/read", headers=basic()).status_code == 403

    # The shop's server reads any inbox with its admin token.
    assert client.get("/v1/inbox/kim-01", headers=bearer()).status_code == 200

    # The secret is no write key: it cannot send events (it stays on the server anyway).
    refused = client.post("/v1/track", auth=(secret, ""), json={"userId": "kim-01", "event": "X"})
    assert refused.status_code == 403 and "identity secret" in refused.json()["error"]
    assert client.get(f"/v1/projects/{secret}/settings").status_code == 404  # nor a browser's source
    assert client.post("/v1/track", auth=(WRITE_KEY, ""), json={"userId": "kim-01", "event": "X"}).status_code == 200
