"""The class-mix metrics (``metrics.class_mix``): ClassTV's bootstrap bounds and the retired ClassBalance."""

import math

import pytest
import torch

from evalkit._errors import DataError, SpecError
from evalkit.metrics import functional as F
from evalkit.metrics.class_mix import ClassBalance, ClassTV
from evalkit.metrics.metric import MetricInputs


def test_class_balance_is_retired_for_class_tv():
    inputs = MetricInputs("s", None, torch.zeros(100, 2), predicted=torch.zeros(100), asked=torch.zeros(100), num_classes=4)
    with pytest.raises(SpecError, match="class_tv, at_most"):
        ClassBalance().compute(inputs, 0.95)


def test_class_tv_is_the_total_variation_with_bootstrap_bounds_around_it():
    g = torch.Generator().manual_seed(3)
    pred, asked = torch.randint(0, 4, (300,), generator=g), torch.randint(0, 4, (300,), generator=g)
    inputs = MetricInputs("s", None, torch.zeros(300, 2), predicted=pred, asked=asked, num_classes=4, seed=2)
    v = ClassTV().compute(inputs, 0.9, bootstrap=50)
    assert v.value == F.class_distribution(pred, asked, 4)["tv"]
    assert 0.0 <= v.low <= v.value <= v.high <= 1.0 and v.n == 300
    assert v == ClassTV().compute(inputs, 0.9, bootstrap=50)  # seeded: the same resamples
    # a bound at c = 0.95 is the 0.95 quantile of the resamples: fewer than 1 / (1 - c) = 20 say nothing
    with pytest.raises(DataError, match="needs at least 20 bootstrap resamples"):
        ClassTV().compute(inputs, 0.95, bootstrap=math.ceil(1 / 0.05) - 1)
