"""The live feed as Server-Sent Events, on a real server (uvicorn) with a real HTTP client, on both
backends: a new message arrives on an open stream; a client that reconnects with Last-Event-ID gets what
it missed, in order, then live changes; a workspace's stream carries nothing of another's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from live_server import LiveServer
from support import bearer
from touchline.conversations import feed
from touchline.workspaces import service as workspaces


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The events of a text/event-stream response as ``{"id", "event", "data"}`` (comments skipped)."""
    fields: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                yield {"id": fields.get("id"), "event": fields.get("event", "message"),
                       "data": orjson.loads(fields["data"])}
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")


def post_inbound(live: LiveServer, pid: str, text: str, *, token: str | None = None,
                 phone: str = "010-4000-0001") -> dict[str, Any]:
    response = live.http.post("/v1/conversations/inbound", headers=bearer(token) if token else bearer(),
                              json={"channel": "sms", "provider_message_id": pid, "customer": {"phone": phone},
                                    "body": text})
    assert response.status_code in (200, 201), response.text
    return response.json()


def stream_client(live: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=httpx.Timeout(20.0))


def test_the_stream_delivers_and_resumes_from_last_event_id(live: LiveServer) -> None:
    with stream_client(live) as http, http.stream("GET", "/v1/conversations/stream", headers=bearer()) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        first = post_inbound(live, "SM-1", "실시간 문의")
        events = sse_events(response)
        got = next(events)
        assert time.monotonic() - started < 5
        assert got["event"] == "message" and got["data"]["message"]["id"] == first["message"]["id"]
        assert got["data"]["conversation"]["status"] == "open" and not got["data"]["private"]
        last_id = got["id"]
        assert int(last_id) == got["data"]["seq"]
    cid = first["conversation"]["id"]
    # Missed while disconnected: a reply, a note, a status change.
    for what, body in (("replies", "답장"), ("notes", "메모")):
        response = live.http.post(f"/v1/conversations/{cid}/{what}", json={"body": body}, headers=bearer())
        assert response.status_code == 201, response.text
    assert live.http.post(f"/v1/conversations/{cid}/resolve", headers=bearer()).status_code == 200
    with stream_client(live) as http, http.stream("GET", "/v1/conversations/stream",
                                                  headers={**bearer(), "Last-Event-ID": last_id}) as response:
        events = sse_events(response)
        missed = [next(events) for _ in range(3)]
        assert [e["event"] for e in missed] == ["message", "message", "conversation"]
        assert [e["data"]["message"]["direction"] for e in missed[:2]] == ["outbound", "note"]
        assert missed[1]["data"]["private"] and missed[2]["data"]["conversation"]["status"] == "resolved"
        seqs = [int(e["id"]) for e in missed]
        assert seqs == sorted(seqs) and seqs[0] > int(last_id)
        # Then live again.
        later = post_inbound(live, "SM-2", "하나 더요")
        live_event = next(events)
        assert live_event["data"]["message"]["id"] == later["message"]["id"]
        assert int(live_event["id"]) > seqs[-1]


def test_a_stream_sees_only_its_workspace(live: LiveServer) -> None:
    with live.stores.write() as conn:
        other = workspaces.create_workspace(conn, "other-shop")
        their_admin = workspaces.create_key(conn, other, "admin")
    with stream_client(live) as http, http.stream("GET", "/v1/conversations/stream",
                                                  headers=bearer(their_admin)) as response:
        post_inbound(live, "mine-1", "우리 가게")
        theirs = post_inbound(live, "theirs-1", "다른 가게", token=their_admin)
        got = next(sse_events(response))
        assert got["data"]["message"]["id"] == theirs["message"]["id"]


def test_many_streams_share_one_poller(live: LiveServer) -> None:
    clients = [stream_client(live) for _ in range(5)]
    contexts = [c.stream("GET", "/v1/conversations/stream", headers=bearer()) for c in clients]
    try:
        responses = [ctx.__enter__() for ctx in contexts]
        hub = feed.hub(live.stores)
        assert hub.subscribers == 5
        sent = post_inbound(live, "fan-1", "모두에게")
        for response in responses:
            assert next(sse_events(response))["data"]["message"]["id"] == sent["message"]["id"]
        assert sum(1 for t in threading.enumerate() if t.name == "touchline-feed") == 1
    finally:
        for ctx in contexts:
            ctx.__exit__(None, None, None)
        for c in clients:
            c.close()


def test_the_poller_waits_for_a_number_not_yet_committed(stores: Any) -> None:
    """PostgreSQL hands out a sequence number before its transaction commits: a larger number can be
    visible first. The poller passes nothing beyond a gap until it fills, or until it waited long enough
    (a transaction that rolled back never fills it)."""
    import asyncio
    import datetime as dt

    from touchline.conversations import store as feed_store

    now = dt.datetime.now(dt.UTC)

    def row(seq: int) -> dict[str, Any]:
        return {"seq": seq, "workspace_id": "ws", "conversation_id": f"c{seq}", "profile_id": "p", "kind": "message",
                "private": False, "payload": {}, "created_at": now}

    hub = feed.FeedHub(stores, interval=60, gap_wait=0.3)
    loop = asyncio.new_event_loop()
    try:
        sub = hub.subscribe("ws", loop=loop)
        assert sub.start == 0
        with stores.write() as conn:
            feed_store.insert_feed(conn, [row(1), row(3)])
        assert hub.poll_once()  # 1 passes; 3 waits for 2
        loop.run_until_complete(asyncio.sleep(0))
        assert sub.queue.get_nowait().seq == 1 and sub.queue.empty()
        with stores.write() as conn:
            feed_store.insert_feed(conn, [row(2)])
        assert not hub.poll_once()
        loop.run_until_complete(asyncio.sleep(0))
        assert [sub.queue.get_nowait().seq for _ in range(2)] == [2, 3]
        with stores.write() as conn:
            feed_store.insert_feed(conn, [row(5)])  # 4 rolled back: never comes
        assert hub.poll_once()
        time.sleep(0.35)
        assert not hub.poll_once()
        loop.run_until_complete(asyncio.sleep(0))
        assert sub.queue.get_nowait().seq == 5 and hub.cursor == 5
    finally:
        hub.close()
        loop.close()
