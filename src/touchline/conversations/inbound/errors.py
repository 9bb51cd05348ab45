"""What a provider's payload can be wrong by: the field, so the 400 names it."""

from __future__ import annotations

__all__ = ["Malformed"]


class Malformed(ValueError):
    """A payload that does not follow the provider's documented format; ``field`` names where."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
