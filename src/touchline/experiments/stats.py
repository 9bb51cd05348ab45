"""The statistics of an experiment's readout: pure functions over summary statistics (no I/O).

Each arm is compared with the control. Conversion metrics are summarised by (exposures, conversions),
revenue per recipient by (exposures, sum, sum of squares) of each exposed customer's revenue (zero for
those who bought nothing). The choices, written down as GrowthBook's engine (gbstats) writes its own:

- **Two proportions**: the pooled two-sided z-test (``statsmodels.stats.proportion.proportions_ztest``);
  the interval on the absolute lift by Agresti-Caffo (one success and one failure added to each arm,
  which keeps a sensible interval at zero conversions: ``confint_proportions_2indep(method=
  "agresti-caffo")``), on the relative lift by the log of the ratio with 0.5 added to each cell
  (``compare="ratio", method="log-adjusted"``).
- **Revenue**: Welch's t-test from the summary statistics (``scipy.stats.ttest_ind_from_stats``); the
  relative interval by the delta method (gbstats' ``frequentist_variance``).
- **Bayesian**: Beta(1 + conversions, 1 + failures) posteriors; the chance to beat control is
  P(p_arm > p_control) and the expected loss E[max(p_control - p_arm, 0)] (what choosing the arm costs
  if it is worse), both by numerical integration, not sampling. Revenue uses the normal approximation.
- **Sequential** (a marketer may look every day): the asymptotic confidence sequence of Waudby-Smith et
  al. (2023, eq. 9) on the difference, with its always-valid p-value (eq. 155), tuned for
  ``SEQUENTIAL_TUNING`` exposures as gbstats is (``sequential_tuning_parameter``). This is the interval
  the verdict reads.
- **Sample ratio mismatch**: Pearson's chi-square of exposures against the planned weights; p < 0.001
  flags it (GrowthBook's default). A flagged readout has no winner.
- **Multiple arms**: Holm's step-down (default) or Benjamini-Hochberg over the arms' p-values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import integrate, stats

__all__ = [
    "ALPHA",
    "SEQUENTIAL_TUNING",
    "SRM_P",
    "ArmResult",
    "ArmSummary",
    "Interval",
    "Readout",
    "adjust",
    "benjamini_hochberg",
    "beta_chance_to_beat",
    "beta_expected_loss",
    "confidence_sequence",
    "holm",
    "normal_chance_to_beat",
    "readout",
    "srm",
    "two_proportions",
    "welch",
]

ALPHA = 0.05
SRM_P = 0.001
SEQUENTIAL_TUNING = 5000.0
MIN_EXPOSURES = 30  # per arm, before any verdict but "not enough data"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_list(self) -> list[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Test:
    """A comparison of one arm with the control: the estimate, its interval and the two-sided p-value."""

    estimate: float
    interval: Interval
    p_value: float
    relative: float | None = None
    relative_interval: Interval | None = None


# --- frequentist tests -------------------------------------------------------------------------------


def two_proportions(x_c: int, n_c: int, x_t: int, n_t: int, alpha: float = ALPHA) -> Test:
    """The treatment's conversion rate minus the control's, with its interval and the pooled z-test's
    p-value; ``relative`` is p_t / p_c - 1 (None when the control converted nobody)."""
    _check_counts(x_c, n_c)
    _check_counts(x_t, n_t)
    p_c, p_t = x_c / n_c, x_t / n_t
    z_crit = stats.norm.ppf(1 - alpha / 2)
    pooled = (x_c + x_t) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p_t - p_c) / se_pooled))
    # Agresti-Caffo: add one success and one failure to each arm
    a_c, a_t = (x_c + 1) / (n_c + 2), (x_t + 1) / (n_t + 2)
    se = math.sqrt(a_c * (1 - a_c) / (n_c + 2) + a_t * (1 - a_t) / (n_t + 2))
    diff = a_t - a_c
    interval = Interval(diff - z_crit * se, diff + z_crit * se)
    # the ratio on the log scale, 0.5 added to every cell (finite with zero conversions)
    h_c, h_t = x_c + 0.5, x_t + 0.5
    log_ratio = math.log((h_t / (n_t + 0.5)) / (h_c / (n_c + 0.5)))
    se_log = math.sqrt(1 / h_t - 1 / (n_t + 0.5) + 1 / h_c - 1 / (n_c + 0.5))
    relative_interval = Interval(math.exp(log_ratio - z_crit * se_log) - 1, math.exp(log_ratio + z_crit * se_log) - 1)
    return Test(p_t - p_c, interval, p_value, (p_t / p_c - 1) if x_c else None, relative_interval)


def welch(mean_c: float, var_c: float, n_c: int, mean_t: float, var_t: float, n_t: int,
          alpha: float = ALPHA) -> Test:
    """Welch's unequal-variance t-test on the means (revenue per recipient) from summary statistics,
    with the intervals on the difference (Welch-Satterthwaite degrees of freedom) and on the relative
    lift (delta method, normal); ``var_*`` are sample variances (n - 1 in the denominator)."""
    if n_c < 2 or n_t < 2:
        raise ValueError("Welch's t needs at least two observations per arm")
    v = var_c / n_c + var_t / n_t
    diff = mean_t - mean_c
    if v <= 0:
        same = Interval(diff, diff)
        return Test(diff, same, 1.0 if diff == 0 else 0.0, _relative(mean_c, mean_t), None)
    df = v ** 2 / ((var_c / n_c) ** 2 / (n_c - 1) + (var_t / n_t) ** 2 / (n_t - 1))
    t_crit = stats.t.ppf(1 - alpha / 2, df)
    p_value = float(2 * stats.t.sf(abs(diff) / math.sqrt(v), df))
    interval = Interval(diff - t_crit * math.sqrt(v), diff + t_crit * math.sqrt(v))
    relative_interval = None
    if mean_c > 0:
        rel_var = var_t / (mean_c ** 2 * n_t) + var_c * mean_t ** 2 / (mean_c ** 4 * n_c)
        z_crit = stats.norm.ppf(1 - alpha / 2)
        rel = mean_t / mean_c - 1
        relative_interval = Interval(rel - z_crit * math.sqrt(rel_var), rel + z_crit * math.sqrt(rel_var))
    return Test(diff, interval, p_value, _relative(mean_c, mean_t), relative_interval)


def _relative(mean_c: float, mean_t: float) -> float | None:
    return mean_t / mean_c - 1 if mean_c else None


def confidence_sequence(estimate: float, variance: float, n_total: int, alpha: float = ALPHA,
                        tuning: float = SEQUENTIAL_TUNING) -> tuple[Interval, float]:
    """The always-valid interval on a difference whose estimator has ``variance`` after ``n_total``
    exposures (both arms), and its always-valid p-value: Waudby-Smith et al. (2023) eq. 9 and 155, the
    asymptotic confidence sequence tuned to be narrowest near ``tuning`` exposures. Valid at every look:
    the chance that it ever excludes the truth is at most ``alpha``."""
    if n_total <= 0 or variance <= 0:
        return Interval(-math.inf, math.inf), 1.0
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    s2 = variance * n_total  # the per-exposure variance
    n_rho2 = n_total * rho2
    width = math.sqrt(s2) * math.sqrt(
        2 * (n_rho2 + 1) * math.log(math.sqrt(n_rho2 + 1) / alpha) / (n_total ** 2 * rho2))
    st2 = estimate ** 2 * n_total / variance
    log_e = rho2 * st2 / (2 * (n_rho2 + 1)) - 0.5 * math.log(n_rho2 + 1)
    p_value = 1.0 if log_e <= 0 else math.exp(-log_e)
    return Interval(estimate - width, estimate + width), p_value


# --- Bayesian ----------------------------------------------------------------------------------------


def _beta_bounds(*dists: Any) -> tuple[float, float]:
    low = min(float(d.ppf(1e-10)) for d in dists)
    high = max(float(d.isf(1e-10)) for d in dists)
    return max(low, 0.0), min(high, 1.0)


def beta_chance_to_beat(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    """P(p_t > p_c) under independent Beta(1 + x, 1 + n - x) posteriors (uniform priors), integrated."""
    _check_counts(x_c, n_c)
    _check_counts(x_t, n_t)
    c = stats.beta(1 + x_c, 1 + n_c - x_c)
    t = stats.beta(1 + x_t, 1 + n_t - x_t)
    low, high = _beta_bounds(c, t)
    value, _ = integrate.quad(lambda p: t.pdf(p) * c.cdf(p), low, high, limit=200,
                              points=[c.mean(), t.mean()])
    return float(min(max(value, 0.0), 1.0))


def beta_expected_loss(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    """E[max(p_c - p_t, 0)]: the conversion rate given up, on average, by choosing the treatment.
    For X ~ Beta(a, b), E[max(c - X, 0)] = c I_c(a, b) - a / (a + b) I_c(a + 1, b); integrated over p_c."""
    _check_counts(x_c, n_c)
    _check_counts(x_t, n_t)
    a_t, b_t = 1 + x_t, 1 + n_t - x_t
    c = stats.beta(1 + x_c, 1 + n_c - x_c)
    t = stats.beta(a_t, b_t)
    low, high = _beta_bounds(c, t)
    mean_t = a_t / (a_t + b_t)

    def shortfall(p: float) -> float:
        return float(c.pdf(p) * (p * stats.beta.cdf(p, a_t, b_t) - mean_t * stats.beta.cdf(p, a_t + 1, b_t)))

    value, _ = integrate.quad(shortfall, low, high, limit=200, points=[c.mean(), t.mean()])
    return float(max(value, 0.0))


def normal_chance_to_beat(diff: float, se: float) -> float:
    """P(true difference > 0) under a flat prior and a normal likelihood (revenue per recipient)."""
    if se <= 0:
        return 0.5 if diff == 0 else float(diff > 0)
    return float(stats.norm.cdf(diff / se))


def normal_expected_loss(diff: float, se: float) -> float:
    """E[max(-D, 0)] for D ~ N(diff, se^2)."""
    if se <= 0:
        return max(-diff, 0.0)
    z = diff / se
    return float(se * stats.norm.pdf(z) - diff * stats.norm.sf(z))


# --- checks across arms ------------------------------------------------------------------------------


def srm(exposures: Sequence[int], weights: Sequence[float]) -> float:
    """The p-value of Pearson's chi-square test of the exposures against the planned weights (any scale);
    1.0 with no exposures. Below ``SRM_P`` the assignment is broken and the readout cannot be trusted."""
    total = sum(exposures)
    weight_sum = sum(weights)
    if total == 0 or len(exposures) < 2 or weight_sum <= 0:
        return 1.0
    expected = [total * w / weight_sum for w in weights]
    if any(e <= 0 for e in expected):
        return 0.0 if any(x > 0 for x, e in zip(exposures, expected, strict=True) if e <= 0) else 1.0
    chi2 = sum((x - e) ** 2 / e for x, e in zip(exposures, expected, strict=True))
    return float(stats.chi2.sf(chi2, len(exposures) - 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def adjust(p_values: Sequence[float], method: Literal["holm", "bh"] = "holm") -> list[float]:
    return holm(p_values) if method == "holm" else benjamini_hochberg(p_values)


def _check_counts(x: int, n: int) -> None:
    if n <= 0 or x < 0 or x > n:
        raise ValueError(f"expected 0 <= conversions <= exposures and exposures > 0, got {x}/{n}")


# --- the readout -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmSummary:
    """One arm's data: exposures, and for the metric either ``conversions`` (a proportion) or the sum
    and sum of squares of each exposed customer's value (revenue per recipient)."""

    name: str
    exposures: int
    conversions: int = 0
    value_sum: float = 0.0
    value_sum_squares: float = 0.0
    weight: float = 1.0  # the planned share, for the SRM check

    def mean(self, kind: str) -> float:
        if not self.exposures:
            return 0.0
        return (self.conversions if kind == "conversion" else self.value_sum) / self.exposures

    def variance(self, kind: str) -> float:
        """The sample variance of one exposure's outcome."""
        n = self.exposures
        if n < 2:
            return 0.0
        if kind == "conversion":
            p = self.conversions / n
            return p * (1 - p) * n / (n - 1)
        return max((self.value_sum_squares - self.value_sum ** 2 / n) / (n - 1), 0.0)


@dataclass(frozen=True)
class ArmResult:
    name: str
    exposures: int
    conversions: int
    value_sum: float
    mean: float
    control: bool
    lift: float | None = None
    lift_interval: Interval | None = None
    relative_lift: float | None = None
    relative_interval: Interval | None = None
    p_value: float | None = None
    adjusted_p_value: float | None = None
    sequential_interval: Interval | None = None
    sequential_p_value: float | None = None
    chance_to_beat: float | None = None
    expected_loss: float | None = None
    significant: bool = False  # the sequential interval excludes zero after the correction across arms

    def as_dict(self) -> dict[str, Any]:
        def iv(i: Interval | None) -> list[float | None] | None:
            return None if i is None else [_finite(i.low), _finite(i.high)]

        return {"name": self.name, "control": self.control, "exposures": self.exposures,
                "conversions": self.conversions, "value_sum": float(self.value_sum), "mean": float(self.mean),
                "lift": _finite(self.lift), "lift_interval": iv(self.lift_interval),
                "relative_lift": _finite(self.relative_lift), "relative_interval": iv(self.relative_interval),
                "p_value": _finite(self.p_value), "adjusted_p_value": _finite(self.adjusted_p_value),
                "sequential_interval": iv(self.sequential_interval),
                "sequential_p_value": _finite(self.sequential_p_value), "chance_to_beat": _finite(self.chance_to_beat),
                "expected_loss": _finite(self.expected_loss), "significant": bool(self.significant)}


def _finite(x: float | None) -> float | None:
    """A plain float for JSON (numpy's are not), None for nothing or an infinite bound."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Readout:
    metric: str  # conversion | revenue
    arms: list[ArmResult]
    srm_p_value: float
    srm_flag: bool
    verdict: str  # winner | control_better | no_difference_yet | not_enough_data | srm
    winner: str | None = None
    correction: str = "holm"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "arms": [a.as_dict() for a in self.arms],
                "srm_p_value": float(self.srm_p_value), "srm": bool(self.srm_flag),
                "verdict": self.verdict, "winner": self.winner, "correction": self.correction}


def readout(arms: Sequence[ArmSummary], control: str, *, metric: Literal["conversion", "revenue"] = "conversion",
            alpha: float = ALPHA, correction: Literal["holm", "bh"] = "holm",
            tuning: float = SEQUENTIAL_TUNING, min_exposures: int = MIN_EXPOSURES, check_srm: bool = True,
            holdout: str | None = None) -> Readout:
    """Every arm against ``control``: the fixed-horizon test and intervals, the Bayesian chance to beat
    control and expected loss, and the sequential interval the verdict reads (significant when its
    always-valid p-value, corrected across the arms, is below ``alpha``). The verdict: ``srm`` when the
    exposures do not match the weights (unless ``check_srm`` is false: a bandit moves its weights on purpose);
    ``not_enough_data`` while an arm has fewer than ``min_exposures``;
    ``winner`` (the significant arm with the best estimate) or ``control_better`` (every significant arm
    is worse); ``no_difference_yet`` otherwise. ``holdout`` names the arm that got nothing: its lift against
    the control answers another question (does the message help at all?), so it is tested on its own,
    outside the family of variants the correction spans, and is never the winner."""
    by_name: Mapping[str, ArmSummary] = {a.name: a for a in arms}
    if control not in by_name:
        raise ValueError(f"no arm named {control!r}")
    c = by_name[control]
    srm_p = srm([a.exposures for a in arms], [a.weight for a in arms]) if check_srm else 1.0
    results: dict[str, dict[str, Any]] = {}
    seq_p: dict[str, float] = {}
    for a in arms:
        base: dict[str, Any] = {"name": a.name, "exposures": a.exposures, "conversions": a.conversions,
                                "value_sum": a.value_sum, "mean": a.mean(metric), "control": a.name == control}
        results[a.name] = base
        if a.name == control or not a.exposures or not c.exposures:
            continue
        if metric == "conversion":
            test = two_proportions(c.conversions, c.exposures, a.conversions, a.exposures, alpha)
            base["chance_to_beat"] = beta_chance_to_beat(c.conversions, c.exposures, a.conversions, a.exposures)
            base["expected_loss"] = beta_expected_loss(c.conversions, c.exposures, a.conversions, a.exposures)
        elif a.exposures >= 2 and c.exposures >= 2:
            test = welch(c.mean(metric), c.variance(metric), c.exposures, a.mean(metric), a.variance(metric),
                         a.exposures, alpha)
            se = math.sqrt(c.variance(metric) / c.exposures + a.variance(metric) / a.exposures)
            base["chance_to_beat"] = normal_chance_to_beat(test.estimate, se)
            base["expected_loss"] = normal_expected_loss(test.estimate, se)
        else:
            continue
        if metric == "conversion":
            # the rates with one success and one failure added (as the Agresti-Caffo interval): an arm that
            # converted nobody, or everybody, still has a variance, so the sequence has a finite width
            variance = sum(p * (1 - p) / arm.exposures for arm in (c, a)
                           for p in [(arm.conversions + 1) / (arm.exposures + 2)])
        else:
            variance = c.variance(metric) / c.exposures + a.variance(metric) / a.exposures
        seq_interval, p_seq = confidence_sequence(test.estimate, variance, c.exposures + a.exposures, alpha, tuning)
        seq_p[a.name] = p_seq
        base.update(lift=test.estimate, lift_interval=test.interval, relative_lift=test.relative,
                    relative_interval=test.relative_interval, p_value=test.p_value,
                    sequential_interval=seq_interval, sequential_p_value=p_seq)
    names = [n for n in seq_p if n != holdout]
    adjusted = dict(zip(names, adjust([seq_p[n] for n in names], correction), strict=True))
    if holdout in seq_p:
        adjusted[holdout] = seq_p[holdout]
    for name, p in adjusted.items():
        results[name]["adjusted_p_value"] = p
        results[name]["significant"] = p < alpha
    out = [ArmResult(**results[a.name]) for a in arms]
    flagged = srm_p < SRM_P
    winner = None
    if flagged:
        verdict = "srm"
    elif any(a.exposures < min_exposures for a in arms):
        verdict = "not_enough_data"
    else:
        variants = [r for r in out if r.name != holdout]
        better = [r for r in variants if r.significant and (r.lift or 0) > 0]
        worse = [r for r in variants if r.significant and (r.lift or 0) < 0]
        if better:
            verdict, winner = "winner", max(better, key=lambda r: r.lift or 0).name
        elif worse and len(worse) == len(variants) - 1:
            verdict, winner = "control_better", control
        else:
            verdict = "no_difference_yet"
    return Readout(metric, out, srm_p, flagged, verdict, winner, correction)


def posterior_best(arms: Sequence[tuple[int, int]], draws: int, rng: np.random.Generator) -> list[float]:
    """Each arm's chance of having the highest conversion rate, from ``draws`` joint samples of the Beta
    posteriors of (exposures, conversions): Thompson sampling's allocation."""
    if not arms:
        return []
    a = np.array([1 + x for _, x in arms], dtype=float)
    b = np.array([1 + n - x for n, x in arms], dtype=float)
    samples = rng.beta(a, b, size=(draws, len(arms)))
    wins = np.bincount(samples.argmax(axis=1), minlength=len(arms))
    return [float(w) / draws for w in wins]
