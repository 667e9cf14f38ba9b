"""Registered datasets and the ``dataset`` replay generator (the "ideal model").

A dataset entry is a factory ``f(split, range) -> ImageSet``; an ImageSet reads
slices of images (float32 NCHW in [0, 1]) and knows its labels and a digest of
its content (for cache keys).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from .. import registry
from .._errors import DataError, UsageError
from . import fashion


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


@registry.datasets("fashion-mnist", help="Fashion-MNIST 28x28 grey clothing, 10 classes (test split bundled; train from Debian).",
                   sizes={"test": 10_000, "train": 60_000}, num_classes=10)
def fashion_mnist(split: str = "test", range: tuple[int, int] | None = None) -> ImageSet:
    images, labels = fashion.load(split)
    images, labels = _apply_range(images, labels, range, f"fashion-mnist {split}")
    digest = hashlib.sha256(f"fashion-mnist:{fashion.sha256(split)}:{range}".encode()).hexdigest()
    return ImageSet(images, labels, digest, 10)


class DatasetReplay:
    """Replays real images of the asked classes: the ideal model, for a comparison row.

    Each sample is an image of the asked class drawn (with replacement) by the
    given ``torch.Generator``, so it follows the same seeding rules as any model.
    """

    def __init__(self, dataset: str = "fashion-mnist", split: str = "test", range: tuple[int, int] | None = None):
        entry = registry.datasets.get(dataset)
        self.data: ImageSet = entry.obj(split=split, range=tuple(range) if range else None)
        self.image_shape = self.data.image_shape
        self.num_classes = self.data.num_classes
        self._by_class = None
        if self.data.labels is not None:
            self._by_class = [torch.nonzero(self.data.labels == c).flatten() for c in torch.arange(self.num_classes)]
        self._device = torch.device("cpu")

    def to(self, device) -> "DatasetReplay":
        self._device = torch.device(device)
        return self

    def sample(self, n: int, *, labels: Tensor | None = None, generator: torch.Generator) -> Tensor:
        cpu = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))
        if labels is None or self._by_class is None:
            idx = torch.randint(0, len(self.data), (n,), generator=cpu)
        else:
            labels = labels.cpu().long()
            if n and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise UsageError(f"labels must lie in 0..{self.num_classes - 1}")
            idx = torch.empty(n, dtype=torch.long)
            for c in labels.unique().tolist():
                pool = self._by_class[c]
                if len(pool) == 0:
                    raise DataError(f"the dataset holds no image of class {c}")
                where = torch.nonzero(labels == c).flatten()
                idx[where] = pool[torch.randint(0, len(pool), (len(where),), generator=cpu)]
        return self.data.take(idx).to(self._device)


@registry.generators("dataset", help="Replays real images of the asked classes (the ideal model).")
def _dataset_generator(*, device, checkpoint: str | None = None, dataset: str = "fashion-mnist", split: str = "test",
                       range: list[int] | None = None):
    if checkpoint is not None:
        raise UsageError("the dataset subject takes no checkpoint")
    return DatasetReplay(dataset, split, tuple(range) if range else None).to(device)
