"""The live feed of conversation changes: what an agent's inbox (and later the customer's chat window)
shows as it happens, without reloading.

Every change the service makes to a conversation (a message, a status, an assignment, a delivery) adds a
row to ``conversation_feed`` in the same transaction; its ``seq`` is a number the store hands out in
increasing order, and it is the cursor: a client that reconnects with ``Last-Event-ID: <seq>`` gets
every row after it (from the store), then the live ones, and misses nothing.

One :class:`FeedHub` per process and stores: a single poller thread reads the rows after its cursor
(one query for every workspace, however many subscribers) and hands each to the subscribers of its
workspace (asyncio queues, one per open stream). A commit in this process wakes the poller at once
(:func:`notify`); changes made by another process (several servers on PostgreSQL) are picked up at the
next poll, every ``conversation_feed_poll_seconds``.

Commit order: on SQLite there is one writer, so when a row is visible every smaller number is either
visible too or gone for good. On PostgreSQL a sequence number is taken before its transaction commits,
so a larger number can become visible first; the poller then waits (up to
``conversation_feed_gap_seconds``) for the smaller one before passing it, and the service writes its
feed rows last in each transaction so that the wait is rarely more than a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from touchline.conversations import store
from touchline.store import dialect
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["FeedHub", "FeedItem", "Subscription", "close_hub", "hub", "item_from_row", "notify"]

log = logging.getLogger("touchline.conversations.feed")

_KEY = "touchline.conversations.feed"
POLL_ROWS = 500


@dataclass(frozen=True)
class FeedItem:
    seq: int
    workspace_id: str
    conversation_id: str
    profile_id: str
    kind: str  # message | conversation | delivery
    private: bool  # for agents only (a note, an assignment, tags)
    payload: dict[str, Any]

    def sse(self) -> str:
        """The item as one Server-Sent Event: its ``seq`` as the event id, its kind as the event name."""
        return self._sse

    @functools.cached_property
    def _sse(self) -> str:
        # Encoded once per item, however many agents' streams show it (one item goes to each subscriber).
        data = orjson.dumps({"seq": self.seq, "kind": self.kind, "conversation_id": self.conversation_id,
                             "private": self.private, **self.payload}).decode()
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {data}\n\n"


def item_from_row(row: dict[str, Any]) -> FeedItem:
    return FeedItem(seq=int(row["seq"]), workspace_id=row["workspace_id"], conversation_id=row["conversation_id"],
                    profile_id=row["profile_id"], kind=row["kind"], private=bool(row["private"]),
                    payload=row["payload"] or {})


Match = Callable[[FeedItem], bool]


class Subscription:
    """One open stream: the items of its workspace that ``match``, after ``start`` (the hub's cursor when
    it subscribed), in an asyncio queue on its event loop. A client too slow to keep up (``maxsize``
    items waiting) is closed (``overflowed``): it reconnects with its last id and reads the rest from
    the store."""

    def __init__(self, workspace_id: str, loop: asyncio.AbstractEventLoop, match: Match | None, maxsize: int) -> None:
        self.workspace_id = workspace_id
        self.loop = loop
        self.match = match
        self.queue: asyncio.Queue[FeedItem | None] = asyncio.Queue(maxsize=maxsize + 1)
        self.maxsize = maxsize
        self.start = 0
        self.overflowed = False
        self.closed = False

    def _offer(self, item: FeedItem | None) -> None:  # on the subscriber's loop
        if self.closed:
            return
        if item is None:
            self.closed = True
            self.queue.put_nowait(None)
            return
        if self.queue.qsize() >= self.maxsize:
            self.overflowed = self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)


class FeedHub:
    """The process's poller and its subscribers (see the module's documentation)."""

    def __init__(self, stores: Stores, *, interval: float | None = None, gap_wait: float | None = None) -> None:
        settings = stores.settings
        self.stores = stores
        self.interval = interval if interval is not None else settings.conversation_feed_poll_seconds
        postgres = stores.state.dialect.name == dialect.POSTGRES
        self.gap_wait = gap_wait if gap_wait is not None else (
            settings.conversation_feed_gap_seconds if postgres else 0.0)
        self._lock = threading.Lock()
        self._subs: dict[int, Subscription] = {}
        self._cursor: int | None = None
        self._gap_since: float | None = None  # monotonic time a gap after the cursor was first seen
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- subscribers

    def subscribe(self, workspace_id: str, *, loop: asyncio.AbstractEventLoop, match: Match | None = None,
                  maxsize: int = 1000) -> Subscription:
        """Register a subscriber (blocking: call it from a worker thread, it may read the store). Its
        ``start`` is the cursor: it receives the items after it; those before come from the store."""
        sub = Subscription(workspace_id, loop, match, maxsize)
        with self._lock:
            if self._cursor is None or not self._subs:
                # Nobody was listening: the poller skipped its rounds, start from the newest row.
                with self.stores.read() as conn:
                    self._cursor = store.feed_last_seq(conn)
                self._gap_since = None
            sub.start = self._cursor
            self._subs[id(sub)] = sub
            if self._thread is None and not self._stop.is_set():
                self._thread = named_thread(self._run, "touchline-feed")
                self._thread.start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.pop(id(sub), None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def wake(self) -> None:
        self._wake.set()

    # --- the poller

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                waiting = self.poll_once()
            except Exception:  # a store that is briefly unavailable: the next round tries again
                log.exception("reading the conversation feed failed; will retry")
                waiting = False
            if waiting:  # a gap that may fill: look again soon rather than at the next interval
                self._wake.wait(min(self.interval, 0.05))

    def poll_once(self) -> bool:
        """Read the rows after the cursor and hand them to their subscribers; True when it stopped at a
        gap that may still fill."""
        with self._lock:
            if not self._subs or self._cursor is None:
                return False
            cursor = self._cursor
        with self.stores.read() as conn:
            rows = store.feed_after(conn, cursor, limit=POLL_ROWS)
        items: list[FeedItem] = []
        waiting = False
        for row in rows:
            seq = int(row["seq"])
            if seq != cursor + 1 and self.gap_wait > 0:
                now = time.monotonic()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < self.gap_wait:
                    waiting = True
                    break
                log.info("conversation feed: numbers %d to %d never committed; passing them", cursor + 1, seq - 1)
            self._gap_since = None
            items.append(item_from_row(row))
            cursor = seq
        if not items:
            return waiting
        with self._lock:
            if self._cursor is not None and cursor > self._cursor:
                self._cursor = cursor
            for key in [key for key, sub in self._subs.items() if sub.closed]:  # overflowed, never read
                del self._subs[key]
            subs = list(self._subs.values())
        for item in items:
            for sub in subs:
                if sub.workspace_id != item.workspace_id or (sub.match is not None and not sub.match(item)):
                    continue
                try:
                    sub.loop.call_soon_threadsafe(sub._offer, item)
                except RuntimeError:  # its event loop is closed: the stream is gone
                    self.unsubscribe(sub)
        return waiting

    def close(self) -> None:
        """Stop the poller and end every subscriber's stream."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            subs = list(self._subs.values())
            self._subs.clear()
            thread, self._thread = self._thread, None
        for sub in subs:
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub._offer, None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


def hub(stores: Stores) -> FeedHub:
    """The hub of these stores, made on first use."""
    return stores.extension(_KEY, FeedHub, lambda: FeedHub(stores))


def notify(stores: Stores) -> None:
    """Wake the poller after a commit that added feed rows (nothing to do where nobody listens)."""
    found = stores.extensions.get(_KEY)
    if isinstance(found, FeedHub):
        found.wake()


def close_hub(stores: Stores) -> None:
    found = stores.drop_extension(_KEY)
    if isinstance(found, FeedHub):
        found.close()
