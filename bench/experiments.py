"""Experiment figures (issue 16): a bandit against a uniform split, and assignment throughput.

1. A journey whose bandit node has three arms converting at 4 %, 5 % and 6 % (known to the simulation, not to
   the bandit). 100,000 customers enter over 30 days; each goes through the journey engine (``engine.step``
   with the bandit's current plan), converts with its arm's rate some time within the goal's 48 h window, and
   the bandit (``experiments.bandit``: Thompson sampling, a 1 % floor per arm, at least 100 exposures per arm,
   a change at most every 6 hours) sees only the conversions that have happened by each change. Figures:
   conversions lost against always sending the best arm (expected, from each customer's arm: 6 % minus the
   arm's rate; and counted from the simulated conversions), for the bandit and for a uniform split, and their
   ratio (target: the bandit loses at most 30 % of what the uniform split loses). Averaged over --seeds runs.
2. Assignment throughput: sticky assignment decisions per second (``assignment.assign`` under the bandit's
   weights and a fixed holdout), and whole engine steps through the bandit node (target: 50,000 decisions/s).

    python bench/experiments.py
    python bench/experiments.py --customers 20000 --seeds 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence

import numpy as np

from touchline.experiments import assignment, bandit
from touchline.experiments.assignment import Plan
from touchline.experiments.bandit import ArmStats, BanditPolicy
from touchline.journeys.definition import parse
from touchline.journeys.engine import Expose, Facts, Start, new_run, step

RATES = {"a": 0.04, "b": 0.05, "c": 0.06}
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
WINDOW = dt.timedelta(hours=48)

JOURNEY = {
    "id": "bench", "name": "Bench", "version": 1, "trigger": {"type": "event", "event": "Product Added"},
    "goal": {"event": "Order Completed", "within": "2d"}, "start": "pick",
    "nodes": [
        {"type": "bandit", "id": "pick", "control": "a",
         "arms": [{"name": arm, "next": "done"} for arm in RATES],
         "bandit": {"floor_percent": 1, "min_exposures": 100, "cadence_hours": 6}},
        {"type": "exit", "id": "done"},
    ],
}


def simulate(customers: int, days: int, seed: int, *, adaptive: bool) -> tuple[float, int, int]:
    """(expected conversions lost, conversions lost counted, weight changes) for one run."""
    d = parse(JOURNEY)
    node = d.nodes[0]
    key = "bench.pick"
    policy = BanditPolicy(1.0, 100, dt.timedelta(hours=6))
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.random(customers)) * days * 86_400
    arms = list(RATES)
    weights = {a: 1 / len(arms) for a in arms}
    exposures = {a: 0 for a in arms}
    pending: list[tuple[float, str]] = []  # (conversion time, arm), not yet seen by the bandit
    seen = {a: 0 for a in arms}
    converted = {a: 0 for a in arms}
    last_change: dt.datetime | None = None
    changes = 0
    next_check = 0.0
    lost = 0.0
    for i, at in enumerate(arrivals):
        now = T0 + dt.timedelta(seconds=float(at))
        if adaptive and at >= next_check:
            next_check = at + 300  # the runner asks every 5 minutes
            still = []
            for when, arm in pending:
                if when <= at:
                    seen[arm] += 1
                else:
                    still.append((when, arm))
            pending = still
            stats = [ArmStats(a, exposures[a], seen[a]) for a in arms]
            if bandit.due(policy, stats, last_change, now):
                changes += 1
                weights, _ = bandit.next_weights(policy, stats, experiment=f"{key}/{seed}", change=changes)
                last_change = now
        plan = Plan(key, "running", node.control, tuple((a, weights[a]) for a in arms))
        run = new_run(d, run_id=f"r{seed}-{i}", customer_id=f"c{seed}-{i}", entered_at=now)
        t = step(d, run, Start(), now, Facts(experiments={key: plan}))
        arm = t.of(Expose)[0].arm
        exposures[arm] += 1
        lost += RATES["c"] - RATES[arm]
        if rng.random() < RATES[arm]:
            converted[arm] += 1
            pending.append((at + rng.random() * WINDOW.total_seconds(), arm))
    best_expected = customers * RATES["c"]
    counted_lost = round(best_expected - sum(converted.values()))
    return lost, counted_lost, changes


def throughput(n: int) -> tuple[float, float]:
    """(assignment decisions per second, engine steps through the bandit node per second)."""
    weights = (("a", 0.02), ("b", 0.13), ("c", 0.85))
    customers = [f"customer-{i}" for i in range(n)]
    start = time.perf_counter()
    for c in customers:
        assignment.assign("bench.pick", c, weights, 10.0)
    decisions = n / (time.perf_counter() - start)
    d = parse(JOURNEY)
    plan = Plan("bench.pick", "running", "a", weights, 10.0)
    facts = Facts(experiments={"bench.pick": plan})
    m = max(n // 5, 1000)
    runs = [new_run(d, run_id=f"r{i}", customer_id=customers[i % n], entered_at=T0) for i in range(m)]
    start = time.perf_counter()
    for run in runs:
        step(d, run, Start(), T0, facts)
    steps = m / (time.perf_counter() - start)
    return decisions, steps


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--decisions", type=int, default=200_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = {"bandit": [], "uniform": []}
    for seed in range(args.seeds):
        results["bandit"].append(simulate(args.customers, args.days, seed, adaptive=True))
        results["uniform"].append(simulate(args.customers, args.days, seed, adaptive=False))
    print(f"3 arms converting at {', '.join(f'{a} {r:.0%}' for a, r in RATES.items())}; {args.customers:,} customers "
          f"over {args.days} days; {args.seeds} seeds; goal window 48 h")
    print(f"{'':10}{'lost (expected)':>18}{'lost (counted)':>16}{'weight changes':>16}")
    mean = {}
    for name, runs in results.items():
        expected = float(np.mean([r[0] for r in runs]))
        counted = float(np.mean([r[1] for r in runs]))
        changes = float(np.mean([r[2] for r in runs]))
        mean[name] = expected
        print(f"{name:10}{expected:>18,.0f}{counted:>16,.0f}{changes:>16,.0f}")
    ratio = mean["bandit"] / mean["uniform"]
    print(f"bandit / uniform: {ratio:.2f} (target <= 0.30: {'met' if ratio <= 0.30 else 'NOT met'})")
    decisions, steps = throughput(args.decisions)
    print(f"assignment: {decisions:,.0f} decisions/s (target >= 50,000: {'met' if decisions >= 50_000 else 'NOT met'});"
          f" engine steps through the bandit node: {steps:,.0f}/s")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
