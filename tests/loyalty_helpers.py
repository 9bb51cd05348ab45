"""Helpers for the loyalty tests: customers, programs and the ledger's invariants read from the store."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa

from segment_helpers import load
from touchline.loyalty import service
from touchline.profiles.service import resolve
from touchline.store.engines import Stores
from touchline.store.schema import loyalty_accounts, loyalty_ledger, loyalty_lots, loyalty_programs

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_ids = itertools.count()


def customer(stores: Stores, workspace_id: str, user: str, *, at: dt.datetime = NOW, **traits: Any) -> str:
    """A customer identified by ``user`` (with traits), through ingestion; their profile id."""
    load(stores, workspace_id, [{"type": "identify", "userId": user, "traits": traits, "messageId": f"id-{next(_ids)}",
                                 "timestamp": at.isoformat()}], at)
    return resolve(stores, workspace_id, f"user_id:{user}")


def program(stores: Stores, workspace_id: str, key: str = "members", **changes: Any) -> str:
    """A program with the default definition, ``changes`` merged into its top level; its id."""
    from touchline.loyalty.rules import default_definition

    definition = {**default_definition(), **changes}
    return str(service.create_program(stores, workspace_id, key, key.title(), definition, now=NOW)["id"])


def invariants(stores: Stores, program_id: str) -> dict[str, int]:
    """Per customer: the account's balance equals the ledger's sum and what is left in the lots; none is
    negative; no lot holds more than it earned. Returns the balances."""
    with stores.read() as conn:
        ledger = dict(conn.execute(sa.select(loyalty_ledger.c.profile_id, sa.func.sum(loyalty_ledger.c.points))
                                   .where(loyalty_ledger.c.program_id == program_id)
                                   .group_by(loyalty_ledger.c.profile_id)).all())
        lots = dict(conn.execute(sa.select(loyalty_lots.c.profile_id, sa.func.sum(loyalty_lots.c.remaining))
                                 .where(loyalty_lots.c.program_id == program_id)
                                 .group_by(loyalty_lots.c.profile_id)).all())
        accounts = dict(conn.execute(sa.select(loyalty_accounts.c.profile_id, loyalty_accounts.c.balance)
                                     .where(loyalty_accounts.c.program_id == program_id)).all())
        bad_lots = conn.execute(sa.select(sa.func.count()).where(
            loyalty_lots.c.program_id == program_id,
            sa.or_(loyalty_lots.c.remaining < 0, loyalty_lots.c.remaining > loyalty_lots.c.points))).scalar_one()
        negative_after = conn.execute(sa.select(sa.func.count()).where(
            loyalty_ledger.c.program_id == program_id, loyalty_ledger.c.balance_after < 0)).scalar_one()
    assert bad_lots == 0
    assert negative_after == 0
    for pid, balance in accounts.items():
        assert balance >= 0, (pid, balance)
        assert int(ledger.get(pid, 0)) == balance, (pid, ledger.get(pid), balance)
        assert int(lots.get(pid, 0)) == balance, (pid, lots.get(pid), balance)
    return {pid: int(b) for pid, b in accounts.items()}


def ledger_count(stores: Stores) -> int:
    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(loyalty_ledger)).scalar_one())


def program_id(stores: Stores, workspace_id: str, key: str) -> str:
    with stores.read() as conn:
        return str(conn.execute(sa.select(loyalty_programs.c.id).where(
            loyalty_programs.c.workspace_id == workspace_id, loyalty_programs.c.key == key)).scalar_one())
