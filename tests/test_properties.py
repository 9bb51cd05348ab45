"""Property-based tests of ingestion: the models, the pure normalisers, and the tracking API.

Every example of one test shares one database, so messageIds (and the ids that name profiles) get a
fresh ``uuid4`` prefix per example; hypothesis may replay an example while shrinking, and a replay
must not look like a resend.

Inputs with a behaviour of their own (NUL characters are refused; numbers beyond 64 bits come back as
floats; date-times at the edge of years 1..9999) are kept out of the broad strategies (see ``EDGE
CASES`` below) and pinned by their own tests at the end of the file.
"""

from __future__ import annotations

import datetime as dt
import string
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from support import basic, bearer
from touchline.ingest.normalize import corrected_timestamp
from touchline.ingest.service import parse_items
from touchline.profiles.contacts import normalize_email, normalize_phone
from touchline.store.engines import Stores
from touchline.store.schema import event_staging

# PostgreSQL round trips cost more than SQLite's; fewer examples keep the file near 30 s in all.
HTTP_EXAMPLES = {"embedded": 40, "postgres": 15}


def _settings(backend: str) -> settings:
    return settings(
        max_examples=HTTP_EXAMPLES[backend],
        deadline=None,
        database=None,  # no example database: examples never replay against another test's data
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large],
    )


# --- strategies --------------------------------------------------------------------------------------

# EDGE CASES kept out of the broad strategies (each has its own test at the end of the file):
# - "\x00" in any string: PostgreSQL cannot store it, so every backend refuses the message (400);
# - integral numbers beyond 64 bits (1e30, 2**70): stored, and read back as floats;
# - date-times near year 1 or 9999, or a clock-skew correction that leaves 1..9999: the message is refused;
#   so is an event time before 1990 once corrected (test_dirty_data.py pins it, and the clamping of the future).
KOREAN = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
EMOJI = st.sampled_from(["😀", "🎉", "🛒", "❤️", "👍🏽", "🇰🇷", "👨‍👩‍👧"])
ANY_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.lists(st.one_of(ANY_CHAR, KOREAN, EMOJI), max_size=24).map("".join)
KOREAN_TEXT = st.lists(st.one_of(KOREAN, EMOJI, st.sampled_from(" -_")), min_size=1, max_size=16).map("".join)
NAME = st.one_of(KOREAN_TEXT, st.text(string.ascii_letters + " ", min_size=1, max_size=16)).filter(str.strip)
JSON_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSON_FLOAT = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False)

SCALARS = st.one_of(st.none(), st.booleans(), JSON_INT, JSON_FLOAT, TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
# Values that survive every store unchanged (see EDGE CASES): what a well-formed message carries.
SAFE_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), JSON_INT, JSON_FLOAT, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=10,
)

ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=9)), dt.timezone(dt.timedelta(hours=-5)),
                         dt.timezone(dt.timedelta(hours=5, minutes=30)), None])
DATETIMES = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 12, 31), timezones=ZONES)


def _iso(first: int, last: int) -> st.SearchStrategy[str]:
    within = st.datetimes(min_value=dt.datetime(first, 1, 1), max_value=dt.datetime(last, 12, 31), timezones=ZONES)
    return st.one_of(
        within.map(lambda d: d.isoformat()),
        within.map(lambda d: d.isoformat(timespec="milliseconds")),
        st.datetimes(min_value=dt.datetime(first, 1, 1), max_value=dt.datetime(last, 12, 31),
                     timezones=st.just(dt.UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    )


# Event times of well-formed messages, and the sentAt of their clients: a time corrected for clock skew
# (receivedAt - (sentAt - timestamp)) then stays after 2000 (older ones are refused; later than received
# ones are stored at receivedAt, flagged).
ISO = _iso(2015, 2060)
SENT_ISO = _iso(2015, 2035)
EPOCH = st.integers(min_value=0, max_value=2_900_000_000)
NOT_A_TIME = st.one_of(st.booleans(), st.text(string.ascii_letters, min_size=1, max_size=8),
                       st.lists(st.integers(), max_size=2), st.dictionaries(TEXT, TEXT, max_size=2))

# st.emails() is exact but slow (a big TLD list); this is plenty for ingestion.
EMAILS = st.builds(
    "{}@{}.{}".format,
    st.text(string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=12),
    st.one_of(st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=10), KOREAN_TEXT),
    st.sampled_from(["com", "co.kr", "kr", "한국", "COM", "io"]),
)

SEGMENT_KEYS = ["type", "messageId", "anonymousId", "userId", "timestamp", "originalTimestamp", "sentAt",
                "context", "integrations", "event", "name", "category", "properties", "traits", "groupId",
                "previousId"]
CONTEXT_KEYS = ["device", "traits", "library", "channel", "userAgent", "os", "timezone", "locale", "consent",
                "externalIds", "ip", "page"]
TIME_KEYS = {"timestamp", "originalTimestamp", "sentAt"}


def _fuzz_value(key: str) -> st.SearchStrategy[Any]:
    if key in TIME_KEYS:
        return st.one_of(st.none(), ISO, EPOCH, NOT_A_TIME)
    if key == "type":
        return st.one_of(st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "Track", ""]),
                         JSON)
    if key == "context":
        return st.one_of(JSON, st.dictionaries(st.sampled_from(CONTEXT_KEYS), JSON, max_size=5))
    if key == "traits":
        return st.one_of(JSON, st.dictionaries(st.sampled_from(["email", "phone", "consent", "kakao_id",
                                                                "timezone", "locale", "name"]),
                                               st.one_of(JSON, EMAILS, st.just("010-1234-5678")),
                                               max_size=4))
    return JSON


# A message-shaped object whose fields hold anything at all.
FUZZ_MESSAGE = st.lists(st.sampled_from(SEGMENT_KEYS), unique=True, max_size=9).flatmap(
    lambda keys: st.fixed_dictionaries({k: _fuzz_value(k) for k in keys})
)


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["a", "b", "c"]), KOREAN_TEXT.filter(str.strip)).map(
        lambda s: f"{prefix}-{s.strip()}")


CONTEXTS = st.fixed_dictionaries({}, optional={
    "device": st.fixed_dictionaries({"id": st.uuids().map(str)},
                                    optional={"type": st.sampled_from(["ios", "android", "desktop", "tablet"])}),
    "userAgent": st.sampled_from(["Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile/15E148",
                                  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"]),
    "library": st.sampled_from([{"name": "analytics.js", "version": "2.0"}, {"name": "analytics-python"}]),
    "channel": st.sampled_from(["browser", "mobile", "server", "kakao", "pos"]),
    "locale": st.sampled_from(["ko-KR", "en_US", "ja"]),
    "timezone": st.sampled_from(["Asia/Seoul", "America/New_York", "Not/AZone"]),
    "traits": st.dictionaries(TEXT, SAFE_JSON, max_size=3),
    "campaign": st.fixed_dictionaries({"name": KOREAN_TEXT}),
})
TRAITS = st.fixed_dictionaries({}, optional={
    "email": EMAILS, "phone": st.sampled_from(["010-1234-5678", "+82 10 9876 5432", "02-312-3456"]),
    "name": NAME, "plan": SAFE_JSON, "consent": st.fixed_dictionaries({"email": st.booleans()}),
})


@st.composite
def segment_message(draw: st.DrawFn, prefix: str) -> dict[str, Any]:
    """A valid Segment message, without messageId (the test assigns a fresh one)."""
    kind = draw(st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]))
    message: dict[str, Any] = {"type": kind}
    if kind == "alias":
        message["previousId"] = draw(_ids(prefix))
        message["userId"] = draw(_ids(prefix))
    else:
        who = draw(st.sampled_from(["user", "anon", "both"]))
        if who in ("user", "both"):
            message["userId"] = draw(_ids(prefix))
        if who in ("anon", "both"):
            message["anonymousId"] = draw(_ids(prefix))
    if kind == "track":
        message["event"] = draw(NAME)
    if kind in ("page", "screen"):
        message.update(draw(st.fixed_dictionaries({}, optional={"name": NAME, "category": NAME})))
    if kind == "group":
        message["groupId"] = draw(_ids(prefix))
    if kind in ("track", "page", "screen"):
        message["properties"] = draw(st.dictionaries(TEXT, SAFE_JSON, max_size=4))
    if kind in ("identify", "group"):
        message["traits"] = draw(TRAITS)
    message.update(draw(st.fixed_dictionaries({}, optional={
        "timestamp": ISO, "originalTimestamp": ISO, "sentAt": SENT_ISO, "context": CONTEXTS,
        "integrations": st.dictionaries(st.sampled_from(["All", "Mixpanel", "Braze"]), st.booleans()),
    })))
    return message


# Context shapes normalize() looks into, holding anything at all.
CONTEXT_JUNK = st.fixed_dictionaries({}, optional={
    "device": st.one_of(JSON, st.fixed_dictionaries({}, optional={"id": JSON, "type": JSON, "token": JSON})),
    "externalIds": st.one_of(JSON, st.lists(st.fixed_dictionaries({}, optional={"type": JSON, "id": JSON}),
                                            max_size=3)),
    "consent": st.one_of(JSON, st.fixed_dictionaries({"categoryPreferences": st.dictionaries(TEXT, JSON,
                                                                                            max_size=3)})),
    "library": st.one_of(JSON, st.fixed_dictionaries({"name": JSON})),
    "os": st.one_of(JSON, st.fixed_dictionaries({"name": JSON})),
    "traits": st.one_of(JSON, st.dictionaries(st.sampled_from(["email", "phone", "kakao_id", "pushToken",
                                                               "consent", "timezone", "locale"]), JSON)),
    "channel": JSON, "userAgent": JSON, "timezone": JSON, "locale": JSON,
})


@st.composite
def mutated_message(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message with a few fields dropped or replaced by anything, and junk in its context."""
    message = draw(segment_message("fz"))
    for key in draw(st.lists(st.sampled_from(SEGMENT_KEYS), unique=True, max_size=3)):
        if draw(st.booleans()):
            message.pop(key, None)
        else:
            message[key] = draw(_fuzz_value(key))
    if draw(st.booleans()):
        own = message.get("context") if isinstance(message.get("context"), dict) else {}
        message["context"] = {**own, **draw(CONTEXT_JUNK)}
    if message.get("type") in ("identify", "group") and draw(st.booleans()):
        message["traits"] = draw(_fuzz_value("traits"))
    return message


FUZZ_ITEM = st.one_of(JSON, FUZZ_MESSAGE, mutated_message(), mutated_message())


BAD_ITEMS: dict[str, st.SearchStrategy[Any]] = {
    "not an object": st.one_of(st.none(), st.booleans(), st.integers(), TEXT, st.lists(st.integers(), max_size=3)),
    "no ids": st.just({"type": "track", "event": "Orphan"}),
    "track without event": st.just({"type": "track", "anonymousId": "x", "event": "  "}),
    "unknown type": st.just({"type": "teleport", "anonymousId": "x"}),
    "id not a string": st.sampled_from([{"type": "identify", "userId": {"id": 1}},
                                        {"type": "identify", "userId": True},
                                        {"type": "page", "anonymousId": ["a"]}]),
    "bad timestamp": st.text(string.ascii_letters, min_size=1, max_size=8).map(
        lambda t: {"type": "track", "anonymousId": "x", "event": "E", "timestamp": t}),
    "properties not an object": st.just({"type": "track", "anonymousId": "x", "event": "E", "properties": [1]}),
    "alias without previousId": st.just({"type": "alias", "userId": "u"}),
    "group without groupId": st.just({"type": "group", "userId": "u"}),
    "id too long": st.just({"type": "track", "anonymousId": "x" * 1025, "event": "E"}),
    "event too long": st.just({"type": "track", "anonymousId": "x", "event": "가" * 513}),
    "over 32 KB": st.just({"type": "track", "anonymousId": "x", "event": "E", "properties": {"b": "x" * 33_000}}),
}


# --- helpers -------------------------------------------------------------------------------------------

def _check_error_body(response: Any, n_items: int | None) -> None:
    """A 4xx names what is wrong: per message (``index``, ``field``, ``reason``) or for the request."""
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    if "index" not in detail[0]:  # the request as a whole: body, sentAt, size
        assert all(isinstance(d["field"], str) and isinstance(d["reason"], str) for d in detail), detail
        return
    assert response.status_code == 400, body
    for entry in detail:
        assert isinstance(entry["index"], int), entry
        assert isinstance(entry["field"], str) and entry["field"], entry
        assert isinstance(entry["reason"], str) and entry["reason"], entry
        if n_items is not None:
            assert 0 <= entry["index"] < n_items, entry
    if n_items is not None:
        bad = {entry["index"] for entry in detail}
        assert body["accepted"] + body["duplicates"] + len(bad) == n_items, body


def _staged(stores: Stores, message_ids: list[str]) -> int:
    with stores.read() as conn:
        query = sa.select(sa.func.count()).select_from(event_staging).where(event_staging.c.message_id.in_(message_ids))
        return int(conn.execute(query).scalar_one())


def _answer(response: Any) -> dict[str, Any]:
    """A 200's body without its data-quality flags, which a well-formed message gets only for an event time
    ahead of the server's clock (stored at the time received) or an e-mail trait that is none (EMAILS may
    draw a domain with a space in it: not applied)."""
    body = dict(response.json())
    assert all(f["field"] in ("timestamp", "traits.email") for f in body.pop("flagged", [])), body
    return body


def _nfc(value: Any) -> Any:
    """As ingestion stores text: NFC (keys too)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def _identifier_of(message: dict[str, Any]) -> str:
    if message.get("userId"):
        return "user_id:" + quote(message["userId"].strip(), safe="")
    return "anonymous_id:" + quote(message["anonymousId"].strip(), safe="")


# --- the API never answers 5xx -----------------------------------------------------------------------

def test_arbitrary_batches_never_cause_a_server_error(client: TestClient, backend: str) -> None:
    @_settings(backend)
    @given(items=st.lists(FUZZ_ITEM, max_size=6),
           extra=st.fixed_dictionaries({}, optional={"sentAt": st.one_of(ISO, NOT_A_TIME, st.none()),
                                                     "context": JSON, "integrations": JSON, "writeKey": JSON}))
    def run(items: list[Any], extra: dict[str, Any]) -> None:
        response = client.post("/v1/batch", json={**extra, "batch": items}, headers=basic())
        event(f"status {response.status_code}")
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200:
            body = response.json()
            assert body["success"] is True
            assert body["accepted"] + body["duplicates"] == len(items)
        else:
            _check_error_body(response, len(items))

    run()


def test_arbitrary_single_calls_never_cause_a_server_error(client: TestClient, backend: str) -> None:
    @_settings(backend)
    @given(path=st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]), body=FUZZ_ITEM)
    def run(path: str, body: Any) -> None:
        response = client.post(f"/v1/{path}", json=body, headers=basic())
        event(f"status {response.status_code}")
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200:
            assert response.json()["success"] is True
        else:
            _check_error_body(response, 1 if isinstance(body, dict) else None)

    run()


@settings(max_examples=100, deadline=None, database=None)
@given(items=st.lists(FUZZ_ITEM, max_size=8), sent_at=st.one_of(st.none(), DATETIMES))
def test_parse_items_partitions_any_input(items: list[Any], sent_at: dt.datetime | None) -> None:
    """The validator alone, at many more examples than HTTP allows: no exception, and every item
    is either one good event or at least one error with its index."""
    received = dt.datetime.now(dt.UTC)
    sent = sent_at.replace(tzinfo=dt.UTC) if sent_at and sent_at.tzinfo is None else sent_at
    good, bad = parse_items(items, received_at=received, batch_sent_at=sent, default_type=None,
                            max_event_bytes=32 * 1024, phone_region="KR")
    good_idx = [e.index for e in good]
    event(f"{len(good)} good of {len(items)}")
    bad_idx = {b["index"] for b in bad}
    assert len(good_idx) == len(set(good_idx))
    assert set(good_idx) | bad_idx == set(range(len(items)))
    assert not set(good_idx) & bad_idx
    for normalized in good:
        assert normalized.timestamp.tzinfo is not None
        assert normalized.message_id


# --- well-formed messages --------------------------------------------------------------------------

def test_well_formed_messages_are_accepted_and_a_resend_is_all_duplicates(client: TestClient, stores: Stores,
                                                                          backend: str) -> None:
    @_settings(backend)
    @given(data=st.data(), batch_sent_at=st.one_of(st.none(), SENT_ISO))
    def run(data: st.DataObject, batch_sent_at: str | None) -> None:
        prefix = uuid.uuid4().hex[:12]
        messages = data.draw(st.lists(segment_message(prefix), min_size=1, max_size=6), label="messages")
        for i, message in enumerate(messages):
            message["messageId"] = f"{prefix}-{i}"
        ids = [m["messageId"] for m in messages]
        body: dict[str, Any] = {"batch": messages}
        if batch_sent_at is not None:
            body["sentAt"] = batch_sent_at

        first = client.post("/v1/batch", json=body, headers=basic())
        assert first.status_code == 200, first.text
        assert _answer(first) == {"success": True, "accepted": len(messages), "duplicates": 0}
        assert _staged(stores, ids) == len(messages)

        again = client.post("/v1/batch", json=body, headers=basic())
        assert again.status_code == 200, again.text
        assert _answer(again) == {"success": True, "accepted": 0, "duplicates": len(messages)}
        assert _staged(stores, ids) == len(messages)

        # What was stored reads back as sent.
        view = client.get(f"/v1/profiles/{_identifier_of(messages[0])}?timeline_limit=1000", headers=bearer())
        assert view.status_code == 200, view.text
        timeline = {e["message_id"]: e for e in view.json()["timeline"]}
        assert ids[0] in timeline
        for message in messages:
            stored = timeline.get(message["messageId"])
            if stored is None:
                continue  # another profile of this example
            assert stored["type"] == message["type"]
            if message["type"] in ("track", "page", "screen"):
                assert stored["properties"] == _nfc(message["properties"])
            if message["type"] == "track":
                assert stored["event"] == _nfc(message["event"])

    run()


def test_single_calls_of_well_formed_messages_are_accepted(client: TestClient, backend: str) -> None:
    @_settings(backend)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        prefix = uuid.uuid4().hex[:12]
        message = data.draw(segment_message(prefix), label="message")
        message["messageId"] = prefix
        path = message["type"] if data.draw(st.booleans(), label="with type") else message.pop("type")
        for expected in ({"accepted": 1, "duplicates": 0}, {"accepted": 0, "duplicates": 1}):
            response = client.post(f"/v1/{path}", json=message, headers=basic())
            assert response.status_code == 200, response.text
            assert _answer(response) == {"success": True, **expected}

    run()


# --- mixed batches -----------------------------------------------------------------------------------

@st.composite
def mixed_batch(draw: st.DrawFn, prefix: str) -> tuple[list[Any], set[int], int, int]:
    """(items, bad indices, unique good messageIds, good items repeating an earlier good messageId)."""
    plan = draw(st.lists(st.one_of(st.just("good"), st.just("repeat"), st.sampled_from(sorted(BAD_ITEMS))),
                         min_size=1, max_size=10))
    items: list[Any] = []
    bad: set[int] = set()
    good_ids: list[str] = []
    repeats = 0
    for i, kind in enumerate(plan):
        if kind == "repeat" and good_ids:
            item = draw(segment_message(prefix))
            item["messageId"] = draw(st.sampled_from(good_ids))
            repeats += 1
        elif kind in ("good", "repeat"):
            item = draw(segment_message(prefix))
            item["messageId"] = f"{prefix}-{i}"
            good_ids.append(item["messageId"])
        else:
            item = draw(BAD_ITEMS[kind])
            if isinstance(item, dict):
                item = dict(item)
                # A bad item may even carry a good item's messageId: it claims nothing.
                steal = draw(st.booleans()) and good_ids
                item["messageId"] = draw(st.sampled_from(good_ids)) if steal else f"{prefix}-bad-{i}"
            bad.add(i)
        items.append(item)
    return items, bad, len(good_ids), repeats


def test_mixed_batches_keep_exactly_the_good_items(client: TestClient, stores: Stores, backend: str) -> None:
    @_settings(backend)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        prefix = uuid.uuid4().hex[:12]
        items, bad, unique_good, repeats = data.draw(mixed_batch(prefix), label="batch")
        response = client.post("/v1/batch", json={"batch": items}, headers=basic())
        body = response.json()
        if not bad:
            assert response.status_code == 200, response.text
            assert _answer(response) == {"success": True, "accepted": unique_good, "duplicates": repeats}
            return
        assert response.status_code == 400, response.text
        assert body["accepted"] == unique_good
        assert body["duplicates"] == repeats
        assert {d["index"] for d in body["detail"]} == bad
        _check_error_body(response, len(items))
        good_ids = [m["messageId"] for i, m in enumerate(items) if i not in bad]
        assert _staged(stores, list(set(good_ids))) == unique_good

    run()


# --- pure functions --------------------------------------------------------------------------------

AWARE = st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=9)),
                                                dt.timezone(dt.timedelta(hours=-7, minutes=-30))]))


@settings(max_examples=300, deadline=None, database=None)
@given(ts=AWARE, sent=AWARE, received=AWARE)
def test_corrected_timestamp_is_segments_formula(ts: dt.datetime, sent: dt.datetime, received: dt.datetime) -> None:
    corrected = corrected_timestamp(ts, sent, received)
    assert corrected == received - (sent - ts)
    assert received - corrected == sent - ts  # the device's own gap is kept, anchored on our clock
    assert corrected_timestamp(ts, ts, received) == received
    assert corrected_timestamp(None, sent, received) == received
    assert corrected_timestamp(ts, None, received) == ts


REGIONS = st.sampled_from(["KR", "US", "JP", "GB", "DE", "IN", "BR"])
PHONES = st.one_of(
    st.from_regex(r"01[016789]-?[0-9]{3,4}-?[0-9]{4}", fullmatch=True),
    st.from_regex(r"\+82 ?10[ -]?[0-9]{4}[ -]?[0-9]{4}", fullmatch=True),
    st.from_regex(r"0[2-6][0-9]?-[0-9]{3,4}-[0-9]{4}", fullmatch=True),
    st.text("0123456789+-() .", max_size=20),
    st.integers(min_value=0, max_value=10**15).map(str),
    TEXT,
)


@settings(max_examples=400, deadline=None, database=None)
@given(raw=PHONES, region=REGIONS, other=REGIONS)
def test_normalize_phone_is_idempotent(raw: str, region: str, other: str) -> None:
    phone = normalize_phone(raw, region)
    if phone is None:
        return
    assert phone.startswith("+") and phone[1:].isdigit(), phone
    assert normalize_phone(phone, region) == phone
    assert normalize_phone(phone, other) == phone  # E.164 no longer depends on the region


@settings(max_examples=100, deadline=None, database=None)
@given(middle=st.from_regex(r"[0-9]{3,4}", fullmatch=True), last=st.from_regex(r"[0-9]{4}", fullmatch=True),
       sep=st.sampled_from(["-", " ", "", "."]), prefix=st.sampled_from(["010", "+82 10", "+8210", "82-10"]))
def test_korean_mobile_numbers_become_plus_82(middle: str, last: str, sep: str, prefix: str) -> None:
    raw = f"{prefix}{sep}{middle}{sep}{last}"
    if prefix == "82-10":  # without "+" a leading 82 is read as a national number in KR
        return
    assert normalize_phone(raw, "KR") == f"+8210{middle}{last}"


_CASES: list[Callable[[str], str]] = [str, str.upper, str.title, lambda s: f"  {s}\t", lambda s: s.swapcase()]


@settings(max_examples=200, deadline=None, database=None)
@given(raw=st.one_of(EMAILS, st.text(max_size=30), st.builds(lambda a, b: f"{a}@{b}.한국", KOREAN_TEXT,
                                                                  KOREAN_TEXT)),
       case=st.sampled_from(_CASES))
def test_normalize_email_is_idempotent_and_lower_case(raw: str, case: Callable[[str], str]) -> None:
    email = normalize_email(case(raw))
    if email is None:
        return
    assert email == email.lower()
    assert email == email.strip()
    assert normalize_email(email) == email


@given(value=st.one_of(st.none(), st.integers(), st.lists(st.text()), st.dictionaries(st.text(), st.text())))
@settings(max_examples=50, deadline=None, database=None)
def test_normalize_email_ignores_non_text(value: Any) -> None:
    assert normalize_email(value) is None


# --- EDGE CASES, pinned --------------------------------------------------------------------------------

EXTREME_TIMES = {
    "ts-year-1-kst": {"timestamp": "0001-01-01T00:00:00+09:00"},  # in UTC it is year 0
    "ts-year-9999-minus-9": {"timestamp": "9999-12-31T23:59:59-09:00"},  # in UTC it is year 10000
    "skew-below-year-1": {"timestamp": "0001-01-02T00:00:00Z", "sentAt": "9999-12-30T00:00:00Z"},
    "skew-above-year-9999": {"timestamp": "9999-12-30T00:00:00Z", "sentAt": "0001-01-02T00:00:00Z"},
    "sentAt-year-1-kst": {"timestamp": "2026-01-01T00:00:00Z", "sentAt": "0001-01-01T00:00:00+09:00"},
}


@pytest.mark.parametrize("extra", EXTREME_TIMES.values(), ids=EXTREME_TIMES.keys())
def test_extreme_date_times_are_rejected_item_by_item(extra: dict[str, str]) -> None:
    items = [{"type": "track", "anonymousId": "a", "event": "E", **extra}, {"type": "track", "anonymousId": "a",
                                                                           "event": "Fine"}]
    good, bad = parse_items(items, received_at=dt.datetime.now(dt.UTC), batch_sent_at=None, default_type=None,
                            max_event_bytes=32 * 1024, phone_region="KR")
    assert [e.index for e in good] == [1]
    assert [b["index"] for b in bad] == [0]


def test_extreme_batch_sent_at_is_a_400(client: TestClient) -> None:
    body = {"sentAt": "0001-01-01T00:00:00+09:00", "batch": [{"type": "track", "anonymousId": "a", "event": "E"}]}
    assert client.post("/v1/batch", json=body, headers=basic()).status_code == 400


def test_nul_characters_are_refused_alike_on_every_backend(client: TestClient) -> None:
    batch = [
        {"type": "track", "anonymousId": "nul", "event": "x\x00y"},
        {"type": "track", "anonymousId": "nul", "event": "E", "properties": {"note": "a\x00b"}},
        {"type": "track", "anonymousId": "nul", "event": "E", "properties": {"k\x00": 1}},
        {"type": "track", "anonymousId": "nul\x00", "event": "E"},
    ]
    response = client.post("/v1/batch", json={"batch": [*batch, {"type": "track", "anonymousId": "ok", "event": "E"}]},
                           headers=basic())
    assert response.status_code == 400, response.text
    assert response.json()["accepted"] == 1
    assert [d["index"] for d in response.json()["detail"]] == [0, 1, 2, 3]
    assert all("NUL" in d["reason"] for d in response.json()["detail"])


def test_huge_numbers_survive_the_round_trip(client: TestClient, stores: Stores) -> None:
    sent = {"a": 1e30, "b": 2**70, "c": -1.5e300}
    for n, body in enumerate([{"traits": sent}, {"traits": {"plan": "gold"}}]):
        response = client.post("/v1/identify", json={"userId": "big", "messageId": f"big-id-{n}", **body},
                               headers=basic())
        assert response.status_code == 200, response.text
    message = {"userId": "big", "event": "E", "messageId": "big-1", "properties": sent}
    assert client.post("/v1/track", json=message, headers=basic()).status_code == 200
    for _ in ("staged", "pumped"):
        response = client.get("/v1/profiles/big", headers=bearer())
        assert response.status_code == 200
        view = response.json()
        assert view["traits"]["plan"] == "gold"
        assert {k: view["traits"][k] for k in sent} == pytest.approx({k: float(v) for k, v in sent.items()})
        track = next(e for e in view["timeline"] if e["type"] == "track")
        assert track["properties"] == pytest.approx({k: float(v) for k, v in sent.items()})
        stores.pump()
