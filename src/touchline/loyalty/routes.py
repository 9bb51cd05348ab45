"""The loyalty API under ``/v1/loyalty``: programs, ledgers, tiers, rewards and referrals are managed with
the admin token; the shop's checkout reads a balance, spends points, buys rewards and redeems coupons with
its write key (with the customer's ``user_hash`` once the workspace verifies identities, as for the in-app
inbox). Bad input is a 4xx naming the field, with nothing written."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from touchline.errors import PayloadTooLarge
from touchline.http import JSONBody, admin_principal, errors, verify_customer, write_principal
from touchline.loyalty import referrals, rewards, service, sweeps
from touchline.loyalty.schemas import (
    AdjustIn,
    BatchIn,
    CodesIn,
    CouponRedeemIn,
    EarnIn,
    ProgramIn,
    ProgramUpdateIn,
    RedeemIn,
    ReferralIn,
    ReverseIn,
    RewardIn,
    SpendIn,
)
from touchline.workspaces.service import Principal

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # a batch of 5,000 movements fits


def _limited(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge("request body is larger than 2 MB",
                              {"field": "(body)", "reason": f"limit is {MAX_REQUEST_BYTES} bytes",
                               "size": int(declared)})


router = APIRouter(prefix="/v1/loyalty", tags=["loyalty"], responses=errors(400, 401, 403, 404, 413, 422),
                   dependencies=[Depends(_limited)])
Admin = Annotated[Principal, Depends(admin_principal)]
Writer = Annotated[Principal, Depends(write_principal)]
ProgramRef = Annotated[str, Query(min_length=1, max_length=100)]


def _stores(request: Request) -> Any:
    return request.app.state.services.stores


def _customer(request: Request, principal: Principal, identifier: str, user_hash: str | None = None,
              field: str = "customer") -> str:
    """The profile id of the identifier; the checkout's write key must prove the customer where the
    workspace verifies identities."""
    verify_customer(request, principal, identifier, user_hash)
    return service.resolve_customer(_stores(request), principal.workspace_id, identifier, field)


# --- programs (admin) --------------------------------------------------------------------------------


@router.get("/programs", response_class=JSONBody, summary="The workspace's loyalty programs")
async def list_programs(request: Request, principal: Admin) -> JSONBody:
    return JSONBody({"programs": await run_in_threadpool(service.list_programs, _stores(request),
                                                         principal.workspace_id)})


@router.post("/programs", response_class=JSONBody, status_code=201, responses=errors(409),
             summary="Create a program (its definition validated; the default one when absent)")
async def create_program(request: Request, principal: Admin, body: ProgramIn) -> JSONBody:
    view = await run_in_threadpool(lambda: service.create_program(_stores(request), principal.workspace_id, body.key,
                                                                  body.name, body.definition))
    return JSONBody(view, status_code=201)


@router.get("/programs/{program}", response_class=JSONBody, summary="One program: definition, versions, totals")
async def get_program(request: Request, principal: Admin, program: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(service.get_program, _stores(request), principal.workspace_id, program))


@router.put("/programs/{program}", response_class=JSONBody,
            summary="Save a new version of the definition (validated, live at once), rename, pause or resume")
async def update_program(request: Request, principal: Admin, program: str, body: ProgramUpdateIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: service.save_definition(
        _stores(request), principal.workspace_id, program, body.definition, name=body.name, status=body.status)))


# --- the ledger --------------------------------------------------------------------------------------


@router.get("/programs/{program}/customers/{customer}", response_class=JSONBody,
            summary="A customer's balance, pending and expiring points, tier and the next one (write key or admin)")
async def customer_balance(request: Request, principal: Writer, program: str, customer: str,
                          user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, customer, user_hash)
        return service.balance(_stores(request), principal.workspace_id, program, pid)

    return JSONBody(await run_in_threadpool(run))


@router.get("/programs/{program}/customers/{customer}/ledger", response_class=JSONBody,
            summary="A customer's ledger, newest first, and their lots (admin)")
async def customer_ledger(request: Request, principal: Admin, program: str, customer: str,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50,
                          before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, customer)
        return service.customer_ledger(_stores(request), principal.workspace_id, program, pid, limit=limit,
                                       before=before)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/spend", response_class=JSONBody, responses=errors(409),
             summary="Spend points at checkout (write key): oldest first; 409 insufficient_points when short")
async def spend(request: Request, principal: Writer, program: str, body: SpendIn,
                user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer, user_hash)
        return service.spend(_stores(request), principal.workspace_id, program, pid, body.points,
                             key=body.idempotency_key, reason=body.reason, order_id=body.order_id)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/reverse", response_class=JSONBody, responses=errors(409),
             summary="Reverse what an order earned (refund), or give a spend back (write key)")
async def reverse(request: Request, principal: Writer, program: str, body: ReverseIn,
                  user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer, user_hash)
        return service.reverse(_stores(request), principal.workspace_id, program, key=body.idempotency_key,
                               profile_id=pid, order_id=body.order_id, spend_key=body.spend_key,
                               fraction=float(body.fraction), reason=body.reason)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/earn", response_class=JSONBody, responses=errors(409),
             summary="Award points by hand or from the shop's server (admin)")
async def earn(request: Request, principal: Admin, program: str, body: EarnIn) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer)
        return service.earn(_stores(request), principal.workspace_id, program, pid, body.points,
                            key=body.idempotency_key, reason=body.reason, order_id=body.order_id,
                            pending_days=body.pending_days)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/adjust", response_class=JSONBody, responses=errors(409),
             summary="Correct a balance with a reason (admin): positive gives, negative takes")
async def adjust(request: Request, principal: Admin, program: str, body: AdjustIn) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer)
        return service.adjust(_stores(request), principal.workspace_id, program, pid, body.points,
                              key=body.idempotency_key, reason=body.reason)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/batch", response_class=JSONBody, responses=errors(409),
             summary="Many movements in one transaction, all or nothing (admin)")
async def batch(request: Request, principal: Admin, program: str, body: BatchIn) -> JSONBody:
    def run() -> dict[str, Any]:
        stores = _stores(request)
        ids: dict[str, str] = {}
        ops = []
        for i, op in enumerate(body.operations):
            if op.customer not in ids:
                ids[op.customer] = service.resolve_customer(stores, principal.workspace_id, op.customer,
                                                            f"operations.{i}.customer")
            ops.append({**op.model_dump(), "customer": ids[op.customer]})
        return {"movements": service.write_many(stores, principal.workspace_id, program, ops)}

    return JSONBody(await run_in_threadpool(run))


@router.post("/expire", response_class=JSONBody, summary="Expire what is due now in every program (admin)")
async def expire(request: Request, principal: Admin) -> JSONBody:
    del principal
    return JSONBody({"expired": await run_in_threadpool(service.expire_due, _stores(request))})


# --- tiers (admin) -----------------------------------------------------------------------------------


@router.post("/programs/{program}/tiers/review", response_class=JSONBody,
             summary="Review every customer's tier now (upgrades missed, downgrades as the program allows)")
async def review_tiers(request: Request, principal: Admin, program: str) -> JSONBody:
    return JSONBody(await run_in_threadpool(sweeps.review_tiers, _stores(request), principal.workspace_id, program))


# --- rewards and coupons -----------------------------------------------------------------------------


@router.get("/programs/{program}/rewards", response_class=JSONBody,
            summary="The rewards catalogue (write key or admin), with coupons issued and redeemed")
async def list_rewards(request: Request, principal: Writer, program: str) -> JSONBody:
    return JSONBody({"rewards": await run_in_threadpool(rewards.list_rewards, _stores(request),
                                                        principal.workspace_id, program)})


@router.post("/programs/{program}/rewards", response_class=JSONBody, status_code=201, responses=errors(409),
             summary="Add a reward (admin)")
async def create_reward(request: Request, principal: Admin, program: str, body: RewardIn) -> JSONBody:
    row = await run_in_threadpool(lambda: rewards.create_reward(_stores(request), principal.workspace_id, program,
                                                                **body.model_dump()))
    return JSONBody(row, status_code=201)


@router.put("/programs/{program}/rewards/{reward}", response_class=JSONBody, summary="Change a reward (admin)")
async def update_reward(request: Request, principal: Admin, program: str, reward: str, body: RewardIn) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: rewards.update_reward(
        _stores(request), principal.workspace_id, program, reward, **body.model_dump())))


@router.post("/programs/{program}/rewards/{reward}/codes", response_class=JSONBody, status_code=201,
             responses=errors(409), summary="Generate unique single-use coupon codes in bulk, with an expiry (admin)")
async def generate_codes(request: Request, principal: Admin, program: str, reward: str, body: CodesIn) -> JSONBody:
    result = await run_in_threadpool(lambda: rewards.generate_codes(
        _stores(request), principal.workspace_id, program, reward, count=body.count, expires_at=body.expires_at,
        prefix=body.prefix, batch=body.batch))
    return JSONBody(result, status_code=200 if result["replayed"] else 201)


@router.get("/programs/{program}/coupons", response_class=JSONBody, summary="Coupons issued (admin)")
async def list_coupons(request: Request, principal: Admin, program: str,
                       reward: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                       batch: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: rewards.coupons_view(
        _stores(request), principal.workspace_id, program, reward_ref=reward, batch=batch, limit=limit, offset=offset)))


@router.post("/programs/{program}/rewards/{reward}/redeem", response_class=JSONBody, responses=errors(409),
             summary="Buy a reward with points (write key): its cost spent and a coupon issued, idempotently")
async def buy_reward(request: Request, principal: Writer, program: str, reward: str, body: RedeemIn,
                     user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer, user_hash)
        return rewards.buy(_stores(request), principal.workspace_id, program, reward, pid, key=body.idempotency_key)

    return JSONBody(await run_in_threadpool(run))


@router.get("/coupons/{code}", response_class=JSONBody,
            summary="Whether a coupon code can be used now, and what it gives (write key)")
async def check_coupon(request: Request, principal: Writer, code: str,
                       customer: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
                       user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, customer, user_hash) if customer else None
        return rewards.check_coupon(_stores(request), principal.workspace_id, code, pid)

    return JSONBody(await run_in_threadpool(run))


@router.post("/coupons/{code}/redeem", response_class=JSONBody, responses=errors(409),
             summary="Use a coupon at checkout, once (write key); the same redemption again answers the first")
async def redeem_coupon(request: Request, principal: Writer, code: str, body: CouponRedeemIn,
                        user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer, user_hash) if body.customer else None
        return rewards.redeem(_stores(request), principal.workspace_id, code, key=body.idempotency_key,
                              profile_id=pid, order_id=body.order_id)

    return JSONBody(await run_in_threadpool(run))


# --- referrals ---------------------------------------------------------------------------------------


@router.get("/programs/{program}/customers/{customer}/referral-code", response_class=JSONBody,
            summary="The customer's referral code (write key or admin), made on first ask")
async def referral_code(request: Request, principal: Writer, program: str, customer: str,
                        user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, customer, user_hash)
        return referrals.code_for(_stores(request), principal.workspace_id, program, pid)

    return JSONBody(await run_in_threadpool(run))


@router.post("/programs/{program}/referrals", response_class=JSONBody, responses=errors(409),
             summary="A new customer came with a referral code (write key): checked at once against abuse")
async def claim_referral(request: Request, principal: Writer, program: str, body: ReferralIn,
                         user_hash: Annotated[str | None, Query(max_length=128)] = None) -> JSONBody:
    def run() -> dict[str, Any]:
        pid = _customer(request, principal, body.customer, user_hash)
        return referrals.claim(_stores(request), principal.workspace_id, program, pid, body.code,
                               device_id=body.device_id)

    return JSONBody(await run_in_threadpool(run))


@router.get("/programs/{program}/referrals", response_class=JSONBody,
            summary="Referrals with their status and rejection reasons (admin)")
async def list_referrals(request: Request, principal: Admin, program: str,
                         status: Annotated[str | None, Query(pattern="^(pending|ordered|rewarded|rejected)$")] = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50,
                         offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> JSONBody:
    return JSONBody(await run_in_threadpool(lambda: referrals.referrals_view(
        _stores(request), principal.workspace_id, program, status=status, limit=limit, offset=offset)))

