"""evalkit.metric_io: what a metric reads and returns."""

from __future__ import annotations

import pytest
import torch

from evalkit._errors import DataError
from evalkit.metric_io import MetricInputs, MetricValue


def test_inputs_cache_per_subject_and_name_a_missing_reference():
    inputs = MetricInputs(subject="gan", real=None, fake=torch.zeros(3, 2))
    assert inputs.cached(("gram", 1), lambda: 5) == 5 and inputs.cached(("gram", 1), lambda: 6) == 5
    with pytest.raises(DataError, match="metric 'fid' compares against real images.*no `reference:`"):
        inputs.need_real("fid")
    real = torch.ones(4, 2)
    assert MetricInputs(subject="gan", real=real, fake=torch.zeros(3, 2)).need_real("fid") is real


def test_a_value_claims_both_bounds_unless_told_otherwise():
    v = MetricValue(value=1.0, low=0.5, high=2.0, method="bootstrap", n=10)
    assert (v.upper_holds, v.lower_holds, v.extra, v.n_reference) == (True, True, {}, None)
