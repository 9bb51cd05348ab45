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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ContextProvider", "register", "sample_variables", "variables"]

@dataclass(frozen=True)
class ContextProvider:
    name: str
    # (the stores, workspace id, the customer's profile row: id, user_id, traits, locale, timezone) -> variables;
    # the stores are passed through untyped: this module sits below the store and knows nothing of it.
    variables: Callable[[Any, str, Mapping[str, Any]], Mapping[str, Any]]
    sample: Callable[[], Mapping[str, Any]]
    # the names ``variables`` gives; by default those ``sample`` gives (the same shape), read once
    names: frozenset[str] | None = field(default=None, compare=False)


_providers: dict[str, tuple[ContextProvider, frozenset[str]]] = {}  # name -> (provider, the names it gives)
_lock = threading.Lock()


def register(provider: ContextProvider) -> None:
    """Add (or replace, by name) a provider; idempotent."""
    names = provider.names if provider.names is not None else frozenset(provider.sample())
    with _lock:
        _providers[provider.name] = (provider, names)


def variables(stores: Any, workspace_id: str, profile: Mapping[str, Any],
              names: Collection[str] | None = None) -> dict[str, Any]:
    """Every provider's variables for one customer (cheap: providers hand out functions and do their work
    when a template calls them). With ``names`` (the variables a template reads: ``CompiledTemplate.names``)
    only the providers that give one of them are asked: most templates need none."""
    out: dict[str, Any] = {}
    for provider, given in list(_providers.values()):
        if names is None or not given.isdisjoint(names):
            out.update(provider.variables(stores, workspace_id, profile))
    return out


def sample_variables() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for provider, _ in list(_providers.values()):
        out.update(provider.sample())
    return out
