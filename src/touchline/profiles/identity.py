"""Identity resolution over the part of the graph one batch touches. Pure: no I/O, no clock.

The caller loads the identities the batch mentions and the profiles they point to, runs every event
through :meth:`IdentityGraph.resolve` in order, then persists what the graph recorded (new profiles,
new identities, changed profiles, merges, conflicts).

Rules:
- an event whose identifiers are all unknown starts a new profile;
- identifiers already on different profiles merge those profiles (the one owning the event's userId
  survives, else the oldest), keeping all their history;
- two profiles with different userIds are never merged by an ordinary event under the
  ``keep_separate`` policy: the conflict is recorded and the event goes to its userId's profile.
  ``alias`` is the explicit way to say two user ids are one person, so it merges regardless.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Policy = Literal["keep_separate", "merge"]
Key = tuple[str, str]


@dataclass
class ProfileState:
    """What identity resolution needs to know of a profile. Activity (event counts, channels, last seen)
    is not kept here: it is read from the events, so an ordinary event never rewrites its profile."""

    id: str
    created_at: dt.datetime
    user_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    trait_meta: dict[str, dict[str, str]] = field(default_factory=dict)
    consents: dict[str, dict[str, str]] = field(default_factory=dict)
    timezone: str | None = None
    locale: str | None = None
    merged_into: str | None = None
    is_new: bool = False
    # Which persisted fields this batch changed: only those are written back.
    changed: set[str] = field(default_factory=set)

    @property
    def dirty(self) -> bool:
        return self.is_new or bool(self.changed)


@dataclass(frozen=True)
class Merge:
    from_profile_id: str
    into_profile_id: str
    reason: str
    message_id: str | None


@dataclass(frozen=True)
class IdentityConflict:
    kind: str
    value: str
    profile_id: str
    other_profile_id: str
    reason: str
    message_id: str | None


@dataclass(frozen=True)
class NewIdentity:
    kind: str
    value: str
    profile_id: str
    first_seen_at: dt.datetime
    source: str


@dataclass(frozen=True)
class Observation:
    """What one event says about its customer (see ``touchline.ingest.normalize.NormalizedEvent``)."""

    message_id: str | None
    type: str
    identifiers: list[Key]
    user_id: str | None
    timestamp: dt.datetime
    source: str
    trait_updates: dict[str, Any] = field(default_factory=dict)
    consent_updates: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None
    locale: str | None = None
    previous_id: str | None = None


class Observed(Protocol):
    """What resolution reads of an event: an :class:`Observation`, or ingestion's ``NormalizedEvent``
    itself (which has these attributes), so that a batch builds no second object per event."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def type(self) -> str: ...
    @property
    def identifiers(self) -> list[Key]: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def timestamp(self) -> dt.datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def trait_updates(self) -> dict[str, Any]: ...
    @property
    def consent_updates(self) -> dict[str, str]: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def previous_id(self) -> str | None: ...


STATE_FIELDS = ("created_at", "user_id", "traits", "trait_meta", "consents", "timezone", "locale", "merged_into")
MERGE_FIELDS = ("created_at", "user_id", "traits", "trait_meta", "consents", "timezone", "locale")


def new_profile_id() -> str:
    """Time-ordered (like UUIDv7): new profiles land at the end of every index on the id, not at random
    places, which keeps inserts fast as the table grows."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


class IdentityGraph:
    def __init__(
        self,
        identities: dict[Key, str],
        profiles: Iterable[ProfileState],
        *,
        policy: Policy = "keep_separate",
        new_id: Any = None,
        load: Callable[[list[str]], Iterable[ProfileState]] | None = None,
    ) -> None:
        self.identities = dict(identities)
        self.profiles: dict[str, ProfileState] = {p.id: p for p in profiles}
        self._load = load
        self.policy = policy
        self._new_id = new_id or new_profile_id
        self.new_identities: dict[Key, NewIdentity] = {}
        self.merges: list[Merge] = []
        self.conflicts: list[IdentityConflict] = []

    # -- lookups --------------------------------------------------------------------------------------
    def canonical(self, profile_id: str) -> str:
        seen = set()
        while True:
            profile = self.profiles.get(profile_id)
            if profile is None or profile.merged_into is None or profile_id in seen:
                return profile_id
            seen.add(profile_id)
            profile_id = profile.merged_into

    def owner(self, key: Key) -> str | None:
        found = self.identities.get(key)
        return self.canonical(found) if found is not None else None

    def state(self, profile_id: str) -> ProfileState:
        """A profile's state, loaded on demand (the caller preloads what it can, in one query)."""
        if profile_id not in self.profiles and self._load is not None:
            for p in self._load([profile_id]):
                self.profiles.setdefault(p.id, p)
        return self.profiles[profile_id]

    @staticmethod
    def needs_state(obs: Observed) -> bool:
        """Whether this observation may change a profile or merge two; if not, and all its identifiers
        belong to one profile already, resolving it is a lookup."""
        return bool(obs.type in ("identify", "alias") or obs.trait_updates or obs.consent_updates
                    or obs.timezone or obs.locale)

    # -- the rule -------------------------------------------------------------------------------------
    def resolve(self, obs: Observed, now: dt.datetime) -> str:
        """Find or make the profile this observation belongs to, merging where identifiers say so."""
        if not self.needs_state(obs) and obs.identifiers:
            known_owners = {self.identities.get(k) for k in obs.identifiers}
            if len(known_owners) == 1 and None not in known_owners:
                (only,) = known_owners
                assert only is not None
                return self.canonical(only)
        keys = list(obs.identifiers)
        explicit_alias = obs.type == "alias" and obs.previous_id is not None
        if explicit_alias:
            assert obs.previous_id is not None
            previous = ("user_id", obs.previous_id)
            if self.owner(previous) is None:
                previous = ("anonymous_id", obs.previous_id)
            keys.append(previous)

        user_key = ("user_id", obs.user_id) if obs.user_id else None
        owners: list[str] = []
        for key in keys:
            pid = self.owner(key)
            if pid is not None and pid not in owners:
                owners.append(pid)

        target: ProfileState
        user_owner = self.owner(user_key) if user_key else None
        if user_owner is not None:
            target = self.state(user_owner)
        elif owners:
            candidates = [self.state(p) for p in owners]
            if obs.user_id and not explicit_alias and self.policy == "keep_separate":
                # The userId is new; profiles that already belong to another user cannot take it.
                free = [p for p in candidates if p.user_id in (None, obs.user_id)]
                target = min(free, key=lambda p: p.created_at) if free else self._new_profile(obs, now)
            else:
                target = min(candidates, key=lambda p: (p.user_id is None, p.created_at))
        else:
            target = self._new_profile(obs, now)

        for pid in owners:
            if pid == target.id:
                continue
            other = self.state(pid)
            if not explicit_alias and self._user_ids_clash(other, target.user_id or obs.user_id):
                for key in keys:
                    if self.owner(key) == pid:
                        self.conflicts.append(
                            IdentityConflict(key[0], key[1], target.id, pid, "different userIds", obs.message_id)
                        )
                continue
            self._merge(other, target, "alias" if explicit_alias else "shared identifier", obs.message_id)

        if obs.user_id and target.user_id is None:
            target.user_id = obs.user_id
            target.changed.add("user_id")
        for key in keys:
            if key not in self.identities:
                self.identities[key] = target.id
                self.new_identities[key] = NewIdentity(key[0], key[1], target.id, obs.timestamp, obs.source)
        self._observe(target, obs)
        return target.id

    def _user_ids_clash(self, other: ProfileState, claimed_user_id: str | None) -> bool:
        return (
            self.policy == "keep_separate"
            and other.user_id is not None
            and claimed_user_id is not None
            and other.user_id != claimed_user_id
        )

    # -- mutations ------------------------------------------------------------------------------------
    def _new_profile(self, obs: Observed, now: dt.datetime) -> ProfileState:
        profile = ProfileState(
            id=self._new_id(),
            created_at=now,
            is_new=True,
        )
        self.profiles[profile.id] = profile
        return profile

    def _merge(self, other: ProfileState, into: ProfileState, reason: str, message_id: str | None) -> None:
        for key, value in other.traits.items():
            theirs = other.trait_meta.get(key, {}).get("at", "")
            ours = into.trait_meta.get(key, {}).get("at", "")
            if key not in into.traits or theirs > ours:
                into.traits[key] = value
                if key in other.trait_meta:
                    into.trait_meta[key] = other.trait_meta[key]
        for channel, consent in other.consents.items():
            if channel not in into.consents or consent.get("at", "") > into.consents[channel].get("at", ""):
                into.consents[channel] = consent
        into.created_at = min(into.created_at, other.created_at)
        into.user_id = into.user_id or other.user_id
        into.timezone = into.timezone or other.timezone
        into.locale = into.locale or other.locale
        into.changed.update(MERGE_FIELDS)
        other.merged_into = into.id
        other.changed.add("merged_into")
        for identity_key, pid in self.identities.items():
            if pid == other.id:
                self.identities[identity_key] = into.id
        for identity_key, new in list(self.new_identities.items()):
            if new.profile_id == other.id:
                self.new_identities[identity_key] = NewIdentity(new.kind, new.value, into.id, new.first_seen_at,
                                                                new.source)
        self.merges.append(Merge(other.id, into.id, reason, message_id))

    def _observe(self, profile: ProfileState, obs: Observed) -> None:
        changed = profile.changed
        # Most events carry no traits or consents; formatting the time stamp is not free.
        at = _iso(obs.timestamp) if obs.trait_updates or obs.consent_updates else ""
        for key, value in obs.trait_updates.items():
            meta = profile.trait_meta.get(key)
            # Last write wins by event time, so a late or historical import never clobbers newer data.
            if meta is None or at >= meta.get("at", ""):
                profile.traits[key] = value
                profile.trait_meta[key] = {"at": at, "source": obs.source}
                changed.update(("traits", "trait_meta"))
        for channel, status in obs.consent_updates.items():
            current = profile.consents.get(channel)
            if current is None or at >= current.get("at", ""):
                profile.consents[channel] = {"status": status, "at": at, "source": obs.source}
                changed.add("consents")
        if obs.timezone and obs.timezone != profile.timezone:
            profile.timezone = obs.timezone
            changed.add("timezone")
        if obs.locale and obs.locale != profile.locale:
            profile.locale = obs.locale
            changed.add("locale")
