"""Registered datasets and the ``dataset`` replay generator (the "ideal model").

A dataset entry is a factory ``f(split, range) -> ImageSet``; an ImageSet reads
slices of images (float32 NCHW in [0, 1]) and knows its labels and a digest of
its content (for cache keys).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from .. import registry
from .._errors import DataError, UsageError, present
from . import fashion

log = logging.getLogger(__name__)


class ImageSet:
    """In-memory uint8 images with labels; slices convert to float on demand."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, digest: str, num_classes: int | None):
        self._images = np.ascontiguousarray(images)  # uint8 (N, H, W) or (N, C, H, W)
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.digest = digest
        self.num_classes = num_classes
        shape = images.shape[1:]
        self.image_shape = (1, *shape) if len(shape) == 2 else tuple(shape)

    def __len__(self) -> int:
        return len(self._images)

    def slice(self, start: int, stop: int) -> Tensor:
        x = torch.from_numpy(self._images[start:stop].copy()).float().div_(255.0)
        return x.unsqueeze(1) if x.ndim == 3 else x

    def take(self, idx: Tensor) -> Tensor:
        x = torch.from_numpy(self._images[idx.cpu().numpy()]).float().div_(255.0)
        return x.unsqueeze(1) if x.ndim == 3 else x

    def check_all(self) -> None:
        pass


def _apply_range(images, labels, rng, what: str):
    if rng is None:
        return images, labels
    start, stop = rng
    if stop > len(images):
        raise DataError(f"{what}: range [{start}, {stop}) runs past its {len(images)} images")
    return images[start:stop], None if labels is None else labels[start:stop]


def fashion_mnist(split: str = "test", range: tuple[int, int] | None = None) -> ImageSet:
    images, labels = fashion.load(split)
    images, labels = _apply_range(images, labels, range, f"fashion-mnist {split}")
    digest = hashlib.sha256(f"fashion-mnist:{fashion.sha256(split)}:{range}".encode()).hexdigest()
    return ImageSet(images, labels, digest, 10)


class DatasetReplay:
    """Replays real images of the asked classes: the ideal model, for a comparison row.

    Run by evalkit, sample i is picked by its global index (``sample_indexed``):
    the j-th sample asking class c gets image ``perm_c[j]`` of that class's pool,
    ``perm_c`` a permutation seeded by (seed, c). So no image repeats while the pool
    lasts, and the choice is a pure function of (seed, i) whatever the batch size or
    process. Past the pool a fresh permutation starts, and a warning names the
    numbers. Called directly, ``sample`` draws without replacement within the call.
    """

    def __init__(self, dataset: str = "fashion-mnist", split: str = "test", range: Sequence[int] | None = None):
        entry = registry.datasets.get(dataset)
        self.data: ImageSet = entry.obj(split=split, range=tuple(range) if range else None)
        self.image_shape = self.data.image_shape
        self.num_classes = self.data.num_classes
        self._by_class = None
        if self.data.labels is not None:
            self._by_class = [torch.nonzero(self.data.labels == c).flatten() for c in torch.arange(self.num_classes)]
        self._device = torch.device("cpu")
        self._assigned: tuple[tuple, Tensor] | None = None

    def to(self, device) -> "DatasetReplay":
        self._device = torch.device(device)
        return self

    def _pools(self, labels: Tensor | None) -> list[tuple[int, Tensor | None, Tensor]]:
        """(class or -1, positions asking it (None: every position of an unconditional run), its pool of
        image indices) for every asked class."""
        if labels is None or self._by_class is None:
            n = len(labels) if labels is not None else None
            return [(-1, torch.arange(n) if n is not None else None, torch.arange(len(self.data)))]
        labels = labels.cpu().long()
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise UsageError(f"labels must lie in 0..{self.num_classes - 1}")
        out: list[tuple[int, Tensor | None, Tensor]] = []
        for c in labels.unique().tolist():
            pool = self._by_class[c]
            if len(pool) == 0:
                raise DataError(f"the dataset holds no image of class {c}")
            out.append((c, torch.nonzero(labels == c).flatten(), pool))
        return out

    def assignment(self, seed: int, n: int, labels: Tensor | None) -> Tensor:
        """Image index of every sample 0..n-1 (cached per (seed, n, labels))."""
        key = (seed, n, None if labels is None else hashlib.sha256(labels.cpu().numpy().tobytes()).hexdigest())
        if self._assigned is not None and self._assigned[0] == key:
            return self._assigned[1]
        idx = torch.empty(n, dtype=torch.long)
        short = []
        for c, where, pool in self._pools(labels):
            where = torch.arange(n) if where is None else where
            picks = _without_replacement(pool, len(where), seed, c)
            idx[where] = picks
            if len(where) > len(pool):
                short.append((c, len(where), len(pool)))
        if short:
            repeats = sum(asked - held for _, asked, held in short)
            detail = "" if short[0][0] < 0 else " (asked/held by class: " + ", ".join(
                f"{c}: {asked}/{held}" for c, asked, held in short) + ")"
            log.warning("dataset replay: %d samples asked of a pool of %d images%s; %d images repeat",
                        n, len(self.data), detail, repeats)
        self._assigned = (key, idx)
        return idx

    def sample_indexed(self, indices: Tensor, *, seed: int, n: int, labels: Tensor | None) -> Tensor:
        """The images of global samples ``indices`` of a run of ``n`` asking ``labels`` (all n)."""
        return self.data.take(self.assignment(seed, n, labels)[indices.cpu()]).to(self._device)

    def sample(self, n: int, *, labels: Tensor | None = None, generator: torch.Generator) -> Tensor:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        if labels is None:
            return self.data.take(_without_replacement(torch.arange(len(self.data)), n, seed, -1)).to(self._device)
        idx = torch.empty(n, dtype=torch.long)
        for c, asking, pool in self._pools(labels):
            where = present(asking, "the positions asking a class")  # labels were given, so every class has them
            idx[where] = _without_replacement(pool, len(where), seed, c)
        return self.data.take(idx).to(self._device)


def _without_replacement(pool: Tensor, k: int, seed: int, stream: int) -> Tensor:
    """k picks from ``pool``: whole permutations seeded by (seed, stream, round), one after another."""
    out: list[Tensor] = []
    rounds = 0
    while sum(len(o) for o in out) < k:
        digest = hashlib.sha256(f"replay:{seed}:{stream}:{rounds}".encode()).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        out.append(pool[torch.randperm(len(pool), generator=g)])
        rounds += 1
    return torch.cat(out)[:k] if out else torch.empty(0, dtype=torch.long)


def dataset_generator(*, device, checkpoint: str | None = None, dataset: str = "fashion-mnist", split: str = "test",
                       range: list[int] | None = None):
    if checkpoint is not None:
        raise UsageError("the dataset subject takes no checkpoint")
    return DatasetReplay(dataset, split, tuple(range) if range else None).to(device)
