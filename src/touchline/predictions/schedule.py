"""Retraining on a schedule: every ``settings.prediction_retrain_hours`` each workspace's models are trained
again and its customers scored again, by the server (``touchline serve``) and by ``touchline worker``, in
a thread of their own (a training reads the whole event store: the pump must not wait for it).

Several processes may run one: a workspace is claimed in the state store before it is trained
(``prediction_schedule``), so only one of them trains it, and a claim left by a process that died runs out.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from touchline.errors import StoreUnavailable
from touchline.predictions import service
from touchline.predictions import store as prediction_store
from touchline.threads import named_thread
from touchline.workspaces import store as workspace_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["Retrainer", "retrain_due"]

log = logging.getLogger("touchline.predictions")
# How long a claim holds: longer than any training should take; a process that died frees it then.
CLAIM = dt.timedelta(hours=2)


def retrain_due(stores: Stores, *, now: dt.datetime | None = None) -> list[str]:
    """Train the models of every workspace last trained longer ago than the settings' interval (or never);
    returns the workspaces trained. Nothing when the interval is 0."""
    hours = stores.settings.prediction_retrain_hours
    if hours <= 0:
        return []
    now = now or dt.datetime.now(dt.UTC)
    every = dt.timedelta(hours=hours)
    with stores.read() as conn:
        workspaces = [w["id"] for w in workspace_store.list_workspaces(conn)]
        trained = prediction_store.last_trained(conn)
    done = []
    for workspace_id in workspaces:
        last = trained.get(workspace_id)
        if last is not None and now - last < every:
            continue
        with stores.write() as conn:
            if not prediction_store.claim(conn, workspace_id, now, now + CLAIM):
                continue
        try:
            service.train(stores, workspace_id)
            done.append(workspace_id)
        finally:
            with stores.write() as conn:
                prediction_store.release(conn, workspace_id)
    return done


class Retrainer:
    """Looks every ``poll`` seconds for workspaces whose models are due, and retrains them."""

    def __init__(self, stores: Stores, poll: float = 300.0) -> None:
        self._stores = stores
        self._poll = poll
        self._stop = threading.Event()
        self._thread = named_thread(self._run, "touchline-predictions")

    def start(self) -> None:
        if self._stores.settings.prediction_retrain_hours > 0:
            self._thread.start()

    def _run(self) -> None:
        # Not at once: a server starting (or a test's) has other work first, and the models keep.
        if self._stop.wait(self._poll):
            return
        while True:
            try:
                trained = retrain_due(self._stores)
                if trained:
                    log.info("predictions retrained for %d workspace(s)", len(trained))
            except StoreUnavailable as exc:  # another process holds the embedded event store: next round
                log.warning("retraining predictions waits: %s", exc.message)
            except Exception:  # the next round tries again; a failed training wrote nothing half-way
                log.exception("retraining predictions failed; will retry")
            if self._stop.wait(self._poll):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
