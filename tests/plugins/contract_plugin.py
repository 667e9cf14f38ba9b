"""A plugin in the shape docs/plugins.md teaches: a new per-sample input and a metric reading it, one file.

``dark_share`` is a measurement (one number per sample); ``mean_dark_share`` is a
metric that declares it as its input, so the run folds a cat-state of its values
and hands them over as ``inputs.measured["dark_share"]``. Lower is better.
``mostly_dark`` is a check with a bounded argument (the conformance test probes its bounds).
"""

from typing import Annotated

import annotated_types

import evalkit
from evalkit import Interval, MetricValue, measured


@evalkit.measurement("dark_share", help="Share of pixels darker than 0.1.")
def dark_share(obs):
    return (obs.gray < 0.1).double().mean(dim=(1, 2))


@evalkit.metric(
    "mean_dark_share",
    help="Mean share of dark pixels over the samples (lower is better).",
    inputs=(measured("dark_share"),),
    higher_is_better=False,
    interval=Interval("normal", "mean +- z * standard error over the generated samples"),
    min_n=5,
)
class MeanDarkShare:
    def compute(self, inputs, confidence, /, *, scale: float = 1.0):
        from scipy import stats

        x = inputs.measured["dark_share"].double() * scale
        mean, se = float(x.mean()), float(x.std() / len(x) ** 0.5)
        z = float(stats.norm.ppf(confidence))
        return MetricValue(mean, mean - z * se, mean + z * se, "normal approximation over samples", len(x))


class Flat:
    """Unconditional 1x``size``x``size`` images at a grey ``level`` plus a little noise (for the plugin metric's tests)."""

    num_classes = None

    def __init__(self, level: float = 0.5, size: int = 8):
        self.level = level
        self.image_shape = (1, size, size)

    def sample(self, n, *, labels, generator):
        import torch

        noise = torch.rand(n, *self.image_shape, generator=generator, device=generator.device) * 0.02
        return (self.level + noise).clamp(0, 1)


@evalkit.check("mostly_dark", help="At least `share` of the pixels are darker than 0.1.")
def mostly_dark(obs, *, share: Annotated[float, annotated_types.Interval(ge=0.0, le=1.0)] = 0.5):
    return (obs.gray < 0.1).double().mean(dim=(1, 2)) >= share
