"""The lift's 95 % interval: Newcombe's published examples, and sane on any counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchline.journeys.lift import lift_interval


@pytest.mark.parametrize(("counts", "expected"), [
    # Newcombe (1998), table II, method 10.
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
])
def test_newcombes_examples(counts: tuple[int, int, int, int], expected: tuple[float, float]) -> None:
    low, high = lift_interval(*counts)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == expected


def test_no_interval_without_runs_on_both_sides() -> None:
    assert lift_interval(3, 10, 0, 0) is None
    assert lift_interval(0, 0, 1, 5) is None


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_the_interval_holds_the_observed_lift(treated: tuple[int, int], held: tuple[int, int]) -> None:
    low, high = lift_interval(*treated, *held)  # type: ignore[misc]
    lift = treated[0] / treated[1] - held[0] / held[1]
    assert -1.0 - 1e-9 <= low <= lift + 1e-9 and lift - 1e-9 <= high <= 1.0 + 1e-9
