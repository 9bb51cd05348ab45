"""The identity rules, pure: no database, no clock."""

from __future__ import annotations

import datetime as dt
import itertools

from touchline.profiles.identity import IdentityGraph, Observation, ProfileState

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def graph(policy: str = "keep_separate") -> IdentityGraph:
    counter = itertools.count(1)
    return IdentityGraph({}, [], policy=policy, new_id=lambda: f"p{next(counter)}")  # type: ignore[arg-type]


def obs(*ids: tuple[str, str], minutes: int = 0, type: str = "track", traits: dict | None = None,
        consents: dict | None = None, previous_id: str | None = None) -> Observation:
    user_id = next((v for k, v in ids if k == "user_id"), None)
    return Observation(message_id=f"m{minutes}", type=type, identifiers=list(ids), user_id=user_id,
                       timestamp=T0 + dt.timedelta(minutes=minutes), source="test", trait_updates=traits or {},
                       consent_updates=consents or {}, previous_id=previous_id)


def test_unknown_identifiers_start_a_profile_and_known_ones_find_it() -> None:
    g = graph()
    first = g.resolve(obs(("anonymous_id", "a1")), T0)
    assert g.profiles[first].is_new
    assert g.resolve(obs(("anonymous_id", "a1"), minutes=1), T0) == first
    assert len(g.profiles) == 1


def test_identify_links_anonymous_history_to_the_user() -> None:
    g = graph()
    anon = g.resolve(obs(("anonymous_id", "a1")), T0)
    user = g.resolve(obs(("user_id", "u1"), ("anonymous_id", "a1"), minutes=5, type="identify"), T0)
    assert user == anon
    assert g.profiles[anon].user_id == "u1"
    assert g.merges == []


def test_two_devices_merge_when_an_identifier_connects_them() -> None:
    g = graph()
    phone = g.resolve(obs(("anonymous_id", "phone"), ("user_id", "u1")), T0)
    laptop = g.resolve(obs(("anonymous_id", "laptop"), ("email", "kim@example.com"), minutes=1), T0)
    assert phone != laptop
    survivor = g.resolve(obs(("user_id", "u1"), ("email", "kim@example.com"), minutes=2), T0)
    assert survivor == phone  # the profile that owns the userId survives
    assert g.profiles[laptop].merged_into == phone
    assert g.owner(("anonymous_id", "laptop")) == phone
    assert [(m.from_profile_id, m.into_profile_id) for m in g.merges] == [(laptop, phone)]


def test_different_user_ids_are_never_merged_silently() -> None:
    g = graph()
    u1 = g.resolve(obs(("user_id", "u1"), ("anonymous_id", "shared-tablet")), T0)
    u2 = g.resolve(obs(("user_id", "u2"), ("anonymous_id", "shared-tablet"), minutes=1), T0)
    assert u1 != u2
    assert g.profiles[u2].user_id == "u2"
    assert g.profiles[u1].merged_into is None
    assert [(c.kind, c.value, c.profile_id, c.other_profile_id) for c in g.conflicts] == [
        ("anonymous_id", "shared-tablet", u2, u1)
    ]


def test_merge_policy_merges_conflicting_user_ids() -> None:
    g = graph("merge")
    u1 = g.resolve(obs(("user_id", "u1"), ("email", "a@b.co")), T0)
    u2 = g.resolve(obs(("user_id", "u2")), T0)
    assert g.resolve(obs(("user_id", "u2"), ("email", "a@b.co"), minutes=1), T0) == u2
    assert g.profiles[u1].merged_into == u2
    assert g.conflicts == []


def test_alias_merges_even_two_user_ids() -> None:
    g = graph()
    old = g.resolve(obs(("user_id", "old-id")), T0)
    new = g.resolve(obs(("user_id", "new-id"), minutes=1), T0)
    assert g.resolve(obs(("user_id", "new-id"), type="alias", previous_id="old-id", minutes=2), T0) == new
    assert g.profiles[old].merged_into == new
    assert g.merges[0].reason == "alias"


def test_alias_of_an_unknown_previous_id_claims_it_as_anonymous() -> None:
    g = graph()
    user = g.resolve(obs(("user_id", "u1"), type="alias", previous_id="anon-9"), T0)
    assert g.owner(("anonymous_id", "anon-9")) == user


def test_traits_take_the_latest_event_time_not_the_latest_arrival() -> None:
    g = graph()
    pid = g.resolve(obs(("user_id", "u1"), minutes=10, traits={"tier": "gold"}), T0)
    g.resolve(obs(("user_id", "u1"), minutes=5, traits={"tier": "silver", "city": "Seoul"}), T0)
    profile = g.profiles[pid]
    assert profile.traits == {"tier": "gold", "city": "Seoul"}
    assert profile.trait_meta["tier"]["at"] == (T0 + dt.timedelta(minutes=10)).isoformat()
    assert profile.trait_meta["tier"]["source"] == "test"


def test_merge_keeps_the_newer_trait_and_consent_of_either_side() -> None:
    g = graph()
    a = g.resolve(obs(("anonymous_id", "a"), minutes=1, traits={"name": "old"}, consents={"sms": "granted"}), T0)
    b = g.resolve(obs(("anonymous_id", "b"), minutes=2, traits={"name": "new"}, consents={"sms": "denied"}), T0)
    survivor = g.resolve(obs(("anonymous_id", "a"), ("anonymous_id", "b"), minutes=3), T0)
    assert survivor == a and g.profiles[b].merged_into == a
    assert g.profiles[a].traits["name"] == "new"
    assert g.profiles[a].consents["sms"]["status"] == "denied"


def test_chains_of_merges_resolve_to_the_last_survivor() -> None:
    g = graph()
    ids = [g.resolve(obs(("anonymous_id", f"a{i}"), minutes=i), T0) for i in range(4)]
    for i in range(3):
        g.resolve(obs(("anonymous_id", f"a{i}"), ("anonymous_id", f"a{i + 1}"), minutes=10 + i), T0)
    survivors = {g.owner(("anonymous_id", f"a{i}")) for i in range(4)}
    assert survivors == {ids[0]}
    assert len(g.merges) == 3


def test_ordinary_events_of_known_customers_need_no_profile_state() -> None:
    loaded: list[list[str]] = []

    def load(ids: list[str]) -> list[ProfileState]:
        loaded.append(ids)
        return [ProfileState(id=i, created_at=T0) for i in ids]

    g = IdentityGraph({("anonymous_id", "a1"): "p-known"}, [], load=load)
    assert g.resolve(obs(("anonymous_id", "a1")), T0) == "p-known"
    assert loaded == [] and not g.profiles
    # A trait update does need the state, loaded on demand.
    assert g.resolve(obs(("anonymous_id", "a1"), traits={"tier": "vip"}), T0) == "p-known"
    assert loaded == [["p-known"]]
    assert g.profiles["p-known"].changed == {"traits", "trait_meta"}
