"""A real Touchline server on a free local port, for tests that drive it with real clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from support import bearer
from touchline.app import create_app
from touchline.store.engines import Stores


@dataclass
class LiveServer:
    url: str
    stores: Stores
    http: httpx.Client

    def profile(self, identifier: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/profiles/{identifier}", headers=bearer())
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def live(stores: Stores) -> Iterator[LiveServer]:
    """``touchline.app`` served by uvicorn in a background thread on a free 127.0.0.1 port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(stores=stores, run_pump=False),
        log_level="warning", access_log=False, lifespan="on", ws="none", timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="touchline-live", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=15) as http:
            yield LiveServer(url, stores, http)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"
