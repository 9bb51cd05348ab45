"""Dashboard users, passwords, sessions and CSRF tokens.

Passwords are hashed with argon2id (pwdlib's recommended hasher; hashes made with older parameters are
upgraded at the next sign-in). A session is a random token in an HttpOnly, SameSite=Lax cookie; the state
store keeps only its SHA-256, with a CSRF token bound to it that every form and partial update must send
back. The tracking and management API keep their own key auth and never read these cookies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pwdlib import PasswordHash

from touchline.errors import BadRequest, Conflict, NotFound
from touchline.web import store
from touchline.workspaces.service import workspace_id_by_name

if TYPE_CHECKING:
    from touchline.store.engines import Stores

Role = Literal["admin", "marketer", "agent"]
ROLES: tuple[Role, ...] = ("admin", "marketer", "agent")

# What each role may do. Marketers read reports and own segments; agents look customers up and record
# consent changes a customer asks for; admins do everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "reports.view": frozenset({"admin", "marketer"}),
    "segments.view": frozenset({"admin", "marketer", "agent"}),
    "segments.edit": frozenset({"admin", "marketer"}),
    "segments.export": frozenset({"admin", "marketer"}),
    "customers.view": frozenset({"admin", "marketer", "agent"}),
    "consents.edit": frozenset({"admin", "agent"}),
    "journeys.view": frozenset({"admin", "marketer"}),
    "journeys.edit": frozenset({"admin", "marketer"}),
    "messages.view": frozenset({"admin", "marketer"}),
    # The agents' inbox: answering customers is the agents' work (admins can do everything).
    "inbox.use": frozenset({"admin", "agent"}),
    # Teams (channels, automatic assignment, hours): agents see them; admins change them, as the API's admin token.
    "teams.edit": frozenset({"admin"}),
    # The shop assistant's FAQ: marketers and admins write it, agents read it (and try questions).
    "faq.view": frozenset({"admin", "marketer", "agent"}),
    "faq.edit": frozenset({"admin", "marketer"}),
    # Surveys and reviews: marketers read and moderate; agents read (customers ask them about reviews).
    "feedback.view": frozenset({"admin", "marketer", "agent"}),
    "feedback.moderate": frozenset({"admin", "marketer"}),
    # Loyalty: marketers and admins read the program; agents look a customer's points up for them.
    "loyalty.view": frozenset({"admin", "marketer", "agent"}),
    # Recommendations: marketers and admins read the model's figures and may train it now.
    "recommendations.edit": frozenset({"admin", "marketer"}),
    # The shop's catalog: whoever answers customers reads it (the assistant answers from it too).
    "catalog.view": frozenset({"admin", "marketer", "agent"}),
    # In-app messages: the marketers' (their report and rules; pausing and the frequency rule too).
    "inapp.view": frozenset({"admin", "marketer"}),
    "inapp.edit": frozenset({"admin", "marketer"}),
}

MIN_PASSWORD_LENGTH = 10
# A session's last_seen_at is written at most this often (a page view is otherwise a pure read).
_TOUCH_EVERY = dt.timedelta(minutes=5)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_hasher = PasswordHash.recommended()
# Verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class WebUser:
    id: str
    workspace_id: str
    email: str
    name: str
    role: str
    csrf_token: str

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise BadRequest(f"{email!r} is not an e-mail address", {"field": "email", "reason": "not an e-mail address"})
    return email


def create_user(stores: Stores, email: str, password: str, role: str, *, name: str = "",
                workspace: str = "default", now: dt.datetime | None = None) -> dict[str, Any]:
    email = _normal_email(email)
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}", {"field": "role", "reason": f"one of {', '.join(ROLES)}"})
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters",
                         {"field": "password", "reason": "too short"})
    now = now or dt.datetime.now(dt.UTC)
    hashed = _hasher.hash(password)
    with stores.write() as conn:
        if store.user_by_email(conn, email) is not None:
            raise Conflict(f"a user {email!r} exists", {"field": "email", "reason": "taken"})
        user = {"id": "usr_" + uuid.uuid4().hex[:16], "workspace_id": workspace_id_by_name(conn, workspace),
                "email": email, "name": name.strip(), "role": role, "password_hash": hashed, "created_at": now}
        store.insert_user(conn, **user)
    return {k: v for k, v in user.items() if k != "password_hash"}


def set_password(stores: Stores, email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters",
                         {"field": "password", "reason": "too short"})
    hashed = _hasher.hash(password)
    with stores.write() as conn:
        user = store.user_by_email(conn, _normal_email(email))
        if user is None:
            raise NotFound(f"no user {email!r}", {"field": "email", "reason": "unknown user"})
        store.update_user(conn, user["id"], password_hash=hashed)
        store.delete_sessions_of(conn, user["id"])  # a new password signs every browser out


def disable_user(stores: Stores, email: str, now: dt.datetime | None = None) -> None:
    with stores.write() as conn:
        user = store.user_by_email(conn, _normal_email(email))
        if user is None:
            raise NotFound(f"no user {email!r}", {"field": "email", "reason": "unknown user"})
        store.update_user(conn, user["id"], disabled_at=now or dt.datetime.now(dt.UTC))
        store.delete_sessions_of(conn, user["id"])


def list_users(stores: Stores, workspace: str | None = None) -> list[dict[str, Any]]:
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, workspace) if workspace else None
        return store.list_users(conn, workspace_id)


def authenticate(stores: Stores, email: str, password: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The user, if the e-mail and password match an enabled account; None otherwise (either way in
    about the same time)."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.read() as conn:
        user = store.user_by_email(conn, email.strip().lower())
    valid, new_hash = _hasher.verify_and_update(password, user["password_hash"] if user else _DUMMY_HASH)
    if user is None or not valid or user["disabled_at"] is not None:
        return None
    with stores.write() as conn:
        store.update_user(conn, user["id"], last_login_at=now, **({"password_hash": new_hash} if new_hash else {}))
    return user


def start_session(stores: Stores, user_id: str, idle: dt.timedelta, now: dt.datetime | None = None) -> str:
    """A new session (a fresh token at every sign-in, so a planted cookie is worth nothing); returns the
    token for the cookie."""
    now = now or dt.datetime.now(dt.UTC)
    token = secrets.token_urlsafe(32)
    with stores.write() as conn:
        store.delete_expired_sessions(conn, now)
        store.insert_session(conn, token_hash=token_hash(token), user_id=user_id, csrf_token=secrets.token_urlsafe(32),
                             created_at=now, last_seen_at=now, expires_at=now + idle)
    return token


def load_session(stores: Stores, token: str, idle: dt.timedelta, now: dt.datetime | None = None) -> WebUser | None:
    now = now or dt.datetime.now(dt.UTC)
    hashed = token_hash(token)
    with stores.read() as conn:
        row = store.session_with_user(conn, hashed, now)
    if row is None:
        return None
    if now - row["last_seen_at"] >= _TOUCH_EVERY:
        with stores.write() as conn:
            store.touch_session(conn, hashed, now, now + idle)
    return WebUser(row["user_id"], row["workspace_id"], row["email"], row["name"], row["role"], row["csrf_token"])


def end_session(stores: Stores, token: str) -> None:
    with stores.write() as conn:
        store.delete_session(conn, token_hash(token))


def same_token(presented: str | None, expected: str) -> bool:
    return bool(presented) and secrets.compare_digest(str(presented), expected)
