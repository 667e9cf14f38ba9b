"""The registered distribution metrics, each with a confidence interval.

A metric's ``compute(inputs, confidence, /, *, <args>)`` returns a ``MetricValue``.
Each metric's declaration (inputs, arguments, orientation, interval method,
minimum N) lives in ``evalkit._builtins``.

Intervals of the distribution metrics (FID, KID, precision, recall, density,
coverage, Vendi) cover the metric's expected value over generated sets of this
size N against this (fixed) reference; each ``method`` says so. The generated
samples are the random part: Clopper–Pearson where the metric is a binomial share
of them (precision), the delete-one jackknife where the k-NN balls move with them
(recall, coverage), the jackknife of KID's U-statistic, the delta method from the
influence function for FID (and Vendi of order other than 1), the delete-one jackknife
with exact leave-one-out scores for Vendi of order 1. Calibrated by simulation:
``benchmarks/calibration.py`` and ``benchmarks/CALIBRATION.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .._builtins import DEFAULT_K
from .._errors import DataError
from ..registry import Input
from . import functional as Fn
from .binomial import cp_lower, cp_upper, garwood_bounds
from ._dense import as_numpy, frechet_influence, mean_cov, moments, psd_factor, vendi_influence

@dataclass
class MetricInputs:
    """Everything a distribution metric may read for one subject."""

    subject: str
    real: Tensor | None  # (N, d) reference features
    fake: Tensor  # (M, d) subject features
    predicted: Tensor | None = None  # classifier predictions of the subject's samples
    asked: Tensor | None = None  # asked labels
    num_classes: int | None = None
    memo_ratios: Tensor | None = None
    seed: int = 0
    images: Tensor | None = None  # uint8 generated images (for metrics that train on them)
    image_labels: Tensor | None = None
    real_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled reference images
    train_images: Callable[[], tuple[Tensor, Tensor]] | None = None  # labelled training images
    # every (metric name, args) the spec asks of this subject: metrics that share work
    # (the k-NN metrics and KID walk the same Gram tiles) compute it once for all of them
    requests: list[tuple[str, dict]] = field(default_factory=list)
    # a dict the runner keeps across subjects, for work on the reference set alone
    shared: dict | None = None
    # per-sample values of the registered measurements a metric declares as inputs
    measured: dict[str, Tensor] = field(default_factory=dict)
    # every per-sample state the metric declares, by name: (rows, sample indices) for a cat
    # state, (sum, count) for a sum state (narrowed to the metric's own states)
    states: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    # which declared input each field carries: a metric reading a field it did not
    # declare fails (registry.InputGuard)
    INPUT_OF_ATTRIBUTE = {
        "real": Input.REFERENCE, "real_images": Input.REFERENCE, "fake": Input.FEATURES,
        "predicted": Input.CLASSIFIER, "num_classes": Input.CLASSIFIER, "asked": Input.LABELS,
        "image_labels": Input.LABELS, "memo_ratios": Input.TRAINING, "train_images": Input.TRAINING,
        "images": Input.IMAGES,
    }

    def cached(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def need_real(self, name: str) -> Tensor:
        if self.real is None:
            raise DataError(f"metric {name!r} compares against real images, but the spec has no `reference:`")
        return self.real


@dataclass
class MetricValue:
    value: float
    low: float  # one-sided lower bound at the requested confidence
    high: float  # one-sided upper bound at the requested confidence
    method: str
    n: int
    n_reference: int | None = None
    note: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    # False where a bound's assumptions fail (``_tail_guard``): it is shown, not claimed, and
    # the judge decides nothing on it (an at_most PASS and an at_least FAIL need the upper
    # bound; an at_most FAIL and an at_least PASS the lower)
    upper_holds: bool = True
    lower_holds: bool = True


def _bootstrap_bounds(value: float, values: list[float], confidence: float) -> tuple[float, float]:
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


def _shared(inputs: MetricInputs, key: tuple, fn: Callable[[], Any]) -> Any:
    """Work on the reference alone, computed once per run when the runner shares a dict."""
    if inputs.shared is None:
        return inputs.cached(key, fn)
    if key not in inputs.shared:
        inputs.shared[key] = fn()
    return inputs.shared[key]


# What every interval of a distribution metric below covers: the reference set is fixed
# (the same for every model), the generated set is the random part, so the estimand is
# the metric's expected value over generated sets of this size N against this reference.
ESTIMAND = "covers the expected value at this N against this reference"
HEAVY_TAIL = 6.0  # the moment order KID's variance (a cubic kernel) and FID's skewness need


def _tail_guard(inputs: MetricInputs, v: MetricValue, metric: str, *, lower_too: bool) -> MetricValue:
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
    alpha = inputs.cached(("norm-tail-index",), lambda: Fn.norm_tail_index(inputs.real, inputs.fake))
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


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(confidence))


def _need(metric: str, n: int, minimum: int, why: str) -> None:
    """Too few generated samples for a metric's interval: one clear error, never a NaN bound."""
    if n < minimum:
        raise DataError(f"metric {metric!r} needs at least {minimum} generated samples ({why}), got N={n}; "
                        f"raise `sampling.n` to {minimum} or more")


def _normal(value: float, sd: float, skew: float, confidence: float, method: str, n: int, n_ref: int | None,
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


class FID:
    """The delta method over generated samples, its skew removed by Hall's cubic transform.

    FID is quadratic in the generated moments: with a mean shift its influences are
    symmetric (Gaussian features) while FID itself is right-skewed, so the influences'
    skewness alone left the upper bound missing 11.9 % at c = 0.9 (d = 16, N = 500).
    The Edgeworth term that carries it is the curvature E[IF IF Q] (``_dense.Influence``),
    the same term Helmers' expansion gives KID.
    """

    @Fn._ftz
    def compute(self, inputs: MetricInputs, confidence: float, /) -> MetricValue:
        real, fake = inputs.need_real("fid"), as_numpy(inputs.fake)
        _need("fid", len(fake), 2, "a covariance")

        def reference():
            m1, c1 = mean_cov(*moments(as_numpy(real)))
            return m1, c1, psd_factor(c1)

        # NumPy from here on: the float64 algebra lives in ._dense (see its docstring)
        m1, c1, f1 = _shared(inputs, ("fid-reference", id(real)), reference)
        value, infl, curvature = inputs.cached(("fid-influence",), lambda: frechet_influence(m1, c1, f1, fake))
        n, d = len(fake), real.shape[1]
        sd_if, sd = float(infl.std()), float(infl.std(ddof=1)) / math.sqrt(n)
        kappa_g = Fn.skewness(torch.from_numpy(infl))
        kappa_psi = curvature / sd_if**3 if sd_if**3 > 0 else 0.0  # sd_if^3 underflows below ~1e-103
        # capped at 1.5 z: with no shift FID is degenerate (its first-order part vanishes and
        # kappa_psi grows without bound); a 2 z cap widened those intervals to 1.8 times the
        # true spread with their misses far below 1 - c, and the shifted cells never reach 1.5 z
        low, high = _hall_bounds(value, sd, kappa_g, kappa_psi, confidence, n, cap=1.5)
        note = f"FID is biased upward at finite N; compare only at equal N (here N={n} vs {len(real)} real)"
        if min(len(real), n) <= d:
            note += f"; covariance is rank-deficient (N <= d = {d}): the interval is not calibrated there"
        method = "delta method over generated samples, skewness removed by Hall's cubic transform with FID's curvature"
        v = MetricValue(value, max(low, 0.0), high, f"{method}; {ESTIMAND}", n, len(real), note=note,
                        extra={"sd": sd, "skew": kappa_g, "kappa_psi": kappa_psi})
        return _tail_guard(inputs, v, "fid", lower_too=False)


def _hall_root(z: float, a: float, b: float) -> float:
    """The t with f(t) = z for Hall's cubic transform f (``_hall_quantile``)."""
    if abs(a) < 1e-12:
        return z - b
    u = 1 + 3 * a * (z - b)
    return (math.copysign(abs(u) ** (1 / 3), u) - 1) / a


# Fractions s of (a, b) along which the long tail's quantile is held at its most extreme
_HALL_RAY = tuple((i + 1) / 64 for i in range(64))


def _hall_quantile(z: float, a: float, b: float, cap: float = 2.0) -> float:
    """The quantile of a studentized statistic whose Edgeworth expansion is
    P(T <= x) = Phi(x) + (a x^2 + b) phi(x) + ..., through Hall's (1992) monotone cubic
    transform f(t) = t + a t^2 + a^2 t^3 / 3 + b = ((1 + a t)^3 - 1) / (3 a) + b, whose
    distribution is normal to the next order: the t with f(t) = z, capped at cap |z|.

    On the long tail's side (z a < 0) that root moves outward as (a, b) grow from 0 only
    while a is small: further out b's shift outgrows a's stretch and it turns back toward 0
    (at a ~ 1 for z = 1.28, ~ 0.4 for z = 3.09), so a larger skewness would narrow the
    interval, below the normal one in the end. Where the expansion is that far off, the
    quantile is held at its most extreme one along s (a, b), s in (0, 1]: monotone in the
    skewness, as ``_outward_bounds`` needs."""
    t = _hall_root(z, a, b)
    if z * a < 0:
        along = [_hall_root(z, s * a, s * b) for s in _HALL_RAY]
        t = min(t, *along) if z < 0 else max(t, *along)
    return max(-cap * abs(z), min(cap * abs(z), t))


def _hall_bounds(value: float, sd: float, kappa_g: float, kappa_psi: float, confidence: float,
                 n: int, cap: float = 2.0) -> tuple[float, float]:
    """One-sided bounds of a studentized statistic whose first Edgeworth term is
    ((2 x^2 + 1) kappa_g + 3 (x^2 + 1) kappa_psi) / (6 sqrt(n)) (Helmers, 1991, for a
    U-statistic; the same form for any smooth statistic with influences of skewness
    kappa_g and curvature term kappa_psi), inverted through ``_hall_quantile`` with the
    transformed quantile capped at ``cap`` times the normal one."""
    a = (2 * kappa_g + 3 * kappa_psi) / (6 * math.sqrt(n))
    b = (kappa_g + 3 * kappa_psi) / (6 * math.sqrt(n))
    z = _z(confidence)
    return (min(value - sd * _hall_quantile(z, a, b, cap), value),
            max(value - sd * _hall_quantile(-z, a, b, cap), value))


class KID:
    """The jackknife of KID's complete U-statistic plus the subset noise, with Hall's
    skewness-removing transform fed by the U-statistic's own third-cumulant terms.

    The statistic is right-skewed and its jackknife standard error grows with it (their
    correlation is about 0.9 in the calibration cells), so a plain normal interval
    misses the expected value from above 17-23 % of the time at c = 0.9, N = 500.
    The studentized U-statistic's first Edgeworth term is (Helmers, 1991)
    ((2 x^2 + 1) kappa_g + 3 (x^2 + 1) kappa_psi) / (6 sqrt(n)) (``functional.kid_skew_terms``);
    inverted as a plain Cornish-Fisher shift it still missed 13-15 % at c = 0.9, so it is
    inverted through Hall's monotone cubic transform, which corrects more strongly
    in the long tail, and capped at twice the normal half-width.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, subsets: int = 100, subset_size: int = 1000) -> MetricValue:
        real = inputs.need_real("kid")
        n = len(inputs.fake)
        _need("kid", n, 4, "the jackknife of its U-statistic")
        pw = _pairwise(inputs, "kid", {"subsets": subsets, "subset_size": subset_size})
        if subsets < 2 and min(subset_size, n, len(real)) < max(n, len(real)):
            raise DataError(f"metric 'kid': its interval needs subsets >= 2 to measure the subset noise, got subsets={subsets}")
        mean, std = Fn.kid_mean_std(pw.kid)
        sd = Fn.kid_sd(pw.kid, pw.kid_rows[0], pw.kid_rows[1], len(real))
        kappa_g, kappa_psi = inputs.cached(("kid-skew", subsets, subset_size), lambda: Fn.kid_skew_terms(
            inputs.fake, pw.kid_rows[0], pw.kid_rows[1], len(real), seed=inputs.seed))
        low, high = _hall_bounds(mean, sd, kappa_g, kappa_psi, confidence, n)
        method = ("jackknife of the complete U-statistic plus subset noise, skewness removed by Hall's cubic "
                  "transform with the U-statistic's Edgeworth terms")
        v = MetricValue(mean, low, high, f"{method}; {ESTIMAND}", n, len(real),
                        extra={"sd": sd, "std": std, "kappa_g": kappa_g, "kappa_psi": kappa_psi})
        return _tail_guard(inputs, v, "kid", lower_too=True)


def _pairwise(inputs: MetricInputs, name: str, args: dict) -> Fn.Pairwise:
    """The shared Gram pass for this subject, covering every k-NN metric and KID it is asked for."""
    real = inputs.need_real(name)
    real_ks: set[int] = set()
    fake_ks: set[int] = set()
    kid: Fn.KIDConfig | None = None
    for n, a in [(name, args), *inputs.requests]:
        if n in ("precision", "density", "coverage"):
            real_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "recall":
            fake_ks.add(int(a.get("k", DEFAULT_K[n])))
        elif n == "kid" and kid is None:
            kid = Fn.KIDConfig(int(a.get("subsets", 100)), int(a.get("subset_size", 1000)), inputs.seed)
    for label, x, ks in (("reference", real, real_ks), (f"subject {inputs.subject!r}", inputs.fake, fake_ks)):
        if ks and len(x) <= max(ks):
            raise DataError(f"{label}: k-NN metrics need more than k={max(ks)} samples, got {len(x)}")
    if name == "kid" and kid != Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed):
        # a second KID request with other subsets: its own, KID-only pass
        cfg = Fn.KIDConfig(args["subsets"], args["subset_size"], inputs.seed)
        return inputs.cached(("pairwise", cfg), lambda: Fn.pairwise(real, inputs.fake, kid=cfg))
    key = ("pairwise", frozenset(real_ks), frozenset(fake_ks), kid)

    def run() -> Fn.Pairwise:
        # the reference's own pass depends only on the reference, the ks and the KID draws
        rkey = ("real-pass", id(real), frozenset(real_ks), kid, len(inputs.fake) if kid else None)
        real_pass = _shared(inputs, rkey, lambda: Fn.real_self_pass(real, inputs.fake, real_ks=real_ks, kid=kid))
        return Fn.pairwise(real, inputs.fake, real_ks=real_ks, fake_ks=fake_ks, kid=kid, real_pass=real_pass)

    return inputs.cached(key, run)


def _prdc(inputs: MetricInputs, name: str, k: int) -> Fn.Pairwise:
    return _pairwise(inputs, name, {"k": k})


def _share(indicator: Tensor, confidence: float, n_ref: int | None, what: str) -> MetricValue:
    n, kk = int(indicator.numel()), int(indicator.sum())
    return MetricValue(kk / n, cp_lower(kk, n, confidence), cp_upper(kk, n, confidence),
                       f"Clopper-Pearson over {what}", n, n_ref)


def _poisson_guard(v: MetricValue, covered: Tensor, confidence: float) -> MetricValue:
    """A share of covered real samples with few uncovered ones: its bounds are at least as
    wide as the ones a Poisson count of the uncovered samples gives (Garwood's exact
    bounds). There the jackknife sees almost no variation (a deletion seldom uncovers a
    ball), but the expected share is below 1 (the floor), and a run that happens to leave a
    ball or two uncovered must not put its upper bound below the expected share (the
    ceiling: at d = 16, N = 5,000, reference 1,000 with no shift, coverage 0.9999, the upper
    bound missed 6 % at every level before it, with one ball uncovered in such runs)."""
    n_real = covered.numel()
    fewest, most = garwood_bounds(int((~covered).sum()), confidence)  # on the uncovered count
    # clipped at 0: a share is never negative, so clipping costs no coverage (many uncovered
    # samples make the Poisson bound on their count exceed the number of real samples)
    v.low = max(0.0, min(v.low, 1.0 - most / n_real))
    v.high = min(1.0, max(v.high, 1.0 - fewest / n_real))
    return v


class Precision:
    """Given the reference, each generated sample is inside the real balls or not, independently:
    precision is a binomial share, and Clopper–Pearson is exact for its expected value."""

    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = DEFAULT_K["precision"]) -> MetricValue:
        p = _prdc(inputs, "precision", k)
        v = _share(p.fake_in_real[k], confidence, len(inputs.real), "generated samples (exact)")
        v.method += f"; {ESTIMAND}"
        return v


class Recall:
    """The balls are the generated samples' own: the delete-one jackknife over generated
    samples, every ball rebuilt (``functional.recall_deletions``)."""

    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = DEFAULT_K["recall"]) -> MetricValue:
        n = len(inputs.fake)
        _need("recall", n, k + 2, f"its jackknife rebuilds k={k} balls without each sample")
        p = _prdc(inputs, "recall", k)
        idx, d2 = p.fake_neighbours
        deletions = inputs.cached(("recall-deletions", k), lambda: Fn.recall_deletions(
            len(inputs.real), p.fake_ball_pairs[k], p.fake_outer_pairs[k], idx, d2, k))
        covered = p.real_in_fake[k]
        v = _normal(float(covered.double().mean()), Fn.jackknife_sd(deletions), -Fn.skewness(deletions), confidence,
                    "delete-one jackknife over generated samples, balls rebuilt", n, len(inputs.real), 0.0, 1.0)
        return _poisson_guard(v, covered, confidence)


def _landscape_skewness(p: Fn.Pairwise, k: int) -> float:
    """The skewness of a generated sample's ball count with the count landscape borrowed from
    the reference (``functional.landscape_moments``), summed in the shared pass.

    At d = 128 the count has a power tail (P(count > t) ~ t^-3: hubness), so the sample
    skewness of N counts rests on a few and collapses in runs that lack the rare large ones,
    together with the spread: where most samples lie in no ball (median 6.0 against 11.2 at
    d = 128, N = 500, large shift) the upper bounds missed 13 % at c = 0.9, and where most lie
    in some ball (d = 128, N = 500, reference 5,000, small shift) density's missed 11.6 /
    6.0 / 1.7 % at c = 0.9 / 0.95 / 0.99. The borrowed skewness does not collapse; it is too
    large where the generator sits on the balls' rims, so each bound takes the one of the two
    skewnesses that moves it outward (``_outward_bounds``)."""
    balls = p.ball_count[k]
    m2, m3 = Fn.landscape_moments(p.landscape_sums[k], len(balls))
    return Fn.skewness_from_moments(float(balls.double().mean()), m2, m3)


def _outward_bounds(value: float, sd: float, skew: float, tail: float | None, confidence: float,
                    n: int) -> tuple[float, float]:
    """Hall's bounds (``_hall_bounds``) with each side's skewness the one of the two estimates
    that moves it outward: a larger skewness raises both bounds (the transform's quantiles
    fall monotonically in it), so the lower bound takes the smaller, the upper the larger."""
    if tail is None:
        return _hall_bounds(value, sd, skew, 0.0, confidence, n)
    return (_hall_bounds(value, sd, min(skew, tail), 0.0, confidence, n)[0],
            _hall_bounds(value, sd, max(skew, tail), 0.0, confidence, n)[1])


def _no_count_upper(high: float, value: float, n: int, confidence: float, per_sample: float) -> float:
    """The upper bound where no generated sample lies in any reference ball (value 0): the
    counts then have no spread and Hall's bound sits at 0, below any positive expected value
    (it missed 76 % at c = 0.9 where 3 sets in 4 have no count). The share of generated
    samples inside some ball has Clopper-Pearson's upper bound 1 - (1 - c)^(1/N) with none
    seen; each such sample is taken to add what a real sample's count adds (k balls, the
    reference's mean, since each open ball holds k real samples): ``per_sample`` of the metric.
    Generated samples off the reference sit on the balls' rims with fewer, so this errs wide."""
    return max(high, cp_upper(0, n, confidence) * per_sample) if value == 0.0 else high


def _rare_cover_bounds(low: float, high: float, sd: float, covered: int, n_ref: int,
                       confidence: float) -> tuple[float, float]:
    """Coverage's bounds where most balls are uncovered, widened to Garwood's Poisson bounds on
    the covered count (the rare events there; ``_poisson_guard`` is the other regime's). With a
    ball or two covered, often by several generated samples each, leaving one out uncovers
    nothing: the jackknife sees no spread and the bounds sat on the value (d = 8, 100 against
    300, about one ball covered: the lower bound missed 64 %, the upper 46 % at c = 0.9). A
    generated sample covering several overlapping balls makes the count over-dispersed, so
    its spread is at least a Poisson count's: these bounds apply only where the standard
    error is below that, sqrt(count) / N_ref (the jackknife missing spread), and only widen."""
    if 2 * covered >= n_ref or sd >= math.sqrt(max(covered, 1)) / n_ref:
        return low, high
    fewest, most = garwood_bounds(covered, confidence)
    return min(low, fewest / n_ref), max(high, most / n_ref)


class Density:
    """A mean of independent per-sample counts (the balls are the reference's).

    The counts are right-skewed (most are 0 when the generator is off), so the bounds go
    through Hall's cubic transform with the counts' skewness (``_hall_bounds``, the
    studentized mean's first Edgeworth term): it corrects more strongly in the long tail
    than the one-term Cornish-Fisher shift it replaced, which missed 12.2 % / 6.5 % from
    above at c = 0.9 / 0.95 (d = 128, N = 500, small shift; then 11.5 % / 5.8 %). Each bound
    takes the outward one of that skewness and the one borrowed from the reference's count
    landscape (``_landscape_skewness``), which does not collapse with the sample's in the
    runs that lack the count's rare large values (that cell: 10.15 / 4.45 / 0.45 % over 4,000
    fresh sets), and where no generated sample lies in any ball Clopper-Pearson's bound on
    that share floors the upper one (``_no_count_upper``).
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = DEFAULT_K["density"]) -> MetricValue:
        n = len(inputs.fake)
        _need("density", n, 2, "a standard deviation")
        p = _prdc(inputs, "density", k)
        counts = p.ball_count[k] / k
        value = float(counts.mean())
        sd = float(counts.std(unbiased=True)) / math.sqrt(n)
        skew, tail = Fn.skewness(counts), _landscape_skewness(p, k)
        low, high = _outward_bounds(value, sd, skew, tail, confidence, n)
        high = _no_count_upper(high, value, n, confidence, 1.0)  # k balls / k
        method = ("normal over generated samples, skewness removed by Hall's cubic transform "
                  "(each bound's skewness the outward one of the sample's and the reference's count landscape's)")
        extra = {"sd": sd, "skew": skew, "skew_landscape": tail}
        return MetricValue(value, max(low, 0.0), high, f"{method}; {ESTIMAND}", n, len(inputs.real), extra=extra)


class Coverage:
    """The balls are the reference's; a real sample is covered while any generated sample
    falls in its ball: the delete-one jackknife over generated samples (exact, cheap:
    leaving a sample out uncovers the balls it alone was in), or the clumped-Poisson bound
    where tighter, through Hall's cubic transform with the skewness of the deletions. Where
    most generated samples lie in no ball, a sample's deletion is nearly its ball count
    (they seldom share a ball), and the count's skewness borrowed from the reference's
    landscape guards the bounds as for density (``_landscape_skewness``); elsewhere the
    deletions are not the counts, and their own skewness holds (calibration: no side beyond
    the limit in any cell).

    Garwood's Poisson bounds on the uncovered count floor the lower bound and raise the
    upper one where uncovered balls are the minority (share covered >= 1/2): there they are
    rare events and the jackknife may see no variation (``_poisson_guard``). Where most
    balls are uncovered the covered ones are the rare events and that count is not Poisson;
    the floor only sank the lower bound (width ratio 2.5 at coverage 0.022, 1.3 at 0.16), so
    it is not applied there; Garwood's bounds on the covered count widen both sides there
    instead (``_rare_cover_bounds``).
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = DEFAULT_K["coverage"]) -> MetricValue:
        n = len(inputs.fake)
        _need("coverage", n, 2, "a jackknife")
        p = _prdc(inputs, "coverage", k)
        deletions = Fn.coverage_deletions(p.real_hits[k], p.real_one[k], n)
        covered = p.real_covered[k]
        n_ref = len(inputs.real)
        jack = Fn.jackknife_sd(deletions)
        overlaps = None
        if n_ref <= Fn.OVERLAP_MAX:  # the reference's own work: once per run, shared by every subject
            overlaps = _shared(inputs, ("coverage-overlaps", id(inputs.real), k),
                               lambda: Fn.ball_overlaps(inputs.real, p.real_radii2[k]))
        clumped = math.sqrt(inputs.cached(("coverage-clumped", k), lambda: Fn.clumped_variance(
            inputs.real, p.real_radii2[k], ~covered, stop=(jack * n_ref) ** 2, overlaps=overlaps))) / n_ref
        value, sd = float(covered.double().mean()), min(jack, clumped)
        # the counts stand for the deletions only where most samples lie in no ball
        tail = _landscape_skewness(p, k) if 2 * int((p.ball_count[k] > 0).sum()) < n else None
        skew = -Fn.skewness(deletions)
        low, high = _outward_bounds(value, sd, skew, tail, confidence, n)
        n_covered = int(covered.sum())
        low, high = _rare_cover_bounds(low, high, sd, n_covered, n_ref, confidence)
        method = ("delete-one jackknife over generated samples, or the clumped-Poisson bound when tighter, "
                  "skewness removed by Hall's cubic transform")
        if tail is not None:
            method += " (the upper bound's skewness at least the reference's count landscape's)"
        extra = {"sd": sd, "skew": skew, "sd_jackknife": jack, "sd_clumped": clumped}
        v = MetricValue(value, max(low, 0.0), min(high, 1.0), f"{method}; {ESTIMAND}", n, n_ref,
                        extra=extra | ({} if tail is None else {"skew_landscape": tail}))
        return _poisson_guard(v, covered, confidence) if 2 * n_covered >= n_ref else v


class Vendi:
    """Order 1 (the default), N > d: the delete-one jackknife over generated samples, with
    each left-out score exact (``_dense._entropy_loo_change``); other orders and N <= d:
    the delta method. Both shifted by the per-sample values' skewness (``_normal``).

    Why not the delta method at order 1: the entropy weighs the small eigenvalues by
    their log, whose sampling error grows with d/N, so the influences at the sample's own
    spectrum understate the spread: at d = 128, N = 500, no shift (2,000 runs of
    ``benchmarks/calibration.py``'s setting) the lower/upper bound missed 11.0 / 11.8 % at
    c = 0.9 (width ratio 0.93), 12.3 / 11.8 % with a small shift; the delete-one changes
    carry the higher-order terms: 9.5 / 9.9 % and 10.8 / 10.0 % (width 1.00, 0.99). The
    jackknife is exact here because only the eigenvalues of a rank-one downdate are needed
    (``_dense._entropy_loo_change``): ~0.26 s extra at N = 10,000, d = 2,048 (one core).
    Tried and dropped: the von Mises second-order variance E[Q^2] / (2 N^2) (Q from the
    Daleckii-Krein second derivative; it is 3.5 % of the variance there while the gap is
    ~20 %; the rest lies in higher-order terms of the expansion, which the exact
    leave-one-out changes hold), and the curvature E[IF IF Q] through Hall's transform as for
    FID (it is negative here, kappa_psi ~ -0.8, and moved the misses onto the upper side:
    8.7 / 10.7 % at c = 0.9 over 1,000 runs; at d = 64, N = 500, large shift 6.6 % at 0.95).
    Orders 2 and inf read the large eigenvalues, where the delta method measured right
    (d = 128, N = 500: 10.6 / 10.8 % and 5.5 / 8.0 % at c = 0.9 over 500 and 200 runs).
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, q: float = 1.0) -> MetricValue:
        n = len(inputs.fake)
        _need("vendi", n, 2, "a standard deviation")
        with Fn.flush_denormals():
            vi = inputs.cached(("vendi-influence", q), lambda: vendi_influence(as_numpy(inputs.fake), q))
        value, infl = vi.value, vi.per_sample()
        method = "delta method" if vi.loo is None else "delete-one jackknife"
        method += " over generated samples"
        sd = float(infl.std(ddof=1)) / math.sqrt(n)
        v = _normal(value, sd, Fn.skewness(torch.from_numpy(infl)), confidence, method, n, None, lo=1.0)
        d = inputs.fake.shape[1]
        if n <= d:
            v.note = (f"N = {n} <= d = {d}: each sample spans a dimension of its own, and the delta method "
                      "understates the spread there (measured 20% at N = 60, d = 100): the interval is not calibrated")
        return v


class ClassTV:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, bootstrap: int = 200) -> MetricValue:
        if inputs.predicted is None or inputs.asked is None or inputs.num_classes is None:
            raise DataError(f"metric 'class_tv' needs a classifier and asked labels (subject {inputs.subject!r})")
        # a one-sided bootstrap bound is the c-quantile of the resamples: it says something
        # only when at least one resample lies beyond it, i.e. B (1 - c) >= 1
        minimum = max(2, math.ceil(1 / (1 - confidence) - 1e-9))
        if bootstrap < minimum:
            raise DataError(f"metric 'class_tv' needs at least {minimum} bootstrap resamples for a bound at confidence "
                            f"{confidence} (its {confidence} quantile), got bootstrap={bootstrap}; "
                            f"set `args: {{bootstrap: {max(minimum, 200)}}}` or leave it at its default 200")
        pred, asked = inputs.predicted.long(), inputs.asked.long()
        value = Fn.class_distribution(pred, asked, inputs.num_classes)["tv"]
        g = torch.Generator().manual_seed(inputs.seed)
        reps = []
        for _ in range(bootstrap):
            i = torch.randint(0, len(pred), (len(pred),), generator=g)
            reps.append(Fn.class_distribution(pred[i], asked, inputs.num_classes)["tv"])
        low, high = _bootstrap_bounds(value, reps, confidence)
        return MetricValue(value, max(low, 0.0), min(high, 1.0), f"bootstrap spread, {bootstrap} resamples", len(pred))


class Memorized:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, ratio: float = 1.0 / 3.0) -> MetricValue:
        if inputs.memo_ratios is None:
            raise DataError("metric 'memorized' needs a training set (spec field `training:`)")
        v = _share(inputs.memo_ratios < ratio, confidence, None, "generated samples")
        v.method = "Clopper-Pearson over generated samples"
        return v


CLASS_BALANCE_RETIRED = (
    "metric 'class_balance' is retired: it said PASS whenever its chi-square test found no difference, "
    "which is absence of evidence, not evidence of balance; use {metric: class_tv, at_most: 0.1} "
    "(total variation between predicted and asked class mixes, PASS only when its upper bound is within 0.1)"
)


class ClassBalance:
    """Retired. Its value was a chi-square p-value and ``at_least: level`` PASSed every
    non-significant test, so a skewed mix PASSed whenever n was too small to see the
    skew (87.5 % of runs at 12 % / 9.8 % against uniform, n = 1,000). The plan refuses a
    spec naming it, with the replacement; ``compute`` refuses too, for direct callers.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /) -> MetricValue:
        from .._errors import SpecError

        raise SpecError(CLASS_BALANCE_RETIRED)


def _small_cnn(shape: tuple[int, ...], classes: int) -> torch.nn.Module:
    c = shape[0]
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def _train_and_test(x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, classes: int, epochs: int, seed: int) -> Tensor:
    """Train a small CNN on (x, y), return per-test-image correctness on (xt, yt)."""
    torch.manual_seed(seed)
    net = _small_cnn(tuple(x.shape[1:]), classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xt[i : i + 1000].float()).argmax(1) for i in range(0, len(xt), 1000)])
    return pred == yt


class CAS:
    """Classification Accuracy Score (Ravuri & Vinyals, 2019).

    A small CNN is trained on the generated samples with their asked labels and
    tested on the labelled reference images; with a ``training:`` set, the same
    CNN trained on as many real training images gives the real-data baseline
    (``extra.real_accuracy``). Bounds: Clopper-Pearson over the test images,
    conditional on the trained network.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /, *, epochs: int = 5) -> MetricValue:
        if inputs.images is None or inputs.image_labels is None or inputs.real_images is None:
            raise DataError(f"metric 'cas' needs class-conditional samples and a labelled `reference:` (subject {inputs.subject!r})")
        xt, yt = inputs.real_images()
        classes = int(max(int(yt.max()), int(inputs.image_labels.max()))) + 1
        correct = _train_and_test(inputs.images, inputs.image_labels, xt, yt, classes, epochs, inputs.seed)
        v = _share(correct, confidence, len(yt), "real test images")
        v.method = f"Clopper-Pearson over the {len(yt)} test images; CNN trained {epochs} epochs on {len(inputs.images)} samples"
        v.n = len(inputs.images)
        if inputs.train_images is not None:
            xr, yr = inputs.train_images()
            g = torch.Generator().manual_seed(inputs.seed)
            pick = torch.randperm(len(xr), generator=g)[: len(inputs.images)]
            real_correct = _train_and_test(xr[pick], yr[pick], xt, yt, classes, epochs, inputs.seed)
            v.extra["real_accuracy"] = float(real_correct.double().mean())
            v.note = f"the same CNN trained on {len(pick)} real training images scores {v.extra['real_accuracy']:.4f}"
        return v
