"""Vendi (``metrics.diversity``): the registered metric's interval where d/N is not small."""

import numpy as np
import torch

from evalkit.metrics.diversity import Vendi
from evalkit.metrics.metric import MetricInputs


def test_vendi_holds_where_d_over_n_is_not_small():
    # d = 64, N = 200: the delta method's influences understate the spread there (in
    # these runs it missed 33 / 40 times per side at c = 0.9, the jackknife 31 / 34).
    # 300 runs, a side fails above 42 misses (14 %): a side that really misses at 10 %
    # fails with probability 1 - binom.cdf(42, 300, 0.1) = 0.011, one at 20 % passes with
    # probability binom.cdf(42, 300, 0.2) = 0.004 (fixed seeds, so the outcome is too).
    d, n = 64, 200
    rng = np.random.default_rng(13)
    basis, scales = np.linalg.qr(rng.normal(size=(d, d)))[0], rng.gamma(2.0, 1.0, size=d)
    rows = []
    for run in range(300):
        x = (np.random.default_rng(1300 + run).normal(size=(n, d)) * scales) @ basis.T
        v = Vendi().compute(MetricInputs("s", None, torch.from_numpy(x)), 0.9)
        rows.append((v.value, v.low, v.high))
    value, low, high = np.array(rows).T
    truth = value.mean()
    assert (low > truth).sum() <= 42 and (high < truth).sum() <= 42, ((low > truth).sum(), (high < truth).sum())
