"""The interval machinery the metric families share: one-sided bounds at a confidence.

Intervals of the distribution metrics (FID, KID, precision, recall, density,
coverage, Vendi) cover the metric's expected value over generated sets of this
size N against this (fixed) reference; each ``method`` says so (``ESTIMAND``). The
generated samples are the random part: Clopper–Pearson where the metric is a binomial
share of them (precision; ``share_value``), the delete-one jackknife where the k-NN
balls move with them (recall, coverage), the jackknife of KID's U-statistic, the delta
method from the influence function for FID (and Vendi of order other than 1), the
delete-one jackknife with exact leave-one-out scores for Vendi of order 1. Skewness is
removed by Hall's cubic transform (``hall_bounds``) or a one-term Edgeworth shift
(``normal_value``); ``tail_guard`` withdraws the bounds whose moments do not exist.
Calibrated by simulation: ``benchmarks/calibration.py`` and ``benchmarks/CALIBRATION.md``.
Each family's own guards live with it (``manifold``: the Poisson and landscape guards).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import functional as Fn
from .binomial import cp_lower, cp_upper
from .metric import MetricInputs, MetricValue


# What every interval of a distribution metric below covers: the reference set is fixed
# (the same for every model), the generated set is the random part, so the estimand is
# the metric's expected value over generated sets of this size N against this reference.
ESTIMAND = "covers the expected value at this N against this reference"
HEAVY_TAIL = 6.0  # the moment order KID's variance (a cubic kernel) and FID's skewness need


def bootstrap_bounds(value: float, values: list[float], confidence: float) -> tuple[float, float]:
    """One-sided bounds from the bootstrap spread, centred on the estimate.

    Resampling with replacement duplicates samples, which shifts FID up and Vendi
    down in every replicate (a smaller effective N); percentile bounds would carry
    that shift, and reflected ("basic") bounds would carry it the other way. The
    spread of the replicates around their own mean is what estimates the sampling
    variability of the statistic at this N, so the bounds are value + (q - mean).
    """
    t = torch.tensor(values, dtype=torch.float64)
    centre = float(t.mean())
    q_lo, q_hi = float(torch.quantile(t, 1 - confidence)), float(torch.quantile(t, confidence))
    return value + (q_lo - centre), value + (q_hi - centre)


def share_value(indicator: Tensor, confidence: float, n_ref: int | None, what: str) -> MetricValue:
    """The share of ``indicator`` that is true, with Clopper-Pearson's exact one-sided bounds."""
    n, kk = int(indicator.numel()), int(indicator.sum())
    return MetricValue(kk / n, cp_lower(kk, n, confidence), cp_upper(kk, n, confidence),
                       f"Clopper-Pearson over {what}", n, n_ref)


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(confidence))


def normal_value(value: float, sd: float, skew: float, confidence: float, method: str, n: int, n_ref: int | None,
                 lo: float = -math.inf, hi: float = math.inf) -> MetricValue:
    """One-sided bounds value -/+ sd (z -/+ a), a = skew (2 z^2 + 1) / (6 sqrt(n)).

    ``skew`` is the skewness of the per-sample contributions (influence values or
    jackknife pseudo-values). The shift a is the first Edgeworth term of the
    studentized mean's quantile (Hall, 1992): it moves both bounds toward the long
    tail, where a plain normal interval misses more often than it says. Capped at
    z / 2, where a one-term expansion stops being trustworthy.
    """
    z = _z(confidence)
    a = max(-z / 2, min(z / 2, skew * (2 * z * z + 1) / (6 * math.sqrt(n))))
    low = max(min(value - sd * (z - a), value), lo)
    high = min(max(value + sd * (z + a), value), hi)
    return MetricValue(value, low, high, f"{method}; {ESTIMAND}", n, n_ref, extra={"sd": sd, "skew": skew})


def _hall_root(z: float, a: float, b: float) -> float:
    """The t with f(t) = z for Hall's cubic transform f (``hall_quantile``)."""
    if abs(a) < 1e-12:
        return z - b
    u = 1 + 3 * a * (z - b)
    return (math.copysign(abs(u) ** (1 / 3), u) - 1) / a


# Fractions s of (a, b) along which the long tail's quantile is held at its most extreme
_HALL_RAY = tuple((i + 1) / 64 for i in range(64))


def hall_quantile(z: float, a: float, b: float, cap: float = 2.0) -> float:
    """The quantile of a studentized statistic whose Edgeworth expansion is
    P(T <= x) = Phi(x) + (a x^2 + b) phi(x) + ..., through Hall's (1992) monotone cubic
    transform f(t) = t + a t^2 + a^2 t^3 / 3 + b = ((1 + a t)^3 - 1) / (3 a) + b, whose
    distribution is normal to the next order: the t with f(t) = z, capped at cap |z|.

    On the long tail's side (z a < 0) that root moves outward as (a, b) grow from 0 only
    while a is small: further out b's shift outgrows a's stretch and it turns back toward 0
    (at a ~ 1 for z = 1.28, ~ 0.4 for z = 3.09), so a larger skewness would narrow the
    interval, below the normal one in the end. Where the expansion is that far off, the
    quantile is held at its most extreme one along s (a, b), s in (0, 1]: monotone in the
    skewness, as ``outward_bounds`` needs."""
    t = _hall_root(z, a, b)
    if z * a < 0:
        along = [_hall_root(z, s * a, s * b) for s in _HALL_RAY]
        t = min(t, *along) if z < 0 else max(t, *along)
    return max(-cap * abs(z), min(cap * abs(z), t))


def hall_bounds(value: float, sd: float, kappa_g: float, kappa_psi: float, confidence: float,
                n: int, cap: float = 2.0) -> tuple[float, float]:
    """One-sided bounds of a studentized statistic whose first Edgeworth term is
    ((2 x^2 + 1) kappa_g + 3 (x^2 + 1) kappa_psi) / (6 sqrt(n)) (Helmers, 1991, for a
    U-statistic; the same form for any smooth statistic with influences of skewness
    kappa_g and curvature term kappa_psi), inverted through ``hall_quantile`` with the
    transformed quantile capped at ``cap`` times the normal one."""
    a = (2 * kappa_g + 3 * kappa_psi) / (6 * math.sqrt(n))
    b = (kappa_g + 3 * kappa_psi) / (6 * math.sqrt(n))
    z = _z(confidence)
    return (min(value - sd * hall_quantile(z, a, b, cap), value),
            max(value - sd * hall_quantile(-z, a, b, cap), value))


def outward_bounds(value: float, sd: float, skew: float, tail: float | None, confidence: float,
                   n: int) -> tuple[float, float]:
    """Hall's bounds (``hall_bounds``) with each side's skewness the one of the two estimates
    that moves it outward: a larger skewness raises both bounds (the transform's quantiles
    fall monotonically in it), so the lower bound takes the smaller, the upper the larger."""
    if tail is None:
        return hall_bounds(value, sd, skew, 0.0, confidence, n)
    return (hall_bounds(value, sd, min(skew, tail), 0.0, confidence, n)[0],
            hall_bounds(value, sd, max(skew, tail), 0.0, confidence, n)[1])


def tail_guard(inputs: MetricInputs, v: MetricValue, metric: str, *, lower_too: bool) -> MetricValue:
    """Withdraw the bounds whose assumptions fail where the features' tails are too heavy.

    KID's cubic kernel makes each sample's part cubic in the features, so its variance needs
    their sixth moments; FID's skewness term needs them too. With Student-t features of 5
    degrees of freedom (d = 32, reference 2,000, N = 1,000; ``benchmarks/heavy_tails.md``,
    600 runs) most runs draw no extreme sample: their spread and skewness look small while
    the expected value is pulled up by the rare runs that do. The upper bounds missed 15.3 %
    (KID, against its exact expected value) and 12.0 % (FID) at c = 0.9, and KID's lower
    bound 14.5 % too; FID's lower bound held (5.7 %). No bound from such a run can know the
    rare runs, so these are not claimed: where the tail index of the features' distances from
    the reference mean (``functional.norm_tail_index``) is below 6, they stay as numbers
    shown and the note says why."""
    alpha = inputs.cached(("norm-tail-index",), lambda: Fn.norm_tail_index(inputs.need_real(metric), inputs.fake))
    if math.isfinite(alpha):
        v.extra["tail_index"] = alpha
    if alpha < HEAVY_TAIL:
        v.upper_holds = False
        v.lower_holds = not lower_too
        which = "bounds" if lower_too else "upper bound"
        why = (f"the features' tails are too heavy for {metric}'s {which} (tail index {alpha:.1f} < "
               f"{HEAVY_TAIL:g}: their sixth moments do not exist), so {'they are' if lower_too else 'it is'} "
               "shown but not claimed and decide no verdict")
        v.note = why if v.note is None else f"{v.note}; {why}"
    return v
