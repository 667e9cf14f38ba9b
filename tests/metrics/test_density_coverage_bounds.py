"""Density's and coverage's bounds against an independent NumPy computation: the k-NN
balls by brute force, the moments and Hall's cubic transform written out here (its
monotone cubic solved with ``numpy.roots``), the jackknife and the clumped count
recomputed from scratch, and when the Poisson floor and the few-samples note apply."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from evalkit.metrics.suite import FEW_IN_BALLS, Coverage, Density, MetricInputs


def _dist(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _radii(real, k):
    return np.sort(_dist(real, real), axis=1)[:, k]  # the k-th neighbour other than itself


def _skew(x):
    c = x - x.mean()
    return (c**3).mean() / (c**2).mean() ** 1.5 if (c**2).mean() > 0 else 0.0


def _hall_t(z, skew, n):
    """The t with t + a t^2 + a^2 t^3 / 3 + b = z (one real root: the cubic is monotone),
    a = skew / (3 sqrt n), b = skew / (6 sqrt n), capped at 2 |z|."""
    a, b = skew / (3 * math.sqrt(n)), skew / (6 * math.sqrt(n))
    roots = np.roots([a * a / 3, a, 1.0, b - z])
    t = min(roots, key=lambda r: abs(r.imag)).real
    return float(np.clip(t, -2 * abs(z), 2 * abs(z)))


def _hall(value, sd, skew, n, c):
    z = stats.norm.ppf(c)
    return min(value - sd * _hall_t(z, skew, n), value), max(value - sd * _hall_t(-z, skew, n), value)


def _data(n_real, n_fake, d, scale, shift, seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, d))
    fake = rng.normal(size=(n_fake, d)) * scale + shift
    return real, fake


def _inputs(real, fake, k):
    return MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake),
                        requests=[("density", {"k": k}), ("coverage", {"k": k})])


@pytest.mark.parametrize("c", [0.9, 0.99])
@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_density_bounds_are_hall_bounds_of_the_per_sample_counts(shift, c):
    k = 5
    real, fake = _data(400, 150, 6, 1.2, shift, 3)
    counts = (_dist(real, fake) < _radii(real, k)[:, None]).sum(0) / k
    n = len(counts)
    value, sd, skew = counts.mean(), counts.std(ddof=1) / math.sqrt(n), _skew(counts)
    low, high = _hall(value, sd, skew, n, c)
    got = Density().compute(_inputs(real, fake, k), c, k=k)
    assert got.value == pytest.approx(value, rel=1e-12)
    assert (got.low, got.high) == pytest.approx((max(low, 0.0), high), rel=1e-9, abs=1e-12)
    assert got.high > value + sd * stats.norm.ppf(c)  # right-skewed counts: above the normal bound


def _coverage_parts(real, fake, k):
    r = _radii(real, k)
    inside = _dist(real, fake) < r[:, None]  # (real, fake)
    covered = inside.any(1)
    deletions = np.array([np.delete(inside, j, 1).any(1).mean() - covered.mean() for j in range(fake.shape[0])])
    n = len(deletions)
    jack = math.sqrt((n - 1) / n * ((deletions - deletions.mean()) ** 2).sum())
    u = ~covered
    overlap = _dist(real[u], real[u]) < r[u][:, None] + r[u][None, :]
    clumped = math.sqrt(overlap.sum()) / len(real)
    return covered, deletions, jack, clumped


@pytest.mark.parametrize("c", [0.9, 0.95])
def test_coverage_bounds_at_low_coverage_are_hall_bounds_without_the_poisson_floor(c):
    k = 3
    real, fake = _data(500, 60, 4, 1.3, 0.8, 5)
    covered, deletions, jack, clumped = _coverage_parts(real, fake, k)
    assert covered.mean() < 0.5
    n = len(deletions)
    low, high = _hall(covered.mean(), min(jack, clumped), _skew(-deletions), n, c)
    floor = 1 - stats.gamma.ppf(c, (~covered).sum() + 1) / len(real)
    assert floor < low  # the floor would have sunk the lower bound: it is not applied here
    got = Coverage().compute(_inputs(real, fake, k), c, k=k)
    assert got.value == covered.mean()
    assert (got.low, got.high) == pytest.approx((max(low, 0.0), min(high, 1.0)), rel=1e-9, abs=1e-12)


def test_coverage_keeps_the_poisson_floor_where_most_balls_are_covered():
    k, c = 5, 0.9
    real, fake = _data(200, 300, 3, 1.0, 0.0, 8)
    covered, deletions, jack, clumped = _coverage_parts(real, fake, k)
    assert 0.5 <= covered.mean() < 1
    low, high = _hall(covered.mean(), min(jack, clumped), _skew(-deletions), len(deletions), c)
    floor = 1 - stats.gamma.ppf(c, (~covered).sum() + 1) / len(real)
    assert floor < low  # two uncovered balls: the floor binds
    got = Coverage().compute(_inputs(real, fake, k), c, k=k)
    assert got.low == pytest.approx(floor, rel=1e-9)
    assert got.high == pytest.approx(min(high, 1.0), rel=1e-9)


def test_few_generated_samples_in_any_ball_is_said_in_the_note():
    k = 5
    far_real, far_fake = _data(500, 300, 8, 1.0, 2.2, 9)
    in_balls = int((_dist(far_real, far_fake) < _radii(far_real, k)[:, None]).any(0).sum())
    assert 0 < in_balls < FEW_IN_BALLS
    inputs = _inputs(far_real, far_fake, k)
    for metric in (Density(), Coverage()):
        note = metric.compute(inputs, 0.9, k=k).note
        assert note is not None and f"only {in_balls} of 300 generated samples" in note
    near = _inputs(*_data(500, 300, 8, 1.0, 0.0, 9), k)
    assert Density().compute(near, 0.9, k=k).note is None and Coverage().compute(near, 0.9, k=k).note is None
