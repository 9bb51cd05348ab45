"""Click and open tracking for HTML bodies: a pure rewrite, no I/O.

Every ``<a href="http(s)://...">`` becomes ``{base_url}/t/c/{message_id}/{index}`` (index counts
tracked links from 0 in document order) and an open pixel ``{base_url}/t/o/{message_id}.gif`` is added
before ``</body>``. The caller stores :attr:`TrackedHtml.links` (index -> original URL) with the
message so the redirect endpoint can resolve a click; nothing about the target is trusted from the URL.

Left alone: ``mailto:``/``tel:``/``#anchor`` links, links with a ``data-notrack`` attribute, and any URL
in ``skip`` (typically the unsubscribe URL, which must work even if tracking is down).
"""

from __future__ import annotations

import functools
import html as htmllib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["TrackedHtml", "click_url", "open_pixel_url", "track_links"]

# [^<>]: an <a that does not close before the next < is no anchor, and the search stays linear (with [^>]
# every unclosed "<a " scanned the rest of the body: "<a " * 80000 took minutes).
_ANCHOR_RE = re.compile(r"<a\b[^<>]*>", re.IGNORECASE)
_HREF_RE = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)
_NOTRACK_RE = re.compile(r"\sdata-notrack\b", re.IGNORECASE)
_BODY_END_RE = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class TrackedHtml:
    html: str
    links: tuple[str, ...]  # index -> original URL


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def click_url(base_url: str, message_id: str, index: int) -> str:
    return f"{_base(base_url)}/t/c/{quote(message_id, safe='')}/{index}"


def open_pixel_url(base_url: str, message_id: str) -> str:
    return f"{_base(base_url)}/t/o/{quote(message_id, safe='')}.gif"


@functools.lru_cache(maxsize=1024)
def _anchor_parts(tag: str) -> tuple[str, str, str, str] | None:
    """An ``<a>`` tag split around its href value: (before, href=, target, after); None when the tag is
    not tracked at all (no href, ``data-notrack``, not http(s)). Cached: a campaign renders the same
    few anchors for every customer."""
    if _NOTRACK_RE.search(tag):
        return None
    href = _HREF_RE.search(tag)
    if href is None:
        return None
    raw = next((g for g in href.groups()[1:] if g is not None), "")
    target = htmllib.unescape(raw).strip()
    if not target.lower().startswith(("http://", "https://")):
        return None
    return tag[:href.start()], href.group(1), target, tag[href.end():]


# What quote(..., safe="") leaves as it is, and html.escape too: an id made only of these (outbox ids are
# hex) goes into a URL and an attribute as it is.
_PLAIN_ID_RE = re.compile(r"[A-Za-z0-9_.~-]*")


@functools.lru_cache(maxsize=64)
def _escaped_base(base: str) -> str:
    return htmllib.escape(base)


def _last_body_end(html: str) -> int:
    """Where the last ``</body>`` starts, or -1: from the end, each ``</`` tried in place (a whole-body
    search with the case-insensitive pattern read every character of the body, for one tag at its end)."""
    i = len(html)
    while (i := html.rfind("</", 0, i)) >= 0:
        if _BODY_END_RE.match(html, i):
            return i
    return -1


def track_links(html: str, *, base_url: str, message_id: str, skip: Iterable[str] = (),
                open_pixel: bool = True) -> TrackedHtml:
    skipped = {s for s in skip if s}
    links: list[str] = []
    base = _base(base_url)
    if _PLAIN_ID_RE.fullmatch(message_id):  # the outbox's ids: quoting and escaping change nothing
        quoted_id, escaped_base = message_id, _escaped_base(base)
    else:
        quoted_id = quote(message_id, safe="")
        escaped_base = None
    # Escaped once: the link number appended to it needs no escaping.
    prefix = f"{escaped_base}/t/c/{quoted_id}/" if escaped_base is not None \
        else htmllib.escape(f"{base}/t/c/{quoted_id}/")

    def rewrite_anchor(anchor: re.Match[str]) -> str:
        tag = anchor.group(0)
        parts = _anchor_parts(tag)
        if parts is None or parts[2] in skipped:
            return tag
        before, attribute, target, after = parts
        tracked = f"{prefix}{len(links)}"
        links.append(target)
        return f'{before}{attribute}"{tracked}"{after}'

    out = _ANCHOR_RE.sub(rewrite_anchor, html)
    if open_pixel:
        src = f"{escaped_base}/t/o/{quoted_id}.gif" if escaped_base is not None \
            else htmllib.escape(f"{base}/t/o/{quoted_id}.gif")
        pixel = f'<img src="{src}" width="1" height="1" alt="" style="display:none;border:0">'
        end = _last_body_end(out)
        out = out[:end] + pixel + out[end:] if end >= 0 else out + pixel
    return TrackedHtml(out, tuple(links))
