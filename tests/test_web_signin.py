"""Brute-force protection at the dashboard's sign-in (touchline.web.throttle), on both backends."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from touchline.app import create_app
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.web import auth, throttle
from web_helpers import PASSWORD, add_user, form_token

WRONG = "not the password at all"


def attempt(client: TestClient, email: str, password: str, **headers: str) -> object:
    token = form_token(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"},
                       headers=headers, follow_redirects=False)


@pytest.fixture
def kim(stores: Stores) -> str:
    add_user(stores, "kim@example.com", "marketer")
    return "kim@example.com"


def test_an_account_is_locked_after_five_failures_even_for_the_right_password(
        client: TestClient, stores: Stores, kim: str, caplog: pytest.LogCaptureFixture) -> None:
    """The issue's case: 60 wrong passwords all answered 401 and the right one then worked at once."""
    for _ in range(4):
        assert attempt(client, kim, WRONG).status_code == 401
    with caplog.at_level(logging.INFO, logger="touchline.web.signin"):
        locked = attempt(client, kim, WRONG)
    assert locked.status_code == 429
    assert 55 <= int(locked.headers["Retry-After"]) <= 60
    assert re.search(r"Too many failed sign-ins\. Try again after [^<]*\d:\d\d[^<]* \(in about 60 seconds\)",
                     locked.text), locked.text
    assert any(r.levelname == "WARNING" and "sign-in locked" in r.getMessage() and kim in r.getMessage()
               for r in caplog.records)

    verified: list[str] = []
    real = auth.authenticate

    def spy(*args: object, **kwargs: object) -> object:
        verified.append("called")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    auth.authenticate = spy  # type: ignore[assignment]
    try:
        right = attempt(client, kim, PASSWORD)
        korean = attempt(client, kim, PASSWORD, **{"Accept-Language": "ko-KR"})
    finally:
        auth.authenticate = real
    assert right.status_code == 429 and "tl_session" not in right.cookies
    assert int(right.headers["Retry-After"]) <= 60
    assert verified == []  # refused before the password was even checked
    assert korean.status_code == 429
    when = r"\d{4}\. \d+\. \d+\. \d\d:\d\d"
    assert re.search(rf"로그인 실패가 너무 많습니다\. {when} 이후에 다시 시도해 주세요\(약 \d+초 후\)", korean.text)


def test_the_lock_ends_doubles_and_a_success_resets_the_account(client: TestClient, stores: Stores, kim: str
                                                                ) -> None:
    stores.settings.web_signin_lock_seconds = 1.0
    for _ in range(4):
        assert attempt(client, kim, WRONG).status_code == 401
    assert attempt(client, kim, WRONG).status_code == 429
    time.sleep(1.1)
    again = attempt(client, kim, WRONG)  # the one try the lock's end allows, wrong: twice as long
    assert again.status_code == 429 and int(again.headers["Retry-After"]) == 2
    time.sleep(2.1)
    assert attempt(client, kim, PASSWORD).status_code == 303  # signed in
    client.cookies.clear()
    for _ in range(4):  # the success cleared the count: four more failures are only failures
        assert attempt(client, kim, WRONG).status_code == 401
    assert attempt(client, kim, WRONG).status_code == 429


def test_unknown_accounts_lock_like_known_ones(client: TestClient, stores: Stores) -> None:
    """Otherwise a lock would tell who has an account."""
    for _ in range(4):
        assert attempt(client, "nobody@example.com", WRONG).status_code == 401
    assert attempt(client, "nobody@example.com", WRONG).status_code == 429


def test_one_client_guessing_across_accounts_is_locked(stores: Stores, kim: str) -> None:
    """Password spraying: one address, a guess for each of many accounts. Failures on any accounts lock
    the address (20 by default, 6 here: each guess costs a password hash) for every account; other
    addresses are not concerned."""
    assert stores.settings.web_signin_client_failures == 20
    stores.settings.web_signin_client_failures = 6
    with TestClient(create_app(stores=stores, run_pump=False), client=("203.0.113.7", 50000)) as sprayer, \
            TestClient(create_app(stores=stores, run_pump=False), client=("198.51.100.2", 50000)) as office:
        assert attempt(sprayer, kim, PASSWORD).status_code == 303  # a success does not clear the client's count
        sprayer.cookies.clear()
        for i in range(5):
            assert attempt(sprayer, f"user{i}@example.com", WRONG).status_code == 401
        assert attempt(sprayer, "user5@example.com", WRONG).status_code == 429
        assert attempt(sprayer, kim, PASSWORD).status_code == 429
        assert attempt(office, kim, PASSWORD).status_code == 303


def test_several_processes_share_the_counts(settings: Settings, kim: str) -> None:
    """Two servers on one database (two processes' own engines): the failures add up."""
    other = open_stores(settings)
    try:
        with TestClient(create_app(stores=other, run_pump=False)) as second:
            first_stores = open_stores(settings)
            try:
                with TestClient(create_app(stores=first_stores, run_pump=False)) as first:
                    for client in (first, second, first, second):
                        assert attempt(client, kim, WRONG).status_code == 401
                    assert attempt(second, kim, WRONG).status_code == 429
                    assert attempt(first, kim, PASSWORD).status_code == 429
            finally:
                first_stores.dispose()
    finally:
        other.dispose()


def test_racing_attempts_are_all_counted(stores: Stores, kim: str) -> None:
    """Attempts are counted before the password is checked: twenty sent at once get five checks (the
    threshold), not twenty."""
    now = dt.datetime.now(dt.UTC)
    results: list[throttle.Attempt] = []
    barrier = threading.Barrier(20)

    def go() -> None:
        barrier.wait()
        results.append(throttle.begin(stores, kim, "192.0.2.1", now))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = [a for a in results if a.refused_until is None]
    assert len(checked) == 5
    assert sum(a.account_lock is not None for a in checked) == 1
    assert all(a.refused_until is not None for a in results if a not in checked)


def test_policy_lock_lengths() -> None:
    policy = throttle.Policy()
    assert policy.lock_for(4, 5) is None
    assert [policy.lock_for(n, 5) for n in (5, 6, 7, 8, 9, 10, 500)] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15, 15)]
