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
    """A subject's samples by sample index, for the ``no_duplicate`` check (RMS pixel distance).

    Sample i is compared with the samples of smaller index only, so the answer is a
    function of the sample index: it does not depend on batch size, on the order batches
    were added, or (under torchrun, where every process adds every batch) on which
    process draws sample i. The runner adds every batch once; the batch being checked is
    compared with itself too, so it may be added before or after.
    """

    def __init__(self) -> None:
        self.idx: list[Tensor] = []
        self.rows: list[Tensor] = []
        self._starts: set[int] = set()

    @staticmethod
    def pixels(images: Tensor) -> Tensor:
        return images.detach().flatten(1).to("cpu", torch.float32)

    def add(self, indices: Tensor, rows: Tensor) -> None:
        """Add a batch (its sample indices and ``pixels``); adding a batch twice is a no-op."""
        if len(indices) == 0 or int(indices[0]) in self._starts:
            return
        self._starts.add(int(indices[0]))
        self.idx.append(indices.detach().to("cpu", torch.long))
        self.rows.append(rows)

    def duplicates(self, images: Tensor, indices: Tensor, threshold: float) -> Tensor:
        """True where a sample is within ``threshold`` (RMS over pixels) of a sample of smaller index."""
        x = self.pixels(images)
        own = indices.detach().to("cpu", torch.long)
        dup = torch.zeros(x.shape[0], dtype=torch.bool)
        lim = threshold**2 * x.shape[1]  # squared Euclidean equivalent of the RMS threshold
        x2 = x.pow(2).sum(1)
        for prev_idx, prev in [*zip(self.idx, self.rows), (own, x)]:  # the batch itself, whether added or not
            earlier = prev_idx[None, :] < own[:, None]
            if not bool(earlier.any()):
                continue
            d2 = x2[:, None] + prev.pow(2).sum(1)[None] - 2 * x @ prev.T
            dup |= ((d2 <= lim) & earlier).any(1)
        return dup
