"""Each metric's per-sample influence (``metrics.influence``) against an independent NumPy
computation: every metric recomputed by brute force with each generated sample left out,
whose jackknife pseudo-values (n - 1) (mean_j S_(j) - S_(i)) are the empirical influence
to first order (exactly, for a mean); and the paired standard error sd(infl_B - infl_A) / sqrt(n)
against the Monte Carlo spread of B - A over fresh latent draws shared by A and B."""

import doctest

import numpy as np
import pytest
import torch
from scipy import linalg

from evalkit.metrics import influence as I
from evalkit.metrics.metric import MetricInputs


def _d2(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _kth(x, k):  # squared distance to the k-th nearest other row
    return np.sort(_d2(x, x), axis=1)[:, k]


def np_fid(real, fake):
    m1, m2 = real.mean(0), fake.mean(0)
    c1, c2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root))


def np_kid_u(real, fake):  # the complete unbiased MMD^2 with KID's cubic kernel
    d = real.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    n, m = len(fake), len(real)
    kff, krr = k(fake, fake), k(real, real)
    return float((kff.sum() - np.trace(kff)) / (n * (n - 1)) + (krr.sum() - np.trace(krr)) / (m * (m - 1))
                 - 2 * k(fake, real).mean())


def np_precision(real, fake, k):
    return float((_d2(fake, real) <= _kth(real, k)[None]).any(1).mean())


def np_density(real, fake, k):
    return float((_d2(fake, real) < _kth(real, k)[None]).sum(1).mean() / k)


def np_coverage(real, fake, k):
    return float((_d2(real, fake).min(1) < _kth(real, k)).mean())


def np_recall(real, fake, k):
    return float((_d2(real, fake) <= _kth(fake, k)[None]).any(1).mean())


def np_vendi(x):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(u @ u.T / len(u))
    lam = lam[lam > 1e-15]
    return float(np.exp(-(lam * np.log(lam)).sum()))


K = 3
NUMPY = {"fid": np_fid, "kid": np_kid_u, "vendi": lambda r, f: np_vendi(f),
         "precision": lambda r, f: np_precision(r, f, K), "density": lambda r, f: np_density(r, f, K),
         "coverage": lambda r, f: np_coverage(r, f, K), "recall": lambda r, f: np_recall(r, f, K)}


def _args(name, n):
    if name == "kid":  # every subset the whole of both sets: KID is then the complete U-statistic
        return {"subsets": 2, "subset_size": 10**6}
    return {"k": K} if name in ("precision", "density", "coverage", "recall") else {}


def engine_influence(name, real, fake):
    inputs = MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake), requests=[(name, _args(name, len(fake)))])
    return I.metric_influence(name, inputs, _args(name, len(fake)))


def pseudo_values(stat, real, fake):
    """(n - 1) (mean_j S_(j) - S_(i)), every S_(i) recomputed from scratch without sample i."""
    loo = np.array([stat(real, np.delete(fake, i, axis=0)) for i in range(len(fake))])
    return (len(fake) - 1) * (loo.mean() - loo)


def _data(n_real, n, d, seed, scale=1.0, shift=0.3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_real, d)), rng.normal(size=(n, d)) * scale + shift


@pytest.mark.parametrize("name", ["precision", "density", "coverage", "recall", "vendi"])
def test_influence_is_the_jackknife_exactly(name):
    """A mean over generated samples (precision, density) has pseudo-values equal to its terms
    minus the mean; recall, coverage and Vendi store the pseudo-values themselves."""
    real, fake = _data(80, 60, 3, seed=1)
    want = pseudo_values(NUMPY[name], real, fake)
    got = engine_influence(name, real, fake)
    assert got.shape == (60,) and abs(got.mean()) < 1e-9
    assert np.abs(got - want).max() <= 1e-6 * max(1.0, np.abs(want).max()), (got[:5], want[:5])
    assert want.std() > 0  # the data move every metric


@pytest.mark.parametrize("name", ["fid", "kid"])
def test_smooth_influence_agrees_with_the_jackknife_to_first_order(name):
    """FID and KID store the first-order influence (the gradient; the U-statistic's projection):
    the pseudo-values differ from it by O(1/n) terms: at n = 150 within 5 % of its spread (root mean
    square; measured 2.8 % FID, 0.9 % KID), and closer at n = 300 (measured 0.64x, 0.56x; an error
    in the first-order term would not shrink)."""
    errs = []
    for n in (150, 300):
        real, fake = _data(200, n, 3, seed=2, scale=1.3)
        want = pseudo_values(NUMPY[name], real, fake)
        got = engine_influence(name, real, fake)
        errs.append(np.sqrt(np.mean((got - want) ** 2)) / want.std())
        assert abs(got.mean()) < 1e-9 and np.corrcoef(got, want)[0, 1] > 0.999
    assert errs[0] < 0.05 and errs[1] < 0.75 * errs[0], errs


def test_kid_influence_closed_form():
    """2 (h_i - mean h), h_i = mean_{l != i} k(y_i, y_l) - mean_a k(y_i, x_a), written out."""
    real, fake = _data(30, 20, 2, seed=3)

    def k(a, b):
        return (a @ b.T / 2 + 1) ** 3

    kff = k(fake, fake)
    h = (kff.sum(1) - np.diag(kff)) / 19 - k(fake, real).mean(1)
    assert np.allclose(engine_influence("kid", real, fake), 2 * (h - h.mean()), atol=1e-9)


def test_doctests():
    result = doctest.testmod(I, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 3


def _paired_spread(name, trials, n=200, d=3, seed=11):
    """Monte Carlo over fresh latent draws z, reference N(0, I) fixed: A's samples
    z * (1, 0.7, 0.5) + 0.4 (off the reference, so no metric sits at a stationary point), B's
    1.1 A + 0.1 (the same z, so A and B correlate). Returns the sd of B - A over the trials and
    the root mean square of the paired and of the unpaired standard errors."""
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(300, d))
    diffs, paired, unpaired = [], [], []
    for _ in range(trials):
        a = rng.normal(size=(n, d)) * np.array([1.0, 0.7, 0.5]) + 0.4
        b = 1.1 * a + 0.1
        diffs.append(NUMPY[name](real, b) - NUMPY[name](real, a))
        ia, ib = engine_influence(name, real, a), engine_influence(name, real, b)
        paired.append(np.var(ib - ia, ddof=1) / n)
        unpaired.append((np.var(ia, ddof=1) + np.var(ib, ddof=1)) / n)
    return float(np.std(diffs, ddof=1)), float(np.sqrt(np.mean(paired))), float(np.sqrt(np.mean(unpaired)))


# paired SE / Monte Carlo sd, measured at these seeds (200 trials): FID 0.98, KID 0.97, precision 1.05,
# density 0.96, Vendi 1.07, coverage 1.33, recall 2.02. Over 200 trials the Monte Carlo sd is known to
# about 5 %, so 0.8..1.25 fails a standard error off by a factor of 2 (or 1.3) either way. Coverage's
# and recall's influences are jackknife pseudo-values of non-smooth statistics, conservative by the
# Efron-Stein inequality (their own intervals' jackknife: 1.20 and 1.47 at A): their upper limits are
# wider, and still fail twice what was measured. The unpaired spread (measured 1.4-5x) is larger.
@pytest.mark.parametrize("name,high", [("fid", 1.25), ("kid", 1.25), ("precision", 1.25), ("density", 1.25),
                                       ("vendi", 1.25), ("coverage", 1.7), ("recall", 3.0)])
def test_paired_standard_error_matches_the_monte_carlo_spread(name, high):
    mc, se, unpaired = _paired_spread(name, 200)
    assert 0.8 <= se / mc <= high, (name, se, mc, se / mc)
    assert unpaired > 1.3 * mc, (name, unpaired, mc)  # pairing is what buys the power


def test_metrics_without_an_influence_say_none():
    real, fake = _data(20, 20, 2, seed=4)
    inputs = MetricInputs("s", torch.from_numpy(real), torch.from_numpy(fake))
    assert I.metric_influence("class_tv", inputs, {}) is None and I.metric_influence("cmmd", inputs, {}) is None
