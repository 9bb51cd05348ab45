"""Messenger channels: KakaoTalk AlimTalk through NHN Cloud, and the WhatsApp Cloud API.

NHN Cloud KakaoTalk Bizmessage, AlimTalk API v2.3 ("send replacement message request"):
``POST {base_url}/alimtalk/v2.3/appkeys/{appkey}/messages``, ``Content-Type:
application/json;charset=UTF-8``, header ``X-Secret-Key`` and optionally ``X-NC-API-IDEMPOTENCY-KEY``
(the provider refuses a repeat of the same key within 10 minutes). Body ``{"senderKey", "templateCode",
"recipientList": [{"recipientNo", "templateParameter": {key: value}, "recipientGroupingKey"}]}``.
Answer ``{"header": {"resultCode", "resultMessage", "isSuccessful"}, "message": {"requestId",
"sendResults": [{"recipientSeq", "recipientNo", "resultCode", "resultMessage", ...}]}}``.
AlimTalk only carries informational messages on a template Kakao approved beforehand: an advertising
message is skipped (advertising goes through FriendTalk / brand messages, not built here).

WhatsApp Cloud API: ``POST {base_url}/{version}/{phone_number_id}/messages`` with ``Authorization:
Bearer``; JSON ``{"messaging_product": "whatsapp", "recipient_type": "individual", "to", "type":
"template" | "text", ...}``; answer ``{"messages": [{"id": "wamid..."}]}``, errors ``{"error":
{"message", "type", "code", "error_subcode", "fbtrace_id"}}``. The API has no idempotency header; the
key travels in ``biz_opaque_callback_data`` and comes back in status webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from touchline.messaging.channels._http import HttpAdapter, json_body, status_retryable, sub_object
from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped

__all__ = ["NhnAlimTalkChannel", "NhnAlimTalkConfig", "WhatsAppCloudChannel", "WhatsAppConfig", "kr_national_number"]


def kr_national_number(phone: str) -> str:
    """``+821012345678`` -> ``01012345678`` (the form NHN's examples use); other numbers keep their
    digits (country code included, no ``+``)."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+82") or (digits.startswith("82") and len(digits) >= 11):
        return "0" + digits[2:]
    return digits


@dataclass(frozen=True)
class NhnAlimTalkConfig:
    app_key: str
    secret_key: str
    sender_key: str
    base_url: str = "https://api-alimtalk.cloud.toast.com"
    resend_send_no: str | None = None  # SMS fallback sender number registered at NHN's SMS service


class NhnAlimTalkChannel(HttpAdapter):
    name = "messenger"

    def __init__(self, config: NhnAlimTalkConfig, *, client: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None) -> None:
        super().__init__(client, timeout)
        self.config = config

    @property
    def url(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/alimtalk/v2.3/appkeys/{self.config.app_key}/messages"

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        if message.advertising:
            return Skipped("alimtalk_informational_only")
        if not message.content.template_code:
            return Skipped("no_provider_template")
        recipient: dict[str, Any] = {
            "recipientNo": kr_national_number(message.to),
            "templateParameter": dict(message.content.params),
            "recipientGroupingKey": message.idempotency_key[:100],
        }
        if self.config.resend_send_no:
            recipient["resendParameter"] = {"isResend": True, "resendSendNo": self.config.resend_send_no}
        payload = {
            "senderKey": self.config.sender_key,
            "templateCode": message.content.template_code,
            "recipientList": [recipient],
        }
        headers = {
            "X-Secret-Key": self.config.secret_key,
            "X-NC-API-IDEMPOTENCY-KEY": message.idempotency_key,
            "Content-Type": "application/json;charset=UTF-8",
        }
        return self._post(self.url, json=payload, headers=headers, on_response=self._result)

    def _result(self, response: httpx.Response) -> SendResult:
        body = json_body(response)
        header = sub_object(body, "header")
        if not response.is_success:
            reason = f"nhn {response.status_code}: {header.get('resultMessage') or response.reason_phrase}"
            return Failed(reason, retryable=status_retryable(response.status_code))
        if not header.get("isSuccessful"):
            # Request-level refusal (bad key, unknown template, ...): sending again will not help.
            return Failed(f"nhn {header.get('resultCode')}: {header.get('resultMessage')}", retryable=False)
        msg = sub_object(body, "message")
        results = msg.get("sendResults") or []
        first: Mapping[str, Any] = results[0] if results and isinstance(results[0], Mapping) else {}
        if first and first.get("resultCode") not in (0, "0"):
            return Failed(f"nhn recipient {first.get('resultCode')}: {first.get('resultMessage')}", retryable=False)
        request_id = msg.get("requestId")
        if not request_id:
            return Failed("nhn: success without a requestId", retryable=False)
        seq = first.get("recipientSeq")
        return Sent(f"{request_id}:{seq}" if seq is not None else str(request_id))


# --- WhatsApp ------------------------------------------------------------------------------------

# Graph API error codes that mean "later": throttling, rate limits, temporary unavailability.
_WA_RETRYABLE_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056, 133004})


@dataclass(frozen=True)
class WhatsAppConfig:
    phone_number_id: str
    access_token: str
    base_url: str = "https://graph.facebook.com"
    api_version: str = "v20.0"
    default_language: str = "ko"  # template language code when the content has no locale


class WhatsAppCloudChannel(HttpAdapter):
    name = "messenger"

    def __init__(self, config: WhatsAppConfig, *, client: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None) -> None:
        super().__init__(client, timeout)
        self.config = config

    @property
    def url(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/{self.config.api_version}/{self.config.phone_number_id}/messages"

    def payload(self, message: OutboundMessage) -> dict[str, Any] | None:
        content = message.content
        base: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": re.sub(r"\D", "", message.to),
            "biz_opaque_callback_data": message.idempotency_key[:512],
        }
        if content.template_code:
            params = dict(content.params)
            if params and all(k.isdigit() for k in params):  # positional {{1}}, {{2}}
                parameters = [{"type": "text", "text": params[k]} for k in sorted(params, key=int)]
            else:  # named parameters
                parameters = [{"type": "text", "parameter_name": k, "text": v} for k, v in params.items()]
            template: dict[str, Any] = {"name": content.template_code,
                                        "language": {"code": content.locale or self.config.default_language}}
            if parameters:
                template["components"] = [{"type": "body", "parameters": parameters}]
            return {**base, "type": "template", "template": template}
        text = content.text or content.body
        if not text:
            return None
        # Free-form text only reaches a customer inside the 24-hour customer service window.
        return {**base, "type": "text", "text": {"preview_url": False, "body": text}}

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        payload = self.payload(message)
        if payload is None:
            return Skipped("empty_body")
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        return self._post(self.url, json=payload, headers=headers, on_response=self._result)

    def _result(self, response: httpx.Response) -> SendResult:
        body = json_body(response)
        if response.is_success:
            messages = body.get("messages") or []
            if messages and isinstance(messages[0], Mapping) and messages[0].get("id"):
                return Sent(str(messages[0]["id"]))
            return Failed("whatsapp: success without a message id", retryable=False)
        error = sub_object(body, "error")
        code = error.get("code")
        reason = f"whatsapp {response.status_code} error {code}: {error.get('message') or response.reason_phrase}"
        return Failed(reason, retryable=status_retryable(response.status_code) or code in _WA_RETRYABLE_CODES)
