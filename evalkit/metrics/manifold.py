"""The k-NN manifold metrics: precision and recall (Kynkäänniemi et al., 2019), density and
coverage (Naeem et al., 2020), each with its interval and the guards of its regimes.

All four read one Gram pass per subject (``metric.gram_pass``), shared with KID.
"""

from __future__ import annotations

import math

from torch import Tensor

from .._builtins import DEFAULT_K
from .._errors import present
from . import functional as Fn
from .binomial import cp_upper, garwood_bounds
from .intervals import ESTIMAND, normal_value, outward_bounds, share_value
from .metric import MetricInputs, MetricValue, gram_pass, need_samples, shared


def _prdc(inputs: MetricInputs, name: str, k: int) -> Fn.Pairwise:
    return gram_pass(inputs, name, {"k": k})


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
        v = share_value(p.fake_in_real[k], confidence, len(inputs.need_real("precision")), "generated samples (exact)")
        v.method += f"; {ESTIMAND}"
        return v


class Recall:
    """The balls are the generated samples' own: the delete-one jackknife over generated
    samples, every ball rebuilt (``functional.recall_deletions``)."""

    def compute(self, inputs: MetricInputs, confidence: float, /, *, k: int = DEFAULT_K["recall"]) -> MetricValue:
        n = len(inputs.fake)
        need_samples("recall", n, k + 2, f"its jackknife rebuilds k={k} balls without each sample")
        p = _prdc(inputs, "recall", k)
        idx, d2 = present(p.fake_neighbours, "the generated samples' neighbour lists")
        deletions = inputs.cached(("recall-deletions", k), lambda: Fn.recall_deletions(
            len(inputs.need_real("recall")), p.fake_ball_pairs[k], p.fake_outer_pairs[k], idx, d2, k))
        covered = p.real_in_fake[k]
        v = normal_value(float(covered.double().mean()), Fn.jackknife_sd(deletions), -Fn.skewness(deletions), confidence,
                    "delete-one jackknife over generated samples, balls rebuilt", n, len(inputs.need_real("recall")), 0.0, 1.0)
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
    skewnesses that moves it outward (``intervals.outward_bounds``)."""
    balls = p.ball_count[k]
    m2, m3 = Fn.landscape_moments(p.landscape_sums[k], len(balls))
    return Fn.skewness_from_moments(float(balls.double().mean()), m2, m3)


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
    through Hall's cubic transform with the counts' skewness (``intervals.hall_bounds``, the
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
        need_samples("density", n, 2, "a standard deviation")
        p = _prdc(inputs, "density", k)
        counts = p.ball_count[k] / k
        value = float(counts.mean())
        sd = float(counts.std(unbiased=True)) / math.sqrt(n)
        skew, tail = Fn.skewness(counts), _landscape_skewness(p, k)
        low, high = outward_bounds(value, sd, skew, tail, confidence, n)
        high = _no_count_upper(high, value, n, confidence, 1.0)  # k balls / k
        method = ("normal over generated samples, skewness removed by Hall's cubic transform "
                  "(each bound's skewness the outward one of the sample's and the reference's count landscape's)")
        extra = {"sd": sd, "skew": skew, "skew_landscape": tail}
        return MetricValue(value, max(low, 0.0), high, f"{method}; {ESTIMAND}", n, len(inputs.need_real("density")), extra=extra)


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
        need_samples("coverage", n, 2, "a jackknife")
        p = _prdc(inputs, "coverage", k)
        deletions = Fn.coverage_deletions(p.real_hits[k], p.real_one[k], n)
        covered = p.real_covered[k]
        real = inputs.need_real("coverage")
        n_ref = len(real)
        jack = Fn.jackknife_sd(deletions)
        overlaps = None
        if n_ref <= Fn.OVERLAP_MAX:  # the reference's own work: once per run, shared by every subject
            overlaps = shared(inputs, ("coverage-overlaps", id(inputs.real), k),
                               lambda: Fn.ball_overlaps(real, p.real_radii2[k]))
        clumped = math.sqrt(inputs.cached(("coverage-clumped", k), lambda: Fn.clumped_variance(
            real, p.real_radii2[k], ~covered, stop=(jack * n_ref) ** 2, overlaps=overlaps))) / n_ref
        value, sd = float(covered.double().mean()), min(jack, clumped)
        # the counts stand for the deletions only where most samples lie in no ball
        tail = _landscape_skewness(p, k) if 2 * int((p.ball_count[k] > 0).sum()) < n else None
        skew = -Fn.skewness(deletions)
        low, high = outward_bounds(value, sd, skew, tail, confidence, n)
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
