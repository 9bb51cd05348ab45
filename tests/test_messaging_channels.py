"""Channel adapters against real local servers: an SMTP server (aiosmtpd) and HTTP servers that check
each provider's wire format and answer like the provider does. Messages reach the adapters as the outbox
hands them over: rendered, Korean advertising marked by ``as_sent``."""

from __future__ import annotations

import base64
import datetime as dt
import email
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiosmtpd.controller import Controller

from touchline.messaging.channels import (
    AdMarking,
    Channel,
    Failed,
    FcmChannel,
    FcmConfig,
    MemoryChannel,
    NhnAlimTalkChannel,
    NhnAlimTalkConfig,
    OutboundMessage,
    Sent,
    Skipped,
    SmtpChannel,
    SmtpConfig,
    TwilioConfig,
    TwilioSmsChannel,
    WebhookChannel,
    WebhookConfig,
    WhatsAppCloudChannel,
    WhatsAppConfig,
    as_sent,
)
from touchline.messaging.channels.messenger import kr_national_number
from touchline.messaging.channels.smtp import message_id_for
from touchline.messaging.channels.webhook import verify_signature
from touchline.messaging.types import RenderedContent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def email_message(key: str = "run-1:step-2:email", *, to: str = "minji@example.com", kind: str = "advertising",
                  locale: str = "ko") -> OutboundMessage:
    content = RenderedContent(locale=locale, subject="장바구니를 잊지 마세요", html="<p>합계 <b>59,000원</b></p>",
                              text="합계 59,000원")
    marked = as_sent("email", kind, content, AdMarking())  # type: ignore[arg-type]
    assert isinstance(marked, RenderedContent)
    return OutboundMessage(
        idempotency_key=key, channel="email", to=to, kind=kind,  # type: ignore[arg-type]
        content=marked,
        unsubscribe_url="https://shop.example/u/abc", unsubscribe_mailto="mailto:unsubscribe+abc@shop.example",
    )


# --- SMTP against a real local server ----------------------------------------------------------------------

class SmtpSink:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.sessions: set[int] = set()  # the SMTP sessions (connections) messages came over

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address.startswith("full@"):
            return "452 4.2.2 Mailbox full, try later"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.sessions.add(id(session))
        return "250 Message accepted for delivery"


@pytest.fixture()
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    sink, port = SmtpSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


_open_channels: list[SmtpChannel] = []


@pytest.fixture(autouse=True)
def _close_smtp_sessions() -> Iterator[None]:
    """SMTP channels keep their session open between sends; each test ends its batch, as the outbox does."""
    yield
    while _open_channels:
        _open_channels.pop().end_batch()


def smtp_channel(port: int, **kw: Any) -> SmtpChannel:
    config = SmtpConfig(host="127.0.0.1", port=port, security="none", from_address="news@shop.example",
                        from_name="터치라인 샵", timeout=5, **kw)
    channel = SmtpChannel(config, clock=lambda: dt.datetime(2024, 5, 3, 3, 0, tzinfo=dt.UTC))
    _open_channels.append(channel)
    return channel


def test_smtp_delivers_multipart_with_headers_and_korean_ad_prefix(smtp_server: tuple[SmtpSink, int]) -> None:
    sink, port = smtp_server
    channel = smtp_channel(port)
    assert isinstance(channel, Channel)
    result = channel.send(email_message())
    expected_id = message_id_for("run-1:step-2:email", "shop.example")
    assert result == Sent(expected_id)
    (envelope,) = sink.envelopes
    assert envelope.mail_from == "news@shop.example"
    assert envelope.rcpt_tos == ["minji@example.com"]
    received = email.message_from_bytes(envelope.original_content, policy=default_policy)
    assert isinstance(received, EmailMessage)
    assert received["Subject"] == "(광고) 장바구니를 잊지 마세요"
    assert received["Message-ID"] == expected_id
    assert received["X-Touchline-Message-Id"] == "run-1:step-2:email"
    assert received["List-Unsubscribe"].strip() == "<mailto:unsubscribe+abc@shop.example>, <https://shop.example/u/abc>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["From"] == "터치라인 샵 <news@shop.example>"
    assert received["Date"] == "Fri, 03 May 2024 03:00:00 +0000"
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",))
    rich = received.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "합계 59,000원"
    assert rich is not None and rich.get_content().strip() == "<p>합계 <b>59,000원</b></p>"


def test_smtp_same_key_same_message_id_and_no_prefix_for_transactional_or_english(
        smtp_server: tuple[SmtpSink, int]) -> None:
    sink, port = smtp_server
    channel = smtp_channel(port)
    first = channel.send(email_message("k1", kind="transactional"))
    again = channel.send(email_message("k1", kind="transactional"))
    english_ad = channel.send(email_message("k2", locale="en"))
    assert first == again and first != english_ad
    subjects = [email.message_from_bytes(e.original_content, policy=default_policy)["Subject"] for e in sink.envelopes]
    assert subjects == ["장바구니를 잊지 마세요"] * 3


def test_smtp_maps_refusals(smtp_server: tuple[SmtpSink, int]) -> None:
    _, port = smtp_server
    channel = smtp_channel(port)
    temporary = channel.send(email_message(to="full@example.com"))
    assert isinstance(temporary, Failed) and temporary.retryable and "452" in temporary.reason
    permanent = channel.send(email_message(to="nobody@example.com"))
    assert isinstance(permanent, Failed) and not permanent.retryable and "550" in permanent.reason


def test_smtp_connection_refused_is_retryable_and_no_address_is_skipped() -> None:
    channel = smtp_channel(free_port())  # nothing listens there
    result = channel.send(email_message())
    assert isinstance(result, Failed) and result.retryable
    assert channel.send(email_message(to="")) == Skipped("no_address")


def test_smtp_derives_the_text_part_of_an_html_only_message(smtp_server: tuple[SmtpSink, int]) -> None:
    sink, port = smtp_server
    message = OutboundMessage(idempotency_key="html-only", channel="email", to="minji@example.com",
                              kind="transactional", content=RenderedContent(
                                  locale="ko", subject="영수증", html="<p>합계 <b>59,000원</b></p><p>감사합니다</p>"))
    assert isinstance(smtp_channel(port).send(message), Sent)
    received = email.message_from_bytes(sink.envelopes[0].original_content, policy=default_policy)
    plain = received.get_body(("plain",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n").strip() == "합계 59,000원\n\n감사합니다"


def test_smtp_reuses_one_connection_for_many_messages_each_with_its_own_message_id(
        smtp_server: tuple[SmtpSink, int]) -> None:
    sink, port = smtp_server
    channel = smtp_channel(port)
    results = [channel.send(email_message(f"run-{i}:send:email", to=f"c{i}@example.com")) for i in range(12)]
    assert results == [Sent(message_id_for(f"run-{i}:send:email", "shop.example")) for i in range(12)]
    assert channel.connections_opened == 1 and len(sink.sessions) == 1
    received = [email.message_from_bytes(e.original_content, policy=default_policy) for e in sink.envelopes]
    assert [m["X-Touchline-Message-Id"] for m in received] == [f"run-{i}:send:email" for i in range(12)]
    assert [e.rcpt_tos for e in sink.envelopes] == [[f"c{i}@example.com"] for i in range(12)]
    channel.end_batch()  # the outbox ends its batch: the next send opens a new session
    assert isinstance(channel.send(email_message("next")), Sent)
    assert channel.connections_opened == 2 and len(sink.sessions) == 2


def test_smtp_refusal_keeps_the_session_and_a_cap_opens_a_new_one(smtp_server: tuple[SmtpSink, int]) -> None:
    sink, port = smtp_server
    channel = smtp_channel(port, max_messages_per_connection=3)
    outcomes = [channel.send(email_message(f"k{i}", to="nobody@example.com" if i == 1 else f"c{i}@example.com"))
                for i in range(7)]
    assert [type(o).__name__ for o in outcomes] == ["Sent", "Failed", "Sent", "Sent", "Sent", "Sent", "Sent"]
    assert len(sink.envelopes) == 6
    assert channel.connections_opened == 2  # three accepted messages, then a new session for the next three


def test_smtp_reconnects_when_the_server_dropped_the_idle_session() -> None:
    sink, port = SmtpSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    channel = smtp_channel(port)
    try:
        assert isinstance(channel.send(email_message("before")), Sent)
        controller.stop()  # the server goes away and closes every session (as an idle timeout would)
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        after = channel.send(email_message("after"))
    finally:
        controller.stop()
    assert after == Sent(message_id_for("after", "shop.example"))
    ids = [email.message_from_bytes(e.original_content, policy=default_policy)["X-Touchline-Message-Id"]
           for e in sink.envelopes]
    assert ids == ["before", "after"]  # each message once
    assert channel.connections_opened == 2


# --- a local HTTP server speaking like a provider -----------------------------------------------------------

@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class ProviderServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=list)  # consumed in order; the last one repeats

    def reply(self, status: int, body: Any) -> None:
        self.replies.append((status, body))


@pytest.fixture()
def provider() -> Iterator[ProviderServer]:
    state = ProviderServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                           self.rfile.read(length)))
            status, body = state.replies.pop(0) if len(state.replies) > 1 else (state.replies or [(200, {})])[0]
            raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sms(key: str = "run-1:step-3:sms", *, kind: str = "transactional", locale: str = "ko",
        text: str = "주문하신 상품이 출발했어요", marking: AdMarking | None = None) -> OutboundMessage:
    content = RenderedContent(locale=locale, text=text)
    if marking is not None:
        marked = as_sent("sms", kind, content, marking)  # type: ignore[arg-type]
        assert isinstance(marked, RenderedContent)
        content = marked
    return OutboundMessage(idempotency_key=key, channel="sms", to="+821012345678", kind=kind,  # type: ignore[arg-type]
                           content=content)


# --- Twilio ------------------------------------------------------------------------------------------------

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"


def twilio(provider: ProviderServer, **kw: Any) -> TwilioSmsChannel:
    config = TwilioConfig(account_sid=TWILIO_SID, auth_token="secret-token", from_number="+15005550006",
                          base_url=provider.url, **kw)
    return TwilioSmsChannel(config, timeout=5)


def test_twilio_wire_format_and_201(provider: ProviderServer) -> None:
    provider.reply(201, {"sid": "SM1234567890abcdef1234567890abcdef", "status": "queued", "account_sid": TWILIO_SID})
    with twilio(provider) as channel:
        result = channel.send(sms())
    assert result == Sent("SM1234567890abcdef1234567890abcdef")
    (request,) = provider.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    basic = base64.b64encode(f"{TWILIO_SID}:secret-token".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert request.headers["i-twilio-idempotency-token"] == "run-1:step-3:sms"
    assert request.form() == {"To": "+821012345678", "From": "+15005550006", "Body": "주문하신 상품이 출발했어요"}


def test_twilio_korean_advertising_gets_prefix_and_opt_out_line(provider: ProviderServer) -> None:
    provider.reply(201, {"sid": "SM1"})
    marking = AdMarking(sender_name="터치라인샵", opt_out_line="무료수신거부 080-123-4567")
    channel = twilio(provider)
    assert channel.send(sms(kind="advertising", text="오늘만 20% 할인", marking=marking)) == Sent("SM1")
    assert provider.requests[0].form()["Body"] == "(광고)터치라인샵 오늘만 20% 할인\n무료수신거부 080-123-4567"
    assert channel.send(sms(kind="advertising", locale="en", text="20% off today", marking=marking)) == Sent("SM1")
    assert provider.requests[1].form()["Body"] == "20% off today"
    # Marked once: a text that already carries the marking keeps it as it is.
    again = as_sent("sms", "advertising", RenderedContent("ko", text=provider.requests[0].form()["Body"]), marking)
    assert isinstance(again, RenderedContent)
    assert again.text == "(광고)터치라인샵 오늘만 20% 할인\n무료수신거부 080-123-4567"
    # Without an opt-out number a Korean advertising SMS would be unlawful: not sent.
    unmarked = as_sent("sms", "advertising", RenderedContent("ko", text="x"), AdMarking())
    assert unmarked == Skipped("missing_opt_out_line")
    assert len(provider.requests) == 2


@pytest.mark.parametrize(("status", "body", "retryable", "fragment"), [
    (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, True, "20429"),
    (503, {"code": 20503, "message": "Service Unavailable", "status": 503}, True, "20503"),
    (400, {"code": 21211, "message": "The 'To' number +8210 is not a valid phone number.", "status": 400,
           "more_info": "https://www.twilio.com/docs/errors/21211"}, False, "21211"),
    (401, {"code": 20003, "message": "Authentication Error", "status": 401}, False, "Authentication Error"),
])
def test_twilio_errors(provider: ProviderServer, status: int, body: dict, retryable: bool, fragment: str) -> None:
    provider.reply(status, body)
    result = twilio(provider).send(sms())
    assert isinstance(result, Failed)
    assert result.retryable is retryable
    assert fragment in result.reason


def test_http_adapters_never_raise_on_connection_errors() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    channels: list[Channel] = [
        TwilioSmsChannel(TwilioConfig(TWILIO_SID, "t", from_number="+1", base_url=dead), timeout=2),
        NhnAlimTalkChannel(NhnAlimTalkConfig("app", "secret", "sender", base_url=dead), timeout=2),
        WebhookChannel(WebhookConfig(url=dead + "/hook", secret="s"), timeout=2),
    ]
    for channel in channels:
        message = alimtalk() if isinstance(channel, NhnAlimTalkChannel) else sms()
        result = channel.send(message)
        assert isinstance(result, Failed) and result.retryable, (channel, result)


def test_http_adapter_timeout_is_retryable(provider: ProviderServer) -> None:
    provider.reply(201, {"sid": "SM1"})

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(slow))
    result = TwilioSmsChannel(TwilioConfig(TWILIO_SID, "t", from_number="+1", base_url=provider.url),
                              client=client).send(sms())
    assert isinstance(result, Failed) and result.retryable and "timeout" in result.reason


# --- NHN Cloud AlimTalk ---------------------------------------------------------------------------------------

def alimtalk(kind: str = "transactional", code: str | None = "ORDER_SHIPPED") -> OutboundMessage:
    content = RenderedContent(locale="ko", text="김민지님, 주문하신 상품이 출발했어요", template_code=code,
                              params={"name": "김민지", "orderNo": "A-1001"})
    return OutboundMessage(idempotency_key="run-1:step-4:messenger", channel="messenger", to="+821012345678",
                           kind=kind, content=content)  # type: ignore[arg-type]


def nhn(provider: ProviderServer) -> NhnAlimTalkChannel:
    return NhnAlimTalkChannel(NhnAlimTalkConfig(app_key="APPKEY1", secret_key="SECRET1", sender_key="S" * 40,
                                                base_url=provider.url), timeout=5)


NHN_OK = {"header": {"resultCode": 0, "resultMessage": "success", "isSuccessful": True},
          "message": {"requestId": "20240503120000abcDEF01", "senderGroupingKey": None,
                      "sendResults": [{"recipientSeq": 1, "recipientNo": "01012345678", "resultCode": 0,
                                       "resultMessage": "SUCCESS", "recipientGroupingKey": "run-1:step-4:messenger"}]}}


def test_nhn_alimtalk_wire_format(provider: ProviderServer) -> None:
    provider.reply(200, NHN_OK)
    assert nhn(provider).send(alimtalk()) == Sent("20240503120000abcDEF01:1")
    (request,) = provider.requests
    assert request.path == "/alimtalk/v2.3/appkeys/APPKEY1/messages"
    assert request.headers["x-secret-key"] == "SECRET1"
    assert request.headers["x-nc-api-idempotency-key"] == "run-1:step-4:messenger"
    assert request.headers["content-type"] == "application/json;charset=UTF-8"
    assert request.json() == {
        "senderKey": "S" * 40,
        "templateCode": "ORDER_SHIPPED",
        "recipientList": [{"recipientNo": "01012345678", "templateParameter": {"name": "김민지", "orderNo": "A-1001"},
                           "recipientGroupingKey": "run-1:step-4:messenger"}],
    }


def test_nhn_alimtalk_errors_and_skips(provider: ProviderServer) -> None:
    provider.reply(200, {"header": {"resultCode": -3000, "resultMessage": "Invalid template code",
                                    "isSuccessful": False}})
    refused = nhn(provider).send(alimtalk())
    assert isinstance(refused, Failed) and not refused.retryable and "-3000" in refused.reason
    provider.replies[:] = [(200, {**NHN_OK, "message": {**NHN_OK["message"], "sendResults": [
        {"recipientSeq": 1, "recipientNo": "010", "resultCode": -1021, "resultMessage": "Invalid recipient"}]}})]
    bad_recipient = nhn(provider).send(alimtalk())
    assert isinstance(bad_recipient, Failed) and "-1021" in bad_recipient.reason
    provider.replies[:] = [(500, {"header": {"resultCode": -9999, "resultMessage": "internal error",
                                             "isSuccessful": False}})]
    server_error = nhn(provider).send(alimtalk())
    assert isinstance(server_error, Failed) and server_error.retryable
    provider.replies[:] = [(429, {})]
    assert nhn(provider).send(alimtalk()).retryable  # type: ignore[union-attr]
    count = len(provider.requests)
    assert nhn(provider).send(alimtalk(kind="advertising")) == Skipped("alimtalk_informational_only")
    assert nhn(provider).send(alimtalk(code=None)) == Skipped("no_provider_template")
    assert len(provider.requests) == count


def test_kr_national_number() -> None:
    assert kr_national_number("+82 10-1234-5678") == "01012345678"
    assert kr_national_number("01012345678") == "01012345678"
    assert kr_national_number("+14155550100") == "14155550100"


# --- WhatsApp Cloud API -----------------------------------------------------------------------------------

def whatsapp(provider: ProviderServer) -> WhatsAppCloudChannel:
    return WhatsAppCloudChannel(WhatsAppConfig(phone_number_id="1234567890", access_token="EAAG-token",
                                               base_url=provider.url), timeout=5)


def test_whatsapp_template_and_text_wire_format(provider: ProviderServer) -> None:
    ok = {"messaging_product": "whatsapp", "contacts": [{"input": "821012345678", "wa_id": "821012345678"}],
          "messages": [{"id": "wamid.HBgLODIxMDEyMzQ1Njc4FQIAERgS"}]}
    provider.reply(200, ok)
    channel = whatsapp(provider)
    assert channel.send(alimtalk()) == Sent("wamid.HBgLODIxMDEyMzQ1Njc4FQIAERgS")
    request = provider.requests[0]
    assert request.path == "/v20.0/1234567890/messages"
    assert request.headers["authorization"] == "Bearer EAAG-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "821012345678",
        "biz_opaque_callback_data": "run-1:step-4:messenger", "type": "template",
        "template": {"name": "ORDER_SHIPPED", "language": {"code": "ko"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "name", "text": "김민지"},
                                            {"type": "text", "parameter_name": "orderNo", "text": "A-1001"}]}]},
    }
    channel.send(alimtalk(code=None))
    assert provider.requests[1].json()["text"] == {"preview_url": False, "body": "김민지님, 주문하신 상품이 출발했어요"}


@pytest.mark.parametrize(("status", "code", "retryable"), [(400, 131026, False), (400, 130429, True),
                                                           (500, 131000, True), (401, 190, False)])
def test_whatsapp_errors(provider: ProviderServer, status: int, code: int, retryable: bool) -> None:
    provider.reply(status, {"error": {"message": "boom", "type": "OAuthException", "code": code,
                                      "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
    result = whatsapp(provider).send(alimtalk())
    assert isinstance(result, Failed) and result.retryable is retryable and str(code) in result.reason


# --- push: FCM HTTP v1 -----------------------------------------------------------------------------------

FCM_TOKEN = "fSx1-device-token:APA91bH" + "x" * 40


def push_message(key: str = "5b0e7c1e-5d7a-5d1e-9a43-2b6f6f0d7c11", *, kind: str = "advertising",
                 locale: str = "ko") -> OutboundMessage:
    content = as_sent("push", kind, RenderedContent(  # type: ignore[arg-type]
        locale=locale, title="장바구니에 담긴 니트", body="오늘 주문하면 내일 도착해요", url="https://shop.example/cart"),
        AdMarking())
    assert isinstance(content, RenderedContent)
    return OutboundMessage(
        idempotency_key=key, channel="push", to=FCM_TOKEN, kind=kind,  # type: ignore[arg-type]
        content=content,
        data={"journey_id": "cart", "run_id": "r1", "template": "cart-push", "missing": None})


def fcm(provider: ProviderServer, **kw: Any) -> FcmChannel:
    return FcmChannel(FcmConfig(project_id="touchline-shop", access_token="ya29.static", base_url=provider.url, **kw),
                      timeout=5)


def test_fcm_v1_wire_format(provider: ProviderServer) -> None:
    provider.reply(200, {"name": "projects/touchline-shop/messages/0:1500415314455276%31bd1c9631bd1c96"})
    channel = fcm(provider, android_channel_id="marketing")
    assert isinstance(channel, Channel)
    assert channel.send(push_message()) == Sent("projects/touchline-shop/messages/0:1500415314455276%31bd1c9631bd1c96")
    (request,) = provider.requests
    assert request.path == "/v1/projects/touchline-shop/messages:send"
    assert request.headers["authorization"] == "Bearer ya29.static"
    assert request.headers["content-type"] == "application/json; charset=UTF-8"
    key = "5b0e7c1e-5d7a-5d1e-9a43-2b6f6f0d7c11"
    assert request.json() == {"message": {
        "token": FCM_TOKEN,
        "notification": {"title": "(광고) 장바구니에 담긴 니트", "body": "오늘 주문하면 내일 도착해요"},
        "data": {"journey_id": "cart", "run_id": "r1", "template": "cart-push", "touchline_message_id": key,
                 "url": "https://shop.example/cart"},
        "android": {"priority": "NORMAL", "notification": {"channel_id": "marketing"}},
        "apns": {"headers": {"apns-collapse-id": key}},
        "webpush": {"fcm_options": {"link": "https://shop.example/cart"}},
    }}
    # Transactional: no ad prefix, high priority; a key too long for APNs gets no collapse id.
    channel.send(push_message("k" * 80, kind="transactional"))
    second = provider.requests[1].json()["message"]
    assert second["notification"]["title"] == "장바구니에 담긴 니트"
    assert second["android"]["priority"] == "HIGH" and "apns" not in second
    assert second["data"]["touchline_message_id"] == "k" * 80


def test_fcm_skips_without_token_or_text(provider: ProviderServer) -> None:
    channel = fcm(provider)
    assert channel.send(OutboundMessage("k", "push", "", RenderedContent("ko", title="t", body="b"))) == \
        Skipped("no_address")
    assert channel.send(OutboundMessage("k", "push", FCM_TOKEN, RenderedContent("ko"))) == Skipped("empty_body")
    assert provider.requests == []


def _fcm_error(status: int, grpc_status: str, error_code: str | None) -> dict[str, Any]:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    return {"error": {"code": status, "message": "boom", "status": grpc_status,
                      "details": details if error_code else []}}


@pytest.mark.parametrize(("status", "grpc_status", "error_code", "retryable"), [
    (404, "NOT_FOUND", "UNREGISTERED", False), (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", False),
    (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", False), (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", True),
    (503, "UNAVAILABLE", "UNAVAILABLE", True), (500, "INTERNAL", None, True), (401, "UNAUTHENTICATED", None, False),
])
def test_fcm_errors(provider: ProviderServer, status: int, grpc_status: str, error_code: str | None,
                    retryable: bool) -> None:
    provider.reply(status, _fcm_error(status, grpc_status, error_code))
    result = fcm(provider).send(push_message())
    assert isinstance(result, Failed) and result.retryable is retryable
    assert (error_code or grpc_status) in result.reason


def test_fcm_mints_tokens_from_a_service_account(provider: ProviderServer, tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    account = tmp_path / "service-account.json"
    account.write_text(json.dumps({
        "type": "service_account", "project_id": "touchline-shop", "private_key_id": "kid-1", "private_key": pem,
        "client_email": "push@touchline-shop.iam.gserviceaccount.com", "token_uri": provider.url + "/token"}))
    sent = {"name": "projects/touchline-shop/messages/1"}
    provider.reply(200, {"access_token": "ya29.minted-1", "expires_in": 3599, "token_type": "Bearer"})
    provider.reply(200, sent)
    provider.reply(200, sent)
    provider.reply(401, _fcm_error(401, "UNAUTHENTICATED", None))  # revoked: the next send mints again
    provider.reply(200, {"access_token": "ya29.minted-2", "expires_in": 3599, "token_type": "Bearer"})
    provider.reply(200, sent)
    channel = FcmChannel(FcmConfig(project_id="touchline-shop", service_account_file=str(account),
                                   base_url=provider.url), timeout=5)
    try:
        assert channel.send(push_message("a")) == Sent("projects/touchline-shop/messages/1")
        assert channel.send(push_message("b")) == Sent("projects/touchline-shop/messages/1")  # the cached token
        revoked = channel.send(push_message("c"))
        assert isinstance(revoked, Failed) and revoked.retryable
        assert channel.send(push_message("c")) == Sent("projects/touchline-shop/messages/1")
    finally:
        channel.close()
    paths = [r.path for r in provider.requests]
    send = "/v1/projects/touchline-shop/messages:send"
    assert paths == ["/token", send, send, send, "/token", send]
    bearers = [r.headers["authorization"] for r in provider.requests if r.path == send]
    assert bearers == ["Bearer ya29.minted-1"] * 3 + ["Bearer ya29.minted-2"]
    grant = provider.requests[0].form()
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    head, claims, signature = grant["assertion"].split(".")

    def unb64(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(unb64(head)) == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    payload = json.loads(unb64(claims))
    assert payload["iss"] == "push@touchline-shop.iam.gserviceaccount.com"
    assert payload["aud"] == provider.url + "/token"
    assert payload["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert payload["exp"] - payload["iat"] == 3600
    key.public_key().verify(unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


# --- webhook ---------------------------------------------------------------------------------------------

def test_webhook_signs_body_and_sends_idempotency_key(provider: ProviderServer) -> None:
    provider.reply(202, {"ok": True})
    now = dt.datetime(2024, 5, 3, 3, 0, tzinfo=dt.UTC)
    channel = WebhookChannel(WebhookConfig(url=provider.url + "/hooks/touchline", secret="whsec",
                                           headers=(("X-Shop", "demo"),)), timeout=5, clock=lambda: now)
    message = OutboundMessage(idempotency_key="run-1:step-5:webhook", channel="webhook", to="",
                              kind="transactional", profile_id="p1",
                              content=RenderedContent(locale="ko", text="hello"), data={"order": "A-1001"})
    assert channel.send(message) == Sent("run-1:step-5:webhook")
    (request,) = provider.requests
    assert request.path == "/hooks/touchline"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "run-1:step-5:webhook"
    assert request.headers["x-shop"] == "demo"
    assert request.headers["x-touchline-timestamp"] == str(int(now.timestamp()))
    assert verify_signature("whsec", request.body, request.headers["x-touchline-timestamp"],
                            request.headers["x-touchline-signature"], now=now)
    assert not verify_signature("other", request.body, request.headers["x-touchline-timestamp"],
                                request.headers["x-touchline-signature"], now=now)
    assert not verify_signature("whsec", request.body, request.headers["x-touchline-timestamp"],
                                request.headers["x-touchline-signature"], now=now + dt.timedelta(hours=1))
    assert request.json() == {"id": "run-1:step-5:webhook", "channel": "webhook", "kind": "transactional", "to": "",
                              "profile_id": "p1", "content": {"locale": "ko", "text": "hello"},
                              "data": {"order": "A-1001"}}


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False), (410, False)])
def test_webhook_errors(provider: ProviderServer, status: int, retryable: bool) -> None:
    provider.reply(status, {"error": "nope"})
    result = WebhookChannel(WebhookConfig(url=provider.url, secret="s"), timeout=5).send(sms())
    assert isinstance(result, Failed) and result.retryable is retryable


# --- memory ----------------------------------------------------------------------------------------------

def test_memory_channel_records_once_per_idempotency_key() -> None:
    channel = MemoryChannel("in_app")
    assert isinstance(channel, Channel)
    first = channel.send(sms("k1"))
    assert channel.send(sms("k1", text="changed")) == first
    second = channel.send(sms("k2"))
    assert isinstance(first, Sent) and isinstance(second, Sent) and first != second
    assert len(channel) == 2
    assert [m.idempotency_key for m in channel.messages] == ["k1", "k2"]
    assert channel.messages[0].content.text == "주문하신 상품이 출발했어요"
    assert channel.get("k1").provider_id == first.provider_id  # type: ignore[union-attr]
    assert len(channel.inbox("+821012345678")) == 2
    assert channel.send(OutboundMessage("k3", "in_app", "", RenderedContent("ko"))) == Skipped("no_address")


def test_memory_channel_is_thread_safe() -> None:
    channel = MemoryChannel()
    threads = [threading.Thread(target=lambda i=i: [channel.send(sms(f"k{j % 50}")) for j in range(200)])
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(channel) == 50


# --- the registry ----------------------------------------------------------------------------------------

def test_registry_builds_fcm_push_from_settings(tmp_path: Any) -> None:
    from touchline.messaging.channels.registry import DevChannel, build_channels
    from touchline.settings import Settings

    configured = build_channels(Settings(data_dir=tmp_path, fcm_project_id="touchline-shop",
                                         fcm_access_token="ya29.x", dev_channels=True))
    push = configured["push"]
    assert isinstance(push, FcmChannel) and push.url == "https://fcm.googleapis.com/v1/projects/touchline-shop/messages:send"
    push.close()
    assert isinstance(build_channels(Settings(data_dir=tmp_path, dev_channels=True))["push"], DevChannel)
    assert "push" not in build_channels(Settings(data_dir=tmp_path, fcm_project_id="touchline-shop"))  # no token
