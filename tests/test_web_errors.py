"""Dashboard errors on a real server (uvicorn): an unexpected failure renders the error page, in the
viewer's language, and leaves the keep-alive connection usable for the next request."""

from __future__ import annotations

import socket

import pytest

from live_server import LiveServer
from touchline.analytics import service as analytics
from web_helpers import PASSWORD, add_user, form_token


def _exchange(sock: socket.socket, request: bytes) -> tuple[bytes, bytes]:
    """Sends one HTTP/1.1 request on ``sock`` and reads exactly one response (head, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection before answering: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the middle of a body"
        body += chunk
    return head, body


def _get(path: str, cookie: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/html\r\n"
            f"Accept-Language: ko-KR,ko;q=0.9\r\n\r\n").encode()


def test_an_unexpected_error_is_the_error_page_and_the_connection_lives_on(
        live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(live.stores, "marketer@example.com", "marketer")
    token = form_token(live.http.get("/login").text)
    signed_in = live.http.post("/login", data={"email": "marketer@example.com", "password": PASSWORD,
                                               "csrf_token": token, "next": "/"})
    assert signed_in.status_code == 303, signed_in.text
    cookie = f"tl_session={live.http.cookies['tl_session']}"

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the event store went away")

    monkeypatch.setattr(analytics, "overview", broken)
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head, body = _exchange(sock, _get("/overview", cookie))
        assert head.startswith(b"HTTP/1.1 500"), head
        assert b"content-type: text/html" in head.lower()
        page = body.decode()
        assert "문제가 발생했습니다" in page and "<nav" in page  # the dashboard's error page, in Korean
        assert "the event store went away" not in page  # nothing internal is shown
        assert b"content-security-policy" in head.lower()
        # The same connection answers the next request (a browser reuses it for the next click).
        head, body = _exchange(sock, _get("/customers", cookie))
        assert head.startswith(b"HTTP/1.1 200"), head
        # A partial update (app.js) gets the error fragment, not a whole page.
        head, body = _exchange(sock, _get("/overview", cookie).replace(b"\r\n\r\n", b"\r\nX-Partial: 1\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 500") and b'id="error"' in body and b"<nav" not in body
        head, _ = _exchange(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head


def test_an_unexpected_api_error_keeps_the_connection(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from support import ADMIN_TOKEN

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the event store went away")

    monkeypatch.setattr(analytics, "cart_abandonment", broken)
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        request = (f"GET /v1/analytics/cart-abandonment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n").encode()
        head, body = _exchange(sock, request)
        assert head.startswith(b"HTTP/1.1 500") and b"application/json" in head and b"internal error" in body
        head, _ = _exchange(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
