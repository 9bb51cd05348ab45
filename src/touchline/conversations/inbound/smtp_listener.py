"""Receiving e-mail replies for real: an SMTP listener (aiosmtpd) that hands each mail to
:func:`touchline.conversations.service.receive` through the inbound writer (group commit, as the webhooks).

Which workspace a mail is for comes from its envelope recipient (RCPT TO): ``anything+<inbound
token>@your-domain`` names the workspace of that ``inbound`` key; the address in
``TOUCHLINE_SMTP_FROM`` (where customers' replies to Touchline's mail go) is the ``default`` workspace.
Any other recipient is refused at RCPT (550), so the listener relays nothing and accepts nothing it
cannot place. A mail the parser cannot read is refused with 554 (nothing stored); one the store cannot
take now gets 451, and the sending MTA retries; a mail delivered twice (same Message-ID) is one message.
Started by ``touchline serve`` when ``TOUCHLINE_INBOUND_SMTP_PORT`` is set (put it behind your MX, or
forward to it: it does no TLS and no sender authentication of its own).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from touchline.conversations.inbound import email
from touchline.conversations.inbound.errors import Malformed
from touchline.conversations.writer import inbound_writer
from touchline.errors import StoreUnavailable, TouchlineError
from touchline.workspaces.service import KeyResolver, workspace_id_by_name

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["InboundSMTP", "Receiver"]

log = logging.getLogger("touchline.conversations.inbound")


class Receiver:
    """aiosmtpd's handler: recipients to workspaces at RCPT, the mail to the service at DATA."""

    def __init__(self, stores: Stores, keys: KeyResolver, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._stores = stores
        self._keys = keys
        self._clock = clock  # None: the wall clock (touchline demo's is simulated)

    def workspace_of(self, address: str) -> str | None:
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if not local or not domain:
            return None
        if "+" in local:
            token = local.rpartition("+")[2]
            principal = self._keys.resolve(token) if token.startswith("tlh_") else None
            return principal.workspace_id if principal is not None and principal.kind == "inbound" else None
        if address.strip().strip("<>").casefold() == self._stores.settings.smtp_from.casefold():
            with self._stores.read() as conn:
                return workspace_id_by_name(conn, "default")
        return None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        loop = asyncio.get_running_loop()
        workspace_id = await loop.run_in_executor(None, self.workspace_of, address)
        if workspace_id is None:
            return "550 5.1.1 no such mailbox here"
        workspaces: list[str] = envelope.__dict__.setdefault("touchline_workspaces", [])
        if workspace_id not in workspaces:
            workspaces.append(workspace_id)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        if len(raw) > self._stores.settings.inbound_max_bytes * 25:  # mail carries files: room for them
            return "552 5.3.4 message too big"
        try:
            inbound, _dropped = email.parse(raw)
        except Malformed as exc:
            return f"554 5.6.0 malformed message: {exc.field}: {exc.reason}"
        for workspace_id in envelope.__dict__.get("touchline_workspaces", []):
            try:  # through the writer, as the webhooks: stored in a group with what arrives meanwhile
                await inbound_writer(self._stores).receive(workspace_id, inbound, clock=self._clock)
            except StoreUnavailable:
                return "451 4.3.0 try again later"
            except TouchlineError as exc:
                return f"554 5.6.0 {exc.message}"
            except Exception:
                log.exception("receiving a mail failed")
                return "451 4.3.0 try again later"
        return "250 OK"


class InboundSMTP:
    """The listener, in its own thread (aiosmtpd's controller)."""

    def __init__(self, stores: Stores, keys: KeyResolver, host: str, port: int, *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._receiver = Receiver(stores, keys, clock)
        limit = stores.settings.inbound_max_bytes * 25
        self._controller = Controller(self._receiver, hostname=host, port=port, data_size_limit=limit)

    def start(self) -> None:
        self._controller.start()
        log.info("receiving e-mail on %s:%s", self._controller.hostname, self._controller.port)

    def stop(self) -> None:
        self._controller.stop()
