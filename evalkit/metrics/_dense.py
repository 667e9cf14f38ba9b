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


def trace_sqrt_product(factor1: np.ndarray, cov2: np.ndarray) -> float:
    """tr((C1 C2)^1/2) from F1 (F1 F1^T = C1): the eigenvalues of C1 C2 are those of
    the symmetric PSD matrix F1^T C2 F1, which a symmetric solver finds stably."""
    if np.array_equal(factor1, np.tril(factor1)):
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
