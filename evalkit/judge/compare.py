"""The one comparison engine: is result B significantly better or worse than result A?

``--baseline`` (A = the baseline report, B = this run) and ``evalkit compare`` both
decide here, so one difference gets one answer everywhere.

Orientation. ``gain`` is B − A when higher is better, A − B otherwise, so a
positive gain is an improvement. With a tolerance ``tol`` ≥ 0 (in the units of the
value: a rate difference, FID points, ...) two one-sided hypotheses are tested:

* **worse** — H0: gain ≥ −tol; rejected (verdict ``"worse"``) when the data show
  B is worse than A by more than ``tol``.
* **better** — H0: gain ≤ +tol; rejected (verdict ``"better"``) when B is better
  by more than ``tol``.

Each p-value is valid for its composite null: when the null holds, P(p ≤ α) ≤ α.

Rates (k passes of n):

* *paired* (``paired_outcomes`` given: the same samples, i.e. the same seeds,
  labels and sampling blocks, scored by both results): with ``tol`` = 0 the exact
  McNemar test (conditional on the discordant pairs, the samples A passed and B
  failed are Binomial(discordant, ≤ 1/2) under H0); with ``tol`` > 0 Tango's score
  test for a paired difference of proportions (restricted maximum likelihood
  under gain = ∓tol, closed form).
* *unpaired*: with ``tol`` = 0 Fisher's exact one-sided test (conditional on the
  total passes; valid at any n); with ``tol`` > 0 the Farrington–Manning score test
  (restricted MLE under the margin).
* ``low``/``high``: one-sided bounds at ``confidence`` on B − A from inverting the
  score test (Miettinen–Nurminen-type unpaired, Tango paired), unadjusted.

Metrics (values with one-sided bounds at ``confidence``, the ones in the report):

* *unpaired*: each side's spread is read off its interval as half-width / z_c
  (z_c = Φ⁻¹(c)), per side, since intervals may be asymmetric; the gain is
  referred to a normal with the spreads of the two sides that a false verdict
  would need (for "worse", A's downward and B's upward uncertainty when higher is
  better). Valid as far as the two intervals hold (their calibration table is
  ``benchmarks/CALIBRATION.md``); values judged at different N are compared as
  they are, and ``method`` says so (FID and the k-NN metrics move with N).
* *paired, delta method* (``paired_influence`` given: each shared sample's
  influence on A's and on B's value, the first-order change of the metric per
  sample): to first order B − A minus its mean is the mean over the N samples
  of (influence_B − influence_A), so its standard error is their standard
  deviation / √N; the correlation the shared samples bring is what the paired
  test gains over the unpaired one. The same approximation as the reports'
  delta-method intervals (``benchmarks/CALIBRATION.md``); its false-verdict rate
  is simulated in ``benchmarks/COMPARE.md``.
* *paired, bootstrap* (``paired_replicates`` given: bootstrap replicates of both
  metrics on the same resampling indices): the standard deviation of the
  replicate differences is the standard error of the difference.

Multiplicity. :func:`holm` runs Holm's step-down procedure over every p-value of
a table (requirements × subjects, both directions when ``sides="both"``): the
chance of *any* false "worse" (or "better") verdict in the whole table is at most
1 − confidence, whatever the dependence between the tests.

The :class:`Difference` record (fields):
``subject``, ``requirement``; ``kind`` ("rate" | "metric"); ``a``, ``b`` (the two
values: A the baseline/first, B the current/second); ``n_a``, ``n_b`` (samples
behind each); ``diff`` = b − a; ``low``, ``high`` (one-sided bounds on b − a at
``confidence``, unadjusted); ``tolerance``; ``higher_is_better``; ``paired``;
``method`` (words); ``p_worse``, ``p_better`` (raw one-sided p-values);
``p_value`` (the adjusted p-value behind the verdict's direction); ``verdict``
("better" | "worse" | "no significant difference"); ``confidence``;
``correction`` (words: the multiplicity correction applied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Literal, Sequence

import numpy as np
from scipy import stats

Verdict = Literal["better", "worse", "no significant difference"]
Sides = Literal["both", "worse"]
NO_DIFFERENCE: Verdict = "no significant difference"


@dataclass(frozen=True)
class Difference:
    """The test of one difference B − A (see the module docstring for every field)."""

    kind: Literal["rate", "metric"]
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_worse: float
    p_better: float
    p_value: float
    paired: bool
    method: str
    verdict: Verdict
    higher_is_better: bool
    tolerance: float
    confidence: float
    n_a: int | None = None
    n_b: int | None = None
    subject: str = ""
    requirement: str = ""
    correction: str = "none (a single comparison)"
    # the adjusted interval (set by :func:`holm`): each bound at the level its test was decided at
    adj_low: float = math.nan
    adj_high: float = math.nan
    adjusted_rule: str = ""
    # the one-sided bounds (low, high) on b − a at any confidence, from the very test that decided
    bounds_at: Callable[[float], tuple[float, float]] | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- rates


def compare_rates(
    k_a: int, n_a: int, k_b: int, n_b: int, *, confidence: float, tolerance: float = 0.0,
    higher_is_better: bool = True, paired_outcomes: tuple[np.ndarray, np.ndarray] | None = None,
    sides: Sides = "both", subject: str = "", requirement: str = "",
) -> Difference:
    """Test the pass rate k_b/n_b against k_a/n_a (exact at tolerance 0, score tests beyond)."""
    _check_common(confidence, tolerance)
    if paired_outcomes is not None:
        oa, ob = (np.asarray(o, dtype=bool).ravel() for o in paired_outcomes)
        if len(oa) != len(ob):
            raise ValueError(f"paired outcomes differ in length ({len(oa)} and {len(ob)}); pairing needs the same samples")
        k_a, n_a, k_b, n_b = int(oa.sum()), len(oa), int(ob.sum()), len(ob)
        lost, gained = int((oa & ~ob).sum()), int((~oa & ob).sum())
        up, down = _paired_rate_pvalues(lost, gained, n_a, tolerance)
        est = (k_b - k_a) / max(n_a, 1)

        def bounds_at(c: float) -> tuple[float, float]:
            return _invert(lambda d: _tango_z(lost, gained, n_a, d), est, c)
        low, high = bounds_at(confidence)
        method = ("exact McNemar (paired, same samples)" if tolerance == 0
                  else "Tango score test (paired, same samples)")
    else:
        if not (0 <= k_a <= n_a and 0 <= k_b <= n_b):
            raise ValueError(f"pass counts must lie in 0..n (got {k_a}/{n_a} and {k_b}/{n_b})")
        up, down = _unpaired_rate_pvalues(k_a, n_a, k_b, n_b, tolerance)
        est = (k_b / n_b if n_b else 0.0) - (k_a / n_a if n_a else 0.0)

        def bounds_at(c: float) -> tuple[float, float]:
            return _invert(lambda d: _fm_z(k_a, n_a, k_b, n_b, d), est, c) if n_a and n_b else (-1.0, 1.0)
        low, high = bounds_at(confidence)
        method = ("Fisher exact (unpaired)" if tolerance == 0 else "Farrington-Manning score test (unpaired)")
    # up: p for "B - A > +tol"; down: p for "B - A < -tol"
    p_worse, p_better = (down, up) if higher_is_better else (up, down)
    a, b = (k_a / n_a if n_a else float("nan")), (k_b / n_b if n_b else float("nan"))
    if tolerance == 0:  # the exact test decides; the bounds invert the score test at the same level
        method += "; interval: score test inverted"
    return _finish("rate", a, b, low, high, p_worse, p_better, paired_outcomes is not None, method, higher_is_better,
                   tolerance, confidence, n_a, n_b, sides, subject, requirement, bounds_at)


def rate_score(k_a: int, n_a: int, k_b: int, n_b: int,
               paired_outcomes: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Callable[[float], float], float]:
    """(z(delta), estimate of B − A): the score statistic this module tests a rate difference with
    (Tango's when paired, Farrington–Manning's otherwise, both continuity-corrected) for H0:
    B − A = delta; it decreases in delta. :func:`score_bounds` inverts it."""
    if paired_outcomes is not None:
        oa, ob = (np.asarray(o, dtype=bool).ravel() for o in paired_outcomes)
        lost, gained, n = int((oa & ~ob).sum()), int((~oa & ob).sum()), len(oa)
        return (lambda d: _tango_z(lost, gained, n, d)), (gained - lost) / max(n, 1)
    if not (n_a and n_b):
        return (lambda d: 0.0), 0.0
    return (lambda d: _fm_z(k_a, n_a, k_b, n_b, d)), k_b / n_b - k_a / n_a


def score_bounds(z_of: Callable[[float], float], estimate: float, confidence: float) -> tuple[float, float]:
    """One-sided bounds on B − A at ``confidence`` from a score statistic (where it reaches ±z_c)."""
    return _invert(z_of, estimate, confidence)


def _paired_rate_pvalues(lost: int, gained: int, n: int, tol: float) -> tuple[float, float]:
    """(p for B − A > tol, p for B − A < −tol) from the discordant pairs."""
    if n == 0:
        return 1.0, 1.0
    if tol == 0:
        d = lost + gained
        if d == 0:
            return 1.0, 1.0
        return float(stats.binom.sf(gained - 1, d, 0.5)), float(stats.binom.sf(lost - 1, d, 0.5))
    return (float(stats.norm.sf(_tango_z(lost, gained, n, tol))),
            float(stats.norm.cdf(_tango_z(lost, gained, n, -tol))))


def _tango_z(lost: int, gained: int, n: int, delta: float) -> float:
    """Tango's score statistic for H0: p(gained) − p(lost) = delta (paired)."""
    if n == 0:
        return 0.0
    # Restricted MLE of p_lost, with p_gained = p_lost + delta: the positive root of
    # 2n p² − B p − lost·delta·(1 − delta) = 0 (set the score of the multinomial to 0).
    bb = lost + gained - delta * (2 * n + lost - gained)
    disc = bb * bb + 8 * n * lost * delta * (1 - delta)
    p_lost = (bb + math.sqrt(max(disc, 0.0))) / (4 * n)
    p_lost = min(max(p_lost, max(0.0, -delta)), (1 - delta) / 2 if delta < 1 else 0.0)
    var = p_lost + (p_lost + delta) - delta * delta
    # A continuity correction of one count: uncorrected (or with half a count) the
    # test rejects up to 8 % (5.8 %) at a 5 % level for n <= 400 (exact enumeration).
    num = _toward_zero(gained - lost - n * delta, 1.0)
    if var <= 1e-15:
        return math.copysign(math.inf, num) if num else 0.0
    return num / math.sqrt(n * var)


def _unpaired_rate_pvalues(k_a: int, n_a: int, k_b: int, n_b: int, tol: float) -> tuple[float, float]:
    """(p for B − A > tol, p for B − A < −tol)."""
    if n_a == 0 or n_b == 0:
        return 1.0, 1.0
    if tol == 0:
        total, passes = n_a + n_b, k_a + k_b
        return (float(stats.hypergeom.sf(k_b - 1, total, passes, n_b)),
                float(stats.hypergeom.cdf(k_b, total, passes, n_b)))
    return (float(stats.norm.sf(_fm_z(k_a, n_a, k_b, n_b, tol))),
            float(stats.norm.cdf(_fm_z(k_a, n_a, k_b, n_b, -tol))))


def _fm_z(k_a: int, n_a: int, k_b: int, n_b: int, delta: float) -> float:
    """Farrington–Manning score statistic for H0: p_b − p_a = delta."""
    pa_hat, pb_hat = k_a / n_a, k_b / n_b
    pa = _restricted_pa(k_a, n_a, k_b, n_b, delta)
    pb = pa + delta
    var = pa * (1 - pa) / n_a + pb * (1 - pb) / n_b
    # Continuity correction of half a step of each count: without it the score test
    # rejects up to 8 % at a 5 % level for n <= 150 near rates of 0 or 1 (exact
    # enumeration, benchmarks/COMPARE.md); with it, at most 4.3 % on the same grid.
    num = _toward_zero(pb_hat - pa_hat - delta, 0.5 * (1 / n_a + 1 / n_b))
    if var <= 1e-15:
        return math.copysign(math.inf, num) if num else 0.0
    return num / math.sqrt(var)


def _toward_zero(x: float, c: float) -> float:
    return math.copysign(max(abs(x) - c, 0.0), x)


def _restricted_pa(k_a: int, n_a: int, k_b: int, n_b: int, delta: float) -> float:
    """Maximum-likelihood p_a under p_b = p_a + delta (Farrington–Manning's closed form).

    Setting the score of the two binomial likelihoods to zero under the constraint
    gives a cubic with exactly one root in the admissible range; its trigonometric
    solution is below (group 1 is B, group 2 is A, theta = n_a / n_b).
    """
    p1, p2 = k_b / n_b, k_a / n_a
    theta = n_a / n_b
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta * delta + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b ** 3 / (27 * a ** 3) - b * c / (6 * a * a) + d / (2 * a)
    u2 = b * b / (9 * a * a) - c / (3 * a)
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    if u2 <= 0:
        pb = -b / (3 * a)
    else:
        u = math.copysign(math.sqrt(u2), v) if v != 0 else math.sqrt(u2)
        w = (math.pi + math.acos(min(1.0, max(-1.0, v / u ** 3)))) / 3
        pb = 2 * u * math.cos(w) - b / (3 * a)
    return min(max(pb - delta, lo), hi)


def _xlogy(k: float, x: float) -> float:
    if k == 0:
        return 0.0
    return k * math.log(x) if x > 0 else -math.inf


def _invert(z_of: Callable[[float], float], estimate: float, confidence: float) -> tuple[float, float]:
    """One-sided bounds on the difference: the deltas where the score statistic reaches ±z_c."""
    zc = float(stats.norm.ppf(confidence))

    def bisect(lo: float, hi: float, inside: Callable[[float], bool]) -> float:
        # ``inside(d)`` is True on the estimate's side of the bound; 40 halvings reach 1e-12
        for _ in range(40):
            mid = (lo + hi) / 2
            if inside(mid):
                hi = mid
            else:
                lo = mid
        return (lo + hi) / 2

    est = min(max(estimate, -1.0), 1.0)
    lower = -1.0 if z_of(-1.0 + 1e-12) <= zc else bisect(-1.0, est, lambda d: z_of(d) <= zc)
    upper = 1.0 if z_of(1.0 - 1e-12) >= -zc else -bisect(-1.0, -est, lambda d: z_of(-d) >= -zc)
    return lower, upper


# ---------------------------------------------------------------- metrics


def compare_metrics(
    value_a: float, low_a: float, high_a: float, value_b: float, low_b: float, high_b: float, *,
    confidence: float, higher_is_better: bool, tolerance: float = 0.0,
    paired_replicates: tuple[np.ndarray, np.ndarray] | None = None,
    paired_influence: tuple[np.ndarray, np.ndarray] | None = None, sides: Sides = "both",
    n_a: int | None = None, n_b: int | None = None, subject: str = "", requirement: str = "",
    bounds_hold: bool = True,
) -> Difference:
    """Test metric B against metric A on their intervals, or paired (influences or bootstrap replicates).

    ``bounds_hold`` False (a bound of either is shown but not claimed, e.g. KID or FID of
    heavy-tailed features): the difference is reported, not tested (p = 1)."""
    _check_common(confidence, tolerance)
    check_metric_inputs(value_a, low_a, high_a, value_b, low_b, high_b)
    if paired_replicates is not None and paired_influence is not None:
        raise ValueError("give paired replicates or paired influences, not both")
    zc = float(stats.norm.ppf(confidence))
    sign = 1.0 if higher_is_better else -1.0
    gain = sign * (value_b - value_a)
    diff = value_b - value_a
    paired = paired_replicates is not None or paired_influence is not None
    if paired:
        se, method = _paired_se(paired_replicates, paired_influence)
        se_lo = se_hi = se
    else:
        se_lo, se_hi = interval_spreads(value_a, low_a, high_a, value_b, low_b, high_b, confidence)
        method = "difference of the two intervals (spreads read off the one-sided bounds), normal"
        if n_a is not None and n_b is not None and n_a != n_b:
            method += f"; judged at different N ({n_a} and {n_b}): metrics that move with N compare unequal things"
    # a false "worse" needs B's estimate too low-in-gain and A's too high-in-gain: the spread on that side
    se_worse, se_better = (se_hi, se_lo) if higher_is_better else (se_lo, se_hi)
    low, high = diff - zc * se_lo, diff + zc * se_hi

    def bounds_at(c: float) -> tuple[float, float]:
        z = float(stats.norm.ppf(c))
        return diff - z * se_lo, diff + z * se_hi
    p_worse = _normal_p(gain + tolerance, se_worse, upper_tail=False)
    p_better = _normal_p(gain - tolerance, se_better, upper_tail=True)
    if not bounds_hold:  # a spread above is not known, so neither direction can be claimed
        p_worse = p_better = 1.0
        method += "; not tested: a bound does not hold (heavy-tailed features)"
    return _finish("metric", value_a, value_b, low, high, p_worse, p_better, paired, method,
                   higher_is_better, tolerance, confidence, n_a, n_b, sides, subject, requirement,
                   bounds_at if bounds_hold else None)


def check_metric_inputs(value_a: float, low_a: float, high_a: float, value_b: float, low_b: float, high_b: float) -> None:
    """ValueError unless both sides are finite with low <= value <= high."""
    for what, v, lo, hi in (("A", value_a, low_a, high_a), ("B", value_b, low_b, high_b)):
        if not all(math.isfinite(x) for x in (v, lo, hi)) or not lo <= v <= hi:
            raise ValueError(f"metric {what}: need finite low <= value <= high, got {lo}, {v}, {hi}")


def interval_spreads(value_a: float, low_a: float, high_a: float, value_b: float, low_b: float, high_b: float,
                     confidence: float) -> tuple[float, float]:
    """(spread below, spread above) of B − A read off two one-sided intervals at ``confidence``.

    Each side's spread is half-width / z_c per side (intervals may be asymmetric); B − A
    is too high when B is too high and A too low, so its upper spread joins B's upper
    and A's lower spread."""
    zc = float(stats.norm.ppf(confidence))
    a_dn, a_up = (value_a - low_a) / zc, (high_a - value_a) / zc
    b_dn, b_up = (value_b - low_b) / zc, (high_b - value_b) / zc
    return math.hypot(b_dn, a_up), math.hypot(b_up, a_dn)


def _paired_se(replicates: tuple[np.ndarray, np.ndarray] | None,
               influence: tuple[np.ndarray, np.ndarray] | None) -> tuple[float, str]:
    """(standard error of B − A, method words) from paired replicates or paired influences."""
    if influence is not None:
        ia, ib = (np.asarray(x, dtype=float).ravel() for x in influence)
        if len(ia) != len(ib) or len(ia) < 2:
            raise ValueError("paired influences need two arrays of one length >= 2 (one value per shared sample)")
        se = float(np.std(ib - ia, ddof=1)) / math.sqrt(len(ia))
        return se, f"paired delta method (influence of each of the {len(ia)} shared samples on both values), normal"
    if replicates is None:
        raise ValueError("a paired comparison needs paired replicates or paired influences")
    ra, rb = (np.asarray(r, dtype=float).ravel() for r in replicates)
    if len(ra) != len(rb) or len(ra) < 2:
        raise ValueError("paired replicates need two arrays of one length >= 2 (the same resampling indices)")
    return float(np.std(rb - ra, ddof=1)), f"paired bootstrap ({len(ra)} replicates), normal"


def _normal_p(stat: float, se: float, *, upper_tail: bool) -> float:
    """P(Z beyond stat/se); a zero spread means the interval is a point: decide on the sign."""
    if se <= 0:
        hit = stat > 0 if upper_tail else stat < 0
        return 0.0 if hit else 1.0
    z = stat / se
    return float(stats.norm.sf(z) if upper_tail else stats.norm.cdf(z))


# ---------------------------------------------------------------- verdicts and the table


def _check_common(confidence: float, tolerance: float) -> None:
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")


def _finish(kind: Literal["rate", "metric"], a: float, b: float, low: float, high: float, p_worse: float,
            p_better: float, paired: bool, method: str, hib: bool, tol: float, conf: float, n_a: int | None,
            n_b: int | None, sides: Sides, subject: str, requirement: str,
            bounds_at: Callable[[float], tuple[float, float]] | None = None) -> Difference:
    d = Difference(kind=kind, a=float(a), b=float(b), diff=float(b - a), low=float(low), high=float(high),
                   p_worse=float(p_worse), p_better=float(p_better), p_value=1.0, paired=paired, method=method,
                   verdict=NO_DIFFERENCE, higher_is_better=hib, tolerance=float(tol), confidence=float(conf),
                   n_a=n_a, n_b=n_b, subject=subject, requirement=requirement, bounds_at=bounds_at)
    return holm([d], conf, sides=sides)[0]


def _family(sides: Sides) -> tuple[str, ...]:
    if sides not in ("both", "worse"):
        raise ValueError(f"sides must be 'both' or 'worse', got {sides!r}")
    return ("worse", "better") if sides == "both" else ("worse",)


def holm(differences: Sequence[Difference], confidence: float, *, sides: Sides = "both") -> list[Difference]:
    """Holm over the whole table: every one-sided p-value tested is one hypothesis.

    ``sides="worse"`` (baseline mode) tests only "B worse than A" for each entry;
    ``"both"`` tests both directions (2 hypotheses per entry). The chance of any
    false verdict across the table is at most 1 − confidence.
    """
    dirs = _family(sides)
    alpha = 1 - confidence
    hyps = [(i, d) for i in range(len(differences)) for d in dirs]
    raw = [differences[i].p_worse if d == "worse" else differences[i].p_better for i, d in hyps]
    m = len(raw)
    adjusted = [0.0] * m
    running = 0.0
    for rank, j in enumerate(sorted(range(m), key=lambda j: raw[j])):
        running = max(running, min(1.0, (m - rank) * raw[j]))
        adjusted[j] = running
    adj = {h: p for h, p in zip(hyps, adjusted)}
    words = (f"Holm over {m} one-sided test{'s' if m != 1 else ''} "
             f"({len(differences)} comparison{'s' if len(differences) != 1 else ''}"
             f"{', both directions' if sides == 'both' else ', worse only'}); family-wise error <= {alpha:.3g}")
    correction = words if len(differences) > 1 or sides == "both" else "none (a single test)"
    out = []
    for i, diff in enumerate(differences):
        verdict, p = _verdict(adj[(i, "worse")], adj.get((i, "better"), 1.0), alpha)
        lo, hi, rule = _adjusted_interval(diff, adj[(i, "worse")], adj.get((i, "better")), alpha)
        out.append(replace(diff, verdict=verdict, p_value=p, confidence=confidence, correction=correction,
                           adj_low=lo, adj_high=hi, adjusted_rule=rule))
    return out


def decided_level(p_raw: float, p_adjusted: float, alpha: float) -> float:
    """The confidence a test was effectively decided at after Holm: 1 − α·p/p_adj.

    Holm rejects a hypothesis when its adjusted p ≤ α, i.e. when its raw p ≤ α·p/p_adj:
    a bound at confidence 1 − α·p/p_adj excludes the null exactly when Holm rejects it.
    p_adj/p lies in [1, m] (Holm's multiplier at its step, or an earlier step's, or the
    cap at 1), so the level lies between the unadjusted 1 − α and Bonferroni's 1 − α/m.
    """
    if p_raw <= 0 or p_adjusted <= 0:
        return 1 - alpha  # rejected whatever the level: the bound excludes the null at any of them
    return 1 - alpha * min(1.0, p_raw / p_adjusted)


def _adjusted_interval(d: Difference, p_worse_adj: float, p_better_adj: float | None,
                       alpha: float) -> tuple[float, float, str]:
    """(adjusted low, adjusted high, words): each bound at the level its direction's test was decided at.

    The bound that decides "worse" (the upper bound of B − A when higher is better, the
    lower one otherwise) is at the worse test's Holm level; the other at the better
    test's (``sides="both"``) or, when only "worse" is tested, at the same level."""
    if d.bounds_at is None:
        return math.nan, math.nan, "no adjusted interval: not tested"
    c_worse = decided_level(d.p_worse, p_worse_adj, alpha)
    c_better = decided_level(d.p_better, p_better_adj, alpha) if p_better_adj is not None else c_worse
    w_lo, w_hi = d.bounds_at(c_worse)
    b_lo, b_hi = d.bounds_at(c_better) if c_better != c_worse else (w_lo, w_hi)
    lo, hi = (b_lo, w_hi) if d.higher_is_better else (w_lo, b_hi)
    if d.kind == "rate" and d.tolerance == 0:
        lo, hi = _exact_agreement(d, lo, hi, p_worse_adj <= alpha, None if p_better_adj is None else p_better_adj <= alpha)
    rule = (f"each bound at the confidence its Holm step decided at (1 - alpha*p/p_adj; here "
            f"{c_worse:.4g} for 'worse'" + (f", {c_better:.4g} for 'better'" if p_better_adj is not None else "") + ")")
    return float(lo), float(hi), rule


def _exact_agreement(d: Difference, lo: float, hi: float, worse: bool, better: bool | None) -> tuple[float, float]:
    """At tolerance 0 a rate is decided by an exact test (Fisher, McNemar) while its bounds
    invert the score test, and the two may disagree by a hair at the boundary: there the
    deciding bound is moved to 0 (rejected: the exact test says "beyond 0") or just off it
    (not rejected), so a row never shows an interval that contradicts its verdict."""
    def settle(bound: float, rejected: bool | None, beyond: Callable[[float], bool], toward: float) -> float:
        if rejected is None:  # that direction is not tested ("worse" only)
            return bound
        if rejected and not beyond(bound):
            return 0.0
        if not rejected and beyond(bound):
            return math.nextafter(0.0, toward)
        return bound
    # higher is better: "worse" rests on high <= 0, "better" on low >= 0; the reverse otherwise
    if d.higher_is_better:
        hi = settle(hi, worse, lambda x: x <= 0, math.inf)
        lo = settle(lo, better, lambda x: x >= 0, -math.inf)
    else:
        lo = settle(lo, worse, lambda x: x >= 0, -math.inf)
        hi = settle(hi, better, lambda x: x <= 0, math.inf)
    return lo, hi


def _verdict(p_worse: float, p_better: float, alpha: float) -> tuple[Verdict, float]:
    """The verdict from the two adjusted one-sided p-values, and the p-value behind it."""
    if p_worse <= alpha and p_worse <= p_better:
        return "worse", p_worse
    if p_better <= alpha:
        return "better", p_better
    return NO_DIFFERENCE, min(p_worse, p_better)
