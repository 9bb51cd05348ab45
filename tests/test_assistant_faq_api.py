"""The shop's FAQ through the HTTP API as a shop uses it, on both backends: entries in Korean and English
added, read, replaced, disabled and deleted; the assistant answering from the workspace's current FAQ
(an edit shows in the next answer); workspaces never seeing each other's entries; the demo seed loaded
idempotently; and 4xx answers naming the field at the edge."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from support import bearer
from touchline.assistant import service
from touchline.assistant import store as faq_store
from touchline.assistant.knowledge import seed_faq
from touchline.store.engines import Stores
from touchline.workspaces import service as workspaces

FAQ = "/v1/assistant/faq"

SHIPPING_FEE: dict[str, Any] = {
    "key": "shipping_fee", "topic": "shipping",
    "ko": {"questions": ["배송비는 얼마인가요?", "무료배송 기준이 있나요?", "택배비 얼마예요?"],
           "answer": "배송비는 3,000원이며 30,000원 이상 구매 시 무료배송입니다."},
    "en": {"questions": ["How much is shipping?", "Is there free shipping?", "What is the delivery fee?"],
           "answer": "Shipping costs 3,000 KRW and is free on orders of 30,000 KRW or more."},
}
STORE_HOURS: dict[str, Any] = {
    "key": "store_hours", "topic": "stores",
    "ko": {"questions": ["매장 영업시간이 어떻게 되나요?", "몇 시에 문 닫아요?"],
           "answer": "매장은 매일 오전 10시부터 오후 9시까지 영업해요."},
    "en": {"questions": ["What are your store hours?", "When do you close?"],
           "answer": "Our stores are open daily from 10 am to 9 pm."},
}


def _answer(client: TestClient, question: str, token: str | None = None, **more: Any) -> dict[str, Any]:
    response = client.post("/v1/assistant/answer", json={"question": question, **more},
                           headers=bearer(token) if token else bearer())
    assert response.status_code == 200, response.text
    return response.json()


def test_faq_crud_and_the_answer_follows_edits(client: TestClient, stores: Stores) -> None:
    assert client.get(FAQ, headers=bearer()).json() == {"faq": []}  # a new workspace starts empty
    assert _answer(client, "배송비 얼마예요?")["intent"] == "unknown"
    made = client.post(FAQ, json=SHIPPING_FEE, headers=bearer())
    assert made.status_code == 201, made.text
    entry = made.json()
    assert entry["key"] == "shipping_fee" and entry["enabled"] is True and entry["id"].startswith("faq_")
    assert entry["ko"]["answer"].startswith("배송비는 3,000원")
    assert entry["en"]["questions"][0] == "How much is shipping?"
    hours = client.post(FAQ, json=STORE_HOURS, headers=bearer()).json()
    # Read by id or key; listed (by topic, then key), filtered by topic.
    assert client.get(f"{FAQ}/{entry['id']}", headers=bearer()).json() == entry
    assert client.get(f"{FAQ}/shipping_fee", headers=bearer()).json()["id"] == entry["id"]
    assert [e["key"] for e in client.get(FAQ, headers=bearer()).json()["faq"]] == ["shipping_fee", "store_hours"]
    assert [e["key"] for e in client.get(FAQ, params={"topic": "stores"}, headers=bearer()).json()["faq"]] == \
        ["store_hours"]

    reply = _answer(client, "배송비 얼마예요?")
    assert reply["intent"] == "faq" and reply["faq_id"] == entry["id"] and reply["faq_key"] == "shipping_fee"
    assert reply["confident"] and reply["text"] == SHIPPING_FEE["ko"]["answer"] and reply["topic"] == "shipping"
    assert _answer(client, "How much is shipping?")["text"] == SHIPPING_FEE["en"]["answer"]
    assert _answer(client, "배송비 얼마예요?", language="en")["language"] == "en"

    # An edit shows in the next answer (the cached assistant is rebuilt).
    new_fee = "이제 배송비는 2,500원이고 20,000원 이상 무료예요."
    edited = {**SHIPPING_FEE, "ko": {**SHIPPING_FEE["ko"], "answer": new_fee}}
    replaced = client.put(f"{FAQ}/{entry['id']}", json=edited, headers=bearer())
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["ko"]["answer"].startswith("이제") and replaced.json()["created_at"] == entry["created_at"]
    assert _answer(client, "배송비 얼마예요?")["text"] == new_fee
    # So does an edit made by another process (only the store changed, behind this process' back).
    with stores.write() as conn:
        faq_store.update_faq(conn, stores_workspace(stores), entry["id"], ko_answer="배송비 무료 행사 중이에요.",
                             updated_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert _answer(client, "배송비 얼마예요?")["text"] == "배송비 무료 행사 중이에요."

    # A PUT without a key keeps it; an English-only entry is fine; disabling takes it out of the answers.
    only_en = {"topic": "shipping", "enabled": False, "en": SHIPPING_FEE["en"]}
    put = client.put(f"{FAQ}/shipping_fee", json=only_en, headers=bearer()).json()
    assert put["key"] == "shipping_fee" and put["ko"] is None and put["enabled"] is False
    assert _answer(client, "How much is shipping?")["faq_id"] != entry["id"]
    assert [e["key"] for e in client.get(FAQ, params={"enabled": "true"}, headers=bearer()).json()["faq"]] == \
        ["store_hours"]

    # Keys are unique in a workspace.
    taken = client.post(FAQ, json=STORE_HOURS, headers=bearer())
    assert taken.status_code == 409 and taken.json()["detail"][0]["field"] == "key"
    renamed = client.put(f"{FAQ}/{entry['id']}", json={**STORE_HOURS, "key": "store_hours"}, headers=bearer())
    assert renamed.status_code == 409

    assert client.delete(f"{FAQ}/{hours['id']}", headers=bearer()).json() == {"deleted": hours["id"]}
    assert client.get(f"{FAQ}/{hours['id']}", headers=bearer()).status_code == 404
    assert client.delete(f"{FAQ}/{hours['id']}", headers=bearer()).status_code == 404
    assert _answer(client, "매장 영업시간이 어떻게 되나요?")["faq_id"] is None


def stores_workspace(stores: Stores) -> str:
    with stores.read() as conn:
        return workspaces.workspace_id_by_name(conn, stores.settings.default_workspace)


def test_workspaces_never_see_each_other(client: TestClient, stores: Stores) -> None:
    with stores.write() as conn:
        staging = workspaces.create_workspace(conn, "staging")
        their_admin = workspaces.create_key(conn, staging, "admin")
    mine = client.post(FAQ, json=SHIPPING_FEE, headers=bearer()).json()
    for method in ("get", "delete"):
        assert getattr(client, method)(f"{FAQ}/{mine['id']}", headers=bearer(their_admin)).status_code == 404
    assert client.put(f"{FAQ}/{mine['id']}", json=STORE_HOURS, headers=bearer(their_admin)).status_code == 404
    assert client.get(f"{FAQ}/shipping_fee", headers=bearer(their_admin)).status_code == 404
    assert client.get(FAQ, headers=bearer(their_admin)).json() == {"faq": []}
    # Their assistant knows nothing of ours; the same key is theirs to use.
    assert _answer(client, "배송비 얼마예요?", token=their_admin)["intent"] == "unknown"
    theirs = client.post(FAQ, json={**SHIPPING_FEE, "ko": {"answer": "저희는 배송비가 없어요."}},
                         headers=bearer(their_admin))
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert _answer(client, "배송비 얼마예요?")["text"] == SHIPPING_FEE["ko"]["answer"]
    assert client.get(f"{FAQ}/{mine['id']}", headers=bearer()).json()["ko"] == SHIPPING_FEE["ko"]


def test_bad_input_gets_a_4xx_naming_the_field(client: TestClient, stores: Stores) -> None:
    def post(body: Any, field: str, status: int = 422) -> None:
        response = client.post(FAQ, json=body, headers=bearer())
        assert response.status_code == status, response.text
        fields = [d["field"] for d in response.json()["detail"]]
        assert any(f == field or f.startswith(field + ".") for f in fields), (field, response.json())

    post({"topic": "shipping"}, "(body)")  # neither language
    post({**SHIPPING_FEE, "topic": "Shipping Info"}, "topic")
    post({**SHIPPING_FEE, "key": "no spaces"}, "key")
    post({**SHIPPING_FEE, "ko": {"questions": ["a"], "answer": "   "}}, "ko.answer")
    post({**SHIPPING_FEE, "ko": {"questions": ["a"], "answer": "bad\x00answer"}}, "ko.answer")
    post({**SHIPPING_FEE, "en": {"questions": ["fine", "nul\x00"], "answer": "x"}}, "en.questions")
    post({**SHIPPING_FEE, "en": {"questions": ["q"] * 51, "answer": "x"}}, "en.questions")
    post({**SHIPPING_FEE, "en": {"questions": ["q" * 301], "answer": "x"}}, "en.questions")
    post({**SHIPPING_FEE, "en": {"questions": [], "answer": "x" * 4001}}, "en.answer")
    post({**SHIPPING_FEE, "enabled": "yes"}, "enabled")
    post({**SHIPPING_FEE, "colour": "red"}, "colour")
    post([1, 2], "(body)")
    bad_answer = client.post("/v1/assistant/answer", json={"question": "\x00"}, headers=bearer())
    assert bad_answer.status_code == 422 and bad_answer.json()["detail"][0]["field"] == "question"
    assert client.post("/v1/assistant/answer", json={"question": "hi", "language": "fr"},
                       headers=bearer()).json()["detail"][0]["field"] == "language"
    # Unknown or impossible ids are 404, never a 5xx (PostgreSQL text cannot hold NUL).
    assert client.get(f"{FAQ}/nope", headers=bearer()).status_code == 404
    assert client.get(f"{FAQ}/a%00b", headers=bearer()).status_code == 404
    assert client.get(FAQ, params={"topic": "x\x00"}, headers=bearer()).status_code == 422
    # A write key cannot manage the FAQ.
    assert client.get(FAQ, headers={"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}).status_code in (401, 403)
    assert client.get(FAQ).status_code == 401


def test_the_demo_seed_loads_once(client: TestClient, stores: Stores) -> None:
    workspace_id = stores_workspace(stores)
    keys = {e.id for e in seed_faq()}
    assert service.load_seed(stores, workspace_id) == len(keys) == 46
    listed = client.get(FAQ, headers=bearer()).json()["faq"]
    assert {e["key"] for e in listed} == keys and all(e["ko"] and e["en"] for e in listed)
    # An entry the shop edited stays as edited when the seed is loaded again; a deleted one comes back.
    fee = client.get(f"{FAQ}/shipping_fee", headers=bearer()).json()
    client.put(f"{FAQ}/shipping_fee", json={**SHIPPING_FEE, "ko": {"answer": "배송비 무료!"}}, headers=bearer())
    client.delete(f"{FAQ}/store_hours", headers=bearer())
    assert service.load_seed(stores, workspace_id) == 1
    assert service.load_seed(stores, workspace_id) == 0
    assert client.get(f"{FAQ}/shipping_fee", headers=bearer()).json()["ko"]["answer"] == "배송비 무료!"
    assert len(client.get(FAQ, headers=bearer()).json()["faq"]) == 46
    reply = _answer(client, "교환하려면 어떻게 해야 하나요?")
    assert reply["confident"] and reply["topic"] == "exchanges", reply
    assert fee["topic"] == "shipping"


def test_migration_13_adds_the_faq_table(client: TestClient, stores: Stores) -> None:
    import sqlalchemy as sa

    from touchline.store.migrations import STATE_MIGRATIONS, _stamp, upgrade

    assert any(m.version == 13 and "FAQ" in m.description for m in STATE_MIGRATIONS)
    with stores.write() as conn:
        conn.exec_driver_sql("DROP TABLE faq_entries")
        _stamp(conn, "state", 12)
    assert upgrade(stores)["state"] == (12, STATE_MIGRATIONS[-1].version)
    with stores.read() as conn:
        inspector = sa.inspect(conn)
        assert "faq_entries" in inspector.get_table_names()
        assert "ix_faq_entries_ws_topic" in {i["name"] for i in inspector.get_indexes("faq_entries")}
    assert client.post(FAQ, json=SHIPPING_FEE, headers=bearer()).status_code == 201
    assert upgrade(stores)["state"] == (STATE_MIGRATIONS[-1].version,) * 2  # again: nothing to do


def test_a_server_start_builds_the_assistant_of_every_workspace_with_an_faq(
        client: TestClient, stores: Stores, monkeypatch: Any) -> None:
    # The first question after a start must not pay seconds for the analyser, the encoder and the indexes: a
    # KakaoTalk skill waits 5 s for its answer. A shop without an FAQ has no assistant, so nothing is built.
    import time

    from touchline.conversations.bot import BotWorker

    assert service.warm(stores) == []
    made = client.post(FAQ, json=SHIPPING_FEE, headers=bearer()).json()
    workspace_id = _default_workspace(stores)
    service._cache(stores).clear()  # as after a restart
    monkeypatch.setattr(stores.settings, "assistant_warm_start", True)
    worker = BotWorker(stores, interval=60)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while workspace_id not in service._cache(stores) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    built = service._cache(stores)[workspace_id]
    assert _answer(client, "배송비 얼마예요?")["faq_key"] == "shipping_fee"
    assert service._cache(stores)[workspace_id] is built  # the first question found it built
    client.put(f"{FAQ}/{made['id']}", json={**SHIPPING_FEE, "enabled": False}, headers=bearer())
    assert service.warm(stores) == []  # disabled: no assistant to build


def _default_workspace(stores: Stores) -> str:
    with stores.read() as conn:
        found = workspaces.workspace_id_by_name(conn, "default")
    assert found is not None
    return found
