"""Group commit of inbound messages (:mod:`touchline.store.group_commit`): the provider webhooks, the
generic inbound endpoint and the chat window queue their messages here, and one writer thread stores the
messages queued meanwhile with :func:`touchline.conversations.service.receive_many`, in one transaction.
Each message keeps its own answer; one refused does not fail its neighbours.

One writer per process and stores, made on first use (:func:`inbound_writer`) and stopped with the
server (:func:`close_inbound_writer`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from touchline.conversations import bot, service
from touchline.conversations.types import Inbound, Received
from touchline.store.group_commit import GroupWriter

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["InboundWriter", "close_inbound_writer", "inbound_writer"]


_KEY = "touchline.conversations.writer"
# Messages in one transaction at most: the first of a group waits for the whole group's commit.
MAX_GROUP = 200


Clock = Callable[[], dt.datetime]


@dataclass
class _Job:
    workspace_id: str
    inbound: Inbound
    clock: Clock | None  # what time it is for this message (None: the wall clock)
    done: Future[Received] = field(default_factory=Future)


class InboundWriter(GroupWriter[_Job]):
    def __init__(self, stores: Stores, *, max_group: int = MAX_GROUP) -> None:
        super().__init__("touchline-inbound", max_size=max_group)
        self._stores = stores

    async def receive(self, workspace_id: str, inbound: Inbound, *, clock: Clock | None = None) -> Received:
        """:func:`touchline.conversations.service.receive`, answered once the message's group committed.
        ``clock``: the app's (``touchline demo`` simulates one); messages with the same clock share a
        transaction."""
        received: Received = await self._submit(_Job(workspace_id, inbound, clock))
        return received

    def _commit(self, jobs: list[_Job]) -> None:
        for _clock, same_clock in itertools.groupby(jobs, key=lambda job: job.clock):
            super()._commit(list(same_clock))
        bot.wake(self._stores)  # the shop assistant may have something to say

    def _commit_together(self, jobs: list[_Job]) -> None:
        clock = jobs[0].clock
        outcomes = service.receive_many(self._stores, [(job.workspace_id, job.inbound) for job in jobs],
                                        now=clock() if clock is not None else None)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Exception):
                job.done.set_exception(outcome)
            else:
                job.done.set_result(outcome)


def inbound_writer(stores: Stores) -> InboundWriter:
    """The writer of these stores, made on first use."""
    return stores.extension(_KEY, InboundWriter, lambda: InboundWriter(stores))


def close_inbound_writer(stores: Stores) -> None:
    """Store what is queued, then stop the writer's thread."""
    found = stores.drop_extension(_KEY)
    if isinstance(found, InboundWriter):
        found.stop()
