"""Each metric against an independent brute-force NumPy version written here, and the
``>>>`` examples of ``metrics.functional`` (values checkable by hand) run as tests."""

import doctest

import numpy as np
import pytest
import torch
from scipy import linalg

from evalkit.metrics import functional as F


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def np_fid(x, y):
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def test_fid_closed_form_of_two_gaussians():
    # Diagonal covariances commute: FID = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    d = 6
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.arange(d, dtype=torch.float64)
    a, b = torch.arange(1, d + 1, dtype=torch.float64), torch.full((d,), 4.0, dtype=torch.float64)
    expected = float((mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum())
    assert F.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-10)
    # A rotated (non-diagonal) pair: rotating both by the same orthogonal Q changes nothing.
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    got = F.frechet_distance(q @ mu1, q @ torch.diag(a) @ q.T, q @ mu2, q @ torch.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16))
    y = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.3 + 0.5
    assert rel(F.fid(torch.from_numpy(x), torch.from_numpy(y)), np_fid(x, y)) < 1e-6


def np_kid_subset(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()


def test_kid_single_full_subset_matches_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(120, 8)), rng.normal(size=(120, 8)) + 0.3
    mean, std = F.kid(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=120)
    assert rel(mean, np_kid_subset(x, y)) < 1e-9  # a full-size subset is a permutation: same value


def test_kid_subsets_match_a_brute_force_on_the_same_draws():
    # The subsets are torch.randperm(n)[:m] drawn real-then-fake from a generator seeded
    # with `seed`; the brute force redraws them here and sums each subset's kernels in NumPy.
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(90, 6)), rng.normal(size=(70, 6)) * 1.1 + 0.2
    got = F.kid_subset_values(torch.from_numpy(x), torch.from_numpy(y), subsets=7, subset_size=40, seed=3)
    g = torch.Generator().manual_seed(3)
    expected = []
    for _ in range(7):
        i = torch.randperm(90, generator=g)[:40].numpy()
        j = torch.randperm(70, generator=g)[:40].numpy()
        expected.append(np_kid_subset(x[i], y[j]))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    mean, std = F.kid(torch.from_numpy(x), torch.from_numpy(y), subsets=7, subset_size=40, seed=3)
    assert rel(mean, np.mean(expected)) < 1e-10 and rel(std, np.std(expected, ddof=1)) < 1e-8


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_equals_torchmetrics_subset_for_subset():
    from tests.fidelity import stub_torch_fidelity

    stub_torch_fidelity()  # torchmetrics imports torch-fidelity's modules when it is installed
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):
        num_features = 12

        def forward(self, x):
            return x

    g = torch.Generator().manual_seed(4)
    real = torch.randn(300, 12, generator=g, dtype=torch.float64)
    fake = torch.randn(260, 12, generator=g, dtype=torch.float64) * 0.9 + 0.1
    tm = KernelInceptionDistance(feature=Identity(), subsets=5, subset_size=100, normalize=True).double()
    tm.update(real, real=True)
    tm.update(fake, real=False)
    torch.manual_seed(11)
    tm_mean, tm_std = tm.compute()
    mean, std = F.kid(real, fake, subsets=5, subset_size=100, seed=11)
    # torchmetrics reports the population standard deviation; evalkit the sample one
    assert rel(mean, float(tm_mean)) < 1e-9 and rel(std * (4 / 5) ** 0.5, float(tm_std)) < 1e-7


def test_kid_from_float32_features_stays_within_float32_gram_error():
    # float32 features use float32 Gram tiles (like every peer); the kernel sums are float64.
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(size=(400, 256))).astype(np.float32)
    y = (np.abs(rng.normal(size=(400, 256))) * 1.05).astype(np.float32)
    got = F.kid(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=400)[0]
    exact = np_kid_subset(x.astype(np.float64), y.astype(np.float64))
    assert rel(got, exact) < 1e-4


def np_prdc(real, fake, k):
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    rr, ff, rf = dist(real, real), dist(fake, fake), dist(real, fake)
    r_rad = np.sort(rr, axis=1)[:, k]
    f_rad = np.sort(ff, axis=1)[:, k]
    # closed balls for precision/recall (Kynkäänniemi et al.'s code), open ones for
    # density/coverage (Naeem et al.'s code)
    precision = (rf <= r_rad[:, None]).any(0).mean()
    recall = (rf <= f_rad[None, :]).any(1).mean()
    density = (rf < r_rad[:, None]).sum(0).mean() / k
    coverage = (rf.min(1) < r_rad).mean()
    return precision, recall, density, coverage


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_brute_force(k):
    rng = np.random.default_rng(k)
    real, fake = rng.normal(size=(300, 5)), rng.normal(size=(250, 5)) * 1.2 + 0.2
    got = F.prdc(torch.from_numpy(real), torch.from_numpy(fake), k=k)
    exp = np_prdc(real, fake, k)
    for g, e in zip((got.precision, got.recall, got.density, got.coverage), exp):
        assert rel(g, e) < 1e-12 or abs(g - e) < 1e-12


def test_prdc_in_small_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(7)
    real, fake = torch.from_numpy(rng.normal(size=(200, 4))), torch.from_numpy(rng.normal(size=(180, 4)))
    one = F.prdc(real, fake, k=3)
    from evalkit.metrics import _pairwise

    monkeypatch.setattr(_pairwise, "TILE", 17)
    monkeypatch.setattr(_pairwise, "PAIR_CHUNK", 5)
    monkeypatch.setattr(_pairwise, "KEEP_EXTRA", 0)
    many = F.prdc(real, fake, k=3)
    assert (one.precision, one.recall, one.density, one.coverage) == (many.precision, many.recall, many.density, many.coverage)


def np_vendi(x, q=1.0):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    kmat = x @ x.T / len(x)
    lam = np.linalg.eigvalsh(kmat)
    lam = lam[lam > 1e-12]
    if q == 1.0:
        return float(np.exp(-(lam * np.log(lam)).sum()))
    return float((lam**q).sum() ** (1 / (1 - q)))


@pytest.mark.parametrize("q", [1.0, 2.0, 0.5])
def test_vendi_matches_n_by_n_kernel(q):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 10))
    assert rel(F.vendi(torch.from_numpy(x), q=q), np_vendi(x, q)) < 1e-6


def test_vendi_gram_and_covariance_paths_agree():
    rng = np.random.default_rng(4)
    wide, tall = rng.normal(size=(20, 50)), rng.normal(size=(80, 5))
    assert rel(F.vendi(torch.from_numpy(wide)), np_vendi(wide)) < 1e-9
    assert rel(F.vendi(torch.from_numpy(tall)), np_vendi(tall)) < 1e-9  # N > d: the covariance path
    w = torch.from_numpy(rng.integers(0, 3, size=20).astype(np.float64))
    rep = np.repeat(wide, w.numpy().astype(int), axis=0)  # integer weights = repeated rows
    assert rel(F.vendi(torch.from_numpy(wide), weights=w), np_vendi(rep)) < 1e-9


def test_vendi_of_identical_and_orthogonal_samples():
    assert F.vendi(torch.ones(50, 4)) == pytest.approx(1.0)
    assert F.vendi(torch.eye(7)) == pytest.approx(7.0)


def test_memorization_ratio_by_hand():
    train = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    fake = torch.tensor([[0.1, 0.0], [10.0, 3.0]], dtype=torch.float64)
    ratios, dist = F.memorization_ratios(train, fake)
    # nearest train of fake0 is train0 (dist .1), whose own NN distance is 1 -> ratio .1
    # nearest train of fake1 is train2 (dist 3), whose own NN distance is 9 -> ratio 1/3
    assert ratios.tolist() == pytest.approx([0.1, 1 / 3])
    assert dist.tolist() == pytest.approx([0.1, 3.0])


def test_class_distribution_by_hand():
    out = F.class_distribution(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]), 2)
    assert out["tv"] == 0.0
    out = F.class_distribution(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 0, 1]), 2)
    assert out["tv"] == pytest.approx(0.25)
    assert out["kl"] == pytest.approx(0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25))


@pytest.mark.parametrize("d", [64, 700])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tile,extra", [(2048, 16), (32, 0)])
def test_prdc_exact_under_ties_and_high_dimension(d, dtype, tile, extra, monkeypatch):
    from evalkit.metrics import _pairwise

    # small tiles and no spare neighbours force the merge across tiles and the
    # whole-row recomputation of rows whose kept list lies inside the band
    monkeypatch.setattr(_pairwise, "TILE", tile)
    monkeypatch.setattr(_pairwise, "KEEP_EXTRA", extra)
    # integer features: squared distances are integers, so many pairs tie exactly with a
    # k-NN radius; the float32 screen must still give the float64 brute-force answer.
    rng = np.random.default_rng(d)
    real = rng.integers(0, 3, size=(150, d)).astype(np.float64)
    fake = np.concatenate([real[:40], rng.integers(0, 3, size=(110, d))]).astype(np.float64)
    got = F.prdc(torch.from_numpy(real.astype(dtype)), torch.from_numpy(fake.astype(dtype)), k=4)
    exp = np_prdc(real, fake, 4)
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(exp, abs=0, rel=0)
    radii = F.knn_radii(torch.from_numpy(real.astype(dtype)), 4).numpy()
    dist = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    np.testing.assert_allclose(radii, np.sort(dist, axis=1)[:, 4], rtol=1e-14)


def test_torchscript_feature_file_gives_the_literature_path(tmp_path):
    # A user with Inception/DINOv2/CLIP weights exports them as TorchScript; a small one stands in.
    import evalkit

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    torch.manual_seed(0)
    net = Net().eval()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(tmp_path / "feat.pt"))
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "version: 1\nname: ts\nreference: {dataset: fashion-mnist, split: test, range: [0, 300]}\nfeatures: feat.pt\n"
        "classifier: null\nsubjects: [{model: dataset, params: {range: [300, 600]}}]\nsampling: {n: 200, batch_size: 100}\n"
        "requirements: [{metric: fid, at_most: 100}]\n"
    )
    rep = evalkit.run(spec, write=False)
    assert rep.reference["feature_dim"] == 4
    from evalkit.data.datasets import DatasetReplay
    from evalkit.data.fashion import load
    from evalkit.sample.sources import GeneratorSource

    x, _ = load("test")
    real = torch.from_numpy(x[:300].copy()).float().div(255).unsqueeze(1)
    from evalkit.sample.sources import asked_labels

    sampling = evalkit.load_spec(spec).sampling
    labels = asked_labels(sampling, 10)  # the run's own asks: i.i.d. classes, a pure function of (seed, index)
    src = GeneratorSource("d", DatasetReplay(range=(300, 600)), 200, labels, sampling.seed, sampling.block_size,
                          torch.device("cpu"))
    fake = torch.cat([b.images for b in src.batches(200)])
    with torch.no_grad():
        expected = np_fid(net(real).double().numpy(), net(fake).double().numpy())
    assert rel(rep.subjects[0].metrics[0].value, expected) < 1e-5


def test_prdc_of_a_set_against_itself_by_hand():
    # Each open ball B(x_i, r_i) holds x_i and its k - 1 nearest others (the k-th sits on
    # the boundary): density = N k / (k N) = 1 exactly, as the authors' `prdc` code gives;
    # closed balls for precision/recall and the zero distance to itself give 1 for the rest.
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32))
    p = F.prdc(x, x, k=5)
    assert (p.precision, p.recall, p.density, p.coverage) == (1.0, 1.0, 1.0, 1.0)


def test_bootstrap_weighted_moments_match_numpy_frequency_weights():
    from evalkit.metrics._dense import weighted_mean_cov

    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    w = np.bincount(rng.integers(0, 200, 200), minlength=200)  # a bootstrap draw, zeros included
    mu, cov = weighted_mean_cov(x, w)
    np.testing.assert_allclose(mu, np.average(x.astype(np.float64), axis=0, weights=w), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False, fweights=w), rtol=1e-10)


def test_the_examples_in_the_functional_docstrings_hold():
    # every public function's ``>>>`` example is a small case with a closed form: run them all
    result = doctest.testmod(F, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, result
    assert result.attempted >= 35, f"only {result.attempted} examples ran: were some removed?"
