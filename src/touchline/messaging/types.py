"""Plain data shared by templates, policy and channels. No I/O."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from touchline.channels import MESSAGE_CHANNELS

__all__ = ["AD_PREFIX_KO", "MESSAGE_CHANNELS", "MessageKind", "RenderedContent", "is_korean", "language_of"]

MessageKind = Literal["advertising", "transactional"]

# 정보통신망법 제50조: advertising starts with "(광고)".
AD_PREFIX_KO = "(광고)"


@functools.lru_cache(maxsize=256)
def language_of(locale: str | None) -> str | None:
    """``ko-KR`` / ``ko_KR`` / ``KO`` -> ``ko``; ``None`` or ``""`` -> ``None``. Cached: every message
    rendered asks it of its customer's locale, and a shop has a handful of them."""
    if not locale:
        return None
    return locale.replace("_", "-").split("-", 1)[0].strip().lower() or None


def is_korean(locale: str | None) -> bool:
    return language_of(locale) == "ko"


@dataclass(frozen=True)
class RenderedContent:
    """The rendered parts of one message for one channel and locale.

    email: ``subject``, ``html``, ``text``; sms / messenger: ``text`` (messenger may add the
    provider's pre-approved ``template_code`` and ``params``); push / in_app: ``title``, ``body``, ``url``.
    """

    locale: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    title: str | None = None
    body: str | None = None
    url: str | None = None
    template_code: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def replaced(self, **changes: object) -> RenderedContent:
        """``dataclasses.replace(self, **changes)`` without its per-field introspection (every Korean
        advertising message rendered takes one: ``as_sent``)."""
        return RenderedContent(**{**self.__dict__, **changes})

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"locale": self.locale}
        for name in ("subject", "html", "text", "title", "body", "url", "template_code"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.params:
            out["params"] = dict(self.params)
        return out
