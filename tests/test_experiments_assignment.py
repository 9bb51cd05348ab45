"""Sticky assignment and the bandit's rule (pure)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from touchline.experiments import assignment, bandit
from touchline.experiments.bandit import ArmStats, BanditPolicy


def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    weights = [("a", 50.0), ("b", 30.0), ("c", 20.0)]
    first = [assignment.assign("exp-1", f"c{i}", weights) for i in range(20_000)]
    assert first == [assignment.assign("exp-1", f"c{i}", weights) for i in range(20_000)]
    counts = Counter(first)
    assert counts["a"] / 20_000 == pytest.approx(0.5, abs=0.015)
    assert counts["c"] / 20_000 == pytest.approx(0.2, abs=0.015)
    # another experiment splits the same customers independently
    other = [assignment.assign("exp-2", f"c{i}", weights) for i in range(20_000)]
    assert sum(x == y for x, y in zip(first, other, strict=True)) / 20_000 == pytest.approx(0.38, abs=0.02)


def test_assign_is_the_documented_hash() -> None:
    weights = [("a", 50.0), ("b", 30.0), ("c", 20.0)]
    for i in range(500):
        c = f"c{i}"
        expected = assignment.HOLDOUT if assignment.unit(assignment.HOLDOUT, "e", c) * 100 < 10 \
            else assignment.pick(weights, assignment.unit("e", c))
        assert assignment.assign("e", c, weights, 10) == expected


def test_the_holdout_stays_fixed_when_the_weights_move() -> None:
    customers = [f"c{i}" for i in range(5000)]
    before = {c for c in customers if assignment.assign("e", c, [("a", 1), ("b", 1)], 10) == assignment.HOLDOUT}
    after = {c for c in customers if assignment.assign("e", c, [("a", 0.02), ("b", 0.98)], 10) == assignment.HOLDOUT}
    assert before == after
    assert len(before) / 5000 == pytest.approx(0.10, abs=0.015)


def test_an_arm_of_weight_zero_is_never_picked() -> None:
    assert {assignment.pick([("a", 0.0), ("b", 1.0)], i / 100) for i in range(100)} == {"b"}
    with pytest.raises(ValueError):
        assignment.pick([("a", 0.0)], 0.5)


def test_bandit_waits_for_minimum_exposures_and_cadence() -> None:
    policy = BanditPolicy(floor_percent=1, min_exposures=100, cadence=dt.timedelta(hours=6))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    few = [ArmStats("a", 99, 5), ArmStats("b", 300, 20)]
    enough = [ArmStats("a", 100, 5), ArmStats("b", 300, 20)]
    assert not bandit.due(policy, few, None, now)
    assert bandit.due(policy, enough, None, now)
    assert not bandit.due(policy, enough, now - dt.timedelta(hours=5), now)
    assert bandit.due(policy, enough, now - dt.timedelta(hours=6), now)


def test_bandit_weights_keep_the_floor_and_favour_the_best_arm() -> None:
    policy = BanditPolicy(floor_percent=2)
    stats = [ArmStats("a", 2000, 80), ArmStats("b", 2000, 100), ArmStats("c", 2000, 160)]
    weights, data = bandit.next_weights(policy, stats, experiment="e", change=1)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert min(weights.values()) >= 0.02 - 1e-12
    assert weights["c"] > 0.9
    assert [a["name"] for a in data["arms"]] == ["a", "b", "c"]
    # recomputable from the recorded data
    again, _ = bandit.next_weights(policy, stats, experiment="e", change=1)
    assert again == weights
