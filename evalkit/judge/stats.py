"""Exact binomial bounds, sample-size planning and error spending.

Clopper–Pearson bounds are one-sided: the lower bound L at confidence c has
P(L > p) <= 1 - c whatever the true rate p, so "PASS when L >= target" says PASS
wrongly at most 1 - c of the time; symmetrically for FAIL with the upper bound.
"""

from __future__ import annotations

import math
from typing import Callable

from scipy import stats

from ..metrics.binomial import cp_lower as cp_lower, cp_upper as cp_upper  # re-exported: the bounds every verdict is built on
from . import anytime as time_uniform


def rate_bounds(k: int, n: int, confidence: float, *, anytime: bool = False) -> tuple[float, float]:
    """(lower, upper) one-sided bounds of a rate: Clopper-Pearson at this n, or with ``anytime`` the
    confidence sequence valid at every n at once (``judge.anytime``)."""
    if anytime:
        return time_uniform.cs_lower(k, n, confidence), time_uniform.cs_upper(k, n, confidence)
    return cp_lower(k, n, confidence), cp_upper(k, n, confidence)


def decide_rate(k: int, n: int, target: float, confidence: float, *, anytime: bool = False) -> str:
    """PASS / FAIL / INCONCLUSIVE for 'rate >= target' (``anytime``: on the confidence sequence)."""
    if anytime:
        return time_uniform.decide(k, n, target, confidence)
    if n > 0 and cp_lower(k, n, confidence) >= target:
        return "PASS"
    if n > 0 and cp_upper(k, n, confidence) < target:
        return "FAIL"
    return "INCONCLUSIVE"


def pass_pvalue(k: int, n: int, target: float, *, anytime: bool = False) -> float:
    """p-value against H0 'rate < target' (small: evidence the rate is >= target)."""
    if anytime:
        return time_uniform.pass_pvalue(k, n, target)
    if n == 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, target)) if k > 0 else 1.0


def fail_pvalue(k: int, n: int, target: float, *, anytime: bool = False) -> float:
    """p-value against H0 'rate >= target' (small: evidence the rate is < target)."""
    if anytime:
        return time_uniform.fail_pvalue(k, n, target)
    if n == 0:
        return 1.0
    return float(stats.binom.cdf(k, n, target))


def holm(pvalues: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adj[i] = running
    return adj


def samples_to_decide(k: int, n: int, target: float, confidence: float, limit: int = 10**9, *,
                      anytime: bool = False) -> int | None:
    """Further samples likely to decide, if the observed rate k/n held; None if it never would."""
    if n == 0:
        return None
    rate = k / n
    if rate == target:
        return None

    def decided(total: int) -> bool:
        kk = round(rate * total)
        return decide_rate(kk, total, target, confidence, anytime=anytime) != "INCONCLUSIVE"

    hi = max(n + 1, 2 * n)
    while not decided(hi):
        if hi > limit:
            return None
        hi *= 2
    lo = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if decided(mid):
            hi = mid
        else:
            lo = mid
    return hi - n


def samples_needed(true_rate: float, target: float, confidence: float, power: float = 0.8, limit: int = 2_000_000) -> int | None:
    """Smallest n at which a source of ``true_rate`` is decided with probability >= ``power``.

    Exact: sums binomial probabilities over the k that decide, for each candidate n
    (found by doubling then bisection; the decision probability is nearly monotone in n).
    """
    if true_rate == target:
        return None

    def prob_decided(n: int) -> float:
        if true_rate > target:  # want PASS: k >= smallest k with lower bound >= target
            kmin = _min_pass_k(n, target, confidence)
            return 0.0 if kmin is None else float(stats.binom.sf(kmin - 1, n, true_rate))
        kmax = _max_fail_k(n, target, confidence)
        return 0.0 if kmax is None else float(stats.binom.cdf(kmax, n, true_rate))

    return samples_for_power(prob_decided, power, limit=limit)


def samples_for_power(power_at: Callable[[int], float], power: float, *, start: int = 8,
                      limit: int = 1_000_000) -> int | None:
    """Smallest n with power_at(n) >= power (doubling, then bisection); None past ``limit``."""
    hi = start
    while power_at(hi) < power:
        hi *= 2
        if hi > limit:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def _min_pass_k(n: int, target: float, confidence: float) -> int | None:
    lo, hi = 0, n
    if cp_lower(n, n, confidence) < target:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if cp_lower(mid, n, confidence) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _max_fail_k(n: int, target: float, confidence: float) -> int | None:
    if cp_upper(0, n, confidence) >= target:
        return None
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cp_upper(mid, n, confidence) < target:
            lo = mid
        else:
            hi = mid - 1
    return lo


def obf_spending(alpha: float, t: float) -> float:
    """Lan–DeMets O'Brien–Fleming-type spending: error allowed by information fraction t."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    z = stats.norm.ppf(1 - alpha / 2)
    return float(min(alpha, 2 - 2 * stats.norm.cdf(z / math.sqrt(t))))


def look_confidences(confidence: float, fractions: list[float]) -> list[float]:
    """Per-look confidence so the error summed over all looks is at most 1 - confidence.

    Each look spends the increment of the O'Brien–Fleming-type function; by the
    union bound the chance of any wrong decision over the whole run stays <= alpha.
    """
    alpha = 1 - confidence
    out, spent = [], 0.0
    for t in fractions:
        total = obf_spending(alpha, t)
        inc = max(total - spent, 0.0)
        spent = max(spent, total)
        out.append(1 - inc if inc > 0 else 1.0)
    return out
