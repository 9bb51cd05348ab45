"""Static files (the dashboard's CSS, script and icon, plotly.min.js from the installed wheel, the in-app
inbox's script), served gzip-compressed to browsers that accept it and cached by them for good.

Each file is compressed once per process, the first time it is asked for (plotly.min.js, 4.8 MB, becomes
1.4 MB in about half a second; :func:`warm` does it in a background thread when the app starts), and kept in
memory. URLs carry a hash of the content (``/static/app.css?v=…``; plotly's carries its version), so a
response may be cached for a year (``immutable``) and a new release is a new URL; a URL without the current
hash is revalidated instead (``no-cache`` with an ``ETag``)."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

__all__ = ["Asset", "accepts_gzip", "asset", "respond", "warm"]

# Compressing pays for text; an image or a file of a few hundred bytes is sent as it is.
_COMPRESSIBLE = (".css", ".js", ".svg", ".json", ".html", ".txt", ".map")
_MIN_SIZE = 1024
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str
    version: str  # the first 12 hex digits of the content's SHA-256
    size: int
    gzipped: bytes | None  # None when not worth compressing

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @property
    def gzip_etag(self) -> str:
        return f'"{self.version}-gzip"'


_MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".json": "application/json", ".html": "text/html; charset=utf-8",
                ".txt": "text/plain; charset=utf-8", ".map": "application/json"}
_cache: dict[tuple[Path, int, int], Asset] = {}
_lock = threading.Lock()


def asset(path: Path) -> Asset:
    """The file as served, compressed on first use and kept (until the file changes)."""
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:  # one thread compresses; the others wait for its result instead of doing it again
        found = _cache.get(key)
        if found is None:
            data = path.read_bytes()
            packed = None
            if path.suffix in _COMPRESSIBLE and len(data) >= _MIN_SIZE:
                packed = gzip.compress(data, compresslevel=6, mtime=0)
                if len(packed) >= len(data) * 0.9:
                    packed = None
            found = Asset(path, _MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                          hashlib.sha256(data).hexdigest()[:12], len(data), packed)
            for old in [k for k in _cache if k[0] == path]:
                del _cache[old]
            _cache[key] = found
    return found


def warm(paths: list[Path]) -> None:
    """Compress ``paths`` in a background thread (the first visitor then waits for nothing)."""
    missing = [p for p in paths if not any(k[0] == p for k in _cache)]
    if missing:
        threading.Thread(target=lambda: [asset(p) for p in missing], name="touchline-assets", daemon=True).start()


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (``gzip``, ``x-gzip`` or ``*``, and not at q=0)."""
    star: bool | None = None
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name.strip() in ("gzip", "x-gzip"):
            return q > 0
        if name.strip() == "*":
            star = q > 0
    return bool(star)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def respond(request: Request, item: Asset, *, immutable: bool, extra: dict[str, str] | None = None) -> Response:
    """The file, gzip-compressed when the browser takes it; 304 when the browser holds this version."""
    compressed = item.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = item.gzip_etag if compressed else item.etag
    headers = {"Cache-Control": IMMUTABLE if immutable else REVALIDATE, "ETag": etag,
               "X-Content-Type-Options": "nosniff", **(extra or {})}
    if item.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if compressed:
        assert item.gzipped is not None
        return Response(item.gzipped, media_type=item.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(item.path, media_type=item.media_type, headers=headers)
