"""Signed survey and review links (pure: no I/O; ``now`` is an argument).

A link is ``{public_url}/s/{token}`` (a survey) or ``/r/{token}`` (a review). The token carries what the
answer page needs, so nothing is stored when a message is rendered: ``base64url(payload) . base64url(mac)``
where the payload is compact JSON (workspace, customer, survey or product, the message that carried it,
the customer's language, the expiry) and the MAC is HMAC-SHA256 over the encoded payload with the
workspace's secret. The workspace id is read from the payload *before* the MAC is checked (to find the
secret); nothing else is trusted until :func:`verify` accepted it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = ["LinkClaims", "LinkRefused", "answer_id", "sign", "unverified_workspace", "verify"]

LinkKind = Literal["survey", "review"]
_KIND_CODE = {"survey": "s", "review": "r"}
_CODE_KIND: dict[str, LinkKind] = {"s": "survey", "r": "review"}
MAX_TOKEN = 1024


class LinkRefused(ValueError):
    """The token is malformed, tampered with, or expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    kind: LinkKind
    workspace_id: str
    profile_id: str
    expires_at: dt.datetime
    survey: str | None = None  # surveys: the survey's name
    survey_kind: str | None = None  # "nps" | "csat"
    product_id: str | None = None  # reviews
    order_id: str | None = None
    message_id: str | None = None  # the message that carried the link
    channel: str | None = None
    language: str | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": _KIND_CODE[self.kind], "w": self.workspace_id, "p": self.profile_id,
                               "e": int(self.expires_at.timestamp())}
        for code, value in (("s", self.survey), ("t", self.survey_kind), ("i", self.product_id),
                            ("o", self.order_id), ("m", self.message_id), ("c", self.channel),
                            ("l", self.language)):
            if value is not None:
                out[code] = value
        return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, encoded: str) -> str:
    return _b64(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest())


def sign(claims: LinkClaims, secret: str) -> str:
    encoded = _b64(orjson.dumps(claims.payload()))
    return f"{encoded}.{_mac(secret, encoded)}"


def _payload(token: str) -> tuple[str, str, dict[str, Any]]:
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise LinkRefused("malformed")
    encoded, mac = token.split(".")
    try:
        payload = orjson.loads(_unb64(encoded))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise LinkRefused("malformed") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("w"), str):
        raise LinkRefused("malformed")
    return encoded, mac, payload


def unverified_workspace(token: str) -> str:
    """The workspace the token names, to find its secret (not trusted before :func:`verify`)."""
    return str(_payload(token)[2]["w"])


def verify(token: str, secret: str, now: dt.datetime) -> LinkClaims:
    """The token's claims if its MAC matches the secret and it has not expired; else :class:`LinkRefused`
    (``tampered``, ``expired``, ``malformed``)."""
    encoded, mac, payload = _payload(token)
    if not hmac.compare_digest(_mac(secret, encoded), mac):
        raise LinkRefused("tampered")
    kind = _CODE_KIND.get(str(payload.get("k")))
    expires = payload.get("e")
    if kind is None or not isinstance(payload.get("p"), str) or not isinstance(expires, int):
        raise LinkRefused("malformed")
    expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
    if now >= expires_at:
        raise LinkRefused("expired")

    def text(code: str) -> str | None:
        value = payload.get(code)
        return value if isinstance(value, str) else None

    return LinkClaims(kind=kind, workspace_id=payload["w"], profile_id=payload["p"], expires_at=expires_at,
                      survey=text("s"), survey_kind=text("t"), product_id=text("i"), order_id=text("o"),
                      message_id=text("m"), channel=text("c"), language=text("l"))


def answer_id(workspace_id: str, *parts: str | None) -> str:
    """A deterministic id (the same link, or the same customer/order/product, gives the same id: a retry
    stores one answer)."""
    digest = hashlib.sha256("\x1f".join([workspace_id, *(p or "" for p in parts)]).encode()).hexdigest()
    return digest[:32]
