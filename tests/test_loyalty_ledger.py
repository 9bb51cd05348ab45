"""The points ledger, exact (issue 18): property-based sequences of earn, spend, expire, adjust, reverse and
retry on both backends keep every balance equal to the ledger's sum and what is left in the lots, never
negative; spending takes the oldest spendable points first and expiry only what is left; a retry changes
nothing. Then spends from several processes at once on one balance: exactly the affordable ones succeed."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_helpers import NOW, customer, invariants, ledger_count, program
from touchline.errors import Conflict, NotFound, TouchlineError
from touchline.loyalty import service
from touchline.loyalty.ledger import Lot, due_to_expire, reversal_sources, spendable, take
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import loyalty_ledger, loyalty_lots

_programs = itertools.count()

earn_op = st.tuples(st.just("earn"), st.sampled_from("ab"), st.integers(1, 500), st.integers(0, 20),
                    st.one_of(st.none(), st.integers(1, 60)))
spend_op = st.tuples(st.just("spend"), st.sampled_from("ab"), st.integers(1, 700))
advance_op = st.tuples(st.just("advance"), st.integers(1, 30))
reverse_op = st.tuples(st.just("reverse"), st.sampled_from("ab"), st.integers(0, 5), st.sampled_from([1.0, 0.5]))
give_back_op = st.tuples(st.just("give_back"), st.integers(0, 5))
adjust_op = st.tuples(st.just("adjust"), st.sampled_from("ab"), st.integers(-300, 300).filter(bool))
retry_op = st.tuples(st.just("retry"), st.integers(0, 50))
operations = st.lists(st.one_of(earn_op, earn_op, spend_op, spend_op, advance_op, reverse_op, give_back_op, adjust_op,
                                retry_op), min_size=1, max_size=30)


def _lots(stores: Stores, program_id: str, pid: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(loyalty_lots).where(
            loyalty_lots.c.program_id == program_id, loyalty_lots.c.profile_id == pid)).mappings()]


def _expected_fifo(lots: list[dict[str, Any]], points: int, now: dt.datetime) -> dict[int, int]:
    """What an oldest-first spend takes, worked out here independently of the ledger module."""
    usable = sorted((lot for lot in lots if lot["remaining"] > 0 and lot["available_at"] <= now
                     and (lot["expires_at"] is None or lot["expires_at"] > now)),
                    key=lambda lot: (lot["earned_at"], lot["entry_id"]))
    left, taken = points, {}
    for lot in usable:
        n = min(left, lot["remaining"])
        if n:
            taken[lot["entry_id"]] = n
            left -= n
    return taken


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(ops=operations)
def test_ledger_stays_exact(stores: Stores, workspace_id: str, ops: list[tuple[Any, ...]]) -> None:
    key = f"p{next(_programs)}"
    program_id = program(stores, workspace_id, key)
    now = NOW
    done: list[tuple[str, dict[str, Any]]] = []  # successful calls, to retry
    orders: dict[str, list[str]] = {"a": [], "b": []}
    spends: list[str] = []
    n = itertools.count()

    def call(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return getattr(service, kind)(stores, workspace_id, key, **kwargs)

    for op in ops:
        try:
            if op[0] == "earn":
                _, who, points, pending_days, expiry = op
                order_id = f"o{next(n)}"
                kwargs = {"profile_id": who, "points": points, "key": f"earn-{order_id}", "order_id": order_id,
                          "pending_days": pending_days, "expiry_days": expiry, "now": now}
                call("earn", kwargs)
                orders[who].append(order_id)
                done.append(("earn", kwargs))
            elif op[0] == "spend":
                _, who, points = op
                before = _lots(stores, program_id, who)
                kwargs = {"profile_id": who, "points": points, "key": f"spend-{next(n)}", "now": now}
                # Spending first expires what is due, then takes the oldest spendable points.
                expected = _expected_fifo(before, points, now)
                try:
                    call("spend", kwargs)
                except Conflict:
                    assert sum(expected.values()) < points
                    assert _lots(stores, program_id, who) == before  # nothing written
                    continue
                after = {lot["entry_id"]: lot["remaining"] for lot in _lots(stores, program_id, who)}
                prior = {lot["entry_id"]: lot["remaining"] for lot in before}
                due = {lot["entry_id"] for lot in before if lot["expires_at"] is not None and lot["expires_at"] <= now}
                taken = {i: prior[i] - after[i] for i in prior if prior[i] != after[i] and i not in due}
                assert taken == expected
                spends.append(kwargs["key"])
                done.append(("spend", kwargs))
            elif op[0] == "advance":
                now = now + dt.timedelta(days=op[1])
                lots_before = {}
                for who in "ab":
                    lots_before.update({lot["entry_id"]: lot for lot in _lots(stores, program_id, who)})
                service.expire_due(stores, now=now)
                for who in "ab":
                    for lot in _lots(stores, program_id, who):
                        if lot["expires_at"] is not None and lot["expires_at"] <= now:
                            assert lot["remaining"] == 0  # expiry takes what is left, all of it
                        else:
                            assert lot["remaining"] == lots_before[lot["entry_id"]]["remaining"]  # and nothing else
            elif op[0] == "reverse":
                _, who, index, fraction = op
                if not orders[who]:
                    continue
                order_id = orders[who][index % len(orders[who])]
                kwargs = {"profile_id": who, "order_id": order_id, "key": f"rev-{next(n)}", "fraction": fraction,
                          "now": now}
                call("reverse", kwargs)
                done.append(("reverse", kwargs))
            elif op[0] == "give_back":
                if not spends:
                    continue
                kwargs = {"spend_key": spends[op[1] % len(spends)], "key": f"back-{next(n)}", "now": now}
                call("reverse", kwargs)
                done.append(("reverse", kwargs))
            elif op[0] == "adjust":
                _, who, points = op
                kwargs = {"profile_id": who, "points": points, "key": f"adj-{next(n)}", "reason": "test", "now": now}
                call("adjust", kwargs)
                done.append(("adjust", kwargs))
            elif op[0] == "retry":
                if not done:
                    continue
                kind, kwargs = done[op[1] % len(done)]
                rows, balances = ledger_count(stores), invariants(stores, program_id)
                result = call(kind, {**kwargs, "now": now})
                assert result["replayed"] is True
                assert ledger_count(stores) == rows  # a retry writes nothing
                assert invariants(stores, program_id) == balances
        except (Conflict, NotFound):
            pass  # a refusal (nothing left to reverse, given back already, short): checked not to write below
        invariants(stores, program_id)


# --- the ledger's arithmetic alone --------------------------------------------------------------------


def _lot(i: int, points: int, *, days: int = 0, available: int = 0, expires: int | None = None,
         order: str | None = None) -> Lot:
    earned = NOW + dt.timedelta(days=days)
    return Lot(i, points, points, earned, earned + dt.timedelta(days=available),
               None if expires is None else earned + dt.timedelta(days=expires), order)


def test_oldest_points_go_first_and_expiry_takes_what_is_left() -> None:
    old, new = _lot(1, 100, expires=30), _lot(2, 100, days=1, expires=30)
    later = NOW + dt.timedelta(days=5)
    assert [(lot.entry_id, n) for lot, n in take(spendable([new, old], later), 150)] == [(1, 100), (2, 50)]
    due = due_to_expire([old, new], NOW + dt.timedelta(days=31, hours=12))
    assert [lot.entry_id for lot in due] == [2] and due[0].remaining == 50  # the old lot was spent


def test_a_refund_takes_its_own_order_first_then_spendable_then_pending() -> None:
    mine, other, waiting = _lot(1, 50, order="o1"), _lot(2, 100, days=-1), _lot(3, 100, available=30)
    order = [lot.entry_id for lot in reversal_sources([waiting, other, mine], "o1", NOW + dt.timedelta(days=1))]
    assert order == [1, 2, 3]


# --- through the API: bad input is refused with its field, nothing written ------------------------------


def test_refusals_name_the_field_and_write_nothing(stores: Stores, workspace_id: str, client: Any) -> None:
    from support import WRITE_KEY, basic, bearer

    pid = customer(stores, workspace_id, "kim-01", email="kim@example.com")
    program(stores, workspace_id)
    ok = client.post("/v1/loyalty/programs/members/earn", headers=bearer(), json={
        "customer": "user_id:kim-01", "points": 1000, "idempotency_key": "welcome", "pending_days": 0})
    assert ok.status_code == 200, ok.text
    assert ok.json()["account"]["available"] == 1000
    rows = ledger_count(stores)
    cases = [
        ({"customer": "user_id:kim-01", "points": -5, "idempotency_key": "s1"}, 422, "points"),
        ({"customer": "user_id:kim-01", "points": 0, "idempotency_key": "s1"}, 422, "points"),
        ({"customer": "user_id:kim-01", "points": False, "idempotency_key": "s1"}, 422, "points"),
        ({"customer": "user_id:kim-01", "points": 1001, "idempotency_key": "s1"}, 409, "points"),
        ({"customer": "user_id:nobody", "points": 10, "idempotency_key": "s1"}, 404, "customer"),
        ({"customer": "user_id:kim-01", "points": 10, "idempotency_key": "has space"}, 422, "idempotency_key"),
    ]
    for body, status, field in cases:
        answer = client.post("/v1/loyalty/programs/members/spend", headers=basic(), json=body)
        assert answer.status_code == status, (body, answer.text)
        assert field in [d["field"] for d in answer.json()["detail"]], answer.json()
    assert ledger_count(stores) == rows
    unknown = client.post("/v1/loyalty/programs/nope/spend", headers=basic(),
                          json={"customer": "user_id:kim-01", "points": 10, "idempotency_key": "s1"})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["field"] == "program"
    # The same spend twice is one spend; its key for another amount is a conflict.
    first = client.post("/v1/loyalty/programs/members/spend", headers=basic(),
                        json={"customer": "user_id:kim-01", "points": 300, "idempotency_key": "cart-9"})
    again = client.post("/v1/loyalty/programs/members/spend", headers=basic(),
                        json={"customer": "user_id:kim-01", "points": 300, "idempotency_key": "cart-9"})
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] is True and again.json()["id"] == first.json()["id"]
    other = client.post("/v1/loyalty/programs/members/spend", headers=basic(),
                        json={"customer": "user_id:kim-01", "points": 200, "idempotency_key": "cart-9"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert ledger_count(stores) == rows + 1
    balance = client.get("/v1/loyalty/programs/members/customers/user_id:kim-01", headers=basic()).json()
    assert (balance["balance"], balance["available"], balance["tier"]["key"]) == (700, 700, "basic")
    # Management needs the admin token.
    assert client.post("/v1/loyalty/programs/members/earn", headers=bearer(WRITE_KEY), json={
        "customer": "user_id:kim-01", "points": 1, "idempotency_key": "x"}).status_code == 403
    ledger = client.get("/v1/loyalty/programs/members/customers/user_id:kim-01/ledger", headers=bearer()).json()
    assert [e["kind"] for e in ledger["entries"]] == ["spend", "earn"]
    assert pid == ledger["customer"]


def test_traits_follow_the_balance_and_tier(stores: Stores, workspace_id: str) -> None:
    from touchline.profiles.service import profile_view

    pid = customer(stores, workspace_id, "lee-02")
    program(stores, workspace_id)
    service.earn(stores, workspace_id, "members", pid, 1200, key="k1", now=NOW)
    service.spend(stores, workspace_id, "members", pid, 200, key="k2", now=NOW + dt.timedelta(days=20))
    traits = profile_view(stores, workspace_id, pid)["traits"]
    assert (traits["loyalty_points"], traits["loyalty_tier"]) == (1000, "basic")


def test_an_erased_customer_leaves_no_ledger(stores: Stores, workspace_id: str) -> None:
    from touchline.customers.service import erase

    pid = customer(stores, workspace_id, "park-03")
    program_id = program(stores, workspace_id)
    service.earn(stores, workspace_id, "members", pid, 100, key="e", now=NOW)
    erase(stores, workspace_id, "user_id:park-03")
    with stores.read() as conn:
        left = sa.select(sa.func.count()).where(loyalty_ledger.c.program_id == program_id)
        assert conn.execute(left).scalar_one() == 0


# --- several processes spend one balance at once -------------------------------------------------------


def _spend_in_process(where: dict[str, Any], workspace_id: str, pid: str, index: int, start: Any, results: Any) -> None:
    from touchline.platform import open_stores

    stores = open_stores(Settings(**where), migrate=False)
    start.wait(30)
    try:
        service.spend(stores, workspace_id, "members", pid, 300, key=f"checkout-{index}")
        results.put(("ok", index))
    except TouchlineError as exc:
        results.put((exc.code, index))
    except Exception as exc:  # reported to the test, not swallowed
        results.put((f"error: {exc!r}", index))
    finally:
        stores.dispose()


@pytest.mark.slow
def test_concurrent_spends_from_several_processes(stores: Stores, workspace_id: str, settings: Settings) -> None:
    pid = customer(stores, workspace_id, "choi-04")
    program_id = program(stores, workspace_id)
    service.earn(stores, workspace_id, "members", pid, 1000, key="pot", pending_days=0, now=NOW)
    where = {"data_dir": str(settings.data_dir), "database_url": settings.database_url,
             "events_url": settings.events_url}
    # A fork server imports Touchline once, and each worker is a fork of it (not a fresh interpreter).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["touchline.platform", "touchline.loyalty.service", "test_loyalty_ledger"])
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_spend_in_process,
                               args=(where, workspace_id, pid, i, start, results))
               for i in range(6)]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = sorted(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(60)
    codes = [code for code, _ in outcomes]
    assert codes.count("ok") == 3, outcomes  # 3 x 300 of 1,000
    assert codes.count("insufficient_points") == 3, outcomes
    assert invariants(stores, program_id)[pid] == 100
