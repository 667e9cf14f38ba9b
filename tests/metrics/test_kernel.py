"""KID (``metrics.kernel``): the registered metric's value, interval and refusals."""

import pytest
import torch

from evalkit._errors import DataError
from evalkit.metrics import functional as F
from evalkit.metrics.kernel import KID
from evalkit.metrics.metric import MetricInputs


def _inputs(seed=3):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(200, 5, generator=g, dtype=torch.float64)
    return MetricInputs("s", real, torch.randn(150, 5, generator=g, dtype=torch.float64) * 1.2 + 0.1, seed=seed)


def test_kid_value_is_the_functional_mean_over_the_same_subsets_with_its_std_and_bounds():
    inputs = _inputs()
    v = KID().compute(inputs, 0.9, subsets=10, subset_size=60)
    mean, std = F.kid(inputs.real, inputs.fake, subsets=10, subset_size=60, seed=inputs.seed)
    assert v.value == pytest.approx(mean, rel=1e-12) and v.extra["std"] == pytest.approx(std, rel=1e-12)
    assert v.low <= v.value <= v.high and v.n == 150 and v.n_reference == 200
    assert v == KID().compute(_inputs(), 0.9, subsets=10, subset_size=60)  # deterministic


def test_kid_refuses_one_subset_where_subsets_do_not_cover_both_sets():
    inputs = _inputs()
    with pytest.raises(DataError, match="subsets >= 2 to measure the subset noise"):
        KID().compute(inputs, 0.9, subsets=1, subset_size=60)
    # one subset holding all of both sets (of equal size) has no subset noise: its interval stands
    v = KID().compute(MetricInputs("s", inputs.real[:150], inputs.fake), 0.9, subsets=1, subset_size=1000)
    assert v.low <= v.value <= v.high


def test_kid_needs_a_reference_and_four_samples():
    inputs = _inputs()
    with pytest.raises(DataError, match="needs at least 4 generated samples"):
        KID().compute(MetricInputs("s", inputs.real, inputs.fake[:3]), 0.9)
    with pytest.raises(DataError, match="has no `reference:`"):
        KID().compute(MetricInputs("s", None, inputs.fake), 0.9)
