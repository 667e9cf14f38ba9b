"""Float64 dense linear algebra behind FID and Vendi, in NumPy/SciPy.

Two reasons to leave torch here: NumPy's ``a.T @ a`` runs BLAS's symmetric
rank-k update (half the work of the general product torch does), and SciPy's
LAPACK divide-and-conquer eigen-solver runs 2-3x faster than torch's at
d ~ 2048 on the CPUs we measured. Each function stays in NumPy from its
input to its result: alternating short torch and NumPy calls makes the two
thread pools (torch's OpenMP, NumPy's OpenBLAS) spin against each other, which
measured 1.6x slower on 2 cores.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.linalg.blas

_CHUNK_VALUES = 2**25  # float64 values per row chunk: 256 MB


def as_numpy(x) -> np.ndarray:
    """A CPU NumPy view (or copy, off the CPU) of a tensor or array."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _unit_scale(a: np.ndarray) -> np.ndarray:
    """1 / |row| for each row of a (1 for an all-zero row, which stays zero)."""
    sq = np.einsum("ij,ij->i", a, a)
    return 1.0 / np.sqrt(np.where(sq > 0, sq, 1.0))


def gram(x: np.ndarray, weights: np.ndarray | None = None, unit_rows: bool = False) -> np.ndarray:
    """X^T diag(w) X in float64, a chunk of rows at a time (rows unit-normalised if asked).

    The chunks bound the float64 copy of the rows to 256 MB.
    """
    d = x.shape[1]
    chunk = max(1, _CHUNK_VALUES // max(1, d))
    out = np.zeros((d, d))
    for s in range(0, x.shape[0], chunk):
        a = x[s : s + chunk].astype(np.float64)
        scale = None
        if unit_rows:
            scale = _unit_scale(a)
        if weights is not None:
            w = np.sqrt(weights[s : s + chunk].astype(np.float64))
            scale = w if scale is None else scale * w
        if scale is not None:
            a *= scale[:, None]
        out += a.T @ a
    return out


def moments(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, sum of rows, sum of outer products), float64."""
    return x.shape[0], x.sum(0, dtype=np.float64), gram(x)


def mean_cov(n: int, total: np.ndarray, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = total / n
    # outer (a sum of syrk results) and mu mu^T are exactly symmetric, and so is cov
    return mu, (outer - n * np.outer(mu, mu)) / (n - 1)


def weighted_mean_cov(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of rows with integer (bootstrap) weights, float64."""
    keep = w > 0  # a bootstrap draw leaves about 37% of the rows out: skip them
    a, w = x[keep].astype(np.float64), w[keep].astype(np.float64)
    n = w.sum()
    mu = (w @ a) / n
    a -= mu
    return mu, gram(a, w) / (n - 1)


def eigvalsh(m: np.ndarray) -> np.ndarray:
    """Eigenvalues of the symmetric part of m, ascending (LAPACK divide and conquer)."""
    return scipy.linalg.eigvalsh((m + m.T) / 2, driver="evd", check_finite=False)


def psd_factor(c: np.ndarray) -> np.ndarray:
    """F with F F^T = c for symmetric PSD c: the lower Cholesky factor when c is
    positive definite, else V diag(sqrt(max(w, 0))) from its eigen-decomposition."""
    try:
        return scipy.linalg.cholesky(c, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        w, v = scipy.linalg.eigh((c + c.T) / 2, driver="evd", check_finite=False)
        return v * np.sqrt(np.clip(w, 0, None))


def reference_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(mean, covariance, F with F F^T = covariance) of the rows of x, float64.

    With no more rows than columns (n <= d: pixel features of colour images, 3 x 48 x 64 =
    9216 values from a few hundred images) the covariance has rank below n: F is the thin
    d x n factor of the centred rows, (x - mu)^T / sqrt(n - 1), and the d x d covariance is
    not formed (None): forming it costs n d^2, its eigen-decomposition d^3 (minutes at
    d = 9216, and 19 GB at 3 x 128 x 128), the thin factor n d.
    """
    n, d = x.shape
    if n > d or n < 2:
        mu, cov = mean_cov(*moments(x))
        return mu, cov, psd_factor(cov)
    mu = x.mean(0, dtype=np.float64)
    return mu, None, _centred(x, mu).T


def _centred(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """(x - mu) / sqrt(n - 1) in float64: A with A^T A the covariance of the rows."""
    return (x.astype(np.float64) - mu) / np.sqrt(x.shape[0] - 1)


def _lower_square(f: np.ndarray) -> bool:
    """Whether F is square and lower triangular (BLAS trmm applies); a thin factor never is."""
    return f.shape[0] == f.shape[1] and np.array_equal(f, np.tril(f))


def trace_sqrt_product(factor1: np.ndarray, cov2: np.ndarray) -> float:
    """tr((C1 C2)^1/2) from F1 (F1 F1^T = C1): the eigenvalues of C1 C2 are those of
    the symmetric PSD matrix F1^T C2 F1, which a symmetric solver finds stably."""
    if _lower_square(factor1):
        # triangular products (BLAS trmm) do half the work of general ones
        t = scipy.linalg.blas.dtrmm(1.0, factor1, cov2, side=1, lower=1)  # C2 F
        m = scipy.linalg.blas.dtrmm(1.0, factor1, t, side=0, lower=1, trans_a=1, overwrite_b=1)  # F^T C2 F
    else:
        m = factor1.T @ cov2 @ factor1
    return float(np.sqrt(np.clip(eigvalsh(m), 0, None)).sum())


def frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, factor1: np.ndarray | None = None) -> float:
    """||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2), clipped at 0."""
    f1 = psd_factor(cov1) if factor1 is None else factor1
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2)) - 2 * trace_sqrt_product(f1, cov2)
    # Round-off can leave a tiny negative number for identical fits; the distance is >= 0.
    return max(value, 0.0)


def cosine_spectrum(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Eigenvalues of the weighted cosine-similarity kernel, normalised to sum 1.

    K/n (K = X X^T, rows unit-normalised) and X^T X / n hold the same non-zero
    eigenvalues, so the cost is that of the smaller of N x N and d x d.
    """
    n, d = x.shape
    w = np.ones(n) if weights is None else weights.astype(np.float64)
    if n < d:
        a = x.astype(np.float64)
        a *= (np.sqrt(w) * _unit_scale(a))[:, None]
        mat = a @ a.T
    else:
        mat = gram(x, w, unit_rows=True)
    lam = np.clip(eigvalsh(mat / w.sum()), 0, None)
    return lam / lam.sum()


# ---- influence functions: the first-order change of a metric per generated sample ----
#
# For a statistic T of the generated set's empirical distribution, T - E T is to first
# order the mean of its influence function over the samples, so sd(T) ~ sd(IF) / sqrt(N)
# (the delta method). Both functions below reuse the eigen-decomposition the value
# needs, so the interval costs one product of the samples with a d x d matrix.

_ROWS = 4096  # rows of generated samples per chunk of the influence computation


def _sym_product(factor1: np.ndarray, cov2: np.ndarray) -> np.ndarray:
    """F^T C2 F, with BLAS trmm where F is lower triangular (half the work of a general product)."""
    if _lower_square(factor1):
        t = scipy.linalg.blas.dtrmm(1.0, factor1, cov2, side=1, lower=1)  # C2 F
        return scipy.linalg.blas.dtrmm(1.0, factor1, t, side=0, lower=1, trans_a=1, overwrite_b=1)
    return factor1.T @ cov2 @ factor1


def eigh(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric part of m (divide and conquer)."""
    return scipy.linalg.eigh((m + m.T) / 2, driver="evd", check_finite=False)


def _product_with(factor1: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean of the rows x, M = F^T C2 F, tr C2) for C2 the rows' covariance."""
    n, d = x.shape
    if n > d:
        mu2, cov2 = mean_cov(*moments(x))
        return mu2, _sym_product(factor1, cov2), float(np.trace(cov2))
    mu2 = x.mean(0, dtype=np.float64)
    a2 = _centred(x, mu2)
    p = a2 @ factor1
    return mu2, p.T @ p, float(np.einsum("ij,ij->", a2, a2))


class Influence(NamedTuple):
    """A statistic, each generated row's influence on it, and its curvature term.

    ``curvature`` is E[IF(X) IF(Y) Q(X, Y)], Q the statistic's second-order kernel
    (its second derivative along two samples): with the influences' own skewness it
    is the first Edgeworth term of the studentized statistic (as for a U-statistic,
    Helmers 1991), which a quadratic statistic such as FID needs because its
    influences can be symmetric while the statistic is not.
    """

    value: float
    infl: np.ndarray
    curvature: float


_CURVATURE_ROWS = 4096  # rows (every step-th) that estimate the curvature term: it only shapes the skew


def frechet_influence(mu1: np.ndarray, factor1: np.ndarray, x: np.ndarray) -> Influence:
    """FID of the rows x against (mu1, C1 = F F^T), each row's influence on it, and the curvature.

    F may be thin (d x r, ``reference_fit``); with no more rows x than columns, the rows'
    own covariance is not formed either: M = (A2 F)^T (A2 F) for A2 the centred rows.

    With M = F^T C2 F = V diag(l) V^T, tr((C1 C2)^1/2) = sum sqrt(l), and its gradient
    in C2 is (1/2) F V diag(l^-1/2) V^T F^T. So FID's gradient in C2 is
    A = I - B B^T with B = F V diag(l^-1/4), and a sample y moves FID by
    2 (mu2 - mu1).(y - mu2) + (y - mu2)^T A (y - mu2), up to a constant.
    Eigenvalues below 1e-12 of the largest (a rank-deficient C2) are floored there.

    The curvature: moving the sample's weights by t psi_i / n (psi the centred
    influences) moves the mean by t g and the covariance by t D - t^2 g g^T, with
    g = mean psi_i z_i, D = mean psi_i z_i z_i^T (z = y - mu2). FID's second derivative
    along it is 2 |B^T g|^2 - 2 T''(D, D), T = tr(M^1/2), and by the Daleckii-Krein
    formula -2 T''(D, D) = sum_ij H_ij^2 / (sqrt l_i + sqrt l_j) with
    H = mean psi_i (B^T z_i)(B^T z_i)^T. Estimated from at most ``_CURVATURE_ROWS``
    rows (every step-th), so it costs at most one product of 4096 rows with a d x d matrix.
    """
    mu2, m, trace2 = _product_with(factor1, x)
    lam, v = eigh(m)
    lam = np.clip(lam, 0, None)
    trace1 = float(np.einsum("ij,ij->", factor1, factor1))  # tr C1 = |F|^2
    value = max(float(((mu1 - mu2) ** 2).sum()) + trace1 + trace2 - 2 * float(np.sqrt(lam).sum()), 0.0)
    # floored after the relative 1e-12, not before: with every generated row the same C2 = 0,
    # and 1e-300 * 1e-12 is subnormal, flushed to 0 under flush_denormals (0 ** -0.25 = inf)
    floor = max(float(lam.max()) * 1e-12, 1e-300)
    b = factor1 @ (v * np.maximum(lam, floor) ** -0.25)
    shift = 2 * (mu2 - mu1)
    n = x.shape[0]
    infl = np.empty(n)
    step = -(-n // _CURVATURE_ROWS)
    picked: list[np.ndarray] = []
    for s in range(0, n, _ROWS):
        z = x[s : s + _ROWS].astype(np.float64) - mu2
        zb = z @ b
        infl[s : s + _ROWS] = z @ shift + np.einsum("ij,ij->i", z, z) - np.einsum("ij,ij->i", zb, zb)
        picked.append(zb[(-s) % step :: step])
    zb = np.concatenate(picked)
    psi = infl[::step] - infl[::step].mean()  # a move of the weights that keeps their sum
    g = zb.T @ psi / len(psi)
    h = (zb * psi[:, None]).T @ zb / len(psi)
    root = np.sqrt(np.maximum(lam, floor))
    curvature = 2 * float(g @ g) + float((h * h / (root[:, None] + root[None, :])).sum())
    return Influence(value, infl, curvature)


def vendi_from_spectrum(lam: np.ndarray, q: float) -> float:
    """exp of the order-q Rényi entropy of a spectrum normalised to sum 1."""
    lam = lam[lam > 1e-15]
    if q == 1.0:
        return float(np.exp(-(lam * np.log(lam)).sum()))
    if np.isinf(q):
        return float(1.0 / lam.max())
    return float((lam**q).sum() ** (1.0 / (1.0 - q)))


def _vendi_weights(lam: np.ndarray, q: float, value: float) -> tuple[np.ndarray, float]:
    """(w, c) with a sample's influence on the Vendi score = sum_m p_m w_m + c."""
    pos = lam > 1e-15
    w = np.zeros_like(lam)
    if q == 1.0:
        w[pos] = -value * np.log(lam[pos])
        return w, -value * float(np.log(value))
    if np.isinf(q):
        top = int(np.argmax(lam))
        w[top] = -1.0 / lam[top] ** 2
        return w, 1.0 / float(lam[top])
    power = float((lam[pos] ** q).sum())
    w[pos] = value / (1.0 - q) / power * q * lam[pos] ** (q - 1)
    return w, -value / (1.0 - q) * q


class VendiInfluence(NamedTuple):
    """The Vendi score, each row's influence on it, and the score with each row left out.

    ``loo`` is None where it is not computed: orders other than 1, and n <= d.
    """

    value: float
    infl: np.ndarray
    loo: np.ndarray | None

    def per_sample(self) -> np.ndarray:
        """What each row contributes to the spread: the jackknife's (N - 1) (mean V_(-j) - V_(-i))
        where the leave-one-out scores exist (they carry the higher-order terms the influence
        misses where d/N is not small), else the influence."""
        return self.infl if self.loo is None else (len(self.loo) - 1) * (self.loo.mean() - self.loo)


# Nodes of the leave-one-out integral below: step in log t, and how far (in log t) past
# the smallest and largest eigenvalue they reach. Measured against brute-force
# eigenvalues: step 1 is within 6e-7 of the exact change (whose spread over rows is
# ~0.2-0.9), step 1.5 within 4e-5; the ends' exponential tails are added in closed form.
_LOO_STEP = 1.0
_LOO_MARGIN = 16.0


def _entropy_loo_nodes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1 / (a_m + t) (zero where a_m is not positive: a null direction holds no row's
    mass), nodes t and weights of the integral over t in (0, inf) behind ``_entropy_loo_change``:
    the trapezoid rule in s = log t (the integrand is analytic in a strip of half-width pi,
    its singularities lying on the negative t axis, so the error falls like exp(-2 pi^2 / step)),
    and the integrand's tails beyond the ends, which decay like e^(+-s), in closed form."""
    keep = a > a.max() * 1e-12
    s = np.arange(np.log(a[keep].min()) - _LOO_MARGIN, np.log(a.max()) + _LOO_MARGIN + _LOO_STEP / 2, _LOO_STEP)
    t = np.exp(s)
    weights = np.full(len(t), _LOO_STEP)
    weights[[0, -1]] = _LOO_STEP / 2 + 1.0
    inv = np.where(keep[:, None], 1.0 / (np.where(keep, a, 1.0)[:, None] + t[None, :]), 0.0)
    return inv, t, weights * t  # dt = t ds


def _entropy_loo_change(p2: np.ndarray, inv: np.ndarray, t: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """tr(A' log A') - tr(A log A) for A' = A - u u^T, one row u at a time.

    A = diag(a) in its eigenbasis and p2 = (u.v_m)^2. With alpha(t) = sum_m p2_m / (a_m + t),
    det(A' + t) = det(A + t) (1 - alpha(t)) (the matrix determinant lemma), and
    l log l = int_0^inf (l / (1 + t) - 1 + t / (l + t)) dt turns the change into
    -|u|^2 - int_0^inf (log(1 - alpha(t)) + |u|^2 / (1 + t)) dt (one integration by
    parts): one product of the rows' p2 with inv = 1 / (a + t), a d x (nodes) matrix, and
    no eigen-solve per row.
    """
    norm2 = p2.sum(1)
    alpha = p2 @ inv
    # 1 - alpha(t) = det(A' + t) / det(A + t) > 0; it reaches 0 only as t -> 0 where the
    # row is alone in a direction (A' loses rank): there the integrand's log t is integrable
    f = np.log(np.maximum(1.0 - alpha, 1e-300)) + norm2[:, None] / (1.0 + t[None, :])
    return -norm2 - f @ wt


def vendi_influence(x: np.ndarray, q: float) -> VendiInfluence:
    """Vendi score of the rows x (cosine kernel), each row's influence on it, and (order 1,
    n > d) the exact score without each row, for the delete-one jackknife.

    The score is a function of S = sum_i u_i u_i^T / n (u_i the unit rows), whose
    spectrum is K/n's; a sample moves S by u u^T - S. With S = V diag(l) V^T and
    p_m = (u.v_m)^2: order 1 moves the entropy H by -sum_m p_m log l_m - H (Vendi =
    exp H); order q moves sum l^q by q (sum_m p_m l_m^(q-1) - sum l^q); order inf
    moves 1/l_max by -(p_max - l_max) / l_max^2.

    Without row i the Gram matrix A = n S loses u_i u_i^T; its entropy then follows from
    ``_entropy_loo_change`` exactly (to the quadrature's 1e-6), at the cost of one product
    of the p's with a d x ~50 matrix.
    """
    n, d = x.shape
    scale = _unit_scale(x.astype(np.float64))
    if n < d:  # the n x n kernel K/n = U diag(l) U^T: p_m = n l_m U_im^2
        a = x.astype(np.float64) * scale[:, None]
        lam, u = eigh(a @ a.T / n)
    else:
        lam, v = eigh(gram(x, unit_rows=True) / n)
    lam = np.clip(lam, 0, None)
    total = lam.sum()
    if total <= 0:  # every row all-zero: no direction to tell them apart, one effective sample
        return VendiInfluence(1.0, np.zeros(n), None)
    value = vendi_from_spectrum(lam / total, q)
    w, c = _vendi_weights(lam / total, q, value)
    if n < d:
        return VendiInfluence(value, (n * u**2) @ (lam / total * w) + c, None)
    infl = np.empty(n)
    jack = q == 1.0 and n > d and total > 0
    if jack:  # A = n S
        big = n * lam
        inv, t, wt = _entropy_loo_nodes(big)
        change = np.empty(n)
    for s in range(0, n, _ROWS):
        proj = (x[s : s + _ROWS].astype(np.float64) * scale[s : s + _ROWS, None]) @ v
        p2 = proj * proj
        infl[s : s + _ROWS] = p2 @ (w / total) + c
        if jack:
            change[s : s + _ROWS] = _entropy_loo_change(p2, inv, t, wt)
    if not jack:
        return VendiInfluence(value, infl, None)
    # H without row i: the spectrum of A' over its trace T' = T - |u_i|^2
    big = big[big > 0]
    trace = float(big.sum())
    left = trace - np.any(x != 0, axis=1)  # |u_i|^2: 1, or 0 for an all-zero row
    safe = np.where(left > 0, left, 1.0)
    entropy = -(float((big * np.log(big)).sum()) + change) / safe + np.log(safe)
    return VendiInfluence(value, infl, np.where(left > 0, np.exp(entropy), value))
