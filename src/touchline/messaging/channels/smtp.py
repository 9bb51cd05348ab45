"""E-mail over SMTP with the standard library.

Connections are reused: the channel keeps one open SMTP session and sends message after message over
it (one MAIL/RCPT/DATA transaction each, so still one message per idempotency key), until the outbox
ends its dispatch batch (``end_batch``), ``max_messages_per_connection`` messages went over it, or it was
idle for ``idle_seconds`` (servers drop idle sessions). A reused session that the server has closed
meanwhile is reopened and the message sent once over the fresh one; that retry happens only when the
server's failure came before it accepted the message (a dropped connection or a 421 answer), so it
adds no duplicate beyond the gap described in ``messaging.outbox``. The message is
``multipart/alternative`` (text, then HTML; the text derived from the HTML when the template has none)
with:

- ``Message-ID: <{uuid5(key)}@{domain}>``: deterministic, so a retry after a lost answer carries the
  same id and receivers/threading can recognise the duplicate (SMTP itself has no idempotency);
  ``X-Touchline-Message-Id`` carries the raw key for bounce and receipt matching.
- ``List-Unsubscribe: <mailto:...>, <https://...>`` and, with an https URL,
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058; required by Gmail and Yahoo for bulk
  senders).
- Korean advertising: ``(광고)`` in front of the subject (정보통신망법 제50조), added when the outbox renders
  the message (``base.as_sent``): the subject arrives marked.

Errors: 4xx replies and connection problems are ``Failed(retryable=True)``; 5xx replies (recipient or
sender refused, message rejected) are ``Failed(retryable=False)``.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

from touchline.ids import uuid5_hex
from touchline.messaging.channels.base import Failed, OutboundMessage, SendResult, Sent, Skipped
from touchline.messaging.templates import html_to_text

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
    # Without a name smtplib asks the resolver for this host's FQDN on every connection, which can take
    # seconds; "localhost" is what smtplib itself falls back to.
    local_hostname: str | None = "localhost"
    max_messages_per_connection: int = 500
    idle_seconds: float = 30.0


def message_id_for(idempotency_key: str, domain: str) -> str:
    return f"<{uuid5_hex(_NAMESPACE, idempotency_key)}@{domain}>"


def build_email(message: OutboundMessage, config: SmtpConfig, *, now: dt.datetime | None = None) -> EmailMessage:
    """The MIME message for ``message``; pure, so it can be previewed and tested without a server."""
    content = message.content
    email = EmailMessage()
    email["Subject"] = content.subject or ""
    email["From"] = formataddr((config.from_name, config.from_address)) if config.from_name else config.from_address
    email["To"] = message.to
    if config.reply_to:
        email["Reply-To"] = config.reply_to
    domain = config.message_id_domain or config.from_address.rsplit("@", 1)[-1]
    email["Message-ID"] = message_id_for(message.idempotency_key, domain)
    email["X-Touchline-Message-Id"] = message.idempotency_key
    # A reply in a conversation names the mail it answers, so the customer's client threads it.
    headers = message.data.get("headers")
    headers = headers if isinstance(headers, Mapping) else {}
    for name in ("In-Reply-To", "References"):
        value = headers.get(name)
        if isinstance(value, str) and value.strip() and "\r" not in value and "\n" not in value:
            email[name] = value.strip()
    if now is not None:
        email["Date"] = format_datetime(now)
    unsubscribe = [f"<{u}>" for u in (message.unsubscribe_mailto, message.unsubscribe_url) if u]
    if unsubscribe:
        email["List-Unsubscribe"] = ", ".join(unsubscribe)
    if message.unsubscribe_url and message.unsubscribe_url.startswith("https://"):
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # An HTML-only message is stored without its text part (the outbox skips deriving it when it
    # renders); the alternative is derived here, from the committed HTML, the same way every time.
    text = content.text or (html_to_text(content.html) if content.html else "")
    email.set_content(text, subtype="plain", charset="utf-8")
    if content.html:
        email.add_alternative(content.html, subtype="html", charset="utf-8")
    return email


def _reply_failure(code: int, text: bytes | str, what: str) -> Failed:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return Failed(f"smtp {what} {code}: {text}", retryable=400 <= code < 500)


class _StaleSession(Exception):
    """A reused session failed before the server took the message: send again over a new one."""


class SmtpChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, *, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.config = config
        self._ssl_context = ssl_context
        self._clock = clock
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._last_used = 0.0
        self.connections_opened = 0  # for figures and tests

    def _context(self) -> ssl.SSLContext:
        # Built once: loading the system's CA bundle costs a quarter of a second here.
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, local_hostname=cfg.local_hostname,
                                                  timeout=cfg.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout)
        try:
            smtp.ehlo()
            if cfg.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
        except BaseException:
            smtp.close()
            raise
        self.connections_opened += 1
        return smtp

    def _session(self) -> tuple[smtplib.SMTP, bool]:
        """The open session (and True: it is reused), or a new one."""
        now = time.monotonic()
        if self._smtp is not None and (self._sent_on_connection >= self.config.max_messages_per_connection
                                       or now - self._last_used > self.config.idle_seconds):
            self._drop(quit=True)
        if self._smtp is not None:
            return self._smtp, True
        self._smtp = self._connect()
        self._sent_on_connection = 0
        return self._smtp, False

    def _drop(self, *, quit: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if quit:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    def end_batch(self) -> None:
        """The outbox finished a dispatch batch: say QUIT and close the session."""
        with self._lock:
            self._drop(quit=True)

    close = end_batch

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        if not (message.content.text or message.content.html):
            return Skipped("empty_body")
        try:
            email = build_email(message, self.config, now=self._clock())
        except ValueError as exc:  # e.g. a malformed address or header
            return Failed(f"smtp: cannot build message: {exc}", retryable=False)
        with self._lock:
            try:
                return self._send_once(email, message)
            except _StaleSession:
                return self._send_once(email, message, reused_ok=False)

    def _send_once(self, email: EmailMessage, message: OutboundMessage, *, reused_ok: bool = True) -> SendResult:
        try:
            smtp, reused = self._session()
        except smtplib.SMTPNotSupportedError as exc:
            return Failed(f"smtp: {exc}", retryable=False)
        except smtplib.SMTPResponseException as exc:  # greeting, STARTTLS or AUTH refused
            return _reply_failure(exc.smtp_code, exc.smtp_error, "connect")
        except (smtplib.SMTPException, OSError) as exc:
            return Failed(f"smtp: connection failed: {type(exc).__name__}: {exc}", retryable=True)
        reused = reused and reused_ok
        try:
            refused = smtp.send_message(email, from_addr=self.config.from_address, to_addrs=[message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._after_refusal(smtp, code)
            return _reply_failure(code, text, "recipient refused")
        except smtplib.SMTPSenderRefused as exc:
            self._after_refusal(smtp, exc.smtp_code)
            if reused and exc.smtp_code == 421:
                raise _StaleSession from exc
            return _reply_failure(exc.smtp_code, exc.smtp_error, "sender refused")
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and friends
            self._after_refusal(smtp, exc.smtp_code)
            return _reply_failure(exc.smtp_code, exc.smtp_error, "refused")
        except smtplib.SMTPServerDisconnected as exc:
            self._drop(quit=False)
            # smtplib learns that the server hung up when it sends MAIL FROM on a session the server
            # closed while idle; nothing of this message was accepted.
            if reused:
                raise _StaleSession from exc
            return Failed(f"smtp: {type(exc).__name__}: {exc}", retryable=True)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop(quit=False)
            return Failed(f"smtp: {type(exc).__name__}: {exc}", retryable=True)
        self._sent_on_connection += 1
        self._last_used = time.monotonic()
        if refused:
            code, text = next(iter(refused.values()))
            return _reply_failure(code, text, "recipient refused")
        return Sent(email["Message-ID"])

    def _after_refusal(self, smtp: smtplib.SMTP, code: int) -> None:
        """After a refused transaction the session stays usable (smtplib sent RSET), unless the server
        said it is closing (421)."""
        self._last_used = time.monotonic()
        if code == 421 or smtp.sock is None:
            self._drop(quit=False)
