"""How well the shop assistant does, from its turns (pure: the rows in, the figures out; ``now`` given).

A conversation the bot took part in is **contained** when the bot resolved it: nobody was handed it, and
the customer either saw it resolved or wrote nothing more for :data:`QUIET` after the bot's last answer
(the usual definition of the products that report containment). It is **handed over** when a turn handed
it to people (asked for a person, the bot was not sure, the bot's tag). Anything else is still **open**
(the customer may yet write). Counted by the intent and the language of the customer's first question,
what they came for. Questions the bot was not sure of are listed, most asked first, for the shop to turn
into FAQ entries.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["QUIET", "Containment", "containment", "unanswered"]

QUIET: Final = dt.timedelta(hours=24)
HANDOVER_TAG: Final = "bot-handover"


@dataclass
class Containment:
    conversations: int = 0
    contained: int = 0
    handed_over: int = 0
    open: int = 0

    @property
    def rate(self) -> float | None:
        """Contained of those decided (contained or handed over); None before any is decided."""
        decided = self.contained + self.handed_over
        return self.contained / decided if decided else None

    def as_dict(self) -> dict[str, Any]:
        return {"conversations": self.conversations, "contained": self.contained, "handed_over": self.handed_over,
                "open": self.open, "containment_rate": self.rate}


@dataclass
class Report:
    total: Containment = field(default_factory=Containment)
    by_intent: dict[str, Containment] = field(default_factory=dict)
    by_language: dict[str, Containment] = field(default_factory=dict)
    turns: int = 0
    answered_turns: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total.as_dict(), "turns": self.turns, "answered_turns": self.answered_turns,
                "by_intent": {k: v.as_dict() for k, v in sorted(self.by_intent.items())},
                "by_language": {k: v.as_dict() for k, v in sorted(self.by_language.items())}}


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _outcome(turns: list[Mapping[str, Any]], now: dt.datetime) -> str:
    tags = turns[0].get("conversation_tags") or []
    if any(t.get("handover") for t in turns) or (isinstance(tags, list) and HANDOVER_TAG in tags):
        return "handed_over"
    last_turn = max(_utc(t["created_at"]) or now for t in turns)
    last_inbound = _utc(turns[0].get("last_inbound_at"))
    wrote_after = last_inbound is not None and last_inbound > last_turn
    if turns[0].get("status") == "resolved" and not wrote_after:
        return "contained"
    if not wrote_after and now - last_turn >= QUIET:
        return "contained"
    return "open"


def containment(rows: Iterable[Mapping[str, Any]], now: dt.datetime) -> Report:
    """The report over turn rows (``assistant_turns`` with their conversation's ``status``,
    ``conversation_tags`` and ``last_inbound_at``)."""
    by_conversation: dict[str, list[Mapping[str, Any]]] = {}
    report = Report()
    for row in rows:
        by_conversation.setdefault(str(row["conversation_id"]), []).append(row)
        report.turns += 1
        report.answered_turns += bool(row.get("answered"))
    for turns in by_conversation.values():
        turns.sort(key=lambda t: _utc(t["created_at"]) or now)
        outcome = _outcome(turns, now)
        first = turns[0]
        for bucket in (report.total, report.by_intent.setdefault(str(first.get("intent") or "unknown"), Containment()),
                       report.by_language.setdefault(str(first.get("language") or "ko"), Containment())):
            bucket.conversations += 1
            setattr(bucket, outcome, getattr(bucket, outcome) + 1)
    return report


def _key(question: str) -> str:
    text = unicodedata.normalize("NFC", question).casefold()
    text = re.sub(r"[\s?!.~,]+", " ", text).strip()
    return text


def unanswered(rows: Iterable[Mapping[str, Any]], limit: int = 50) -> list[dict[str, Any]]:
    """Questions the bot was not sure of (not a request for a person, not a greeting), grouped by their
    text (case, spaces and punctuation aside), most asked first."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("answered") or row.get("intent") in ("handover", "smalltalk"):
            continue
        question = str(row.get("question") or "").strip()
        if not question:
            continue
        at = _utc(row.get("created_at"))
        group = groups.setdefault(_key(question), {"question": question, "count": 0, "language": row.get("language"),
                                                   "last_asked_at": at, "best_confidence": 0.0})
        group["count"] += 1
        if at is not None and (group["last_asked_at"] is None or at > group["last_asked_at"]):
            group["last_asked_at"] = at
        group["best_confidence"] = max(group["best_confidence"], float(row.get("confidence") or 0.0))
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], -(g["last_asked_at"] or dt.datetime.min.replace(
        tzinfo=dt.UTC)).timestamp()))
    return ordered[:limit]
