"""The live feed as a Server-Sent Events stream: the one loop behind ``/v1/conversations/stream``, the
web chat's ``/v1/chat/stream`` and the inbox's ``/inbox/stream``.

:func:`open_stream` subscribes to the process's :class:`~touchline.conversations.feed.FeedHub` and reads
what a reconnecting client missed (after its ``Last-Event-ID``, up to the hub's cursor) from the store;
:func:`events` then yields ``retry:``, the missed items, and the live ones as they come, a keep-alive
comment when nothing came for ``KEEPALIVE_SECONDS``, an ``event: reset`` where the stream asks for it
(more was missed than a stream replays, or the client fell behind and its subscription overflowed), and
unsubscribes when the stream ends, however it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from touchline.conversations import feed, service

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["HEADERS", "KEEPALIVE_SECONDS", "Stream", "events", "open_stream", "reset", "response"]

KEEPALIVE_SECONDS = 15.0
RETRY = "retry: 3000\n\n"
KEEPALIVE = ": keep-alive\n\n"
HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
TOO_MUCH_MISSED = "more changes were missed than a stream replays: reload"
FELL_BEHIND = "the stream fell behind: reconnect with Last-Event-ID"


def reset(reason: str) -> str:
    """``event: reset``: the client should reload what it shows."""
    return f"event: reset\ndata: {orjson.dumps({'reason': reason}).decode()}\n\n"


@dataclass
class Stream:
    """An open subscription and what its client missed before it (``truncated``: more than was read)."""
    hub: feed.FeedHub
    sub: feed.Subscription
    backlog: list[feed.FeedItem] = field(default_factory=list)
    truncated: bool = False


async def open_stream(stores: Stores, workspace_id: str, *, match: feed.Match | None = None,
                      resume: int | None = None, replay_limit: int = service.FEED_REPLAY_LIMIT) -> Stream:
    """Subscribe (from a worker thread: it may read the store), then read the workspace's items after
    ``resume`` up to the subscription's start, at most ``replay_limit`` of them (``truncated`` when
    there were more)."""
    hub = feed.hub(stores)
    sub = await run_in_threadpool(hub.subscribe, workspace_id, loop=asyncio.get_running_loop(), match=match)
    opened = Stream(hub, sub)
    if resume is not None and resume < sub.start:
        try:
            backlog = await run_in_threadpool(service.feed_since, stores, workspace_id, resume, sub.start,
                                              replay_limit + 1)
        except BaseException:
            hub.unsubscribe(sub)
            raise
        opened.truncated = len(backlog) > replay_limit
        opened.backlog = backlog[:replay_limit]
    return opened


async def events(stream: Stream, render: Callable[[feed.FeedItem], str], *,
                 accept: Callable[[feed.FeedItem], Awaitable[bool]] | None = None,
                 reset_when_truncated: bool = True, reset_when_behind: bool = True) -> AsyncIterator[str]:
    """The stream's text: ``retry:``, the missed items the subscription's match (and ``accept``) let
    through, then the live ones (``accept`` is asked again: the hub has applied the match), keep-alives
    in between, until the hub closes the subscription. With ``reset_when_truncated`` a backlog longer
    than the replay limit is an ``event: reset`` and the end of the stream (the client reloads); with
    ``reset_when_behind`` an overflowed subscription ends with one."""
    hub, sub = stream.hub, stream.sub
    try:
        yield RETRY
        if stream.truncated and reset_when_truncated:
            yield reset(TOO_MUCH_MISSED)
            return
        for missed in stream.backlog:
            if (sub.match is None or sub.match(missed)) and (accept is None or await accept(missed)):
                yield render(missed)
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                yield KEEPALIVE
                continue
            if item is None:
                if sub.overflowed and reset_when_behind:
                    yield reset(FELL_BEHIND)
                return
            if accept is None or await accept(item):
                yield render(item)
    finally:
        hub.unsubscribe(sub)


def response(body: AsyncIterator[str], headers: Mapping[str, str] = HEADERS) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=dict(headers))
