"""Reports over the event store: funnels, cart abandonment, conversion, cross-channel, cohorts, CLTV, paths.

Every report takes a period (``start``, ``end``; the last 30 days by default) and answers JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from touchline.analytics import service
from touchline.conversations.proactive import OFFERED_EVENT
from touchline.errors import BadRequest
from touchline.http import JSONBody, admin_principal, errors
from touchline.validation import Moment
from touchline.workspaces.service import Principal

# 400: a period whose start is not before its end.
router = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=errors(400, 401, 403, 422))
Admin = Annotated[Principal, Depends(admin_principal)]
Start = Annotated[Moment | None, Query(description="Date-time or date; default 30 days before `end`")]
End = Annotated[Moment | None, Query(description="Date-time or date; default now")]
# Any date-time is a period's end, but reports convert them to the customers' time zones and step by
# days: the calendar's first and last days would overflow, so a period is cut to these (a report there
# is empty all the same).
_EARLIEST = dt.datetime(2, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(9998, 1, 1, tzinfo=dt.UTC)


def period(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    end = _aware(end) if end else dt.datetime.now(dt.UTC)
    start = _aware(start) if start else _days_before(end, 30)
    if start >= end:
        raise BadRequest("start must be before end", {"field": "start", "reason": "not before end"})
    return min(max(start, _EARLIEST), _LATEST), min(max(end, _EARLIEST), _LATEST)


def _days_before(moment: dt.datetime, days: int) -> dt.datetime:
    return moment - dt.timedelta(days=days) if moment > _EARLIEST + dt.timedelta(days=days) else _EARLIEST


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


class StepIn(BaseModel):
    event: str = Field(min_length=1, max_length=512)
    where: dict[str, Any] = Field(default_factory=dict)


class FunnelIn(BaseModel):
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    window_hours: float = Field(24 * 7, gt=0, le=24 * 365)
    start: Moment | None = None
    end: Moment | None = None
    breakdown: Literal["channel", "device_type", "first_touch_source"] | None = None

    @model_validator(mode="after")
    def _period(self) -> FunnelIn:
        self.start, self.end = period(self.start, self.end)
        return self


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


@router.post("/funnel", response_class=JSONBody, summary="Ordered steps, conversion and drop-off per step")
async def funnel(request: Request, principal: Admin, body: FunnelIn) -> JSONBody:
    steps = [service.Step(s.event, s.where) for s in body.steps]
    assert body.start is not None and body.end is not None
    result = await run_in_threadpool(service.funnel, _stores(request), principal.workspace_id, steps,
                                     dt.timedelta(hours=body.window_hours), body.start, body.end, body.breakdown)
    return JSONBody(_plain(result))


@router.get("/cart-abandonment", response_class=JSONBody, summary="Carts, orders and the abandonment rate")
async def cart_abandonment(request: Request, principal: Admin, start: Start = None, end: End = None) -> JSONBody:
    result = await run_in_threadpool(service.cart_abandonment, _stores(request), principal.workspace_id,
                                     *period(start, end))
    return JSONBody(_plain(result))


@router.get("/conversion", response_class=JSONBody, summary="Visitors, buyers and conversion per channel or device")
async def conversion(request: Request, principal: Admin,
                     by: Annotated[Literal["channel", "device_type"], Query()] = "channel",
                     start: Start = None, end: End = None) -> JSONBody:
    rows = await run_in_threadpool(service.conversion_by, _stores(request), principal.workspace_id, by,
                                   *period(start, end))
    return JSONBody({"by": by, "rows": [_plain(r) for r in rows]})


@router.get("/cross-channel", response_class=JSONBody, summary="Buyers who touched two channels or more")
async def cross_channel(request: Request, principal: Admin, start: Start = None, end: End = None) -> JSONBody:
    result = await run_in_threadpool(service.cross_channel, _stores(request), principal.workspace_id,
                                     *period(start, end))
    return JSONBody(_plain(result))


@router.get("/cohorts", response_class=JSONBody, summary="Retention cohorts")
async def cohorts(request: Request, principal: Admin,
                  period_: Annotated[Literal["week", "month"], Query(alias="period")] = "month",
                  cohort_event: Annotated[str | None, Query(description="default: first seen")] = None,
                  return_event: Annotated[str | None, Query(description="default: any event")] = None,
                  tz: Annotated[str, Query()] = "Asia/Seoul",
                  start: Start = None, end: End = None) -> JSONBody:
    from touchline.ingest.normalize import valid_timezone

    if valid_timezone(tz) is None:
        raise BadRequest(f"unknown time zone {tz!r}", {"field": "tz", "reason": "not an IANA time zone"})
    # Cohorts need a longer view than the other reports: half a year by default.
    end_at = _aware(end) if end else dt.datetime.now(dt.UTC)
    s, e = period(start or _days_before(end_at, 182), end_at)
    rows = await run_in_threadpool(service.retention_cohorts, _stores(request), principal.workspace_id, period_,
                                   cohort_event, return_event, s, e, tz)
    return JSONBody({"period": period_, "cohorts": [_plain(r) for r in rows]})


@router.get("/cltv", response_class=JSONBody, summary="Customer lifetime value: history and a BG/NBD forecast")
async def cltv(request: Request, principal: Admin,
               horizon_days: Annotated[int, Query(ge=1, le=3650)] = 90,
               top: Annotated[int, Query(ge=0, le=1000)] = 10,
               as_of: Annotated[str | None, Query(
                   description="history up to here, the forecast from here: an ISO date-time, or a date (that "
                               "whole day in `tz`); default now. Imported history wants the day of its last "
                               "order, or its buyers count as silent ever since")] = None,
               purchases: Annotated[Literal["orders", "days"], Query(
                   description="what counts as one purchase: an order, or a day with orders (the BTYD "
                               "literature's convention)")] = "orders",
               tz: Annotated[str, Query(description="time zone of a date `as_of` and of purchase days")]
               = "Asia/Seoul") -> JSONBody:
    from touchline.ingest.normalize import valid_timezone

    if valid_timezone(tz) is None:
        raise BadRequest(f"unknown time zone {tz!r}", {"field": "tz", "reason": "not an IANA time zone"})
    moment = None
    if as_of is not None:
        try:
            moment = service.parse_as_of(as_of, tz)
        except ValueError as exc:
            raise BadRequest(f"as_of is not a date or an ISO date-time: {as_of!r}",
                             {"field": "as_of", "reason": "not a date or an ISO date-time"}) from exc
    result = await run_in_threadpool(service.cltv, _stores(request), principal.workspace_id, as_of=moment,
                                     horizon_days=horizon_days, top=top, purchases=purchases, tz=tz)
    return JSONBody(_plain(result))


@router.get("/paths", response_class=JSONBody, summary="Most frequent paths between two events")
async def paths(request: Request, principal: Admin,
                from_event: Annotated[str, Query(alias="from", min_length=1)],
                to_event: Annotated[str, Query(alias="to", min_length=1)],
                max_steps: Annotated[int, Query(ge=1, le=20)] = 5,
                limit: Annotated[int, Query(ge=1, le=100)] = 10,
                start: Start = None, end: End = None) -> JSONBody:
    s, e = period(start, end)
    rows = await run_in_threadpool(service.top_paths, _stores(request), principal.workspace_id, from_event,
                                   to_event, max_steps, limit, start=s, end=e)
    return JSONBody({"paths": [_plain(r) for r in rows]})


@router.get("/proactive-chat", response_class=JSONBody,
            summary="Proactive chat's effect: orders after the offer, treatment against holdout")
async def proactive_chat(request: Request, principal: Admin, start: Start = None, end: End = None,
                         window_hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24) -> JSONBody:
    """Customers offered the chat (treatment) and held out when they hesitated, each counted once at their
    first offer in the period, and those who completed an order within ``window_hours``: the rates, their
    difference (the lift) and its 95 % interval (Newcombe's)."""
    s, e = period(start, end)
    lift = await run_in_threadpool(service.offer_lift, _stores(request), principal.workspace_id, OFFERED_EVENT,
                                   s, e, window_hours)
    return JSONBody(lift.as_dict())
