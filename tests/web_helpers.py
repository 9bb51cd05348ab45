"""Helpers for the dashboard tests: users, signing in with a TestClient, reading CSRF tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from touchline.store.engines import Stores
from touchline.web import auth

PASSWORD = "correct horse battery"
# Plotly redraws its charts when the window resizes; browser tests wait for that (page.evaluate) before they
# measure a page on a phone, instead of guessing how long it takes.
RESIZE_CHARTS = """() => window.Plotly ? Promise.all(Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map((el) => window.Plotly.Plots.resize(el))) : null"""


def add_user(stores: Stores, email: str, role: str) -> None:
    auth.create_user(stores, email, PASSWORD, role, name=email.split("@")[0])


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def page_token(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert found, "no CSRF meta tag in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "/") -> str:
    """Signs in; returns the session's CSRF token (read from the page signed in to)."""
    token = form_token(client.get("/login").text)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token,
                                           "next": next_path})
    assert response.status_code == 200, response.text
    return page_token(response.text)
