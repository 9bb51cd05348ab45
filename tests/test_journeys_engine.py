"""The journey state machine: every node type against the signals that concern it, keyed waits, goals,
exits, splits, holdouts, time-of-day waits across time zones and DST, bounds, ids, and the
abandoned-cart journey end to end."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_helpers import ABANDONED_CART, T0, doc, drive, journey, run_for
from touchline.journeys import engine
from touchline.journeys.definition import parse
from touchline.journeys.engine import (
    CallWebhook,
    CancelTimer,
    Completed,
    Converted,
    EventReceived,
    Exited,
    Facts,
    MissingFact,
    RecordStep,
    RunState,
    ScheduleTimer,
    SegmentChanged,
    Send,
    Start,
    Stop,
    TimerFired,
    Transition,
    UpdateTraits,
    VersionMismatch,
    facts_needed,
    step,
)
from touchline.journeys.triggers import in_holdout

H = dt.timedelta(hours=1)
EXIT = {"type": "exit", "id": "done"}


def send(id: str = "s", next: str = "done", channel: str = "email", kind: str = "advertising") -> dict[str, Any]:
    return {"type": "send", "id": id, "channel": channel, "template": f"tpl-{id}", "kind": kind, "next": next}


def kinds(t: Transition) -> list[str]:
    return [c.type if not isinstance(c, RecordStep) else f"record:{c.node_id}:{c.outcome}" for c in t.commands]


def outcome_path(*transitions: Transition) -> list[str]:
    return [f"{c.node_id}:{c.outcome}" for t in transitions for c in t.of(RecordStep)]


# --- actions -------------------------------------------------------------------------------------------


def test_actions_run_in_one_call_until_the_exit() -> None:
    d = journey([
        send("s", next="traits"),
        {"type": "update_traits", "id": "traits", "traits": {"cart_reminded": True}, "next": "hook"},
        {"type": "webhook", "id": "hook", "url": "https://crm.example/h", "method": "PUT",
         "headers": {"X-Key": "k"}, "body": "{{ run.customer_id }}", "next": "done"},
        EXIT,
    ])
    t = step(d, run_for(d), Start(), T0)
    assert kinds(t) == ["record:s:entered", "send", "record:traits:entered", "update_traits",
                        "record:hook:entered", "webhook", "record:done:exit", "completed"]
    [s] = t.of(Send)
    assert (s.channel, s.template, s.kind, s.node_id, s.attempt) == ("email", "tpl-s", "advertising", "s", 1)
    assert t.of(UpdateTraits)[0].traits == {"cart_reminded": True}
    hook = t.of(CallWebhook)[0]
    assert (hook.url, hook.method, hook.headers, hook.body) == ("https://crm.example/h", "PUT", {"X-Key": "k"},
                                                                 "{{ run.customer_id }}")
    assert t.run.status == "completed" and t.run.node_id == "done" and t.run.ended_at == T0
    assert t.run.visited == 4 and t.run.wait is None
    assert t.of(Completed)[0].node_id == "done"


def test_preferred_channel_is_resolved_from_facts_or_left_to_the_dispatcher() -> None:
    d = journey([send(channel="preferred"), EXIT])
    assert step(d, run_for(d), Start(), T0).of(Send)[0].channel == "preferred"
    t = step(d, run_for(d), Start(), T0, Facts(preferred_channel="messenger"))
    assert t.of(Send)[0].channel == "messenger"


def test_start_is_idempotent_and_other_signals_wait_for_it() -> None:
    d = journey([{"type": "wait", "id": "w", "duration": "1h", "next": "done"}, EXIT])
    run = run_for(d)
    for signal in (TimerFired(node_id="w", attempt=1), EventReceived(name="X", at=T0),
                   SegmentChanged(segment_id="s", entered=True)):
        assert step(d, run, signal, T0) == Transition(run)
    started = step(d, run, Start(), T0).run
    assert step(d, started, Start(), T0 + H) == Transition(started)


def test_ended_runs_ignore_every_signal() -> None:
    d = journey([EXIT])
    done = step(d, run_for(d), Start(), T0).run
    assert done.status == "completed"
    for signal in (Start(), Stop(), TimerFired(node_id="done", attempt=1), EventReceived(name="X", at=T0)):
        assert step(d, done, signal, T0 + H).commands == ()


def test_version_mismatch_is_refused() -> None:
    d = journey([EXIT])
    newer = journey([EXIT], version=2)
    with pytest.raises(VersionMismatch):
        step(newer, run_for(d), Start(), T0)


def test_naive_now_is_refused() -> None:
    d = journey([EXIT])
    with pytest.raises(ValueError, match="aware"):
        step(d, run_for(d), Start(), T0.replace(tzinfo=None))


# --- waits: duration -----------------------------------------------------------------------------------


def test_duration_wait_schedules_a_timer_and_resumes_only_on_its_own_due_timer() -> None:
    d = journey([{"type": "wait", "id": "w", "duration": "2h", "next": "s"}, send(), EXIT])
    t = step(d, run_for(d), Start(), T0)
    assert kinds(t) == ["record:w:waiting", "schedule_timer"]
    [timer] = t.of(ScheduleTimer)
    assert (timer.at, timer.node_id, timer.attempt) == (T0 + 2 * H, "w", 1)
    run = t.run
    assert run.status == "waiting" and run.wait is not None and run.wait.timer_id == timer.id
    # early, stale or foreign timers change nothing
    assert step(d, run, TimerFired(node_id="w", attempt=1), T0 + H).commands == ()
    assert step(d, run, TimerFired(node_id="w", attempt=2), T0 + 3 * H).commands == ()
    assert step(d, run, TimerFired(node_id="other", attempt=1), T0 + 3 * H).commands == ()
    # unrelated events too
    assert step(d, run, EventReceived(name="Page Viewed", at=T0 + H), T0 + H).commands == ()
    t = step(d, run, TimerFired(node_id="w", attempt=1), T0 + 2 * H)
    assert kinds(t) == ["record:w:elapsed", "record:s:entered", "send", "record:done:exit", "completed"]
    assert t.run.status == "completed"


# --- waits: until time of day --------------------------------------------------------------------------


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(("tz", "now", "until", "expected"), [
    # Seoul: UTC+9, no DST
    ("Asia/Seoul", utc(2024, 6, 1, 0, 30), "10:00", utc(2024, 6, 1, 1, 0)),      # 09:30 KST -> 10:00 today
    ("Asia/Seoul", utc(2024, 6, 1, 0, 30), "09:00", utc(2024, 6, 2, 0, 0)),      # past -> tomorrow
    ("Asia/Seoul", utc(2024, 6, 1, 0, 0), "09:00", utc(2024, 6, 2, 0, 0)),       # exactly now -> tomorrow
    ("Asia/Seoul", utc(2024, 6, 1, 16, 0), "08:00", utc(2024, 6, 1, 23, 0)),     # 01:00 KST Jun 2 -> 08:00 Jun 2
    # New York, clocks go forward on 2024-03-10 at 02:00 EST -> 03:00 EDT
    ("America/New_York", utc(2024, 3, 9, 15, 0), "09:00", utc(2024, 3, 10, 13, 0)),   # 09:00 EDT, 23 h later
    ("America/New_York", utc(2024, 3, 9, 12, 0), "02:30", utc(2024, 3, 10, 7, 30)),   # 02:30 does not exist
    ("America/New_York", utc(2024, 3, 9, 12, 0), "09:00", utc(2024, 3, 9, 14, 0)),    # 09:00 EST same day
    # clocks go back on 2024-11-03 at 02:00 EDT -> 01:00 EST: 01:30 happens twice, the first one counts
    ("America/New_York", utc(2024, 11, 3, 4, 0), "01:30", utc(2024, 11, 3, 5, 30)),
    ("America/New_York", utc(2024, 11, 3, 5, 45), "01:30", utc(2024, 11, 4, 6, 30)),  # not again at 06:30
    ("America/New_York", utc(2024, 11, 2, 14, 0), "09:00", utc(2024, 11, 3, 14, 0)),  # 09:00 EST, 25 h later
    # no or unknown zone: UTC
    (None, utc(2024, 6, 1, 8, 0), "09:00", utc(2024, 6, 1, 9, 0)),
    ("Mars/Olympus_Mons", utc(2024, 6, 1, 10, 0), "09:00", utc(2024, 6, 2, 9, 0)),
])
def test_time_of_day_wait(tz: str | None, now: dt.datetime, until: str, expected: dt.datetime) -> None:
    d = journey([{"type": "wait", "id": "w", "until_time": until, "next": "done"}, EXIT])
    run = run_for(d, at=now)
    t = step(d, run, Start(), now, Facts(timezone=tz))
    assert t.of(ScheduleTimer)[0].at == expected
    done = step(d, t.run, TimerFired(node_id="w", attempt=1), expected)
    assert done.run.status == "completed"


# --- waits: until an event, keyed ----------------------------------------------------------------------

KEYED = [
    {"type": "wait", "id": "w", "until_event": {"event": "Order Completed", "key": "cart_id", "timeout": "1h",
                                                 "where": [{"property": "total", "operator": ">", "value": 0}]},
     "next": "thanks", "timeout_next": "remind"},
    send("thanks", kind="transactional"), send("remind"), EXIT,
]


def waiting_keyed(**trigger: Any) -> tuple[Any, RunState]:
    d = journey(KEYED)
    run = step(d, run_for(d, **(trigger or {"cart_id": "cart-1"})), Start(), T0).run
    assert run.status == "waiting" and run.wait is not None and run.wait.event == "Order Completed"
    return d, run


@pytest.mark.parametrize(("name", "properties", "resumes"), [
    ("Order Completed", {"cart_id": "cart-1", "total": 5}, True),
    ("Order Completed", {"cart_id": "cart-2", "total": 5}, False),   # another cart
    ("Order Completed", {"total": 5}, False),                        # no key
    ("Order Completed", {"cart_id": "cart-1", "total": 0}, False),   # filter fails
    ("Order Completed", {"cart_id": 1, "total": 5}, False),          # JSON kinds differ
    ("Product Viewed", {"cart_id": "cart-1", "total": 5}, False),    # another event
])
def test_keyed_wait_resumes_only_on_the_same_key(name: str, properties: dict[str, Any], resumes: bool) -> None:
    d, run = waiting_keyed()
    t = step(d, run, EventReceived(name=name, properties=properties, at=T0 + H / 2), T0 + H / 2)
    if resumes:
        assert kinds(t) == ["cancel_timer", "record:w:event", "record:thanks:entered", "send", "record:done:exit",
                            "completed"]
        assert t.of(CancelTimer)[0].id == run.wait.timer_id  # type: ignore[union-attr]
        assert t.of(Send)[0].template == "tpl-thanks"
    else:
        assert t == Transition(run)


def test_keyed_wait_with_a_trigger_lacking_the_key_never_resumes_on_events() -> None:
    d, run = waiting_keyed(sku="x")
    event = EventReceived(name="Order Completed", properties={"cart_id": "cart-1", "total": 5}, at=T0)
    assert step(d, run, event, T0).commands == ()


def test_keyed_wait_times_out_to_timeout_next() -> None:
    d, run = waiting_keyed()
    t = step(d, run, TimerFired(node_id="w", attempt=1), T0 + H)
    assert outcome_path(t) == ["w:timeout", "remind:entered", "done:exit"]
    assert t.of(Send)[0].template == "tpl-remind"
    assert not t.of(CancelTimer)


def test_events_outside_the_wait_window_do_not_resume() -> None:
    d, run = waiting_keyed()
    props = {"cart_id": "cart-1", "total": 5}
    late = EventReceived(name="Order Completed", properties=props, at=T0 + 2 * H)  # timer not yet delivered
    assert step(d, run, late, T0 + 2 * H).commands == ()
    early = EventReceived(name="Order Completed", properties=props, at=T0 - H)  # before the run was entered
    assert step(d, run, early, T0).commands == ()


# --- conditions ----------------------------------------------------------------------------------------


def condition(cond: dict[str, Any]) -> Any:
    return journey([{"type": "condition", "id": "c", "condition": cond, "yes": "y", "no": "n"},
                    send("y"), send("n"), EXIT])


def branch_taken(d: Any, facts: Facts, **trigger: Any) -> str:
    t = step(d, run_for(d, **trigger), Start(), T0 + H, facts)
    [rec] = [c for c in t.of(RecordStep) if c.node_id == "c"]
    assert rec.outcome in ("yes", "no")
    assert t.of(Send)[0].node_id == ("y" if rec.outcome == "yes" else "n")
    return rec.outcome


def test_segment_condition() -> None:
    d = condition({"type": "segment", "segment_id": "vip"})
    assert branch_taken(d, Facts(segments={"vip": True})) == "yes"
    assert branch_taken(d, Facts(segments={"vip": False})) == "no"
    assert branch_taken(d, Facts(segments=lambda s: s == "vip")) == "yes"
    with pytest.raises(MissingFact, match="vip"):
        branch_taken(d, Facts(segments={"other": True}))
    with pytest.raises(MissingFact):
        branch_taken(d, Facts())


@pytest.mark.parametrize(("cond", "traits", "expected"), [
    ({"operator": "=", "value": "gold"}, {"tier": "gold"}, "yes"),
    ({"operator": "=", "value": "gold"}, {"tier": "silver"}, "no"),
    ({"operator": "!=", "value": "gold"}, {}, "yes"),
    ({"operator": "in", "value": ["gold", "vip"]}, {"tier": "vip"}, "yes"),
    ({"operator": "exists"}, {}, "no"),
    ({"operator": "within_last_days", "value": 7}, {"tier": "2024-05-30T00:00:00+00:00"}, "yes"),
])
def test_trait_condition(cond: dict[str, Any], traits: dict[str, Any], expected: str) -> None:
    d = condition({"type": "trait", "trait": "tier", **cond})
    assert branch_taken(d, Facts(traits=traits)) == expected


def test_trait_condition_needs_traits() -> None:
    with pytest.raises(MissingFact):
        branch_taken(condition({"type": "trait", "trait": "tier", "operator": "exists"}), Facts())


def test_event_since_entry_condition() -> None:
    d = condition({"type": "event", "event": "Order Completed", "key": "cart_id"})

    def ev(at: dt.datetime, **props: Any) -> EventReceived:
        return EventReceived(name="Order Completed", properties=props, at=at)

    assert branch_taken(d, Facts(events=[ev(T0 + H / 2, cart_id="a")]), cart_id="a") == "yes"
    assert branch_taken(d, Facts(events=[ev(T0 + H / 2, cart_id="b")]), cart_id="a") == "no"
    assert branch_taken(d, Facts(events=[ev(T0 - H, cart_id="a")]), cart_id="a") == "no"   # before entry
    assert branch_taken(d, Facts(events=[ev(T0 + 2 * H, cart_id="a")]), cart_id="a") == "no"  # after now
    assert branch_taken(d, Facts(events=[]), cart_id="a") == "no"
    with pytest.raises(MissingFact):
        branch_taken(d, Facts(), cart_id="a")


def test_facts_needed() -> None:
    d = journey([
        {"type": "condition", "id": "c1", "condition": {"type": "segment", "segment_id": "vip"}, "yes": "c2",
         "no": "c3"},
        {"type": "condition", "id": "c2", "condition": {"type": "trait", "trait": "tier", "operator": "exists"},
         "yes": "done", "no": "done"},
        {"type": "condition", "id": "c3", "condition": {"type": "event", "event": "Order Completed"},
         "yes": "done", "no": "done"},
        EXIT,
    ])
    needs = facts_needed(d)
    assert (needs.segments, needs.traits, needs.events) == ({"vip"}, {"tier"}, {"Order Completed"})


# --- splits --------------------------------------------------------------------------------------------

SPLIT = [{"type": "split", "id": "ab", "branches": [{"percent": 50, "next": "a"}, {"percent": 30, "next": "b"},
                                                    {"percent": 20, "next": "c"}]},
         send("a"), send("b"), send("c"), EXIT]


def branch_of(d: Any, run_id: str) -> str:
    t = step(d, run_for(d, run_id=run_id), Start(), T0)
    return str(t.of(Send)[0].node_id)


@given(st.text(min_size=1, max_size=40))
def test_split_is_deterministic_per_run(run_id: str) -> None:
    d = journey(SPLIT)
    assert branch_of(d, run_id) == branch_of(d, run_id)


def test_split_proportions() -> None:
    d = journey(SPLIT)
    n = 6000
    counts = Counter(branch_of(d, f"run-{i}") for i in range(n))
    for branch, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert abs(counts[branch] / n - share) < 0.025, counts


def test_split_with_a_zero_branch_never_takes_it() -> None:
    d = journey([{"type": "split", "id": "ab", "branches": [{"percent": 0, "next": "a"},
                                                           {"percent": 100, "next": "b"}]},
                 send("a"), send("b"), EXIT])
    assert {branch_of(d, f"r{i}") for i in range(200)} == {"b"}


# --- goal, exits, stop ---------------------------------------------------------------------------------


def cart_journey(**changes: Any) -> Any:
    return parse(doc(holdout_percent=0, **changes))


def test_goal_mid_wait_converts_and_cancels_the_timer() -> None:
    d = cart_journey()
    run = step(d, run_for(d, cart_id="c1"), Start(), T0).run
    order = EventReceived(name="Order Completed", properties={"cart_id": "c1"}, at=T0 + H / 4)
    t = step(d, run, order, T0 + H / 4)
    assert kinds(t) == ["cancel_timer", "converted"]
    assert t.run.status == "converted" and t.run.wait is None and t.run.ended_at == T0 + H / 4
    assert t.of(Converted)[0].event == "Order Completed"


def test_goal_needs_the_same_key_and_the_window() -> None:
    d = cart_journey()
    run = step(d, run_for(d, cart_id="c1"), Start(), T0).run
    other_cart = EventReceived(name="Order Completed", properties={"cart_id": "c2"}, at=T0 + H / 4)
    assert step(d, run, other_cart, T0 + H / 4).commands == ()
    # in the 24 h wait, after the goal's 3 days: no conversion (the timer has not fired yet)
    d2 = cart_journey(goal={"event": "Order Completed", "key": "cart_id", "within": "30m"})
    run = step(d2, run_for(d2, cart_id="c1"), Start(), T0).run
    late = EventReceived(name="Order Completed", properties={"cart_id": "c1"}, at=T0 + 40 * dt.timedelta(minutes=1))
    t = step(d2, run, late, late.at)
    assert not t.of(Converted)
    assert kinds(t) == ["cancel_timer", "record:wait_for_order:event", "record:bought:exit", "completed"]


def test_exit_on_event_and_segment() -> None:
    d = cart_journey(exit_on=[{"type": "event", "event": "Unsubscribed"},
                              {"type": "segment", "segment_id": "blocked", "entered": True}])
    run = step(d, run_for(d, cart_id="c1"), Start(), T0).run
    t = step(d, run, EventReceived(name="Unsubscribed", at=T0 + H / 2), T0 + H / 2)
    assert kinds(t) == ["cancel_timer", "exited"]
    assert t.run.status == "exited" and t.run.exit_reason == "exit event 'Unsubscribed'"
    t = step(d, run, SegmentChanged(segment_id="blocked", entered=True), T0 + H / 2)
    assert t.of(Exited)[0].reason == "entered segment 'blocked'"
    assert step(d, run, SegmentChanged(segment_id="blocked", entered=False), T0 + H / 2).commands == ()
    assert step(d, run, SegmentChanged(segment_id="vip", entered=True), T0 + H / 2).commands == ()


def test_stop() -> None:
    d = cart_journey()
    run = step(d, run_for(d, cart_id="c1"), Start(), T0).run
    t = step(d, run, Stop(reason="journey archived"), T0 + H / 2)
    assert kinds(t) == ["cancel_timer", "exited"]
    assert t.run.exit_reason == "journey archived"


# --- holdout -------------------------------------------------------------------------------------------


def test_holdout_without_a_goal_window_ends_without_sending() -> None:
    d = parse(doc(holdout_percent=50, goal=None))
    held = next(c for c in (f"cust-{i}" for i in range(100)) if in_holdout(d.id, c, 50))
    t = step(d, run_for(d, customer_id=held, cart_id="c1"), Start(), T0)
    assert kinds(t) == ["record:wait_for_order:holdout", "exited"]
    assert t.run.status == "exited" and t.run.exit_reason == "holdout"
    assert not t.of(Send) and not t.of(ScheduleTimer)


def test_holdout_waits_out_the_goal_window_without_sending() -> None:
    d = parse(doc(holdout_percent=50))  # goal: Order Completed of the same cart within 3 days
    held = next(c for c in (f"cust-{i}" for i in range(100)) if in_holdout(d.id, c, 50))
    t = step(d, run_for(d, customer_id=held, cart_id="c1"), Start(), T0)
    assert kinds(t) == ["record:wait_for_order:holdout", "schedule_timer"]
    assert t.run.status == "waiting" and not t.of(Send)
    assert t.of(ScheduleTimer)[0].at == T0 + dt.timedelta(days=3)
    # Another cart's order, or the awaited event of the first node, moves nothing.
    other = step(d, t.run, EventReceived(name="Order Completed", properties={"cart_id": "c2"},
                                         at=T0 + dt.timedelta(minutes=5)), T0 + dt.timedelta(minutes=5))
    assert not other.commands
    # The goal converts it like a treated run...
    bought = step(d, t.run, EventReceived(name="Order Completed", properties={"cart_id": "c1"},
                                          at=T0 + dt.timedelta(hours=30)), T0 + dt.timedelta(hours=30))
    assert bought.run.status == "converted" and not bought.of(Send)
    # ...and without it the run ends with the window, as a holdout.
    timer = t.of(ScheduleTimer)[0]
    early = step(d, t.run, TimerFired(node_id=timer.node_id, attempt=timer.attempt), T0 + dt.timedelta(days=1))
    assert not early.commands
    ended = step(d, t.run, TimerFired(node_id=timer.node_id, attempt=timer.attempt), timer.at)
    assert ended.run.status == "exited" and ended.run.exit_reason == "holdout" and not ended.of(Send)


def test_holdout_is_deterministic_and_near_its_rate() -> None:
    n = 20_000
    held = [c for c in (f"cust-{i}" for i in range(n)) if in_holdout("abandoned-cart", c, 10)]
    assert abs(len(held) / n - 0.10) < 0.01
    assert held == [c for c in (f"cust-{i}" for i in range(n)) if in_holdout("abandoned-cart", c, 10)]
    other = {c for c in (f"cust-{i}" for i in range(n)) if in_holdout("welcome", c, 10)}
    assert len(other & set(held)) < len(held) / 5  # independent per journey, not one global 10 %
    assert not in_holdout("j", "c", 0) and in_holdout("j", "c", 100)


# --- bounds and loud failures --------------------------------------------------------------------------


def test_missing_node_exits_loudly() -> None:
    d = journey([send("s", next="ghost")], validate=False)
    t = step(d, run_for(d), Start(), T0)
    assert kinds(t)[-2:] == ["record:ghost:missing", "exited"]
    assert t.run.status == "exited" and t.run.exit_reason == "missing node 'ghost'"
    d2 = journey([send("s")], start="nowhere", validate=False)
    assert step(d2, run_for(d2), Start(), T0).run.exit_reason == "missing node 'nowhere'"


def test_a_cycle_without_a_wait_stops_at_the_bound() -> None:
    d = journey([send("a", next="b"), send("b", next="a")], validate=False)
    t = step(d, run_for(d), Start(), T0)
    assert len(t.of(Send)) == engine.MAX_STEPS_PER_SIGNAL
    assert t.run.exit_reason == "loop" and t.run.status == "exited"
    assert t.of(Send)[0].id != t.of(Send)[2].id  # each pass is a new attempt


def test_a_cycle_through_a_wait_stops_at_the_run_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_VISITS_PER_RUN", 10)
    d = journey([{"type": "wait", "id": "w", "duration": "1m", "next": "s"}, send("s", next="w")])
    run = step(d, run_for(d), Start(), T0).run
    now = T0
    for _ in range(20):
        assert run.wait is not None
        now = run.wait.until
        t = step(d, run, TimerFired(node_id="w", attempt=run.wait.attempt), now)
        run = t.run
        if run.status == "exited":
            break
    assert run.exit_reason == "loop" and run.visited == 10


# --- ids -----------------------------------------------------------------------------------------------


def test_command_ids_are_deterministic() -> None:
    d = journey([send("s", next="w"), {"type": "wait", "id": "w", "duration": "1h", "next": "s"}])
    first = step(d, run_for(d), Start(), T0)
    again = step(d, run_for(d), Start(), T0)
    assert first == again
    assert [c.id for c in first.commands] == [c.id for c in again.commands]
    other_run = step(d, run_for(d, run_id="run-2"), Start(), T0)
    assert first.of(Send)[0].id != other_run.of(Send)[0].id
    # the second pass through the loop is attempt 2: new ids for the message and the timer
    second = step(d, first.run, TimerFired(node_id="w", attempt=1), T0 + H)
    assert second.of(Send)[0].attempt == 2
    assert second.of(Send)[0].id != first.of(Send)[0].id
    assert second.of(ScheduleTimer)[0].id != first.of(ScheduleTimer)[0].id
    assert engine.command_id("send", "run-1", "s", 1) == first.of(Send)[0].id
    assert len({c.id for c in first.commands + second.commands}) == len(first.commands + second.commands)


def test_run_state_and_commands_round_trip_through_json() -> None:
    d = cart_journey()
    t = step(d, run_for(d, cart_id="c1"), Start(), T0)
    assert RunState.model_validate_json(t.run.model_dump_json()) == t.run
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(list[engine.Command])
    assert adapter.validate_json(adapter.dump_json(list(t.commands))) == list(t.commands)


# --- the abandoned cart, end to end --------------------------------------------------------------------


def customer_not_held_out(d: Any) -> str:
    return next(c for c in (f"cust-{i}" for i in range(100)) if not in_holdout(d.id, c, d.holdout_percent))


def test_abandoned_cart_nobody_buys_reminder_then_coupon() -> None:
    d = parse(ABANDONED_CART)
    run = run_for(d, customer_id=customer_not_held_out(d), cart_id="cart-7", sku="SKU-1")
    facts = Facts(timezone="Asia/Seoul", preferred_channel="messenger", events=[])
    noise = EventReceived(name="Order Completed", properties={"cart_id": "cart-other"}, at=T0 + H / 2)
    ts = drive(d, run,
               (Start(), T0),
               (noise, T0 + H / 2),                                  # another cart: ignored
               (TimerFired(node_id="wait_for_order", attempt=1), T0 + H),
               (TimerFired(node_id="wait_a_day", attempt=1), T0 + 25 * H),
               facts=facts)
    assert ts[1].commands == ()
    assert outcome_path(*ts) == ["wait_for_order:waiting", "wait_for_order:timeout", "reminder:entered",
                                 "wait_a_day:waiting", "wait_a_day:elapsed", "has_bought:no", "coupon:entered",
                                 "done:exit"]
    sends = [s for t in ts for s in t.of(Send)]
    assert [(s.template, s.channel, s.kind) for s in sends] == [("cart-reminder", "messenger", "advertising"),
                                                                ("cart-coupon-10", "messenger", "advertising")]
    assert [t.at for t in ts[0].of(ScheduleTimer) + ts[2].of(ScheduleTimer)] == [T0 + H, T0 + 25 * H]
    assert ts[-1].run.status == "completed" and ts[-1].run.ended_at == T0 + 25 * H


def test_abandoned_cart_bought_during_the_first_hour_converts() -> None:
    d = parse(ABANDONED_CART)
    run = run_for(d, customer_id=customer_not_held_out(d), cart_id="cart-7")
    order = EventReceived(name="Order Completed", properties={"cart_id": "cart-7", "total": 39000},
                          at=T0 + H / 3)
    ts = drive(d, run, (Start(), T0), (order, T0 + H / 3),
               (TimerFired(node_id="wait_for_order", attempt=1), T0 + H))  # the cancelled timer fires anyway
    assert kinds(ts[1]) == ["cancel_timer", "converted"]
    assert ts[2].commands == ()
    assert not any(t.of(Send) for t in ts)
    assert ts[-1].run.status == "converted"


def test_abandoned_cart_bought_after_the_goal_window_skips_the_coupon() -> None:
    d = parse(doc(goal={"event": "Order Completed", "key": "cart_id", "within": "2h"}))
    run = run_for(d, customer_id=customer_not_held_out(d), cart_id="cart-7")
    order = EventReceived(name="Order Completed", properties={"cart_id": "cart-7"}, at=T0 + 5 * H)
    facts = Facts(events=[order])
    ts = drive(d, run, (Start(), T0), (TimerFired(node_id="wait_for_order", attempt=1), T0 + H),
               (order, T0 + 5 * H),  # after the goal window and not awaited by a 'duration' wait: nothing
               (TimerFired(node_id="wait_a_day", attempt=1), T0 + 25 * H), facts=facts)
    assert ts[2].commands == ()
    assert outcome_path(ts[3]) == ["wait_a_day:elapsed", "has_bought:yes", "bought:exit"]
    assert [s.template for t in ts for s in t.of(Send)] == ["cart-reminder"]
