"""Twilio's inbound message webhook (SMS and MMS): the form Twilio POSTs, and ``X-Twilio-Signature``.

Twilio signs each request with the account's auth token: base64 of HMAC-SHA1 over the full URL it
called followed by every POST parameter, sorted by name, each name immediately followed by its value.
Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.types import Attachment, CustomerIds, Inbound

__all__ = ["TWIML_EMPTY", "parse", "signature", "verify"]

# The answer Twilio expects: TwiML, here with nothing to say back (an agent answers later).
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_MAX_MEDIA = 10  # Twilio carries at most 10 media per MMS


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` of a POST to ``url`` with ``params``."""
    data = url + "".join(k + v for k, v in sorted(params, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(auth_token: str, url: str, params: Iterable[tuple[str, str]], presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(signature(auth_token, url, params), presented or "")


def _one(form: dict[str, list[str]], name: str, *, required: bool = True) -> str | None:
    values = form.get(name)
    if not values or not values[0].strip():
        if required:
            raise Malformed(name, "missing")
        return None
    return values[0]


def parse(params: Iterable[tuple[str, str]]) -> Inbound:
    """The message in Twilio's form: ``MessageSid`` (the de-duplication id), ``From`` (the customer's
    number, E.164), ``Body``, ``NumMedia`` and ``MediaUrl{N}``/``MediaContentType{N}`` (links to the media
    Twilio hosts)."""
    form: dict[str, list[str]] = {}
    for k, v in params:
        form.setdefault(k, []).append(v)
    sid = _one(form, "MessageSid")
    sender = _one(form, "From")
    assert sid is not None and sender is not None
    raw_count = _one(form, "NumMedia", required=False) or "0"
    if not raw_count.isdigit() or int(raw_count) > _MAX_MEDIA:
        raise Malformed("NumMedia", f"a number from 0 to {_MAX_MEDIA}")
    attachments = []
    for n in range(int(raw_count)):
        url = _one(form, f"MediaUrl{n}")
        assert url is not None
        if not url.startswith("https://"):
            raise Malformed(f"MediaUrl{n}", "not an https URL")
        attachments.append(Attachment(url, _one(form, f"MediaContentType{n}", required=False)))
    return Inbound(channel="sms", provider_message_id=sid, customer=CustomerIds(phone=sender),
                   body=(form.get("Body") or [""])[0], attachments=tuple(attachments),
                   verified=True)  # the sender's number as Twilio's signed request states it
