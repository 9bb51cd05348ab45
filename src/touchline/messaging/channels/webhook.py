"""Webhook channel: POST the message as JSON to a URL the shop controls, signed with HMAC-SHA256.

Headers: ``Idempotency-Key`` (the message id; receivers dedupe on it), ``X-Touchline-Timestamp`` (Unix
seconds) and ``X-Touchline-Signature: v1=<hex>`` where the hex is
``HMAC-SHA256(secret, f"{timestamp}.{raw body}")``. Signing the timestamp lets a receiver refuse
replays older than a tolerance; :func:`verify_signature` does both checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from touchline.messaging.channels._http import HttpAdapter, json_body, status_retryable
from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookChannel", "WebhookConfig", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Touchline-Signature"
TIMESTAMP_HEADER = "X-Touchline-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, timestamp: str, signature: str, *, now: dt.datetime,
                     tolerance: dt.timedelta = dt.timedelta(minutes=5)) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str
    headers: tuple[tuple[str, str], ...] = ()  # extra static headers


class WebhookChannel(HttpAdapter):
    name = "webhook"

    def __init__(self, config: WebhookConfig, *, client: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        super().__init__(client, timeout)
        self.config = config
        self._clock = clock

    @staticmethod
    def payload(message: OutboundMessage) -> dict[str, Any]:
        return {
            "id": message.idempotency_key,
            "channel": message.channel,
            "kind": message.kind,
            "to": message.to,
            "profile_id": message.profile_id,
            "content": message.content.as_dict(),
            "data": dict(message.data),
        }

    def send(self, message: OutboundMessage) -> SendResult:
        url = self.config.url  # ``message.to`` (the customer's address) travels in the payload
        if not url:
            return Skipped("no_address")
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":"), default=str).encode()
        timestamp = int(self._clock().timestamp())
        headers = {
            **dict(self.config.headers),
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.config.secret, timestamp, body),
        }
        return self._post(url, content=body, headers=headers,
                          on_response=lambda r: self._result(r, message.idempotency_key))

    @staticmethod
    def _result(response: httpx.Response, key: str) -> SendResult:
        if response.is_success:
            body = json_body(response)
            return Sent(str(body.get("id") or key))
        return Failed(f"webhook {response.status_code}: {response.text[:200]}",
                      retryable=status_retryable(response.status_code))
