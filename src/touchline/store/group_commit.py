"""Group commit for the HTTP edge: concurrent requests share one state-store transaction.

Each request queues a job and awaits it; one writer thread takes every job queued meanwhile as a group
and runs the group in one transaction. A request still gets its answer only after the transaction
holding its work has committed, so an answer keeps meaning "stored"; what changes is that concurrent
requests pay for one lock and one commit instead of one each, and no thread of the pool sits blocked
on the database for each request in flight.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

from touchline.threads import named_thread

log = logging.getLogger("touchline.store")

__all__ = ["GroupWriter", "Job"]


class Job(Protocol):
    @property
    def done(self) -> Future[Any]: ...


J = TypeVar("J", bound=Job)


class GroupWriter(Generic[J]):
    """The queue and the writer thread; a subclass says how a group is committed (:meth:`_commit_together`,
    which settles every job's ``done``) and how much a job weighs (:meth:`_size`, against ``max_size``)."""

    def __init__(self, thread_name: str, *, max_size: int) -> None:
        self._thread_name = thread_name
        self._max_size = max_size
        self._queue: queue.SimpleQueue[J | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _size(self, job: J) -> int:
        return 1

    def _commit_together(self, jobs: list[J]) -> None:
        """Run the group in one transaction and settle each job's ``done`` (a job refused on its own
        merits gets its exception); raise when the transaction itself fails."""
        raise NotImplementedError

    def _before_retry(self, job: J) -> None:
        """Undo what a failed group's attempt left on ``job`` before it is tried again on its own."""

    def _commit(self, jobs: list[J]) -> None:
        """The group in one transaction; when that fails, each job on its own, so that one job that fails
        the transaction fails alone and its neighbours are stored."""
        try:
            self._commit_together(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                log.exception("%s: the transaction failed", self._thread_name)
                jobs[0].done.set_exception(exc)
                return
            for job in jobs:
                self._before_retry(job)
                self._commit([job])

    def _after_group(self) -> None:
        """Between two groups, while no transaction of this writer is open."""

    async def _submit(self, job: J) -> Any:
        """Queue ``job``; its result once its group committed (or its exception). Awaited on the event
        loop itself."""
        self._ensure_started()
        self._queue.put(job)
        # Shielded: a client that hangs up does not cancel the job, which the writer may be committing.
        return await asyncio.shield(asyncio.wrap_future(job.done))

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = named_thread(self._run, self._thread_name)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = self._size(job)
            while size < self._max_size:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this round
                    break
                jobs.append(more)
                size += self._size(more)
            self._commit(jobs)
            self._after_group()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
