"""The outbox's batch dispatch on both backends: one batch holding every kind of outcome (sent on email and
on push, suppressed for consent, a retryable failure retried later under the same key with the content
committed the first time, a permanent failure), written back with a bounded number of statements."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels import Failed, OutboundMessage, SendResult, Sent, Skipped
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import event_staging, outbox

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 11:00 in Seoul: outside quiet hours


class ScriptedEmail:
    """A real e-mail channel in memory whose provider answers from a script per address: ``temporary``
    fails (retryable) the first time, ``bounce`` always fails for good, everyone else is accepted."""

    name = "email"

    def __init__(self) -> None:
        self.attempts: list[OutboundMessage] = []
        self._failed_once: set[str] = set()
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        with self._lock:
            self.attempts.append(message)
            if not message.to:
                return Skipped("no_address")
            if message.to.startswith("temporary@") and message.idempotency_key not in self._failed_once:
                self._failed_once.add(message.idempotency_key)
                return Failed("smtp rcpt 451: try again later", retryable=True)
            if message.to.startswith("bounce@"):
                return Failed("smtp rcpt 550: no such user", retryable=False)
            return Sent(f"scripted-{message.idempotency_key}")


PROMO = {
    "email": {"default_locale": "ko", "variants": {"ko": {
        "subject": "{{ profile.traits.name }}님을 위한 쿠폰", "html": "<p>{{ 10000 | krw }} 쿠폰</p>"}}},
    "push": {"default_locale": "ko", "variants": {"ko": {"title": "{{ profile.traits.name }}님 쿠폰",
                                                          "body": "오늘까지", "url": "https://shop.example/c"}}},
}


def _setup(client: TestClient) -> None:
    for channel, body in PROMO.items():
        assert client.put(f"/v1/templates/promo/{channel}", json=body, headers=bearer()).status_code == 200
    journey = {"id": "vip", "name": "VIP", "version": 1, "trigger": {"type": "event", "event": "Joined VIP"},
               "start": "send", "nodes": [
                   {"type": "send", "id": "send", "channel": "preferred", "template": "promo", "kind": "advertising",
                    "next": "end"}, {"type": "exit", "id": "end"}]}
    assert client.post("/v1/journeys", json=journey, headers=bearer()).status_code == 201
    assert client.post("/v1/journeys/vip/publish", headers=bearer()).status_code == 200


def _customer(user: str, email: str, consent: dict[str, bool], push_token: str | None = None) -> list[dict[str, Any]]:
    identify: dict[str, Any] = {
        "type": "identify", "userId": user, "messageId": f"id-{user}",
        "timestamp": (T0 - dt.timedelta(minutes=5)).isoformat(),
        "traits": {"name": user, "email": email, "locale": "ko-KR", "consent": consent}}
    if push_token:
        identify["context"] = {"device": {"id": f"phone-{user}", "type": "android", "token": push_token}}
    return [identify, {"type": "track", "userId": user, "event": "Joined VIP", "messageId": f"vip-{user}",
                       "timestamp": T0.isoformat()}]


def _outbox_updates(stores: Stores) -> list[str]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "outbox" in statement.split("SET")[0]:
            statements.append(statement)

    sa.event.listen(stores.state, "before_cursor_execute", record)
    return statements


def test_one_batch_with_every_outcome(client: TestClient, stores: Stores) -> None:
    _setup(client)
    email, push = ScriptedEmail(), MemoryChannel("push")
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email, "push": push}))
    batch = [
        *_customer("sent1", "sent1@example.com", {"email": True}),
        *_customer("sent2", "sent2@example.com", {"email": True}),
        *_customer("pushy", "pushy@example.com", {"email": True, "push": True}, push_token="fcm-token-pushy"),
        *_customer("noconsent", "noconsent@example.com", {"email": False}),
        *_customer("temporary", "temporary@example.com", {"email": True}),
        *_customer("bounce", "bounce@example.com", {"email": True}),
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    runner.tick(T0, dispatch=False)
    updates = _outbox_updates(stores)

    report = runner.outbox.dispatch(now=T0)

    assert (report.claimed, report.sent, report.suppressed, report.retried, report.failed) == (6, 3, 1, 1, 1)
    assert report.by_reason == {"no_consent": 1}
    # Claim, decide and record: a handful of statements for the whole batch, not one per row.
    assert len(updates) <= 6, updates
    with stores.read() as conn:
        rows = {r["customer_id"]: dict(r) for r in conn.execute(sa.select(outbox)).mappings()}
        users = dict(conn.execute(sa.text("SELECT id, user_id FROM profiles")).all())
    by_user = {users[cid]: row for cid, row in rows.items()}
    assert {u: (r["status"], r["channel"], r["reason"]) for u, r in by_user.items()} == {
        "sent1": ("sent", "email", None), "sent2": ("sent", "email", None), "pushy": ("sent", "push", None),
        "noconsent": ("suppressed", None, "no_consent"),
        "temporary": ("pending", "email", "smtp rcpt 451: try again later"),
        "bounce": ("failed", "email", "smtp rcpt 550: no such user"),
    }
    assert by_user["pushy"]["to_address"] == "fcm-token-pushy"  # the push token from the identity graph
    # Korean advertising: the channel gets the title marked, as it is stored (the log shows what was sent).
    assert push.messages[0].content.title == "(광고) pushy님 쿠폰" and push.messages[0].to == "fcm-token-pushy"
    assert by_user["pushy"]["content"]["title"] == "(광고) pushy님 쿠폰"
    assert by_user["temporary"]["attempts"] == 1 and by_user["temporary"]["lease_until"] is None
    assert by_user["temporary"]["next_attempt_at"] > T0
    assert all(r["sent_at"] is not None for u, r in by_user.items() if u in ("sent1", "sent2", "pushy"))
    first_content = by_user["temporary"]["content"]
    assert first_content["subject"] == "(광고) temporary님을 위한 쿠폰"

    # Not due yet: nothing is claimed. When due, the retry carries the committed content and the same key.
    assert runner.outbox.dispatch(now=T0 + dt.timedelta(seconds=1)).claimed == 0
    retry = runner.outbox.dispatch(now=T0 + dt.timedelta(hours=1))
    assert (retry.claimed, retry.sent) == (1, 1)
    temporary = [m for m in email.attempts if m.to == "temporary@example.com"]
    assert len(temporary) == 2 and temporary[0].idempotency_key == temporary[1].idempotency_key
    assert temporary[0].content == temporary[1].content
    with stores.read() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.id == temporary[0].idempotency_key)).mappings().one()
        receipts = conn.execute(sa.select(event_staging.c.event, sa.func.count()).where(
            event_staging.c.event.like("Message %")).group_by(event_staging.c.event)).all()
    assert (row["status"], row["attempts"], row["content"]) == ("sent", 2, first_content)
    # One receipt per outcome (the retry is not an outcome until it is sent).
    assert dict(receipts) == {"Message Sent": 4, "Message Suppressed": 1, "Message Failed": 1}
    assert runner.outbox.dispatch(now=T0 + dt.timedelta(days=1)).claimed == 0


class _Sink:
    def __init__(self) -> None:
        self.received: list[tuple[int, bytes]] = []  # (session, message)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((id(session), envelope.original_content))
        return "250 OK"


def test_a_batch_goes_over_one_smtp_session(client: TestClient, stores: Stores) -> None:
    import email
    import socket
    from email.policy import default as default_policy

    from aiosmtpd.controller import Controller

    from touchline.messaging.channels import SmtpChannel, SmtpConfig
    from touchline.messaging.channels.smtp import message_id_for

    _setup(client)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, security="none", from_address="news@shop.example",
                                      timeout=5))
        runner = Runner(stores, outbox=Outbox(stores, channels={"email": smtp}))
        batch = [item for i in range(8) for item in _customer(f"m{i}", f"m{i}@example.com", {"email": True})]
        assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
        runner.tick(T0, dispatch=False)
        report = runner.outbox.dispatch(now=T0)
    finally:
        controller.stop()
    assert report.sent == 8
    assert smtp.connections_opened == 1 and len({session for session, _ in sink.received}) == 1
    assert smtp._smtp is None  # the outbox ended the batch: the session is closed, not left idle
    with stores.read() as conn:
        ids = set(conn.execute(sa.select(outbox.c.id)).scalars())
    received = [email.message_from_bytes(raw, policy=default_policy) for _, raw in sink.received]
    assert {m["X-Touchline-Message-Id"] for m in received} == ids
    assert {m["Message-ID"] for m in received} == {message_id_for(i, "shop.example") for i in ids}
    assert all(m.get_body(("plain",)) is not None for m in received)  # the text part, derived from the HTML


class _Killed(BaseException):
    """The process dying mid-send (not an ``Exception``: nothing in the outbox may catch it)."""


class DiesOnce:
    """An e-mail provider whose worker process dies during the first send attempt."""

    name = "email"

    def __init__(self) -> None:
        self.delivered: list[OutboundMessage] = []
        self.died = False

    def send(self, message: OutboundMessage) -> SendResult:
        if not self.died:
            self.died = True
            raise _Killed
        self.delivered.append(message)
        return Sent(f"ok-{message.idempotency_key}")


def test_death_between_decision_and_send_resends_the_decided_content_once(client: TestClient, stores: Stores) -> None:
    """Claiming, deciding and rendering commit together before anything is sent: a worker that dies
    then leaves the row leased with its content; once the lease runs out it is sent, once, with that
    content under the same key, and recorded with one receipt."""
    _setup(client)
    email = DiesOnce()
    runner = Runner(stores, outbox=Outbox(stores, channels={"email": email}))
    assert client.post("/v1/batch", json={"batch": _customer("kim", "kim@example.com", {"email": True})},
                       headers=basic()).status_code == 200
    runner.tick(T0, dispatch=False)
    try:
        runner.outbox.dispatch(now=T0)
        raise AssertionError("the send should have died")
    except _Killed:
        pass
    with stores.read() as conn:
        leased = conn.execute(sa.select(outbox)).mappings().one()
    assert (leased["status"], leased["channel"], leased["to_address"]) == ("sending", "email", "kim@example.com")
    assert leased["content"]["subject"] == "(광고) kim님을 위한 쿠폰" and leased["lease_until"] > T0

    assert runner.outbox.dispatch(now=T0 + dt.timedelta(seconds=1)).claimed == 0  # still leased
    later = T0 + dt.timedelta(seconds=stores.settings.outbox_lease_seconds + 1)
    report = runner.outbox.dispatch(now=later)
    assert (report.claimed, report.sent) == (1, 1)
    assert [m.idempotency_key for m in email.delivered] == [leased["id"]]
    assert email.delivered[0].content.subject == leased["content"]["subject"]
    assert runner.outbox.dispatch(now=later + dt.timedelta(days=1)).claimed == 0
    with stores.read() as conn:
        row = conn.execute(sa.select(outbox)).mappings().one()
        receipts = conn.execute(sa.select(event_staging.c.event, sa.func.count()).where(
            event_staging.c.event.like("Message %")).group_by(event_staging.c.event)).all()
    assert (row["status"], row["attempts"], row["content"]) == ("sent", 1, leased["content"])
    assert dict(receipts) == {"Message Sent": 1}


def test_without_providers_sends_are_suppressed_as_not_configured(client: TestClient, stores: Stores) -> None:
    """Plain ``touchline serve``: no SMTP, SMS, messenger or push provider, no development channels. Only the
    in-app inbox can take a message; the others say that no channel is configured, not that consent is
    missing (which stays the reason for a customer who consented nowhere)."""
    _setup(client)
    inbox = {"default_locale": "ko", "variants": {"ko": {"title": "쿠폰", "body": "오늘까지"}}}
    assert client.put("/v1/templates/promo/in_app", json=inbox, headers=bearer()).status_code == 200
    assert not stores.settings.dev_channels and not stores.settings.smtp_host
    runner = Runner(stores, outbox=Outbox(stores))
    batch = [
        *_customer("mailable", "mailable@example.com", {"email": True}),
        *_customer("pushable", "pushable@example.com", {"push": True}, push_token="fcm-token"),
        *_customer("silent", "silent@example.com", {"email": False}),
        *_customer("inbox", "inbox@example.com", {"email": True, "in_app": True}),
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    runner.tick(T0, dispatch=False)
    report = runner.outbox.dispatch(now=T0)
    assert report.by_reason == {"channel_not_configured": 2, "no_consent": 1}
    with stores.read() as conn:
        rows = {r["customer_id"]: dict(r) for r in conn.execute(sa.select(outbox)).mappings()}
        users = dict(conn.execute(sa.text("SELECT id, user_id FROM profiles")).all())
    assert {users[cid]: (r["status"], r["channel"], r["reason"]) for cid, r in rows.items()} == {
        "mailable": ("suppressed", None, "channel_not_configured"),
        "pushable": ("suppressed", None, "channel_not_configured"),
        "silent": ("suppressed", None, "no_consent"),
        "inbox": ("sent", "in_app", None),
    }
    # The dashboard names the reason in both languages.
    from web_helpers import add_user, sign_in

    add_user(stores, "marketer@example.com", "marketer")
    sign_in(client, "marketer@example.com")
    period = {"start": (T0 - dt.timedelta(days=1)).date().isoformat(),
              "end": (T0 + dt.timedelta(days=1)).date().isoformat()}
    english = client.get("/messages", params={**period, "status": "suppressed", "lang": "en"}).text
    korean = client.get("/messages", params={**period, "status": "suppressed", "lang": "ko"}).text
    assert "no channel configured" in english
    assert "발송 채널 미설정" in korean and "channel_not_configured" not in korean
