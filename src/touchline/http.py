"""Shared pieces of the HTTP edge: reading bodies safely, authentication, error rendering."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from touchline.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    TouchlineError,
    Unauthorized,
    UnsupportedMediaType,
)
from touchline.workspaces.service import KeyResolver, Principal

log = logging.getLogger("touchline.http")

# Integers at the edge: the bounded types live in touchline.validation (documents use them too); pages
# read theirs with these two.
def bounded_int(value: str | None, default: int, low: int, high: int) -> int:
    """A dashboard page's integer query parameter: anything not an integer is ``default``, and the
    result is clamped into ``[low, high]`` (pages forgive what the API refuses with a 422)."""
    try:
        number = int(value) if value is not None else default
    except ValueError:  # not a number, or more digits than int() reads
        number = default
    return min(max(number, low), high)


def bounded_float(value: str | None, default: float, low: float, high: float) -> float:
    """As :func:`bounded_int`, for a float (``nan`` is ``default``, ``inf`` is clamped)."""
    try:
        number = float(value) if value is not None else default
    except ValueError:
        number = default
    if number != number:  # NaN compares false with everything, so min/max would pass it through
        number = default
    return min(max(number, low), high)


class JSONBody(JSONResponse):
    """JSON rendered by orjson: datetimes as ISO 8601, Korean text as UTF-8, fast on large bodies."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


async def read_json_body(request: Request, limit: int) -> Any:
    """The request body as JSON, refusing anything over ``limit`` bytes, compressed or not (a gzip bomb
    stops at ``limit + 1`` decompressed bytes, not when memory runs out)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"request body is larger than {limit // 1024} KB",
                                      {"field": "(body)", "reason": f"limit is {limit} bytes", "size": int(declared)})
        except ValueError as exc:
            raise BadRequest("Content-Length is not a number", {"field": "Content-Length"}) from exc
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit // 1024} KB",
                                  {"field": "(body)", "reason": f"limit is {limit} bytes"})
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    data = bytes(raw)
    if encoding in ("gzip", "x-gzip", "deflate"):
        data = _inflate(data, limit, gzip=encoding != "deflate")
    elif encoding not in ("identity", ""):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or none",
                                   {"field": "Content-Encoding", "reason": "unsupported"})
    if not data.strip():
        raise BadRequest("request body is empty; send a JSON object", {"field": "(body)", "reason": "empty"})
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", {"field": "(body)", "reason": "malformed JSON"}) from exc


def _inflate(data: bytes, limit: int, *, gzip: bool) -> bytes:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {'gzip' if gzip else 'deflate'} data: {exc}",
                         {"field": "(body)", "reason": "bad compression"}) from exc
    if len(out) > limit or decoder.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body is larger than {limit // 1024} KB",
                              {"field": "(body)", "reason": f"limit is {limit} bytes decompressed"})
    if not decoder.eof:
        raise BadRequest("compressed body is truncated", {"field": "(body)", "reason": "bad compression"})
    return out


def presented_write_key(request: Request) -> str | None:
    """The key the way Segment's and RudderStack's clients send it: HTTP Basic with the key as user
    name (password empty); ``Bearer`` is accepted too."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("Authorization header is not valid Basic credentials") from exc
        return decoded.partition(":")[0] or None
    if scheme.lower() == "bearer" and value:
        return value
    return None


def authenticate(resolver: KeyResolver, key: str | None, *, need: str) -> Principal:
    if not key:
        what = "write key" if need == "write" else "admin token"
        raise Unauthorized(
            f"missing {what}",
            {"field": "Authorization",
             "reason": "send HTTP Basic with the write key as user name" if need == "write"
             else "send 'Authorization: Bearer <admin token>'"},
        )
    principal = resolver.resolve(key)
    if principal is None:
        raise Unauthorized("unknown or revoked key", {"field": "Authorization", "reason": "unknown key"})
    if principal.kind == "identity":
        raise Forbidden("an identity secret only signs customer identifiers on the shop's server (user_hash); "
                        "it is neither a write key nor an admin token",
                        {"field": "Authorization", "reason": "identity secret used as a key"})
    if need == "admin" and principal.kind != "admin":
        raise Forbidden("this key may only send events; management needs an admin token",
                        {"field": "Authorization", "reason": "write key used for management"})
    return principal


def verify_customer(request: Request, principal: Principal, identifier: str) -> None:
    """What a browser or app reads about one customer (the in-app inbox) needs that customer's
    ``user_hash`` once the workspace has an identity secret; an admin token (the shop's server) needs none."""
    keys: KeyResolver = request.app.state.services.keys
    if principal.kind == "admin" or not keys.verifies_identities(principal.workspace_id):
        return
    presented = request.query_params.get("user_hash") or request.headers.get("x-touchline-user-hash")
    if not presented:
        # 403, not 401: a 401 with WWW-Authenticate makes some browsers ask the customer for a password.
        raise Forbidden("this workspace verifies identities: send the customer's user_hash",
                        {"field": "user_hash", "reason": "missing; HMAC-SHA256 of the identifier, signed on "
                                                         "the shop's server with the identity secret"})
    if not keys.user_hash_matches(principal.workspace_id, identifier, presented):
        raise Forbidden("user_hash does not match this identifier",
                        {"field": "user_hash", "reason": "not signed for this identifier"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TouchlineError)
    async def _touchline_error(_request: Request, exc: TouchlineError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="touchline"'} if exc.status == 401 else None
        return JSONBody(exc.to_body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "(body)", "reason": err["msg"]}
            for err in exc.errors()
        ]
        return JSONBody({"error": "invalid request", "detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only; a path served
            # by several routes (GET, PATCH and DELETE of one segment) works with all of theirs.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return JSONBody({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONBody({"error": "internal error"}, status_code=500)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods some route of ``app`` answers at the path of ``scope`` (RFC 9110's ``Allow``): each
    method is routed as a fresh request would be (FastAPI keeps included routers as such, so asking
    the routing is sturdier than walking the route list)."""
    probe = {k: scope[k] for k in ("type", "path", "raw_path", "root_path", "query_string", "headers") if k in scope}
    return [method for method in _METHODS
            if any(route.matches({**probe, "method": method, "fastapi": {}})[0] == Match.FULL
                   for route in app.router.routes)]


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def admin_principal(request: Request) -> Principal:
    """FastAPI dependency for the management API: ``Authorization: Bearer <admin token>``."""
    return authenticate(request.app.state.services.keys, _bearer(request), need="admin")


def write_principal(request: Request) -> Principal:
    """FastAPI dependency for what apps and the web snippet read with their write key (the in-app inbox):
    HTTP Basic with the key as user name, or a Bearer token; an admin token works too."""
    key = presented_write_key(request) or _bearer(request)
    principal = authenticate(request.app.state.services.keys, key, need="write")
    return principal


# What a shop's own web pages call, with the write key: the tracking API (analytics.js's one-letter
# paths included), analytics.js's settings, and the in-app inbox.
_PUBLIC_PATH = re.compile(
    r"^/v1/(?:track|identify|page|screen|group|alias|batch|import|[tipsgab]|projects/[^/]+/settings|inbox/.+)$"
)


class PublicCORS:
    """Cross-origin access for the write-key endpoints only, so that analytics.js and the web inbox work
    from the shop's own domain. The management API and the dashboard send no CORS headers: another
    site's script cannot read them. Credentials (cookies) are never allowed cross-origin."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self._app = app
        self._cors = CORSMiddleware(app, allow_origins=list(origins), allow_methods=["GET", "POST", "OPTIONS"],
                                    allow_headers=["*"], max_age=86_400)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _PUBLIC_PATH.match(scope["path"]):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)
