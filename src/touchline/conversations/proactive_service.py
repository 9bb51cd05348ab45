"""Proactive chat, with the stores: the workspace's rule, and a shopper's hesitation recorded and decided.

A hesitation is recorded through ingestion, as the page's own analytics would record it (an event the
journeys can trigger on, on the visitor's profile), and decided by :func:`touchline.conversations.proactive.decide`;
an offer (treatment or holdout) is a row (the frequency cap, the report) and a ``Proactive Chat Offered``
event (the lift: an order after it, by group). The page's ``key`` makes a retry one hesitation: the same
answer, nothing recorded twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from touchline.conversations import proactive, store
from touchline.conversations.proactive import ProactiveRule
from touchline.errors import ValidationFailed, field_error
from touchline.eventlog import SystemEvent, append_system_events
from touchline.ids import uuid5_hex
from touchline.ingest.service import ingest_in, parse_items
from touchline.profiles import store as profile_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["hesitated", "offer_counts", "rule", "set_rule"]

_LIBRARY = {"name": "touchline-chat", "version": "1"}
_OFFERS = uuid.UUID("5b0e4d2c-8a51-4f0e-9a43-3c1f6f1e9d27")


def _rule_of(row: dict[str, Any] | None) -> ProactiveRule:
    if row is None:
        return ProactiveRule()
    signals = tuple(s for s in (row["signals"] or []) if isinstance(s, str) and s in proactive.SIGNAL_EVENTS)
    return ProactiveRule(enabled=bool(row["enabled"]), signals=signals, idle_seconds=int(row["idle_seconds"]),
                         cap_hours=int(row["cap_hours"]), holdout_percent=int(row["holdout_percent"]),
                         messages={"ko": row["message_ko"], "en": row["message_en"]})


def rule(stores: Stores, workspace_id: str) -> ProactiveRule:
    with stores.read() as conn:
        return _rule_of(store.proactive_rule_row(conn, workspace_id))


def set_rule(stores: Stores, workspace_id: str, payload: dict[str, Any], *, now: dt.datetime | None = None
             ) -> ProactiveRule:
    """Change the rule (fields not given keep their value); 422 naming each bad field, nothing saved."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        current = _rule_of(store.proactive_rule_row(conn, workspace_id))
        checked, problems = proactive.checked_rule(payload, current)
        if checked is None:
            raise ValidationFailed("the proactive chat rule is not valid",
                                   [field_error(p["field"], p["reason"]) for p in problems])
        values = checked.as_dict()
        store.save_proactive_rule(conn, workspace_id, {**values, "updated_at": now})
    return checked


def _consent_denied(row: dict[str, Any] | None) -> bool:
    consents = (row or {}).get("consents") or {}
    in_app = consents.get("in_app") if isinstance(consents, dict) else None
    return isinstance(in_app, dict) and in_app.get("status") == "denied"


def hesitated(stores: Stores, workspace_id: str, *, anonymous_id: str, user_id: str | None, signal: str, key: str,
              page_url: str | None = None, language: str | None = None, cart_value: float | None = None,
              now: dt.datetime | None = None) -> dict[str, Any]:
    """Record a shopper's hesitation and decide whether the chat opens: ``{"open", "group", "reason",
    "message"}`` (``message`` only when it opens, in ``language``)."""
    now = now or dt.datetime.now(dt.UTC)
    if signal not in proactive.SIGNAL_EVENTS:
        raise ValidationFailed("unknown signal",
                               [field_error("signal", "one of " + ", ".join(proactive.SIGNAL_EVENTS))])
    who = f"user:{user_id}" if user_id else f"anonymous:{anonymous_id}"
    offer_id = uuid5_hex(_OFFERS, f"{workspace_id}\x1f{who}\x1f{key}")
    properties: dict[str, Any] = {"signal": signal, "page_url": page_url}
    if cart_value is not None:
        properties["cart_value"] = cart_value
    message: dict[str, Any] = {
        "type": "track", "event": proactive.SIGNAL_EVENTS[signal], "messageId": f"hesitation-{offer_id}",
        "anonymousId": anonymous_id, "timestamp": now.isoformat(), "properties": properties,
        "context": {"channel": "web", "library": _LIBRARY, **({"locale": language} if language else {})},
    }
    if user_id:
        message["userId"] = user_id
    settings = stores.settings
    with stores.write() as conn:
        rule_now = _rule_of(store.proactive_rule_row(conn, workspace_id))
        earlier = store.proactive_offer(conn, offer_id)
        if earlier is not None:  # a retry of the same hesitation: the same answer
            opened = earlier["grp"] == "treatment"
            return {"open": opened, "group": earlier["grp"], "reason": "offered" if opened else "holdout",
                    "message": rule_now.message(language) if opened else None}
        events, bad = parse_items([message], received_at=now, batch_sent_at=None, default_type=None,
                                  max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region,
                                  source=_LIBRARY["name"])
        if bad:
            problem = bad[0]
            field = str(problem.get("field") or "anonymous_id")
            reason = str(problem.get("reason"))
            raise ValidationFailed("the hesitation cannot be recorded", [field_error(field, reason)])
        result = ingest_in(conn, stores, workspace_id, events, now=now)
        keys = [("user_id", user_id)] if user_id else [("anonymous_id", anonymous_id)]
        profile_id = (result.profile_ids[0] if result.profile_ids
                      else next(iter(profile_store.load_identities(conn, workspace_id, keys).values()), None))
        if profile_id is None:
            return {"open": False, "group": None, "reason": "unknown_customer", "message": None}
        profile_id = profile_store.canonical_profile_id(conn, workspace_id, profile_id)
        ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id)
        decision = proactive.decide(
            rule_now, signal, workspace_id=workspace_id, profile_id=profile_id,
            consent_denied=_consent_denied(profile_store.profile_row(conn, workspace_id, profile_id)),
            last_offer_at=store.last_proactive_offer_at(conn, workspace_id, ids), now=now)
        if decision.group is not None:
            store.insert_proactive_offer(conn, {
                "id": offer_id, "workspace_id": workspace_id, "profile_id": profile_id, "signal": signal,
                "grp": decision.group, "page_url": (page_url or "")[:2048] or None, "created_at": now})
            append_system_events(conn, workspace_id, [SystemEvent(
                profile_id, proactive.OFFERED_EVENT, {"group": decision.group, "signal": signal,
                                                      "offer_id": offer_id}, now, f"proactive-offer-{offer_id}")], now)
    if result.signals:
        stores.wakeup.set()
    return {"open": decision.open, "group": decision.group, "reason": decision.reason,
            "message": rule_now.message(language) if decision.open else None}


def offer_counts(stores: Stores, workspace_id: str, since: dt.datetime) -> dict[str, int]:
    with stores.read() as conn:
        return store.proactive_offer_counts(conn, workspace_id, since)
