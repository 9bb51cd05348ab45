"""The official client libraries, unchanged, against a real Touchline server on a local port.

segment-analytics-python and rudder-sdk-python treat anything but a 2xx (Segment) or exactly 200
(RudderStack) as a failure and retry it; these tests run them with a tiny retry budget and an
``on_error`` hook, so a wrong status shows up as a recorded error instead of a slow retry loop.
"""

from __future__ import annotations

import atexit
import datetime as dt
import gzip
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import post as segment_post

from live_server import LiveServer
from support import WRITE_KEY, basic

PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
LAPTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/126.0 Safari/537.36")


@dataclass
class Errors:
    """What a client library reported through ``on_error``."""

    calls: list[tuple[Exception, list[dict[str, Any]]]] = field(default_factory=list)

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        self.calls.append((error, batch))

    def describe(self) -> str:
        return "; ".join(f"{type(e).__name__}: {e}" for e, _ in self.calls)


def _finish(client: Any) -> None:
    """Deliver everything queued, stop the consumer thread, and forget the client's atexit hook."""
    client.flush()
    client.join()
    atexit.unregister(client.join)


def _customer_journey(client: Any, *, user_id: str, phone_anon: str, laptop_anon: str) -> list[str]:
    """One customer on two devices, the way an app and a website would report them; returns the
    messageIds in sending order. Timestamps are a minute apart so the timeline order is known."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)

    def at(minute: int) -> dt.datetime:
        return start + dt.timedelta(minutes=minute)

    def phone() -> dict[str, Any]:  # the libraries add context.library in place: a fresh dict each call
        return {"device": {"id": "dev-phone", "type": "ios"}, "userAgent": PHONE_UA, "locale": "ko-KR",
                "timezone": "Asia/Seoul"}

    def laptop() -> dict[str, Any]:
        return {"device": {"id": "dev-laptop"}, "userAgent": LAPTOP_UA}

    sent = [
        client.identify(user_id, traits={"email": "Kim@Example.com", "phone": "010-1234-5678", "name": "김민지"},
                        timestamp=at(0)),
        client.track(anonymous_id=phone_anon, event="상품 조회", properties={"sku": "KR-001", "price": 29900},
                     context=phone(), timestamp=at(1)),
        client.page(anonymous_id=phone_anon, name="홈", properties={"path": "/", "title": "홈 🏠"},
                    context=phone(), timestamp=at(2)),
        client.alias(previous_id=phone_anon, user_id=user_id, context=phone(), timestamp=at(3)),
        client.track(anonymous_id=laptop_anon, event="Added To Cart", properties={"sku": "KR-002", "qty": 2},
                     context=laptop(), timestamp=at(4)),
        client.identify(user_id, anonymous_id=laptop_anon, context=laptop(), timestamp=at(5)),
    ]
    for ok, _msg in sent:
        assert ok, "the client refused to queue a message"
    return [msg["messageId"] for _ok, msg in sent]


def _assert_one_merged_customer(live: LiveServer, message_ids: list[str], *, user_id: str, phone_anon: str,
                                laptop_anon: str) -> dict[str, Any]:
    view = live.profile("email:kim@example.com")
    assert view["user_id"] == user_id
    kinds = {(i["kind"], i["value"]) for i in view["identities"]}
    assert {
        ("user_id", user_id), ("anonymous_id", phone_anon), ("anonymous_id", laptop_anon),
        ("email", "kim@example.com"), ("phone", "+821012345678"),
        ("device_id", "dev-phone"), ("device_id", "dev-laptop"),
    } <= kinds
    assert view["traits"]["email"] == "kim@example.com"
    assert view["traits"]["phone"] == "+821012345678"
    assert view["traits"]["name"] == "김민지"

    # Every event from every device, exactly once, newest first.
    timeline = view["timeline"]
    assert [e["message_id"] for e in timeline] == message_ids[::-1]
    assert view["stats"]["event_count"] == len(message_ids)
    by_id = {e["message_id"]: e for e in timeline}
    assert by_id[message_ids[1]]["event"] == "상품 조회"
    assert by_id[message_ids[1]]["device_type"] == "mobile"
    assert by_id[message_ids[1]]["properties"] == {"sku": "KR-001", "price": 29900}
    assert by_id[message_ids[2]]["event"] == "홈"
    assert by_id[message_ids[4]]["device_id"] == "dev-laptop"
    assert by_id[message_ids[4]]["device_type"] == "desktop"
    assert {e["anonymous_id"] for e in timeline} >= {phone_anon, laptop_anon}

    # Any of the customer's identifiers reaches the same profile.
    for identifier in (user_id, f"anonymous_id:{phone_anon}", laptop_anon, "phone:010-1234-5678",
                       "+821012345678", "device_id:dev-laptop"):
        assert live.profile(identifier)["id"] == view["id"], identifier
    return view


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_segment_python_library(live: LiveServer, use_gzip: bool) -> None:
    errors = Errors()
    client = SegmentClient(write_key=WRITE_KEY, host=live.url, gzip=use_gzip, on_error=errors, max_retries=1,
                           upload_interval=0.05, timeout=10)
    ids = _customer_journey(client, user_id="u-kim", phone_anon="anon-phone", laptop_anon="anon-laptop")
    _finish(client)
    assert not errors.calls, errors.describe()

    before = _assert_one_merged_customer(live, ids, user_id="u-kim", phone_anon="anon-phone",
                                         laptop_anon="anon-laptop")
    assert before["timeline"][0]["channel"] == "server"  # analytics-python is a server library
    # The same view once the events have left staging for the event store.
    assert live.stores.pump() == len(ids)
    after = _assert_one_merged_customer(live, ids, user_id="u-kim", phone_anon="anon-phone",
                                        laptop_anon="anon-laptop")
    assert after["timeline"] == before["timeline"]


def test_segment_python_library_sync_mode(live: LiveServer) -> None:
    """sync_mode posts each call at once and raises on a non-2xx answer."""
    client = SegmentClient(write_key=WRITE_KEY, host=live.url, sync_mode=True, gzip=True, max_retries=0)
    ids = _customer_journey(client, user_id="u-kim", phone_anon="anon-phone", laptop_anon="anon-laptop")
    _assert_one_merged_customer(live, ids, user_id="u-kim", phone_anon="anon-phone", laptop_anon="anon-laptop")


def test_segment_library_reports_a_wrong_write_key_through_on_error(live: LiveServer) -> None:
    errors = Errors()
    client = SegmentClient(write_key="not-a-key", host=live.url, on_error=errors, max_retries=1,
                           upload_interval=0.05, timeout=10)
    client.track(anonymous_id="anon-x", event="Nope")
    _finish(client)
    assert len(errors.calls) == 1
    error, batch = errors.calls[0]
    assert getattr(error, "status", None) == 401
    assert [m["event"] for m in batch] == ["Nope"]


def test_the_libraries_log_why_a_wrong_key_is_refused(live: LiveServer) -> None:
    """Both libraries read ``code`` and ``message`` from an error body (``APIError(status, code, message)``);
    without them they logged ``unknown`` and the raw body."""
    for make in (SegmentClient, RudderClient):
        errors = Errors()
        client = make(write_key="not-a-key", host=live.url, on_error=errors, max_retries=1, upload_interval=0.05,
                      timeout=10)
        client.track(anonymous_id="anon-x", event="Nope")
        _finish(client)
        assert len(errors.calls) == 1, (make, errors.describe())
        error = errors.calls[0][0]
        assert (getattr(error, "status", None), getattr(error, "code", None), getattr(error, "message", None)) == \
            (401, "invalid_write_key", "unknown or revoked key"), (make, errors.describe())
        assert "invalid_write_key: unknown or revoked key (401)" in str(error)


def _rudder(live: LiveServer, errors: Errors, **options: Any) -> RudderClient:
    return RudderClient(write_key=WRITE_KEY, host=live.url, on_error=errors, max_retries=1,
                        upload_interval=0.05, timeout=10, **options)


@pytest.mark.parametrize("use_gzip", [True, False], ids=["gzip-default", "plain"])
def test_rudderstack_python_library(live: LiveServer, use_gzip: bool) -> None:
    assert RudderClient.DefaultConfig.gzip is True  # RudderStack compresses unless told not to
    errors = Errors()
    client = _rudder(live, errors, gzip=use_gzip)
    ids = _customer_journey(client, user_id="u-lee", phone_anon="r-anon-phone", laptop_anon="r-anon-laptop")
    _finish(client)
    # The library retries anything but a 200 and calls on_error when it gives up.
    assert not errors.calls, errors.describe()

    view = live.profile("u-lee")
    kinds = {(i["kind"], i["value"]) for i in view["identities"]}
    assert {("user_id", "u-lee"), ("anonymous_id", "r-anon-phone"), ("anonymous_id", "r-anon-laptop"),
            ("device_id", "dev-phone"), ("device_id", "dev-laptop")} <= kinds
    assert [e["message_id"] for e in view["timeline"]] == ids[::-1]  # each event arrived exactly once
    assert view["stats"]["event_count"] == len(ids)
    assert {e["device_type"] for e in view["timeline"] if e["device_id"]} == {"mobile", "desktop"}
    assert live.stores.pump() == len(ids)
    assert live.profile("anonymous_id:r-anon-laptop")["stats"]["event_count"] == len(ids)


def test_rudderstack_identify_traits_reach_the_profile(live: LiveServer) -> None:
    errors = Errors()
    client = _rudder(live, errors)
    ids = _customer_journey(client, user_id="u-kim", phone_anon="anon-phone", laptop_anon="anon-laptop")
    _finish(client)
    assert not errors.calls, errors.describe()
    _assert_one_merged_customer(live, ids, user_id="u-kim", phone_anon="anon-phone", laptop_anon="anon-laptop")


def _resend_batch() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {
        "sentAt": now,
        "batch": [
            {"type": "identify", "messageId": "rs-1", "userId": "u-park", "timestamp": now,
             "traits": {"email": "Park@Example.com", "name": "박서준"}},
            {"type": "track", "messageId": "rs-2", "userId": "u-park", "event": "Order Completed",
             "properties": {"total": 59800, "currency": "KRW"}, "timestamp": now},
            {"type": "page", "messageId": "rs-3", "anonymousId": "anon-park", "name": "주문 완료", "timestamp": now},
            {"type": "alias", "messageId": "rs-4", "previousId": "anon-park", "userId": "u-park", "timestamp": now},
        ],
    }


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_a_retried_batch_is_stored_once(live: LiveServer, use_gzip: bool) -> None:
    """A client whose first attempt timed out after the server stored it sends the same batch again."""
    body = orjson.dumps(_resend_batch())
    headers = {**basic(), "Content-Type": "application/json", "User-Agent": "analytics-python/2.4.0"}
    if use_gzip:
        body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
    first = live.http.post("/v1/batch", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"success": True, "accepted": 4, "duplicates": 0}
    for attempt in (1, 2):
        again = live.http.post("/v1/batch", content=body, headers={**headers, "X-Retry-Count": str(attempt)})
        assert again.status_code == 200, again.text  # a duplicate is success, or the client retries forever
        assert again.json() == {"success": True, "accepted": 0, "duplicates": 4}
    assert live.stores.pump() == 4
    view = live.profile("email:park@example.com")
    assert sorted(e["message_id"] for e in view["timeline"]) == ["rs-1", "rs-2", "rs-3", "rs-4"]
    assert view["stats"]["event_count"] == 4


def test_the_segment_library_request_function_resent_is_stored_once(live: LiveServer) -> None:
    """The library's own ``post`` (what its consumer calls on every retry), twice with one batch."""
    batch = _resend_batch()["batch"]
    responses = [segment_post(WRITE_KEY, host=live.url, gzip=True, timeout=10, retry_count=n, batch=batch)
                 for n in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert [r.json()["accepted"] for r in responses] == [4, 0]
    assert responses[1].json()["duplicates"] == 4
    assert live.profile("u-park")["stats"]["event_count"] == 4

