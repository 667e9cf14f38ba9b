"""Anytime-valid bounds for a pass rate: one-sided confidence sequences (pure statistics).

A Clopper-Pearson bound holds at the n fixed before looking. A user who looks, finds the
verdict INCONCLUSIVE and samples more, then looks again, gets more than one chance at a
wrong PASS: the error of the whole procedure exceeds 1 - c. The bounds here hold at every
n at once: for the true rate p,

    P(there is an n with cs_lower(k_n, n, c) > p) <= 1 - c,

and the same for ``cs_upper``, so a verdict read off them at any n, chosen however the
user likes after looking (a top-up whenever INCONCLUSIVE), says PASS (or FAIL) wrongly at
most 1 - c of the time.

The construction: Robbins' beta-binomial mixture martingale, one-sided. For a rate p and a
prior pseudo-count r,

    M_n(p; r) = integral over q in [p, 1] of  q^k (1 - q)^(n-k) / (p^k (1 - p)^(n-k))  pi(dq)

with pi the Beta(r p, r (1 - p)) prior restricted to [p, 1] (and renormalised). Under a
true rate p, each q's likelihood ratio is a nonnegative martingale with mean 1, so their
mixture is too; under a true rate below p it is a supermartingale (each q > p is further
from the truth than p). M_n(p) is the equal-weight average of M_n(p; r) over the pseudo-counts
r in RHOS = 4, 16, ..., 4096, again a (super)martingale. Ville's inequality gives
P(sup_n M_n(p) >= 1/alpha) <= alpha for every true rate <= p: the lower bound is the smallest
p with M_n(p) < 1/alpha, and PASS is M_n(target) >= 1/alpha. Each integral is closed form
(regularised incomplete beta functions), so the bound is exact up to a bisection in p to
1e-18. The upper bound is the lower bound of the failure rate:
``cs_upper(k, n) = 1 - cs_lower(n - k, n)``.

The prior's pseudo-count sets where a single mixture is tightest (about n = r); the grid
of six, spanning the horizon of a run (tens to 10,000 samples and beyond), costs log 6 in
the threshold and keeps the bound's distance from k/n within about 1.85x of the fixed-n
Clopper-Pearson bound's at every n from 10 to 10,000 (benchmarks/ANYTIME.md tabulates it).
That width is the price of validity at every n: at one n fixed in advance, Clopper-Pearson
is tighter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

RHOS = (4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0)  # the Beta priors' pseudo-counts (prior mean p), equal weights
METHOD = "anytime-valid (beta-binomial mixture confidence sequence, one-sided)"
_STEPS = 64  # bisection steps on [0, k/n]: below 1e-18 of the interval


def log_evidence(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray:
    """log M_n(p): the log of the one-sided mixture martingale against 'rate <= p' after k passes
    of n (elementwise over arrays; p strictly inside (0, 1))."""
    k, n, p = (np.asarray(v, dtype=float) for v in (k, n, p))
    with np.errstate(divide="ignore", invalid="ignore"):
        null = special.xlogy(k, p) + special.xlog1py(n - k, -p)
        terms = [_log_mixture(k, n, p, rho) for rho in RHOS]
        out: Any = special.logsumexp(terms, axis=0) - math.log(len(RHOS)) - null
        return np.asarray(out)


def _log_mixture(k: np.ndarray, n: np.ndarray, p: np.ndarray, rho: float) -> np.ndarray:
    """log of the integral of q^k (1 - q)^(n-k) over the Beta(rho p, rho (1 - p)) prior restricted to [p, 1]."""
    a, b = rho * p, rho * (1 - p)
    posterior = special.betaln(a + k, b + n - k) + np.log(special.betaincc(a + k, b + n - k, p))
    return np.asarray(posterior - special.betaln(a, b) - np.log(special.betaincc(a, b, p)))


def lower_bounds(k: ArrayLike, n: ArrayLike, confidence: float) -> np.ndarray:
    """cs_lower over arrays of (k, n): the smallest p in [0, k/n] whose evidence stays below 1/alpha."""
    k, n = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    threshold = math.log(1 / (1 - confidence))
    lo = np.zeros(k.shape)
    hi = np.where(n > 0, k / np.maximum(n, 1), 0.0)  # M_n(p) <= 1 for p >= k/n: the bound is below k/n
    for _ in range(_STEPS):
        mid = (lo + hi) / 2
        # p below the bound: rejected (evidence >= 1/alpha); M_n(p) falls as p rises to k/n
        rejected = log_evidence(k, n, np.maximum(mid, 1e-300)) >= threshold
        lo, hi = np.where(rejected, mid, lo), np.where(rejected, hi, mid)
    return np.where(k > 0, hi, 0.0)


def upper_bounds(k: ArrayLike, n: ArrayLike, confidence: float) -> np.ndarray:
    """cs_upper over arrays: one minus the lower bound of the failure rate."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    return np.where(n > 0, 1 - lower_bounds(n - k, n, confidence), 1.0)


def cs_lower(k: int, n: int, confidence: float) -> float:
    """Lower bound of the rate after k passes of n, valid at every n at once (0 when n = 0)."""
    return float(lower_bounds(k, n, confidence)) if n > 0 else 0.0


def cs_upper(k: int, n: int, confidence: float) -> float:
    """Upper bound of the rate after k passes of n, valid at every n at once (1 when n = 0)."""
    return float(upper_bounds(k, n, confidence)) if n > 0 else 1.0


def pass_pvalue(k: int, n: int, target: float) -> float:
    """Anytime-valid p-value against 'rate < target': min(1, 1 / M_n(target)). Small: evidence the
    rate is >= target; P(it is ever <= alpha) <= alpha under any rate below the target."""
    if target <= 0:
        return 0.0
    if n == 0 or target >= 1:
        return 1.0
    return float(min(1.0, math.exp(-min(float(log_evidence(k, n, target)), 700.0))))


def fail_pvalue(k: int, n: int, target: float) -> float:
    """Anytime-valid p-value against 'rate >= target' (small: evidence the rate is below it)."""
    if target >= 1:
        return 0.0 if k < n else 1.0
    if n == 0 or target <= 0:
        return 1.0
    return float(min(1.0, math.exp(-min(float(log_evidence(n - k, n, 1 - target)), 700.0))))


def decide(k: int, n: int, target: float, confidence: float) -> str:
    """PASS / FAIL / INCONCLUSIVE for 'rate >= target' at n: PASS when the evidence against 'rate <
    target' reaches 1/alpha (the lower bound is then >= target), FAIL symmetrically."""
    alpha = 1 - confidence
    if n > 0 and pass_pvalue(k, n, target) <= alpha:
        return "PASS"
    if n > 0 and fail_pvalue(k, n, target) <= alpha:
        return "FAIL"
    return "INCONCLUSIVE"
