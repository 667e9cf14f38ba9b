"""Distribution metrics as pure functions on feature tensors.

Definitions follow the papers (each function names its source). Moments,
eigen-solves, kernel sums and every k-NN decision are float64-exact; the Gram
tiles behind k-NN and KID are formed in the features' precision (see
``_pairwise``), walked once for all of them, and never as an N x N matrix.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps

import numpy as np
import torch
from torch import Tensor

from .._builtins import DEFAULT_K
from .._errors import present
from . import _dense as D
from . import _pairwise as P

__all__ = [
    "frechet_distance",
    "fid",
    "kid",
    "kid_subset_values",
    "kid_mean_std",
    "KIDConfig",
    "pairwise",
    "Pairwise",
    "distribution_suite",
    "PRDC",
    "knn_radii",
    "prdc",
    "vendi",
    "vendi_influence",
    "FrechetReference",
    "class_distribution",
    "memorization_ratios",
]

_ftz_depth = 0


@contextmanager
def flush_denormals():
    """Flush subnormal floats to zero inside eigen-solvers.

    Rank-deficient covariances drive LAPACK's symmetric solvers through subnormal
    numbers, which run 30x slower on x86 (seen here: 12 s instead of 0.35 s for
    a 784 x 784 eigvalsh). Values below 1e-308 change no reported digit.
    """
    global _ftz_depth
    if _ftz_depth == 0:
        torch.set_flush_denormal(True)
    _ftz_depth += 1
    try:
        yield
    finally:
        _ftz_depth -= 1
        if _ftz_depth == 0:
            torch.set_flush_denormal(False)


def _ftz(fn):
    @wraps(fn)
    def inner(*args, **kwargs):
        with flush_denormals():
            return fn(*args, **kwargs)

    return inner


def _np64(t: Tensor) -> np.ndarray:
    return D.as_numpy(t).astype(np.float64, copy=False)


@_ftz
def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2), all in float64.

    The trace term is taken from the symmetric matrix F^T C2 F (F F^T = C1, a
    Cholesky factor where C1 is definite, else from C1's eigen-decomposition),
    whose eigenvalues a symmetric solver finds stably; this avoids the general
    (complex) ``sqrtm`` of Heusel et al.'s reference code.

    >>> round(frechet_distance(torch.zeros(2), torch.eye(2), torch.tensor([3.0, 4.0]), torch.eye(2)), 9)  # |mu1 - mu2|^2
    25.0
    >>> round(frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), 4 * torch.eye(2)), 9)  # 2 + 8 - 2 (2 + 2)
    2.0
    """
    return D.frechet(_np64(mu1), _np64(cov1), _np64(mu2), _np64(cov2))


@_ftz
def fid(real: Tensor, fake: Tensor) -> float:
    """Fréchet Inception Distance (Heusel et al., 2017) in the given feature space.

    A shift by 1 in each of d = 3 dimensions, covariance unchanged: FID = |shift|^2 = 3.

    >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(fid(x, x + 1), 6)
    3.0
    """
    m1, c1 = D.mean_cov(*D.moments(D.as_numpy(real)))
    m2, c2 = D.mean_cov(*D.moments(D.as_numpy(fake)))
    return D.frechet(m1, c1, m2, c2)


def kid_subset_values(
    real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> Tensor:
    """KID's unbiased MMD^2 on each random subset (float64 vector of length ``subsets``).

    >>> kid_subset_values(torch.zeros(2, 1), torch.ones(2, 1), subsets=1, subset_size=2)  # see ``kid``
    tensor([7.], dtype=torch.float64)
    """
    return present(pairwise(real, fake, kid=KIDConfig(subsets, subset_size, seed)).kid, "KID's subset values")


def kid(
    real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al., 2018): unbiased MMD^2 with the
    kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets of ``subset_size``
    (sample sizes permitting).

    Returns (mean, standard deviation over subsets). The subsets are the ones
    torchmetrics draws after ``torch.manual_seed(seed)``.

    Two real samples at 0 and two generated at 1 in d = 1: k(0, 0) = 1, k(1, 1) = (1 + 1)^3 = 8,
    k(0, 1) = 1, so MMD^2 = 1 + 8 - 2 * 1 = 7 (one subset: no spread).

    >>> kid(torch.zeros(2, 1), torch.ones(2, 1), subsets=1, subset_size=2)
    (7.0, 0.0)
    """
    return kid_mean_std(kid_subset_values(real, fake, subsets=subsets, subset_size=subset_size, seed=seed))


def kid_mean_std(values: Tensor) -> tuple[float, float]:
    """KID as reported: the mean of the per-subset values and their sample standard deviation.

    >>> kid_mean_std(torch.tensor([1.0, 2.0, 3.0]))
    (2.0, 1.0)
    """
    return float(values.mean()), float(values.std(unbiased=True)) if values.numel() > 1 else 0.0


@dataclass(frozen=True)
class KIDConfig:
    subsets: int = 100
    subset_size: int = 1000
    seed: int = 0


@dataclass
class PRDC:
    """Per-sample indicators behind precision, recall, density and coverage."""

    fake_in_real: Tensor  # bool (M,): fake sample inside some closed real k-NN ball (d <= r)
    fake_ball_count: Tensor  # float64 (M,): number of open real balls (d < r) holding the fake sample
    real_in_fake: Tensor  # bool (N,): real sample inside some closed fake k-NN ball
    real_covered: Tensor  # bool (N,): the nearest fake sample lies in the real sample's open ball
    k: int

    @property
    def precision(self) -> float:
        return float(self.fake_in_real.double().mean())

    @property
    def recall(self) -> float:
        return float(self.real_in_fake.double().mean())

    @property
    def density(self) -> float:
        return float(self.fake_ball_count.mean() / self.k)

    @property
    def coverage(self) -> float:
        return float(self.real_covered.double().mean())


@dataclass
class Pairwise:
    """What one pass over the real/fake Gram matrices produced.

    ``real_balls[k]`` are the per-sample indicators of the real k-NN balls
    (fake inside some ball, how many balls, real ball covered); ``fake_balls[k]``
    marks real samples inside some fake k-NN ball; ``kid`` the per-subset MMD^2.
    """

    real_radii2: dict[int, Tensor]
    fake_radii2: dict[int, Tensor]
    fake_in_real: dict[int, Tensor]
    ball_count: dict[int, Tensor]
    real_covered: dict[int, Tensor]
    real_in_fake: dict[int, Tensor]
    kid: Tensor | None
    # what the intervals need (``bounds``): per real sample, the fake samples in its open
    # k-ball (count, and one of them); per fake sample, its exact neighbour list and the
    # (fake, real) pairs in its closed k- and (k+1)-balls; KID's per-fake kernel row sums
    real_hits: dict[int, Tensor] = field(default_factory=dict)
    real_one: dict[int, Tensor] = field(default_factory=dict)
    fake_neighbours: tuple[Tensor, Tensor] | None = None
    fake_ball_pairs: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    fake_outer_pairs: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    kid_rows: tuple[Tensor, Tensor] | None = None  # (sum over other fakes, sum over reals)
    landscape_sums: dict[int, Tensor] = field(default_factory=dict)  # see ``landscape_moments``

    def prdc(self, k: int, k_pr: int | None = None) -> PRDC:
        k_pr = k if k_pr is None else k_pr
        return PRDC(self.fake_in_real[k_pr], self.ball_count[k], self.real_in_fake[k_pr], self.real_covered[k], k)


def _check_finite(x: Tensor, what: str, chunk: int = 4096) -> None:
    # a chunk at a time: a whole N x d boolean mask would be 100 MB at N = 50,000, d = 2,048
    bad = sum(int((~torch.isfinite(x[s : s + chunk]).all(dim=1)).sum()) for s in range(0, x.shape[0], chunk))
    if bad:
        raise ValueError(f"{what} features hold NaN or Inf in {bad} of {x.shape[0]} rows")


def pairwise(
    real: Tensor,
    fake: Tensor,
    *,
    real_ks: tuple[int, ...] | set[int] = (),
    fake_ks: tuple[int, ...] | set[int] = (),
    kid: KIDConfig | None = None,
    real_pass: P.SelfResult | None = None,
) -> Pairwise:
    """One pass over the Gram tiles serving k-NN balls and KID together.

    ``real_ks``: neighbourhood sizes of real k-NN balls (precision, density,
    coverage); ``fake_ks``: of fake balls (recall); ``kid``: KID's subsets, or
    None. Each Gram tile (real x real, fake x fake, fake x real) is computed
    once. ``real_pass`` reuses a real x real pass from an earlier subject (see
    ``real_self_pass``).

    >>> pw = pairwise(torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([[0.0], [1.0], [2.0], [10.0]]),
    ...               real_ks={1}, fake_ks={1}, kid=KIDConfig(subsets=2, subset_size=3))
    >>> pw.real_radii2[1]  # each real sample's nearest other lies at distance 1
    tensor([1., 1., 1., 1.], dtype=torch.float64)
    >>> pw.prdc(1).precision, pw.kid.shape  # the k-NN balls and KID's subsets from the one pass
    (0.75, torch.Size([2]))
    """
    _check_pairwise_inputs(real, fake, real_ks, fake_ks, kid)
    dtype = P.work_dtype(real, fake)
    gamma = P.screen_gamma(real.shape[1], dtype)
    members = _kid_members(real, fake, kid)
    rs, fs = P.Side(real, dtype), P.Side(fake, dtype)
    rr = real_pass or P.self_pass(rs, sorted(set(real_ks)), members[0] if members else None, gamma,
                                  max(real_ks, default=0))
    # the count landscape density's upper bound borrows: from the reference's neighbour lists
    land = {k: ball_landscape(rr.kth[k], rr.nbr_idx, present(rr.nbr_d2, "the reference's neighbour distances"))
            for k in real_ks} if rr.nbr_idx is not None else {}
    # recall's jackknife needs each fake sample's k + 1 nearest others (see ``recall_deletions``)
    jack_ks = [k for k in fake_ks if fake.shape[0] > k + 1]  # a jackknife leaves k + 1 others
    neighbours = max(jack_ks) + 1 if jack_ks else 0
    ff = P.self_pass(fs, sorted(set(fake_ks)), members[1] if members else None, gamma, neighbours)
    fake_lists = (present(ff.nbr_idx, "the neighbour lists"), present(ff.nbr_d2, "the neighbour distances")) if neighbours else None
    outer = {k: fake_lists[1][:, k] for k in jack_ks} if fake_lists is not None else None
    cross = P.cross_pass(fs, rs, rr.kth, ff.kth, members, gamma, outer, land)
    kid_values, kid_rows = _kid_from_sums(members, rr, ff, cross)
    return Pairwise(rr.kth, ff.kth, cross.fake_in_real, cross.ball_count, cross.real_covered, cross.real_in_fake,
                    kid_values, cross.real_hits, cross.real_one,
                    fake_lists, cross.fake_ball_pairs, cross.fake_outer_pairs,
                    kid_rows, cross.landscape_sums)


def _check_pairwise_inputs(real: Tensor, fake: Tensor, real_ks, fake_ks, kid: KIDConfig | None) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature shapes differ: real {tuple(real.shape)}, fake {tuple(fake.shape)}")
    for name, x, ks in (("real", real, real_ks), ("fake", fake, fake_ks)):
        if ks and x.shape[0] <= max(ks):
            raise ValueError(f"need more than k={max(ks)} {name} samples for k-NN radii, got {x.shape[0]}")
    if kid is not None and min(real.shape[0], fake.shape[0], kid.subset_size) < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    _check_finite(real, "real")
    _check_finite(fake, "fake")


def _kid_from_sums(members, rr, ff, cross) -> tuple[Tensor | None, tuple[Tensor, Tensor] | None]:
    """KID's per-subset unbiased MMD^2 and the generated side's kernel row sums (None without KID)."""
    if members is None:
        return None, None
    m = int(members[0][:, 0].sum())
    within = m * (m - 1)
    values = (rr.kid_sums.sums(within) + ff.kid_sums.sums(within)) / within - 2 * cross.kid_sums.sums(m * m) / (m * m)
    return values, (ff.kid_sums.row_sums(), cross.kid_sums.row_sums())


# ---- interval ingredients: what deleting one generated sample does -------------------


def jackknife_sd(deletions: Tensor) -> float:
    """Delete-one jackknife standard error from the changes S_(i) - S of a statistic
    when generated sample i is left out: sqrt((n - 1) / n * sum (D_i - mean D)^2).

    By the Efron–Stein inequality its expectation is at least the variance of the
    statistic at n - 1 samples, for any symmetric statistic of i.i.d. samples
    (Efron & Stein, 1981): conservative where the statistic is not smooth.

    >>> jackknife_sd(torch.tensor([1.0, -1.0]))  # sqrt(1/2 * (1 + 1))
    1.0
    """
    n = deletions.numel()
    if n < 2:
        raise ValueError(f"a jackknife needs at least 2 samples, got {n}")
    dv = deletions.double()
    return math.sqrt((n - 1) / n * float(((dv - dv.mean()) ** 2).sum()))


def skewness(x: Tensor) -> float:
    """Sample skewness mean((x - mean)^3) / sd^3 (0 for a constant).

    >>> round(skewness(torch.tensor([0.0, 0.0, 3.0])), 4)  # deviations -1, -1, 2: m3 / m2^1.5 = 2 / 2^1.5
    0.7071
    >>> skewness(torch.ones(4))
    0.0
    """
    xv = x.double() - x.double().mean()
    # scale-free: values below ~1e-100 would underflow sd^3 to 0 (a division by zero)
    xv = xv / xv.abs().max() if xv.numel() and float(xv.abs().max()) > 0 else xv
    m2 = float((xv * xv).mean())
    return float((xv**3).mean()) / m2**1.5 if m2 > 0 else 0.0


def ball_overlaps(real: Tensor, radii2: Tensor, chunk: int = 2048) -> Tensor:
    """Which pairs of real k-NN balls overlap, |x_j - x_j'| < r_j + r_j' (0/1 in float32, N x N:
    a count is then one matrix-vector product, exact while N < 2^24): work on the reference
    alone, so a run that scores several subjects against one reference computes it once
    (``Coverage`` keeps it while N_ref <= ``OVERLAP_MAX``).

    >>> ball_overlaps(torch.tensor([[0.0], [1.0], [5.0]]), torch.tensor([1.0, 1.0, 1.0]))  # radius 1 each
    tensor([[1., 1., 0.],
            [1., 1., 0.],
            [0., 0., 1.]])
    """
    x = real.double()
    r = radii2.double().sqrt()
    return torch.cat([(torch.cdist(x[s : s + chunk], x) < r[s : s + chunk, None] + r[None, :]).float()
                      for s in range(0, x.shape[0], chunk)])


OVERLAP_MAX = 5000  # reference sizes whose ball-overlap matrix is kept (100 MB at most)


def clumped_variance(real: Tensor, radii2: Tensor, uncovered: Tensor, chunk: int = 2048, stop: float = math.inf,
                     overlaps: Tensor | None = None) -> float:
    """An unbiased estimate of an upper bound on var(#uncovered real balls), balls fixed.

    With E_j = 1[no generated sample in ball j] and independent samples, two disjoint
    balls' E_j are negatively correlated, so var(sum E_j) <= sum over overlapping pairs
    (j = j' included) of P(E_j E_j' = 1), estimated without bias by the number of pairs
    of uncovered balls that overlap (|x_j - x_j'| < r_j + r_j'). Tight when few balls
    are uncovered, where the jackknife is loose (see ``Coverage``). Counting stops once
    it passes ``stop`` (the caller's other estimate, which then wins anyway); every
    ball overlaps itself, so the count is at least the number uncovered. ``overlaps``:
    the reference's ``ball_overlaps``, when kept, read instead of recomputed.

    The balls of ``ball_overlaps``' example with the first two uncovered: the ordered pairs
    (0, 0), (0, 1), (1, 0), (1, 1) overlap.

    >>> clumped_variance(torch.tensor([[0.0], [1.0], [5.0]]), torch.tensor([1.0, 1.0, 1.0]),
    ...                  torch.tensor([True, True, False]))
    4.0
    """
    idx = uncovered.nonzero().flatten()
    if idx.numel() == 0 or idx.numel() >= stop:
        return float(idx.numel())
    if overlaps is not None:
        u = uncovered.to(torch.float32)
        return float((overlaps @ u).double() @ u.double())  # row counts <= N: exact in float32
    x = real[idx].double()
    r = radii2[idx].sqrt()
    pairs = 0
    for s in range(0, idx.numel(), chunk):
        d = torch.cdist(x[s : s + chunk], x)
        pairs += int((d < r[s : s + chunk, None] + r[None, :]).sum())
        if pairs >= stop:
            break
    return float(pairs)


def ball_landscape(radii2: Tensor, nbr_idx: Tensor, nbr_d2: Tensor) -> Tensor:
    """Per real open k-NN ball, the mean over the real samples inside it of m and m^2, m a
    sample's count of real balls holding it (its own included): the reference's count
    landscape, (N, 2) float64.

    Read off the reference's own pass, no pass of its own: ball i (squared radius
    ``radii2[i]``, the k-th nearest other's) holds i and those of its k nearest others
    strictly closer (``nbr_idx``/``nbr_d2``: each row's nearest others, ascending, exact
    float64, at least k columns). A generated sample in ball i is taken to meet the counts
    met there (``landscape_sums``): what density's upper bound borrows (``manifold.Density``)."""
    n = radii2.shape[0]
    inside = nbr_d2 < radii2[:, None]  # columns past the k-th are never strictly inside
    rows = torch.arange(n)[:, None].expand_as(inside)
    ball = torch.cat([torch.arange(n), rows[inside]])
    member = torch.cat([torch.arange(n), nbr_idx[inside]])
    count = torch.bincount(member, minlength=n).double()
    m = count[member]
    size = torch.bincount(ball, minlength=n).double()
    return torch.stack([torch.bincount(ball, weights=m, minlength=n) / size,
                        torch.bincount(ball, weights=m * m, minlength=n) / size], 1)


def landscape_moments(sums: Tensor, n: int) -> tuple[float, float]:
    """E[m^2] and E[m^3] of a generated sample's ball count m, the count landscape borrowed
    from the reference: E[m^p] = sum_i P(Y in ball i) E[m^(p-1) | Y in ball i], with the
    conditional moment read off the real samples inside ball i (``ball_landscape``) and
    P(Y in ball i) the share of the ``n`` generated samples in it; ``sums``: the cross
    pass's ``landscape_sums``, the landscape summed over the (generated, ball) pairs.

    Exact where the generator's density is flat across a ball relative to the reference's.
    A generator off the reference puts its samples on the balls' outer rims, where counts
    are lower than at the real samples inside, so there these moments come out larger than
    the generator's own (measured: skewness 18.5 against 11.2 at d = 128, large shift),
    but, unlike the sample's, they do not collapse when a run lacks the rare large counts
    (10-90 % range 16-22; the sample skewness' median 6.0).

    >>> landscape_moments(torch.tensor([6.0, 12.0]), 3)
    (2.0, 4.0)
    """
    return float(sums[0]) / n, float(sums[1]) / n


_NORM_BLOCK = 4096  # rows converted to float64 at a time in norm_tail_index


def norm_tail_index(real: Tensor, fake: Tensor) -> float:
    """Hill's (1975) estimate of the tail index alpha of the features' distances from the
    reference mean, over reference and generated samples pooled: P(|x - mu| > t) ~ t^-alpha.

    Moments of order alpha and above do not exist. KID's cubic kernel needs sixth moments
    for its variance, and FID's interval needs them for its skewness, so an estimate below
    6 says their intervals' assumptions fail (Student-t features with 5 degrees of freedom,
    d = 32, 600 runs: KID's upper and lower bounds missed 15.3 % and 14.5 % at c = 0.9, FID's
    upper 12.0 %; ``benchmarks/heavy_tails.md``). The k = ceil(sqrt(n)) largest distances
    enter: alpha = 1 / mean(log(r_i / r_(k+1))). Light tails give large values (Gaussian
    features: about 8 at d = 16, over 12 at d >= 64; the zoo's: 20-40); +inf where the top
    distances are all equal. Rows are taken in float64 a block at a time: no float64 copy of
    either set is held (at N = 10,000, d = 2,048 one would be 164 MB).

    >>> norm_tail_index(torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [-1.0]]))  # every distance 1
    inf
    """
    mu = sum(b.double().sum(0) for b in real.split(_NORM_BLOCK)) / len(real)
    r = torch.cat([(b.double() - mu).norm(dim=1) for x in (real, fake) for b in x.split(_NORM_BLOCK)])
    k = math.ceil(math.sqrt(len(r)))
    if len(r) <= k:
        return math.inf
    top = torch.topk(r, k + 1).values
    if float(top[k]) <= 0:
        return math.inf
    logs = float(torch.log(top[:k] / top[k]).mean())
    return 1.0 / logs if logs > 0 else math.inf


def skewness_from_moments(mean: float, m2: float, m3: float) -> float:
    """Skewness from raw moments E[m], E[m^2], E[m^3] (0 where the variance is 0).

    >>> round(skewness_from_moments(1.0, 3.0, 9.0), 4)  # 0, 0, 3 (see ``skewness``): E m = 1, E m^2 = 3, E m^3 = 9
    0.7071
    """
    var = m2 - mean * mean
    return (m3 - 3 * mean * m2 + 2 * mean**3) / var**1.5 if var > 0 else 0.0


def coverage_deletions(hits: Tensor, one: Tensor, n_fake: int) -> Tensor:
    """Change in coverage when each generated sample is left out.

    A real sample stays covered unless the left-out sample was the only one in its
    ball (the balls are the reference's: fixed). ``hits``: per real sample, the
    number of generated samples in its open ball; ``one``: one of them.

    Four real balls; the first three hold one generated sample each (sample 0, 0, 1), the
    fourth holds two: leaving out sample 0 uncovers two balls of four, sample 1 one.

    >>> coverage_deletions(torch.tensor([1, 1, 1, 2]), torch.tensor([0, 0, 1, 1]), 2)
    tensor([-0.5000, -0.2500], dtype=torch.float64)
    """
    sole = one[hits == 1]
    return -torch.bincount(sole, minlength=n_fake).double() / hits.numel()


def recall_deletions(n_real: int, inside: tuple[Tensor, Tensor], outer: tuple[Tensor, Tensor],
                     neighbours: Tensor, radii2: Tensor, k: int) -> Tensor:
    """Change in recall when each generated sample i is left out, balls rebuilt.

    Leaving i out removes i's ball, and every sample l that had i among its k
    nearest (with a strictly larger (k+1)-th distance) grows its ball to that
    (k+1)-th distance: real samples in that annulus may become covered. So

        R * D_i = #{j uncovered, in the grown ball of some l with i in kNN(l)}
                - #{j covered by i's ball alone, and not in such a grown ball}.

    ``inside``/``outer``: (fake, real) pairs within the closed k- and (k+1)-balls;
    ``neighbours`` (M, k + 1): each fake sample's nearest others, ascending;
    ``radii2`` (M, k + 1): their exact squared distances.
    """
    m = neighbours.shape[0]
    fi, rj = inside
    count = torch.bincount(rj, minlength=n_real)
    only = torch.full((n_real,), -1, dtype=torch.long)
    only[rj] = fi  # meaningful where count == 1
    lost = torch.bincount(only[count == 1], minlength=m)
    # annulus pairs (l, j): j in l's (k+1)-ball but not its k-ball, j covered at most once
    ol, oj = outer
    key_in = fi * n_real + rj
    key_out = ol * n_real + oj
    ann = ~torch.isin(key_out, key_in)
    grows = radii2[:, k] > radii2[:, k - 1]
    ann &= grows[ol] & (count[oj] <= 1)
    al, aj = ol[ann], oj[ann]
    # each annulus pair opens when any of l's k nearest is left out
    i = neighbours[al, :k].reshape(-1)
    j = aj.repeat_interleave(k)
    # a real covered once stays covered unless the one covering it is the one left out
    relevant = (count[j] == 0) | (only[j] == i)
    i, j = i[relevant], j[relevant]
    uniq = torch.unique(i * n_real + j)
    ui, uj = uniq // n_real, uniq % n_real
    gained = torch.bincount(ui[count[uj] == 0], minlength=m)
    regained = torch.bincount(ui[count[uj] == 1], minlength=m)
    return (gained - lost + regained).double() / n_real


def kid_deletions(within_rows: Tensor, cross_rows: Tensor, n_real: int) -> Tensor:
    """KID's complete U-statistic without each generated sample (up to a constant), from
    the kernel row sums: U_(i) = (W - 2 w_i) / ((n-1)(n-2)) - 2 (G - g_i) / (n - 1)."""
    n = within_rows.numel()
    w = within_rows.double()
    g = cross_rows.double() / n_real
    return (float(w.sum()) - 2 * w) / ((n - 1) * (n - 2)) - 2 * (float(g.sum()) - g) / (n - 1)


def kid_sd(values: Tensor, within_rows: Tensor, cross_rows: Tensor, n_real: int) -> float:
    """Standard error of KID (the mean of per-subset unbiased MMD^2) over generated sets.

    Given the generated set, the subsets are independent draws whose mean is the
    complete statistic U = mean_{i != l} k(y_i, y_l) - 2 mean_{i,a} k(y_i, x_a) + const,
    so var(KID) = var(U) + E var(subset mean | set). The first is the delete-one
    jackknife of U, a U-statistic of degree 2 in the generated samples, exact from
    the kernel row sums (``KernelSums.row_sums``); the second the spread of the
    subset values over their number (zero when every subset is the whole of both sets).
    """
    n = within_rows.numel()
    if n < 4:
        raise ValueError(f"KID's interval needs at least 4 generated samples, got {n}")
    var = jackknife_sd(kid_deletions(within_rows, cross_rows, n_real)) ** 2
    if values.numel() > 1:
        var += float(values.double().var(unbiased=True)) / values.numel()
    return math.sqrt(var)


def kid_skew_terms(fake: Tensor, within_rows: Tensor, cross_rows: Tensor, n_real: int, *,
                   rows: int = 1000, seed: int = 0, chunk: int = 256) -> tuple[float, float]:
    """The two standardized third-cumulant terms of KID's complete U-statistic (degree 2
    in the generated samples, the reference fixed), which set its Edgeworth correction.

    Write the kernel as h(y, y') = k(y, y') - c(y) - c(y'), c(y) the mean kernel value of y
    against the reference; g(y) = E h(y, Y') - theta its centred projection and
    psi = h - g - g - theta the degenerate rest. The studentized statistic's first
    Edgeworth term (Helmers, 1991) needs kappa_g = E g^3 / s^3 and
    kappa_psi = E[g(Y1) g(Y2) psi(Y1, Y2)] / s^3 = E[g(Y1) g(Y2) k(Y1, Y2)] / s^3, s^2 = var g.
    g comes from the kernel row sums of the Gram pass; the second needs the fake kernel
    rows once more, here over ``rows`` generated samples drawn at random (all of them
    when N <= rows): an unbiased estimate at a cost of rows x N kernel entries.
    """
    n = within_rows.numel()
    h = within_rows.double() / (n - 1) - cross_rows.double() / n_real
    g = h - h.mean()
    s2 = float((g * g).mean())
    if s2 <= 0:
        return 0.0, 0.0
    s3 = s2**1.5
    kappa_g = float((g**3).mean()) / s3
    pick = torch.arange(n) if n <= rows else torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:rows]
    d = fake.shape[1]
    total = 0.0
    for i in range(0, pick.numel(), chunk):
        p = pick[i : i + chunk]
        kern = (fake[p] @ fake.T).double().div_(d).add_(1).pow_(3)  # Gram in the features' precision, as the pass
        kern[torch.arange(p.numel()), p] = 0.0  # pairs of distinct samples only
        total += float((g[p] * (kern @ g)).sum())
    gkg = total * n / pick.numel() / (n * (n - 1))
    return kappa_g, gkg / s3


def real_self_pass(real: Tensor, fake_like: Tensor, *, real_ks=(), kid: KIDConfig | None = None) -> P.SelfResult:
    """The real x real part of ``pairwise``, to reuse across subjects of equal size."""
    dtype = P.work_dtype(real, fake_like)
    members = _kid_members(real, fake_like, kid)
    return P.self_pass(P.Side(real, dtype), sorted(set(real_ks)), members[0] if members else None,
                       P.screen_gamma(real.shape[1], dtype), max(real_ks, default=0))


def _kid_members(real: Tensor, fake: Tensor, kid: KIDConfig | None) -> tuple[Tensor, Tensor] | None:
    """KID's subset memberships for this pair of sets (subsets of min(subset_size, N, M))."""
    if kid is None:
        return None
    m = min(kid.subset_size, real.shape[0], fake.shape[0])
    return P.kid_members(real.shape[0], fake.shape[0], kid.subsets, m, kid.seed)


def distribution_suite(
    real: Tensor,
    fake: Tensor,
    *,
    k: int | None = None,
    k_pr: int | None = None,
    kid: KIDConfig | None = KIDConfig(),
    vendi_q: float = 1.0,
) -> dict[str, float]:
    """FID, KID (mean and std), precision, recall, density, coverage and Vendi of
    one generated set against one reference set, sharing the work they have in common.

    k-NN balls and KID read the same Gram tiles in one pass (``pairwise``).
    ``k`` and ``k_pr`` as in ``prdc``.

    >>> x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    >>> out = distribution_suite(x, x + 1, kid=None)
    >>> sorted(out), round(out["fid"], 6)  # a shift by 1 in each of 2 dimensions
    (['coverage', 'density', 'fid', 'precision', 'recall', 'vendi'], 2.0)
    """
    k, k_pr = _prdc_ks(k, k_pr)
    pw = pairwise(real, fake, real_ks={k, k_pr}, fake_ks={k_pr}, kid=kid)
    p = pw.prdc(k, k_pr)
    out = {"fid": fid(real, fake)}
    if pw.kid is not None:
        out["kid"], out["kid_std"] = kid_mean_std(pw.kid)
    out.update(precision=p.precision, recall=p.recall, density=p.density, coverage=p.coverage)
    out["vendi"] = vendi(fake, q=vendi_q)
    return out


def knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance from each row to its k-th nearest *other* row (the k-NN ball radius).

    >>> knn_radii(torch.tensor([[0.0], [1.0], [3.0]]), 1)
    tensor([1., 1., 2.], dtype=torch.float64)
    """
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {x.shape[0]}")
    dtype = P.work_dtype(x)
    return P.self_pass(P.Side(x, dtype), [k], None, P.screen_gamma(x.shape[1], dtype)).kth[k].sqrt()


def _prdc_ks(k: int | None, k_pr: int | None) -> tuple[int, int]:
    """(density/coverage k, precision/recall k): given ones win, a lone ``k`` sets both, else the
    declared defaults the spec's metrics use too (``evalkit._builtins.DEFAULT_K``)."""
    if k is None:
        return DEFAULT_K["density"], DEFAULT_K["precision"] if k_pr is None else k_pr
    return k, k if k_pr is None else k_pr


def prdc(real: Tensor, fake: Tensor, *, k: int | None = None, k_pr: int | None = None) -> PRDC:
    """Improved precision/recall (Kynkäänniemi et al., 2019) and density/coverage
    (Naeem et al., 2020), in one pass over the real-fake distance tiles.

    ``k`` sets density/coverage's neighbourhood, ``k_pr`` precision/recall's
    (default: the same ``k``; with neither given, the defaults of the registered
    metrics: k = 5 for density/coverage and 3 for precision/recall). Distances are Euclidean; ball radii are the exact
    k-th smallest squared distances (no sqrt-and-square round trip that could
    move a radius off an exact tie). On an exact tie (a sample at exactly the
    radius) each pair follows its authors' released code: precision and recall
    count it (closed balls, ``<=``), density and coverage do not (open balls,
    ``<``, as in the ``prdc`` package).

    Real samples at 0, 1, 2, 3 and generated ones at 0, 1, 2, 10, k = 1 (every real ball has
    radius 1): three of the four generated samples lie in a real ball (precision, and density:
    one open ball each); every real sample lies in a generated ball (the one around 10 has
    radius 8); the real sample at 3 has its nearest generated sample on its ball's rim, outside
    the open ball (coverage).

    >>> p = prdc(torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([[0.0], [1.0], [2.0], [10.0]]), k=1)
    >>> p.precision, p.recall, p.density, p.coverage
    (0.75, 1.0, 0.75, 0.75)
    """
    k, k_pr = _prdc_ks(k, k_pr)
    return pairwise(real, fake, real_ks={k, k_pr}, fake_ks={k_pr}).prdc(k, k_pr)


@_ftz
def vendi(x: Tensor, *, q: float = 1.0, weights: Tensor | None = None) -> float:
    """Vendi score (Friedman & Dieng, 2023) with the cosine-similarity kernel.

    The eigenvalues of K/n (K = X X^T, rows unit-normalised) equal the non-zero
    eigenvalues of X^T X / n, so the cost is that of the smaller of N x N and d x d.
    ``q`` is the order of the Rényi entropy (1 = Shannon, inf = min-entropy).

    >>> round(vendi(torch.eye(3)), 9), vendi(torch.eye(3), q=2.0)  # three orthogonal samples
    (3.0, 3.0)
    >>> vendi(torch.ones(4, 2))  # four copies of one sample
    1.0
    """
    return D.vendi_from_spectrum(D.cosine_spectrum(D.as_numpy(x), None if weights is None else D.as_numpy(weights)), q)


def class_distribution(predicted: Tensor, asked: Tensor, num_classes: int) -> dict[str, float]:
    """Total variation and KL(asked || predicted) between class histograms.

    >>> out = class_distribution(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 0, 1]), 2)
    >>> out["tv"], round(out["kl"], 4)  # (3/4, 1/4) against (1/2, 1/2)
    (0.25, 0.1438)
    """
    p = torch.bincount(predicted.long(), minlength=num_classes).double()
    a = torch.bincount(asked.long(), minlength=num_classes).double()
    p, a = p / p.sum(), a / a.sum()
    tv = 0.5 * float((p - a).abs().sum())
    mask = a > 0
    kl = float((a[mask] * (a[mask] / p[mask].clamp_min(1e-12)).log()).sum())
    return {"tv": tv, "kl": kl}


def memorization_ratios(train: Tensor, fake: Tensor, train_nn: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """For each fake sample: distance to its nearest training sample, divided by that
    training sample's distance to its own nearest training neighbour.

    Returns (ratios, nearest-train distances). A ratio well below 1 means the sample
    sits closer to a training image than training images sit to each other: a copy.

    Training images at 0, 1, 3 (nearest-neighbour distances 1, 1, 2); a sample at 0.25 is 0.25
    from the one at 0, a sample at 3.5 is 0.5 from the one at 3:

    >>> memorization_ratios(torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.25], [3.5]]))
    (tensor([0.2500, 0.2500], dtype=torch.float64), tensor([0.2500, 0.5000], dtype=torch.float64))
    """
    if train_nn is None:
        train_nn = knn_radii(train, 1)
    dtype = P.work_dtype(train, fake)
    d2, idx = P.nearest(P.Side(fake, dtype), P.Side(train, dtype), P.screen_gamma(train.shape[1], dtype))
    dist = d2.sqrt()
    return dist / train_nn[idx].clamp_min(1e-12), dist


# ---- per-sample influences: what paired comparisons of two sample sets need ----


@dataclass(frozen=True)
class FrechetReference:
    """A reference set's Gaussian fit (float64), computed once for many FIDs against it.

    >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> ref = FrechetReference.of(x)
    >>> ref.fid(x + 1) == fid(x, x + 1), round(ref.fid(x + 1), 6)
    (True, 3.0)
    """

    mean: np.ndarray
    cov: np.ndarray
    factor: np.ndarray  # F with F F^T = cov (Cholesky, eigen-decomposition when singular, thin when N <= d)

    @staticmethod
    @_ftz
    def of(real: Tensor) -> "FrechetReference":
        x = D.as_numpy(real)
        mu, cov, factor = D.reference_fit(x)
        # the library's reference keeps its covariance (``fid`` of weighted rows reads it)
        return FrechetReference(mu, D.mean_cov(*D.moments(x))[1] if cov is None else cov, factor)

    @_ftz
    def fid(self, fake: Tensor, weights: Tensor | None = None) -> float:
        """FID of ``fake`` against the reference; ``weights`` are integer row counts (a bootstrap draw)."""
        x = D.as_numpy(fake)
        if weights is None:
            mu, cov = D.mean_cov(*D.moments(x))
        else:
            mu, cov = D.weighted_mean_cov(x, D.as_numpy(weights))
        return D.frechet(self.mean, self.cov, mu, cov, factor1=self.factor)

    @_ftz
    def fid_influence(self, fake: Tensor) -> tuple[float, Tensor]:
        """FID of ``fake`` and each row's influence on it: to first order FID - E FID is the
        mean of the influences, so two sets of paired rows give a paired standard error."""
        value, infl, _ = D.frechet_influence(self.mean, self.factor, D.as_numpy(fake))
        return value, torch.from_numpy(infl)


@_ftz
def vendi_influence(x: Tensor, *, q: float = 1.0) -> tuple[float, Tensor]:
    """Vendi score of the rows of ``x`` (cosine kernel, order ``q``) and each row's influence on it.

    Where the exact leave-one-out scores exist (order 1, N > d) the influence is the
    jackknife's, (N - 1) (mean V_(-j) - V_(-i)) (``_dense.VendiInfluence.per_sample``): the
    spread the metric's own interval uses, which the first-order influence understates
    where d/N is not small; paired comparisons then carry the same correction.

    >>> value, influence = vendi_influence(torch.eye(3))
    >>> round(value, 9), influence.shape
    (3.0, torch.Size([3]))
    """
    vi = D.vendi_influence(D.as_numpy(x), q)
    return vi.value, torch.from_numpy(vi.per_sample())
