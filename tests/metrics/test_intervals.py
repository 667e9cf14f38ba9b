"""The ingredients of the metric intervals against brute force: what leaving out one
generated sample does to each metric, recomputed from scratch in NumPy."""

import numpy as np
import pytest
import torch

from evalkit.metrics import _dense as D
from evalkit.metrics import functional as F
from evalkit.metrics.diversity import Vendi
from evalkit.metrics.frechet import FID
from evalkit.metrics.kernel import KID
from evalkit.metrics.manifold import Coverage, Recall
from evalkit.metrics.metric import MetricInputs

from .test_functional import np_fid, np_prdc, np_vendi


def _pw(real, fake, k):
    return F.pairwise(torch.from_numpy(real), torch.from_numpy(fake), real_ks={k}, fake_ks={k})


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_recall_deletions_equal_recomputing_recall_without_each_sample(k, grid):
    rng = np.random.default_rng(10 + k)
    if grid:  # integer features: many exact ties among radii and distances
        real, fake = rng.integers(0, 6, size=(70, 3)).astype(np.float64), rng.integers(0, 6, size=(45, 3)).astype(np.float64)
    else:
        real, fake = rng.normal(size=(70, 3)), rng.normal(size=(45, 3)) * 1.2 + 0.3
    p = _pw(real, fake, k)
    idx, d2 = p.fake_neighbours
    got = F.recall_deletions(len(real), p.fake_ball_pairs[k], p.fake_outer_pairs[k], idx, d2, k).numpy()
    full = np_prdc(real, fake, k)[1]
    expected = [np_prdc(real, np.delete(fake, i, 0), k)[1] - full for i in range(len(fake))]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.any(np.array(expected) != 0)


@pytest.mark.parametrize("k", [1, 5])
def test_coverage_deletions_equal_recomputing_coverage_without_each_sample(k):
    rng = np.random.default_rng(20 + k)
    real, fake = rng.normal(size=(80, 4)), rng.normal(size=(40, 4)) + 0.4
    p = _pw(real, fake, k)
    got = F.coverage_deletions(p.real_hits[k], p.real_one[k], len(fake)).numpy()
    full = np_prdc(real, fake, k)[3]
    expected = [np_prdc(real, np.delete(fake, i, 0), k)[3] - full for i in range(len(fake))]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.any(np.array(expected) != 0)


def np_mmd2_u(x, y):
    """Unbiased MMD^2 with KID's cubic kernel, any two sizes."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    n, m = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


def test_kid_deletions_equal_the_complete_statistic_without_each_sample():
    # KID's expectation over its subsets is the complete statistic on both whole sets;
    # leaving generated sample i out changes that statistic by U_(i) - U.
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(50, 5)), rng.normal(size=(30, 5)) * 1.1 + 0.2
    p = F.pairwise(torch.from_numpy(real), torch.from_numpy(fake), kid=F.KIDConfig(2, 1000, 0))
    got = F.kid_deletions(*p.kid_rows, len(real)).numpy()
    expected = np.array([np_mmd2_u(real, np.delete(fake, i, 0)) for i in range(len(fake))])
    # kid_deletions leaves out the reference-only term, a constant: compare the changes
    np.testing.assert_allclose(got - got.mean(), expected - expected.mean(), rtol=1e-9, atol=1e-12)
    # and the KID interval's standard error is that jackknife with the subset noise
    # (the same sets in every subset here: no subset noise)
    real, fake = real[:30], fake
    expected = np.array([np_mmd2_u(real, np.delete(fake, i, 0)) for i in range(len(fake))])
    n = len(fake)
    jack = np.sqrt((n - 1) / n * ((expected - expected.mean()) ** 2).sum())
    kid = KID().compute(MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake), requests=[]), 0.95,
                        subsets=3, subset_size=1000)
    assert kid.value == pytest.approx(np_mmd2_u(real, fake), rel=1e-9)
    assert kid.extra["sd"] == pytest.approx(jack, rel=1e-7)


def _vendi(x, q):
    if np.isinf(q):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        return float(len(x) / np.linalg.eigvalsh(u @ u.T).max())
    return np_vendi(x, q)


def _jackknife_changes(stat, x):
    return np.array([stat(np.delete(x, i, 0)) for i in range(len(x))]) - stat(x)


def test_fid_influence_matches_the_jackknife():
    # For a smooth statistic the delete-one changes are -IF_i / (n - 1) to first order.
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(400, 3)), rng.normal(size=(300, 3)) * np.array([1.3, 0.8, 1.0]) + 0.5
    m1, c1 = D.mean_cov(*D.moments(real))
    value, infl, _ = D.frechet_influence(m1, D.psd_factor(c1), fake)
    assert value == pytest.approx(np_fid(real, fake), rel=1e-9)
    jack = _jackknife_changes(lambda f: np_fid(real, f), fake) * -(len(fake) - 1)
    assert np.corrcoef(jack, infl)[0, 1] > 0.999
    assert infl.std() == pytest.approx(jack.std(), rel=0.02)


def _weighted_fid(real, fake, w):
    """FID with the generated rows weighted by w (summing to 1): scipy's sqrtm, no evalkit code."""
    import scipy.linalg

    m1, c1 = real.mean(0), np.cov(real.T)
    m2 = w @ fake
    z = fake - m2
    c2 = (z * w[:, None]).T @ z
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root))


@pytest.mark.parametrize("n,rows", [(300, None), (900, 128)], ids=["all-rows", "every-7th-row"])
def test_fid_curvature_is_the_second_derivative_along_the_influences(n, rows, monkeypatch):
    # E[IF IF Q] = d^2/dt^2 FID(weights 1/n + t psi_i / m) at t = 0, psi the centred
    # influences of the m rows the estimate reads (all, or every step-th when there are
    # more than it reads): a finite difference of a FID computed from scratch.
    if rows:
        monkeypatch.setattr(D, "_CURVATURE_ROWS", rows)
    rng = np.random.default_rng(8)
    a = rng.normal(size=(5, 5))
    real = rng.normal(size=(2000, 5)) @ a
    fake = rng.normal(size=(n, 5)) @ (a * 1.3) + np.array([0.8, 0, 0, 0, 0.4])
    m1, c1 = D.mean_cov(*D.moments(real))
    value, infl, curvature = D.frechet_influence(m1, D.psd_factor(c1), fake)
    step = -(-n // rows) if rows else 1
    psi = np.zeros(n)
    psi[::step] = infl[::step] - infl[::step].mean()
    w0 = np.full(n, 1 / n)
    t, m = 1e-3, len(infl[::step])
    second = (_weighted_fid(real, fake, w0 + t * psi / m) - 2 * _weighted_fid(real, fake, w0)
              + _weighted_fid(real, fake, w0 - t * psi / m)) / t**2
    # 1 %: the influences use the (n - 1)-normalised covariance, the weights the n-normalised one
    assert curvature == pytest.approx(second, rel=0.01)
    assert curvature > 0


@pytest.mark.parametrize("q", [1.0, 2.0, float("inf")])
@pytest.mark.parametrize("n,d,tolerance", [(200, 10, 0.05), (80, 60, 0.3)])
def test_vendi_influence_matches_the_jackknife(q, n, d, tolerance):
    # The same per-sample pattern always; the same size where n >> d. Nearer n = d, the
    # entropy's curvature in the small eigenvalues makes the delete-one changes larger than
    # their first-order part (at n = 80, d = 60: 24% for q = 1). With n <= d a left-out
    # sample takes a whole dimension with it; the metric's note says the interval is not
    # calibrated there.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, d)) * np.linspace(0.2, 2.0, d) + 0.3
    value, infl, _ = D.vendi_influence(x, q)
    assert value == pytest.approx(_vendi(x, q), rel=1e-9)
    jack = _jackknife_changes(lambda a: _vendi(a, q), x) * -(n - 1)
    assert np.corrcoef(jack, infl)[0, 1] > 0.99
    assert infl.std() == pytest.approx(jack.std(), rel=tolerance)


def _vendi_brute(x):
    """Order-1 Vendi score from the n x n cosine kernel's eigenvalues: an all-zero row
    keeps a zero kernel row, and the spectrum is normalised to sum 1."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    u = x / np.where(norms > 0, norms, 1.0)
    lam = np.linalg.eigvalsh(u @ u.T)
    lam = lam[lam > 1e-12 * lam.max()] / lam[lam > 1e-12 * lam.max()].sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


@pytest.mark.parametrize("n,d,spread", [(200, 10, 1.0), (150, 100, 1.0), (300, 12, 6.0)],
                         ids=["n>>d", "d/N=0.67", "condition-1e10"])
def test_vendi_leave_one_out_scores_equal_recomputing_without_each_sample(n, d, spread):
    # the exact delete-one scores behind Vendi's jackknife (an integral over the matrix
    # determinant lemma, no eigen-solve per row) against n eigen-solves from scratch
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n, d)) * np.logspace(0, -spread, d) + 0.2 * rng.normal(size=d)
    x[7] = 0  # a zero row: its own left-out score is the full one
    value, _, loo = D.vendi_influence(x, 1.0)
    brute = np.array([_vendi_brute(np.delete(x, i, 0)) for i in range(n)])
    assert value == pytest.approx(_vendi_brute(x), rel=1e-9)
    assert np.abs(loo - brute).max() <= 1e-5 * brute.std()
    # ... and the interval's standard error is their jackknife's
    sd = Vendi().compute(MetricInputs("s", None, torch.from_numpy(x)), 0.9).extra["sd"]
    assert sd == pytest.approx(np.sqrt((n - 1) / n * ((brute - brute.mean()) ** 2).sum()), rel=1e-5)


def test_vendi_leaves_one_out_only_at_order_one_with_more_samples_than_dimensions():
    rng = np.random.default_rng(12)
    assert D.vendi_influence(rng.normal(size=(50, 8)), 2.0).loo is None
    assert D.vendi_influence(rng.normal(size=(50, 8)), float("inf")).loo is None
    assert D.vendi_influence(rng.normal(size=(40, 60)), 1.0).loo is None
    assert D.vendi_influence(rng.normal(size=(40, 40)), 1.0).loo is None


def test_intervals_hold_their_value_and_say_what_they_cover():
    rng = np.random.default_rng(6)
    real = torch.from_numpy(rng.normal(size=(300, 6)))
    fake = torch.from_numpy(rng.normal(size=(200, 6)) + 0.2)
    inputs = MetricInputs("s", real, fake, requests=[("recall", {}), ("coverage", {}), ("kid", {})])
    for metric in (FID(), KID(), Recall(), Coverage(), Vendi()):
        v = metric.compute(inputs, 0.9)
        assert v.low <= v.value <= v.high and v.low < v.high
        assert np.isfinite([v.low, v.high]).all()
        assert "expected value at this N against this reference" in v.method
        wider = metric.compute(inputs, 0.99)
        assert wider.low <= v.low and wider.high >= v.high


def test_kid_skew_terms_equal_a_brute_force_over_every_pair():
    # kappa_g and kappa_psi of the Edgeworth term, from the whole kernel matrices in NumPy
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(90, 4)), rng.normal(size=(60, 4)) * 1.2 + 0.3
    d, n = 4, len(fake)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kff = k(fake, fake)
    np.fill_diagonal(kff, 0.0)
    h1 = kff.sum(1) / (n - 1) - k(fake, real).mean(1)  # E h(y, Y') up to a constant
    g = h1 - h1.mean()
    s = np.sqrt((g**2).mean())
    expected_g = (g**3).mean() / s**3
    expected_psi = (g @ kff @ g) / (n * (n - 1)) / s**3
    p = F.pairwise(torch.from_numpy(real), torch.from_numpy(fake), kid=F.KIDConfig(2, 1000, 0))
    got = F.kid_skew_terms(torch.from_numpy(fake), *p.kid_rows, len(real))
    assert got == pytest.approx((expected_g, expected_psi), rel=1e-9)
    # on a random subset of rows the second term is an unbiased estimate of the same
    sub = [F.kid_skew_terms(torch.from_numpy(fake), *p.kid_rows, len(real), rows=20, seed=s)[1] for s in range(200)]
    se = np.std(sub, ddof=1) / np.sqrt(len(sub))
    assert abs(np.mean(sub) - expected_psi) < 4 * se


def test_hall_quantile_inverts_the_cubic_transform():
    from evalkit.metrics.intervals import hall_quantile

    for a, b in [(0.0, 0.0), (0.1, 0.05), (0.3, 0.2), (-0.2, -0.1)]:
        for z in (-1.64, -1.28, 1.28, 1.64):
            t = hall_quantile(z, a, b)
            f = t + a * t * t + a * a * t**3 / 3 + b
            if abs(t) < 2 * abs(z):  # not capped
                assert f == pytest.approx(z, abs=1e-9)
    assert hall_quantile(-2.33, 0.3, 0.2) == -4.66  # the long tail's quantile is capped at 2 |z|


def test_clumped_count_is_the_number_of_overlapping_uncovered_ball_pairs():
    rng = np.random.default_rng(11)
    real = rng.normal(size=(120, 3))
    radii2 = rng.uniform(0.05, 0.6, size=120)
    uncovered = rng.random(120) < 0.3
    r = np.sqrt(radii2)
    u = np.flatnonzero(uncovered)
    dist = np.sqrt(((real[u, None, :] - real[None, u, :]) ** 2).sum(-1))
    expected = int((dist < r[u, None] + r[None, u]).sum())  # j = j' included: every ball overlaps itself
    args = (torch.from_numpy(real), torch.from_numpy(radii2), torch.from_numpy(uncovered))
    assert F.clumped_variance(*args, chunk=7) == expected
    overlaps = F.ball_overlaps(torch.from_numpy(real), torch.from_numpy(radii2), chunk=13)
    assert F.clumped_variance(*args, overlaps=overlaps) == expected
