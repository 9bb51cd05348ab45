"""E-mail over SMTP with the standard library.

One connection per ``send`` (simple and robust; a pooled sender can come later). The message is
``multipart/alternative`` (text, then HTML) with:

- ``Message-ID: <{uuid5(key)}@{domain}>``: deterministic, so a retry after a lost answer carries the
  same id and receivers/threading can recognise the duplicate (SMTP itself has no idempotency);
  ``X-Touchline-Message-Id`` carries the raw key for bounce and receipt matching.
- ``List-Unsubscribe: <mailto:...>, <https://...>`` and, with an https URL,
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058; required by Gmail and Yahoo for bulk
  senders).
- Korean advertising: ``(광고)`` in front of the subject (정보통신망법 제50조).

Errors: 4xx replies and connection problems are ``Failed(retryable=True)``; 5xx replies (recipient or
sender refused, message rejected) are ``Failed(retryable=False)``.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped, korean_ad_subject

__all__ = ["SmtpChannel", "SmtpConfig", "build_email", "message_id_for"]

_NAMESPACE = uuid.UUID("6f1d3c1e-6a43-4c38-9a8e-2b6f6f0d7c11")  # Touchline message ids


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    from_address: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    message_id_domain: str | None = None  # defaults to the From address's domain
    timeout: float = 15.0
    local_hostname: str | None = None


def message_id_for(idempotency_key: str, domain: str) -> str:
    return f"<{uuid.uuid5(_NAMESPACE, idempotency_key).hex}@{domain}>"


def build_email(message: OutboundMessage, config: SmtpConfig, *, now: dt.datetime | None = None) -> EmailMessage:
    """The MIME message for ``message``; pure, so it can be previewed and tested without a server."""
    content = message.content
    subject = content.subject or ""
    if message.korean_advertising:
        subject = korean_ad_subject(subject)
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = formataddr((config.from_name, config.from_address)) if config.from_name else config.from_address
    email["To"] = message.to
    if config.reply_to:
        email["Reply-To"] = config.reply_to
    domain = config.message_id_domain or config.from_address.rsplit("@", 1)[-1]
    email["Message-ID"] = message_id_for(message.idempotency_key, domain)
    email["X-Touchline-Message-Id"] = message.idempotency_key
    if now is not None:
        email["Date"] = format_datetime(now)
    unsubscribe = [f"<{u}>" for u in (message.unsubscribe_mailto, message.unsubscribe_url) if u]
    if unsubscribe:
        email["List-Unsubscribe"] = ", ".join(unsubscribe)
    if message.unsubscribe_url and message.unsubscribe_url.startswith("https://"):
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = content.text or ""
    email.set_content(text, subtype="plain", charset="utf-8")
    if content.html:
        email.add_alternative(content.html, subtype="html", charset="utf-8")
    return email


def _reply_failure(code: int, text: bytes | str, what: str) -> Failed:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return Failed(f"smtp {what} {code}: {text}", retryable=400 <= code < 500)


class SmtpChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, *, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.config = config
        self._ssl_context = ssl_context
        self._clock = clock

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = self._ssl_context or ssl.create_default_context()
        if cfg.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, local_hostname=cfg.local_hostname,
                                                  timeout=cfg.timeout, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout)
        try:
            smtp.ehlo()
            if cfg.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        if not (message.content.text or message.content.html):
            return Skipped("empty_body")
        try:
            email = build_email(message, self.config, now=self._clock())
        except ValueError as exc:  # e.g. a malformed address or header
            return Failed(f"smtp: cannot build message: {exc}", retryable=False)
        try:
            smtp = self._connect()
        except smtplib.SMTPNotSupportedError as exc:
            return Failed(f"smtp: {exc}", retryable=False)
        except smtplib.SMTPResponseException as exc:  # greeting, STARTTLS or AUTH refused
            return _reply_failure(exc.smtp_code, exc.smtp_error, "connect")
        except (smtplib.SMTPException, OSError) as exc:
            return Failed(f"smtp: connection failed: {type(exc).__name__}: {exc}", retryable=True)
        try:
            with smtp:
                refused = smtp.send_message(email, from_addr=self.config.from_address, to_addrs=[message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _reply_failure(code, text, "recipient refused")
        except smtplib.SMTPSenderRefused as exc:
            return _reply_failure(exc.smtp_code, exc.smtp_error, "sender refused")
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and friends
            return _reply_failure(exc.smtp_code, exc.smtp_error, "refused")
        except (smtplib.SMTPException, OSError) as exc:
            return Failed(f"smtp: {type(exc).__name__}: {exc}", retryable=True)
        if refused:
            code, text = next(iter(refused.values()))
            return _reply_failure(code, text, "recipient refused")
        return Sent(email["Message-ID"])
