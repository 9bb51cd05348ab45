"""What the dashboard's loyalty page reads: a program's figures, its tiers with how many customers are in
each, points moved per day by kind, the largest balances, rewards with their coupons, and referrals."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from touchline.loyalty import referrals, rewards, service, store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["overview"]


def overview(stores: Stores, workspace_id: str, program_ref: str, *, days: int = 30,
             now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=days)
    with stores.read() as conn:
        p = service.program(conn, workspace_id, program_ref)
        totals = store.program_totals(conn, p.id)
        counts = store.tier_counts(conn, p.id)
        moved = store.kind_totals(conn, p.id, since)
        daily = store.points_by_kind(conn, p.id, since)
        top = store.accounts_page(conn, p.id, tier=None, limit=15, offset=0)
        versions = store.versions(conn, p.id)
    refs = referrals.referrals_view(stores, workspace_id, p.id, limit=10)
    ids = sorted({r[k] for r in refs["referrals"] for k in ("referrer_id", "referred_id")})
    with stores.read() as conn:
        found = store.profile_traits(conn, ids)
    names = {pid: (f.get("traits") or {}).get("name") or (f.get("traits") or {}).get("email") or pid[:12]
             for pid, f in found.items()}
    tiers = []
    if p.definition.tiers is not None:
        for level in p.definition.tiers.levels:
            tiers.append({**level.model_dump(), "customers": counts.get(level.key, 0)})
    return {
        "program": {"id": p.id, "key": p.key, "name": p.name, "status": p.status, "version": p.version,
                    "definition": p.definition.model_dump(mode="json"), "versions": versions},
        "totals": totals, "moved": moved, "daily": daily, "days": days,
        "tiers": tiers, "tier_measure": p.definition.tiers.measure if p.definition.tiers else None,
        "window_days": p.definition.tiers.window_days if p.definition.tiers else None,
        "top": [{"customer": r["profile_id"], "name": (r.get("traits") or {}).get("name"),
                 "email": (r.get("traits") or {}).get("email"), "balance": int(r["balance"]), "tier": r["tier"],
                 "owed": int(r["owed"])} for r in top],
        "rewards": rewards.list_rewards(stores, workspace_id, p.id),
        "referrals": refs, "names": names,
    }
