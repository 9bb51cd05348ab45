"""The readout's statistics against independent implementations (statsmodels, scipy on raw data, exact
formulas, gbstats when it is installed) on varied cases, and an A/A simulation of a marketer who looks
every day for 30 days."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from touchline.experiments import stats
from touchline.experiments.stats import ArmSummary

# (control conversions, control exposures, treatment conversions, treatment exposures)
PROPORTION_CASES = [
    (50, 1000, 70, 1000),  # ordinary
    (0, 20, 3, 25),  # small counts, a zero
    (5, 37, 1, 80),  # small, unequal split
    (400, 10_000, 450, 12_000),  # large, unequal
    (1, 3, 2, 3),  # tiny
    (0, 500, 0, 700),  # zero conversions in both
    (999, 1000, 1000, 1000),  # near one
]


@pytest.mark.parametrize(("xc", "nc", "xt", "nt"), PROPORTION_CASES)
def test_two_proportions_matches_statsmodels(xc: int, nc: int, xt: int, nt: int) -> None:
    t = stats.two_proportions(xc, nc, xt, nt)
    assert t.estimate == pytest.approx(xt / nt - xc / nc)
    low, high = confint_proportions_2indep(xt, nt, xc, nc, method="agresti-caffo")
    assert (t.interval.low, t.interval.high) == pytest.approx((low, high), abs=1e-12)
    rlow, rhigh = confint_proportions_2indep(xt, nt, xc, nc, compare="ratio", method="log-adjusted")
    assert t.relative_interval is not None
    assert (t.relative_interval.low, t.relative_interval.high) == pytest.approx((rlow - 1, rhigh - 1), rel=1e-9)
    if xc + xt in (0, nc + nt):
        assert t.p_value == 1.0  # no variation at all: nothing to reject (statsmodels gives nan)
    else:
        _, p = proportions_ztest([xt, xc], [nt, nc])
        assert t.p_value == pytest.approx(p, rel=1e-9)
    assert t.relative == (None if xc == 0 else pytest.approx((xt / nt) / (xc / nc) - 1))


def _revenue(rng: np.random.Generator, n: int, rate: float, mean_order: float) -> np.ndarray:
    bought = rng.random(n) < rate
    return np.where(bought, rng.lognormal(math.log(mean_order), 0.8, n), 0.0)


@pytest.mark.parametrize(("nc", "nt", "rate_c", "rate_t", "seed"), [
    (2000, 2000, 0.05, 0.06, 1),
    (30, 45, 0.2, 0.1, 2),  # small, unequal
    (500, 5000, 0.03, 0.03, 3),  # very unequal split
    (12, 9, 0.5, 0.5, 4),
])
def test_welch_matches_scipy_and_statsmodels_on_raw_data(nc: int, nt: int, rate_c: float, rate_t: float,
                                                         seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = _revenue(rng, nc, rate_c, 50_000)
    t = _revenue(rng, nt, rate_t, 50_000)
    result = stats.welch(c.mean(), c.var(ddof=1), nc, t.mean(), t.var(ddof=1), nt)
    reference = sps.ttest_ind(t, c, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-8)
    low, high = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(usevar="unequal")
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-8)
    # and through the arm summaries (sums and sums of squares, as the readout query gives them)
    arm_c = ArmSummary("a", nc, value_sum=float(c.sum()), value_sum_squares=float((c ** 2).sum()))
    arm_t = ArmSummary("b", nt, value_sum=float(t.sum()), value_sum_squares=float((t ** 2).sum()))
    r = stats.readout([arm_c, arm_t], "a", metric="revenue", min_exposures=2)
    assert r.arms[1].p_value == pytest.approx(reference.pvalue, rel=1e-6)


def _exact_chance_to_beat(a_t: int, b_t: int, a_c: int, b_c: int) -> float:
    """Evan Miller's closed form of P(p_t > p_c) for integer Beta parameters."""
    total = 0.0
    for i in range(a_t):
        total += math.exp(special.betaln(a_c + i, b_c + b_t) - math.log(b_t + i)
                          - special.betaln(1 + i, b_t) - special.betaln(a_c, b_c))
    return total


@pytest.mark.parametrize(("xc", "nc", "xt", "nt"), [c for c in PROPORTION_CASES if c[1] < 5000])
def test_chance_to_beat_control_matches_the_closed_form_and_sampling(xc: int, nc: int, xt: int, nt: int) -> None:
    exact = _exact_chance_to_beat(1 + xt, 1 + nt - xt, 1 + xc, 1 + nc - xc)
    assert stats.beta_chance_to_beat(xc, nc, xt, nt) == pytest.approx(exact, abs=1e-6)
    rng = np.random.default_rng(7)
    pc = rng.beta(1 + xc, 1 + nc - xc, 400_000)
    pt = rng.beta(1 + xt, 1 + nt - xt, 400_000)
    assert stats.beta_expected_loss(xc, nc, xt, nt) == pytest.approx(np.maximum(pc - pt, 0).mean(), abs=1e-3, rel=2e-2)


def test_chance_to_beat_on_large_counts() -> None:
    # 10,000 vs 12,000 exposures: the posteriors are narrow, the integral must still find them
    p = stats.beta_chance_to_beat(400, 10_000, 450, 12_000)
    rng = np.random.default_rng(3)
    sampled = (rng.beta(451, 11_551, 400_000) > rng.beta(401, 9601, 400_000)).mean()
    assert p == pytest.approx(sampled, abs=3e-3)


def test_srm_matches_scipy_chisquare_and_flags_below_one_in_a_thousand() -> None:
    for exposures, weights in [([5000, 5000], [1, 1]), ([5000, 5300], [50, 50]), ([1000, 2000, 3100], [1, 2, 3]),
                               ([900, 100], [90, 10])]:
        total = sum(exposures)
        expected = [total * w / sum(weights) for w in weights]
        assert stats.srm(exposures, weights) == pytest.approx(sps.chisquare(exposures, expected).pvalue, rel=1e-9)
    assert stats.srm([5000, 5400], [1, 1]) < stats.SRM_P
    assert stats.srm([5000, 5100], [1, 1]) > stats.SRM_P
    assert stats.srm([0, 0], [1, 1]) == 1.0


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03, 0.2], [0.001, 0.001, 0.5], [0.9, 0.02], [0.04]])
def test_holm_and_benjamini_hochberg_match_statsmodels(p_values: list[float]) -> None:
    assert stats.holm(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))
    assert stats.benjamini_hochberg(p_values) == pytest.approx(list(multipletests(p_values, method="fdr_bh")[1]))


# GrowthBook's engine (gbstats 0.8.0, SequentialTwoSidedTTest on ProportionStatistic, difference_type
# "absolute", its default tuning), computed in a venv of its own: gbstats pins numpy < 2 and pandas 1.x,
# which this project's other dependencies do not allow in one environment. Regenerate with
#   pip install gbstats==0.8.0 && python -c 'import gbstats.frequentist.tests as gb; ...'
# (the loop in test_confidence_sequence_matches_gbstats, printing confidence_interval and p_value).
GBSTATS_SEQUENTIAL = [
    ((50, 1000, 70, 1000), (-0.013147403044727057, 0.053147403044727065), 0.5292922760720783),
    ((400, 10_000, 450, 12_000), (-0.010711549459171086, 0.005711549459171081), 1.0),
    ((5, 37, 1, 80), (-0.48366489661771755, 0.2383946263474473), 0.7631382366991976),
    ((0, 500, 3, 500), (-0.00561783776158818, 0.01761783776158818), 0.6373156701663221),  # no conversions in control
    ((120, 2000, 95, 1500), (-0.02175238574456244, 0.02841905241122912), 1.0),  # unequal split
]


@pytest.mark.parametrize(("counts", "gb_interval", "gb_p"), GBSTATS_SEQUENTIAL)
def test_confidence_sequence_matches_gbstats(counts: tuple[int, int, int, int], gb_interval: tuple[float, float],
                                             gb_p: float) -> None:
    xc, nc, xt, nt = counts
    var = (xc / nc) * (1 - xc / nc) / nc + (xt / nt) * (1 - xt / nt) / nt
    interval, p = stats.confidence_sequence(xt / nt - xc / nc, var, nc + nt)
    assert (interval.low, interval.high) == pytest.approx(gb_interval, rel=1e-9)
    assert p == pytest.approx(gb_p, rel=1e-9)


def test_confidence_sequence_is_wider_than_the_fixed_interval() -> None:
    fixed = stats.two_proportions(50, 1000, 70, 1000)
    seq, p_seq = stats.confidence_sequence(0.02, 0.05 * 0.95 / 1000 + 0.07 * 0.93 / 1000, 2000)
    assert seq.high - seq.low > fixed.interval.high - fixed.interval.low
    assert p_seq > fixed.p_value


def test_a_a_with_a_daily_look_for_30_days_keeps_false_positives_at_or_below_five_percent() -> None:
    """1,000 A/A experiments (5 % conversion in both arms, 150 new customers per arm a day); a marketer
    reads each every day for 30 days and stops at the first 'significant'. With the sequential interval
    at most 5 % ever call a winner; the fixed-horizon test read the same way does far worse (which is
    why the verdict reads the sequential one)."""
    rng = np.random.default_rng(20261202)
    sims, days, per_day, rate = 1000, 30, 150, 0.05
    conv = rng.binomial(per_day, rate, size=(sims, days, 2)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    p = conv / n[None, :, None]
    diff = p[..., 1] - p[..., 0]
    var = p[..., 0] * (1 - p[..., 0]) / n + p[..., 1] * (1 - p[..., 1]) / n
    alpha = stats.ALPHA
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / stats.SEQUENTIAL_TUNING
    n_total = 2 * n[None, :]
    st2 = np.divide(diff ** 2 * n_total, var, out=np.zeros_like(diff), where=var > 0)
    log_e = rho2 * st2 / (2 * (n_total * rho2 + 1)) - 0.5 * np.log(n_total * rho2 + 1)
    sequential_p = np.minimum(np.exp(-log_e), 1.0)
    false_positives = (sequential_p < alpha).any(axis=1).mean()
    assert false_positives <= 0.05
    # the vectorised form is the module's function
    i, d = 17, 11
    _, p_one = stats.confidence_sequence(float(diff[i, d]), float(var[i, d]), int(n_total[0, d]))
    assert p_one == pytest.approx(float(sequential_p[i, d]))
    # the same looks with the fixed-horizon z-test
    pooled = (conv[..., 0] + conv[..., 1]) / (2 * n[None, :])
    se = np.sqrt(pooled * (1 - pooled) * 2 / n[None, :])
    z = np.divide(np.abs(diff), se, out=np.zeros_like(diff), where=se > 0)
    peeking = (2 * sps.norm.sf(z) < alpha).any(axis=1).mean()
    assert peeking > 0.15


def test_readout_verdicts() -> None:
    arms = [ArmSummary("a", 5000, 250), ArmSummary("b", 5000, 330), ArmSummary("c", 5000, 255)]
    r = stats.readout(arms, "a")
    assert r.verdict == "winner" and r.winner == "b"
    b = r.arms[1]
    assert b.significant and b.chance_to_beat is not None and b.chance_to_beat > 0.99
    assert b.adjusted_p_value is not None and b.sequential_p_value is not None
    assert b.adjusted_p_value >= b.sequential_p_value
    assert not r.arms[2].significant
    assert stats.readout([ArmSummary("a", 5000, 250), ArmSummary("b", 5000, 252)], "a").verdict == "no_difference_yet"
    assert stats.readout([ArmSummary("a", 10, 1), ArmSummary("b", 12, 2)], "a").verdict == "not_enough_data"
    srm = stats.readout([ArmSummary("a", 5000, 250), ArmSummary("b", 5600, 330)], "a")
    assert srm.verdict == "srm" and srm.srm_flag and srm.winner is None
    worse = stats.readout([ArmSummary("a", 5000, 330), ArmSummary("b", 5000, 250)], "a")
    assert worse.verdict == "control_better" and worse.winner == "a"
    # zero conversions everywhere is a readout, not an error
    zero = stats.readout([ArmSummary("a", 400, 0), ArmSummary("b", 400, 0)], "a")
    assert zero.verdict == "no_difference_yet" and zero.arms[1].chance_to_beat == pytest.approx(0.5, abs=1e-6)
    assert zero.as_dict()["arms"][1]["lift"] == 0


def test_posterior_best_prefers_the_better_arm() -> None:
    rng = np.random.default_rng(1)
    shares = stats.posterior_best([(1000, 40), (1000, 50), (1000, 60)], 20_000, rng)
    assert sum(shares) == pytest.approx(1.0)
    assert shares[2] > shares[1] > shares[0]


def test_the_holdout_is_tested_on_its_own_and_never_wins() -> None:
    """The holdout (nothing sent) answers whether the message helps at all: it is outside the family of
    variants the correction spans, and a holdout that beats the control is not the experiment's winner."""
    arms = [stats.ArmSummary("plain", 381, 53, weight=0.3), stats.ArmSummary("urgency", 363, 47, weight=0.3),
            stats.ArmSummary("free-shipping", 340, 88, weight=0.3), stats.ArmSummary("holdout", 116, 4, weight=0.1)]
    alone = stats.readout(arms, "plain", holdout="holdout")
    by = {a.name: a for a in alone.arms}
    assert by["free-shipping"].adjusted_p_value == pytest.approx(stats.holm(
        [by["urgency"].sequential_p_value or 1, by["free-shipping"].sequential_p_value or 1])[1])
    assert by["holdout"].adjusted_p_value == by["holdout"].sequential_p_value
    assert alone.verdict == "winner" and alone.winner == "free-shipping"
    # the same arms with the holdout counted as a variant: three comparisons, and no winner yet
    assert stats.readout(arms, "plain").verdict == "no_difference_yet"
    # a holdout doing better than a message that puts people off is not a winner
    off_putting = [stats.ArmSummary("plain", 2000, 40, weight=0.9), stats.ArmSummary("holdout", 2000, 160, weight=0.1)]
    result = stats.readout(off_putting, "plain", holdout="holdout", check_srm=False)
    assert result.winner is None and {a.name: a.significant for a in result.arms}["holdout"]
