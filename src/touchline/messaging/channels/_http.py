"""What the HTTP provider adapters share: a client with timeouts, and turning transport problems and
status codes into ``Failed``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from touchline.messaging.channels.base import Failed

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class HttpAdapter:
    """Owns an ``httpx.Client`` unless one is passed in (tests and a worker can share a pool)."""

    name = "http"

    def __init__(self, client: httpx.Client | None, timeout: httpx.Timeout | float | None) -> None:
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout if timeout is not None else DEFAULT_TIMEOUT)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HttpAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, url: str, *, on_response: Callable[[httpx.Response], Any], **kwargs: Any) -> Any:
        """POST and hand the response to ``on_response``; transport errors become retryable failures.

        A read timeout is retryable too, although the provider may have accepted the message: that is
        what the idempotency key is for.
        """
        try:
            response = self._client.post(url, **kwargs)
        except httpx.TimeoutException as exc:
            return Failed(f"{self.name}: timeout ({type(exc).__name__})", retryable=True)
        except httpx.UnsupportedProtocol as exc:  # a configuration error: retrying will not fix it
            return Failed(f"{self.name}: {exc}", retryable=False)
        except httpx.TransportError as exc:
            return Failed(f"{self.name}: connection error ({type(exc).__name__}: {exc})", retryable=True)
        return on_response(response)


def json_body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def sub_object(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def status_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500
