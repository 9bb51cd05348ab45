"""The domains that hold data about a customer, as the customer-wide operations reach them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["CustomerData", "NotWired", "register", "registered"]

# (connection, workspace, the customer's profile ids: the survivor and those merged into it)
Reader = Callable[[Connection, str, Sequence[str]], Any]
Eraser = Callable[[Connection, str, Sequence[str]], None]


@dataclass(frozen=True)
class CustomerData:
    """What one domain holds about a customer, in the state store.

    ``erase`` deletes it inside the erase's transaction; ``export`` reads all of it for an access
    request (GDPR Art. 15, PIPA Art. 35), under ``name`` in the export; ``view``, when given, reads what
    the one-customer view shows under ``name``; ``tables`` are vacuumed when an erase is purged from
    the store files."""

    name: str
    erase: Eraser
    export: Reader
    tables: tuple[sa.Table, ...]
    view: Reader | None = None


_lock = threading.Lock()
_domains: dict[str, CustomerData] = {}


def register(data: CustomerData) -> None:
    """Add (or replace, by name) a domain's customer data."""
    with _lock:
        _domains[data.name] = data


class NotWired(RuntimeError):
    """A customer-wide operation ran before the domains registered: an erase would leave their data."""


def registered() -> list[CustomerData]:
    """Every registered domain, in the order they registered; refuses to answer before any did."""
    with _lock:
        domains = list(_domains.values())
    if not domains:
        raise NotWired("no domain registered its customer data; call touchline.platform.wire() at start-up")
    return domains
