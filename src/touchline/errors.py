"""One error hierarchy; each error carries its HTTP status and renders as ``{"error", "detail"}``."""

from __future__ import annotations

from typing import Any


class TouchlineError(Exception):
    status = 400

    def __init__(self, message: str, detail: Any = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        """``{"error": message, "detail": [{"field", "reason", ...}, ...]}``: ``detail`` is always a list,
        whether one thing is wrong with the request or several with its messages."""
        body: dict[str, Any] = {"error": self.message}
        if self.detail is not None:
            body["detail"] = [self.detail] if isinstance(self.detail, dict) else self.detail
        return body


class BadRequest(TouchlineError):
    status = 400


class Unauthorized(TouchlineError):
    status = 401


class Forbidden(TouchlineError):
    status = 403


class NotFound(TouchlineError):
    status = 404


class Conflict(TouchlineError):
    status = 409


class PayloadTooLarge(TouchlineError):
    status = 413


class UnsupportedMediaType(TouchlineError):
    status = 415


class ValidationFailed(TouchlineError):
    status = 422


class StoreUnavailable(TouchlineError):
    """A store cannot be opened (wrong URL, server down, file locked by another process)."""

    status = 503


def field_error(field: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"field": field, "reason": reason, **extra}
