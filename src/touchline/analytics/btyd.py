"""BG/NBD (how often a customer will buy) and Gamma-Gamma (how much), fitted by maximum likelihood.

``lifetimes`` (last release 2020, archived) and ``btyd`` (a 2022 beta) are unmaintained, and
``pymc-marketing`` brings PyMC and a sampler for what is a four-parameter fit. So the log-likelihoods
(Fader, Hardie & Lee 2005; Fader & Hardie 2013) are written here, and SciPy does the maths: Gauss's
hypergeometric function and a Nelder-Mead search over log-parameters (which keeps them positive).
Customers with the same (x, t_x, T) are fitted once, weighted, so a shop's worth of one-time buyers
costs little.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import optimize
from scipy.special import hyp2f1


@dataclass(frozen=True)
class Rfm:
    """One customer's purchases in the model's terms (time in days)."""

    x: int  # repeat purchases (all purchases but the first)
    t_x: float  # first purchase to last
    T: float  # first purchase to now (the literature's name)
    monetary: float = 0.0  # mean value of the repeat purchases (0 when x == 0)


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float


def _logaddexp(u: float, w: float) -> float:
    hi = max(u, w)
    return hi + math.log(math.exp(u - hi) + math.exp(w - hi))


def bgnbd_log_likelihood(m: BgNbd, c: Rfm) -> float:
    """Fader, Hardie & Lee (2005), equation (6), in logs."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    a1 = math.lgamma(r + c.x) - math.lgamma(r) + r * math.log(alpha)
    a2 = math.lgamma(a + b) + math.lgamma(b + c.x) - math.lgamma(b) - math.lgamma(a + b + c.x)
    a3 = -(r + c.x) * math.log(alpha + c.T)
    if c.x == 0:
        return a1 + a2 + a3
    a4 = math.log(a) - math.log(b + c.x - 1) - (r + c.x) * math.log(alpha + c.t_x)
    return a1 + a2 + _logaddexp(a3, a4)


def expected_purchases(m: BgNbd, c: Rfm, t: float) -> float:
    """E[X(t) | x, t_x, T]: purchases in the next ``t`` days (Fader, Hardie & Lee 2005, eq. 10)."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    z = t / (alpha + c.T + t)
    head = (a + b + c.x - 1) / (a - 1)
    body = 1 - ((alpha + c.T) / (alpha + c.T + t)) ** (r + c.x) * hyp2f1(r + c.x, b + c.x, a + b + c.x - 1, z)
    alive = 1 + (a / (b + c.x - 1) * ((alpha + c.T) / (alpha + c.t_x)) ** (r + c.x) if c.x > 0 else 0)
    return head * body / alive


def gamma_gamma_log_likelihood(m: GammaGamma, c: Rfm) -> float:
    """Fader & Hardie's Gamma-Gamma spend model, for a customer with x >= 1 and mean spend ``monetary``."""
    p, q, v, x, z = m.p, m.q, m.v, c.x, c.monetary
    return (math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q) + q * math.log(v)
            + (p * x - 1) * math.log(z) + p * x * math.log(x) - (p * x + q) * math.log(x * z + v))


def expected_spend(m: GammaGamma, c: Rfm) -> float:
    """E[M | p, q, v, x, mean spend]; the population mean for a customer without repeat purchases."""
    population = m.p * m.v / (m.q - 1) if m.q > 1 else float("nan")
    if c.x == 0:
        return population
    weight = (m.q - 1) / (m.p * c.x + m.q - 1)
    return weight * population + (1 - weight) * c.monetary


def _fit(log_likelihood: Callable[[list[float], Rfm], float], customers: Sequence[Rfm], n: int) -> list[float]:
    weighted = Counter(customers)

    def cost(log_params: Sequence[float]) -> float:
        if any(abs(v) > 30 for v in log_params):
            return math.inf
        params = [math.exp(v) for v in log_params]
        try:
            return -sum(w * log_likelihood(params, c) for c, w in weighted.items())
        except (ValueError, OverflowError, ZeroDivisionError):
            return math.inf

    found = optimize.minimize(cost, [0.0] * n, method="Nelder-Mead",
                              options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-10})
    return [math.exp(v) for v in found.x]


def fit_bgnbd(customers: Sequence[Rfm]) -> BgNbd:
    key = [Rfm(c.x, c.t_x, c.T) for c in customers]  # spend does not enter this model
    return BgNbd(*_fit(lambda p, c: bgnbd_log_likelihood(BgNbd(*p), c), key, 4))


def fit_gamma_gamma(customers: Sequence[Rfm]) -> GammaGamma:
    """Fitted on customers with repeat purchases (the only ones whose spend varies)."""
    repeaters = [c for c in customers if c.x > 0 and c.monetary > 0]
    return GammaGamma(*_fit(lambda p, c: gamma_gamma_log_likelihood(GammaGamma(*p), c), repeaters, 3))
