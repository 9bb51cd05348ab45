"""Messaging use cases: templates (validated at save time), previews for a customer, the delivery log and
its statistics, the in-app inbox, and the receipts that come back (opens, clicks, unsubscribes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from touchline.errors import NotFound, ValidationFailed, field_error
from touchline.eventlog import append_system_events
from touchline.messaging import adaptive, builtin, store
from touchline.messaging.outbox import receipt
from touchline.messaging.templates import CompiledTemplate, validate_template
from touchline.profiles import service as profile_service
from touchline.profiles import store as profile_store
from touchline.segments import store as segment_store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from touchline.store.engines import Stores


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _iso(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items() if k != "workspace_id"}


# --- templates -------------------------------------------------------------------------------------


def save_template(stores: Stores, workspace_id: str, key: str, channel: str, variants: Mapping[str, Any],
                  default_locale: str = "ko", *, now: dt.datetime | None = None,
                  blocks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate (every locale, every part compiles in the sandbox, nothing the sandbox would refuse, a trial
    render for a sample customer within the render limits; adaptive ``blocks``: their rules, the segments
    they name, their contents) and save; errors name the part, or the block and the field, and the reason."""
    if not key or len(key) > 200:
        raise ValidationFailed("invalid template key", [field_error("key", "1 to 200 characters")])
    check_adaptive(stores, workspace_id, {"key": key, "channel": channel, "variants": variants,
                                          "default_locale": default_locale, "blocks": blocks})
    definition = {"variants": dict(variants), "default_locale": default_locale, **({"blocks": dict(blocks)}
                                                                                  if blocks else {})}
    with stores.write() as conn:
        version = store.upsert_template(conn, workspace_id, key, channel, definition, _now(now))
    return {"key": key, "channel": channel, "version": version, **definition}


def install_builtin(conn: Connection, workspace_id: str, key: str, now: dt.datetime) -> bool:
    """Copy the built-in template ``key`` (:mod:`touchline.messaging.builtin`) into the workspace, on every
    channel it has, unless the workspace has a template of that key already (the marketer's, never
    overwritten). Whether it was copied."""
    found = builtin.of_key(key)
    if not found or store.templates(conn, workspace_id, key):
        return False
    for t in found:
        definition = {"variants": {loc: dict(parts) for loc, parts in t.variants.items()},
                      "default_locale": t.default_locale}
        validate_template({"key": key, "channel": t.channel, **definition}, strict=True)  # a bad one fails loudly
        store.upsert_template(conn, workspace_id, key, t.channel, definition, now)
    return True


def check_adaptive(stores: Stores, workspace_id: str, template: Mapping[str, Any]) -> CompiledTemplate:
    """``validate_template`` (strict), and the segments that the blocks' rules name known in the workspace
    (by id or name). Raises ValidationFailed naming each block's field."""
    errors: list[dict[str, Any]] = []
    refs = adaptive.segment_refs(template.get("blocks") if isinstance(template.get("blocks"), Mapping) else None)
    if refs:
        with stores.read() as conn:
            known = {(r["id"], r["name"]) for r in segment_store.all_segments(conn, workspace_id)}
        names = {n for pair in known for n in pair}
        errors = [field_error(at, f"no segment {ref!r} in this workspace") for at, ref in refs if ref not in names]
    try:
        compiled = validate_template(template, strict=True)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, [*(exc.detail or []), *errors]) from None
    if errors:
        block = errors[0]["field"].split(".")[1]
        raise ValidationFailed(f"template {template.get('key')!r}: block {block!r} names an unknown segment", errors)
    return compiled


def preview_adaptive(stores: Stores, workspace_id: str, *, template: Mapping[str, Any] | None = None,
                     key: str | None = None, channel: str | None = None,
                     audiences: list[tuple[str, adaptive.Audience]] | None = None) -> dict[str, Any]:
    """What each kind of customer gets from a template's adaptive blocks: a saved template (``key`` and
    ``channel``) or one not saved yet (``template``: channel, variants, default_locale, blocks), checked
    as saving would check it. For each audience (the caller's, or by default one that meets each rule of
    each block and one that none is meant for): which rule of each block it meets (null: the default)
    and the message rendered for a sample customer with its locale and traits."""
    if template is None:
        with stores.read() as conn:
            rows = [t for t in store.templates(conn, workspace_id, key) if t["channel"] == channel] if key else []
        if not rows:
            raise NotFound(f"no template {key!r} for channel {channel!r}",
                           [field_error("key", "name a saved template (key and channel) or give a template")])
        template = {"key": key, "channel": channel, **rows[0]["definition"]}
    compiled = check_adaptive(stores, workspace_id, {"key": "preview", **template})
    blocks = compiled.template.blocks or {}
    default_locale = compiled.template.default_locale
    who = audiences if audiences is not None else adaptive.sample_audiences(blocks, default_locale)
    out = []
    for label, audience in who:
        chosen = compiled.choose_blocks(audience)
        language = audience.locale or default_locale
        sample = _sample_profile(language, audience)
        content = compiled.render({"profile": sample, "event": {}, "cart": {}, "journey": {},
                                   "message_id": "preview", "unsubscribe_url": "https://example.invalid/u/preview"},
                                  locale=language, timezone=sample["timezone"], audience=audience)
        met = {name: {"rule": rule, "when": None if rule is None else blocks[name]["rules"][rule]["when"]}
               for name, rule in chosen.items()}
        out.append({"label": label, "audience": audience.as_dict(), "blocks": met, "content": content.as_dict()})
    return {"key": compiled.template.key if key else None, "channel": compiled.template.channel,
            "default_locale": default_locale,
            "blocks": {name: {"rules": len(b.get("rules", []))} for name, b in blocks.items()},
            "audiences": out}


def _sample_profile(language: str, audience: adaptive.Audience) -> dict[str, Any]:
    name = "김하루" if language == "ko" else "Alex Kim"
    traits = {"name": name, "firstName": name.split()[0], "email": "sample@example.com", **audience.traits}
    return {"id": "preview", "user_id": "preview", "traits": traits, "locale": language, "timezone": "Asia/Seoul"}


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
