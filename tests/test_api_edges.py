"""The HTTP edge: integers bounded before they reach a store, analytics.js settings for write keys only,
405 answers that say which methods work, one error body everywhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from support import ADMIN_TOKEN, WRITE_KEY, basic, bearer
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in

HUGE = "9223372036854775808"  # 2**63: one past SQLite's and PostgreSQL's BIGINT
INT32_MAX = 2**31 - 1  # the largest integer a request may carry (PostgreSQL INTEGER)


def _journey(client: TestClient) -> str:
    definition = {"id": "welcome", "name": "Welcome", "trigger": {"type": "event", "event": "Signed Up"},
                  "start": "done", "nodes": [{"id": "done", "type": "exit"}]}
    response = client.post("/v1/journeys", json=definition, headers=bearer())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("value", [HUGE, str(INT32_MAX + 1), "-1", "1e3", "99999999999999999999999999999"])
def test_every_integer_parameter_is_bounded_at_the_edge(client: TestClient, value: str) -> None:
    """A 422 in the one error shape, never a 500, whatever integer is sent."""
    journey = _journey(client)
    for path, params in [("/v1/messages", {"offset": value}),
                         (f"/v1/journeys/{journey}/runs", {"offset": value}),
                         (f"/v1/journeys/{journey}", {"version": value}),
                         ("/v1/messages", {"limit": value}),
                         ("/v1/profiles", {"limit": value}),
                         ("/v1/analytics/cltv", {"horizon_days": value, "top": value})]:
        response = client.get(path, params=params, headers=bearer())
        assert response.status_code == 422, (path, params, response.status_code, response.text)
        body = response.json()
        assert body["error"] == "invalid request" and body["detail"][0]["field"] in {"query." + k for k in params}
    body = {"version": int(value)} if value.lstrip("-").isdigit() else {"version": value}
    response = client.post(f"/v1/journeys/{journey}/publish", json=body, headers=bearer())
    assert response.status_code == 422, response.text
    assert client.get(f"/t/c/some-message/{value}").status_code in (404, 422)


def test_bounded_integers_still_work_at_their_limits(client: TestClient) -> None:
    journey = _journey(client)
    assert client.get("/v1/messages", params={"offset": INT32_MAX}, headers=bearer()).json() == {"messages": []}
    runs = client.get(f"/v1/journeys/{journey}/runs", params={"offset": INT32_MAX}, headers=bearer())
    assert runs.status_code == 200 and runs.json() == {"runs": []}
    missing = client.get(f"/v1/journeys/{journey}", params={"version": INT32_MAX}, headers=bearer())
    assert missing.status_code == 404
    assert client.get("/t/c/some-message/" + str(INT32_MAX)).status_code == 404


def test_dashboard_pages_never_fail_on_odd_numbers_and_dates(client: TestClient, stores: Stores) -> None:
    add_user(stores, "admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    odd = [HUGE, "-" + HUGE, "nan", "inf", "-inf", "1e309", "0", "", "x", "9" * 5000]
    for path, names in [("/messages", ["offset", "days"]), ("/overview", ["days"]), ("/funnels", ["window", "days"]),
                        ("/cohorts", ["months"]), ("/customers/nobody", ["limit"])]:
        for name in names:
            for value in odd:
                response = client.get(path, params={name: value})
                assert response.status_code in (200, 400, 404), (path, name, value, response.status_code)
    for start, end in [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31"), ("0001-01-01", "9999-12-31")]:
        for path in ("/overview", "/funnels", "/messages"):
            response = client.get(path, params={"start": start, "end": end})
            assert response.status_code in (200, 400), (path, start, end, response.status_code)
    for end in ("9999-12-31", "0001-01-01"):
        response = client.get("/cohorts", params={"end": end})
        assert response.status_code in (200, 400), (end, response.status_code)


def test_settings_for_analytics_js_answer_write_keys_only(client: TestClient) -> None:
    """The settings are public (any origin may read them): an admin token in the path must not be
    confirmed, let alone echoed back."""
    ok = client.get(f"/v1/projects/{WRITE_KEY}/settings")
    assert ok.status_code == 200
    assert ok.json()["integrations"]["Segment.io"]["apiKey"] == WRITE_KEY
    refused = client.get(f"/v1/projects/{ADMIN_TOKEN}/settings", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 404
    assert ADMIN_TOKEN not in refused.text
    assert refused.json() == client.get("/v1/projects/no-such-key/settings").json()


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v1/track", {"POST"}),
    ("PUT", "/v1/segments", {"GET", "POST"}),
    ("POST", "/v1/segments/some-id", {"GET", "PATCH", "DELETE"}),
    ("TRACE", "/health", {"GET"}),
    ("DELETE", "/v1/journeys/j/runs", {"GET"}),
])
def test_405_names_the_methods_that_work(client: TestClient, method: str, path: str, allowed: set[str]) -> None:
    response = client.request(method, path, headers=basic())
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    body = response.json()
    assert body["error"] == "Method Not Allowed" and body["code"] == "method_not_allowed"
    assert body["message"] == f"{method} is not allowed here; this path takes {response.headers['allow']}"
    for other in allowed:
        assert client.request(other, path, headers=basic()).status_code != 405, other


@pytest.mark.parametrize("big", [2**31, 2**63])
def test_integers_inside_documents_are_bounded_too(client: TestClient, big: int) -> None:
    """Segment rules and journey definitions carry numbers of days, hours and versions: past their
    bounds they are a 422 naming the field, not an overflow (a 500) in timedelta or the store."""
    segments = [
        ({"type": "event", "event": "Order Completed", "within_days": big}, "/within_days"),
        ({"type": "event", "event": "X", "first_time": {"operator": "within_last_days", "value": big}},
         "/first_time/value"),
        ({"type": "sequence_absence", "event": "A", "absent_event": "B", "within_hours": big}, "/within_hours"),
        ({"type": "sequence_absence", "event": "A", "absent_event": "B", "within_hours": 1, "within_days": big},
         "/within_days"),
        ({"type": "event", "event": "X", "count": {"operator": "at_least", "value": big}}, "/count/value"),
        ({"type": "trait", "trait": "signed_up_at", "operator": "within_last_days", "value": big}, "/value"),
    ]
    for definition, field in segments:
        response = client.post("/v1/segments/preview", json={"definition": definition}, headers=bearer())
        assert response.status_code == 422, (definition, response.status_code, response.text)
        assert field in [d["field"] for d in response.json()["detail"]], response.text
    exit_only = {"start": "e", "nodes": [{"id": "e", "type": "exit"}]}
    journeys = [
        ({"start": "w", "nodes": [{"id": "w", "type": "wait", "duration": f"{big}d", "next": "e"},
                                  {"id": "e", "type": "exit"}]}, "/nodes/0/duration"),
        ({"goal": {"event": "Y", "within": f"{big}d"}, **exit_only}, "/goal/within"),
        ({"reentry": {"mode": "every", "days": big}, **exit_only}, "/reentry/days"),
        ({"version": big, **exit_only}, "/version"),
    ]
    for extra, field in journeys:
        definition = {"id": "j", "name": "J", "trigger": {"type": "event", "event": "X"}, **extra}
        response = client.post("/v1/journeys/validate", json=definition, headers=bearer())
        assert response.status_code == 422, (extra, response.status_code, response.text)
        assert field in [d["field"] for d in response.json()["detail"]], response.text


def test_405_on_a_literal_path_names_its_own_methods(client: TestClient) -> None:
    """/v1/segments/templates is its own resource (GET), though /v1/segments/{segment_id} would match."""
    response = client.request("OPTIONS", "/v1/segments/templates", headers=bearer())
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    response = client.request("DELETE", "/v1/journeys/validate", headers=bearer())
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_a_nul_character_is_a_400_on_every_backend_path(client: TestClient) -> None:
    """PostgreSQL text cannot hold U+0000: a request carrying one is refused, not a 500."""
    response = client.post("/v1/analytics/funnel", headers=bearer(),
                           json={"steps": [{"event": "Order\u0000Completed", "where": {"k\u0000": "v\u0000"}}]})
    assert response.status_code in (200, 400), response.text
    exists = {"type": "trait", "trait": "x", "operator": "exists"}
    response = client.post("/v1/segments", headers=bearer(), json={"name": "nul\u0000", "definition": exists})
    assert response.status_code in (201, 400), response.text
    response = client.get("/v1/profiles", params={"q": "a\u0000b"}, headers=bearer())
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert "NUL" in response.json()["error"]
