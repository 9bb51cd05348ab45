"""In-app messages with the stores: the messages and the workspace's frequency rule (admin), what a
customer may be shown now (the web SDK and the apps, with the write key), their impressions, clicks and
dismissals recorded through ingestion, and the per-message report.

Who the customer is: ``user``, an identifier (``anonymous_id:…``, the id analytics.js keeps in the
browser; ``user_id:…`` or a bare user id for a signed-in customer, whose ``user_hash`` the route checks once
the workspace verifies identities). A visitor Touchline has not seen yet gets the messages anyone may get;
their first interaction creates their profile, through ingestion, like any event.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from touchline.errors import Conflict, Forbidden, NotFound, TouchlineError, ValidationFailed, field_error
from touchline.ids import uuid5_hex
from touchline.inapp import rules, store
from touchline.inapp.rules import GlobalRule, History, Message, Tally
from touchline.ingest.service import ingest_in, parse_items
from touchline.messaging import store as template_store
from touchline.messaging.outbox import compiled_template
from touchline.messaging.templates import CompiledTemplate
from touchline.profiles import store as profile_store

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "TTL", "Live", "delete_message", "frequency_rule", "get_message", "interact", "invalidate", "list_messages",
    "live", "messages_for", "report", "save_message", "set_frequency_rule", "set_status", "today",
]

log = logging.getLogger("touchline.inapp")

TTL = 1.0  # seconds a process keeps a workspace's live messages before reading them again
CHANNEL = "in_app"  # the template channel in-app content comes from
_LIBRARY = {"name": "touchline-inapp", "version": "1"}
_INTERACTIONS = uuid.UUID("8f3c2a61-5d7e-4b1a-9c0e-2f6d4a8b7e13")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- the workspace's live messages, cached per process ----------------------------------------------------


@dataclass(frozen=True)
class LiveMessage:
    id: str
    key: str
    message: Message
    template: CompiledTemplate | None  # None: the template is gone (the message shows nothing)


@dataclass(frozen=True)
class Live:
    """A workspace's active messages (priority first) and its frequency rule."""

    messages: tuple[LiveMessage, ...]
    rule: GlobalRule

    @functools.cached_property
    def names(self) -> frozenset[str]:
        return frozenset(name for m in self.messages if (name := rules.listened_event(m.message)))

    def listened(self) -> frozenset[str]:
        """The events that make one of these messages pending (none: page rules only)."""
        return self.names


_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Live]]] = weakref.WeakKeyDictionary()


def _message_of(row: Mapping[str, Any]) -> Message:
    return Message.model_validate({**row["definition"], "key": row["key"], "status": row["status"]})


def _rule_of(row: Mapping[str, Any] | None) -> GlobalRule:
    if row is None:
        return GlobalRule()
    return GlobalRule(max_per_day=row["max_per_day"], min_minutes_between=int(row["min_minutes_between"]))


def _load(conn: Connection, workspace_id: str) -> Live:
    found: list[LiveMessage] = []
    templates: dict[str, CompiledTemplate | None] = {}
    for row in store.message_rows(conn, workspace_id):
        if row["status"] != "active":
            continue
        try:
            message = _message_of(row)
        except (ValueError, TypeError) as exc:  # a stored definition no longer readable: shown nowhere
            log.error("in-app message %s/%s cannot be read: %s", workspace_id, row["key"], exc)
            continue
        if message.template not in templates:
            templates[message.template] = _template(conn, workspace_id, message.template)
        found.append(LiveMessage(row["id"], row["key"], message, templates[message.template]))
    found.sort(key=lambda m: (-m.message.priority, m.key))
    return Live(tuple(found), _rule_of(store.settings_row(conn, workspace_id)))


def _template(conn: Connection, workspace_id: str, key: str) -> CompiledTemplate | None:
    rows = [r for r in template_store.templates(conn, workspace_id, key) if r["channel"] == CHANNEL]
    if not rows:
        return None
    try:
        return compiled_template(workspace_id, rows[0])
    except TouchlineError as exc:
        log.error("in-app template %s/%s does not compile: %s", workspace_id, key, exc.message)
        return None


def live(conn: Connection, workspace_id: str) -> Live:
    """The workspace's live messages, read at most every :data:`TTL` seconds by this process (a change
    made here is seen at once, :func:`invalidate`; one made by another process within the TTL)."""
    engine = conn.engine
    now = time.monotonic()
    with _lock:
        cached = _cache.get(engine, {}).get(workspace_id)
    if cached is not None and now - cached[0] <= TTL:
        return cached[1]
    loaded = _load(conn, workspace_id)
    with _lock:
        _cache.setdefault(engine, {})[workspace_id] = (now, loaded)
    return loaded


def invalidate(engine: Engine) -> None:
    with _lock:
        _cache.pop(engine, None)


# --- messages (admin) -----------------------------------------------------------------------------------


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        definition = _message_of(row).as_dict()
    except (ValueError, TypeError):
        definition = {**row["definition"], "key": row["key"], "status": row["status"]}
    return {"id": row["id"], **definition, "version": row["version"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def list_messages(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [_view(r) for r in store.message_rows(conn, workspace_id)]


def get_message(stores: Stores, workspace_id: str, id_or_key: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = store.message_row(conn, workspace_id, id_or_key)
    if row is None:
        raise NotFound(f"no in-app message {id_or_key!r}", {"field": "message", "reason": "unknown id or key"})
    return _view(row)


def _slug(name: str) -> str:
    out = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:48].strip("-")


def save_message(stores: Stores, workspace_id: str, payload: Any, *, id_or_key: str | None = None,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """Create (``id_or_key`` None) or replace a message. 422 naming each bad field, the template included
    (it must be one of the workspace's in_app templates); 409 for a key another message has."""
    now = _now(now)
    message = rules.checked_message(payload)
    with stores.write() as conn:
        current = store.message_row(conn, workspace_id, id_or_key) if id_or_key is not None else None
        if id_or_key is not None and current is None:
            raise NotFound(f"no in-app message {id_or_key!r}", {"field": "message", "reason": "unknown id or key"})
        if _template(conn, workspace_id, message.template) is None:
            raise ValidationFailed(f"no in_app template {message.template!r}", [field_error(
                "template", f"no in_app template named {message.template!r}: save one first "
                            f"(PUT /v1/templates/{message.template}/in_app: title, body, url)")])
        message_id = current["id"] if current else uuid.uuid4().hex
        key = message.key or (current["key"] if current else None) or _slug(message.name) or message_id[:12]
        if not rules.KEY.match(key):
            key = message_id[:12]
        if store.key_taken(conn, workspace_id, key, message_id):
            raise Conflict(f"the key {key!r} names another in-app message", {"field": "key", "reason": "taken"})
        definition = message.model_dump(mode="json", exclude={"key", "status"})
        store.upsert_message(conn, {"id": message_id, "workspace_id": workspace_id, "key": key,
                                    "status": message.status, "definition": definition,
                                    "created_at": current["created_at"] if current else now, "updated_at": now})
        saved = store.message_row(conn, workspace_id, message_id)
    invalidate(stores.state)
    assert saved is not None
    return _view(saved)


def set_status(stores: Stores, workspace_id: str, id_or_key: str, status: str, *,
               now: dt.datetime | None = None) -> dict[str, Any]:
    current = get_message(stores, workspace_id, id_or_key)
    payload = {k: v for k, v in current.items() if k not in ("id", "version", "created_at", "updated_at")}
    return save_message(stores, workspace_id, {**payload, "status": status}, id_or_key=current["id"], now=now)


def delete_message(stores: Stores, workspace_id: str, id_or_key: str) -> dict[str, Any]:
    with stores.write() as conn:
        row = store.message_row(conn, workspace_id, id_or_key)
        if row is None:
            raise NotFound(f"no in-app message {id_or_key!r}", {"field": "message", "reason": "unknown id or key"})
        store.delete_message(conn, workspace_id, row["id"])
    invalidate(stores.state)
    return {"deleted": True, "id": row["id"], "key": row["key"]}


def frequency_rule(stores: Stores, workspace_id: str) -> GlobalRule:
    with stores.read() as conn:
        return _rule_of(store.settings_row(conn, workspace_id))


def set_frequency_rule(stores: Stores, workspace_id: str, payload: Any, *, now: dt.datetime | None = None
                       ) -> GlobalRule:
    """Change the workspace's rule (fields not given keep their value); 422 naming each bad field."""
    with stores.write() as conn:
        checked = rules.checked_global_rule(payload, _rule_of(store.settings_row(conn, workspace_id)))
        store.save_settings(conn, workspace_id, {**checked.model_dump(), "updated_at": _now(now)})
    invalidate(stores.state)
    return checked


# --- the customer ----------------------------------------------------------------------------------------


def identity_of(user: str) -> tuple[str, str]:
    """``anonymous_id:abc`` -> (anonymous_id, abc); ``user_id:kim`` and a bare ``kim`` -> (user_id, kim)."""
    kind, sep, value = user.partition(":")
    if sep and kind in ("anonymous_id", "user_id") and value:
        return kind, value
    return "user_id", user


@dataclass(frozen=True)
class Customer:
    profile_id: str | None  # None: not seen yet
    ids: tuple[str, ...]  # the profile and those merged into it
    profile: Mapping[str, Any]


def _customer(conn: Connection, workspace_id: str, keys: Sequence[tuple[str, str]]) -> Customer:
    found = profile_store.load_identities(conn, workspace_id, list(keys))
    pid = next((found[k] for k in keys if k in found), None)
    if pid is None:
        return Customer(None, (), {})
    profile = profile_store.profile_row(conn, workspace_id, pid) or {}
    if profile.get("merged_into"):  # rarely: read the profile it was merged into
        pid = profile_store.canonical_profile_id(conn, workspace_id, pid)
        profile = profile_store.profile_row(conn, workspace_id, pid) or {}
    ids = tuple(profile_store.merged_profile_ids(conn, workspace_id, pid) or [pid])
    return Customer(pid, ids, profile)


def _consent_denied(profile: Mapping[str, Any]) -> bool:
    consents = profile.get("consents") or {}
    in_app = consents.get(CHANNEL) if isinstance(consents, Mapping) else None
    status = in_app.get("status") if isinstance(in_app, Mapping) else in_app
    return status == "denied" or status is False


def _check_signed_in(kind: str, customer: Customer, verifies: bool) -> None:
    """Where the workspace verifies identities, an anonymous id that became a signed-in customer's reads
    nothing without that customer's identifier and user_hash (the anonymous id sits in the browser)."""
    if verifies and kind == "anonymous_id" and customer.profile.get("user_id"):
        raise Forbidden("this visitor is a signed-in customer: send their identifier and user_hash",
                        {"field": "user", "reason": "required for a signed-in customer in a workspace that "
                                                    "verifies identities"})


def _history(conn: Connection, workspace_id: str, ids: Sequence[str], now: dt.datetime) -> History:
    since = now - dt.timedelta(hours=24)
    tallies: dict[str, dict[str, Any]] = {}
    recent = 0
    last_any: dt.datetime | None = None
    for row in store.history_rows(conn, workspace_id, ids, since):
        tally = tallies.setdefault(row["message_id"], {})
        n = int(row["n"])
        if row["kind"] == "impression":
            tally["impressions"] = n
            tally["last_impression_at"] = row["last_at"]
            recent += int(row["recent"] or 0)
            last_any = row["last_at"] if last_any is None or row["last_at"] > last_any else last_any
        elif row["kind"] == "click":
            tally["clicks"] = n
        elif row["kind"] == "dismiss":
            tally["dismissals"] = n
    return History({mid: Tally(**t) for mid, t in tallies.items()}, recent, last_any)


def _language(requested: str | None, profile: Mapping[str, Any]) -> str | None:
    if requested:
        return requested
    locale = profile.get("locale") or (profile.get("traits") or {}).get("locale")
    return str(locale) if locale else None


def _render(item: LiveMessage, profile: Mapping[str, Any], profile_id: str | None, event: Mapping[str, Any],
            language: str | None) -> dict[str, Any] | None:
    if item.template is None:
        return None
    variables = {
        "profile": {"id": profile_id, "user_id": profile.get("user_id"), "traits": profile.get("traits") or {},
                    "locale": profile.get("locale"), "timezone": profile.get("timezone")},
        "event": event, "cart": event.get("cart") if isinstance(event.get("cart"), Mapping) else event,
        "journey": {}, "message_id": item.id,
    }
    try:
        content = item.template.render(variables, locale=language, timezone=profile.get("timezone"))
    except TouchlineError as exc:  # this customer's data breaks the template: the message is left out
        log.warning("in-app message %s not rendered for %s: %s", item.key, profile_id or "a new visitor", exc.message)
        return None
    message = item.message
    chosen = "ko" if content.locale == "ko" else "en"
    return {"id": item.id, "key": item.key, "layout": message.layout, "position": message.where,
            "title": content.title, "body": content.body, "url": content.url,
            "button": message.button_text(chosen) or None, "locale": content.locale,
            "trigger": message.trigger.model_dump(mode="json", exclude_none=True), "priority": message.priority}


def messages_for(stores: Stores, workspace_id: str, user: str, *, platform: str = "web",
                 language: str | None = None, verifies: bool = False, now: dt.datetime | None = None
                 ) -> dict[str, Any]:
    """What the customer may be shown now, rendered for them: messages triggered for them (a journey, an
    event) first, then those a rule on the page shows, by priority. The SDK shows at most one per page."""
    now = _now(now)
    kind, value = identity_of(user)
    with stores.read() as conn:
        current = live(conn, workspace_id)
        if not current.messages:
            return {"messages": []}
        customer = _customer(conn, workspace_id, [(kind, value)])
        _check_signed_in(kind, customer, verifies)
        if _consent_denied(customer.profile):
            return {"messages": []}
        history = _history(conn, workspace_id, customer.ids, now)
        pending: dict[str, Mapping[str, Any]] = {}
        if current.listened():  # only a journey or an event makes a message pending
            for row in store.pending_rows(conn, workspace_id, customer.ids, now):
                pending.setdefault(row["message_id"], row)
    shown: list[dict[str, Any]] = []
    chosen = _language(language, customer.profile)
    for item in current.messages:
        waiting = pending.get(item.id)
        decision = rules.decide(item.message, item.id, history, current.rule, platform=platform,
                                consent_denied=False, pending=waiting is not None, now=now)
        if not decision.show:
            continue
        event = dict(waiting["context"]) if waiting else {}
        rendered = _render(item, customer.profile, customer.profile_id, event, chosen)
        if rendered is not None:
            rendered["pending"] = waiting is not None
            shown.append(rendered)
    shown.sort(key=lambda m: (not m["pending"], -m["priority"]))
    return {"messages": shown}


# --- impressions, clicks and dismissals -------------------------------------------------------------------


def interact(stores: Stores, workspace_id: str, *, kind: str, message_id: str, user: str,
             anonymous_id: str | None = None, key: str, platform: str = "web", language: str | None = None,
             page_url: str | None = None, verifies: bool = False, now: dt.datetime | None = None) -> dict[str, Any]:
    """Record an impression, a click or a dismissal, once per ``key`` (a retry gets the same answer).

    An impression is first decided again here, under the customer's lock, with the frequency rules and
    the consent (another tab, another device may have shown something meanwhile): ``{"show": false,
    "reason"}`` records nothing, and the SDK shows nothing. What is recorded is a row (the rules, the
    report) and an event through ingestion (``In-App Message Viewed``, ``... Clicked``, ``... Dismissed``)
    on the customer's profile."""
    now = _now(now)
    if kind not in rules.KINDS:
        raise ValidationFailed("unknown interaction", [field_error("type", "one of " + ", ".join(rules.KINDS))])
    id_kind, value = identity_of(user)
    interaction_id = uuid5_hex(_INTERACTIONS, f"{workspace_id}\x1f{id_kind}:{value}\x1f{message_id}\x1f{kind}\x1f{key}")
    keys = [(id_kind, value)] + ([("anonymous_id", anonymous_id)] if anonymous_id and id_kind != "anonymous_id"
                                 else [])
    settings = stores.settings
    with stores.write() as conn:
        row = store.message_row(conn, workspace_id, message_id)
        if row is None or row["id"] != message_id:
            raise NotFound(f"no in-app message {message_id!r}", {"field": "message_id", "reason": "unknown id"})
        earlier = store.interaction(conn, interaction_id)
        if earlier is not None:  # a retry of the same interaction: the same answer
            return {"recorded": True, "duplicate": True, "show": kind == "impression" or None}
        customer = _customer(conn, workspace_id, keys)
        _check_signed_in(id_kind, customer, verifies)
        if customer.ids:
            profile_store.lock_customers(conn, list(customer.ids))
        message = _message_of(row)
        if kind == "impression":
            history = _history(conn, workspace_id, customer.ids, now)
            waiting = any(p["message_id"] == message_id
                          for p in store.pending_rows(conn, workspace_id, customer.ids, now))
            decision = rules.decide(message, message_id, history, live(conn, workspace_id).rule, platform=platform,
                                    consent_denied=_consent_denied(customer.profile), pending=waiting, now=now)
            if not decision.show:
                return {"recorded": False, "show": False, "reason": decision.reason}
        event: dict[str, Any] = {
            "type": "track", "event": rules.EVENTS[kind], "messageId": f"inapp-{interaction_id}",
            "timestamp": now.isoformat(),
            "properties": {"inapp_message_id": message_id, "inapp_message": row["key"], "name": message.name,
                           "layout": message.layout, "trigger": message.trigger.type, "platform": platform,
                           **({"page_url": page_url} if page_url else {})},
            "context": {"channel": "web" if platform == "web" else "app", "library": _LIBRARY,
                        **({"locale": language} if language else {})},
        }
        if id_kind == "user_id":
            event["userId"] = value
            if anonymous_id:
                event["anonymousId"] = anonymous_id
        else:
            event["anonymousId"] = value
        events, bad = parse_items([event], received_at=now, batch_sent_at=None, default_type=None,
                                  max_event_bytes=settings.max_event_bytes, phone_region=settings.default_phone_region,
                                  source=_LIBRARY["name"])
        if bad:
            problem = bad[0]
            raise ValidationFailed("the interaction cannot be recorded",
                                   [field_error(str(problem.get("field") or "user"), str(problem.get("reason")))])
        result = ingest_in(conn, stores, workspace_id, events, now=now)
        profile_id = result.profile_ids[0] if result.profile_ids else customer.profile_id
        if profile_id is None:  # nothing was ingested (the messageId was seen before): nothing more to record
            return {"recorded": False, "duplicate": True, "show": kind == "impression" or None}
        profile_id = profile_store.canonical_profile_id(conn, workspace_id, profile_id)
        store.insert_interaction(conn, {
            "id": interaction_id, "workspace_id": workspace_id, "profile_id": profile_id, "message_id": message_id,
            "kind": kind, "platform": platform, "day": _day(now, settings.default_timezone), "created_at": now})
        if kind == "impression":
            ids = profile_store.merged_profile_ids(conn, workspace_id, profile_id) or [profile_id]
            store.mark_shown(conn, workspace_id, ids, message_id, now)
    if result.signals:
        stores.wakeup.set()
    return {"recorded": True, "duplicate": False, "show": True if kind == "impression" else None}


def _day(at: dt.datetime, timezone: str) -> str:
    return today(timezone, at).isoformat()


def today(timezone: str, now: dt.datetime) -> dt.date:
    """The shop's local date at ``now`` (what the report's days are)."""
    return now.astimezone(ZoneInfo(timezone)).date()


# --- the report -------------------------------------------------------------------------------------------


def report(stores: Stores, workspace_id: str, first_day: dt.date, last_day: dt.date) -> dict[str, Any]:
    """Per message: impressions, clicks and dismissals between two of the
    shop's local dates, inclusive, with each day's counts; click and dismissal rates per impression."""
    with stores.read() as conn:
        rows = store.report_rows(conn, workspace_id, first_day.isoformat(), last_day.isoformat())
        messages = store.message_rows(conn, workspace_id)
    days = [(first_day + dt.timedelta(days=i)).isoformat() for i in range((last_day - first_day).days + 1)]
    out: dict[str, dict[str, Any]] = {}
    for row in messages:
        view = _view(row)
        out[row["id"]] = {"id": row["id"], "key": row["key"], "name": view.get("name"), "layout": view.get("layout"),
                          "status": row["status"], "trigger": view.get("trigger"),
                          **{k: 0 for k in rules.KINDS},
                          "by_day": {k: [0] * len(days) for k in rules.KINDS}}
    index = {d: i for i, d in enumerate(days)}
    for row in rows:
        item = out.get(row["message_id"])
        if item is None or row["kind"] not in rules.KINDS:
            continue
        item[row["kind"]] += int(row["n"])
        if row["day"] in index:
            item["by_day"][row["kind"]][index[row["day"]]] += int(row["n"])
    for item in out.values():
        shown = item["impression"]
        item["click_rate"] = item["click"] / shown if shown else None
        item["dismiss_rate"] = item["dismiss"] / shown if shown else None
    return {"first_day": first_day.isoformat(), "last_day": last_day.isoformat(), "days": days,
            "messages": list(out.values())}
