"""The demo's reads of the state store: messages its journeys sent (the simulated customers answer
them) and, per journey, the outbox by channel and outcome (the report after the run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store.schema import events, outbox, profiles

__all__ = ["buyers", "outbox_by_journey", "sent_between"]


def sent_between(conn: Connection, workspace_id: str, after: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Journey messages sent in ``(after, until]``, oldest first, with the recipient's user id, locale
    and time zone (of the profile the message went to, or the one it was merged into)."""
    survivor = sa.func.coalesce(profiles.c.merged_into, profiles.c.id)
    canonical = profiles.alias("canonical")
    query = (
        sa.select(outbox.c.id, outbox.c.customer_id, outbox.c.journey_id, outbox.c.node_id, outbox.c.template,
                  outbox.c.channel, outbox.c.context, outbox.c.sent_at, canonical.c.user_id, canonical.c.locale,
                  canonical.c.timezone)
        .join(profiles, profiles.c.id == outbox.c.customer_id)
        .join(canonical, canonical.c.id == survivor)
        .where(outbox.c.workspace_id == workspace_id, outbox.c.status == "sent",
               outbox.c.journey_id.is_not(None), outbox.c.sent_at > after, outbox.c.sent_at <= until)
        .order_by(outbox.c.sent_at, outbox.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def outbox_by_journey(conn: Connection, workspace_id: str, journey_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per journey, channel, status and reason: how many outbox rows."""
    query = (
        sa.select(outbox.c.journey_id, outbox.c.channel, outbox.c.status, outbox.c.reason, sa.func.count().label("n"))
        .where(outbox.c.workspace_id == workspace_id, outbox.c.journey_id.in_(list(journey_ids)))
        .group_by(outbox.c.journey_id, outbox.c.channel, outbox.c.status, outbox.c.reason)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def buyers(conn: Connection, econn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> set[str]:
    """Which of ``profile_ids`` (canonical) have an order, counting the profiles merged into them."""
    survivor = sa.func.coalesce(profiles.c.merged_into, profiles.c.id)
    owner = dict(conn.execute(sa.select(profiles.c.id, survivor).where(
        profiles.c.workspace_id == workspace_id, survivor.in_(list(profile_ids)))).all())
    if not owner:
        return set()
    bought = econn.execute(sa.select(events.c.profile_id).distinct().where(
        events.c.workspace_id == workspace_id, events.c.event == "Order Completed",
        events.c.profile_id.in_(list(owner)))).scalars()
    return {owner[p] for p in bought}
