"""The conversations' pure rules, without a database: the status machine, placement (threading across
channels and e-mail's three failure shapes), round-robin routing, the channels' reply rules and the
measures. Open-ended inputs are property-based."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.conversations import metrics, routing, rules
from touchline.conversations.channel_rules import ReplyRefused, check_reply, reply_subject, sms_length
from touchline.conversations.placement import Candidate, Join, Start, normalize_subject, place, subjects_agree
from touchline.conversations.types import STATUSES, EmailHeaders

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
WINDOW = dt.timedelta(hours=24)

# --- the status machine ------------------------------------------------------------------------------


def test_allowed_transitions_and_their_events() -> None:
    open_ = rules.State("open")
    resolved = rules.transition(open_, "resolved", T0)
    assert resolved.after == rules.State("resolved", None, T0) and resolved.event == rules.RESOLVED_EVENT
    reopened = rules.transition(resolved.after, "open", T0 + HOUR)
    assert reopened.after == rules.State("open") and reopened.event == rules.REOPENED_EVENT
    snoozed = rules.transition(open_, "snoozed", T0, snoozed_until=T0 + HOUR)
    assert snoozed.after == rules.State("snoozed", T0 + HOUR) and snoozed.event is None
    assert rules.transition(snoozed.after, "pending", T0).after == rules.State("pending")


@pytest.mark.parametrize("wanted", ["pending", "snoozed"])
def test_a_resolved_conversation_must_be_reopened_first(wanted: str) -> None:
    with pytest.raises(rules.BadTransition) as caught:
        rules.transition(rules.State("resolved", None, T0), wanted, T0, snoozed_until=T0 + HOUR  # type: ignore[arg-type]
                         if wanted == "snoozed" else None)
    assert caught.value.field == "status" and "reopen" in caught.value.reason


def test_snooze_times_are_checked() -> None:
    for until, why in ((None, "needs"), (T0, "future"), (T0 + dt.timedelta(days=400), "within")):
        with pytest.raises(rules.BadTransition) as caught:
            rules.transition(rules.State("open"), "snoozed", T0, snoozed_until=until)
        assert caught.value.field == "snoozed_until" and why in caught.value.reason
    with pytest.raises(rules.BadTransition):
        rules.transition(rules.State("open"), "resolved", T0, snoozed_until=T0 + HOUR)


def test_a_snooze_that_ran_out_is_open() -> None:
    snoozed = rules.State("snoozed", T0 + HOUR)
    assert rules.effective(snoozed, T0).status == "snoozed"
    assert rules.effective(snoozed, T0 + HOUR).status == "open"
    # Asking for "open" then writes what it already is in effect.
    change = rules.transition(snoozed, "open", T0 + 2 * HOUR)
    assert change.changed and change.after == rules.State("open") and change.event is None


def test_customer_messages_open_the_conversation() -> None:
    for before in (rules.State("pending"), rules.State("snoozed", T0 + HOUR)):
        assert rules.on_customer_message(before, T0).after.status == "open"
    reopened = rules.on_customer_message(rules.State("resolved", None, T0), T0 + HOUR)
    assert reopened.after.status == "open" and reopened.event == rules.REOPENED_EVENT
    assert not rules.on_customer_message(rules.State("open"), T0).changed


actions = st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(-2, 5), st.integers(0, 3)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_the_machine_never_leaves_an_inconsistent_state(steps: list[tuple[str, int, int]]) -> None:
    """Whatever agents ask in whatever order: a state is consistent (resolved_at only when resolved,
    snoozed_until only when snoozed), refusals are exactly the transitions outside ALLOWED, and asking for
    the current status changes nothing."""
    state = rules.State("open")
    now = T0
    for wanted, snooze_hours, advance in steps:
        now += dt.timedelta(hours=advance)
        until = now + dt.timedelta(hours=snooze_hours) if wanted == "snoozed" else None
        current = rules.effective(state, now).status
        try:
            change = rules.transition(state, wanted, now, snoozed_until=until)  # type: ignore[arg-type]
        except rules.BadTransition as exc:
            if exc.field == "status":
                assert wanted != current and wanted not in rules.ALLOWED[current]
            else:
                assert wanted == "snoozed" and snooze_hours <= 0
            continue
        assert wanted == current or wanted in rules.ALLOWED[current]
        state = change.after
        assert state.status == wanted
        assert (state.resolved_at is not None) == (state.status == "resolved")
        assert (state.snoozed_until is not None) == (state.status == "snoozed")
        if wanted == current and wanted != "snoozed":
            assert change.event is None


def test_delivery_only_moves_forward() -> None:
    assert rules.advance_delivery("queued", "sent") == "sent"
    assert rules.advance_delivery("delivered", "sent") is None
    assert rules.advance_delivery("sent", "read") == "read"
    assert rules.advance_delivery("delivered", "failed") is None
    assert rules.advance_delivery("queued", "failed") == "failed"
    assert rules.advance_delivery("failed", "delivered") == "delivered"
    assert rules.advance_delivery("sent", "bogus") is None


# --- placement and threading ----------------------------------------------------------------------------


def c(cid: str, status: str = "open", *, at: dt.datetime = T0, subject: str | None = None,
      resolved_at: dt.datetime | None = None) -> Candidate:
    return Candidate(cid, status, at, subject, resolved_at)  # type: ignore[arg-type]


def test_subjects_normalise() -> None:
    assert normalize_subject("RE: Re[2]:  Fwd: 주문  문의 ") == "주문 문의"
    assert normalize_subject("답장: 회신: Order 123") == "order 123"
    assert normalize_subject("AW：  Hello") == "hello"
    assert normalize_subject(None) == ""
    assert subjects_agree("Re: Order 123", "order 123")
    assert subjects_agree(None, "anything") and subjects_agree("", "anything")
    assert not subjects_agree("Re: Order 123", "Return request")


@given(st.text(max_size=40), st.lists(st.sampled_from(["Re: ", "RE:", "Fwd: ", "답장: ", "FW:", "Re[3]: "]),
                                      max_size=4))
def test_reply_prefixes_never_change_the_topic(subject: str, prefixes: list[str]) -> None:
    once = normalize_subject(subject)
    assert normalize_subject(once) == once
    assert normalize_subject("".join(prefixes) + once) == once


def test_the_customers_active_conversation_wins_across_channels() -> None:
    got = place([c("old", "resolved", at=T0 - 10 * WINDOW, resolved_at=T0 - 9 * WINDOW), c("chat", at=T0 - HOUR)],
                now=T0, reopen_window=WINDOW)
    assert got == Join("chat", False, "the customer's active conversation")


def test_reopening_window() -> None:
    recent = c("r", "resolved", at=T0 - 2 * HOUR, resolved_at=T0 - HOUR)
    assert place([recent], now=T0, reopen_window=WINDOW) == Join("r", True, "resolved within the reopening window")
    old = c("o", "resolved", at=T0 - 3 * WINDOW, resolved_at=T0 - 2 * WINDOW)
    assert isinstance(place([old], now=T0, reopen_window=WINDOW), Start)
    assert isinstance(place([], now=T0, reopen_window=WINDOW), Start)


def test_a_hint_names_the_conversation() -> None:
    convs = [c("a", at=T0), c("b", "resolved", at=T0 - HOUR, resolved_at=T0 - HOUR)]
    assert place(convs, now=T0, reopen_window=WINDOW, hinted="b") == Join(
        "b", True, "the channel named this conversation; resolved within the reopening window")
    stale = [c("b", "resolved", at=T0 - 3 * WINDOW, resolved_at=T0 - 3 * WINDOW)]
    assert isinstance(place(stale, now=T0, reopen_window=WINDOW, hinted="b"), Start)


def test_email_shape_1_replies_join_their_conversation() -> None:
    """Every reply opening a new conversation: a reply that names a message of the conversation joins
    it, even when another conversation of the customer is more recent."""
    convs = [c("order", at=T0 - 5 * HOUR, subject="Order 123"), c("chat", at=T0 - HOUR)]
    got = place(convs, now=T0, reopen_window=WINDOW, referenced=["order"], subject="Re: Order 123")
    assert got == Join("order", False, "an e-mail reply to this conversation")


def test_email_shape_2_a_new_topic_sent_as_a_reply_is_a_new_conversation() -> None:
    convs = [c("order", subject="Order 123")]
    got = place(convs, now=T0, reopen_window=WINDOW, referenced=["order"], subject="Re: Return request")
    assert got == Start("a reply with a new subject: a new topic")
    # A fresh mail with a new subject does not join an active e-mail conversation either...
    assert isinstance(place(convs, now=T0, reopen_window=WINDOW, subject="Return request"), Start)
    # ...but continues a chat (no subject): one customer, one context.
    assert place([c("chat")], now=T0, reopen_window=WINDOW, subject="Return request") == Join(
        "chat", False, "the customer's active conversation")


def test_email_shape_3_replies_to_a_newsletter_stay_apart() -> None:
    """Replies from different people to one newsletter: the newsletter is no conversation's message
    (nothing referenced), and each sender's candidates are their own conversations only."""
    headers = EmailHeaders(message_id="<r1@mail>", in_reply_to="<news-42@shop>", references=("<news-42@shop>",))
    assert headers.is_reply and headers.referenced() == ["<news-42@shop>"]
    alice = place([], now=T0, reopen_window=WINDOW, referenced=[], subject="Re: Spring sale")
    bob = place([c("bob-earlier", subject="Spring sale")], now=T0, reopen_window=WINDOW, referenced=[],
                subject="Re: Spring sale")
    assert isinstance(alice, Start)
    assert bob == Join("bob-earlier", False, "the customer's active conversation")


def test_a_reply_to_a_long_resolved_conversation_starts_a_new_one() -> None:
    old = c("old", "resolved", at=T0 - 10 * WINDOW, subject="Order 1", resolved_at=T0 - 9 * WINDOW)
    assert isinstance(place([old], now=T0, reopen_window=WINDOW, referenced=["old"], subject="Re: Order 1"), Start)


def test_references_are_read_most_recent_first() -> None:
    headers = EmailHeaders("<c@x>", "<b@x>", ("<a@x>", "<b@x>"))
    assert headers.referenced() == ["<b@x>", "<a@x>"]


candidates = st.lists(st.builds(
    c, st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(STATUSES),
    at=st.integers(0, 2000).map(lambda m: T0 - dt.timedelta(hours=m)),
    subject=st.sampled_from([None, "Order 1", "Re: order 1", "Refund"]),
    resolved_at=st.one_of(st.none(), st.integers(0, 2000).map(lambda m: T0 - dt.timedelta(hours=m)))),
    max_size=6, unique_by=lambda x: x.id)


@settings(max_examples=400, deadline=None)
@given(candidates, st.one_of(st.none(), st.sampled_from(["a", "b", "zz"])),
       st.lists(st.sampled_from(["a", "c", "zz"]), max_size=3),
       st.sampled_from([None, "Order 1", "Fwd: Refund", "New"]))
def test_placement_only_joins_what_it_may(convs: list[Candidate], hinted: str | None, referenced: list[str],
                                          subject: str | None) -> None:
    """Whatever the customer's conversations: a message joins one of them or starts a new one; never a
    resolved one beyond the window; a reopen exactly when the target is resolved; an active hinted
    conversation always wins."""
    got = place(convs, now=T0, reopen_window=WINDOW, hinted=hinted, referenced=referenced, subject=subject)
    by_id = {x.id: x for x in convs}
    if isinstance(got, Join):
        target = by_id[got.conversation_id]
        assert got.reopen == (target.status == "resolved")
        if target.status == "resolved":
            assert target.resolved_at is not None and T0 - target.resolved_at <= WINDOW
    if hinted in by_id and by_id[hinted].status in rules.ACTIVE:
        assert got == Join(hinted, False, "the channel named this conversation")
    if hinted not in by_id and not any(r in by_id for r in referenced) and any(
            x.status in rules.ACTIVE and subjects_agree(subject, x.subject) for x in convs):
        assert isinstance(got, Join) and by_id[got.conversation_id].status in rules.ACTIVE


# --- routing ------------------------------------------------------------------------------------------


def m(uid: str, *, capacity: int = 3, load: int = 0, online: bool = True, languages: tuple[str, ...] = ()
      ) -> routing.Member:
    return routing.Member(uid, capacity, languages, T0 + HOUR if online else T0 - HOUR, load)


def team(*members: routing.Member, last: str | None = None, by_language: bool = False,
         channels: tuple[str, ...] = ()) -> routing.TeamRule:
    return routing.TeamRule("t", True, by_language, channels, members, last)


def test_round_robin_takes_turns() -> None:
    t = team(m("a"), m("b"), m("c"))
    assert routing.next_agent(t, language=None, now=T0) == "a"
    assert routing.next_agent(team(m("a"), m("b"), m("c"), last="a"), language=None, now=T0) == "b"
    assert routing.next_agent(team(m("a"), m("b"), m("c"), last="c"), language=None, now=T0) == "a"
    # Someone who left the team since: start from the beginning.
    assert routing.next_agent(team(m("a"), m("b"), last="gone"), language=None, now=T0) == "a"


def test_offline_and_full_agents_are_skipped() -> None:
    t = team(m("a", online=False), m("b", load=3, capacity=3), m("c"), last=None)
    assert routing.next_agent(t, language=None, now=T0) == "c"
    assert routing.next_agent(team(m("a", online=False), m("b", capacity=0)), language=None, now=T0) is None
    assert routing.next_agent(team(), language=None, now=T0) is None


def test_language_routing() -> None:
    t = team(m("en", languages=("en",)), m("ko", languages=("ko", "en")), by_language=True, last="ko")
    assert routing.next_agent(t, language="ko-KR", now=T0) == "ko"
    assert routing.next_agent(t, language="en", now=T0) == "en"
    assert routing.next_agent(t, language=None, now=T0) == "en"
    # Nobody speaks it: the conversation waits in the team's queue.
    assert routing.next_agent(t, language="ja", now=T0) is None
    # Without language routing anyone eligible takes it.
    assert routing.next_agent(team(m("en", languages=("en",))), language="ja", now=T0) == "en"


def test_the_first_auto_assigning_team_serving_the_channel() -> None:
    manual = routing.TeamRule("manual", False, False)
    sms = routing.TeamRule("sms", True, False, ("sms",))
    everyone = routing.TeamRule("all", True, False)
    assert routing.team_for([manual, sms, everyone], "sms") is sms
    assert routing.team_for([manual, sms, everyone], "email") is everyone
    assert routing.team_for([manual], "email") is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=6),
       st.integers(0, 20))
def test_round_robin_is_fair_among_the_eligible(shape: list[tuple[bool, int, int]], rounds: int) -> None:
    """Assigning in turns, each pick is eligible, and no eligible agent gets a second conversation before
    every eligible agent with room got one."""
    members = [m(f"u{i}", online=online, capacity=capacity, load=load) for i, (online, capacity, load) in
               enumerate(shape)]
    last = None
    loads = {x.user_id: x.load for x in members}
    given_now: dict[str, int] = {}
    for _ in range(rounds):
        current = tuple(routing.Member(x.user_id, x.capacity, x.languages, x.online_until, loads[x.user_id])
                        for x in members)
        pick = routing.next_agent(routing.TeamRule("t", True, False, (), current, last), language=None, now=T0)
        eligible = [x for x in current if routing.eligible(x, team(), None, T0)]
        if pick is None:
            assert not eligible
            break
        assert pick in {x.user_id for x in eligible}
        loads[pick] += 1
        given_now[pick] = given_now.get(pick, 0) + 1
        last = pick
        assert max(given_now.values()) - min(given_now.get(x.user_id, 0) for x in eligible) <= 1


# --- channel rules --------------------------------------------------------------------------------------


def test_sms_length() -> None:
    assert sms_length("Hello", korean=False).as_dict() == {"encoding": "GSM-7", "units": 5, "segments": 1,
                                                           "kind": "SMS"}
    assert sms_length("x" * 161, korean=False).segments == 2
    assert sms_length("€" * 80, korean=False).units == 160  # the extension table counts twice
    assert sms_length("안녕하세요", korean=False).encoding == "UCS-2"
    assert sms_length("안" * 71, korean=False).segments == 2
    assert sms_length("안" * 45, korean=True).kind == "SMS"  # 90 bytes in EUC-KR
    assert sms_length("안" * 46, korean=True).kind == "LMS"


def test_reply_rules() -> None:
    info = check_reply("sms", "배송 시작했어요", to="+821012345678", last_inbound_at=None, now=T0)
    assert info == {"sms": {"encoding": "EUC-KR", "units": 15, "segments": 1, "kind": "SMS"}}
    with pytest.raises(ReplyRefused) as caught:
        check_reply("sms", "안" * 1001, to="+821012345678", last_inbound_at=None, now=T0)
    assert caught.value.field == "body" and not caught.value.conflict
    with pytest.raises(ReplyRefused) as caught:
        check_reply("sms", "hi", to=None, last_inbound_at=None, now=T0)
    assert caught.value.code == "no_address"
    # WhatsApp: inside the 24 hours, text; outside, only a template.
    check_reply("whatsapp", "hi", to="8210", last_inbound_at=T0 - 23 * HOUR, now=T0)
    with pytest.raises(ReplyRefused) as caught:
        check_reply("whatsapp", "hi", to="8210", last_inbound_at=T0 - 25 * HOUR, now=T0)
    assert caught.value.conflict and caught.value.code == "window_closed" and "template" in caught.value.reason
    check_reply("whatsapp", "", to="8210", last_inbound_at=None, now=T0, template=True)
    check_reply("chat", "hi", to=None, last_inbound_at=None, now=T0)
    assert reply_subject("Order 1") == "Re: Order 1" and reply_subject("RE: x") == "RE: x"


# --- measures ---------------------------------------------------------------------------------------------


def test_measures() -> None:
    f = metrics.Facts
    started = [
        f("1", "chat", "resolved", T0, T0 + HOUR, "a", "t", T0 + dt.timedelta(minutes=2), T0 + HOUR),
        f("2", "sms", "open", T0 + HOUR, T0 + HOUR, "b", "t", T0 + HOUR + dt.timedelta(minutes=10), None),
        f("3", "sms", "open", T0 + 2 * HOUR, T0 + 2 * HOUR, None, None, None, None),
    ]
    out = metrics.inbox_stats(started, started[1:], now=T0 + 3 * HOUR, timezone="Asia/Seoul")
    assert out["conversations"] == {"started": 3, "by_channel": {"chat": 1, "sms": 2}, "resolved": 1}
    assert out["first_response"]["all"] == {"count": 2, "mean": 360.0, "median": 360.0, "p90": 600.0}
    assert out["first_response"]["by_agent"]["a"]["median"] == 120.0
    assert out["resolution"]["all"]["count"] == 1 and out["resolution"]["by_team"]["t"]["mean"] == 3600.0
    assert out["by_hour"]["all"][10] == 1  # 01:00 UTC is 10:00 in Seoul
    assert sum(out["by_hour"]["sms"]) == 2
    backlog = out["backlog"]
    assert backlog["total"] == 2 and backlog["unassigned"] == 1 and backlog["per_agent"] == {"b": 1}
    assert backlog["oldest_open_wait_seconds"] == 7200.0
    assert metrics.duration_summary([]) == {"count": 0, "mean": None, "median": None, "p90": None}
