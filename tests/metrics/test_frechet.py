"""FID (``metrics.frechet``): the registered metric's value, determinism and interval."""

import numpy as np
import torch

from evalkit.metrics.frechet import FID
from evalkit.metrics.metric import MetricInputs

from .test_functional import np_fid, rel


def test_fid_metric_is_deterministic_and_interval_brackets_value():
    g = torch.Generator().manual_seed(5)
    inputs = MetricInputs("s", torch.randn(400, 8, generator=g), torch.randn(300, 8, generator=g) + 0.2, seed=1)
    a = FID().compute(inputs, 0.95)
    b = FID().compute(inputs, 0.95)
    assert a == b
    # strictly inside: the metric clamps its bounds to the value (min(low, value)), so the
    # non-strict bracket would hold whatever the bootstrap gave; a real spread gives both sides
    assert a.low < a.value < a.high
    assert rel(a.value, np_fid(inputs.real.numpy().astype(np.float64), inputs.fake.numpy().astype(np.float64))) < 1e-6


def test_fid_bounds_cover_the_expected_fid_at_their_confidence():
    # Many independent generated sets from one Gaussian: the expected FID at this N is
    # their mean; each run's one-sided bounds should hold it about 95% of the time.
    g = torch.Generator().manual_seed(0)
    d, n, runs = 4, 300, 150
    real = torch.randn(2000, d, generator=g, dtype=torch.float64)
    values, lows, highs = [], [], []
    for r in range(runs):
        fake = torch.randn(n, d, generator=g, dtype=torch.float64) * 1.1 + 0.1
        v = FID().compute(MetricInputs("s", real, fake, seed=r), 0.95)
        values.append(v.value)
        lows.append(v.low)
        highs.append(v.high)
    expected = float(np.mean(values))
    upper_ok = np.mean(np.array(highs) >= expected)
    lower_ok = np.mean(np.array(lows) <= expected)
    assert upper_ok >= 0.9 and lower_ok >= 0.9, (upper_ok, lower_ok)
