"""SMS through Twilio's Programmable Messaging API.

``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From`` (or
``MessagingServiceSid``), ``Body`` and optional ``StatusCallback``; HTTP Basic auth
``AccountSid:AuthToken``. ``201`` answers the Message resource (``sid``, ``status``...); errors answer
``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``.

Korean advertising arrives marked (``(광고)`` and the sender's name first, the free opt-out line last):
the outbox adds that when it renders the message (``base.as_sent``), so the delivery log shows it.

Idempotency: the key goes in ``I-Twilio-Idempotency-Token``. Twilio documents that header on the
webhooks it *sends*; whether the Messages API dedupes on it when *received* is not documented, so the
outbox (one row per key) remains the guarantee against double sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from touchline.messaging.channels._http import HttpAdapter, json_body, status_retryable
from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped

__all__ = ["TwilioConfig", "TwilioSmsChannel"]


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str | None = None  # E.164 or an alphanumeric sender id
    messaging_service_sid: str | None = None  # instead of from_number
    base_url: str = "https://api.twilio.com"
    status_callback: str | None = None


class TwilioSmsChannel(HttpAdapter):
    name = "sms"

    def __init__(self, config: TwilioConfig, *, client: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None) -> None:
        if not (config.from_number or config.messaging_service_sid):
            raise ValueError("TwilioConfig needs from_number or messaging_service_sid")
        super().__init__(client, timeout)
        self.config = config

    @property
    def url(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"

    def body_text(self, message: OutboundMessage) -> str | SendResult:
        text = message.content.text or message.content.body or ""
        if not text.strip():
            return Skipped("empty_body")
        return text

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        text = self.body_text(message)
        if not isinstance(text, str):
            return text
        form = {"To": message.to, "Body": text}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        if self.config.from_number:
            form["From"] = self.config.from_number
        if self.config.status_callback:
            form["StatusCallback"] = self.config.status_callback
        return self._post(
            self.url, data=form, auth=(self.config.account_sid, self.config.auth_token),
            headers={"I-Twilio-Idempotency-Token": message.idempotency_key, "Accept": "application/json"},
            on_response=self._result,
        )

    def _result(self, response: httpx.Response) -> SendResult:
        body = json_body(response)
        if response.status_code in (200, 201) and body.get("sid"):
            return Sent(str(body["sid"]))
        if response.is_success:
            return Failed(f"twilio: {response.status_code} without a message sid", retryable=False)
        code, text = body.get("code"), body.get("message") or response.reason_phrase
        reason = f"twilio {response.status_code}" + (f" error {code}" if code else "") + f": {text}"
        return Failed(reason, retryable=status_retryable(response.status_code))
