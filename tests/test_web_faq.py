"""The dashboard's Assistant FAQ page over HTTP (both backends): marketers add, edit, disable and delete
entries with CSRF-protected forms, problems are shown in the viewer's language naming the field, agents
read and try questions but do not edit, and another workspace's entries are not found."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from support import bearer
from touchline.store.engines import Stores
from touchline.workspaces import service as workspaces
from web_helpers import add_user, sign_in

FORM = {"topic": "shipping", "key": "shipping_fee", "enabled": "on",
        "ko_answer": "배송비는 3,000원이며 30,000원 이상 구매 시 무료배송입니다.",
        "ko_questions": "배송비는 얼마인가요?\n무료배송 기준이 있나요?\n택배비 얼마예요?\n",
        "en_answer": "Shipping costs 3,000 KRW and is free on orders of 30,000 KRW or more.",
        "en_questions": "How much is shipping?\nIs there free shipping?"}


def _id_of(client: TestClient, key: str) -> str:
    entry: str = client.get(f"/v1/assistant/faq/{key}", headers=bearer()).json()["id"]
    return entry


def test_marketers_edit_the_faq_and_try_a_question(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    empty = client.get("/assistant/faq")
    assert empty.status_code == 200 and "No FAQ entries yet" in empty.text and 'href="/assistant/faq"' in empty.text
    assert client.post("/assistant/faq", data=FORM).status_code == 403  # no CSRF token
    assert client.post("/assistant/faq", data={**FORM, "csrf_token": csrf},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    made = client.post("/assistant/faq", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/assistant/faq?done=faq.saved")
    listed = client.get(made.headers["location"]).text
    assert "Saved shipping_fee." in listed and "무료배송입니다" in listed and "free on orders" in listed
    entry = client.get("/v1/assistant/faq/shipping_fee", headers=bearer()).json()
    assert entry["ko"]["questions"] == ["배송비는 얼마인가요?", "무료배송 기준이 있나요?", "택배비 얼마예요?"]

    tried = client.get("/assistant/faq", params={"q": "배송비 얼마예요?"}).text
    assert 'data-intent="faq"' in tried and 'data-confident="yes"' in tried and 'data-matched="shipping_fee"' in tried

    # Edit: the new answer is what the bot says next.
    page = client.get(f"/assistant/faq/{entry['id']}/edit").text
    assert "택배비 얼마예요?" in page and 'name="csrf_token"' in page
    edited = client.post(f"/assistant/faq/{entry['id']}",
                         data={**FORM, "ko_answer": "이번 주는 배송비 무료예요.", "csrf_token": csrf})
    assert edited.status_code == 200
    assert "이번 주는 배송비 무료예요." in client.get("/assistant/faq", params={"q": "배송비 얼마예요?"}).text

    # Problems are shown, naming the field, in Korean for a Korean reader; nothing is saved.
    bad = client.post(f"/assistant/faq/{entry['id']}?lang=ko",
                      data={**FORM, "topic": "Bad Topic", "ko_answer": "", "ko_questions": "질문만 있음",
                            "csrf_token": csrf})
    assert bad.status_code == 422
    assert "주제" in bad.text and "한국어 답변" in bad.text and "비어 있으면 안 됩니다" in bad.text
    neither = client.post("/assistant/faq?lang=en", data={"topic": "shipping", "csrf_token": csrf})
    assert neither.status_code == 422 and "fill in Korean, English or both" in neither.text
    taken = client.post("/assistant/faq", data={**FORM, "csrf_token": csrf})
    assert taken.status_code == 422 and "another entry has this key" in taken.text

    # Disable, enable, delete.
    off = client.post(f"/assistant/faq/{entry['id']}/enabled", data={"csrf_token": csrf})
    assert "is no longer used" in off.text and "Not in use" in off.text
    assert 'data-intent="unknown"' in client.get("/assistant/faq", params={"q": "배송비 얼마예요?"}).text
    on = client.post(f"/assistant/faq/{entry['id']}/enabled", data={"csrf_token": csrf, "enabled": "on"})
    assert "is in use" in on.text
    gone = client.post(f"/assistant/faq/{entry['id']}/delete", data={"csrf_token": csrf})
    assert "Deleted shipping_fee." in gone.text and "No FAQ entries yet" in gone.text


def test_agents_read_and_try_but_do_not_edit(client: TestClient, stores: Stores) -> None:
    entry = {"topic": "shipping", "key": "shipping_fee",
             "ko": {"questions": ["배송비 얼마예요?"], "answer": "3,000원이에요."}}
    assert client.post("/v1/assistant/faq", json=entry, headers=bearer()).status_code == 201
    add_user(stores, "a@example.com", "agent")
    csrf = sign_in(client, "a@example.com")
    listed = client.get("/assistant/faq?lang=ko")
    assert listed.status_code == 200 and "3,000원이에요." in listed.text and "챗봇 FAQ" in listed.text
    assert 'href="/assistant/faq/new"' not in listed.text and "/edit" not in listed.text
    assert "3,000원이에요." in client.get("/assistant/faq", params={"q": "배송비 얼마예요?"}).text
    assert client.get("/assistant/faq/new").status_code == 403
    faq_id = _id_of(client, "shipping_fee")
    assert client.post(f"/assistant/faq/{faq_id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/assistant/faq", data={**FORM, "key": "x", "csrf_token": csrf}).status_code == 403


def test_another_workspaces_entries_are_not_found(client: TestClient, stores: Stores) -> None:
    with stores.write() as conn:
        staging = workspaces.create_workspace(conn, "staging")
        their_admin = workspaces.create_key(conn, staging, "admin")
    theirs = client.post("/v1/assistant/faq", json={"topic": "shipping", "en": {"answer": "Free, always."}},
                         headers=bearer(their_admin)).json()
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    assert "Free, always." not in client.get("/assistant/faq").text
    assert client.get(f"/assistant/faq/{theirs['id']}/edit").status_code == 404
    assert client.post(f"/assistant/faq/{theirs['id']}/delete", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"/v1/assistant/faq/{theirs['id']}", headers=bearer(their_admin)).status_code == 200
    assert not re.search(r"Free, always", client.get("/assistant/faq", params={"q": "free shipping?"}).text)


def test_the_assistant_report_and_proactive_chat_settings(client: TestClient, stores: Stores,
                                                          workspace_id: str) -> None:
    from support import basic
    from touchline.assistant import service as assistant_service
    from touchline.conversations import bot

    assistant_service.load_seed(stores, workspace_id)
    for n, text in enumerate(["배송비 얼마예요?", "화성으로도 배송되나요?", "talk to a human please"]):
        sent = client.post("/v1/chat/messages", headers=basic(), json={
            "anonymous_id": f"anon-web{n}", "client_message_id": f"web-report-{n}", "text": text})
        assert sent.status_code == 201, sent.text
    assert bot.respond_all(stores) == 3
    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    page = client.get("/assistant/report?lang=ko")
    assert page.status_code == 200, page.text
    assert "챗봇 리포트" in page.text and 'data-kpi="containment"' in page.text and "chart-intents" in page.text
    assert 'data-intent="handover"' in page.text and "상담원 연결" in page.text
    unanswered = re.findall(r"<tr data-unanswered><th[^>]*>([^<]+)</th>", page.text)
    assert unanswered == ["화성으로도 배송되나요?"]
    assert "/assistant/faq/new?question=" in page.text
    new = client.get("/assistant/faq/new", params={"question": "화성으로도 배송되나요?", "language": "ko"})
    assert "화성으로도 배송되나요?" in new.text
    english = client.get("/assistant/report?lang=en").text
    assert "Containment" in english and "Proactive chat" in english

    # The proactive rule from the form: problems name the field, nothing is saved; then saved.
    bad = client.post("/assistant/report/proactive?lang=ko", data={
        "csrf_token": csrf, "enabled": "on", "signal_checkout_idle": "on", "idle_seconds": "20", "cap_hours": "24",
        "holdout_percent": "99", "message_ko": "결제에 궁금한 점이 있으신가요?", "message_en": "Any questions?"})
    assert bad.status_code == 422 and "홀드아웃(%)" in bad.text
    assert client.get("/v1/conversations/proactive-chat", headers=bearer()).json()["enabled"] is False
    saved = client.post("/assistant/report/proactive", data={
        "csrf_token": csrf, "enabled": "on", "signal_checkout_idle": "on", "idle_seconds": "20", "cap_hours": "24",
        "holdout_percent": "10", "message_ko": "결제에 궁금한 점이 있으신가요?", "message_en": "Any questions?"},
        follow_redirects=False)
    assert saved.status_code == 303, saved.text
    rule = client.get("/v1/conversations/proactive-chat", headers=bearer()).json()
    assert rule["enabled"] is True and rule["signals"] == ["checkout_idle"] and rule["idle_seconds"] == 20
    assert rule["holdout_percent"] == 10 and rule["message_en"] == "Any questions?"
    # Agents read the report but do not change the rule.
    add_user(stores, "a@example.com", "agent")
    client.cookies.clear()
    agent_csrf = sign_in(client, "a@example.com")
    assert client.get("/assistant/report").status_code == 200
    assert client.post("/assistant/report/proactive", data={"csrf_token": agent_csrf}).status_code == 403
