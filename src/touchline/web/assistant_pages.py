"""The dashboard's FAQ page for the shop assistant (issue 15): the workspace's entries grouped by topic,
each with its Korean and English versions side by side; add, edit, enable or disable and delete them
(marketers and admins; agents read); and a box to try a question and see what the bot answers, with its
confidence."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.analytics import service as analytics
from touchline.assistant import service as assistant
from touchline.assistant.knowledge import LANGUAGES
from touchline.conversations import bot, proactive, proactive_service
from touchline.errors import TouchlineError
from touchline.web import charts
from touchline.web.http import formatter, page, problem_details, redirect, render, services, viewer
from touchline.web.i18n import MESSAGES
from touchline.web.periods import PERIOD_CHOICES, period_of

__all__ = ["TRY_MAX_CHARS"]

TRY_MAX_CHARS = 500
BASE = "/assistant/faq"


def _stores(request: Request) -> Any:
    return services(request).stores


def _grouped(entries: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Entries by topic, the usual topics first in their usual order, then the others."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_topic.setdefault(e["topic"], []).append(e)
    return [(topic, by_topic[topic]) for topic in assistant.topics_in(entries) if topic in by_topic]


@page(BASE, permission="faq.view", nav="nav.faq", nav_after="nav.inbox")
async def faq_list(request: Request) -> Response:
    q = request.query_params
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    entries = await run_in_threadpool(assistant.faq_entries, stores, workspace_id)
    question = (q.get("q") or "").replace("\x00", "").strip()[:TRY_MAX_CHARS]
    language = q.get("lang_q") if q.get("lang_q") in LANGUAGES else ""
    reply: dict[str, Any] | None = None
    if question:
        reply = await run_in_threadpool(lambda: assistant.answer(stores, workspace_id, question,
                                                                 language=language or None))
    chosen = next((e for e in entries if reply and e["id"] == reply["faq_id"]), None)
    return render(request, "faq.html", groups=_grouped(entries), count=len(entries),
                  enabled=sum(1 for e in entries if e["enabled"]), question=question, language=language,
                  reply=reply, chosen=chosen, try_max=TRY_MAX_CHARS)


def _version(form: Any, lang: str) -> dict[str, Any] | None:
    """A language's version from the form: questions one per line; no answer, no version."""
    answer = str(form.get(f"{lang}_answer", "")).strip()
    questions = [line.strip() for line in str(form.get(f"{lang}_questions", "")).splitlines() if line.strip()]
    if not answer and not questions:
        return None
    return {"questions": questions, "answer": answer}


def _fields_of(entry: dict[str, Any] | None) -> dict[str, Any]:
    if entry is None:
        return {"key": "", "topic": "", "enabled": True, "ko_questions": "", "ko_answer": "", "en_questions": "",
                "en_answer": ""}
    out: dict[str, Any] = {"key": entry["key"], "topic": entry["topic"], "enabled": entry["enabled"]}
    for lang in LANGUAGES:
        version = entry[lang] or {"questions": [], "answer": ""}
        out[f"{lang}_questions"] = "\n".join(version["questions"])
        out[f"{lang}_answer"] = version["answer"]
    return out


def _problems(request: Request, exc: TouchlineError) -> list[tuple[str, str]]:
    """(where, reason) as the viewer reads them."""
    f = formatter(request)
    out = []
    for d in problem_details(exc):
        field = str(d.get("field") or "")
        head = field.split(".")[0] if field.startswith(("ko.", "en.")) else field
        part = field.split(".")[1] if field.count(".") >= 1 and head in LANGUAGES else ""
        key = f"faq.field.{head}.{part}" if part else f"faq.field.{head}"
        where = f.t(key) if key in MESSAGES else field
        reason = str(d.get("reason") or exc.message)
        reason_key = _REASONS.get(reason.split(" (")[0])
        out.append((where, f.t(reason_key) if reason_key else reason))
    return out


_REASONS = {
    "must not be empty": "faq.problem.empty",
    "taken": "faq.problem.taken",
    "must not contain NUL": "faq.problem.nul",
    "an entry needs a Korean or an English version": "faq.problem.language",
    f"at most {assistant.MAX_ANSWER_CHARS} characters": "faq.problem.answer_long",
    f"at most {assistant.MAX_QUESTION_CHARS} characters": "faq.problem.question_long",
    f"a list of at most {assistant.MAX_QUESTIONS} questions": "faq.problem.questions_many",
    "1 to 64 letters, digits, . - _": "faq.problem.key",
    "1 to 40 lower-case letters, digits, - _": "faq.problem.topic",
}


def _editor(request: Request, entry: dict[str, Any] | None, fields: dict[str, Any],
            problems: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
    return render(request, "faq_edit.html", status_code=status, entry=entry, fields=fields, problems=problems or [],
                  topics=assistant.TOPICS, max_answer=assistant.MAX_ANSWER_CHARS)


@page(BASE + "/new", permission="faq.edit")
async def faq_new(request: Request) -> Response:
    fields = _fields_of(None)
    # From the report's unanswered questions: the shopper's words start the new entry.
    asked = (request.query_params.get("question") or "").replace("\x00", "").strip()[:assistant.MAX_QUESTION_CHARS]
    if asked:
        fields["en_questions" if request.query_params.get("language") == "en" else "ko_questions"] = asked
    topic = request.query_params.get("topic") or ""
    fields["topic"] = topic[:40] if topic in assistant.TOPICS else ""
    return _editor(request, None, fields)


async def _save(request: Request, entry: dict[str, Any] | None) -> Response:
    form = await request.form()
    fields: dict[str, Any] = {k: str(form.get(k, "")) for k in ("key", "topic", "ko_questions", "ko_answer",
                                                            "en_questions", "en_answer")}
    fields["enabled"] = form.get("enabled") == "on"
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    key, topic, on = fields["key"].strip() or None, fields["topic"].strip(), bool(fields["enabled"])
    ko, en = _version(form, "ko"), _version(form, "en")
    try:
        if entry is None:
            saved = await run_in_threadpool(lambda: assistant.create_faq(stores, workspace_id, key=key, topic=topic,
                                                                         enabled=on, ko=ko, en=en))
        else:
            saved = await run_in_threadpool(lambda: assistant.replace_faq(
                stores, workspace_id, entry["id"], key=key, topic=topic, enabled=on, ko=ko, en=en))
    except TouchlineError as exc:
        if exc.status >= 500:
            raise
        return _editor(request, entry, fields, _problems(request, exc), status=422)
    return redirect(f"{BASE}?" + urlencode({"done": "faq.saved", "name": saved["key"]}) + f"#faq-{quote(saved['id'])}")


@page(BASE, permission="faq.edit", methods=("POST",))
async def faq_create(request: Request) -> Response:
    return await _save(request, None)


@page(BASE + "/{faq_id}/edit", permission="faq.edit")
async def faq_edit(request: Request, faq_id: str) -> Response:
    entry = await run_in_threadpool(assistant.get_faq, _stores(request), viewer(request).workspace_id, faq_id)
    return _editor(request, entry, _fields_of(entry))


@page(BASE + "/{faq_id}", permission="faq.edit", methods=("POST",))
async def faq_update(request: Request, faq_id: str) -> Response:
    entry = await run_in_threadpool(assistant.get_faq, _stores(request), viewer(request).workspace_id, faq_id)
    return await _save(request, entry)


@page(BASE + "/{faq_id}/enabled", permission="faq.edit", methods=("POST",))
async def faq_enable(request: Request, faq_id: str) -> Response:
    form = await request.form()
    on = form.get("enabled") == "on"
    saved = await run_in_threadpool(assistant.set_enabled, _stores(request), viewer(request).workspace_id, faq_id, on)
    return redirect(f"{BASE}?" + urlencode({"done": "faq.enabled.saved" if on else "faq.disabled.saved",
                                            "name": saved["key"]}) + f"#faq-{quote(saved['id'])}")


@page(BASE + "/{faq_id}/delete", permission="faq.edit", methods=("POST",))
async def faq_delete(request: Request, faq_id: str) -> Response:
    gone = await run_in_threadpool(assistant.delete_faq, _stores(request), viewer(request).workspace_id, faq_id)
    return redirect(f"{BASE}?" + urlencode({"done": "faq.deleted", "name": gone["key"]}))


# --- the assistant's report and proactive chat ---------------------------------------------------------

REPORT = "/assistant/report"
_SIGNALS = tuple(proactive.SIGNAL_EVENTS)


def _language_names(f: Any) -> dict[str, str]:
    return {"ko": f.t("faq.korean"), "en": f.t("faq.english")}


async def _report_page(request: Request, rule: Any, problems: list[tuple[str, str]] | None = None,
                       status: int = 200) -> Response:
    f = formatter(request)
    period = period_of(request, f)
    stores, workspace_id = _stores(request), viewer(request).workspace_id

    def read() -> tuple[dict[str, Any], dict[str, Any]]:
        report = bot.report(stores, workspace_id, start=period.start, end=period.end)
        lift = analytics.offer_lift(stores, workspace_id, proactive.OFFERED_EVENT, period.start, period.end)
        return report, lift.as_dict()

    report, lift = await run_in_threadpool(read)
    intents = {k: f.t("faq.intent." + k) if "faq.intent." + k in MESSAGES else k for k in report["by_intent"]}
    figures = {"intents": charts.containment(f, report["by_intent"], intents),
               "languages": charts.containment(f, report["by_language"], _language_names(f))}
    return render(request, "assistant_report.html", status_code=status, report=report, lift=lift, rule=rule,
                  period=period, choices=PERIOD_CHOICES, figures=figures, intents=intents,
                  languages=_language_names(f), signals=_SIGNALS, problems=problems or [])


@page(REPORT, permission="faq.view", nav="nav.assistant_report", nav_after="nav.faq")
async def assistant_report(request: Request) -> Response:
    """Containment (conversations the bot resolved, handed over, still open) by intent and language, the
    questions it was not sure of (each a start for a new FAQ entry), and proactive chat: its rule and its
    lift against the holdout."""
    rule = await run_in_threadpool(proactive_service.rule, _stores(request), viewer(request).workspace_id)
    return await _report_page(request, rule)


def _int(value: Any) -> int | str:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 7 else text


@page(REPORT + "/proactive", permission="faq.edit", methods=("POST",))
async def proactive_save(request: Request) -> Response:
    form = await request.form()
    payload: dict[str, Any] = {
        "enabled": form.get("enabled") == "on", "signals": [s for s in _SIGNALS if form.get(f"signal_{s}") == "on"],
        "idle_seconds": _int(form.get("idle_seconds")), "cap_hours": _int(form.get("cap_hours")),
        "holdout_percent": _int(form.get("holdout_percent")),
        "message_ko": str(form.get("message_ko") or ""), "message_en": str(form.get("message_en") or "")}
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    try:
        await run_in_threadpool(proactive_service.set_rule, stores, workspace_id, payload)
    except TouchlineError as exc:
        if exc.status >= 500:
            raise
        f = formatter(request)
        detail = exc.detail if isinstance(exc.detail, list) else []
        problems = [(f.t("assistant.field." + str(d.get("field"))) if "assistant.field." + str(d.get("field"))
                     in MESSAGES else str(d.get("field")), str(d.get("reason"))) for d in detail]
        shown = proactive.ProactiveRule(
            enabled=bool(payload["enabled"]), signals=tuple(payload["signals"]),
            messages={"ko": payload["message_ko"], "en": payload["message_en"]})
        return await _report_page(request, shown, problems, status=422)
    return redirect(REPORT + "?done=assistant.saved#proactive")
