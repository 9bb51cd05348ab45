"""Static files: compressed once and sent gzip-encoded to browsers that take it, cached for good under URLs
that change with their content, revalidated otherwise. No store is involved (embedded only)."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from touchline.app import create_app
from touchline.assets import accepts_gzip
from touchline.messaging.routes import INBOX_SCRIPT
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.web import STATIC, plotly_js


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    stores = open_stores(Settings(data_dir=tmp_path_factory.mktemp("assets")))
    with TestClient(create_app(stores=stores, run_pump=False)) as client:
        yield client
    stores.dispose()


def raw_get(client: TestClient, url: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as it came over the wire (not decompressed)."""
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_plotly_is_sent_compressed_and_cached_for_good(web: TestClient) -> None:
    url = web.app.state.plotly_url  # type: ignore[attr-defined]
    original = plotly_js().read_bytes()
    response, body = raw_get(web, url, **{"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"].startswith("text/javascript")
    assert len(body) < len(original) * 0.35 and int(response.headers["content-length"]) == len(body)
    assert gzip.decompress(body) == original
    # Revalidation: the browser's copy is still good.
    again, empty = raw_get(web, url, **{"Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and empty == b""
    # A client that takes no gzip gets the file as it is, under another ETag.
    plain, body = raw_get(web, url, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and body == original
    assert plain.headers["etag"] != response.headers["etag"]
    refused, body = raw_get(web, url, **{"Accept-Encoding": "gzip;q=0, br"})
    assert "content-encoding" not in refused.headers and len(body) == len(original)


def test_dashboard_files_have_versioned_urls(web: TestClient) -> None:
    page = web.get("/login").text
    urls = dict(re.findall(r'(?:href|src)="(/static/([a-z.]+)\?v=[0-9a-f]{12})"', page))
    assert set(urls.values()) == {"app.css", "app.js", "favicon.svg"}
    css = next(u for u, name in urls.items() if name == "app.css")
    response, body = raw_get(web, css, **{"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip" and response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert gzip.decompress(body) == (STATIC / "app.css").read_bytes()
    # Without the current version in the URL (an old page, a hand-typed URL): revalidated, not kept for good.
    old, _ = raw_get(web, "/static/app.css?v=000000000000", **{"Accept-Encoding": "gzip"})
    bare, _ = raw_get(web, "/static/app.css")
    assert old.headers["cache-control"] == bare.headers["cache-control"] == "no-cache"
    icon, body = raw_get(web, "/static/favicon.svg", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in icon.headers and body == (STATIC / "favicon.svg").read_bytes()  # too small
    for missing in ("/static/nothing.js", "/static/..%2Fapp.py", "/static/../__init__.py"):
        assert web.get(missing).status_code == 404, missing


def test_the_inbox_script_is_compressed_for_shops(web: TestClient) -> None:
    response, body = raw_get(web, "/sdk/inbox.js", **{"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert gzip.decompress(body) == INBOX_SCRIPT.read_bytes()


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip", True), ("gzip, deflate, br, zstd", True), ("br;q=1.0, gzip;q=0.8", True), ("x-gzip", True),
    ("*", True), ("gzip;q=0", False), ("identity", False), ("", False), ("br, *;q=0", False),
    ("GZIP;Q=0.5", True), ("gzip;q=oops", False),
])
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_static_dir_is_what_is_served() -> None:
    assert {p.name for p in Path(STATIC).iterdir()} >= {"app.css", "app.js", "favicon.svg"}
    assert INBOX_SCRIPT.is_file()
