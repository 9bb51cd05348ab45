"""The inbound channels' pure parsers and verifiers, without a store: Twilio's documented signature
example, WhatsApp's signature and payload shapes, the Kakao skill request and response."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from touchline.conversations.inbound import kakao, twilio, whatsapp
from touchline.conversations.inbound.errors import Malformed


def test_twilio_signature_matches_twilios_documented_example() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.verify("12345", url, params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not twilio.verify("12345", url, params.items(), None)
    assert not twilio.verify("12345", url + "&x=1", params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_twilio_parse_refuses_media_urls_that_are_not_https() -> None:
    form = [("MessageSid", "MM1"), ("From", "+821055550001"), ("NumMedia", "1"), ("MediaUrl0", "javascript:x")]
    with pytest.raises(Malformed) as caught:
        twilio.parse(form)
    assert caught.value.field == "MediaUrl0"


def test_whatsapp_signature_and_subscription() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert whatsapp.verify("secret", body, header)
    assert whatsapp.verify("secret", body, header.upper().replace("SHA256=", "sha256="))
    assert not whatsapp.verify("secret", body + b" ", header)
    assert not whatsapp.verify("secret", body, None)
    assert whatsapp.verify_subscription("tok", "subscribe", "tok")
    assert not whatsapp.verify_subscription("tok", "unsubscribe", "tok")


def test_whatsapp_parse_skips_what_an_inbox_does_not_show_and_names_bad_fields() -> None:
    value = {"messages": [{"from": "82101", "id": "wamid.R", "type": "reaction",
                           "reaction": {"message_id": "wamid.X", "emoji": "👍"}}],
             "statuses": [{"id": "wamid.S", "status": "failed", "errors": [{"code": 131047, "title": "Re-engagement"}]},
                          {"id": "wamid.D", "status": "deleted"}]}
    parsed = whatsapp.parse({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]})
    assert parsed.messages == []
    assert parsed.statuses == [whatsapp.Status("wamid.S", "failed", "Re-engagement")]
    with pytest.raises(Malformed) as caught:
        whatsapp.parse({"object": "page"})
    assert caught.value.field == "object"
    with pytest.raises(Malformed) as caught:
        whatsapp.parse({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]})
    assert caught.value.field == "entry.0.changes"


def test_kakao_skill_request_and_response() -> None:
    payload = {"userRequest": {"utterance": "안녕하세요", "lang": "ko", "user": {"id": "u1", "type": "botUserKey"}},
               "bot": {"id": "b1"}}
    inbound = kakao.parse(payload, b"raw-1")
    assert inbound.customer.kakao_id == "u1" and inbound.body == "안녕하세요" and inbound.language == "ko"
    assert inbound.provider_message_id == kakao.parse(payload, b"raw-1").provider_message_id
    assert inbound.provider_message_id != kakao.parse(payload, b"raw-2").provider_message_id
    assert kakao.bot_matches(payload, "b1") and not kakao.bot_matches(payload, "b2")
    assert kakao.answer("가" * 2000)["template"]["outputs"][0]["simpleText"]["text"] == "가" * 1000
    with pytest.raises(Malformed) as caught:
        kakao.parse({"userRequest": {"user": {"id": "u1"}, "utterance": " "}}, b"")
    assert caught.value.field == "userRequest.utterance"
