"""Workspaces and keys: creating them, seeding them from the environment, resolving a presented key."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from sqlalchemy.engine import Connection

from touchline.errors import BadRequest, NotFound
from touchline.workspaces import store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

T = TypeVar("T")
KeyKind = Literal["write", "admin", "identity", "inbound"]
# identity: a secret the shop's server keeps, to sign customer identifiers for the in-app inbox.
# inbound: names the workspace in the URLs (and the e-mail address) providers deliver customers'
# messages to; it opens nothing else.
_PREFIX: dict[str, str] = {"write": "tlw_", "admin": "tla_", "identity": "tli_", "inbound": "tlh_"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key of one kind, bound to one workspace."""

    workspace_id: str
    kind: KeyKind
    key_id: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user_hash(identity_secret: str, identifier: str) -> str:
    """What the shop's server computes for a signed-in customer and hands to its pages and apps, so that
    the in-app inbox of ``identifier`` opens for that customer only: HMAC-SHA256 of the identifier,
    keyed by the secret's SHA-256 (hex). Touchline stores only that hash, and checks with it."""
    return _sign(hash_key(identity_secret), identifier)


def _sign(secret_hash: str, identifier: str) -> str:
    return hmac.new(secret_hash.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def new_workspace_id() -> str:
    return "ws_" + uuid.uuid4().hex[:16]


def bootstrap(stores: Stores) -> None:
    """The embedded default needs no configuration: make the default workspace, and seed the keys
    given in TOUCHLINE_WRITE_KEY / TOUCHLINE_ADMIN_TOKEN."""
    settings = stores.settings
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        workspace = store.workspace_by_name(conn, settings.default_workspace)
        if workspace is None:
            store.insert_workspace(conn, new_workspace_id(), settings.default_workspace, now)
            workspace = store.workspace_by_name(conn, settings.default_workspace)
        assert workspace is not None
        for kind, secret in (("write", settings.write_key), ("admin", settings.admin_token)):
            if secret is not None and secret.get_secret_value():
                _insert_key(conn, workspace["id"], kind, secret.get_secret_value(), "from environment", now)


def create_workspace(conn: Connection, name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest("workspace name must not be empty", {"field": "name", "reason": "empty"})
    if store.workspace_by_name(conn, name) is not None:
        raise BadRequest(f"workspace {name!r} already exists", {"field": "name", "reason": "taken"})
    workspace_id = new_workspace_id()
    store.insert_workspace(conn, workspace_id, name, dt.datetime.now(dt.UTC))
    return workspace_id


def workspace_id_by_name(conn: Connection, name: str) -> str:
    found = store.workspace_by_name(conn, name)
    if found is None:
        raise NotFound(f"no workspace named {name!r}", {"field": "workspace", "reason": "unknown"})
    return str(found["id"])


def create_key(conn: Connection, workspace_id: str, kind: KeyKind, label: str = "") -> str:
    """Make a new random key and return it; only its hash is stored."""
    key = _PREFIX[kind] + secrets.token_urlsafe(24)
    _insert_key(conn, workspace_id, kind, key, label, dt.datetime.now(dt.UTC))
    return key


def _insert_key(conn: Connection, workspace_id: str, kind: str, key: str, label: str, now: dt.datetime) -> None:
    store.insert_key(
        conn,
        id="key_" + uuid.uuid4().hex[:16],
        workspace_id=workspace_id,
        kind=kind,
        key_hash=hash_key(key),
        prefix=key[:8],
        label=label,
        created_at=now,
    )


class KeyResolver:
    """Resolves presented keys to principals, caching hits briefly: ingestion checks a key on every
    request and must not pay a query each time. A revoked key stops working within ``ttl`` seconds."""

    def __init__(self, stores: Stores, ttl: float = 30.0) -> None:
        self._stores = stores
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._identity: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str) -> Principal | None:
        def load(digest: str) -> tuple[Principal | None, float]:
            with self._stores.read() as conn:
                row = store.key_by_hash(conn, digest)
            # Unknown keys are cached for a shorter time, so a key created a moment ago works soon.
            return (Principal(row["workspace_id"], row["kind"], row["id"]), self._ttl) if row else (None, 2.0)

        return self._cached(self._cache, hash_key(key), load)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._identity.clear()

    def verifies_identities(self, workspace_id: str) -> bool:
        """Whether the workspace has an identity secret, and so signs the identifiers its inbox is read by."""
        return bool(self._identity_hashes(workspace_id))

    def user_hash_matches(self, workspace_id: str, identifier: str, presented: str) -> bool:
        presented = presented.strip().lower()
        return any(hmac.compare_digest(_sign(h, identifier), presented) for h in self._identity_hashes(workspace_id))

    def _identity_hashes(self, workspace_id: str) -> list[str]:
        def load(ws: str) -> tuple[list[str], float]:
            with self._stores.read() as conn:
                return store.identity_key_hashes(conn, ws), self._ttl

        return self._cached(self._identity, workspace_id, load)

    def _cached(self, cache: dict[str, tuple[float, T]], key: str, load: Callable[[str], tuple[T, float]]) -> T:
        """``cache[key]`` while fresh, else ``load(key)`` -> (value, seconds to keep it)."""
        now = time.monotonic()
        with self._lock:
            hit = cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value, keep = load(key)
        with self._lock:
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = (now + keep, value)
        return value
