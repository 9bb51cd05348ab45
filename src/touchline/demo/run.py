"""Reading back what the demo put in the stores (``touchline demo`` prints it after generating)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from touchline.errors import StoreUnavailable
from touchline.profiles import store as profile_store
from touchline.store.schema import events, identities, profiles

if TYPE_CHECKING:
    from touchline.store.engines import Stores

FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")


def summarize(stores: Stores, workspace_id: str) -> dict[str, Any]:
    """What the stores hold for the workspace: profile counts, events by channel and by funnel step, and
    ``sample_identifier``, the e-mail of the busiest customer (``email:...``), to look one up with.

    If a running server holds the event store, the event counts are empty and ``event_store_busy`` is set.
    """
    with contextlib.suppress(StoreUnavailable):
        stores.pump()  # staged events first move to the event store, where they are counted
    n = sa.func.count().label("n")
    by_channel: dict[str, int] = {}
    steps: dict[str, int] = {}
    busiest: list[str] = []
    busy = False
    try:
        with stores.events_conn() as econn:
            busiest = list(econn.execute(
                sa.select(events.c.profile_id).where(events.c.workspace_id == workspace_id)
                .group_by(events.c.profile_id).order_by(n.desc(), events.c.profile_id).limit(50)
            ).scalars())
            for channel, count in econn.execute(
                sa.select(events.c.channel, n)
                .where(events.c.workspace_id == workspace_id)
                .group_by(events.c.channel)
                .order_by(n.desc(), events.c.channel)
            ):
                by_channel[str(channel)] = int(count)
            for name, count in econn.execute(
                sa.select(events.c.event, n)
                .where(events.c.workspace_id == workspace_id, events.c.type == "track", events.c.event.in_(FUNNEL))
                .group_by(events.c.event)
            ):
                steps[str(name)] = int(count)
    except StoreUnavailable:
        busy = True
    with stores.read() as conn:
        counts = profile_store.count_profiles(conn, workspace_id)
        emails = dict(conn.execute(
            sa.select(identities.c.profile_id, identities.c.value)
            .join(profiles, profiles.c.id == identities.c.profile_id)
            .where(identities.c.workspace_id == workspace_id, identities.c.kind == "email",
                   profiles.c.merged_into.is_(None),
                   identities.c.profile_id.in_(busiest) if busiest else sa.true())
            .order_by(identities.c.value)
            .limit(50)
        ).all())
    email = next((emails[p] for p in busiest if p in emails), next(iter(emails.values()), None))
    owner = next((p for p, e in emails.items() if e == email), None)
    with stores.read() as conn:
        user_id = conn.execute(sa.select(profiles.c.user_id).where(profiles.c.id == owner)).scalar() if owner else None
    return {
        **counts,
        "events": sum(by_channel.values()),
        "events_by_channel": by_channel,
        "funnel": {name: steps.get(name, 0) for name in FUNNEL},
        "sample_identifier": f"email:{email}" if email else None,
        "sample_user_id": user_id,  # the same customer's (what an app asks its in-app messages by)
        "event_store_busy": busy,
    }


def journey_report(stores: Stores, workspace_id: str, journey_ids: list[str]) -> list[dict[str, Any]]:
    """Per journey, from the stores: runs entered (and held out), messages sent by channel, suppressed
    by reason, still pending (e.g. deferred past quiet hours), the treated group's conversions and rate
    and, with a holdout, the holdout's conversions and rate and the lift (in points)."""
    from touchline.demo import store as demo_store
    from touchline.journeys import service as journeys

    with stores.read() as conn:
        rows = demo_store.outbox_by_journey(conn, workspace_id, journey_ids)
    out = []
    for journey_id in journey_ids:
        stats = journeys.stats(stores, workspace_id, journey_id)
        sent: dict[str, int] = {}
        suppressed: dict[str, int] = {}
        pending = failed = 0
        for r in rows:
            if r["journey_id"] != journey_id:
                continue
            n = int(r["n"])
            if r["status"] == "sent":
                sent[r["channel"]] = sent.get(r["channel"], 0) + n
            elif r["status"] == "suppressed":
                reason = r["reason"] or "unknown"
                suppressed[reason] = suppressed.get(reason, 0) + n
            elif r["status"] == "failed":
                failed += n
            else:
                pending += n
        out.append({
            "journey_id": journey_id, "name": journeys.get(stores, workspace_id, journey_id)["name"],
            "entered": stats["entered"], "holdout": stats["holdout"]["runs"], "runs": stats["runs"],
            "sent": dict(sorted(sent.items(), key=lambda kv: (-kv[1], kv[0]))),
            "suppressed": dict(sorted(suppressed.items(), key=lambda kv: (-kv[1], kv[0]))),
            "pending": pending, "failed": failed,
            # Each group's conversions beside its own rate: the treated runs', then the holdout's.
            "converted": stats["treated"]["converted"], "rate": stats["treated"]["rate"],
            "holdout_converted": stats["holdout"]["converted"],
            "holdout_rate": stats["holdout"]["rate"], "lift": stats["lift"],
            "lift_interval": stats["lift_interval"],
        })
    return out
