"""The agents' inbox page: a chat message appears in the queues, the agent replies and writes a note
(CSRF-protected forms), assigns, snoozes and resolves; roles without the inbox are refused; the customer
panel shows the profile; both languages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import basic
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in


def _chat(client: TestClient, text: str, key: str, anonymous_id: str = "anon-inbox-1") -> str:
    response = client.post("/v1/chat/messages", headers=basic(), json={
        "anonymous_id": anonymous_id, "client_message_id": key, "text": text, "language": "ko"})
    assert response.status_code == 201, response.text
    return response.json()["conversation_id"]


def test_an_agent_answers_a_chat_from_the_inbox(client: TestClient, stores: Stores) -> None:
    client.post("/v1/identify", headers=basic(), json={"anonymousId": "anon-inbox-1", "messageId": "id-1",
                                                        "traits": {"name": "김지은"}})
    conversation_id = _chat(client, "니트 사이즈 문의드려요", "key-inbox-1")
    add_user(stores, "agent@example.com", "agent")
    token = sign_in(client, "agent@example.com")

    listing = client.get("/inbox?lang=ko")
    assert listing.status_code == 200
    assert "상담함" in listing.text and "김지은" in listing.text and "웹 채팅" in listing.text
    page = client.get(f"/inbox?c={conversation_id}")
    assert "니트 사이즈 문의드려요" in page.text and "고객 정보" in page.text and "상담 이력" in page.text

    refused = client.post(f"/inbox/{conversation_id}/reply", data={"body": "안녕하세요", "kind": "reply"})
    assert refused.status_code == 403  # no CSRF token
    sent = client.post(f"/inbox/{conversation_id}/reply", follow_redirects=False,
                       data={"body": "M 사이즈를 추천드려요", "kind": "reply", "csrf_token": token,
                             "back": f"/inbox?c={conversation_id}"})
    assert sent.status_code == 303 and sent.headers["location"] == f"/inbox?c={conversation_id}"
    client.post(f"/inbox/{conversation_id}/reply", data={"body": "재고 확인 필요", "kind": "note", "csrf_token": token})
    history = client.get("/v1/chat/messages", headers=basic(), params={"anonymous_id": "anon-inbox-1"}).json()
    assert [m["body"] for m in history["messages"]] == ["니트 사이즈 문의드려요", "M 사이즈를 추천드려요"]

    for action in ("assign_me", "snooze_1h", "resolve", "reopen"):
        done = client.post(f"/inbox/{conversation_id}/action", data={"action": action, "csrf_token": token},
                           follow_redirects=False)
        assert done.status_code == 303, (action, done.text)
    mine = client.get("/inbox?queue=mine&c=" + conversation_id)
    assert "재고 확인 필요" in mine.text and "M 사이즈를 추천드려요" in mine.text
    assert "data-conversation=\"" + conversation_id in mine.text
    english = client.get(f"/inbox?lang=en&c={conversation_id}")
    assert "Inbox" in english.text and "Private note" in english.text and "Web chat" in english.text


def test_marketers_have_no_inbox(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    assert client.get("/inbox").status_code == 403
    assert 'href="/inbox"' not in client.get("/segments").text


def test_a_whatsapp_conversation_outside_its_window_warns_the_agent(client: TestClient, stores: Stores,
                                                                   workspace_id: str) -> None:
    import datetime as dt

    from touchline.conversations import service
    from touchline.conversations.types import CustomerIds, Inbound

    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    received = service.receive(stores, workspace_id, Inbound(
        channel="whatsapp", provider_message_id="wamid.1", customer=CustomerIds(whatsapp_id="821012345678"),
        body="hello"), now=old)
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    page = client.get(f"/inbox?lang=en&c={received.conversation['id']}")
    assert "The 24-hour window is closed" in page.text


def _figure(html: str, chart_id: str) -> dict:
    import html as html_lib
    import json
    import re

    found = re.search(rf'id="{chart_id}"[^>]*data-figure=\'([^\']*)\'', html)
    assert found, f"no chart {chart_id}"
    return json.loads(html_lib.unescape(found.group(1)))


def test_the_inbox_report_with_no_conversations(client: TestClient, stores: Stores) -> None:
    """An empty inbox: the report still answers, with dashes and its charts, in both languages."""
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    for lang, words in (("en", ("Inbox report", "No conversations started in this period.", "nobody waiting")),
                        ("ko", ("상담 리포트", "이 기간에 시작된 상담이 없습니다.", "기다리는 고객 없음"))):
        page = client.get(f"/inbox/report?lang={lang}&days=7")
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, word
        assert 'data-kpi="first-response">—<' in page.text and 'data-kpi="backlog">0<' in page.text
        assert _figure(page.text, "chart-hours")["data"] == []
    assert 'href="/inbox/report"' in client.get("/inbox").text  # linked from the inbox and the nav


def test_the_inbox_report_measures_agents_teams_channels_and_hours(client: TestClient, stores: Stores,
                                                                    workspace_id: str) -> None:
    import datetime as dt

    from touchline.conversations import service
    from touchline.conversations.types import Author, CustomerIds, Inbound
    from touchline.web import auth

    agent = auth.create_user(stores, "jieun@example.com", "correct horse battery", "agent", name="김지은")
    auth.create_user(stores, "admin@example.com", "correct horse battery", "admin", name="Sam Admin")
    team = service.create_team(stores, workspace_id, "상담 1팀")
    service.set_member(stores, workspace_id, team["id"], agent["id"])
    # Two days ago at 01:30 UTC: 10:30 in Seoul.
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(hour=1, minute=30, second=0, microsecond=0)
    answered = service.receive(stores, workspace_id, Inbound(
        channel="sms", provider_message_id="SM-report-1", customer=CustomerIds(phone="+821012340001"),
        body="배송 언제 오나요?"), now=day).conversation
    service.assign(stores, workspace_id, answered["id"], assignee_id=agent["id"], team_id=team["id"], now=day)
    service.reply(stores, workspace_id, answered["id"], "내일 도착 예정입니다.", author=Author("agent", agent["id"]),
                  now=day + dt.timedelta(minutes=4))
    service.resolve(stores, workspace_id, answered["id"], now=day + dt.timedelta(hours=2))
    # No answer yet, nobody assigned: in the backlog, not in the times.
    service.receive(stores, workspace_id, Inbound(
        channel="email", provider_message_id="<report-2@example.com>", customer=CustomerIds(email="kim@example.com"),
        body="Where is my order?", subject="Order"), now=day + dt.timedelta(hours=3))
    sign_in(client, "jieun@example.com")
    client.cookies.set("tl_tz", "Asia/Seoul")

    page = client.get("/inbox/report?lang=ko&days=7")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-kpi="started">2<' in text and 'data-kpi="backlog">1<' in text
    assert 'data-kpi="first-response">4분<' in text and 'data-kpi="resolution">2시간<' in text
    assert "김지은" in text and "상담 1팀" in text and agent["id"] not in text.split('data-row="')[0]
    assert "문자" in text and "이메일" in text and "미배정" in text
    assert 'data-backlog="open">1<' in text and 'data-backlog="unassigned">1<' in text  # the chart's numbers
    hours = _figure(text, "chart-hours")
    counts = {trace["name"]: trace["y"] for trace in hours["data"]}
    assert counts["문자"][10] == 1 and counts["이메일"][13] == 1 and hours["data"][0]["customdata"][10] == "10시"
    english = client.get("/inbox/report?lang=en&days=7").text
    assert 'data-kpi="first-response">4 minutes<' in english and "Per agent" in english
    assert "10:00" in english
    # A period with nothing in it, and a custom range.
    old = client.get("/inbox/report?start=2020-01-01&end=2020-01-31")
    assert old.status_code == 200 and 'data-kpi="started">0<' in old.text and 'data-kpi="backlog">1<' in old.text


def test_marketers_have_no_inbox_report(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    assert client.get("/inbox/report").status_code == 403
