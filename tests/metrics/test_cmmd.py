"""CMMD (``metrics.cmmd``): its value against a NumPy brute force, its jackknife against a
brute-force delete-one recomputation, its interval's calibration by a fast simulation, and refusals."""

import numpy as np
import pytest
import torch

from evalkit import registry
from evalkit._errors import DataError
from evalkit.metrics import cmmd as C
from evalkit.metrics.metric import MetricInputs


def brute_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """1000 x the unbiased MMD^2, with the Gaussian kernel on full float64 matrices."""
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * sigma**2))

    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return 1000.0 * (within_x + within_y - 2 * kxy.mean())


def _sets(seed=0, n=40, m=60, d=6, scale=1.0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(m, d)) * scale
    fake = rng.normal(size=(n, d)) * scale * 1.3 + 0.4 * scale
    return real, fake


@pytest.mark.parametrize("sigma,scale", [(10.0, 1.0), (1.0, 1.0), (10.0, 0.05)])
def test_value_equals_a_numpy_brute_force(sigma, scale):
    real, fake = _sets(scale=scale)
    v = C.CMMD().compute(MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake)), 0.9, sigma=sigma)
    assert v.value == pytest.approx(brute_mmd2(real, fake, sigma), rel=1e-9, abs=1e-12)
    assert C.cmmd(torch.from_numpy(real), torch.from_numpy(fake), sigma=sigma) == pytest.approx(v.value, rel=1e-12)


def test_tiles_change_no_digit(monkeypatch):
    """Sets larger than a tile: the tiled sums (self tiles mirrored) equal the brute force."""
    real, fake = _sets(seed=1, n=23, m=37)
    monkeypatch.setattr(C, "TILE", 8)
    got = C.cmmd(torch.from_numpy(real), torch.from_numpy(fake), sigma=3.0)
    assert got == pytest.approx(brute_mmd2(real, fake, 3.0), rel=1e-10)


def test_unit_norm_float32_embeddings_keep_their_digits():
    """CLIP's case: unit vectors and sigma 10, all kernel values within 2 % of 1; float32 features
    give the float64 brute force of the same (float32-rounded) numbers."""
    rng = np.random.default_rng(5)
    real = rng.normal(size=(80, 32)).astype(np.float32)
    fake = (rng.normal(size=(50, 32)) + 0.3).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    fake /= np.linalg.norm(fake, axis=1, keepdims=True)
    got = C.cmmd(torch.from_numpy(real), torch.from_numpy(fake))
    want = brute_mmd2(real.astype(np.float64), fake.astype(np.float64), 10.0)
    assert got == pytest.approx(want, rel=1e-9)


def test_jackknife_sd_equals_brute_force_deletions():
    """The sd is the delete-one jackknife of the statistic over generated samples (the reference
    fixed), here recomputed from scratch N times."""
    real, fake = _sets(seed=2, n=25, m=30)
    v = C.CMMD().compute(MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake)), 0.9, sigma=2.0)
    loo = np.array([brute_mmd2(real, np.delete(fake, i, 0), 2.0) for i in range(len(fake))])
    n = len(fake)
    want = np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum())
    assert v.extra["sd"] == pytest.approx(want, rel=1e-8)
    assert v.low < v.value < v.high


def test_bounds_widen_with_confidence_and_the_registry_declares_it():
    real, fake = _sets(seed=3)
    inputs = MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake))
    lo90, hi90 = (lambda v: (v.low, v.high))(C.CMMD().compute(inputs, 0.9))
    lo99, hi99 = (lambda v: (v.low, v.high))(C.CMMD().compute(inputs, 0.99))
    assert lo99 < lo90 and hi99 > hi90
    decl = registry.metrics.get("cmmd").decl
    assert decl.higher_is_better is False and decl.min_n == 4 and decl.interval.name == "jackknife"
    assert [a.name for a in decl.args] == ["sigma"] and decl.args[0].default == 10.0


def test_refusals():
    real, fake = _sets()
    with pytest.raises(DataError, match="needs at least 4 generated samples"):
        C.CMMD().compute(MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake[:3])), 0.9)
    with pytest.raises(DataError, match="has no `reference:`"):
        C.CMMD().compute(MetricInputs("s", None, torch.from_numpy(fake)), 0.9)


# ---- a fast calibration (the full one: benchmarks/calibration.py --groups rbf) -----------------
#
# One reference drawn once, 150 generated sets; the truth is CMMD's mean over them. With 150 runs
# a side fails when it misses more than 23 times (15.3 %): a side that really misses 2 (1 - c) =
# 20 % of the time passes with probability binom.cdf(23, 150, 0.2) = 0.089, one that misses
# exactly 10 % fails with probability 0.014 (the seeds are fixed, so the outcome is too).
RUNS, MAX_MISSES, CONFIDENCE = 150, 23, 0.9
D, N, N_REF = 8, 200, 400


@pytest.mark.parametrize("shift,scale,sigma", [(0.0, 1.0, 10.0), (0.6, 1.15, 10.0), (0.6, 1.15, 2.0)],
                         ids=["same", "shifted", "narrow-kernel"])
def test_interval_calibration(shift, scale, sigma):
    rng = np.random.default_rng(11)
    real = torch.from_numpy(rng.normal(size=(N_REF, D)).astype(np.float32))
    shared: dict = {}
    rows = []
    for run in range(RUNS):
        r = np.random.default_rng(1000 + run)
        fake = torch.from_numpy((r.normal(size=(N, D)) * scale + shift / np.sqrt(D)).astype(np.float32))
        v = C.CMMD().compute(MetricInputs("sim", real, fake, shared=shared), CONFIDENCE, sigma=sigma)
        rows.append((v.value, v.low, v.high))
    values, low, high = np.array(rows).T
    truth = values.mean()
    assert int((low > truth).sum()) <= MAX_MISSES and int((high < truth).sum()) <= MAX_MISSES
    # and not by being wide: the mean half-width is within 2x of z times the spread
    half = np.concatenate([values - low, high - values]).mean()
    assert half < 2 * 1.2816 * values.std(ddof=1)
