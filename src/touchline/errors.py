"""One error hierarchy; each error carries its HTTP status and a stable machine ``code``, and renders as
``{"error", "code", "message", "detail"}``."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, detail: Any = None, *, error: str | None = None) -> dict[str, Any]:
    """Every error body the API sends, whatever its status: ``error`` (a short human text, what clients
    read before ``code`` and ``message`` came), ``code`` (stable, for programs: ``invalid_write_key``),
    ``message`` (a human sentence; Segment's and RudderStack's libraries log ``code`` and ``message``),
    and ``detail``, a list of ``{"field", "reason", ...}`` when there is more to say."""
    body: dict[str, Any] = {"error": message if error is None else error, "code": code, "message": message}
    if detail is not None:
        body["detail"] = [detail] if isinstance(detail, dict) else detail
    return body


class TouchlineError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, detail: Any = None, *, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        """``{"error": message, "code", "message", "detail": [{"field", "reason", ...}, ...]}``: ``detail``
        is always a list, whether one thing is wrong with the request or several with its messages."""
        return error_body(self.code, self.message, self.detail)


class BadRequest(TouchlineError):
    status = 400
    code = "bad_request"


class Unauthorized(TouchlineError):
    status = 401
    code = "unauthorized"


class Forbidden(TouchlineError):
    status = 403
    code = "forbidden"


class NotFound(TouchlineError):
    status = 404
    code = "not_found"


class Conflict(TouchlineError):
    status = 409
    code = "conflict"


class PayloadTooLarge(TouchlineError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TouchlineError):
    status = 415
    code = "unsupported_content_encoding"


class ValidationFailed(TouchlineError):
    status = 422
    code = "validation_failed"


class StoreUnavailable(TouchlineError):
    """A store cannot be opened (wrong URL, server down, file locked by another process)."""

    status = 503
    code = "store_unavailable"


def field_error(field: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"field": field, "reason": reason, **extra}
