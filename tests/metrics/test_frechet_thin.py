"""FID with fewer reference rows than feature columns (pixel features of colour images):
the thin factor of the centred rows gives what the d x d algebra gives, in a fraction of the time."""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import torch

from evalkit.metrics import _dense as D
from evalkit.metrics.functional import FrechetReference


def fid_by_sqrtm(real: np.ndarray, fake: np.ndarray) -> float:
    """The textbook formula, with SciPy's matrix square root of the d x d product."""
    m1, m2 = real.mean(0), fake.mean(0)
    c1, c2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root))


def fid_by_trace(real: np.ndarray, fake: np.ndarray) -> float:
    """The same through the nuclear norm: tr((C1 C2)^1/2) is the sum of the singular values of A2 A1^T."""
    a1 = (real - real.mean(0)) / np.sqrt(len(real) - 1)
    a2 = (fake - fake.mean(0)) / np.sqrt(len(fake) - 1)
    nuclear = np.linalg.svd(a2 @ a1.T, compute_uv=False).sum()
    return float(((real.mean(0) - fake.mean(0)) ** 2).sum() + (a1**2).sum() + (a2**2).sum() - 2 * nuclear)


def rows(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    x = np.random.default_rng(seed).random((n, d))
    x[:, : n + 2] = 0.25  # constant leading columns: the thin factor's top is zero, as a black border makes it
    return x + shift


def test_thin_factor_reproduces_the_covariance_and_the_fid():
    real, fake = rows(30, 80, 0), rows(25, 80, 1, shift=0.05)
    mu, _, f = D.reference_fit(real)
    assert f.shape == (80, 30)
    np.testing.assert_allclose(f @ f.T, np.cov(real, rowvar=False), atol=1e-12)
    expect = fid_by_sqrtm(real, fake)
    got = FrechetReference.of(torch.from_numpy(real)).fid(torch.from_numpy(fake))
    assert abs(got - expect) < 1e-6 * max(1.0, expect)


def test_thin_and_square_factors_give_the_same_influences():
    real, fake = rows(30, 80, 2), rows(40, 80, 3, shift=0.02)
    mu, cov, thin = D.reference_fit(real)
    assert cov is None  # not formed
    square = D.psd_factor(np.cov(real, rowvar=False))
    a, b = D.frechet_influence(mu, thin, fake), D.frechet_influence(mu, square, fake)
    expect = fid_by_sqrtm(real, fake)
    assert abs(a.value - expect) < 1e-7 * expect and abs(b.value - expect) < 1e-7 * expect
    np.testing.assert_allclose(a.infl, b.infl, atol=1e-6 * np.abs(b.infl).max())


def test_many_rows_keep_the_square_factor():
    real = rows(100, 20, 4)
    *_, f = D.reference_fit(real)
    assert f.shape == (20, 20)


def test_wide_fid_is_fast():
    real, fake = rows(200, 3 * 48 * 64, 5), rows(200, 3 * 48 * 64, 6)
    t = time.perf_counter()
    mu, _, f = D.reference_fit(real)
    value, infl, _ = D.frechet_influence(mu, f, fake)
    assert abs(value - fid_by_trace(real, fake)) < 1e-6 * value and infl.shape == (200,)
    assert time.perf_counter() - t < 20  # the d x d algebra took minutes here
