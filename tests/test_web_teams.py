"""The inbox's Teams page over HTTP (both backends), in Korean and English: an admin creates a team with its
channels, automatic assignment and hours through CSRF-protected forms, adds agents with a capacity and
languages, and what the page saved is what the API and the assistant's hand-over read; agents see it and may
change nothing; a bad value comes back as the problem, nothing saved."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import bearer
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in

TEAMS = "/v1/conversations/teams"


def test_an_admin_sets_up_a_team_and_agents_see_it(client: TestClient, stores: Stores) -> None:
    add_user(stores, "admin@example.com", "admin")
    add_user(stores, "jieun@example.com", "agent")
    csrf = sign_in(client, "admin@example.com")
    assert client.post("/inbox/teams", data={"name": "CS"}).status_code == 403  # no CSRF token
    made = client.post("/inbox/teams", follow_redirects=False, data={
        "csrf_token": csrf, "name": "고객지원팀", "channels": ["chat", "kakao"], "auto_assign": "on",
        "language_routing": "on", "days": ["0", "1", "2", "3", "4"], "opens": "09:00", "closes": "18:00",
        "timezone": "Asia/Seoul"})
    assert made.status_code == 303 and "done=teams.saved" in made.headers["location"], made.text
    team = client.get(TEAMS, headers=bearer()).json()["teams"][0]
    assert (team["name"], team["channels"], team["auto_assign"], team["language_routing"]) == (
        "고객지원팀", ["chat", "kakao"], True, True)
    assert team["hours"] == {"days": [0, 1, 2, 3, 4], "opens": "09:00", "closes": "18:00", "timezone": "Asia/Seoul"}

    agents = {a["email"]: a["id"] for a in client.get("/v1/conversations/agents", headers=bearer()).json()["agents"]}
    added = client.post(f"/inbox/teams/{team['id']}/members", follow_redirects=False, data={
        "csrf_token": csrf, "user_id": agents["jieun@example.com"], "capacity": "5", "languages": "ko, en"})
    assert added.status_code == 303 and "problem" not in added.headers["location"], added.headers["location"]
    member = client.get(TEAMS, headers=bearer()).json()["teams"][0]["members"][0]
    assert (member["capacity"], member["languages"]) == (5, ["en", "ko"])

    page = client.get("/inbox/teams", params={"lang": "ko"}).text
    assert "고객지원팀" in page and "월·화·수·목·금 09:00–18:00 (Asia/Seoul)" in page and "자동 배정" in page
    assert "상담팀을 저장했습니다." in client.get("/inbox/teams?done=teams.saved").text
    english = client.get("/inbox/teams", params={"lang": "en"}).text
    assert "Mon·Tue·Wed·Thu·Fri 09:00–18:00" in english and "assigned automatically" in english

    # Hours off (no day ticked: always there), a channel dropped; a bad time zone is refused, nothing saved.
    bad = client.post(f"/inbox/teams/{team['id']}", follow_redirects=False, data={
        "csrf_token": csrf, "name": "고객지원팀", "channels": ["chat"], "days": ["5"], "timezone": "Mars/Olympus"})
    assert bad.status_code == 303 and "problem=" in bad.headers["location"]
    assert "timezone" in client.get(bad.headers["location"]).text
    assert client.get(TEAMS, headers=bearer()).json()["teams"][0]["channels"] == ["chat", "kakao"]
    client.post(f"/inbox/teams/{team['id']}", data={"csrf_token": csrf, "name": "고객지원팀", "channels": ["chat"]})
    changed = client.get(TEAMS, headers=bearer()).json()["teams"][0]
    assert changed["channels"] == ["chat"] and changed["hours"] is None and not changed["auto_assign"]
    assert "항상 운영" in client.get("/inbox/teams", params={"lang": "ko"}).text

    # An agent reads the page and changes nothing.
    client.post("/logout", data={"csrf_token": csrf})
    agent_csrf = sign_in(client, "jieun@example.com")
    seen = client.get("/inbox/teams", params={"lang": "ko"})
    assert seen.status_code == 200 and "고객지원팀" in seen.text and "data-new-team" not in seen.text
    refused = client.post(f"/inbox/teams/{team['id']}/delete", data={"csrf_token": agent_csrf})
    assert refused.status_code == 403
    assert len(client.get(TEAMS, headers=bearer()).json()["teams"]) == 1


def test_removing_an_agent_and_deleting_a_team(client: TestClient, stores: Stores) -> None:
    add_user(stores, "admin@example.com", "admin")
    csrf = sign_in(client, "admin@example.com")
    client.post("/inbox/teams", data={"csrf_token": csrf, "name": "Night shift", "days": ["6"], "opens": "22:00",
                                      "closes": "06:00", "timezone": "Asia/Seoul"})
    team = client.get(TEAMS, headers=bearer()).json()["teams"][0]
    assert team["hours"]["opens"] == "22:00" and team["hours"]["closes"] == "06:00"  # overnight
    me = client.get("/v1/conversations/agents", headers=bearer()).json()["agents"][0]["id"]
    client.post(f"/inbox/teams/{team['id']}/members", data={"csrf_token": csrf, "user_id": me, "capacity": "3"})
    assert client.post(f"/inbox/teams/{team['id']}/members", follow_redirects=False, data={
        "csrf_token": csrf, "user_id": me, "capacity": "-1"}).headers["location"].count("problem=") == 1
    removed = client.post(f"/inbox/teams/{team['id']}/members/{me}/delete", data={"csrf_token": csrf})
    assert removed.status_code == 200 and "아직 구성원이 없습니다." in client.get("/inbox/teams?lang=ko").text
    assert client.post(f"/inbox/teams/{team['id']}/delete", data={"csrf_token": csrf}).status_code == 200
    assert client.get(TEAMS, headers=bearer()).json()["teams"] == []
    assert "아직 상담팀이 없습니다." in client.get("/inbox/teams?lang=ko").text


def test_an_admin_switches_chat_ratings_on_and_agents_only_read_it(client: TestClient, stores: Stores) -> None:
    add_user(stores, "admin@example.com", "admin")
    add_user(stores, "jieun@example.com", "agent")
    csrf = sign_in(client, "admin@example.com")
    page = client.get("/inbox/teams", params={"lang": "ko"}).text
    assert "채팅 만족도 평가" in page and 'name="rate_on_resolve"' in page and " checked>" not in page.split(
        'name="rate_on_resolve"')[1][:20]
    saved = client.post("/inbox/teams/settings", follow_redirects=False, data={"csrf_token": csrf,
                                                                               "rate_on_resolve": "on"})
    assert saved.status_code == 303 and "done=teams.ratings.saved" in saved.headers["location"]
    assert client.get("/v1/conversations/settings", headers=bearer()).json() == {"rate_on_resolve": True}
    assert "채팅 만족도 평가 설정을 저장했습니다." in client.get("/inbox/teams?done=teams.ratings.saved&lang=ko").text
    client.post("/logout", data={"csrf_token": csrf})
    agent_csrf = sign_in(client, "jieun@example.com")
    seen = client.get("/inbox/teams", params={"lang": "en"}).text
    assert "Chat ratings" in seen and "data-settings" not in seen and "<strong>on</strong>" in seen
    refused = client.post("/inbox/teams/settings", data={"csrf_token": agent_csrf})
    assert refused.status_code == 403
    assert client.get("/v1/conversations/settings", headers=bearer()).json() == {"rate_on_resolve": True}
