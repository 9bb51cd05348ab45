"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import base64

WRITE_KEY = "test-write-key"
ADMIN_TOKEN = "test-admin-token"


def basic(key: str = WRITE_KEY) -> dict[str, str]:
    """HTTP Basic with the write key as user name, the way Segment's clients authenticate."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
