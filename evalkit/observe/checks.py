"""Named per-sample checks (predicates with arguments), registered with ``@evalkit.check``.

A check takes an ``Observation`` and keyword-only arguments (typed: a spec's
``args`` are validated against the signature) and returns one bool per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import registry
from .context import Observation
from .measurements import INK_THRESHOLD

check = registry.checks


@check("finite", help="Every pixel is a finite number (no NaN or Inf).")
def finite(obs: Observation) -> Tensor:
    return torch.isfinite(obs.raw_images).flatten(1).all(dim=1).cpu()


@check("in_range", help="Every pixel lies in [low, high] (default [0, 1]).")
def in_range(obs: Observation, *, low: float = 0.0, high: float = 1.0) -> Tensor:
    x = obs.raw_images
    return ((x >= low) & (x <= high)).flatten(1).all(dim=1).cpu()


@check("label_agreement", help="The classifier predicts the asked class.", needs=("classifier", "labels"))
def label_agreement(obs: Observation) -> Tensor:
    return obs.probs.argmax(dim=1) == obs.asked


@check("confident", help="The classifier's top probability is at least `threshold`.", needs=("classifier",))
def confident(obs: Observation, *, threshold: float = 0.5) -> Tensor:
    return obs.probs.max(dim=1).values >= threshold


@check("not_blank", help=f"Some ink (share of pixels > {INK_THRESHOLD} at least `min_ink`) and contrast (std at least `min_std`).")
def not_blank(obs: Observation, *, min_ink: float = 0.01, min_std: float = 0.02) -> Tensor:
    g = obs.gray
    ink = (g > INK_THRESHOLD).double().mean(dim=(1, 2))
    return (ink >= min_ink) & (g.flatten(1).std(dim=1) >= min_std)


@check(
    "not_memorized",
    help="Not a training copy: nearest-training distance over that image's own neighbour distance exceeds `ratio`.",
    needs=("training",),
)
def not_memorized(obs: Observation, *, ratio: float = 1.0 / 3.0) -> Tensor:
    ratios = obs.memo[0]
    return ratios > ratio


@check(
    "no_duplicate",
    help="No earlier sample of the run lies within RMS pixel distance `threshold` (a near-copy).",
    needs=("history",),
)
def no_duplicate(obs: Observation, *, threshold: float = 0.02) -> Tensor:
    return ~obs.history.duplicates(obs.images, obs.indices, threshold)
