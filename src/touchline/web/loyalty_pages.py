"""The dashboard's loyalty page (issue 18): a program's figures, its tiers with a chart of how many
customers are in each, points moved per day by kind, the largest balances, the rewards catalogue with its
coupons, referrals with the reasons abuse was refused, and one customer's ledger (their balance, pending
and expiring points, tier, lots and movements). Admins, marketers and agents read it (an agent answering
"where are my points?" needs the ledger)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchline.errors import TouchlineError
from touchline.loyalty import report
from touchline.loyalty import service as loyalty
from touchline.web import charts
from touchline.web.http import formatter, page, render, services, viewer
from touchline.web.i18n import MESSAGES, Formatter

__all__ = ["KIND_COLORS", "MESSAGES_LOYALTY"]

KIND_COLORS = {"earn": charts.PALETTE[2], "spend": charts.PALETTE[0], "expire": charts.PALETTE[5],
               "reverse": charts.PALETTE[3], "adjust": charts.PALETTE[1]}

MESSAGES_LOYALTY: dict[str, tuple[str, str]] = {
    "nav.loyalty": ("Loyalty", "멤버십"),
    "loyalty.title": ("Loyalty", "멤버십 포인트"),
    "loyalty.intro": ("Points earned by the program's rules as events arrive, spent at checkout, expired and "
                      "reversed on refunds; the ledger adds up to every balance.",
                      "이벤트가 들어오면 프로그램 규칙대로 적립되고, 결제에서 사용되며, 만료되고, 환불 시 회수됩니다. "
                      "원장의 합계가 곧 잔액입니다."),
    "loyalty.none": ("No loyalty program yet. Create one with: touchline loyalty create members",
                     "멤버십 프로그램이 없습니다. 만들기: touchline loyalty create members"),
    "loyalty.program": ("Program", "프로그램"),
    "loyalty.version": ("version {version}", "버전 {version}"),
    "loyalty.status.active": ("active", "운영 중"),
    "loyalty.status.paused": ("paused", "일시 중지"),
    "loyalty.accounts": ("Members", "회원"),
    "loyalty.outstanding": ("Points outstanding", "미사용 포인트"),
    "loyalty.outstanding_note": ("earned {earned}, spent {spent}", "적립 {earned} · 사용 {spent}"),
    "loyalty.owed": ("Owed from refunds", "환불 회수 대기"),
    "loyalty.last_days": ("Last {days} days", "최근 {days}일"),
    "loyalty.moved": ("Points moved per day", "일별 포인트 변동"),
    "loyalty.kind": ("Movement", "구분"),
    "loyalty.kind.earn": ("Earned", "적립"),
    "loyalty.kind.spend": ("Spent", "사용"),
    "loyalty.kind.expire": ("Expired", "소멸"),
    "loyalty.kind.reverse": ("Reversed", "회수·환원"),
    "loyalty.kind.adjust": ("Adjusted", "조정"),
    "loyalty.points": ("Points", "포인트"),
    "loyalty.tiers": ("Tiers", "등급"),
    "loyalty.tiers_help": ("Qualification on {measure} over the last {days} days; upgrades at once, downgrades at "
                           "the review.", "최근 {days}일 {measure} 기준. 승급은 즉시, 강등은 정기 심사 때."),
    "loyalty.measure.spend": ("spend", "구매 금액"),
    "loyalty.measure.points": ("points earned", "적립 포인트"),
    "loyalty.tier": ("Tier", "등급"),
    "loyalty.threshold": ("From", "기준"),
    "loyalty.multiplier": ("Points", "적립 배수"),
    "loyalty.free_shipping": ("Free shipping", "무료 배송"),
    "loyalty.customers": ("Customers", "고객 수"),
    "loyalty.yes": ("yes", "예"),
    "loyalty.no": ("—", "—"),
    "loyalty.top": ("Largest balances", "포인트 상위 회원"),
    "loyalty.customer": ("Customer", "고객"),
    "loyalty.balance": ("Balance", "잔액"),
    "loyalty.rewards": ("Rewards", "리워드"),
    "loyalty.reward": ("Reward", "리워드"),
    "loyalty.cost": ("Cost", "필요 포인트"),
    "loyalty.issued": ("Coupons issued", "발급 쿠폰"),
    "loyalty.redeemed": ("Used", "사용됨"),
    "loyalty.no_rewards": ("No rewards yet (POST /v1/loyalty/programs/{program}/rewards).",
                           "리워드가 없습니다 (POST /v1/loyalty/programs/{program}/rewards)."),
    "loyalty.referrals": ("Referrals", "추천"),
    "loyalty.referral.pending": ("waiting for a first order", "첫 주문 대기"),
    "loyalty.referral.ordered": ("in the return window", "반품 기간 중"),
    "loyalty.referral.rewarded": ("rewarded", "보상 지급"),
    "loyalty.referral.rejected": ("refused", "거절"),
    "loyalty.refused_by": ("Refused, by reason", "거절 사유"),
    "loyalty.reason.self_referral": ("self-referral", "본인 추천"),
    "loyalty.reason.same_device": ("the referrer's device", "추천인과 같은 기기"),
    "loyalty.reason.same_phone": ("the referrer's phone", "추천인과 같은 전화번호"),
    "loyalty.reason.same_email": ("the referrer's e-mail", "추천인과 같은 이메일"),
    "loyalty.reason.same_person": ("shares an identifier", "추천인과 같은 식별자"),
    "loyalty.reason.not_new": ("not a new customer", "기존 고객"),
    "loyalty.reason.cap_reached": ("referrer's cap reached", "추천 한도 초과"),
    "loyalty.reason.same_payment": ("the referrer's payment", "추천인과 같은 결제수단"),
    "loyalty.reason.same_address": ("the referrer's address", "추천인과 같은 배송지"),
    "loyalty.reason.order_refunded": ("first order refunded", "첫 주문 환불"),
    "loyalty.reason.below_minimum": ("below the minimum order", "최소 주문 금액 미만"),
    "loyalty.referrer": ("Referrer", "추천인"),
    "loyalty.referred": ("New customer", "신규 고객"),
    "loyalty.status": ("Status", "상태"),
    "loyalty.when": ("When", "일시"),
    "loyalty.no_referrals": ("No referrals yet.", "추천 내역이 없습니다."),
    "loyalty.lookup": ("A customer's ledger", "고객 포인트 원장"),
    "loyalty.lookup_help": ("E-mail, phone, user id or profile id.", "이메일, 전화번호, 사용자 ID 또는 프로필 ID."),
    "loyalty.show": ("Show", "보기"),
    "loyalty.not_found": ("No customer with that identifier.", "해당 식별자의 고객이 없습니다."),
    "loyalty.available": ("Spendable now", "사용 가능"),
    "loyalty.pending": ("Pending (return window)", "적립 예정 (반품 기간)"),
    "loyalty.expiring": ("Expiring within {days} days", "{days}일 내 소멸 예정"),
    "loyalty.next_tier": ("Next: {tier} from {threshold}", "다음 등급: {tier} ({threshold}부터)"),
    "loyalty.movements": ("Movements", "포인트 내역"),
    "loyalty.reason": ("Reason", "사유"),
    "loyalty.order": ("Order", "주문"),
    "loyalty.after": ("Balance after", "변동 후 잔액"),
    "loyalty.no_movements": ("No movements yet.", "내역이 없습니다."),
    "loyalty.lots": ("What is left of each earning", "적립 건별 잔여"),
    "loyalty.earned_at": ("Earned", "적립일"),
    "loyalty.available_at": ("Spendable from", "사용 가능일"),
    "loyalty.expires_at": ("Expires", "소멸일"),
    "loyalty.remaining": ("Left", "잔여"),
    "loyalty.open_profile": ("Open the customer's profile", "고객 프로필 열기"),
    "loyalty.definition": ("Definition", "프로그램 정의"),
    "loyalty.definition_help": ("Saved as a new version with PUT /v1/loyalty/programs/{program} (validated first).",
                                "PUT /v1/loyalty/programs/{program}로 새 버전 저장 (저장 전 검증)."),
}
MESSAGES.update(MESSAGES_LOYALTY)


def _stores(request: Request) -> Any:
    return services(request).stores


def tiers_figure(f: Formatter, tiers: list[dict[str, Any]]) -> dict[str, Any]:
    """Customers per tier, as bars in the tiers' order."""
    names = [t["name_ko"] if f.lang == "ko" else t["name_en"] for t in tiers]
    return {
        "data": [{"type": "bar", "x": names, "y": [t["customers"] for t in tiers], "name": f.t("loyalty.customers"),
                  "marker": {"color": [charts.PALETTE[i % len(charts.PALETTE)] for i in range(len(tiers))]},
                  "hovertemplate": "%{x}: %{y}<extra></extra>"}],
        "layout": charts._layout(f, height=260, hovermode="closest", showlegend=False,
                                 margin={"l": 56, "r": 16, "t": 8, "b": 40}),
    }


def moved_figure(f: Formatter, daily: list[dict[str, Any]]) -> dict[str, Any]:
    """Points moved per day, one bar series per kind (earned up, the rest down)."""
    days = sorted({d["day"] for d in daily})
    data = []
    for kind, color in KIND_COLORS.items():
        by_day = {d["day"]: d["points"] for d in daily if d["kind"] == kind}
        if not by_day:
            continue
        data.append({"type": "bar", "name": f.t(f"loyalty.kind.{kind}"), "x": days,
                     "y": [by_day.get(day, 0) for day in days], "marker": {"color": color}})
    return {"data": data, "layout": charts._layout(f, barmode="relative", height=300)}


@page("/loyalty", permission="loyalty.view", nav="nav.loyalty", nav_after="nav.journeys")
async def loyalty_page(request: Request) -> Response:
    q = request.query_params
    stores, workspace_id = _stores(request), viewer(request).workspace_id
    f = formatter(request)
    programs = await run_in_threadpool(loyalty.list_programs, stores, workspace_id)
    if not programs:
        return render(request, "loyalty.html", programs=[], data=None)
    chosen = q.get("program") or programs[0]["key"]
    if chosen not in {p["key"] for p in programs}:
        chosen = programs[0]["key"]
    data = await run_in_threadpool(report.overview, stores, workspace_id, chosen)
    figures = {"tiers": tiers_figure(f, data["tiers"]) if data["tiers"] else None,
               "moved": moved_figure(f, data["daily"]) if data["daily"] else None}
    lookup = (q.get("customer") or "").replace("\x00", "").strip()[:300]
    account = ledger = None
    not_found = False
    if lookup:
        try:
            pid = await run_in_threadpool(loyalty.resolve_customer, stores, workspace_id, lookup)
            account = await run_in_threadpool(lambda: loyalty.balance(stores, workspace_id, chosen, pid))
            ledger = await run_in_threadpool(lambda: loyalty.customer_ledger(stores, workspace_id, chosen, pid,
                                                                             limit=100))
        except TouchlineError:
            not_found = True
    definition_text = json.dumps(data["program"]["definition"], ensure_ascii=False, indent=2)
    return render(request, "loyalty.html", programs=programs, data=data, figures=figures, chosen=chosen,
                  lookup=lookup, account=account, ledger=ledger, not_found=not_found,
                  kinds=list(KIND_COLORS), definition_text=definition_text)
