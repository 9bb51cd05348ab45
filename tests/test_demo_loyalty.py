"""The demo shop's loyalty program (issue 18): members earn from the shop's history, spend, buy rewards,
refer friends (some abusively, refused) and points expire, so the loyalty page has life; a second run
writes nothing new."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from loyalty_helpers import invariants, program_id
from touchline.demo.generator import generate
from touchline.demo.loyalty import PROGRAM, run_loyalty
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.workspaces.service import workspace_id_by_name


@pytest.mark.slow
def test_the_demo_program_has_life(tmp_path: Path) -> None:
    stores = open_stores(Settings(data_dir=tmp_path / "data"))
    try:
        with stores.read() as conn:
            workspace_id = workspace_id_by_name(conn, "default")
        now = dt.datetime.now(dt.UTC)
        generate(stores, workspace_id, customers=600, seed=11, days=90, now=now)
        stores.pump()
        first = run_loyalty(stores, workspace_id, seed=11, days=30, now=now)
        assert first.totals["accounts"] > 100 and first.totals["earned"] > 0
        assert len([t for t, n in first.tiers.items() if n]) >= 3  # members in several tiers
        assert first.spends > 0 and first.rewards_bought > 0 and first.coupons_used > 0
        assert first.expired > 0 and first.carried > 0
        assert first.referral_counts.get("rewarded", 0) > 0 and first.referral_counts.get("rejected", 0) > 0
        invariants(stores, program_id(stores, workspace_id, PROGRAM))
        again = run_loyalty(stores, workspace_id, seed=11, days=30, now=now)
        assert again.totals == first.totals
    finally:
        stores.dispose()
