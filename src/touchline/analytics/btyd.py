"""BG/NBD (how often a customer will buy) and Gamma-Gamma (how much), fitted by maximum likelihood.

Pure Python on purpose. ``lifetimes`` (last release 2020, archived) and ``btyd`` (a 2022 beta) are
unmaintained, and ``pymc-marketing`` brings PyMC and a sampler for what is a four-parameter fit; scipy
would do the optimisation, but it is not a dependency of Touchline and CI installs only those. The
models are small: the log-likelihoods (Fader, Hardie & Lee 2005; Fader & Hardie 2013), a Gauss
hypergeometric series and a Nelder-Mead search over log-parameters (which keeps them positive).
Customers with the same (x, t_x, T) are fitted once, weighted, so a shop's worth of one-time buyers
costs little.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


def hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss's hypergeometric series, for 0 <= z < 1 (all the model needs)."""
    term, total = 1.0, 1.0
    for n in range(100_000):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        if abs(term) < 1e-14 * abs(total):
            break
    return total


def expected_purchases(m: BgNbd, c: Rfm, t: float) -> float:
    """E[X(t) | x, t_x, T]: purchases in the next ``t`` days (Fader, Hardie & Lee 2005, eq. 10)."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    if a <= 1:  # the closed form needs a > 1; such a fit means almost nobody drops out: no estimate
        return float("nan")
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


def nelder_mead(f: Callable[[list[float]], float], start: Sequence[float], *,
                iterations: int = 2000, tolerance: float = 1e-10) -> list[float]:
    """Minimise ``f`` from ``start`` (standard reflection / expansion / contraction / shrink)."""
    n = len(start)
    simplex = [list(start)] + [[s + (0.5 if i == j else 0.0) for j, s in enumerate(start)] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tolerance * (1 + abs(values[0])):
            break
        centroid = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]

        def toward(k: float, centroid: list[float] = centroid, worst: list[float] = worst) -> list[float]:
            return [c + k * (w - c) for c, w in zip(centroid, worst, strict=True)]

        reflected = toward(-1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = toward(-2.0)
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = toward(0.5)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (w - b) for b, w in zip(best, p, strict=True)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(n + 1), key=values.__getitem__)]


def _fit(log_likelihood: Callable[[list[float], Rfm], float], customers: Sequence[Rfm], n: int) -> list[float]:
    weighted = Counter(customers)

    def cost(log_params: list[float]) -> float:
        if any(abs(v) > 30 for v in log_params):
            return math.inf
        params = [math.exp(v) for v in log_params]
        try:
            return -sum(w * log_likelihood(params, c) for c, w in weighted.items())
        except (ValueError, OverflowError, ZeroDivisionError):
            return math.inf

    return [math.exp(v) for v in nelder_mead(cost, [0.0] * n)]


def fit_bgnbd(customers: Sequence[Rfm]) -> BgNbd:
    key = [Rfm(c.x, c.t_x, c.T) for c in customers]  # spend does not enter this model
    return BgNbd(*_fit(lambda p, c: bgnbd_log_likelihood(BgNbd(*p), c), key, 4))


def fit_gamma_gamma(customers: Sequence[Rfm]) -> GammaGamma:
    """Fitted on customers with repeat purchases (the only ones whose spend varies)."""
    repeaters = [c for c in customers if c.x > 0 and c.monetary > 0]
    return GammaGamma(*_fit(lambda p, c: gamma_gamma_log_likelihood(GammaGamma(*p), c), repeaters, 3))
