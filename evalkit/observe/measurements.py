"""The built-in per-sample measurements.

A measurement maps an ``Observation`` to one float64 number per sample; the
``where:`` expressions of a spec combine them. What each reads (its inputs) is
declared in ``evalkit._builtins``, so a spec that cannot supply it fails before
sampling.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .._builtins import INK_THRESHOLD
from ..observation import Observation

def mean(obs: Observation) -> Tensor:
    return obs.gray.mean(dim=(1, 2))


def contrast(obs: Observation) -> Tensor:
    return obs.gray.flatten(1).std(dim=1)


def ink(obs: Observation) -> Tensor:
    return (obs.gray > INK_THRESHOLD).double().mean(dim=(1, 2))


def components(obs: Observation) -> Tensor:
    from scipy import ndimage

    mask = (obs.gray > INK_THRESHOLD).numpy()
    structure = np.ones((3, 3), dtype=bool)
    return torch.tensor([float(ndimage.label(m, structure=structure)[1]) for m in mask], dtype=torch.float64)


def symmetry(obs: Observation) -> Tensor:
    g = obs.gray
    return 1.0 - (g - g.flip(2)).abs().mean(dim=(1, 2))


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def sharpness(obs: Observation) -> Tensor:
    lap = F.conv2d(obs.gray[:, None], _LAPLACE[None, None])
    return lap.flatten(1).var(dim=1)


def confidence(obs: Observation) -> Tensor:
    return obs.probs.max(dim=1).values


def margin(obs: Observation) -> Tensor:
    top = obs.probs.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def entropy(obs: Observation) -> Tensor:
    p = obs.probs
    return -(p * p.clamp_min(1e-300).log()).sum(dim=1)


def predicted(obs: Observation) -> Tensor:
    return obs.probs.argmax(dim=1).double()


def label(obs: Observation) -> Tensor:
    return obs.asked.double()


def asked_prob(obs: Observation) -> Tensor:
    return obs.probs.gather(1, obs.asked.long()[:, None]).squeeze(1)


def nn_distance(obs: Observation) -> Tensor:
    return obs.nearest_training.distance


def nn_ratio(obs: Observation) -> Tensor:
    return obs.nearest_training.ratio
