"""Shared pieces of the HTTP edge: reading bodies safely, authentication, error rendering."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import HTTPBase, HTTPBearer
from fastapi.responses import JSONResponse
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field
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
    error_body,
)
from touchline.workspaces.service import KeyResolver, Principal

log = logging.getLogger("touchline.http")


# --- what the OpenAPI document says about errors and keys --------------------------------------------


class Problem(BaseModel):
    """One thing wrong with a request. Some carry more (``index``: the message of a batch)."""

    model_config = ConfigDict(extra="allow")
    field: str = Field(description="Where: a parameter or body field ('query.offset', 'batch', 'Authorization'), "
                                   "or a JSON pointer into a document ('/nodes/2/next').")
    reason: str


class ErrorBody(BaseModel):
    """Every error, whatever its status: a stable code, a message, and what is wrong, field by field, when
    known."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "error": "invalid request", "code": "validation_failed",
        "message": "invalid request: query.limit: Input should be less than or equal to 1000",
        "detail": [{"field": "query.limit", "reason": "Input should be less than or equal to 1000"}]}})
    error: str = Field(description="A short human text (kept from before `code` and `message`).")
    code: str = Field(description="Stable, for programs: `invalid_write_key`, `missing_write_key`, "
                                  "`admin_token_required`, `validation_failed`, `unknown_parameter`, "
                                  "`messages_rejected`, `malformed_json`, `not_found`, `method_not_allowed`, "
                                  "`conflict`, `payload_too_large`, `unsupported_content_encoding`, "
                                  "`internal_error`, ...", pattern="^[a-z][a-z0-9_]*$")
    message: str = Field(description="A human sentence saying what went wrong (Segment's and RudderStack's "
                                     "libraries log `code` and `message`).")
    detail: list[Problem] = Field(default_factory=list, description="Absent when there is nothing more to say.")


_ERROR_DESCRIPTIONS = {
    400: "The request breaks a rule the schema cannot state (see `detail`), or names a query parameter the "
         "operation does not take (`unknown_parameter`)",
    401: "No key, or an unknown or revoked one",
    403: "The key may not do this (a write key on the management API, say)",
    404: "Not found",
    409: "Conflicts with the current state (a name taken, a journey archived)",
    413: "The body is larger than the limit",
    415: "Unsupported Content-Encoding",
    422: "Invalid parameters or body: one entry in `detail` per problem",
    429: "Too many requests: try again after `Retry-After` seconds",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, all with the one error body."""
    return {status: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]} for status in statuses}


class _KeyScheme(SecurityBase):
    """Names a way to present a key in the OpenAPI document; checks nothing itself (the dependencies
    below and the tracking endpoints call :func:`authenticate`)."""

    def __init__(self, name: str, model: HTTPBase) -> None:
        self.scheme_name = name
        self.model = model

    async def __call__(self) -> None:
        return None


WRITE_KEY_BASIC = _KeyScheme("writeKey", HTTPBase(
    scheme="basic", description="HTTP Basic with the write key as user name and no password, as Segment's "
                                "and RudderStack's libraries send it."))
BEARER_KEY = _KeyScheme("bearerKey", HTTPBearer(
    description="`Authorization: Bearer <write key or admin token>`; the tracking API and the inbox take either."))
ADMIN_TOKEN = _KeyScheme("adminToken", HTTPBearer(
    description="`Authorization: Bearer <admin token>`: the management API (`touchline keys create --kind admin`)."))
WRITE_SECURITY: list[dict[str, list[str]]] = [{WRITE_KEY_BASIC.scheme_name: []}, {BEARER_KEY.scheme_name: []}]
"""``security`` of an operation that reads the key itself (the tracking endpoints' ``openapi_extra``)."""


def document_schemas(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Named JSON schemas (the tracking bodies, which their endpoints read raw and ``openapi_extra``
    refers to) go into the document's components."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

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
            raise BadRequest("Content-Length is not a number", {"field": "Content-Length", "reason": "not a number"},
                             code="invalid_content_length") from exc
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
        raise BadRequest("request body is empty; send a JSON object", {"field": "(body)", "reason": "empty"},
                         code="empty_body")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", {"field": "(body)", "reason": "malformed JSON"},
                         code="malformed_json") from exc


def _inflate(data: bytes, limit: int, *, gzip: bool) -> bytes:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {'gzip' if gzip else 'deflate'} data: {exc}",
                         {"field": "(body)", "reason": "bad compression"}, code="bad_compression") from exc
    if len(out) > limit or decoder.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body is larger than {limit // 1024} KB",
                              {"field": "(body)", "reason": f"limit is {limit} bytes decompressed"})
    if not decoder.eof:
        raise BadRequest("compressed body is truncated", {"field": "(body)", "reason": "bad compression"},
                         code="bad_compression")
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
            raise Unauthorized("Authorization header is not valid Basic credentials",
                               {"field": "Authorization", "reason": "not base64 of 'key:'"},
                               code="invalid_authorization") from exc
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
            code="missing_write_key" if need == "write" else "missing_admin_token",
        )
    principal = resolver.resolve(key)
    if principal is None:
        raise Unauthorized("unknown or revoked key", {"field": "Authorization", "reason": "unknown key"},
                           code="invalid_write_key" if need == "write" else "invalid_admin_token")
    if principal.kind == "identity":
        raise Forbidden("an identity secret only signs customer identifiers on the shop's server (user_hash); "
                        "it is neither a write key nor an admin token",
                        {"field": "Authorization", "reason": "identity secret used as a key"},
                        code="identity_secret_not_a_key")
    if principal.kind == "inbound":
        raise Forbidden("an inbound token only names a workspace in providers' webhook URLs; it is neither a "
                        "write key nor an admin token",
                        {"field": "Authorization", "reason": "inbound token used as a key"},
                        code="inbound_token_not_a_key")
    if need == "admin" and principal.kind != "admin":
        raise Forbidden("this key may only send events; management needs an admin token",
                        {"field": "Authorization", "reason": "write key used for management"},
                        code="admin_token_required")
    return principal


def verify_customer(request: Request, principal: Principal, identifier: str, user_hash: str | None) -> None:
    """What a browser or app reads about one customer (the in-app inbox) needs that customer's
    ``user_hash`` (the ``user_hash`` query parameter, or ``X-Touchline-User-Hash``) once the workspace has
    an identity secret; an admin token (the shop's server) needs none."""
    keys: KeyResolver = request.app.state.services.keys
    if principal.kind == "admin" or not keys.verifies_identities(principal.workspace_id):
        return
    presented = user_hash or request.headers.get("x-touchline-user-hash")
    if not presented:
        # 403, not 401: a 401 with WWW-Authenticate makes some browsers ask the customer for a password.
        raise Forbidden("this workspace verifies identities: send the customer's user_hash",
                        {"field": "user_hash", "reason": "missing; HMAC-SHA256 of the identifier, signed on "
                                                         "the shop's server with the identity secret"},
                        code="user_hash_required")
    if not keys.user_hash_matches(principal.workspace_id, identifier, presented):
        raise Forbidden("user_hash does not match this identifier",
                        {"field": "user_hash", "reason": "not signed for this identifier"}, code="user_hash_mismatch")


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
        return JSONBody(error_body("validation_failed", "invalid request" + _first_problem(detail), detail,
                                   error="invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only; a path served
            # by several routes (GET, PATCH and DELETE of one segment) works with all of theirs.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        message = str(exc.detail)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed here; this path takes {headers['Allow']}"
        return JSONBody(error_body(_status_code(exc.status_code), message, error=str(exc.detail)),
                        status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONBody(error_body("internal_error", "internal error: the server failed to answer; it has "
                                                     "logged why", error="internal error"), status_code=500)


def _first_problem(detail: Sequence[Mapping[str, Any]]) -> str:
    """``": query.limit: Input should be ..."`` (and how many more): what a client library's log line shows."""
    if not detail:
        return ""
    first = detail[0]
    more = f" (and {len(detail) - 1} more)" if len(detail) > 1 else ""
    return f": {first.get('field')}: {first.get('reason')}{more}"


_FRAMEWORK_CODES = {413: "payload_too_large", 422: "validation_failed"}  # the codes our own errors use


def _status_code(status: int) -> str:
    """``not_found``, ``method_not_allowed``, ...: the code of an error the framework raised."""
    if status in _FRAMEWORK_CODES:
        return _FRAMEWORK_CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


# --- query parameters a route does not declare ---------------------------------------------------------


def _declared_query(route: Any) -> frozenset[str]:
    """The names (aliases) of the query parameters ``route`` declares, its dependencies' included."""
    cached: frozenset[str] | None = getattr(route, "_touchline_query", None)
    if cached is None:
        names: set[str] = set()
        pending = [getattr(route, "dependant", None)]
        while pending:
            dependant = pending.pop()
            if dependant is None:
                continue
            names.update(getattr(f, "alias", None) or f.name for f in dependant.query_params)
            pending.extend(dependant.dependencies)
        cached = frozenset(names)
        route._touchline_query = cached
    return cached


async def refuse_unknown_query(request: Request) -> None:
    """An app-wide dependency: a ``/v1`` route answers a query parameter it does not declare with 400,
    naming it, instead of ignoring it (``GET /v1/messages?customer_id=...`` returned everyone's). Async,
    so that it costs the tracking endpoints no trip to the thread pool."""
    if not request.url.path.startswith("/v1/") or not request.query_params:
        return
    route = request.scope.get("route")
    if route is None:
        return
    allowed = _declared_query(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if unknown:
        takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
        reason = f"unknown parameter; this endpoint takes {takes}"
        raise BadRequest(f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
                         [{"field": f"query.{name}", "reason": reason} for name in unknown], code="unknown_parameter")


def document_unknown_parameters(app: FastAPI) -> None:
    """Every ``/v1`` operation may answer 400 for a query parameter it does not take: the document says so."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, item in document.get("paths", {}).items():
                if not path.startswith("/v1/"):
                    continue
                for operation in item.values():
                    if isinstance(operation, dict) and "responses" in operation:
                        operation["responses"].setdefault("400", {
                            "description": _ERROR_DESCRIPTIONS[400],
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, those of included routers too (recent FastAPI keeps an included router whole)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods of the resource at the path of ``scope`` (RFC 9110's ``Allow``). Where a literal path
    shadows a template (``/v1/segments/templates`` and ``/v1/segments/{segment_id}``), the resource is
    the literal one's: only the routes with the fewest path parameters count."""
    probe = {k: scope[k] for k in ("type", "path", "raw_path", "root_path", "query_string", "headers") if k in scope}
    found: list[tuple[set[str], int]] = []
    for route in _routes(app.router.routes):
        methods = getattr(route, "methods", None)
        if methods and route.matches({**probe, "method": next(iter(methods)), "fastapi": {}})[0] == Match.FULL:
            found.append((set(methods), len(getattr(route, "param_convertors", {}))))
    fewest = min((params for _, params in found), default=0)
    allowed = set().union(*(methods for methods, params in found if params == fewest))
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return sorted(allowed, key=lambda m: (order.index(m) if m in order else len(order), m))


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def admin_principal(request: Request, _scheme: Annotated[None, Depends(ADMIN_TOKEN)]) -> Principal:
    """FastAPI dependency for the management API: ``Authorization: Bearer <admin token>``."""
    return authenticate(request.app.state.services.keys, _bearer(request), need="admin")


async def write_principal(request: Request, _basic: Annotated[None, Depends(WRITE_KEY_BASIC)],
                          _bearer_scheme: Annotated[None, Depends(BEARER_KEY)]) -> Principal:
    """FastAPI dependency for what apps and the web snippet read with their write key (the in-app inbox):
    HTTP Basic with the key as user name, or a Bearer token; an admin token works too. Checked in the
    event loop, as the tracking endpoints check theirs: the resolver answers from memory but for one
    indexed read per key every half minute, which costs less than the hop to a worker thread that a
    plain ``def`` dependency takes on every request."""
    key = presented_write_key(request) or _bearer(request)
    principal = authenticate(request.app.state.services.keys, key, need="write")
    return principal


# What a shop's own web pages call, with the write key: the tracking API (analytics.js's one-letter
# paths included), analytics.js's settings, the in-app inbox, the web chat, in-app messages and experiment flags.
_PUBLIC_PATH = re.compile(
    r"^/v1/(?:track|identify|page|screen|group|alias|batch|import|[tipsgab]|projects/[^/]+/settings|inbox/.+"
    r"|chat/(?:messages|stream|proactive|hesitation|rating)|reviews|reviews/products/[^/]+|feedback/answers"
    r"|recommendations|flags|inapp/(?:messages|events))$"
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
