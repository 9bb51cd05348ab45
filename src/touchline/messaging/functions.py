"""Functions that message templates may call, supplied by layers above messaging.

Messaging renders templates but must not know what a survey or a review is (the flow runs one way:
feedback sits above messaging). A layer above registers a *factory* here under the name templates call
(``survey_link``, ``review_link``); :mod:`touchline.platform` wires them at start-up. For each message
rendered, :func:`bind` calls every factory with the message's :class:`RenderScope` and hands the
functions it returns to the template (they are called only if the template calls them, so a factory must
do no work up front). With no connection in the scope (a save-time trial render, a preview of a template
without a customer) a function should return a harmless sample value.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["RenderScope", "TemplateFunction", "among", "bind", "register", "registered", "sample_scope"]


@dataclass(frozen=True)
class RenderScope:
    """What a template function may know about the message being rendered."""

    workspace_id: str | None
    public_url: str
    profile: Mapping[str, Any]
    message_id: str
    channel: str | None
    now: dt.datetime
    event: Mapping[str, Any] = field(default_factory=dict)
    # The rendering transaction (the outbox's claim: a SQLAlchemy connection); None: a sample render. Typed
    # Any: the template machinery below stays free of database imports (the pure journey definitions use it).
    conn: Any = None


# scope -> the function the template calls
TemplateFunction = Callable[[RenderScope], Callable[..., Any]]

_lock = threading.Lock()
_functions: dict[str, TemplateFunction] = {}
_among: dict[frozenset[str], Mapping[str, TemplateFunction]] = {}  # names -> the factories among them


def register(name: str, factory: TemplateFunction) -> None:
    """Make ``name`` callable from every message template (idempotent by name)."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a name a template can call")
    with _lock:
        _functions[name] = factory
        _among.clear()


def registered() -> dict[str, TemplateFunction]:
    with _lock:
        return dict(_functions)


def among(names: frozenset[str]) -> Mapping[str, TemplateFunction]:
    """The registered factories of the functions a template that reads ``names`` may call (its undeclared
    variables: ``CompiledTemplate.names``); a template that calls none needs no scope bound at all.
    Remembered per set of names until the next ``register`` (the outbox asks once per message)."""
    found = _among.get(names)
    if found is None:
        with _lock:
            found = _among[names] = MappingProxyType(
                {name: factory for name, factory in _functions.items() if name in names})
    return found


def bind(scope: RenderScope, names: Collection[str] | None = None) -> dict[str, Callable[..., Any]]:
    """The template functions for one message (only those in ``names``, when given)."""
    factories = registered() if names is None else among(frozenset(names))
    return {name: factory(scope) for name, factory in factories.items()}


def sample_scope(locale: str = "ko") -> RenderScope:
    """What a save-time trial render binds the functions to: no workspace, no connection."""
    return RenderScope(workspace_id=None, public_url="https://example.invalid", profile={"id": "sample",
                       "locale": locale}, message_id="sample", channel=None, now=dt.datetime.now(dt.UTC))
