"""The demo shop's living inbox: agents, a team that assigns conversations by itself, and conversations
on every channel from the demo's own customers, delivered the way the providers deliver them.

Each customer message goes through the app's real inbound path, over ASGI (no tables written by hand):
the web chat's ``POST /v1/chat/messages`` with a write key, Twilio's SMS webhook signed with
``X-Twilio-Signature``, WhatsApp's Cloud API webhook signed with ``X-Hub-Signature-256``, a Kakao i Open
Builder skill request with its shared-secret header, and e-mail through the SMTP listener
(:mod:`touchline.conversations.inbound.smtp_listener`, on a free local port) with ``smtplib``. A
customer who writes on WhatsApp was first linked to their WhatsApp id through ``POST /v1/identify``, as
a shop does when someone opts in there. Agents answer, write notes, tag, assign and resolve through
:mod:`touchline.conversations.service`, as the dashboard does.

The conversations happen over the last days on a simulated clock (the app's ``clock``), in the shop's
hours in Seoul, so the inbox report has response times, hours of the day and a backlog to show. The
agents are online during their shift, so the team assigns what arrives then; what arrives in the
evening, and e-mail, waits unassigned. Deterministic (seeded) and idempotent: a conversation whose first
message is already stored is left as it is, so a second run adds nothing.

The webhooks' secrets are those configured (``TOUCHLINE_TWILIO_AUTH_TOKEN`` and so on); where one is
not, the demo signs with a random one it sets for the run only, and puts the settings back afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import random
import secrets
import smtplib
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import sqlalchemy as sa
from pydantic import SecretStr

from touchline.conversations import service as conversations
from touchline.conversations import store as conversation_store
from touchline.conversations.inbound import twilio, whatsapp
from touchline.conversations.inbound.kakao import SECRET_HEADER
from touchline.conversations.inbound.smtp_listener import InboundSMTP
from touchline.conversations.types import Author
from touchline.demo import store as demo_store
from touchline.demo.simulate import DEV_CHANNELS
from touchline.errors import Conflict, StoreUnavailable
from touchline.messaging.channels.registry import DevChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import identities, profiles
from touchline.web import auth
from touchline.workspaces import service as workspaces
from touchline.workspaces import store as key_store

__all__ = ["AGENTS", "SCENARIOS", "TEAM", "InboxSummary", "open_inbox"]

SEOUL = ZoneInfo("Asia/Seoul")
KEY_LABEL = "demo-inbox"
BASE = "http://touchline.demo"


@dataclass(frozen=True)
class Agent:
    email: str
    name: str
    languages: tuple[str, ...]


AGENTS = (Agent("jieun.kim@shop.example", "김지은", ("ko",)),
          Agent("minjun.park@shop.example", "박민준", ("ko", "en")),
          Agent("emma.wilson@shop.example", "Emma Wilson", ("en",)))
TEAM = "고객지원팀 Customer care"
TEAM_CHANNELS = ("chat", "sms", "whatsapp", "kakao")  # e-mail waits for someone to take it
SHIFT = (9, 19)  # the agents' hours, in Seoul


@dataclass(frozen=True)
class Scenario:
    """One conversation: who writes on which channel, when (days ago, hour in Seoul), what the agent
    answers (None: nobody has yet), the customer's answer to that, a note, tags and how it ends."""

    key: str
    channel: str
    lang: str
    days_ago: int
    hour: int
    text: str
    subject: str | None = None
    reply: str | None = None
    follow_up: str | None = None
    note: str | None = None
    tags: tuple[str, ...] = ()
    end: str = "resolved"  # resolved | pending | open
    # A resolved web chat asks for a rating (the workspace's chat ratings are on): the customer's 1-5 and
    # comment, or None for one who does not answer.
    rating: int | None = None
    rating_comment: str | None = None


SCENARIOS = (
    Scenario("chat-1", "chat", "ko", 12, 10, "안녕하세요, 울 니트 스웨터 M 사이즈 재고 있나요?",
             reply="네, M 사이즈 재고 있습니다. 오늘 주문하시면 내일 출고됩니다.",
             follow_up="감사합니다! 바로 주문할게요.",
             tags=("stock",), rating=5, rating_comment="빠르고 친절한 답변 감사합니다."),
    Scenario("sms-1", "sms", "ko", 11, 14, "주문한 운동화 언제 도착하나요?",
             reply="오늘 출고되어 내일 도착 예정입니다. 송장번호는 문자로 따로 보내드릴게요.", tags=("delivery",)),
    Scenario("email-1", "email", "en", 10, 9, "Hello,\n\nCould you send me an invoice for my last order?\n\nThanks",
             subject="Invoice for my order", reply="Hello, the invoice is attached to your order page now. "
             "Let us know if you need anything else.", tags=("invoice",)),
    Scenario("kakao-1", "kakao", "ko", 9, 11, "배송지 변경 가능할까요? 회사로 받고 싶어요.",
             reply="네, 출고 전이라 변경해 드렸습니다. 회사 주소로 배송됩니다.",
             follow_up="빠른 처리 감사해요 :)",
             tags=("delivery",)),
    Scenario("whatsapp-1", "whatsapp", "en", 8, 16, "Hi! My order hasn't arrived yet. Can you check?",
             reply="Sorry for the wait! Your parcel is with the courier and arrives tomorrow.",
             note="Courier confirmed a one-day delay.", tags=("delivery",)),
    Scenario("chat-2", "chat", "en", 7, 13, "Do you ship to the United States?",
             reply="Yes, we ship worldwide. Delivery to the US takes 5-7 business days.", tags=("shipping",),
             rating=4),
    Scenario("email-2", "email", "ko", 6, 20,
             "안녕하세요.\n\n지난주 주문한 셔츠 환불 요청드립니다. 사이즈가 맞지 않아요.",
             subject="환불 문의", reply="안녕하세요, 고객님. 반품 접수해 드렸습니다. 회수 후 2~3일 안에 환불됩니다.",
             note="회수 택배 예약함", tags=("refund",)),
    Scenario("whatsapp-2", "whatsapp", "ko", 5, 15, "쿠폰이 결제 화면에서 적용이 안 돼요",
             reply="확인해 보니 최소 주문 금액 5만원 이상부터 적용되는 쿠폰입니다.",
             follow_up="아 그렇군요. 알겠습니다!",
             tags=("coupon",)),
    Scenario("sms-2", "sms", "ko", 4, 10, "교환 신청했는데 확인 부탁드립니다.",
             reply="교환 접수 확인했습니다. 기사님이 내일 회수하러 방문할 예정입니다.",
             note="택배사 회수 일정 확인 필요",
             tags=("exchange",), end="pending"),
    Scenario("kakao-2", "kakao", "ko", 3, 12, "반품하고 싶은데 어떻게 하나요?",
             reply="주문 내역에서 '반품 신청'을 누르시면 됩니다. 회수는 무료예요.", tags=("return",), end="pending"),
    Scenario("chat-3", "chat", "ko", 2, 17, "회원 등급 혜택이 궁금해요.",
             reply="골드 등급은 모든 주문 무료 배송에 5% 적립 혜택이 있습니다.", tags=("membership",)),
    Scenario("whatsapp-3", "whatsapp", "en", 1, 11, "Can I change the colour of the jacket I ordered?",
             reply="Of course. Which colour would you like instead?", end="pending"),
    Scenario("email-3", "email", "en", 1, 21, "Hi,\n\nThe mug I received is cracked. Photos attached.\n\nBest",
             subject="Damaged item", end="open", tags=("damaged",)),
    Scenario("kakao-3", "kakao", "ko", 0, 22, "주말에도 상담 가능한가요?", end="open"),
    Scenario("sms-3", "sms", "ko", 0, 23, "내일 오전까지 받을 수 있을까요?", end="open"),
    Scenario("chat-4", "chat", "ko", 0, 8, "선물 포장 되나요?", end="open"),
)


@dataclass
class InboxSummary:
    """What one run did: conversations delivered now and already there, by channel."""

    delivered: dict[str, int] = field(default_factory=dict)
    existing: int = 0
    replies: int = 0
    agents: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Customer:
    profile_id: str
    user_id: str | None
    name: str
    email: str | None
    phone: str | None
    kakao_id: str | None


class _Clock:
    """The simulated time the app receives messages at."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


# --- setting the shop up ------------------------------------------------------------------------------


def _agents(stores: Stores, workspace_id: str) -> dict[str, str]:
    """The demo's agents by e-mail (created once, with a random password: ``touchline users set-password``)."""
    by_email = {a["email"]: a["id"] for a in conversations.agents(stores, workspace_id)}
    for agent in AGENTS:
        if agent.email not in by_email:
            with contextlib.suppress(Conflict):  # made meanwhile
                auth.create_user(stores, agent.email, secrets.token_urlsafe(18), "agent", name=agent.name)
    by_email = {a["email"]: a["id"] for a in conversations.agents(stores, workspace_id)}
    return {a.email: by_email[a.email] for a in AGENTS}


def _team(stores: Stores, workspace_id: str, agent_ids: dict[str, str]) -> str:
    found = next((t for t in conversations.teams(stores, workspace_id) if t["name"] == TEAM), None)
    team = found or conversations.create_team(stores, workspace_id, TEAM, auto_assign=True, language_routing=True,
                                              channels=TEAM_CHANNELS)
    for agent in AGENTS:
        conversations.set_member(stores, workspace_id, team["id"], agent_ids[agent.email], capacity=8,
                                 languages=agent.languages)
    return str(team["id"])


def _customers(stores: Stores, workspace_id: str, want: int) -> dict[str, list[_Customer]]:
    """Signed-up customers of the demo with orders, by language: the first ``want`` of each, in a stable
    order (their e-mail), with their phone and Kakao id when they have them."""
    with stores.read() as conn:
        rows = conn.execute(
            sa.select(profiles.c.id, profiles.c.user_id, profiles.c.locale, profiles.c.traits)
            .join(identities, sa.and_(identities.c.profile_id == profiles.c.id, identities.c.kind == "email",
                                      identities.c.workspace_id == workspace_id))
            .where(profiles.c.workspace_id == workspace_id, profiles.c.merged_into.is_(None),
                   profiles.c.user_id.is_not(None))
            .order_by(identities.c.value).limit(400)).mappings().all()
        kinds: dict[tuple[str, str], str] = {}
        ids = [r["id"] for r in rows]
        for pid, kind, value in conn.execute(
                sa.select(identities.c.profile_id, identities.c.kind, identities.c.value)
                .where(identities.c.workspace_id == workspace_id, identities.c.profile_id.in_(ids),
                       identities.c.kind.in_(["email", "phone", "kakao_id"]))
                .order_by(identities.c.value)):
            kinds.setdefault((pid, kind), value)
    try:
        with stores.read() as conn, stores.events_conn() as econn:
            with_orders = demo_store.buyers(conn, econn, workspace_id, ids)
    except StoreUnavailable:  # a running server holds the event store: anyone signed up will do
        with_orders = set(ids)
    out: dict[str, list[_Customer]] = {"ko": [], "en": []}
    for r in rows:
        lang = "en" if str(r["locale"] or "").startswith("en") else "ko"
        if len(out[lang]) >= want or r["id"] not in with_orders:
            continue
        traits = r["traits"] or {}
        out[lang].append(_Customer(r["id"], r["user_id"], str(traits.get("name") or ""), kinds.get((r["id"], "email")),
                                   kinds.get((r["id"], "phone")), kinds.get((r["id"], "kakao_id"))))
    return out


def _can_write(c: _Customer, channel: str) -> bool:
    if channel == "sms":
        return bool(c.phone)
    if channel == "kakao":
        return bool(c.kakao_id)
    if channel == "email":
        return bool(c.email)
    return True


def _pick(pool: dict[str, list[_Customer]], used: set[str], scenario: Scenario) -> _Customer | None:
    """A customer who can write on the scenario's channel, each one once."""
    for lang in (scenario.lang, "ko" if scenario.lang == "en" else "en"):
        for c in pool[lang]:
            if c.profile_id not in used and _can_write(c, scenario.channel):
                used.add(c.profile_id)
                return c
    return None


@contextlib.contextmanager
def _signing(stores: Stores) -> Iterator[dict[str, str]]:
    """The providers' secrets: the configured ones, else random ones set on the stores for this run."""
    settings = stores.settings
    chosen = {name: (getattr(settings, name).get_secret_value() if getattr(settings, name) else secrets.token_hex(16))
              for name in ("twilio_auth_token", "whatsapp_app_secret", "kakao_skill_secret")}
    stores.settings = settings.model_copy(update={k: SecretStr(v) for k, v in chosen.items()})
    try:
        yield chosen
    finally:
        stores.settings = settings


def _keys(stores: Stores, workspace_id: str) -> tuple[str, str]:
    """A write key (the web chat, the identify) and an inbound key (the webhooks, the mail address),
    revoked when the run ends."""
    with stores.write() as conn:
        return (workspaces.create_key(conn, workspace_id, "write", KEY_LABEL),
                workspaces.create_key(conn, workspace_id, "inbound", KEY_LABEL))


def _revoke_keys(stores: Stores, workspace_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        for key in key_store.list_keys(conn, workspace_id):
            if key["label"] == KEY_LABEL and key["revoked_at"] is None:
                key_store.revoke_key(conn, workspace_id, key["id"], now)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- delivering -----------------------------------------------------------------------------------------


def _provider_id(seed: int, scenario: Scenario, part: int) -> str:
    digest = hashlib.sha256(f"demo-inbox:{seed}:{scenario.key}:{part}".encode()).hexdigest()
    if scenario.channel == "sms":
        return "SM" + digest[:32]
    if scenario.channel == "whatsapp":
        return "wamid.DEMO" + digest[:40]
    if scenario.channel == "email":
        return f"<{digest[:24]}@mail.demo.example>"
    return digest[:24]


def _wa_id(customer: _Customer) -> str:
    """The customer's WhatsApp id: their phone without the plus, else a made-up UK mobile (07700 900xxx)."""
    if customer.phone:
        return customer.phone.lstrip("+")
    return "447700900" + str(int(hashlib.sha256(customer.profile_id.encode()).hexdigest(), 16) % 1000).zfill(3)


class _Delivery:
    def __init__(self, client: httpx.AsyncClient, stores: Stores, workspace_id: str, seed: int, write_key: str,
                 inbound_key: str, secrets_: dict[str, str], smtp_port: int) -> None:
        self.client, self.stores, self.workspace_id, self.seed = client, stores, workspace_id, seed
        self.write = {"Authorization": "Basic " + _b64(f"{write_key}:")}
        self.token, self.secrets, self.smtp_port = inbound_key, secrets_, smtp_port

    async def send(self, scenario: Scenario, customer: _Customer, text: str, part: int, at: dt.datetime) -> None:
        provider_id = _provider_id(self.seed, scenario, part)
        channel = scenario.channel
        if channel == "chat":
            response = await self.client.post("/v1/chat/messages", headers=self.write, json={
                "anonymous_id": _anonymous_id(customer), "identifier": customer.user_id,
                "client_message_id": f"demo-{provider_id}", "text": text, "language": scenario.lang})
        elif channel == "sms":
            path = f"/webhooks/twilio/sms/{self.token}"
            params = [("MessageSid", provider_id), ("AccountSid", "ACdemo"), ("From", customer.phone or ""),
                      ("To", "+8215880000"), ("Body", text), ("NumMedia", "0")]
            url = self.stores.settings.public_url.rstrip("/") + path
            response = await self.client.post(path, content=urllib.parse.urlencode(params), headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio.signature(self.secrets["twilio_auth_token"], url, params)})
        elif channel == "whatsapp":
            wa_id = _wa_id(customer)
            body = orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": "demo-waba", "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp", "metadata": {"phone_number_id": "demo-number"},
                    "contacts": [{"wa_id": wa_id, "profile": {"name": customer.name}}],
                    "messages": [{"from": wa_id, "id": provider_id, "timestamp": str(int(at.timestamp())),
                                  "type": "text", "text": {"body": text}}]}}]}]})
            response = await self.client.post(f"/webhooks/whatsapp/{self.token}", content=body, headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": whatsapp.signature(self.secrets["whatsapp_app_secret"], body)})
        elif channel == "kakao":
            response = await self.client.post(f"/webhooks/kakao/{self.token}", content=_kakao_body(
                self.stores, scenario, customer, text), headers={"Content-Type": "application/json",
                                                                 SECRET_HEADER: self.secrets["kakao_skill_secret"]})
        else:
            await asyncio.to_thread(self._mail, scenario, customer, text, provider_id, part, at)
            return
        response.raise_for_status()

    def _mail(self, scenario: Scenario, customer: _Customer, text: str, message_id: str, part: int,
              at: dt.datetime) -> None:
        mail = EmailMessage()
        mail["From"] = f"{customer.name} <{customer.email}>"
        mail["To"] = self.stores.settings.smtp_from
        mail["Subject"] = ("Re: " if part else "") + (scenario.subject or "")
        mail["Message-ID"] = message_id
        mail["Date"] = format_datetime(at)
        if part:
            first = _provider_id(self.seed, scenario, 0)
            mail["In-Reply-To"] = first
            mail["References"] = first
        mail.set_content(text)
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.send_message(mail, to_addrs=[f"replies+{self.token}@mail.demo.example"])

    async def rate(self, customer: _Customer, message_id: str, score: int, comment: str | None) -> None:
        """The customer taps a score in the chat window, then sends a comment (as chat.js posts them)."""
        for body in ({"score": score}, {"score": score, "comment": comment} if comment else None):
            if body is None:
                continue
            response = await self.client.post("/v1/chat/rating", headers=self.write, json={
                "anonymous_id": _anonymous_id(customer), "identifier": customer.user_id, "message_id": message_id,
                **body})
            response.raise_for_status()

    async def link_whatsapp(self, customer: _Customer, at: dt.datetime) -> None:
        """The shop records the customer's WhatsApp id when they opt in there (an ``identify``)."""
        response = await self.client.post("/v1/identify", headers=self.write, json={
            "userId": customer.user_id, "messageId": f"demo-inbox-wa-{customer.profile_id}",
            "timestamp": at.isoformat(), "context": {"externalIds": [
                {"id": _wa_id(customer), "type": "whatsapp_id", "collection": "users", "encoding": "none"}]}})
        response.raise_for_status()


def _kakao_body(stores: Stores, scenario: Scenario, customer: _Customer, text: str) -> bytes:
    """An Open Builder skill request, as Open Builder sends one (nothing in it names the message: Touchline's
    de-duplication id is the hash of these bytes, so a re-sent request is the same message)."""
    return orjson.dumps({
        "intent": {"id": "demo-fallback", "name": "폴백 블록"},
        "userRequest": {"timezone": "Asia/Seoul", "utterance": text, "lang": scenario.lang,
                        "block": {"id": "demo-block", "name": "상담"},
                        "user": {"id": customer.kakao_id, "type": "botUserKey", "properties": {}},
                        "params": {"surface": "Kakaotalk.plusfriend"}},
        "bot": {"id": stores.settings.kakao_bot_id or "demo-bot", "name": "데모 상점"},
        "action": {"id": "demo-skill", "name": "상담 접수", "params": {}, "detailParams": {}}})


def _stored_id(stores: Stores, seed: int, scenario: Scenario, customer: _Customer, part: int) -> str:
    """The provider message id Touchline keeps for the scenario's message ``part`` (0: the first)."""
    provider_id = _provider_id(seed, scenario, part)
    if scenario.channel == "chat":
        return f"{_anonymous_id(customer)}:demo-{provider_id}"
    if scenario.channel == "kakao":
        text = scenario.text if part == 0 else scenario.follow_up or ""
        return "kakao:" + hashlib.sha256(_kakao_body(stores, scenario, customer, text)).hexdigest()
    return provider_id


def _anonymous_id(customer: _Customer) -> str:
    return "demo-chat-" + hashlib.sha256(customer.profile_id.encode()).hexdigest()[:16]


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _when(now: dt.datetime, scenario: Scenario, rng: random.Random) -> dt.datetime:
    """The scenario's day and hour in Seoul, a few minutes in; never later than a quarter hour ago."""
    day = (now - dt.timedelta(days=scenario.days_ago)).astimezone(SEOUL).date()
    at = dt.datetime.combine(day, dt.time(scenario.hour, rng.randrange(0, 50)), SEOUL).astimezone(dt.UTC)
    latest = now - dt.timedelta(minutes=15)
    return at if at <= latest else latest - dt.timedelta(minutes=rng.randrange(0, 30))


def _online(stores: Stores, workspace_id: str, agent_ids: dict[str, str], at: dt.datetime) -> None:
    """The agents whose shift it is say they are online (the dashboard's heartbeat)."""
    if SHIFT[0] <= at.astimezone(SEOUL).hour < SHIFT[1]:
        for user_id in agent_ids.values():
            conversations.heartbeat(stores, workspace_id, user_id, seconds=600, now=at)


def _exists(stores: Stores, workspace_id: str, channel: str, provider_id: str) -> bool:
    with stores.read() as conn:
        return conversation_store.message_by_provider_id(conn, workspace_id, channel, provider_id) is not None


def _conversation_of(stores: Stores, workspace_id: str, channel: str, provider_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        found = conversation_store.message_by_provider_id(conn, workspace_id, channel, provider_id)
    assert found is not None, f"the demo's {channel} message did not arrive"
    return conversations.get_conversation(stores, workspace_id, found["conversation_id"])


async def _play(delivery: _Delivery, clock: _Clock, outbox: Outbox, scenario: Scenario, customer: _Customer,
                agent_ids: dict[str, str], rng: random.Random, now: dt.datetime, summary: InboxSummary) -> None:
    stores, workspace_id = delivery.stores, delivery.workspace_id
    at = _when(now, scenario, rng)
    if scenario.channel == "whatsapp":
        clock.at = at - dt.timedelta(days=1)
        await delivery.link_whatsapp(customer, clock.at)
    _online(stores, workspace_id, agent_ids, at)
    clock.at = at
    await delivery.send(scenario, customer, scenario.text, 0, at)
    first_id = _stored_id(stores, delivery.seed, scenario, customer, 0)
    conversation = _conversation_of(stores, workspace_id, scenario.channel, first_id)
    summary.delivered[scenario.channel] = summary.delivered.get(scenario.channel, 0) + 1
    cid = conversation["id"]
    if scenario.reply is None:
        if scenario.tags:
            conversations.tag(stores, workspace_id, cid, add=scenario.tags, now=at)
        return
    # Quick in the agents' hours, slower when it came in after them (the next morning).
    delay = dt.timedelta(minutes=rng.choice((2, 4, 6, 9, 14, 25, 40)))
    local = at.astimezone(SEOUL)
    if not SHIFT[0] <= local.hour < SHIFT[1]:
        morning = dt.datetime.combine(local.date() + dt.timedelta(days=local.hour >= SHIFT[1]),
                                      dt.time(SHIFT[0]), SEOUL).astimezone(dt.UTC)
        delay += morning - at
    answered = min(at + delay, now - dt.timedelta(minutes=5))
    preferred = next(a for a in AGENTS if scenario.lang in a.languages)
    agent = conversation["assignee_id"] or agent_ids[preferred.email]
    if conversation["assignee_id"] is None:
        conversations.assign(stores, workspace_id, cid, assignee_id=agent, by=Author("agent", agent), now=answered)
    conversations.reply(stores, workspace_id, cid, scenario.reply, author=Author("agent", agent),
                        client_key=f"demo-reply-{scenario.key}", now=answered)
    outbox.dispatch(now=answered)  # recorded by the development channels, not delivered
    summary.replies += 1
    if scenario.note:  # written just after the reply
        conversations.note(stores, workspace_id, cid, scenario.note, author=Author("agent", agent),
                           client_key=f"demo-note-{scenario.key}",
                           now=min(answered + dt.timedelta(minutes=1), now - dt.timedelta(minutes=4)))
    if scenario.tags:
        conversations.tag(stores, workspace_id, cid, add=scenario.tags, now=answered)
    last = answered
    if scenario.follow_up:
        last = min(answered + dt.timedelta(minutes=rng.randrange(3, 30)), now - dt.timedelta(minutes=4))
        clock.at = last
        await delivery.send(scenario, customer, scenario.follow_up, 1, last)
    if scenario.end == "resolved":
        done = min(last + dt.timedelta(minutes=rng.randrange(5, 120)), now - dt.timedelta(minutes=3))
        conversations.resolve(stores, workspace_id, cid, by=Author("agent", agent), now=done)
        asked = [m for m in conversations.messages(stores, workspace_id, cid, limit=50) if m.get("survey")]
        if scenario.rating is not None and asked:
            clock.at = min(done + dt.timedelta(minutes=rng.randrange(1, 10)), now - dt.timedelta(minutes=2))
            await delivery.rate(customer, asked[-1]["id"], scenario.rating, scenario.rating_comment)
    elif scenario.end == "pending":
        conversations.set_status(stores, workspace_id, cid, "pending", by=Author("agent", agent), now=last)


def open_inbox(stores: Stores, workspace_id: str, make_app: Callable[[Callable[[], dt.datetime]], Any], *,
               seed: int = 42, now: dt.datetime | None = None) -> InboxSummary:
    """Agents, a team and the demo's conversations (:data:`SCENARIOS`), delivered to the app that
    ``make_app(clock)`` builds over these stores (``touchline.app.create_app(stores=..., clock=clock)``)."""
    import time

    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed)
    summary = InboxSummary()
    agent_ids = _agents(stores, workspace_id)
    summary.agents = [a.email for a in AGENTS]
    _team(stores, workspace_id, agent_ids)
    conversations.set_rating_settings(stores, workspace_id, rate_on_resolve=True, now=now)
    pool = _customers(stores, workspace_id, want=12)
    used: set[str] = set()
    todo: list[tuple[Scenario, _Customer]] = []
    # The channels fewest customers can write on (a Kakao id, a phone) choose first, so a chat, which
    # anyone can start, does not take the only customer who could write on KakaoTalk.
    everyone = [c for lang in pool.values() for c in lang]
    able = {s.channel: sum(_can_write(c, s.channel) for c in everyone) for s in SCENARIOS}
    chosen = {scenario.key: _pick(pool, used, scenario)
              for scenario in sorted(SCENARIOS, key=lambda s: able[s.channel])}
    for scenario in SCENARIOS:
        customer = chosen[scenario.key]
        if customer is None:
            continue
        if _exists(stores, workspace_id, scenario.channel, _stored_id(stores, seed, scenario, customer, 0)):
            summary.existing += 1
            continue
        todo.append((scenario, customer))
    if todo:
        clock = _Clock(now)
        outbox = Outbox(stores, channels={name: DevChannel(name) for name in DEV_CHANNELS}, clock=clock)
        with _signing(stores) as secrets_:
            write_key, inbound_key = _keys(stores, workspace_id)
            app = make_app(clock)
            port = _free_port()
            mail = InboundSMTP(stores, app.state.services.keys, "127.0.0.1", port, clock=clock)
            mail.start()
            try:
                # In a thread of its own: the caller may be inside an event loop (a test's browser).
                with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="demo-inbox") as runner:
                    runner.submit(asyncio.run, _deliver_all(
                        app, stores, workspace_id, seed, write_key, inbound_key, secrets_, port, clock, outbox, todo,
                        agent_ids, rng, now, summary)).result()
            finally:
                mail.stop()
                app.state.services.writer.stop()
                _revoke_keys(stores, workspace_id)
    summary.seconds = time.perf_counter() - started
    return summary


async def _deliver_all(app: Any, stores: Stores, workspace_id: str, seed: int, write_key: str, inbound_key: str,
                       secrets_: dict[str, str], port: int, clock: _Clock, outbox: Outbox,
                       todo: list[tuple[Scenario, _Customer]], agent_ids: dict[str, str], rng: random.Random,
                       now: dt.datetime, summary: InboxSummary) -> None:
    # Oldest first, as they happened: routing takes turns, and the agents' loads grow and shrink.
    ordered = sorted(todo, key=lambda sc: (-sc[0].days_ago, sc[0].hour))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        delivery = _Delivery(client, stores, workspace_id, seed, write_key, inbound_key, secrets_, port)
        for scenario, customer in ordered:
            await _play(delivery, clock, outbox, scenario, customer, agent_ids, rng, now, summary)
