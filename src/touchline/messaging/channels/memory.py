"""An in-memory channel: a real implementation for development, the demo and tests, not a mock.

It keeps every message it accepted, in order, and honours idempotency keys: sending the same key twice
stores the message once and answers the same ``Sent(provider_id)``. Thread-safe, so a worker pool can
share one instance. Works for any channel name (``MemoryChannel("email")``, ``MemoryChannel("in_app")``,
which doubles as the in-app inbox in development).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from touchline.messaging.channels.base import OutboundMessage, SendResult, Sent, Skipped

__all__ = ["Delivered", "MemoryChannel"]


@dataclass(frozen=True)
class Delivered:
    provider_id: str
    message: OutboundMessage


class MemoryChannel:
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._by_key: dict[str, Delivered] = {}
        self._order: list[str] = []

    def send(self, message: OutboundMessage) -> SendResult:
        if not message.to:
            return Skipped("no_address")
        with self._lock:
            existing = self._by_key.get(message.idempotency_key)
            if existing is not None:
                return Sent(existing.provider_id)
            provider_id = f"mem-{self.name}-{len(self._order) + 1}"
            self._by_key[message.idempotency_key] = Delivered(provider_id, message)
            self._order.append(message.idempotency_key)
            return Sent(provider_id)

    @property
    def messages(self) -> list[OutboundMessage]:
        with self._lock:
            return [self._by_key[k].message for k in self._order]

    def get(self, idempotency_key: str) -> Delivered | None:
        with self._lock:
            return self._by_key.get(idempotency_key)

    def inbox(self, to: str) -> list[OutboundMessage]:
        """Messages for one address, oldest first (an in-app inbox in development)."""
        return [m for m in self.messages if m.to == to]

    def __len__(self) -> int:
        with self._lock:
            return len(self._order)

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._order.clear()
