"""The built-in per-sample measurements.

A measurement maps an ``Observation`` to one float64 number per sample; the
``where:`` expressions of a spec combine them. What each reads (its inputs) is
declared in ``evalkit._builtins``, so a spec that cannot supply it fails before
sampling.

Images of any size and of 1 or 3 channels: ``mean``, ``contrast`` and ``sharpness``
read ``Observation.gray``, an RGB image's BT.601 luminance; ``ink`` and ``components``
read the ink mask (the brightest channel above the threshold), ``symmetry`` every
channel. So an RGB image with three equal channels measures as that grey image.
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


def ink_mask(obs: Observation) -> Tensor:
    """(B, H, W) bool: pixels whose brightest channel exceeds INK_THRESHOLD (cached per batch).

    The brightest channel, not the luminance: a saturated blue mark (luminance 0.114) is
    ink on a black background; a grey pixel's brightest channel is its value."""
    return obs.cached("ink_mask", lambda: obs.images.detach().double().cpu().amax(1) > INK_THRESHOLD)


def ink(obs: Observation) -> Tensor:
    return ink_mask(obs).double().mean(dim=(1, 2))


def components(obs: Observation) -> Tensor:
    from scipy import ndimage

    mask = ink_mask(obs).numpy()
    structure = np.ones((3, 3), dtype=bool)
    return torch.tensor([float(ndimage.label(m, structure=structure)[1]) for m in mask], dtype=torch.float64)


def symmetry(obs: Observation) -> Tensor:
    # over every channel, not the luminance: a red left half mirrored by a green right half of
    # equal luminance is not a symmetric picture
    x = obs.images.detach().double().cpu()
    return 1.0 - (x - x.flip(3)).abs().mean(dim=(1, 2, 3))


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def sharpness(obs: Observation) -> Tensor:
    g = obs.gray
    if (g.shape[1] - 2) * (g.shape[2] - 2) < 2 or min(g.shape[1:]) < 3:
        # fewer than two interior pixels: no variance to take (NaN: undefined, so a `where:` fails)
        return torch.full((g.shape[0],), float("nan"), dtype=torch.float64)
    lap = F.conv2d(g[:, None], _LAPLACE[None, None])
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
