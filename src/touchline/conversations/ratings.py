"""Rating a web chat: after an agent's chat is resolved, the chat window asks "how did we do?" with five
buttons, and the customer's tap is their CSAT answer. Pure: no I/O.

The request is a message of the conversation (author ``system``, ``survey: {"kind": "csat"}``), so it
reaches the chat window as every reply does and stays in the history; the answer is written on that
message and appended as a ``Conversation Rated`` event, which the feedback domain records as a CSAT
answer of the survey ``conversation`` (the surveys report, the ``csat_score`` trait, segments).

A journey's survey step on the channel ``chat`` asks the same way (``Chat Survey Requested``, appended by
the journey runner, which knows no conversations; the service posts it): the scale's question (NPS 0-10 or
CSAT 1-5) at the end of the customer's latest conversation, once it is resolved and only for a customer who
has written on the web chat (the chat is where they are reachable, as a phone number is for SMS); the
answer is a ``Chat Survey Answered`` event, recorded under the step's survey name.

Asked only where it means something: the workspace switched it on, the customer last wrote on the web
chat (the other channels' surveys are a journey on ``Conversation Resolved`` with a survey step, whose
links and buttons those channels carry), and a person answered in the conversation (a bot-only chat is
measured by the assistant's containment instead). One request per resolution: its id is the
conversation's and the version the resolution made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "ANSWERED_EVENT", "QUESTION", "RATED_EVENT", "REQUESTED_EVENT", "SCALE", "SCALES", "SURVEY", "SURVEY_NAME",
    "Answer", "answer", "answered_event", "in_scale", "is_chat_rating", "question", "scale_of", "should_ask",
    "summary",
]

RATED_EVENT: Final = "Conversation Rated"  # the answer to the rating asked when a chat is resolved
ANSWERED_EVENT: Final = "Chat Survey Answered"  # the answer to a journey's survey asked in the chat
REQUESTED_EVENT: Final = "Chat Survey Requested"  # a journey's survey step on the chat (its runner appends it)
SURVEY_NAME: Final = "conversation"  # the feedback domain's survey the chat ratings are filed under
SURVEY: Final[Mapping[str, Any]] = {"kind": "csat"}
SCALES: Final[Mapping[str, tuple[int, int]]] = {"nps": (0, 10), "csat": (1, 5)}
SCALE: Final = SCALES["csat"]
QUESTION: Final[Mapping[str, str]] = {
    "ko": "상담은 만족스러우셨나요? 1점(매우 불만족)부터 5점(매우 만족)까지 눌러 주세요.",
    "en": "How did we do? Tap 1 (very dissatisfied) to 5 (very satisfied).",
}
# A journey's survey in the chat: the question of its scale.
_SURVEY_QUESTION: Final[Mapping[str, Mapping[str, str]]] = {
    "nps": {"ko": "저희 쇼핑몰을 친구나 지인에게 추천하실 가능성은 얼마나 되나요? 0점(전혀 아니다)부터 "
                  "10점(매우 그렇다)까지 눌러 주세요.",
            "en": "How likely are you to recommend us to a friend or colleague? Tap 0 (not at all likely) to "
                  "10 (extremely likely)."},
    "csat": {"ko": "최근 주문은 만족스러우셨나요? 1점(매우 불만족)부터 5점(매우 만족)까지 눌러 주세요.",
             "en": "How satisfied are you with your recent order? Tap 1 (very dissatisfied) to 5 (very satisfied)."},
}


def is_chat_rating(survey: Any) -> bool:
    """Whether a stored request is the rating asked when a chat was resolved (else a journey's survey; a
    request without a survey name is one of the first kind, as they were stored)."""
    return isinstance(survey, Mapping) and survey.get("survey", SURVEY_NAME) == SURVEY_NAME


def in_scale(score: Any, scale: str) -> bool:
    """Whether ``score`` is a whole number on ``scale`` (true and false are not)."""
    low, high = SCALES[scale]
    return isinstance(score, int) and not isinstance(score, bool) and low <= score <= high


def question(survey: Mapping[str, Any], language: str) -> str:
    """What a request says in ``language`` (ko or en): the chat's rating, or a journey survey's scale."""
    lang = "ko" if language == "ko" else "en"
    if is_chat_rating(survey):
        return QUESTION[lang]
    return _SURVEY_QUESTION[scale_of(survey)][lang]


def scale_of(survey: Any) -> str:
    """A stored request's scale (a dirty one reads as csat)."""
    kind = survey.get("kind") if isinstance(survey, Mapping) else None
    return str(kind) if kind in SCALES else "csat"


def answered_event(survey: Mapping[str, Any]) -> str:
    return RATED_EVENT if is_chat_rating(survey) else ANSWERED_EVENT


def should_ask(*, enabled: bool, channel: str, answered_by_agent: bool) -> bool:
    """Whether resolving this conversation posts a rating request in the chat window."""
    return enabled and channel == "chat" and answered_by_agent


@dataclass(frozen=True)
class Answer:
    """What an answer to a rating request does: ``record`` the score (first answer), ``comment`` (add a
    comment to the score already given), ``same`` (a retry: nothing), or ``refuse`` with ``reason`` (a
    different score after the first: the first stands, as the surveys' answers do)."""

    action: Literal["record", "comment", "same", "refuse"]
    rating: dict[str, Any]
    reason: str | None = None


def answer(stored: Any, score: int, comment: str | None, now_iso: str, scale: str = "csat") -> Answer:
    """Decide an answer against the rating already stored on the request (``None``; a dirty value, a score
    off the scale among them, counts as none)."""
    if _score(stored, scale) is None:
        return Answer("record", {"score": score, "comment": comment, "answered_at": now_iso})
    kept = dict(stored)
    if kept["score"] != score:
        return Answer("refuse", kept, f"this chat was rated {kept['score']} already")
    if comment and not kept.get("comment"):
        return Answer("comment", {**kept, "comment": comment})
    return Answer("same", kept)


def _score(rating: Any, scale: str = "csat") -> int | None:
    score = rating.get("score") if isinstance(rating, Mapping) else None
    return score if in_scale(score, scale) else None


def summary(requests: Sequence[tuple[Any, str | None]]) -> dict[str, Any]:
    """The chat ratings of a period: ``requests`` are (the stored rating or None, the conversation's agent)
    of every rating request asked in it. CSAT as it is usually reported: the share of answers that are 4 or
    5, beside the average, the answers' distribution and the response rate; per agent too. A dirty stored
    rating counts as unanswered."""
    scores = [(_score(rating), agent) for rating, agent in requests]
    answered = [s for s, _ in scores if s is not None]
    by_agent: dict[str, list[int]] = {}
    for score, agent in scores:
        if score is not None and agent:
            by_agent.setdefault(agent, []).append(score)

    def figures(values: Sequence[int]) -> dict[str, Any]:
        return {"answered": len(values),
                "average": round(sum(values) / len(values), 2) if values else None,
                "satisfied_percent": round(100 * sum(v >= 4 for v in values) / len(values), 1) if values else None}

    return {"asked": len(scores), **figures(answered),
            "response_percent": round(100 * len(answered) / len(scores), 1) if scores else None,
            "distribution": {str(n): answered.count(n) for n in range(SCALE[0], SCALE[1] + 1)},
            "by_agent": {agent: figures(values) for agent, values in sorted(by_agent.items())}}
