"""The dashboard's experiments page: the list, a readout with its verdict in Korean and English, the SRM
warning, a bandit's weights, and start / stop / declare a winner (marketers; agents may not)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.eventlog import append_system_events
from touchline.experiments.service import exposure_event
from touchline.profiles import store as profile_store
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in

BANNER: dict[str, Any] = {
    "id": "home-banner", "name": "Home page banner",
    "arms": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}], "control": "a",
    "metric": {"event": "Order Completed", "window_hours": 48}, "guardrails": [{"event": "Unsubscribed"}],
}


def _flags(client: TestClient, visitor: str) -> str:
    r = client.post("/v1/flags", json={"anonymousId": visitor, "experiments": ["home-banner"]}, headers=basic())
    assert r.status_code == 200, r.text
    return str(r.json()["flags"]["home-banner"]["arm"])


def test_experiment_pages_read_and_decide(client: TestClient, stores: Stores) -> None:
    assert client.post("/v1/experiments", json=BANNER, headers=bearer()).status_code == 201
    client.post("/v1/experiments/home-banner/start", headers=bearer())
    arms = {f"v{i}": _flags(client, f"v{i}") for i in range(120)}
    orders = [{"type": "track", "event": "Order Completed", "anonymousId": v, "messageId": f"o-{v}",
               "properties": {"order_id": f"o-{v}", "revenue": 10000}} for v, arm in arms.items() if arm == "b"]
    assert client.post("/v1/batch", json={"batch": orders}, headers=basic()).status_code == 200
    stores.pump()
    add_user(stores, "marketer@example.com", "marketer")
    add_user(stores, "agent@example.com", "agent")
    csrf = sign_in(client, "marketer@example.com")
    listing = client.get("/experiments?lang=en")
    assert listing.status_code == 200 and 'data-experiment="home-banner"' in listing.text and "Running" in listing.text
    page = client.get("/experiments/home-banner?lang=en")
    assert page.status_code == 200
    html = page.text
    assert 'data-verdict="winner"' in html and "b wins" in html
    assert 'data-arm="a"' in html and 'data-arm="b"' in html and 'id="chart-chance"' in html
    assert 'data-srm="true"' not in html and 'data-guardrail="Unsubscribed"' in html
    korean = client.get("/experiments/home-banner?lang=ko").text
    assert "이겼습니다" in korean and "대조군을 이길 확률" in korean
    # declare the winner: then everyone gets b
    done = client.post("/experiments/home-banner/winner", data={"arm": "b", "csrf_token": csrf},
                       follow_redirects=False)
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert 'data-status="completed"' in after.text
    assert {_flags(client, f"new-{i}") for i in range(20)} == {"b"}
    # a refused action is shown, not a crash
    stopped = client.post("/experiments/home-banner/stop", data={"csrf_token": csrf}, follow_redirects=True)
    assert stopped.status_code == 200 and 'role="alert"' in stopped.text
    assert client.get("/experiments/nope").status_code == 404
    # agents read no experiments
    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, "agent@example.com")
    assert client.get("/experiments").status_code == 403


def test_sample_ratio_mismatch_is_flagged_on_the_page(client: TestClient, stores: Stores, workspace_id: str) -> None:
    assert client.post("/v1/experiments", json=BANNER, headers=bearer()).status_code == 201
    client.post("/v1/experiments/home-banner/start", headers=bearer())
    for i in range(400):
        _flags(client, f"v{i}")
    # a broken page reported 150 more visitors, all in a: their exposures recorded beside the real ones
    batch = [{"type": "identify", "anonymousId": f"x{i}", "messageId": f"x{i}", "traits": {}} for i in range(150)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        ids = profile_store.load_identities(conn, workspace_id, [("anonymous_id", f"x{i}") for i in range(150)])
        append_system_events(conn, workspace_id, [exposure_event(workspace_id, "home-banner", pid, "a", now, "web")
                                                  for pid in set(ids.values())], now)
    stores.pump()
    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")
    html = client.get("/experiments/home-banner?lang=en").text
    assert 'data-srm="true"' in html and 'data-verdict="srm"' in html and "Stop: sample ratio mismatch" in html
