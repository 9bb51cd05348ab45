"""The API's answers when something is wrong (issue 13 part 3): a query parameter an operation does not
take is a 400 naming it, not silently ignored; every error body carries a stable ``code`` and a human
``message`` beside ``error`` and ``detail``, which Segment's and RudderStack's libraries log; parameters out
of range are a 422, as the README says."""

from __future__ import annotations

import gzip
import re
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from support import WRITE_KEY, basic, bearer
from touchline.analytics import service as analytics

CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The body of an error answer, checked for the one shape: ``error``, ``code``, ``message`` (strings),
    ``detail`` a list when present."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert body.get("code") == code, body
    assert CODE.match(body["code"]), body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert isinstance(body.get("detail", []), list), body
    return body


def _customer(client: TestClient) -> None:
    response = client.post("/v1/identify", headers=basic(), json={"userId": "kim-01", "messageId": "e-1"})
    assert response.status_code == 200, response.text


# --- unknown query parameters -----------------------------------------------------------------------


def test_the_delivery_log_refuses_a_filter_it_does_not_know(client: TestClient) -> None:
    """``GET /v1/messages?customer_id=...`` answered everyone's messages; now a 400 naming the parameter
    and what the endpoint takes."""
    response = client.get("/v1/messages", params={"customer_id": "kim-01"}, headers=bearer())
    body = _error(response, 400, "unknown_parameter")
    assert body["detail"] == [{"field": "query.customer_id", "reason":
                               "unknown parameter; this endpoint takes channel, identifier, journey_id, limit, "
                               "offset, status"}]
    assert "customer_id" in body["error"] and "customer_id" in body["message"]
    # The parameters it does take still work, and an unknown one is refused beside them.
    assert client.get("/v1/messages", params={"status": "sent", "limit": 5}, headers=bearer()).status_code == 200
    both = client.get("/v1/messages", params={"limit": 5, "customer": "x", "q": "y"}, headers=bearer())
    assert [d["field"] for d in _error(both, 400, "unknown_parameter")["detail"]] == ["query.customer", "query.q"]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_v1_operation_refuses_an_unknown_query_parameter(client: TestClient) -> None:
    """Implemented once for the app: every operation of the document, the tracking API's included (its
    clients send no query parameters), answers 400 for a parameter it does not take, and its document
    says it may."""
    document = client.get("/openapi.json").json()
    checked = 0
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            assert "400" in operation["responses"], (method, path)
            response = client.request(method.upper(), _concrete(path), params={"not_a_parameter": "1"},
                                      headers=basic() if operation.get("tags") == ["tracking"] else bearer())
            body = _error(response, 400, "unknown_parameter")
            assert body["detail"][0]["field"] == "query.not_a_parameter", (method, path, body)
            checked += 1
    assert checked >= 50
    # The one-letter paths of analytics.js (not in the document) too.
    _error(client.post("/v1/t", params={"x": "1"}, headers=basic(), json={"event": "E", "userId": "u"}),
           400, "unknown_parameter")


def test_declared_parameters_are_taken_under_their_own_names(client: TestClient) -> None:
    """Aliases (``from``, ``to``, ``period``), parameters of dependencies, and the inbox's ``user_hash``,
    which the web inbox (``inbox.js``) sends on every call."""
    _customer(client)
    ok = [("/v1/analytics/paths", {"from": "A", "to": "B", "max_steps": 3}),
          ("/v1/analytics/cohorts", {"period": "week", "tz": "Asia/Seoul"}),
          ("/v1/profiles", {"q": "kim", "limit": 5, "offset": 0}),
          ("/v1/inbox/kim-01", {"user_hash": "abc", "unread": "true", "limit": 5})]
    for path, params in ok:
        response = client.get(path, params=params, headers=bearer())
        assert response.status_code == 200, (path, response.text)
    read = client.post("/v1/inbox/kim-01/m-1/read", params={"user_hash": "abc"}, headers=basic())
    assert read.status_code == 200, read.text
    # Dashboard pages read their own parameters and forgive unknown ones (they are not the API).
    assert client.get("/login", params={"whatever": "1"}).status_code == 200


# --- code and message in every error body -----------------------------------------------------------


def test_every_error_body_has_a_code_and_a_message(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _customer(client)
    exists = {"type": "trait", "trait": "x", "operator": "exists"}
    assert client.post("/v1/segments", headers=bearer(), json={"name": "s", "definition": exists}).status_code == 201
    cases: list[tuple[str, Any, int, str]] = [
        ("no key", client.post("/v1/track", json={"userId": "u", "event": "E"}), 401, "missing_write_key"),
        ("wrong key", client.post("/v1/track", auth=("nope", ""), json={"userId": "u", "event": "E"}),
         401, "invalid_write_key"),
        ("no admin token", client.get("/v1/profiles"), 401, "missing_admin_token"),
        ("wrong admin token", client.get("/v1/profiles", headers=bearer("nope")), 401, "invalid_admin_token"),
        ("write key on management", client.get("/v1/profiles", headers=bearer(WRITE_KEY)), 403,
         "admin_token_required"),
        ("malformed JSON", client.post("/v1/track", headers={**basic(), "Content-Type": "application/json"},
                                       content=b"{nope"), 400, "malformed_json"),
        ("empty body", client.post("/v1/track", headers=basic(), content=b""), 400, "empty_body"),
        ("rejected messages", client.post("/v1/batch", headers=basic(), json={"batch": [
            {"type": "track", "userId": "u", "event": "E", "messageId": "ok-1"},
            {"type": "track", "event": "E", "messageId": "no-id"}]}), 400, "messages_rejected"),
        ("unknown parameter", client.get("/v1/profiles", params={"email": "x"}, headers=bearer()), 400,
         "unknown_parameter"),
        ("unknown customer", client.get("/v1/profiles/user_id:nobody", headers=bearer()), 404, "not_found"),
        ("no such path", client.get("/v1/nothing-here", headers=bearer()), 404, "not_found"),
        ("method", client.delete("/v1/track", headers=basic()), 405, "method_not_allowed"),
        ("name taken", client.post("/v1/segments", headers=bearer(), json={"name": "s", "definition": exists}),
         409, "conflict"),
        ("too large", client.post("/v1/track", headers=basic(), content=b"x" * 40_000), 413, "payload_too_large"),
        ("gzip bomb", client.post("/v1/track", headers={**basic(), "Content-Encoding": "gzip"},
                                  content=gzip.compress(b" " * 5_000_000)), 413, "payload_too_large"),
        ("encoding", client.post("/v1/track", headers={**basic(), "Content-Encoding": "br"}, content=b"{}"), 415,
         "unsupported_content_encoding"),
        ("out of range", client.get("/v1/profiles", params={"limit": 5000}, headers=bearer()), 422,
         "validation_failed"),
    ]
    for what, response, status, code in cases:
        try:
            _error(response, status, code)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from exc

    # What was there stays: ``error`` as before, ``detail`` per problem, a batch's counts.
    rejected = next(r for w, r, _, _ in cases if w == "rejected messages").json()
    assert rejected["error"] == "1 of 2 messages rejected; the others were stored"
    assert rejected["accepted"] == 1 and rejected["detail"][0]["index"] == 1
    assert rejected["message"].startswith("1 of 2 messages rejected; the others were stored (message 1: ")
    invalid = next(r for w, r, _, _ in cases if w == "out of range").json()
    assert invalid["error"] == "invalid request" and invalid["detail"][0]["field"] == "query.limit"
    assert invalid["message"] == f"invalid request: query.limit: {invalid['detail'][0]['reason']}"
    wrong_key = next(r for w, r, _, _ in cases if w == "wrong key").json()
    assert wrong_key["error"] == wrong_key["message"] == "unknown or revoked key"

    # The 500 handler too, and it says nothing of the cause.
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the event store went away")

    monkeypatch.setattr(analytics, "cart_abandonment", broken)
    with TestClient(client.app, raise_server_exceptions=False) as failing:
        body = _error(failing.get("/v1/analytics/cart-abandonment", headers=bearer()), 500, "internal_error")
    assert body["error"] == "internal error" and "event store" not in orjson.dumps(body).decode()


def test_the_document_describes_code_and_message(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ErrorBody"]
    assert {"error", "code", "message"} <= set(schema["required"])
    assert {"error", "code", "message", "detail"} <= set(schema["properties"])


def test_out_of_range_query_parameters_are_a_422_as_the_readme_says(client: TestClient) -> None:
    """The README documents ``422`` for parameters out of range (and ``400`` for unknown ones); the issue's
    ``limit=500`` is such a case on the operations whose limit is lower."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    assert "out of range or of the wrong type `422`" in readme and "`unknown_parameter`" in readme
    _customer(client)
    for path, params in (("/v1/inbox/kim-01", {}), ("/v1/analytics/paths", {"from": "A", "to": "B"})):
        response = client.get(path, params={**params, "limit": 500}, headers=bearer())
        body = _error(response, 422, "validation_failed")
        assert body["detail"][0]["field"] == "query.limit"
