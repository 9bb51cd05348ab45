"""Messaging use cases: templates (validated at save time), previews for a customer, the delivery log and
its statistics, the in-app inbox, and the receipts that come back (opens, clicks, unsubscribes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from touchline.errors import NotFound, ValidationFailed, field_error
from touchline.eventlog import append_system_events
from touchline.messaging import store
from touchline.messaging.outbox import receipt
from touchline.messaging.templates import validate_template
from touchline.profiles import service as profile_service
from touchline.profiles import store as profile_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _iso(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items() if k != "workspace_id"}


# --- templates -------------------------------------------------------------------------------------


def save_template(stores: Stores, workspace_id: str, key: str, channel: str, variants: Mapping[str, Any],
                  default_locale: str = "ko", *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Validate (every locale, every part compiles in the sandbox, nothing the sandbox would refuse, a trial
    render for a sample customer within the render limits) and save; errors name the part and the reason."""
    if not key or len(key) > 200:
        raise ValidationFailed("invalid template key", [field_error("key", "1 to 200 characters")])
    validate_template({"key": key, "channel": channel, "variants": variants, "default_locale": default_locale},
                      strict=True)
    definition = {"variants": dict(variants), "default_locale": default_locale}
    with stores.write() as conn:
        version = store.upsert_template(conn, workspace_id, key, channel, definition, _now(now))
    return {"key": key, "channel": channel, "version": version, **definition}


def list_templates(stores: Stores, workspace_id: str, key: str | None = None) -> list[dict[str, Any]]:
    with stores.read() as conn:
        rows = store.templates(conn, workspace_id, key)
    return [{"key": r["key"], "channel": r["channel"], "version": r["version"], **r["definition"],
             "updated_at": r["updated_at"].isoformat()} for r in rows]


def delete_template(stores: Stores, workspace_id: str, key: str, channel: str | None) -> int:
    with stores.write() as conn:
        n = store.delete_template(conn, workspace_id, key, channel)
    if not n:
        raise NotFound(f"no template {key!r}" + (f" for {channel}" if channel else ""))
    return n


# --- the log ---------------------------------------------------------------------------------------


def messages(stores: Stores, workspace_id: str, *, identifier: str | None = None, journey_id: str | None = None,
             channel: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
             ) -> list[dict[str, Any]]:
    customer_ids = None
    if identifier:
        pid = profile_service.resolve(stores, workspace_id, identifier)
        with stores.read() as conn:
            customer_ids = profile_store.merged_profile_ids(conn, workspace_id, pid) or [pid]
    with stores.read() as conn:
        rows = store.messages_page(conn, workspace_id, customer_ids=customer_ids, journey_id=journey_id,
                                   channel=channel, status=status, limit=limit, offset=offset)
    return [_iso({k: v for k, v in r.items() if k not in ("context", "lease_until", "claim_token")}) for r in rows]


def stats(stores: Stores, workspace_id: str, since: dt.datetime | None = None) -> dict[str, Any]:
    """Per channel: sent, delivered, opened, clicked, failed, pending, and suppressions by reason."""
    with stores.read() as conn:
        rows = store.message_stats(conn, workspace_id, since)
    return _channel_stats(rows)


def stats_between(stores: Stores, workspace_id: str, start: dt.datetime | None, end: dt.datetime | None, *,
                  journey_id: str | None = None) -> dict[str, Any]:
    """``stats`` for the messages created in [start, end), of one journey when given."""
    with stores.read() as conn:
        rows = store.stats_between(conn, workspace_id, start=start, end=end, journey_id=journey_id)
    return _channel_stats(rows)


def _channel_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        ch = r["channel"] or "(none)"
        c = out.setdefault(ch, {"channel": ch, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "failed": 0,
                                "pending": 0, "suppressed": 0, "suppressed_by_reason": {}})
        n = int(r["n"])
        if r["status"] == "sent":
            c["sent"] += n
            c["delivered"] += int(r["delivered"])
            c["opened"] += int(r["opened"])
            c["clicked"] += int(r["clicked"])
        elif r["status"] == "suppressed":
            c["suppressed"] += n
            reason = r["reason"] or "unknown"
            c["suppressed_by_reason"][reason] = c["suppressed_by_reason"].get(reason, 0) + n
        elif r["status"] == "failed":
            c["failed"] += n
        else:
            c["pending"] += n
    return {"channels": sorted(out.values(), key=lambda c: c["channel"])}


def message_log(stores: Stores, workspace_id: str, *, customer_ids: list[str] | None = None,
                journey_id: str | None = None, channel: str | None = None, status: str | None = None,
                start: dt.datetime | None = None, end: dt.datetime | None = None, limit: int = 50,
                offset: int = 0) -> list[dict[str, Any]]:
    """The delivery log for the dashboard: filtered by customers (profile ids, merged ones included by the
    caller), journey, channel, status and creation time; newest first; datetimes kept as datetimes."""
    with stores.read() as conn:
        rows = store.log_page(conn, workspace_id, customer_ids=customer_ids, journey_id=journey_id,
                              channel=channel, status=status, start=start, end=end, limit=limit, offset=offset)
    return [{k: v for k, v in r.items() if k != "workspace_id"} for r in rows]


def customer_ids(stores: Stores, workspace_id: str, identifier: str) -> list[str]:
    """The profile an identifier names and every profile merged into it (NotFound when unknown)."""
    pid = profile_service.resolve(stores, workspace_id, identifier)
    with stores.read() as conn:
        return profile_store.merged_profile_ids(conn, workspace_id, pid) or [pid]


def customer_labels(stores: Stores, workspace_id: str, profile_ids: list[str]) -> dict[str, str]:
    """A readable name for each profile (name, e-mail, user id or the id itself), for lists of customers."""
    with stores.read() as conn:
        found, _ = store.recipient_rows(conn, workspace_id, list(dict.fromkeys(profile_ids)))
    out = {}
    for pid in profile_ids:
        row = found.get(pid) or {}
        traits = row.get("traits") or {}
        out[pid] = str(traits.get("name") or traits.get("email") or row.get("user_id") or pid)
    return out


# --- receipts --------------------------------------------------------------------------------------


def _receipt_for(stores: Stores, message_id: str, column: str, name: str, now: dt.datetime,
                 **extra: Any) -> dict[str, Any] | None:
    with stores.write() as conn:
        row = store.message_row(conn, message_id)
        if row is None:
            return None
        if store.mark_first(conn, message_id, column, now):
            append_system_events(conn, row["workspace_id"], [receipt(row, row["customer_id"], name, now, **extra)], now)
    stores.wakeup.set()
    return row


def opened(stores: Stores, message_id: str, *, now: dt.datetime | None = None) -> bool:
    return _receipt_for(stores, message_id, "opened_at", "Message Opened", _now(now)) is not None


def clicked(stores: Stores, message_id: str, index: int, *, now: dt.datetime | None = None) -> str | None:
    """The original URL of link ``index`` of the message (None: unknown), recording the click (and an
    open: a click proves the message was seen, even with images blocked)."""
    now = _now(now)
    with stores.read() as conn:
        row = store.message_row(conn, message_id)
    links = ((row or {}).get("content") or {}).get("links") or []
    if row is None or not 0 <= index < len(links):
        return None
    url = str(links[index])
    _receipt_for(stores, message_id, "opened_at", "Message Opened", now)
    _receipt_for(stores, message_id, "clicked_at", "Message Clicked", now, url=url)
    return url


def unsubscribe(stores: Stores, message_id: str, *, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Withdraw consent for the channel the message came by (RFC 8058 one-click, or the link)."""
    now = _now(now)
    with stores.read() as conn:
        row = store.message_row(conn, message_id)
    if row is None or not row["channel"]:
        return None
    channel = row["channel"]
    with stores.write() as conn:
        pid = profile_store.canonical_profile_id(conn, row["workspace_id"], row["customer_id"])
        profile = profile_store.profile_row(conn, row["workspace_id"], pid)
        if profile is None:
            return None
        consents = {**(profile["consents"] or {}),
                    channel: {"status": "denied", "at": now.isoformat(), "source": "unsubscribe"}}
        profile_store.update_consents(conn, row["workspace_id"], pid, consents, now)
        append_system_events(conn, row["workspace_id"],
                            [receipt(row, row["customer_id"], "Unsubscribed", now)], now)
    return {"workspace_id": row["workspace_id"], "profile_id": row["customer_id"], "channel": channel}


# --- inbox -----------------------------------------------------------------------------------------


def inbox(stores: Stores, workspace_id: str, identifier: str, *, unread_only: bool = False, limit: int = 50
          ) -> dict[str, Any]:
    pid = profile_service.resolve(stores, workspace_id, identifier)
    with stores.read() as conn:
        ids = profile_store.merged_profile_ids(conn, workspace_id, pid) or [pid]
        rows = store.inbox(conn, workspace_id, ids, unread_only=unread_only, limit=limit)
    items = [_iso(r) for r in rows]
    return {"profile_id": pid, "unread": sum(1 for r in items if r["read_at"] is None), "messages": items}


def mark_inbox_read(stores: Stores, workspace_id: str, identifier: str, message_id: str,
                    *, now: dt.datetime | None = None) -> bool:
    now = _now(now)
    pid = profile_service.resolve(stores, workspace_id, identifier)
    with stores.write() as conn:
        ids = profile_store.merged_profile_ids(conn, workspace_id, pid) or [pid]
        changed = store.mark_read(conn, workspace_id, ids, message_id, now)
    if changed:
        opened(stores, message_id, now=now)
    return changed
