"""Message templates that domains above messaging provide ready-made (the feedback domain's survey messages),
registered by the composition root (``touchline.platform``) so that messaging imports none of them.

A built-in template is not used from here: a journey step that names one copies it into its workspace when
the journey is published (:func:`touchline.messaging.service.install_builtin`), where it is a template like
any other, listed, previewed and edited by the marketer. A workspace's own template of the same key always
wins: it is never overwritten.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BuiltinTemplate", "of_key", "register"]


@dataclass(frozen=True)
class BuiltinTemplate:
    key: str
    channel: str
    variants: Mapping[str, Mapping[str, Any]]  # locale -> part -> Jinja2 source (``params``: name -> source)
    default_locale: str = "ko"


_templates: dict[tuple[str, str], BuiltinTemplate] = {}
_lock = threading.Lock()


def register(template: BuiltinTemplate) -> None:
    """Add (or replace, by key and channel) a built-in template; idempotent."""
    with _lock:
        _templates[(template.key, template.channel)] = template


def of_key(key: str) -> list[BuiltinTemplate]:
    """The built-in template ``key`` on each channel it has (empty: no such built-in)."""
    with _lock:
        return [t for (k, _), t in sorted(_templates.items()) if k == key]
