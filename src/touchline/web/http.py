"""The dashboard's request plumbing: who is signed in, CSRF checks, the page registry behind the nav,
rendering (full pages and partial updates), and errors rendered as HTML pages instead of JSON."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from touchline.errors import Forbidden, NotFound, TouchlineError
from touchline.web import auth
from touchline.web.i18n import (
    LANG_COOKIE,
    LANGUAGES,
    MESSAGES,
    TZ_COOKIE,
    Formatter,
    choose_language,
    choose_locale,
    valid_zone,
)

log = logging.getLogger("touchline.web")

SESSION_COOKIE = "tl_session"
LOGIN_CSRF_COOKIE = "tl_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PARTIAL_HEADER = "x-partial"

# No inline script anywhere: every script comes from /static. Plotly writes inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
                                "base-uri 'self'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# One autoescaped environment for the dashboard (marketer-written message templates use the sandboxed
# environment in touchline.messaging.templates; the two never share anything).
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=environment)


class LoginRequired(TouchlineError):
    status = 401


class CsrfFailed(TouchlineError):
    status = 403


@dataclass(frozen=True)
class NavItem:
    key: str  # message key of its label
    path: str
    permission: str
    after: str | None = None  # the key of the entry it follows (else: in the order registered)


NAV: list[NavItem] = []


def _nav_order(items: list[NavItem]) -> list[NavItem]:
    """Registration order, except that an entry with ``after`` follows that entry (whichever module was
    imported first); an ``after`` naming no entry puts it last."""
    keys = {item.key for item in items}
    ordered = [item for item in items if item.after not in keys]
    pending = [item for item in items if item.after in keys]
    while pending:
        placed = [item for item in pending if item.after in {o.key for o in ordered}]
        if not placed:  # a cycle: keep registration order
            ordered += pending
            break
        for item in placed:
            at = next(i for i, o in enumerate(ordered) if o.key == item.after)
            while at + 1 < len(ordered) and ordered[at + 1].after == item.after:
                at += 1  # after earlier entries that follow the same one
            ordered.insert(at + 1, item)
            pending.remove(item)
    return ordered


def services(request: Request) -> Any:
    return request.app.state.services


def formatter(request: Request) -> Formatter:
    cached = getattr(request.state, "formatter", None)
    if cached is not None:
        return cached
    accept = request.headers.get("accept-language")
    lang = choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), accept)
    settings = services(request).stores.settings
    tz = valid_zone(request.cookies.get(TZ_COOKIE), settings.default_timezone)
    request.state.formatter = Formatter(lang, choose_locale(lang, accept), tz, settings.default_currency,
                                        settings.default_phone_region)
    return request.state.formatter


def _idle(request: Request) -> dt.timedelta:
    return dt.timedelta(hours=services(request).stores.settings.web_session_idle_hours)


async def current_user(request: Request) -> auth.WebUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await run_in_threadpool(auth.load_session, services(request).stores, token, _idle(request))


def viewer(request: Request) -> auth.WebUser:
    """The signed-in user of a page registered with :func:`page` (its dependency put it here)."""
    return request.state.user


def require(permission: str) -> Callable[[Request], Coroutine[Any, Any, auth.WebUser]]:
    """A dependency: the signed-in user, who must hold ``permission``; unsafe methods must carry the
    session's CSRF token (form field or header) and, when the browser says where it comes from, come
    from this site."""

    async def dependency(request: Request) -> auth.WebUser:
        user = await current_user(request)
        if user is None:
            raise LoginRequired("sign in first")
        request.state.user = user
        if request.method not in ("GET", "HEAD"):
            await check_csrf(request, user.csrf_token)
        if not user.can(permission):
            raise Forbidden("not allowed", {"field": "role", "reason": user.role})
        return user

    return dependency


def same_origin(request: Request) -> bool:
    """Whether the Origin header (sent by browsers with every POST) names this site; no header passes,
    the CSRF token still has to match."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


async def check_csrf(request: Request, expected: str) -> None:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not same_origin(request) or not auth.same_token(presented, expected):
        raise CsrfFailed("CSRF check failed")


def page(path: str, *, permission: str, nav: str | None = None, nav_after: str | None = None,
         methods: tuple[str, ...] = ("GET",)) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a dashboard route that needs ``permission``; with ``nav`` (a message key) it is also a
    main navigation entry, shown to those who may open it (after the entry ``nav_after`` when given,
    else last). A new page is one decorated function and one template."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        if nav is not None:
            NAV.append(NavItem(nav, path, permission, nav_after))
            NAV[:] = _nav_order(NAV)
        router.add_api_route(path, handler, methods=list(methods), dependencies=[Depends(require(permission))],
                             response_class=HTMLResponse, include_in_schema=False)
        return handler

    return decorate


def is_partial(request: Request) -> bool:
    return request.headers.get(PARTIAL_HEADER) == "1"


def secure_cookies(request: Request) -> bool:
    configured = services(request).stores.settings.web_secure_cookies
    return request.url.scheme == "https" if configured is None else configured


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None,
               http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only, samesite="lax",
                        secure=secure_cookies(request))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    f = formatter(request)
    user: auth.WebUser | None = getattr(request.state, "user", None)
    nav = [item for item in NAV if user is not None and user.can(item.permission)]
    response = templates.TemplateResponse(request, template, {
        "f": f, "t": f.t, "user": user, "nav": nav, "csrf_token": user.csrf_token if user else "",
        "path": request.url.path, "languages": LANGUAGES, "lang_url": lambda lang: _lang_url(request, lang),
        "done": _done_message(request, f), **context,
    }, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(request, response, LANG_COOKIE, f.lang, max_age=365 * 86_400)
    return response


def _lang_url(request: Request, lang: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")]
    query.append(("lang", lang))
    return request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)


def _done_message(request: Request, f: Formatter) -> str | None:
    """A confirmation after a redirect (``?done=segment.saved``): only known message keys are shown."""
    key = request.query_params.get("done")
    if key not in MESSAGES or not key.endswith((".saved", ".deleted", "logged_out", ".refreshed_now", ".published",
                                                ".paused", ".resumed", ".archived")):
        return None
    values = {k: request.query_params.get(k, "") for k in ("name", "entered", "exited", "version")}
    return f.t(key, **values)


def problem_details(exc: TouchlineError) -> list[dict[str, Any]]:
    """An error's ``{"field", "reason", ...}`` entries, as every form shows them: its detail as a list
    (anything but a mapping read as a reason), else one entry with its message."""
    detail = exc.detail
    if isinstance(detail, list):
        return [d if isinstance(d, dict) else {"field": "", "reason": str(d)} for d in detail]
    if isinstance(detail, dict):
        return [detail]
    return [{"field": "", "reason": exc.message}]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    """Dashboard routes: errors become HTML pages (or a redirect to sign-in), never JSON, and every
    response carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect("/login?next=" + quote(target, safe=""))
                if is_partial(request):  # a partial update cannot follow a redirect to a full page
                    response = Response(status_code=401, headers={"X-Login": "/login"})
            except TouchlineError as exc:
                response = error_page(request, exc)
            except (StarletteHTTPException, RequestValidationError):
                raise  # the app's handlers answer these (not found, a bad query parameter)
            except Exception:
                # A failure the page did not expect is the dashboard's error page too (not the API's JSON),
                # answered here: an exception left to the server would close the browser's keep-alive
                # connection after the answer, and its next request on it would be reset.
                log.exception("dashboard error on %s %s", request.method, request.url.path)
                response = internal_error_page(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route


def error_page(request: Request, exc: TouchlineError) -> HTMLResponse:
    f = formatter(request)
    user: auth.WebUser | None = getattr(request.state, "user", None)
    if isinstance(exc, CsrfFailed):
        message = f.t("error.csrf")
    elif isinstance(exc, Forbidden):
        message = f.t("error.forbidden", role=f.t(f"role.{user.role}") if user else "")
    elif isinstance(exc, NotFound):
        message = f.t("error.not_found") + " " + exc.message
    else:
        message = exc.message
    if exc.status >= 500:
        log.warning("dashboard error on %s: %s", request.url.path, exc.message)
    template = "_error.html" if is_partial(request) else "error.html"
    return render(request, template, status_code=exc.status, message=message)


def internal_error_page(request: Request) -> HTMLResponse:
    """The error page for an unexpected failure: nothing about its cause (that went to the log)."""
    try:
        return error_page(request, InternalError(formatter(request).t("error.internal")))
    except Exception:  # the page itself cannot be rendered (the state store is down, say)
        log.exception("the error page could not be rendered")
        return HTMLResponse("<!doctype html><title>Touchline</title><p>Internal error / 내부 오류</p>",
                            status_code=500)


class InternalError(TouchlineError):
    status = 500


router = APIRouter(route_class=PageRoute)
