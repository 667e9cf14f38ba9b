"""The registered metrics share one Gram pass per subject; values must not depend on that sharing."""

import numpy as np
import pytest
import torch

from evalkit.metrics import _pairwise
from evalkit.metrics import functional as F
from evalkit.metrics.kernel import KID
from evalkit.metrics.manifold import Coverage, Density, Precision, Recall
from evalkit.metrics.metric import MetricInputs

from .test_functional import np_kid_subset, np_prdc


def _inputs(requests, shared=None):
    rng = np.random.default_rng(9)
    real = torch.from_numpy(rng.normal(size=(260, 7)).astype(np.float32))
    fake = torch.from_numpy((rng.normal(size=(240, 7)) * 1.15 + 0.1).astype(np.float32))
    return MetricInputs("s", real, fake, seed=4, requests=requests, shared=shared)


def test_shared_pass_gives_each_metric_its_own_brute_force_value(monkeypatch):
    calls = []
    real_self = _pairwise.self_pass
    monkeypatch.setattr(_pairwise, "self_pass", lambda *a, **k: calls.append(1) or real_self(*a, **k))
    requests = [("precision", {}), ("recall", {"k": 4}), ("density", {}), ("coverage", {}), ("kid", {"subsets": 6, "subset_size": 50})]
    inputs = _inputs(requests)
    real, fake = inputs.real.double().numpy(), inputs.fake.double().numpy()
    p3, p4, p5 = np_prdc(real, fake, 3), np_prdc(real, fake, 4), np_prdc(real, fake, 5)
    assert Precision().compute(inputs, 0.95).value == p3[0]
    assert Recall().compute(inputs, 0.95, k=4).value == p4[1]
    assert Density().compute(inputs, 0.95).value == pytest.approx(p5[2], rel=1e-12)
    assert Coverage().compute(inputs, 0.95).value == p5[3]
    kid = KID().compute(inputs, 0.95, subsets=6, subset_size=50)
    g = torch.Generator().manual_seed(4)
    expected = []
    for _ in range(6):
        i, j = torch.randperm(260, generator=g)[:50].numpy(), torch.randperm(240, generator=g)[:50].numpy()
        expected.append(np_kid_subset(real[i], fake[j]))
    assert kid.value == pytest.approx(np.mean(expected), rel=1e-5)
    # one real x real and one fake x fake pass served all five metrics
    assert len(calls) == 2


def test_a_second_kid_configuration_and_a_shared_reference():
    shared: dict = {}
    requests = [("kid", {"subsets": 3, "subset_size": 40}), ("kid", {"subsets": 2, "subset_size": 30}), ("precision", {})]
    a = _inputs(requests, shared)
    first = KID().compute(a, 0.95, subsets=3, subset_size=40).value
    second = KID().compute(a, 0.95, subsets=2, subset_size=30).value
    assert first == pytest.approx(F.kid(a.real, a.fake, subsets=3, subset_size=40, seed=4)[0], rel=1e-12)
    assert second == pytest.approx(F.kid(a.real, a.fake, subsets=2, subset_size=30, seed=4)[0], rel=1e-12)
    # a second subject reuses the reference pass from `shared`, with the same values
    b = _inputs(requests, shared)
    b.real = a.real
    before = len(shared)
    assert KID().compute(b, 0.95, subsets=3, subset_size=40).value == first
    assert len(shared) == before
