"""Memorized (``metrics.memorization``): a Clopper-Pearson share of near-copies."""

import pytest
import torch

from evalkit._errors import DataError
from evalkit.metrics.binomial import cp_lower, cp_upper
from evalkit.metrics.memorization import Memorized
from evalkit.metrics.metric import MetricInputs


def test_memorized_is_the_share_below_the_ratio_with_exact_binomial_bounds():
    ratios = torch.tensor([0.1, 0.2, 0.5, 0.9, 1.3, 0.05, 2.0, 0.34])  # 3 below 1/3
    v = Memorized().compute(MetricInputs("s", None, torch.zeros(8, 2), nn_ratio=ratios), 0.9)
    assert v.value == 3 / 8 and v.n == 8 and v.n_reference is None
    assert (v.low, v.high) == (cp_lower(3, 8, 0.9), cp_upper(3, 8, 0.9))
    assert v.method == "Clopper-Pearson over generated samples"
    assert Memorized().compute(MetricInputs("s", None, torch.zeros(8, 2), nn_ratio=ratios), 0.9, ratio=1.0).value == 6 / 8


def test_memorized_needs_a_training_set():
    with pytest.raises(DataError, match="needs a training set"):
        Memorized().compute(MetricInputs("s", None, torch.zeros(8, 2)), 0.9)
