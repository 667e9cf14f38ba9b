"""The class mix of a class-conditional generator: predicted against asked classes (``ClassTV``),
and the retired chi-square ``ClassBalance``."""

from __future__ import annotations

import torch

from .._errors import DataError
from ..contract import bootstrap_minimum
from . import functional as Fn
from .intervals import bootstrap_bounds
from .metric import MetricInputs, MetricValue


class ClassTV:
    def compute(self, inputs: MetricInputs, confidence: float, /, *, bootstrap: int = 200) -> MetricValue:
        if inputs.predicted is None or inputs.asked is None or inputs.num_classes is None:
            raise DataError(f"metric 'class_tv' needs a classifier and asked labels (subject {inputs.subject!r})")
        minimum = bootstrap_minimum(confidence)  # refused at validate already; kept for direct callers
        if bootstrap < minimum:
            raise DataError(f"metric 'class_tv' needs at least {minimum} bootstrap resamples for a bound at confidence "
                            f"{confidence} (its {confidence} quantile), got bootstrap={bootstrap}; "
                            f"set `args: {{bootstrap: {max(minimum, 200)}}}` or leave it at its default 200")
        pred, asked = inputs.predicted.long(), inputs.asked.long()
        value = Fn.class_distribution(pred, asked, inputs.num_classes)["tv"]
        g = torch.Generator().manual_seed(inputs.seed)
        reps = []
        for _ in range(bootstrap):
            i = torch.randint(0, len(pred), (len(pred),), generator=g)
            reps.append(Fn.class_distribution(pred[i], asked, inputs.num_classes)["tv"])
        low, high = bootstrap_bounds(value, reps, confidence)
        return MetricValue(value, max(low, 0.0), min(high, 1.0), f"bootstrap spread, {bootstrap} resamples", len(pred))


CLASS_BALANCE_RETIRED = (
    "metric 'class_balance' is retired: it said PASS whenever its chi-square test found no difference, "
    "which is absence of evidence, not evidence of balance; use {metric: class_tv, at_most: 0.1} "
    "(total variation between predicted and asked class mixes, PASS only when its upper bound is within 0.1)"
)


class ClassBalance:
    """Retired. Its value was a chi-square p-value and ``at_least: level`` PASSed every
    non-significant test, so a skewed mix PASSed whenever n was too small to see the
    skew (87.5 % of runs at 12 % / 9.8 % against uniform, n = 1,000). The plan refuses a
    spec naming it, with the replacement; ``compute`` refuses too, for direct callers.
    """

    def compute(self, inputs: MetricInputs, confidence: float, /) -> MetricValue:
        from .._errors import SpecError

        raise SpecError(CLASS_BALANCE_RETIRED)
