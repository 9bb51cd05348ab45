"""Group commit for the HTTP edge: concurrent requests share one state-store transaction.

Each request still gets its answer only after the transaction holding its events has committed, so
"200" keeps meaning "stored". What changes is that eight concurrent requests pay for one lock, one
commit and one identity lookup instead of eight.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from touchline.ingest.normalize import NormalizedEvent
from touchline.ingest.service import IngestResult, ingest_many
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

log = logging.getLogger("touchline.ingest")

LOG_RESTART_INTERVAL = 2.0  # seconds


@dataclass
class _Job:
    workspace_id: str
    events: list[NormalizedEvent]
    result: IngestResult
    done: Future[IngestResult] = field(default_factory=Future)


class IngestWriter:
    def __init__(self, stores: Stores, *, max_events: int = 5_000) -> None:
        self._stores = stores
        self._max_events = max_events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_restart = time.monotonic()

    async def submit(self, workspace_id: str, events: list[NormalizedEvent], result: IngestResult) -> IngestResult:
        """Returns once the events are committed (or their transaction failed, which raises). Awaited on
        the event loop itself: no thread of the pool sits blocked for each request in flight."""
        self._ensure_started()
        job = _Job(workspace_id, events, result)
        self._queue.put(job)
        # Shielded: a client that hangs up does not cancel the job, which the writer may be committing.
        return await asyncio.shield(asyncio.wrap_future(job.done))

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = named_thread(self._run, "touchline-ingest")
                    self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.events)
            while size < self._max_events:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this round
                    break
                jobs.append(more)
                size += len(more.events)
            self._commit(jobs)
            self._restart_log_now_and_then()

    def _restart_log_now_and_then(self) -> None:
        """Let SQLite's write-ahead log start over (see ``dialect.checkpoint``). Here, between two
        transactions of the process's busiest writer, is where no writer is in its way; the requests
        answered above do not wait for it."""
        now = time.monotonic()
        if now - self._last_restart < LOG_RESTART_INTERVAL:
            return
        self._last_restart = now
        try:
            self._stores.checkpoint(restart=True)
        except Exception:  # a busy or failed checkpoint is retried next time; nothing is lost
            log.exception("checkpointing the state store's write-ahead log failed")

    def _commit(self, jobs: list[_Job]) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            ingest_many(self._stores, [(j.workspace_id, j.events) for j in jobs], now=now,
                        results=[j.result for j in jobs])
        except Exception as exc:
            if len(jobs) == 1:
                log.exception("ingestion transaction failed")
                jobs[0].done.set_exception(exc)
                return
            # One bad job must not fail its neighbours: retry each on its own.
            for job in jobs:
                job.result.accepted = job.result.duplicates = 0
                job.result.profile_ids.clear()
                self._commit([job])
            return
        for job in jobs:
            job.done.set_result(job.result)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

