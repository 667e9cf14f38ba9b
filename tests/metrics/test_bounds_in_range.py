"""A share's bounds stay in [0, 1] even when nearly nothing is covered (the Poisson floor on
the uncovered count can exceed the number of real samples)."""

import torch

from evalkit import registry
from evalkit.metrics.metric import MetricInputs


def test_recall_and_coverage_bounds_stay_in_the_unit_interval_far_from_the_reference():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g, dtype=torch.float64)
    fake = torch.randn(300, 8, generator=g, dtype=torch.float64) * 0.05 + 6.0  # a tight cloud far away
    for name in ("recall", "coverage", "precision"):
        entry = registry.metrics.get(name)
        args, problems = entry.validate_args({})
        assert not problems
        v = entry.compute(MetricInputs("s", real, fake), 0.95, args, n=len(fake), requirement="r")
        # independent: nothing of the far cloud is near the reference, so the value is (almost) 0
        assert v.value <= 0.01
        assert 0.0 <= v.low <= v.value <= v.high <= 1.0, (name, v.low, v.value, v.high)
