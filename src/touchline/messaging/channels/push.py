"""Push notifications through Firebase Cloud Messaging's HTTP v1 API.

``POST {base_url}/v1/projects/{project_id}/messages:send`` with ``Authorization: Bearer <OAuth 2 access
token>`` and ``{"message": {"token": ..., "notification": {"title", "body"}, "data": {...}, ...}}``.
``200`` answers ``{"name": "projects/{project_id}/messages/{id}"}``; errors answer Google's error object
``{"error": {"code", "message", "status", "details": [{"@type": ".../google.firebase.fcm.v1.FcmError",
"errorCode": "UNREGISTERED"}]}}``.

The address is the customer's newest ``push_token`` identity (from ``context.device.token`` or a
``push_token`` trait at ingestion); one request per message, to that one device.

Access token, one of:

- ``TOUCHLINE_FCM_ACCESS_TOKEN``: a token the operator mints and rotates (Google's tokens live an
  hour; e.g. ``gcloud auth print-access-token`` on a schedule, or a sidecar);
- ``TOUCHLINE_FCM_SERVICE_ACCOUNT_FILE``: the service account's JSON key; the channel then mints its own
  tokens (an RS256-signed JWT exchanged at the key's ``token_uri``, OAuth 2 JWT bearer grant, scope
  ``firebase.messaging``) and renews them five minutes before they expire. This needs the
  ``cryptography`` package (``pip install 'touchline[push]'``).

Idempotency: FCM has no idempotency key. The message id goes where FCM lets a duplicate be recognised:
``data.touchline_message_id`` (the app can drop a notification it has shown already) and the APNs
``apns-collapse-id`` header (iOS replaces a shown notification that has the same id instead of showing a
second). Android's ``collapse_key`` is *not* used: Android keeps at most four collapse keys per device, so
one key per message would make FCM drop messages unpredictably. As for every channel, the outbox (one
row per key, content committed before sending) is what prevents double sends.

Korean advertising has ``(광고)`` in front of the title (정보통신망법 제50조 applies to app push too), added when
the outbox renders the message (``base.as_sent``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from touchline.messaging.channels._http import HttpAdapter, json_body, status_retryable, sub_object
from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped

__all__ = ["FCM_SCOPE", "FcmChannel", "FcmConfig", "ServiceAccountTokens", "fcm_payload"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_RETRYABLE_FCM_ERRORS = frozenset({"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"})
_APNS_COLLAPSE_ID_MAX = 64  # bytes


@dataclass(frozen=True)
class FcmConfig:
    project_id: str
    access_token: str | None = None  # a token minted elsewhere
    service_account_file: str | None = None  # or mint tokens from the service account's key
    base_url: str = "https://fcm.googleapis.com"
    android_channel_id: str | None = None  # the app's notification channel on Android 8+


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ServiceAccountTokens:
    """OAuth 2 access tokens for a Google service account (the JWT bearer grant, RFC 7523), cached
    until five minutes before they expire. Thread-safe."""

    def __init__(self, info: Mapping[str, Any], *, client: httpx.Client,
                 clock: Callable[[], float] = time.time, scope: str = FCM_SCOPE) -> None:
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("minting FCM tokens from a service account needs the 'cryptography' package "
                               "(pip install 'touchline[push]'), or set TOUCHLINE_FCM_ACCESS_TOKEN") from exc
        key = serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the service account's private_key is not an RSA key")
        self._sign: Callable[[bytes], bytes] = lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        self.email = str(info["client_email"])
        self.key_id = info.get("private_key_id")
        self.token_uri = str(info.get("token_uri") or "https://oauth2.googleapis.com/token")
        self.scope = scope
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    @classmethod
    def from_file(cls, path: str | Path, *, client: httpx.Client) -> ServiceAccountTokens:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")), client=client)

    def assertion(self, now: float) -> str:
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if self.key_id:
            header["kid"] = self.key_id
        claims = {"iss": self.email, "scope": self.scope, "aud": self.token_uri, "iat": int(now),
                  "exp": int(now) + 3600}
        signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
        return f"{signing_input}.{_b64url(self._sign(signing_input.encode()))}"

    def token(self) -> str:
        """A valid access token; raises ``httpx.HTTPError`` or ``ValueError`` when none can be had."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires_at - 300:
                return self._token
            response = self._client.post(self.token_uri, data={"grant_type": _JWT_BEARER,
                                                               "assertion": self.assertion(now)})
            body = json_body(response)
            if not response.is_success or not body.get("access_token"):
                raise ValueError(f"token endpoint {response.status_code}: "
                                 f"{body.get('error_description') or body.get('error') or response.reason_phrase}")
            self._token = str(body["access_token"])
            self._expires_at = now + float(body.get("expires_in") or 3600)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


def fcm_payload(message: OutboundMessage, config: FcmConfig) -> dict[str, Any] | None:
    """The ``messages:send`` body for ``message`` (None when it has nothing to show)."""
    content = message.content
    title = content.title or content.subject or ""
    body = content.body or content.text or ""
    if not (title.strip() or body.strip()):
        return None
    # FCM data values must be strings.
    data = {str(k): str(v) for k, v in message.data.items() if v is not None}
    data["touchline_message_id"] = message.idempotency_key
    if content.url:
        data["url"] = content.url
    notification = {"title": title, "body": body}
    out: dict[str, Any] = {"token": message.to, "notification": notification, "data": data}
    android: dict[str, Any] = {"priority": "HIGH" if message.kind == "transactional" else "NORMAL"}
    if config.android_channel_id:
        android["notification"] = {"channel_id": config.android_channel_id}
    out["android"] = android
    if len(message.idempotency_key.encode()) <= _APNS_COLLAPSE_ID_MAX:
        out["apns"] = {"headers": {"apns-collapse-id": message.idempotency_key}}
    if content.url and content.url.startswith("https://"):
        out["webpush"] = {"fcm_options": {"link": content.url}}
    return {"message": out}


class FcmChannel(HttpAdapter):
    name = "push"

    def __init__(self, config: FcmConfig, *, client: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None, tokens: ServiceAccountTokens | None = None) -> None:
        super().__init__(client, timeout)
        self.config = config
        if tokens is None and config.access_token is None:
            if not config.service_account_file:
                raise ValueError("FcmConfig needs access_token or service_account_file")
            tokens = ServiceAccountTokens.from_file(config.service_account_file, client=self._client)
        self._tokens = tokens

    @property
    def url(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/v1/projects/{self.config.project_id}/messages:send"

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        payload = fcm_payload(message, self.config)
        if payload is None:
            return Skipped("empty_body")
        if self._tokens is not None:
            try:
                bearer = self._tokens.token()
            except (httpx.HTTPError, ValueError) as exc:
                return Failed(f"fcm: no access token: {type(exc).__name__}: {exc}", retryable=True)
        else:
            bearer = str(self.config.access_token)
        return self._post(self.url, content=orjson.dumps(payload),
                          headers={"Authorization": f"Bearer {bearer}",
                                   "Content-Type": "application/json; charset=UTF-8"},
                          on_response=self._result)

    def _result(self, response: httpx.Response) -> SendResult:
        body = json_body(response)
        if response.is_success:
            name = body.get("name")
            if name:
                return Sent(str(name))
            return Failed("fcm: success without a message name", retryable=False)
        error = sub_object(body, "error")
        code = next((d.get("errorCode") for d in error.get("details") or []
                     if isinstance(d, Mapping) and d.get("errorCode")), None) or error.get("status")
        reason = f"fcm {response.status_code} {code or ''}: {error.get('message') or response.reason_phrase}"
        if response.status_code == 401 and self._tokens is not None:
            self._tokens.invalidate()  # expired or revoked: the retry mints a new one
            return Failed(reason, retryable=True)
        # UNREGISTERED (404) and INVALID_ARGUMENT (400): the token is dead or the message is wrong;
        # SENDER_ID_MISMATCH / THIRD_PARTY_AUTH_ERROR: configuration. None of these improves on retry.
        return Failed(reason, retryable=status_retryable(response.status_code) or code in _RETRYABLE_FCM_ERRORS)
