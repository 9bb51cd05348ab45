"""Deterministic ids: the same input always gives the same id, so a record written twice is stored once."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

_NAMESPACES: dict[int, Any] = {}  # namespace (its int: UUID hashes in Python) -> SHA-1 state after its 16 bytes


def uuid5_hex(namespace: uuid.UUID, name: str) -> str:
    """``uuid.uuid5(namespace, name).hex``, without building the UUID object, which costs more than the
    hash where thousands of ids are made at once (runs entering a journey, segment changes); the hash
    continues from the namespace's, taken once (``UUID.bytes`` builds the bytes at every call)."""
    state = _NAMESPACES.get(namespace.int)
    if state is None:
        state = _NAMESPACES[namespace.int] = hashlib.sha1(namespace.bytes, usedforsecurity=False)
    h = state.copy()
    h.update(name.encode())
    digest = bytearray(h.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, the same way."""
    h = uuid5_hex(namespace, name)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
