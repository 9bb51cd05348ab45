"""Event-log subscriber: a journey's survey step on the chat (``Chat Survey Requested``, appended by the
journey runner) becomes the question in the customer's chat window (:func:`service.ask_in_chat`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from touchline.conversations import ratings, service
from touchline.eventlog import LoggedEvent

__all__ = ["capture"]

_SURVEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def capture(conn: Connection, workspace_id: str, events: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Post each request among ``events`` (a malformed one is skipped); returns 0: nothing is queued."""
    for e in events:
        if e.event != ratings.REQUESTED_EVENT:
            continue
        props = e.properties or {}
        survey, scale, key = props.get("survey"), props.get("scale"), props.get("key")
        if not (isinstance(survey, str) and _SURVEY.match(survey) and scale in ratings.SCALES
                and isinstance(key, str) and key):
            continue
        service.ask_in_chat(conn, workspace_id, e.profile_id, survey=survey, scale=str(scale), key=key,
                            now=e.timestamp)
    return 0
