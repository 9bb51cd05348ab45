"""The dashboard's loyalty page (issue 18) in English and Korean: the program's figures, tiers with their
chart, rewards, referrals and one customer's ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from loyalty_helpers import customer, program
from touchline.loyalty import referrals, rewards, service
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in


def test_the_loyalty_page(stores: Stores, workspace_id: str, client: Any) -> None:
    add_user(stores, "agent@example.com", "agent")
    sign_in(client, "agent@example.com")
    empty = client.get("/loyalty")
    assert empty.status_code == 200 and "data-empty" in empty.text
    program(stores, workspace_id)
    now = dt.datetime.now(dt.UTC)
    pid = customer(stores, workspace_id, "kim-01", email="jieun.kim@example.com", name="김지은", at=now)
    other = customer(stores, workspace_id, "lee-02", at=now)
    service.earn(stores, workspace_id, "members", pid, 5_000, key="e1", pending_days=0, now=now)
    service.spend(stores, workspace_id, "members", pid, 1_200, key="s1", now=now)
    rewards.create_reward(stores, workspace_id, "members", key="3000-off", name_ko="3,000원 할인",
                          name_en="₩3,000 off", cost=3_000, kind="amount_off", value=3_000)
    referrals.claim(stores, workspace_id, "members", pid, referrals.code_for(stores, workspace_id, "members",
                                                                              pid)["code"])
    del other
    english = client.get("/loyalty?lang=en&customer=email:jieun.kim@example.com")
    assert english.status_code == 200, english.text
    html = english.text
    assert 'data-kpi="balance">3,800<' in html and 'data-kpi="available">3,800<' in html
    assert 'data-tier="gold"' in html and 'id="chart-tiers"' in html and 'id="chart-moved"' in html
    assert 'data-reward="3000-off"' in html and "self-referral" in html
    assert html.count('data-entry="') == 2
    korean = client.get("/loyalty?lang=ko")
    assert "멤버십 포인트" in korean.text and "골드" in korean.text and "본인 추천" in korean.text
    missing = client.get("/loyalty?customer=email:nobody@example.com")
    assert "해당 식별자의 고객이 없습니다" in missing.text or "No customer with that identifier" in missing.text
