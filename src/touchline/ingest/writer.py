"""Group commit of ingestion (:mod:`touchline.store.group_commit`): eight concurrent requests pay for
one lock, one commit and one identity lookup instead of eight."""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from touchline.ingest.normalize import NormalizedEvent
from touchline.ingest.service import IngestResult, ingest_many
from touchline.store.group_commit import GroupWriter

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


class IngestWriter(GroupWriter[_Job]):
    def __init__(self, stores: Stores, *, max_events: int = 5_000) -> None:
        super().__init__("touchline-ingest", max_size=max_events)
        self._stores = stores
        self._last_restart = time.monotonic()

    async def submit(self, workspace_id: str, events: list[NormalizedEvent], result: IngestResult) -> IngestResult:
        """Returns once the events are committed (or their transaction failed, which raises)."""
        done: IngestResult = await self._submit(_Job(workspace_id, events, result))
        return done

    def _size(self, job: _Job) -> int:
        return len(job.events)

    def _after_group(self) -> None:
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

    def _commit_together(self, jobs: list[_Job]) -> None:
        ingest_many(self._stores, [(j.workspace_id, j.events) for j in jobs], now=dt.datetime.now(dt.UTC),
                    results=[j.result for j in jobs])
        for job in jobs:
            job.done.set_result(job.result)

    def _before_retry(self, job: _Job) -> None:
        job.result.accepted = job.result.duplicates = 0
        job.result.profile_ids.clear()
