"""Indexes that per-sample checks query: nearest training images, earlier samples."""

from __future__ import annotations

import torch
from torch import Tensor

from ..metrics import functional as Fn


class MemorizationIndex:
    """Training-set features and each training image's distance to its own nearest neighbour."""

    def __init__(self, train_features: Tensor, train_nn: Tensor | None = None):
        self.train = train_features.double()
        self.train_nn = Fn.knn_radii(self.train, 1) if train_nn is None else train_nn

    def query(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(ratio, nearest-train distance) per row of ``features``."""
        return Fn.memorization_ratios(self.train, features, self.train_nn)


class DuplicateIndex:
    """Earlier samples of a subject, for the ``no_duplicate`` check (RMS pixel distance)."""

    def __init__(self) -> None:
        self.rows: list[Tensor] = []

    def check_and_add(self, images: Tensor, threshold: float) -> Tensor:
        x = images.detach().flatten(1).to("cpu", torch.float32)
        d = x.shape[1]
        ok = torch.ones(x.shape[0], dtype=torch.bool)
        lim = threshold**2 * d  # squared Euclidean equivalent of the RMS threshold
        x2 = x.pow(2).sum(1)
        for prev in self.rows:
            d2 = x2[:, None] + prev.pow(2).sum(1)[None] - 2 * x @ prev.T
            ok &= ~(d2 <= lim).any(1)
        if x.shape[0] > 1:  # within the batch: compare each sample to the earlier ones
            d2 = x2[:, None] + x2[None] - 2 * x @ x.T
            earlier = torch.tril(torch.ones(x.shape[0], x.shape[0], dtype=torch.bool), diagonal=-1)
            ok &= ~((d2 <= lim) & earlier).any(1)
        self.rows.append(x)
        return ok
