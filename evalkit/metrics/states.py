"""Mergeable metric states, in the torchmetrics manner.

A state is a set of tensors with a merge rule: ``sum`` for running moments,
``cat`` for per-sample rows. Merging shards (processes under torchrun, or
batches) in any order gives the same result up to the row order of ``cat``
states, which every metric treats as a set (indices are kept to restore order).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .functional import GaussianMoments, gaussian_moments


class MomentState:
    """Sum-merged Gaussian moments (count, sum, sum of outer products) in float64."""

    def __init__(self, dim: int):
        self.moments = GaussianMoments(0, torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dim, dtype=torch.float64))

    def update(self, x: Tensor) -> None:
        self.moments = self.moments.merge(gaussian_moments(x))

    def merge(self, other: "MomentState") -> "MomentState":
        out = MomentState(self.moments.sum.shape[0])
        out.moments = self.moments.merge(other.moments)
        return out


class FeatureState:
    """Cat-merged per-sample rows (features or values), kept with their sample indices."""

    def __init__(self) -> None:
        self.rows: list[Tensor] = []
        self.idx: list[Tensor] = []

    def update(self, x: Tensor, indices: Tensor) -> None:
        self.rows.append(x.detach().to("cpu"))
        self.idx.append(indices.detach().to("cpu", torch.long))

    def merge(self, other: "FeatureState") -> "FeatureState":
        out = FeatureState()
        out.rows, out.idx = self.rows + other.rows, self.idx + other.idx
        return out

    def __len__(self) -> int:
        return sum(len(i) for i in self.idx)

    def value(self) -> tuple[Tensor, Tensor]:
        """Rows sorted by sample index (so the result never depends on merge order)."""
        if not self.rows:
            return torch.empty(0), torch.empty(0, dtype=torch.long)
        x, i = torch.cat(self.rows), torch.cat(self.idx)
        order = torch.argsort(i)
        return x[order], i[order]
