"""Degenerate generated features through the registered metrics: a collapsed generator
(every row the same), all-zero rows, and features at a tiny scale. Each bound finite,
low <= value <= high, against closed forms written here."""

import math

import numpy as np
import pytest
import torch

from evalkit.metrics.diversity import Vendi
from evalkit.metrics.frechet import FID
from evalkit.metrics.metric import MetricInputs


def _inputs(real, fake):
    return MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake))


@pytest.mark.parametrize("row", [0.0, 1.0], ids=["zeros", "ones"])
def test_fid_of_a_collapsed_generator_has_finite_bounds(row):
    # C2 = 0 exactly: FID = |mu1 - mu2|^2 + tr(C1) and no generated row moves it (each one
    # is the mean). The eigenvalue floor underflowed to 0 under flush-to-zero: NaN bounds.
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(60, 8)), np.full((40, 8), row)
    expected = ((real.mean(0) - row) ** 2).sum() + np.trace(np.cov(real.T))
    for c in (0.5, 0.9, 0.999):
        v = FID().compute(_inputs(real, fake), c)
        assert v.value == pytest.approx(expected, rel=1e-9)
        assert math.isfinite(v.low) and math.isfinite(v.high)
        assert 0.0 <= v.low <= v.value <= v.high


@pytest.mark.parametrize("n", [5, 40], ids=["n<d", "n>d"])
def test_vendi_of_all_zero_features_is_one_sample(n):
    # no row has a direction: as for identical rows (Vendi 1, no spread), not 0 / 0
    fake = np.zeros((n, 8))
    identical = np.tile(np.random.default_rng(1).normal(size=(1, 8)), (n, 1))
    for x in (identical, fake):
        v = Vendi().compute(MetricInputs("s", None, torch.from_numpy(x)), 0.95)
        assert (v.low, v.value, v.high) == pytest.approx((1.0, 1.0, 1.0), abs=1e-9)


def test_fid_bounds_scale_with_the_features_down_to_tiny_scales():
    # FID and its influences are quadratic in the features: scaling them by s scales every
    # bound by s^2; the skewness' sd^3 underflowed to 0 below ~1e-50 (a ZeroDivisionError)
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(300, 16)), rng.normal(size=(200, 16)) * 1.1 + 0.9
    ref = FID().compute(_inputs(real, fake), 0.95)
    for s in (1e-8, 1e-30, 1e-60):
        v = FID().compute(_inputs(real * s, fake * s), 0.95)
        assert math.isfinite(v.low) and math.isfinite(v.high) and v.low <= v.value <= v.high
        if s >= 1e-30:  # below, the curvature (sixth power of the scale) underflows itself
            assert np.array([v.low, v.value, v.high]) / s**2 == pytest.approx([ref.low, ref.value, ref.high], rel=1e-6)
