"""The WhatsApp Cloud API webhook: the GET that proves the callback URL (``hub.mode``,
``hub.verify_token``, ``hub.challenge``), and the POSTs Meta signs with the app secret
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``), carrying
``entry[].changes[].value`` with ``messages[]`` (the customer's, ``contacts[].wa_id`` and the profile
name) and ``statuses[]`` (delivery reports of the messages we sent, by their ``wamid``). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.types import Attachment, CustomerIds, Inbound

__all__ = ["GRAPH_VERSION", "Parsed", "Status", "parse", "signature", "verify", "verify_subscription"]

GRAPH_VERSION = "v21.0"
# Media a customer sends arrive as an id; the Graph API's /{media-id} answers with its download URL
# (with the access token), so that is the link stored.
_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


@dataclass(frozen=True)
class Status:
    """A delivery report on a message we sent: its ``wamid``, and sent / delivered / read / failed."""

    provider_message_id: str
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class Parsed:
    messages: list[Inbound]
    statuses: list[Status]


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, body: bytes, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(signature(app_secret, body), (presented or "").strip().lower())


def verify_subscription(verify_token: str, mode: str | None, token: str | None) -> bool:
    return mode == "subscribe" and token is not None and hmac.compare_digest(verify_token, token)


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(field, "not an array")
    return value


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(field, "not an object")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Malformed(field, "missing or not a string")
    return value


def _message(m: dict[str, Any], at: str, names: dict[str, str], base_url: str) -> Inbound | None:
    wamid = _str(m.get("id"), f"{at}.id")
    sender = _str(m.get("from"), f"{at}.from")
    kind = _str(m.get("type"), f"{at}.type")
    body = ""
    attachments: list[Attachment] = []
    if kind == "text":
        body = _str(_obj(m.get("text"), f"{at}.text").get("body"), f"{at}.text.body")
    elif kind in _MEDIA_TYPES:
        media = _obj(m.get(kind), f"{at}.{kind}")
        media_id = _str(media.get("id"), f"{at}.{kind}.id")
        caption = media.get("caption")
        body = caption if isinstance(caption, str) else ""
        name = media.get("filename") if isinstance(media.get("filename"), str) else None
        mime = media.get("mime_type") if isinstance(media.get("mime_type"), str) else None
        attachments.append(Attachment(f"{base_url.rstrip('/')}/{GRAPH_VERSION}/{media_id}", mime, name))
    elif kind == "button":
        body = _str(_obj(m.get("button"), f"{at}.button").get("text"), f"{at}.button.text")
    elif kind == "interactive":
        reply = _obj(m.get("interactive"), f"{at}.interactive")
        chosen = reply.get("button_reply") or reply.get("list_reply")
        body = _str(_obj(chosen, f"{at}.interactive.button_reply").get("title"), f"{at}.interactive.title")
    else:
        return None  # reactions, locations, contacts, "unsupported": nothing an inbox shows yet
    traits = {"name": names[sender]} if names.get(sender) else {}
    return Inbound(channel="whatsapp", provider_message_id=wamid, customer=CustomerIds(whatsapp_id=sender),
                   body=body, attachments=tuple(attachments), traits=traits,
                   verified=True)  # the sender's WhatsApp id as Meta's signed webhook states it


def parse(payload: Any, *, base_url: str = "https://graph.facebook.com") -> Parsed:
    """Every message and status in one notification (Meta may batch several)."""
    root = _obj(payload, "(body)")
    if root.get("object") != "whatsapp_business_account":
        raise Malformed("object", "not 'whatsapp_business_account'")
    messages: list[Inbound] = []
    statuses: list[Status] = []
    for i, entry in enumerate(_list(root.get("entry"), "entry")):
        for j, change in enumerate(_list(_obj(entry, f"entry.{i}").get("changes"), f"entry.{i}.changes")):
            at = f"entry.{i}.changes.{j}.value"
            value = _obj(_obj(change, f"entry.{i}.changes.{j}").get("value"), at)
            names: dict[str, str] = {}
            for k, contact in enumerate(_list(value.get("contacts"), f"{at}.contacts")):
                contact = _obj(contact, f"{at}.contacts.{k}")
                profile = contact.get("profile")
                wa_id = contact.get("wa_id")
                if isinstance(wa_id, str) and isinstance(profile, dict) and isinstance(profile.get("name"), str):
                    names[wa_id] = profile["name"]
            for k, m in enumerate(_list(value.get("messages"), f"{at}.messages")):
                parsed = _message(_obj(m, f"{at}.messages.{k}"), f"{at}.messages.{k}", names, base_url)
                if parsed is not None:
                    messages.append(parsed)
            for k, s in enumerate(_list(value.get("statuses"), f"{at}.statuses")):
                s = _obj(s, f"{at}.statuses.{k}")
                wamid = _str(s.get("id"), f"{at}.statuses.{k}.id")
                status = _str(s.get("status"), f"{at}.statuses.{k}.status")
                if status not in _STATUSES:
                    continue  # "deleted", "warning": nothing to record
                reason = None
                errors = s.get("errors")
                if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                    first = errors[0]
                    reason = str(first.get("title") or first.get("message") or first.get("code") or "") or None
                statuses.append(Status(wamid, _STATUSES[status], reason))
    return Parsed(messages, statuses)
