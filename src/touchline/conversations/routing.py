"""Automatic assignment: round-robin among a team's agents who are online and under their capacity,
by language where the team says so. Pure: no I/O, ``now`` is an argument.

- A new conversation goes to the first team (in the order teams were created) that assigns
  automatically and serves the conversation's channel (a team without channels serves all).
- Within the team, members take turns in the order they joined: the turn goes to the first member
  after the one assigned last who is online (a heartbeat within their ``online_until``), has fewer
  active (open or pending) conversations than their capacity and, when the team routes by language and
  the conversation's language is known, speaks it.
- Nobody eligible: the conversation waits in the team's queue, unassigned (a Korean conversation is not
  handed to an agent who only writes English; an agent takes it from the queue).
- The queue is worked off when an agent of the team comes online or frees capacity
  (:func:`backlog`): its waiting conversations, oldest first, each to the agent whose turn it is then,
  as a new one would be; one nobody can take (its language) does not hold up the ones after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from touchline.messaging.types import language_of

__all__ = ["Member", "TeamRule", "Waiting", "backlog", "eligible", "next_agent", "served_channels", "team_for"]


@dataclass(frozen=True)
class Member:
    user_id: str
    capacity: int
    languages: tuple[str, ...] = ()
    online_until: dt.datetime | None = None
    load: int = 0  # the agent's active conversations, across teams


@dataclass(frozen=True)
class TeamRule:
    id: str
    auto_assign: bool
    language_routing: bool
    channels: tuple[str, ...] = ()  # empty: every channel
    members: tuple[Member, ...] = ()  # in round-robin order (as they joined)
    last_assigned_user_id: str | None = None


def team_for(teams: Sequence[TeamRule], channel: str) -> TeamRule | None:
    """The team a new conversation on ``channel`` goes to: the first auto-assigning team serving it."""
    for team in teams:
        if team.auto_assign and (not team.channels or channel in team.channels):
            return team
    return None


def eligible(member: Member, team: TeamRule, language: str | None, now: dt.datetime) -> bool:
    if member.online_until is None or member.online_until <= now:
        return False
    if member.load >= member.capacity:
        return False
    lang = language_of(language)
    if team.language_routing and lang is not None:
        return lang in {language_of(x) for x in member.languages}
    return True


def next_agent(team: TeamRule, *, language: str | None, now: dt.datetime) -> str | None:
    """Whose turn it is in ``team`` for a conversation in ``language``; None: nobody is eligible."""
    members = list(team.members)
    if not members:
        return None
    start = 0
    ids = [m.user_id for m in members]
    if team.last_assigned_user_id in ids:
        start = ids.index(team.last_assigned_user_id) + 1
    for i in range(len(members)):
        member = members[(start + i) % len(members)]
        if eligible(member, team, language, now):
            return member.user_id
    return None


def served_channels(teams: Sequence[TeamRule], team_id: str, channels: Sequence[str]) -> tuple[str, ...]:
    """The channels among ``channels`` whose new conversations go to team ``team_id`` (:func:`team_for`):
    a conversation there that no team took yet is in that team's queue."""
    return tuple(c for c in channels if (chosen := team_for(teams, c)) is not None and chosen.id == team_id)


@dataclass(frozen=True)
class Waiting:
    """An open, unassigned conversation in a team's queue."""
    conversation_id: str
    language: str | None
    since: dt.datetime  # when it started: the oldest is served first


def backlog(team: TeamRule, waiting: Sequence[Waiting], *, now: dt.datetime) -> list[tuple[str, str]]:
    """Work off the team's queue: ``(conversation_id, user_id)`` for each waiting conversation someone
    can take now, the oldest first, in turns (:func:`next_agent`, each assignment counting against the
    agent's capacity and moving the turn on). Nothing when the team does not assign automatically."""
    if not team.auto_assign:
        return []
    members = {m.user_id: m for m in team.members}
    last = team.last_assigned_user_id
    assigned: list[tuple[str, str]] = []
    for item in sorted(waiting, key=lambda w: (w.since, w.conversation_id)):
        if not any(eligible(m, team, None, now) for m in members.values()):
            break  # everyone is offline or full: the rest waits too
        current = replace(team, members=tuple(members.values()), last_assigned_user_id=last)
        agent = next_agent(current, language=item.language, now=now)
        if agent is None:
            continue
        members[agent] = replace(members[agent], load=members[agent].load + 1)
        last = agent
        assigned.append((item.conversation_id, agent))
    return assigned
