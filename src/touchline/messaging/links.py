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


def track_links(html: str, *, base_url: str, message_id: str, skip: Iterable[str] = (),
                open_pixel: bool = True) -> TrackedHtml:
    skipped = {s for s in skip if s}
    links: list[str] = []
    base, quoted_id = _base(base_url), quote(message_id, safe="")
    # Escaped once: the link number appended to it needs no escaping.
    prefix = htmllib.escape(f"{base}/t/c/{quoted_id}/")

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
        pixel = (f'<img src="{htmllib.escape(f"{base}/t/o/{quoted_id}.gif")}" width="1" height="1" '
                 f'alt="" style="display:none;border:0">')
        ends = list(_BODY_END_RE.finditer(out))
        out = out[:ends[-1].start()] + pixel + out[ends[-1].start():] if ends else out + pixel
    return TrackedHtml(out, tuple(links))
