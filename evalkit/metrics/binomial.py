"""Exact one-sided Clopper–Pearson bounds of a binomial rate, and Garwood's of a Poisson mean.

They live in the metrics library (a leaf) because shares of per-sample indicators
(precision, recall, coverage, memorized) are metrics too; ``judge.stats`` builds
its verdicts on the same two functions.

The lower bound L at confidence c has P(L > p) <= 1 - c whatever the true rate p;
the upper bound likewise from above.
"""

from __future__ import annotations

from scipy import stats


def cp_lower(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper–Pearson lower bound of a binomial rate."""
    if n <= 0:
        return 0.0
    if k <= 0:
        return 0.0
    return float(stats.beta.ppf(1.0 - confidence, k, n - k + 1))


def cp_upper(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper–Pearson upper bound of a binomial rate."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    return float(stats.beta.ppf(confidence, k + 1, n - k))


def garwood_bounds(count: int, confidence: float) -> tuple[float, float]:
    """Garwood's exact one-sided (lower, upper) bounds of a Poisson mean with ``count`` seen,
    each at ``confidence``: gamma quantiles 1 - c with shape count (0 when none is seen) and
    c with shape count + 1."""
    low = float(stats.gamma.ppf(1.0 - confidence, count)) if count > 0 else 0.0
    return low, float(stats.gamma.ppf(confidence, count + 1))
