"""The built-in per-sample checks (predicates with arguments).

Their declarations (inputs, arguments with defaults and bounds, help) live in
``evalkit._builtins``. A check takes an ``Observation`` and keyword-only
arguments and returns one bool per sample; see ``docs/plugins.md`` for writing one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._errors import RunError
from ..observation import Observation
from .measurements import contrast, ink

def finite(obs: Observation) -> Tensor:
    return torch.isfinite(obs.raw_images).flatten(1).all(dim=1).cpu()


def in_range(obs: Observation, *, low: float = 0.0, high: float = 1.0) -> Tensor:
    x = obs.raw_images
    return ((x >= low) & (x <= high)).flatten(1).all(dim=1).cpu()


def label_agreement(obs: Observation) -> Tensor:
    return obs.probs.argmax(dim=1) == obs.asked


def confident(obs: Observation, *, threshold: float = 0.5) -> Tensor:
    return obs.probs.max(dim=1).values >= threshold


def not_blank(obs: Observation, *, min_ink: float = 0.01, min_std: float = 0.02) -> Tensor:
    # the `ink` and `contrast` measurements, so a spec can restate the check as a `where:`
    return (ink(obs) >= min_ink) & (contrast(obs) >= min_std)


def not_memorized(obs: Observation, *, ratio: float = 1.0 / 3.0) -> Tensor:
    return obs.nearest_training.ratio > ratio


def no_duplicate(obs: Observation, *, threshold: float = 0.02) -> Tensor:
    if obs.history is None:  # validation gives every subject its history; None here is a bug
        raise RunError("no_duplicate needs the subject's earlier samples, but the run keeps none")
    return ~obs.history.duplicates(obs.images, obs.indices, threshold)
