"""Brute-force protection for the dashboard's sign-in: failures are counted per account and per client
address, and either one locked stops sign-in from it for a while, a correct password included.

- An account (the e-mail as typed, known or not, so that a lock tells nobody whether an account
  exists) is locked after ``web_signin_account_failures`` failures in a row (5): one guess a minute,
  then fewer and fewer, for every client at once. A successful sign-in clears its count.
- A client address is locked after ``web_signin_client_failures`` failures on any accounts (20):
  guessing one password across many accounts. Its count is *not* cleared by a success, or an attacker
  would sign in to an account of their own between guesses.
- The lock lasts ``web_signin_lock_seconds`` (60), doubles with each failure after it (the one try the
  lock's end allows), up to ``web_signin_max_lock_seconds`` (15 min). A count is forgotten after
  ``web_signin_forget_seconds`` (1 h) without a failure, which is longer than the longest lock, so
  the count survives a lock. Sustained guessing gets about four tries an hour per account.

The counts live in the state store (``sign_in_failures``), not in process memory: several server
processes (or a restart) share them, so running more workers gives an attacker no more guesses. An
attempt is counted *before* its password is checked and uncounted if it was right, in one statement
that takes the row's lock: parallel requests cannot all pass the check before the first failure is
recorded. The cost is a write per sign-in, next to the password hash of ~50 ms that each one costs
anyway; attempts refused during a lock cost a read and no hash. Behind a reverse proxy the client address is
the proxy's unless it passes the real one (``touchline serve`` trusts X-Forwarded-For from 127.0.0.1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from touchline.web import store

if TYPE_CHECKING:
    from touchline.settings import Settings
    from touchline.store.engines import Stores

log = logging.getLogger("touchline.web.signin")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class Policy:
    account_failures: int = 5
    client_failures: int = 20
    lock: dt.timedelta = dt.timedelta(minutes=1)
    max_lock: dt.timedelta = dt.timedelta(minutes=15)
    forget: dt.timedelta = dt.timedelta(hours=1)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(settings.web_signin_account_failures, settings.web_signin_client_failures,
                   dt.timedelta(seconds=settings.web_signin_lock_seconds),
                   dt.timedelta(seconds=settings.web_signin_max_lock_seconds),
                   dt.timedelta(seconds=settings.web_signin_forget_seconds))

    def lock_for(self, failures: int, threshold: int) -> dt.timedelta | None:
        """How long ``failures`` in a row lock a key whose threshold is ``threshold`` (None: not)."""
        if failures < threshold:
            return None
        return min(self.lock * 2 ** min(failures - threshold, 20), self.max_lock)


def retry_after(until: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds until ``until`` (``Retry-After``), at least 1."""
    return max(1, math.ceil((until - now).total_seconds()))


def _shown(email: str) -> str:
    """The e-mail for the log; what does not look like one (a password typed into the e-mail field)
    is not written out."""
    email = email.strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else "(not an e-mail address)"


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def _account(email: str) -> str:
    return _key("account", email.strip().lower())


def _client(address: str) -> str:
    return _key("client", address)


@dataclass
class Attempt:
    """A sign-in attempt, counted as a failure before the password is checked (so that attempts racing
    each other are counted too: parallel requests cannot all slip in before a lock) and uncounted if
    it succeeds. ``refused_until``: a lock holds, the password is not checked at all."""

    email: str
    client: str
    now: dt.datetime
    refused_until: dt.datetime | None = None
    account_lock: dt.datetime | None = None  # set by this attempt: it holds if the password is wrong
    client_lock: dt.datetime | None = None
    account_failures: int = 0
    client_failures: int = 0


class _Refused(Exception):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__()
        self.until = until


def begin(stores: Stores, email: str, client: str, now: dt.datetime) -> Attempt:
    """Count an attempt against the account and the client, or refuse it while either is locked."""
    policy = Policy.of(stores.settings)
    attempt = Attempt(email, client, now)
    with stores.read() as conn:
        ends = store.sign_in_locks(conn, [_account(email), _client(client)], now)
    if ends:  # the common case under attack: a read, no write, no password hash
        attempt.refused_until = max(ends)
        log.info("sign-in refused until %s: %s from %s", attempt.refused_until.isoformat(), _shown(email), client)
        return attempt
    forget_before = now - policy.forget
    try:
        with stores.write() as conn:
            store.forget_sign_in_failures(conn, forget_before, now)
            for key, threshold, kind in ((_account(email), policy.account_failures, "account"),
                                         (_client(client), policy.client_failures, "client")):
                failures, locked = store.count_sign_in_attempt(conn, key, now, forget_before)
                if locked is not None and locked > now:  # set by an attempt that raced this one
                    raise _Refused(locked)  # and roll back what this attempt counted
                lock = policy.lock_for(failures, threshold)
                if lock is not None:
                    store.lock_sign_in(conn, key, now + lock)
                end = now + lock if lock is not None else None
                if kind == "account":
                    attempt.account_failures, attempt.account_lock = failures, end
                else:
                    attempt.client_failures, attempt.client_lock = failures, end
    except _Refused as refused:
        attempt.refused_until = refused.until
    return attempt


def failed(attempt: Attempt) -> dt.datetime | None:
    """The password was wrong (the failure is counted already): logs it; returns when the lock this
    attempt set ends, or None when it set none."""
    locks = [lock for lock in (attempt.account_lock, attempt.client_lock) if lock is not None]
    if attempt.account_lock is not None:
        log.warning("sign-in locked until %s after %d failures in a row for account %s (from %s)",
                    attempt.account_lock.isoformat(), attempt.account_failures, _shown(attempt.email), attempt.client)
    if attempt.client_lock is not None:
        log.warning("sign-in locked until %s after %d failures in a row from client %s (last: %s)",
                    attempt.client_lock.isoformat(), attempt.client_failures, attempt.client, _shown(attempt.email))
    if not locks:
        log.info("sign-in failed for %s from %s (%d in a row)", _shown(attempt.email), attempt.client,
                 attempt.account_failures)
    return max(locks, default=None)


def succeeded(stores: Stores, attempt: Attempt) -> None:
    """The password was right: the account's count is cleared; the client's loses this attempt (a
    success does not clear it, or an attacker would sign in to an account of their own between guesses)."""
    with stores.write() as conn:
        store.clear_sign_in_failures(conn, _account(attempt.email))
        store.uncount_sign_in_attempt(conn, _client(attempt.client), attempt.client_lock)
