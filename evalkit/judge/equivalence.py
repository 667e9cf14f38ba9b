"""Equivalence and non-inferiority: is result B *as good as* result A, within a margin?

``regression: {equivalent: {fid: 0.5}, non_inferior: {precision: 0.02}}`` asks, per
requirement or metric, a question the regression test cannot answer ("no
significant regression" is not evidence of no change):

* **equivalent within ±M** — two one-sided tests (TOST): H0⁻: B − A ≤ −M and
  H0⁺: B − A ≥ +M, both rejected. Its p-value is the larger of the two one-sided
  p-values. PASS exactly when the whole two-sided interval of B − A (each bound at
  the family-adjusted level, i.e. a 1 − 2α' interval) lies within [−M, +M];
* **non-inferior by M** — H0: B is worse than A by M or more (gain ≤ −M), rejected:
  PASS exactly when the one-sided bound on the loss is within the margin.

FAIL when the same interval lies entirely outside the band on one side (beyond +M or
below −M; for non-inferiority: worse by more than M), INCONCLUSIVE otherwise, with
``n_to_decide``: the samples per side at which the observed spread (rates: the
binomial variance of the observed rates or, paired, of the discordant pairs;
metrics: the interval's spread, scaled as 1/√n) would fit the interval inside the
margin if the observed difference held. None where no n would (|B − A| ≥ M).

The tests are the comparison engine's (``judge.compare``): the score statistic of a
rate difference (Tango paired, Farrington–Manning unpaired, continuity-corrected) and
the normal on a metric's interval spreads or paired influences. Because each bound is
the inversion of the very test that decides, a row's interval and verdict agree.

Multiplicity: Holm over every equivalence and non-inferiority p-value of the table
at the spec's confidence c, so the chance of any false PASS in the table is at most
1 − c; each row's interval is at the level its Holm step decided at
(``judge.compare.decided_level``). These verdicts are a family of their own, beside
the regression family (each holds its level; the report states both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

import numpy as np
from scipy import stats

from .compare import check_metric_inputs, decided_level, interval_spreads, rate_score, score_bounds

Test = Literal["equivalent", "non_inferior"]
Outcome = Literal["PASS", "FAIL", "INCONCLUSIVE"]


@dataclass(frozen=True)
class Equivalence:
    """One equivalence or non-inferiority test of B − A (fields as in the module docstring)."""

    test: Test
    kind: Literal["rate", "metric"]
    margin: float
    a: float
    b: float
    diff: float
    higher_is_better: bool
    paired: bool
    method: str
    p_raw: float
    bounds_at: Callable[[float], tuple[float, float]]
    variance: float  # per-sample variance of B − A (se² · n), for n_to_decide; nan when unknown
    n: int | None
    subject: str = ""
    requirement: str = ""
    verdict: Outcome = "INCONCLUSIVE"
    p_value: float = 1.0
    low: float = math.nan
    high: float = math.nan
    confidence: float = 0.95
    n_to_decide: int | None = None


def _check(margin: float, test: str) -> None:
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"a margin must be a finite number > 0, got {margin}")
    if test not in ("equivalent", "non_inferior"):
        raise ValueError(f"test must be 'equivalent' or 'non_inferior', got {test!r}")


def _p_raw(test: Test, p_low: float, p_high: float, higher_is_better: bool) -> float:
    """p_low: of H0 B − A ≤ −M; p_high: of H0 B − A ≥ +M. Non-inferiority tests only the loss side."""
    if test == "equivalent":
        return max(p_low, p_high)
    return p_low if higher_is_better else p_high


def rate_equivalence(k_a: int, n_a: int, k_b: int, n_b: int, *, margin: float, test: Test = "equivalent",
                     higher_is_better: bool = True, paired_outcomes: tuple[np.ndarray, np.ndarray] | None = None,
                     subject: str = "", requirement: str = "") -> Equivalence:
    """TOST / non-inferiority of the pass rate k_b/n_b against k_a/n_a (score tests; paired when outcomes are given)."""
    _check(margin, test)
    if paired_outcomes is not None:
        oa, ob = (np.asarray(o, dtype=bool).ravel() for o in paired_outcomes)
        if len(oa) != len(ob) or len(oa) == 0:
            raise ValueError("paired outcomes need two arrays of one length >= 1 (the same samples)")
        k_a, n_a, k_b, n_b = int(oa.sum()), len(oa), int(ob.sum()), len(ob)
        p_lost, p_gained = float((oa & ~ob).mean()), float((~oa & ob).mean())
        variance = p_lost + p_gained - (p_gained - p_lost) ** 2
        method = "Tango score test (paired, same samples)"
    else:
        if not (0 < n_a and 0 < n_b and 0 <= k_a <= n_a and 0 <= k_b <= n_b):
            raise ValueError(f"pass counts must lie in 0..n with n > 0 (got {k_a}/{n_a} and {k_b}/{n_b})")
        pa, pb = k_a / n_a, k_b / n_b
        variance = pa * (1 - pa) + pb * (1 - pb)
        method = "Farrington-Manning score test (unpaired)"
    z_of, est = rate_score(k_a, n_a, k_b, n_b, paired_outcomes)
    p_low = float(stats.norm.sf(z_of(-margin)))
    p_high = float(stats.norm.cdf(z_of(margin)))
    return Equivalence(test=test, kind="rate", margin=float(margin), a=k_a / n_a, b=k_b / n_b, diff=k_b / n_b - k_a / n_a,
                       higher_is_better=higher_is_better, paired=paired_outcomes is not None, method=method,
                       p_raw=_p_raw(test, p_low, p_high, higher_is_better),
                       bounds_at=lambda c: score_bounds(z_of, est, c), variance=variance, n=min(n_a, n_b),
                       subject=subject, requirement=requirement)


def metric_equivalence(value_a: float, low_a: float, high_a: float, value_b: float, low_b: float, high_b: float, *,
                       confidence: float, margin: float, higher_is_better: bool, test: Test = "equivalent",
                       paired_influence: tuple[np.ndarray, np.ndarray] | None = None, n_a: int | None = None,
                       n_b: int | None = None, subject: str = "", requirement: str = "") -> Equivalence:
    """TOST / non-inferiority of metric B against metric A: on the two reports' intervals (spreads per side,
    read at ``confidence``, their level), or paired on per-sample influences."""
    _check(margin, test)
    check_metric_inputs(value_a, low_a, high_a, value_b, low_b, high_b)
    diff = value_b - value_a
    n = min(x for x in (n_a, n_b) if x is not None) if n_a is not None or n_b is not None else None
    if paired_influence is not None:
        ia, ib = (np.asarray(x, dtype=float).ravel() for x in paired_influence)
        if len(ia) != len(ib) or len(ia) < 2:
            raise ValueError("paired influences need two arrays of one length >= 2 (one value per shared sample)")
        se_lo = se_hi = float(np.std(ib - ia, ddof=1)) / math.sqrt(len(ia))
        n = len(ia)
        method = f"paired delta method (influence of each of the {len(ia)} shared samples on both values), normal"
    else:
        se_lo, se_hi = interval_spreads(value_a, low_a, high_a, value_b, low_b, high_b, confidence)
        method = "difference of the two intervals (spreads read off the one-sided bounds), normal"
    p_low = _normal_sf(diff + margin, se_lo)
    p_high = _normal_sf(margin - diff, se_hi)

    def bounds_at(c: float) -> tuple[float, float]:
        z = float(stats.norm.ppf(c))
        return diff - z * se_lo, diff + z * se_hi
    variance = max(se_lo, se_hi) ** 2 * n if n else math.nan
    return Equivalence(test=test, kind="metric", margin=float(margin), a=float(value_a), b=float(value_b),
                       diff=float(diff), higher_is_better=higher_is_better, paired=paired_influence is not None,
                       method=method, p_raw=_p_raw(test, p_low, p_high, higher_is_better), bounds_at=bounds_at,
                       variance=variance, n=n, subject=subject, requirement=requirement)


def _normal_sf(stat: float, se: float) -> float:
    """P(Z > stat/se): the p-value of a null `stat` <= 0 (a zero spread decides on the sign)."""
    if se <= 0:
        return 0.0 if stat > 0 else 1.0
    return float(stats.norm.sf(stat / se))


def judge_table(table: Sequence[Equivalence], confidence: float) -> list[Equivalence]:
    """Holm over the table's p-values at ``confidence``; each row's interval, verdict and n to decide."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    alpha, m = 1 - confidence, len(table)
    adjusted = [0.0] * m
    running = 0.0
    for rank, j in enumerate(sorted(range(m), key=lambda j: table[j].p_raw)):
        running = max(running, min(1.0, (m - rank) * table[j].p_raw))
        adjusted[j] = running
    out = []
    for e, p_adj in zip(table, adjusted):
        level = decided_level(e.p_raw, p_adj, alpha)
        lo, hi = e.bounds_at(level)
        verdict = _verdict(e, p_adj <= alpha, lo, hi)
        n_more = _n_to_decide(e, level) if verdict == "INCONCLUSIVE" else None
        out.append(replace(e, verdict=verdict, p_value=p_adj, low=float(lo), high=float(hi), confidence=confidence,
                           n_to_decide=n_more))
    return out


def _verdict(e: Equivalence, passed: bool, lo: float, hi: float) -> Outcome:
    if passed:
        return "PASS"
    worse_beyond = hi < -e.margin if e.higher_is_better else lo > e.margin  # worse by more than the margin
    if e.test == "non_inferior":
        return "FAIL" if worse_beyond else "INCONCLUSIVE"
    return "FAIL" if lo > e.margin or hi < -e.margin else "INCONCLUSIVE"


def _n_to_decide(e: Equivalence, level: float) -> int | None:
    """Samples per side at which the observed spread would put the interval inside the margin."""
    if not math.isfinite(e.variance) or e.variance <= 0:
        return None
    if e.test == "equivalent":
        room = e.margin - abs(e.diff)
    else:
        gain = e.diff if e.higher_is_better else -e.diff
        room = e.margin + gain
    if room <= 0:
        return None
    z = float(stats.norm.ppf(level))
    return int(math.ceil(e.variance * (z / room) ** 2))


def family_words(confidence: float, m: int) -> str:
    """How the equivalence family's level reads in the report."""
    return (f"equivalence and non-inferiority: family-wise level {confidence:g} (the spec's confidence), Holm over "
            f"{m} test{'s' if m != 1 else ''} (TOST p = the larger one-sided p); intervals at each row's Holm level")
