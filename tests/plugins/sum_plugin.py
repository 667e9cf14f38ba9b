"""A plugin metric whose state is a running sum (``Merge.SUM``), not per-sample rows.

``bright_mean`` declares one state, ``bright_total``: the sum of the ``brightness``
measurement over the samples, with the count of samples summed. The runner folds it
batch by batch, merges it across batches, processes and journal records by adding, and
hands it over as ``inputs.states["bright_total"] == (sum, count)``.
"""

import torch

import evalkit
from evalkit import Interval, MetricValue, State, measured


@evalkit.measurement("brightness", help="Mean pixel value of the sample.")
def brightness(obs):
    return obs.gray.double().mean(dim=(1, 2))


@evalkit.metric(
    "bright_mean",
    help="Mean brightness over the samples, from a running sum (higher is better).",
    inputs=(measured("brightness"),),
    states=(State("bright_total", measured("brightness"), "sum"),),
    higher_is_better=True,
    interval=Interval("none", "a point value: the interval is the value itself"),
    min_n=2,
)
class BrightMean:
    def compute(self, inputs, confidence, /):
        total, count = inputs.states["bright_total"]
        value = float(total.reshape(-1)[0]) / int(count)
        return MetricValue(value, value, value, "point value from a summed state", int(count))


class Noisy:
    """Unconditional 1x28x28 images (the reference's shape), uniform noise scaled by ``level``."""

    num_classes = None
    image_shape = (1, 28, 28)

    def __init__(self, level: float = 1.0):
        self.level = level

    def sample(self, n, *, labels, generator):
        return torch.rand(n, 1, 28, 28, generator=generator, device=generator.device) * self.level
