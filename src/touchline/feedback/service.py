"""Feedback's rules: signed links in messages, survey answers, reviews and their moderation, the reports.

Answers and reviews are stored in the state store and appended to the event log (``Survey Answered``,
``Review Submitted``, ``Review Published``, ``Review Rejected``) with the traits segments and journeys read
(``nps_score``, ``nps_category``, ``csat_score``, ``last_review_rating``), in one transaction: a retry
(the same link, the same customer, order and product) changes nothing. No SQL here (``store``), no commit
outside the ``with stores.write()`` blocks of the entry points.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.engine import Connection

from touchline.conversations import ratings as chat_ratings
from touchline.errors import Forbidden, NotFound, TouchlineError, ValidationFailed, field_error
from touchline.eventlog import LoggedEvent, SystemEvent, append_system_events
from touchline.feedback import signing, stats
from touchline.feedback import store as feedback_store
from touchline.feedback.profanity import find_profanity
from touchline.feedback.signing import LinkClaims, LinkRefused
from touchline.messaging.functions import RenderScope
from touchline.messaging.types import language_of
from touchline.profiles import store as profile_store
from touchline.store.schema import reviews as reviews_table
from touchline.store.schema import survey_answers as survey_answers_table

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "LinkGone", "answer_from_link", "answer_survey", "apply_moderation", "capture", "moderate", "nps_report",
    "open_link",
    "product_page", "product_ratings", "review_link_function", "submit_review", "survey_link_function",
]

SurveyKind = Literal["nps", "csat"]
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}
MAX_COMMENT = 2000
MAX_REVIEW_BODY = 4000
MAX_TITLE = 120
SURVEY_DAYS = 14
REVIEW_DAYS = 30
SURVEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
PRODUCT_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"


class LinkGone(TouchlineError):
    status = 410
    code = "link_expired"


# --- links in messages --------------------------------------------------------------------------------------

def _language(profile: Mapping[str, Any]) -> str | None:
    locale = profile.get("locale") or (profile.get("traits") or {}).get("locale")
    return str(locale).split("-")[0].lower()[:3] if locale else None


def _sign(scope: RenderScope, claims: LinkClaims, path: str) -> str:
    assert scope.conn is not None and scope.workspace_id is not None
    return f"{scope.public_url}/{path}/{signing.sign(claims, feedback_store.secret(scope.conn, scope.workspace_id))}"


def survey_link_function(scope: RenderScope) -> Callable[..., str]:
    """``survey_link(survey="nps", kind=None, days=14, score=None)`` in a template: the customer's signed
    link to the survey's answer page; with ``score`` a one-click answer (a button per score in a messenger
    or an e-mail)."""

    def survey_link(survey: str = "nps", kind: str | None = None, days: int = SURVEY_DAYS,
                    score: int | None = None) -> str:
        survey_kind = kind or ("csat" if survey == "csat" else "nps")
        if survey_kind not in SCALES:
            raise ValueError("kind is 'nps' or 'csat'")
        low, high = SCALES[survey_kind]
        if score is not None and not (isinstance(score, int) and low <= score <= high):
            raise ValueError(f"score is {low}-{high} for {survey_kind}")
        if not isinstance(days, int) or not 1 <= days <= 365:
            raise ValueError("days is 1-365")
        suffix = "" if score is None else f"?score={score}"
        if scope.conn is None or scope.workspace_id is None:
            return f"{scope.public_url}/s/sample{suffix}"
        claims = LinkClaims(kind="survey", workspace_id=scope.workspace_id, profile_id=str(scope.profile["id"]),
                            expires_at=scope.now + dt.timedelta(days=days), survey=str(survey)[:40],
                            survey_kind=survey_kind, message_id=scope.message_id, channel=scope.channel,
                            language=_language(scope.profile))
        return _sign(scope, claims, "s") + suffix

    return survey_link


def _event_product(event: Mapping[str, Any]) -> str | None:
    if event.get("product_id"):
        return str(event["product_id"])
    products = event.get("products")
    if isinstance(products, list) and products and isinstance(products[0], Mapping):
        found = products[0].get("product_id") or products[0].get("sku")
        return str(found) if found else None
    return None


def review_link_function(scope: RenderScope) -> Callable[..., str]:
    """``review_link(order_id=None, product_id=None, days=30)``: the signed link to the review form; the
    order and product default to the message's event (an ``Order Completed``'s first product)."""

    def review_link(order_id: str | None = None, product_id: str | None = None, days: int = REVIEW_DAYS) -> str:
        order = order_id or (str(scope.event["order_id"]) if scope.event.get("order_id") else None)
        product = product_id or _event_product(scope.event)
        if not isinstance(days, int) or not 1 <= days <= 365:
            raise ValueError("days is 1-365")
        if scope.conn is None or scope.workspace_id is None:
            return f"{scope.public_url}/r/sample"
        if not product:
            raise ValueError("review_link needs a product_id (none in the event either)")
        claims = LinkClaims(kind="review", workspace_id=scope.workspace_id, profile_id=str(scope.profile["id"]),
                            expires_at=scope.now + dt.timedelta(days=days), product_id=str(product)[:128],
                            order_id=str(order)[:128] if order else None, message_id=scope.message_id,
                            channel=scope.channel, language=_language(scope.profile))
        return _sign(scope, claims, "r")

    return review_link


def make_link(stores: Stores, workspace_id: str, identifier_profile: str, *, kind: Literal["survey", "review"],
              now: dt.datetime, days: int, survey: str = "nps", survey_kind: str = "nps",
              product_id: str | None = None, order_id: str | None = None, channel: str | None = None,
              language: str | None = None) -> dict[str, Any]:
    """A signed link made through the API (a shop's own e-mail, a QR code on a receipt)."""
    claims = LinkClaims(kind=kind, workspace_id=workspace_id, profile_id=identifier_profile,
                        expires_at=now + dt.timedelta(days=days), survey=survey if kind == "survey" else None,
                        survey_kind=survey_kind if kind == "survey" else None, product_id=product_id,
                        order_id=order_id, channel=channel, language=language)
    with stores.write() as conn:
        token = signing.sign(claims, feedback_store.secret(conn, workspace_id))
    path = "s" if kind == "survey" else "r"
    return {"url": f"{stores.settings.public_url.rstrip('/')}/{path}/{token}", "token": token,
            "expires_at": claims.expires_at.isoformat()}


def open_link(stores: Stores, token: str, now: dt.datetime, kind: Literal["survey", "review"]) -> LinkClaims:
    """The claims of a link presented to the answer page; 403 when tampered with, 410 when expired, 404
    when malformed or of the other kind."""
    try:
        workspace_id = signing.unverified_workspace(token)
        with stores.read() as conn:
            key = feedback_store.secret_if_any(conn, workspace_id)
        if key is None:
            raise LinkRefused("tampered")
        claims = signing.verify(token, key, now)
    except LinkRefused as exc:
        if exc.reason == "expired":
            raise LinkGone("this link has expired", field_error("token", "expired")) from None
        if exc.reason == "tampered":
            raise Forbidden("this link's signature does not match", field_error("token", "tampered"),
                            code="link_tampered") from None
        raise NotFound("no such link", field_error("token", exc.reason), code="link_not_found") from None
    if claims.kind != kind:
        raise NotFound("no such link", field_error("token", f"not a {kind} link"), code="link_not_found")
    return claims


# --- survey answers -----------------------------------------------------------------------------------------

def _check_score(kind: str, score: Any, field: str = "score") -> int:
    low, high = SCALES[kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise ValidationFailed(f"{field} must be an integer {low}-{high} for {kind}",
                               [field_error(field, f"must be an integer {low}-{high}")])
    return score


def _clean_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValidationFailed(f"{field} contains a NUL character", [field_error(field, "NUL character")])
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters",
                               [field_error(field, f"at most {limit} characters")])
    return value or None


def _answer_events(row: Mapping[str, Any], now: dt.datetime) -> list[SystemEvent]:
    properties: dict[str, Any] = {"answer_id": row["id"], "survey": row["survey"], "kind": row["kind"],
                                  "score": row["score"], "channel": row["channel"],
                                  "source_message_id": row["source_message_id"]}
    if row["kind"] == "nps":
        properties["category"] = stats.nps_category(int(row["score"]))
    if row.get("comment"):
        properties["comment"] = row["comment"]
    return [SystemEvent(profile_id=row["profile_id"], event="Survey Answered", properties=properties,
                        timestamp=row["answered_at"], message_id=f"survey-{row['id']}")]


def _answer_traits(row: Mapping[str, Any]) -> dict[str, Any]:
    if row["kind"] == "nps":
        return {"nps_score": row["score"], "nps_category": stats.nps_category(int(row["score"])),
                "nps_answered_at": row["answered_at"].isoformat()}
    return {"csat_score": row["score"], "csat_answered_at": row["answered_at"].isoformat()}


def record_answer(conn: Connection, workspace_id: str, *, answer_id: str, profile_id: str, survey: str, kind: str,
                  score: int, comment: str | None, channel: str | None, source_message_id: str | None,
                  language: str | None, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Store one answer, its event and traits in ``conn``'s transaction; (the answer, whether it was new).
    A retry returns the stored answer unchanged, except that a comment is added to an answer without one."""
    profile_id = profile_store.canonical_profile_id(conn, workspace_id, profile_id)
    if profile_store.profile_row(conn, workspace_id, profile_id) is None:
        raise NotFound("the customer of this link no longer exists", field_error("token", "unknown customer"))
    row = {"id": answer_id, "workspace_id": workspace_id, "profile_id": profile_id, "survey": survey, "kind": kind,
           "score": score, "comment": comment, "channel": channel, "source_message_id": source_message_id,
           "language": language, "answered_at": now, "updated_at": now}
    created = feedback_store.insert_answer(conn, row)
    if created:
        append_system_events(conn, workspace_id, _answer_events(row, now), now)
        profile_store.set_traits(conn, workspace_id, profile_id, _answer_traits(row), now, "survey")
        return row, True
    stored = feedback_store.answer(conn, workspace_id, answer_id)
    assert stored is not None
    if comment and not stored.get("comment") and feedback_store.set_comment(conn, workspace_id, answer_id, comment,
                                                                            now):
        stored["comment"] = comment
        append_system_events(conn, workspace_id, [SystemEvent(
            profile_id=stored["profile_id"], event="Survey Commented",
            properties={"answer_id": answer_id, "survey": stored["survey"], "kind": stored["kind"],
                        "score": stored["score"], "comment": comment},
            timestamp=now, message_id=f"survey-{answer_id}-comment")], now)
    return stored, False


def record_answers(conn: Connection, workspace_id: str, rows: Sequence[dict[str, Any]], now: dt.datetime
                   ) -> list[dict[str, Any]]:
    """Many answers (full ``survey_answers`` rows of existing, canonical customers) at once, as
    :func:`record_answer` stores one: those stored already are left alone; events appended and traits set
    in bulk. Returns the new ones. For imports and the demo."""
    existing = feedback_store.existing_ids(conn, survey_answers_table, workspace_id, [r["id"] for r in rows])
    new = [r for r in {r["id"]: r for r in rows}.values() if r["id"] not in existing]
    feedback_store.insert_many(conn, survey_answers_table, new)
    append_system_events(conn, workspace_id, [e for r in new for e in _answer_events(r, now)], now)
    traits: dict[str, dict[str, Any]] = {}
    for row in sorted(new, key=lambda r: r["answered_at"]):
        traits.setdefault(row["profile_id"], {}).update(_answer_traits(row))
    profile_store.set_traits_many(conn, workspace_id, traits, now, "survey")
    return new


def answer_from_link(stores: Stores, claims: LinkClaims, score: Any, comment: str | None, now: dt.datetime
                     ) -> tuple[dict[str, Any], bool]:
    kind = claims.survey_kind or "nps"
    checked = _check_score(kind, score)
    text = _clean_text(comment, "comment", MAX_COMMENT)
    answer_id = signing.answer_id(claims.workspace_id, "survey", claims.profile_id, claims.survey,
                                  claims.message_id or claims.expires_at.isoformat())
    with stores.write() as conn:
        return record_answer(conn, claims.workspace_id, answer_id=answer_id, profile_id=claims.profile_id,
                             survey=claims.survey or kind, kind=kind, score=checked, comment=text,
                             channel=claims.channel, source_message_id=claims.message_id,
                             language=claims.language, now=now)


def answer_survey(stores: Stores, workspace_id: str, profile_id: str, *, survey: str, kind: str, score: int,
                  comment: str | None, answer_key: str, channel: str | None, language: str | None,
                  now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """An answer through the API (an in-app survey, the chat's buttons): ``answer_key`` is the caller's
    idempotency key."""
    checked = _check_score(kind, score)
    text = _clean_text(comment, "comment", MAX_COMMENT)
    answer_id = signing.answer_id(workspace_id, "api", survey, answer_key)
    with stores.write() as conn:
        return record_answer(conn, workspace_id, answer_id=answer_id, profile_id=profile_id, survey=survey,
                             kind=kind, score=checked, comment=text, channel=channel, source_message_id=None,
                             language=language, now=now)


def public_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "workspace_id"}
    for key in ("answered_at", "updated_at"):
        if isinstance(out.get(key), dt.datetime):
            out[key] = out[key].isoformat()
    if row["kind"] == "nps":
        out["category"] = stats.nps_category(int(row["score"]))
    return out


# --- the NPS report -----------------------------------------------------------------------------------------

def _period_start(at: dt.datetime, interval: str) -> dt.date:
    day = at.date()
    if interval == "day":
        return day
    if interval == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(start: dt.date, interval: str) -> dt.date:
    if interval == "day":
        return start + dt.timedelta(days=1)
    if interval == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def nps_report(stores: Stores, workspace_id: str, *, since: dt.datetime, until: dt.datetime, interval: str = "week",
               survey: str | None = None, comments: int = 20) -> dict[str, Any]:
    """NPS per period (day, week or month, UTC) with its 95 % interval, the whole range's, CSAT the same
    way, and the latest comments."""
    if until <= since:
        raise ValidationFailed("until must be after since", [field_error("until", "not after since")])
    with stores.read() as conn:
        nps_rows = feedback_store.answers_between(conn, workspace_id, "nps", since, until, survey)
        csat_rows = feedback_store.answers_between(conn, workspace_id, "csat", since, until, survey)
        latest = feedback_store.answers(conn, workspace_id, survey=survey, with_comment=True, limit=comments)
    periods: list[dict[str, Any]] = []
    start = _period_start(since, interval)
    buckets: dict[dt.date, list[int]] = {}
    for at, score in nps_rows:
        buckets.setdefault(_period_start(at, interval), []).append(score)
    csat_buckets: dict[dt.date, list[int]] = {}
    for at, score in csat_rows:
        csat_buckets.setdefault(_period_start(at, interval), []).append(score)
    while start < until.date() or (start == until.date() and until.time() != dt.time(0)):
        scores = buckets.get(start, [])
        summary = _nps_of(scores)
        satisfied = csat_buckets.get(start, [])
        periods.append({"start": start.isoformat(), **summary.as_dict(),
                        "csat": stats.csat(sum(1 for s in satisfied if s >= 4), len(satisfied)).as_dict()})
        start = _next_period(start, interval)
    all_csat = [s for _, s in csat_rows]
    return {"since": since.isoformat(), "until": until.isoformat(), "interval": interval, "survey": survey,
            "overall": _nps_of([s for _, s in nps_rows]).as_dict(),
            "csat": stats.csat(sum(1 for s in all_csat if s >= 4), len(all_csat)).as_dict(),
            "periods": periods, "comments": [public_answer(r) for r in latest]}


def _nps_of(scores: Sequence[int]) -> stats.NpsSummary:
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return stats.nps(promoters, len(scores) - promoters - detractors, detractors)


# --- reviews ------------------------------------------------------------------------------------------------

def _author(profile: Mapping[str, Any] | None) -> str | None:
    """The name on a published review, masked (김지은 -> 김**, Emma Wilson -> Emma W.)."""
    traits = (profile or {}).get("traits") or {}
    name = traits.get("name") or " ".join(str(traits[k]) for k in ("firstName", "lastName") if traits.get(k))
    name = str(name or "").strip()
    if not name:
        return None
    if all("\uac00" <= ch <= "\ud7a3" for ch in name.replace(" ", "")):
        return name[0] + "*" * (len(name) - 1)
    parts = name.split()
    return parts[0] + (f" {parts[-1][0]}." if len(parts) > 1 else "")


def _review_event(row: Mapping[str, Any], name: str, now: dt.datetime) -> SystemEvent:
    properties = {"review_id": row["id"], "product_id": row["product_id"], "order_id": row["order_id"],
                  "rating": row["rating"], "source": row["source"]}
    return SystemEvent(profile_id=row["profile_id"], event=name, properties=properties, timestamp=now,
                       message_id=f"review-{row['id']}-{name.split()[-1].lower()}")


def record_review(conn: Connection, workspace_id: str, *, profile_id: str, product_id: str, order_id: str | None,
                  rating: int, title: str | None, body: str | None, language: str | None, source: str,
                  now: dt.datetime, event: bool = True) -> tuple[dict[str, Any], bool]:
    profile_id = profile_store.canonical_profile_id(conn, workspace_id, profile_id)
    profile = profile_store.profile_row(conn, workspace_id, profile_id)
    if profile is None:
        raise NotFound("no such customer", field_error("identifier", "unknown customer"))
    row = review_row(workspace_id, {**profile, "id": profile_id}, product_id=product_id, order_id=order_id,
                     rating=rating, title=title, body=body, language=language, source=source, now=now)
    review_id = row["id"]
    created = feedback_store.insert_review(conn, row)
    if not created:
        stored = feedback_store.review(conn, workspace_id, review_id)
        assert stored is not None
        return stored, False
    if event:  # not for a review the shop tracked itself: its event is in the log, its traits its own
        append_system_events(conn, workspace_id, [_review_event(row, "Review Submitted", now)], now)
        profile_store.set_traits(conn, workspace_id, profile_id, {"last_review_rating": rating}, now, "review")
    return row, True


def review_row(workspace_id: str, profile: Mapping[str, Any], *, product_id: str, order_id: str | None, rating: int,
               title: str | None, body: str | None, language: str | None, source: str, now: dt.datetime
               ) -> dict[str, Any]:
    """A new review's row (pending, with the profanity filter's findings) for a canonical profile."""
    review_id = "rv_" + signing.answer_id(workspace_id, "review", profile["id"], order_id, product_id)[:24]
    return {"id": review_id, "workspace_id": workspace_id, "profile_id": profile["id"], "product_id": product_id,
            "order_id": order_id, "rating": rating, "title": title, "body": body, "author": _author(profile),
            "language": language, "status": "pending", "flagged": find_profanity(title, body), "reply": None,
            "replied_at": None, "moderated_by": None, "moderated_at": None, "source": source, "created_at": now,
            "updated_at": now}


def record_reviews(conn: Connection, workspace_id: str, rows: Sequence[dict[str, Any]], now: dt.datetime
                   ) -> list[dict[str, Any]]:
    """Many reviews (rows from :func:`review_row`) at once; returns the new ones."""
    existing = feedback_store.existing_ids(conn, reviews_table, workspace_id, [r["id"] for r in rows])
    new = [r for r in {r["id"]: r for r in rows}.values() if r["id"] not in existing]
    feedback_store.insert_many(conn, reviews_table, new)
    append_system_events(conn, workspace_id, [_review_event(r, "Review Submitted", r["created_at"]) for r in new],
                         now)
    profile_store.set_traits_many(conn, workspace_id, {r["profile_id"]: {"last_review_rating": r["rating"]}
                                                       for r in sorted(new, key=lambda r: r["created_at"])},
                                  now, "review")
    return new


def moderate_many(conn: Connection, workspace_id: str, decisions: Sequence[tuple[Mapping[str, Any], Action,
                  dt.datetime, str | None]], *, by: str, now: dt.datetime) -> None:
    """Moderations of stored reviews at once: (review row, approve|reject|reply, when, reply text)."""
    changes: list[dict[str, Any]] = []
    events: list[SystemEvent] = []
    for row, action, when, text in decisions:
        if action == "reply":
            changes.append({"id": row["id"], "status": row["status"], "moderated_by": row.get("moderated_by"),
                            "moderated_at": row.get("moderated_at"), "reply": text, "replied_at": when,
                            "updated_at": when})
            continue
        status = "approved" if action == "approve" else "rejected"
        changes.append({"id": row["id"], "status": status, "moderated_by": by, "moderated_at": when,
                        "reply": row.get("reply"), "replied_at": row.get("replied_at"), "updated_at": when})
        events.append(_review_event(row, "Review Published" if status == "approved" else "Review Rejected", when))
    feedback_store.update_many(conn, changes)
    append_system_events(conn, workspace_id, events, now)


def _check_review(rating: Any, title: str | None, body: str | None, product_id: str | None
                  ) -> tuple[int, str | None, str | None, str]:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed("rating must be an integer 1-5", [field_error("rating", "must be an integer 1-5")])
    if not product_id or len(product_id) > 128 or "\x00" in product_id:
        raise ValidationFailed("product_id is required", [field_error("product_id", "required, 1-128 characters")])
    return rating, _clean_text(title, "title", MAX_TITLE), _clean_text(body, "body", MAX_REVIEW_BODY), product_id


def submit_review(stores: Stores, workspace_id: str, profile_id: str, *, product_id: str | None,
                  order_id: str | None, rating: Any, title: str | None, body: str | None, language: str | None,
                  source: str, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    checked, title, body, product = _check_review(rating, title, body, product_id)
    with stores.write() as conn:
        return record_review(conn, workspace_id, profile_id=profile_id, product_id=product, order_id=order_id,
                             rating=checked, title=title, body=body, language=language, source=source, now=now)


def review_from_link(stores: Stores, claims: LinkClaims, rating: Any, title: str | None, body: str | None,
                     now: dt.datetime) -> tuple[dict[str, Any], bool]:
    return submit_review(stores, claims.workspace_id, claims.profile_id, product_id=claims.product_id,
                         order_id=claims.order_id, rating=rating, title=title, body=body, language=claims.language,
                         source="form", now=now)


Action = Literal["approve", "reject", "reply"]


def moderate(stores: Stores, workspace_id: str, review_id: str, action: Action, *, by: str, now: dt.datetime,
             reply: str | None = None) -> dict[str, Any]:
    """Approve (published on the product page), reject, or reply (the shop's public answer; an empty
    reply removes it). Approving an approved review changes nothing."""
    with stores.write() as conn:
        row = feedback_store.review(conn, workspace_id, review_id)
        if row is None:
            raise NotFound(f"no review {review_id!r}", field_error("review_id", "unknown review"))
        return apply_moderation(conn, workspace_id, row, action, by=by, now=now, reply=reply)


def apply_moderation(conn: Connection, workspace_id: str, row: Mapping[str, Any], action: Action, *, by: str,
                     now: dt.datetime, reply: str | None = None) -> dict[str, Any]:
    """One moderation of a stored review in ``conn``'s transaction, with its event."""
    if action == "reply":
        text = _clean_text(reply, "reply", MAX_REVIEW_BODY)
        values: dict[str, Any] = {"reply": text, "replied_at": now if text else None, "updated_at": now}
    else:
        status = "approved" if action == "approve" else "rejected"
        if row["status"] == status:
            return dict(row)
        values = {"status": status, "moderated_by": by, "moderated_at": now, "updated_at": now}
        append_system_events(conn, workspace_id, [_review_event(
            row, "Review Published" if status == "approved" else "Review Rejected", now)], now)
    feedback_store.update_review(conn, workspace_id, row["id"], values)
    return {**row, **values}


def public_review(row: Mapping[str, Any], *, admin: bool = False) -> dict[str, Any]:
    keys: tuple[str, ...] = ("id", "product_id", "rating", "title", "body", "author", "language", "reply", "replied_at",
            "created_at")
    if admin:
        keys += ("profile_id", "order_id", "status", "flagged", "moderated_by", "moderated_at", "source",
                 "updated_at")
    out = {k: row.get(k) for k in keys}
    for key, value in out.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat()
    return out


def product_page(stores: Stores, workspace_id: str, product_id: str, *, limit: int = 20, offset: int = 0
                 ) -> dict[str, Any]:
    """What a product page shows: the approved reviews' average, their distribution by stars, and the
    approved reviews themselves (the newest first)."""
    with stores.read() as conn:
        counts = feedback_store.rating_counts(conn, workspace_id, product_id)
        rows = feedback_store.reviews_of(conn, workspace_id, status="approved", product_id=product_id, limit=limit,
                                         offset=offset)
    total = sum(counts.values())
    average = round(sum(r * n for r, n in counts.items()) / total, 2) if total else None
    return {"product_id": product_id, "count": total, "average": average,
            "distribution": {str(star): counts.get(star, 0) for star in range(5, 0, -1)},
            "reviews": [public_review(r) for r in rows]}


def product_ratings(conn: Connection, workspace_id: str, product_ids: Sequence[str] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """For other domains (the assistant, recommendations): product id -> its approved reviews' count and
    average rating, read in the caller's transaction. The same facts flow through the event log as
    ``Review Published`` events."""
    return {pid: {"count": n, "average": round(total / n, 2)}
            for pid, (n, total) in feedback_store.product_ratings(conn, workspace_id, product_ids).items() if n}


# --- reviews the shop tracks itself -------------------------------------------------------------------------

def _chat_rating(conn: Connection, workspace_id: str, item: LoggedEvent) -> int:
    """A ``Conversation Rated`` (the web chat's rating buttons, touchline.conversations.ratings) becomes the
    customer's CSAT answer to the survey ``conversation``, a ``Chat Survey Answered`` (a journey's survey
    asked in the chat) an answer of its survey and scale; one per request: the event of its comment adds
    the comment to it."""
    props = item.properties or {}
    score, request, kind = props.get("score"), props.get("message_id"), props.get("scale", "csat")
    survey = props.get("survey") if item.event == chat_ratings.ANSWERED_EVENT else chat_ratings.SURVEY_NAME
    if kind not in SCALES or not isinstance(survey, str) or not re.match(SURVEY_PATTERN, survey):
        return 0
    if not isinstance(request, str):
        return 0
    try:
        score = _check_score(kind, score)
    except ValidationFailed:  # a dirty event is no answer
        return 0
    comment = props.get("comment")
    comment = comment.replace("\x00", "").strip()[:MAX_COMMENT] or None if isinstance(comment, str) else None
    language = language_of(props.get("language") if isinstance(props.get("language"), str) else None)
    try:
        _, created = record_answer(
            conn, workspace_id, answer_id=signing.answer_id(workspace_id, "conversation", request),
            profile_id=item.profile_id, survey=survey, kind=kind,
            score=score, comment=comment, channel="chat", source_message_id=request,
            language=language if language in ("ko", "en") else None, now=item.timestamp)
    except NotFound:  # the customer was erased meanwhile: nothing to record
        return 0
    return int(created)


def capture(conn: Connection, workspace_id: str, appended: Sequence[LoggedEvent], received_at: dt.datetime) -> int:
    """Event-log subscriber: a ``Review Submitted`` the shop tracked (its own review form, the demo's
    customers) with a product and a rating 1-5 becomes a review waiting for moderation. Those feedback
    appended itself carry ``review_id`` and are skipped. A ``Conversation Rated`` becomes a CSAT answer."""
    made = 0
    for item in appended:
        if item.event in (chat_ratings.RATED_EVENT, chat_ratings.ANSWERED_EVENT):
            made += _chat_rating(conn, workspace_id, item)
            continue
        if item.event != "Review Submitted":
            continue
        props = item.properties or {}
        if "review_id" in props:
            continue
        rating, product = props.get("rating"), props.get("product_id")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            continue
        if not isinstance(product, str) or not product or len(product) > 128:
            continue
        if profile_store.profile_row(conn, workspace_id, item.profile_id) is None:
            continue
        order = props.get("order_id")
        title, body = props.get("title"), props.get("body") or props.get("text")
        _, created = record_review(
            conn, workspace_id, profile_id=item.profile_id, product_id=product,
            order_id=str(order)[:128] if order else None, rating=rating,
            title=str(title)[:MAX_TITLE] if isinstance(title, str) else None,
            body=str(body)[:MAX_REVIEW_BODY].replace("\x00", "") if isinstance(body, str) else None,
            language=str(props["language"])[:8] if isinstance(props.get("language"), str) else None,
            source="event", now=item.timestamp, event=False)
        made += created
    return made


# --- listings -----------------------------------------------------------------------------------------------

def list_answers(stores: Stores, workspace_id: str, *, kind: str | None = None, survey: str | None = None,
                 category: str | None = None, with_comment: bool = False, limit: int = 50, offset: int = 0
                 ) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = feedback_store.answers(conn, workspace_id, kind=kind, survey=survey, category=category,
                                      with_comment=with_comment, limit=limit, offset=offset)
    return [public_answer(r) for r in rows]


def list_reviews(stores: Stores, workspace_id: str, *, status: str | None = "pending", product_id: str | None = None,
                 flagged: bool | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """The moderation queue: pending reviews oldest first; the others newest first."""
    with stores.read() as conn:
        rows = feedback_store.reviews_of(conn, workspace_id, status=status, product_id=product_id, flagged=flagged,
                                         limit=limit, offset=offset, oldest_first=status == "pending")
    return [public_review(r, admin=True) for r in rows]


def review_counts(stores: Stores, workspace_id: str) -> dict[str, int]:
    with stores.read() as conn:
        return feedback_store.count_reviews(conn, workspace_id)
