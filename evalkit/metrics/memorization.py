"""Memorization: the share of generated samples that are near-copies of training images."""

from __future__ import annotations

from .._errors import DataError
from .intervals import share_value
from .metric import MetricInputs, MetricValue


class Memorized:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, ratio: float = 1.0 / 3.0) -> MetricValue:
        if inputs.nn_ratio is None:
            raise DataError("metric 'memorized' needs a training set (spec field `training:`)")
        v = share_value(inputs.nn_ratio < ratio, confidence, None, "generated samples")
        v.method = "Clopper-Pearson over generated samples"
        return v
