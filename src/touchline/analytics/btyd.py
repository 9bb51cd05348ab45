"""BG/NBD (how often a customer will buy) and Gamma-Gamma (how much), fitted by maximum likelihood.

``lifetimes`` (last release 2020, archived) and ``btyd`` (a 2022 beta) are unmaintained, and
``pymc-marketing`` brings PyMC and a sampler for what is a four-parameter fit. So the log-likelihoods
(Fader, Hardie & Lee 2005; Fader & Hardie 2013) are written here, and SciPy does the maths: Gauss's
hypergeometric function and a Nelder-Mead search over log-parameters (which keeps them positive).
The likelihoods are also written over NumPy arrays, which is what the fit evaluates, thousands of
times: a shop's worth of customers costs milliseconds per evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import gammaln, hyp2f1


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
    """E[X(t) | x, t_x, T]: purchases in the next ``t`` days (Fader, Hardie & Lee 2005, eq. 10).

    A Python float: SciPy's ``hyp2f1`` answers ``numpy.float64``, which JSON encoders (orjson) refuse."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    z = t / (alpha + c.T + t)
    head = (a + b + c.x - 1) / (a - 1)
    body = 1 - ((alpha + c.T) / (alpha + c.T + t)) ** (r + c.x) * hyp2f1(r + c.x, b + c.x, a + b + c.x - 1, z)
    alive = 1 + (a / (b + c.x - 1) * ((alpha + c.T) / (alpha + c.t_x)) ** (r + c.x) if c.x > 0 else 0)
    return float(head * body / alive)


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
    return float(weight * population + (1 - weight) * c.monetary)


def _bgnbd_total(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    """``bgnbd_log_likelihood`` summed over all customers at once (NumPy arrays)."""
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                  -np.inf)
    return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def _gamma_gamma_total(log_params: np.ndarray, x: np.ndarray, z: np.ndarray) -> float:
    """``gamma_gamma_log_likelihood`` summed over all customers at once."""
    p, q, v = np.exp(log_params)
    return float(np.sum(gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
                        + (p * x - 1) * np.log(z) + p * x * np.log(x) - (p * x + q) * np.log(x * z + v)))


def _fit(total: Callable[..., float], n: int, *columns: np.ndarray) -> list[float]:
    def cost(log_params: np.ndarray) -> float:
        if np.any(np.abs(log_params) > 30):
            return math.inf
        with np.errstate(all="ignore"):
            value = -total(log_params, *columns)
        return value if math.isfinite(value) else math.inf

    found = optimize.minimize(cost, np.zeros(n), method="Nelder-Mead",
                              options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-10})
    return [float(v) for v in np.exp(found.x)]


def fit_bgnbd(customers: Sequence[Rfm]) -> BgNbd:
    x = np.array([c.x for c in customers], dtype=float)
    t_x = np.array([c.t_x for c in customers], dtype=float)
    age = np.array([c.T for c in customers], dtype=float)
    return BgNbd(*_fit(_bgnbd_total, 4, x, t_x, age))


def fit_gamma_gamma(customers: Sequence[Rfm]) -> GammaGamma:
    """Fitted on customers with repeat purchases (the only ones whose spend varies)."""
    repeaters = [c for c in customers if c.x > 0 and c.monetary > 0]
    x = np.array([c.x for c in repeaters], dtype=float)
    z = np.array([c.monetary for c in repeaters], dtype=float)
    return GammaGamma(*_fit(_gamma_gamma_total, 3, x, z))
