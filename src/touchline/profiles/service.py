"""Reading one customer by any identifier, searching, consents, export and erase."""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import phonenumbers
import sqlalchemy as sa

from touchline.channels import CONSENT_CHANNELS
from touchline.errors import BadRequest, NotFound
from touchline.profiles import store
from touchline.profiles.contacts import normalize_email, normalize_phone
from touchline.profiles.identity import Key
from touchline.store.schema import event_staging, events, identities

if TYPE_CHECKING:
    from touchline.store.engines import Stores

log = logging.getLogger("touchline.profiles")

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_BARE_KINDS = ("user_id", "email", "phone", "anonymous_id", "device_id")


def identifier_candidates(raw: str, phone_region: str) -> list[Key]:
    """``kind:value`` names one identity; a bare value is tried as profile id, userId, email, phone,
    anonymousId and device id, in that order."""
    raw = raw.strip()
    if not raw:
        raise BadRequest("identifier must not be empty", {"field": "identifier", "reason": "empty"})
    candidates: list[Key] = []
    kind, sep, value = raw.partition(":")
    if sep and _KIND.match(kind) and value:
        candidates.append(_normalised(kind, value, phone_region))
    candidates.append(("profile_id", raw))
    for bare in _BARE_KINDS:
        candidates.append(_normalised(bare, raw, phone_region))
    return list(dict.fromkeys(c for c in candidates if c[1]))


def _normalised(kind: str, value: str, region: str) -> Key:
    if kind == "email":
        return kind, normalize_email(value) or ""
    if kind == "phone":
        return kind, normalize_phone(value, region) or ""
    return kind, value


def resolve(stores: Stores, workspace_id: str, identifier: str) -> str:
    candidates = identifier_candidates(identifier, stores.settings.default_phone_region)
    with stores.read() as conn:
        found = store.find_profile_id(conn, workspace_id, candidates)
        if found is None:
            # Last resort: a handle of any kind (kakao_id, whatsapp_id, ...) with this exact value.
            any_kind = conn.execute(
                sa.select(identities.c.profile_id).where(
                    identities.c.workspace_id == workspace_id, identities.c.value == identifier.strip()
                ).limit(1)
            ).scalar_one_or_none()
            if any_kind is not None:
                found = store.canonical_profile_id(conn, workspace_id, any_kind)
    if found is None:
        raise NotFound(f"no customer with identifier {identifier!r}",
                       {"field": "identifier", "reason": "unknown identifier"})
    return found


def _events(
    stores: Stores, workspace_id: str, ids: list[str], limit: int | None, *, full: bool
) -> list[dict[str, Any]]:
    """Staged and stored events together (a just-sent event shows at once), newest first."""
    with stores.read() as conn:
        staged = store.staged_events(conn, workspace_id, ids, limit=limit, full=full)
    with stores.events_conn() as econn:
        stored = store.stored_events(conn=econn, workspace_id=workspace_id, profile_ids=ids, limit=limit, full=full)
    by_seq = {e["seq"]: e for e in stored}
    by_seq.update({e["seq"]: e for e in staged})
    merged = sorted(by_seq.values(), key=lambda e: (e["timestamp"], e["seq"]), reverse=True)
    return merged[:limit] if limit is not None else merged


def profile_view(stores: Stores, workspace_id: str, profile_id: str, *, timeline_limit: int | None = 50,
                 full: bool = False) -> dict[str, Any]:
    """What the profile itself holds: traits, consents, identities, merges and conflicts, activity, and
    the ``timeline_limit`` newest events (all of them, every field, with ``full``). The one-customer
    view and the export add every other domain's part (:mod:`touchline.customers.service`)."""
    with stores.read() as conn:
        row = store.profile_row(conn, workspace_id, profile_id)
        if row is None:
            raise NotFound(f"no customer {profile_id!r}", {"field": "identifier", "reason": "unknown identifier"})
        ids = store.merged_profile_ids(conn, workspace_id, profile_id)
        idents = store.identities_of(conn, workspace_id, profile_id)
        merges = store.merges_into(conn, workspace_id, ids)
        conflicts = store.conflicts_of(conn, workspace_id, ids)
    timeline = _events(stores, workspace_id, ids, timeline_limit, full=full)
    return _profile_view(row, idents, merges, conflicts, timeline, _activity(stores, workspace_id, ids))


def _activity(stores: Stores, workspace_id: str, ids: list[str]) -> dict[str, Any]:
    """Counts by channel and device, first and last seen: read from the events (staged and stored)."""
    with stores.read() as conn:
        groups = store.activity(conn, event_staging, workspace_id, ids)
    with stores.events_conn() as econn:
        groups += store.activity(econn, events, workspace_id, ids)
    channels: dict[str, int] = {}
    devices: dict[str, int] = {}
    for g in groups:
        channels[g["channel"]] = channels.get(g["channel"], 0) + int(g["events"])
        devices[g["device_type"]] = devices.get(g["device_type"], 0) + int(g["events"])
    newest = max(groups, key=lambda g: g["last"], default=None)
    return {
        "event_count": sum(channels.values()),
        "channels": channels,
        "devices": devices,
        "first_seen_at": min((g["first"] for g in groups), default=None),
        "last_seen_at": newest["last"] if newest else None,
        "last_channel": newest["channel"] if newest else None,
        "last_device_type": newest["device_type"] if newest else None,
    }


def _profile_view(row: dict[str, Any], idents: list[dict[str, Any]], merges: list[dict[str, Any]],
                  conflicts: list[dict[str, Any]], timeline: list[dict[str, Any]],
                  activity: dict[str, Any]) -> dict[str, Any]:
    stats = {k: activity[k] for k in ("event_count", "channels", "devices", "last_channel", "last_device_type")}
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "first_seen_at": activity["first_seen_at"],
        "last_seen_at": activity["last_seen_at"],
        "timezone": row["timezone"],
        "locale": row["locale"],
        "traits": row["traits"],
        "trait_sources": row["trait_meta"],
        "consents": row["consents"],
        "stats": stats,
        "identities": idents,
        "merged_profiles": merges,
        "identity_conflicts": conflicts,
        "timeline": [{k: v for k, v in e.items() if k != "seq"} for e in timeline],
    }


_PHONE_TYPED = re.compile(r"\+?[0-9][0-9 ().-]{2,}")


def phone_prefix(q: str, region: str) -> str | None:
    """The start of an E.164 number a typed (part of a) phone number stands for, as phones are stored:
    ``010-1234`` -> ``+82101234`` in Korea, ``+82 10`` -> ``+8210``; None when ``q`` is no phone."""
    if not _PHONE_TYPED.fullmatch(q):
        return None
    digits = re.sub(r"[^0-9]", "", q)
    if q.startswith("+"):
        return "+" + digits
    if digits.startswith("0"):  # a national number: the trunk prefix stands for the country code
        code = phonenumbers.country_code_for_region(region)
        return f"+{code}{digits[1:]}" if code else None
    return None


@dataclass(frozen=True)
class SearchPage:
    profiles: list[dict[str, Any]]
    total: int  # every match, not only this page's (up to store.SEARCH_CAP)
    capped: bool = False  # more than store.SEARCH_CAP match: total is a lower bound


def search_page(stores: Stores, workspace_id: str, q: str, limit: int, offset: int = 0) -> SearchPage:
    """Customers by identifier prefix (``kind:value`` for one kind: ``email:jieun``, ``phone:010-1234``,
    ``user_id:u-1``; a bare value of any kind) or by trait text, ``limit`` from ``offset``, and the total."""
    q = unicodedata.normalize("NFC", q.strip())  # as ingestion stores text: a Mac's 한가람 finds 한가람
    region = stores.settings.default_phone_region
    kind, sep, value = q.partition(":")
    if sep and _KIND.match(kind) and value.strip():
        value = value.strip()
        typed = phone_prefix(value, region) if kind == "phone" else None
        prefixes = [value.lower() if kind == "email" else typed or value]
        with stores.read() as conn:
            found = store.search_profiles(conn, workspace_id, q, limit, prefixes, kind=kind, text=False,
                                          offset=offset)
        if found.total or kind in _BARE_KINDS:
            return SearchPage([_found(r) for r in found.rows], found.total, found.capped)
        # Not an identifier kind after all ("note:hello"): the text as it was typed.
    prefixes = [q, q.lower()]
    phone = phone_prefix(q, region)
    if phone:
        prefixes.append(phone)
    with stores.read() as conn:
        found = store.search_profiles(conn, workspace_id, q, limit, prefixes if q else [], offset=offset)
    return SearchPage([_found(r) for r in found.rows], found.total, found.capped)


def search(stores: Stores, workspace_id: str, q: str, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    return search_page(stores, workspace_id, q, limit, offset).profiles


def _found(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "user_id": r["user_id"], "traits": r["traits"], "created_at": r["created_at"],
            "updated_at": r["updated_at"]}


SUGGESTION_SAMPLE = 2000


def _flat(traits: dict[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``address.city`` for a trait inside an object trait, as segment rules name it (three levels deep)."""
    for key, value in traits.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 2:
            yield from _flat(value, name + ".", depth + 1)
        else:
            yield name, value


def _suggested(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) and str(value).strip() and len(str(value)) <= 200:
        return str(value)
    return None


def trait_suggestions(stores: Stores, workspace_id: str, trait: str | None = None, *,
                      sample: int = SUGGESTION_SAMPLE, limit: int = 30) -> dict[str, Any]:
    """What the segment builder offers while a rule is typed, from the most recently updated customers: trait
    names (most common first, with how many of the sample have them) and, for ``trait``, its values that at
    least two customers share (a value only one customer has, an e-mail say, is no suggestion)."""
    with stores.read() as conn:
        rows = store.recent_traits(conn, workspace_id, sample)
    names: Counter[str] = Counter()
    values: Counter[str] = Counter()
    for traits in rows:
        for name, value in _flat(traits):
            names[name] += 1
            if name == trait:
                for item in value if isinstance(value, list) else [value]:
                    text = _suggested(item)
                    if text is not None:
                        values[text] += 1
    result: dict[str, Any] = {
        "sample": len(rows),
        "traits": [{"name": n, "customers": c} for n, c in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))
                   [:200]],
    }
    if trait is not None:
        shared = [(v, c) for v, c in values.items() if c >= 2]
        result["trait"] = trait
        result["values"] = [{"value": v, "customers": c} for v, c in sorted(shared, key=lambda kv: (-kv[1], kv[0]))
                            [:limit]]
    return result


def set_consents(stores: Stores, workspace_id: str, identifier: str, changes: dict[str, bool],
                 *, source: str = "api", now: dt.datetime | None = None) -> dict[str, Any]:
    unknown = [c for c in changes if c not in CONSENT_CHANNELS]
    if unknown:
        raise BadRequest(f"unknown consent channel {unknown[0]!r}",
                         {"field": unknown[0], "reason": f"channels are {', '.join(CONSENT_CHANNELS)}"})
    profile_id = resolve(stores, workspace_id, identifier)
    now = now or dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        row = store.profile_row(conn, workspace_id, profile_id)
        assert row is not None
        consents = dict(row["consents"])
        for channel, granted in changes.items():
            consents[channel] = {"status": "granted" if granted else "denied", "at": now.isoformat(), "source": source}
        store.update_consents(conn, workspace_id, profile_id, consents, now)
    return consents
