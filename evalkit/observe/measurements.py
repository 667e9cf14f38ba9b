"""Named per-sample measurements, registered with ``@evalkit.measurement``.

A measurement maps an ``Observation`` to one float64 number per sample; the
``where:`` expressions of a spec combine them. ``needs`` tells the planner what
the measurement reads, so a spec that cannot supply it fails before sampling.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .. import registry
from .context import Observation

INK_THRESHOLD = 0.25

measurement = registry.measurements


@measurement("mean", help="Mean pixel value (brightness) in [0, 1].")
def mean(obs: Observation) -> Tensor:
    return obs.gray.mean(dim=(1, 2))


@measurement("contrast", help="Standard deviation of the pixel values.")
def contrast(obs: Observation) -> Tensor:
    return obs.gray.flatten(1).std(dim=1)


@measurement("ink", help=f"Share of pixels brighter than {INK_THRESHOLD} (ink coverage).")
def ink(obs: Observation) -> Tensor:
    return (obs.gray > INK_THRESHOLD).double().mean(dim=(1, 2))


@measurement("components", help=f"Connected components (8-neighbour) of the ink mask (pixels > {INK_THRESHOLD}).")
def components(obs: Observation) -> Tensor:
    from scipy import ndimage

    mask = (obs.gray > INK_THRESHOLD).numpy()
    structure = np.ones((3, 3), dtype=bool)
    return torch.tensor([float(ndimage.label(m, structure=structure)[1]) for m in mask], dtype=torch.float64)


@measurement("symmetry", help="Left-right mirror agreement: 1 - mean |x - flip(x)| (1 = symmetric).")
def symmetry(obs: Observation) -> Tensor:
    g = obs.gray
    return 1.0 - (g - g.flip(2)).abs().mean(dim=(1, 2))


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


@measurement("sharpness", help="Variance of the Laplacian (higher = sharper edges).")
def sharpness(obs: Observation) -> Tensor:
    lap = F.conv2d(obs.gray[:, None], _LAPLACE[None, None])
    return lap.flatten(1).var(dim=1)


@measurement("confidence", help="The classifier's top softmax probability.", needs=("classifier",))
def confidence(obs: Observation) -> Tensor:
    return obs.probs.max(dim=1).values


@measurement("margin", help="Top-1 minus top-2 softmax probability of the classifier.", needs=("classifier",))
def margin(obs: Observation) -> Tensor:
    top = obs.probs.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


@measurement("entropy", help="Entropy (nats) of the classifier's softmax.", needs=("classifier",))
def entropy(obs: Observation) -> Tensor:
    p = obs.probs
    return -(p * p.clamp_min(1e-300).log()).sum(dim=1)


@measurement("predicted", help="The class the classifier predicts.", needs=("classifier",))
def predicted(obs: Observation) -> Tensor:
    return obs.probs.argmax(dim=1).double()


@measurement("label", help="The class asked of the generator.", needs=("labels",))
def label(obs: Observation) -> Tensor:
    return obs.asked.double()


@measurement("asked_prob", help="The classifier's probability of the asked class.", needs=("classifier", "labels"))
def asked_prob(obs: Observation) -> Tensor:
    return obs.probs.gather(1, obs.asked.long()[:, None]).squeeze(1)


@measurement("nn_distance", help="Feature distance to the nearest training image.", needs=("training",))
def nn_distance(obs: Observation) -> Tensor:
    return obs.memo[1]


@measurement(
    "nn_ratio",
    help="nn_distance divided by that training image's distance to its own nearest training neighbour.",
    needs=("training",),
)
def nn_ratio(obs: Observation) -> Tensor:
    return obs.memo[0]
