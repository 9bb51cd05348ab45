"""What a message template sees besides the customer, the event and the journey: variables that domains above
messaging provide (``recommendations(n)`` from personalisation), registered by the composition root
(``touchline.platform``) so that messaging imports none of them.

A provider gives, for one customer, a mapping of names to values; values are usually functions the template
calls, so the work is done only by a template that asks (and is counted against its render budget like any
call). ``sample`` gives what a save-time trial render sees (``templates._sample_context``): something of the
same shape, without a store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ContextProvider", "register", "sample_variables", "variables"]

@dataclass(frozen=True)
class ContextProvider:
    name: str
    # (the stores, workspace id, the customer's profile row: id, user_id, traits, locale, timezone) -> variables;
    # the stores are passed through untyped: this module sits below the store and knows nothing of it.
    variables: Callable[[Any, str, Mapping[str, Any]], Mapping[str, Any]]
    sample: Callable[[], Mapping[str, Any]]


_providers: dict[str, ContextProvider] = {}
_lock = threading.Lock()


def register(provider: ContextProvider) -> None:
    """Add (or replace, by name) a provider; idempotent."""
    with _lock:
        _providers[provider.name] = provider


def variables(stores: Any, workspace_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """Every provider's variables for one customer (cheap: providers hand out functions and do their work
    when a template calls them)."""
    out: dict[str, Any] = {}
    for provider in list(_providers.values()):
        out.update(provider.variables(stores, workspace_id, profile))
    return out


def sample_variables() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for provider in list(_providers.values()):
        out.update(provider.sample())
    return out
