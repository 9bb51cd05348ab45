"""Inbound channels through HTTP as each provider calls them, on both backends: Twilio's inbound message
webhook, the WhatsApp Cloud API webhook and a Kakao i Open Builder skill, each with its documented
payload and a real signature computed here; a wrong or missing signature refused with nothing stored;
a redelivery stored once; oversized bodies 413; malformed payloads 400 naming the field; workspaces
kept apart by their inbound tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from support import bearer
from touchline.app import create_app
from touchline.conversations import service
from touchline.conversations.types import Author
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import conversation_messages
from touchline.workspaces import service as workspaces

PUBLIC = "https://touchline.example.com"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
APP_SECRET = "meta-app-secret-abcdef"
VERIFY_TOKEN = "verify-me-please"
SKILL_SECRET = "kakao-skill-secret"
BOT_ID = "5f1e2d3c4b5a69788796a5b4"


@pytest.fixture
def setup(settings: Settings) -> Iterator[tuple[TestClient, Stores, str, str, str]]:
    configured = settings.model_copy(update={
        "public_url": PUBLIC, "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "whatsapp_app_secret": SecretStr(APP_SECRET), "whatsapp_verify_token": SecretStr(VERIFY_TOKEN),
        "kakao_skill_secret": SecretStr(SKILL_SECRET), "kakao_bot_id": BOT_ID, "inbound_max_bytes": 64 * 1024})
    stores = open_stores(configured)
    with stores.write() as conn:
        default = workspaces.workspace_id_by_name(conn, "default")
        token = workspaces.create_key(conn, default, "inbound", "webhooks")
        other = workspaces.create_workspace(conn, "other")
        other_token = workspaces.create_key(conn, other, "inbound", "webhooks")
    try:
        with TestClient(create_app(stores=stores, run_pump=False)) as client:
            yield client, stores, token, other_token, other
    finally:
        stores.dispose()


def stored(stores: Stores, workspace_id: str | None = None) -> list[dict[str, Any]]:
    with stores.read() as conn:
        query = sa.select(conversation_messages)
        if workspace_id is not None:
            query = query.where(conversation_messages.c.workspace_id == workspace_id)
        return [dict(r) for r in conn.execute(query).mappings()]


# --- Twilio ------------------------------------------------------------------------------------------


def twilio_form(sid: str = "SM0123456789abcdef0123456789abcdef", body: str = "주문 취소 가능할까요?",
                sender: str = "+821055550001", media: int = 0) -> dict[str, str]:
    form = {"ToCountry": "KR", "SmsMessageSid": sid, "NumMedia": str(media), "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": "+15005550006", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": "AC0123456789abcdef0123456789abcdef", "From": sender, "ApiVersion": "2010-04-01"}
    for n in range(media):
        form[f"MediaUrl{n}"] = f"https://api.twilio.com/2010-04-01/Accounts/AC01/Messages/{sid}/Media/ME{n}"
        form[f"MediaContentType{n}"] = "image/jpeg"
    return form


def twilio_sign(url: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    data = url + "".join(k + form[k] for k in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post_twilio(client: TestClient, token: str, form: dict[str, str], signature: str | None = "sign") -> Any:
    path = f"/webhooks/twilio/sms/{token}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        headers["X-Twilio-Signature"] = twilio_sign(PUBLIC + path, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, content=urllib.parse.urlencode(form), headers=headers)


def test_twilio_sms_is_received_once_and_answered_with_twiml(setup: Any) -> None:
    client, stores, token, _, _ = setup
    first = post_twilio(client, token, twilio_form())
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in first.text
    again = post_twilio(client, token, twilio_form())  # Twilio retries on a timeout
    assert again.status_code == 200
    rows = stored(stores)
    assert len(rows) == 1
    assert rows[0]["channel"] == "sms" and rows[0]["provider_message_id"] == "SM0123456789abcdef0123456789abcdef"
    assert rows[0]["body"] == "주문 취소 가능할까요?"


def test_twilio_mms_media_are_attachment_links(setup: Any) -> None:
    client, stores, token, _, _ = setup
    assert post_twilio(client, token, twilio_form(sid="MM01", body="", media=2)).status_code == 200
    (row,) = stored(stores)
    attachments = row["attachments"] if isinstance(row["attachments"], list) else orjson.loads(row["attachments"])
    assert [a["content_type"] for a in attachments] == ["image/jpeg", "image/jpeg"]
    assert attachments[1]["url"].endswith("/Media/ME1")


@pytest.mark.parametrize("signature", [None, "AAAA", "wrong-token"])
def test_twilio_wrong_signature_is_refused_and_nothing_stored(setup: Any, signature: str | None) -> None:
    client, stores, token, _, _ = setup
    form = twilio_form()
    if signature == "wrong-token":
        signature = twilio_sign(PUBLIC + f"/webhooks/twilio/sms/{token}", form, "another-token")
    response = post_twilio(client, token, form, signature)
    assert response.status_code == 403, response.text
    assert response.json()["detail"][0]["field"] == "X-Twilio-Signature"
    assert stored(stores) == []


def test_twilio_signature_is_bound_to_the_workspace_url(setup: Any) -> None:
    client, stores, token, other_token, _ = setup
    form = twilio_form()
    signed_for_other = twilio_sign(PUBLIC + f"/webhooks/twilio/sms/{other_token}", form)
    assert post_twilio(client, token, form, signed_for_other).status_code == 403
    assert stored(stores) == []


def test_twilio_malformed_form_names_the_field(setup: Any) -> None:
    client, stores, token, _, _ = setup
    form = twilio_form()
    del form["From"]
    response = post_twilio(client, token, form)
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "From"
    form = twilio_form(media=1)
    form["NumMedia"] = "many"
    response = post_twilio(client, token, form)
    assert response.status_code == 400 and response.json()["detail"][0]["field"] == "NumMedia"
    assert stored(stores) == []


def test_unknown_token_and_oversized_body(setup: Any) -> None:
    client, stores, _, _, _ = setup
    assert post_twilio(client, "tlh_nobody", twilio_form()).status_code == 404
    assert post_twilio(client, "tlw_not-inbound", twilio_form()).status_code == 404
    _, _, token, _, _ = setup
    big = twilio_form(body="가" * 40_000)
    response = post_twilio(client, token, big)
    assert response.status_code == 413
    assert stored(stores) == []


def test_an_inbound_token_is_no_api_key(setup: Any) -> None:
    client, _, token, _, _ = setup
    assert client.get("/v1/conversations", headers=bearer(token)).status_code in (401, 403)


# --- WhatsApp ----------------------------------------------------------------------------------------


def wa_payload(messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234567890"}}
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "김민지"}, "wa_id": "821055550002"}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}


def wa_text(wamid: str = "wamid.HBgLODIxMDU1NTUwMDAyFQIAEhgUM0FBQ0E=", text: str = "배송 언제 오나요?"
            ) -> dict[str, Any]:
    return {"from": "821055550002", "id": wamid, "timestamp": "1764660000", "type": "text", "text": {"body": text}}


def post_wa(client: TestClient, token: str, payload: Any, secret: str | None = APP_SECRET, raw: bytes | None = None
            ) -> Any:
    body = raw if raw is not None else orjson.dumps(payload)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(f"/webhooks/whatsapp/{token}", content=body, headers=headers)


def test_whatsapp_subscription_verification(setup: Any) -> None:
    client, _, token, _, _ = setup
    ok = client.get(f"/webhooks/whatsapp/{token}",
                    params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = client.get(f"/webhooks/whatsapp/{token}",
                       params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_whatsapp_messages_once_with_media_links(setup: Any) -> None:
    client, stores, token, _, _ = setup
    image = {"from": "821055550002", "id": "wamid.IMG1", "timestamp": "1764660001", "type": "image",
             "image": {"caption": "이 상품이요", "mime_type": "image/jpeg", "sha256": "abc", "id": "1480093912650512"}}
    document = {"from": "821055550002", "id": "wamid.DOC1", "timestamp": "1764660002", "type": "document",
                "document": {"filename": "영수증.pdf", "mime_type": "application/pdf", "sha256": "def", "id": "987"}}
    payload = wa_payload([wa_text(), image, document])
    first = post_wa(client, token, payload)
    assert first.status_code == 200, first.text
    assert first.json()["received"] == 3
    again = post_wa(client, token, payload)
    assert again.status_code == 200 and again.json()["received"] == 0
    rows = sorted(stored(stores), key=lambda r: r["provider_message_id"])
    assert len(rows) == 3
    by_id = {r["provider_message_id"]: r for r in rows}
    img = by_id["wamid.IMG1"]
    attachments = img["attachments"] if isinstance(img["attachments"], list) else orjson.loads(img["attachments"])
    assert attachments[0]["url"].endswith("/1480093912650512") and img["body"] == "이 상품이요"
    doc = by_id["wamid.DOC1"]
    attachments = doc["attachments"] if isinstance(doc["attachments"], list) else orjson.loads(doc["attachments"])
    assert attachments[0]["name"] == "영수증.pdf"
    assert len({r["conversation_id"] for r in rows}) == 1


def test_whatsapp_status_updates_our_reply(setup: Any) -> None:
    client, stores, token, _, _ = setup
    assert post_wa(client, token, wa_payload([wa_text()])).status_code == 200
    (row,) = stored(stores)
    workspace_id = row["workspace_id"]
    reply = service.reply(stores, workspace_id, row["conversation_id"], "내일 도착합니다", author=Author("agent"))
    message_id = reply["message"]["id"] if "message" in reply else reply["id"]
    with stores.write() as conn:
        conn.execute(sa.update(conversation_messages).where(conversation_messages.c.id == message_id)
                     .values(provider_message_id="wamid.OUT1", delivery_status="sent"))
    status = {"id": "wamid.OUT1", "status": "read", "timestamp": "1764660100", "recipient_id": "821055550002"}
    response = post_wa(client, token, wa_payload(statuses=[status]))
    assert response.status_code == 200 and response.json()["statuses"] == 1
    with stores.read() as conn:
        assert conn.execute(sa.select(conversation_messages.c.delivery_status)
                            .where(conversation_messages.c.id == message_id)).scalar_one() == "read"


@pytest.mark.parametrize("secret", [None, "another-secret"])
def test_whatsapp_wrong_signature_refused(setup: Any, secret: str | None) -> None:
    client, stores, token, _, _ = setup
    response = post_wa(client, token, wa_payload([wa_text()]), secret=secret)
    assert response.status_code == 403
    assert stored(stores) == []


def test_whatsapp_malformed_names_the_field(setup: Any) -> None:
    client, stores, token, _, _ = setup
    broken = wa_payload([{"from": "821055550002", "type": "text", "text": {"body": "hi"}}])
    response = post_wa(client, token, broken)
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "entry.0.changes.0.value.messages.0.id"
    response = post_wa(client, token, None, raw=b"{not json")
    assert response.status_code == 400 and response.json()["detail"][0]["field"] == "(body)"
    response = post_wa(client, token, None, raw=b"{" + b" " * 70_000 + b"}")
    assert response.status_code == 413
    assert stored(stores) == []


def test_workspace_isolation(setup: Any) -> None:
    client, stores, token, other_token, other = setup
    assert post_wa(client, token, wa_payload([wa_text("wamid.A")])).status_code == 200
    assert post_wa(client, other_token, wa_payload([wa_text("wamid.A")])).status_code == 200
    mine = stored(stores)
    assert len(mine) == 2
    assert len(stored(stores, other)) == 1
    assert len({r["conversation_id"] for r in mine}) == 2
    assert len({r["profile_id"] for r in mine}) == 2


# --- Kakao i Open Builder ----------------------------------------------------------------------------


def skill(utterance: str = "환불 문의드려요", user: str = "d2b4c6e8a0f1", bot: str = BOT_ID) -> dict[str, Any]:
    return {"intent": {"id": "fallback", "name": "폴백 블록"},
            "userRequest": {"timezone": "Asia/Seoul", "params": {"ignoreMe": "true"},
                            "block": {"id": "fallback", "name": "폴백 블록"}, "utterance": utterance, "lang": "ko",
                            "user": {"id": user, "type": "botUserKey",
                                     "properties": {"botUserKey": user, "bot_user_key": user}}},
            "bot": {"id": bot, "name": "터치라인 상담"},
            "action": {"name": "touchline", "clientExtra": None, "params": {}, "id": "act1", "detailParams": {}}}


def post_skill(client: TestClient, token: str, payload: Any, secret: str | None = SKILL_SECRET,
               raw: bytes | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Touchline-Skill-Secret"] = secret
    return client.post(f"/webhooks/kakao/{token}", content=raw if raw is not None else orjson.dumps(payload),
                       headers=headers)


def test_kakao_skill_received_and_answered(setup: Any) -> None:
    client, stores, token, _, _ = setup
    raw = orjson.dumps(skill())
    response = post_skill(client, token, None, raw=raw)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["version"] == "2.0"
    assert answer["template"]["outputs"][0]["simpleText"]["text"]
    assert post_skill(client, token, None, raw=raw).status_code == 200  # the same request again
    (row,) = stored(stores)
    assert row["channel"] == "kakao" and row["body"] == "환불 문의드려요"


@pytest.mark.parametrize(("secret", "bot"), [(None, BOT_ID), ("wrong", BOT_ID), (SKILL_SECRET, "another-bot")])
def test_kakao_unverified_refused(setup: Any, secret: str | None, bot: str) -> None:
    client, stores, token, _, _ = setup
    response = post_skill(client, token, skill(bot=bot), secret=secret)
    assert response.status_code == 403
    assert stored(stores) == []


def test_kakao_malformed_names_the_field(setup: Any) -> None:
    client, stores, token, _, _ = setup
    payload = skill()
    del payload["userRequest"]["user"]["id"]
    response = post_skill(client, token, payload)
    assert response.status_code == 400 and response.json()["detail"][0]["field"] == "userRequest.user.id"
    assert stored(stores) == []
