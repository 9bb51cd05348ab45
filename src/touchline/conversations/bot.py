"""The shop assistant as a participant of conversations (issue 15, first part): it answers a customer's
message from the shop's FAQ (:mod:`touchline.assistant`), on the channel they wrote on, as author
``bot``/``assistant``, and hands over to a person when asked or when it is not sure.

When it speaks (:func:`touchline.conversations.rules.bot_may_answer`, pure): the workspace has an FAQ entry
in use; the conversation is open and nobody is assigned; no person has replied in it (once one has, the bot
stays silent); the customer's message is the last one and recent (``FRESH``: after a pause of the server
the bot leaves old questions to people). A handover (an explicit request, or a question it cannot answer
with confidence) is said to the customer, tagged ``bot-handover`` and summarised in a note for the agent;
the conversation is then routed to people (:func:`service.hand_over`: the team that assigns automatically,
the agent whose turn it is). While the assistant is active, new conversations wait for its turn instead of
being assigned at once; one it cannot answer at all (a channel's rule refused its reply) is handed over too.
Each answer's ``client_key`` is the customer message's id, so a second attempt (another process, a retry
after a crash) returns the first answer and sends nothing again.

The turns are read from the conversations themselves (:func:`store.awaiting_an_answer`), so nothing is
queued that a ``kill -9`` could lose: :class:`BotWorker` (started by ``touchline serve``) looks after every
group of inbound messages it is woken for, and every few seconds in any case.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from touchline.assistant import flows
from touchline.assistant import orders as order_answers
from touchline.assistant import service as assistant_service
from touchline.assistant.engine import Reply
from touchline.conversations import bot_metrics, rules, service, store
from touchline.conversations import hours as team_hours
from touchline.conversations.types import Author, Status
from touchline.errors import TouchlineError
from touchline.profiles import store as profile_store
from touchline.store.schema import event_staging, events
from touchline.threads import named_thread

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["BOT", "FRESH", "HANDOVER_TAG", "KAKAO_BUDGET", "BotWorker", "report", "respond", "respond_all", "wake"]

log = logging.getLogger("touchline.conversations.bot")

BOT = Author("bot", "assistant")
FRESH = dt.timedelta(minutes=15)
# A KakaoTalk skill request is answered in its own response, within Kakao's 5 s: the answer is made there
# (:func:`respond` with ``in_place``) and must be ready well before (``KAKAO_BUDGET``); the worker leaves
# a fresh Kakao message to that path (``KAKAO_GRACE``) and answers it through the outbox only if the
# skill request could not (the server restarted in between, the budget ran out).
KAKAO_BUDGET = 3.0
KAKAO_GRACE = dt.timedelta(seconds=10)
HANDOVER_TAG = "bot-handover"
_HISTORY = 30
_KEY = "touchline.conversations.bot"


_INTENT_KO = {"handover": "상담원 요청", "faq": "자주 묻는 질문", "product": "상품 문의", "order_status": "주문 조회",
              "smalltalk": "인사", "unknown": "알 수 없음", "return": "반품 접수", "exchange": "교환 접수"}


def _summary(asked: list[str], reply: Any) -> str:
    """The note an agent reads first, in the customer's language (the shop's agents speak it): why the bot
    handed over, what it took the question for, and the customer's last questions."""
    lines = [f"- {text[:300]}" for text in asked[-3:]]
    if reply.language == "ko":
        why = ("고객이 상담원을 요청했어요" if reply.handover
               else f"답을 확신하지 못했어요 (신뢰도 {reply.confidence:.2f})")
        head = f"챗봇이 상담원에게 넘김: {why}. 문의 유형: {_INTENT_KO.get(reply.intent, reply.intent)}. 고객의 질문:"
    else:
        why = "asked for a person" if reply.handover else f"not sure (confidence {reply.confidence:.2f})"
        head = f"Assistant handed over: {why}; intent {reply.intent}, language {reply.language}. The customer asked:"
    return head + "\n" + "\n".join(lines)


def _customer_orders(stores: Stores, workspace_id: str, profile_id: str) -> list[order_answers.OrderStatus]:
    """The customer's orders from the event log: the event store and what is still staged for it."""
    rows: dict[str, dict[str, Any]] = {}
    with stores.read() as conn:
        ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id)
        for name in order_answers.ORDER_EVENTS:
            for row in profile_store.events_named(conn, event_staging, workspace_id, name, ids, limit=50):
                rows[row["message_id"]] = row
    with stores.events_conn() as conn:
        for name in order_answers.ORDER_EVENTS:
            for row in profile_store.events_named(conn, events, workspace_id, name, ids, limit=50):
                rows.setdefault(row["message_id"], row)
    return order_answers.orders_of(rows.values())


def _order_answer(stores: Stores, workspace_id: str, conversation: dict[str, Any], last: dict[str, Any],
                  reply: Any) -> str:
    """Order status, told only to a customer whose identity this message's channel proved."""
    if not last.get("verified"):
        return order_answers.SIGN_IN[reply.language]
    orders = _customer_orders(stores, workspace_id, conversation["profile_id"])
    return order_answers.order_text(orders, reply.language, order_number=reply.order_number,
                                    timezone=stores.settings.default_timezone)


def _flow_turn(stores: Stores, workspace_id: str, conversation: dict[str, Any], last: dict[str, Any],
               language: str | None) -> flows.FlowTurn | None:
    """The customer's answer to an open return or exchange request (the bot's last turn asked for the
    order or the reason), or None when there is none or the message answers something else."""
    with stores.read() as conn:
        turn = store.last_assistant_turn(conn, workspace_id, conversation["id"])
    kind, _, rest = str((turn or {}).get("flow_step") or "").partition(":")
    step, _, order = rest.partition(":")
    if turn is None or kind not in flows.KINDS or step not in flows.OPEN_STEPS:
        return None
    known = ([o.order_id for o in _customer_orders(stores, workspace_id, conversation["profile_id"])]
             if last.get("verified") else [])
    return flows.advance(kind, step, last["body"] or "", turn["language"] or language or "ko", order=order or None,
                         known_orders=known)


_PERSON = {"ko": "상담원 연결", "en": "Talk to a person"}


def _quick_replies(reply: Reply, step: flows.FlowTurn | None) -> tuple[str, ...]:
    """What the customer can tap under the answer: the flow's choices, or a person when the bot is unsure."""
    if step is not None and not step.hands_over:
        return step.quick_replies
    if reply.offer_handover and not reply.handover:
        return (_PERSON[reply.language if reply.language in _PERSON else "ko"],)
    return ()


def _record_turn(stores: Stores, workspace_id: str, conversation: dict[str, Any], sent: dict[str, Any],
                 question: str, reply: Any, now: dt.datetime, flow_step: str | None = None) -> None:
    """The turn, for the containment report and the questions the FAQ does not answer (idempotent: keyed
    by the bot's message)."""
    with stores.write() as conn:
        store.insert_assistant_turn(conn, {
            "id": sent["message"]["id"], "workspace_id": workspace_id, "conversation_id": conversation["id"],
            "profile_id": conversation["profile_id"], "channel": sent["message"]["channel"],
            "question": question[:1000], "intent": reply.intent, "language": reply.language,
            "confidence": float(reply.confidence), "answered": not reply.offer_handover,
            "handover": bool(reply.offer_handover), "faq_id": reply.faq_id, "flow_step": flow_step,
            "created_at": now})


def respond(stores: Stores, workspace_id: str, conversation_id: str, *, now: dt.datetime | None = None,
            in_place: bool = False, deadline: float | None = None) -> dict[str, Any] | None:
    """The bot's turn in one conversation: its reply, or None when it says nothing. With ``in_place`` the
    channel delivers the answer itself (a KakaoTalk skill response), so nothing is queued to send; past
    ``deadline`` (``time.monotonic()``) nothing is recorded, the answer is left to the worker."""
    now = now or dt.datetime.now(dt.UTC)
    bot = assistant_service.assistant_with_knowledge(stores, workspace_id)
    if bot is None:
        return None
    conversation = service.get_conversation(stores, workspace_id, conversation_id, now=now)
    history = service.messages(stores, workspace_id, conversation_id, limit=_HISTORY, include_notes=False)
    if not rules.bot_may_answer(conversation["status"], conversation["assignee_id"],
                                [(m["direction"], m["author"]["kind"], m["created_at"]) for m in history],
                                now=now, fresh=FRESH):
        return None
    last = history[-1]
    asked = [m["body"] for m in history if m["direction"] == "inbound" and m["body"]]
    step = _flow_turn(stores, workspace_id, conversation, last, conversation.get("language"))
    if step is not None:
        reply = Reply(intent=step.kind, language=step.language,
                      confidence=1.0, confident=True, handover=step.hands_over, text=step.text)
        text = step.text
    else:
        reply = bot.answer(last["body"] or "", language=conversation.get("language"))
        text = reply.text
        if reply.intent == "order_status":
            text = _order_answer(stores, workspace_id, conversation, last, reply)
        elif reply.intent == "faq" and reply.confident:
            step = flows.offer(reply.topic, reply.language)
            if step is not None:
                text = f"{text}\n\n{step.text}"
    status: Status | None = None
    if reply.offer_handover:  # outside the team's hours: say when a person will answer; it waits, pending
        hours = service.team_hours_for(stores, workspace_id, conversation)
        if hours is not None and not team_hours.is_open(hours, now):
            text = f"{text}\n\n{team_hours.back_text(hours, now, reply.language)}"
            status = "pending"
    if deadline is not None and time.monotonic() > deadline:
        return None
    sent = service.reply(stores, workspace_id, conversation_id, text, author=BOT, channel=last["channel"],
                         client_key=f"bot:{last['id']}", in_place=in_place, status=status,
                         quick_replies=_quick_replies(reply, step), now=now)
    _record_turn(stores, workspace_id, conversation, sent, last["body"] or "", reply, now,
                 flow_step=step.state if step is not None else None)
    if reply.offer_handover:  # each idempotent: a tag is a set, the note has its key, assigned stays
        service.tag(stores, workspace_id, conversation_id, add=[HANDOVER_TAG], now=now)
        summary = step.note() if step is not None and step.hands_over else _summary(asked, reply)
        service.note(stores, workspace_id, conversation_id, summary, author=BOT,
                     client_key=f"bot-summary:{last['id']}", now=now)
        service.hand_over(stores, workspace_id, conversation_id, now=now)
    return sent


def report(stores: Stores, workspace_id: str, *, days: int = 30, now: dt.datetime | None = None,
           start: dt.datetime | None = None, end: dt.datetime | None = None) -> dict[str, Any]:
    """Containment by intent and language of the conversations the bot answered in [start, end) (by default
    the last ``days``), and the questions it was not sure of."""
    now = now or dt.datetime.now(dt.UTC)
    start = start or now - dt.timedelta(days=days)
    with stores.read() as conn:
        rows = store.assistant_turns_since(conn, workspace_id, start, end)
    return {"days": days, **bot_metrics.containment(rows, now).as_dict(), "unanswered": bot_metrics.unanswered(rows)}


def respond_all(stores: Stores, *, now: dt.datetime | None = None) -> int:
    """Every conversation waiting for the bot's turn; how many it answered."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.read() as conn:
        waiting = store.awaiting_an_answer(conn, now - FRESH)
    answered = 0
    for row in waiting:
        last_inbound = row["last_inbound_at"]
        if last_inbound is not None and last_inbound.tzinfo is None:
            last_inbound = last_inbound.replace(tzinfo=dt.UTC)
        if row["channel"] == "kakao" and last_inbound is not None and now - last_inbound < KAKAO_GRACE:
            continue  # the skill request answers it in its own response
        try:
            answered += respond(stores, row["workspace_id"], row["id"], now=now) is not None
        except TouchlineError as exc:  # a conversation changed meanwhile, a channel rule: a person answers
            log.info("the assistant left conversation %s to people: %s", row["id"], exc)
            service.hand_over(stores, row["workspace_id"], row["id"], now=now)
    return answered


class BotWorker:
    """The bot's thread: a round when woken (:func:`wake`, after inbound messages are stored) and every
    ``interval`` seconds in any case."""

    def __init__(self, stores: Stores, interval: float = 5.0) -> None:
        self._stores, self._interval = stores, interval
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stores.extensions[_KEY] = self
        self._thread = named_thread(self._run, "touchline-assistant")
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        if self._stores.settings.assistant_warm_start:
            started = time.monotonic()
            try:
                built = assistant_service.warm(self._stores)
            except Exception:  # the store is down: the first question builds what it needs
                log.exception("the assistant could not warm up")
            else:
                if built:
                    log.info("the assistant is ready for %d workspace(s) in %.1f s", len(built),
                             time.monotonic() - started)
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                respond_all(self._stores)
            except Exception:  # the store is down, a bug: the next round tries again; nothing was queued
                log.exception("the assistant's round failed")

    def stop(self) -> None:
        self._stores.drop_extension(_KEY)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def wake(stores: Stores) -> None:
    """After inbound messages are stored: the bot looks at once (where ``touchline serve`` runs it)."""
    found = stores.extensions.get(_KEY)
    if isinstance(found, BotWorker):
        found.wake()
