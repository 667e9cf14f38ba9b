"""CMMD, the unbiased MMD² with a Gaussian RBF kernel (Jayasumana et al., 2024), with its interval.

CMMD(P, Q) = SCALE * [mean_{a != b} k(x_a, x_b) + mean_{i != l} k(y_i, y_l) - 2 mean_{i, a} k(y_i, x_a)],
k(u, v) = exp(-|u - v|^2 / (2 sigma^2)), x the reference features, y the generated ones. The
paper defines CMMD on CLIP embeddings with sigma = 10 and reports it times 1000; its reference
code (google-research ``cmmd/distance.py``) averages the full Gram matrices, diagonals included
(the biased V-statistic). evalkit takes the unbiased estimator the paper's text states: the two
differ by SCALE * ((1 - U_xx) / M + (1 - U_yy) / N), U the within-set kernel means: about
SCALE * mean |u - v|^2 / (2 sigma^2) * (1/M + 1/N), 0.01 for squared distances near 1 (unit-norm
embeddings) at N = M = 1000, against reported values of 0.1-5.

The interval is KID's (``kernel.KID``): with the reference fixed, the statistic is a U-statistic of
degree 2 in the generated samples, so its delete-one jackknife is exact from the kernel row sums
(``functional.kid_deletions``, which holds for any kernel) and its skewness is removed by Hall's
transform with Helmers' two Edgeworth terms. The kernel is bounded, so every moment exists and no
tail guard applies. Calibrated in ``benchmarks/CALIBRATION.md`` (the ``cmmd`` rows).

**Exactness.** With sigma = 10 and unit-norm CLIP embeddings every kernel value lies in
[exp(-0.02), 1] = [0.980, 1], and MMD² is a difference of means that agree to about 1e-4: a float32
Gram (rounding ~1e-7 per entry) would be a visible share of it. So the tiles are float64 and each
kernel value is summed as expm1(-d²/2σ²) = k - 1, which MMD² does not see (a constant added to the
kernel cancels between the three means) and which keeps the small part's digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import DataError
from . import functional as Fn
from .intervals import ESTIMAND, hall_bounds
from .metric import MetricInputs, MetricValue, need_samples, shared

SIGMA = 10.0  # the CMMD paper's bandwidth, on CLIP embeddings
SCALE = 1000.0  # CMMD is reported as 1000 MMD²
TILE = 1024  # rows and columns per float64 tile: 8 MB


@dataclass(frozen=True)
class RowSums:
    """Each generated sample's sum of k - 1 over the other generated samples and over the reference."""

    within: Tensor  # float64 (N,)
    cross: Tensor  # float64 (N,)


def _spans(n: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + TILE)) for s in range(0, n, TILE)]


def _kernel_tile(a: Tensor, a2: Tensor, b: Tensor, b2: Tensor, gamma: float) -> Tensor:
    """k - 1 = expm1(-gamma |a - b|^2) for a tile, float64; rounding below 0 clamped (d² >= 0)."""
    d2 = (a2[:, None] + b2[None, :]).sub_(a @ b.T, alpha=2.0).clamp_(min=0.0)
    return d2.mul_(-gamma).expm1_()


def _rows(x: Tensor) -> tuple[Tensor, Tensor]:
    x = x.double()
    return x, x.pow(2).sum(1)


def within_sums(x: Tensor, sigma: float) -> Tensor:
    """Each row's sum of k - 1 over the other rows (float64, tiled: no N x N matrix)."""
    x, x2 = _rows(x)
    gamma, out = 1.0 / (2 * sigma * sigma), torch.zeros(x.shape[0], dtype=torch.float64)
    spans = _spans(x.shape[0])
    for a, (i0, i1) in enumerate(spans):
        for j0, j1 in spans[a:]:
            k = _kernel_tile(x[i0:i1], x2[i0:i1], x[j0:j1], x2[j0:j1], gamma)
            if i0 == j0:
                k.fill_diagonal_(0.0)  # a sample with itself is no pair of the unbiased estimator
            out[i0:i1] += k.sum(1)
            if i0 != j0:  # the tile stands for its transpose too
                out[j0:j1] += k.sum(0)
    return out


def cross_sums(y: Tensor, x: Tensor, sigma: float) -> Tensor:
    """Each row of ``y``'s sum of k - 1 over every row of ``x``."""
    y, y2 = _rows(y)
    x, x2 = _rows(x)
    gamma, out = 1.0 / (2 * sigma * sigma), torch.zeros(y.shape[0], dtype=torch.float64)
    for i0, i1 in _spans(y.shape[0]):
        for j0, j1 in _spans(x.shape[0]):
            out[i0:i1] += _kernel_tile(y[i0:i1], y2[i0:i1], x[j0:j1], x2[j0:j1], gamma).sum(1)
    return out


def centred_quadratic(y: Tensor, g: Tensor, sigma: float) -> float:
    """sum_{i != l} g_i g_l (k_il - kbar), kbar the mean of k_il over the pairs i != l.

    The Edgeworth term E[g(Y1) g(Y2) k(Y1, Y2)] does not change when a constant is added to k
    (g is centred), but its plug-in estimate does, by a constant times sum_{i != l} g_i g_l =
    -sum g_i^2; the kernel is centred on its mean first so that the estimate is shift-free too."""
    y, y2 = _rows(y)
    gamma = 1.0 / (2 * sigma * sigma)
    total, ksum = 0.0, 0.0
    spans = _spans(y.shape[0])
    for a, (i0, i1) in enumerate(spans):
        for j0, j1 in spans[a:]:
            k = _kernel_tile(y[i0:i1], y2[i0:i1], y[j0:j1], y2[j0:j1], gamma)
            if i0 == j0:
                k.fill_diagonal_(0.0)
            w = 1.0 if i0 == j0 else 2.0  # an off-diagonal tile stands for its transpose too
            total += w * float(g[i0:i1] @ k @ g[j0:j1])
            ksum += w * float(k.sum())
    n = y.shape[0]
    kbar = ksum / (n * (n - 1))
    gg = float(g.sum()) ** 2 - float((g * g).sum())  # sum over i != l of g_i g_l
    return total - kbar * gg


def skew_terms(y: Tensor, rows: RowSums, n_real: int, sigma: float) -> tuple[float, float]:
    """Helmers' kappa_g and kappa_psi of the U-statistic (``functional.kid_skew_terms`` states
    them for KID's kernel; here every pair is used, the RBF kernel being cheap to recompute)."""
    n = rows.within.numel()
    h = rows.within / (n - 1) - rows.cross / n_real
    g = h - h.mean()
    s2 = float((g * g).mean())
    if s2 <= 0:
        return 0.0, 0.0
    s3 = s2**1.5
    kappa_psi = centred_quadratic(y, g, sigma) / (n * (n - 1)) / s3
    return float((g**3).mean()) / s3, kappa_psi


def cmmd_value(reference_sum: float, n_real: int, rows: RowSums) -> float:
    """SCALE times the unbiased MMD² from the reference's pair sum and the generated row sums
    (all of k - 1: the constant cancels)."""
    n = rows.within.numel()
    mmd2 = (reference_sum / (n_real * (n_real - 1)) + float(rows.within.sum()) / (n * (n - 1))
            - 2.0 * float(rows.cross.sum()) / (n * n_real))
    return SCALE * mmd2


def cmmd(real: Tensor, fake: Tensor, *, sigma: float = SIGMA) -> float:
    """CMMD (Jayasumana et al., 2024): 1000 times the unbiased MMD² with the Gaussian RBF kernel of
    bandwidth ``sigma``, between the feature sets ``real`` and ``fake`` (each at least 2 rows).

    Two points at 0 against two at 1 in d = 1, sigma = 1: within-set kernel 1, across exp(-1/2),
    so MMD² = 2 - 2 exp(-1/2).

    >>> import math
    >>> round(cmmd(torch.zeros(2, 1), torch.ones(2, 1), sigma=1.0), 6) == round(1000 * (2 - 2 * math.exp(-0.5)), 6)
    True
    """
    rows = RowSums(within_sums(fake, sigma), cross_sums(fake, real, sigma))
    return cmmd_value(float(within_sums(real, sigma).sum()), real.shape[0], rows)


class CMMD:
    """CMMD with the jackknife of its U-statistic (exact from the kernel row sums), the skewness
    removed by Hall's cubic transform with Helmers' Edgeworth terms, capped at twice the normal
    half-width, as KID's (whose reasons hold here: the statistic is right-skewed where the sets differ)."""

    def compute(self, inputs: MetricInputs, confidence: float, /, *, sigma: float = SIGMA) -> MetricValue:
        real = inputs.need_real("cmmd")
        fake = inputs.fake
        n, m = len(fake), len(real)
        need_samples("cmmd", n, 4, "the jackknife of its U-statistic")
        if m < 2:
            raise DataError(f"metric 'cmmd' needs at least 2 reference samples (pairs of them), got {m}")
        ref_sum = shared(inputs, ("cmmd-reference", id(real), sigma), lambda: float(within_sums(real, sigma).sum()))

        def parts() -> tuple[float, float, float, float]:
            rows = RowSums(within_sums(fake, sigma), cross_sums(fake, real, sigma))
            sd = SCALE * Fn.jackknife_sd(Fn.kid_deletions(rows.within, rows.cross, m))
            return (cmmd_value(ref_sum, m, rows), sd, *skew_terms(fake, rows, m, sigma))

        value, sd, kappa_g, kappa_psi = inputs.cached(("cmmd", sigma), parts)
        low, high = hall_bounds(value, sd, kappa_g, kappa_psi, confidence, n)
        method = ("jackknife of the unbiased MMD² U-statistic (Gaussian RBF kernel, sigma "
                  f"{sigma:g}, times {SCALE:g}), skewness removed by Hall's cubic transform with its Edgeworth terms")
        return MetricValue(value, low, high, f"{method}; {ESTIMAND}", n, m,
                           extra={"sd": sd, "kappa_g": kappa_g, "kappa_psi": kappa_psi, "sigma": sigma})
