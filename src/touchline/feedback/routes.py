"""Feedback over HTTP: the customer's answer pages behind signed links (``/s/{token}`` surveys, ``/r/{token}``
reviews), the write-key API a shop's pages and apps use (answers from an in-app survey, reviews from its own
form, the published reviews of a product, cross-origin), and the management API (admin token: links, the
NPS report, answers, the moderation queue)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from touchline.errors import TouchlineError, ValidationFailed
from touchline.feedback import page, service
from touchline.feedback.schemas import AnswerIn, LinkIn, ReplyIn, ReviewIn
from touchline.http import JSONBody, admin_principal, errors, write_principal
from touchline.profiles import service as profiles
from touchline.validation import Moment
from touchline.workspaces.service import Principal

__all__ = ["pages", "router"]

router = APIRouter(tags=["feedback"], responses=errors(400, 401, 403, 422))
pages = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(admin_principal)]
Writer = Annotated[Principal, Depends(write_principal)]
Token = Annotated[str, Path(min_length=1, max_length=1024)]
ReviewId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^rv_[0-9a-f]+$")]
ProductId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _now(request: Request) -> dt.datetime:
    return request.app.state.services.clock()


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _accept_language(request: Request) -> str | None:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else None


def _trouble(request: Request, exc: TouchlineError) -> HTMLResponse:
    reason = exc.detail.get("reason") if isinstance(exc.detail, dict) else None
    return _html(page.trouble(_accept_language(request), str(reason)), exc.status)


def _form_int(value: Any) -> Any:
    try:
        return int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value
    except ValueError:
        return value


def _form_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- the customer's pages ------------------------------------------------------------------------------------

@pages.get("/s/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: Token,
                      score: Annotated[int | None, Query(ge=0, le=10)] = None) -> HTMLResponse:
    """The survey; with ``?score=`` (a button in the message) the score is recorded at once and the page asks
    for the reason."""
    stores, now = _stores(request), _now(request)
    try:
        claims = await run_in_threadpool(service.open_link, stores, token, now, "survey")
        kind = claims.survey_kind or "nps"
        if score is not None:
            await run_in_threadpool(service.answer_from_link, stores, claims, score, None, now)
    except ValidationFailed as exc:
        return _html(page.survey_form(None, "nps", error=str(exc)), exc.status)
    except TouchlineError as exc:
        return _trouble(request, exc)
    return _html(page.survey_form(claims.language, kind, score=score))


@pages.post("/s/{token}", response_class=HTMLResponse)
async def survey_answer(request: Request, token: Token) -> HTMLResponse:
    stores, now = _stores(request), _now(request)
    form = await request.form()
    try:
        claims = await run_in_threadpool(service.open_link, stores, token, now, "survey")
    except TouchlineError as exc:
        return _trouble(request, exc)
    try:
        await run_in_threadpool(service.answer_from_link, stores, claims, _form_int(form.get("score")),
                                _form_text(form.get("comment")), now)
    except ValidationFailed as exc:
        return _html(page.survey_form(claims.language, claims.survey_kind or "nps", error=str(exc)), exc.status)
    except TouchlineError as exc:
        return _trouble(request, exc)
    return _html(page.thanks(claims.language))


@pages.get("/r/{token}", response_class=HTMLResponse)
async def review_page(request: Request, token: Token) -> HTMLResponse:
    try:
        claims = await run_in_threadpool(service.open_link, _stores(request), token, _now(request), "review")
    except TouchlineError as exc:
        return _trouble(request, exc)
    return _html(page.review_form(claims.language, {"product_id": claims.product_id, "order_id": claims.order_id}))


@pages.post("/r/{token}", response_class=HTMLResponse)
async def review_submit(request: Request, token: Token) -> HTMLResponse:
    stores, now = _stores(request), _now(request)
    form = await request.form()
    try:
        claims = await run_in_threadpool(service.open_link, stores, token, now, "review")
    except TouchlineError as exc:
        return _trouble(request, exc)
    try:
        await run_in_threadpool(service.review_from_link, stores, claims, _form_int(form.get("rating")),
                                _form_text(form.get("title")), _form_text(form.get("body")), now)
    except ValidationFailed as exc:
        return _html(page.review_form(claims.language, {"product_id": claims.product_id,
                                                         "order_id": claims.order_id}, error=str(exc)), exc.status)
    except TouchlineError as exc:
        return _trouble(request, exc)
    return _html(page.thanks(claims.language, review=True))


# --- the shop's pages and apps (write key) --------------------------------------------------------------------

_RETRY: dict[int | str, dict[str, Any]] = {200: {"description": "A retry: what was stored the first time"}}


@router.post("/v1/feedback/answers", response_class=JSONBody, status_code=201, responses={**errors(404), **_RETRY},
             summary="Record a survey answer (an in-app survey, the chat's buttons)")
async def post_answer(request: Request, principal: Writer, body: AnswerIn) -> JSONBody:
    """201 with the answer when new; 200 with the stored answer for a retry (the same ``answer_key``)."""
    stores = _stores(request)

    def run() -> tuple[dict[str, Any], bool]:
        profile_id = profiles.resolve(stores, principal.workspace_id, body.identifier)
        return service.answer_survey(stores, principal.workspace_id, profile_id, survey=body.survey, kind=body.kind,
                                     score=body.score, comment=body.comment, answer_key=body.answer_key,
                                     channel=body.channel, language=body.language, now=_now(request))

    row, created = await run_in_threadpool(run)
    return JSONBody(service.public_answer(row), status_code=201 if created else 200)


@router.post("/v1/reviews", response_class=JSONBody, status_code=201, responses={**errors(404), **_RETRY},
             summary="Submit a product review (the shop's own review form)")
async def post_review(request: Request, principal: Writer, body: ReviewIn) -> JSONBody:
    """The review waits for moderation (``status: pending``); ``flagged`` lists what the profanity filter
    found. 201 when new, 200 with the stored review for a retry (the same customer, order and product)."""
    stores = _stores(request)

    def run() -> tuple[dict[str, Any], bool]:
        profile_id = profiles.resolve(stores, principal.workspace_id, body.identifier)
        return service.submit_review(stores, principal.workspace_id, profile_id, product_id=body.product_id,
                                     order_id=body.order_id, rating=body.rating, title=body.title, body=body.body,
                                     language=body.language, source="api", now=_now(request))

    row, created = await run_in_threadpool(run)
    return JSONBody(service.public_review(row, admin=True), status_code=201 if created else 200)


@router.get("/v1/reviews/products/{product_id}", response_class=JSONBody,
            summary="A product's published reviews: average, distribution by stars, the reviews")
async def product_reviews(request: Request, principal: Writer, product_id: ProductId,
                          limit: Annotated[int, Query(ge=1, le=100)] = 20,
                          offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> JSONBody:
    """Only approved reviews, for the shop's product pages (the write key, which those pages carry anyway;
    cross-origin)."""
    return JSONBody(await run_in_threadpool(lambda: service.product_page(
        _stores(request), principal.workspace_id, product_id, limit=limit, offset=offset)))


# --- management (admin token) ------------------------------------------------------------------------------------

@router.post("/v1/feedback/links", response_class=JSONBody, status_code=201, responses=errors(404),
             summary="Make a customer's signed survey or review link")
async def post_link(request: Request, principal: Admin, body: LinkIn) -> JSONBody:
    stores = _stores(request)

    def run() -> dict[str, Any]:
        profile_id = profiles.resolve(stores, principal.workspace_id, body.identifier)
        return service.make_link(stores, principal.workspace_id, profile_id, kind=body.type, now=_now(request),
                                 days=body.days, survey=body.survey, survey_kind=body.kind,
                                 product_id=body.product_id, order_id=body.order_id, language=body.language)

    return JSONBody(await run_in_threadpool(run), status_code=201)


@router.get("/v1/feedback/nps", response_class=JSONBody,
            summary="NPS over time with its 95% interval, CSAT, and the latest comments")
async def nps(request: Request, principal: Admin, since: Annotated[Moment | None, Query()] = None,
              until: Annotated[Moment | None, Query()] = None,
              interval: Annotated[Literal["day", "week", "month"], Query()] = "week",
              survey: Annotated[str | None, Query(pattern=service.SURVEY_PATTERN)] = None,
              comments: Annotated[int, Query(ge=0, le=200)] = 20) -> JSONBody:
    end = until or _now(request)
    start = since or end - dt.timedelta(days=90)
    if (end - start).days > 3660:
        raise ValidationFailed("the period is longer than 10 years", {"field": "since", "reason": "too long"})
    return JSONBody(await run_in_threadpool(lambda: service.nps_report(
        _stores(request), principal.workspace_id, since=start, until=end, interval=interval, survey=survey,
        comments=comments)))


@router.get("/v1/feedback/answers", response_class=JSONBody, summary="Survey answers, the newest first")
async def list_answers(request: Request, principal: Admin,
                       kind: Annotated[Literal["nps", "csat"] | None, Query()] = None,
                       survey: Annotated[str | None, Query(pattern=service.SURVEY_PATTERN)] = None,
                       category: Annotated[Literal["promoter", "passive", "detractor"] | None, Query()] = None,
                       comments_only: Annotated[bool, Query()] = False,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> JSONBody:
    rows = await run_in_threadpool(lambda: service.list_answers(
        _stores(request), principal.workspace_id, kind=kind, survey=survey, category=category,
        with_comment=comments_only, limit=limit, offset=offset))
    return JSONBody({"answers": rows})


@router.get("/v1/reviews", response_class=JSONBody, summary="Reviews for moderation (the queue: pending, oldest first)")
async def list_reviews(request: Request, principal: Admin,
                       status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = "pending",
                       product_id: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
                       flagged: Annotated[bool | None, Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> JSONBody:
    rows = await run_in_threadpool(lambda: service.list_reviews(
        _stores(request), principal.workspace_id, status=status, product_id=product_id, flagged=flagged,
        limit=limit, offset=offset))
    return JSONBody({"reviews": rows})


@router.post("/v1/reviews/{review_id}/approve", response_class=JSONBody, responses=errors(404),
             summary="Approve a review: it is published on the product page")
async def approve(request: Request, principal: Admin, review_id: ReviewId) -> JSONBody:
    return await _moderate(request, principal, review_id, "approve")


@router.post("/v1/reviews/{review_id}/reject", response_class=JSONBody, responses=errors(404),
             summary="Reject a review: it is never published")
async def reject(request: Request, principal: Admin, review_id: ReviewId) -> JSONBody:
    return await _moderate(request, principal, review_id, "reject")


@router.post("/v1/reviews/{review_id}/reply", response_class=JSONBody, responses=errors(404),
             summary="The shop's public reply to a review ('' removes it)")
async def reply(request: Request, principal: Admin, review_id: ReviewId, body: ReplyIn) -> JSONBody:
    return await _moderate(request, principal, review_id, "reply", body.text)


async def _moderate(request: Request, principal: Admin, review_id: str, action: service.Action,
                    text: str | None = None) -> JSONBody:
    row = await run_in_threadpool(lambda: service.moderate(
        _stores(request), principal.workspace_id, review_id, action, by=f"api:{principal.key_id}",
        now=_now(request), reply=text))
    return JSONBody(service.public_review(row, admin=True))
