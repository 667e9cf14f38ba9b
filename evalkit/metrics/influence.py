"""Each generated sample's influence on a metric's value: what a paired comparison of two
runs that drew the same samples needs (``judge.compare.compare_metrics(paired_influence=...)``).

The influence of generated sample i is the first-order change of the metric per sample, the
empirical influence function with respect to the generated distribution, the reference held
fixed: centred (mean 0 over the samples), so that to first order

    value - E value ~ mean_i infl_i,    var(value) ~ var(infl) / n,

and two runs whose sample i comes from the same latent draw give the paired standard error
of B - A as sd(infl_B - infl_A) / sqrt(n). Per metric (docs/statistics.md, "Paired
comparisons", derives each):

* FID: the gradient of the Fréchet distance in the generated mean and covariance applied to
  each sample (``_dense.frechet_influence``);
* Vendi: the jackknife pseudo-values where the metric's interval uses them (order 1, N > d),
  else the spectrum's first-order influence (``_dense.VendiInfluence.per_sample``);
* KID: its complete U-statistic's first-order (Hoeffding) projection, 2 (h_i - mean h) with
  h_i = mean_{l != i} k(y_i, y_l) - mean_a k(y_i, x_a);
* precision, density: the metric is a mean over generated samples of a per-sample term (the
  indicator of lying in some reference ball; the count of balls over k), so the influence is
  that term minus the mean;
* recall, coverage: means over *reference* samples, so a generated sample's influence is
  the jackknife pseudo-value (n - 1) (mean_j D_j - D_i), D_i the exact change of the
  metric when sample i is left out (recall: its ball removed and its neighbours' balls
  regrown, ``functional.recall_deletions``; coverage: the balls it alone covered,
  ``functional.coverage_deletions``) — the spread each metric's own interval rests on.

Every function returns float64 NumPy (n,) aligned with the rows of the generated features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from .._builtins import DEFAULT_K
from .._errors import present
from . import functional as Fn
from ._dense import as_numpy, frechet_influence, vendi_influence
from .metric import MetricInputs, gram_pass

__all__ = ["centred", "jackknife_influence", "kid_influence", "metric_influence", "INFLUENCE_METRICS"]

INFLUENCE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "vendi")


def centred(per_sample: Tensor | np.ndarray) -> np.ndarray:
    """The influence of each term of a mean over generated samples: the term minus the mean.

    >>> centred(np.array([1.0, 0.0, 0.0, 1.0]))
    array([ 0.5, -0.5, -0.5,  0.5])
    """
    x = as_numpy(per_sample).astype(np.float64) if isinstance(per_sample, Tensor) else np.asarray(per_sample, np.float64)
    return x - x.mean()


def jackknife_influence(deletions: Tensor | np.ndarray) -> np.ndarray:
    """Jackknife pseudo-values (n - 1) (mean D - D_i) from the changes D_i = S_(i) - S when
    generated sample i is left out: their variance over n is the delete-one jackknife's
    variance of S (``functional.jackknife_sd``), and for a mean they are the terms minus the mean.

    >>> jackknife_influence(np.array([-0.5, 0.5, 0.0]))  # the mean of 2, 0, 1 with each left out
    array([ 1., -1.,  0.])
    """
    d = centred(deletions) + 0.0  # (+ 0.0: no negative zeros)
    return (len(d) - 1) * (0.0 - d)


def kid_influence(within_rows: Tensor, cross_rows: Tensor, n_real: int) -> np.ndarray:
    """KID's first-order projection per generated sample, from the kernel row sums of the Gram
    pass (``Pairwise.kid_rows``: each sample's kernel sum over the other generated samples and
    over the reference): U = mean_{i != l} h(y_i, y_l) + const with
    h(y, y') = k(y, y') - c(y) - c(y'), c(y) = mean_a k(y, x_a), so U - E U ~ (2 / n) sum_i g(y_i),
    g(y) = E h(y, Y') - E U, estimated by h_i = w_i / (n - 1) - c_i, centred.

    Two generated samples at 0 and 1, one reference sample at 0, d = 1: k(0, 1) = 1,
    c(0) = 1, c(1) = 1, so h = (1 - 1, 1 - 1) = (0, 0).

    >>> kid_influence(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]), 1)
    array([0., 0.])
    """
    n = within_rows.numel()
    h = within_rows.double() / (n - 1) - cross_rows.double() / n_real
    return 2 * centred(h)


def _k(name: str, args: dict[str, Any]) -> int:
    return int(args.get("k", DEFAULT_K[name]))


def _fid(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    from .frechet import reference_moments

    m1, f1, _ = reference_moments(inputs)
    fake = as_numpy(inputs.fake)
    with Fn.flush_denormals():
        _, infl, _ = inputs.cached(("fid-influence",), lambda: frechet_influence(m1, f1, fake))
    return centred(infl)


def _vendi(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    q = float(args.get("q", 1.0))
    with Fn.flush_denormals():
        vi = inputs.cached(("vendi-influence", q), lambda: vendi_influence(as_numpy(inputs.fake), q))
    return centred(vi.per_sample())


def _kid(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    pw = gram_pass(inputs, "kid", {"subsets": int(args.get("subsets", 100)),
                                   "subset_size": int(args.get("subset_size", 1000))})
    rows = present(pw.kid_rows, "KID's kernel row sums")
    return kid_influence(rows[0], rows[1], len(inputs.need_real("kid")))


def _precision(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    k = _k("precision", args)
    return centred(gram_pass(inputs, "precision", {"k": k}).fake_in_real[k].double())


def _density(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    k = _k("density", args)
    return centred(gram_pass(inputs, "density", {"k": k}).ball_count[k].double() / k)


def _coverage(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    k = _k("coverage", args)
    p = gram_pass(inputs, "coverage", {"k": k})
    return jackknife_influence(Fn.coverage_deletions(p.real_hits[k], p.real_one[k], len(inputs.fake)))


def _recall(inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray:
    k = _k("recall", args)
    p = gram_pass(inputs, "recall", {"k": k})
    idx, d2 = present(p.fake_neighbours, "the generated samples' neighbour lists")
    deletions = inputs.cached(("recall-deletions", k), lambda: Fn.recall_deletions(
        len(inputs.need_real("recall")), p.fake_ball_pairs[k], p.fake_outer_pairs[k], idx, d2, k))
    return jackknife_influence(deletions)


_BY_METRIC = {"fid": _fid, "vendi": _vendi, "kid": _kid, "precision": _precision, "density": _density,
              "coverage": _coverage, "recall": _recall}


def metric_influence(metric: str, inputs: MetricInputs, args: dict[str, Any]) -> np.ndarray | None:
    """Each generated sample's influence on built-in metric ``metric`` (registered name) with
    ``args`` (defaults filled in), rows as ``inputs.fake``; None for a metric without one
    (class_tv, CAS, CMMD, memorized, plugins). Reads the work the metric's own ``compute``
    cached in ``inputs`` (the Gram pass, FID's and Vendi's eigen-solves): call it after."""
    fn = _BY_METRIC.get(metric)
    return None if fn is None else fn(inputs, args)
