"""A real HTTP webhook endpoint for the crash tests, and the one-step webhook journey they drive."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from touchline.journeys import service as journeys
from touchline.messaging import service as messaging
from touchline.store.engines import Stores


class Receiver(ThreadingHTTPServer):
    """The shop's webhook endpoint: ``delay`` seconds a request; records every request's idempotency key
    (also of a request whose sender dies before the answer: its send had started)."""

    daemon_threads = True

    def __init__(self, delay: float = 0.003, *, keep_alive: bool = True) -> None:
        # Without keep-alive each request has its own connection, closed after the answer: nothing is left
        # open by a sender killed between requests.
        super().__init__(("127.0.0.1", 0), _Handler if keep_alive else _ClosingHandler)
        self.delay = delay
        self.keys: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request: its message did not arrive

    def distinct(self) -> int:
        with self.lock:
            return len(set(self.keys))


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive, as providers answer
    disable_nagle_algorithm = True  # else the body waits for the client's delayed ACK of the headers: 40 ms

    def do_POST(self) -> None:
        json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.keys.append(self.headers["Idempotency-Key"])
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _ClosingHandler(_Handler):
    protocol_version = "HTTP/1.0"


@contextmanager
def receiving(delay: float = 0.003, *, keep_alive: bool = True) -> Iterator[Receiver]:
    """A :class:`Receiver` serving in a thread for the duration."""
    server = Receiver(delay, keep_alive=keep_alive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def publish_webhook_journey(stores: Stores, workspace_id: str, journey_id: str, text: str) -> None:
    """A journey that sends one webhook message (``text``, a template over the event) on ``Signed Up``."""
    messaging.save_template(stores, workspace_id, "hook", "webhook", {"en": {"text": text}}, "en")
    journeys.create(stores, workspace_id, {
        "id": journey_id, "name": journey_id.title(), "version": 1,
        "trigger": {"type": "event", "event": "Signed Up"}, "start": "send", "nodes": [
            {"type": "send", "id": "send", "channel": "webhook", "template": "hook", "kind": "transactional",
             "next": "end"}, {"type": "exit", "id": "end"}]})
    journeys.publish(stores, workspace_id, journey_id)
