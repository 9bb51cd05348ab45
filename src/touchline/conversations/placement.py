"""Which conversation a customer's message joins: threading, across channels. Pure: no I/O, ``now``
is an argument.

The candidates are the customer's own conversations only (the service reads those of the message's
profile and the profiles merged into it), so a message never lands in another customer's thread. In
order, the first rule that applies decides:

1. **A channel's explicit hint** (the chat window names its conversation): that conversation, reopened
   if it was resolved within the reopening window; resolved longer ago, a new conversation.
2. **An e-mail reply** whose In-Reply-To / References name a message of one of the customer's
   conversations: that conversation when the subjects agree (``Re:``/``Fwd:``/``답장:`` prefixes and
   case aside; a conversation or a mail without a subject agrees with any), reopened if resolved within
   the window. A different subject is a new topic sent as a reply: a new conversation. A reply to a
   conversation resolved longer ago than the window: a new conversation.
3. **Otherwise** the customer's most recent active (open, pending, snoozed) conversation, on whatever
   channel it started: a customer who chatted on the web yesterday and writes on WhatsApp today lands
   in the same thread. Failing that, their most recently resolved conversation if it was resolved
   within the window (a "thanks!" after the answer), reopened. Failing that, a new conversation. A
   message with a subject (an e-mail) only joins a conversation whose subject agrees, so a new topic
   by e-mail is a new conversation while a chat (no subject) continues.

The three ways e-mail threading goes wrong elsewhere, and what prevents them here:

- *every reply opening a new conversation*: replies are matched by the Message-IDs of every message of
  the conversation, the customer's and ours (a reply's Message-ID is recorded when it is queued), and
  without headers by the sender's open conversation with the same subject (rule 3);
- *a new topic sent as a reply merged into an old one*: rule 2 requires the subjects to agree;
- *replies from different people to one newsletter merged into one conversation*: a newsletter is no
  conversation's message, and candidates are the sender's own conversations, so each person who
  replies gets their own (rule 3).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from touchline.conversations.rules import ACTIVE
from touchline.conversations.types import Status

__all__ = ["Candidate", "Join", "Placement", "Start", "normalize_subject", "place", "subjects_agree"]


@dataclass(frozen=True)
class Candidate:
    """One of the customer's conversations, as placement needs it."""

    id: str
    status: Status
    last_message_at: dt.datetime
    subject: str | None = None
    resolved_at: dt.datetime | None = None


@dataclass(frozen=True)
class Join:
    conversation_id: str
    reopen: bool  # the conversation was resolved: the message reopens it
    reason: str


@dataclass(frozen=True)
class Start:
    reason: str


Placement = Join | Start

# Reply and forward markers mail clients put in front of a subject, in English, Korean and a few more
# (Outlook's "RE:", Gmail's "Re:", Korean clients' "답장:", "회신:", "전달:", German "AW:"/"WG:"), with an
# optional count ("Re[2]:", "Re^2:") and full-width colons.
_PREFIX = re.compile(r"^\s*(?:re|fw|fwd|aw|wg|sv|vs|tr|답장|회신|전달|답변)\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:：]\s*",
                     re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes, whitespace collapsed, case folded: what two mails of
    one thread share."""
    text = _SPACE.sub(" ", subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.casefold().strip()


def subjects_agree(a: str | None, b: str | None) -> bool:
    """Whether two subjects name the same topic; a missing (or empty) one agrees with any."""
    na, nb = normalize_subject(a), normalize_subject(b)
    return not na or not nb or na == nb


def _resolved_recently(c: Candidate, now: dt.datetime, window: dt.timedelta) -> bool:
    return c.status == "resolved" and c.resolved_at is not None and now - c.resolved_at <= window


def _join_or_start(c: Candidate, now: dt.datetime, window: dt.timedelta, why: str) -> Placement:
    if c.status in ACTIVE:
        return Join(c.id, False, why)
    if _resolved_recently(c, now, window):
        return Join(c.id, True, f"{why}; resolved within the reopening window")
    return Start(f"{why}, but it was resolved more than {_hours(window)} ago")


def _hours(window: dt.timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hours"


def place(conversations: Sequence[Candidate], *, now: dt.datetime, reopen_window: dt.timedelta,
          hinted: str | None = None, referenced: Sequence[str] = (), subject: str | None = None) -> Placement:
    """Where a message goes among the customer's ``conversations``. ``hinted``: the conversation a
    channel names; ``referenced``: the customer's conversations an e-mail's reply headers point to, the
    most recent reference first; ``subject``: the message's (e-mail) subject."""
    by_id = {c.id: c for c in conversations}
    if hinted is not None and hinted in by_id:
        return _join_or_start(by_id[hinted], now, reopen_window, "the channel named this conversation")
    for conversation_id in referenced:
        c = by_id.get(conversation_id)
        if c is None:
            continue
        if not subjects_agree(subject, c.subject):
            return Start("a reply with a new subject: a new topic")
        return _join_or_start(c, now, reopen_window, "an e-mail reply to this conversation")
    agreeing = [c for c in conversations if subjects_agree(subject, c.subject)]
    newest_first = sorted(agreeing, key=lambda c: (c.last_message_at, c.id), reverse=True)
    for c in newest_first:
        if c.status in ACTIVE:
            return Join(c.id, False, "the customer's active conversation")
    resolved = sorted((c for c in agreeing if _resolved_recently(c, now, reopen_window)),
                      key=lambda c: (c.resolved_at or c.last_message_at, c.id), reverse=True)
    if resolved:
        return Join(resolved[0].id, True, "resolved within the reopening window")
    return Start("no active conversation")
