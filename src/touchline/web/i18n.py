"""UI text in English and Korean, and numbers, money, dates and durations in the viewer's locale and
time zone (Babel's CLDR data).

The language comes from ``?lang=`` (remembered in a cookie), else that cookie, else the browser's
Accept-Language; the time zone from a cookie the page's script sets from the browser, else the
installation's default. KRW has no minor unit: an amount in minor units is whole won.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_currency_symbol,
)

from touchline.channels import LABELS as CHANNEL_LABELS
from touchline.profiles.contacts import parse_phone
from touchline.values import MAX_NUMBER

LANGUAGES = ("en", "ko")
LANG_COOKIE = "tl_lang"
TZ_COOKIE = "tl_tz"

# key: (English, Korean)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("Touchline", "Touchline"),
    "nav.label": ("Main", "주 메뉴"),
    "nav.overview": ("Overview", "개요"),
    "nav.funnels": ("Funnels", "퍼널"),
    "nav.cohorts": ("Cohorts", "코호트"),
    "nav.segments": ("Segments", "세그먼트"),
    "nav.customers": ("Customers", "고객"),
    "skip": ("Skip to content", "본문으로 건너뛰기"),
    "lang.switch": ("Language", "언어"),
    "signed_in_as": ("Signed in as {email} ({role})", "{email} ({role})(으)로 로그인됨"),
    "role.admin": ("admin", "관리자"),
    "role.marketer": ("marketer", "마케터"),
    "role.agent": ("agent", "상담원"),
    "logout": ("Sign out", "로그아웃"),
    # sign-in
    "login.title": ("Sign in", "로그인"),
    "login.email": ("E-mail", "이메일"),
    "login.password": ("Password", "비밀번호"),
    "login.submit": ("Sign in", "로그인"),
    "login.failed": ("Wrong e-mail or password.", "이메일 또는 비밀번호가 올바르지 않습니다."),
    "login.expired": ("The form expired; please try again.", "양식이 만료되었습니다. 다시 시도해 주세요."),
    "login.locked": ("Too many failed sign-ins. Try again after {time} (in about {wait}).",
                     "로그인 실패가 너무 많습니다. {time} 이후에 다시 시도해 주세요(약 {wait} 후)."),
    "login.hint": ("Create an account with: touchline users add EMAIL --role marketer",
                   "계정 만들기: touchline users add EMAIL --role marketer"),
    "logged_out": ("You are signed out.", "로그아웃되었습니다."),
    # periods
    "period": ("Period", "기간"),
    "period.7": ("Last 7 days", "최근 7일"),
    "period.30": ("Last 30 days", "최근 30일"),
    "period.90": ("Last 90 days", "최근 90일"),
    "period.from": ("From", "시작일"),
    "period.to": ("To", "종료일"),
    "period.range": ("{start} – {end} ({tz})", "{start} – {end} ({tz})"),
    "apply": ("Apply", "적용"),
    # overview
    "overview.title": ("Overview", "개요"),
    "kpi.visitors": ("Visitors", "방문자"),
    "kpi.identified": ("Identified customers", "식별된 고객"),
    "kpi.conversion": ("Conversion rate", "구매 전환율"),
    "kpi.abandonment": ("Cart abandonment", "장바구니 이탈률"),
    "kpi.revenue": ("Revenue", "매출"),
    "kpi.orders": ("Orders", "주문"),
    "kpi.buyers": ("Buyers", "구매자"),
    "kpi.identified_share": ("{pct} of visitors", "방문자의 {pct}"),
    "kpi.buyers_of": ("{buyers} buyers", "구매자 {buyers}명"),
    "kpi.carts_of": ("{abandoned} of {carts} carts", "장바구니 {carts}개 중 {abandoned}개"),
    "kpi.orders_of": ("{orders} orders", "주문 {orders}건"),
    "chart.daily": ("Visitors and buyers per day", "일별 방문자와 구매자"),
    "chart.revenue": ("Revenue per day", "일별 매출"),
    "chart.by_channel": ("By channel", "채널별"),
    "chart.by_device": ("By device", "기기별"),
    "day": ("Day", "날짜"),
    "channel": ("Channel", "채널"),
    "device": ("Device", "기기"),
    "no_data": ("No events in this period.", "이 기간에는 이벤트가 없습니다."),
    "data_elsewhere": ("This workspace's events run from {first} to {last}.",
                       "이 워크스페이스의 이벤트는 {first}부터 {last}까지 있습니다."),
    "data_show": ("Show that period", "그 기간 보기"),
    "table.data": ("Data table", "데이터 표"),
    # funnels
    "funnels.title": ("Funnels", "퍼널"),
    "funnel.steps": ("Steps", "단계"),
    "funnel.step_n": ("Step {n}", "{n}단계"),
    "funnel.add_step": ("Add a step", "단계 추가"),
    "funnel.remove_step": ("Remove step {n}", "{n}단계 삭제"),
    "funnel.window": ("Conversion window (hours)", "전환 기간(시간)"),
    "funnel.breakdown": ("Breakdown", "세분화"),
    "funnel.breakdown.none": ("None", "없음"),
    "funnel.breakdown.channel": ("Channel", "채널"),
    "funnel.breakdown.device_type": ("Device", "기기"),
    "funnel.breakdown.first_touch_source": ("First-touch source", "첫 유입 경로"),
    "funnel.run": ("Show funnel", "퍼널 보기"),
    "funnel.step": ("Step", "단계"),
    "funnel.entered": ("Customers", "고객 수"),
    "funnel.from_previous": ("From previous", "이전 단계 대비"),
    "funnel.from_first": ("From first", "첫 단계 대비"),
    "funnel.dropped": ("Dropped", "이탈"),
    "funnel.median": ("Median time", "소요 시간(중앙값)"),
    "funnel.group": ("Group: {group}", "그룹: {group}"),
    "funnel.all": ("All customers", "전체 고객"),
    "funnel.need_step": ("Give at least one event name.", "이벤트 이름을 하나 이상 입력하세요."),
    "funnel.chart": ("Customers at each step", "단계별 고객 수"),
    # cohorts
    "cohorts.title": ("Retention cohorts", "리텐션 코호트"),
    "cohorts.period": ("Cohort size", "코호트 단위"),
    "cohorts.week": ("Week", "주"),
    "cohorts.month": ("Month", "월"),
    "cohorts.months_back": ("Months of history", "조회 기간(개월)"),
    "cohorts.cohort_event": ("Cohort event (empty: first seen)", "코호트 기준 이벤트 (비우면 첫 방문)"),
    "cohorts.return_event": ("Return event (empty: any event)", "재방문 기준 이벤트 (비우면 모든 이벤트)"),
    "cohorts.cohort": ("Cohort", "코호트"),
    "cohorts.size": ("Customers", "고객 수"),
    "cohorts.offset_week": ("Week {n}", "{n}주 차"),
    "cohorts.offset_month": ("Month {n}", "{n}개월 차"),
    "cohorts.heatmap": ("Share of each cohort active in later periods", "이후 기간에 활동한 코호트 비율"),
    "cohorts.none": ("No cohorts in this period.", "이 기간에는 코호트가 없습니다."),
    # segments
    "segments.title": ("Segments", "세그먼트"),
    "segments.new": ("New segment", "새 세그먼트"),
    "segments.none": ("No segments yet.", "아직 세그먼트가 없습니다."),
    "segment.name": ("Name", "이름"),
    "segment.description": ("Description", "설명"),
    "segment.members": ("Members", "고객 수"),
    "segment.live": ("Live", "실시간"),
    "segment.live_help": ("Keep membership current as events arrive", "이벤트가 들어올 때마다 구성원을 갱신"),
    "segment.version": ("Version", "버전"),
    "segment.updated": ("Updated", "수정"),
    "segment.refreshed": ("Refreshed", "갱신"),
    "segment.yes": ("yes", "예"),
    "segment.no": ("no", "아니오"),
    "segment.edit": ("Edit", "편집"),
    "segment.delete": ("Delete", "삭제"),
    "segment.delete_confirm": ("Delete this segment?", "이 세그먼트를 삭제할까요?"),
    "segment.deleted": ("Segment {name} deleted.", "세그먼트 {name}을(를) 삭제했습니다."),
    "segment.refresh": ("Recompute now", "지금 다시 계산"),
    "segment.refreshed_now": ("{entered} entered, {exited} left.", "{entered}명 추가, {exited}명 제외."),
    "segment.export": ("Export CSV", "CSV 내보내기"),
    "segment.definition": ("Definition", "정의"),
    "segment.saved": ("Segment saved.", "세그먼트를 저장했습니다."),
    "segment.save": ("Save segment", "세그먼트 저장"),
    "segment.preview": ("Preview", "미리 보기"),
    "segment.preview_count": ("{count} customers match", "조건에 맞는 고객 {count}명"),
    "segment.preview_sample": ("A few of them", "일부 고객"),
    "segment.invalid": ("The rule has problems:", "규칙에 문제가 있습니다:"),
    "segment.next_page": ("Next page", "다음 페이지"),
    "segment.no_members": ("No members.", "구성원이 없습니다."),
    "segment.entered_at": ("Entered", "진입 시각"),
    "builder.title": ("Rule", "규칙"),
    "builder.mode": ("Edit with", "편집 방식"),
    "builder.mode.builder": ("Builder", "빌더"),
    "builder.mode.json": ("JSON", "JSON"),
    "builder.match": ("Customers matching", "다음 조건에 맞는 고객"),
    "builder.match.and": ("all of these conditions", "모든 조건"),
    "builder.match.or": ("any of these conditions", "하나 이상의 조건"),
    "builder.condition": ("Condition {n}", "조건 {n}"),
    "builder.kind": ("Kind", "종류"),
    "builder.kind.trait": ("Trait", "속성"),
    "builder.kind.event": ("Did an event", "이벤트 수행"),
    "builder.kind.no_event": ("Did not do an event", "이벤트 미수행"),
    "builder.kind.computed": ("Computed value", "계산 값"),
    "builder.kind.reachable": ("Reachable on", "수신 가능 채널"),
    "builder.kind.segment": ("In segment", "세그먼트 소속"),
    "builder.trait": ("Trait name", "속성 이름"),
    "builder.operator": ("Operator", "연산자"),
    "builder.value": ("Value", "값"),
    "builder.event": ("Event name", "이벤트 이름"),
    "builder.count_op": ("How often", "횟수 조건"),
    "builder.count": ("Times", "횟수"),
    "builder.within_days": ("Within the last N days (empty: ever)", "최근 N일 이내 (비우면 전체 기간)"),
    "builder.within_days_short": ("Within days", "기간(일)"),
    "builder.field": ("Value", "값 종류"),
    "builder.reach_channel": ("Channel", "채널"),
    "builder.segment": ("Segment", "세그먼트"),
    "builder.add": ("Add a condition", "조건 추가"),
    "builder.remove": ("Remove condition {n}", "조건 {n} 삭제"),
    "builder.json_help": ("The rule as JSON (see the README's Segments section).",
                          "JSON 형식의 규칙 (README의 Segments 절 참조)."),
    "builder.too_complex": ("This rule is nested deeper than the builder shows; edit it as JSON.",
                            "빌더로 표시할 수 없는 규칙입니다. JSON으로 편집하세요."),
    "builder.empty": ("Add a condition to see how many customers match.",
                      "조건을 추가하면 해당하는 고객 수가 표시됩니다."),
    "builder.template": ("Start from a template", "템플릿에서 시작"),
    "builder.customers_with": ("{n} recent customers", "최근 고객 {n}명"),
    "count.at_least": ("at least", "이상"),
    "count.at_most": ("at most", "이하"),
    "count.exactly": ("exactly", "정확히"),
    "computed.lifetime_value": ("Lifetime value (KRW)", "누적 구매액(원)"),
    "computed.orders_count": ("Number of orders", "주문 수"),
    "computed.last_channel": ("Last channel", "마지막 채널"),
    "computed.preferred_channel": ("Preferred channel", "선호 채널"),
    # customers
    "customers.title": ("Customers", "고객"),
    "customers.search": ("Search by e-mail, phone, id or name", "이메일, 전화번호, ID 또는 이름으로 검색"),
    "customers.search_button": ("Search", "검색"),
    "customers.none": ("No customer found.", "고객을 찾지 못했습니다."),
    "customers.recent": ("Recently active customers", "최근 활동 고객"),
    "customers.found": ("{first}–{last} of {total}", "전체 {total}명 중 {first}–{last}"),
    "customers.previous": ("Previous", "이전"),
    "customers.next": ("Next", "다음"),
    "customer.title": ("Customer", "고객"),
    "customer.anonymous": ("Anonymous visitor", "익명 방문자"),
    "customer.identities": ("Identities", "식별자"),
    "customer.kind": ("Kind", "종류"),
    "customer.value": ("Value", "값"),
    "customer.first_seen": ("First seen", "처음 확인"),
    "customer.source": ("Source", "출처"),
    "customer.traits": ("Traits", "속성"),
    "customer.trait": ("Trait", "속성"),
    "customer.consents": ("Consents", "수신 동의"),
    "customer.consent.granted": ("granted", "동의"),
    "customer.consent.denied": ("denied", "거부"),
    "customer.consent.unknown": ("not asked", "미확인"),
    "customer.consent.save": ("Save consents", "수신 동의 저장"),
    "customer.consent.saved": ("Consents saved.", "수신 동의를 저장했습니다."),
    "customer.activity": ("Activity", "활동"),
    "customer.events": ("Events", "이벤트"),
    "customer.last_seen": ("Last seen", "마지막 활동"),
    "customer.timeline": ("Timeline", "타임라인"),
    "customer.timeline_more": ("Show more", "더 보기"),
    "customer.segments": ("Segments", "세그먼트"),
    "customer.no_segments": ("In no segment.", "속한 세그먼트가 없습니다."),
    "customer.merged": ("Merged profiles", "병합된 프로필"),
    "customer.time": ("Time", "시각"),
    "customer.event": ("Event", "이벤트"),
    "customer.details": ("Details", "상세"),
    "customer.conversions": ("Orders in the timeline", "타임라인의 주문"),
    "customer.journeys": ("Journeys", "여정"),
    "customer.no_runs": ("In no journey yet.", "아직 참여한 여정이 없습니다."),
    "customer.messages": ("Messages sent", "보낸 메시지"),
    "customer.no_messages": ("No messages yet.", "아직 보낸 메시지가 없습니다."),
    "customer.goals": ("Conversions", "전환"),
    "customer.goals_reached": ("Journey goals reached", "달성한 여정 목표"),
    "customer.all_messages": ("All messages to this customer", "이 고객에게 보낸 모든 메시지"),
    # journeys
    "nav.journeys": ("Journeys", "여정"),
    "nav.experiments": ("Experiments", "실험"),
    "experiments.title": ("Experiments", "실험"),
    "experiments.intro": ("A/B/n tests and bandits on journey paths, messages and the shop's pages. Each customer "
                          "keeps one arm on every channel; looking every day is safe (sequential test).",
                          "여정 경로, 메시지, 쇼핑몰 페이지의 A/B/n 테스트와 밴딧입니다. "
                          "고객은 모든 채널에서 같은 변형을 봅니다. "
                          "매일 확인해도 결과가 왜곡되지 않습니다 (순차 검정)."),
    "experiments.none": ("No experiments yet: add an experiment or bandit node to a journey, or create one with "
                         "POST /v1/experiments.", "아직 실험이 없습니다. 여정에 실험·밴딧 노드를 넣거나 "
                         "POST /v1/experiments로 만드세요."),
    "experiments.name": ("Experiment", "실험"),
    "experiments.status": ("Status", "상태"),
    "experiments.kind": ("Kind", "종류"),
    "experiments.arms": ("Arms (traffic)", "변형 (트래픽)"),
    "experiments.source": ("Where", "위치"),
    "experiments.source.flag": ("Shop pages (flags)", "쇼핑몰 페이지 (플래그)"),
    "experiments.status.draft": ("Draft", "초안"),
    "experiments.status.running": ("Running", "진행 중"),
    "experiments.status.stopped": ("Stopped", "중지됨"),
    "experiments.status.completed": ("Winner declared", "승자 결정"),
    "experiments.kind.ab": ("A/B/n test", "A/B/n 테스트"),
    "experiments.kind.bandit": ("Bandit", "밴딧"),
    "experiments.winner_is": ("winner: {arm}", "승자: {arm}"),
    "experiments.winner": ("Winner", "승자"),
    "experiments.metric.conversion": ("Metric: conversion to {event} within {hours} h",
                                      "지표: {hours}시간 내 {event} 전환"),
    "experiments.metric.revenue": ("Metric: revenue from {event} per recipient within {hours} h",
                                   "지표: {hours}시간 내 {event} 수신자당 매출"),
    "experiments.srm": ("Sample ratio mismatch (p = {p}): the arms did not get the traffic they were planned to "
                        "get. Stop and check the assignment before trusting any result.",
                        "표본 비율 불일치 (p = {p}): 변형별 트래픽이 계획과 다릅니다. 결과를 믿기 전에 중단하고 배정을 "
                        "확인하세요."),
    "experiments.verdict": ("Verdict:", "판정:"),
    "experiments.arm": ("Arm", "변형"),
    "experiments.exposures": ("Exposed", "노출"),
    "experiments.conversions": ("Converted", "전환"),
    "experiments.revenue": ("Revenue", "매출"),
    "experiments.rate": ("Rate", "전환율"),
    "experiments.per_recipient": ("Per recipient", "수신자당"),
    "experiments.lift": ("Lift vs control", "대조군 대비 향상"),
    "experiments.interval": ("95% interval (sequential)", "95% 구간 (순차)"),
    "experiments.chance": ("Chance to beat control", "대조군을 이길 확률"),
    "experiments.control": ("control", "대조군"),
    "experiments.holdout": ("Holdout (nothing sent)", "홀드아웃 (미발송)"),
    "experiments.significant": ("significant", "유의함"),
    "experiments.method": ("Intervals are always-valid confidence sequences (safe to read every day), corrected "
                           "across the variants (Holm); the holdout, whether sending helps at all, is tested on its "
                           "own and never wins. Chance to beat control is Bayesian (Beta posteriors).",
                           "구간은 언제 봐도 유효한 신뢰 수열(매일 확인해도 안전)이며 "
                           "변형 간 다중 비교를 보정(Holm)했습니다. 홀드아웃(발송 효과 자체)은 따로 검정하며 "
                           "승자가 되지 않습니다. 대조군을 이길 확률은 베이지안(베타 사후분포)입니다."),
    "experiments.lift_chart": ("Lift with its interval", "향상과 구간"),
    "experiments.weights": ("Bandit weights over time", "시간에 따른 밴딧 가중치"),
    "experiments.weights_note": ("{n} changes, each recorded with the exposures and conversions behind it.",
                                 "가중치 변경 {n}회, 각각 근거가 된 노출·전환 수와 함께 기록됩니다."),
    "experiments.guardrails": ("Guardrails", "가드레일"),
    "experiments.breached": ("rises with {arms}", "{arms}에서 증가"),
    "experiments.guardrail_ok": ("no arm raises it", "증가한 변형 없음"),
    "experiments.actions": ("Decide", "결정"),
    "experiments.start": ("Start", "시작"),
    "experiments.stop": ("Stop (everyone gets the control)", "중지 (모두 대조군)"),
    "experiments.declare": ("Winner", "승자"),
    "experiments.declare_button": ("Declare the winner", "승자 선언"),
    "experiments.declare_note": ("All traffic goes to the winner from then on.",
                                 "선언 후 모든 트래픽이 승자로 갑니다."),
    "experiments.start.saved": ("Experiment {name} started.", "실험 {name}을(를) 시작했습니다."),
    "experiments.stop.saved": ("Experiment {name} stopped: everyone gets the control.",
                               "실험 {name}을(를) 중지했습니다. 모두 대조군을 받습니다."),
    "experiments.winner.saved": ("Winner declared for {name}: all traffic goes to it.",
                                 "{name}의 승자를 선언했습니다. 모든 트래픽이 승자로 갑니다."),
    "journeys.title": ("Journeys", "여정"),
    "journeys.new": ("New journey", "새 여정"),
    "journeys.none": ("No journeys yet.", "아직 여정이 없습니다."),
    "journeys.alert": ("alert: runs failing", "알림: 실행 실패"),
    "journeys.alert_unreadable": ("alert: cannot be read", "알림: 읽을 수 없음"),
    "journey.name": ("Name", "이름"),
    "journey.status": ("Status", "상태"),
    "journey.version": ("Version", "버전"),
    "journey.live_version": ("Live version", "게시된 버전"),
    "journey.latest_version": ("Latest version", "최신 버전"),
    "journey.entered": ("Entered", "진입"),
    "journey.active": ("Active", "진행 중"),
    "journey.converted": ("Converted", "전환"),
    "journey.conversion_rate": ("Conversion rate", "전환율"),
    "journey.converted_treated": ("Converted (treated group)", "전환 (실험군)"),
    "journey.holdout_converted": ("Converted (holdout)", "전환 (대조군)"),
    "journey.of_runs": ("of {runs} runs", "실행 {runs}건 중"),
    "journey.holdout_rate": ("Holdout conversion", "대조군 전환율"),
    "journey.lift": ("Lift", "향상"),
    "journey.lift_interval": ("95% interval", "95% 신뢰구간"),
    "journey.lift_chance": ("may be chance", "우연일 수 있음"),
    "journey.updated": ("Updated", "수정"),
    "journey.trigger": ("Trigger", "트리거"),
    "journey.goal": ("Goal", "목표"),
    "journey.status.draft": ("draft", "초안"),
    "journey.status.published": ("published", "게시됨"),
    "journey.status.paused": ("paused", "일시 중지"),
    "journey.status.archived": ("archived", "보관됨"),
    "journey.edit": ("Edit definition", "정의 편집"),
    "journey.validate": ("Validate", "검증"),
    "journey.publish": ("Publish", "게시"),
    "journey.publish_latest": ("Publish version {version}", "버전 {version} 게시"),
    "journey.pause": ("Pause", "일시 중지"),
    "journey.resume": ("Resume", "재개"),
    "journey.archive": ("Archive", "보관"),
    "journey.archive_confirm": ("Archive this journey? Every active run exits.",
                                "이 여정을 보관할까요? 진행 중인 모든 실행이 종료됩니다."),
    "journey.saved": ("Journey saved as version {version}.", "여정을 버전 {version}(으)로 저장했습니다."),
    "journey.published": ("Journey published.", "여정을 게시했습니다."),
    "journey.paused": ("Journey paused: no new entries, timers held.",
                       "여정을 일시 중지했습니다. 새 진입이 없고 타이머가 멈춥니다."),
    "journey.resumed": ("Journey resumed.", "여정을 재개했습니다."),
    "journey.archived": ("Journey archived.", "여정을 보관했습니다."),
    "journey.valid": ("The definition is valid: {nodes} steps.", "정의가 올바릅니다: {nodes}개 단계."),
    "journey.valid_saved": ("Version {version} is valid and can be published.",
                            "버전 {version}은(는) 올바르며 게시할 수 있습니다."),
    "journey.invalid": ("The definition has problems:", "정의에 문제가 있습니다:"),
    "journey.cannot_publish": ("This version cannot be published:", "이 버전은 게시할 수 없습니다:"),
    "journey.action_failed": ("That did not work:", "작업을 완료하지 못했습니다:"),
    "journey.definition": ("Definition", "정의"),
    "journey.line": ("line {n}", "{n}행"),
    "journey.format": ("Format", "형식"),
    "journey.editor_help": ("The journey as YAML or JSON: trigger, steps (nodes), goal, exit conditions. "
                            "Each save makes a new version; the published one stays live until you publish again.",
                            "YAML 또는 JSON 형식의 여정: 트리거, 단계(nodes), 목표, 종료 조건. "
                            "저장할 때마다 새 버전이 만들어지며, 다시 게시할 때까지 게시된 버전이 유지됩니다."),
    "journey.save": ("Save", "저장"),
    "journey.save_new": ("Create journey", "여정 만들기"),
    "journey.graph": ("Steps", "단계"),
    "journey.graph_desc": ("{nodes} steps from the trigger down; each box shows how many runs entered it, wait "
                           "there now, were sent a message or suppressed (by reason), and ended there.",
                           "트리거부터 아래로 {nodes}개 단계. 각 상자에는 진입, 현재 대기, 발송, 발송 제외(사유별), "
                           "해당 단계에서 종료된 실행 수가 표시됩니다."),
    "journey.steps_table": ("Counts per step", "단계별 집계"),
    "journey.step": ("Step", "단계"),
    "journey.type": ("Type", "종류"),
    "journey.runs": ("Recent runs", "최근 실행"),
    "journey.no_runs": ("No runs yet.", "아직 실행이 없습니다."),
    "journey.customer": ("Customer", "고객"),
    "journey.current_step": ("Current step", "현재 단계"),
    "journey.entered_at": ("Entered", "진입 시각"),
    "journey.ended": ("Ended", "종료"),
    "journey.run_status.active": ("active", "진행 중"),
    "journey.run_status.waiting": ("waiting", "대기 중"),
    "journey.run_status.completed": ("completed", "완료"),
    "journey.run_status.converted": ("converted", "전환"),
    "journey.run_status.exited": ("exited", "이탈"),
    "journey.run_status.failed": ("failed", "실패"),
    "journey.retrying": ("retrying (failed {n}×)", "재시도 중 ({n}회 실패)"),
    "journey.failed_runs": ("Failed", "실패"),
    "journey.failing_runs": ("Retrying", "재시도 중"),
    "journey.alert.title": ("Paused automatically", "자동으로 일시 중지됨"),
    "journey.alert.failing_runs": (
        "{runs} runs of this journey failed within {minutes} minutes, so it was paused at {at}: no new "
        "entries, timers held. Other journeys keep running.",
        "이 여정의 실행 {runs}건이 {minutes}분 안에 실패하여 {at}에 일시 중지했습니다. 새 진입은 받지 않고 "
        "타이머는 보류됩니다. 다른 여정은 계속 실행됩니다."),
    "journey.alert.unreadable": (
        "The published version cannot be read, so this journey was paused at {at}.",
        "게시된 버전을 읽을 수 없어 {at}에 이 여정을 일시 중지했습니다."),
    "journey.alert.other": ("This journey was paused at {at}.", "{at}에 이 여정을 일시 중지했습니다."),
    "journey.alert.error": ("Last error", "마지막 오류"),
    "journey.alert.help": (
        "Fix the step (edit the definition, publish the new version), then resume: resuming clears this alert. "
        "Runs already failing keep their version and are retried until they fail for good.",
        "단계를 고친 뒤(정의를 편집하고 새 버전을 게시) 재개하세요. 재개하면 이 알림이 사라집니다. 이미 실패 중인 "
        "실행은 원래 버전으로 재시도되며, 끝내 실패하면 실패로 종료됩니다."),
    "journey.holdout": ("holdout", "대조군"),
    "journey.view_messages": ("Messages of this journey", "이 여정의 메시지"),
    "graph.trigger": ("Trigger", "트리거"),
    "graph.entered": ("entered", "진입"),
    "graph.waiting": ("waiting now", "현재 대기"),
    "graph.active": ("active now", "진행 중"),
    "graph.converted": ("converted", "전환"),
    "graph.holdout": ("in holdout", "대조군"),
    "graph.failing": ("retrying now", "재시도 중"),
    "graph.failed_runs": ("failed", "실패"),
    "graph.sent": ("sent", "발송"),
    "graph.suppressed": ("suppressed", "발송 제외"),
    "graph.failed": ("failed", "실패"),
    "graph.pending": ("pending", "대기열"),
    "graph.ended.converted": ("converted here", "여기서 전환"),
    "graph.ended.exited": ("exited here", "여기서 이탈"),
    "graph.ended.completed": ("finished here", "여기서 완료"),
    "graph.ended.failed": ("failed here", "여기서 실패"),
    "graph.yes": ("yes", "예"),
    "graph.no": ("no", "아니오"),
    "graph.event_came": ("event", "이벤트 발생"),
    "graph.timeout": ("timeout", "시간 초과"),
    "graph.preferred": ("preferred channel", "선호 채널"),
    "graph.preferred_short": ("preferred", "선호 채널"),
    "graph.best_short": ("best channel", "최적 채널"),
    "graph.wait_for": ("wait {duration}", "{duration} 대기"),
    "graph.wait_until": ("wait until {time}", "{time}까지 대기"),
    "graph.wait_event": ("{event}, at most {timeout}", "{event} 대기, 최대 {timeout}"),
    "node.trigger": ("trigger", "트리거"),
    "node.wait": ("wait", "대기"),
    "node.send": ("send", "발송"),
    "node.condition": ("condition", "조건"),
    "node.split": ("random split", "무작위 분기"),
    "node.update_traits": ("update traits", "속성 변경"),
    "node.award_points": ("award points", "포인트 지급"),
    "node.survey": ("survey", "설문"),
    "node.webhook": ("webhook", "웹훅"),
    "node.exit": ("exit", "종료"),
    # messages
    "nav.messages": ("Messages", "메시지"),
    "messages.title": ("Messages", "메시지"),
    "messages.by_channel": ("By channel", "채널별"),
    "messages.log": ("Delivery log", "발송 기록"),
    "messages.none": ("No messages match.", "조건에 맞는 메시지가 없습니다."),
    "messages.channel": ("Channel", "채널"),
    "messages.status": ("Status", "상태"),
    "messages.journey": ("Journey", "여정"),
    "messages.customer": ("Customer (e-mail, phone or id)", "고객 (이메일, 전화번호 또는 ID)"),
    "messages.any": ("Any", "전체"),
    "messages.filter": ("Filter", "필터 적용"),
    "messages.created": ("Created", "생성"),
    "messages.template": ("Template", "템플릿"),
    "messages.to": ("To", "수신"),
    "messages.reason": ("Reason", "사유"),
    "messages.step": ("Step", "단계"),
    "messages.sent": ("Sent", "발송"),
    "messages.delivered": ("Delivered", "전달"),
    "messages.opened": ("Opened", "열람"),
    "messages.clicked": ("Clicked", "클릭"),
    "messages.failed": ("Failed", "실패"),
    "messages.pending": ("Pending", "대기"),
    "messages.suppressed": ("Suppressed", "발송 제외"),
    "messages.suppressed_by_reason": ("Suppressed, by reason", "발송 제외 사유"),
    "messages.newer": ("Newer", "최근"),
    "messages.older": ("Older", "이전"),
    "messages.page": ("Messages {first}–{last}", "메시지 {first}–{last}"),
    "messages.no_channel": ("(no channel)", "(채널 없음)"),
    "messages.unknown_customer": ("No customer with that identifier.", "해당 식별자의 고객이 없습니다."),
    "messages.templates": ("Templates", "템플릿"),
    "status.pending": ("pending", "대기"),
    "status.sending": ("sending", "발송 중"),
    "status.sent": ("sent", "발송됨"),
    "status.failed": ("failed", "실패"),
    "status.suppressed": ("suppressed", "발송 제외"),
    # templates
    "templates.title": ("Message templates", "메시지 템플릿"),
    "templates.none": ("No templates yet (PUT /v1/templates/KEY/CHANNEL or touchline templates put).",
                       "아직 템플릿이 없습니다 (PUT /v1/templates/KEY/CHANNEL 또는 touchline templates put)."),
    "templates.key": ("Key", "키"),
    "templates.locales": ("Locales", "언어"),
    "templates.preview": ("Preview for a customer", "고객별 미리 보기"),
    "templates.preview_button": ("Preview", "미리 보기"),
    "templates.rendered": ("{template} on {channel} for {customer}", "{customer} 고객의 {template} ({channel})"),
    "templates.customer_default": ("default: the journey's latest customer", "비우면 여정의 최근 고객"),
    "templates.sent_by": ("Sent by {journey}, step {step}", "{journey} 여정의 {step} 단계에서 발송"),
    "templates.kind.advertising": ("advertising", "광고성"),
    "templates.kind.transactional": ("transactional", "정보성"),
    "templates.context.run": ("Rendered with the trigger event of {customer}'s run (entered {at}).",
                              "{customer} 고객이 {at}에 진입한 실행의 트리거 이벤트로 렌더링했습니다."),
    "templates.context.event": (
        "Rendered with {customer}'s {event} of {at}, as the journey's trigger would start a run with it.",
        "{customer} 고객의 {at} {event} 이벤트로, 여정 트리거가 실행을 시작할 때처럼 렌더링했습니다."),
    "templates.context.sample": ("Rendered with a sample event: no run or trigger event of this journey yet.",
                                 "예시 이벤트로 렌더링했습니다: 아직 이 여정의 실행이나 트리거 이벤트가 없습니다."),
    "templates.context.request": ("Rendered with the event given.", "주어진 이벤트로 렌더링했습니다."),
    "templates.context.event_data": ("Trigger event", "트리거 이벤트"),
    "templates.not_sent": ("This message would not be sent: {reason}.", "이 메시지는 발송되지 않습니다: {reason}."),
    "templates.opt_out_help": (
        "Korean advertising by SMS starts with (광고) and the sender's name and ends with a free opt-out line "
        "(정보통신망법 제50조): set TOUCHLINE_SMS_AD_OPT_OUT_LINE (e.g. 무료수신거부 080-123-4567) and "
        "TOUCHLINE_SMS_AD_SENDER_NAME.",
        "광고성 문자는 (광고)와 발신자 이름으로 시작하고 무료 수신거부 안내로 끝나야 합니다(정보통신망법 제50조). "
        "TOUCHLINE_SMS_AD_OPT_OUT_LINE(예: 무료수신거부 080-123-4567)과 TOUCHLINE_SMS_AD_SENDER_NAME을 설정하세요."),
    # errors
    "error.title": ("Something is wrong", "문제가 발생했습니다"),
    "error.forbidden": ("Your role ({role}) may not do this.", "현재 역할({role})로는 이 작업을 할 수 없습니다."),
    "error.csrf": ("The form expired or came from another site; reload the page and try again.",
                   "양식이 만료되었거나 다른 사이트에서 전송되었습니다. 페이지를 새로 고친 뒤 다시 시도하세요."),
    "error.not_found": ("Not found.", "찾을 수 없습니다."),
    "error.back": ("Back to the overview", "개요로 돌아가기"),
    "chart.today_so_far": ("today, so far", "오늘 (집계 중)"),
    "cohorts.running_month": ("* this month, so far (since {since})", "* 이번 달은 진행 중 ({since}부터)"),
    "cohorts.running_week": ("* this week, so far (since {since})", "* 이번 주는 진행 중 ({since}부터)"),
    "error.internal": ("Something went wrong on the server. It has been logged; try again in a moment.",
                       "서버에서 오류가 발생했습니다. 기록해 두었으니 잠시 후 다시 시도해 주세요."),
    # the agents' inbox
    "nav.inbox": ("Inbox", "상담함"),
    "inbox.title": ("Inbox", "상담함"),
    "inbox.queue": ("Queue", "대기열"),
    "inbox.queue.unassigned": ("Unassigned", "미배정"),
    "inbox.queue.mine": ("Mine", "내 상담"),
    "inbox.queue.team": ("My team", "우리 팀"),
    "inbox.queue.all": ("All", "전체"),
    "inbox.channel": ("Channel", "채널"),
    "inbox.status": ("Status", "상태"),
    "inbox.tag": ("Tag", "태그"),
    "inbox.language": ("Language", "언어"),
    "inbox.any": ("Any", "전체"),
    "inbox.filter": ("Filter", "필터 적용"),
    "inbox.conversations": ("Conversations", "상담 목록"),
    "inbox.none": ("No conversations in this queue.", "이 대기열에 상담이 없습니다."),
    "inbox.pick": ("Choose a conversation on the left.", "왼쪽에서 상담을 고르세요."),
    "inbox.guest": ("Visitor", "방문자"),
    "inbox.live": ("Live: new messages appear here by themselves.", "실시간: 새 메시지가 자동으로 나타납니다."),
    "inbox.offline": ("Live updates paused; reconnecting…", "실시간 연결이 끊겨 다시 연결하는 중입니다…"),
    "inbox.channel.chat": ("Web chat", "웹 채팅"),
    "inbox.channel.sms": ("SMS", "문자"),
    "inbox.channel.whatsapp": ("WhatsApp", "WhatsApp"),
    "inbox.channel.kakao": ("KakaoTalk", "카카오톡"),
    "inbox.channel.email": ("E-mail", "이메일"),
    "inbox.status.active": ("Active", "진행 중"),
    "inbox.status.open": ("Open", "열림"),
    "inbox.status.pending": ("Waiting on customer", "고객 답변 대기"),
    "inbox.status.snoozed": ("Snoozed", "보류"),
    "inbox.status.resolved": ("Resolved", "해결됨"),
    "inbox.status.all": ("All", "전체"),
    "inbox.assignee": ("Assignee", "담당자"),
    "inbox.nobody": ("Unassigned", "미배정"),
    "inbox.assign_me": ("Assign to me", "내가 맡기"),
    "inbox.assign": ("Assign", "배정"),
    "inbox.snooze": ("Snooze", "보류"),
    "inbox.snooze.1h": ("1 hour", "1시간"),
    "inbox.snooze.4h": ("4 hours", "4시간"),
    "inbox.snooze.1d": ("1 day", "하루"),
    "inbox.resolve": ("Resolve", "해결 완료"),
    "inbox.reopen": ("Reopen", "다시 열기"),
    "inbox.reply": ("Reply", "답장"),
    "inbox.note": ("Private note", "내부 메모"),
    "inbox.send_reply": ("Send reply", "답장 보내기"),
    "inbox.add_note": ("Add note", "메모 남기기"),
    "inbox.note_hint": ("Only agents see notes; the customer never does.",
                        "메모는 상담원끼리만 보며 고객에게는 보이지 않습니다."),
    "inbox.canned": ("Canned response", "자주 쓰는 답변"),
    "inbox.canned_insert": ("Insert", "넣기"),
    "inbox.empty_reply": ("Write something first.", "내용을 먼저 입력하세요."),
    "inbox.you": ("Customer", "고객"),
    "inbox.agent": ("Agent", "상담원"),
    "inbox.bot": ("Bot", "챗봇"),
    "inbox.system": ("Touchline", "Touchline"),
    "inbox.rated": ("Customer's rating: {score} of 5", "고객 평가: 5점 중 {score}점"),
    "inbox.not_rated": ("Not rated yet", "아직 평가하지 않음"),
    "inbox.note_label": ("Note", "메모"),
    "inbox.rules.chat": ("Web chat: delivered in the chat window at once.", "웹 채팅: 채팅 창에 바로 전달됩니다."),
    "inbox.rules.sms": ("SMS: to Korean numbers 90 bytes per SMS (a Korean letter is 2 bytes), longer ones go as "
                        "LMS up to 2,000 bytes; elsewhere 160 GSM-7 or 70 Unicode characters per segment.",
                        "문자: 국내 번호는 SMS 90바이트(한글 한 글자 2바이트)까지, 더 길면 LMS로 2,000바이트까지 "
                        "보냅니다. 해외 번호는 구간마다 GSM-7 160자, 유니코드 70자입니다."),
    "inbox.rules.whatsapp": ("WhatsApp: free text only within 24 hours of the customer's last message.",
                             "WhatsApp: 고객의 마지막 메시지 후 24시간 안에만 자유 형식으로 답할 수 있습니다."),
    "inbox.rules.whatsapp_closed": ("The 24-hour window is closed: a free-text reply will be refused. Send an "
                                    "approved template (API: template_code).",
                                    "24시간 응대 창이 닫혔습니다. 자유 형식 답장은 거절되니 승인된 템플릿"
                                    "(API의 template_code)으로 보내세요."),
    "inbox.rules.kakao": ("KakaoTalk: up to {n} characters.", "카카오톡: {n}자까지 보낼 수 있습니다."),
    "inbox.rules.email": ("E-mail: sent as a reply (Re: and In-Reply-To), so it stays in the customer's thread.",
                          "이메일: 답장(Re:, In-Reply-To)으로 보내 고객의 메일 스레드에 이어집니다."),
    "inbox.count": ("{n} characters", "{n}자"),
    "inbox.customer": ("Customer", "고객 정보"),
    "inbox.open_profile": ("Open profile", "고객 상세 보기"),
    "inbox.identities": ("Identities", "식별 정보"),
    "inbox.consents": ("Consents", "수신 동의"),
    "inbox.cart": ("Cart", "장바구니"),
    "inbox.orders": ("Recent orders", "최근 주문"),
    "inbox.journeys": ("Journeys", "여정"),
    "inbox.sent": ("Messages sent", "보낸 메시지"),
    "inbox.earlier": ("Conversations", "상담 이력"),
    "inbox.nothing": ("None", "없음"),
    "inbox.delivery.queued": ("queued", "발송 대기"),
    "inbox.delivery.sent": ("sent", "보냄"),
    "inbox.delivery.delivered": ("delivered", "전달됨"),
    "inbox.delivery.read": ("read", "읽음"),
    "inbox.delivery.failed": ("not delivered", "전달 실패"),
    # the inbox report
    "nav.inbox_report": ("Inbox report", "상담 리포트"),
    "teams.title": ("Teams", "상담팀"),
    "teams.link": ("Teams", "상담팀"),
    "teams.intro": ("Who answers which channels, whether new conversations are assigned automatically (in turn "
                    "among agents online and under their capacity), and the hours each team keeps: outside them "
                    "the shop assistant tells the customer when a person will answer.",
                    "어떤 채널을 누가 맡는지, 새 상담을 자동으로 배정할지(접속 중이고 한도가 남은 상담원에게 "
                    "차례로), 팀의 운영 시간을 정합니다. 운영 시간이 아닐 때는 쇼핑 도우미가 상담원이 언제 "
                    "답하는지 안내합니다."),
    "teams.none": ("No teams yet.", "아직 상담팀이 없습니다."),
    "teams.settings": ("Chat ratings", "채팅 만족도 평가"),
    "teams.rate_on_resolve": ("Ask the customer for a rating (1–5) when an agent's web chat is resolved",
                              "상담원이 답한 웹 채팅을 해결하면 고객에게 만족도(1–5점)를 묻기"),
    "teams.rate_help": ("The answers are CSAT answers of the survey “conversation”: they show in the inbox report "
                        "and on the Surveys page, and set the customer's csat_score trait. For SMS, KakaoTalk, "
                        "WhatsApp and e-mail, a journey on “Conversation Resolved” with a survey step asks "
                        "instead.",
                        "답변은 ‘conversation’ 설문의 CSAT 답변으로 기록되어 상담 리포트와 설문 페이지에 나타나고, "
                        "고객의 csat_score 속성이 됩니다. 문자·카카오톡·WhatsApp·이메일 상담은 ‘상담 해결됨’ 이벤트로 "
                        "시작하는 여정에 설문 단계를 넣어 물어보세요."),
    "teams.settings_save": ("Save", "저장"),
    "teams.rate_on": ("on", "사용 중"),
    "teams.rate_off": ("off", "사용 안 함"),
    "teams.new": ("New team", "새 상담팀"),
    "teams.create": ("Create the team", "상담팀 만들기"),
    "teams.edit": ("Change the team", "상담팀 수정"),
    "teams.save": ("Save", "저장"),
    "teams.delete": ("Delete the team", "상담팀 삭제"),
    "teams.name": ("Name", "이름"),
    "teams.channels": ("Channels", "채널"),
    "teams.channels_help": ("None ticked: every channel.", "아무것도 고르지 않으면 모든 채널입니다."),
    "teams.all_channels": ("every channel", "모든 채널"),
    "teams.auto_assign": ("Assign new conversations automatically", "새 상담 자동 배정"),
    "teams.language_routing": ("Match the customer's language", "고객 언어에 맞춰 배정"),
    "teams.auto_on": ("assigned automatically", "자동 배정"),
    "teams.auto_off": ("assigned by hand", "직접 배정"),
    "teams.by_language": ("by language", "언어별"),
    "teams.hours": ("Hours", "운영 시간"),
    "teams.hours_help": ("No day ticked: always there. Closing at or before opening runs past midnight.",
                         "요일을 고르지 않으면 항상 운영합니다. 종료가 시작보다 이르면 자정을 넘겨 운영합니다."),
    "teams.always": ("always there", "항상 운영"),
    "teams.opens": ("opens", "시작"),
    "teams.closes": ("closes", "종료"),
    "teams.timezone": ("time zone", "시간대"),
    "teams.day.0": ("Mon", "월"),
    "teams.day.1": ("Tue", "화"),
    "teams.day.2": ("Wed", "수"),
    "teams.day.3": ("Thu", "목"),
    "teams.day.4": ("Fri", "금"),
    "teams.day.5": ("Sat", "토"),
    "teams.day.6": ("Sun", "일"),
    "teams.members": ("Members", "구성원"),
    "teams.no_members": ("Nobody in this team yet.", "아직 구성원이 없습니다."),
    "teams.agent": ("Agent", "상담원"),
    "teams.status": ("Status", "상태"),
    "teams.online": ("online", "접속 중"),
    "teams.offline": ("offline", "미접속"),
    "teams.active": ("Open now", "진행 중"),
    "teams.capacity": ("Capacity", "최대 상담 수"),
    "teams.languages": ("Languages", "언어"),
    "teams.any_language": ("any", "모든 언어"),
    "teams.add_member": ("Add an agent, or change one's capacity", "상담원 추가 또는 한도 변경"),
    "teams.save_member": ("Save the agent", "상담원 저장"),
    "teams.remove": ("Remove", "빼기"),
    "teams.saved": ("The team was saved.", "상담팀을 저장했습니다."),
    "teams.ratings.saved": ("The chat rating setting was saved.", "채팅 만족도 평가 설정을 저장했습니다."),
    "teams.deleted": ("The team was deleted.", "상담팀을 삭제했습니다."),
    "report.title": ("Inbox report", "상담 리포트"),
    "report.link": ("Report", "리포트"),
    "report.back": ("Back to the inbox", "상담함으로 돌아가기"),
    "report.intro": ("Conversations started in the period; the backlog is now.",
                     "기간 안에 시작된 상담 기준이며, 적체는 지금 기준입니다."),
    "report.first_response": ("First response (median)", "첫 응답 시간 (중앙값)"),
    "report.resolution": ("Time to resolution (median)", "해결 시간 (중앙값)"),
    "report.p90": ("90% within {d}", "90%가 {d} 이내"),
    "report.of_answered": ("{n} answered by an agent", "상담원 응답 {n}건"),
    "report.started": ("Conversations", "상담 건수"),
    "report.resolved_of": ("{n} resolved", "해결 {n}건"),
    "report.backlog": ("Backlog now", "현재 적체"),
    "report.backlog_note": ("{n} unassigned", "미배정 {n}건"),
    "report.csat": ("Chat satisfaction (4–5 of 5)", "채팅 만족도 (5점 중 4–5점)"),
    "report.csat_note": ("average {avg} · {answered} of {asked} answered",
                         "평균 {avg}점 · {asked}건 중 {answered}건 응답"),
    "report.csat_short": ("CSAT (answers)", "만족도 (응답)"),
    "report.csat_off": ("not asked yet (Teams: chat ratings)", "아직 묻지 않음 (상담팀: 채팅 만족도 평가)"),
    "report.oldest": ("Longest wait now: {d}", "가장 오래 기다린 상담: {d}"),
    "report.none_waiting": ("nobody waiting", "기다리는 고객 없음"),
    "report.no_data": ("No conversations started in this period.", "이 기간에 시작된 상담이 없습니다."),
    "report.by_channel": ("Conversations by channel", "채널별 상담"),
    "report.by_hour": ("Conversations by hour of the day ({tz})", "시간대별 상담 ({tz})"),
    "report.hour": ("{h}:00", "{h}시"),
    "report.backlog_chart": ("Backlog by status", "상태별 적체"),
    "report.per_agent": ("Per agent", "상담원별"),
    "report.per_team": ("Per team", "팀별"),
    "report.per_channel": ("Per channel", "채널별"),
    "report.agent": ("Agent", "상담원"),
    "report.team": ("Team", "팀"),
    "report.no_team": ("No team", "팀 없음"),
    "report.unknown_agent": ("Former agent", "삭제된 상담원"),
    "report.answered": ("Answered", "응답"),
    "report.resolved": ("Resolved", "해결"),
    "report.fr_median": ("First response, median", "첫 응답 중앙값"),
    "report.fr_p90": ("First response, 90%", "첫 응답 90%"),
    "report.res_median": ("Resolution, median", "해결 중앙값"),
    "report.res_p90": ("Resolution, 90%", "해결 90%"),
    "report.active_now": ("Active now", "현재 진행 중"),
    "report.nothing": ("Nobody has a conversation in this period.", "이 기간에 맡은 상담이 없습니다."),
    # the shop assistant's report and proactive chat
    "nav.assistant_report": ("Assistant report", "챗봇 리포트"),
    "assistant.title": ("Assistant report", "챗봇 리포트"),
    "assistant.intro": ("Conversations the assistant answered. Contained: it resolved them (resolved, or the "
                        "customer wrote nothing more for 24 hours); handed over: it passed them to a person.",
                        "챗봇이 답한 상담입니다. 자체 해결은 챗봇이 끝낸 상담(해결 완료, 또는 24시간 동안 "
                        "고객의 추가 메시지 없음), 상담원 연결은 사람에게 넘긴 상담입니다."),
    "assistant.conversations": ("Conversations", "상담"),
    "assistant.contained": ("Contained", "자체 해결"),
    "assistant.handed_over": ("Handed over", "상담원 연결"),
    "assistant.open": ("Still open", "진행 중"),
    "assistant.rate": ("Containment", "자체 해결률"),
    "assistant.rate_note": ("{contained} contained, {handed} handed over",
                            "자체 해결 {contained}건, 상담원 연결 {handed}건"),
    "assistant.open_note": ("{n} still open", "진행 중 {n}건"),
    "assistant.answers": ("Confident answers", "확신 있는 답변"),
    "assistant.answers_note": ("of {n} turns", "전체 {n}회 중"),
    "assistant.lift": ("Proactive chat lift", "선제 채팅 효과"),
    "assistant.lift_note": ("orders within 24 h, {n} customers", "24시간 내 주문 기준, 고객 {n}명"),
    "assistant.by_intent": ("By intent", "문의 유형별"),
    "assistant.by_language": ("By language", "언어별"),
    "assistant.language": ("Language", "언어"),
    "assistant.nothing": ("The assistant answered no conversation in this period.",
                          "이 기간에 챗봇이 답한 상담이 없습니다."),
    "assistant.unanswered": ("Questions it could not answer", "챗봇이 답하지 못한 질문"),
    "assistant.unanswered_help": ("Questions the assistant was not sure of, most asked first: add the common ones "
                                  "to the FAQ.", "챗봇이 확신하지 못한 질문을 많이 나온 순서로 보여 줍니다. "
                                                 "자주 나오는 질문은 FAQ에 추가해 보세요."),
    "assistant.asked": ("Asked", "질문 수"),
    "assistant.last_asked": ("Last asked", "마지막 질문"),
    "assistant.add_faq": ("Add to the FAQ", "FAQ에 추가"),
    "assistant.no_unanswered": ("None in this period.", "이 기간에는 없습니다."),
    "assistant.proactive": ("Proactive chat", "선제 채팅"),
    "assistant.proactive_help": ("When a shopper hesitates (idle at checkout, about to leave), the chat opens by "
                                 "itself with your message. A holdout share is offered nothing, so the effect on "
                                 "orders is measured.",
                                 "고객이 망설일 때(결제 페이지에서 멈춤, 페이지를 떠나려 함) 채팅 창이 메시지와 함께 "
                                 "저절로 열립니다. 일부 고객(홀드아웃)에게는 열지 않아 주문에 미친 효과를 측정합니다."),
    "assistant.group": ("Group", "그룹"),
    "assistant.offered": ("Customers", "고객 수"),
    "assistant.converted": ("Ordered within 24 h", "24시간 내 주문"),
    "assistant.conversion": ("Conversion", "전환율"),
    "assistant.treatment": ("Chat opened", "채팅 열림"),
    "assistant.holdout": ("Holdout (nothing shown)", "홀드아웃(표시 안 함)"),
    "assistant.interval": ("95% interval {low} to {high}", "95% 구간 {low} ~ {high}"),
    "assistant.problems": ("The settings were not saved:", "설정을 저장하지 못했습니다:"),
    "assistant.enabled": ("Open the chat when a shopper hesitates", "고객이 망설이면 채팅 창 열기"),
    "assistant.signals": ("When", "열리는 때"),
    "assistant.signal.checkout_idle": ("Idle on the checkout page", "결제 페이지에서 멈춰 있을 때"),
    "assistant.signal.cart_exit": ("Leaving the cart page with items (recorded only)",
                                   "장바구니에 상품을 두고 떠날 때(기록만)"),
    "assistant.signal.exit_intent": ("About to leave the page (desktop)", "페이지를 떠나려 할 때(데스크톱)"),
    "assistant.field.idle_seconds": ("Idle time (seconds)", "멈춤 시간(초)"),
    "assistant.field.cap_hours": ("At most once per customer every (hours)", "고객당 최대 1회, 간격(시간)"),
    "assistant.field.holdout_percent": ("Holdout (%)", "홀드아웃(%)"),
    "assistant.field.message_ko": ("Message in Korean", "한국어 메시지"),
    "assistant.field.message_en": ("Message in English", "영어 메시지"),
    "assistant.field.signals": ("When", "열리는 때"),
    "assistant.field.enabled": ("On", "사용"),
    "assistant.save": ("Save", "저장"),
    "assistant.saved": ("Proactive chat saved.", "선제 채팅 설정을 저장했습니다."),
    # feedback: surveys and reviews (issue 18)
    "nav.surveys": ("Surveys", "설문"),
    "nav.reviews": ("Reviews", "리뷰"),
    "surveys.chat_rating": ("Chat rating", "채팅 상담 평가"),
    "surveys.title": ("Surveys: NPS and CSAT", "설문: NPS와 고객만족도"),
    "surveys.intro": ("Answers to the surveys journeys send (a signed link in e-mail and SMS, one-click scores in "
                      "messengers, in-app answers). The band is the 95% interval.",
                      "여정이 보낸 설문의 응답입니다 (이메일·문자의 서명된 링크, 메신저의 원클릭 점수, 앱 내 응답). "
                      "띠는 95% 신뢰구간입니다."),
    "surveys.interval": ("95% interval", "95% 신뢰구간"),
    "surveys.nps": ("NPS", "NPS"),
    "surveys.nps_note": ("{low} to {high} (95%)", "{low} ~ {high} (95%)"),
    "surveys.answers": ("Answers", "응답"),
    "surveys.promoters": ("Promoters (9-10)", "추천 고객 (9-10)"),
    "surveys.passives": ("Passives (7-8)", "중립 고객 (7-8)"),
    "surveys.detractors": ("Detractors (0-6)", "비추천 고객 (0-6)"),
    "surveys.csat": ("CSAT (satisfied)", "고객만족도 (만족)"),
    "surveys.over_time": ("NPS by week", "주별 NPS"),
    "surveys.week": ("Week of", "주 시작일"),
    "surveys.comments": ("Latest comments", "최근 의견"),
    "surveys.no_comments": ("No comments yet.", "아직 의견이 없습니다."),
    "surveys.score": ("Score", "점수"),
    "surveys.comment": ("Comment", "의견"),
    "surveys.survey": ("Survey", "설문"),
    "surveys.when": ("When", "응답 시각"),
    "reviews.title": ("Reviews: moderation", "리뷰: 검토"),
    "reviews.intro": ("Reviews wait here until approved; only approved reviews appear on product pages. The filter "
                      "flags swear words in Korean and English.",
                      "리뷰는 승인 전까지 여기서 기다리며, 승인된 리뷰만 상품 페이지에 게시됩니다. "
                      "필터가 한국어와 영어 욕설을 표시합니다."),
    "reviews.pending": ("Waiting", "대기"),
    "reviews.approved": ("Approved", "승인"),
    "reviews.rejected": ("Rejected", "거절"),
    "reviews.approve": ("Approve", "승인"),
    "reviews.reject": ("Reject", "거절"),
    "reviews.reply": ("Reply", "답글"),
    "reviews.reply_save": ("Save reply", "답글 저장"),
    "reviews.flagged": ("Flagged: {terms}", "필터 감지: {terms}"),
    "reviews.product": ("Product", "상품"),
    "reviews.rating": ("Rating", "별점"),
    "reviews.none": ("Nothing here.", "해당 리뷰가 없습니다."),
    "reviews.done": ("Review {status}.", "리뷰를 {status} 처리했습니다."),
    # the shop assistant's FAQ
    "nav.faq": ("Assistant FAQ", "챗봇 FAQ"),
    # the shop's catalog
    "nav.catalog": ("Catalog", "상품 목록"),
    "catalog.title": ("Catalog", "상품 목록"),
    "catalog.intro": ("The shop's products, from its imports (POST /v1/catalog/products, touchline catalog import) "
                      "and from the product events the shop sends. A value an import gives always stands; events "
                      "fill in what the import leaves out. The assistant answers product questions from the "
                      "products on sale.",
                      "쇼핑몰의 상품입니다. 상품 가져오기(POST /v1/catalog/products, touchline catalog import)와 "
                      "쇼핑몰이 보내는 상품 이벤트로 채워집니다. 가져온 값이 항상 우선하고, 가져오기에 없는 항목만 "
                      "이벤트로 채웁니다. 챗봇은 판매 중인 상품으로 상품 문의에 답합니다."),
    "catalog.search": ("Search by name or product ID", "상품명 또는 상품 ID로 검색"),
    "catalog.category": ("Category", "카테고리"),
    "catalog.all_categories": ("All categories", "전체 카테고리"),
    "catalog.search_button": ("Search", "검색"),
    "catalog.found": ("Products {first}–{last} of {total}", "상품 {total}개 중 {first}–{last}번째"),
    "catalog.none": ("No products yet. Import them with POST /v1/catalog/products or touchline catalog import, or "
                     "send the shop's product events (Product Viewed, Order Completed ...).",
                     "아직 상품이 없습니다. POST /v1/catalog/products나 touchline catalog import로 상품을 "
                     "가져오거나, 쇼핑몰의 상품 이벤트(Product Viewed, Order Completed 등)를 보내 주세요."),
    "catalog.none_found": ("No product matches.", "조건에 맞는 상품이 없습니다."),
    "catalog.product": ("Product", "상품"),
    "catalog.price": ("Price", "가격"),
    "catalog.stock": ("Stock", "재고"),
    "catalog.attributes": ("Attributes", "속성"),
    "catalog.sources": ("Where it came from", "출처"),
    "catalog.source.import": ("Import", "가져오기"),
    "catalog.source.events": ("Events", "이벤트"),
    "catalog.inactive": ("Off sale", "판매 중지"),
    "catalog.sold_out": ("Sold out", "품절"),
    "catalog.previous": ("Previous", "이전"),
    "catalog.next": ("Next", "다음"),
    "catalog.field.name": ("name", "상품명"),
    "catalog.field.name_en": ("English name", "영문 상품명"),
    "catalog.field.category": ("category", "카테고리"),
    "catalog.field.category_en": ("English category", "영문 카테고리"),
    "catalog.field.price": ("price", "가격"),
    "catalog.field.stock": ("stock", "재고"),
    "catalog.field.url": ("page", "상품 페이지"),
    "catalog.field.image_url": ("image", "이미지"),
    "catalog.field.attributes": ("attributes", "속성"),
    "faq.title": ("Assistant FAQ", "챗봇 FAQ"),
    "faq.intro": ("What the shop assistant answers from: each entry in Korean and English, with example questions "
                  "shoppers ask and the answer. A disabled entry is kept but not answered from.",
                  "쇼핑 도우미 챗봇이 답하는 근거입니다. 항목마다 한국어와 영어로, 고객이 물어볼 만한 예시 질문과 "
                  "답변을 적습니다. 사용 중지한 항목은 남아 있지만 답변에 쓰이지 않습니다."),
    "faq.count": ("{enabled} of {count} entries in use", "항목 {count}개 중 {enabled}개 사용 중"),
    "faq.new": ("New entry", "새 항목"),
    "faq.edit": ("Edit entry", "항목 수정"),
    "faq.none": ("No FAQ entries yet. Add the questions shoppers ask most: shipping, returns, exchanges, payment, "
                 "sizes, store hours, coupons.",
                 "아직 FAQ 항목이 없습니다. 배송, 반품, 교환, 결제 수단, 사이즈, 매장 영업시간, 쿠폰처럼 고객이 자주 "
                 "묻는 질문부터 추가해 보세요."),
    "faq.key": ("Key", "키"),
    "faq.key_help": ("A stable name for the entry (shipping_fee); left empty, one is made.",
                     "항목을 가리키는 고정 이름입니다(shipping_fee). 비워 두면 자동으로 만듭니다."),
    "faq.topic": ("Topic", "주제"),
    "faq.enabled": ("In use", "사용 중"),
    "faq.disabled": ("Not in use", "사용 안 함"),
    "faq.enable": ("Use", "사용"),
    "faq.disable": ("Stop using", "사용 중지"),
    "faq.korean": ("Korean", "한국어"),
    "faq.english": ("English", "영어"),
    "faq.questions": ("Example questions", "예시 질문"),
    "faq.questions_help": ("One per line: the ways shoppers ask it.",
                           "한 줄에 하나씩, 고객이 묻는 여러 표현을 적어 주세요."),
    "faq.answer": ("Answer", "답변"),
    "faq.missing": ("No version in this language.", "이 언어로 된 내용이 없습니다."),
    "faq.language_help": ("Fill in Korean, English or both; a language left empty has no version.",
                          "한국어, 영어 중 하나 또는 둘 다 적어 주세요. 비워 둔 언어는 저장되지 않습니다."),
    "faq.save": ("Save", "저장"),
    "faq.cancel": ("Cancel", "취소"),
    "faq.delete": ("Delete", "삭제"),
    "faq.delete_confirm": ("Delete this entry? The assistant stops answering from it.",
                           "이 항목을 삭제할까요? 챗봇이 더 이상 이 항목으로 답하지 않습니다."),
    "faq.saved": ("Saved {name}.", "{name} 항목을 저장했습니다."),
    "faq.enabled.saved": ("{name} is in use.", "{name} 항목을 사용합니다."),
    "faq.disabled.saved": ("{name} is no longer used.", "{name} 항목을 사용하지 않습니다."),
    "faq.deleted": ("Deleted {name}.", "{name} 항목을 삭제했습니다."),
    "faq.invalid": ("The entry has problems:", "항목에 문제가 있습니다:"),
    "faq.try": ("Try a question", "질문해 보기"),
    "faq.try_help": ("Ask as a shopper would; the answer comes from the entries in use.",
                     "고객처럼 질문해 보세요. 사용 중인 항목으로 답합니다."),
    "faq.try_question": ("Question", "질문"),
    "faq.try_language": ("Reply in", "답변 언어"),
    "faq.try_auto": ("The question's language", "질문과 같은 언어"),
    "faq.ask": ("Ask", "질문하기"),
    "faq.reply": ("The assistant's reply", "챗봇의 답변"),
    "faq.confidence": ("Confidence", "확신도"),
    "faq.confident": ("Sure enough to answer", "답할 만큼 확실함"),
    "faq.unsure": ("Not sure: offers a person instead", "확실하지 않음: 상담원 연결을 제안"),
    "faq.handover": ("Asked for a person: hands over", "상담원 요청: 바로 연결"),
    "faq.intent": ("Kind of question", "질문 종류"),
    "faq.matched": ("Entry", "찾은 항목"),
    "faq.intent.faq": ("FAQ", "FAQ"),
    "faq.intent.handover": ("asks for a person", "상담원 요청"),
    "faq.intent.smalltalk": ("greeting", "인사"),
    "faq.intent.order_status": ("their own order", "주문 조회"),
    "faq.intent.product": ("a product", "상품 문의"),
    "faq.intent.unknown": ("not understood", "이해하지 못함"),
    "faq.intent.return": ("a return request", "반품 접수"),
    "faq.intent.exchange": ("an exchange request", "교환 접수"),
    "faq.field.key": ("Key", "키"),
    "faq.field.topic": ("Topic", "주제"),
    "faq.field.ko": ("Korean", "한국어"),
    "faq.field.en": ("English", "영어"),
    "faq.field.ko.answer": ("Korean answer", "한국어 답변"),
    "faq.field.en.answer": ("English answer", "영어 답변"),
    "faq.field.ko.questions": ("Korean example questions", "한국어 예시 질문"),
    "faq.field.en.questions": ("English example questions", "영어 예시 질문"),
    "faq.problem.empty": ("must not be empty", "비어 있으면 안 됩니다"),
    "faq.problem.taken": ("another entry has this key", "다른 항목이 이미 쓰는 키입니다"),
    "faq.problem.nul": ("must not contain a NUL character", "NUL 문자를 쓸 수 없습니다"),
    "faq.problem.language": ("fill in Korean, English or both", "한국어나 영어 중 하나 이상 적어 주세요"),
    "faq.problem.answer_long": ("at most 4,000 characters", "4,000자 이하로 적어 주세요"),
    "faq.problem.question_long": ("at most 300 characters a question", "질문 하나는 300자 이하로 적어 주세요"),
    "faq.problem.questions_many": ("at most 50 questions", "질문은 50개까지 적을 수 있습니다"),
    "faq.problem.key": ("1 to 64 letters, digits, . - _", "영문자, 숫자, . - _ 로 1~64자"),
    "faq.problem.topic": ("1 to 40 lower-case letters, digits, - _ (starting with a letter)",
                          "영문 소문자로 시작하는 소문자, 숫자, - _ 1~40자"),
    "faq.topic.shipping": ("Shipping", "배송"),
    "faq.topic.returns": ("Returns", "반품"),
    "faq.topic.exchanges": ("Exchanges", "교환"),
    "faq.topic.refunds": ("Refunds", "환불"),
    "faq.topic.payment": ("Payment methods", "결제 수단"),
    "faq.topic.sizes": ("Sizes", "사이즈"),
    "faq.topic.stores": ("Stores and hours", "매장·영업시간"),
    "faq.topic.coupons": ("Coupons", "쿠폰"),
    "faq.topic.orders": ("Orders", "주문"),
    "faq.topic.products": ("Products", "상품"),
    "faq.topic.gifts": ("Gifts", "선물"),
    "faq.topic.account": ("Account", "회원 정보"),
    "faq.topic.support": ("Customer service", "고객센터"),
    # in-app messages (banners, modals and slide-ins on the shop's pages and apps)
    "nav.inapp": ("In-app messages", "인앱 메시지"),
    "inapp.title": ("In-app messages", "인앱 메시지"),
    "inapp.intro": ("Banners, modals and slide-ins on the shop's pages (/sdk/inapp.js) and in its apps "
                    "(GET /v1/inapp/messages): what shows each one, how often, and what customers did with it.",
                    "상점 웹페이지(/sdk/inapp.js)와 앱(GET /v1/inapp/messages)에 뜨는 배너, 모달, "
                    "슬라이드인 메시지입니다. 언제 어떤 고객에게 얼마나 자주 보여 주는지와 고객의 반응을 확인합니다."),
    "inapp.impressions": ("Impressions", "노출"),
    "inapp.clicks": ("Clicks", "클릭"),
    "inapp.dismissals": ("Dismissals", "닫기"),
    "inapp.click_rate": ("Click rate", "클릭률"),
    "inapp.dismiss_rate": ("Dismissal rate", "닫기 비율"),
    "inapp.rate_note": ("{n} per impression", "노출 대비 {n}"),
    "inapp.per_message": ("Per message", "메시지별 반응"),
    "inapp.per_day": ("Per day", "일별 반응"),
    "inapp.message": ("Message", "메시지"),
    "inapp.nothing": ("No in-app message yet. Create one with POST /v1/inapp/admin/messages (its content is an "
                      "in_app template).",
                      "아직 인앱 메시지가 없습니다. POST /v1/inapp/admin/messages로 만들 수 있습니다(내용은 in_app "
                      "템플릿에서 가져옵니다)."),
    "inapp.no_interactions": ("No impressions in this period.", "이 기간에 노출이 없습니다."),
    "inapp.messages": ("Messages and their rules", "메시지와 규칙"),
    "inapp.layout": ("Layout", "형태"),
    "inapp.layout.banner": ("Banner", "배너"),
    "inapp.layout.modal": ("Modal", "모달"),
    "inapp.layout.slide_in": ("Slide-in", "슬라이드인"),
    "inapp.position.top": ("top", "상단"),
    "inapp.position.bottom": ("bottom", "하단"),
    "inapp.position.left": ("left", "왼쪽"),
    "inapp.position.right": ("right", "오른쪽"),
    "inapp.position.center": ("centre", "가운데"),
    "inapp.shows_when": ("Shown when", "노출 조건"),
    "inapp.rule.product_views": ("the same product was viewed {n} times within {days} days",
                                 "같은 상품을 {days}일 안에 {n}번 봤을 때"),
    "inapp.rule.cart_value": ("the cart is worth {amount} or more", "장바구니 금액이 {amount} 이상일 때"),
    "inapp.rule.any_page": ("on any page", "모든 페이지에서"),
    "inapp.trigger.journey": ("the journey {journey} sends it (in-app channel)",
                              "여정 {journey}에서 보낼 때(인앱 채널)"),
    "inapp.trigger.any_journey": ("a journey sends it (in-app channel)", "여정에서 보낼 때(인앱 채널)"),
    "inapp.trigger.event": ("{event} happens", "{event} 이벤트가 발생했을 때"),
    "inapp.waits": ("waits {hours} h for the customer's next page", "고객의 다음 페이지까지 {hours}시간 대기"),
    "inapp.frequency": ("Frequency", "노출 빈도"),
    "inapp.freq.max": ("at most {n} times per customer", "고객당 최대 {n}회"),
    "inapp.freq.unlimited": ("no limit on impressions", "노출 횟수 제한 없음"),
    "inapp.freq.between": ("{hours} h apart", "{hours}시간 간격"),
    "inapp.freq.dismiss": ("never again once dismissed", "닫으면 다시 보이지 않음"),
    "inapp.freq.click": ("never again once clicked", "클릭하면 다시 보이지 않음"),
    "inapp.platforms": ("Platforms", "플랫폼"),
    "inapp.platform.web": ("Web", "웹"),
    "inapp.platform.ios": ("iOS", "iOS"),
    "inapp.platform.android": ("Android", "Android"),
    "inapp.template": ("Template", "템플릿"),
    "inapp.status": ("Status", "상태"),
    "inapp.status.active": ("Active", "사용 중"),
    "inapp.status.paused": ("Paused", "일시 중지"),
    "inapp.pause": ("Pause", "일시 중지"),
    "inapp.resume": ("Resume", "다시 사용"),
    "inapp.paused.saved": ("{name} is paused.", "{name} 메시지를 일시 중지했습니다."),
    "inapp.resumed.saved": ("{name} is shown again.", "{name} 메시지를 다시 사용합니다."),
    "inapp.global": ("Frequency across all messages", "전체 메시지 노출 빈도"),
    "inapp.global_help": ("Whatever each message allows, a customer sees at most this many in-app messages a day, "
                          "this far apart. A customer who refused in-app messages (the in_app consent) sees none.",
                          "메시지마다의 규칙과 별도로, 고객 한 명에게 하루 최대 이만큼, "
                          "이 간격 이상으로만 보여 줍니다. "
                          "인앱 메시지 수신을 거부한 고객(in_app 동의)에게는 보이지 않습니다."),
    "inapp.field.max_per_day": ("Per customer per day (empty: no cap)", "고객당 하루 최대(비우면 제한 없음)"),
    "inapp.field.min_minutes_between": ("Minutes between two messages", "메시지 사이 최소 간격(분)"),
    "inapp.max_per_day": ("at most {n} a day per customer", "고객당 하루 최대 {n}개"),
    "inapp.no_daily_cap": ("no daily cap", "하루 제한 없음"),
    "inapp.min_between": ("{n} min between two", "메시지 사이 {n}분"),
    "inapp.save": ("Save", "저장"),
    "inapp.frequency.saved": ("The frequency rule is saved.", "노출 빈도 규칙을 저장했습니다."),
    "inapp.problems": ("The rule was not saved:", "규칙을 저장하지 못했습니다:"),
    # data quality (the tracking plan's violations)
    "nav.quality": ("Data quality", "데이터 품질"),
    "nav.recommendations": ("Recommendations", "상품 추천"),
    "recs.title": ("Recommendations", "상품 추천"),
    "recs.intro": ("Products for each customer from what they viewed, put in their cart and bought, for the shop's "
                   "pages (GET /v1/recommendations), messages (recommendations(n) in a template) and the assistant. "
                   "Each algorithm is tried on every customer's last order, held out, and kept only where it beats "
                   "the simpler one.",
                   "고객이 본 상품, 장바구니에 담은 상품, 구매한 상품으로 고객마다 추천할 상품을 "
                   "고릅니다. 쇼핑몰 페이지(GET /v1/recommendations), 메시지(템플릿의 recommendations(n)), "
                   "챗봇에서 씁니다. 알고리즘마다 고객의 마지막 주문을 떼어 두고 맞혀 보게 한 뒤, "
                   "더 단순한 방법보다 나을 때만 씁니다."),
    "recs.none": ("No model yet: it is trained from the events on a schedule, or now with the button.",
                  "아직 학습된 모델이 없습니다. 정해진 주기에 이벤트로 학습하며, 버튼으로 지금 학습할 수도 있습니다."),
    "recs.train": ("Train now", "지금 학습"),
    "recs.saved": ("The model was trained again.", "모델을 다시 학습했습니다."),
    "recs.algorithm": ("Algorithm in use", "사용 중인 알고리즘"),
    "recs.algorithm_column": ("Algorithm", "알고리즘"),
    "recs.algorithm.popularity": ("Popularity (baseline)", "인기순 (기준)"),
    "recs.algorithm.cooccurrence": ("Co-occurrence", "함께 본·산 상품"),
    "recs.algorithm.item_knn": ("Item-kNN (implicit)", "아이템 kNN (implicit)"),
    "recs.algorithm.als": ("ALS (implicit)", "ALS 행렬 분해 (implicit)"),
    "recs.trained_at": ("Trained", "학습 시각"),
    "recs.size": ("Learned from", "학습 데이터"),
    "recs.size_note": ("{customers} customers, {products} products, {events} product events",
                       "고객 {customers}명, 상품 {products}개, 상품 이벤트 {events}건"),
    "recs.seconds": ("Training took", "학습 시간"),
    "recs.quality": ("Quality on held-out last orders", "마지막 주문으로 본 추천 품질"),
    "recs.quality_help": ("Top 10 recommended against the products of each customer's last order, which the models "
                          "did not see ({n} customers). Higher is better; the grey bar is popularity.",
                          "모델이 보지 못한 고객별 마지막 주문의 상품과 추천 상위 10개를 "
                          "비교했습니다(고객 {n}명). 높을수록 좋으며, 회색 막대가 인기순입니다."),
    "recs.precision": ("Precision@10", "정밀도@10"),
    "recs.recall": ("Recall@10", "재현율@10"),
    "recs.ndcg": ("nDCG@10", "nDCG@10"),
    "recs.vs_popularity": ("vs popularity", "인기순 대비"),
    "recs.no_evaluation": ("This model was trained without an evaluation.", "이 모델은 평가 없이 학습했습니다."),
    "recs.rules": ("Rules", "추천 규칙"),
    "recs.rules_help": ("Set with PUT /v1/recommendations/rules. Already bought products are left out, except "
                        "consumables.", "PUT /v1/recommendations/rules로 정합니다. 이미 산 상품은 소모품이 아니면 빼고 "
                        "추천합니다."),
    "recs.consumables": ("Consumable categories", "소모품 카테고리"),
    "recs.all_consumable": ("Every product is a consumable", "모든 상품이 소모품"),
    "recs.out_of_stock": ("Out of stock", "품절"),
    "recs.excluded": ("Excluded products", "추천 제외 상품"),
    "recs.excluded_categories": ("Excluded categories", "추천 제외 카테고리"),
    "recs.none_set": ("none", "없음"),
    "recs.samples": ("Sample recommendations", "추천 예시"),
    "recs.samples_help": ("The customers with the most activity, or the one you look up.",
                          "활동이 가장 많은 고객, 또는 찾아본 고객에게 추천하는 상품입니다."),
    "recs.lookup": ("Customer (e-mail, phone, id)", "고객 (이메일, 전화번호, ID)"),
    "recs.show": ("Show", "보기"),
    "recs.unknown": ("No customer with that identifier.", "해당 식별자의 고객이 없습니다."),
    "recs.customer": ("Customer", "고객"),
    "recs.history": ("Viewed, carted and bought", "본·담은·산 상품"),
    "recs.recommended": ("Recommended", "추천 상품"),
    "recs.bought": ("bought", "구매"),
    "recs.fallback": ("No history yet: the fallback", "이력이 없어 기본 추천"),
    "recs.reason.for_you": ("for you", "맞춤"),
    "recs.reason.bought_together": ("bought together", "함께 구매"),
    "recs.reason.viewed_together": ("viewed together", "함께 조회"),
    "recs.reason.similar": ("similar", "비슷한 상품"),
    "recs.reason.popular_in_segment": ("popular in their segment", "세그먼트 인기"),
    "recs.reason.popular_in_category": ("popular in the category", "카테고리 인기"),
    "recs.reason.popular": ("popular", "인기"),
    "quality.title": ("Data quality", "데이터 품질"),
    "quality.intro": ("Values your events sent that the tracking plan could not read, by event and field. Values "
                      "that read unambiguously (\"12,000\", \"59,000원\") are stored as numbers and are not listed.",
                      "트래킹 플랜으로 읽을 수 없었던 이벤트 값을 이벤트와 필드별로 보여 줍니다. 분명하게 읽히는 값"
                      "(\"12,000\", \"59,000원\")은 숫자로 저장되며 여기에 나오지 않습니다."),
    "quality.mode.reject": ("Messages with such a value are rejected: the sender gets the index, field and reason.",
                            "이런 값이 있는 메시지는 거부되며, 보낸 쪽에 순번·필드·이유를 알려 줍니다."),
    "quality.mode.flag": ("Messages with such a value are stored as sent, with a data-quality flag.",
                          "이런 값이 있는 메시지는 보낸 그대로 저장되고 데이터 품질 표시가 붙습니다."),
    "quality.mode.change": ("Change it with: touchline plan invalid-values reject|flag",
                            "변경: touchline plan invalid-values reject|flag"),
    "quality.violations": ("Recent violations", "최근 위반"),
    "quality.none": ("No violations: every value your events sent could be read.",
                     "위반이 없습니다. 이벤트가 보낸 값을 모두 읽을 수 있었습니다."),
    "quality.event": ("Event", "이벤트"),
    "quality.field": ("Field", "필드"),
    "quality.reason": ("Problem", "문제"),
    "quality.rejected": ("Rejected", "거부"),
    "quality.flagged": ("Flagged", "표시됨"),
    "quality.last_seen": ("Last seen", "마지막 발생"),
    "quality.example": ("Latest value, masked", "최근 값 (가림)"),
    "quality.declared": ("Your event types", "직접 선언한 이벤트 유형"),
    "quality.declared_none": ("None declared. Declare one with: touchline plan declare \"Gift Card Purchased\" "
                              "amount=money! card_id=id", "선언된 유형이 없습니다. 선언 예: touchline plan declare "
                              "\"Gift Card Purchased\" amount=money! card_id=id"),
    "quality.property": ("Property", "속성"),
    "quality.type": ("Type", "유형"),
    "quality.required": ("Required", "필수"),
    "quality.builtin": ("Built-in e-commerce types ({n} events of Segment's e-commerce spec)",
                        "기본 전자상거래 유형 (Segment 전자상거래 명세의 이벤트 {n}개)"),
    "quality.product_fields": ("Each element of products[]", "products[]의 각 항목"),
    # predictions (purchase propensity, churn risk)
    "nav.predictions": ("Predictions", "예측"),
    "predictions.title": ("Predictions", "예측 모델"),
    "predictions.intro": ("Each customer's chance to buy in the next 30 days, and each buyer's risk of not ordering in "
                          "the next 60, learned from your events. The scores are traits (purchase_propensity, "
                          "churn_risk): segments, journeys and adaptive content use them like any other.",
                          "고객별 30일 내 구매 가능성과, 구매 고객의 60일 내 재주문이 없을 위험을 "
                          "이벤트에서 학습합니다. 점수는 고객 특성(purchase_propensity, churn_risk)으로 "
                          "저장되어 세그먼트·여정·적응형 "
                          "콘텐츠에서 다른 특성처럼 쓸 수 있습니다."),
    "predictions.schedule": ("Retrained every {hours} hours, and on request.",
                             "{hours}시간마다, 그리고 요청할 때 다시 학습합니다."),
    "predictions.schedule_off": ("Retrained on request only (TOUCHLINE_PREDICTION_RETRAIN_HOURS is 0).",
                                 "요청할 때만 다시 학습합니다 (TOUCHLINE_PREDICTION_RETRAIN_HOURS가 0)."),
    "predictions.kind.purchase": ("Purchase in the next 30 days", "30일 내 구매"),
    "predictions.kind.churn": ("Churn: no order in the next 60 days (buyers)", "이탈: 60일 내 주문 없음 (구매 고객)"),
    "predictions.none": ("Not trained yet.", "아직 학습하지 않았습니다."),
    "predictions.insufficient": ("Not enough data to train: {reason}", "학습할 데이터가 부족합니다: {reason}"),
    "predictions.retrain": ("Retrain now", "지금 다시 학습"),
    "predictions.saved": ("Retrained: every customer has new scores.",
                          "다시 학습했습니다. 모든 고객의 점수가 바뀌었습니다."),
    "predictions.auc": ("AUC", "AUC"),
    "predictions.brier": ("Brier score", "브라이어 점수"),
    "predictions.calibration": ("Calibration error", "보정 오차"),
    "predictions.lift": ("Lift in the top decile", "상위 10% 리프트"),
    "predictions.top_decile": ("The top tenth of scores: {top} did it, against {base} of everyone.",
                               "점수 상위 10%에서는 {top}가 실제로 그렇게 했습니다 (전체 {base})."),
    "predictions.help": ("Measured on customers the model never saw, with outcomes after the cutoff. AUC: 0.5 is "
                         "chance, 1 is perfect. Brier score and calibration error: lower is better; a calibrated "
                         "model's points lie on the diagonal.",
                         "모델이 보지 못한 고객의 기준 시점 이후 결과로 측정했습니다. "
                         "AUC는 0.5가 우연, 1이 완벽입니다. 브라이어 점수와 보정 오차는 낮을수록 좋고, "
                         "잘 보정된 모델의 점은 대각선 위에 놓입니다."),
    "predictions.held_out": ("Customers held out", "검증 고객"),
    "predictions.positives": ("{n} did it", "{n}명 해당"),
    "predictions.trained_on": ("Training rows (customers × cutoffs)", "학습 행 (고객 × 기준 시점)"),
    "predictions.scored": ("Customers scored", "점수를 매긴 고객"),
    "predictions.trained_at": ("Trained", "학습 시각"),
    "predictions.cutoffs": ("Cutoffs", "기준 시점"),
    "predictions.algorithm": ("Model", "모델"),
    "predictions.reliability": ("Reliability chart", "신뢰도 곡선"),
    "predictions.predicted": ("Predicted", "예측 확률"),
    "predictions.observed": ("Observed", "실제 비율"),
    "predictions.perfect": ("Perfectly calibrated", "완벽한 보정"),
    "predictions.bins": ("The chart's numbers", "차트의 수치"),
    "predictions.bin": ("Scores", "점수 구간"),
    "predictions.customers": ("Customers", "고객 수"),
    # adaptive content in the template preview
    "templates.adaptive": ("What each kind of customer gets", "고객 유형별로 받는 내용"),
    "templates.adaptive_help": ("The template's adaptive blocks: a customer gets the first rule that holds, else the "
                                "default.",
                                "템플릿의 적응형 블록: 고객은 조건이 맞는 첫 규칙의 내용을, "
                                "없으면 기본 내용을 받습니다."),
    "templates.audience": ("Customer", "고객 유형"),
    "templates.adaptive_message": ("What they get", "받는 내용"),
    "templates.block": ("Block {name}", "블록 {name}"),
    "templates.default_block": ("default", "기본"),
    "templates.rule": ("rule {n}", "규칙 {n}"),
    "templates.audience.default": ("No rule meant for them", "어느 규칙에도 해당하지 않음"),
}

# Why the tracking plan could not read a value (touchline.ingest.plan and normalize), as the dashboard
# shows it.
PROBLEMS: dict[str, tuple[str, str]] = {
    "not a number": ("not a number", "숫자가 아님"),
    "not a finite number": ("not a finite number", "유한한 숫자가 아님"),
    "out of range (beyond ±2^53)": ("out of range (beyond ±2^53)", "범위를 벗어남 (±2^53 초과)"),
    "empty": ("empty", "비어 있음"),
    "ambiguous digit grouping (thousands are grouped by three: 12,000)":
        ("ambiguous digit grouping (thousands are grouped by three: 12,000)",
         "자릿수 구분이 모호함 (천 단위는 세 자리씩: 12,000)"),
    "two different currencies": ("two different currencies", "서로 다른 두 통화"),
    "not a whole number": ("not a whole number", "정수가 아님"),
    "not a currency code": ("not a currency code", "통화 코드가 아님"),
    "ambiguous currency symbol (send an ISO 4217 code)":
        ("ambiguous currency symbol (send an ISO 4217 code)", "통화 기호가 모호함 (ISO 4217 코드로 보내세요)"),
    "not an ISO 4217 currency code": ("not an ISO 4217 currency code", "ISO 4217 통화 코드가 아님"),
    "longer than 1024 characters": ("longer than 1024 characters", "1024자 초과"),
    "not an identifier (text or a whole number)":
        ("not an identifier (text or a whole number)", "식별자가 아님 (텍스트 또는 정수)"),
    "not text": ("not text", "텍스트가 아님"),
    "not true or false": ("not true or false", "true 또는 false가 아님"),
    "not an object": ("not an object", "객체가 아님"),
    "not an array": ("not an array", "배열이 아님"),
    "not an array of products": ("not an array of products", "상품 배열이 아님"),
    "missing (required by the tracking plan)":
        ("missing (required by the tracking plan)", "없음 (트래킹 플랜의 필수 속성)"),
    "ambiguous currency symbol (send the currency property)":
        ("ambiguous currency symbol (send the currency property)", "통화 기호가 모호함 (currency 속성을 보내세요)"),
    "written in another currency than the event's":
        ("written in another currency than the event's", "이벤트의 통화와 다른 통화로 적힘"),
    "in the future: stored at the time received": ("in the future: stored at the time received",
                                                   "미래 시각: 수신 시각으로 저장"),
    "before 1990: not a plausible event time": ("before 1990: not a plausible event time",
                                                "1990년 이전: 있을 수 없는 이벤트 시각"),
    "not an e-mail address: not applied": ("not an e-mail address: not applied", "이메일 주소가 아님: 반영하지 않음"),
    "not a phone number: not applied": ("not a phone number: not applied", "전화번호가 아님: 반영하지 않음"),
}

# The tracking plan's types (touchline.ingest.plan.TYPES).
TYPE_LABELS: dict[str, tuple[str, str]] = {
    "string": ("text", "텍스트"), "id": ("identifier", "식별자"), "number": ("number", "숫자"),
    "money": ("amount of money", "금액"), "integer": ("whole number", "정수"), "boolean": ("true or false", "참/거짓"),
    "currency": ("ISO 4217 currency code", "ISO 4217 통화 코드"), "object": ("object", "객체"),
    "array": ("array", "배열"), "products": ("array of products", "상품 배열"),
}

# Why the outbox did not send a message (touchline.messaging.policy.SuppressReason and channel skips).
REASONS: dict[str, tuple[str, str]] = {
    "unsubscribed": ("unsubscribed", "수신 거부"),
    "no_consent": ("no consent", "수신 동의 없음"),
    "no_address": ("no address", "연락처 없음"),
    "no_channel": ("no usable channel", "가능한 채널 없음"),
    "channel_not_configured": ("no channel configured", "발송 채널 미설정"),
    "no_profile": ("customer erased", "고객 삭제됨"),
    "frequency_cap": ("daily cap reached", "일일 발송 한도 초과"),
    "channel_frequency_cap": ("channel cap reached", "채널 발송 한도 초과"),
    "quiet_hours": ("quiet hours", "야간 발송 제한"),
    "deferred:quiet_hours": ("held for quiet hours", "야간 발송 제한으로 보류"),
    "empty_body": ("empty message", "빈 메시지"),
    "missing_opt_out_line": ("no opt-out line", "수신 거부 안내 누락"),
    "alimtalk_informational_only": ("AlimTalk is for information only", "알림톡은 정보성 메시지 전용"),
    "no_provider_template": ("no provider template", "공급자 템플릿 없음"),
    "unknown": ("unknown", "알 수 없음"),
}

# Channels (their names in touchline.channels), device types and sources.
CHANNELS: dict[str, tuple[str, str]] = {
    **CHANNEL_LABELS,
    "mobile": ("Mobile", "모바일"), "desktop": ("Desktop", "데스크톱"), "tablet": ("Tablet", "태블릿"),
    "pos": ("Store POS", "매장 POS"),
    "ios": ("iOS", "iOS"), "android": ("Android", "안드로이드"),
    "unknown": ("Unknown", "알 수 없음"), "direct": ("Direct", "직접 유입"), "all": ("All customers", "전체 고객"),
}


# Event names as people read them: one registry for every page (timelines, funnels, pickers, journey graphs).
# English keeps the names of Segment's e-commerce spec (they are already English); names missing here (a shop's
# own events) are shown as they are.
EVENTS: dict[str, tuple[str, str]] = {
    "Product Viewed": ("Product Viewed", "상품 조회"),
    "Product List Viewed": ("Product List Viewed", "상품 목록 조회"),
    "Product Clicked": ("Product Clicked", "상품 클릭"),
    "Products Searched": ("Products Searched", "상품 검색"),
    "Product Added": ("Product Added", "장바구니 담기"),
    "Product Removed": ("Product Removed", "장바구니에서 삭제"),
    "Product Added to Wishlist": ("Product Added to Wishlist", "위시리스트 담기"),
    "Product Reviewed": ("Product Reviewed", "상품 리뷰"),
    "Review Submitted": ("Review Submitted", "리뷰 작성"),
    "Cart Viewed": ("Cart Viewed", "장바구니 조회"),
    "Checkout Started": ("Checkout Started", "결제 시작"),
    "Checkout Step Completed": ("Checkout Step Completed", "결제 단계 완료"),
    "Payment Info Entered": ("Payment Info Entered", "결제 정보 입력"),
    "Order Completed": ("Order Completed", "주문 완료"),
    "Order Updated": ("Order Updated", "주문 변경"),
    "Order Refunded": ("Order Refunded", "주문 환불"),
    "Order Cancelled": ("Order Cancelled", "주문 취소"),
    "Coupon Entered": ("Coupon Entered", "쿠폰 입력"),
    "Coupon Applied": ("Coupon Applied", "쿠폰 적용"),
    "Promotion Viewed": ("Promotion Viewed", "프로모션 조회"),
    "Promotion Clicked": ("Promotion Clicked", "프로모션 클릭"),
    "Signed Up": ("Signed Up", "회원 가입"),
    "Signed In": ("Signed In", "로그인"),
    "Signed Out": ("Signed Out", "로그아웃"),
    "Application Installed": ("Application Installed", "앱 설치"),
    "Application Opened": ("Application Opened", "앱 실행"),
    "Location Updated": ("Location Updated", "위치 갱신"),
    "Store Visited": ("Store Visited", "매장 방문"),
    "Chat Started": ("Chat Started", "상담 시작"),
    "Chat Message Sent": ("Chat Message Sent", "상담 메시지"),
    "Segment Entered": ("Segment Entered", "세그먼트 진입"),
    "Segment Exited": ("Segment Exited", "세그먼트 이탈"),
    "Message Sent": ("Message Sent", "메시지 발송"),
    "Message Delivered": ("Message Delivered", "메시지 전달"),
    "Message Opened": ("Message Opened", "메시지 열람"),
    "Message Clicked": ("Message Clicked", "메시지 클릭"),
    "Message Failed": ("Message Failed", "메시지 실패"),
    "Message Suppressed": ("Message Suppressed", "메시지 발송 제외"),
    "Unsubscribed": ("Unsubscribed", "수신 거부"),
    "In-App Message Viewed": ("In-App Message Viewed", "인앱 메시지 노출"),
    "In-App Message Clicked": ("In-App Message Clicked", "인앱 메시지 클릭"),
    "In-App Message Dismissed": ("In-App Message Dismissed", "인앱 메시지 닫기"),
    "Conversation Started": ("Conversation Started", "상담 대화 시작"),
    "Message Received": ("Message Received", "고객 메시지 수신"),
    "Message Replied": ("Message Replied", "상담 답변"),
    "Conversation Assigned": ("Conversation Assigned", "상담 배정"),
    "Conversation Resolved": ("Conversation Resolved", "상담 해결"),
    "Conversation Reopened": ("Conversation Reopened", "상담 재개"),
    "Conversation Rated": ("Conversation Rated", "상담 만족도 평가"),
    "Chat Survey Requested": ("Chat Survey Requested", "채팅 설문 요청"),
    "Chat Survey Answered": ("Chat Survey Answered", "채팅 설문 응답"),
    "Proactive Chat Offered": ("Proactive Chat Offered", "선제 채팅 제안"),
    "Checkout Hesitated": ("Checkout Hesitated", "결제 단계 망설임"),
    "Cart Abandoned On Page": ("Cart Abandoned On Page", "장바구니 이탈"),
    "Exit Intent Shown": ("Exit Intent Shown", "페이지 이탈 조짐"),
    "Survey Answered": ("Survey Answered", "설문 응답"),
    "Survey Commented": ("Survey Commented", "설문 의견 작성"),
    "Review Published": ("Review Published", "리뷰 게시"),
    "Review Rejected": ("Review Rejected", "리뷰 반려"),
    "Points Earned": ("Points Earned", "포인트 적립"),
    "Points Spent": ("Points Spent", "포인트 사용"),
    "Points Expired": ("Points Expired", "포인트 소멸"),
    "Points Expiring": ("Points Expiring", "포인트 소멸 예정"),
    "Points Adjusted": ("Points Adjusted", "포인트 조정"),
    "Points Reversed": ("Points Reversed", "포인트 적립 취소"),
    "Points Award Requested": ("Points Award Requested", "포인트 지급 요청"),
    "Tier Changed": ("Tier Changed", "등급 변경"),
    "Reward Redeemed": ("Reward Redeemed", "리워드 교환"),
    "Coupon Redeemed": ("Coupon Redeemed", "쿠폰 사용"),
    "Referral Code Used": ("Referral Code Used", "추천인 코드 사용"),
    "Experiment Viewed": ("Experiment Viewed", "실험 노출"),
}

# What an event-less message is, in a timeline.
CALL_TYPES: dict[str, tuple[str, str]] = {
    "page": ("Page view", "페이지 조회"), "screen": ("Screen view", "화면 조회"),
    "identify": ("Identified", "고객 정보 갱신"), "group": ("Group", "그룹"), "alias": ("Alias", "별칭 연결"),
    "track": ("Event", "이벤트"),
}

# The segment templates (touchline.segments.templates.TEMPLATES) by key.
SEGMENT_TEMPLATES: dict[str, tuple[str, str]] = {
    "cart_abandoners": ("Cart abandoners", "장바구니 이탈 고객"),
    "high_value_loyal": ("High-value regulars", "우수 단골 고객"),
    "at_risk": ("At risk", "이탈 위험 고객"),
    "new_visitors": ("New visitors", "신규 방문자"),
    "prefers_messenger": ("Prefer the messenger", "메신저 선호 고객"),
    "prefers_email": ("Prefer e-mail", "이메일 선호 고객"),
    "prefers_store": ("Prefer the store", "매장 선호 고객"),
}

# The rule builder's operators.
OPERATORS: dict[str, tuple[str, str]] = {
    "=": ("equals", "같음"), "!=": ("does not equal", "같지 않음"), "contains": ("contains", "포함"),
    "in": ("is one of (comma-separated)", "다음 중 하나 (쉼표로 구분)"), ">": ("greater than", "초과"),
    "<": ("less than", "미만"), ">=": ("at least", "이상"), "<=": ("at most", "이하"),
    "exists": ("is set", "값이 있음"),
    "between": ("between", "사이"),
    "within_last_days": ("within the last N days", "최근 N일 이내"),
    "more_than_days_ago": ("more than N days ago", "N일보다 이전"),
}

# Identifier kinds (touchline.profiles.identity) as a customer page lists them.
IDENTITY_KINDS: dict[str, tuple[str, str]] = {
    "user_id": ("User ID", "회원 ID"), "anonymous_id": ("Anonymous ID", "익명 ID"), "email": ("E-mail", "이메일"),
    "phone": ("Phone", "전화번호"), "device_id": ("Device ID", "기기 ID"), "push_token": ("Push token", "푸시 토큰"),
    "kakao_id": ("Kakao ID", "카카오 ID"), "whatsapp_id": ("WhatsApp ID", "WhatsApp ID"),
    "line_id": ("LINE ID", "LINE ID"),
}

# Journey triggers and condition kinds.
TRIGGERS: dict[str, tuple[str, str]] = {
    "event": ("event", "이벤트"), "segment_entered": ("entering a segment", "세그먼트 진입"),
    "segment_exited": ("leaving a segment", "세그먼트 이탈"), "geofence_entered": ("near a store", "매장 반경 진입"),
    "date_trait": ("a date trait", "날짜 속성"), "api": ("an API call", "API 호출"),
    "segment": ("segment", "세그먼트"), "trait": ("trait", "속성"),
}

# Validation problems (segment definitions, the builder): English reasons as the services write them, and how
# a Korean page says them. Reasons not listed are shown as written.
_PROBLEMS_KO: tuple[tuple[str, str], ...] = (
    (r"add at least one condition", "조건을 하나 이상 추가하세요."),
    (r"must not be empty", "비워 둘 수 없습니다."),
    (r"'(within_last_days|more_than_days_ago)' needs a whole number of days \(0 to ([\d,]+)\)",
     "0 이상 {1} 이하의 정수(일 수)를 입력하세요."),
    (r"'exists' takes no value", "‘값이 있음’에는 값을 넣지 않습니다."),
    (r"'([^']+)' needs a number value", "숫자를 입력하세요."),
    (r"'([^']+)' needs a string, number or boolean value", "문자, 숫자 또는 true/false 값을 입력하세요."),
    (r"'contains' needs a string, number or boolean value", "문자, 숫자 또는 true/false 값을 입력하세요."),
    (r"'in' needs a non-empty list of .*", "쉼표로 구분한 값을 하나 이상 입력하세요."),
    (r"'between' needs .*", "두 숫자 [최소, 최대]를 입력하세요."),
    (r"'([^']+)' needs a channel name \(a string\)", "채널 이름을 입력하세요."),
    (r"operator '([^']+)' does not apply to a channel.*",
     "채널에는 ‘같음’, ‘같지 않음’, ‘다음 중 하나’만 쓸 수 있습니다."),
    (r"unknown segment '([^']+)'", "없는 세그먼트입니다: {0}"),
    (r"segment '([^']+)' has an invalid definition", "세그먼트 {0}의 정의가 올바르지 않습니다."),
    (r"segments refer to each other in a cycle.*", "세그먼트가 서로를 순환 참조합니다."),
    (r"[Ff]ield required|required", "필수 항목입니다."),
    (r"Input should be a valid integer.*", "정수를 입력하세요."),
    (r"Input should be a valid number.*", "숫자를 입력하세요."),
    (r"Input should be greater than or equal to (\S+)", "{0} 이상이어야 합니다."),
    (r"String should have at least 1 character", "비워 둘 수 없습니다."),
)


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag[:2] in LANGUAGES:
            return tag[:2]
    return "en"


def choose_locale(lang: str, accept_language: str | None) -> Locale:
    """Korean UI: ko_KR. English UI: the browser's English variant (en_GB writes 1 Jun 2025), else en_US."""
    if lang == "en":
        for part in (accept_language or "").split(","):
            tag = part.split(";")[0].strip()
            if tag.lower().startswith("en-"):
                try:
                    return Locale.parse(tag, sep="-")
                except (ValueError, UnknownLocaleError):
                    continue
        return Locale.parse("en_US")
    return Locale.parse("ko_KR")


def valid_zone(name: str | None, default: str) -> str:
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return default


@dataclass(frozen=True)
class Formatter:
    """What a template needs to speak the viewer's language: ``t`` for text, the rest for values."""

    lang: str
    locale: Locale
    tz: str
    currency: str = "KRW"
    phone_region: str = "KR"

    def t(self, key: str, **values: Any) -> str:
        en, ko = MESSAGES[key]
        text = ko if self.lang == "ko" else en
        return text.format(**values) if values else text

    def label(self, value: str | None) -> str:
        """A channel, device type or source as the viewer reads it (unknown values as they are)."""
        if value is None:
            return "—"
        pair = CHANNELS.get(value)
        return (pair[1] if self.lang == "ko" else pair[0]) if pair else value

    def conversation_channel(self, value: str | None) -> str:
        """A conversation's channel (웹 채팅, 카카오톡); unknown ones as they are."""
        if not value:
            return "—"
        key = "inbox.channel." + value
        return self.t(key) if key in MESSAGES else value

    def reason(self, value: str | None) -> str:
        """A suppression or failure reason as the viewer reads it (unknown reasons as they are)."""
        if not value:
            return "—"
        pair = REASONS.get(value)
        return (pair[1] if self.lang == "ko" else pair[0]) if pair else value

    def _pick(self, table: dict[str, tuple[str, str]], value: str) -> str:
        pair = table.get(value)
        return (pair[1] if self.lang == "ko" else pair[0]) if pair else value

    def event(self, name: str | None, call_type: str | None = None) -> str:
        """An event as people read it (상품 조회 for Product Viewed); a page view or identify without a name
        as what it is; a shop's own event names as they are."""
        if not name:
            return self._pick(CALL_TYPES, call_type or "track")
        return self._pick(EVENTS, name)

    def template_name(self, key: str) -> str:
        return self._pick(SEGMENT_TEMPLATES, key)

    def operator(self, op: str) -> str:
        return self._pick(OPERATORS, op)

    def identity_kind(self, kind: str) -> str:
        return self._pick(IDENTITY_KINDS, kind)

    def trigger(self, kind: str) -> str:
        return self._pick(TRIGGERS, kind)

    def phone(self, value: str | None) -> str:
        """An E.164 number as people write it: the national form in the shop's own country (010-1234-5678),
        the international one elsewhere (+44 20 7946 0018); anything else as it is."""
        return format_phone(value, self.phone_region)

    def address(self, value: Any) -> str:
        """Where a message went, or a contact trait: an E.164 phone number as :meth:`phone` writes it, anything
        else (an e-mail, a handle) as it is."""
        text = "" if value is None else str(value)
        return self.phone(text) if _E164.fullmatch(text) else text

    def problem(self, field: str | None, reason: str) -> tuple[str, str]:
        """A validation problem (``field`` a JSON pointer into a segment definition, or a form field) as the
        viewer reads it: the builder's words for the place, the reason in Korean when it is a known one."""
        where = _problem_place(self, field or "")
        if self.lang != "ko":
            return where, reason
        for pattern, text in _PROBLEMS_KO:
            found = re.fullmatch(pattern, reason.strip())
            if found:
                return where, text.format(*found.groups())
        return where, reason

    def money_short(self, amount: float | int | None) -> str:
        """A large sum as Korean readers expect it: 4,301만원, 1억 2,345만원 (rounded to 만 원); small ones
        and other languages and currencies as :meth:`money` writes them."""
        if amount is None or self.currency != "KRW" or self.lang != "ko" or abs(amount) < 100_000:
            return self.money(amount)
        return korean_units(amount) + "원"

    def faq_topic(self, topic: str) -> str:
        """An FAQ topic as the viewer reads it (a shop's own topics as they are)."""
        key = f"faq.topic.{topic}"
        return self.t(key) if key in MESSAGES else topic

    def quality_problem(self, value: str) -> str:
        """A data-quality problem as the viewer reads it (unknown ones as they are)."""
        pair = PROBLEMS.get(value)
        return (pair[1] if self.lang == "ko" else pair[0]) if pair else value

    def type_label(self, value: str) -> str:
        pair = TYPE_LABELS.get(value)
        return (pair[1] if self.lang == "ko" else pair[0]) if pair else value

    def number(self, value: float | int | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def percent(self, fraction: float | None) -> str:
        return "—" if fraction is None else format_percent(fraction, "#,##0.0%", locale=self.locale)

    def points(self, fraction: float | None) -> str:
        """A difference of two rates (a journey's lift) in percentage points, signed: ``+11.6 pts`` in English,
        as the CLI writes it, ``+11.6%p`` in Korean (퍼센트포인트). Not ``%``: 42.9% against 31.3% is a lift
        of 11.6 points, or 37% in relative terms."""
        if fraction is None:
            return "—"
        number = format_decimal(round(fraction * 100, 1) + 0.0, "+#,##0.0;-#,##0.0", locale=self.locale)
        return f"{number}%p" if self.lang == "ko" else f"{number} pts"

    def money(self, amount: float | int | None) -> str:
        """An amount in the shop's currency: ₩12,300 in English and 12,300원 in Korean for KRW (no minor
        unit), £33.20 / US$33.20 and so on for others, as the viewer's locale writes them."""
        if amount is None:
            return "—"
        if self.currency == "KRW":
            won = round(amount)
            if self.lang == "ko":
                return format_decimal(won, "#,##0", locale=self.locale) + "원"
            return format_currency(won, "KRW", locale=self.locale)
        return format_currency(amount, self.currency, locale=self.locale)

    def money_in(self, amount: float | int | None, currency: str | None) -> str:
        """An amount in the currency it is in (a product's price): as :meth:`money` for the shop's own."""
        if amount is None:
            return "—"
        if not currency or currency == self.currency:
            return self.money(amount)
        if currency == "KRW" and self.lang == "ko":
            return format_decimal(round(amount), "#,##0", locale=self.locale) + "원"
        return format_currency(amount, currency, locale=self.locale)

    def amount(self, value: Any) -> str:
        """A property that should hold an amount (a timeline's revenue or price): as money when it is a
        number a report would count, else as it was stored (an event from before the tracking plan
        typed it: "59,000원", true), cut short."""
        if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= MAX_NUMBER:
            return self.money(value)  # NaN and infinities fail the bound
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        return text if len(text) <= 40 else text[:39] + "…"

    def currency_symbol(self) -> str:
        return get_currency_symbol(self.currency, locale=self.locale)

    def currency_digits(self) -> int:
        return int(get_currency_precision(self.currency))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def date(self, value: dt.date | dt.datetime | None, fmt: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, dt.datetime):
            value = self.local_date(value)
        return format_date(value, fmt, locale=self.locale)

    def datetime(self, value: dt.datetime | str | None, fmt: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            text = value
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                return text
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if self.lang == "ko" and fmt == "short":
            fmt = "yyyy. M. d. HH:mm"  # CLDR's Korean short form has a 12-hour clock marked "PM"
        try:
            return format_datetime(value, fmt, tzinfo=self.zone, locale=self.locale)
        except (OverflowError, ValueError):  # a time stored before times were checked (year 9999): as UTC
            return format_datetime(value, fmt, tzinfo=dt.UTC, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "—"
        return format_timedelta(dt.timedelta(seconds=seconds), threshold=1.5, locale=self.locale)

    def local_date(self, value: dt.datetime) -> dt.date:
        return value.astimezone(self.zone).date()


def korean_units(amount: float | int) -> str:
    """An amount in 억 and 만 (rounded to 만): 43,011,490 -> 4,301만, 123,450,000 -> 1억 2,345만, 300,000,000 -> 3억."""
    sign = "-" if amount < 0 else ""
    man = round(abs(amount) / 10_000)
    eok, rest = divmod(man, 10_000)
    parts = ([f"{eok:,}억"] if eok else []) + ([f"{rest:,}만"] if rest or not eok else [])
    return sign + " ".join(parts)


def format_phone(value: str | None, region: str = "KR") -> str:
    if not value:
        return "—" if value is None else value
    number = parse_phone(value, region)
    if number is None:
        return value
    if phonenumbers.region_code_for_number(number) == region.upper():
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_POINTER_STEP = re.compile(r"^/children/(\d+)")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _problem_place(f: Formatter, field: str) -> str:
    """Where a problem is, in the builder's words: ``/children/1/value`` -> "Condition 2 · Value"."""
    if field in ("name",):
        return f.t("segment.name")
    if not field.startswith("/"):
        return field
    if field == "/":
        return ""  # the rule as a whole
    parts: list[str] = []
    rest = field
    step = _POINTER_STEP.match(rest)
    if step:
        parts.append(f.t("builder.condition", n=int(step.group(1)) + 1))
        rest = rest[step.end():]
    rest = rest.removeprefix("/child")
    leaf = rest.rsplit("/", 1)[-1] if rest not in ("", "/") else ""
    names = {"value": "builder.value", "operator": "builder.operator", "trait": "builder.trait",
             "event": "builder.event", "within_days": "builder.within_days_short", "count": "builder.count",
             "field": "builder.field", "channel": "builder.reach_channel", "id": "builder.segment"}
    if leaf in names:
        parts.append(f.t(names[leaf]))
    elif leaf and not leaf.isdigit():
        parts.append(leaf)
    return " · ".join(parts) if parts else field
